//! `kubedeb fetch` against a loopback HTTP server and a carried-in folder: resume, failover, checksums, TOFU, ELF checks.

use crate::harness::bin::{self, Run};
use crate::harness::fixtures::*;
use crate::harness::project::{pinned_catalog, CATALOG};
use std::path::{Path, PathBuf};

const MASTER: &str = "192.168.100.11";

/// `kubedeb fetch` of the seed versions in the project, with its catalog and cache; a failure
/// must exit 2 with an `error: ` line.
fn kubedeb_fetch(dir: &Path, extra: &[&str]) -> Run {
    // The images come from a loopback registry: these tests are about the tarballs.
    let registry = crate::harness::registry::seed_registry();
    let run = bin::run(
        bin::kubedeb_in(dir)
            .args([
                "fetch",
                "--master-ip",
                MASTER,
                "--catalog",
                CATALOG,
                "--cache",
                "cache",
                "--registry-mirror",
                &registry.mirror(),
            ])
            .args(extra),
    );
    if !run.ok() {
        assert_eq!(
            run.code(),
            Some(1),
            "a failed fetch exits 1; stderr: {}",
            run.stderr
        );
        assert!(
            run.stderr.lines().any(|l| l.starts_with("error: ")),
            "{}",
            run.stderr
        );
    }
    run
}

fn write_catalog(dir: &Path, text: &str) {
    std::fs::write(dir.join(CATALOG), text).unwrap();
}

fn cached_bin(dir: &Path, release: &str) -> PathBuf {
    dir.join("cache/bin").join(release)
}

/// Every binary of the seed versions was extracted, is the fixture program, and is listed on stdout.
fn assert_all_extracted(dir: &Path, run: &Run) {
    let program = elf_program();
    let expected: Vec<(String, PathBuf)> = KUBE_BINARIES
        .iter()
        .map(|b| (b.to_string(), cached_bin(dir, "kubernetes-1.1.4").join(b)))
        .chain([
            (
                "flanneld".to_string(),
                cached_bin(dir, "flannel-0.5.5").join("flanneld"),
            ),
            (
                "etcd".to_string(),
                cached_bin(dir, "etcd-2.2.1").join("etcd"),
            ),
            (
                "etcdctl".to_string(),
                cached_bin(dir, "etcd-2.2.1").join("etcdctl"),
            ),
        ])
        .collect();
    for (name, path) in &expected {
        assert_eq!(
            std::fs::read(path).unwrap_or_default(),
            program,
            "{name} at {}",
            path.display()
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o755, "{name}");
        assert!(
            run.stdout.contains(&format!("{name}\tcache/bin/")),
            "{name} listed: {}",
            run.stdout
        );
    }
    // Then one line per image (fetch_images checks those).
    let binary_lines = run
        .stdout
        .lines()
        .filter(|l| l.contains("\tcache/bin/"))
        .count();
    assert_eq!(binary_lines, expected.len(), "{}", run.stdout);
    assert_eq!(
        run.stdout.lines().count(),
        expected.len() + crate::harness::images::SEED_IMAGES.len(),
        "{}",
        run.stdout
    );
}

#[test]
fn a_cut_transfer_from_a_mirror_resumes_with_a_range_request() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let server = TestServer::start();
    server.serve_seed("/mirror", &t);
    let cut = t.kubernetes.len() / 2;
    server.route(
        "/mirror/kubernetes.tar.gz",
        &t.kubernetes,
        Fault::CutAfter {
            bytes: cut,
            times: 1,
        },
    );
    write_catalog(dir.path(), &pinned_catalog(&server.url("/upstream"), &t));

    let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/mirror")]);
    assert!(run.ok(), "{}", run.stderr);
    assert_all_extracted(dir.path(), &run);
    assert!(
        run.stderr.contains(&format!("after {cut} bytes; resuming")),
        "{}",
        run.stderr
    );
    let kube = server.requests_for("/mirror/kubernetes.tar.gz");
    assert_eq!(kube.len(), 2, "{kube:?}");
    assert_eq!(kube[0].range, None);
    assert_eq!(kube[1].range.as_deref(), Some(&*format!("bytes={cut}-")));
    assert_eq!(kube[1].status, 206);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.path.starts_with("/mirror/")),
        "upstream never asked"
    );
    assert_eq!(
        std::fs::read(dir.path().join("cache/downloads/kubernetes.tar.gz")).unwrap(),
        t.kubernetes,
        "the resumed file is the whole tarball"
    );
    assert!(!dir
        .path()
        .join("cache/downloads/kubernetes.tar.gz.part")
        .exists());
}

