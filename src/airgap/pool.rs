//! The chosen .debs into `cache/debian/<Filename>`: kept ones re-checked, others from `--from` or the mirrors, each checked against its index entry.

use super::error::{io, AirgapError};
use super::indexes::Suite;
use crate::archive::{check_deb, Package};
use crate::fetch::download::{download, Http};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Downloads run this many at a time: a mirror's latency, not its bandwidth, is what a
/// hundred small packages wait on.
const WORKERS: usize = 4;

/// One package to have in the pool.
pub struct Wanted<'a> {
    pub entry: &'a Package,
    pub suite: &'a Suite,
}

/// Where each package was taken from (URL, folder, or "cache"), in the order of `wanted`.
pub(crate) fn fill(
    debian_dir: &Path,
    wanted: &[Wanted],
    from: Option<&Path>,
    http: Option<&Http>,
    say: &(dyn Fn(String) + Sync),
) -> Result<Vec<String>, AirgapError> {
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<Result<String, AirgapError>>>> =
        Mutex::new((0..wanted.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(wanted.len()) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(w) = wanted.get(i) else { break };
                let r = one(debian_dir, w, from, http, say);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for r in results.into_inner().unwrap().into_iter().flatten() {
        match r {
            Ok(source) => sources.push(source),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(AirgapError::NoSource {
            what: format!("{} of the Debian packages", errors.len()),
            attempts: errors.into_iter().map(|e| (String::new(), e)).collect(),
            advice: "nothing was published; fix the sources above (or carry the files in with --from DIR) and run kubedeb fetch again".into(),
        });
    }
    Ok(sources)
}

/// The pool path of an index entry (the index reader refuses a Filename that would leave the pool).
pub fn pool_path(debian_dir: &Path, entry: &Package) -> PathBuf {
    debian_dir.join(&entry.filename)
}

fn one(
    debian_dir: &Path,
    w: &Wanted,
    from: Option<&Path>,
    http: Option<&Http>,
    say: &(dyn Fn(String) + Sync),
) -> Result<String, AirgapError> {
    let e = w.entry;
    let target = pool_path(debian_dir, e);
    let label = format!("{} {}", e.package, e.version);
    if target.exists() && check_deb(e, &target).is_ok() {
        say(format!("debian: {label}: already fetched"));
        return Ok("cache".into());
    }
    let parent = target.parent().unwrap_or(debian_dir);
    std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    let part = target.with_extension("deb.part");
    let mut attempts = Vec::new();
    if let Some(dir) = from {
        let base = Path::new(&e.filename)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        for candidate in [dir.join(&e.filename), dir.join(base)] {
            if !candidate.is_file() {
                continue;
            }
            match check_deb(e, &candidate) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&part);
                    if std::fs::hard_link(&candidate, &part).is_err() {
                        std::fs::copy(&candidate, &part).map_err(io("copy", &candidate))?;
                    }
                    std::fs::rename(&part, &target).map_err(io("write", &target))?;
                    say(format!(
                        "debian: {label}: taken from {}",
                        candidate.display()
                    ));
                    return Ok(candidate.display().to_string());
                }
                Err(why) => {
                    attempts.push((candidate.display().to_string(), format!("refused: {why}")))
                }
            }
        }
        return Err(AirgapError::NoSource {
            what: format!("{label} ({})", e.filename),
            attempts,
            advice: format!(
                "put {} in {} (as {} or under its own name), checked against {}'s signed index",
                e.filename,
                dir.display(),
                e.filename,
                w.suite.name
            ),
        });
    }
    let Some(http) = http else {
        unreachable!("without --from there is an HTTP client");
    };
    for mirror in &w.suite.mirrors {
        let url = format!("{mirror}/{}", e.filename);
        say(format!("debian: {label}: downloading from {url}"));
        let bar = indicatif::ProgressBar::hidden();
        if let Err(why) = download(http, &url, &part, e.size, &bar, &|m| say(m)) {
            attempts.push((url, why));
            let _ = std::fs::remove_file(&part);
            continue;
        }
        match check_deb(e, &part) {
            Ok(()) => {
                std::fs::rename(&part, &target).map_err(io("write", &target))?;
                return Ok(url);
            }
            Err(why) => {
                let _ = std::fs::remove_file(&part);
                attempts.push((url, format!("refused: {why}")));
            }
        }
    }
    Err(AirgapError::NoSource {
        what: format!("{label} ({})", e.filename),
        attempts,
        advice: "try another Debian mirror (debian.mirrors or --debian-mirror URL), or carry the file in with --from DIR".into(),
    })
}
