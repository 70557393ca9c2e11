//! Rebuilds with the block cache: after a settings change the compressed blocks of unchanged
//! large files are reused, and the package is the one a full build writes — checked with
//! dpkg-deb, xz and gzip, byte for byte.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::deb::*;
use crate::harness::tools::{run, stdout};
use kubedeb::deb::{
    write_deb, write_deb_with_report, BuildOptions, BuildReport, Compression, Control, Entry,
    PackageSpec, Source,
};

/// xz level 1 cuts blocks of 3 MiB, so the 7 MB binary spans three blocks.
const LEVEL: u32 = 1;
const BIG: usize = 7 * 1024 * 1024 + 77;
const MEDIUM: usize = 1536 * 1024 + 5;
/// Below the 1 MiB threshold: packed with the tar headers, never cached.
const SMALL: usize = 900 * 1024;
/// A large file generated in memory rather than read from disk.
const IN_MEMORY: usize = 1200 * 1024 + 3;

/// Compressible like a program: random stretches and repeated ones.
fn program_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        let chunk = random_bytes(4096, seed + i);
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&chunk[..2048]);
        out.extend_from_slice(
            b"kubernetes version 1.1.4 flannel etcd "
                .repeat(20)
                .as_slice(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

struct Payload {
    _src: tempfile::TempDir,
    files: Vec<(String, PathBuf)>,
}

impl Payload {
    fn new() -> Payload {
        let src = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (name, len, seed) in [
            ("kube-apiserver", BIG, 1),
            ("kubelet", MEDIUM, 2),
            ("kube-helper", SMALL, 3),
        ] {
            let path = src.path().join(name);
            fs::write(&path, program_bytes(len, seed)).unwrap();
            files.push((format!("/usr/bin/{name}"), path));
        }
        Payload { _src: src, files }
    }

    /// The package with the given cluster setting in its /etc file.
    fn spec(&self, setting: &str) -> PackageSpec {
        let mut entries: Vec<Entry> = self
            .files
            .iter()
            .map(|(at, path)| Entry::file(at.clone(), 0o755, Source::Path(path.clone())))
            .collect();
        entries.push(Entry::file(
            "/usr/share/k8s-rebuild/generated.bin",
            0o644,
            Source::Bytes(program_bytes(IN_MEMORY, 4)),
        ));
        entries.push(Entry::file(
            "/etc/kubernetes/config",
            0o644,
            Source::Bytes(format!("KUBE_MASTER=\"--master={setting}\"\n").into_bytes()),
        ));
        PackageSpec {
            control: Control {
                package: "k8s-rebuild".into(),
                version: "1.1.4-1".into(),
                architecture: "amd64".into(),
                maintainer: MAINTAINER.into(),
                summary: "rebuild test package".into(),
                ..Default::default()
            },
            entries,
            ..Default::default()
        }
    }
}

fn opts(compression: Compression, cache: Option<&Path>) -> BuildOptions {
    BuildOptions {
        compression,
        level: Some(LEVEL),
        threads: 0,
        source_date_epoch: Some(EPOCH),
        block_cache: cache.map(Path::to_path_buf),
    }
}

fn build(spec: &PackageSpec, opts: &BuildOptions) -> (tempfile::TempDir, PathBuf, BuildReport) {
    let out = tempfile::tempdir().unwrap();
    let (deb, report) = write_deb_with_report(spec, opts, out.path()).unwrap();
    (out, deb, report)
}

/// Blocks the cache holds for the payload: the large files' content, cut at the block size.
fn cached_blocks(compression: Compression) -> u64 {
    let block = match compression {
        Compression::Xz => 3 << 20,
        _ => 4 << 20,
    };
    [BIG, MEDIUM, IN_MEMORY]
        .iter()
        .map(|len| len.next_multiple_of(512).div_ceil(block) as u64)
        .sum()
}

fn data_member(deb: &Path) -> (String, Vec<u8>) {
    ar_members(deb)
        .into_iter()
        .find(|(name, _)| name.starts_with("data.tar"))
        .expect("a data member")
}

/// The compressor's own test of the data member, and for xz its block count.
fn test_member(deb: &Path, dir: &Path) -> Option<u64> {
    let (name, bytes) = data_member(deb);
    let path = dir.join(&name);
    fs::write(&path, bytes).unwrap();
    let tool = if name.ends_with(".xz") { "xz" } else { "gzip" };
    let test = Command::new(tool)
        .arg("-t")
        .arg(&path)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}; install xz-utils and gzip"));
    assert!(test.success(), "{tool} -t {name}");
    if tool != "xz" {
        return None;
    }
    let list = stdout(Command::new("xz").args(["--robot", "--list"]).arg(&path));
    let totals: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("totals"))
        .unwrap()
        .split('\t')
        .collect();
    assert_eq!(totals[1], "1", "one xz stream, or dpkg stops early: {list}");
    Some(totals[2].parse().unwrap())
}

fn fsys_tarfile(deb: &Path) -> Vec<u8> {
    run(Command::new("dpkg-deb").arg("--fsys-tarfile").arg(deb)).stdout
}

