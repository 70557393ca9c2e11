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
        check_elf(path).map_err(|reason| {
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

/// Is `path` a 64-bit little-endian x86-64 ELF executable or position-independent executable?
pub(super) fn check_elf(path: &Path) -> Result<(), String> {
    let mut header = Vec::with_capacity(20);
    File::open(path)
        .and_then(|f| f.take(20).read_to_end(&mut header))
        .map_err(|e| format!("cannot read it: {e}"))?;
    if !header.starts_with(b"\x7fELF") {
        let start: String = header
            .iter()
            .take(12)
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        return Err(format!("not an ELF file (it starts with {start:?})"));
    }
    if header.len() < 20 {
        return Err(format!("a truncated ELF header ({} bytes)", header.len()));
    }
    if header[4] != 2 {
        return Err("a 32-bit ELF file, not a 64-bit one".into());
    }
    if header[5] != 1 {
        return Err("a big-endian ELF file".into());
    }
    let e_type = u16::from_le_bytes([header[16], header[17]]);
    if e_type != 2 && e_type != 3 {
        let kind = match e_type {
            1 => "a relocatable object",
            4 => "a core dump",
            _ => "an unknown ELF type",
        };
        return Err(format!("{kind} (e_type {e_type}), not an executable"));
    }
    let machine = u16::from_le_bytes([header[18], header[19]]);
    if machine != 0x3e {
        let name = match machine {
            0x03 => "i386",
            0x28 => "arm",
            0xb7 => "arm64",
            0x15 => "ppc64",
            0x16 => "s390",
            0xf3 => "riscv",
            _ => "another machine",
        };
        return Err(format!(
            "built for {name} (e_machine {machine:#x}), not x86-64"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(bytes: &[u8]) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        std::fs::write(&path, bytes).unwrap();
        check_elf(&path)
    }

    fn elf(class: u8, e_type: u16, machine: u16) -> Vec<u8> {
        let mut h = vec![
            0x7f, b'E', b'L', b'F', class, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        h.extend(e_type.to_le_bytes());
        h.extend(machine.to_le_bytes());
        h.extend([0; 44]);
        h
    }

    #[test]
    fn elf_header_check_accepts_x86_64_executables_only() {
        assert_eq!(check_elf(Path::new("/bin/true")), Ok(()));
        assert_eq!(with_header(&elf(2, 2, 0x3e)), Ok(()));
        assert_eq!(with_header(&elf(2, 3, 0x3e)), Ok(()));
        assert!(with_header(b"#!/bin/sh\necho hi\n")
            .unwrap_err()
            .contains("#!/bin/sh"));
        assert!(with_header(&elf(1, 2, 0x03))
            .unwrap_err()
            .contains("32-bit"));
        assert!(with_header(&elf(2, 1, 0x3e))
            .unwrap_err()
            .contains("relocatable"));
        assert!(with_header(&elf(2, 2, 0xb7)).unwrap_err().contains("arm64"));
        assert!(with_header(b"\x7fELF\x02")
            .unwrap_err()
            .contains("truncated"));
    }

    #[test]
    fn member_paths_are_compared_without_leading_dot_slash() {
        assert_eq!(normalize("./kubernetes/server/"), "kubernetes/server");
        assert_eq!(
            normalize("etcd-v2.2.1-linux-amd64/etcd"),
            "etcd-v2.2.1-linux-amd64/etcd"
        );
    }
}
