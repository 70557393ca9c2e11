//! What the page and `serve` state about the repository: the keyring's sha256 and fingerprints, and the master's address.

use crate::debian::deb822;
use crate::repository::{compare_versions, KEYRING_NAME};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::net::Ipv4Addr;
use std::path::Path;

/// The served keyring is a handful of keys; anything much larger is not one of ours.
const MAX_KEYRING_BYTES: u64 = 1 << 20;
/// A suite's Packages index of a few packages and kept versions is tens of kilobytes.
const MAX_PACKAGES_BYTES: u64 = 16 << 20;

/// The top-level keyring as served: what a node's download must hash to, and whose keys it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    pub sha256: String,
    /// Primary key fingerprints, uppercase hex as `gpg --show-keys` prints them.
    pub fingerprints: Vec<String>,
}

/// What the page says about the served tree at the time of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    /// None when the keyring cannot be read or parsed (the page then says so).
    pub keyring: Option<Keyring>,
    /// The master_ip the newest packages were built for, when the index says.
    pub master: Option<Ipv4Addr>,
}

/// Reads the facts from the served tree `root` for `suite`; a missing or odd file leaves its fact unknown.
pub fn read(root: &Path, suite: &str) -> Facts {
    let keyring = read_bounded(&root.join(format!("{KEYRING_NAME}.gpg")), MAX_KEYRING_BYTES)
        .and_then(|bytes| keyring(&bytes).ok());
    let packages = root
        .join("dists")
        .join(suite)
        .join("main/binary-amd64/Packages");
    let master = read_bounded(&packages, MAX_PACKAGES_BYTES)
        .and_then(|bytes| master_from_packages(&String::from_utf8_lossy(&bytes)));
    Facts { keyring, master }
}

fn read_bounded(path: &Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= max).then_some(bytes)
}

/// The sha256 of a binary keyring and the fingerprints of its primary keys.
pub fn keyring(bytes: &[u8]) -> Result<Keyring, String> {
    let fingerprints = fingerprints(bytes)?;
    if fingerprints.is_empty() {
        return Err("the keyring holds no public key".to_string());
    }
    Ok(Keyring {
        sha256: hex::encode(Sha256::digest(bytes)),
        fingerprints,
    })
}

/// Walks the OpenPGP packets (RFC 4880 and 9580 framing) and fingerprints each public key
/// packet: v4 is SHA-1 over 0x99, a 2-byte length and the body; v6 is SHA-256 over 0x9B, a
/// 4-byte length and the body. Subkeys are skipped: apt and gpg name a key by its primary.
pub fn fingerprints(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (tag, body, after) = packet(rest)?;
        rest = after;
        if tag != 6 {
            continue;
        }
        let fingerprint = match body.first() {
            Some(4) => {
                let len = u16::try_from(body.len()).map_err(|_| "a v4 key packet is too long")?;
                let mut h = Sha1::new();
                h.update([0x99]);
                h.update(len.to_be_bytes());
                h.update(body);
                hex::encode_upper(h.finalize())
            }
            Some(6) => {
                let len = u32::try_from(body.len()).map_err(|_| "a v6 key packet is too long")?;
                let mut h = Sha256::new();
                h.update([0x9B]);
                h.update(len.to_be_bytes());
                h.update(body);
                hex::encode_upper(h.finalize())
            }
            other => return Err(format!("a public key packet has version {other:?}")),
        };
        out.push(fingerprint);
    }
    Ok(out)
}

/// One packet: its tag, body and what follows. Partial and indeterminate lengths never occur
/// in exported keys and are refused.
fn packet(bytes: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let truncated = || "the keyring ends inside a packet".to_string();
    let head = bytes[0];
    if head & 0x80 == 0 {
        return Err(format!("byte {head:#04x} does not start an OpenPGP packet"));
    }
    let be = |b: &[u8]| b.iter().fold(0usize, |n, &x| (n << 8) | x as usize);
    let (tag, len, header): (u8, usize, usize) = if head & 0x40 != 0 {
        let first = *bytes.get(1).ok_or_else(truncated)? as usize;
        match first {
            0..=191 => (head & 0x3f, first, 2),
            192..=223 => {
                let second = *bytes.get(2).ok_or_else(truncated)? as usize;
                (head & 0x3f, ((first - 192) << 8) + second + 192, 3)
            }
            255 => (head & 0x3f, be(bytes.get(2..6).ok_or_else(truncated)?), 6),
            _ => return Err("a packet has a partial length".to_string()),
        }
    } else {
        let tag = (head >> 2) & 0x0f;
        match head & 3 {
            0 => (tag, be(bytes.get(1..2).ok_or_else(truncated)?), 2),
            1 => (tag, be(bytes.get(1..3).ok_or_else(truncated)?), 3),
            2 => (tag, be(bytes.get(1..5).ok_or_else(truncated)?), 5),
            _ => return Err("a packet has an indeterminate length".to_string()),
        }
    };
    let end = header.checked_add(len).ok_or_else(truncated)?;
    let body = bytes.get(header..end).ok_or_else(truncated)?;
    Ok((tag, body, &bytes[end..]))
}

