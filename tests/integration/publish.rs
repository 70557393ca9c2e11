//! `kubedeb publish`: layout, Release and hashes, signatures, apt-ftparchive-equal stanzas, refusals.

use crate::harness::repo::*;
use crate::harness::tools::{need, run, run_any, text};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn public(repo: &Path) -> PathBuf {
    repo.join("public")
}

fn release(repo: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(public(repo).join("dists/stable/Release")).unwrap();
    stanzas(&text).remove(0)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn gpgv(repo: &Path, args: &[&Path]) -> std::process::Output {
    need("gpgv");
    run_any(
        Command::new("gpgv")
            .arg("--keyring")
            .arg(public(repo).join(KEYRING))
            .args(args),
    )
}

/// Verifies a suite the way apt does it: both signatures, then every index against Release.
fn check_signed_and_consistent(repo: &Path) {
    let dists = public(repo).join("dists/stable");
    let out = gpgv(repo, &[&dists.join("InRelease")]);
    assert!(
        out.status.success(),
        "InRelease does not verify:\n{}",
        text(&out)
    );
    let out = gpgv(repo, &[&dists.join("Release.gpg"), &dists.join("Release")]);
    assert!(
        out.status.success(),
        "Release.gpg does not verify:\n{}",
        text(&out)
    );

    let signed = dists.join("InRelease.payload");
    let out = run_any(
        Command::new("gpgv")
            .arg("--keyring")
            .arg(public(repo).join(KEYRING))
            .arg("--output")
            .arg(&signed)
            .arg(dists.join("InRelease")),
    );
    assert!(out.status.success(), "{}", text(&out));
    let payload = fs::read_to_string(&signed).unwrap();
    fs::remove_file(&signed).unwrap();
    assert_eq!(
        payload,
        fs::read_to_string(dists.join("Release")).unwrap(),
        "InRelease signs another text than Release"
    );

    let release = release(repo);
    for (list, kind) in [("MD5Sum", "MD5Sum"), ("SHA256", "SHA256")] {
        let lines = field(&release, list).unwrap_or_else(|| panic!("Release has no {list}"));
        let mut listed = BTreeSet::new();
        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let (hash, size, path) = (parts[0], parts[1], parts[2]);
            let bytes = fs::read(dists.join(path))
                .unwrap_or_else(|e| panic!("{path} listed but unreadable: {e}"));
            assert_eq!(bytes.len().to_string(), size, "size of {path}");
            let real = if kind == "MD5Sum" {
                hex::encode(Md5::digest(&bytes))
            } else {
                hex::encode(Sha256::digest(&bytes))
            };
            assert_eq!(real, hash, "{kind} of {path}");
            let by_hash = dists
                .join(Path::new(path).parent().unwrap())
                .join("by-hash")
                .join(kind)
                .join(hash);
            assert_eq!(fs::read(&by_hash).unwrap(), bytes, "by-hash copy of {path}");
            listed.insert(path.to_string());
        }
        let arches = field(&release, "Architectures").unwrap();
        let mut want = BTreeSet::new();
        for arch in arches.split_whitespace() {
            for name in ["Packages", "Packages.gz", "Packages.xz"] {
                want.insert(format!("main/binary-{arch}/{name}"));
            }
        }
        assert_eq!(listed, want, "{list} lists exactly the indexes");
    }
    for arch in field(&release, "Architectures").unwrap().split_whitespace() {
        let dir = dists.join(format!("main/binary-{arch}"));
        let plain = fs::read(dir.join("Packages")).unwrap();
        let mut gz = Vec::new();
        flate2::read::GzDecoder::new(fs::File::open(dir.join("Packages.gz")).unwrap())
            .read_to_end(&mut gz)
            .unwrap();
        let mut xz = Vec::new();
        liblzma::read::XzDecoder::new(fs::File::open(dir.join("Packages.xz")).unwrap())
            .read_to_end(&mut xz)
            .unwrap();
        assert_eq!(gz, plain, "Packages.gz holds Packages");
        assert_eq!(xz, plain, "Packages.xz holds Packages");
    }
}

fn sorted_stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut s: Vec<_> = stanzas(text)
        .into_iter()
        .map(|st| {
            st.into_iter()
                .filter(|(n, _)| n != "SHA1" && n != "SHA512")
                .collect::<Vec<_>>()
        })
        .collect();
    s.sort_by_key(|st| field(st, "Filename").unwrap().to_string());
    s
}

