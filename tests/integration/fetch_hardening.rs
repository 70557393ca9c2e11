//! Hostile and unlucky inputs to `fetch`, `build` and `up` through the real binary: tar name-record
//! bombs, duplicate members, size limits, concurrent fetches, leftovers of killed runs, a changed
//! `--from` tarball, tampered cache entries, a refused `up` and broken unit overrides.

use crate::harness::fixtures::*;
use crate::harness::{bin, images};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const MASTER: &str = "192.168.100.11";

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = bin::kubedeb_in(dir);
    cmd.args(args);
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("run kubedeb")
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: &Output) {
    assert!(out.status.success(), "kubedeb failed: {}", text(out));
}

/// Refused with a clear error: non-zero exit, an `error:` line holding every one of `words`.
fn refused(out: &Output, words: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should be refused: {}", text(out));
    for w in words {
        assert!(stderr.contains(w), "error should say {w:?}: {stderr}");
    }
    stderr
}

const FETCH: &[&str] = &[
    "fetch",
    "--master-ip",
    MASTER,
    "--catalog",
    "catalog.toml",
    "--cache",
    "cache",
    "--from",
    "tarballs",
];

const BUILD: &[&str] = &[
    "build",
    "--master-ip",
    MASTER,
    "--catalog",
    "catalog.toml",
    "--cache",
    "cache",
    "--dist",
    "dist",
    "--compression",
    "gzip",
    "--block-cache",
    "blocks",
];

/// A project folder with these tarballs in `tarballs/` and a catalog pinning their hashes.
/// The images the settings need are in `cache/`, as fetch leaves them.
fn project_with(t: &SeedTarballs) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    t.write_to(&dir.path().join("tarballs"));
    pin(dir.path(), t);
    images::put_default_images(&dir.path().join("cache"));
    dir
}

fn pin(dir: &Path, t: &SeedTarballs) {
    let catalog = user_catalog(
        "http://upstream.invalid",
        Some(&sha256_hex(&t.kubernetes)),
        Some(&sha256_hex(&t.flannel)),
        Some(&sha256_hex(&t.etcd)),
    );
    std::fs::write(dir.join("catalog.toml"), catalog).unwrap();
}

/// A project whose catalog pins no Kubernetes tarball, as the built-in one: it is trusted on
/// first use. (flannel and etcd are pinned to the fixtures: a user entry overrides only the
/// fields it names, so without a pin of its own it would keep the built-in published hash.)
fn unpinned_project(t: &SeedTarballs) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    t.write_to(&dir.path().join("tarballs"));
    let catalog = user_catalog(
        "http://upstream.invalid",
        None,
        Some(&sha256_hex(&t.flannel)),
        Some(&sha256_hex(&t.etcd)),
    );
    std::fs::write(dir.path().join("catalog.toml"), catalog).unwrap();
    images::put_default_images(&dir.path().join("cache"));
    dir
}

/// A raw tar header block for `path` (GNU format), checksummed.
fn header(path: &[u8], kind: tar::EntryType, size: u64) -> [u8; 512] {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..path.len()].copy_from_slice(path);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_450_000_000);
    h.set_cksum();
    *h.as_bytes()
}

/// kubernetes.tar.gz whose first member has a GNU long-name record of `name_len` zero bytes:
/// under a megabyte gzipped, but a reader that buffers the record holds all of it.
fn long_name_bomb(name_len: u64) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&header(
        b"././@LongLink",
        tar::EntryType::GNULongName,
        name_len,
    ))
    .unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = name_len.next_multiple_of(512);
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        gz.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    gz.write_all(&header(b"kubernetes/README.md", tar::EntryType::Regular, 0))
        .unwrap();
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap()
}

