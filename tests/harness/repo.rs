//! Shared by the publish tests: test debs made with dpkg-deb, `kubedeb publish`, tree snapshots, apt clients.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::bin;
use crate::harness::tools::{need, run, run_any};

pub const KEYRING: &str = "kubedeb-archive-keyring.gpg";

/// `kubedeb publish --repo <repo>`, ready for more arguments.
pub fn publish_cmd(repo: &Path) -> Command {
    let mut cmd = bin::kubedeb();
    cmd.arg("publish").arg("--repo").arg(repo);
    cmd
}

pub fn publish(repo: &Path, debs: &[&Path]) -> Output {
    run_any(publish_cmd(repo).args(debs))
}

pub fn publish_ok(repo: &Path, debs: &[&Path]) -> Output {
    run(publish_cmd(repo).args(debs))
}

/// A test package built with `dpkg-deb --build`.
#[derive(Clone)]
pub struct DebSpec {
    pub package: String,
    pub version: String,
    pub arch: String,
    /// Extra control fields, after the usual ones.
    pub fields: Vec<(String, String)>,
    /// dpkg-deb's -Z: xz, gzip, zstd or none.
    pub compression: String,
    /// Written into the package's marker file: change it to get different bytes for one version.
    pub marker: String,
    /// Bytes of incompressible filler, to make a bigger package.
    pub filler: usize,
}

impl DebSpec {
    pub fn new(package: &str, version: &str) -> Self {
        DebSpec {
            package: package.into(),
            version: version.into(),
            arch: "amd64".into(),
            fields: Vec::new(),
            compression: "xz".into(),
            marker: String::new(),
            filler: 0,
        }
    }

    pub fn arch(mut self, arch: &str) -> Self {
        self.arch = arch.into();
        self
    }

    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    pub fn compression(mut self, c: &str) -> Self {
        self.compression = c.into();
        self
    }

    pub fn marker(mut self, m: &str) -> Self {
        self.marker = m.into();
        self
    }

    pub fn filler(mut self, bytes: usize) -> Self {
        self.filler = bytes;
        self
    }

    pub fn control(&self) -> String {
        let mut c = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: kubedeb tests <tests@example.invalid>\n\
             Installed-Size: {}\nSection: admin\nPriority: optional\n",
            self.package,
            self.version,
            self.arch,
            1 + self.filler / 1024
        );
        for (n, v) in &self.fields {
            c.push_str(&format!("{n}: {v}\n"));
        }
        if !self.fields.iter().any(|(n, _)| n == "Description") {
            c.push_str(&format!(
                "Description: test package {}\n A package made by the kubedeb tests.\n .\n Version {}.\n",
                self.package, self.version
            ));
        }
        c
    }

    /// Builds the package into `dir` and returns its path (unique per spec and marker).
    pub fn build(&self, dir: &Path) -> PathBuf {
        need("dpkg-deb");
        let tag: String = hex::encode(Sha256::digest(format!(
            "{}{}{}",
            self.control(),
            self.marker,
            self.filler
        )))[..8]
            .to_string();
        let stem = format!(
            "{}_{}_{}-{tag}",
            self.package,
            self.version.replace(':', "%3a"),
            self.arch
        );
        let root = dir.join(format!("{stem}.tree"));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("DEBIAN")).unwrap();
        fs::write(root.join("DEBIAN/control"), self.control()).unwrap();
        let doc = root.join("usr/share/doc").join(&self.package);
        fs::create_dir_all(&doc).unwrap();
        fs::write(
            doc.join("marker"),
            format!("{} {} {}\n", self.package, self.version, self.marker),
        )
        .unwrap();
        if self.filler > 0 {
            // xorshift64: incompressible enough, and fast even in a debug build.
            let seed = Sha256::digest(format!("{}{}", self.package, self.marker).as_bytes());
            let mut x = u64::from_le_bytes(seed[..8].try_into().unwrap()) | 1;
            let mut bytes = Vec::with_capacity(self.filler + 8);
            while bytes.len() < self.filler {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.extend_from_slice(&x.to_le_bytes());
            }
            bytes.truncate(self.filler);
            fs::write(doc.join("filler"), bytes).unwrap();
        }
        let out = dir.join(format!("{stem}.deb"));
        run(Command::new("dpkg-deb")
            .arg("--root-owner-group")
            .arg(format!("-Z{}", self.compression))
            .arg("--build")
            .arg(&root)
            .arg(&out));
        fs::remove_dir_all(&root).unwrap();
        out
    }
}

