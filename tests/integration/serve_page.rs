//! Issue 11: the page a node admin follows, rendered in headless Chromium and its commands run verbatim in a minimal Debian 12 root; serve's announcements and request log.

use crate::harness::project::Project;
use crate::harness::tools::{self, all_output, run_any, text};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `kubedeb up` from the project's tarballs (gzip: fast to build), for the master 10.20.0.1.
const UP: &[&str] = &[
    "up",
    "--from",
    "tarballs",
    "--catalog",
    "catalog.toml",
    "--compression",
    "gzip",
    "--master-ip",
    "10.20.0.1",
];

/// A running `kubedeb serve`, its stderr in a file; killed on drop, also when a test fails.
struct Server {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// `kubedeb serve <args>` in `project`, or run through `wrap` (a command prefix such as
    /// `unshare -n ...`); waits for the "serving ... on ADDR" line.
    fn start(project: &Path, args: &[&str], wrap: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr");
        let mut cmd = if wrap.is_empty() {
            crate::harness::bin::kubedeb_in(project)
        } else {
            let mut c = Command::new(wrap[0]);
            c.args(&wrap[1..])
                .arg(crate::harness::bin::KUBEDEB)
                .current_dir(project);
            c
        };
        let child = cmd
            .arg("serve")
            .args(args)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            log,
            _dir: dir,
        };
        server.wait_for("one line per request follows");
        server
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let said = self.stderr();
            if said.contains(needle) {
                return said;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "serve never said {needle:?}:\n{said}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address from "serving <root> (suite s) on ADDR".
    fn address(&self) -> String {
        let said = self.stderr();
        let line = said.lines().find(|l| l.starts_with("serving ")).unwrap();
        line.rsplit(' ').next().unwrap().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian 12 as `mmdebstrap --variant=minbase` makes it: apt, no curl, no wget, no gpg;
/// built once into the target dir.
fn minbase_tarball() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(&dir).unwrap();
    let tarball = dir.join("kubedeb-minbase-bookworm.tar");
    let lock = fs::File::create(dir.join("kubedeb-minbase-bookworm.lock")).unwrap();
    lock.lock().unwrap();
    if !tarball.is_file() {
        tools::need("mmdebstrap");
        let partial = tarball.with_extension("tar.partial");
        let _ = fs::remove_file(&partial);
        all_output(
            Command::new("mmdebstrap")
                .args(["--quiet", "--format=tar", "--variant=minbase", "bookworm"])
                .arg(&partial)
                .arg("http://deb.debian.org/debian"),
        );
        fs::rename(&partial, &tarball).unwrap();
    }
    tarball
}

/// A fresh minimal root, removed on drop. It shares the host's network namespace, so the
/// server on loopback is reachable; Debian's mirror stays its second source (mmdebstrap's
/// sources.list) so k8s-minion's Debian dependencies (docker.io, iproute2) can resolve.
struct MinimalRoot {
    dir: tempfile::TempDir,
}

impl MinimalRoot {
    fn new() -> MinimalRoot {
        let dir = tempfile::tempdir().unwrap();
        all_output(
            Command::new("tar")
                .arg("-C")
                .arg(dir.path())
                .arg("-xf")
                .arg(minbase_tarball()),
        );
        // For deb.debian.org; mmdebstrap leaves the root without the host's resolver settings.
        fs::copy("/etc/resolv.conf", dir.path().join("etc/resolv.conf")).unwrap();
        MinimalRoot { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p.trim_start_matches('/'))
    }

    fn sh(&self, script: &str) -> std::process::Output {
        run_any(
            Command::new("chroot")
                .arg(self.dir.path())
                .args(["/bin/sh", "-ec", script])
                .env_clear()
                .env("DEBIAN_FRONTEND", "noninteractive")
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("HOME", "/root"),
        )
    }
}

/// Headless Chromium with nothing of its own going to the network, profile in `profile`.
fn chromium(profile: &Path) -> Command {
    tools::need("chromium");
    let mut cmd = Command::new("timeout");
    cmd.args(["120", "chromium"]).args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// The text inside `<tag id="id">…</tag>` of a rendered DOM.
fn element(dom: &str, tag: &str, id: &str) -> String {
    let open = format!("<{tag} id=\"{id}\">");
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no {open} in:\n{dom}"))
        + open.len();
    let end = start + dom[start..].find(&format!("</{tag}>")).unwrap();
    html_unescape(&dom[start..end])
}

/// The page's text as a reader sees it: tags dropped, entities decoded.
fn visible_text(dom: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    html_unescape(&out)
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = Vec::new();
    stream.read_to_end(&mut body).unwrap();
    String::from_utf8_lossy(&body).into_owned()
}

/// The fingerprint gpg itself computes for the served keyring.
fn gpg_fingerprints(keyring: &Path) -> Vec<String> {
    let home = tempfile::tempdir().unwrap();
    let colons = tools::stdout(
        Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--with-colons", "--show-keys"])
            .arg(keyring),
    );
    // The fpr record right after each pub record is the primary key's.
    let lines: Vec<&str> = colons.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("pub:") && w[1].starts_with("fpr:"))
        .map(|w| w[1].split(':').nth(9).unwrap().to_string())
        .collect()
}

#[test]
fn the_page_in_chromium_shows_key_master_and_commands_that_work_on_a_minimal_debian() {
    let project = Project::with_release();
    let d = project.path();
    let up = project.kubedeb(UP).success();
    let keyring = d.join("repo/public/kubedeb-archive-keyring.gpg");
    let fingerprints = gpg_fingerprints(&keyring);
    assert_eq!(fingerprints.len(), 1, "{fingerprints:?}");
    let fingerprint = &fingerprints[0];
    assert!(
        up.stdout
            .contains(&format!("signing key fingerprint: {fingerprint}")),
        "{}",
        up.text()
    );
    assert!(up.stdout.contains("gpg --show-keys"), "{}", up.text());

    let server = Server::start(d, &["--listen", "127.0.0.1:0"], &[]);
    let addr = server.address();
    let said = server.stderr();
    assert!(
        said.contains(&format!("signing key fingerprint: {fingerprint}")),
        "{said}"
    );
    assert!(
        said.contains("packages built for the master 10.20.0.1"),
        "{said}"
    );
    // Loopback only: serve says so instead of offering nodes an address they cannot use.
    assert!(said.contains("--listen 0.0.0.0:"), "{said}");

    let browser = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/");
    let dom = tools::stdout(
        chromium(&browser.path().join("profile"))
            .arg("--dump-dom")
            .arg(&url),
    );
    let page = visible_text(&dom);
    for expected in [
        fingerprint.as_str(),
        "on the master 10.20.0.1",
        "apt-get install -y k8s-master",
        "apt-get install -y k8s-minion",
        "/usr/lib/apt/apt-helper download-file",
        "gpg --show-keys /usr/share/keyrings/kubedeb-archive-keyring.gpg",
    ] {
        assert!(
            page.contains(expected),
            "the page lacks {expected:?}:\n{page}"
        );
    }
    assert!(!page.contains("curl"), "{page}");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kubedeb-serve-page.png");
    let _ = fs::remove_file(&shot);
    all_output(
        chromium(&browser.path().join("profile"))
            .arg(format!("--screenshot={}", shot.display()))
            .arg("--window-size=1200,900")
            .arg(&url),
    );
    let png = fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );

    // Every link on the page answers (the dists/ link was a 404).
    for href in dom.split("href=\"").skip(1) {
        let href = html_unescape(&href[..href.find('"').unwrap()]);
        let answer = http_get(&addr, &format!("/{href}"));
        assert!(
            answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
            "{href}: {answer}"
        );
    }

    // The page's commands, verbatim, as root on a minimal Debian 12 without curl.
    let root = MinimalRoot::new();
    let setup = element(&dom, "pre", "setup");
    let bare = root.sh("! command -v curl && ! command -v wget && ! command -v gpg");
    assert!(
        bare.status.success(),
        "the minimal root is not minimal: {}",
        text(&bare)
    );
    // A key file other than the served one is refused before it is installed.
    let forged = setup.replace(
        &format!(
            "SHA256:{}",
            tools::stdout(Command::new("sha256sum").arg(&keyring))
                .split_whitespace()
                .next()
                .unwrap()
        ),
        &format!("SHA256:{}", "0".repeat(64)),
    );
    assert_ne!(forged, setup, "{setup}");
    let refused = root.sh(&forged);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(!root
        .path("/usr/share/keyrings/kubedeb-archive-keyring.gpg")
        .exists());
    let _ = fs::remove_file(root.path("/tmp/kubedeb-archive-keyring.gpg"));

    let out = root.sh(&setup);
    let said = text(&out);
    assert!(out.status.success(), "{setup}\n{said}");
    assert!(
        said.contains(&format!("http://{addr} stable InRelease")),
        "{said}"
    );
    assert!(!said.contains("W:") && !said.contains("E:"), "{said}");
    assert_eq!(
        fs::read(root.path("/usr/share/keyrings/kubedeb-archive-keyring.gpg")).unwrap(),
        fs::read(&keyring).unwrap()
    );
    let install = root.sh("apt-get install -s k8s-minion");
    let resolved = text(&install);
    assert!(install.status.success(), "{resolved}");
    for inst in [
        "Inst k8s-minion (1.1.4-1",
        "Inst k8s-flannel (0.5.5-1",
        "Inst docker.io",
    ] {
        assert!(resolved.contains(inst), "{inst}: {resolved}");
    }

    // The request log: one line per request, client, method, path, status, bytes.
    let log = server.wait_for("/dists/stable/InRelease 200");
    let key_bytes = fs::metadata(&keyring).unwrap().len();
    assert!(
        log.lines().any(|l| l.starts_with("127.0.0.1:")
            && l.ends_with(&format!(
                " GET /kubedeb-archive-keyring.gpg 200 {key_bytes}"
            ))),
        "{log}"
    );
    assert!(log.lines().any(|l| l.contains(" GET / 200 ")), "{log}");
}

#[test]
fn serve_on_all_addresses_names_the_hosts_own_addresses() {
    tools::need("unshare");
    let project = Project::with_release();
    let d = project.path();
    project.kubedeb(UP).success();
    // Its own network namespace with one known address: the host's network is not touched.
    // The address goes on lo: a fresh namespace has no other device, and what counts is the
    // address, not the device.
    let script = "ip link set lo up && ip addr add 10.99.7.5/24 dev lo && exec \"$0\" \"$@\"";
    let server = Server::start(
        d,
        &["--listen", "0.0.0.0:8000"],
        &["unshare", "--net", "sh", "-c", script],
    );
    let said = server.stderr();
    let listed: Vec<&str> = said
        .lines()
        .skip_while(|l| !l.starts_with("nodes use"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(listed, ["http://10.99.7.5:8000/"], "{said}");
    assert!(!said.contains("http://0.0.0.0"), "{said}");
    drop(server);

    let server = Server::start(
        d,
        &[
            "--listen",
            "127.0.0.1:0",
            "--url",
            "http://repo.example:8080/k/",
        ],
        &[],
    );
    let said = server.stderr();
    assert!(
        said.contains(
            "nodes use (the page there shows their commands):\n  http://repo.example:8080/k/\n"
        ),
        "{said}"
    );
}

#[test]
fn up_says_each_long_step_before_and_after_it() {
    let project = Project::with_release();
    let up = project.kubedeb(UP).success();
    let lines: Vec<&str> = up.stderr.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", up.stderr))
    };
    for component in ["kubernetes 1.1.4", "flannel 0.5.5", "etcd 2.2.1"] {
        assert!(
            at(&format!("{component}: extracting the binaries from"))
                < at(&format!("{component}: extracted ")),
            "{}",
            up.stderr
        );
    }
    for package in ["k8s-master", "k8s-images", "k8s-minion", "k8s-flannel"] {
        let before = at(&format!("{package}: compressing (gzip, default level)"));
        assert!(
            lines[before + 1].starts_with(&format!("{package}: "))
                && lines[before + 1].ends_with(" s"),
            "{}",
            up.stderr
        );
    }
    let publishing = at("publishing 4 package file(s) into repo (suite stable)");
    assert!(publishing < at("publish finished in "), "{}", up.stderr);
    assert!(at("k8s-flannel: compressing") < publishing, "{}", up.stderr);
}
