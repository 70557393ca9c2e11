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
    #[error("the registry auth file {path}: {problem}")]
    AuthFile { path: PathBuf, problem: String },
    #[error("the registry CA file {path} (fetch.registry_ca): {problem}")]
    Ca { path: PathBuf, problem: String },
    #[error("cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: String,
    },
    #[error("the image archive {file} for {reference} is not in {dir}: put a `docker save` archive of it there under exactly that name (`docker save -o {file} {reference}`, or `skopeo copy docker://{reference} docker-archive:{file}:{reference}` where its registry is reachable), or drop --from to pull it from a registry")]
    NotInFolder {
        file: String,
        dir: PathBuf,
        reference: String,
    },
    #[error("{path}: refused as the image {reference}: {problem}; nothing was cached")]
    Refused {
        path: PathBuf,
        reference: String,
        problem: String,
    },
    #[error(
        "could not fetch the image {reference}; tried:{}\n{next}",
        list(attempts)
    )]
    AllSourcesFailed {
        reference: String,
        attempts: Vec<(String, String)>,
        next: String,
    },
}

fn list(attempts: &[(String, String)]) -> String {
    attempts
        .iter()
        .map(|(source, why)| format!("\n  {source}: {why}"))
        .collect()
}
