//! `docker save` archives: the one kubedeb writes into the cache, and reading a carried-in one (`--from`) with bounded memory.

use super::layers::{self, MAX_JSON};
use super::ImageRef;
use crate::fetch::extract::{normalize, HashingWriter};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// More members than any image archive has (a few per layer).
const MAX_MEMBERS: usize = 10_000;
/// GNU long-name and PAX records hold a name and a few keys.
const MAX_RECORD: u64 = 64 * 1024;

/// Write `reference`'s archive to `dest` (through a temporary file renamed into place):
/// manifest.json, the config as `<id hex>.json`, each layer blob as `<blob hex>/layer.tar`.
/// Returns the archive's sha256.
pub fn write(
    dest: &Path,
    reference: &ImageRef,
    config: &[u8],
    id: &str,
    layers: &[PathBuf],
) -> Result<String, String> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let failed = |e: io::Error| format!("cannot write the image archive {}: {e}", dest.display());
    let id_hex = id.strip_prefix("sha256:").unwrap_or(id);
    let config_name = format!("{id_hex}.json");
    let layer_names: Vec<String> = layers
        .iter()
        .map(|p| {
            let hex = p.file_name().unwrap_or_default().to_string_lossy();
            format!("{hex}/layer.tar")
        })
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [reference.to_string()],
        "Layers": layer_names,
    }]);
    let manifest = serde_json::to_vec(&manifest).expect("JSON values serialize");
    let tmp = tempfile::Builder::new()
        .prefix(".image-")
        .suffix(".tar.part")
        .tempfile_in(dir)
        .map_err(failed)?;
    let mut out = HashingWriter {
        inner: io::BufWriter::new(tmp.as_file().try_clone().map_err(failed)?),
        hasher: Sha256::new(),
    };
    {
        let mut tar = tar::Builder::new(&mut out);
        let mut put = |name: &str, len: u64, data: &mut dyn Read| {
            let mut header = tar::Header::new_ustar();
            header.set_size(len);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, name, data)
        };
        put(&config_name, config.len() as u64, &mut &config[..]).map_err(failed)?;
        let mut written = std::collections::BTreeSet::new();
        for (path, name) in layers.iter().zip(&layer_names) {
            // An image may list one layer twice; the archive holds it once.
            if !written.insert(name.clone()) {
                continue;
            }
            let mut file = std::fs::File::open(path).map_err(failed)?;
            let len = file.metadata().map_err(failed)?.len();
            put(name, len, &mut file).map_err(failed)?;
        }
        put("manifest.json", manifest.len() as u64, &mut &manifest[..]).map_err(failed)?;
        tar.finish().map_err(failed)?;
    }
    out.flush().map_err(failed)?;
    let HashingWriter { inner, hasher } = out;
    inner.into_inner().map_err(|e| failed(e.into_error()))?;
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(dest).map_err(|e| failed(e.error))?;
    Ok(hex::encode(hasher.finalize()))
}

/// A verified image read from a carried-in archive: its layers moved into `blobs`.
pub struct Carried {
    pub config: Vec<u8>,
    pub id: String,
    pub layers: Vec<PathBuf>,
}

/// A member staged on disk while the archive is read: where, its sha256 and size.
struct Staged {
    path: PathBuf,
    sha256: String,
    size: u64,
}

