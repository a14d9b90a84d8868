//! `--views DIR`: runs the directory's `.sql` files at start, in name order.
//!
//! A file is applied once per data directory: its name and a hash of its contents are
//! recorded durably after it runs without error, and an unchanged file is skipped on
//! the next start. A file that fails is reported and not recorded; the server still
//! starts, so one bad file never hides the others.

use std::path::Path;

use anyhow::Context;
use tracing::{info, warn};

/// FNV-1a: a stable hash (std's hasher may change between Rust releases).
fn content_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub async fn apply_dir(client: &eddy_coord::Client, dir: &Path) -> anyhow::Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("could not read --views directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let session = client
        .open_session("eddy", "eddy")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let sql = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let hash = content_hash(sql.as_bytes());
        if client
            .views_file_applied(&name, hash)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            info!(file = %name, "views file already applied");
            continue;
        }
        let results = client.execute_simple(&session, &sql).await;
        match results.iter().find_map(|r| r.as_ref().err()) {
            Some(e) => warn!(file = %name, error = %e, "views file failed; fix it and restart"),
            None => {
                client
                    .mark_views_file_applied(&name, hash)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                info!(file = %name, statements = results.len(), "applied views file");
            }
        }
    }
    client.close_session(session).await;
    Ok(())
}
