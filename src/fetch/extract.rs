//! Streaming extraction of a release's binaries from its (possibly nested) tarball, each checked to be an x86-64 ELF executable.
//!
//! Entries are read raw: the `tar` crate would buffer a GNU long-name or PAX record whole, so
//! a small gzip bomb in such a record costs gigabytes; here each record's size is checked first.

use super::{FetchError, NotExecutable};
use crate::catalog::Release;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// No member path in a release tarball is longer; GNU tar's own limit is the path limit, 4 KiB.
const MAX_LONG_NAME: u64 = 4 * 1024;
/// A PAX record holds a few short keys (path, mtime, ...).
const MAX_PAX: u64 = 64 * 1024;
/// Each archive level may unpack to this many times fetch.max_download: release tarballs
/// compress 3 to 4 times, a decompression bomb a thousand times, and time is bounded too.
const MAX_RATIO: u64 = 8;

/// One binary still to be found: the remaining member path, one archive level per element.
struct Want<'a> {
    name: &'a str,
    rest: &'a [String],
    full: &'a [String],
}

/// The size settings extraction obeys (fetch.max_binary, fetch.max_download).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub max_binary: u64,
    pub max_download: u64,
}

/// An extracted binary and the sha256 of its bytes, hashed while they were written.
pub(super) struct Extracted {
    pub path: PathBuf,
    pub sha256: String,
}

