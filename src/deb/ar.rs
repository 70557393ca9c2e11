//! Headers of the common `ar` format that dpkg reads: names up to 15 characters, owner 0,
//! mode 100644, each member padded to an even length.

use std::io;

pub const MAGIC: &[u8; 8] = b"!<arch>\n";

/// The 60-byte header of one member. `name` must be at most 15 bytes, `size` below 10^10.
pub fn member_header(name: &str, mtime: u64, size: u64) -> io::Result<[u8; 60]> {
    if name.len() > 15 || size >= 10_000_000_000 || mtime >= 1_000_000_000_000 {
        return Err(io::Error::other(format!(
            "ar member {name} ({size} bytes) does not fit the ar header"
        )));
    }
    let text = format!(
        "{name:<16}{mtime:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
        0, 0, "100644"
    );
    let mut header = [0u8; 60];
    header.copy_from_slice(text.as_bytes());
    Ok(header)
}

/// The padding byte needed after a member of `size` bytes.
pub fn padding(size: u64) -> &'static [u8] {
    if size % 2 == 1 {
        b"\n"
    } else {
        b""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_dpkg_deb() {
        let h = member_header("debian-binary", 1000, 4).unwrap();
        assert_eq!(
            &h[..],
            &b"debian-binary   1000        0     0     100644  4         `\n"[..]
        );
        assert!(member_header("control.tar.zst", 0, 1).is_ok());
        assert!(member_header("control.tar.zstd", 0, 1).is_err());
    }
}
