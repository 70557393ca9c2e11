//! One publish: check the debs, take the lock, copy into the pool, stage a signed state, switch it in.

use super::debfile::{self, DebFile};
use super::error::{Clash, RepoError};
use super::index::{self, ReleaseInfo};
use super::layout::{self, entry_key, Key, State};
use super::sign::{self, KeyChoice};
use super::{date, KEYRING_NAME};
use crate::debian::deb822::Paragraph;
use crate::debian::{fields, version};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What to publish into and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    pub suite: String,
    /// A key file or a key id in the default gpg home; `None` uses the repository's own key.
    pub key: Option<String>,
    /// Keep only the N newest versions of each package (per architecture).
    pub keep: Option<usize>,
    pub origin: String,
    pub label: String,
    pub description: String,
}

impl PublishOptions {
    pub fn new(suite: impl Into<String>) -> Self {
        PublishOptions {
            suite: suite.into(),
            key: None,
            keep: None,
            origin: "kubedeb".into(),
            label: "kubedeb".into(),
            description: "Kubernetes packages built by kubedeb".into(),
        }
    }
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions::new("stable")
    }
}

/// A package as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PublishedPackage {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// Relative to the public dir, e.g. `pool/main/k/k8s-master/k8s-master_1.1.4-1_amd64.deb`.
    pub filename: String,
}

/// What a publish did.
#[derive(Debug, Clone)]
pub struct PublishReport {
    pub suite: String,
    pub added: Vec<PublishedPackage>,
    /// Given again with identical content: nothing to do for them.
    pub unchanged: Vec<PublishedPackage>,
    /// Removed by `keep`.
    pub pruned: Vec<PublishedPackage>,
    /// False when the repository was left exactly as it was.
    pub changed: bool,
    /// The Release date of the state now published.
    pub date: Option<String>,
    pub fingerprint: Option<String>,
    /// The binary keyring clients name in `signed-by=`.
    pub keyring: PathBuf,
}

fn described(p: &Paragraph) -> PublishedPackage {
    let (package, version, architecture) = entry_key(p);
    PublishedPackage {
        package,
        version,
        architecture,
        filename: p.get("Filename").unwrap_or_default().to_string(),
    }
}

/// Publishes `debs` into the suite. Everything that can be checked without writing (the debs,
/// an explicit key, version clashes) is checked before the first write; the switch to the new
/// state is one rename, so readers and a killed publish only ever see the old or the new state.
pub fn publish(
    repo: &Path,
    debs: &[PathBuf],
    opts: &PublishOptions,
) -> Result<PublishReport, RepoError> {
    layout::check_suite(&opts.suite)?;
    if opts.keep == Some(0) {
        return Err(RepoError::BadOption {
            option: "--keep",
            value: "0".into(),
            reason: "it would remove every package; keep at least 1 version".into(),
        });
    }
    let inputs = unique_inputs(inspect_all(debs)?)?;
    let choice = opts.key.as_deref().map(sign::check_key).transpose()?;

    fs::create_dir_all(repo).map_err(RepoError::io("create the repository folder", repo))?;
    let lock_path = layout::lock_path(repo);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(RepoError::io("open the lock file", &lock_path))?;
    lock.lock().map_err(RepoError::io("lock", &lock_path))?;
    let private = layout::private_dir(repo);
    let result = {
        // The agent must be gone before the lock is released: the next publish starts its own.
        let _agent = AgentGuard(sign::home(&private));
        publish_locked(repo, &inputs, opts, choice.as_ref())
    };
    drop(lock);
    result
}

fn inspect_all(debs: &[PathBuf]) -> Result<Vec<DebFile>, RepoError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let mut out = Vec::with_capacity(debs.len());
    for chunk in debs.chunks(workers) {
        let results: Vec<Result<DebFile, RepoError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|deb| scope.spawn(move || debfile::inspect(deb)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("deb inspection panicked"))
                .collect()
        });
        for result in results {
            out.push(result?);
        }
    }
    Ok(out)
}

