//! Files that must survive a crash whole or not at all (the last-known-good
//! cache, the telemetry spool): written to a temporary file in the same
//! folder, mode 0600, synced, renamed over the target, and the folder synced
//! so the rename itself is on disk.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `parts` as `dir/name` atomically and durably; returns its path.
pub fn write(dir: &Path, name: &str, parts: &[&[u8]]) -> std::io::Result<PathBuf> {
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, &target)?;
    sync_dir(dir)?;
    Ok(target)
}

/// Makes a folder's entries (a rename, a removal) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_private_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "a.snapshot", &[b"one", b"two"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"onetwo");
        write(dir.path(), "a.snapshot", &[b"three"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["a.snapshot"]);
    }
}