/// The peak resident memory (VmHWM, bytes) of `child` until it exits, polled from /proc.
fn peak_rss(child: &mut Child) -> (u64, std::process::ExitStatus) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib * 1024);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (peak, status);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_long_name_record_bomb_is_refused_with_bounded_memory() {
    let mut t = SeedTarballs::new();
    t.kubernetes = long_name_bomb(384 << 20);
    assert!(t.kubernetes.len() < 2 << 20, "the bomb is small");
    let dir = unpinned_project(&t);
    let mut child = command(dir.path(), FETCH)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (peak, _) = peak_rss(&mut child);
    let out = child.wait_with_output().unwrap();
    assert!(
        peak < 200 << 20,
        "fetch peaked at {} MiB for a {} KiB tarball",
        peak >> 20,
        t.kubernetes.len() >> 10
    );
    refused(&out, &["kubernetes.tar.gz", "GNU long name", "bytes"]);
    assert!(!dir.path().join("cache/bin/kubernetes-1.1.4").exists());
}

#[test]
fn a_wanted_member_present_twice_is_refused() {
    let program = elf_program();
    let mut other = std::fs::read("/bin/false").unwrap();
    other.extend_from_slice(b"another program");
    let mut t = SeedTarballs::new();
    t.etcd = tar_gz(&[
        ("etcd-v2.2.1-linux-amd64/", b"", 0o755),
        ("etcd-v2.2.1-linux-amd64/etcd", &program, 0o755),
        ("etcd-v2.2.1-linux-amd64/etcdctl", &program, 0o755),
        ("./etcd-v2.2.1-linux-amd64/etcd", &other, 0o755),
    ]);
    let dir = project_with(&t);
    let out = run(dir.path(), FETCH);
    refused(&out, &["etcd-v2.2.1-linux-amd64/etcd", "twice", "GNU tar"]);
    assert!(!dir.path().join("cache/bin/etcd-2.2.1/etcd").exists());
}

