//! The harness's own checks: the flag-contract checker refuses what the binaries refuse, golden diffs name the lines, missing tools name their package.

use crate::harness::flags::{value_of, Contract};
use crate::harness::{golden, tools};
use std::process::Command;

fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn pflag_accepts_the_binary_forms_and_normalises_underscores() {
    let c = Contract::load("kube-apiserver");
    let parsed = c
        .check(&args("--etcd_servers=http://a:4001 --insecure-port 8080 --logtostderr --allow-privileged=false"))
        .unwrap();
    assert_eq!(value_of(&parsed, "etcd-servers"), Some("http://a:4001"));
    assert_eq!(value_of(&parsed, "insecure-port"), Some("8080"));
    assert_eq!(value_of(&parsed, "logtostderr"), Some("true"));
    // An empty value parses.
    assert!(Contract::load("kubelet").check(&args("--config=")).is_ok());
}

#[test]
fn pflag_refusals() {
    let c = Contract::load("kube-apiserver");
    for bad in [
        "--no-such-flag=1",
        "-insecure-port=8080",
        "--google-json-key=x",
        "--insecure-port",
        "--insecure-port --logtostderr",
        "--logtostderr=yes",
        "---x",
        "--=x",
        "stray",
    ] {
        assert!(c.check(&args(bad)).is_err(), "{bad} should be refused");
    }
}

#[test]
fn goflag_single_dash_and_no_normalisation() {
    let f = Contract::load("flanneld");
    assert!(f
        .check(&args(
            "-etcd-endpoints=http://a:4001 --ip-masq -iface 10.0.0.1 -log_dir=/x"
        ))
        .is_ok());
    assert!(
        f.check(&args("-log-dir=/x")).is_err(),
        "flanneld does not normalise names"
    );
    assert!(
        f.check(&args("-iface")).is_err(),
        "value flag without value"
    );
    assert!(f.check(&args("-ip-masq=maybe")).is_err());
    let e = Contract::load("etcd");
    assert!(e
        .check(&args(
            "-name infra -data-dir /var/lib/etcd --listen-client-urls=http://a:4001"
        ))
        .is_ok());
    assert!(
        e.check(&args("-peers x")).is_err(),
        "etcd exits 2 on -peers"
    );
    assert!(
        e.check(&args("-data_dir /x")).is_err(),
        "Go flag names are not normalised"
    );
    assert!(
        e.check(&args("--enable-v2=true")).is_err(),
        "etcd 2.2.1 has no --enable-v2"
    );
}

#[test]
fn golden_diff_shows_the_changed_lines_with_context() {
    let golden = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    let actual = "1\n2\nX\n4\n5\n6\n7\n8\n9\n10";
    assert_eq!(
        golden::diff(golden, actual),
        "  1\n  2\n- 3\n+ X\n  4\n  5\n  ...\n  8\n  9\n+ 10\\ (no newline at end)\n"
    );
    assert_eq!(golden::diff(golden, golden), "");
}

#[test]
fn a_missing_tool_names_its_package() {
    let mut cmd = Command::new("/nonexistent/dpkg-deb");
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        tools::run_any(&mut cmd)
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().expect("a formatted panic");
    assert!(
        msg.contains("cannot run /nonexistent/dpkg-deb") && msg.contains("`apt-get install dpkg`"),
        "{msg}"
    );
}
