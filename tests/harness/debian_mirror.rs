//! A real, Debian-signed subset of bookworm's archive on disk, fetched once through the host's apt
//! (never by kubedeb), served on loopback, and apt's own answer to "what would be installed".
//!
//! [`shared`] keeps the mirror under `CARGO_TARGET_TMPDIR/debian-mirror/`: the InRelease and the
//! main/binary-amd64 Packages (and Packages.xz) of bookworm, bookworm-updates (base `debian`) and bookworm-security
//! (base `security`), byte for byte as Debian signed and hashed them. [`DebianMirror::fill`] adds
//! chosen .debs at their pool paths, [`serve`] serves a folder over HTTP on 127.0.0.1, and
//! [`reference_install`] asks apt-get (simulating, in a private state) which packages an install
//! on top of a `--variant=required` Debian 12 root pulls in.
//!
//! Network: apt-get (for the lists and the .debs) and mmdebstrap (for the required root) reach
//! the host's Debian mirror; nothing else leaves loopback.

use sha2::{Digest, Sha256};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::harness::repo::{field, stanzas};
use crate::harness::tools::{need, run};

/// The suites the mirror carries: (suite, which base: false = debian, true = security).
pub const SUITES: [(&str, bool); 3] = [
    ("bookworm", false),
    ("bookworm-updates", false),
    ("bookworm-security", true),
];

/// The index every suite carries, as Release names it.
pub const PACKAGES: &str = "main/binary-amd64/Packages";

/// Written into a generation's `complete` stamp: a generation of another layout is fetched anew.
const LAYOUT: &str = "layout 3: InRelease, Packages, Packages.xz";

/// A mirror older than this is fetched anew.
const MAX_AGE: Duration = Duration::from_secs(12 * 3600);

/// The mirror: `debian` holds `dists/bookworm{,-updates}/…`, `security` holds
/// `dists/bookworm-security/…`; both hold the .debs [`DebianMirror::fill`] fetched, at their
/// index's `Filename`.
pub struct DebianMirror {
    pub debian: PathBuf,
    pub security: PathBuf,
    /// The private apt configuration (APT_CONFIG) the mirror was fetched with.
    apt_config: PathBuf,
    /// The Debian archive keys (packaging/keyrings) apt trusted, as a TrustedParts folder.
    keys: PathBuf,
    index: OnceLock<BTreeMap<(String, String), Vec<Deb>>>,
}

/// One .deb as a suite's Packages lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deb {
    pub suite: &'static str,
    /// The mirror base it belongs under (`debian` or `security`).
    pub root: PathBuf,
    pub filename: String,
    pub sha256: String,
    pub size: u64,
}

impl Deb {
    /// Where the .deb is (or goes) in the mirror.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.filename)
    }
}

fn base_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-mirror")
}

fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn sha256_of(path: &Path) -> Option<String> {
    let mut f = fs::File::open(path).ok()?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Some(hex::encode(h.finalize()))
}

fn lock(path: &Path) -> fs::File {
    let f = fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
    f
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The mirror of this test process, fetched (or reused when younger than 12 h) on first use.
pub fn shared() -> &'static DebianMirror {
    static MIRROR: OnceLock<DebianMirror> = OnceLock::new();
    MIRROR.get_or_init(open_or_build)
}