/// cluster.toml from `kubedeb init`, with `[fetch]` settings appended by replacing the section head.
fn init_with_fetch_settings(dir: &Path, settings: &str) {
    ok(&run(dir, &["init", "--master-ip", MASTER]));
    let toml = std::fs::read_to_string(dir.join("cluster.toml")).unwrap();
    let mut lines: Vec<String> = toml.lines().map(String::from).collect();
    for (key, value) in settings.lines().filter_map(|l| l.split_once(" = ")) {
        lines.retain(|l| !l.starts_with(&format!("{key} =")));
        let at = lines.iter().position(|l| l == "[fetch]").unwrap();
        lines.insert(at + 1, format!("{key} = {value}"));
    }
    std::fs::write(dir.join("cluster.toml"), lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_binary_larger_than_fetch_max_binary_is_refused() {
    let t = SeedTarballs::new();
    let dir = project_with(&t);
    init_with_fetch_settings(dir.path(), "max_binary = \"16 KiB\"");
    let out = run(
        dir.path(),
        &[
            "fetch",
            "--catalog",
            "catalog.toml",
            "--cache",
            "cache",
            "--from",
            "tarballs",
        ],
    );
    refused(&out, &["fetch.max_binary", "16384 bytes"]);
}

#[test]
fn a_download_larger_than_fetch_max_download_is_cut_off() {
    let t = SeedTarballs::new();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    server.serve_seed("/mirror", &t);
    std::fs::write(
        dir.path().join("catalog.toml"),
        user_catalog(
            &server.url("/upstream"),
            Some(&sha256_hex(&t.kubernetes)),
            Some(&sha256_hex(&t.flannel)),
            Some(&sha256_hex(&t.etcd)),
        ),
    )
    .unwrap();
    init_with_fetch_settings(dir.path(), "max_download = \"4 KiB\"");
    let out = run(
        dir.path(),
        &[
            "fetch",
            "--catalog",
            "catalog.toml",
            "--cache",
            "cache",
            "--mirror",
            &server.url("/mirror"),
        ],
    );
    refused(&out, &["fetch.max_download", "4096 bytes"]);
    let kept = dir.path().join("cache/downloads/kubernetes.tar.gz.part");
    assert!(
        std::fs::metadata(&kept).map_or(0, |m| m.len()) <= 4096,
        "nothing beyond the limit is kept"
    );
}

#[test]
fn a_decompression_bomb_is_refused_by_fetch_max_download() {
    let mut t = SeedTarballs::new();
    let zeros = vec![0u8; 8 << 20];
    t.etcd = tar_gz(&[
        ("etcd-v2.2.1-linux-amd64/", b"", 0o755),
        ("etcd-v2.2.1-linux-amd64/README.md", &zeros, 0o644),
        ("etcd-v2.2.1-linux-amd64/etcd", &elf_program(), 0o755),
        ("etcd-v2.2.1-linux-amd64/etcdctl", &elf_program(), 0o755),
    ]);
    assert!(t.etcd.len() < 256 << 10);
    let dir = project_with(&t);
    init_with_fetch_settings(dir.path(), "max_download = \"512 KiB\"");
    let out = run(
        dir.path(),
        &[
            "fetch",
            "--catalog",
            "catalog.toml",
            "--cache",
            "cache",
            "--from",
            "tarballs",
        ],
    );
    refused(
        &out,
        &[ETCD_FILE, "decompression bomb", "fetch.max_download"],
    );
}

#[test]
fn concurrent_fetches_on_one_cache_all_succeed() {
    let t = SeedTarballs::new();
    for round in 0..30 {
        let dir = project_with(&t);
        let spawn = || {
            command(dir.path(), FETCH)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let children: Vec<Child> = (0..3).map(|_| spawn()).collect();
        for out in children.into_iter().map(|c| c.wait_with_output().unwrap()) {
            assert!(out.status.success(), "round {round}: {}", text(&out));
        }
        assert_eq!(
            std::fs::read(dir.path().join("cache/bin/etcd-2.2.1/etcd")).unwrap(),
            elf_program()
        );
    }
}

#[test]
fn a_build_during_a_fetch_on_its_cache_reads_whole_binaries() {
    let t = SeedTarballs::new();
    let dir = project_with(&t);
    ok(&run(dir.path(), FETCH));
    for round in 0..10 {
        // --from re-extracts every time: the fetch replaces the binaries the build reads.
        let fetch = command(dir.path(), FETCH)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let build = command(dir.path(), BUILD)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        for out in [
            fetch.wait_with_output().unwrap(),
            build.wait_with_output().unwrap(),
        ] {
            assert!(out.status.success(), "round {round}: {}", text(&out));
        }
    }
}

#[test]
fn a_killed_fetch_leaves_no_staging_folder_behind() {
    let t = SeedTarballs::new();
    let dir = project_with(&t);
    let stale = dir
        .path()
        .join("cache/bin/.staging-kubernetes-1.1.4-AbC123");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("kube-apiserver"), vec![0u8; 1 << 16]).unwrap();
    ok(&run(dir.path(), FETCH));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("cache/bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging-"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_different_tarball_given_with_from_is_refused_even_when_cached() {
    let t = SeedTarballs::new();
    let dir = unpinned_project(&t);
    ok(&run(dir.path(), FETCH));
    let mut other = std::fs::read("/bin/false").unwrap();
    other.extend_from_slice(b"not the trusted release");
    std::fs::write(
        dir.path().join("tarballs").join(KUBE_FILE),
        kubernetes_tarball_of(&other),
    )
    .unwrap();
    let out = run(dir.path(), FETCH);
    refused(&out, &[KUBE_FILE, "sha256"]);
    assert_eq!(
        std::fs::read(dir.path().join("cache/bin/kubernetes-1.1.4/kubelet")).unwrap(),
        elf_program(),
        "the cached binaries stay those of the tarball trusted on first use"
    );
}

#[test]
fn a_tampered_binary_in_the_cache_is_refused_at_build() {
    let t = SeedTarballs::new();
    let dir = project_with(&t);
    ok(&run(dir.path(), FETCH));
    let etcd = dir.path().join("cache/bin/etcd-2.2.1/etcd");
    let mut bytes = std::fs::read(&etcd).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&etcd, &bytes).unwrap();
    let out = run(dir.path(), BUILD);
    refused(&out, &["cache/bin/etcd-2.2.1/etcd", "kubedeb fetch"]);
    let dist = dir.path().join("dist");
    let debs = std::fs::read_dir(&dist).map_or(0, |d| {
        d.filter(|e| e.as_ref().unwrap().path().extension() == Some("deb".as_ref()))
            .count()
    });
    assert_eq!(debs, 0, "nothing was built");
    // A new fetch notices and extracts it again.
    ok(&run(dir.path(), FETCH));
    assert_eq!(std::fs::read(&etcd).unwrap(), elf_program());
    ok(&run(dir.path(), BUILD));
}

/// A program of `len` bytes: the fixture ELF padded with `fill`.
fn padded(len: usize, fill: u8) -> Vec<u8> {
    let mut p = elf_program();
    p.resize(len, fill);
    p
}

fn etcd_project(etcd: &[u8], etcdctl: &[u8], rest: &[u8]) -> tempfile::TempDir {
    let t = SeedTarballs {
        kubernetes: kubernetes_tarball_of(rest),
        flannel: flannel_tarball(rest),
        etcd: tar_gz(&[
            ("etcd-v2.2.1-linux-amd64/", b"", 0o755),
            ("etcd-v2.2.1-linux-amd64/etcd", etcd, 0o755),
            ("etcd-v2.2.1-linux-amd64/etcdctl", etcdctl, 0o755),
        ]),
    };
    let dir = project_with(&t);
    ok(&run(dir.path(), FETCH));
    ok(&run(dir.path(), BUILD));
    dir
}

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".blk"))
        .collect()
}