#[test]
fn publishes_a_signed_repository_that_matches_apt_ftparchive() {
    need("apt-ftparchive");
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let debs = [
        DebSpec::new("k8s-master", "1.1.4-1")
            .field("Depends", "adduser, k8s-flannel (= 1.1.4-1)")
            .field("Homepage", "https://kubernetes.io")
            .build(work.path()),
        DebSpec::new("k8s-master", "1.1.4-2")
            .compression("gzip")
            .build(work.path()),
        DebSpec::new("k8s-flannel", "1:0.5.5-1")
            .compression("zstd")
            .field("X-Custom", "kept")
            .build(work.path()),
        DebSpec::new("libkube-data", "2.0")
            .arch("all")
            .compression("none")
            .build(work.path()),
    ];
    let paths: Vec<&Path> = debs.iter().map(|p| p.as_path()).collect();
    let out = publish_ok(&repo, &paths);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("added      k8s-master 1.1.4-1 amd64"),
        "{report}"
    );

    served_layout(&repo);
    release_fields(&repo);
    check_signed_and_consistent(&repo);
    private_side(&repo);
    stanzas_equal_apt_ftparchive(&repo);
}

/// The pool, the suite's files and the public key, with their modes.
fn served_layout(repo: &Path) {
    let pub_dir = public(repo);
    for pool in [
        "pool/main/k/k8s-master/k8s-master_1.1.4-1_amd64.deb",
        "pool/main/k/k8s-master/k8s-master_1.1.4-2_amd64.deb",
        "pool/main/k/k8s-flannel/k8s-flannel_0.5.5-1_amd64.deb",
        "pool/main/libk/libkube-data/libkube-data_2.0_all.deb",
    ] {
        assert!(pub_dir.join(pool).is_file(), "{pool} missing");
        assert_eq!(
            fs::metadata(pub_dir.join(pool))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o644
        );
    }
    assert!(fs::symlink_metadata(pub_dir.join("dists/stable"))
        .unwrap()
        .file_type()
        .is_symlink());
    for f in [
        "InRelease",
        "Release",
        "Release.gpg",
        "main/binary-amd64/Packages",
    ] {
        assert!(
            pub_dir.join("dists/stable").join(f).is_file(),
            "{f} missing"
        );
    }
    assert!(pub_dir.join("kubedeb-archive-keyring.asc").is_file());
    let asc = fs::read_to_string(pub_dir.join("kubedeb-archive-keyring.asc")).unwrap();
    assert!(asc.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    assert!(!asc.contains("PRIVATE"));
}

/// Release: the fields in order, the suite's values, a Date of now in RFC 1123 UTC.
fn release_fields(repo: &Path) {
    let release = release(repo);
    let names: Vec<&str> = release.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Origin",
            "Label",
            "Suite",
            "Codename",
            "Date",
            "Architectures",
            "Components",
            "Description",
            "Acquire-By-Hash",
            "MD5Sum",
            "SHA256"
        ]
    );
    assert_eq!(field(&release, "Origin"), Some("kubedeb"));
    assert_eq!(field(&release, "Suite"), Some("stable"));
    assert_eq!(field(&release, "Codename"), Some("stable"));
    assert_eq!(field(&release, "Architectures"), Some("amd64"));
    assert_eq!(field(&release, "Components"), Some("main"));
    assert_eq!(field(&release, "Acquire-By-Hash"), Some("yes"));
    let date = field(&release, "Date").unwrap();
    let out = run(Command::new("date").args(["-u", "+%s", "-d", date]));
    let when: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - when).abs() < 120, "Date {date} is not now");
    assert!(
        date.ends_with(" UTC") && date.contains(", "),
        "Date {date} is not RFC 1123 UTC"
    );
}

/// The private side: a real Ed25519 key, tight modes.
fn private_side(repo: &Path) {
    let pub_dir = public(repo);
    let private = repo.join("private");
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for (path, kind) in snapshot(&private) {
        if kind.starts_with("file") {
            assert!(kind.starts_with("file 600"), "{path}: {kind}");
        } else if kind.starts_with("dir") {
            assert!(kind.starts_with("dir 700"), "{path}: {kind}");
        }
    }
    let out = run(Command::new("gpg")
        .args(["--batch", "--with-colons", "--show-keys"])
        .arg(pub_dir.join(KEYRING)));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("pub:") && l.split(':').nth(3) == Some("22")),
        "not Ed25519:\n{listing}"
    );
}

