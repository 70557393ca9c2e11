//! Reading an archive through its trust chain: a repository kubedeb published and Debian's own InRelease, verified, tampered with and refused.

use crate::harness::repo::{publish_ok, DebSpec, KEYRING};
use crate::harness::tools::{need, run, stdout};
use kubedeb::archive::{self, keyrings, ArchiveError};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const URL: &str = "http://127.0.0.1:9/dists/stable/InRelease";
const PACKAGES: &str = "main/binary-amd64/Packages";

/// A repository published by kubedeb holding one package, and the .deb given to it.
struct Signed {
    dir: tempfile::TempDir,
    deb: PathBuf,
}

impl Signed {
    fn new() -> Signed {
        let dir = tempfile::tempdir().unwrap();
        let deb = DebSpec::new("trust-probe", "1.0-1")
            .field("Depends", "libc6 (>= 2.34)")
            .build(dir.path());
        publish_ok(&dir.path().join("repo"), &[&deb]);
        Signed { dir, deb }
    }

    fn public(&self, path: &str) -> PathBuf {
        self.dir.path().join("repo/public").join(path)
    }

    fn read(&self, path: &str) -> Vec<u8> {
        fs::read(self.public(path)).unwrap()
    }

    fn keyring(&self) -> Vec<u8> {
        self.read(KEYRING)
    }

    fn verify(&self, inrelease: &[u8]) -> Result<archive::Release, ArchiveError> {
        archive::verify(URL, "stable", inrelease, &[&self.keyring()], 0)
    }
}

fn fingerprints(keyring: &Path) -> Vec<String> {
    need("gpg");
    let home = tempfile::tempdir().unwrap();
    let listing = stdout(
        Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--no-autostart", "--with-colons", "--show-keys"])
            .arg(keyring),
    );
    listing
        .lines()
        .filter_map(|l| l.strip_prefix("fpr:::::::::"))
        .map(|f| f.trim_end_matches(':').to_string())
        .collect()
}

fn flip_byte(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    out
}

#[test]
fn a_published_repository_verifies_down_to_its_debs() {
    need("gpgv");
    let repo = Signed::new();
    let release = repo.verify(&repo.read("dists/stable/InRelease")).unwrap();
    let keyring = repo.public(KEYRING);
    assert_eq!(fingerprints(&keyring)[0], release.signer);
    for index in [
        PACKAGES.to_string(),
        format!("{PACKAGES}.xz"),
        format!("{PACKAGES}.gz"),
    ] {
        if !release.files.contains_key(&index) {
            continue;
        }
        let bytes = repo.read(&format!("dists/stable/{index}"));
        let packages = archive::read_packages(&release, &index, &bytes).unwrap();
        let [probe] = packages.as_slice() else {
            panic!("{index} lists {packages:?}");
        };
        assert_eq!(
            (probe.package.as_str(), probe.version.as_str()),
            ("trust-probe", "1.0-1")
        );
        assert_eq!(probe.depends.as_deref(), Some("libc6 (>= 2.34)"));
        archive::check_deb(probe, &repo.public(&probe.filename)).unwrap();
        archive::check_deb(probe, &repo.deb).unwrap();
    }
    assert!(release.files.contains_key(&format!("{PACKAGES}.xz")));
}

#[test]
fn a_foreign_unsigned_or_changed_inrelease_is_refused() {
    need("gpgv");
    let repo = Signed::new();
    let inrelease = repo.read("dists/stable/InRelease");
    let debian = keyrings::debian_bookworm();
    let err = archive::verify(URL, "stable", &inrelease, &debian, 0).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ArchiveError::Untrusted { .. }), "{message}");
    assert!(
        message.contains(URL) && message.contains("not in the keyring"),
        "{message}"
    );

    let plain = repo.read("dists/stable/Release");
    let err = repo.verify(&plain).unwrap_err().to_string();
    assert!(err.contains("no signature"), "{err}");

    let text = String::from_utf8(inrelease.clone()).unwrap();
    let at = text.find("Suite: stable").unwrap() + "Suite: ".len();
    let err = repo
        .verify(&flip_byte(&inrelease, at))
        .unwrap_err()
        .to_string();
    assert!(err.contains("BAD"), "{err}");

    let err = archive::verify(URL, "trixie", &inrelease, &[&repo.keyring()], 0).unwrap_err();
    assert!(err.to_string().contains("not of trixie"), "{err}");
}

