//! Every failure says each thing once: one `error:` line, no cause printed twice, non-zero exit.

#[path = "common/fixtures.rs"]
mod fixtures;

use std::path::Path;
use std::process::{Command, Output};

fn kubedeb(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubedeb"))
        .args(args)
        .current_dir(dir)
        .env("GNUPGHOME", dir.join("no-such-gnupg-home"))
        .output()
        .expect("run kubedeb")
}

/// The clauses of one line of an error message: the parts between `: ` and `; `.
fn clauses(line: &str) -> Vec<String> {
    line.split(": ")
        .flat_map(|part| part.split("; "))
        .map(|c| c.trim().trim_start_matches("error:").trim().to_lowercase())
        .filter(|c| c.len() > 3)
        .collect()
}

/// Runs a command that must fail and checks how it says so.
fn fails_once(dir: &Path, args: &[&str], mentions: &str) -> String {
    let out = kubedeb(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "kubedeb {args:?} succeeded: {stderr}"
    );
    assert!(
        stderr.starts_with("error: ")
            && stderr.lines().filter(|l| l.starts_with("error")).count() == 1,
        "kubedeb {args:?}: one `error:` line expected:\n{stderr}"
    );
    assert!(
        stderr.contains(mentions),
        "kubedeb {args:?} does not mention {mentions:?}:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        assert!(
            !lines[..i].contains(line),
            "kubedeb {args:?} says {line:?} twice:\n{stderr}"
        );
        let said = clauses(line);
        for (j, clause) in said.iter().enumerate() {
            assert!(
                !said[..j].contains(clause),
                "kubedeb {args:?} says {clause:?} twice in one line:\n{stderr}"
            );
        }
    }
    stderr
}

/// A project with the seed's tarballs fetched into its cache.
fn fetched_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tarballs = fixtures::SeedTarballs::new();
    tarballs.write_to(&dir.path().join("tarballs"));
    let catalog = fixtures::user_catalog(
        "http://127.0.0.1:1",
        Some(&fixtures::sha256_hex(&tarballs.kubernetes)),
        Some(&fixtures::sha256_hex(&tarballs.flannel)),
        Some(&fixtures::sha256_hex(&tarballs.etcd)),
    );
    std::fs::write(dir.path().join("catalog.toml"), catalog).unwrap();
    let out = kubedeb(
        dir.path(),
        &[
            "fetch",
            "--master-ip",
            "10.0.0.1",
            "--from",
            "tarballs",
            "--catalog",
            "catalog.toml",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn a_missing_template_folder_is_named_with_its_cause_once() {
    let dir = fetched_project();
    let stderr = fails_once(
        dir.path(),
        &[
            "build",
            "--master-ip",
            "10.0.0.1",
            "--catalog",
            "catalog.toml",
            "--templates",
            "/nonexistent",
        ],
        "/nonexistent",
    );
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn an_unreachable_download_names_each_url_once() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = fixtures::user_catalog("http://127.0.0.1:1", None, None, None);
    std::fs::write(dir.path().join("catalog.toml"), catalog).unwrap();
    let stderr = fails_once(
        dir.path(),
        &[
            "fetch",
            "--master-ip",
            "10.0.0.1",
            "--catalog",
            "catalog.toml",
            "--mirror",
            "http://127.0.0.1:2/k8s",
        ],
        "127.0.0.1:2",
    );
    for line in stderr.lines() {
        assert!(line.matches("http://").count() <= 1, "{stderr}");
    }
}

#[test]
fn publish_failures_say_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fails_once(d, &["publish", "missing.deb"], "missing.deb");
    std::fs::write(d.join("junk.deb"), b"not an archive").unwrap();
    fails_once(d, &["publish", "junk.deb"], "junk.deb");
    std::fs::write(d.join("repo"), b"a file where the repository should be").unwrap();
    std::fs::write(d.join("ok.deb"), b"!<arch>\n").unwrap();
    fails_once(d, &["publish", "--repo", "repo", "ok.deb"], "repo");
}

#[test]
fn settings_and_output_failures_say_their_cause_once() {
    let dir = fetched_project();
    let d = dir.path();
    std::fs::write(d.join("cluster.toml"), "master_ip = \"10.0.0.300\"\n").unwrap();
    fails_once(d, &["check"], "master_ip");
    std::fs::remove_file(d.join("cluster.toml")).unwrap();
    std::fs::write(d.join("dist"), b"a file where the output folder should be").unwrap();
    fails_once(
        d,
        &[
            "build",
            "--master-ip",
            "10.0.0.1",
            "--catalog",
            "catalog.toml",
            "--compression",
            "gzip",
        ],
        "dist",
    );
    fails_once(
        d,
        &[
            "init",
            "--master-ip",
            "10.0.0.1",
            "--output",
            "dist/cluster.toml",
        ],
        "dist",
    );
    fails_once(d, &["serve", "--repo", "no-such-repo"], "no-such-repo");
}