/// The same file given twice is fine; two different files claiming one version are not.
fn unique_inputs(debs: Vec<DebFile>) -> Result<Vec<DebFile>, RepoError> {
    let mut seen: HashMap<Key, DebFile> = HashMap::new();
    let mut out = Vec::new();
    for deb in debs {
        let key = (
            deb.package.clone(),
            deb.version.clone(),
            deb.architecture.clone(),
        );
        match seen.get(&key) {
            Some(first) if first.sha256 == deb.sha256 => continue,
            Some(first) => {
                return Err(RepoError::ConflictingInputs(Box::new(Clash {
                    package: deb.package,
                    version: deb.version,
                    arch: deb.architecture,
                    first: Some(first.path.clone()),
                    first_sha256: first.sha256.clone(),
                    second: deb.path,
                    second_sha256: deb.sha256,
                })))
            }
            None => {
                seen.insert(key, deb.clone());
                out.push(deb);
            }
        }
    }
    Ok(out)
}

/// Stops the agent gpg started for the repository's home, whatever way the publish ends.
struct AgentGuard(PathBuf);

impl Drop for AgentGuard {
    fn drop(&mut self) {
        if self.0.is_dir() {
            sign::kill_agent(&self.0);
        }
    }
}

fn publish_locked(
    repo: &Path,
    inputs: &[DebFile],
    opts: &PublishOptions,
    choice: Option<&KeyChoice>,
) -> Result<PublishReport, RepoError> {
    let public = layout::public_dir(repo);
    let private = layout::private_dir(repo);
    let suite = opts.suite.as_str();
    let states = layout::all_states(repo)?;
    let current = layout::current(repo, suite)?;
    recover(repo, suite, &states, current.as_ref())?;

    // Which pool file holds what, over every suite (the pool is shared).
    let mut pool: HashMap<String, String> = HashMap::new();
    for state in &states {
        for entry in &state.entries {
            pool.insert(
                entry.get("Filename").unwrap_or_default().to_string(),
                entry.get("SHA256").unwrap_or_default().to_string(),
            );
        }
    }
    let mut entries: BTreeMap<Key, Paragraph> = current
        .as_ref()
        .map(|c| {
            c.entries
                .iter()
                .map(|e| (entry_key(e), e.clone()))
                .collect()
        })
        .unwrap_or_default();

    let mut unchanged = Vec::new();
    let mut added: Vec<(PublishedPackage, Option<&DebFile>)> = Vec::new();
    for deb in inputs {
        let key = (
            deb.package.clone(),
            deb.version.clone(),
            deb.architecture.clone(),
        );
        let filename = layout::pool_path(&deb.package, &deb.version, &deb.architecture);
        let published = entries
            .get(&key)
            .map(|e| e.get("SHA256").unwrap_or_default().to_string());
        let published = published.or_else(|| pool.get(&filename).cloned());
        let stanza = || {
            fields::package_stanza(
                &deb.control,
                &[
                    ("Filename", filename.clone()),
                    ("Size", deb.size.to_string()),
                    ("MD5sum", deb.md5.clone()),
                    ("SHA256", deb.sha256.clone()),
                ],
            )
        };
        match published {
            Some(sha) if sha != deb.sha256 => {
                return Err(RepoError::DuplicateVersion(Box::new(Clash {
                    package: deb.package.clone(),
                    version: deb.version.clone(),
                    arch: deb.architecture.clone(),
                    first: None,
                    first_sha256: sha,
                    second: deb.path.clone(),
                    second_sha256: deb.sha256.clone(),
                })))
            }
            Some(_) if entries.contains_key(&key) => unchanged.push(described(&entries[&key])),
            Some(_) => {
                // Already in the pool through another suite: index it, no copy.
                let s = stanza();
                added.push((described(&s), None));
                entries.insert(key, s);
            }
            None => {
                let s = stanza();
                added.push((described(&s), Some(deb)));
                entries.insert(key, s);
            }
        }
    }

    let mut pruned = Vec::new();
    if let Some(keep) = opts.keep {
        let mut groups: BTreeMap<(String, String), Vec<Key>> = BTreeMap::new();
        for key in entries.keys() {
            groups
                .entry((key.0.clone(), key.2.clone()))
                .or_default()
                .push(key.clone());
        }
        for (_, mut keys) in groups {
            keys.sort_by(|a, b| version::compare(&b.1, &a.1));
            for key in keys.into_iter().skip(keep) {
                let entry = entries.remove(&key).expect("key from the map");
                let gone = described(&entry);
                if let Some(pos) = added.iter().position(|(p, _)| *p == gone) {
                    added.remove(pos);
                } else {
                    pruned.push(gone);
                }
            }
        }
    }

    let configured = sign::configured(&private)?;
    let wanted = sign::wanted(&private, choice)?;
    let keyring = public.join(format!("{KEYRING_NAME}.gpg"));
    let same_signer = wanted.is_some() && wanted == configured;
    if added.is_empty()
        && pruned.is_empty()
        && current.is_some()
        && same_signer
        && keyring.is_file()
    {
        return Ok(PublishReport {
            suite: suite.to_string(),
            added: Vec::new(),
            unchanged,
            pruned,
            changed: false,
            date: current.as_ref().and_then(|c| c.date).map(date::format),
            fingerprint: configured.map(|s| s.fingerprint),
            keyring,
        });
    }

    make_private_dir(&private)?;
    let signer = sign::prepare(&private, choice, wanted)?;
    let (binary_key, armored_key) = signer.export()?;
    fs::create_dir_all(&public).map_err(RepoError::io("create", &public))?;
    replace_if_changed(&keyring, &binary_key)?;
    replace_if_changed(&public.join(format!("{KEYRING_NAME}.asc")), &armored_key)?;

    // The journal names every pool file this publish touches, so a killed run can be tidied up.
    let journal = layout::journal_path(repo);
    let touched: Vec<&str> = added
        .iter()
        .filter(|(_, deb)| deb.is_some())
        .map(|(p, _)| p.filename.as_str())
        .chain(pruned.iter().map(|p| p.filename.as_str()))
        .collect();
    write_synced(&journal, touched.join("\n").as_bytes())?;
    for (package, deb) in &added {
        if let Some(deb) = deb {
            copy_into_pool(&deb.path, &public.join(&package.filename), &deb.sha256)?;
        }
    }

    let base = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(now);
    let when = match current.as_ref().and_then(|c| c.date) {
        Some(previous) => base.max(previous + 1),
        None => base,
    };
    let date_text = date::format(when);
    let mut new_entries: Vec<Paragraph> = entries.into_values().collect();
    index::sort_entries(&mut new_entries);
    let generation = current.as_ref().map_or(1, |c| c.generation + 1);
    let state_name = layout::new_state_name(generation);
    let state_dir = layout::states_dir(repo, suite).join(&state_name);
    let info = ReleaseInfo {
        origin: &opts.origin,
        label: &opts.label,
        suite,
        description: &opts.description,
        date: &date_text,
    };
    index::write_state(&state_dir, &new_entries, &info, current.as_ref())?;
    // Release.gpg first, InRelease last: a state is complete once InRelease exists.
    signer.sign(
        &state_dir.join("Release"),
        &state_dir.join("Release.gpg"),
        &state_dir.join("InRelease"),
    )?;
    for name in ["Release.gpg", "InRelease"] {
        sync_file(&state_dir.join(name))?;
    }
    sync_tree_dirs(&state_dir)?;

    switch(repo, suite, &state_name)?;

    // After the switch: the old state and pruned pool files go.
    if let Some(old) = &current {
        fs::remove_dir_all(&old.dir).map_err(RepoError::io("remove the old state", &old.dir))?;
    }
    let mut referenced: BTreeSet<String> = new_entries
        .iter()
        .map(|e| e.get("Filename").unwrap_or_default().to_string())
        .collect();
    for state in states
        .iter()
        .filter(|s| !s.dir.starts_with(layout::states_dir(repo, suite)))
    {
        referenced.extend(
            state
                .entries
                .iter()
                .map(|e| e.get("Filename").unwrap_or_default().to_string()),
        );
    }
    for gone in &pruned {
        if !referenced.contains(&gone.filename) {
            let file = public.join(&gone.filename);
            remove_if_present(&file)?;
        }
    }
    remove_if_present(&journal)?;
    sign::tighten(&private)?;

    Ok(PublishReport {
        suite: suite.to_string(),
        added: added.into_iter().map(|(p, _)| p).collect(),
        unchanged,
        pruned,
        changed: true,
        date: Some(date_text),
        fingerprint: Some(signer.fingerprint),
        keyring,
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Tidies what a killed publish left: pool files it added but never indexed, pool files it
/// pruned but did not delete, staged state directories, a half-made link.
fn recover(
    repo: &Path,
    suite: &str,
    states: &[State],
    current: Option<&State>,
) -> Result<(), RepoError> {
    let public = layout::public_dir(repo);
    let journal = layout::journal_path(repo);
    match fs::read_to_string(&journal) {
        Ok(text) => {
            let referenced: BTreeSet<&str> = states
                .iter()
                .flat_map(|s| {
                    s.entries
                        .iter()
                        .map(|e| e.get("Filename").unwrap_or_default())
                })
                .collect();
            for path in text.lines().filter(|l| !l.is_empty()) {
                if path.starts_with("pool/") && !path.contains("..") {
                    let file = public.join(path);
                    remove_if_present(&partial_path(&file))?;
                    if !referenced.contains(path) {
                        remove_if_present(&file)?;
                    }
                }
            }
            remove_if_present(&journal)?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(RepoError::io("read", &journal)(e)),
    }
    remove_if_present(&layout::new_link_path(repo, suite))?;
    for ext in ["gpg", "asc"] {
        remove_if_present(&partial_path(&public.join(format!("{KEYRING_NAME}.{ext}"))))?;
    }
    let states_dir = layout::states_dir(repo, suite);
    if let Ok(list) = fs::read_dir(&states_dir) {
        for entry in list {
            let entry = entry.map_err(RepoError::io("list", &states_dir))?;
            // Best effort: a stale state is never served, and a gpg orphaned by a killed
            // publish may still be writing into it; what stays is removed next time.
            if Some(entry.path()) != current.map(|c| c.dir.clone()) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(())
}

fn make_private_dir(private: &Path) -> Result<(), RepoError> {
    fs::create_dir_all(private).map_err(RepoError::io("create", private))?;
    fs::set_permissions(private, fs::Permissions::from_mode(0o700))
        .map_err(RepoError::io("chmod", private))
}

fn partial_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!(".{name}.partial"))
}

fn remove_if_present(path: &Path) -> Result<(), RepoError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(RepoError::io("remove", path)(e)),
        _ => Ok(()),
    }
}

fn sync_file(path: &Path) -> Result<(), RepoError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(RepoError::io("flush", path))
}

fn sync_tree_dirs(dir: &Path) -> Result<(), RepoError> {
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

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RepoError> {
    let mut file = File::create(path).map_err(RepoError::io("create", path))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(RepoError::io("write", path))
}

/// Writes a public file by temp + rename, and only when its content changes.
fn replace_if_changed(path: &Path, bytes: &[u8]) -> Result<(), RepoError> {
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
/// inspected, then renames it into place.
fn copy_into_pool(src: &Path, dest: &Path, sha256: &str) -> Result<(), RepoError> {
    let dir = dest.parent().expect("pool paths have a directory");
    fs::create_dir_all(dir).map_err(RepoError::io("create the pool directory", dir))?;
    let tmp = partial_path(dest);
    remove_if_present(&tmp)?;
    let mut input = File::open(src).map_err(RepoError::io("open", src))?;
    let mut output = File::create(&tmp).map_err(RepoError::io("create", &tmp))?;
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
            .map_err(RepoError::io("write", &tmp))?;
    }
    output.sync_all().map_err(RepoError::io("flush", &tmp))?;
    drop(output);
    if hex::encode(hasher.finalize()) != sha256 {
        remove_if_present(&tmp)?;
        return Err(RepoError::ChangedWhileCopying {
            path: src.to_path_buf(),
        });
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))
        .map_err(RepoError::io("chmod", &tmp))?;
    fs::rename(&tmp, dest).map_err(RepoError::io("move into the pool", dest))?;
    sync_file(dir)
}

/// The one atomic step: a new symlink renamed over `dists/<suite>`.
fn switch(repo: &Path, suite: &str, state_name: &str) -> Result<(), RepoError> {
    let tmp = layout::new_link_path(repo, suite);
    remove_if_present(&tmp)?;
    std::os::unix::fs::symlink(layout::state_target(suite, state_name), &tmp)
        .map_err(RepoError::io("create the link", &tmp))?;
    let link = layout::suite_link(repo, suite);
    fs::rename(&tmp, &link).map_err(RepoError::io("switch", &link))?;
    sync_file(&layout::dists_dir(repo))
}
