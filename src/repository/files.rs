//! The file operations a publish is made of, each safe to be killed half-way: temp names, fsync, rename.

use super::debfile;
use super::error::RepoError;
use super::layout;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub fn make_private_dir(private: &Path) -> Result<(), RepoError> {
    fs::create_dir_all(private).map_err(RepoError::io("create", private))?;
    fs::set_permissions(private, fs::Permissions::from_mode(0o700))
        .map_err(RepoError::io("chmod", private))
}

/// The temporary name a file is written under before it is renamed into place.
pub fn partial_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!(".{name}.partial"))
}

pub fn remove_if_present(path: &Path) -> Result<(), RepoError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(RepoError::io("remove", path)(e)),
        _ => Ok(()),
    }
}

pub fn sync_file(path: &Path) -> Result<(), RepoError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(RepoError::io("flush", path))
}

pub fn sync_tree_dirs(dir: &Path) -> Result<(), RepoError> {
    for entry in fs::read_dir(dir).map_err(RepoError::io("list", dir))? {
        let entry = entry.map_err(RepoError::io("list", dir))?;
        if entry
            .file_type()
            .map_err(RepoError::io("stat", entry.path()))?
            .is_dir()
        {
            sync_tree_dirs(&entry.path())?;
        }
    }
    sync_file(dir)
}

pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RepoError> {
    let mut file = File::create(path).map_err(RepoError::io("create", path))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(RepoError::io("write", path))
}

/// Writes a public file by temp + rename, and only when its content changes.
pub fn replace_if_changed(path: &Path, bytes: &[u8]) -> Result<(), RepoError> {
    if fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    let tmp = partial_path(path);
    write_synced(&tmp, bytes)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))
        .map_err(RepoError::io("chmod", &tmp))?;
    fs::rename(&tmp, path).map_err(RepoError::io("replace", path))
}

/// Copies a deb into the pool under a temporary name, checking it is still the file that was
/// inspected, then renames it into place. A failed copy removes its temporary file: left
/// behind, a half-copied deb would keep a full disk full.
pub fn copy_into_pool(src: &Path, dest: &Path, sha256: &str) -> Result<(), RepoError> {
    let dir = dest.parent().expect("pool paths have a directory");
    fs::create_dir_all(dir).map_err(RepoError::io("create the pool directory", dir))?;
    let tmp = partial_path(dest);
    remove_if_present(&tmp)?;
    let mut input = debfile::open_regular(src)?;
    let result = copy_to_partial(&mut input, src, &tmp, sha256);
    if result.is_err() {
        // The copy's own error is the one to report; a failed removal is tidied next time.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    fs::rename(&tmp, dest).map_err(RepoError::io("move into the pool", dest))?;
    sync_file(dir)
}

fn copy_to_partial(
    input: &mut File,
    src: &Path,
    tmp: &Path,
    sha256: &str,
) -> Result<(), RepoError> {
    let mut output = File::create(tmp).map_err(RepoError::io("create", tmp))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 18];
    loop {
        let n = input.read(&mut buf).map_err(RepoError::io("read", src))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .map_err(RepoError::io("write", tmp))?;
    }
    output.sync_all().map_err(RepoError::io("flush", tmp))?;
    drop(output);
    if hex::encode(hasher.finalize()) != sha256 {
        return Err(RepoError::ChangedWhileCopying {
            path: src.to_path_buf(),
        });
    }
    fs::set_permissions(tmp, fs::Permissions::from_mode(0o644)).map_err(RepoError::io("chmod", tmp))
}

/// Removes every `.<name>.partial` under the pool: what a copy that failed or was killed left,
/// journaled or not. Only called under the lock, so no copy is under way.
pub fn remove_stale_partials(dir: &Path) -> Result<(), RepoError> {
    let list = match fs::read_dir(dir) {
        Ok(list) => list,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RepoError::io("list", dir)(e)),
    };
    for entry in list {
        let entry = entry.map_err(RepoError::io("list", dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(RepoError::io("stat", &path))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if kind.is_dir() {
            remove_stale_partials(&path)?;
        } else if kind.is_file() && name.starts_with('.') && name.ends_with(".partial") {
            remove_if_present(&path)?;
        }
    }
    Ok(())
}

/// The one atomic step: a new symlink renamed over `dists/<suite>`.
pub fn switch(repo: &Path, suite: &str, state_name: &str) -> Result<(), RepoError> {
    let tmp = layout::new_link_path(repo, suite);
    remove_if_present(&tmp)?;
    std::os::unix::fs::symlink(layout::state_target(suite, state_name), &tmp)
        .map_err(RepoError::io("create the link", &tmp))?;
    let link = layout::suite_link(repo, suite);
    fs::rename(&tmp, &link).map_err(RepoError::io("switch", &link))?;
    sync_file(&layout::dists_dir(repo))
}