/// The (sha256, size) Release lists for `path` in its SHA256 section.
pub fn release_entry(inrelease: &str, path: &str) -> Option<(String, u64)> {
    let mut in_sha256 = false;
    for line in inrelease.lines() {
        if !line.starts_with(' ') {
            in_sha256 = line.trim_end() == "SHA256:";
            continue;
        }
        if in_sha256 {
            let mut parts = line.split_whitespace();
            let (Some(hash), Some(size), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if name == path {
                return Some((hash.to_string(), size.parse().ok()?));
            }
        }
    }
    None
}

/// The host's mirror bases for bookworm and bookworm-security, from /etc/apt/sources.list(.d)
/// (one-line and deb822 forms); deb.debian.org when the host names none.
fn host_bases() -> (String, String) {
    let mut entries: Vec<(String, Vec<String>)> = Vec::new();
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let name = file.to_string_lossy().into_owned();
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        if name.ends_with(".list") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap().trim();
                let mut words = line.split_whitespace().peekable();
                if words.next() != Some("deb") {
                    continue;
                }
                if words.peek().is_some_and(|w| w.starts_with('[')) {
                    for w in words.by_ref() {
                        if w.ends_with(']') {
                            break;
                        }
                    }
                }
                if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
                    entries.push((uri.to_string(), vec![suite.to_string()]));
                }
            }
        } else if name.ends_with(".sources") {
            let clean: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect();
            for s in stanzas(&clean) {
                let types = field(&s, "Types").unwrap_or("");
                let enabled = field(&s, "Enabled").unwrap_or("yes");
                if !types.split_whitespace().any(|t| t == "deb") || enabled == "no" {
                    continue;
                }
                let suites: Vec<String> = field(&s, "Suites")
                    .unwrap_or("")
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                for uri in field(&s, "URIs").unwrap_or("").split_whitespace() {
                    entries.push((uri.to_string(), suites.clone()));
                }
            }
        }
    }
    let find = |suite: &str| {
        entries
            .iter()
            .find(|(uri, suites)| uri.starts_with("http") && suites.iter().any(|s| s == suite))
            .map(|(uri, _)| uri.trim_end_matches('/').to_string())
    };
    (
        find("bookworm").unwrap_or_else(|| "http://deb.debian.org/debian".into()),
        find("bookworm-security").unwrap_or_else(|| "http://deb.debian.org/debian-security".into()),
    )
}

/// Writes the private apt configuration under `dir` (state, cache, sources, trust: all its own;
/// the host's apt.conf.d, sources and keys are not read) and returns the APT_CONFIG file.
fn write_apt_config(dir: &Path, sources: &str, trusted_parts: &Path, status: &Path) -> PathBuf {
    for sub in [
        "etc/apt.conf.d",
        "etc/preferences.d",
        "etc/sources.list.d",
        "etc/trusted.gpg.d",
        "state/lists/partial",
        "cache/archives/partial",
    ] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    if !status.exists() {
        fs::write(status, "").unwrap();
    }
    let etc = dir.join("etc");
    fs::write(etc.join("sources.list"), sources).unwrap();
    let d = |p: &Path| p.display().to_string();
    let conf = format!(
        "Dir::State \"{state}\";\n\
         Dir::State::Lists \"{state}/lists\";\n\
         Dir::State::status \"{status}\";\n\
         Dir::State::extended_states \"{state}/extended_states\";\n\
         Dir::Cache \"{cache}\";\n\
         Dir::Cache::archives \"{cache}/archives\";\n\
         Dir::Cache::pkgcache \"\";\n\
         Dir::Cache::srcpkgcache \"\";\n\
         Dir::Etc \"{etc}\";\n\
         Dir::Etc::Main \"/dev/null\";\n\
         Dir::Etc::Parts \"{etc}/apt.conf.d\";\n\
         Dir::Etc::SourceList \"{etc}/sources.list\";\n\
         Dir::Etc::SourceParts \"{etc}/sources.list.d\";\n\
         Dir::Etc::Preferences \"/dev/null\";\n\
         Dir::Etc::PreferencesParts \"{etc}/preferences.d\";\n\
         Dir::Etc::Trusted \"{etc}/trusted.gpg\";\n\
         Dir::Etc::TrustedParts \"{trusted}\";\n\
         Dir::Log \"{state}/log\";\n\
         APT::Architecture \"amd64\";\n\
         APT::Architectures {{ \"amd64\"; }};\n\
         APT::Sandbox::User \"root\";\n\
         APT::Install-Recommends \"false\";\n\
         Acquire::Languages \"none\";\n\
         Acquire::GzipIndexes \"false\";\n\
         Acquire::PDiffs \"false\";\n\
         Acquire::Retries \"3\";\n\
         Acquire::IndexTargets::deb::Packages::KeepCompressed \"false\";\n",
        state = d(&dir.join("state")),
        status = d(status),
        cache = d(&dir.join("cache")),
        etc = d(&etc),
        trusted = d(trusted_parts),
    );
    let file = dir.join("apt.conf");
    fs::write(&file, conf).unwrap();
    file
}

fn apt(config: &Path, tool: &str) -> Command {
    need(tool);
    let mut cmd = Command::new(tool);
    cmd.env("APT_CONFIG", config)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("LC_ALL", "C");
    cmd
}

