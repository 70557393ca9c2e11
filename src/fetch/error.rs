//! What can go wrong fetching a release, each message saying what to do about it.

use crate::catalog::CatalogError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Image(#[from] crate::images::ImageError),
    #[error(transparent)]
    Debian(#[from] crate::airgap::AirgapError),
    #[error("cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{file} is not in {dir}: put the tarball there under exactly that name (upstream: {url}), or drop --from to download it")]
    NotInFolder {
        file: String,
        dir: PathBuf,
        url: String,
    },
    #[error("{file}: sha256 is {actual}, but {trusted} is {expected}: refused, nothing extracted; {next}")]
    Mismatch {
        file: PathBuf,
        actual: String,
        expected: String,
        trusted: String,
        next: String,
    },
    #[error("could not get {file} for {release}; tried:{}\n{next}", list(attempts))]
    AllSourcesFailed {
        file: String,
        release: String,
        attempts: Vec<(String, String)>,
        next: String,
    },
    #[error("{file}: cannot read {inside}: {problem}")]
    Archive {
        file: PathBuf,
        inside: String,
        problem: String,
    },
    #[error("{file} has no {member} for {binary}; fix the path in the catalog entry ({origin}) or use the right tarball")]
    MissingMember {
        file: PathBuf,
        binary: String,
        member: String,
        origin: String,
    },
    #[error(transparent)]
    NotExecutable(Box<NotExecutable>),
    #[error("{path}: {problem}")]
    Lock { path: PathBuf, problem: String },
    #[error("{release} has not been fetched ({path} is missing or out of date): run `kubedeb fetch` first")]
    NotFetched { release: String, path: PathBuf },
    #[error(transparent)]
    Tampered(Box<Tampered>),
    #[error("binary {binary} of {release} is also provided by another component; rename it in your catalog")]
    DuplicateBinary { binary: String, release: String },
    #[error("no binary named {binary} was fetched (have: {known})")]
    NoSuchBinary { binary: String, known: String },
    #[error("{}", several(.0))]
    Several(Vec<FetchError>),
}

/// An extracted binary whose bytes changed since `fetch` recorded their sha256.
#[derive(Debug, thiserror::Error)]
#[error("{release}: {} changed since `kubedeb fetch` extracted it (sha256 {actual}, recorded {recorded}): refused to package it; run `kubedeb fetch` to extract it again", path.display())]
pub struct Tampered {
    pub release: String,
    pub binary: String,
    pub path: PathBuf,
    pub recorded: String,
    pub actual: String,
}

/// A binary in a tarball that is not an x86-64 Linux executable.
#[derive(Debug, thiserror::Error)]
#[error(
    "{release}: {binary} ({member} in {file}) is not an x86-64 Linux executable: {reason}; \
     this is not the linux-amd64 release the catalog entry ({origin}) expects: check its url and file"
)]
pub struct NotExecutable {
    pub release: String,
    pub binary: String,
    pub member: String,
    pub file: PathBuf,
    pub reason: String,
    pub origin: String,
}

fn list(attempts: &[(String, String)]) -> String {
    attempts
        .iter()
        .map(|(url, why)| format!("\n  {url}: {why}"))
        .collect()
}

/// Several failures, each line once: they often end with the same advice.
fn several(errors: &[FetchError]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in errors.iter().flat_map(|e| {
        e.to_string()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    }) {
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines.join("\n")
}
