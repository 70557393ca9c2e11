//! A Debian 12 client (mmdebstrap chroot) uses the published repository through a signed-by
//! source: update, install, install an older version; tampered indexes and releases are refused.

use crate::harness::repo::*;
use crate::harness::tools::{run, run_any, text};
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// Changes one byte of a file in place (so hard links, like its by-hash copies, change too).
fn flip_byte(path: &Path, at: u64) {
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    std::io::Read::read_exact(&mut f, &mut byte).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[byte[0] ^ 0x20]).unwrap();
}

fn installed(chroot: &Chroot, package: &str) -> String {
    let out = run(&mut chroot.command(&["dpkg-query", "-W", "-f", "${Version}", package]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_debian_12_client_updates_installs_and_refuses_tampering() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let old = DebSpec::new("k8s-demo", "1.0-1")
        .field("Depends", "libc6")
        .build(work.path());
    let new = DebSpec::new("k8s-demo", "1.1-1")
        .field("Depends", "libc6")
        .build(work.path());
    let helper = DebSpec::new("k8s-demo-data", "1.0-1")
        .arch("all")
        .build(work.path());
    publish_ok(&repo, &[&old, &helper]);
    publish_ok(&repo, &[&new]);
    let public = repo.join("public");
    let chroot = Chroot::new();
    chroot.use_repo(&public, "stable");

    assert_clean(&chroot.update(), "apt-get update");
    let out = run_any(&mut chroot.command(&["apt-cache", "madison", "k8s-demo"]));
    let madison = String::from_utf8_lossy(&out.stdout);
    assert!(
        madison.contains("1.0-1") && madison.contains("1.1-1"),
        "both versions visible:\n{madison}"
    );

    let out =
        run_any(&mut chroot.command(&["apt-get", "install", "-y", "k8s-demo", "k8s-demo-data"]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(installed(&chroot, "k8s-demo"), "1.1-1");
    assert_eq!(installed(&chroot, "k8s-demo-data"), "1.0-1");
    let marker = fs::read_to_string(chroot.root().join("usr/share/doc/k8s-demo/marker")).unwrap();
    assert!(marker.starts_with("k8s-demo 1.1-1"), "{marker}");

    let out = run_any(&mut chroot.command(&[
        "apt-get",
        "install",
        "-y",
        "--allow-downgrades",
        "k8s-demo=1.0-1",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(installed(&chroot, "k8s-demo"), "1.0-1");

    // Every index apt could fetch is changed by one byte: the update must fail.
    let state = public.join("dists/stable");
    let srv = chroot.root().join("srv/repo/dists/stable");
    for name in ["Packages", "Packages.gz", "Packages.xz"] {
        flip_byte(&srv.join("main/binary-amd64").join(name), 10);
    }
    let out = chroot.update();
    assert!(
        !out.status.success(),
        "a tampered Packages was accepted:\n{}",
        text(&out)
    );
    let all = text(&out);
    assert!(
        all.contains("Hash Sum mismatch") || all.contains("unexpected size"),
        "{all}"
    );

    // The signed Release text changed by one byte.
    chroot.use_repo(&public, "stable");
    assert_clean(&chroot.update(), "apt-get update after restoring");
    let inrelease = fs::read_to_string(srv.join("InRelease")).unwrap();
    let at = inrelease.find("Label: kubedeb").unwrap() as u64 + 7;
    flip_byte(&srv.join("InRelease"), at);
    let out = chroot.update();
    assert!(
        !out.status.success(),
        "a tampered InRelease was accepted:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains("BADSIG") || text(&out).contains("not signed"),
        "{}",
        text(&out)
    );

    // Without InRelease apt falls back to Release + Release.gpg: a tampered Release fails too.
    chroot.use_repo(&public, "stable");
    fs::remove_file(srv.join("InRelease")).unwrap();
    assert_clean(&chroot.update(), "apt-get update with Release.gpg only");
    let release = fs::read_to_string(srv.join("Release")).unwrap();
    let at = release.find("Label: kubedeb").unwrap() as u64 + 7;
    flip_byte(&srv.join("Release"), at);
    let out = chroot.update();
    assert!(
        !out.status.success(),
        "a tampered Release was accepted:\n{}",
        text(&out)
    );

    // Another key in signed-by: the repository's signature is not trusted.
    let other = work.path().join("other");
    publish_ok(&other, &[&old]);
    chroot.use_repo(&public, "stable");
    fs::copy(
        other.join("public").join(KEYRING),
        chroot.root().join("usr/share/keyrings").join(KEYRING),
    )
    .unwrap();
    let out = chroot.update();
    assert!(
        !out.status.success(),
        "a signature by an unlisted key was accepted:\n{}",
        text(&out)
    );
    assert!(text(&out).contains("NO_PUBKEY"), "{}", text(&out));
    // The original tree was never touched by any of this.
    assert!(state.join("InRelease").is_file());
}