#[test]
fn an_interrupted_run_leaves_a_part_file_that_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let cut = t.kubernetes.len() / 3;
    let part = dir.path().join("cache/downloads/kubernetes.tar.gz.part");
    {
        let server = TestServer::start();
        server.serve_seed("/mirror", &t);
        server.route(
            "/mirror/kubernetes.tar.gz",
            &t.kubernetes,
            Fault::CutThenFail { bytes: cut },
        );
        write_catalog(dir.path(), &pinned_catalog(&server.url("/upstream"), &t));
        let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/mirror")]);
        assert!(!run.ok());
        assert!(run.stderr.contains("HTTP 503"), "{}", run.stderr);
        assert!(
            run.stderr.contains("HTTP 404"),
            "upstream tried too: {}",
            run.stderr
        );
        assert_eq!(std::fs::metadata(&part).unwrap().len(), cut as u64);
        assert!(!cached_bin(dir.path(), "kubernetes-1.1.4").exists());
    }
    let server = TestServer::start();
    server.serve_seed("/mirror", &t);
    write_catalog(dir.path(), &pinned_catalog(&server.url("/upstream"), &t));
    let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/mirror")]);
    assert!(run.ok(), "{}", run.stderr);
    assert_all_extracted(dir.path(), &run);
    let kube = server.requests_for("/mirror/kubernetes.tar.gz");
    assert_eq!(kube.len(), 1, "{kube:?}");
    assert_eq!(kube[0].range.as_deref(), Some(&*format!("bytes={cut}-")));
    // etcd and flannel were complete from the first run: not downloaded again.
    assert!(server
        .requests_for(&format!("/mirror/{ETCD_FILE}"))
        .is_empty());
}

#[test]
fn a_server_that_ignores_range_gets_a_full_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let server = TestServer::start();
    server.serve_seed("/mirror", &t);
    std::fs::create_dir_all(dir.path().join("cache/downloads")).unwrap();
    std::fs::write(
        dir.path().join("cache/downloads/kubernetes.tar.gz.part"),
        &t.kubernetes[..1000],
    )
    .unwrap();
    server.route(
        "/mirror/kubernetes.tar.gz",
        &t.kubernetes,
        Fault::IgnoreRange,
    );
    write_catalog(dir.path(), &pinned_catalog(&server.url("/upstream"), &t));
    let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/mirror")]);
    assert!(run.ok(), "{}", run.stderr);
    assert_all_extracted(dir.path(), &run);
    let kube = server.requests_for("/mirror/kubernetes.tar.gz");
    assert_eq!(kube[0].range.as_deref(), Some("bytes=1000-"));
    assert_eq!(kube[0].status, 200);
}

