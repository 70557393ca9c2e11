//! What can go wrong with images, each error naming the image and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the image {reference} was not fetched (no archive recorded in {path}); run `kubedeb fetch`")]
    NotFetched { reference: String, path: PathBuf },
    #[error("the image {reference} fetched from {origin} has the ID {actual}, but the catalog pins {expected}; fetch it from a source that has the pinned image, or correct the catalog's id")]
    IdMismatch {
        reference: String,
        expected: String,
        actual: String,
        origin: String,
    },
    #[error("the image archive {path} has changed since it was fetched (sha256 {actual}, recorded {expected}); run `kubedeb fetch` to fetch it again")]
    Changed {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "cannot read the image archive {path}: {cause}; run `kubedeb fetch` to fetch it again"
    )]
    Unreadable { path: PathBuf, cause: String },
    #[error("{path}: {problem}")]
    Index { path: PathBuf, problem: String },
}
