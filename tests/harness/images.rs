//! Container images for tests: tiny `docker save` archives built here (Docker loads them), put into a folder or a cache as `kubedeb fetch` leaves them, the real ones from `$KUBEDEB_REAL/images`, and readers of an archive's manifest.json, config and layers.

use crate::harness::fixtures::sha256_hex;
use kubedeb::catalog::ImageSpec;
use kubedeb::images::{ImageRef, IndexEntry};
use kubedeb::packages::PackagedImage;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The images the built-in catalog names for kubernetes 1.1.4, by role (pause first).
pub const SEED_IMAGES: [(&str, &str); 6] = [
    ("pause", "gcr.io/google_containers/pause:0.8.0"),
    ("dns-etcd", "gcr.io/google_containers/etcd:2.0.9"),
    ("kube2sky", "gcr.io/google_containers/kube2sky:1.11"),
    (
        "skydns",
        "gcr.io/google_containers/skydns:2015-10-13-8c72f8c",
    ),
    ("exechealthz", "gcr.io/google_containers/exechealthz:1.0"),
    ("kube-ui", "gcr.io/google_containers/kube-ui:v4"),
];

/// The archive file name kubedeb uses for `reference` (`/` and `:` turned into `_`, plus .tar).
pub fn file_name(reference: &str) -> String {
    reference.replace(['/', ':', '@'], "_") + ".tar"
}

/// A tar of `entries` (name, bytes), as a layer or an archive is.
pub fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o755);
        h.set_mtime(0);
        tar.append_data(&mut h, name, *bytes).unwrap();
    }
    tar.into_inner().unwrap()
}

/// A one-layer image built here: `(config, layer tar)`; `seed` makes images differ.
pub fn tiny_image(seed: &str) -> (Vec<u8>, Vec<u8>) {
    let layer = tar_of(&[("hello", format!("image {seed}\n").as_bytes())]);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&layer))]},
    }))
    .unwrap();
    (config, layer)
}

/// The image ID (`sha256:` + the config's sha256) of an image.
pub fn image_id(config: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(config))
}

/// A `docker save` archive of the image, tagged `reference`.
pub fn archive_of(reference: &str, config: &[u8], layer: &[u8]) -> Vec<u8> {
    let config_name = format!("{}.json", sha256_hex(config));
    let layer_name = format!("{}/layer.tar", sha256_hex(layer));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": [reference],
        "Layers": [layer_name],
    }]))
    .unwrap();
    tar_of(&[
        (&config_name, config),
        (&layer_name, layer),
        ("manifest.json", &manifest),
    ])
}

/// A `docker save` archive of a tiny image tagged `reference` (`marker` makes images differ),
/// and its image ID.
pub fn tiny_archive(reference: &str, marker: &str) -> (Vec<u8>, String) {
    let (config, layer) = tiny_image(marker);
    (archive_of(reference, &config, &layer), image_id(&config))
}

/// A tiny archive for each seed image in `dir`, named as `kubedeb fetch --from` wants them.
pub fn write_seed_images(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (role, reference) in SEED_IMAGES {
        let (config, layer) = tiny_image(role);
        std::fs::write(
            dir.join(file_name(reference)),
            archive_of(reference, &config, &layer),
        )
        .unwrap();
    }
}

/// The variable naming the folder of real release tarballs and images.
pub const REAL: &str = "KUBEDEB_REAL";

/// `$KUBEDEB_REAL/images`, or `None` after saying loudly that the real images are not used.
pub fn real_images() -> Option<PathBuf> {
    match std::env::var_os(REAL) {
        Some(dir) => {
            let dir = PathBuf::from(dir).join("images");
            assert!(
                dir.is_dir(),
                "{REAL} is set but {} is not a folder",
                dir.display()
            );
            Some(std::fs::canonicalize(dir).unwrap())
        }
        None => {
            eprintln!(
                "\n*** KUBEDEB_REAL is not set: SKIPPING the part of this test that needs the real \
                 images (set it to the folder holding images/, as .ci/run does) ***\n"
            );
            None
        }
    }
}

/// What a `docker save` archive holds: the manifest.json entries and every member's bytes.
pub struct Saved {
    pub manifest: serde_json::Value,
    pub members: std::collections::BTreeMap<String, Vec<u8>>,
}

