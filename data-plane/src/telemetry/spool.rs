//! Unacked telemetry batches on disk, one file each, so that neither a
//! control plane that is away nor a restart of this node loses them.
//!
//! `{cache_dir}/telemetry/{boot_id}-{sequence:016x}-{items}.batch`: the
//! encoded `TelemetryBatch` (node id, boot id and sequence inside), written
//! to a temporary file and renamed, mode 0600. Boot ids begin with the boot's
//! start time in fixed-width hex, so the names sort in the order the batches
//! were made, across restarts. `items` (records plus events) is in the name
//! so that dropping a file counts what it held without reading it.

use prost::Message;
use std::path::{Path, PathBuf};
use switchyard_proto::pb::TelemetryBatch;

/// A spooled batch found at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub boot_id: String,
    pub sequence: u64,
    pub items: u64,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// The spool under `cache_dir`, created (mode 0700) if needed.
    pub fn open(cache_dir: &Path) -> std::io::Result<Spool> {
        let dir = cache_dir.join("telemetry");
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Spool { dir })
    }

    /// Writes one batch durably; returns its path.
    pub fn write(&self, batch: &TelemetryBatch, items: u64) -> std::io::Result<PathBuf> {
        let name = format!("{}-{:016x}-{items}.batch", batch.boot_id, batch.sequence);
        let path = crate::durable::write(&self.dir, &name, &[&batch.encode_to_vec()])?;
        Ok(path)
    }

    /// Every spooled batch, oldest first. Leftover temporary files (a write
    /// cut short) are removed; files with names it does not know are left alone.
    pub fn list(&self) -> std::io::Result<Vec<Found>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') && name.ends_with(".batch.tmp") {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some((boot_id, sequence, items)) = parse_name(name) else { continue };
            let size = entry.metadata()?.len();
            found.push(Found { path: entry.path(), boot_id: boot_id.to_owned(), sequence, items, size });
        }
        found.sort_by(|a, b| (&a.boot_id, a.sequence).cmp(&(&b.boot_id, b.sequence)));
        Ok(found)
    }
}

/// Reads a spooled batch.
pub fn read(path: &Path) -> std::io::Result<TelemetryBatch> {
    let data = std::fs::read(path)?;
    TelemetryBatch::decode(data.as_slice()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Removes a batch's file; one already gone is fine.
pub fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove a spooled telemetry batch"),
    }
}

fn parse_name(name: &str) -> Option<(&str, u64, u64)> {
    let stem = name.strip_suffix(".batch")?;
    let (rest, items) = stem.rsplit_once('-')?;
    let (boot_id, sequence) = rest.rsplit_once('-')?;
    if boot_id.is_empty() || sequence.len() != 16 {
        return None;
    }
    Some((boot_id, u64::from_str_radix(sequence, 16).ok()?, items.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(boot: &str, sequence: u64) -> TelemetryBatch {
        TelemetryBatch { node_id: "n".into(), boot_id: boot.into(), sequence, ..TelemetryBatch::default() }
    }

    #[test]
    fn writes_lists_in_order_reads_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        for (boot, seq) in [("0002-b", 1), ("0001-a", 10), ("0001-a", 2)] {
            spool.write(&batch(boot, seq), seq).unwrap();
        }
        std::fs::write(dir.path().join("telemetry/.x-0000000000000001-1.batch.tmp"), b"partial").unwrap();
        std::fs::write(dir.path().join("telemetry/notes.txt"), b"keep").unwrap();
        let found = spool.list().unwrap();
        let order: Vec<_> = found.iter().map(|f| (f.boot_id.as_str(), f.sequence, f.items)).collect();
        assert_eq!(order, [("0001-a", 2, 2), ("0001-a", 10, 10), ("0002-b", 1, 1)]);
        assert!(!dir.path().join("telemetry/.x-0000000000000001-1.batch.tmp").exists());
        assert!(dir.path().join("telemetry/notes.txt").exists());
        assert_eq!(read(&found[1].path).unwrap(), batch("0001-a", 10));
        remove(&found[1].path);
        remove(&found[1].path);
        assert_eq!(spool.list().unwrap().len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let path = spool.write(&batch("b", 1), 0).unwrap();
        assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.path().join("telemetry")).unwrap().permissions().mode() & 0o777, 0o700);
    }
}
