//! `kubedeb fetch` of container images from Debian's docker-registry on loopback (anonymous, basic auth over TLS, bearer tokens), mirrors, failover, resume, verification, the lock, and `--from` archives.

use crate::harness::bin::Run;
use crate::harness::fixtures::{sha256_hex, SeedTarballs, TestServer};
use crate::harness::images::{
    archive_of, file_name, image_id, real_images, tiny_image, write_seed_images, Saved, SEED_IMAGES,
};
use crate::harness::project::{pinned_catalog, Project, CATALOG};
use crate::harness::registry::{Options, Registry, Tls, TokenProxy};
use crate::harness::tools::run;
use base64::Engine as _;
use std::path::PathBuf;
use std::process::Command;

const PAUSE: &str = "gcr.io/google_containers/pause:0.8.0";

/// A project whose tarballs come from a loopback server (so only the images need a registry);
/// `all_images`: the addons stay on (six images), else only the pause image is needed.
struct Setup {
    project: Project,
    _server: TestServer,
}

impl Setup {
    fn new(all_images: bool, extra_settings: &str) -> Setup {
        let project = Project::new();
        let tarballs = SeedTarballs::new();
        let server = TestServer::start();
        server.serve_seed("/up", &tarballs);
        project.write_catalog(&pinned_catalog(&server.url("/up"), &tarballs));
        let addons = if all_images {
            ""
        } else {
            "[addons]\ndns = false\nui = false\n"
        };
        project.write(
            "cluster.toml",
            &format!("master_ip = \"192.168.100.11\"\n{addons}{extra_settings}"),
        );
        Setup {
            project,
            _server: server,
        }
    }

    fn fetch(&self, extra: &[&str]) -> Run {
        let mut args = vec!["fetch", "--catalog", CATALOG, "--cache", "cache"];
        args.extend_from_slice(extra);
        let run = self.project.kubedeb(&args);
        if !run.ok() {
            assert_eq!(run.code(), Some(1), "{}", run.text());
        }
        run
    }

    fn cache(&self, path: &str) -> PathBuf {
        self.project.file("cache").join(path)
    }

    fn archive(&self, reference: &str) -> PathBuf {
        self.cache("images").join(file_name(reference))
    }

    fn index(&self) -> String {
        std::fs::read_to_string(self.cache("images/index.toml")).unwrap_or_default()
    }

    fn lock(&self) -> String {
        std::fs::read_to_string(self.cache("kubedeb.lock")).unwrap_or_default()
    }

    /// Nothing of a refused image was kept: no archive, no index entry, no blob.
    fn nothing_cached(&self, reference: &str) {
        assert!(!self.archive(reference).exists());
        assert!(!self.index().contains(reference), "{}", self.index());
        let blobs: Vec<_> = std::fs::read_dir(self.cache("images/blobs/sha256"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(blobs.is_empty(), "blobs left behind: {blobs:?}");
    }
}

/// The archive kubedeb wrote loads: manifest.json names the reference, the config is the image
/// ID, each layer matches its diff_id, and skopeo reads it as a docker-archive.
fn assert_loadable(path: &std::path::Path, reference: &str, id: &str) {
    let saved = Saved::read(path);
    assert_eq!(
        saved.manifest[0]["RepoTags"],
        serde_json::json!([reference])
    );
    assert_eq!(saved.id(), id);
    saved.check_layers();
    let out = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("docker-archive:{}", path.display())));
    let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspect["Os"], "linux", "{inspect}");
}

/// The tiny pause image of `seed`, pushed into `registry` as `name`; returns its ID.
fn push_tiny(registry: &Registry, name: &str, seed: &str) -> String {
    let (config, layer) = tiny_image(seed);
    registry.push_bytes(&archive_of(PAUSE, &config, &layer), name);
    image_id(&config)
}

/// The image ID of a real `docker save` archive (the config named in its manifest.json).
fn real_id(path: &std::path::Path) -> String {
    Saved::read(path).id()
}

fn auth_file(project: &Project, host: &str, user: &str, pass: &str) -> PathBuf {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    project.write(
        "auth.json",
        &format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
    );
    project.file("auth.json")
}

