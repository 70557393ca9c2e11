//! The Debian mirror harness is right: its InRelease files are Debian's (gpgv with the carried
//! archive keys), its Packages are what they hash, `fill` puts Debian's exact .debs at their pool
//! paths, `serve` serves a folder with 404s, and `reference_install` is apt's own answer.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::debian_mirror::{
    self, inst_lines, reference_install, release_entry, required_status, serve, PACKAGES, SUITES,
};
use crate::harness::repo::sha256_file;
use crate::harness::tools::{need, run_any, text};

fn keyring(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/keyrings")
        .join(name)
}

/// gpgv's status lines for `file` checked against `keyrings` only.
fn gpgv(file: &Path, keyrings: &[&str]) -> std::process::Output {
    need("gpgv");
    let mut cmd = Command::new("gpgv");
    cmd.args(["--status-fd", "1"]);
    for k in keyrings {
        cmd.arg("--keyring").arg(keyring(k));
    }
    run_any(cmd.arg(file))
}

/// A GET (or HEAD) of `path` on `url`: (status code, body).
fn get(url: &str, method: &str, path: &str) -> (u16, Vec<u8>) {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, all[end + 4..].to_vec())
}

#[test]
fn debian_mirror_inrelease_is_debian_signed_and_packages_match_it() {
    let mirror = debian_mirror::shared();
    for (suite, security) in SUITES {
        let inrelease = mirror.inrelease(suite);
        assert!(
            inrelease.starts_with(if security {
                &mirror.security
            } else {
                &mirror.debian
            }),
            "{}",
            inrelease.display()
        );
        // Each suite is signed by its own automatic key: that key alone must verify it.
        let key = if security {
            "debian-archive-bookworm-security-automatic.gpg"
        } else {
            "debian-archive-bookworm-automatic.gpg"
        };
        let out = gpgv(&inrelease, &[key]);
        let status = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            status.contains("[GNUPG:] GOODSIG") && status.contains("[GNUPG:] VALIDSIG"),
            "{suite}: gpgv --keyring {key}:\n{}",
            text(&out)
        );
        let signed = fs::read_to_string(&inrelease).unwrap();
        assert!(signed.contains("\nSuite: "), "{signed:.400}");
        assert!(
            signed.contains(&format!("Codename: {}", suite.split('-').next().unwrap())),
            "{suite}: {signed:.400}"
        );

        // A changed byte in the signed text is refused by the same keys.
        let tampered = tempfile::NamedTempFile::new().unwrap();
        let at = signed.find("Codename: ").unwrap() + "Codename: ".len();
        let mut bytes = signed.clone().into_bytes();
        bytes[at] ^= 0x01;
        fs::write(tampered.path(), bytes).unwrap();
        let out = gpgv(tampered.path(), &[key]);
        assert!(
            !out.status.success(),
            "{suite}: tampered InRelease verified:\n{}",
            text(&out)
        );

        let (sha, size) = release_entry(&signed, PACKAGES).expect("Release lists Packages");
        let packages = mirror.packages(suite);
        assert_eq!(fs::metadata(&packages).unwrap().len(), size, "{suite}");
        assert_eq!(sha256_file(&packages), sha, "{suite}");
        // Debian's own Packages.xz, as served: hashed by Release, and the same index unpacked.
        let xz = mirror.packages_xz(suite);
        let (sha, size) = release_entry(&signed, &format!("{PACKAGES}.xz")).unwrap();
        assert_eq!(fs::metadata(&xz).unwrap().len(), size, "{suite}");
        assert_eq!(sha256_file(&xz), sha, "{suite}");
        need("xz");
        let unpacked = crate::harness::tools::run(Command::new("xz").arg("-dc").arg(&xz)).stdout;
        assert_eq!(unpacked, fs::read(&packages).unwrap(), "{suite}");
    }
    // The main suite is big and has what the air-gapped nodes need.
    let main = fs::read_to_string(mirror.packages("bookworm")).unwrap();
    assert!(
        main.len() > 10_000_000,
        "bookworm Packages is {} bytes",
        main.len()
    );
    for name in ["docker.io", "containerd", "runc", "iptables", "hello"] {
        assert!(!mirror.versions(name).is_empty(), "no {name} in the mirror");
    }
}

#[test]
fn debian_mirror_fill_places_debians_own_deb_at_its_filename() {
    let mirror = debian_mirror::shared();
    let versions = mirror.versions("hello");
    let version = versions.iter().next_back().expect("hello is in bookworm");
    let debs = mirror.find("hello", version);
    assert!(!debs.is_empty());
    mirror.fill(&[("hello", version)]);
    for deb in &debs {
        let path = deb.path();
        assert!(path.starts_with(&deb.root), "{}", path.display());
        assert!(
            deb.filename.starts_with("pool/main/h/hello/"),
            "{}",
            deb.filename
        );
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            deb.size,
            "{}",
            path.display()
        );
        assert_eq!(sha256_file(&path), deb.sha256, "{}", path.display());
    }
    // A second fill finds it in place and leaves the same file.
    let before = fs::metadata(debs[0].path()).unwrap().modified().unwrap();
    mirror.fill(&[("hello", version)]);
    assert_eq!(
        fs::metadata(debs[0].path()).unwrap().modified().unwrap(),
        before
    );
    assert!(mirror.find("hello", "0.0-no-such-version").is_empty());
}

