//! `loadgen --watch-pid`: a process's resident memory and open file
//! descriptors, read from /proc, beside the request counts at that moment.

use serde::Serialize;
use std::path::Path;

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Milliseconds since loadgen started.
    pub t_ms: u64,
    /// Measured requests finished so far (successful or not), and how many failed.
    pub requests: u64,
    pub errors: u64,
    /// `VmRSS` of /proc/PID/status, in kB.
    pub rss_kb: u64,
    /// Entries of /proc/PID/fd.
    pub fds: u64,
}

/// `VmRSS` (kB) and the open file descriptors of `pid`; `None` once it is gone.
pub fn read(pid: u32) -> Option<(u64, u64)> {
    let proc = Path::new("/proc").join(pid.to_string());
    let status = std::fs::read_to_string(proc.join("status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    let fds = std::fs::read_dir(proc.join("fd")).ok()?.count() as u64;
    Some((rss_kb, fds))
}

impl Sample {
    /// The line printed as it is taken.
    pub fn line(&self) -> String {
        format!(
            "loadgen: {:>7.1}s {:>9} requests {:>6} errors  rss {:>7.1} MB  {:>4} fds",
            self.t_ms as f64 / 1000.0,
            self.requests,
            self.errors,
            self.rss_kb as f64 / 1024.0,
            self.fds
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let (rss_kb, fds) = read(std::process::id()).unwrap();
        assert!(rss_kb > 0 && fds >= 3, "{rss_kb} kB, {fds} fds");
        assert_eq!(read(u32::MAX), None, "no such process");
    }
}