/// Read the `docker save` archive at `path` as `reference`: every member that may be a config
/// or layer is copied to disk (never held in memory; each and all together at most
/// `max_download` bytes), then the image is checked as one from a registry: the config's
/// digest is the image ID, each layer unpacks to its diff_id. An error is a sentence.
pub fn read(
    path: &Path,
    reference: &ImageRef,
    blobs: &Path,
    max_download: u64,
) -> Result<Carried, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let gzipped = reader
        .fill_buf()
        .map_err(|e| format!("cannot read it: {e}"))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzipped {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let staging = tempfile::Builder::new()
        .prefix(".carried-")
        .tempdir_in(blobs)
        .map_err(|e| format!("cannot stage it in {}: {e}", blobs.display()))?;
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?
        .raw(true);
    let mut staged: BTreeMap<String, Staged> = BTreeMap::new();
    let mut manifest: Option<Vec<u8>> = None;
    let mut total = 0u64;
    let mut long_name: Option<String> = None;
    for (count, entry) in entries.enumerate() {
        if count >= MAX_MEMBERS {
            return Err(format!(
                "it has more than {MAX_MEMBERS} members: refused as a damaged or hostile archive"
            ));
        }
        let mut entry = entry.map_err(|e| format!("not a readable tar archive: {e}"))?;
        let kind = entry.header().entry_type();
        let size = entry
            .header()
            .entry_size()
            .map_err(|e| format!("not a readable tar archive: {e}"))?;
        if kind.is_gnu_longname()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
            || kind.is_gnu_longlink()
        {
            if size > MAX_RECORD {
                return Err(format!(
                    "it has a name record of {size} bytes (at most {MAX_RECORD} make sense): refused as a damaged or hostile archive"
                ));
            }
            let mut body = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(MAX_RECORD)
                .read_to_end(&mut body)
                .map_err(|e| format!("not a readable tar archive: {e}"))?;
            if kind.is_gnu_longname() {
                let name = body.split(|&b| b == 0).next().unwrap_or_default();
                long_name = Some(String::from_utf8_lossy(name).into_owned());
            } else if kind.is_pax_local_extensions() {
                for ext in tar::PaxExtensions::new(&body).flatten() {
                    match ext.key() {
                        Ok("path") => {
                            long_name = Some(String::from_utf8_lossy(ext.value_bytes()).into_owned())
                        }
                        Ok("size") => {
                            return Err("it has a member whose size only a PAX header gives (over 8 GiB): refused".into())
                        }
                        _ => {}
                    }
                }
            }
            continue;
        }
        let header_name = entry
            .header()
            .path()
            .map_err(|e| format!("not a readable tar archive: {e}"))?
            .to_string_lossy()
            .into_owned();
        let name = normalize(&long_name.take().unwrap_or(header_name));
        if !kind.is_file() {
            continue;
        }
        if name == "manifest.json" {
            if size > MAX_JSON {
                return Err(format!(
                    "its manifest.json is {size} bytes, more than {MAX_JSON}: refused"
                ));
            }
            let mut body = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(MAX_JSON)
                .read_to_end(&mut body)
                .map_err(|e| format!("cannot read its manifest.json: {e}"))?;
            manifest = Some(body);
            continue;
        }
        // Configs (`<hex>.json`, Docker 25+: `blobs/sha256/<hex>`) and layers: anything else is skipped unread.
        let wanted =
            name.ends_with(".tar") || name.ends_with(".json") || name.starts_with("blobs/");
        if !wanted {
            continue;
        }
        total = total.saturating_add(size);
        if total > max_download {
            return Err(format!(
                "it holds more than fetch.max_download ({max_download} bytes): refused; \
                 if the image really is that large, raise fetch.max_download in cluster.toml"
            ));
        }
        let dest = staging.path().join(staged.len().to_string());
        let out = std::fs::File::create(&dest).map_err(|e| format!("cannot stage it: {e}"))?;
        let mut out = HashingWriter {
            inner: out,
            hasher: Sha256::new(),
        };
        let copied = io::copy(&mut (&mut entry).take(size), &mut out)
            .map_err(|e| format!("cannot read its member {name}: {e}"))?;
        if copied != size {
            return Err(format!("its member {name} is cut short"));
        }
        staged.insert(
            name,
            Staged {
                path: dest,
                sha256: hex::encode(out.hasher.finalize()),
                size,
            },
        );
    }
    let manifest = manifest
        .ok_or("it has no manifest.json: not a `docker save` archive (Docker 1.10 or later)")?;
    let (config_name, layer_names) = choose(&manifest, reference)?;
    let config = staged.get(&normalize(&config_name)).ok_or_else(|| {
        format!("its manifest.json names the config {config_name}, which it does not hold")
    })?;
    if config.size > MAX_JSON {
        return Err(format!(
            "its config is {} bytes, more than {MAX_JSON}: refused",
            config.size
        ));
    }
    let config_bytes =
        std::fs::read(&config.path).map_err(|e| format!("cannot read its config: {e}"))?;
    let id = format!("sha256:{}", config.sha256);
    let diff_ids = layers::diff_ids(&config_bytes)?;
    if diff_ids.len() != layer_names.len() {
        return Err(format!(
            "its manifest.json lists {} layers, its config {} (rootfs.diff_ids)",
            layer_names.len(),
            diff_ids.len()
        ));
    }
    let mut moved = Vec::new();
    for (name, diff_id) in layer_names.iter().zip(&diff_ids) {
        let layer = staged.get(&normalize(name)).ok_or_else(|| {
            format!("its manifest.json names the layer {name}, which it does not hold")
        })?;
        layers::check_layer(&layer.path, diff_id, max_download)
            .map_err(|e| format!("layer {name}: {e}"))?;
        let dest = blobs.join(&layer.sha256);
        if !dest.exists() {
            // Copied, not moved: one staged member may be listed twice.
            std::fs::copy(&layer.path, &dest)
                .map_err(|e| format!("cannot copy its layer to {}: {e}", dest.display()))?;
        }
        moved.push(dest);
    }
    Ok(Carried {
        config: config_bytes,
        id,
        layers: moved,
    })
}

