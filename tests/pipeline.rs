//! The whole operator flow through the real binary: init, check, up --from, serve.

#[path = "common/fixtures.rs"]
mod fixtures;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `kubedeb up` from the project's tarballs and catalog (gzip: fast to build).
const UP_OFFLINE: &[&str] = &[
    "up",
    "--from",
    "tarballs",
    "--catalog",
    "catalog.toml",
    "--compression",
    "gzip",
];

fn kubedeb(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubedeb"))
        .args(args)
        .current_dir(dir)
        .env("GNUPGHOME", dir.join("no-such-gnupg-home"))
        .output()
        .expect("run kubedeb")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "kubedeb failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A project folder holding the seed's tarballs (fixtures) and a catalog pinning their hashes.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tarballs = fixtures::SeedTarballs::new();
    tarballs.write_to(&dir.path().join("tarballs"));
    let catalog = fixtures::user_catalog(
        "http://upstream.invalid",
        Some(&fixtures::sha256_hex(&tarballs.kubernetes)),
        Some(&fixtures::sha256_hex(&tarballs.flannel)),
        Some(&fixtures::sha256_hex(&tarballs.etcd)),
    );
    std::fs::write(dir.path().join("catalog.toml"), catalog).unwrap();
    dir
}

fn dpkg_field(deb: &Path, field: &str) -> String {
    let out = Command::new("dpkg-deb")
        .args(["--field"])
        .arg(deb)
        .arg(field)
        .output()
        .expect("dpkg-deb (apt-get install dpkg)");
    assert!(
        out.status.success(),
        "dpkg-deb --field {}: {}",
        deb.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn init_then_up_offline_builds_and_publishes_all_three_packages() {
    let dir = project();
    let d = dir.path();
    ok(&kubedeb(d, &["init", "--master-ip", "10.20.0.1"]));
    let check = ok(&kubedeb(d, &["check", "--catalog", "catalog.toml"]));
    for expected in [
        "settings are valid",
        "k8s-master",
        "k8s-minion",
        "k8s-flannel",
        "/usr/bin/kube-apiserver",
        "/etc/default/kubelet",
    ] {
        assert!(
            check.contains(expected),
            "check output lacks {expected:?}:\n{check}"
        );
    }

    let up = ok(&kubedeb(d, UP_OFFLINE));
    let mut debs: Vec<_> = std::fs::read_dir(d.join("dist"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    debs.sort();
    let names: Vec<String> = debs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "k8s-flannel_0.5.5-1_amd64.deb",
            "k8s-master_1.1.4-1_amd64.deb",
            "k8s-minion_1.1.4-1_amd64.deb"
        ],
        "{up}"
    );
    assert_eq!(dpkg_field(&debs[1], "Package"), "k8s-master");
    assert!(
        dpkg_field(&debs[1], "Depends").contains("k8s-flannel (= 0.5.5-1)"),
        "{}",
        dpkg_field(&debs[1], "Depends")
    );

    // The built-in defaults (maintainer included) give packages lintian finds no error in.
    let lintian = Command::new("lintian")
        .args([
            "--allow-root",
            "--fail-on",
            "error",
            "--suppress-tags",
            "no-manual-page",
        ])
        .args(&debs)
        .output()
        .expect("lintian (apt-get install lintian)");
    assert!(
        lintian.status.success(),
        "lintian: {}{}",
        String::from_utf8_lossy(&lintian.stdout),
        String::from_utf8_lossy(&lintian.stderr)
    );

    let public = d.join("repo/public");
    let packages =
        std::fs::read_to_string(public.join("dists/stable/main/binary-amd64/Packages")).unwrap();
    for name in ["k8s-master", "k8s-minion", "k8s-flannel"] {
        assert!(
            packages.contains(&format!("Package: {name}\n")),
            "{name} not in Packages:\n{packages}"
        );
    }
    let verify = Command::new("gpgv")
        .arg("--keyring")
        .arg(public.join("kubedeb-archive-keyring.gpg"))
        .arg(public.join("dists/stable/InRelease"))
        .output()
        .expect("gpgv (apt-get install gpgv)");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // The same settings again: identical packages, nothing to publish.
    let again = ok(&kubedeb(d, UP_OFFLINE));
    assert!(again.contains("nothing to do"), "{again}");

    // A changed setting without a new revision is refused, and the repository keeps its state.
    let before = std::fs::read(public.join("dists/stable/InRelease")).unwrap();
    let toml = std::fs::read_to_string(d.join("cluster.toml"))
        .unwrap()
        .replace("cluster.local", "k8s.example");
    std::fs::write(d.join("cluster.toml"), toml).unwrap();
    let refused = kubedeb(d, UP_OFFLINE);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("k8s-master") && err.contains("revision"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(public.join("dists/stable/InRelease")).unwrap(),
        before
    );
}

#[test]
fn up_without_master_address_names_the_setting_and_writes_nothing() {
    let dir = project();
    let out = kubedeb(
        dir.path(),
        &["up", "--from", "tarballs", "--catalog", "catalog.toml"],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("master_ip"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("dist").exists());
    assert!(!dir.path().join("repo").exists());
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = Vec::new();
    stream.read_to_end(&mut body).unwrap();
    String::from_utf8_lossy(&body).into_owned()
}

#[test]
fn serve_shows_the_node_commands_and_serves_the_tree() {
    let dir = project();
    let d = dir.path();
    ok(&kubedeb(
        d,
        &[UP_OFFLINE, &["--master-ip", "10.20.0.1"]].concat(),
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_kubedeb"))
        .args(["serve", "--listen", &addr])
        .current_dir(d)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(&mut server);
    for _ in 0..100 {
        if TcpStream::connect(&addr).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let index = http_get(&addr, "/");
    assert!(index.contains(&format!("deb [signed-by=/usr/share/keyrings/kubedeb-archive-keyring.gpg] http://{addr}/ stable main")), "{index}");
    assert!(
        index.contains("apt-get install -y k8s-master")
            && index.contains("apt-get install -y k8s-minion")
    );
    let key = http_get(&addr, "/kubedeb-archive-keyring.gpg");
    assert!(
        key.starts_with("HTTP/1.1 200") || key.starts_with("HTTP/1.0 200"),
        "{key}"
    );
    assert!(http_get(&addr, "/dists/stable/InRelease").contains("BEGIN PGP SIGNED MESSAGE"));
    assert!(http_get(&addr, "/../private/").contains("404"));
}