pub fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(
        fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
    ))
}

/// Every entry under `dir` with its kind, mode and content hash (or link target).
pub fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let value = if meta.file_type().is_symlink() {
                format!("link {}", fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                walk(base, &path, out);
                format!("dir {mode:o}")
            } else if meta.is_file() {
                format!("file {mode:o} {} {}", meta.len(), sha256_file(&path))
            } else {
                format!("other {mode:o} ino {}", meta.ino())
            };
            out.insert(rel, value);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A diff of two snapshots, for assertion messages.
pub fn snapshot_diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> String {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = String::new();
    for k in keys {
        if a.get(k) != b.get(k) {
            out.push_str(&format!("{k}: {:?} -> {:?}\n", a.get(k), b.get(k)));
        }
    }
    out
}

/// The stanzas of a deb822 file as field lists, in order.
pub fn stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if line.starts_with(' ') {
            let last = cur.last_mut().expect("continuation line first");
            last.1.push('\n');
            last.1.push_str(line);
        } else {
            let (n, v) = line.split_once(':').expect("field line");
            cur.push((n.to_string(), v.trim().to_string()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn field<'a>(stanza: &'a [(String, String)], name: &str) -> Option<&'a str> {
    stanza
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// (package, version, architecture) of every stanza in every binary index of the suite.
pub fn published_set(public: &Path, suite: &str) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let main = public.join("dists").join(suite).join("main");
    for entry in fs::read_dir(&main).unwrap() {
        let packages = entry.unwrap().path().join("Packages");
        for s in stanzas(&fs::read_to_string(&packages).unwrap()) {
            let f = |n| field(&s, n).unwrap().to_string();
            out.insert((f("Package"), f("Version"), f("Architecture")));
        }
    }
    out
}

/// apt-get on this host with its own state folder: the real apt, a file:// source, the repository's keyring.
pub struct HostApt {
    pub dir: tempfile::TempDir,
}

impl HostApt {
    pub fn new(public: &Path, suite: &str) -> Self {
        need("apt-get");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
        ] {
            fs::create_dir_all(d.join(sub)).unwrap();
        }
        fs::write(d.join("var/lib/dpkg/status"), "").unwrap();
        let public = public.canonicalize().unwrap();
        fs::write(
            d.join("etc/apt/sources.list"),
            format!(
                "deb [signed-by={}] file://{} {suite} main\n",
                public.join(KEYRING).display(),
                public.display()
            ),
        )
        .unwrap();
        HostApt { dir }
    }

    pub fn apt(&self, tool: &str) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new(tool);
        cmd.arg(format!("-oDir={}", d.display()))
            .arg(format!(
                "-oDir::State::status={}",
                d.join("var/lib/dpkg/status").display()
            ))
            .arg("-oAPT::Sandbox::User=root")
            .arg("-oDebug::NoLocking=1")
            .arg("-oAPT::Architecture=amd64")
            .arg("-oAPT::Architectures::=amd64");
        cmd
    }

    /// A fresh `apt-get update`: the lists of earlier runs are dropped first.
    pub fn update(&self) -> Output {
        let lists = self.dir.path().join("var/lib/apt/lists");
        let _ = fs::remove_dir_all(&lists);
        fs::create_dir_all(lists.join("partial")).unwrap();
        run_any(self.apt("apt-get").arg("update"))
    }

    /// Versions apt knows for a package, from `apt-cache madison`.
    pub fn versions(&self, package: &str) -> BTreeSet<String> {
        let out = run(self.apt("apt-cache").args(["madison", package]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split('|').nth(1).map(|v| v.trim().to_string()))
            .collect()
    }
}

/// A Debian 12 root with apt (`mmdebstrap --variant=apt bookworm`), built once per target dir and
/// unpacked fresh for each use.
pub fn bookworm_tarball() -> PathBuf {
    need("mmdebstrap");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(&dir).unwrap();
    let tarball = dir.join("kubedeb-bookworm-apt.tar");
    let lock = fs::File::create(dir.join("kubedeb-bookworm-apt.lock")).unwrap();
    lock.lock().unwrap();
    if !tarball.is_file() {
        let partial = dir.join("kubedeb-bookworm-apt.tar.partial");
        run(Command::new("mmdebstrap")
            .args(["--quiet", "--variant=apt", "--format=tar", "bookworm"])
            .arg(&partial)
            .arg("http://deb.debian.org/debian"));
        fs::rename(&partial, &tarball).unwrap();
    }
    tarball
}

/// An unpacked Debian 12 root for chroot; removed on drop.
pub struct Chroot {
    pub dir: tempfile::TempDir,
}

impl Chroot {
    pub fn new() -> Self {
        let tarball = bookworm_tarball();
        let dir = tempfile::tempdir().unwrap();
        run(Command::new("tar")
            .arg("-C")
            .arg(dir.path())
            .arg("-xf")
            .arg(&tarball));
        let sources = dir.path().join("etc/apt/sources.list.d");
        for entry in fs::read_dir(&sources).unwrap() {
            fs::remove_file(entry.unwrap().path()).unwrap();
        }
        Chroot { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Copies the repository's served tree to /srv/repo and trusts only its keyring, by signed-by.
    pub fn use_repo(&self, public: &Path, suite: &str) {
        let srv = self.root().join("srv/repo");
        let _ = fs::remove_dir_all(&srv);
        fs::create_dir_all(&srv).unwrap();
        run(Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", public.display()))
            .arg(&srv));
        fs::copy(
            public.join(KEYRING),
            self.root().join("usr/share/keyrings").join(KEYRING),
        )
        .unwrap();
        fs::write(
            self.root().join("etc/apt/sources.list"),
            format!(
                "deb [signed-by=/usr/share/keyrings/{KEYRING}] file:///srv/repo {suite} main\n"
            ),
        )
        .unwrap();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        need("chroot");
        let mut cmd = Command::new("chroot");
        cmd.arg(self.root())
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }

    /// `apt-get update` with the lists of earlier runs dropped.
    pub fn update(&self) -> Output {
        let lists = self.root().join("var/lib/apt/lists");
        let _ = fs::remove_dir_all(&lists);
        fs::create_dir_all(lists.join("partial")).unwrap();
        run_any(&mut self.command(&["apt-get", "update"]))
    }
}

/// apt's output with no warning or error line.
pub fn assert_clean(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        crate::harness::tools::text(out)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in all.lines() {
        assert!(
            !line.starts_with("W:") && !line.starts_with("E:"),
            "{what} complained: {line}\n{}",
            crate::harness::tools::text(out)
        );
    }
}

/// A new ed25519 signing key for `uid` in the GnuPG home `home` (made 0700), its secret key
/// exported armored to `file`; its fingerprint.
pub fn secret_key_file(home: &Path, uid: &str, file: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(home).unwrap();
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let gpg = || {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(home).args([
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    };
    let run = crate::harness::tools::run;
    run(gpg().args(["--quick-gen-key", uid, "ed25519", "sign", "never"]));
    let out = run(gpg().args(["--with-colons", "--list-secret-keys"]));
    let fpr = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_string();
    let out = run(gpg().args(["--armor", "--export-secret-keys", &fpr]));
    std::fs::write(file, &out.stdout).unwrap();
    fpr
}
