//! A fleet assembled in-process, the shape most end-to-end tests need: a fake
//! upstream, a control plane on SQLite in a temporary folder bootstrapped from
//! a gateway.yaml on that upstream, and data planes subscribed to it, each on
//! its own cache folder.
//!
//! ```ignore
//! let Started { fleet, cp, dps } = Topology::new().data_planes(2).start().await;
//! ```
//!
//! [`Topology::start`] returns once every data plane serves route `m`. The
//! handles are the test's to stop; the [`Fleet`] keeps what outlives restarts
//! (the upstream, the database, the gRPC address, the caches, the options), so
//! a test can start the control plane again on the same address and database,
//! or a node again on its cache. Bind `fleet` for as long as the test runs
//! (not `..`): dropping it stops the upstream and removes the folders. The
//! pieces underneath are in [`crate::cluster`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::FakeUpstream;
use crate::cluster::{NODE_TOKEN, control_plane_options, data_plane_options, document, until};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use switchyard_control::{ControlPlane, Options as CpOptions};
use switchyard_proxy::{DataPlane, Handle, Options};

type Tweak<T> = Arc<dyn Fn(&mut T) + Send + Sync>;

/// What to start; see the module's doc.
pub struct Topology {
    document: Box<dyn FnOnce(&FakeUpstream) -> String>,
    node_ids: Vec<String>,
    control_plane: Tweak<CpOptions>,
    data_plane: Tweak<Options>,
}

/// A started topology: what outlives restarts, and the processes.
pub struct Started {
    pub fleet: Fleet,
    pub cp: switchyard_control::Handle,
    /// One per node, in the order they were asked for.
    pub dps: Vec<Handle>,
}

/// What outlives restarts of either kind of process.
pub struct Fleet {
    pub upstream: FakeUpstream,
    dir: tempfile::TempDir,
    document: String,
    grpc: SocketAddr,
    node_ids: Vec<String>,
    caches: Vec<tempfile::TempDir>,
    control_plane: Tweak<CpOptions>,
    data_plane: Tweak<Options>,
}

impl Default for Topology {
    fn default() -> Self {
        Self::new()
    }
}

impl Topology {
    /// One fake upstream, [`document`]`(upstream, "")` (provider `main`, route
    /// `m`, the app key, the bootstrap node token), no data plane.
    pub fn new() -> Topology {
        Topology {
            document: Box::new(|upstream| document(upstream, "")),
            node_ids: Vec::new(),
            control_plane: Arc::new(|_| {}),
            data_plane: Arc::new(|_| {}),
        }
    }

    /// [`document`] with `extra` appended (e.g. a `settings:` block).
    pub fn extra(mut self, extra: &str) -> Topology {
        let extra = extra.to_owned();
        self.document = Box::new(move |upstream| document(upstream, &extra));
        self
    }

    /// Another bootstrap document, made from the upstream; it must keep route
    /// `m` and the app key if the topology has data planes.
    pub fn document(mut self, document: impl FnOnce(&FakeUpstream) -> String + 'static) -> Topology {
        self.document = Box::new(document);
        self
    }

    /// `n` data planes, `edge-1` to `edge-n`.
    pub fn data_planes(self, n: usize) -> Topology {
        self.node_ids((1..=n).map(|i| format!("edge-{i}")))
    }

    /// A data plane of each id (the same id twice: two boots of one node).
    pub fn node_ids(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Topology {
        self.node_ids = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Changes the control plane's options, at its first start and at every restart.
    pub fn control_plane(mut self, tweak: impl Fn(&mut CpOptions) + Send + Sync + 'static) -> Topology {
        self.control_plane = Arc::new(tweak);
        self
    }

    /// Changes every data plane's options, at each start.
    pub fn data_plane(mut self, tweak: impl Fn(&mut Options) + Send + Sync + 'static) -> Topology {
        self.data_plane = Arc::new(tweak);
        self
    }

    /// Starts the upstream, the control plane, then the data planes, and waits
    /// until each data plane serves route `m`.
    pub async fn start(self) -> Started {
        let mut started = self.start_control_plane().await;
        for i in 0..started.fleet.node_ids.len() {
            started.dps.push(started.fleet.data_plane(i).await);
        }
        for dp in &started.dps {
            until(dp, "m", 200).await;
        }
        started
    }

    /// Starts the upstream and the control plane; the data planes (their
    /// caches made) are the test's to start, with [`Fleet::data_plane`].
    pub async fn start_control_plane(self) -> Started {
        let upstream = FakeUpstream::start().await;
        let document = (self.document)(&upstream);
        let caches = self.node_ids.iter().map(|_| tempfile::tempdir().unwrap()).collect();
        let mut fleet = Fleet {
            upstream,
            dir: tempfile::tempdir().unwrap(),
            document,
            grpc: "127.0.0.1:0".parse().unwrap(),
            node_ids: self.node_ids,
            caches,
            control_plane: self.control_plane,
            data_plane: self.data_plane,
        };
        let cp = fleet.control_plane().await;
        fleet.grpc = cp.grpc_addr;
        Started { fleet, cp, dps: Vec::new() }
    }
}

impl Fleet {
    /// The control plane (again): the same database, gRPC address, bootstrap
    /// document and options.
    pub async fn control_plane(&self) -> switchyard_control::Handle {
        let mut options = control_plane_options(self.dir.path(), &self.document, self.grpc);
        (self.control_plane)(&mut options);
        ControlPlane::start(options).await.unwrap()
    }

    /// Data plane `i` (again), on its cache; it may not serve yet.
    pub async fn data_plane(&self, i: usize) -> Handle {
        self.data_plane_with(i, |_| {}).await
    }

    /// Data plane `i` (again), on its cache, once it serves route `m`.
    pub async fn data_plane_serving(&self, i: usize) -> Handle {
        let dp = self.data_plane(i).await;
        until(&dp, "m", 200).await;
        dp
    }

    /// Data plane `i` (again), on its cache, with `tweak` applied after the topology's.
    pub async fn data_plane_with(&self, i: usize, tweak: impl FnOnce(&mut Options)) -> Handle {
        self.data_plane_on(&self.node_ids[i], self.caches[i].path(), tweak).await
    }

    /// A data plane as `node_id` on `cache`, with `tweak` applied after the topology's.
    pub async fn data_plane_on(&self, node_id: &str, cache: &Path, tweak: impl FnOnce(&mut Options)) -> Handle {
        let mut options = data_plane_options(&[self.url()], cache, NODE_TOKEN, node_id);
        (self.data_plane)(&mut options);
        tweak(&mut options);
        DataPlane::start(options).await.unwrap()
    }

    /// `http://` the control plane's gRPC address.
    pub fn url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub fn grpc(&self) -> SocketAddr {
        self.grpc
    }

    /// The control plane's folder (its `cp.db`, the bootstrap `gateway.yaml`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Data plane `i`'s cache folder.
    pub fn cache(&self, i: usize) -> &Path {
        self.caches[i].path()
    }

    /// The bootstrap document.
    pub fn document(&self) -> &str {
        &self.document
    }
}