/// The contents of `/usr/bin/<name>` in a built package.
fn packaged(deb: &Path, name: &str) -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(out.path())
        .status()
        .expect("dpkg-deb (apt-get install dpkg)");
    assert!(status.success());
    std::fs::read(out.path().join("usr/bin").join(name)).unwrap()
}

fn deb_named(dist: &Path, package: &str) -> PathBuf {
    std::fs::read_dir(dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&format!("{package}_")) && name.ends_with(".deb")
        })
        .unwrap_or_else(|| panic!("no {package} in {}", dist.display()))
}

#[test]
fn swapped_block_cache_entries_are_not_used() {
    // Same length, different bytes: the blocks differ only in content, not in size.
    let len = (1 << 20) + (1 << 19);
    let (p, q, r) = (padded(len, 0), padded(len, 1), padded(len, 2));
    let both = etcd_project(&p, &q, &r);
    let p_only = etcd_project(&p, &p, &r);
    let neither = etcd_project(&r, &r, &r);
    let q_entry: Vec<_> = entries(both.path())
        .difference(&entries(p_only.path()))
        .cloned()
        .collect();
    let p_entry: Vec<_> = entries(p_only.path())
        .difference(&entries(neither.path()))
        .cloned()
        .collect();
    assert_eq!((p_entry.len(), q_entry.len()), (1, 1), "one block each");
    let blocks = both.path().join("blocks");
    let (p_path, q_path) = (blocks.join(&p_entry[0]), blocks.join(&q_entry[0]));
    let (p_bytes, q_bytes) = (
        std::fs::read(&p_path).unwrap(),
        std::fs::read(&q_path).unwrap(),
    );
    std::fs::write(&p_path, &q_bytes).unwrap();
    std::fs::write(&q_path, &p_bytes).unwrap();
    std::fs::remove_dir_all(both.path().join("dist")).unwrap();
    ok(&run(both.path(), BUILD));
    let master = deb_named(&both.path().join("dist"), "k8s-master");
    assert!(
        packaged(&master, "etcd") == p,
        "/usr/bin/etcd is etcd's bytes"
    );
    assert!(
        packaged(&master, "etcdctl") == q,
        "/usr/bin/etcdctl is etcdctl's bytes"
    );
}