/// The generation the `current` link names, when it is complete and young enough.
fn current_generation(base: &Path) -> Option<PathBuf> {
    let gen = base.join(fs::read_link(base.join("current")).ok()?);
    let stamp = fs::read_to_string(gen.join("complete")).ok()?;
    let (built, layout) = stamp.trim().split_once('\n')?;
    let built: u64 = built.parse().ok()?;
    if layout != LAYOUT {
        return None;
    }
    (now_secs().saturating_sub(built) < MAX_AGE.as_secs()).then_some(gen)
}

fn open_or_build() -> DebianMirror {
    let base = base_dir();
    fs::create_dir_all(&base).unwrap();
    let _lock = lock(&base.join("build.lock"));
    let gen = match current_generation(&base) {
        Some(gen) => gen,
        None => build(&base),
    };
    let mirror = DebianMirror {
        debian: gen.join("debian"),
        security: gen.join("security"),
        apt_config: gen.join("apt/apt.conf"),
        keys: gen.join("apt/keys"),
        index: OnceLock::new(),
    };
    for (suite, _) in SUITES {
        mirror.check_index(suite);
    }
    mirror
}

/// Fetches a new generation with the host's apt and makes it `current` by an atomic rename;
/// a generation without its `complete` stamp is never used.
fn build(base: &Path) -> PathBuf {
    let name = format!("gen-{}-{}", now_secs(), std::process::id());
    let gen = base.join(&name);
    let _ = fs::remove_dir_all(&gen);
    let apt_dir = gen.join("apt");
    fs::create_dir_all(&apt_dir).unwrap();
    let (debian, security) = host_bases();
    eprintln!(
        "# fetching the Debian mirror subset from {debian} and {security} into {}",
        gen.display()
    );
    let sources = format!(
        "deb {debian} bookworm main\ndeb {debian} bookworm-updates main\ndeb {security} bookworm-security main\n"
    );
    // Trust: Debian's bookworm archive keys as the project carries them.
    let keys = apt_dir.join("keys");
    fs::create_dir_all(&keys).unwrap();
    let keyrings = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/keyrings");
    for e in fs::read_dir(&keyrings).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "gpg") {
            fs::copy(&p, keys.join(p.file_name().unwrap())).unwrap();
        }
    }
    let config = write_apt_config(&apt_dir, &sources, &keys, &apt_dir.join("status"));
    let out = run(apt(&config, "apt-get").args(["update", "-q"]));
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.lines()
            .any(|l| l.starts_with("W:") || l.starts_with("E:")),
        "apt-get update with the private config complained:\n{log}"
    );
    let lists = apt_dir.join("state/lists");
    for (suite, security_base) in SUITES {
        let (url, root) = if security_base {
            (&security, gen.join("security"))
        } else {
            (&debian, gen.join("debian"))
        };
        let prefix = list_prefix(url, suite);
        let dists = root.join("dists").join(suite);
        fs::create_dir_all(dists.join("main/binary-amd64")).unwrap();
        let inrelease = lists.join(format!("{prefix}_InRelease"));
        fs::copy(&inrelease, dists.join("InRelease"))
            .unwrap_or_else(|e| panic!("apt-get update left no {}: {e}", inrelease.display()));
        let stem = format!("{prefix}_main_binary-amd64_Packages");
        let packages = packages_bytes(&lists, &stem);
        fs::write(dists.join(PACKAGES), packages).unwrap();
        // Debian's own Packages.xz too, as the mirror serves it: apt's lists keep only the
        // unpacked index, so apt-helper fetches it, checked by the hash the signed Release lists.
        let release = fs::read_to_string(dists.join("InRelease")).unwrap();
        let xz = format!("{PACKAGES}.xz");
        let (sha, _) = release_entry(&release, &xz)
            .unwrap_or_else(|| panic!("{suite}: its InRelease lists no {xz}"));
        run(apt(&config, "/usr/lib/apt/apt-helper")
            .arg("download-file")
            .arg(format!("{url}/dists/{suite}/{xz}"))
            .arg(dists.join(&xz))
            .arg(format!("SHA256:{sha}")));
    }
    fs::create_dir_all(base.join("debs")).unwrap();
    fs::write(gen.join("complete"), format!("{}\n{LAYOUT}\n", now_secs())).unwrap();
    let old = fs::read_link(base.join("current")).ok();
    let link = base.join(format!(".current-{}", std::process::id()));
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(&name, &link).unwrap();
    fs::rename(&link, base.join("current")).unwrap();
    // Generations older than the one just replaced are no longer anyone's.
    for e in fs::read_dir(base).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("gen-") && n != name && Some(Path::new(&n)) != old.as_deref() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
    gen
}