/// The master's address from the Packages index: every kubedeb package's description says
/// "the master <master_ip>" (packaging/packages.toml), so the newest k8s-master (else
/// k8s-minion) tells which master the served packages were built for.
pub fn master_from_packages(text: &str) -> Option<Ipv4Addr> {
    let paragraphs = deb822::parse(text).ok()?;
    for package in ["k8s-master", "k8s-minion"] {
        let newest = paragraphs
            .iter()
            .filter(|p| p.get("Package") == Some(package))
            .max_by(|a, b| {
                compare_versions(
                    a.get("Version").unwrap_or(""),
                    b.get("Version").unwrap_or(""),
                )
            });
        if let Some(ip) = newest.and_then(|p| master_in(p.get("Description")?)) {
            return Some(ip);
        }
    }
    None
}

fn master_in(description: &str) -> Option<Ipv4Addr> {
    let words: Vec<&str> = description
        .split_whitespace()
        .filter(|w| *w != ".")
        .collect();
    words.windows(3).find_map(|w| {
        (w[0] == "the" && w[1] == "master")
            .then(|| w[2].trim_end_matches(['.', ',', ';']).parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v4 ed25519 public key packet in the old framing gpg exports; the fingerprint gpg
    /// computes for real keys is checked against this code by tests/integration/serve_page.rs.
    fn v4_key_packet() -> Vec<u8> {
        let body: Vec<u8> = [
            &[4u8, 0x65, 0x00, 0x00, 0x00, 22][..],
            &[9, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01],
            &[0x01, 0x07, 0x40],
            &[7u8; 32],
        ]
        .concat();
        let mut packet = vec![0x98, body.len() as u8];
        packet.extend(&body);
        packet
    }

    #[test]
    fn a_v4_fingerprint_is_sha1_over_the_framed_body() {
        let packet = v4_key_packet();
        let body = &packet[2..];
        let mut h = Sha1::new();
        h.update([0x99, 0, body.len() as u8]);
        h.update(body);
        let expected = hex::encode_upper(h.finalize());
        // A user id packet (new format, tag 13) after the key is skipped.
        let mut ring = packet.clone();
        ring.extend([0xcd, 3, b'a', b'b', b'c']);
        assert_eq!(fingerprints(&ring).unwrap(), vec![expected.clone()]);
        let k = keyring(&ring).unwrap();
        assert_eq!(k.fingerprints, vec![expected]);
        assert_eq!(k.sha256.len(), 64);
    }

    #[test]
    fn damaged_keyrings_are_refused_not_misread() {
        let packet = v4_key_packet();
        assert!(fingerprints(&packet[..packet.len() - 1]).is_err());
        assert!(fingerprints(b"-----BEGIN PGP").is_err());
        assert!(keyring(&[0xcd, 1, b'a']).is_err());
        assert!(fingerprints(&[0xff]).is_err());
    }

    #[test]
    fn the_master_is_the_newest_master_packages_address() {
        let text = "Package: k8s-minion\nVersion: 1.1.4-1\nDescription: node\n join the master 10.0.0.9. Pods\n\n\
                    Package: k8s-master\nVersion: 1.1.4-1\nDescription: master\n configured for the master 10.0.0.1.\n\n\
                    Package: k8s-master\nVersion: 1.1.4-2\nDescription: master\n configured for the master\n 10.0.0.2.\n";
        assert_eq!(master_from_packages(text), Some(Ipv4Addr::new(10, 0, 0, 2)));
        let minion_only =
            "Package: k8s-minion\nVersion: 1\nDescription: x\n join the master 10.0.0.9.\n";
        assert_eq!(
            master_from_packages(minion_only),
            Some(Ipv4Addr::new(10, 0, 0, 9))
        );
        assert_eq!(master_from_packages("Package: other\nVersion: 1\n"), None);
        assert_eq!(
            master_from_packages("Package: k8s-master\nVersion: 1\nDescription: the master <b>\n"),
            None
        );
    }
}
