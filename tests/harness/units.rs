//! `systemd-analyze verify` of the packages' units in a root of their own, beside the host's stock units and Docker's.

use crate::harness::tools::run_any;
use kubedeb::deb::{EntryKind, PackageSpec, Source};
use std::path::Path;
use std::process::Command;

/// A root for `systemd-analyze verify --root`: the host's stock units, ours, Docker's, and
/// stand-in executables where ExecStart points.
pub struct VerifyRoot {
    pub dir: tempfile::TempDir,
}

impl VerifyRoot {
    pub fn new(specs: &[PackageSpec], docker_unit: &str) -> VerifyRoot {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let units = root.join("lib/systemd/system");
        std::fs::create_dir_all(&units).unwrap();
        let stock = Path::new("/lib/systemd/system");
        assert!(
            stock.join("sysinit.target").exists(),
            "systemd's stock units are missing: apt-get install systemd"
        );
        for entry in std::fs::read_dir(stock).unwrap() {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let to = units.join(entry.file_name());
            if meta.file_type().is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), to).unwrap();
            } else if meta.is_file() {
                std::fs::copy(entry.path(), to).unwrap();
            }
        }
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docker");
        std::fs::copy(fixtures.join(docker_unit), units.join("docker.service")).unwrap();
        std::fs::copy(
            fixtures.join("docker.io.socket"),
            units.join("docker.socket"),
        )
        .unwrap();
        std::fs::copy(
            fixtures.join("containerd.service"),
            units.join("containerd.service"),
        )
        .unwrap();
        for spec in specs {
            for entry in &spec.entries {
                let path = root.join(entry.path.trim_start_matches('/'));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                match &entry.kind {
                    EntryKind::File(Source::Bytes(bytes)) => std::fs::write(&path, bytes).unwrap(),
                    EntryKind::File(Source::Path(from)) => {
                        std::fs::copy(from, &path).unwrap();
                    }
                    other => panic!("unexpected entry {other:?}"),
                }
                set_mode(&path, entry.mode);
            }
        }
        for exe in [
            "usr/sbin/dockerd",
            "usr/bin/dockerd",
            "usr/bin/containerd",
            "sbin/modprobe",
            "bin/kill",
        ] {
            let path = root.join(exe);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy("/bin/true", &path).unwrap();
        }
        VerifyRoot { dir }
    }

    /// What `systemd-analyze verify` prints about `units` (empty means clean).
    pub fn verify(&self, units: &[String]) -> String {
        let out = run_any(
            Command::new("systemd-analyze")
                .arg("verify")
                .arg(format!("--root={}", self.dir.path().display()))
                .arg("--man=no")
                .args(units)
                .env("SYSTEMD_LOG_COLOR", "0"),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && text.is_empty() {
            return format!("systemd-analyze verify failed with {}", out.status);
        }
        text
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
