//! The cache folder's extracted binaries, refused files and lock: what a fetch leaves for the next one and for `build`.

use super::error::Tampered;
use super::trust::Expected;
use super::{extract, FetchError, Fetcher};
use crate::catalog::{Component, Release};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The folder holding a release's extracted binaries.
pub fn binaries_dir(cache: &Path, component: Component, version: &str) -> PathBuf {
    cache.join("bin").join(format!("{component}-{version}"))
}

/// The file beside the binaries listing each one's sha256, as `sha256sum` writes it.
const SUMS: &str = ".sha256sums";

/// What a previous fetch left for a release.
pub(super) enum Cached {
    /// The binaries of the expected tarball, each with the bytes it was extracted with.
    Complete(BTreeMap<String, PathBuf>),
    /// Nothing usable: not fetched, another tarball, or an older layout without hashes.
    Absent,
    /// A binary's bytes changed since it was extracted.
    Tampered(FetchError),
}

/// The release's binaries in `dir`, when a previous fetch extracted them from the expected
/// tarball and their bytes still hash to what that fetch recorded.
pub(super) fn complete(dir: &Path, release: &Release, expected: Option<&Expected>) -> Cached {
    let Some(sums) = stamped(dir, expected) else {
        return Cached::Absent;
    };
    let mut want = Vec::new();
    for b in &release.binaries {
        let path = dir.join(&b.name);
        match sums.get(&b.name) {
            Some(hash) if path.is_file() => want.push((b.name.clone(), path, hash.clone())),
            _ => return Cached::Absent,
        }
    }
    let hashed = hash_files(want.iter().map(|(_, path, _)| path.as_path()).collect());
    let mut found = BTreeMap::new();
    for ((name, path, recorded), actual) in want.into_iter().zip(hashed) {
        match actual {
            Ok(actual) if actual == recorded => {
                found.insert(name, path);
            }
            Ok(actual) => {
                return Cached::Tampered(FetchError::Tampered(Box::new(Tampered {
                    release: format!("{} {}", release.component, release.version),
                    binary: name,
                    path,
                    recorded,
                    actual,
                })))
            }
            Err(e) => return Cached::Tampered(e),
        }
    }
    Cached::Complete(found)
}

/// The recorded binary hashes, when `dir` holds the extraction of the expected tarball.
fn stamped(dir: &Path, expected: Option<&Expected>) -> Option<BTreeMap<String, String>> {
    let stamp = std::fs::read_to_string(dir.join(".sha256")).ok()?;
    if stamp.trim() != expected?.hash() {
        return None;
    }
    let sums = std::fs::read_to_string(dir.join(SUMS)).ok()?;
    sums.lines()
        .map(|line| {
            let (hash, name) = line.split_once("  ")?;
            Some((name.to_string(), hash.to_string()))
        })
        .collect()
}

/// The sha256 of each file, in order; the files are shared out over the cores.
fn hash_files(paths: Vec<&Path>) -> Vec<Result<String, FetchError>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<String, FetchError>>>> =
        paths.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                let hash = super::sha256_file(path);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(hash);
            });
        }
    });
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every file was hashed")
        })
        .collect()
}

/// Removes the staging folders of fetches that were killed mid-extraction; run under the
/// cache lock, so none of them belongs to a running fetch.
pub(super) fn tidy_staging(bin: &Path) -> Result<(), FetchError> {
    let entries = match std::fs::read_dir(bin) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(cause) => {
            return Err(FetchError::Io {
                action: "list",
                path: bin.to_path_buf(),
                cause,
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".staging-") {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(|cause| FetchError::Io {
                action: "remove the leftover staging folder",
                path,
                cause,
            })?;
        }
    }
    Ok(())
}

/// The cache lock's file.
fn lock_file(cache: &Path) -> PathBuf {
    cache.join(".fetch.lock")
}

/// A shared hold on the cache lock, for a build reading the binaries: no fetch replaces them
/// meanwhile. `None` when no fetch ever ran there (then nothing is fetched to read either).
pub fn read_lock(cache: &Path) -> Result<Option<File>, FetchError> {
    let path = lock_file(cache);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => {
            return Err(FetchError::Io {
                action: "open the cache lock",
                path,
                cause,
            })
        }
    };
    if let Err(std::fs::TryLockError::WouldBlock) = file.try_lock_shared() {
        crate::note!(
            "waiting for the kubedeb fetch on {} to finish",
            cache.display()
        );
    }
    file.lock_shared().map_err(|cause| FetchError::Io {
        action: "lock the cache with",
        path,
        cause,
    })?;
    Ok(Some(file))
}