/// Stanzas equal apt-ftparchive's for the same pool, field by field, in order.
fn stanzas_equal_apt_ftparchive(repo: &Path) {
    let pub_dir = public(repo);
    let ours = fs::read_to_string(pub_dir.join("dists/stable/main/binary-amd64/Packages")).unwrap();
    let out = run(Command::new("apt-ftparchive")
        .args(["packages", "pool"])
        .current_dir(&pub_dir));
    let theirs = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(sorted_stanzas(&ours), sorted_stanzas(&theirs));
    assert_eq!(stanzas(&ours).len(), 4);
    // Our own order: by name, then version.
    let order: Vec<(String, String)> = stanzas(&ours)
        .iter()
        .map(|s| {
            (
                field(s, "Package").unwrap().into(),
                field(s, "Version").unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("k8s-flannel", "1:0.5.5-1"),
        ("k8s-master", "1.1.4-1"),
        ("k8s-master", "1.1.4-2"),
        ("libkube-data", "2.0"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(order, want);
}

#[test]
fn a_second_publish_keeps_older_versions_and_the_old_by_hash_indexes() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let v1 = DebSpec::new("k8s-minion", "1.1.4-1").build(work.path());
    let v2 = DebSpec::new("k8s-minion", "1.1.4-2").build(work.path());
    publish_ok(&repo, &[&v1]);
    let first = release(&repo);
    publish_ok(&repo, &[&v2]);
    let set = published_set(&public(&repo), "stable");
    assert_eq!(set.len(), 2, "{set:?}");
    check_signed_and_consistent(&repo);
    // A client holding the first InRelease still finds the indexes it names, by hash.
    let dists = public(&repo).join("dists/stable");
    for line in field(&first, "SHA256")
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let dir = Path::new(parts[2]).parent().unwrap();
        assert!(
            dists
                .join(dir)
                .join("by-hash/SHA256")
                .join(parts[0])
                .is_file(),
            "old {} gone",
            parts[2]
        );
    }
    assert_eq!(
        fs::read_dir(public(&repo).join("dists/.states/stable"))
            .unwrap()
            .count(),
        1,
        "old state kept"
    );
}

#[test]
fn a_different_deb_with_a_published_version_is_refused_with_both_hashes() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let first = DebSpec::new("k8s-master", "1.1.4-1").build(work.path());
    let second = DebSpec::new("k8s-master", "1.1.4-1")
        .marker("rebuilt")
        .build(work.path());
    publish_ok(&repo, &[&first]);
    let before = snapshot(&repo);
    let out = publish(&repo, &[&second]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&sha256_file(&first)),
        "published hash missing: {err}"
    );
    assert!(
        err.contains(&sha256_file(&second)),
        "new hash missing: {err}"
    );
    assert!(
        err.contains("k8s-master") && err.contains("1.1.4-1"),
        "{err}"
    );
    assert_eq!(
        snapshot(&repo),
        before,
        "{}",
        snapshot_diff(&before, &snapshot(&repo))
    );

    // The same clash inside one call is refused too, before anything is written.
    let fresh = work.path().join("fresh");
    let out = publish(&fresh, &[&first, &second]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&sha256_file(&second)),
        "{}",
        stderr(&out)
    );
    assert!(!fresh.exists(), "a refused publish created the repository");
}

#[test]
fn publishing_the_identical_deb_again_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let deb = DebSpec::new("k8s-flannel", "0.5.5-1").build(work.path());
    publish_ok(&repo, &[&deb]);
    let before = snapshot(&repo);
    let out = publish_ok(&repo, &[&deb, &deb]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing to do"),
        "{}",
        text(&out)
    );
    let after = snapshot(&repo);
    assert_eq!(before, after, "{}", snapshot_diff(&before, &after));
}

