//! `cache/debian/closure.toml`: the Debian packages the last fetch carried, and why each.

use super::error::{io, AirgapError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What `kubedeb fetch` carried, for `kubedeb check` and the build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Closure {
    pub release: String,
    pub architecture: String,
    pub suites: Vec<String>,
    pub extra_packages: Vec<String>,
    /// The packages of the base it was resolved against (none carried from it).
    pub base_packages: usize,
    #[serde(default)]
    pub package: Vec<Carried>,
}

/// One carried package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Carried {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub suite: String,
    /// Relative to `cache/debian/` (the archive's `Filename`).
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    /// Where it was taken from.
    pub source: String,
    /// The requests (k8s-master, k8s-minion, extra packages) that need it.
    pub wanted_by: Vec<String>,
    /// apt's reason, e.g. "Depends of containerd".
    pub via: String,
}

impl Closure {
    pub fn total_size(&self) -> u64 {
        self.package.iter().map(|p| p.size).sum()
    }
}

pub fn path(debian_dir: &Path) -> PathBuf {
    debian_dir.join("closure.toml")
}

pub fn read(debian_dir: &Path) -> Result<Option<Closure>, AirgapError> {
    let p = path(debian_dir);
    match std::fs::read_to_string(&p) {
        Ok(text) => toml::from_str(&text)
            .map(Some)
            .map_err(|e| AirgapError::NotFetched {
                path: p,
                cause: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", &p)(e)),
    }
}

pub fn write(debian_dir: &Path, closure: &Closure) -> Result<(), AirgapError> {
    let text = format!(
        "# The Debian packages kubedeb fetch carried for the nodes (written by kubedeb; do not edit).\n{}",
        toml::to_string(closure).expect("the closure serializes")
    );
    super::indexes::write_atomic(&path(debian_dir), text.as_bytes())
}
