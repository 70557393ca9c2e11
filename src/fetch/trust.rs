//! Which sha256 a tarball must have and who says so: the catalog's pin, or the lock file's first-use record.

use super::lock::{Lock, LockEntry};
use super::{FetchError, Fetcher};
use crate::catalog::Release;
use std::path::PathBuf;

/// The hash a tarball must have, and who says so.
pub(super) enum Expected {
    Pin {
        hash: String,
        origin: String,
    },
    Locked {
        hash: String,
        entry: LockEntry,
        key: String,
        lock: PathBuf,
    },
}

impl Expected {
    pub(super) fn hash(&self) -> &str {
        match self {
            Expected::Pin { hash, .. } | Expected::Locked { hash, .. } => hash,
        }
    }

    pub(super) fn trusted(&self) -> String {
        match self {
            Expected::Pin { origin, .. } => format!("the sha256 pinned in {origin}"),
            Expected::Locked { entry, lock, .. } => format!(
                "the sha256 recorded in {} at its first download (from {})",
                lock.display(),
                entry.source
            ),
        }
    }

    pub(super) fn next_step(&self, carried_in: bool) -> String {
        match self {
            Expected::Pin { .. } if carried_in => {
                "this is not the file the catalog pins (another version or a damaged copy): \
                 replace it, or pin the hash of a file you have checked in your own catalog (--catalog)"
                    .to_string()
            }
            Expected::Pin { .. } => {
                "the source serves a different or corrupted file: use another mirror, \
                 or pin the hash of a file you have checked in your own catalog (--catalog)"
                    .to_string()
            }
            Expected::Locked { key, lock, .. } => format!(
                "if the new file is the right one, delete the [tarball.\"{key}\"] entry from {} \
                 (or pin its sha256 in your own catalog) and fetch again",
                lock.display()
            ),
        }
    }
}

fn lock_key(release: &Release) -> String {
    format!("{}-{}", release.component, release.version)
}

/// `None` for a release without a published checksum fetched for the first time.
pub(super) fn expected_hash(
    release: &Release,
    lock: &Lock,
) -> Result<Option<Expected>, FetchError> {
    if let Some(hash) = &release.sha256 {
        return Ok(Some(Expected::Pin {
            hash: hash.clone(),
            origin: release.origin.clone(),
        }));
    }
    let key = lock_key(release);
    Ok(lock.get(&key)?.map(|entry| Expected::Locked {
        hash: entry.sha256.clone(),
        entry,
        key,
        lock: lock.path().to_path_buf(),
    }))
}

impl Fetcher<'_> {
    /// What `release`'s tarball must hash to, read under the lock the threads share.
    pub(super) fn expected(&self, release: &Release) -> Result<Option<Expected>, FetchError> {
        let _guard = self.lock_guard.lock().unwrap_or_else(|e| e.into_inner());
        expected_hash(release, &self.lock)
    }

    /// Records the hash of a first copy that proved to hold the release, so later copies must match it.
    pub(super) fn trust(
        &self,
        release: &Release,
        hash: &str,
        source: &str,
    ) -> Result<(), FetchError> {
        let _guard = self.lock_guard.lock().unwrap_or_else(|e| e.into_inner());
        let key = lock_key(release);
        self.lock.record(
            &key,
            LockEntry {
                file: release.file.clone(),
                sha256: hash.to_string(),
                source: source.to_string(),
            },
        )?;
        self.say(format!(
            "{} ({} {}) has no published checksum: trusting this first copy (from {source}); \
             recorded sha256 {hash} in {}. Later downloads must match it.",
            release.file,
            release.component,
            release.version,
            self.lock.path().display()
        ));
        Ok(())
    }
}
