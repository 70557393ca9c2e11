//! Container images for tests: small `docker save` archives made here (Docker loads them), put into a cache as `kubedeb fetch` leaves them.

use kubedeb::catalog::ImageSpec;
use kubedeb::images::{ImageRef, IndexEntry};
use kubedeb::packages::PackagedImage;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A `docker save` archive of one image: `reference` as its tag, one layer holding the file
/// `/marker` with `marker` (so that two markers give two image IDs). Returns it and its image
/// ID (`sha256:` of its config, as Docker computes it).
pub fn tiny_archive(reference: &str, marker: &str) -> (Vec<u8>, String) {
    let layer = tar_of(&[("marker", marker.as_bytes())]);
    let layer_sha = hex::encode(Sha256::digest(&layer));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2016-01-01T00:00:00Z",
        "config": { "Cmd": ["/marker"] },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_sha}")] },
        "history": [{ "created": "2016-01-01T00:00:00Z", "comment": marker }],
    })
    .to_string();
    let id = hex::encode(Sha256::digest(config.as_bytes()));
    let manifest = serde_json::json!([{
        "Config": format!("{id}.json"),
        "RepoTags": [reference],
        "Layers": [format!("{layer_sha}/layer.tar")],
    }])
    .to_string();
    let archive = tar_of(&[
        (&format!("{layer_sha}/layer.tar"), &layer),
        (&format!("{id}.json"), config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ]);
    (archive, format!("sha256:{id}"))
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_450_000_000);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, *data).unwrap();
    }
    tar.into_inner().unwrap()
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
            sha256: hex::encode(Sha256::digest(bytes)),
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
