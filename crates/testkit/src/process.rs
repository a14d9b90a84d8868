//! Small process utilities: who we run as, signals without `unsafe`, log tails.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Whether this process runs with effective uid 0 (read from `/proc/self/status`,
/// falling back to `id -u`).
pub fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            if let Some(rest) = line.strip_prefix("Uid:") {
                // Real, effective, saved, filesystem.
                return rest.split_whitespace().nth(1) == Some("0");
            }
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Sends `signal` (a name such as `TERM` or `KILL`) to `pid` with the `kill` utility; the
/// workspace forbids `unsafe`, which rules out calling `kill(2)` directly.
pub(crate) fn send_signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed with {status}");
    }
    Ok(())
}

/// Runs a command to completion and fails with its output when it does not succeed.
pub(crate) fn run_checked(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("spawning {what}: {cmd:?}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{what} failed with {}\ncommand: {cmd:?}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

/// The last `lines` lines of a text file, or a note saying why it could not be read.
pub(crate) fn file_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(e) => format!("<could not read {}: {e}>", path.display()),
    }
}
