//! The operator's first hour through the real binary: config and catalog choice, exit codes, pipes, help.

use crate::harness::bin::{kubedeb_in, Run};
use crate::harness::fixtures::{sha256_hex, ETCD_FILE, FLANNEL_FILE, KUBE_FILE};
use crate::harness::project::{Project, CATALOG, TARBALLS};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

const MASTER: [&str; 2] = ["--master-ip", "10.0.0.1"];

fn fetch_with_catalog(project: &Project) -> Run {
    project.kubedeb(&["fetch", "--from", TARBALLS, "--catalog", CATALOG])
}

fn debs_in(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".deb"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_named_config_file_that_does_not_exist_is_an_error() {
    let project = Project::new();
    let run = project.kubedeb(&["check", "-c", "clustr.toml", "--master-ip", "10.0.0.1"]);
    assert_eq!(run.code(), Some(1), "{}", run.text());
    assert_eq!(
        run.stderr,
        "error: the cluster settings clustr.toml named with -c/--config do not exist; check the name, or run `kubedeb init -c clustr.toml` to write the file\n"
    );
    assert!(run.stdout.is_empty(), "{}", run.text());
    // Only the implicit cluster.toml may be absent.
    let run = project
        .kubedeb(&["check", "--master-ip", "10.0.0.1"])
        .success();
    assert!(
        run.stdout.starts_with("settings are valid\n"),
        "{}",
        run.text()
    );
}

#[test]
fn fetch_does_not_need_the_master_address() {
    let project = Project::with_release();
    let run = fetch_with_catalog(&project).success();
    assert!(run.stdout.contains("kube-apiserver\t"), "{}", run.text());
    // build still does, and says so.
    let run = project.kubedeb(&["build", "--compression", "gzip"]);
    assert_eq!(run.code(), Some(1), "{}", run.text());
    assert!(
        run.stderr.contains("master_ip: no master address"),
        "{}",
        run.text()
    );
}

#[test]
fn the_catalog_fetched_with_is_used_by_build_and_check_and_differences_are_named() {
    let project = Project::with_release();
    fetch_with_catalog(&project).success();
    assert!(project.file("cache/fetched.toml").is_file());
    let check = project
        .kubedeb(&["check", "--master-ip", "10.0.0.1"])
        .success();
    assert!(!check.stdout.contains("not fetched"), "{}", check.text());
    assert!(!check.stdout.contains("other catalog"), "{}", check.text());
    let mut args = vec!["build", "--compression", "gzip"];
    args.extend(MASTER);
    let run = project.kubedeb(&args).success();
    assert_eq!(debs_in(&project.file("dist")).len(), 4, "{}", run.text());

    // Another catalog, with other URLs: build names each difference and the way out.
    let other = std::fs::read_to_string(project.file(CATALOG))
        .unwrap()
        .replace("http://upstream.invalid", "http://other.invalid");
    project.write("other.toml", &other);
    args.extend(["--catalog", "other.toml"]);
    let run = project.kubedeb(&args);
    assert_eq!(run.code(), Some(1), "{}", run.text());
    let fetched_with = std::fs::canonicalize(project.file(CATALOG)).unwrap();
    let line = format!(
        "flannel 0.5.5 url: http://upstream.invalid/{FLANNEL_FILE} in the catalog {} (fetched), http://other.invalid/{FLANNEL_FILE} in the catalog other.toml",
        fetched_with.display()
    );
    assert!(run.stderr.contains(&line), "{line}\n{}", run.text());
    assert!(
        run.stderr.contains(&format!(
            "build with --catalog {} as they were fetched, or run `kubedeb fetch` again with this catalog",
            fetched_with.display()
        )),
        "{}",
        run.text()
    );
    let check = project
        .kubedeb(&[
            "check",
            "--master-ip",
            "10.0.0.1",
            "--catalog",
            "other.toml",
        ])
        .success();
    assert!(check.stdout.contains(&line), "{}", check.text());
}

#[test]
fn a_user_catalog_entry_overrides_only_the_fields_it_names() {
    let project = Project::with_release();
    let hash = |file: &str| sha256_hex(&std::fs::read(project.file(TARBALLS).join(file)).unwrap());
    project.write(
        "pins.toml",
        &format!(
            "[kubernetes.\"1.1.4\"]\nsha256 = \"{}\"\n[flannel.\"0.5.5\"]\nsha256 = \"{}\"\n[etcd.\"2.2.1\"]\nsha256 = \"{}\"\n",
            hash(KUBE_FILE),
            hash(FLANNEL_FILE),
            hash(ETCD_FILE)
        ),
    );
    let run = project
        .kubedeb(&[
            "fetch",
            "--from",
            TARBALLS,
            "--catalog",
            "pins.toml",
            "--format",
            "json",
        ])
        .success();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("fetch JSON");
    assert_eq!(doc["versions"]["flannel"], "0.5.5");
    let names: Vec<&str> = doc["binaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"flanneld") && names.contains(&"etcd"),
        "{names:?}"
    );

    // A version the built-in catalog lacks must still say everything.
    project.write(
        "new.toml",
        "[etcd.\"9.9.9\"]\nurl = \"http://x.invalid/e.tar.gz\"\n",
    );
    project.write("cluster.toml", "[versions]\netcd = \"9.9.9\"\n");
    let run = project.kubedeb(&["fetch", "--catalog", "new.toml"]);
    assert_eq!(run.code(), Some(1), "{}", run.text());
    assert!(
        run.stderr.contains("new.toml: etcd 9.9.9: no `file` given"),
        "{}",
        run.text()
    );
}

#[test]
fn the_built_in_catalog_and_templates_can_be_seen() {
    let project = Project::new();
    let run = project.kubedeb(&["catalog"]).success();
    assert_eq!(
        run.stdout,
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/packaging/catalog.toml"
        ))
        .unwrap()
    );
    project.kubedeb(&["templates", "--dump", "mine"]).success();
    let unit = "systemd/etcd.service";
    assert_eq!(
        std::fs::read_to_string(project.file("mine").join(unit)).unwrap(),
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("templates")
                .join(unit)
        )
        .unwrap()
    );
    let listed = project.kubedeb(&["templates"]).success();
    assert!(
        listed.stdout.lines().any(|l| l == unit),
        "{}",
        listed.text()
    );
    std::fs::write(project.file("mine").join(unit), "edited").unwrap();
    let run = project.kubedeb(&["templates", "--dump", "mine"]);
    assert_eq!(run.code(), Some(1), "{}", run.text());
    assert_eq!(
        run.stderr,
        "error: mine is not empty: name a new or empty folder, or pass --force to write the templates over what it holds\n"
    );
    assert_eq!(
        std::fs::read_to_string(project.file("mine").join(unit)).unwrap(),
        "edited"
    );
    project
        .kubedeb(&["templates", "--dump", "mine", "--force"])
        .success();
    assert_ne!(
        std::fs::read_to_string(project.file("mine").join(unit)).unwrap(),
        "edited"
    );
}

