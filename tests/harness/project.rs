//! Temporary project folders as an operator has them: cluster.toml, a user catalog, release tarballs, the cache.

use crate::harness::bin::{self, Run};
use crate::harness::fixtures::{sha256_hex, user_catalog, SeedTarballs};
use crate::harness::images;
use kubedeb::config::ConfigFile;
use std::path::{Path, PathBuf};

/// Where [`Project::with_release`] puts the seed tarballs (`kubedeb up --from tarballs`).
pub const TARBALLS: &str = "tarballs";
/// The user catalog's file name in a project.
pub const CATALOG: &str = "catalog.toml";
/// The cache folder of a project (kubedeb's default, `--cache cache`).
pub const CACHE: &str = "cache";

/// A project folder, removed on drop.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// An empty project folder.
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().expect("a temporary project folder"),
        }
    }

    /// A project holding the seed's tarballs (fixtures) under `tarballs/` and a catalog
    /// pinning their hashes, with upstream URLs nobody can reach, and tiny archives of the
    /// images the default settings need in `cache/`, as `kubedeb fetch` leaves them.
    pub fn with_release() -> Project {
        let project = Project::new();
        let tarballs = SeedTarballs::new();
        tarballs.write_to(&project.file(TARBALLS));
        project.write_catalog(&pinned_catalog("http://upstream.invalid", &tarballs));
        project.put_images(&ConfigFile::default());
        project
    }

    /// Tiny archives of the images `settings` need in the project's `cache/`, recorded as fetched.
    pub fn put_images(&self, settings: &ConfigFile) {
        images::put_tiny_images_for(&self.file(CACHE), settings);
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the project.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) {
        let path = self.file(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    pub fn write_catalog(&self, text: &str) {
        self.write(CATALOG, text);
    }

    /// `kubedeb <args>` in the project.
    pub fn kubedeb(&self, args: &[&str]) -> Run {
        bin::kubedeb_at(self.path(), args)
    }
}

/// A user catalog pinning the three seed tarballs' hashes, fetched from `upstream`.
pub fn pinned_catalog(upstream: &str, t: &SeedTarballs) -> String {
    user_catalog(
        upstream,
        Some(&sha256_hex(&t.kubernetes)),
        Some(&sha256_hex(&t.flannel)),
        Some(&sha256_hex(&t.etcd)),
    )
}