#[test]
fn keep_prunes_each_package_to_its_newest_versions_in_dpkg_order() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let versions = ["1.0-1", "1.9-1", "1.10-1", "2.0~rc1-1"];
    let debs: Vec<PathBuf> = versions
        .iter()
        .map(|v| DebSpec::new("k8s-master", v).build(work.path()))
        .collect();
    let other = DebSpec::new("k8s-minion", "0.1-1").build(work.path());
    let mut all: Vec<&Path> = debs.iter().map(|p| p.as_path()).collect();
    all.push(&other);
    publish_ok(&repo, &all);
    assert_eq!(published_set(&public(&repo), "stable").len(), 5);

    let out = run(publish_cmd(&repo).args(["--keep", "2"]).arg(&other));
    let set: Vec<String> = published_set(&public(&repo), "stable")
        .into_iter()
        .map(|(p, v, _)| format!("{p} {v}"))
        .collect();
    assert_eq!(
        set,
        [
            "k8s-master 1.10-1",
            "k8s-master 2.0~rc1-1",
            "k8s-minion 0.1-1"
        ],
        "{}",
        text(&out)
    );
    let pool = public(&repo).join("pool/main/k/k8s-master");
    let mut files: Vec<String> = fs::read_dir(&pool)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "k8s-master_1.10-1_amd64.deb",
            "k8s-master_2.0~rc1-1_amd64.deb"
        ]
    );
    check_signed_and_consistent(&repo);

    // An older version published with --keep 2 is not kept either.
    let old = DebSpec::new("k8s-master", "0.9-1").build(work.path());
    run(publish_cmd(&repo).args(["--keep", "2"]).arg(&old));
    assert!(!pool.join("k8s-master_0.9-1_amd64.deb").exists());
    assert_eq!(published_set(&public(&repo), "stable").len(), 3);
}

#[test]
fn release_date_moves_forward_even_with_source_date_epoch() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let mut dates = Vec::new();
    for (i, version) in ["1-1", "2-1", "3-1"].iter().enumerate() {
        let deb = DebSpec::new("k8s-minion", version).build(work.path());
        run(publish_cmd(&repo)
            .env("SOURCE_DATE_EPOCH", "1000000000")
            .arg(&deb));
        let date = field(&release(&repo), "Date").unwrap().to_string();
        let out = run(Command::new("date").args(["-u", "+%s", "-d", &date]));
        let when: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(when, 1_000_000_000 + i as i64, "publish {i}: {date}");
        dates.push(date);
    }
    assert_eq!(dates[0], "Sun, 09 Sep 2001 01:46:40 UTC");
    // Without SOURCE_DATE_EPOCH, now is later than all of them.
    let deb = DebSpec::new("k8s-minion", "4-1").build(work.path());
    publish_ok(&repo, &[&deb]);
    assert!(
        field(&release(&repo), "Date").unwrap().contains("20"),
        "no current year"
    );
    check_signed_and_consistent(&repo);
}

