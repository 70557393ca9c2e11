//! `images/index.toml` in the cache: each fetched image's archive, ID and sha256, written by fetch and checked by build.

use super::{ImageError, ImageRef};
use crate::catalog::ImageSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE: &str = "index.toml";
const HEADER: &str = "\
# index.toml: written by `kubedeb fetch`; each image archive in this folder, the image ID it
# holds and the archive's sha256. build packages only archives that still match.
";

/// The folder of image archives in a cache.
pub fn images_dir(cache: &Path) -> PathBuf {
    cache.join("images")
}

/// What the index says of one archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    /// The archive's file name in the images folder ([`ImageRef::file_name`]).
    pub file: String,
    /// The image ID (`sha256:<hex>` of its config).
    pub id: String,
    /// The archive's sha256 (hex), to notice a changed file.
    pub sha256: String,
    /// Where it was fetched from (a registry URL or a `--from` file), for messages.
    pub source: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexFile {
    /// By full image reference.
    #[serde(default)]
    image: BTreeMap<String, IndexEntry>,
}

/// A fetched image, ready to package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedImage {
    pub spec: ImageSpec,
    /// Its `docker save` archive in the cache.
    pub path: PathBuf,
    pub id: String,
    pub sha256: String,
}

fn index_path(cache: &Path) -> PathBuf {
    images_dir(cache).join(FILE)
}

fn read(cache: &Path) -> Result<IndexFile, ImageError> {
    let path = index_path(cache);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| ImageError::Index {
            path,
            problem: format!(
                "not a valid image index: {e}; delete it and run `kubedeb fetch` again"
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IndexFile::default()),
        Err(e) => Err(ImageError::Index {
            path,
            problem: format!("cannot read it: {e}"),
        }),
    }
}

/// The index's entry for `reference`, if any.
pub fn entry(cache: &Path, reference: &ImageRef) -> Result<Option<IndexEntry>, ImageError> {
    Ok(read(cache)?.image.remove(&reference.to_string()))
}

/// Record `entry` for `reference` (its archive already in place), replacing any earlier one;
/// written to a temporary file and renamed, so a reader sees the old index or the new.
pub fn record(cache: &Path, reference: &ImageRef, entry: IndexEntry) -> Result<(), ImageError> {
    let path = index_path(cache);
    let mut index = read(cache)?;
    index.image.insert(reference.to_string(), entry);
    let text = format!(
        "{HEADER}\n{}",
        toml::to_string(&index).expect("index entries serialize")
    );
    let dir = images_dir(cache);
    let failed = |e: std::io::Error| ImageError::Index {
        path: path.clone(),
        problem: format!("cannot write it: {e}"),
    };
    std::fs::create_dir_all(&dir).map_err(failed)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(failed)?;
    tmp.write_all(text.as_bytes()).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(&path).map_err(|e| failed(e.error))?;
    Ok(())
}

/// The fetched archive of every image in `images`, each checked: recorded by fetch, the ID the
/// catalog pins (when it pins one), and the archive's sha256 unchanged (hashed on both cores).
pub fn cached(cache: &Path, images: &[ImageSpec]) -> Result<Vec<CachedImage>, ImageError> {
    let index = read(cache)?;
    let dir = images_dir(cache);
    let mut found = Vec::new();
    for spec in images {
        let entry = index
            .image
            .get(&spec.reference.to_string())
            .ok_or_else(|| ImageError::NotFetched {
                reference: spec.reference.to_string(),
                path: dir.clone(),
            })?;
        if let Some(pinned) = &spec.id {
            if *pinned != entry.id {
                return Err(ImageError::IdMismatch {
                    reference: spec.reference.to_string(),
                    expected: pinned.clone(),
                    actual: entry.id.clone(),
                    origin: entry.source.clone(),
                });
            }
        }
        found.push(CachedImage {
            spec: spec.clone(),
            path: dir.join(&entry.file),
            id: entry.id.clone(),
            sha256: entry.sha256.clone(),
        });
    }
    let failures: Vec<ImageError> = std::thread::scope(|scope| {
        let chunk = found.len().div_ceil(2).max(1);
        let handles: Vec<_> = found
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().filter_map(check_file).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("hashing thread"))
            .collect()
    });
    match failures.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

fn check_file(image: &CachedImage) -> Option<ImageError> {
    match crate::fetch::sha256_file(&image.path) {
        Ok(actual) if actual == image.sha256 => None,
        Ok(actual) => Some(ImageError::Changed {
            path: image.path.clone(),
            expected: image.sha256.clone(),
            actual,
        }),
        Err(e) => Some(ImageError::Unreadable {
            path: image.path.clone(),
            cause: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(reference: &str, id: Option<&str>) -> ImageSpec {
        ImageSpec {
            role: "pause".into(),
            reference: ImageRef::parse(reference).unwrap(),
            id: id.map(str::to_string),
            addon: None,
        }
    }

    fn put(cache: &Path, reference: &str, bytes: &[u8], id: &str) {
        let reference = ImageRef::parse(reference).unwrap();
        let dir = images_dir(cache);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(reference.file_name()), bytes).unwrap();
        let sha256 = crate::fetch::sha256_file(&dir.join(reference.file_name())).unwrap();
        let entry = IndexEntry {
            file: reference.file_name(),
            id: id.into(),
            sha256,
            source: "test".into(),
        };
        record(cache, &reference, entry).unwrap();
    }

    #[test]
    fn cached_images_are_found_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let id = format!("sha256:{}", "1".repeat(64));
        put(dir.path(), "gcr.io/x/pause:1", b"archive one", &id);
        put(dir.path(), "gcr.io/x/ui:2", b"archive two", &id);
        let found = cached(
            dir.path(),
            &[
                spec("gcr.io/x/pause:1", Some(&id)),
                spec("gcr.io/x/ui:2", None),
            ],
        )
        .unwrap();
        assert_eq!(found.len(), 2);
        assert!(found[0].path.ends_with("gcr.io_x_pause_1.tar"));

        let err = cached(dir.path(), &[spec("gcr.io/x/other:1", None)]).unwrap_err();
        assert!(err.to_string().contains("kubedeb fetch"), "{err}");
        let other = format!("sha256:{}", "2".repeat(64));
        let err = cached(dir.path(), &[spec("gcr.io/x/pause:1", Some(&other))]).unwrap_err();
        assert!(err.to_string().contains(&other), "{err}");

        std::fs::write(images_dir(dir.path()).join("gcr.io_x_ui_2.tar"), b"changed").unwrap();
        let err = cached(dir.path(), &[spec("gcr.io/x/ui:2", None)]).unwrap_err();
        assert!(err.to_string().contains("changed since"), "{err}");
    }
}
