//! Release tarballs from mirrors, upstream or a folder: downloaded with resume, verified by sha256, binaries extracted.
//!
//! Layout of the cache folder:
//! - `downloads/<file>` (and `<file>.part` while downloading): verified tarballs;
//! - `quarantine/<file>`: the last copy refused for a wrong hash or content;
//! - `bin/<component>-<version>/<binary>`: the extracted binaries (`.sha256` holds the tarball's hash);
//! - `kubedeb.lock`: hashes trusted on first use for tarballs without a published checksum.
//!
//! Sources are tried in order: each mirror base URL (`<mirror>/<file>`), then upstream's URL.

mod download;
mod extract;
mod lock;

use crate::catalog::{Catalog, CatalogError, Component, Release};
use crate::config::Config;
use download::Http;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lock::{Lock, LockEntry};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

/// Where `fetch` gets tarballs from and keeps its results.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Mirror base URLs, tried in order before upstream: a mirror serves `<base>/<tarball file name>`.
    pub mirrors: Vec<String>,
    /// Take the tarballs from this folder (by file name) instead of downloading: no network at all.
    pub from: Option<PathBuf>,
    /// Downloads, the lock file and extracted binaries.
    pub cache: PathBuf,
}

/// The extracted binaries, by name (`kube-apiserver`, `flanneld`, `etcd`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binaries {
    paths: BTreeMap<String, PathBuf>,
}

impl Binaries {
    pub fn get(&self, name: &str) -> Option<&Path> {
        self.paths.get(name).map(PathBuf::as_path)
    }