#[test]
fn the_real_images_are_fetched_anonymously_and_load() {
    let Some(real) = real_images() else { return };
    let registry = Registry::start(Options::default());
    let mut ids = Vec::new();
    for (_, reference) in SEED_IMAGES {
        let archive = real.join(file_name(reference));
        let name = reference.strip_prefix("gcr.io/").unwrap();
        registry.push(&archive, name);
        ids.push(real_id(&archive));
    }
    let setup = Setup::new(true, "");
    let mirror = format!("http://{}", registry.host());
    let run = setup.fetch(&["--registry-mirror", &mirror]).success();
    for ((_, reference), id) in SEED_IMAGES.iter().zip(&ids) {
        let path = setup.archive(reference);
        assert!(
            run.stdout.contains(&format!(
                "{reference}\tcache/images/{}",
                file_name(reference)
            )),
            "{}",
            run.stdout
        );
        // skopeo copied the config unchanged: the ID is the one `docker load` gave upstream.
        assert_loadable(&path, reference, id);
        assert!(setup.index().contains(id.as_str()), "{}", setup.index());
        assert!(
            setup.lock().contains(&format!("[image.\"{reference}\"]")),
            "{}",
            setup.lock()
        );
    }
    // A second fetch finds them all in the cache, without a registry.
    drop(registry);
    let again = setup.fetch(&["--registry-mirror", &mirror]).success();
    assert_eq!(
        again.stderr.matches("already fetched").count(),
        3 + 6,
        "{}",
        again.stderr
    );
}

#[test]
fn basic_auth_over_tls_needs_the_credentials_and_the_ca() {
    let project_dir = tempfile::tempdir().unwrap();
    let tls = Tls::new(&project_dir.path().join("tls"));
    let registry = Registry::start(Options {
        tls: Some(&tls),
        user: Some(("alice", "s3cret")),
    });
    let id = push_tiny(&registry, "google_containers/pause:0.8.0", "basic");
    let mirror = registry.host(); // https by default
    let ca = tls.ca.display().to_string();

    // Without the CA the registry's certificate is not trusted.
    let setup = Setup::new(false, "");
    let auth = auth_file(&setup.project, &registry.host(), "alice", "s3cret");
    let auth = auth.to_str().unwrap();
    let refused = setup.fetch(&["--registry-mirror", &mirror, "--registry-auth", auth]);
    assert!(!refused.ok());
    assert!(
        refused.stderr.to_lowercase().contains("certificate"),
        "{}",
        refused.stderr
    );
    setup.nothing_cached(PAUSE);

    // With the CA (fetch.registry_ca) but no credentials: not authorized, and what to do.
    let setup = Setup::new(false, &format!("[fetch]\nregistry_ca = \"{ca}\"\n"));
    let refused = setup.fetch(&["--registry-mirror", &mirror]);
    assert!(!refused.ok());
    assert!(refused.stderr.contains("HTTP 401"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--registry-auth"),
        "{}",
        refused.stderr
    );
    setup.nothing_cached(PAUSE);

    // Both, the credentials from fetch.registry_auth: fetched.
    let setup = Setup::new(
        false,
        &format!("[fetch]\nregistry_ca = \"{ca}\"\nregistry_auth = \"auth.json\"\n"),
    );
    auth_file(&setup.project, &registry.host(), "alice", "s3cret");
    setup.fetch(&["--registry-mirror", &mirror]).success();
    assert_loadable(&setup.archive(PAUSE), PAUSE, &id);
}

#[test]
fn bearer_tokens_are_fetched_with_the_auth_file_credentials() {
    let backend = Registry::start(Options::default());
    let id = push_tiny(&backend, "google_containers/pause:0.8.0", "bearer");
    let proxy = TokenProxy::start(&backend, "bob", "hunter2");
    let mirror = format!("http://{}", proxy.addr);

    let setup = Setup::new(false, "");
    let wrong = auth_file(&setup.project, &proxy.addr.to_string(), "bob", "wrong");
    let refused = setup.fetch(&[
        "--registry-mirror",
        &mirror,
        "--registry-auth",
        wrong.to_str().unwrap(),
    ]);
    assert!(!refused.ok());
    assert!(
        refused.stderr.contains("authentication failed"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("auth.json"), "{}", refused.stderr);
    setup.nothing_cached(PAUSE);

    let right = auth_file(&setup.project, &proxy.addr.to_string(), "bob", "hunter2");
    setup
        .fetch(&[
            "--registry-mirror",
            &mirror,
            "--registry-auth",
            right.to_str().unwrap(),
        ])
        .success();
    assert_loadable(&setup.archive(PAUSE), PAUSE, &id);
    let seen = proxy.requests();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("GET /token") && l.contains(" 200")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with("GET /v2/google_containers/pause/manifests/0.8.0 200")),
        "{seen:?}"
    );
}

