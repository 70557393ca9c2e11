//! Errors of the .deb writer, each naming the object, what failed and what to do next.
//!
//! I/O causes are part of the message (the crate's convention, see lib.rs), so printing the
//! chain with `{:#}` does not repeat them.

use std::io;
use std::path::PathBuf;

use super::model::Compression;

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error(
        "control field {field} = {value:?} is invalid: {reason}; fix it in the package description"
    )]
    InvalidField {
        field: String,
        value: String,
        reason: String,
    },

    #[error("maintainer script {script} is invalid: {reason}; fix the script template")]
    InvalidScript {
        script: &'static str,
        reason: String,
    },

    #[error("package entry {path:?} is invalid: {reason}; use an absolute, normalised install path such as /usr/bin/etcd")]
    InvalidPath { path: String, reason: String },

    #[error("package entry {path:?} is listed twice; keep only one entry for each install path")]
    DuplicatePath { path: String },

    #[error("package entry {path:?} lies under {parent:?}, which the package ships as a file or symlink; make {parent:?} a directory or move the entry")]
    ParentNotDirectory { path: String, parent: String },

    #[error("package entry {path:?} has mode {mode:o}, beyond 7777; give permission bits only, such as 0o755")]
    InvalidMode { path: String, mode: u32 },

    #[error(
        "{compression:?} level {level} is out of range {min}..={max}; choose a level in that range"
    )]
    InvalidLevel {
        compression: Compression,
        level: u32,
        min: u32,
        max: u32,
    },

    #[error("cannot read {source_path} for package entry {entry}: {cause}; check that the file exists and is readable")]
    ReadSource {
        entry: String,
        source_path: PathBuf,
        cause: io::Error,
    },

    #[error(
        "{source_path} for package entry {entry} is not a regular file; point the entry at a file"
    )]
    SourceNotFile { entry: String, source_path: PathBuf },

    #[error("{source_path} for package entry {entry} changed size while being packed (expected {expected} bytes, read {actual}); rebuild when nothing is writing to it")]
    SourceChanged {
        entry: String,
        source_path: PathBuf,
        expected: u64,
        actual: u64,
    },

    #[error("{source_path} for package entry {entry} changed while being packed (its bytes differ between two reads); rebuild when nothing is writing to it")]
    SourceModified { entry: String, source_path: PathBuf },

    #[error("output folder {dir} is not a usable directory: {cause}; create it or pass another output folder")]
    OutputDir { dir: PathBuf, cause: io::Error },

    #[error("cannot set up the {compression:?} compressor: {cause}; try another compression or fewer threads")]
    Compressor {
        compression: Compression,
        cause: io::Error,
    },

    #[error("block cache: cannot {action} {path}: {cause}; check free space and permissions there, or build with --block-cache none")]
    BlockCache {
        path: PathBuf,
        action: &'static str,
        cause: io::Error,
    },

    #[error("cannot write {member} of {deb}: {cause}; check free space and permissions in the output folder")]
    Write {
        deb: PathBuf,
        member: &'static str,
        cause: io::Error,
    },
}

impl DebError {
    /// A write error of `member`, unless the writer failed because of a [`DebError`] of its
    /// own (a block cache problem), which is returned as it is.
    pub fn from_write(deb: &std::path::Path, member: &'static str, cause: io::Error) -> DebError {
        DebError::unwrap_io(cause).unwrap_or_else(|cause| DebError::Write {
            deb: deb.to_path_buf(),
            member,
            cause,
        })
    }

    /// The [`DebError`] carried inside an I/O error (see [`DebError::into_io`]), or the
    /// I/O error back.
    pub fn unwrap_io(cause: io::Error) -> Result<DebError, io::Error> {
        if cause.get_ref().is_some_and(|e| e.is::<DebError>()) {
            let inner = cause.into_inner().expect("checked above");
            return Ok(*inner.downcast::<DebError>().expect("checked above"));
        }
        Err(cause)
    }

    /// Carries this error through code that speaks `io::Error` (Write, Read).
    pub fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}
