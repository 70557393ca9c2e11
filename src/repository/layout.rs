//! Where things live in a repository folder, and reading the published state back from its indexes.

use super::date;
use super::error::RepoError;
use super::plan::EntryKey;
use crate::debian::deb822::{self, Paragraph};
use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The one component this repository publishes.
pub const COMPONENT: &str = "main";

/// The served tree.
pub fn public_dir(repo: &Path) -> PathBuf {
    repo.join("public")
}

/// The signing material, never served.
pub fn private_dir(repo: &Path) -> PathBuf {
    repo.join("private")
}

pub fn lock_path(repo: &Path) -> PathBuf {
    repo.join(".lock")
}

/// Pool files an interrupted publish may have added or meant to delete.
pub fn journal_path(repo: &Path) -> PathBuf {
    repo.join(".journal")
}

pub fn dists_dir(repo: &Path) -> PathBuf {
    public_dir(repo).join("dists")
}

/// `dists/<suite>`: a symlink to the current state directory, switched with one rename.
pub fn suite_link(repo: &Path, suite: &str) -> PathBuf {
    dists_dir(repo).join(suite)
}

/// The state directories of a suite live beside the link, inside the served tree.
pub fn states_dir(repo: &Path, suite: &str) -> PathBuf {
    dists_dir(repo).join(".states").join(suite)
}

/// A fresh state directory name, `<generation>-<nonce>`: never reused, so a gpg left running by
/// a killed publish cannot write into the state a later publish builds.
pub fn new_state_name(generation: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{generation}-{:x}{nanos:08x}", std::process::id())
}

/// The link's target as written into the symlink (relative, so the tree can be moved or bind-mounted).
pub fn state_target(suite: &str, name: &str) -> PathBuf {
    Path::new(".states").join(suite).join(name)
}

/// The temporary name of a new link before it is renamed over `dists/<suite>`.
pub fn new_link_path(repo: &Path, suite: &str) -> PathBuf {
    dists_dir(repo).join(format!(".{suite}.link"))
}

/// `pool/main/k/k8s-master/k8s-master_1.1.4-1_amd64.deb` (relative to the public dir).
pub fn pool_path(package: &str, version: &str, arch: &str) -> String {
    let prefix = if package.starts_with("lib") && package.len() > 3 {
        &package[..4]
    } else {
        &package[..1]
    };
    format!(
        "pool/{COMPONENT}/{prefix}/{package}/{package}_{}_{arch}.deb",
        crate::debian::version::without_epoch(version)
    )
}

/// Suite names end up in paths and symlinks: keep them to what Debian uses.
pub fn check_suite(suite: &str) -> Result<(), RepoError> {
    let bad = |reason: &str| RepoError::BadSuite {
        suite: suite.to_string(),
        reason: reason.to_string(),
    };
    if suite.is_empty() {
        return Err(bad("it is empty"));
    }
    if suite.starts_with('.') || suite.starts_with('-') {
        return Err(bad("it must start with a letter or digit"));
    }
    if !suite
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(bad("use only letters, digits, '.', '_' and '-'"));
    }
    Ok(())
}

/// What a suite currently publishes, read from its Release and Packages files.
#[derive(Debug, Clone)]
pub struct State {
    pub generation: u64,
    pub dir: PathBuf,
    pub date: Option<i64>,
    /// Packages stanzas, one per (package, version, architecture).
    pub entries: Vec<Paragraph>,
    /// `(path, size, hash)` of every index named in Release's MD5Sum and SHA256 lists.
    pub md5_files: Vec<(String, u64, String)>,
    pub sha256_files: Vec<(String, u64, String)>,
}