/// apt's lists file name for `<url>/dists/<suite>` (its URItoFileName: no scheme, '/' -> '_').
fn list_prefix(url: &str, suite: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    format!("{}/dists/{suite}", rest.trim_end_matches('/')).replace('/', "_")
}

/// The Packages bytes apt verified, however apt stored them (plain, or recompressed).
fn packages_bytes(lists: &Path, stem: &str) -> Vec<u8> {
    let plain = lists.join(stem);
    if plain.is_file() {
        return fs::read(&plain).unwrap();
    }
    for ext in ["lz4", "zst", "xz", "gz"] {
        let p = lists.join(format!("{stem}.{ext}"));
        if !p.is_file() {
            continue;
        }
        let tool = match ext {
            "lz4" => "lz4",
            "zst" => "zstd",
            "xz" => "xz",
            _ => "gzip",
        };
        return run(Command::new(tool).arg("-dc").arg(&p)).stdout;
    }
    let found: Vec<String> = fs::read_dir(lists)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    panic!(
        "apt-get update left no {stem}[.lz4|.zst|.xz|.gz] in {}: {found:?}",
        lists.display()
    );
}

impl DebianMirror {
    fn root_of(&self, suite: &str) -> &Path {
        if suite.ends_with("-security") {
            &self.security
        } else {
            &self.debian
        }
    }

    pub fn inrelease(&self, suite: &str) -> PathBuf {
        self.root_of(suite)
            .join("dists")
            .join(suite)
            .join("InRelease")
    }

    pub fn packages(&self, suite: &str) -> PathBuf {
        self.root_of(suite).join("dists").join(suite).join(PACKAGES)
    }

    /// The suite's Packages.xz: Debian's own bytes, as its mirror serves them.
    pub fn packages_xz(&self, suite: &str) -> PathBuf {
        self.packages(suite).with_extension("xz")
    }

    /// Panics unless the suite's Packages and Packages.xz have the sha256 and size its InRelease
    /// lists.
    fn check_index(&self, suite: &str) {
        let inrelease = fs::read_to_string(self.inrelease(suite))
            .unwrap_or_else(|e| panic!("{}: {e}", self.inrelease(suite).display()));
        check_listed(&inrelease, PACKAGES, &self.packages(suite));
        check_listed(
            &inrelease,
            &format!("{PACKAGES}.xz"),
            &self.packages_xz(suite),
        );
    }
}

impl DebianMirror {
    /// Every (name, version) of the three indexes, with where each suite lists it.
    fn index(&self) -> &BTreeMap<(String, String), Vec<Deb>> {
        self.index.get_or_init(|| {
            let mut out: BTreeMap<(String, String), Vec<Deb>> = BTreeMap::new();
            for (suite, _) in SUITES {
                let text = fs::read_to_string(self.packages(suite)).unwrap();
                for s in stanzas(&text) {
                    let f = |n: &str| {
                        field(&s, n)
                            .unwrap_or_else(|| panic!("{suite}: a stanza without {n}: {s:?}"))
                            .to_string()
                    };
                    out.entry((f("Package"), f("Version")))
                        .or_default()
                        .push(Deb {
                            suite,
                            root: self.root_of(suite).to_path_buf(),
                            filename: f("Filename"),
                            sha256: f("SHA256"),
                            size: f("Size").parse().unwrap(),
                        });
                }
            }
            out
        })
    }

