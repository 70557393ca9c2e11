//! Reading a .deb without dpkg: the ar members, the control file inside control.tar, and the file's hashes.

use super::error::RepoError;
use crate::debian::{deb822, fields, version};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A .deb checked and measured, ready to be put in the pool and the index.
#[derive(Debug, Clone)]
pub struct DebFile {
    pub path: PathBuf,
    pub control: Vec<(String, String)>,
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub size: u64,
    pub md5: String,
    pub sha256: String,
}

struct Member {
    name: String,
    offset: u64,
    size: u64,
}

/// The largest control member we decompress: real ones are a few KiB.
const MAX_CONTROL_BYTES: u64 = 16 << 20;

/// Opens a file given as a deb for reading, refusing anything but a regular file before the
/// first read. `O_NONBLOCK` keeps the open itself from waiting for a writer when it is a FIFO;
/// on a regular file it changes nothing.
pub fn open_regular(path: &Path) -> Result<File, RepoError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(RepoError::io("open", path))?;
    let kind = file
        .metadata()
        .map_err(RepoError::io("stat", path))?
        .file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let kind = if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    };
    Err(RepoError::NotAFile {
        path: path.to_path_buf(),
        kind,
    })
}

/// The fields of the deb's `./control`, in their order, after checking the archive is a whole .deb.
pub fn read_control(deb: &Path) -> Result<Vec<(String, String)>, RepoError> {
    let mut file = open_regular(deb)?;
    let len = file
        .metadata()
        .map_err(RepoError::io("read the size of", deb))?
        .len();
    let bad = |reason: String| RepoError::NotADeb {
        path: deb.to_path_buf(),
        reason,
    };
    let members = members(&mut file, len).map_err(bad)?;
    let control_member = check_layout(&mut file, &members).map_err(bad)?;
    let text = control_text(&mut file, control_member).map_err(bad)?;
    let fields = check_control(&text).map_err(bad)?;
    Ok(fields)
}

/// Checks the deb and hashes the whole file in one streaming pass.
pub fn inspect(deb: &Path) -> Result<DebFile, RepoError> {
    let control = read_control(deb)?;
    let field = |name: &str| {
        control
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (size, md5, sha256) = hash_file(deb)?;
    Ok(DebFile {
        path: deb.to_path_buf(),
        package: field("Package").unwrap_or_default(),
        version: field("Version").unwrap_or_default(),
        architecture: field("Architecture").unwrap_or_default(),
        control,
        size,
        md5,
        sha256,
    })
}

/// Size, MD5 and SHA256 (lower-case hex) of a file, read in chunks.
pub fn hash_file(path: &Path) -> Result<(u64, String, String), RepoError> {
    let mut file = open_regular(path)?;
    let mut md5 = Md5::new();
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 18];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(RepoError::io("read", path))?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Ok((
        size,
        hex::encode(md5.finalize()),
        hex::encode(sha.finalize()),
    ))
}

fn members(file: &mut File, len: u64) -> Result<Vec<Member>, String> {
    if len == 0 {
        return Err("the file is empty".into());
    }
    let mut magic = [0u8; 8];
    if len < 8 || file.read_exact(&mut magic).is_err() || &magic != b"!<arch>\n" {
        return Err("it is not an ar archive (it does not start with \"!<arch>\")".into());
    }
    let mut members = Vec::new();
    let mut pos = 8u64;
    while pos < len {
        if len - pos < 60 {
            return Err(format!(
                "it is truncated: the member header at byte {pos} is cut off"
            ));
        }
        let mut header = [0u8; 60];
        file.seek(SeekFrom::Start(pos))
            .and_then(|_| file.read_exact(&mut header))
            .map_err(|e| format!("reading the member header at byte {pos} failed: {e}"))?;
        if &header[58..60] != b"`\n" {
            return Err(format!("the ar member header at byte {pos} is broken"));
        }
        let name = String::from_utf8_lossy(&header[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: u64 = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("the ar member {name:?} at byte {pos} has no valid size"))?;
        let available = len - pos - 60;
        if size > available {
            return Err(format!(
                "it is truncated: member {name} should have {size} bytes but the file ends after {available}"
            ));
        }
        members.push(Member {
            name,
            offset: pos + 60,
            size,
        });
        pos += 60 + size + size % 2;
    }
    Ok(members)
}

/// dpkg's member order: debian-binary, control.tar*, data.tar*, with `_`-prefixed extras allowed between.
fn check_layout<'a>(file: &mut File, members: &'a [Member]) -> Result<&'a Member, String> {
    let first = members
        .first()
        .ok_or("the ar archive is empty (missing debian-binary)")?;
    let mut iter = members[1..].iter().filter(|m| !m.name.starts_with('_'));
    if first.name != "debian-binary" {
        return Err(format!(
            "the first member is {:?}, not debian-binary",
            first.name
        ));
    }
    let mut format = vec![0u8; first.size.min(64) as usize];
    file.seek(SeekFrom::Start(first.offset))
        .and_then(|_| file.read_exact(&mut format))
        .map_err(|e| format!("reading debian-binary failed: {e}"))?;
    if !format.starts_with(b"2.") {
        return Err(format!(
            "debian-binary says {:?}; only format 2.x is a binary package",
            String::from_utf8_lossy(&format).trim()
        ));
    }
    let control = iter.next().ok_or("the control.tar member is missing")?;
    if !control.name.starts_with("control.tar") {
        return Err(format!(
            "the second member is {:?}, not control.tar",
            control.name
        ));
    }
    let data = iter.next().ok_or("the data.tar member is missing")?;
    if !data.name.starts_with("data.tar") {
        return Err(format!("the third member is {:?}, not data.tar", data.name));
    }
    Ok(control)
}

