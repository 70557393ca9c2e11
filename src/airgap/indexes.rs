//! Each suite's InRelease and Packages from the first source that serves them verified, kept in the cache.

use super::error::{io, AirgapError};
use super::Options;
use crate::archive::{self, inrelease::MAX_INRELEASE, Package};
use crate::fetch::download::Http;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One suite of a Debian archive and the base URLs that serve it, in order.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub mirrors: Vec<String>,
}

/// The suites a node's packages come from: the release, its -updates, and -security when
/// security mirrors are set. Mirrors from the command line come first.
pub fn suites(opts: &Options) -> Vec<Suite> {
    let main: Vec<String> = opts.mirrors.clone();
    let mut out = vec![
        Suite {
            name: opts.release.clone(),
            mirrors: main.clone(),
        },
        Suite {
            name: format!("{}-updates", opts.release),
            mirrors: main,
        },
    ];
    if !opts.security_mirrors.is_empty() {
        out.push(Suite {
            name: format!("{}-security", opts.release),
            mirrors: opts.security_mirrors.clone(),
        });
    }
    out
}

/// A suite's verified index.
pub struct Index {
    pub suite: Suite,
    pub packages: Vec<Package>,
}

/// Where a source's file is: a URL or a path in the `--from` folder.
enum Source<'a> {
    Url(&'a Http, &'a str),
    Folder(&'a Path),
}

impl Source<'_> {
    fn name(&self, rel: &str) -> String {
        match self {
            Source::Url(_, base) => format!("{base}/{rel}"),
            Source::Folder(dir) => dir.join(rel).display().to_string(),
        }
    }

    fn get(&self, rel: &str, max: u64) -> Result<Vec<u8>, String> {
        match self {
            Source::Url(http, base) => http.get_small(&format!("{base}/{rel}"), max),
            Source::Folder(dir) => {
                use std::io::Read;
                let path = dir.join(rel);
                let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
                let mut bytes = Vec::new();
                file.take(max + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| e.to_string())?;
                if bytes.len() as u64 > max {
                    return Err(format!("it is more than the {max} bytes allowed"));
                }
                Ok(bytes)
            }
        }
    }
}

/// The verified indexes of every suite, from the first source that gives a good one.
pub(crate) fn fetch(
    opts: &Options,
    http: Option<&Http>,
    keyrings: &[&[u8]],
    say: &dyn Fn(String),
) -> Result<Vec<Index>, AirgapError> {
    let mut out = Vec::new();
    for suite in suites(opts) {
        let mut attempts = Vec::new();
        let sources: Vec<Source> = match (&opts.from, http) {
            (Some(dir), _) => vec![Source::Folder(dir)],
            (None, Some(http)) => suite.mirrors.iter().map(|m| Source::Url(http, m)).collect(),
            (None, None) => Vec::new(),
        };
        let mut found = None;
        for source in &sources {
            match one(opts, &suite.name, source, keyrings) {
                Ok(packages) => {
                    found = Some(packages);
                    break;
                }
                Err(why) => {
                    say(format!(
                        "debian: {}: {why}; trying the next source",
                        suite.name
                    ));
                    attempts.push((source.name(&format!("dists/{}/", suite.name)), why));
                }
            }
        }
        let Some(packages) = found else {
            return Err(AirgapError::NoSource {
                what: format!("a verified index of {}", suite.name),
                attempts,
                advice: "name a Debian mirror that carries the release in debian.mirrors or with --debian-mirror URL, or carry a mirror's dists/ folder in with --from DIR".into(),
            });
        };
        out.push(Index { suite, packages });
    }
    Ok(out)
}

/// The suite's cache folder: an archive layout apt reads as a `file:` source.
pub fn suite_dir(opts: &Options, suite: &str) -> PathBuf {
    super::debian_dir(&opts.cache).join("dists").join(suite)
}

fn one(
    opts: &Options,
    suite: &str,
    source: &Source,
    keyrings: &[&[u8]],
) -> Result<Vec<Package>, String> {
    let rel = format!("dists/{suite}/InRelease");
    let bytes = source.get(&rel, MAX_INRELEASE)?;
    let release = archive::verify(&source.name(&rel), suite, &bytes, keyrings, now())
        .map_err(|e| e.to_string())?;
    let dir = suite_dir(opts, suite);
    let base = format!("main/binary-{}/Packages", opts.architecture);
    let mut tried = Vec::new();
    for path in [format!("{base}.xz"), format!("{base}.gz"), base.clone()] {
        let Some(sum) = release.files.get(&path) else {
            continue;
        };
        let cached = dir.join(&path);
        let index = match std::fs::read(&cached) {
            Ok(b)
                if b.len() as u64 == sum.size && hex::encode(Sha256::digest(&b)) == sum.sha256 =>
            {
                b
            }
            _ => match source.get(&format!("dists/{suite}/{path}"), sum.size) {
                Ok(b) => b,
                Err(why) => {
                    tried.push(format!("{path}: {why}"));
                    continue;
                }
            },
        };
        let packages =
            archive::read_packages(&release, &path, &index).map_err(|e| e.to_string())?;
        keep(&dir, &path, &index, &bytes).map_err(|e| e.to_string())?;
        return Ok(packages);
    }
    Err(if tried.is_empty() {
        format!("{} lists no {base} index", release.url)
    } else {
        tried.join("; ")
    })
}

/// Writes the index, then the InRelease, each by rename: apt reading the folder never sees a
/// Release whose index is not there yet.
fn keep(dir: &Path, path: &str, index: &[u8], inrelease: &[u8]) -> Result<(), AirgapError> {
    let target = dir.join(path);
    write_atomic(&target, index)?;
    write_atomic(&dir.join("InRelease"), inrelease)
}

pub(super) fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), AirgapError> {
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(io("write in", parent))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io("write", target))?;
    tmp.persist(target).map_err(|e| AirgapError::Io {
        action: "write",
        path: target.to_path_buf(),
        cause: e.error,
    })?;
    Ok(())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
