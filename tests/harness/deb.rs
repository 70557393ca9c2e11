//! Test helpers for .deb files: a realistic package spec with sources on disk, readers of what dpkg-deb and ar see, and a throw-away dpkg root.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::tools::{run, stdout};

use kubedeb::deb::{Control, Entry, PackageSpec, Scripts, Source};

pub const PACKAGE: &str = "kubedeb-test";
pub const VERSION: &str = "1.1.4-1";
pub const MAINTAINER: &str = "Kube Deb Maintainers <kubedeb@example.org>";
pub const BLOB_SIZE: usize = 3 * 1024 * 1024 + 123;
/// 2016-01-01, after lintian's "ancient file" limit and before any file written today.
pub const EPOCH: u64 = 1_451_606_400;

/// Deterministic pseudo-random bytes (xorshift), incompressible enough to exercise the codecs.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A component name that makes the data path well over 100 bytes.
pub fn deep_dir() -> String {
    format!(
        "/usr/share/{PACKAGE}/{}/{}",
        "nested-directory-".repeat(4),
        "another-long-level-".repeat(3)
    )
}

pub fn deep_file() -> String {
    format!("{}/deep.txt", deep_dir())
}

/// The relative target of the long symlink; over 100 bytes as well.
pub fn long_target() -> String {
    deep_file()
        .trim_start_matches(&format!("/usr/share/{PACKAGE}/"))
        .to_string()
}

pub const HELLO: &str = "#!/bin/sh\nset -e\necho \"hello from kubedeb\"\n";
pub const CONFIG: &str = "# kubedeb test configuration\nlisten = \"127.0.0.1:8080\"\n";
pub const DEFAULTS: &str = "# Defaults for kubedeb-test\nKUBEDEB_TEST_OPTS=\"\"\n";
pub const POSTINST: &str =
    "#!/bin/sh\nset -e\necho \"postinst $1\" >> /var/lib/kubedeb-test/scripts.log\n";
pub const POSTRM: &str = "#!/bin/sh\nset -e\nif [ \"$1\" = purge ]; then\n\trm -f /var/lib/kubedeb-test/scripts.log\n\trmdir /var/lib/kubedeb-test 2>/dev/null || true\nfi\n";

pub fn copyright() -> String {
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {PACKAGE}\n\
         Source: https://example.org/kubedeb\n\
         \n\
         Files: *\n\
         Copyright: 2016 The Kubernetes Authors\n\
         License: Apache-2.0\n \
         On Debian systems, the full text of the Apache License 2.0 can be found\n \
         in /usr/share/common-licenses/Apache-2.0.\n"
    )
}

pub fn changelog() -> String {
    format!(
        "{PACKAGE} ({VERSION}) unstable; urgency=medium\n\
         \n  * Package the test tool.\n\
         \n -- {MAINTAINER}  Fri, 01 Jan 2016 00:00:00 +0000\n"
    )
}

/// `gzip -9n`, as lintian wants changelogs compressed.
pub fn gzip_best(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The files the realistic spec installs, with their expected bytes.
pub struct Fixture {
    pub src: tempfile::TempDir,
    pub spec: PackageSpec,
}

impl Fixture {
    /// A package a Debian developer would ship: a /usr/bin tool, a few-MB binary payload,
    /// conffiles under /etc, a symlink, a deep path, docs and maintainer scripts.
    pub fn new() -> Fixture {
        let src = tempfile::tempdir().unwrap();
        let blob = random_bytes(BLOB_SIZE, 0x5eed);
        let hello = src.path().join("kubedeb-hello");
        fs::write(&hello, HELLO).unwrap();
        fs::set_permissions(&hello, fs::Permissions::from_mode(0o700)).unwrap();
        let blob_path = src.path().join("payload.bin");
        fs::write(&blob_path, &blob).unwrap();
        let doc = format!("/usr/share/doc/{PACKAGE}");
        let spec = PackageSpec {
            control: Control {
                package: PACKAGE.into(),
                version: VERSION.into(),
                architecture: "amd64".into(),
                maintainer: MAINTAINER.into(),
                summary: "test package built by the kubedeb writer".into(),
                long_description: "This package exercises every feature of the writer.\n\
                    \n\
                    It carries a shell tool, a binary payload, configuration files and\n\
                    a symlink.\n\
                    \n\
                    \x20 An indented, verbatim line.\n"
                    .into(),
                section: Some("admin".into()),
                priority: Some("optional".into()),
                homepage: Some("https://example.org/kubedeb".into()),
                depends: vec!["dash (>= 0.5)".into(), "iptables | nftables".into()],
                ..Default::default()
            },
            scripts: Scripts {
                postinst: Some(POSTINST.into()),
                postrm: Some(POSTRM.into()),
                ..Default::default()
            },
            entries: vec![
                Entry::file("/usr/bin/kubedeb-hello", 0o755, Source::Path(hello)),
                Entry::symlink("/usr/bin/kubedeb-hi", "kubedeb-hello"),
                Entry::file(
                    format!("/usr/lib/{PACKAGE}/payload.bin"),
                    0o644,
                    Source::Path(blob_path),
                ),
                Entry::file(
                    format!("/etc/{PACKAGE}/config.toml"),
                    0o644,
                    Source::Bytes(CONFIG.into()),
                ),
                Entry::file(
                    format!("/etc/default/{PACKAGE}"),
                    0o644,
                    Source::Bytes(DEFAULTS.into()),
                ),
                Entry::file(deep_file(), 0o644, Source::Bytes(b"deep\n".to_vec())),
                Entry::symlink(format!("/usr/share/{PACKAGE}/deep-link"), long_target()),
                Entry::file(
                    format!("{doc}/copyright"),
                    0o644,
                    Source::Bytes(copyright().into()),
                ),
                Entry::file(
                    format!("{doc}/changelog.Debian.gz"),
                    0o644,
                    Source::Bytes(gzip_best(changelog().as_bytes())),
                ),
                Entry::dir(format!("/var/lib/{PACKAGE}"), 0o750),
            ],
        };
        Fixture { src, spec }
    }

    /// The bytes each regular file should have once installed, by install path.
    pub fn expected_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = self
            .spec
            .entries
            .iter()
            .filter_map(|e| match &e.kind {
                kubedeb::deb::EntryKind::File(Source::Bytes(b)) => {
                    Some((e.path.clone(), b.clone()))
                }
                kubedeb::deb::EntryKind::File(Source::Path(p)) => {
                    Some((e.path.clone(), fs::read(p).unwrap()))
                }
                _ => None,
            })
            .collect();
        files.sort();
        files
    }
}