/// The current state of a suite, or `None` before its first publish.
pub fn current(repo: &Path, suite: &str) -> Result<Option<State>, RepoError> {
    let link = suite_link(repo, suite);
    let target = match fs::read_link(&link) {
        Ok(target) => target,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            return Err(RepoError::Damaged {
                path: link,
                reason: "it is not the symlink kubedeb keeps there (was the repository made by another tool?)".into(),
            })
        }
        Err(e) => return Err(RepoError::io("read the link", &link)(e)),
    };
    let damaged = |path: &Path, reason: String| RepoError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let name = target
        .strip_prefix(Path::new(".states").join(suite))
        .ok()
        .and_then(|g| g.to_str())
        .filter(|g| !g.contains('/'))
        .map(str::to_string);
    let generation = name
        .as_deref()
        .and_then(|n| n.split('-').next())
        .and_then(|g| g.parse::<u64>().ok())
        .ok_or_else(|| {
            damaged(
                &link,
                format!("it points to {}, not a state directory", target.display()),
            )
        })?;
    let dir = states_dir(repo, suite).join(name.unwrap_or_default());
    let release_path = dir.join("Release");
    let release_text =
        fs::read_to_string(&release_path).map_err(RepoError::io("read", &release_path))?;
    let release = deb822::parse(&release_text)
        .map_err(|e| damaged(&release_path, e))?
        .into_iter()
        .next()
        .ok_or_else(|| damaged(&release_path, "it is empty".into()))?;
    let date = release.get("Date").and_then(date::parse);
    let hash_list = |field: &str| -> Result<Vec<(String, u64, String)>, RepoError> {
        let mut out = Vec::new();
        for line in release
            .get(field)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                [hash, size, path] => out.push((
                    path.to_string(),
                    size.parse()
                        .map_err(|_| damaged(&release_path, format!("bad size in {line:?}")))?,
                    hash.to_string(),
                )),
                _ => return Err(damaged(&release_path, format!("bad {field} line {line:?}"))),
            }
        }
        Ok(out)
    };
    let md5_files = hash_list("MD5Sum")?;
    let sha256_files = hash_list("SHA256")?;
    let mut entries = BTreeMap::new();
    for arch in release
        .get("Architectures")
        .unwrap_or_default()
        .split_whitespace()
    {
        let path = dir
            .join(COMPONENT)
            .join(format!("binary-{arch}"))
            .join("Packages");
        let text = fs::read_to_string(&path).map_err(RepoError::io("read", &path))?;
        for stanza in deb822::parse(&text).map_err(|e| damaged(&path, e))? {
            let key = EntryKey::of(&stanza);
            if key.name.is_empty()
                || key.version.is_empty()
                || stanza.get("Filename").is_none()
                || stanza.get("SHA256").is_none()
            {
                return Err(damaged(
                    &path,
                    format!(
                        "a stanza lacks Package, Version, Filename or SHA256: {:?}",
                        (&key.name, &key.version, &key.arch)
                    ),
                ));
            }
            entries.entry(key).or_insert(stanza);
        }
    }
    Ok(Some(State {
        generation,
        dir,
        date,
        entries: entries.into_values().collect(),
        md5_files,
        sha256_files,
    }))
}

/// Every suite's current state, for questions about the shared pool.
pub fn all_states(repo: &Path) -> Result<Vec<State>, RepoError> {
    let dists = dists_dir(repo);
    let mut out = Vec::new();
    let list = match fs::read_dir(&dists) {
        Ok(list) => list,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(RepoError::io("list", &dists)(e)),
    };
    for entry in list {
        let entry = entry.map_err(RepoError::io("list", &dists))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Some(state) = current(repo, &name)? {
            out.push(state);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_paths_follow_debian() {
        assert_eq!(
            pool_path("k8s-master", "1.1.4-1", "amd64"),
            "pool/main/k/k8s-master/k8s-master_1.1.4-1_amd64.deb"
        );
        assert_eq!(
            pool_path("libfoo", "1:2.0", "all"),
            "pool/main/libf/libfoo/libfoo_2.0_all.deb"
        );
    }

    #[test]
    fn suites_are_plain_names() {
        assert!(check_suite("stable").is_ok());
        assert!(check_suite("bookworm-backports").is_ok());
        for bad in ["", ".states", "a/b", "-x", "a b"] {
            assert!(check_suite(bad).is_err(), "{bad:?}");
        }
    }
}
