//! Tidying what a killed publish left, before the next one plans on top of it.

use super::error::RepoError;
use super::files::{partial_path, remove_if_present, remove_stale_partials};
use super::layout::{self, State};
use super::KEYRING_NAME;
use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

/// Removes pool files a killed publish added but never indexed, pool files it pruned but did
/// not delete, any `.partial` in the pool, staged state directories and a half-made link. Readers never saw any of them:
/// they only follow `dists/<suite>`, which still points at `current`.
pub fn recover(
    repo: &Path,
    suite: &str,
    states: &[State],
    current: Option<&State>,
) -> Result<(), RepoError> {
    let public = layout::public_dir(repo);
    let journal = layout::journal_path(repo);
    match fs::read_to_string(&journal) {
        Ok(text) => {
            let referenced: BTreeSet<&str> = states
                .iter()
                .flat_map(|s| {
                    s.entries
                        .iter()
                        .map(|e| e.get("Filename").unwrap_or_default())
                })
                .collect();
            for path in text.lines().filter(|l| !l.is_empty()) {
                // The journal is ours, but never let a damaged one delete outside the pool.
                if path.starts_with("pool/") && !path.contains("..") {
                    let file = public.join(path);
                    remove_if_present(&partial_path(&file))?;
                    if !referenced.contains(path) {
                        remove_if_present(&file)?;
                    }
                }
            }
            remove_if_present(&journal)?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(RepoError::io("read", &journal)(e)),
    }
    remove_stale_partials(&public.join("pool"))?;
    remove_if_present(&layout::new_link_path(repo, suite))?;
    for ext in ["gpg", "asc"] {
        remove_if_present(&partial_path(&public.join(format!("{KEYRING_NAME}.{ext}"))))?;
    }
    let states_dir = layout::states_dir(repo, suite);
    if let Ok(list) = fs::read_dir(&states_dir) {
        for entry in list {
            let entry = entry.map_err(RepoError::io("list", &states_dir))?;
            // Best effort: a stale state is never served, and a gpg orphaned by a killed
            // publish may still be writing into it; what stays is removed next time.
            if Some(entry.path()) != current.map(|c| c.dir.clone()) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(())
}