impl Saved {
    pub fn read(path: &Path) -> Saved {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut archive = tar::Archive::new(file);
        let mut members = std::collections::BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            members.insert(name, bytes);
        }
        let manifest = serde_json::from_slice(&members["manifest.json"]).unwrap();
        Saved { manifest, members }
    }

    /// The image ID: the config's sha256, which must also be its file name.
    pub fn id(&self) -> String {
        let config = self.manifest[0]["Config"].as_str().unwrap();
        let bytes = &self.members[config];
        assert_eq!(
            config,
            format!("{}.json", sha256_hex(bytes)),
            "the config is named by its digest"
        );
        image_id(bytes)
    }

    /// Each layer, uncompressed, hashes to the config's diff_id.
    pub fn check_layers(&self) {
        let config: serde_json::Value =
            serde_json::from_slice(&self.members[self.manifest[0]["Config"].as_str().unwrap()])
                .unwrap();
        let layers = self.manifest[0]["Layers"].as_array().unwrap();
        let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
        assert_eq!(layers.len(), diff_ids.len());
        for (layer, diff_id) in layers.iter().zip(diff_ids) {
            let bytes = &self.members[layer.as_str().unwrap()];
            let plain = if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(&bytes[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            } else {
                bytes.clone()
            };
            assert_eq!(
                format!("sha256:{}", sha256_hex(&plain)),
                diff_id.as_str().unwrap()
            );
        }
    }
}

/// Puts `bytes` as the archive of `reference` into `cache` and records it, as fetch does.
pub fn put_in_cache(cache: &Path, reference: &ImageRef, bytes: &[u8], id: &str) -> PathBuf {
    let dir = kubedeb::images::images_dir(cache);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(reference.file_name());
    std::fs::write(&path, bytes).unwrap();
    kubedeb::images::record(
        cache,
        reference,
        IndexEntry {
            file: reference.file_name(),
            id: id.into(),
            sha256: sha256_hex(bytes),
            source: "the tests".into(),
        },
    )
    .unwrap();
    path
}

/// A tiny archive of each image of `specs` in `cache`, recorded as fetched.
pub fn put_tiny_images(cache: &Path, specs: &[ImageSpec]) {
    for spec in specs {
        let reference = spec.reference.to_string();
        let (bytes, id) = tiny_archive(&reference, &reference);
        put_in_cache(cache, &spec.reference, &bytes, &id);
    }
}

/// Tiny archives of every image `settings` need (with the built-in catalog) put into `cache`,
/// as `kubedeb fetch` would leave them.
pub fn put_tiny_images_for(cache: &Path, settings: &kubedeb::config::ConfigFile) {
    let mut settings = settings.clone();
    // The image list does not depend on the address; validation wants one.
    settings.master_ip.get_or_insert([10, 0, 0, 1].into());
    let catalog = kubedeb::catalog::Catalog::load(None).unwrap();
    let config = settings.validate().expect("valid settings");
    put_tiny_images(cache, &config.images(&catalog).unwrap());
}

/// [`put_tiny_images_for`] the default settings.
pub fn put_default_images(cache: &Path) {
    put_tiny_images_for(cache, &kubedeb::config::ConfigFile::default());
}

/// Tiny archives of `specs` in a folder of their own, as the packages carry them.
pub struct TestImages {
    _dir: tempfile::TempDir,
    pub images: Vec<PackagedImage>,
}

impl TestImages {
    pub fn new(specs: &[ImageSpec]) -> TestImages {
        let dir = tempfile::tempdir().unwrap();
        let images = specs
            .iter()
            .map(|spec| {
                let reference = spec.reference.to_string();
                let (bytes, id) = tiny_archive(&reference, &reference);
                let archive = dir.path().join(spec.reference.file_name());
                std::fs::write(&archive, bytes).unwrap();
                PackagedImage {
                    spec: spec.clone(),
                    archive,
                    id: Some(id),
                }
            })
            .collect();
        TestImages { _dir: dir, images }
    }

    /// The images `config` needs, with the built-in catalog.
    pub fn of(config: &kubedeb::config::Config) -> TestImages {
        let catalog = kubedeb::catalog::Catalog::load(None).unwrap();
        TestImages::new(&config.images(&catalog).unwrap())
    }
}

/// The images `config` needs, each archive played by `program` (as release binaries are by
/// /bin/true) with the ID its tiny archive would have: for tests that read the packages'
/// descriptions and never load an image.
pub fn standing_in(config: &kubedeb::config::Config, program: &Path) -> Vec<PackagedImage> {
    let catalog = kubedeb::catalog::Catalog::load(None).unwrap();
    config
        .images(&catalog)
        .unwrap()
        .into_iter()
        .map(|spec| {
            let reference = spec.reference.to_string();
            PackagedImage {
                id: Some(tiny_archive(&reference, &reference).1),
                spec,
                archive: program.to_path_buf(),
            }
        })
        .collect()
}
