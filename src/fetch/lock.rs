//! The trust-on-first-use lock file: sha256 of tarballs that have no published checksum, recorded at first download.

use super::FetchError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADER: &str = "\
# kubedeb.lock: sha256 of release tarballs that have no published checksum, recorded by
# `kubedeb fetch` at their first download (trust on first use). Later downloads must match.
# To accept a different file, delete its entry (or pin sha256 in your catalog).
";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    pub file: String,
    pub sha256: String,
    /// Where the trusted copy came from.
    pub source: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    #[serde(default)]
    tarball: BTreeMap<String, LockEntry>,
}

/// The lock file at `path`; read fresh for every lookup and update so concurrent fetch threads agree.
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    pub fn new(path: PathBuf) -> Lock {
        Lock { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<LockFile, FetchError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => toml::from_str(&text).map_err(|e| FetchError::Lock {
                path: self.path.clone(),
                problem: format!("not a valid lock file: {e}; fix or delete it (it is re-created on the next fetch)"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LockFile::default()),
            Err(e) => Err(FetchError::Lock {
                path: self.path.clone(),
                problem: format!("cannot read it: {e}"),
            }),
        }
    }

    pub fn get(&self, key: &str) -> Result<Option<LockEntry>, FetchError> {
        Ok(self.read()?.tarball.remove(key))
    }

    /// Record an entry, written to a temporary file beside the lock and renamed over it.
    pub fn record(&self, key: &str, entry: LockEntry) -> Result<(), FetchError> {
        let mut lock = self.read()?;
        lock.tarball.insert(key.to_string(), entry);
        let text = format!(
            "{HEADER}\n{}",
            toml::to_string(&lock).expect("lock entries serialize")
        );
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let failed = |e: std::io::Error| FetchError::Lock {
            path: self.path.clone(),
            problem: format!("cannot write it: {e}"),
        };
        std::fs::create_dir_all(dir).map_err(failed)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".kubedeb.lock.")
            .tempfile_in(dir)
            .map_err(failed)?;
        tmp.write_all(text.as_bytes()).map_err(failed)?;
        tmp.as_file().sync_all().map_err(failed)?;
        tmp.persist(&self.path).map_err(|e| failed(e.error))?;
        Ok(())
    }
}
