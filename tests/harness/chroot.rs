//! Debian 12 roots to install the packages into: built once with mmdebstrap, unpacked fresh per test, no systemd running.

use crate::harness::tools::{all_output, run_any, text};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Debian 12 with what the packages depend on (docker.io included), built once with mmdebstrap
/// into the target dir and unpacked fresh for each test.
fn bookworm_tarball() -> PathBuf {
    // procps: docker.io's unit reloads with /bin/kill, which every real system has.
    const INCLUDE: &str =
        "openssl,iproute2,iptables,passwd,init-system-helpers,systemd,procps,docker.io";
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(&dir).unwrap();
    // The name follows the package list, so a changed list never reuses an old image.
    let tag: String = INCLUDE
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        .to_string();
    let tarball = dir.join(format!("kubedeb-h4-bookworm-{tag}.tar"));
    let lock = fs::File::create(dir.join("kubedeb-h4-bookworm.lock")).unwrap();
    lock.lock().unwrap();
    if !tarball.is_file() {
        let partial = tarball.with_extension("tar.partial");
        let _ = fs::remove_dir_all(&partial);
        let _ = fs::remove_file(&partial);
        all_output(
            Command::new("mmdebstrap")
                .args(["--quiet", "--format=tar", "--variant=apt", "bookworm"])
                .arg(format!("--include={INCLUDE}"))
                .arg(&partial)
                .arg("http://deb.debian.org/debian"),
        );
        fs::rename(&partial, &tarball).unwrap();
    }
    tarball
}

/// An unpacked Debian 12 root, removed on drop. Nothing is mounted into it: no cleanup beyond
/// the folder is ever needed, and the packages' scripts see no running systemd.
pub struct Chroot {
    dir: tempfile::TempDir,
}

impl Chroot {
    pub fn new() -> Chroot {
        let tarball = bookworm_tarball();
        let dir = tempfile::tempdir().unwrap();
        all_output(
            Command::new("tar")
                .arg("-C")
                .arg(dir.path())
                .arg("-xf")
                .arg(&tarball),
        );
        // Everything the packages need is in the image: the install must not download.
        let lists = dir.path().join("etc/apt/sources.list.d");
        if lists.is_dir() {
            for e in fs::read_dir(&lists).unwrap() {
                fs::remove_file(e.unwrap().path()).unwrap();
            }
        }
        let _ = fs::remove_file(dir.path().join("etc/apt/sources.list"));
        fs::create_dir_all(dir.path().join("tmp/debs")).unwrap();
        Chroot { dir }
    }

    /// The root folder on the host.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the root, as seen from the host.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p.trim_start_matches('/'))
    }

    /// Runs `script` with `sh -e` inside the root; whatever its exit status.
    pub fn sh_any(&self, script: &str) -> Output {
        run_any(
            Command::new("chroot")
                .arg(self.dir.path())
                .args(["/bin/sh", "-ec", script])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        )
    }

    /// Runs `script` inside the root, which must succeed; its stdout and stderr.
    pub fn sh(&self, script: &str) -> String {
        let out = self.sh_any(script);
        assert!(out.status.success(), "{script}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// Copies `debs` into /tmp/debs and installs them with apt; its output.
    pub fn install(&self, debs: &[PathBuf]) -> String {
        let mut inside = Vec::new();
        for deb in debs {
            let name = deb.file_name().unwrap().to_string_lossy().into_owned();
            fs::copy(deb, self.path(&format!("/tmp/debs/{name}"))).unwrap();
            inside.push(format!("/tmp/debs/{name}"));
        }
        self.sh(&format!("apt-get install -y {} 2>&1", inside.join(" ")))
    }

    pub fn read(&self, p: &str) -> Vec<u8> {
        fs::read(self.path(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// The names in one folder of the root.
    pub fn names(&self, dir: &str) -> BTreeSet<String> {
        fs::read_dir(self.path(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Paths below `dirs` (files, links and folders), for before/after comparisons.
    pub fn tree(&self, dirs: &[&str]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for d in dirs {
            walk(self.dir.path(), &self.path(d), &mut out);
        }
        out
    }

    pub fn sha256(&self, p: &str) -> String {
        all_output(Command::new("sha256sum").arg(self.path(p)))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    pub fn gid(&self, group: &str) -> Option<u32> {
        fs::read_to_string(self.path("/etc/group"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with(&format!("{group}:")))
            .map(|l| l.split(':').nth(2).unwrap().parse().unwrap())
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let path = e.unwrap().path();
        out.insert(format!("/{}", path.strip_prefix(root).unwrap().display()));
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            walk(root, &path, out);
        }
    }
}