/// Takes the cache's flock, waiting (and saying so) while another fetch holds it.
pub(super) fn lock(cache: &Path) -> Result<File, FetchError> {
    let path = lock_file(cache);
    let io = |action| {
        let path = path.clone();
        move |cause| FetchError::Io {
            action,
            path,
            cause,
        }
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io("open the cache lock"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            crate::note!(
                "waiting for another kubedeb fetch on {} ({}) to finish",
                cache.display(),
                holder.trim()
            );
            file.lock().map_err(io("lock the cache with"))?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io("lock the cache with")(e)),
    }
    // Who holds it, for the message of the next fetch that has to wait.
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "pid {}", std::process::id()))
        .map_err(io("write"))?;
    Ok(file)
}

pub(super) fn remove_file(path: &Path) -> Result<(), FetchError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(cause) => Err(FetchError::Io {
            action: "remove",
            path: path.to_path_buf(),
            cause,
        }),
    }
}

impl Fetcher<'_> {
    /// Move a refused file aside, replacing the previously refused copy.
    pub(super) fn quarantine(&self, path: &Path, file: &str) -> Result<PathBuf, FetchError> {
        let dir = self.opts.cache.join("quarantine");
        let target = dir.join(file);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::rename(path, &target))
            .map_err(|cause| FetchError::Io {
                action: "move the refused file to",
                path: target.clone(),
                cause,
            })?;
        Ok(target)
    }

    /// Extract into a staging folder beside `dest`, then swap it in: `dest` is never half-written.
    pub(super) fn install(
        &self,
        release: &Release,
        tarball: &Path,
        hash: &str,
        dest: &Path,
    ) -> Result<BTreeMap<String, PathBuf>, FetchError> {
        let parent = dest.parent().expect("binaries_dir has a parent");
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |cause| FetchError::Io {
                action,
                path,
                cause,
            }
        };
        let staging = tempfile::Builder::new()
            .prefix(&format!(
                ".staging-{}-{}-",
                release.component, release.version
            ))
            .tempdir_in(parent)
            .map_err(io("create a staging folder in", parent))?;
        // Reading a release's whole tarball takes a while: say so before, not only after.
        self.say(format!(
            "{} {}: extracting the binaries from {}",
            release.component,
            release.version,
            tarball.display()
        ));
        let started = std::time::Instant::now();
        let found = extract::extract(
            tarball,
            release,
            staging.path(),
            extract::Limits {
                max_binary: self.opts.max_binary,
                max_download: self.opts.max_download,
            },
        )?;
        let sums: String = found
            .iter()
            .map(|(name, e)| format!("{}  {name}\n", e.sha256))
            .collect();
        std::fs::write(staging.path().join(SUMS), sums).map_err(io("write", staging.path()))?;
        std::fs::write(staging.path().join(".sha256"), format!("{hash}\n"))
            .map_err(io("write", staging.path()))?;
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(io("remove the old binaries in", dest))?;
        }
        let staged = staging.keep();
        std::fs::rename(&staged, dest).map_err(|e| {
            let _ = std::fs::remove_dir_all(&staged);
            io("move the extracted binaries to", dest)(e)
        })?;
        self.say(format!(
            "{} {}: extracted {} into {} in {:.1} s",
            release.component,
            release.version,
            found.keys().cloned().collect::<Vec<_>>().join(", "),
            dest.display(),
            started.elapsed().as_secs_f64()
        ));
        Ok(found
            .into_keys()
            .map(|name| {
                let path = dest.join(&name);
                (name, path)
            })
            .collect())
    }
}
