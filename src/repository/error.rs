//! What can go wrong while publishing, each error naming the object, the action and the next step.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{path} is not a valid .deb: {reason}; rebuild it with `kubedeb build` or `dpkg-deb --build`")]
    NotADeb { path: PathBuf, reason: String },

    /// A FIFO, device or directory where a .deb was expected: reading it could block or never end.
    #[error("{path} is {kind}, not a regular file; give the path of the .deb file itself")]
    NotAFile { path: PathBuf, kind: &'static str },

    #[error("cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },

    /// A different file for a package version the repository already publishes.
    #[error("{0}")]
    DuplicateVersion(Box<Clash>),

    /// Two different files for one package version in the same call.
    #[error("{0}")]
    ConflictingInputs(Box<Clash>),

    #[error(
        "{path} changed while it was being copied into the pool; publish again once it is complete"
    )]
    ChangedWhileCopying { path: PathBuf },

    #[error("{option} {value} is not usable: {reason}")]
    BadOption {
        option: &'static str,
        value: String,
        reason: String,
    },

    #[error("the suite name {suite:?} is not usable: {reason}")]
    BadSuite { suite: String, reason: String },

    #[error("the signing key {key:?} was not found: {detail}")]
    KeyNotFound { key: String, detail: String },

    #[error("gpg failed to {action}: {detail}; check that gpg (package gpg) is installed and the key has no passphrase")]
    Gpg { action: String, detail: String },

    #[error("the repository at {path} is damaged: {reason}; restore it from a backup or publish into a fresh folder")]
    Damaged { path: PathBuf, reason: String },
}

impl RepoError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> RepoError {
        let path = path.into();
        move |cause| RepoError::Io {
            action,
            path,
            cause,
        }
    }
}

/// Two different files claiming one package version (boxed: it is the biggest error).
#[derive(Debug)]
pub struct Clash {
    pub package: String,
    pub version: String,
    pub arch: String,
    /// The other file given in the same call; `None` when the clash is with the published one.
    pub first: Option<PathBuf>,
    /// The version the other file carries: not `version` when the two differ only in the epoch.
    pub first_version: String,
    pub first_sha256: String,
    pub second: PathBuf,
    pub second_sha256: String,
    /// The pool file both would be stored as.
    pub pool_file: String,
}

impl std::fmt::Display for Clash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Clash {
            package,
            version,
            arch,
            ..
        } = self;
        let first_version = &self.first_version;
        if first_version != version {
            let pool_file = &self.pool_file;
            let why = format!(
                "{package} {first_version} and {package} {version} ({arch}) differ only in the epoch, \
                 which the pool file name leaves out, so both would be stored as {pool_file}"
            );
            return match &self.first {
                None => write!(
                    f,
                    "refusing to publish {}: the repository already has {package} {first_version} \
                     (SHA256 {}) and {why} (new file SHA256 {}); give the new build a version that \
                     differs in more than the epoch",
                    self.second.display(),
                    self.first_sha256,
                    self.second_sha256
                ),
                Some(first) => write!(
                    f,
                    "refusing to publish: {} is {package} {first_version} (SHA256 {}) and {} is \
                     {package} {version} (SHA256 {}); {why}; publish only one of them",
                    first.display(),
                    self.first_sha256,
                    self.second.display(),
                    self.second_sha256
                ),
            };
        }
        match &self.first {
            None => write!(
                f,
                "refusing to publish {}: the repository already has {package} {version} ({arch}) with \
                 different content (published SHA256 {}, new file SHA256 {}); a published file never \
                 changes, so give the new build a new version",
                self.second.display(),
                self.first_sha256,
                self.second_sha256
            ),
            Some(first) => write!(
                f,
                "refusing to publish: {} and {} are both {package} {version} ({arch}) but differ \
                 (SHA256 {} vs {}); publish only one of them",
                first.display(),
                self.second.display(),
                self.first_sha256,
                self.second_sha256
            ),
        }
    }
}
