//! The cache folder's extracted binaries and refused files: what a fetch leaves for the next one and for `build`.

use super::trust::Expected;
use super::{extract, FetchError, Fetcher};
use crate::catalog::{Component, Release};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The folder holding a release's extracted binaries.
pub fn binaries_dir(cache: &Path, component: Component, version: &str) -> PathBuf {
    cache.join("bin").join(format!("{component}-{version}"))
}

/// The release's binaries in `dir`, when a previous fetch extracted them from the expected tarball.
pub(super) fn complete(
    dir: &Path,
    release: &Release,
    expected: Option<&Expected>,
) -> Option<BTreeMap<String, PathBuf>> {
    let stamp = std::fs::read_to_string(dir.join(".sha256")).ok()?;
    if stamp.trim() != expected?.hash() {
        return None;
    }
    release
        .binaries
        .iter()
        .map(|b| {
            let path = dir.join(&b.name);
            path.is_file().then(|| (b.name.clone(), path))
        })
        .collect()
}

pub(super) fn remove_file(path: &Path) -> Result<(), FetchError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(cause) => Err(FetchError::Io {
            action: "remove",
            path: path.to_path_buf(),
            cause,
        }),
    }
}

impl Fetcher<'_> {
    /// Move a refused file aside, replacing the previously refused copy.
    pub(super) fn quarantine(&self, path: &Path, file: &str) -> Result<PathBuf, FetchError> {
        let dir = self.opts.cache.join("quarantine");
        let target = dir.join(file);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::rename(path, &target))
            .map_err(|cause| FetchError::Io {
                action: "move the refused file to",
                path: target.clone(),
                cause,
            })?;
        Ok(target)
    }

    /// Extract into a staging folder beside `dest`, then swap it in: `dest` is never half-written.
    pub(super) fn install(
        &self,
        release: &Release,
        tarball: &Path,
        hash: &str,
        dest: &Path,
    ) -> Result<BTreeMap<String, PathBuf>, FetchError> {
        let parent = dest.parent().expect("binaries_dir has a parent");
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |cause| FetchError::Io {
                action,
                path,
                cause,
            }
        };
        let staging = tempfile::Builder::new()
            .prefix(&format!(
                ".staging-{}-{}-",
                release.component, release.version
            ))
            .tempdir_in(parent)
            .map_err(io("create a staging folder in", parent))?;
        let found = extract::extract(tarball, release, staging.path())?;
        std::fs::write(staging.path().join(".sha256"), format!("{hash}\n"))
            .map_err(io("write", staging.path()))?;
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(io("remove the old binaries in", dest))?;
        }
        let staged = staging.keep();
        std::fs::rename(&staged, dest).map_err(|e| {
            let _ = std::fs::remove_dir_all(&staged);
            io("move the extracted binaries to", dest)(e)
        })?;
        self.say(format!(
            "{} {}: extracted {} into {}",
            release.component,
            release.version,
            found.keys().cloned().collect::<Vec<_>>().join(", "),
            dest.display()
        ));
        Ok(found
            .into_keys()
            .map(|name| {
                let path = dest.join(&name);
                (name, path)
            })
            .collect())
    }
}