fn check_rebuild(compression: Compression) {
    let payload = Payload::new();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path().join("blocks");

    let (_a, _, cold) = build(&payload.spec("10.0.0.1"), &opts(compression, Some(&cache)));
    assert_eq!(cold.blocks_reused, 0, "{cold:?}");
    assert!(
        cold.blocks_compressed > cached_blocks(compression),
        "{cold:?}"
    );

    // The setting changes, the binaries do not.
    let changed = payload.spec("10.0.0.2");
    let (_b, warm_deb, warm) = build(&changed, &opts(compression, Some(&cache)));
    assert_eq!(warm.blocks_reused, cached_blocks(compression), "{warm:?}");
    assert_eq!(
        warm.bytes_reused,
        [BIG, MEDIUM, IN_MEMORY]
            .iter()
            .map(|len| len.next_multiple_of(512) as u64)
            .sum::<u64>(),
        "{warm:?}"
    );
    assert_eq!(warm.cache_entries_corrupt, 0);

    // The same package from scratch: with an empty cache, and with no cache at all.
    let fresh_cache = tempfile::tempdir().unwrap();
    let (_c, full_deb, full) = build(&changed, &opts(compression, Some(fresh_cache.path())));
    assert_eq!(full.blocks_reused, 0);
    let (_d, uncached_deb, _) = build(&changed, &opts(compression, None));
    let warm_bytes = fs::read(&warm_deb).unwrap();
    assert!(
        warm_bytes == fs::read(&full_deb).unwrap(),
        "{compression:?}: the rebuild differs from a full build"
    );
    assert!(warm_bytes == fs::read(&uncached_deb).unwrap());

    assert_eq!(contents(&warm_deb), contents(&full_deb));
    assert!(fsys_tarfile(&warm_deb) == fsys_tarfile(&full_deb));
    let work = tempfile::tempdir().unwrap();
    if let Some(blocks) = test_member(&warm_deb, work.path()) {
        assert!(blocks > cached_blocks(compression), "{blocks} blocks");
    }

    let tree = work.path().join("tree");
    extract_data(&warm_deb, &tree);
    for (at, path) in &payload.files {
        let installed = fs::read(tree.join(&at[1..])).unwrap();
        assert!(installed == fs::read(path).unwrap(), "{at} differs");
    }
    assert!(
        fs::read(tree.join("usr/share/k8s-rebuild/generated.bin")).unwrap()
            == program_bytes(IN_MEMORY, 4)
    );
    assert_eq!(
        fs::read_to_string(tree.join("etc/kubernetes/config")).unwrap(),
        "KUBE_MASTER=\"--master=10.0.0.2\"\n"
    );
    let info = stdout(Command::new("dpkg-deb").arg("--info").arg(&warm_deb));
    assert!(info.contains("Package: k8s-rebuild"), "{info}");
}

#[test]
fn xz_rebuild_reuses_blocks_and_equals_a_full_build() {
    check_rebuild(Compression::Xz);
}

#[test]
fn gzip_rebuild_reuses_members_and_equals_a_full_build() {
    check_rebuild(Compression::Gzip);
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn damaged_cache_entries_are_recompressed_not_used() {
    let payload = Payload::new();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path();
    let options = opts(Compression::Xz, Some(cache));
    let spec = payload.spec("10.0.0.1");
    let (_a, cold_deb, _) = build(&spec, &options);
    let cold = fs::read(&cold_deb).unwrap();

    let stored = entries(cache);
    assert_eq!(stored.len() as u64, cached_blocks(Compression::Xz));
    // One entry with a flipped bit in its compressed data, one cut short, one emptied.
    let mut bytes = fs::read(&stored[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    fs::write(&stored[0], bytes).unwrap();
    let len = fs::metadata(&stored[1]).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&stored[1])
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    fs::write(&stored[2], b"").unwrap();

    let (_b, rebuilt_deb, report) = build(&spec, &options);
    assert_eq!(report.cache_entries_corrupt, 3, "{report:?}");
    assert_eq!(
        report.blocks_reused,
        cached_blocks(Compression::Xz) - 3,
        "{report:?}"
    );
    assert!(
        fs::read(&rebuilt_deb).unwrap() == cold,
        "damage reached the package"
    );
    let work = tempfile::tempdir().unwrap();
    test_member(&rebuilt_deb, work.path());

    // The damaged entries were replaced by sound ones.
    let (_c, _, again) = build(&spec, &options);
    assert_eq!(again.cache_entries_corrupt, 0, "{again:?}");
    assert_eq!(again.blocks_reused, cached_blocks(Compression::Xz));
    assert_eq!(entries(cache), stored, "same entries, no temporary files");
}

#[test]
fn zstd_builds_ignore_the_cache() {
    let payload = Payload::new();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path().join("blocks");
    let options = opts(Compression::Zstd, Some(&cache));
    let (_a, deb, report) = build(&payload.spec("x"), &options);
    assert_eq!(report, BuildReport::default());
    assert!(!cache.exists(), "zstd writes one frame and caches nothing");
    assert!(contents(&deb)
        .iter()
        .any(|l| l.path == "./usr/bin/kube-apiserver"));
}

#[test]
fn unusable_cache_folder_is_named_in_the_error() {
    let payload = Payload::new();
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("blocks");
    fs::write(&not_a_dir, b"a file where the cache should be").unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = write_deb(
        &payload.spec("x"),
        &opts(Compression::Xz, Some(&not_a_dir)),
        out.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&not_a_dir.display().to_string()) && err.contains("--block-cache none"),
        "{err}"
    );
    assert!(
        entries(out.path()).is_empty(),
        "nothing is left in the output folder"
    );
}
