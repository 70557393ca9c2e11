//! What can go wrong while publishing, each error naming the object, the action and the next step.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{path} is not a valid .deb: {reason}; rebuild it with `kubedeb build` or `dpkg-deb --build`")]
    NotADeb { path: PathBuf, reason: String },

    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "refusing to publish {deb}: the repository already has {package} {version} ({arch}) with different content \
         (published SHA256 {published_sha256}, new file SHA256 {new_sha256}); a published file never changes, \
         so give the new build a new version"
    )]
    DuplicateVersion {
        deb: PathBuf,
        package: String,
        version: String,
        arch: String,
        published_sha256: String,
        new_sha256: String,
    },

    #[error(
        "refusing to publish: {first} and {second} are both {package} {version} ({arch}) but differ \
         (SHA256 {first_sha256} vs {second_sha256}); publish only one of them"
    )]
    ConflictingInputs {
        first: PathBuf,
        second: PathBuf,
        package: String,
        version: String,
        arch: String,
        first_sha256: String,
        second_sha256: String,
    },

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
        move |source| RepoError::Io {
            action,
            path,
            source,
        }
    }
}