#[test]
fn usage_errors_exit_2_failed_operations_exit_1() {
    let project = Project::new();
    let run = project.kubedeb(&["check", "--no-such-flag"]);
    assert_eq!(run.code(), Some(2), "{}", run.text());
    let run = project.kubedeb(&["build", "--compression", "gzip", "--level", "0"]);
    assert_eq!(run.code(), Some(2), "{}", run.text());
    assert!(
        run.stderr.starts_with(
            "error: --level 0 is out of range for --compression gzip: use 1-9 (xz 0-9, gzip 1-9, zstd 1-22)\n"
        ),
        "{}",
        run.text()
    );
    let run = project.kubedeb(&["build", "--compression", "zstd", "--level", "23"]);
    assert_eq!(run.code(), Some(2), "{}", run.text());
    let run = project.kubedeb(&["check"]);
    assert_eq!(run.code(), Some(1), "{}", run.text());
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let project = Project::new();
    let mut child = kubedeb_in(project.path())
        .args(["check", "--master-ip", "10.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone, as after `| head -1`.
    let out = child.wait_with_output().unwrap();
    assert_eq!(first, "settings are valid\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn up_checks_the_repository_before_building() {
    let project = Project::with_release();
    project.write("repo", "a file where the repository should be");
    let mut args = vec![
        "up",
        "--from",
        TARBALLS,
        "--catalog",
        CATALOG,
        "--compression",
        "gzip",
    ];
    args.extend(MASTER);
    let run = project.kubedeb(&args);
    assert_eq!(run.code(), Some(1), "{}", run.text());
    assert!(
        run.stderr.starts_with("error: the repository repo is not writable (")
            && run.stderr.ends_with(
                "); fix its permissions or choose another folder with --repo, then run `kubedeb up` again\n"
            ),
        "{}",
        run.text()
    );
    assert!(!run.stdout.contains("built"), "{}", run.text());
    assert!(debs_in(&project.file("dist")).is_empty());
    // The cache holds only the images the test put there.
    assert!(
        !project.file("cache/fetched.toml").exists() && !project.file("cache/bin").exists(),
        "nothing fetched: {}",
        run.text()
    );
}

#[test]
fn relative_paths_are_relative_to_the_config_file() {
    let project = Project::with_release();
    let site = project.file("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::rename(project.file(CATALOG), site.join(CATALOG)).unwrap();
    std::fs::rename(project.file(TARBALLS), site.join(TARBALLS)).unwrap();
    std::fs::rename(project.file("cache"), site.join("cache")).unwrap();
    project.write("site/cluster.toml", "master_ip = \"10.0.0.1\"\n");
    let config = site.join("cluster.toml");
    let config = config.to_str().unwrap();
    let elsewhere = Project::new();
    elsewhere
        .kubedeb(&[
            "fetch",
            "-c",
            config,
            "--from",
            TARBALLS,
            "--catalog",
            CATALOG,
        ])
        .success();
    assert!(site.join("cache/fetched.toml").is_file());
    let run = elsewhere
        .kubedeb(&["build", "-c", config, "--compression", "gzip"])
        .success();
    assert_eq!(debs_in(&site.join("dist")).len(), 4, "{}", run.text());
    assert!(!elsewhere.file("dist").exists() && !elsewhere.file("cache").exists());
}

#[test]
fn help_is_consistent_and_complete() {
    let project = Project::new();
    let top = project.kubedeb(&["--help"]).success();
    assert!(
        top.stdout.contains("Examples:\n  kubedeb init --master-ip"),
        "{}",
        top.stdout
    );
    assert!(top
        .stdout
        .contains("Exit status: 0 success, 1 a failed operation, 2 a usage error."));
    let help = project.kubedeb(&["help", "--help"]).success();
    assert!(
        help.stdout.contains("Usage: kubedeb help"),
        "{}",
        help.text()
    );
    let init = project.kubedeb(&["help", "init"]).success();
    assert!(
        init.stdout.contains("-c, --config <FILE>"),
        "{}",
        init.stdout
    );
    for command in ["fetch", "build", "up", "publish", "serve", "check"] {
        let run = project.kubedeb(&[command, "--help"]).success();
        for bad in [
            "<FROM>",
            "<MIRRORS>",
            "<CACHE>",
            "<DIST>",
            "<REPO>",
            "<CONFIG>",
            "<LEVEL>",
            "<KEEP>",
        ] {
            assert!(
                !run.stdout.contains(bad),
                "{command}: {bad}\n{}",
                run.stdout
            );
        }
    }
    let up = project.kubedeb(&["up", "--help"]).success();
    for shown in [
        "--mirror <URL>",
        "--from <DIR>",
        "[default: xz 6, gzip 9, zstd 19]",
        "[default: keep all]",
        "[default: cache]",
    ] {
        assert!(up.stdout.contains(shown), "{shown}\n{}", up.stdout);
    }
    // init takes -c like every other command; --output still works.
    project.kubedeb(&["init", "-c", "a.toml"]).success();
    project.kubedeb(&["init", "--output", "b.toml"]).success();
    assert!(project.file("a.toml").is_file() && project.file("b.toml").is_file());
}

#[test]
fn quiet_verbose_json_completions_and_man() {
    let project = Project::new();
    let run = project
        .kubedeb(&["-q", "init", "--master-ip", "10.0.0.1"])
        .success();
    assert_eq!(run.stderr, "");
    let run = project.kubedeb(&["init", "-c", "loud.toml"]).success();
    assert!(run.stderr.starts_with("wrote loud.toml"), "{}", run.text());
    let run = project.kubedeb(&["check", "-v"]).success();
    assert!(
        run.stderr
            .contains("settings: cluster.toml; catalog: built in"),
        "{}",
        run.text()
    );
    let run = project.kubedeb(&["check", "--format", "json"]).success();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("check JSON");
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["master_ip"], "10.0.0.1");
    assert_eq!(doc["fetched"], false);
    let packages = doc["packages"].as_array().unwrap();
    assert!(
        packages.iter().any(|p| p["package"] == "k8s-master"),
        "{doc}"
    );
    let bash = project.kubedeb(&["completions", "bash"]).success();
    assert!(
        bash.stdout.contains("complete -F _kubedeb"),
        "{}",
        bash.stdout
    );
    let man = project.kubedeb(&["man"]).success();
    assert!(man.stdout.contains(".TH kubedeb 1"), "{}", man.stdout);
}
