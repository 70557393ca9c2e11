//! Release tarballs from mirrors, upstream or a folder: downloaded with resume, verified by sha256, binaries extracted.
//!
//! Layout of the cache folder:
//! - `downloads/<file>` (and `<file>.part` while downloading): verified tarballs;
//! - `quarantine/<file>`: the last copy refused for a wrong hash or content;
//! - `bin/<component>-<version>/<binary>`: the extracted binaries (`.sha256` holds the tarball's hash,
//!   `.sha256sums` each binary's, checked again before the binaries are used);
//! - `fetched.toml`: the catalog and entries the last fetch used ([`record`]);
//! - `kubedeb.lock`: hashes trusted on first use for tarballs without a published checksum,
//!   and image IDs for images the catalog pins none for;
//! - `images/<image file>` and `images/index.toml`: the images' `docker save` archives
//!   ([`crate::images`]); `images/blobs/sha256/<hex>.part` while a blob downloads;
//! - `.fetch.lock`: flock'd by the running fetch (shared by a build), so they take turns.
//!
//! Sources are tried in order: each mirror base URL (`<mirror>/<file>`), then upstream's URL.
//! Whatever the source (the cache, `--from`, a download), its tarball is let in at one place,
//! `Fetcher::accept`, so the rules for trusting a file cannot drift apart between sources.

mod cache;
pub(crate) mod download;
mod error;
pub(crate) mod extract;
pub(crate) mod lock;
pub mod record;
mod sources;
mod trust;

use cache::Cached;
pub use cache::{binaries_dir, read_lock};
pub use error::{FetchError, NotExecutable};

use crate::catalog::{Catalog, Component, Release};
use crate::config::Versions;
use download::Http;
use indicatif::{MultiProgress, ProgressDrawTarget};
use lock::Lock;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use trust::{expected_hash, Expected};

/// Where `fetch` gets tarballs from and keeps its results.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Mirror base URLs, tried in order before upstream: a mirror serves `<base>/<tarball file name>`.
    pub mirrors: Vec<String>,
    /// Take the tarballs from this folder (by file name) instead of downloading: no network at all.
    pub from: Option<PathBuf>,
    /// Downloads, the lock file and extracted binaries.
    pub cache: PathBuf,
    /// fetch.max_download: the most bytes one download may deliver.
    pub max_download: u64,
    /// fetch.max_binary: the largest binary taken out of a tarball.
    pub max_binary: u64,
    /// fetch.timeout: a source silent this long, connecting or mid-transfer, has failed.
    pub timeout: std::time::Duration,
    /// The subcommand the user ran (`fetch`, `up`): advice names it, with `--from DIR`.
    pub command: &'static str,
    /// The container images to fetch after the tarballs (none: tarballs only).
    pub images: Vec<crate::catalog::ImageSpec>,
    /// Registry mirrors, credentials and CA for the images.
    pub registry: crate::images::RegistryOptions,
    /// The Debian packages to carry for the nodes (debian.carry), fetched after the images.
    pub debian: Option<crate::airgap::Options>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            mirrors: Vec::new(),
            from: None,
            cache: PathBuf::new(),
            max_download: 2 << 30,
            max_binary: 512 << 20,
            timeout: std::time::Duration::from_secs(15),
            command: "fetch",
            images: Vec::new(),
            registry: crate::images::RegistryOptions::default(),
            debian: None,
        }
    }
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

/// The trust-on-first-use lock file in a cache folder.
pub fn lock_path(cache: &Path) -> PathBuf {
    cache.join("kubedeb.lock")
}

/// The binaries a previous `kubedeb fetch` extracted for the configured versions, without any download.
pub fn fetched(
    cache: &Path,
    versions: &Versions,
    catalog: &Catalog,
) -> Result<Binaries, FetchError> {
    let lock = Lock::new(lock_path(cache));
    let mut binaries = Binaries::default();
    for component in Component::ALL {
        let release = catalog.release(component, versions.of(component))?;
        let dir = binaries_dir(cache, component, &release.version);
        let expected = expected_hash(release, &lock)?;
        let found = match cache::complete(&dir, release, expected.as_ref()) {
            Cached::Complete(found) => found,
            Cached::Tampered(e) => return Err(e),
            Cached::Absent => {
                return Err(FetchError::NotFetched {
                    release: format!("{component} {}", release.version),
                    path: dir.clone(),
                })
            }
        };
        binaries.add(release, found)?;
    }
    Ok(binaries)
}

/// Get, verify and extract the configured versions of kubernetes, flannel and etcd (in parallel).
pub fn fetch(
    versions: &Versions,
    catalog: &Catalog,
    opts: &FetchOptions,
) -> Result<Binaries, FetchError> {
    let releases = Component::ALL
        .into_iter()
        .map(|c| catalog.release(c, versions.of(c)))
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
        0 => {
            // Still under the cache lock `ctx` holds: the record matches the binaries.
            record::write(&opts.cache, catalog, &releases)?;
            // The images after the tarballs, under the same lock.
            crate::images::Job {
                images: &opts.images,
                registry: &opts.registry,
                from: opts.from.as_deref(),
                cache: &opts.cache,
                max_download: opts.max_download,
                timeout: opts.timeout,
                command: opts.command,
                lock: &ctx.lock,
                progress: &ctx.progress,
                say: &|m| ctx.say(m),
            }
            .run()?;
            if let Some(debian) = &opts.debian {
                crate::airgap::fetch(debian, &ctx.lock, &|m| ctx.say(m))?;
            }
            drop(ctx);
            Ok(binaries)
        }
        1 => Err(errors.remove(0)),
        _ => Err(FetchError::Several(errors)),
    }
}