#[test]
fn debian_mirror_serve_returns_the_bytes_and_404() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("dists/x")).unwrap();
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(dir.path().join("dists/x/Packages"), &bytes).unwrap();
    fs::write(dir.path().join("a+b~1.deb"), b"plus").unwrap();
    let served = serve(dir.path());
    assert!(
        served.url.starts_with("http://127.0.0.1:"),
        "{}",
        served.url
    );
    assert_eq!(get(&served.url, "GET", "/dists/x/Packages"), (200, bytes));
    assert_eq!(
        get(&served.url, "GET", "/a%2bb~1.deb"),
        (200, b"plus".to_vec())
    );
    assert_eq!(get(&served.url, "HEAD", "/dists/x/Packages").0, 200);
    assert_eq!(get(&served.url, "GET", "/dists/x/Packages.xz").0, 404);
    assert_eq!(get(&served.url, "GET", "/dists/x").0, 404);
    assert_eq!(get(&served.url, "GET", "/../etc/passwd").0, 404);
    assert_eq!(
        get(&served.url, "GET", "/dists/%2e%2e/%2e%2e/etc/passwd").0,
        404
    );

    // The mirror itself over HTTP: the exact InRelease bytes.
    let mirror = debian_mirror::shared();
    let served = serve(&mirror.security);
    let (code, body) = get(&served.url, "GET", "/dists/bookworm-security/InRelease");
    assert_eq!(code, 200);
    assert_eq!(
        body,
        fs::read(mirror.inrelease("bookworm-security")).unwrap()
    );
    let url = served.url.clone();
    drop(served);
    let addr = url.strip_prefix("http://").unwrap();
    assert!(
        TcpStream::connect(addr).is_err(),
        "the server still listens after drop"
    );
}

#[test]
fn debian_mirror_reference_install_of_docker_io_is_apts_answer() {
    let mirror = debian_mirror::shared();
    let status = required_status();
    let required = fs::read_to_string(&status).unwrap();
    for name in ["dpkg", "libc6", "apt"] {
        assert!(
            required.contains(&format!("Package: {name}\n")),
            "{name} not in {}",
            status.display()
        );
    }
    let inst = reference_install(mirror, None, &["docker.io"]);
    let names: Vec<&str> = inst.iter().map(|(n, _)| n.as_str()).collect();
    for name in ["docker.io", "containerd", "runc", "iptables"] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    for name in ["dpkg", "libc6", "apt", "base-files"] {
        assert!(
            !names.contains(&name),
            "{name} of the required set in {names:?}"
        );
    }
    // Every version apt chose is one of the mirror's indexes.
    for (name, version) in &inst {
        assert!(
            !mirror.find(name, version).is_empty(),
            "{name} {version} is in no index of the mirror"
        );
    }
    // Recommends are left out: docker.io recommends apparmor, which nothing in its closure needs.
    assert!(!names.contains(&"apparmor"), "{names:?}");

    // An extra flat folder is a source too.
    need("dpkg-scanpackages");
    let extra = tempfile::tempdir().unwrap();
    let deb = crate::harness::repo::DebSpec::new("k8s-probe", "1.1.4-1")
        .field("Depends", "docker.io")
        .build(extra.path());
    let scan = Command::new("dpkg-scanpackages")
        .args(["-m", "."])
        .current_dir(extra.path())
        .output()
        .unwrap();
    assert!(scan.status.success(), "{}", text(&scan));
    fs::write(extra.path().join("Packages"), &scan.stdout).unwrap();
    assert!(deb.is_file());
    let with = reference_install(mirror, Some(extra.path()), &["k8s-probe"]);
    assert!(
        with.contains(&("k8s-probe".to_string(), "1.1.4-1".to_string())),
        "{with:?}"
    );
    assert_eq!(
        with.iter()
            .filter(|(n, _)| n != "k8s-probe")
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        inst
    );
}

#[test]
fn debian_mirror_inst_lines_read_apts_simulation() {
    let sim = "NOTE: This is only a simulation!\n\
               Inst runc (1.1.5+ds1-1+deb12u1 Debian:12.11/stable [amd64])\n\
               Inst libc6 [2.36-9+deb12u9] (2.36-9+deb12u10 Debian:12.11/stable [amd64])\n\
               Conf runc (1.1.5+ds1-1+deb12u1 Debian:12.11/stable [amd64])\n";
    let got: Vec<(String, String)> = inst_lines(sim).into_iter().collect();
    assert_eq!(
        got,
        vec![
            ("libc6".into(), "2.36-9+deb12u10".into()),
            ("runc".into(), "1.1.5+ds1-1+deb12u1".into())
        ]
    );
}
