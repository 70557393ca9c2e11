//! A `Packages` index (plain, `.xz` or `.gz`) checked against the verified Release, decompressed with a bound and read into packages.

use super::error::ArchiveError;
use super::inrelease::{is_relative, is_sha256, FileSum, Release};
use crate::debian::{deb822, fields, version};
use sha2::{Digest, Sha256};
use std::io::Read;

/// bookworm's main amd64 Packages is under 50 MiB uncompressed; this leaves room and stops a bomb.
pub const MAX_INDEX: u64 = 512 << 20;

/// One package as an index lists it: enough to choose it, resolve its dependencies and check its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// Relative to the mirror's root (`pool/main/d/docker.io/docker.io_20.10.24...deb`).
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub depends: Option<String>,
    pub pre_depends: Option<String>,
    pub provides: Option<String>,
    pub priority: Option<String>,
    pub essential: bool,
}

/// Checks `bytes`, fetched as `path` (relative to the suite, as the Release names it), against
/// the Release, then decompresses and parses it.
pub fn read_packages(
    release: &Release,
    path: &str,
    bytes: &[u8],
) -> Result<Vec<Package>, ArchiveError> {
    let sum = release
        .files
        .get(path)
        .ok_or_else(|| ArchiveError::NotListed {
            url: release.url.clone(),
            path: path.into(),
        })?;
    let mismatch = |cause: String| ArchiveError::Mismatch {
        file: path.into(),
        listed_in: release.url.clone(),
        cause,
    };
    check_bytes(sum, bytes).map_err(mismatch)?;
    let bad = |cause: String| ArchiveError::BadIndex {
        file: path.into(),
        cause,
    };
    let text = decompress(path, bytes, MAX_INDEX).map_err(bad)?;
    parse_packages(&text).map_err(bad)
}

/// Size first (cheap, and says "truncated" plainly), then the sha256.
fn check_bytes(sum: &FileSum, bytes: &[u8]) -> Result<(), String> {
    if bytes.len() as u64 != sum.size {
        return Err(format!(
            "it is {} bytes, the list says {}",
            bytes.len(),
            sum.size
        ));
    }
    let actual = hex::encode(Sha256::digest(bytes));
    if actual != sum.sha256 {
        return Err(format!(
            "its sha256 is {actual}, the list says {}",
            sum.sha256
        ));
    }
    Ok(())
}

/// The text of an index, by its name's extension, at most `limit` bytes of it.
fn decompress(path: &str, bytes: &[u8], limit: u64) -> Result<String, String> {
    let reader: Box<dyn Read + '_> = if path.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(bytes))
    } else if path.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(bytes))
    } else if path.ends_with("Packages") {
        Box::new(bytes)
    } else {
        return Err("kubedeb reads Packages, Packages.xz and Packages.gz only".into());
    };
    let mut out = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot decompress it: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!("it decompresses to more than {limit} bytes"));
    }
    String::from_utf8(out).map_err(|_| "it is not UTF-8 text".into())
}

/// Every paragraph as a [`Package`]; the first unusable one is an error naming it.
pub fn parse_packages(text: &str) -> Result<Vec<Package>, String> {
    deb822::parse(text)?
        .iter()
        .map(|p| {
            package(p).map_err(|cause| {
                let name = p.get("Package").unwrap_or("without a name");
                format!("its entry for {name} {cause}")
            })
        })
        .collect()
}

fn package(p: &deb822::Paragraph) -> Result<Package, String> {
    let need = |name: &str| p.get(name).ok_or(format!("has no {name} field"));
    let field = |name: &str| p.get(name).map(str::to_string);
    let check =
        |name: &str, ok: Result<(), String>| ok.map_err(|e| format!("has a bad {name}: {e}"));
    let name = need("Package")?;
    check("Package", fields::package_name(name))?;
    let version = need("Version")?;
    check("Version", version::validate(version))?;
    let filename = need("Filename")?;
    if !is_relative(filename) {
        return Err(format!("has the unsafe Filename {filename:?}"));
    }
    let sha256 = need("SHA256")?;
    if !is_sha256(sha256) {
        return Err(format!("has the bad SHA256 {sha256:?}"));
    }
    let size = need("Size")?;
    Ok(Package {
        package: name.into(),
        version: version.into(),
        architecture: need("Architecture")?.into(),
        filename: filename.into(),
        size: size
            .parse()
            .map_err(|_| format!("has the bad Size {size:?}"))?,
        sha256: sha256.to_ascii_lowercase(),
        depends: field("Depends"),
        pre_depends: field("Pre-Depends"),
        provides: field("Provides"),
        priority: field("Priority"),
        essential: p.get("Essential") == Some("yes"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn stanza(extra: &str) -> String {
        format!(
            "Package: runc\nVersion: 1.1.5+ds1-1+deb12u1\nArchitecture: amd64\n\
             Filename: pool/main/r/runc/runc_1.1.5+ds1-1+deb12u1_amd64.deb\nSize: 2700000\n\
             SHA256: {}\nDepends: libc6 (>= 2.34),\n libseccomp2 (>= 2.5.0)\n{extra}",
            "B".repeat(64)
        )
    }

    #[test]
    fn reads_the_fields_resolution_needs() {
        let text = format!(
            "{}\n{}",
            stanza("Essential: yes\n"),
            stanza("Priority: optional\n")
        );
        let p = parse_packages(&text).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].size, 2_700_000);
        assert_eq!(p[0].sha256, "b".repeat(64));
        assert!(p[0].essential && !p[1].essential);
        assert_eq!(p[1].priority.as_deref(), Some("optional"));
        assert!(p[0].depends.as_deref().unwrap().contains("libseccomp2"));
    }

    #[test]
    fn refuses_unsafe_or_incomplete_entries() {
        let unsafe_name = stanza("").replace("pool/main", "../../etc");
        assert!(parse_packages(&unsafe_name)
            .unwrap_err()
            .contains("unsafe Filename"));
        let no_size = stanza("").replace("Size: 2700000\n", "");
        assert!(parse_packages(&no_size)
            .unwrap_err()
            .contains("runc has no Size"));
        let bad_version = stanza("").replace("Version: 1.1.5", "Version: ~~ 1");
        assert!(parse_packages(&bad_version)
            .unwrap_err()
            .contains("bad Version"));
    }

    #[test]
    fn decompression_is_bounded() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            decompress("Packages.gz", &gz, 10_000).unwrap().len(),
            10_000
        );
        assert!(decompress("Packages.gz", &gz, 9_999)
            .unwrap_err()
            .contains("more than"));
        assert!(decompress("Packages.bz2", &gz, 1 << 20).is_err());
    }
}