    /// Where the indexes list `name` at `version` (empty if none does).
    pub fn find(&self, name: &str, version: &str) -> Vec<Deb> {
        self.index()
            .get(&(name.to_string(), version.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// The versions of `name` in any of the three indexes.
    pub fn versions(&self, name: &str) -> BTreeSet<String> {
        self.index()
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Fetches each (name, version) with `apt-get download` (the private config) and places it
    /// at `<root>/<Filename>` of every suite whose index lists it; already present with the
    /// right sha256 is left alone. Panics on a package no index lists or a hash that differs.
    pub fn fill(&self, packages: &[(&str, &str)]) {
        static IN_PROCESS: Mutex<()> = Mutex::new(());
        let _guard = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
        let base = base_dir();
        let _lock = lock(&base.join("fill.lock"));
        let store = base.join("debs");
        fs::create_dir_all(&store).unwrap();
        for (name, version) in packages {
            let debs = self.find(name, version);
            assert!(
                !debs.is_empty(),
                "no index of the mirror lists {name} {version} (known: {:?})",
                self.versions(name)
            );
            for deb in &debs {
                let dest = deb.path();
                if sha256_of(&dest).as_deref() == Some(deb.sha256.as_str()) {
                    continue;
                }
                let stored = store.join(format!("{}.deb", deb.sha256));
                if sha256_of(&stored).as_deref() != Some(deb.sha256.as_str()) {
                    download(&self.apt_config, name, version, &store, &stored);
                }
                let got = sha256_of(&stored).unwrap();
                assert_eq!(
                    got, deb.sha256,
                    "apt-get download {name}={version}: sha256 {got}, the {} index lists {}",
                    deb.suite, deb.sha256
                );
                fs::create_dir_all(dest.parent().unwrap()).unwrap();
                let tmp = dest.with_extension("deb.partial");
                let _ = fs::remove_file(&tmp);
                if fs::hard_link(&stored, &tmp).is_err() {
                    fs::copy(&stored, &tmp).unwrap();
                }
                fs::rename(&tmp, &dest).unwrap();
            }
        }
    }
}

/// Panics unless `path` has the sha256 and size `inrelease` lists for `name`.
fn check_listed(inrelease: &str, name: &str, path: &Path) {
    let (sha, size) = release_entry(inrelease, name).unwrap_or_else(|| {
        panic!(
            "{}: its InRelease lists no {name} in the SHA256 section",
            path.display()
        )
    });
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let got = sha256_bytes(&bytes);
    assert!(
        got == sha && bytes.len() as u64 == size,
        "{}: sha256 {got}, {} bytes; its InRelease lists {sha}, {size} bytes for {name}",
        path.display(),
        bytes.len()
    );
}

/// `apt-get download name=version` into a fresh folder of `store`; the one .deb it wrote is
/// moved to `to`.
fn download(config: &Path, name: &str, version: &str, store: &Path, to: &Path) {
    let dir = tempfile::tempdir_in(store).unwrap();
    run(apt(config, "apt-get")
        .args(["download", "-q"])
        .arg(format!("{name}={version}"))
        .current_dir(dir.path()));
    let got: Vec<PathBuf> = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    let [deb] = got.as_slice() else {
        panic!("apt-get download {name}={version} wrote {got:?}");
    };
    fs::rename(deb, to).unwrap();
}

/// A static file server for one folder on 127.0.0.1 (ephemeral port): GET and HEAD, 200 with
/// the file's bytes, 404 for anything that is not a regular file below the folder. Stopped on drop.
pub struct Served {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub url: String,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

pub fn serve(dir: &Path) -> Served {
    let root = dir
        .canonicalize()
        .unwrap_or_else(|e| panic!("serve {}: {e}", dir.display()));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let root = root.clone();
                std::thread::spawn(move || {
                    let _ = answer(stream, &root);
                });
            }
        })
    };
    Served {
        url: format!("http://{addr}"),
        addr,
        stop,
        thread: Some(thread),
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file below `root` a request path names, if it is a regular file there.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = percent_decode(target.split(['?', '#']).next()?)?;
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = root.join(rel).canonicalize().ok()?;
    (full.starts_with(root) && full.is_file()).then_some(full)
}

fn answer(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let mut close = request.contains("HTTP/1.0");
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.trim().eq_ignore_ascii_case("connection")
                    && v.trim().eq_ignore_ascii_case("close")
                {
                    close = true;
                }
            }
        }
        let mut words = request.split_whitespace();
        let method = words.next().unwrap_or("");
        let target = words.next().unwrap_or("/");
        let head = method == "HEAD";
        let conn = if close { "close" } else { "keep-alive" };
        if method != "GET" && !head {
            write!(
                out,
                "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return Ok(());
        }
        match resolve(root, target).and_then(|p| fs::File::open(p).ok()) {
            Some(mut file) => {
                let len = file.metadata()?.len();
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: {conn}\r\n\r\n"
                )?;
                if !head {
                    std::io::copy(&mut file, &mut out)?;
                }
            }
            None => {
                let body = b"not found\n";
                write!(
                    out,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: {conn}\r\n\r\n",
                    body.len()
                )?;
                if !head {
                    out.write_all(body)?;
                }
            }
        }
        out.flush()?;
        if close {
            return Ok(());
        }
    }
}