#[test]
fn failing_mirrors_fail_over_to_the_next_source() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/gone", listener.local_addr().unwrap())
    };
    let server = TestServer::start();
    server.serve_seed("/good", &t);
    server.route(
        &format!("/broken/{FLANNEL_FILE}"),
        &t.flannel,
        Fault::Status(500),
    );
    write_catalog(dir.path(), &pinned_catalog(&server.url("/upstream"), &t));
    let run = kubedeb_fetch(
        dir.path(),
        &[
            "--mirror",
            &refused,
            "--mirror",
            &server.url("/missing"),
            "--mirror",
            &server.url("/broken"),
            "--mirror",
            &server.url("/good"),
        ],
    );
    assert!(run.ok(), "{}", run.stderr);
    assert_all_extracted(dir.path(), &run);
    for file in [KUBE_FILE, FLANNEL_FILE, ETCD_FILE] {
        let missing = server.requests_for(&format!("/missing/{file}"));
        assert_eq!(
            missing.iter().map(|s| s.status).collect::<Vec<_>>(),
            [404],
            "{file}"
        );
        assert_eq!(
            server.requests_for(&format!("/good/{file}")).len(),
            1,
            "{file}"
        );
    }
    assert_eq!(
        server.requests_for(&format!("/broken/{FLANNEL_FILE}"))[0].status,
        500
    );
    assert!(server
        .requests_for(&format!("/upstream/{KUBE_FILE}"))
        .is_empty());
}

#[test]
fn all_sources_failing_lists_each_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let server = TestServer::start();
    write_catalog(dir.path(), &pinned_catalog(&server.url("/upstream"), &t));
    let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/m1")]);
    assert!(!run.ok());
    for file in [KUBE_FILE, FLANNEL_FILE, ETCD_FILE] {
        assert!(
            run.stderr.contains(&format!("could not get {file}")),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains(&format!("{}: HTTP 404", server.url(&format!("/m1/{file}")))),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&format!(
                "{}: HTTP 404",
                server.url(&format!("/upstream/{file}"))
            )),
            "{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("--from DIR"), "{}", run.stderr);
    assert!(!dir.path().join("cache/bin/kubernetes-1.1.4").exists());
}

