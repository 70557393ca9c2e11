//! Every failure says each thing once: one `error:` line, no cause printed twice, non-zero exit.

use crate::harness::fixtures::user_catalog;
use crate::harness::project::{Project, CATALOG, TARBALLS};
use std::path::Path;

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
    let run = crate::harness::bin::kubedeb_at(dir, args);
    let stderr = run.stderr;
    assert!(
        !run.status.success(),
        "kubedeb {args:?} succeeded: {stderr}"
    );
    // Progress lines ("connecting to ...") may come first; then one error, at the end.
    let error_at = stderr.find("error: ");
    assert!(
        error_at.is_some_and(|at| at == 0 || stderr[..at].ends_with('\n'))
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
fn fetched_project() -> Project {
    let project = Project::with_release();
    project
        .kubedeb(&[
            "fetch",
            "--master-ip",
            "10.0.0.1",
            "--from",
            TARBALLS,
            "--catalog",
            CATALOG,
        ])
        .success();
    project
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
    let dir = Project::new();
    dir.write_catalog(&user_catalog("http://127.0.0.1:1", None, None, None));
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

/// A mirror that accepts connections and never answers, on loopback; stops on drop.
struct Stalling {
    addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Stalling {
    fn new() -> Stalling {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((stream, _)) = listener.accept() {
                    held.push(stream);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        Stalling { addr, stop }
    }
}

impl Drop for Stalling {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_stalled_mirror_is_reported_within_fetch_timeout_and_the_advice_names_the_command_run() {
    let stalling = Stalling::new();
    let dir = Project::new();
    dir.write_catalog(&user_catalog("http://127.0.0.1:1", None, None, None));
    dir.write(
        "cluster.toml",
        "master_ip = \"10.0.0.1\"\n[fetch]\ntimeout = \"1 s\"\n",
    );
    let mirror = format!("http://{}/k8s", stalling.addr);
    for command in ["fetch", "up"] {
        let started = std::time::Instant::now();
        let stderr = fails_once(
            dir.path(),
            &[command, "--catalog", "catalog.toml", "--mirror", &mirror],
            "stalled: no answer for 1 s (fetch.timeout)",
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{:?}: {stderr}",
            started.elapsed()
        );
        // Said as it happens, also with stderr not a terminal; then the next source.
        assert!(
            stderr.contains(&format!("connecting to {mirror}/")),
            "{stderr}"
        );
        assert!(stderr.contains("; trying the next source"), "{stderr}");
        assert!(
            stderr.contains(&format!("run `kubedeb {command} --from DIR`")),
            "{stderr}"
        );
        let other = if command == "up" { "fetch" } else { "up" };
        assert!(
            !stderr.contains(&format!("kubedeb {other} --from")),
            "{stderr}"
        );
    }
}

#[test]
fn publish_failures_say_their_cause_once() {
    let dir = Project::new();
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

#[test]
fn operator_errors_say_their_cause_once() {
    let dir = fetched_project();
    let d = dir.path();
    fails_once(
        d,
        &["check", "-c", "clustr.toml", "--master-ip", "10.0.0.1"],
        "clustr.toml",
    );
    let other = std::fs::read_to_string(d.join(CATALOG))
        .unwrap()
        .replace("http://upstream.invalid", "http://other.invalid");
    std::fs::write(d.join("other.toml"), other).unwrap();
    fails_once(
        d,
        &[
            "build",
            "--master-ip",
            "10.0.0.1",
            "--catalog",
            "other.toml",
            "--compression",
            "gzip",
        ],
        "other.toml",
    );
    std::fs::create_dir(d.join("mine")).unwrap();
    std::fs::write(d.join("mine/x"), b"x").unwrap();
    fails_once(d, &["templates", "--dump", "mine"], "--force");
    std::fs::write(d.join("repo"), b"a file where the repository should be").unwrap();
    fails_once(
        d,
        &[
            "up",
            "--master-ip",
            "10.0.0.1",
            "--from",
            TARBALLS,
            "--catalog",
            CATALOG,
        ],
        "--repo",
    );
}
