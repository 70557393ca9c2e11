//! What can go wrong carrying Debian's packages, each message naming the package or mirror and what to do.

use crate::archive::ArchiveError;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AirgapError {
    #[error("debian: could not get {what}; tried:{}\n{advice}", list(attempts))]
    NoSource {
        what: String,
        attempts: Vec<(String, String)>,
        advice: String,
    },
    #[error("debian: {0}")]
    Archive(#[from] ArchiveError),
    #[error("debian: cannot resolve {what} for {release}: {cause}")]
    Resolve {
        what: String,
        release: String,
        cause: String,
    },
    #[error("debian: cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("debian: the carried Debian packages in {path} are not usable: {cause}; run `kubedeb fetch` again")]
    NotFetched { path: PathBuf, cause: String },
}

fn list(attempts: &[(String, String)]) -> String {
    attempts
        .iter()
        .map(|(source, why)| format!("\n  {source}: {why}"))
        .collect()
}

/// An [`AirgapError::Io`] maker for `map_err`.
pub fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AirgapError {
    let path = path.to_path_buf();
    move |cause| AirgapError::Io {
        action,
        path,
        cause,
    }
}