/// One line of `dpkg-deb --contents`: permissions, owner, size, path, symlink target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub perms: String,
    pub owner: String,
    pub size: u64,
    pub path: String,
    pub target: Option<String>,
}

pub fn contents(deb: &Path) -> Vec<Listed> {
    stdout(Command::new("dpkg-deb").arg("--contents").arg(deb))
        .lines()
        .map(parse_listing)
        .collect()
}

/// Parses `tar -tv` style output: perms owner size date time path[ -> target].
pub fn parse_listing(line: &str) -> Listed {
    let mut rest = line;
    let mut fields = Vec::new();
    for _ in 0..5 {
        rest = rest.trim_start();
        let end = rest
            .find(' ')
            .unwrap_or_else(|| panic!("odd line {line:?}"));
        fields.push(&rest[..end]);
        rest = &rest[end + 1..];
    }
    let (path, target) = match rest.split_once(" -> ") {
        Some((p, t)) => (p.to_string(), Some(t.to_string())),
        None => (rest.to_string(), None),
    };
    Listed {
        perms: fields[0].to_string(),
        owner: fields[1].to_string(),
        size: fields[2].parse().unwrap(),
        path,
        target,
    }
}

/// Extracts the data archive of `deb` into `dir` with dpkg-deb and tar.
pub fn extract_data(deb: &Path, dir: &Path) {
    let tarball = dir.with_extension("tar");
    let out = run(Command::new("dpkg-deb").arg("--fsys-tarfile").arg(deb));
    fs::write(&tarball, out.stdout).unwrap();
    fs::create_dir_all(dir).unwrap();
    run(Command::new("tar")
        .arg("-xf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir)
        .arg("--same-permissions"));
    fs::remove_file(tarball).unwrap();
}

/// The ar member names in order, read straight from the file.
pub fn ar_members(deb: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = fs::read(deb).unwrap();
    assert_eq!(&bytes[..8], b"!<arch>\n");
    let mut pos = 8;
    let mut members = Vec::new();
    while pos < bytes.len() {
        let header = &bytes[pos..pos + 60];
        assert_eq!(&header[58..], b"`\n", "bad ar header at {pos}");
        let name = String::from_utf8(header[..16].to_vec())
            .unwrap()
            .trim_end()
            .to_string();
        let size: usize = std::str::from_utf8(&header[48..58])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let start = pos + 60;
        members.push((name, bytes[start..start + size].to_vec()));
        pos = start + size + size % 2;
    }
    assert_eq!(pos, bytes.len(), "trailing bytes after the last ar member");
    members
}

/// A root directory for `dpkg --root`: an empty database plus /bin/sh, rm and rmdir with
/// their libraries, because dpkg runs maintainer scripts chrooted into it.
pub struct DpkgRoot {
    pub dir: tempfile::TempDir,
}

impl DpkgRoot {
    pub fn new() -> DpkgRoot {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let admin = root.join("var/lib/dpkg");
        for sub in ["updates", "info", "triggers"] {
            fs::create_dir_all(admin.join(sub)).unwrap();
        }
        for file in ["status", "available"] {
            fs::write(admin.join(file), "").unwrap();
        }
        for (host, inside) in [
            ("/bin/dash", "bin/sh"),
            ("/bin/rm", "bin/rm"),
            ("/bin/rmdir", "bin/rmdir"),
        ] {
            copy_with_libs(host, root, inside);
        }
        DpkgRoot { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `dpkg --root=<root> <args>` and requires success.
    pub fn dpkg(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("dpkg");
        cmd.arg(format!("--root={}", self.path().display()))
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)
    }

    /// The package's stanza in the status file, or "" when dpkg forgot it.
    pub fn status_of(&self, package: &str) -> String {
        let status = fs::read_to_string(self.path().join("var/lib/dpkg/status")).unwrap();
        status
            .split("\n\n")
            .find(|s| s.lines().any(|l| l == format!("Package: {package}")))
            .unwrap_or("")
            .to_string()
    }

    pub fn installed(&self, path: &str) -> PathBuf {
        self.path().join(path.trim_start_matches('/'))
    }
}

fn copy_with_libs(host: &str, root: &Path, inside: &str) {
    let dest = root.join(inside);
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::copy(host, &dest).unwrap();
    let ldd = stdout(Command::new("ldd").arg(host));
    for lib in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
        let dest = root.join(lib.trim_start_matches('/'));
        if !dest.exists() {
            fs::create_dir_all(dest.parent().unwrap()).unwrap();
            fs::copy(lib, dest).unwrap();
        }
    }
}