/// Extract every binary of `release` from `tarball` into `staging` (as `staging/<binary>`, mode 0755).
/// Reads every archive to its end: a wanted member present twice is refused, since GNU tar
/// would take the last copy where a first-wins reader takes the first.
pub(super) fn extract(
    tarball: &Path,
    release: &Release,
    staging: &Path,
    limits: Limits,
) -> Result<BTreeMap<String, Extracted>, FetchError> {
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
        max_binary: limits.max_binary,
        max_unpacked: limits.max_download.saturating_mul(MAX_RATIO),
    };
    ctx.walk(file, &[], wants, &mut found)?;
    for (name, extracted) in &found {
        crate::elf::check_x86_64_executable(&extracted.path).map_err(|reason| {
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
    max_binary: u64,
    /// The most bytes one archive level may unpack to.
    max_unpacked: u64,
}

/// The name records that describe the next entry.
#[derive(Default)]
struct Pending {
    gnu_name: Option<String>,
    pax_path: Option<String>,
}

impl Ctx<'_> {
    fn archive_error(&self, inside: &[String], e: io::Error) -> FetchError {
        self.refuse(inside, e.to_string())
    }

    fn refuse(&self, inside: &[String], problem: String) -> FetchError {
        FetchError::Archive {
            file: self.tarball.to_path_buf(),
            inside: inside.join(" → "),
            problem,
        }
    }

    /// The body of a name record, refused before it is read when it is larger than `limit`.
    fn record<R: Read>(
        &self,
        entry: &mut R,
        size: u64,
        limit: u64,
        what: &str,
        inside: &[String],
    ) -> Result<Vec<u8>, FetchError> {
        if size > limit {
            return Err(self.refuse(
                inside,
                format!(
                    "it has a {what} record of {size} bytes (at most {limit} make sense): \
                     refused as a damaged or hostile tarball; get the release from another source"
                ),
            ));
        }
        let mut body = Vec::with_capacity(size as usize);
        entry
            .take(limit)
            .read_to_end(&mut body)
            .map_err(|e| self.archive_error(inside, e))?;
        Ok(body)
    }

    /// Reads a GNU long-name or PAX record into `pending`; false for an ordinary entry.
    fn name_record<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        pending: &mut Pending,
        inside: &[String],
    ) -> Result<bool, FetchError> {
        let kind = entry.header().entry_type();
        let size = entry
            .header()
            .entry_size()
            .map_err(|e| self.archive_error(inside, e))?;
        if kind.is_gnu_longname() || kind.is_gnu_longlink() {
            let body = self.record(entry, size, MAX_LONG_NAME, "GNU long name", inside)?;
            if kind.is_gnu_longname() {
                let name = body.split(|&b| b == 0).next().unwrap_or_default();
                pending.gnu_name = Some(String::from_utf8_lossy(name).into_owned());
            }
            return Ok(true);
        }
        if kind.is_pax_local_extensions() || kind.is_pax_global_extensions() {
            let body = self.record(entry, size, MAX_PAX, "PAX header", inside)?;
            if kind.is_pax_global_extensions() {
                return Ok(true);
            }
            for ext in tar::PaxExtensions::new(&body) {
                let ext = ext.map_err(|e| self.archive_error(inside, e))?;
                match ext.key() {
                    Ok("path") => {
                        pending.pax_path =
                            Some(String::from_utf8_lossy(ext.value_bytes()).into_owned())
                    }
                    // Raw entries keep the header's size: an entry whose size only PAX knows
                    // (over 8 GiB) would be misread, and no release binary is that large.
                    Ok("size") => {
                        return Err(self.refuse(
                            inside,
                            "it has a member whose size is given in a PAX header (over 8 GiB): \
                             refused; no release binary is that large"
                                .into(),
                        ))
                    }
                    _ => {}
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    fn walk<R: Read>(
        &self,
        reader: R,
        inside: &[String],
        wants: Vec<Want<'_>>,
        found: &mut BTreeMap<String, Extracted>,
    ) -> Result<(), FetchError> {
        let reader = decompress(reader).map_err(|e| self.archive_error(inside, e))?;
        let reader = Bounded {
            inner: reader,
            left: self.max_unpacked,
            limit: self.max_unpacked,
        };
        let mut archive = tar::Archive::new(reader);
        let wanted: BTreeSet<String> = wants.iter().map(|w| w.rest[0].clone()).collect();
        let mut taken = BTreeSet::new();
        let mut pending = wants;
        let mut names = Pending::default();
        let entries = archive
            .entries()
            .map_err(|e| self.archive_error(inside, e))?
            .raw(true);
        for entry in entries {
            let mut entry = entry.map_err(|e| self.archive_error(inside, e))?;
            if self.name_record(&mut entry, &mut names, inside)? {
                continue;
            }
            let header_path = entry
                .header()
                .path()
                .map_err(|e| self.archive_error(inside, e))?
                .to_string_lossy()
                .into_owned();
            let raw_path = match std::mem::take(&mut names) {
                Pending {
                    gnu_name: Some(gnu),
                    pax_path: Some(pax),
                } if gnu != pax => {
                    return Err(self.refuse(
                        inside,
                        format!(
                            "a member is named both {gnu:?} (GNU long name) and {pax:?} (PAX): \
                             tar programs disagree on which counts; refused"
                        ),
                    ))
                }
                Pending {
                    pax_path: Some(name),
                    ..
                }
                | Pending {
                    gnu_name: Some(name),
                    ..
                } => name,
                Pending { .. } => header_path,
            };
            let path = normalize(&raw_path);
            let mut member_path = inside.to_vec();
            member_path.push(path.clone());
            if !wanted.contains(&path) {
                continue;
            }
            if !taken.insert(path.clone()) {
                return Err(self.refuse(
                    &member_path,
                    "it is in the archive twice: GNU tar would unpack the last copy, so which \
                     one is the release is ambiguous; refused, get the release from another source"
                        .into(),
                ));
            }
            let (here, rest): (Vec<Want>, Vec<Want>) =
                pending.into_iter().partition(|w| w.rest[0] == path);
            pending = rest;
            let (leaves, nested): (Vec<Want>, Vec<Want>) =
                here.into_iter().partition(|w| w.rest.len() == 1);
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
                let size = entry.size();
                if size > self.max_binary {
                    return Err(self.refuse(
                        &member_path,
                        format!(
                            "it is {size} bytes, more than fetch.max_binary ({} bytes): refused; \
                             if the release really has a binary that large, raise fetch.max_binary \
                             in cluster.toml",
                            self.max_binary
                        ),
                    ));
                }
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
        found: &mut BTreeMap<String, Extracted>,
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
        let out = File::create(&first).map_err(io_err(&first))?;
        let mut out = HashingWriter {
            inner: out,
            hasher: Sha256::new(),
        };
        io::copy(entry, &mut out).map_err(|e| self.archive_error(member_path, e))?;
        let HashingWriter { inner: out, hasher } = out;
        out.set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(io_err(&first))?;
        let sha256 = hex::encode(hasher.finalize());
        // Two names for one member (a catalog alias) get a copy each.
        for leaf in &leaves[1..] {
            let copy = self.staging.join(leaf.name);
            std::fs::copy(&first, &copy).map_err(io_err(&copy))?;
            found.insert(
                leaf.name.to_string(),
                Extracted {
                    path: copy,
                    sha256: sha256.clone(),
                },
            );
        }
        found.insert(
            leaves[0].name.to_string(),
            Extracted {
                path: first,
                sha256,
            },
        );
        Ok(())
    }
}

/// A writer that hashes what it passes on (tarball members and image blobs as they are written).
pub(crate) struct HashingWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A tar member's path without leading `./` and trailing `/`.
pub(crate) fn normalize(path: &str) -> String {
    let mut path = path;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    path.trim_end_matches('/').to_string()
}

/// A reader that fails once more than `limit` bytes came through.
struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::other(format!(
                "it unpacks to more than {} bytes ({MAX_RATIO} times fetch.max_download): refused \
                 as a decompression bomb; if the release really is that large, raise \
                 fetch.max_download in cluster.toml",
                self.limit
            ))
        })?;
        Ok(n)
    }
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