/// The config and layers of the manifest.json entry tagged `reference`.
fn choose(manifest: &[u8], reference: &ImageRef) -> Result<(String, Vec<String>), String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        config: String,
        #[serde(default)]
        repo_tags: Option<Vec<String>>,
        layers: Vec<String>,
    }
    let entries: Vec<Entry> = serde_json::from_slice(manifest)
        .map_err(|e| format!("its manifest.json is not a `docker save` manifest: {e}"))?;
    let tagged = |e: &Entry| {
        e.repo_tags.iter().flatten().any(|t| {
            ImageRef::parse(t).is_ok_and(|r| {
                r.registry == reference.registry
                    && r.repository == reference.repository
                    && r.tag == reference.tag
            })
        })
    };
    let untagged_only =
        entries.len() == 1 && entries[0].repo_tags.as_ref().is_none_or(Vec::is_empty);
    let mut tags: Vec<String> = Vec::new();
    for entry in &entries {
        tags.extend(entry.repo_tags.iter().flatten().cloned());
    }
    match entries.into_iter().find(|e| untagged_only || tagged(e)) {
        Some(entry) => Ok((entry.config, entry.layers)),
        None => Err(format!(
            "it holds {}, not {reference}",
            if tags.is_empty() {
                "no tagged image".to_string()
            } else {
                tags.join(", ")
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-layer image: its config and layer tar.
    fn image() -> (Vec<u8>, Vec<u8>) {
        let mut layer = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o755);
        h.set_cksum();
        layer.append_data(&mut h, "pause", &b"hello"[..]).unwrap();
        let layer = layer.into_inner().unwrap();
        let diff = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff]}
        }))
        .unwrap();
        (config, layer)
    }

    #[test]
    fn a_written_archive_reads_back_as_the_same_image() {
        let dir = tempfile::tempdir().unwrap();
        let (config, layer) = image();
        let id = format!("sha256:{}", hex::encode(Sha256::digest(&config)));
        let blob = dir.path().join(hex::encode(Sha256::digest(&layer)));
        std::fs::write(&blob, &layer).unwrap();
        let reference = ImageRef::parse("gcr.io/google_containers/pause:0.8.0").unwrap();
        let dest = dir.path().join(reference.file_name());
        let sha = write(&dest, &reference, &config, &id, std::slice::from_ref(&blob)).unwrap();
        assert_eq!(sha, crate::fetch::sha256_file(&dest).unwrap());
        let blobs = dir.path().join("blobs");
        std::fs::create_dir(&blobs).unwrap();
        let carried = read(&dest, &reference, &blobs, 1 << 20).unwrap();
        assert_eq!(carried.id, id);
        assert_eq!(std::fs::read(&carried.layers[0]).unwrap(), layer);
        let other = ImageRef::parse("gcr.io/google_containers/pause:3.0").unwrap();
        let err = read(&dest, &other, &blobs, 1 << 20).err().unwrap();
        assert!(
            err.contains("not gcr.io/google_containers/pause:3.0"),
            "{err}"
        );
        let err = read(&dest, &reference, &blobs, 100).err().unwrap();
        assert!(err.contains("fetch.max_download"), "{err}");
    }
}
