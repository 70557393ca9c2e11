//! Writing one state directory: Packages indexes (plain, gz, xz), by-hash copies, Release.

use super::error::RepoError;
use super::layout::{State, COMPONENT};
use super::plan::EntryKey;
use crate::debian::deb822::Paragraph;
use crate::debian::version;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// The identity a Release states; changing Origin, Label or Codename makes clients stop and ask.
#[derive(Debug, Clone)]
pub struct ReleaseInfo<'a> {
    pub origin: &'a str,
    pub label: &'a str,
    pub suite: &'a str,
    pub description: &'a str,
    pub date: &'a str,
}

/// An index file as listed in Release.
struct Listed {
    path: String,
    size: u64,
    md5: String,
    sha256: String,
}

/// Debian's order: by package name, then version (dpkg's ordering), then architecture.
pub fn sort_entries(entries: &mut [Paragraph]) {
    entries.sort_by(|a, b| {
        let (a, b) = (EntryKey::of(a), EntryKey::of(b));
        a.name
            .cmp(&b.name)
            .then_with(|| version::compare(&a.version, &b.version))
            .then_with(|| a.arch.cmp(&b.arch))
    });
}

/// The architectures with an index: every concrete one, `all` packages listed in each of them.
pub fn architectures(entries: &[Paragraph]) -> Vec<String> {
    let arches: BTreeSet<String> = entries
        .iter()
        .map(|e| EntryKey::of(e).arch)
        .filter(|a| a != "all")
        .collect();
    if arches.is_empty() {
        vec!["all".to_string()]
    } else {
        arches.into_iter().collect()
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), RepoError> {
    let mut file = File::create(path).map_err(RepoError::io("create", path))?;
    file.write_all(bytes)
        .map_err(RepoError::io("write", path))?;
    file.sync_all().map_err(RepoError::io("flush", path))
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    // No name and mtime 0 in the header: the same index always compresses to the same bytes.
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)?;
    enc.finish()
}

fn xz(bytes: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(bytes)?;
    enc.finish()
}

fn link_into_by_hash(
    file: &Path,
    index_dir: &Path,
    kind: &str,
    hash: &str,
) -> Result<(), RepoError> {
    let dir = index_dir.join("by-hash").join(kind);
    fs::create_dir_all(&dir).map_err(RepoError::io("create", &dir))?;
    let target = dir.join(hash);
    if !target.exists() {
        fs::hard_link(file, &target).map_err(RepoError::io("link the by-hash file", &target))?;
    }
    Ok(())
}

/// Writes a complete new state into `dir` (which must not exist yet) and returns the Release text.
/// The previous state's by-hash files are linked in too, so a client that read the old
/// InRelease just before the switch still finds the indexes it names.
pub fn write_state(
    dir: &Path,
    entries: &[Paragraph],
    info: &ReleaseInfo<'_>,
    previous: Option<&State>,
) -> Result<String, RepoError> {
    fs::create_dir_all(dir).map_err(RepoError::io("create the state directory", dir))?;
    let arches = architectures(entries);
    let mut listed = Vec::new();
    for arch in &arches {
        let rel_dir = format!("{COMPONENT}/binary-{arch}");
        let index_dir = dir.join(&rel_dir);
        fs::create_dir_all(&index_dir).map_err(RepoError::io("create", &index_dir))?;
        let mut text = String::new();
        for entry in entries {
            let entry_arch = entry.get("Architecture").unwrap_or_default();
            if entry_arch == arch || entry_arch == "all" {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&entry.to_text());
            }
        }
        let plain = text.into_bytes();
        let compress_error = |e| RepoError::io("compress", index_dir.join("Packages"))(e);
        let gz = gzip(&plain).map_err(compress_error)?;
        let xz = xz(&plain).map_err(compress_error)?;
        for (name, bytes) in [
            ("Packages", &plain),
            ("Packages.gz", &gz),
            ("Packages.xz", &xz),
        ] {
            let path = index_dir.join(name);
            write_file(&path, bytes)?;
            let item = Listed {
                path: format!("{rel_dir}/{name}"),
                size: bytes.len() as u64,
                md5: hex::encode(Md5::digest(bytes)),
                sha256: hex::encode(Sha256::digest(bytes)),
            };
            link_into_by_hash(&path, &index_dir, "MD5Sum", &item.md5)?;
            link_into_by_hash(&path, &index_dir, "SHA256", &item.sha256)?;
            listed.push(item);
        }
    }
    if let Some(previous) = previous {
        keep_previous_by_hash(dir, previous)?;
    }
    listed.sort_by(|a, b| a.path.cmp(&b.path));
    let release = release_text(info, &arches, &listed);
    write_file(&dir.join("Release"), release.as_bytes())?;
    Ok(release)
}

fn keep_previous_by_hash(dir: &Path, previous: &State) -> Result<(), RepoError> {
    for (kind, files) in [
        ("MD5Sum", &previous.md5_files),
        ("SHA256", &previous.sha256_files),
    ] {
        for (path, _, hash) in files {
            let Some(rel_dir) = Path::new(path).parent() else {
                continue;
            };
            let old = previous
                .dir
                .join(rel_dir)
                .join("by-hash")
                .join(kind)
                .join(hash);
            if old.is_file() {
                link_into_by_hash(&old, &dir.join(rel_dir), kind, hash)?;
            }
        }
    }
    Ok(())
}

fn release_text(info: &ReleaseInfo<'_>, arches: &[String], listed: &[Listed]) -> String {
    let mut out = format!(
        "Origin: {}\nLabel: {}\nSuite: {}\nCodename: {}\nDate: {}\nArchitectures: {}\nComponents: {COMPONENT}\n\
         Description: {}\nAcquire-By-Hash: yes\n",
        info.origin,
        info.label,
        info.suite,
        info.suite,
        info.date,
        arches.join(" "),
        info.description
    );
    let width = listed
        .iter()
        .map(|l| l.size.to_string().len())
        .max()
        .unwrap_or(1);
    out.push_str("MD5Sum:\n");
    for l in listed {
        out.push_str(&format!(" {} {:>width$} {}\n", l.md5, l.size, l.path));
    }
    out.push_str("SHA256:\n");
    for l in listed {
        out.push_str(&format!(" {} {:>width$} {}\n", l.sha256, l.size, l.path));
    }
    out
}
