//! An image's config (its `rootfs.diff_ids`) and the check that each layer unpacks to the content the config names.

use sha2::{Digest, Sha256};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The largest manifest or config read: they are small JSON documents.
pub const MAX_JSON: u64 = 4 << 20;

/// How many times fetch.max_download an uncompressed layer may be (a gzip bomb is cut off).
const MAX_RATIO: u64 = 8;

/// The `rootfs.diff_ids` of an image config: the sha256 of each layer's uncompressed tar.
pub fn diff_ids(config: &[u8]) -> Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    struct Config {
        rootfs: RootFs,
    }
    #[derive(serde::Deserialize)]
    struct RootFs {
        #[serde(rename = "type")]
        kind: String,
        diff_ids: Vec<String>,
    }
    let config: Config = serde_json::from_slice(config)
        .map_err(|e| format!("its config is not an image config: {e}"))?;
    if config.rootfs.kind != "layers" {
        return Err(format!(
            "its config's rootfs type is {:?}, not \"layers\"",
            config.rootfs.kind
        ));
    }
    Ok(config.rootfs.diff_ids)
}

/// The layer blob at `path` (a tar, gzipped or not) must unpack to the tar whose sha256 is `diff_id`.
pub fn check_layer(path: &Path, diff_id: &str, max_download: u64) -> Result<(), String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let head = reader
        .fill_buf()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let limit = max_download.saturating_mul(MAX_RATIO);
    let actual = if head.starts_with(&[0x1f, 0x8b]) {
        hash(flate2::read::MultiGzDecoder::new(reader), limit)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err("it is zstd-compressed, which the nodes' Docker cannot load: use a registry that serves gzip layers".into());
    } else {
        hash(reader, limit)
    }?;
    let actual = format!("sha256:{actual}");
    if actual != diff_id {
        return Err(format!(
            "it unpacks to {actual}, but the config names {diff_id}: refused"
        ));
    }
    Ok(())
}

fn hash(mut reader: impl Read, limit: u64) -> Result<String, String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("it does not unpack: {e}")),
        };
        total += n as u64;
        if total > limit {
            return Err(format!(
                "it unpacks to more than {limit} bytes ({MAX_RATIO} times fetch.max_download): refused"
            ));
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_layer_is_checked_plain_or_gzipped_against_its_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        let tar = b"pretend this is a tar".repeat(100);
        let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
        let plain = dir.path().join("plain");
        std::fs::write(&plain, &tar).unwrap();
        check_layer(&plain, &diff_id, 1 << 20).unwrap();
        let gz = dir.path().join("gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&tar).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        check_layer(&gz, &diff_id, 1 << 20).unwrap();
        let err = check_layer(&gz, &format!("sha256:{}", "0".repeat(64)), 1 << 20).unwrap_err();
        assert!(err.contains(&diff_id), "{err}");
        let err = check_layer(&gz, &diff_id, 100).unwrap_err();
        assert!(err.contains("more than 800 bytes"), "{err}");
    }

    #[test]
    fn diff_ids_come_from_the_rootfs() {
        let ids =
            diff_ids(br#"{"rootfs": {"type": "layers", "diff_ids": ["sha256:ab"]}}"#).unwrap();
        assert_eq!(ids, ["sha256:ab"]);
        assert!(diff_ids(br#"{"rootfs": {"type": "x", "diff_ids": []}}"#).is_err());
        assert!(diff_ids(b"[]").is_err());
    }
}
