//! The trust-on-first-use lock file: sha256 of tarballs that have no published checksum, recorded at first download.

use super::FetchError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADER: &str = "\
# kubedeb.lock: sha256 of release tarballs that have no published checksum, and the IDs of
# container images the catalog pins none for, recorded by `kubedeb fetch` at their first
# download (trust on first use). Later downloads must match. [deb.*] records the Debian
# packages carried for the nodes: which file, its sha256 (from Debian's signed index) and
# where it was taken from.
# To accept a different file or image, delete its entry (or pin sha256 / id in your catalog).
";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    pub file: String,
    pub sha256: String,
    /// Where the trusted copy came from.
    pub source: String,
}

/// The image ID (`sha256:<hex>` of its config) trusted at an image's first fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageLockEntry {
    pub id: String,
    /// Where the trusted copy came from.
    pub source: String,
}

/// A Debian package carried for the nodes, as its verified index listed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebLockEntry {
    /// The package's `Filename` in its archive (`pool/main/...`).
    pub filename: String,
    pub sha256: String,
    /// The URL or folder it was taken from.
    pub source: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    #[serde(default)]
    tarball: BTreeMap<String, LockEntry>,
    /// By full image reference.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    image: BTreeMap<String, ImageLockEntry>,
    /// By `<name>_<version>_<architecture>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    deb: BTreeMap<String, DebLockEntry>,
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
        self.write(&lock)
    }

    /// The image ID trusted for `reference` (its full form), if any.
    pub fn image(&self, reference: &str) -> Result<Option<ImageLockEntry>, FetchError> {
        Ok(self.read()?.image.remove(reference))
    }

    /// Record the image ID trusted for `reference`.
    pub fn record_image(&self, reference: &str, entry: ImageLockEntry) -> Result<(), FetchError> {
        let mut lock = self.read()?;
        lock.image.insert(reference.to_string(), entry);
        self.write(&lock)
    }

    /// The recorded Debian packages, by `<name>_<version>_<architecture>`.
    pub fn debs(&self) -> Result<BTreeMap<String, DebLockEntry>, FetchError> {
        Ok(self.read()?.deb)
    }

    /// Replace the recorded Debian packages with `debs`: the lock lists what the last fetch carried.
    pub fn record_debs(&self, debs: BTreeMap<String, DebLockEntry>) -> Result<(), FetchError> {
        let mut lock = self.read()?;
        lock.deb = debs;
        self.write(&lock)
    }

    fn write(&self, lock: &LockFile) -> Result<(), FetchError> {
        let text = format!(
            "{HEADER}\n{}",
            toml::to_string(lock).expect("lock entries serialize")
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