    /// The path of a binary, or an error naming it.
    pub fn require(&self, name: &str) -> Result<&Path, FetchError> {
        self.get(name).ok_or_else(|| FetchError::NoSuchBinary {
            binary: name.to_string(),
            known: self.paths.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.paths.iter().map(|(n, p)| (n.as_str(), p.as_path()))
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    fn add(
        &mut self,
        release: &Release,
        found: BTreeMap<String, PathBuf>,
    ) -> Result<(), FetchError> {
        for (name, path) in found {
            if self.paths.insert(name.clone(), path).is_some() {
                return Err(FetchError::DuplicateBinary {
                    binary: name,
                    release: format!("{} {}", release.component, release.version),
                });
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
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
    #[error("binary {binary} of {release} is also provided by another component; rename it in your catalog")]
    DuplicateBinary { binary: String, release: String },
    #[error("no binary named {binary} was fetched (have: {known})")]
    NoSuchBinary { binary: String, known: String },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<FetchError>),
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

/// The folder holding a release's extracted binaries.
pub fn binaries_dir(cache: &Path, component: Component, version: &str) -> PathBuf {
    cache.join("bin").join(format!("{component}-{version}"))
}

/// The trust-on-first-use lock file in a cache folder.
pub fn lock_path(cache: &Path) -> PathBuf {
    cache.join("kubedeb.lock")
}

/// The binaries a previous `kubedeb fetch` extracted for the configured versions, without any download.
pub fn fetched(cache: &Path, cfg: &Config, catalog: &Catalog) -> Result<Binaries, FetchError> {
    let lock = Lock::new(lock_path(cache));
    let mut binaries = Binaries::default();
    for component in Component::ALL {
        let release = catalog.release(component, cfg.version(component))?;
        let dir = binaries_dir(cache, component, &release.version);
        let expected = expected_hash(release, &lock)?;
        let found =
            complete(&dir, release, expected.as_ref()).ok_or_else(|| FetchError::NotFetched {
                release: format!("{component} {}", release.version),
                path: dir.clone(),
            })?;
        binaries.add(release, found)?;
    }
    Ok(binaries)
}

/// Get, verify and extract the configured versions of kubernetes, flannel and etcd (in parallel).
pub fn fetch(cfg: &Config, catalog: &Catalog, opts: &FetchOptions) -> Result<Binaries, FetchError> {
    let releases = Component::ALL
        .into_iter()
        .map(|c| catalog.release(c, cfg.version(c)))
        .collect::<Result<Vec<_>, _>>()?;
    let ctx = Fetcher::new(opts)?;
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = releases
            .iter()
            .map(|r| s.spawn(|| ctx.release(r)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut binaries = Binaries::default();
    let mut errors = Vec::new();
    for (release, result) in releases.iter().zip(results) {
        match result {
            Ok(found) => binaries.add(release, found)?,
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(binaries),
        1 => Err(errors.remove(0)),
        _ => Err(FetchError::Several(errors)),
    }
}

/// The hash a tarball must have, and who says so.
enum Expected {
    Pin {
        hash: String,
        origin: String,
    },
    Locked {
        hash: String,
        entry: LockEntry,
        key: String,
        lock: PathBuf,
    },
}

impl Expected {
    fn hash(&self) -> &str {
        match self {
            Expected::Pin { hash, .. } | Expected::Locked { hash, .. } => hash,
        }
    }

    fn trusted(&self) -> String {
        match self {
            Expected::Pin { origin, .. } => format!("the sha256 pinned in {origin}"),
            Expected::Locked { entry, lock, .. } => format!(
                "the sha256 recorded in {} at its first download (from {})",
                lock.display(),
                entry.source
            ),
        }
    }

    fn next_step(&self, carried_in: bool) -> String {
        match self {
            Expected::Pin { .. } if carried_in => {
                "this is not the file the catalog pins (another version or a damaged copy): \
                 replace it, or pin the hash of a file you have checked in your own catalog (--catalog)"
                    .to_string()
            }
            Expected::Pin { .. } => {
                "the source serves a different or corrupted file: use another mirror, \
                 or pin the hash of a file you have checked in your own catalog (--catalog)"
                    .to_string()
            }
            Expected::Locked { key, lock, .. } => format!(
                "if the new file is the right one, delete the [tarball.\"{key}\"] entry from {} \
                 (or pin its sha256 in your own catalog) and fetch again",
                lock.display()
            ),
        }
    }
}

fn lock_key(release: &Release) -> String {
    format!("{}-{}", release.component, release.version)
}

fn expected_hash(release: &Release, lock: &Lock) -> Result<Option<Expected>, FetchError> {
    if let Some(hash) = &release.sha256 {
        return Ok(Some(Expected::Pin {
            hash: hash.clone(),
            origin: release.origin.clone(),
        }));
    }
    let key = lock_key(release);
    Ok(lock.get(&key)?.map(|entry| Expected::Locked {
        hash: entry.sha256.clone(),
        entry,
        key,
        lock: lock.path().to_path_buf(),
    }))
}

/// The release's binaries in `dir`, when a previous fetch extracted them from the expected tarball.
fn complete(
    dir: &Path,
    release: &Release,
    expected: Option<&Expected>,
) -> Option<BTreeMap<String, PathBuf>> {
    let stamp = std::fs::read_to_string(dir.join(".sha256")).ok()?;
    if stamp.trim() != expected?.hash() {
        return None;
    }
    release
        .binaries
        .iter()
        .map(|b| {
            let path = dir.join(&b.name);
            path.is_file().then(|| (b.name.clone(), path))
        })
        .collect()
}

struct Fetcher<'a> {
    opts: &'a FetchOptions,
    lock: Lock,
    /// Lock entries are read, checked and written under this mutex.
    lock_guard: std::sync::Mutex<()>,
    http: Option<Http>,
    progress: MultiProgress,
}

impl<'a> Fetcher<'a> {
    fn new(opts: &'a FetchOptions) -> Result<Fetcher<'a>, FetchError> {
        for dir in ["downloads", "bin"] {
            let path = opts.cache.join(dir);
            std::fs::create_dir_all(&path).map_err(|cause| FetchError::Io {
                action: "create the cache folder",
                path,
                cause,
            })?;
        }
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Ok(Fetcher {
            opts,
            lock: Lock::new(lock_path(&opts.cache)),
            lock_guard: std::sync::Mutex::new(()),
            // --from means no network at all: not even an HTTP client.
            http: opts.from.is_none().then(Http::new),
            progress: MultiProgress::with_draw_target(target),
        })
    }

    fn say(&self, message: String) {
        if self.progress.is_hidden() {
            eprintln!("{message}");
        } else {
            let _ = self.progress.println(message);
        }
    }

    fn release(&self, release: &Release) -> Result<BTreeMap<String, PathBuf>, FetchError> {
        let name = format!("{} {}", release.component, release.version);
        let dest = binaries_dir(&self.opts.cache, release.component, &release.version);
        let expected = {
            let _guard = self.lock_guard.lock().unwrap_or_else(|e| e.into_inner());
            expected_hash(release, &self.lock)?
        };
        if let Some(found) = complete(&dest, release, expected.as_ref()) {
            self.say(format!("{name}: already fetched in {}", dest.display()));
            return Ok(found);
        }
        if let Some(dir) = &self.opts.from {
            return self.carried_in(release, dir, expected.as_ref(), &dest);
        }
        let tarball = self.opts.cache.join("downloads").join(&release.file);
        if tarball.is_file() {
            let actual = sha256_file(&tarball)?;
            match &expected {
                Some(e) if e.hash() == actual => {
                    self.say(format!(
                        "{name}: using {} (sha256 verified)",
                        tarball.display()
                    ));
                    return self.install(release, &tarball, &actual, &dest);
                }
                // Unverifiable or stale: download it again.
                _ => remove_file(&tarball)?,
            }
        }
        self.download(release, &tarball, expected.as_ref(), &dest)
    }

    fn carried_in(
        &self,
        release: &Release,
        dir: &Path,
        expected: Option<&Expected>,
        dest: &Path,
    ) -> Result<BTreeMap<String, PathBuf>, FetchError> {
        let path = dir.join(&release.file);
        if !path.is_file() {
            return Err(FetchError::NotInFolder {
                file: release.file.clone(),
                dir: dir.to_path_buf(),
                url: release.url.clone(),
            });
        }
        let actual = sha256_file(&path)?;
        match expected {
            Some(e) if e.hash() != actual => Err(FetchError::Mismatch {
                file: path,
                actual,
                expected: e.hash().to_string(),
                trusted: e.trusted(),
                next: e.next_step(true),
            }),
            Some(_) => self.install(release, &path, &actual, dest),
            None => {
                let found = self.install(release, &path, &actual, dest)?;
                self.trust(release, &actual, &path.display().to_string())?;
                Ok(found)
            }
        }
    }

    fn download(
        &self,
        release: &Release,
        tarball: &Path,
        expected: Option<&Expected>,
        dest: &Path,
    ) -> Result<BTreeMap<String, PathBuf>, FetchError> {
        let http = self.http.as_ref().expect("an HTTP client unless --from");
        let part = with_suffix(tarball, ".part");
        let job = Download {
            release,
            part: &part,
            tarball,
            expected,
            dest,
        };
        let sources = self
            .opts
            .mirrors
            .iter()
            .map(|m| format!("{}/{}", m.trim_end_matches('/'), release.file))
            .chain(std::iter::once(release.url.clone()));
        let mut attempts = Vec::new();
        for url in sources {
            match self.try_source(http, &job, &url) {
                Ok(found) => return Ok(found),
                Err(Failure::Source(why)) => attempts.push((url, why)),
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
        let next = match expected {
            Some(e @ Expected::Locked { .. })
                if attempts.iter().any(|(_, why)| why.contains("sha256")) =>
            {
                e.next_step(false)
            }
            _ => {
                "add a working mirror (--mirror URL or fetch.mirrors), or get the file another way \
                  and run `kubedeb fetch --from DIR`"
                    .to_string()
            }
        };
        Err(FetchError::AllSourcesFailed {
            file: release.file.clone(),
            release: format!("{} {}", release.component, release.version),
            attempts,
            next,
        })
    }

    fn try_source(
        &self,
        http: &Http,
        job: &Download,
        url: &str,
    ) -> Result<BTreeMap<String, PathBuf>, Failure> {
        let Download {
            release,
            part,
            tarball,
            expected,
            dest,
        } = *job;
        let bar = self.progress.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(release.file.clone());
        let result = download::download(http, url, part, &bar, &|m| self.say(m));
        bar.finish_and_clear();
        self.progress.remove(&bar);
        let downloaded = result.map_err(Failure::Source)?;
        let actual = sha256_file(part).map_err(Failure::Fatal)?;
        if let Some(e) = expected {
            if e.hash() != actual {
                if downloaded.resumed_from > 0 {
                    // The kept .part may have come from another source: judge this one on a fresh copy.
                    remove_file(part).map_err(Failure::Fatal)?;
                    return self.try_source(http, job, url);
                }
                let moved = self
                    .quarantine(part, &release.file)
                    .map_err(Failure::Fatal)?;
                return Err(Failure::Source(format!(
                    "sha256 is {actual}, but {} is {}: refused, nothing extracted (moved to {})",
                    e.trusted(),
                    e.hash(),
                    moved.display()
                )));
            }
        }
        std::fs::rename(part, tarball).map_err(|cause| {
            Failure::Fatal(FetchError::Io {
                action: "move the finished download to",
                path: tarball.to_path_buf(),
                cause,
            })
        })?;
        if expected.is_some() {
            self.say(format!("{}: sha256 verified ({url})", release.file));
            return self
                .install(release, tarball, &actual, dest)
                .map_err(Failure::Fatal);
        }
        // Trust on first use: accept the file only if it holds what the catalog says, so a mirror's
        // error page or wrong release is never recorded as the trusted hash.
        match self.install(release, tarball, &actual, dest) {
            Ok(found) => {
                self.trust(release, &actual, url).map_err(Failure::Fatal)?;
                Ok(found)
            }
            Err(
                e @ (FetchError::Archive { .. }
                | FetchError::MissingMember { .. }
                | FetchError::NotExecutable(_)),
            ) => {
                let moved = self
                    .quarantine(tarball, &release.file)
                    .map_err(Failure::Fatal)?;
                Err(Failure::Source(format!(
                    "{e} (moved to {})",
                    moved.display()
                )))
            }
            Err(e) => Err(Failure::Fatal(e)),
        }
    }

    fn trust(&self, release: &Release, hash: &str, source: &str) -> Result<(), FetchError> {
        let _guard = self.lock_guard.lock().unwrap_or_else(|e| e.into_inner());
        let key = lock_key(release);
        self.lock.record(
            &key,
            LockEntry {
                file: release.file.clone(),
                sha256: hash.to_string(),
                source: source.to_string(),
            },
        )?;
        self.say(format!(
            "{} ({} {}) has no published checksum: trusting this first copy (from {source}); \
             recorded sha256 {hash} in {}. Later downloads must match it.",
            release.file,
            release.component,
            release.version,
            self.lock.path().display()
        ));
        Ok(())
    }

    /// Move a refused file aside, replacing the previously refused copy.
    fn quarantine(&self, path: &Path, file: &str) -> Result<PathBuf, FetchError> {
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
    fn install(
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
        let found = extract::extract(tarball, release, staging.path())?;
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
            "{} {}: extracted {} into {}",
            release.component,
            release.version,
            found.keys().cloned().collect::<Vec<_>>().join(", "),
            dest.display()
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

/// One tarball to download: where it goes and what it must hash to.
#[derive(Clone, Copy)]
struct Download<'a> {
    release: &'a Release,
    /// The partial download, kept between runs so that the next one resumes it.
    part: &'a Path,
    tarball: &'a Path,
    expected: Option<&'a Expected>,
    /// Where the binaries are extracted.
    dest: &'a Path,
}

/// Why one source did not work: try the next one, or give up.
enum Failure {
    Source(String),
    Fatal(FetchError),
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_file(path: &Path) -> Result<(), FetchError> {
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

/// The lowercase hex sha256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let read_error = |cause| FetchError::Io {
        action: "read",
        path: path.to_path_buf(),
        cause,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(read_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