#[test]
fn a_killed_build_leaves_no_temporary_file_in_dist() {
    let t = SeedTarballs::new();
    let dir = project_with(&t);
    ok(&run(dir.path(), FETCH));
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let stale = dist.join(".k8s-master_1.1.4-1_amd64.deb.Xy12Zw.tmp");
    std::fs::write(&stale, vec![0u8; 1 << 16]).unwrap();
    ok(&run(dir.path(), BUILD));
    let hidden: Vec<_> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(hidden.is_empty(), "left in dist/: {hidden:?}");
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_refused_up_leaves_dist_as_it_was() {
    let t = SeedTarballs::new();
    let dir = project_with(&t);
    let d = dir.path();
    ok(&run(d, &["init", "--master-ip", "10.20.0.1"]));
    let up = [
        "up",
        "--from",
        "tarballs",
        "--catalog",
        "catalog.toml",
        "--compression",
        "gzip",
    ];
    ok(&run(d, &up));
    let before = snapshot(&d.join("dist"));
    assert_eq!(
        before.keys().filter(|n| n.ends_with(".deb")).count(),
        4,
        "{:?}",
        before.keys()
    );
    let toml = std::fs::read_to_string(d.join("cluster.toml"))
        .unwrap()
        .replace("cluster.local", "k8s.example");
    std::fs::write(d.join("cluster.toml"), toml).unwrap();
    let out = run(d, &up);
    refused(&out, &["revision"]);
    assert!(
        snapshot(&d.join("dist")) == before,
        "dist/ changed although publish refused"
    );
    let subdirs: Vec<_> = std::fs::read_dir(d.join("dist"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert!(subdirs.is_empty(), "left in dist/: {subdirs:?}");
    // What the README says next still works: publishing dist/*.deb by hand.
    let debs: Vec<String> = before
        .keys()
        .filter(|n| n.ends_with(".deb"))
        .map(|n| format!("dist/{n}"))
        .collect();
    let mut publish = vec!["publish"];
    publish.extend(debs.iter().map(String::as_str));
    ok(&run(d, &publish));
}

/// What `systemd-analyze verify` says about a unit file.
fn systemd_verify(unit: &Path) -> String {
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .expect("systemd-analyze (apt-get install systemd)");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn invalid_unit_overrides_are_refused_naming_file_and_line() {
    let t = SeedTarballs::new();
    let dir = project_with(&t);
    ok(&run(dir.path(), FETCH));
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/systemd/etcd.service"),
    )
    .unwrap();
    // The shipped unit as an override builds, and systemd has nothing to say about it.
    let templates = dir.path().join("templates-override");
    std::fs::create_dir_all(templates.join("systemd")).unwrap();
    std::fs::write(templates.join("systemd/etcd.service"), &shipped).unwrap();
    let mut args = BUILD.to_vec();
    args.extend(["--templates", "templates-override"]);
    ok(&run(dir.path(), &args));
    assert_eq!(systemd_verify(&templates.join("systemd/etcd.service")), "");
    std::fs::remove_dir_all(dir.path().join("dist")).unwrap();
    let line_of = |needle: &str| {
        shipped
            .lines()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("the shipped etcd.service has no {needle}"))
            + 1
    };
    let cases = [
        ("[Unit]", "[Unit", "]"),
        ("Type=notify", "Type=bogus", "Type=bogus"),
        (
            "ExecStart=/usr/bin/etcd",
            "ExecStart=usr/bin/etcd",
            "absolute path",
        ),
    ];
    for (good, bad, says) in cases {
        assert!(shipped.contains(good), "{good}");
        std::fs::write(
            templates.join("systemd/etcd.service"),
            shipped.replacen(good, bad, 1),
        )
        .unwrap();
        let out = run(dir.path(), &args);
        let line = format!("line {}", line_of(good));
        refused(&out, &["systemd/etcd.service", "--templates", &line, says]);
        // systemd itself objects to the same line.
        let systemd = systemd_verify(&templates.join("systemd/etcd.service"));
        assert!(
            systemd.contains(&format!("etcd.service:{}:", line_of(good))),
            "{bad}: systemd-analyze said: {systemd}"
        );
        assert!(
            !dir.path().join("dist").exists()
                || std::fs::read_dir(dir.path().join("dist"))
                    .unwrap()
                    .all(|e| !e
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("k8s-master")),
            "{bad}: no k8s-master package written"
        );
    }
}
