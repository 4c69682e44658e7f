//! Standalone config source: gateway.yaml on disk, hot-reloaded.
//!
//! The file's directory is watched (not the file), so in-place writes, atomic
//! renames and the Kubernetes ConfigMap `..data` symlink swap are all seen; a
//! slow poll is the safety net for file systems without events. A changed
//! file is parsed, validated and prepared off the request path and swapped in
//! with one store; a file that fails is refused with a logged error naming
//! the problem, and the old config keeps serving.

use crate::runtime::{Overlay, PrepareError, Runtime, prepare};
use crate::state::Shared;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use switchyard_proto::canonical::config_hash;
use switchyard_proto::document;
use switchyard_proto::model::{Config, ConfigErrors};
use tokio::sync::{mpsc, watch};

/// Events arriving within this window are handled as one reload.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Re-read the file this often even without events.
const POLL: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Invalid(ConfigErrors),
    #[error(transparent)]
    Prepare(PrepareError),
}

/// Loads `path` and swaps it in if its content differs from what is served.
/// Returns whether a new config was applied.
pub fn reload(path: &Path, shared: &Shared) -> Result<bool, LoadError> {
    let config = document::load_file(path).map_err(LoadError::Invalid)?;
    let current = shared.runtime.load_full();
    if current.as_ref().is_some_and(|rt| rt.hash == config_hash(&config)) {
        return Ok(false);
    }
    let version = current.as_ref().map_or(1, |rt| rt.version + 1);
    let overlay = current.as_ref().map(|rt| rt.overlay.clone()).unwrap_or_default();
    install(shared, Arc::new(config), version, overlay).map_err(LoadError::Prepare)?;
    tracing::info!(version, path = %path.display(), "config applied");
    Ok(true)
}

/// Prepares a Runtime from `config` and `overlay` off the request path and
/// swaps it in with one store; what the previous one had (clients,
/// breakers, counters) carries over.
pub fn install(
    shared: &Shared,
    config: Arc<Config>,
    version: u64,
    overlay: Arc<Overlay>,
) -> Result<Arc<Runtime>, PrepareError> {
    let current = shared.runtime.load_full();
    let runtime = Arc::new(prepare(config, version, overlay, current.as_deref(), shared.transitions.as_ref())?);
    shared.bodies.resize(runtime.config.settings.limits.max_buffered_bodies);
    shared.runtime.store(Some(runtime.clone()));
    shared.swaps.send_modify(|n| *n = n.wrapping_add(1));
    Ok(runtime)
}

/// Watches `path` until `shutdown`, reloading on every change.
pub fn spawn_watcher(
    path: PathBuf,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, notify::Error> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            // A full channel already holds a pending reload.
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(tokio::spawn(async move {
        let _watcher = watcher;
        let mut poll = tokio::time::interval(POLL);
        poll.tick().await;
        loop {
            tokio::select! {
                _ = crate::state::stopped(&mut shutdown) => return,
                event = rx.recv() => {
                    if event.is_none() {
                        return;
                    }
                    tokio::time::sleep(DEBOUNCE).await;
                    while rx.try_recv().is_ok() {}
                }
                _ = poll.tick() => {}
            }
            let (file, shared2) = (path.clone(), shared.clone());
            let result = tokio::task::spawn_blocking(move || reload(&file, &shared2)).await;
            match result {
                Ok(Ok(applied)) => {
                    if applied {
                        shared.metrics.reloads_ok.fetch_add(1, Relaxed);
                    }
                    shared.last_reload_error.store(None);
                }
                Ok(Err(e)) => refused(&shared, &path, &e),
                Err(e) => tracing::error!(error = %e, "config reload task failed"),
            }
        }
    }))
}

fn refused(shared: &Shared, path: &Path, e: &LoadError) {
    let message = e.to_string();
    // The poll re-reads a bad file every few seconds: report each problem once.
    let repeated = shared.last_reload_error.load().as_deref().is_some_and(|last| *last == message);
    if !repeated {
        shared.metrics.reloads_failed.fetch_add(1, Relaxed);
        let problems = message.replace('\n', "; ");
        tracing::error!(path = %path.display(), problems = %problems, "config refused; still serving the previous one");
    }
    shared.last_reload_error.store(Some(Arc::new(message)));
}