#[test]
fn a_dead_mirror_fails_over_and_source_mappings_choose_the_path() {
    let other = Registry::start(Options::default());
    let cn = Registry::start(Options::default());
    let id = push_tiny(&cn, "cn/google_containers/pause:0.8.0", "mapped");
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead = format!("http://127.0.0.1:{}", dead.port());
    // Serves docker.io images only: never asked for a gcr.io one.
    let unrelated = format!("http://{}/hub=docker.io", other.host());
    let mapped = format!(
        "http://{}/cn/google_containers=gcr.io/google_containers",
        cn.host()
    );
    let setup = Setup::new(
        false,
        &format!("[fetch]\nregistry_mirrors = [\"{mapped}\"]\n"),
    );
    let run = setup
        .fetch(&["--registry-mirror", &dead, "--registry-mirror", &unrelated])
        .success();
    assert!(
        run.stderr.contains(&format!(
            "{dead}/google_containers/pause:0.8.0: cannot connect"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("trying the next source"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(&other.host()), "{}", run.stderr);
    assert!(
        setup.index().contains(&format!(
            "http://{}/cn/google_containers/pause:0.8.0",
            cn.host()
        )),
        "{}",
        setup.index()
    );
    assert_loadable(&setup.archive(PAUSE), PAUSE, &id);

    // Every source failing: each named with why, and what to do.
    let setup = Setup::new(false, "");
    let failed = setup.fetch(&["--registry-mirror", &dead]);
    assert!(!failed.ok());
    for expected in [
        format!("could not fetch the image {PAUSE}; tried:"),
        format!("{dead}/google_containers/pause:0.8.0: cannot connect"),
        "https://gcr.io/google_containers/pause:0.8.0: ".to_string(),
        "--registry-mirror".to_string(),
        "--from DIR".to_string(),
    ] {
        assert!(
            failed.stderr.contains(&expected),
            "{expected}\n{}",
            failed.stderr
        );
    }
    setup.nothing_cached(PAUSE);
}

#[test]
fn a_corrupted_blob_or_a_wrong_pinned_id_is_refused_and_nothing_cached() {
    let registry = Registry::start(Options::default());
    let id = push_tiny(&registry, "google_containers/pause:0.8.0", "corrupt");
    let mirror = format!("http://{}", registry.host());

    // The catalog pins another ID: refused before any layer is fetched.
    let setup = Setup::new(false, "");
    let pin = format!("sha256:{}", "0".repeat(64));
    let catalog = std::fs::read_to_string(setup.project.file(CATALOG)).unwrap();
    setup.project.write_catalog(&format!(
        "{catalog}\n[kubernetes.\"1.1.4\".images]\npause = {{ ref = \"{PAUSE}\", id = \"{pin}\" }}\n"
    ));
    let refused = setup.fetch(&["--registry-mirror", &mirror]);
    assert!(!refused.ok());
    assert!(
        refused
            .stderr
            .contains(&format!("its image ID is {id}, but the catalog pins {pin}")),
        "{}",
        refused.stderr
    );
    setup.nothing_cached(PAUSE);

    // The layer's bytes changed in the registry's storage: its digest no longer matches.
    let (layer, _) = registry
        .blobs()
        .into_iter()
        .find(|(path, _)| std::fs::read(path).unwrap().starts_with(&[0x1f, 0x8b]))
        .expect("skopeo stored the layer gzipped");
    let mut bytes = std::fs::read(&layer).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&layer, &bytes).unwrap();
    let setup = Setup::new(false, "");
    let refused = setup.fetch(&["--registry-mirror", &mirror]);
    assert!(!refused.ok());
    assert!(
        refused.stderr.contains("has the sha256"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("refused"), "{}", refused.stderr);
    setup.nothing_cached(PAUSE);
}

#[test]
fn an_interrupted_blob_is_resumed_with_a_range_request() {
    let backend = Registry::start(Options::default());
    // A layer large enough to cut in two: random-looking bytes do not compress.
    let noise: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let layer = crate::harness::images::tar_of(&[("noise", &noise)]);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&layer))]},
    }))
    .unwrap();
    backend.push_bytes(
        &archive_of(PAUSE, &config, &layer),
        "google_containers/pause:0.8.0",
    );
    let proxy = TokenProxy::start(&backend, "u", "p");
    let (blob, len) = backend
        .blobs()
        .into_iter()
        .max_by_key(|(_, len)| *len)
        .unwrap();
    let hex = blob
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let setup = Setup::new(false, "");
    // What an interrupted fetch leaves: the first half of the blob.
    let blobs = setup.cache("images/blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let half = (len / 2) as usize;
    std::fs::write(
        blobs.join(format!("{hex}.part")),
        &std::fs::read(&blob).unwrap()[..half],
    )
    .unwrap();
    let auth = auth_file(&setup.project, &proxy.addr.to_string(), "u", "p");
    setup
        .fetch(&[
            "--registry-mirror",
            &format!("http://{}", proxy.addr),
            "--registry-auth",
            auth.to_str().unwrap(),
        ])
        .success();
    let seen = proxy.requests();
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("/blobs/sha256:{hex} 206 bytes={half}-"))),
        "{seen:?}"
    );
    assert_loadable(&setup.archive(PAUSE), PAUSE, &image_id(&config));
    assert!(!blobs.join(format!("{hex}.part")).exists());
}