#[test]
fn concurrent_publishes_are_serialized_and_both_land() {
    for round in 0..3 {
        let work = tempfile::tempdir().unwrap();
        let repo = work.path().join("repo");
        if round > 0 {
            publish_ok(&repo, &[&DebSpec::new("base", "1-1").build(work.path())]);
        }
        let a = DebSpec::new("k8s-master", "1.1.4-1")
            .filler(2 << 20)
            .build(work.path());
        let b = DebSpec::new("k8s-minion", "1.1.4-1")
            .filler(2 << 20)
            .build(work.path());
        let spawn = |deb: &Path| {
            publish_cmd(&repo)
                .arg(deb)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (pa, pb) = (spawn(&a), spawn(&b));
        for child in [pa, pb] {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", text(&out));
        }
        let names: BTreeSet<String> = published_set(&public(&repo), "stable")
            .into_iter()
            .map(|(p, _, _)| p)
            .collect();
        assert!(
            names.contains("k8s-master") && names.contains("k8s-minion"),
            "round {round}: {names:?}"
        );
        check_signed_and_consistent(&repo);
    }
}

/// An ar archive in the deb layout, with members given as-is.
fn ar(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        out.extend_from_slice(
            format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                0,
                100644,
                data.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Runs a publish that must fail, and checks the message and that nothing changed.
fn assert_refused(repo: &Path, cmd: &mut Command, expect: &[&str]) {
    let before = snapshot(repo);
    let out = run_any(cmd);
    assert!(!out.status.success(), "{cmd:?} succeeded:\n{}", text(&out));
    let err = stderr(&out);
    for e in expect {
        assert!(err.contains(e), "stderr lacks {e:?}:\n{err}");
    }
    let after = snapshot(repo);
    assert_eq!(
        before,
        after,
        "the repository changed:\n{}",
        snapshot_diff(&before, &after)
    );
}

#[test]
fn bad_debs_are_refused_with_the_reason_and_the_repository_is_unchanged() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    publish_ok(&repo, &[&DebSpec::new("base", "1-1").build(work.path())]);
    let good = DebSpec::new("k8s-master", "1.1.4-1")
        .filler(4096)
        .build(work.path());
    let bytes = fs::read(&good).unwrap();

    let w = work.path();
    let write = |name: &str, data: &[u8]| -> PathBuf {
        let p = w.join(name);
        fs::write(&p, data).unwrap();
        p
    };
    let control = b"Package: broken\nVersion: 1.0\nArchitecture: amd64\nDescription: x\n";
    let data = tar_gz(&[("./usr/share/doc/broken/x", b"x")]);
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (
            write("truncated.deb", &bytes[..bytes.len() / 2]),
            vec!["truncated.deb", "truncated"],
        ),
        (
            write("notes.deb", b"this is a text file\n"),
            vec!["notes.deb", "not an ar archive"],
        ),
        (write("empty.deb", b""), vec!["empty.deb", "empty"]),
        (
            write(
                "nocolon.deb",
                &ar(&[
                    ("debian-binary", b"2.0\n".to_vec()),
                    (
                        "control.tar.gz",
                        tar_gz(&[("./control", b"Package: broken\nthis line has no colon\n")]),
                    ),
                    ("data.tar.gz", data.clone()),
                ]),
            ),
            vec!["nocolon.deb", "control file is broken", "no ':'"],
        ),
        (
            write(
                "nopackage.deb",
                &ar(&[
                    ("debian-binary", b"2.0\n".to_vec()),
                    (
                        "control.tar.gz",
                        tar_gz(&[("./control", b"Version: 1.0\nArchitecture: amd64\n")]),
                    ),
                    ("data.tar.gz", data.clone()),
                ]),
            ),
            vec!["nopackage.deb", "no Package field"],
        ),
        (
            write(
                "badversion.deb",
                &ar(&[
                    ("debian-binary", b"2.0\n".to_vec()),
                    (
                        "control.tar.gz",
                        tar_gz(&[(
                            "./control",
                            b"Package: broken\nVersion: one\nArchitecture: amd64\n",
                        )]),
                    ),
                    ("data.tar.gz", data.clone()),
                ]),
            ),
            vec!["badversion.deb", "Version is invalid"],
        ),
        (
            write(
                "garbledcontrol.deb",
                &ar(&[
                    ("debian-binary", b"2.0\n".to_vec()),
                    (
                        "control.tar.gz",
                        b"\x1f\x8b\x08\x00 not really gzip at all".to_vec(),
                    ),
                    ("data.tar.gz", data.clone()),
                ]),
            ),
            vec!["garbledcontrol.deb", "control.tar.gz member is broken"],
        ),
        (
            write(
                "nocontrolfile.deb",
                &ar(&[
                    ("debian-binary", b"2.0\n".to_vec()),
                    ("control.tar.gz", tar_gz(&[("./md5sums", b"")])),
                    ("data.tar.gz", data.clone()),
                ]),
            ),
            vec!["nocontrolfile.deb", "no ./control"],
        ),
        (
            write(
                "nobinary.deb",
                &ar(&[
                    ("control.tar.gz", tar_gz(&[("./control", control)])),
                    ("data.tar.gz", data.clone()),
                ]),
            ),
            vec!["nobinary.deb", "not debian-binary"],
        ),
        (
            write(
                "nodata.deb",
                &ar(&[
                    ("debian-binary", b"2.0\n".to_vec()),
                    ("control.tar.gz", tar_gz(&[("./control", control)])),
                ]),
            ),
            vec!["nodata.deb", "data.tar member is missing"],
        ),
        (
            w.join("does-not-exist.deb"),
            vec!["does-not-exist.deb", "No such file"],
        ),
    ];
    for (deb, expect) in cases {
        // Given together with a good deb: nothing at all may be published.
        assert_refused(&repo, publish_cmd(&repo).arg(&good).arg(&deb), &expect);
    }
    // dpkg agrees these are not packages (and accepts the hand-made layout when it is whole).
    let whole = write(
        "whole.deb",
        &ar(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", tar_gz(&[("./control", control)])),
            ("data.tar.gz", data),
        ]),
    );
    run(Command::new("dpkg-deb").arg("--info").arg(&whole));
    publish_ok(&repo, &[&whole]);
}