/// A Debian 12 root of `mmdebstrap --variant=required` (mmdebstrap's usual mirrors), made once
/// into the target dir as a folder and never run: only its dpkg status is read.
fn required_root() -> PathBuf {
    need("mmdebstrap");
    let include: [&str; 0] = [];
    let mut h = DefaultHasher::new();
    ("bookworm", "required", &include).hash(&mut h);
    let base = base_dir();
    fs::create_dir_all(&base).unwrap();
    let root = base.join(format!("required-{:016x}", h.finish()));
    let _lock = lock(&base.join("required.lock"));
    if root.join("var/lib/dpkg/status").is_file() {
        return root;
    }
    let partial = base.join(format!(".required-partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    eprintln!(
        "# building the required Debian 12 root with mmdebstrap into {}",
        root.display()
    );
    let mut cmd = Command::new("mmdebstrap");
    cmd.args(["--variant=required", "--quiet", "--format=directory"]);
    let out = crate::harness::tools::run_any(cmd.arg("bookworm").arg(&partial));
    if !out.status.success() {
        let _ = fs::remove_dir_all(&partial);
        panic!(
            "mmdebstrap --variant=required bookworm failed:\n{}",
            crate::harness::tools::text(&out)
        );
    }
    let _ = fs::remove_dir_all(&root);
    fs::rename(&partial, &root).unwrap();
    root
}

/// The dpkg status of the `--variant=required` root [`reference_install`] installs on.
pub fn required_status() -> PathBuf {
    required_root().join("var/lib/dpkg/status")
}

/// What apt installs for `packages` on the required root with only the mirror (and `extra`, a
/// flat folder with a Packages file) as sources: the (name, version) of every `Inst` line of
/// `apt-get install -s --no-install-recommends`. apt runs on the host in a private state, with
/// the root's dpkg status as the installed set; nothing from the root runs.
pub fn reference_install(
    mirror: &DebianMirror,
    extra: Option<&Path>,
    packages: &[&str],
) -> BTreeSet<(String, String)> {
    let status = required_status();
    let dir = tempfile::tempdir().unwrap();
    let mut sources = format!(
        "deb [trusted=yes] file:{d} bookworm main\n\
         deb [trusted=yes] file:{d} bookworm-updates main\n\
         deb [trusted=yes] file:{s} bookworm-security main\n",
        d = mirror.debian.display(),
        s = mirror.security.display()
    );
    if let Some(extra) = extra {
        let extra = extra.canonicalize().unwrap();
        sources.push_str(&format!("deb [trusted=yes] file:{} ./\n", extra.display()));
    }
    // Trust: the carried Debian keys; [trusted=yes] also admits the unsigned extra folder.
    let config = write_apt_config(dir.path(), &sources, &mirror.keys, &status);
    let out = run(apt(&config, "apt-get").args(["update", "-q"]));
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.lines().any(|l| l.starts_with("E:")),
        "apt-get update of the reference sources:\n{log}"
    );
    let out = run(apt(&config, "apt-get")
        .args(["install", "-s", "-q", "--no-install-recommends"])
        .args(packages));
    inst_lines(&String::from_utf8_lossy(&out.stdout))
}

/// (name, version) of each `Inst name [old] (version suite [arch])` line.
pub fn inst_lines(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .map(|rest| {
            let name = rest.split_whitespace().next().unwrap().to_string();
            let version = rest
                .split_once('(')
                .and_then(|(_, v)| v.split_whitespace().next())
                .unwrap_or_else(|| panic!("an Inst line without a version: {rest}"))
                .to_string();
            (name, version)
        })
        .collect()
}
