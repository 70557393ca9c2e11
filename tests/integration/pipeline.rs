//! The whole operator flow through the real binary: init, check, up --from, serve.

use crate::harness::project::Project;
use crate::harness::{bin, tools};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

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

fn dpkg_field(deb: &Path, field: &str) -> String {
    tools::stdout(Command::new("dpkg-deb").arg("--field").arg(deb).arg(field))
        .trim()
        .to_string()
}

#[test]
fn init_then_up_offline_builds_and_publishes_all_four_packages() {
    let dir = Project::with_release();
    let d = dir.path();
    bin::kubedeb_at(d, &["init", "--master-ip", "10.20.0.1"]).success();
    let check = bin::kubedeb_at(d, &["check", "--catalog", "catalog.toml"])
        .success()
        .stdout;
    for expected in [
        "settings are valid",
        "k8s-master",
        "k8s-minion",
        "k8s-flannel",
        "k8s-images",
        "/usr/share/k8s-images/gcr.io_google_containers_pause_0.8.0.tar",
        "/usr/bin/kube-apiserver",
        "/etc/default/kubelet",
    ] {
        assert!(
            check.contains(expected),
            "check output lacks {expected:?}:\n{check}"
        );
    }

    let up = bin::kubedeb_at(d, UP_OFFLINE).success().stdout;
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
            "k8s-images_1.1.4-1_amd64.deb",
            "k8s-master_1.1.4-1_amd64.deb",
            "k8s-minion_1.1.4-1_amd64.deb"
        ],
        "{up}"
    );
    assert_eq!(dpkg_field(&debs[2], "Package"), "k8s-master");
    assert!(
        dpkg_field(&debs[2], "Depends").contains("k8s-flannel (= 0.5.5-1)"),
        "{}",
        dpkg_field(&debs[2], "Depends")
    );
    assert!(
        dpkg_field(&debs[3], "Depends").contains("k8s-images (= 1.1.4-1)"),
        "{}",
        dpkg_field(&debs[3], "Depends")
    );

    // The built-in defaults (maintainer included) give packages lintian finds no error in.
    let lintian = tools::run_any(
        Command::new("lintian")
            .args([
                "--allow-root",
                "--fail-on",
                "error",
                "--suppress-tags",
                "no-manual-page",
            ])
            .args(&debs),
    );
    assert!(
        lintian.status.success(),
        "lintian: {}{}",
        String::from_utf8_lossy(&lintian.stdout),
        String::from_utf8_lossy(&lintian.stderr)
    );

    let public = d.join("repo/public");
    let packages =
        std::fs::read_to_string(public.join("dists/stable/main/binary-amd64/Packages")).unwrap();
    for name in ["k8s-master", "k8s-minion", "k8s-images", "k8s-flannel"] {
        assert!(
            packages.contains(&format!("Package: {name}\n")),
            "{name} not in Packages:\n{packages}"
        );
    }
    let verify = tools::run_any(
        Command::new("gpgv")
            .arg("--keyring")
            .arg(public.join("kubedeb-archive-keyring.gpg"))
            .arg(public.join("dists/stable/InRelease")),
    );
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // The same settings again: identical packages, nothing to publish.
    let again = bin::kubedeb_at(d, UP_OFFLINE).success().stdout;
    assert!(again.contains("nothing to do"), "{again}");

    // A changed setting without a new revision is refused, and the repository keeps its state.
    let before = std::fs::read(public.join("dists/stable/InRelease")).unwrap();
    let toml = std::fs::read_to_string(d.join("cluster.toml"))
        .unwrap()
        .replace("cluster.local", "k8s.example");
    std::fs::write(d.join("cluster.toml"), toml).unwrap();
    let refused = bin::kubedeb_at(d, UP_OFFLINE);
    assert!(!refused.status.success());
    let err = &refused.stderr;
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
    let dir = Project::with_release();
    let out = bin::kubedeb_at(
        dir.path(),
        &["up", "--from", "tarballs", "--catalog", "catalog.toml"],
    );
    assert!(!out.status.success());
    assert!(out.stderr.contains("master_ip"), "{}", out.stderr);
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
    let dir = Project::with_release();
    let d = dir.path();
    bin::kubedeb_at(d, &[UP_OFFLINE, &["--master-ip", "10.20.0.1"]].concat()).success();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = bin::kubedeb_in(d)
        .args(["serve", "--listen", &addr])
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
