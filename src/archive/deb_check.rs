//! A downloaded .deb checked against its `Packages` entry: size and sha256, streamed.

use super::error::ArchiveError;
use super::index::Package;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Checks the file at `path` is the package `entry` lists.
pub fn check_deb(entry: &Package, path: &Path) -> Result<(), ArchiveError> {
    let shown = path.display().to_string();
    let io = |action| {
        let shown = shown.clone();
        move |e: io::Error| ArchiveError::Io {
            action,
            path: shown,
            cause: e.to_string(),
        }
    };
    let file = File::open(path).map_err(io("open"))?;
    let len = file.metadata().map_err(io("stat"))?.len();
    if len != entry.size {
        return Err(mismatch(entry, &shown, size_cause(len, entry.size)));
    }
    check_stream(entry, file, &shown)
}

/// Checks the bytes of `reader` (named `file` in errors) are the package `entry` lists,
/// reading no more than one byte past the listed size.
pub fn check_stream(entry: &Package, reader: impl Read, file: &str) -> Result<(), ArchiveError> {
    let mut hasher = Sha256::new();
    let read =
        io::copy(&mut reader.take(entry.size + 1), &mut hasher).map_err(|e| ArchiveError::Io {
            action: "read",
            path: file.into(),
            cause: e.to_string(),
        })?;
    if read != entry.size {
        return Err(mismatch(entry, file, size_cause(read, entry.size)));
    }
    let actual = hex::encode(hasher.finalize());
    if actual != entry.sha256 {
        let cause = format!("its sha256 is {actual}, the index says {}", entry.sha256);
        return Err(mismatch(entry, file, cause));
    }
    Ok(())
}

fn size_cause(actual: u64, listed: u64) -> String {
    if actual > listed {
        format!("it is longer than the {listed} bytes the index says")
    } else {
        format!("it is {actual} bytes, the index says {listed}")
    }
}

fn mismatch(entry: &Package, file: &str, cause: String) -> ArchiveError {
    ArchiveError::Mismatch {
        file: file.into(),
        listed_in: format!(
            "the index entry of {} {} ({})",
            entry.package, entry.version, entry.architecture
        ),
        cause,
    }
}
