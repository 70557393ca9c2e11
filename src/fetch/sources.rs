//! Where a tarball comes from: the `--from` folder, the cache of an earlier download, or mirrors then upstream.

use super::cache::remove_file;
use super::download::{self, Http};
use super::trust::Expected;
use super::{with_suffix, Candidate, FetchError, Fetcher, Found, Refused, Source};
use crate::catalog::Release;
use indicatif::ProgressBar;
use std::path::Path;

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

impl Fetcher<'_> {
    /// Carried in by hand: a wrong file is an error, there is no other source to try.
    pub(super) fn carried_in(
        &self,
        release: &Release,
        dir: &Path,
        expected: Option<&Expected>,
        dest: &Path,
    ) -> Result<Found, FetchError> {
        let path = dir.join(&release.file);
        if !path.is_file() {
            return Err(FetchError::NotInFolder {
                file: release.file.clone(),
                dir: dir.to_path_buf(),
                url: release.url.clone(),
            });
        }
        let candidate = Candidate {
            path: &path,
            source: Source::Folder,
        };
        match self.accept(release, &candidate, expected, dest) {
            Ok(found) => Ok(found),
            Err(Refused::Hash { actual, expected }) => Err(FetchError::Mismatch {
                file: path.clone(),
                actual,
                expected: expected.hash().to_string(),
                trusted: expected.trusted(),
                next: expected.next_step(true),
            }),
            Err(Refused::Content(e) | Refused::Fatal(e)) => Err(e),
        }
    }

    /// A tarball an earlier fetch downloaded; `None` when there is none worth using.
    pub(super) fn cached(
        &self,
        release: &Release,
        expected: Option<&Expected>,
        dest: &Path,
    ) -> Result<Option<Found>, FetchError> {
        let tarball = self.opts.cache.join("downloads").join(&release.file);
        if !tarball.is_file() {
            return Ok(None);
        }
        if expected.is_some() {
            let candidate = Candidate {
                path: &tarball,
                source: Source::Cache,
            };
            match self.accept(release, &candidate, expected, dest) {
                Ok(found) => return Ok(Some(found)),
                Err(Refused::Content(e) | Refused::Fatal(e)) => return Err(e),
                Err(Refused::Hash { .. }) => {}
            }
        }
        // Unverifiable or stale: download it again.
        remove_file(&tarball)?;
        Ok(None)
    }

    /// Each mirror, then upstream, until one serves a tarball that is accepted.
    pub(super) fn download(
        &self,
        release: &Release,
        expected: Option<&Expected>,
        dest: &Path,
    ) -> Result<Found, FetchError> {
        let http = self.http.as_ref().expect("an HTTP client unless --from");
        let tarball = self.opts.cache.join("downloads").join(&release.file);
        let part = with_suffix(&tarball, ".part");
        let job = Download {
            release,
            part: &part,
            tarball: &tarball,
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
        let count = self.opts.mirrors.len() + 1;
        for (i, url) in sources.enumerate() {
            match self.try_source(http, &job, &url) {
                Ok(found) => return Ok(found),
                Err(Failure::Source(why)) => {
                    // Said now, not only in the final error: a user behind a firewall sees
                    // each source fail as it happens.
                    if i + 1 < count {
                        self.say(format!("{url}: {why}; trying the next source"));
                    }
                    attempts.push((url, why));
                }
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
        let next = match expected {
            Some(e @ Expected::Locked { .. })
                if attempts.iter().any(|(_, why)| why.contains("sha256")) =>
            {
                e.next_step(false)
            }
            _ => format!(
                "add a working mirror (--mirror URL or fetch.mirrors), or get the file another way \
                 and run `kubedeb {} --from DIR`",
                self.opts.command
            ),
        };
        Err(FetchError::AllSourcesFailed {
            file: release.file.clone(),
            release: format!("{} {}", release.component, release.version),
            attempts,
            next,
        })
    }

    fn try_source(&self, http: &Http, job: &Download, url: &str) -> Result<Found, Failure> {
        let Download {
            release,
            part,
            tarball,
            expected,
            dest,
        } = *job;
        // A line, not only the bar: with stderr not a terminal there is no bar, and a source
        // that never answers must not look like a hung kubedeb.
        self.say(format!("{}: connecting to {url}", release.file));
        let bar = self.progress.add(ProgressBar::new(0));
        bar.set_style(download::connecting_style());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar.set_message(release.file.clone());
        let result = download::download(http, url, part, self.opts.max_download, &bar, &|m| {
            self.say(m)
        });
        bar.finish_and_clear();
        self.progress.remove(&bar);
        let downloaded = result.map_err(Failure::Source)?;
        let candidate = Candidate {
            path: part,
            source: Source::Download {
                url,
                keep_as: tarball,
            },
        };
        match self.accept(release, &candidate, expected, dest) {
            Ok(found) => Ok(found),
            Err(Refused::Hash { .. }) if downloaded.resumed_from > 0 => {
                // The kept .part may have come from another source: judge this one on a fresh copy.
                remove_file(part).map_err(Failure::Fatal)?;
                self.try_source(http, job, url)
            }
            Err(Refused::Hash { actual, expected }) => {
                let moved = self
                    .quarantine(part, &release.file)
                    .map_err(Failure::Fatal)?;
                Err(Failure::Source(format!(
                    "sha256 is {actual}, but {} is {}: refused, nothing extracted (moved to {})",
                    expected.trusted(),
                    expected.hash(),
                    moved.display()
                )))
            }
            Err(Refused::Content(e)) => {
                let moved = self
                    .quarantine(tarball, &release.file)
                    .map_err(Failure::Fatal)?;
                Err(Failure::Source(format!(
                    "{e} (moved to {})",
                    moved.display()
                )))
            }
            Err(Refused::Fatal(e)) => Err(Failure::Fatal(e)),
        }
    }
}