/// A release's binaries, by name, as extracted into its folder.
type Found = BTreeMap<String, PathBuf>;

/// A tarball one source produced, not yet verified.
struct Candidate<'a> {
    path: &'a Path,
    source: Source<'a>,
}

enum Source<'a> {
    /// `downloads/<file>`, kept by an earlier fetch.
    Cache,
    /// The file of that name in the `--from` folder.
    Folder,
    /// A finished download (`<file>.part`), moved to `keep_as` in the cache once verified.
    Download { url: &'a str, keep_as: &'a Path },
}

/// Why a candidate was not installed.
enum Refused<'e> {
    /// Its sha256 is `actual`, not the one `expected` names.
    Hash {
        actual: String,
        expected: &'e Expected,
    },
    /// A first copy (no hash known yet) that does not hold the release the catalog describes.
    Content(FetchError),
    /// Not the candidate's fault: no other source would do better.
    Fatal(FetchError),
}

struct Fetcher<'a> {
    opts: &'a FetchOptions,
    lock: Lock,
    /// Lock entries are read, checked and written under this mutex.
    lock_guard: std::sync::Mutex<()>,
    http: Option<Http>,
    progress: MultiProgress,
    /// The flock on `.fetch.lock`, held while this fetch runs (released when the file closes).
    _cache_lock: File,
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
        let quiet = crate::output::verbosity() == crate::output::Verbosity::Quiet;
        let target = if std::io::stderr().is_terminal() && !quiet {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let cache_lock = cache::lock(&opts.cache)?;
        cache::tidy_staging(&opts.cache.join("bin"))?;
        Ok(Fetcher {
            opts,
            lock: Lock::new(lock_path(&opts.cache)),
            lock_guard: std::sync::Mutex::new(()),
            // --from means no network at all: not even an HTTP client.
            http: opts.from.is_none().then(|| Http::new(opts.timeout)),
            progress: MultiProgress::with_draw_target(target),
            _cache_lock: cache_lock,
        })
    }

    fn say(&self, message: String) {
        if self.progress.is_hidden() {
            crate::note!("{message}");
        } else {
            let _ = self.progress.println(message);
        }
    }

    fn release(&self, release: &Release) -> Result<Found, FetchError> {
        let dest = binaries_dir(&self.opts.cache, release.component, &release.version);
        let expected = self.expected(release)?;
        // A tarball given by hand is always checked, even when the cache holds that release.
        if let Some(dir) = &self.opts.from {
            return self.carried_in(release, dir, expected.as_ref(), &dest);
        }
        match cache::complete(&dest, release, expected.as_ref()) {
            Cached::Complete(found) => {
                self.say(format!(
                    "{} {}: already fetched in {}",
                    release.component,
                    release.version,
                    dest.display()
                ));
                return Ok(found);
            }
            Cached::Tampered(e) => self.say(format!("{e}; extracting again")),
            Cached::Absent => {}
        }
        if let Some(found) = self.cached(release, expected.as_ref(), &dest)? {
            return Ok(found);
        }
        self.download(release, expected.as_ref(), &dest)
    }

    /// The one way a tarball gets in, whatever its source: its sha256 must be the expected one,
    /// or, with none known yet, it must hold the release's binaries and is then trusted.
    fn accept<'e>(
        &self,
        release: &Release,
        candidate: &Candidate,
        expected: Option<&'e Expected>,
        dest: &Path,
    ) -> Result<Found, Refused<'e>> {
        let actual = sha256_file(candidate.path).map_err(Refused::Fatal)?;
        if let Some(e) = expected {
            if e.hash() != actual {
                return Err(Refused::Hash {
                    actual,
                    expected: e,
                });
            }
        }
        let tarball = match candidate.source {
            Source::Download { keep_as, .. } => {
                std::fs::rename(candidate.path, keep_as).map_err(|cause| {
                    Refused::Fatal(FetchError::Io {
                        action: "move the finished download to",
                        path: keep_as.to_path_buf(),
                        cause,
                    })
                })?;
                keep_as
            }
            Source::Cache | Source::Folder => candidate.path,
        };
        if expected.is_some() {
            match candidate.source {
                Source::Cache => self.say(format!(
                    "{} {}: using {} (sha256 verified)",
                    release.component,
                    release.version,
                    tarball.display()
                )),
                Source::Download { url, .. } => {
                    self.say(format!("{}: sha256 verified ({url})", release.file))
                }
                Source::Folder => {}
            }
            return self
                .install(release, tarball, &actual, dest)
                .map_err(Refused::Fatal);
        }
        // Trust on first use: accept the file only if it holds what the catalog says, so a mirror's
        // error page or wrong release is never recorded as the trusted hash.
        match self.install(release, tarball, &actual, dest) {
            Ok(found) => {
                let source = match candidate.source {
                    Source::Download { url, .. } => url.to_string(),
                    Source::Cache | Source::Folder => candidate.path.display().to_string(),
                };
                self.trust(release, &actual, &source)
                    .map_err(Refused::Fatal)?;
                Ok(found)
            }
            Err(
                e @ (FetchError::Archive { .. }
                | FetchError::MissingMember { .. }
                | FetchError::NotExecutable(_)),
            ) => Err(Refused::Content(e)),
            Err(e) => Err(Refused::Fatal(e)),
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
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
