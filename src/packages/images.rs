//! The container images a package carries from the cache: their archives and the list its loader reads.

use crate::catalog::ImageSpec;
use crate::deb::{Entry, Source};
use crate::images::{CachedImage, ImageError};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The name of the list beside the archives, read by `/usr/lib/kubedeb/load-images`.
pub const LIST: &str = "images.list";

/// The ID written in the list for an image not fetched yet (only `kubedeb check` describes
/// such a package; `kubedeb build` packages fetched images alone). The loader refuses it.
const UNKNOWN_ID: &str = "unfetched";

/// An image a package carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedImage {
    pub spec: ImageSpec,
    /// Its `docker save` archive: fetched (for `build`), or where `kubedeb fetch` puts it.
    pub archive: PathBuf,
    /// Its image ID (`sha256:<hex>`); `None` only before it is fetched.
    pub id: Option<String>,
}

impl From<CachedImage> for PackagedImage {
    fn from(image: CachedImage) -> PackagedImage {
        PackagedImage {
            spec: image.spec,
            archive: image.path,
            id: Some(image.id),
        }
    }
}

/// The fetched images, checked by [`crate::images::cached`]: what `kubedeb build` packages.
pub fn fetched_images(cache: &Path, specs: &[ImageSpec]) -> Result<Vec<PackagedImage>, ImageError> {
    Ok(crate::images::cached(cache, specs)?
        .into_iter()
        .map(PackagedImage::from)
        .collect())
}

/// Where the archives of `specs` are or will be once fetched, with the ID the index records
/// (else the catalog's pin): for `kubedeb check`, which describes the packages before fetch.
pub fn expected_images(
    cache: &Path,
    specs: &[ImageSpec],
) -> Result<Vec<PackagedImage>, ImageError> {
    let dir = crate::images::images_dir(cache);
    specs
        .iter()
        .map(|spec| {
            let entry = crate::images::entry(cache, &spec.reference)?;
            Ok(PackagedImage {
                archive: dir.join(
                    entry
                        .as_ref()
                        .map_or_else(|| spec.reference.file_name(), |e| e.file.clone()),
                ),
                id: entry.map(|e| e.id).or_else(|| spec.id.clone()),
                spec: spec.clone(),
            })
        })
        .collect()
}

/// The entries of a package carrying `images` in `dir` (`/usr/share/<package>`): each archive
/// (0644, streamed from the cache when the package is written) and the list naming them.
pub fn entries(dir: &str, images: &[PackagedImage]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = images
        .iter()
        .map(|image| {
            Entry::file(
                format!("{dir}/{}", image.spec.reference.file_name()),
                0o644,
                Source::Path(image.archive.clone()),
            )
        })
        .collect();
    entries.push(Entry::file(
        format!("{dir}/{LIST}"),
        0o644,
        Source::Bytes(list(dir, images).into_bytes()),
    ));
    entries
}

/// One line per image: its ID, its archive's file name in `dir`, and its reference (the name
/// Docker knows it by once loaded). None of the three can hold a space.
fn list(dir: &str, images: &[PackagedImage]) -> String {
    let mut text = format!(
        "# The images in {dir}, loaded into Docker by /usr/lib/kubedeb/load-images.\n\
         # image ID, archive (docker save), reference\n"
    );
    for image in images {
        let _ = writeln!(
            text,
            "{} {} {}",
            image.id.as_deref().unwrap_or(UNKNOWN_ID),
            image.spec.reference.file_name(),
            image.spec.reference
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::ImageRef;

    fn image(reference: &str, id: Option<&str>) -> PackagedImage {
        PackagedImage {
            spec: ImageSpec {
                role: "pause".into(),
                reference: ImageRef::parse(reference).unwrap(),
                id: None,
                addon: None,
            },
            archive: PathBuf::from("/cache/images/x.tar"),
            id: id.map(str::to_string),
        }
    }

    #[test]
    fn archives_are_streamed_and_listed() {
        let id = format!("sha256:{}", "a".repeat(64));
        let entries = entries(
            "/usr/share/k8s-images",
            &[
                image("gcr.io/google_containers/pause:0.8.0", Some(&id)),
                image("busybox", None),
            ],
        );
        assert_eq!(
            entries[0],
            Entry::file(
                "/usr/share/k8s-images/gcr.io_google_containers_pause_0.8.0.tar",
                0o644,
                Source::Path("/cache/images/x.tar".into())
            )
        );
        let Entry {
            path,
            kind: crate::deb::EntryKind::File(Source::Bytes(list)),
            ..
        } = &entries[2]
        else {
            panic!("{entries:?}")
        };
        assert_eq!(path, "/usr/share/k8s-images/images.list");
        let list = String::from_utf8(list.clone()).unwrap();
        let lines: Vec<&str> = list.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                format!("{id} gcr.io_google_containers_pause_0.8.0.tar gcr.io/google_containers/pause:0.8.0"),
                "unfetched docker.io_library_busybox_latest.tar docker.io/library/busybox:latest".into()
            ]
        );
    }
}