#[test]
fn a_checksum_mismatch_is_refused_and_nothing_is_extracted() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let wrong = etcd_tarball(b"\x7fELF other release entirely");
    let server = TestServer::start();
    server.serve_seed("/mirror", &t);
    server.route(&format!("/mirror/{ETCD_FILE}"), &wrong, Fault::None);
    server.route(&format!("/upstream/{ETCD_FILE}"), &wrong, Fault::None);
    write_catalog(dir.path(), &pinned_catalog(&server.url("/upstream"), &t));

    let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/mirror")]);
    assert!(!run.ok());
    let (good, bad) = (sha256_hex(&t.etcd), sha256_hex(&wrong));
    assert!(
        run.stderr.contains(&format!(
            "sha256 is {bad}, but the sha256 pinned in catalog.toml is {good}"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing extracted"), "{}", run.stderr);
    assert!(
        !cached_bin(dir.path(), "etcd-2.2.1").exists(),
        "nothing extracted"
    );
    assert!(!dir
        .path()
        .join(format!("cache/downloads/{ETCD_FILE}"))
        .exists());
    assert!(!dir
        .path()
        .join(format!("cache/downloads/{ETCD_FILE}.part"))
        .exists());
    assert_eq!(
        std::fs::read(dir.path().join(format!("cache/quarantine/{ETCD_FILE}"))).unwrap(),
        wrong
    );
    // The other components are not held back by etcd's failure.
    assert!(cached_bin(dir.path(), "flannel-0.5.5")
        .join("flanneld")
        .is_file());
}

#[test]
fn a_mirror_serving_the_wrong_file_fails_over_to_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let server = TestServer::start();
    server.serve_seed("/mirror", &t);
    server.serve_seed("/upstream", &t);
    server.route(
        &format!("/mirror/{FLANNEL_FILE}"),
        b"<html>mirror error page</html>",
        Fault::None,
    );
    write_catalog(dir.path(), &pinned_catalog(&server.url("/upstream"), &t));
    let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/mirror")]);
    assert!(run.ok(), "{}", run.stderr);
    assert_all_extracted(dir.path(), &run);
    assert_eq!(
        server
            .requests_for(&format!("/upstream/{FLANNEL_FILE}"))
            .len(),
        1
    );
    assert!(server
        .requests_for(&format!("/upstream/{KUBE_FILE}"))
        .is_empty());
}

#[test]
fn trust_on_first_use_records_the_hash_and_refuses_a_later_different_file() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let server = TestServer::start();
    server.serve_seed("/mirror", &t);
    let catalog = user_catalog(
        &server.url("/upstream"),
        None,
        Some(&sha256_hex(&t.flannel)),
        Some(&sha256_hex(&t.etcd)),
    );
    write_catalog(dir.path(), &catalog);

    let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/mirror")]);
    assert!(run.ok(), "{}", run.stderr);
    assert_all_extracted(dir.path(), &run);
    let first = sha256_hex(&t.kubernetes);
    assert!(
        run.stderr
            .contains("kubernetes.tar.gz (kubernetes 1.1.4) has no published checksum"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("recorded sha256 {first} in cache/kubedeb.lock")),
        "{}",
        run.stderr
    );
    let lock: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.path().join("cache/kubedeb.lock")).unwrap())
            .unwrap();
    let entry = &lock["tarball"]["kubernetes-1.1.4"];
    assert_eq!(entry["sha256"].as_str(), Some(first.as_str()));
    assert_eq!(entry["file"].as_str(), Some(KUBE_FILE));
    assert_eq!(
        entry["source"].as_str(),
        Some(&*server.url("/mirror/kubernetes.tar.gz"))
    );
    assert_eq!(
        lock["tarball"].as_table().unwrap().len(),
        1,
        "pinned tarballs are not locked"
    );

    // Fetching again needs no network.
    let before = server.requests().len();
    let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/mirror")]);
    assert!(run.ok(), "{}", run.stderr);
    assert!(
        run.stderr.contains("kubernetes 1.1.4: already fetched"),
        "{}",
        run.stderr
    );
    assert_eq!(server.requests().len(), before);

    // The mirror now serves another kubernetes.tar.gz: refused against the lock, nothing extracted.
    let other = kubernetes_tarball(&[
        ("kube-apiserver", elf_program()),
        ("kubelet", elf_program()),
    ]);
    server.route("/mirror/kubernetes.tar.gz", &other, Fault::None);
    std::fs::remove_dir_all(dir.path().join("cache/bin")).unwrap();
    std::fs::remove_dir_all(dir.path().join("cache/downloads")).unwrap();
    let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/mirror")]);
    assert!(!run.ok());
    let second = sha256_hex(&other);
    assert!(
        run.stderr.contains(&format!(
            "sha256 is {second}, but the sha256 recorded in cache/kubedeb.lock"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "from {}) is {first}",
            server.url("/mirror/kubernetes.tar.gz")
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("delete the [tarball.\"kubernetes-1.1.4\"] entry from cache/kubedeb.lock"),
        "{}",
        run.stderr
    );
    assert!(!cached_bin(dir.path(), "kubernetes-1.1.4").exists());
    let lock_now = std::fs::read_to_string(dir.path().join("cache/kubedeb.lock")).unwrap();
    assert!(lock_now.contains(&first) && !lock_now.contains(&second));
}

#[test]
fn trust_on_first_use_never_records_a_file_that_is_not_the_release() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let server = TestServer::start();
    server.serve_seed("/upstream", &t);
    server.route(
        "/mirror/kubernetes.tar.gz",
        b"<html>not here</html>",
        Fault::None,
    );
    server.route(&format!("/mirror/{FLANNEL_FILE}"), &t.flannel, Fault::None);
    server.route(&format!("/mirror/{ETCD_FILE}"), &t.etcd, Fault::None);
    write_catalog(
        dir.path(),
        &user_catalog(
            &server.url("/upstream"),
            None,
            Some(&sha256_hex(&t.flannel)),
            Some(&sha256_hex(&t.etcd)),
        ),
    );
    let run = kubedeb_fetch(dir.path(), &["--mirror", &server.url("/mirror")]);
    assert!(run.ok(), "{}", run.stderr);
    assert_all_extracted(dir.path(), &run);
    let lock = std::fs::read_to_string(dir.path().join("cache/kubedeb.lock")).unwrap();
    assert!(lock.contains(&sha256_hex(&t.kubernetes)), "{lock}");
    assert!(
        lock.contains(&server.url("/upstream/kubernetes.tar.gz")),
        "{lock}"
    );
}

