//! Streaming extraction of a release's binaries from its (possibly nested) tarball, each checked to be an x86-64 ELF executable.

use super::{FetchError, NotExecutable};
use crate::catalog::Release;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One binary still to be found: the remaining member path, one archive level per element.
struct Want<'a> {
    name: &'a str,
    rest: &'a [String],
    full: &'a [String],
}

/// Extract every binary of `release` from `tarball` into `staging` (as `staging/<binary>`, mode 0755).
/// Stops reading as soon as the last binary is found.
pub(super) fn extract(
    tarball: &Path,
    release: &Release,
    staging: &Path,
) -> Result<BTreeMap<String, PathBuf>, FetchError> {
    let file = File::open(tarball).map_err(|cause| FetchError::Io {
        action: "open the tarball",
        path: tarball.to_path_buf(),
        cause,
    })?;
    let wants = release
        .binaries
        .iter()
        .map(|b| Want {
            name: &b.name,
            rest: &b.path,
            full: &b.path,
        })
        .collect();
    let mut found = BTreeMap::new();
    let ctx = Ctx {
        tarball,
        release,
        staging,
    };
    ctx.walk(file, &[], wants, &mut found)?;
    for (name, path) in &found {
        crate::elf::check_x86_64_executable(path).map_err(|reason| {
            let spec = release
                .binaries
                .iter()
                .find(|b| &b.name == name)
                .expect("found binaries come from the release");
            FetchError::NotExecutable(Box::new(NotExecutable {
                release: format!("{} {}", release.component, release.version),
                binary: name.clone(),
                member: spec.path.join(" → "),
                file: tarball.to_path_buf(),
                reason,
                origin: release.origin.clone(),
            }))
        })?;
    }
    Ok(found)
}

struct Ctx<'a> {
    tarball: &'a Path,
    release: &'a Release,
    staging: &'a Path,
}

impl Ctx<'_> {
    fn archive_error(&self, inside: &[String], e: io::Error) -> FetchError {
        FetchError::Archive {
            file: self.tarball.to_path_buf(),
            inside: inside.join(" → "),
            problem: e.to_string(),
        }
    }

    fn walk<R: Read>(
        &self,
        reader: R,
        inside: &[String],
        wants: Vec<Want<'_>>,
        found: &mut BTreeMap<String, PathBuf>,
    ) -> Result<(), FetchError> {
        let reader = decompress(reader).map_err(|e| self.archive_error(inside, e))?;
        let mut archive = tar::Archive::new(reader);
        let mut pending = wants;
        let entries = archive
            .entries()
            .map_err(|e| self.archive_error(inside, e))?;
        for entry in entries {
            if pending.is_empty() {
                break;
            }
            let mut entry = entry.map_err(|e| self.archive_error(inside, e))?;
            let path = entry.path().map_err(|e| self.archive_error(inside, e))?;
            let path = normalize(&path.to_string_lossy());
            let (here, rest): (Vec<Want>, Vec<Want>) =
                pending.into_iter().partition(|w| w.rest[0] == path);
            pending = rest;
            if here.is_empty() {
                continue;
            }
            let (leaves, nested): (Vec<Want>, Vec<Want>) =
                here.into_iter().partition(|w| w.rest.len() == 1);
            let mut member_path = inside.to_vec();
            member_path.push(path.clone());
            if !entry.header().entry_type().is_file() {
                return Err(FetchError::Archive {
                    file: self.tarball.to_path_buf(),
                    inside: member_path.join(" → "),
                    problem: format!(
                        "is a {:?} entry, not a regular file; fix the path in the catalog entry ({})",
                        entry.header().entry_type(),
                        self.release.origin
                    ),
                });
            }
            if !leaves.is_empty() && !nested.is_empty() {
                return Err(FetchError::Archive {
                    file: self.tarball.to_path_buf(),
                    inside: member_path.join(" → "),
                    problem: format!(
                        "the catalog ({}) lists it both as a binary and as an archive",
                        self.release.origin
                    ),
                });
            }
            if nested.is_empty() {
                self.write_leaves(&mut entry, &member_path, &leaves, found)?;
            } else {
                let deeper = nested
                    .into_iter()
                    .map(|w| Want {
                        rest: &w.rest[1..],
                        ..w
                    })
                    .collect();
                self.walk(&mut entry, &member_path, deeper, found)?;
            }
        }
        if let Some(missing) = pending.first() {
            return Err(FetchError::MissingMember {
                file: self.tarball.to_path_buf(),
                binary: missing.name.to_string(),
                member: missing.full.join(" → "),
                origin: self.release.origin.clone(),
            });
        }
        Ok(())
    }

    fn write_leaves<R: Read>(
        &self,
        entry: &mut R,
        member_path: &[String],
        leaves: &[Want<'_>],
        found: &mut BTreeMap<String, PathBuf>,
    ) -> Result<(), FetchError> {
        let first = self.staging.join(leaves[0].name);
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |cause| FetchError::Io {
                action: "write the extracted binary",
                path,
                cause,
            }
        };
        let mut out = File::create(&first).map_err(io_err(&first))?;
        io::copy(entry, &mut out).map_err(|e| self.archive_error(member_path, e))?;
        out.set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(io_err(&first))?;
        found.insert(leaves[0].name.to_string(), first.clone());
        // Two names for one member (a catalog alias) get a copy each.
        for leaf in &leaves[1..] {
            let copy = self.staging.join(leaf.name);
            std::fs::copy(&first, &copy).map_err(io_err(&copy))?;
            found.insert(leaf.name.to_string(), copy);
        }
        Ok(())
    }
}

fn normalize(path: &str) -> String {
    let mut path = path;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    path.trim_end_matches('/').to_string()
}

/// A tar stream, gunzipped or unxz'd when its first bytes say so.
fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let head = buffered.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(liblzma::read::XzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_are_compared_without_leading_dot_slash() {
        assert_eq!(normalize("./kubernetes/server/"), "kubernetes/server");
        assert_eq!(
            normalize("etcd-v2.2.1-linux-amd64/etcd"),
            "etcd-v2.2.1-linux-amd64/etcd"
        );
    }
}