#[test]
fn an_unpinned_image_is_locked_to_its_first_id() {
    let first = Registry::start(Options::default());
    let id = push_tiny(&first, "google_containers/pause:0.8.0", "first");
    let setup = Setup::new(false, "");
    setup
        .fetch(&["--registry-mirror", &format!("http://{}", first.host())])
        .success();
    assert!(setup.lock().contains(&id), "{}", setup.lock());

    // Another registry has another image under the same name.
    let second = Registry::start(Options::default());
    let other = push_tiny(&second, "google_containers/pause:0.8.0", "second");
    std::fs::remove_file(setup.archive(PAUSE)).unwrap();
    let mirror = format!("http://{}", second.host());
    let refused = setup.fetch(&["--registry-mirror", &mirror]);
    assert!(!refused.ok());
    for expected in [
        format!("its image ID is {other}"),
        format!("recorded {id} at its first fetch"),
        format!("delete the [image.\"{PAUSE}\"] entry from"),
    ] {
        assert!(
            refused.stderr.contains(&expected),
            "{expected}\n{}",
            refused.stderr
        );
    }
    assert!(!setup.archive(PAUSE).exists());

    // Accepting it is deleting that entry.
    let lock = setup.lock();
    let kept: String = lock
        .split("\n\n")
        .filter(|block| !block.contains("[image."))
        .collect::<Vec<_>>()
        .join("\n\n");
    std::fs::write(setup.cache("kubedeb.lock"), kept).unwrap();
    setup.fetch(&["--registry-mirror", &mirror]).success();
    assert_loadable(&setup.archive(PAUSE), PAUSE, &other);
}

#[test]
fn from_a_folder_the_archives_are_checked_and_hostile_ones_refused() {
    let setup = Setup::new(true, "[fetch]\nmax_download = \"4 MiB\"\n");
    let folder = setup.project.file("carried");
    SeedTarballs::new().write_to(&folder);
    match real_images() {
        // The real archives, as `docker save` wrote them.
        Some(real) => {
            for (_, reference) in SEED_IMAGES {
                std::fs::copy(
                    real.join(file_name(reference)),
                    folder.join(file_name(reference)),
                )
                .unwrap();
            }
            setup.project.write(
                "cluster.toml",
                "master_ip = \"192.168.100.11\"\n[fetch]\nmax_download = \"64 MiB\"\n",
            );
        }
        None => write_seed_images(&folder),
    }
    let from = folder.to_str().unwrap();
    let run = setup.fetch(&["--from", from]).success();
    for (_, reference) in SEED_IMAGES {
        let id = real_id(&folder.join(file_name(reference)));
        assert_loadable(&setup.archive(reference), reference, &id);
        assert!(run.stdout.contains(reference), "{}", run.stdout);
    }

    // Another image under the pause name: refused against the lock, with both IDs.
    let (config, layer) = tiny_image("impostor");
    std::fs::write(
        folder.join(file_name(PAUSE)),
        archive_of(PAUSE, &config, &layer),
    )
    .unwrap();
    let refused = setup.fetch(&["--from", from]);
    assert!(!refused.ok());
    assert!(
        refused
            .stderr
            .contains(&format!("its image ID is {}", image_id(&config))),
        "{}",
        refused.stderr
    );

    // Hostile archives: refused before anything large is read into memory.
    let huge_manifest = {
        let mut h = tar::Header::new_ustar();
        h.set_path("manifest.json").unwrap();
        h.set_size(8 << 30);
        h.set_mode(0o644);
        h.set_cksum();
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(&[b' '; 4096]);
        bytes
    };
    let many_members = {
        let names: Vec<String> = (0..10_001).map(|i| format!("x{i}")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        crate::harness::images::tar_of(&entries)
    };
    let big_layer = {
        let noise: Vec<u8> = (0..5_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        let layer = crate::harness::images::tar_of(&[("big", &noise)]);
        let config = serde_json::to_vec(&serde_json::json!({
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&layer))]},
        }))
        .unwrap();
        archive_of(PAUSE, &config, &layer)
    };
    setup.project.write(
        "cluster.toml",
        "master_ip = \"192.168.100.11\"\n[fetch]\nmax_download = \"4 MiB\"\n",
    );
    for (archive, expected) in [
        (huge_manifest, "its manifest.json is 8589934592 bytes"),
        (many_members, "more than 10000 members"),
        (big_layer, "more than fetch.max_download"),
    ] {
        std::fs::write(folder.join(file_name(PAUSE)), archive).unwrap();
        let refused = setup.fetch(&["--from", from]);
        assert!(!refused.ok());
        assert!(
            refused.stderr.contains(expected),
            "{expected}\n{}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains("nothing was cached"),
            "{}",
            refused.stderr
        );
    }
}