#[test]
fn from_folder_works_offline_with_the_same_checks() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    // The catalog's upstream is a server that must never be asked.
    let server = TestServer::start();
    write_catalog(
        dir.path(),
        &user_catalog(
            &server.url("/upstream"),
            None,
            Some(&sha256_hex(&t.flannel)),
            Some(&sha256_hex(&t.etcd)),
        ),
    );
    t.write_to(&dir.path().join("carried"));

    let run = kubedeb_fetch(
        dir.path(),
        &["--from", "carried", "--mirror", &server.url("/mirror")],
    );
    assert!(run.ok(), "{}", run.stderr);
    assert_all_extracted(dir.path(), &run);
    assert!(
        run.stderr.contains("has no published checksum"),
        "{}",
        run.stderr
    );
    let lock = std::fs::read_to_string(dir.path().join("cache/kubedeb.lock")).unwrap();
    assert!(lock.contains(&sha256_hex(&t.kubernetes)), "{lock}");
    assert!(
        !dir.path()
            .join("cache/downloads/kubernetes.tar.gz")
            .exists(),
        "read in place, not copied"
    );

    // A carried-in file with the wrong hash is refused, and left where the user put it.
    let wrong = flannel_tarball(b"\x7fELF not the pinned one");
    std::fs::write(dir.path().join("carried").join(FLANNEL_FILE), &wrong).unwrap();
    std::fs::remove_dir_all(dir.path().join("cache/bin")).unwrap();
    let run = kubedeb_fetch(dir.path(), &["--from", "carried"]);
    assert!(!run.ok());
    assert!(
        run.stderr.contains(&format!(
            "carried/{FLANNEL_FILE}: sha256 is {}, but the sha256 pinned in catalog.toml is {}",
            sha256_hex(&wrong),
            sha256_hex(&t.flannel)
        )),
        "{}",
        run.stderr
    );
    assert!(!cached_bin(dir.path(), "flannel-0.5.5").exists());
    assert!(dir.path().join("carried").join(FLANNEL_FILE).exists());
    assert!(run.stderr.contains("replace it"), "{}", run.stderr);

    // A missing file is named with where to put it.
    std::fs::remove_file(dir.path().join("carried").join(ETCD_FILE)).unwrap();
    std::fs::remove_dir_all(dir.path().join("cache/bin")).unwrap();
    let run = kubedeb_fetch(dir.path(), &["--from", "carried"]);
    assert!(
        run.stderr
            .contains(&format!("{ETCD_FILE} is not in carried")),
        "{}",
        run.stderr
    );
    assert!(
        server.requests().is_empty(),
        "no network with --from: {:?}",
        server.requests()
    );
}

#[test]
fn a_binary_that_is_not_an_x86_64_executable_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let bad_flannel = flannel_tarball(&shell_script());
    t.write_to(&dir.path().join("carried"));
    std::fs::write(dir.path().join("carried").join(FLANNEL_FILE), &bad_flannel).unwrap();
    write_catalog(
        dir.path(),
        &user_catalog(
            "http://127.0.0.1:9",
            Some(&sha256_hex(&t.kubernetes)),
            Some(&sha256_hex(&bad_flannel)),
            Some(&sha256_hex(&t.etcd)),
        ),
    );
    let run = kubedeb_fetch(dir.path(), &["--from", "carried"]);
    assert!(!run.ok());
    assert!(
        run.stderr.contains("flannel 0.5.5: flanneld (flannel-0.5.5/flanneld in carried/flannel-0.5.5-linux-amd64.tar.gz) is not an x86-64 Linux executable: not an ELF file (it starts with \"#!/bin/sh.ec\")"),
        "{}",
        run.stderr
    );
    assert!(!cached_bin(dir.path(), "flannel-0.5.5").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("cache/bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "no staging folder left behind: {leftovers:?}"
    );
}