#[test]
fn a_changed_index_or_deb_is_refused_naming_the_file() {
    need("gpgv");
    let repo = Signed::new();
    let release = repo.verify(&repo.read("dists/stable/InRelease")).unwrap();
    let index = format!("{PACKAGES}.xz");
    let bytes = repo.read(&format!("dists/stable/{index}"));
    let err = archive::read_packages(&release, &index, &flip_byte(&bytes, bytes.len() / 2))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&index) && err.contains("sha256"), "{err}");
    let err = archive::read_packages(&release, &index, &bytes[1..])
        .unwrap_err()
        .to_string();
    assert!(err.contains("bytes, the list says"), "{err}");
    let err = archive::read_packages(&release, "main/binary-arm64/Packages.xz", &bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not list main/binary-arm64"), "{err}");

    let probe = archive::read_packages(&release, &index, &bytes)
        .unwrap()
        .remove(0);
    let deb = fs::read(&repo.deb).unwrap();
    let changed = repo.dir.path().join("changed.deb");
    fs::write(&changed, flip_byte(&deb, deb.len() - 10)).unwrap();
    let err = archive::check_deb(&probe, &changed)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("changed.deb") && err.contains("sha256"),
        "{err}"
    );
    assert!(err.contains("trust-probe 1.0-1"), "{err}");
    let longer = [deb.as_slice(), b"x"].concat();
    let err = archive::check_stream(&probe, &longer[..], "longer.deb")
        .unwrap_err()
        .to_string();
    assert!(err.contains("longer than"), "{err}");
}

/// Stops the gpg-agent signing starts in a copied gpg home, also when the test fails.
struct Home(tempfile::TempDir);

impl Drop for Home {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.0.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// The repository's Release with a Valid-Until, clearsigned again with the repository's key.
fn resigned_with_valid_until(repo: &Signed, valid_until: &str) -> Vec<u8> {
    need("gpg");
    let home = Home(tempfile::tempdir().unwrap());
    run(Command::new("cp")
        .arg("-a")
        .arg(repo.dir.path().join("repo/private/gnupg/."))
        .arg(home.0.path()));
    let release = String::from_utf8(repo.read("dists/stable/Release")).unwrap();
    let date = release.lines().find(|l| l.starts_with("Date: ")).unwrap();
    let file = home.0.path().join("Release");
    let text = release.replace(date, &format!("{date}\nValid-Until: {valid_until}"));
    fs::write(&file, text).unwrap();
    stdout(
        Command::new("gpg")
            .arg("--homedir")
            .arg(home.0.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--digest-algo", "SHA512", "--clearsign", "--output", "-"])
            .arg(&file),
    )
    .into_bytes()
}

#[test]
fn an_expired_release_is_refused() {
    need("gpgv");
    let repo = Signed::new();
    let inrelease = resigned_with_valid_until(&repo, "Sat, 10 May 2025 09:03:08 UTC");
    let keyring = repo.keyring();
    let may_2025 = 1_746_867_788;
    let release = archive::verify(URL, "stable", &inrelease, &[&keyring], may_2025).unwrap();
    assert_eq!(release.valid_until, Some(may_2025));
    let err = archive::verify(URL, "stable", &inrelease, &[&keyring], may_2025 + 1).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ArchiveError::Expired { .. }), "{message}");
    assert!(message.contains("expired on Sat, 10 May 2025"), "{message}");
}

/// Debian's keys as carried in packaging/keyrings: the bookworm keys, and a real InRelease
/// (bookworm-updates, copied from deb.debian.org) verifies with them and with nothing else.
#[test]
fn debians_bundled_keys_verify_debians_inrelease() {
    need("gpgv");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let keys: Vec<String> = keyrings::DEBIAN_BOOKWORM
        .iter()
        .flat_map(|k| fingerprints(&dir.join("packaging/keyrings").join(k.name)))
        .collect();
    for expected in [
        "4D64FEC119C2029067D6E791F8D2585B8783D481",
        "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8",
        "05AB90340C0C5E797F44A8C8254CF3B5AEC0A8F0",
    ] {
        assert!(
            keys.iter().any(|k| k == expected),
            "{expected} not in {keys:?}"
        );
    }
    let inrelease =
        fs::read(dir.join("tests/fixtures/archive/bookworm-updates.InRelease")).unwrap();
    let url = "http://deb.debian.org/debian/dists/bookworm-updates/InRelease";
    let debian = keyrings::debian_bookworm();
    let release = archive::verify(url, "bookworm-updates", &inrelease, &debian, 0).unwrap();
    assert!(keys.contains(&release.signer), "{} signed", release.signer);
    assert!(release.files.contains_key("main/binary-amd64/Packages.xz"));

    let repo = Signed::new();
    let err = archive::verify(url, "bookworm-updates", &inrelease, &[&repo.keyring()], 0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(url) && err.contains("not in the keyring"),
        "{err}"
    );
}
