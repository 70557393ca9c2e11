//! The description of a Debian binary package, independent of how it is written.

use std::path::PathBuf;

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Streamed from a file on disk when the package is written.
    Path(PathBuf),
    /// Generated in memory (rendered templates, small text files).
    Bytes(Vec<u8>),
}

/// What a data entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File(Source),
    Dir,
    Symlink(String),
}

/// One entry of `data.tar`: an absolute install path such as `/usr/bin/etcd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub mode: u32,
    pub kind: EntryKind,
}

impl Entry {
    pub fn file(path: impl Into<String>, mode: u32, source: Source) -> Self {
        Entry {
            path: path.into(),
            mode,
            kind: EntryKind::File(source),
        }
    }
    pub fn dir(path: impl Into<String>, mode: u32) -> Self {
        Entry {
            path: path.into(),
            mode,
            kind: EntryKind::Dir,
        }
    }
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        Entry {
            path: path.into(),
            mode: 0o777,
            kind: EntryKind::Symlink(target.into()),
        }
    }
}

/// The fields of `DEBIAN/control` that kubedeb sets. `Installed-Size` is computed by the writer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Control {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub maintainer: String,
    /// First line of `Description`.
    pub summary: String,
    /// The extended description: paragraphs separated by blank lines; the writer folds it.
    pub long_description: String,
    pub section: Option<String>,
    pub priority: Option<String>,
    pub homepage: Option<String>,
    pub depends: Vec<String>,
    pub recommends: Vec<String>,
    pub conflicts: Vec<String>,
    pub breaks: Vec<String>,
    pub replaces: Vec<String>,
    pub provides: Vec<String>,
    /// Any other field, written in this order after the known ones.
    pub extra: Vec<(String, String)>,
}

/// The maintainer scripts; each is written with mode 0755 when present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scripts {
    pub preinst: Option<String>,
    pub postinst: Option<String>,
    pub prerm: Option<String>,
    pub postrm: Option<String>,
}

/// A whole package: control data, maintainer scripts and the files it installs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageSpec {
    pub control: Control,
    pub scripts: Scripts,
    /// Data entries in any order; the writer sorts them and adds missing parent directories.
    pub entries: Vec<Entry>,
}

impl PackageSpec {
    /// The conventional file name `<package>_<version>_<arch>.deb` (epoch colon dropped, as dpkg-name does).
    pub fn file_name(&self) -> String {
        let version = match self.control.version.split_once(':') {
            Some((_, v)) => v,
            None => &self.control.version,
        };
        format!(
            "{}_{}_{}.deb",
            self.control.package, version, self.control.architecture
        )
    }
}

/// Compression of the `control.tar` and `data.tar` members.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Deserialize,
    serde::Serialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Installs on every dpkg since Debian 8 (jessie).
    #[default]
    Xz,
    Gzip,
    /// Needs dpkg 1.21.18 (Debian 12); Debian 11 rejects it.
    Zstd,
}

impl Compression {
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Xz => "xz",
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
        }
    }
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Xz => 6,
            Compression::Gzip => 9,
            Compression::Zstd => 19,
        }
    }
}

/// How a package is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    pub compression: Compression,
    /// None means the compression's default level.
    pub level: Option<u32>,
    /// Compressor threads; 0 means one per core.
    pub threads: u32,
    /// Clamp every mtime to this (from `SOURCE_DATE_EPOCH`); None uses the current time.
    pub source_date_epoch: Option<u64>,
    /// Keep the compressed blocks of large files here and reuse them when the same bytes
    /// are packed again (xz and gzip; zstd always compresses everything). None: no cache.
    pub block_cache: Option<PathBuf>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            compression: Compression::Xz,
            level: None,
            threads: 0,
            source_date_epoch: None,
            block_cache: None,
        }
    }
}

impl BuildOptions {
    /// Options with `SOURCE_DATE_EPOCH` taken from the environment when set.
    pub fn from_env() -> Self {
        let source_date_epoch = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.trim().parse().ok());
        BuildOptions {
            source_date_epoch,
            ..Default::default()
        }
    }
}