#[test]
fn a_binary_missing_from_the_nested_tarball_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    let programs: Vec<(&str, Vec<u8>)> = KUBE_BINARIES
        .iter()
        .filter(|b| **b != "kubectl")
        .map(|b| (*b, elf_program()))
        .collect();
    let kube = kubernetes_tarball(&programs);
    t.write_to(&dir.path().join("carried"));
    std::fs::write(dir.path().join("carried").join(KUBE_FILE), &kube).unwrap();
    write_catalog(
        dir.path(),
        &user_catalog(
            "http://127.0.0.1:9",
            Some(&sha256_hex(&kube)),
            Some(&sha256_hex(&t.flannel)),
            Some(&sha256_hex(&t.etcd)),
        ),
    );
    let run = kubedeb_fetch(dir.path(), &["--from", "carried"]);
    assert!(!run.ok());
    assert!(
        run.stderr.contains("carried/kubernetes.tar.gz has no kubernetes/server/kubernetes-server-linux-amd64.tar.gz → kubernetes/server/bin/kubectl for kubectl"),
        "{}",
        run.stderr
    );
    assert!(!cached_bin(dir.path(), "kubernetes-1.1.4").exists());
}

#[test]
fn fetched_binaries_are_found_without_fetching_again() {
    use kubedeb::catalog::Catalog;
    use kubedeb::config::Config;
    let dir = tempfile::tempdir().unwrap();
    let t = SeedTarballs::new();
    t.write_to(&dir.path().join("carried"));
    write_catalog(dir.path(), &pinned_catalog("http://127.0.0.1:9", &t));
    let config = Config::load(
        &dir.path().join("cluster.toml"),
        Some(MASTER.parse().unwrap()),
    )
    .unwrap();
    let catalog = Catalog::load(Some(&dir.path().join("catalog.toml"))).unwrap();
    let cache = dir.path().join("cache");

    let err = kubedeb::fetch::fetched(&cache, &config.versions, &catalog)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("kubernetes 1.1.4 has not been fetched")
            && err.contains("run `kubedeb fetch`"),
        "{err}"
    );

    let run = kubedeb_fetch(dir.path(), &["--from", "carried"]);
    assert!(run.ok(), "{}", run.stderr);
    let binaries = kubedeb::fetch::fetched(&cache, &config.versions, &catalog).unwrap();
    let names: Vec<&str> = binaries.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "etcd",
            "etcdctl",
            "flanneld",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-proxy",
            "kube-scheduler",
            "kubectl",
            "kubelet"
        ]
    );
    assert_eq!(
        binaries.require("kubelet").unwrap(),
        cache.join("bin/kubernetes-1.1.4/kubelet")
    );
    assert!(binaries
        .require("hyperkube")
        .unwrap_err()
        .to_string()
        .contains("hyperkube"));

    // A catalog pinning another tarball makes the extracted binaries out of date.
    let repinned = user_catalog(
        "http://127.0.0.1:9",
        Some(&"0".repeat(64)),
        Some(&sha256_hex(&t.flannel)),
        Some(&sha256_hex(&t.etcd)),
    );
    let mut catalog = Catalog::load(None).unwrap();
    catalog.merge(Catalog::parse(&repinned, "repinned.toml").unwrap());
    let err = kubedeb::fetch::fetched(&cache, &config.versions, &catalog)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("kubernetes 1.1.4 has not been fetched"),
        "{err}"
    );
}