fn control_text(file: &mut File, member: &Member) -> Result<String, String> {
    if member.size > MAX_CONTROL_BYTES {
        return Err(format!(
            "the {} member is {} bytes, too big for control data",
            member.name, member.size
        ));
    }
    file.seek(SeekFrom::Start(member.offset))
        .map_err(|e| format!("seeking to {} failed: {e}", member.name))?;
    let raw = file.take(member.size);
    let reader: Box<dyn Read + '_> = match member.name.as_str() {
        "control.tar" => Box::new(raw),
        "control.tar.gz" => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        "control.tar.xz" => Box::new(liblzma::read::XzDecoder::new(raw)),
        "control.tar.zst" => {
            Box::new(zstd::Decoder::new(raw).map_err(|e| format!("{}: {e}", member.name))?)
        }
        other => {
            return Err(format!(
                "the control member {other:?} uses a compression dpkg does not know"
            ))
        }
    };
    let broken = |e: std::io::Error| format!("the {} member is broken: {e}", member.name);
    let mut archive = tar::Archive::new(reader.take(MAX_CONTROL_BYTES * 4));
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let path = entry.path().map_err(broken)?.into_owned();
        let is_control = path.strip_prefix(".").unwrap_or(&path) == Path::new("control");
        if is_control && entry.header().entry_type().is_file() {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_CONTROL_BYTES)
                .read_to_end(&mut bytes)
                .map_err(broken)?;
            return String::from_utf8(bytes)
                .map_err(|_| "the control file is not UTF-8 text".to_string());
        }
    }
    Err(format!("the {} member has no ./control file", member.name))
}

fn check_control(text: &str) -> Result<Vec<(String, String)>, String> {
    let paragraphs = deb822::parse(text).map_err(|e| format!("the control file is broken: {e}"))?;
    let paragraph = match paragraphs.as_slice() {
        [one] => one,
        [] => return Err("the control file is empty".into()),
        many => {
            return Err(format!(
                "the control file has {} paragraphs; a package has one",
                many.len()
            ))
        }
    };
    let required = |name: &str| {
        paragraph
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("the control file has no {name} field"))
    };
    let package = required("Package")?;
    fields::package_name(package)
        .map_err(|e| format!("the package name {package:?} is invalid: {e}"))?;
    let version = required("Version")?;
    version::validate(version)
        .map_err(|e| format!("the control file's Version is invalid: {e} ({version:?})"))?;
    let arch = required("Architecture")?;
    fields::architecture(arch).map_err(|e| format!("the architecture {arch:?} is invalid: {e}"))?;
    Ok(paragraph.fields.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(package: &str, version: &str, arch: &str) -> String {
        format!("Package: {package}\nVersion: {version}\nArchitecture: {arch}\n")
    }

    #[test]
    fn a_whole_control_file_passes() {
        let fields = check_control(&control("k8s-master", "1.1.4-1", "amd64")).unwrap();
        assert_eq!(fields.len(), 3);
    }

    /// The checks are Debian's, shared with the writer: what it refuses, publish refuses too.
    #[test]
    fn drift_cases_are_refused_as_the_writer_refuses_them() {
        for (text, needle) in [
            (
                control("+k8s", "1.0", "amd64"),
                "starts with a letter or digit",
            ),
            (control("k8s", "1.0-", "amd64"), "revision"),
            (control("k8s", "2147483648:1.0", "amd64"), "too big"),
            (control("k8s", "1.0", "any"), "concrete architecture"),
            ("#Package: k8s\n".to_string(), "invalid field name"),
        ] {
            let err = check_control(&text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