#[test]
fn a_missing_signing_key_is_refused_and_the_repository_is_unchanged() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    publish_ok(&repo, &[&DebSpec::new("base", "1-1").build(work.path())]);
    let deb = DebSpec::new("k8s-master", "1.1.4-1").build(work.path());
    let home = work.path().join("gnupg");
    fs::create_dir(&home).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    let missing_file = work.path().join("missing-key.asc");
    assert_refused(
        &repo,
        publish_cmd(&repo)
            .env("GNUPGHOME", &home)
            .arg("--key")
            .arg("0123456789ABCDEF0123456789ABCDEF01234567")
            .arg(&deb),
        &["0123456789ABCDEF0123456789ABCDEF01234567", "not found"],
    );
    assert_refused(
        &repo,
        publish_cmd(&repo)
            .env("GNUPGHOME", &home)
            .arg("--key")
            .arg(&missing_file)
            .arg(&deb),
        &["missing-key.asc", "no key file"],
    );
    // A file that holds only a public key cannot sign.
    let public_only = work.path().join("public-only.gpg");
    fs::copy(public(&repo).join(KEYRING), &public_only).unwrap();
    assert_refused(
        &repo,
        publish_cmd(&repo)
            .env("GNUPGHOME", &home)
            .arg("--key")
            .arg(&public_only)
            .arg(&deb),
        &["public-only.gpg", "no secret key"],
    );
    // A key that exists but cannot sign without a passphrase: refused before any write.
    run(Command::new("gpg").env("GNUPGHOME", &home).args([
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "secret",
        "--quick-gen-key",
        "Locked <locked@example.invalid>",
        "ed25519",
        "sign",
        "never",
    ]));
    assert_refused(
        &repo,
        publish_cmd(&repo)
            .env("GNUPGHOME", &home)
            .arg("--key")
            .arg("locked@example.invalid")
            .arg(&deb),
        &["gpg failed to sign with the key", "No passphrase given"],
    );
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "gpg-agent"])
        .status();
}

/// Unmounts on drop, so a failing test leaves no read-only mount behind.
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    fn new(dir: &Path) -> Self {
        need("mount");
        run(Command::new("mount").arg("--bind").arg(dir).arg(dir));
        let guard = ReadOnlyMount(dir.to_path_buf());
        run(Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(dir));
        guard
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn an_unwritable_repository_is_refused_and_left_unchanged() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    publish_ok(&repo, &[&DebSpec::new("base", "1-1").build(work.path())]);
    let deb = DebSpec::new("k8s-master", "1.1.4-1").build(work.path());
    let before = snapshot(&repo);
    {
        // Root ignores permission bits; a read-only mount stops root too.
        let _ro = ReadOnlyMount::new(&repo);
        let probe = fs::File::create(repo.join("probe"));
        assert!(probe.is_err(), "the read-only mount is writable");
        let out = publish(&repo, &[&deb]);
        assert!(!out.status.success(), "{}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&repo.display().to_string()) && err.contains("Read-only file system"),
            "{err}"
        );
    }
    let after = snapshot(&repo);
    assert_eq!(before, after, "{}", snapshot_diff(&before, &after));
    // Once writable again, the same publish works.
    publish_ok(&repo, &[&deb]);
}

#[test]
fn signs_with_the_users_own_key_from_a_file_or_by_id() {
    need("gpg");
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("gnupg");
    let key_file = work.path().join("signer.asc");
    let fpr = secret_key_file(&home, "Test Signer <signer@example.invalid>", &key_file);
    let deb = DebSpec::new("k8s-master", "1.1.4-1").build(work.path());

    let signer_of = |repo: &Path| -> String {
        let out = gpgv(repo, &[&public(repo).join("dists/stable/InRelease")]);
        assert!(out.status.success(), "{}", text(&out));
        let out = run(Command::new("gpg")
            .args(["--batch", "--with-colons", "--show-keys"])
            .arg(public(repo).join(KEYRING)));
        let l = String::from_utf8_lossy(&out.stdout).into_owned();
        l.lines()
            .find(|l| l.starts_with("fpr:"))
            .unwrap()
            .split(':')
            .nth(9)
            .unwrap()
            .to_string()
    };

    let from_file = work.path().join("from-file");
    run(publish_cmd(&from_file)
        .arg("--key")
        .arg(&key_file)
        .arg(&deb));
    assert_eq!(signer_of(&from_file), fpr);
    check_signed_and_consistent(&from_file);
    // The imported key is the repository's key from now on.
    let second = DebSpec::new("k8s-master", "1.1.4-2").build(work.path());
    publish_ok(&from_file, &[&second]);
    assert_eq!(signer_of(&from_file), fpr);

    let by_id = work.path().join("by-id");
    run(publish_cmd(&by_id)
        .env("GNUPGHOME", &home)
        .arg("--key")
        .arg(&fpr)
        .arg(&deb));
    assert_eq!(signer_of(&by_id), fpr);
    check_signed_and_consistent(&by_id);
    assert!(
        !by_id.join("private/gnupg").exists(),
        "the user's key was copied into the repository"
    );
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "gpg-agent"])
        .status();
}
