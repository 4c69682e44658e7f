#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The control plane's gRPC listener over TLS (rustls), with and without
//! client certificates (mTLS), and the data plane's side of it: a node
//! trusting the control plane's CA subscribes over `https://localhost:PORT`;
//! one that does not, or that lacks a client certificate the control plane
//! requires, never gets a config. Certificates are made at test time (rcgen).

use parking_lot::Mutex;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchyard_control::{ControlPlane, Options as CpOptions, TlsFiles};
use switchyard_proxy::cp_client::ControlPlaneTls;
use switchyard_proxy::{DataPlane, Handle, Options, Source};
use switchyard_tests::cluster::{NODE_TOKEN, chat, control_plane_options, data_plane_options, document, until};
use switchyard_tests::harness::client;
use switchyard_tests::topology::Fleet;
use switchyard_tests::{FakeUpstream, Started, Topology, eventually_some};

/// PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA issuing a server certificate (`localhost`, 127.0.0.1) and a client
    /// certificate, and another CA issuing a client certificate of its own.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, pem: String| std::fs::write(dir.path().join(name), pem).unwrap();
        for (prefix, leaves) in [("", true), ("other-", false)] {
            let ca = ca(&format!("{prefix}test CA"));
            write(&format!("{prefix}ca.pem"), ca.pem());
            if leaves {
                let (cert, key) = leaf(&ca, &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
                write("server.pem", cert);
                write("server.key", key);
            }
            let (cert, key) = leaf(&ca, &["edge"], ExtendedKeyUsagePurpose::ClientAuth);
            write(&format!("{prefix}client.pem"), cert);
            write(&format!("{prefix}client.key"), key);
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server(&self, client_ca: Option<&str>) -> TlsFiles {
        TlsFiles {
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            client_ca: client_ca.map(|n| self.path(n)),
        }
    }

    /// A node trusting `ca`, presenting `client` (`NAME.pem` and `NAME.key`) when given.
    fn node(&self, ca: &str, client: Option<&str>) -> ControlPlaneTls {
        ControlPlaneTls {
            ca: Some(self.path(ca)),
            cert: client.map(|n| self.path(&format!("{n}.pem"))),
            key: client.map(|n| self.path(&format!("{n}.key"))),
        }
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// (certificate PEM, private key PEM) issued by `ca`.
fn leaf(ca: &CertifiedIssuer<'static, KeyPair>, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn cp_options(dir: &Path, upstream: &FakeUpstream, tls: Option<TlsFiles>) -> CpOptions {
    let mut options = control_plane_options(dir, &document(upstream, ""), "127.0.0.1:0".parse().unwrap());
    options.tls = tls;
    options
}

/// A control plane serving gRPC over `tls`, with nodes `ids` to start with [`node`].
async fn tls_fleet(tls: TlsFiles, ids: &[&str]) -> Started {
    let topology = Topology::new().control_plane(move |o| o.tls = Some(tls.clone())).node_ids(ids.iter().copied());
    topology.start_control_plane().await
}

fn dp_options(url: &str, cache: &Path, id: &str, tls: ControlPlaneTls) -> Options {
    let mut options = data_plane_options(&[url.to_owned()], cache, NODE_TOKEN, id);
    if let Source::ControlPlane(cp) = &mut options.source {
        cp.tls = tls;
    }
    options
}

/// Node `i` of `fleet`, subscribed over `https://localhost:PORT` (the name the
/// server certificate carries), trusting and presenting what `tls` says.
async fn node(fleet: &Fleet, i: usize, tls: ControlPlaneTls) -> Handle {
    fleet
        .data_plane_with(i, |o| {
            let Source::ControlPlane(cp) = &mut o.source else { unreachable!() };
            cp.urls = vec![format!("https://localhost:{}", fleet.grpc().port())];
            cp.tls = tls;
        })
        .await
}

async fn ready(dp: &Handle) -> u16 {
    let url = format!("http://{}/readyz", dp.admin_addr.unwrap());
    client().get(url).send().await.unwrap().status().as_u16()
}

/// Log lines of this test's thread (`#[tokio::test]` runs every task on it).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }

    fn clear(&self) {
        self.0.lock().clear();
    }

    /// Waits for the data plane's first failed session and returns its log line.
    async fn failed_session(&self) -> String {
        let line = async || self.text().lines().find(|l| l.contains("control plane unavailable")).map(str::to_owned);
        eventually_some("a failed session logged", line).await
    }
}

/// The node tried, failed on TLS, and holds no config: not ready, no traffic,
/// and the control plane never saw it.
async fn assert_refused(logs: &Logs, dp: &Handle, cp: &switchyard_control::Handle, id: &str) {
    let line = logs.failed_session().await;
    let lower = line.to_lowercase();
    assert!(lower.contains("certificate") || lower.contains("fatal alert"), "not a TLS failure: {line}");
    assert_eq!(ready(dp).await, 503);
    assert_eq!(chat(dp, "m").await, 503);
    assert!(cp.nodes.get(id).is_none(), "the control plane saw {id}");
}

#[tokio::test]
async fn tls_a_node_trusting_the_ca_subscribes_over_https_and_serves_the_config() {
    let pki = Pki::new();
    let Started { fleet, cp, .. } = tls_fleet(pki.server(None), &["edge-1"]).await;
    let dp = node(&fleet, 0, pki.node("ca.pem", None)).await;
    until(&dp, "m", 200).await;
    assert_eq!(fleet.upstream.requests()[0].json()["model"], "up-m");
    assert_eq!(ready(&dp).await, 200);
    assert!(cp.nodes.get("edge-1").is_some());
    dp.shutdown().await;
    cp.shutdown().await;
}

#[tokio::test]
async fn tls_a_node_that_does_not_trust_the_ca_never_gets_a_config() {
    let (logs, _guard) = Logs::capture();
    let pki = Pki::new();
    let Started { fleet, cp, .. } = tls_fleet(pki.server(None), &["edge-1"]).await;
    // It trusts another CA (and the platform's roots), not the one that issued the server's certificate.
    let dp = node(&fleet, 0, pki.node("other-ca.pem", None)).await;
    assert_refused(&logs, &dp, &cp, "edge-1").await;
    dp.shutdown().await;
    cp.shutdown().await;
}

#[tokio::test]
async fn mtls_admits_a_node_with_a_client_certificate_and_refuses_others() {
    let (logs, _guard) = Logs::capture();
    let pki = Pki::new();
    let Started { fleet, cp, .. } = tls_fleet(pki.server(Some("ca.pem")), &["edge-1", "edge-2", "edge-3"]).await;

    let dp = node(&fleet, 0, pki.node("ca.pem", Some("client"))).await;
    until(&dp, "m", 200).await;
    assert!(cp.nodes.get("edge-1").is_some());
    dp.shutdown().await;

    // Without a client certificate.
    logs.clear();
    let dp = node(&fleet, 1, pki.node("ca.pem", None)).await;
    assert_refused(&logs, &dp, &cp, "edge-2").await;
    dp.shutdown().await;

    // With one the control plane's client CA did not issue.
    logs.clear();
    let dp = node(&fleet, 2, pki.node("ca.pem", Some("other-client"))).await;
    assert_refused(&logs, &dp, &cp, "edge-3").await;
    dp.shutdown().await;
    cp.shutdown().await;
}

#[tokio::test]
async fn bad_tls_files_stop_the_start_naming_the_flag_and_the_file() {
    let (pki, upstream) = (Pki::new(), FakeUpstream::start().await);
    let garbled = pki.path("garbled.key");
    std::fs::write(&garbled, "-----BEGIN PRIVATE KEY-----\nsecret-material!!\n-----END PRIVATE KEY-----\n").unwrap();
    let missing = pki.path("missing.pem");
    let server = pki.server(None);

    // Control plane.
    let cp_error = |tls: TlsFiles| {
        let upstream = &upstream;
        async move {
            let dir = tempfile::tempdir().unwrap();
            match ControlPlane::start(cp_options(dir.path(), upstream, Some(tls))).await {
                Ok(_) => panic!("started"),
                Err(e) => e.to_string(),
            }
        }
    };
    let e = cp_error(TlsFiles { cert: missing.clone(), ..server.clone() }).await;
    assert!(e.starts_with(&format!("--tls-cert {}: cannot read", missing.display())), "{e}");
    let e = cp_error(TlsFiles { key: garbled.clone(), ..server.clone() }).await;
    assert_eq!(e, format!("--tls-key {}: not a valid PEM private key file", garbled.display()));
    let e = cp_error(TlsFiles { key: pki.path("server.pem"), ..server.clone() }).await;
    assert!(e.starts_with(&format!("--tls-key {}: no private key", pki.path("server.pem").display())), "{e}");
    let e = cp_error(TlsFiles { key: pki.path("client.key"), ..server.clone() }).await;
    assert!(
        e.starts_with(&format!(
            "--tls-cert {} with --tls-key {}: ",
            server.cert.display(),
            pki.path("client.key").display()
        )),
        "{e}"
    );
    let e = cp_error(TlsFiles { client_ca: Some(pki.path("server.key")), ..server.clone() }).await;
    assert!(e.starts_with(&format!("--tls-client-ca {}: ", pki.path("server.key").display())), "{e}");

    // Data plane.
    let dp_error = |tls: ControlPlaneTls| async move {
        let cache = tempfile::tempdir().unwrap();
        match DataPlane::start(dp_options("https://localhost:1", cache.path(), "edge-1", tls)).await {
            Ok(_) => panic!("started"),
            Err(e) => e.to_string(),
        }
    };
    let e = dp_error(ControlPlaneTls { ca: Some(missing.clone()), ..Default::default() }).await;
    assert!(e.starts_with(&format!("--control-plane-ca {}: cannot read", missing.display())), "{e}");
    let e = dp_error(ControlPlaneTls { key: Some(garbled.clone()), ..pki.node("ca.pem", Some("client")) }).await;
    assert_eq!(e, format!("--client-key {}: not a valid PEM private key file", garbled.display()));
    let e = dp_error(ControlPlaneTls { key: None, ..pki.node("ca.pem", Some("client")) }).await;
    assert_eq!(e, "--client-cert and --client-key go together");
    let e = dp_error(ControlPlaneTls { key: Some(pki.path("other-client.key")), ..pki.node("ca.pem", Some("client")) })
        .await;
    assert!(e.starts_with(&format!("--client-cert {} with --client-key ", pki.path("client.pem").display())), "{e}");
}
