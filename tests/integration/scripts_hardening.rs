//! The maintainer scripts and helpers against hostile hosts, through the real kubedeb binary
//! and Debian's tools: a purge keeps what was there before the install, the apiserver
//! certificate follows changed settings on upgrade, flannel-network is bounded against an etcd
//! that never answers and says when the registered network is not the configured one, and
//! `check` refuses what `build` refuses.

use crate::harness::chroot::Chroot;
use crate::harness::project::{Project, CATALOG, TARBALLS};
use crate::harness::tools::all_output;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const MASTER_A: &str = "192.168.100.11";
const MASTER_B: &str = "192.168.100.12";

/// stdout then stderr, whatever the exit status.
fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn run(cmd: &mut Command) -> String {
    all_output(cmd)
}

/// The seed's tarballs (fixtures) with a catalog pinning them, their binaries fetched into
/// cache/ by `kubedeb fetch`.
fn fetched() -> Project {
    let project = Project::with_release();
    // Fetching needs valid settings; the binaries are the same for every master.
    project
        .kubedeb(&[
            "fetch",
            "--from",
            TARBALLS,
            "--catalog",
            CATALOG,
            "--master-ip",
            MASTER_A,
        ])
        .success();
    project
}

/// `kubedeb build` with `settings` as the cluster.toml; the .deb files it wrote.
fn build(project: &Project, name: &str, settings: &str) -> Vec<PathBuf> {
    project.write(&format!("{name}.toml"), settings);
    project
        .kubedeb(&[
            "build",
            "-c",
            &format!("{name}.toml"),
            "--catalog",
            CATALOG,
            "--compression",
            "gzip",
            "--dist",
            name,
        ])
        .success();
    let mut debs: Vec<PathBuf> = fs::read_dir(project.file(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    debs.sort();
    debs
}

fn settings(master: &str, revision: u32, extra: &str) -> String {
    format!(
        "master_ip = \"{master}\"\n{extra}\n[package]\nrevision = {revision}\n\
         maintainer = \"kubedeb tests <kubedeb-tests@example.org>\"\n"
    )
}

/// The subject alternative names of a certificate, as openssl prints them.
fn sans(cert: &Path) -> String {
    run(Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(cert))
    .lines()
    .skip(1)
    .map(str::trim)
    .collect::<Vec<_>>()
    .join("\n")
}

#[test]
fn purge_keeps_the_admins_ca_and_etcd_data_and_deletes_what_the_package_made() {
    let project = fetched();
    let debs = build(&project, "a", &settings(MASTER_A, 1, ""));
    let root = Chroot::new();

    // Before the install: an admin's own CA, an earlier etcd's data, another kubelet's state.
    let ca = tempfile::tempdir().unwrap();
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=admin-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ])
        .current_dir(ca.path()));
    fs::create_dir_all(root.path("/srv/kubernetes")).unwrap();
    for f in ["ca.crt", "ca.key"] {
        fs::copy(
            ca.path().join(f),
            root.path(&format!("/srv/kubernetes/{f}")),
        )
        .unwrap();
    }
    fs::create_dir_all(root.path("/var/lib/etcd/member/snap")).unwrap();
    fs::write(
        root.path("/var/lib/etcd/member/snap/db"),
        "earlier etcd data",
    )
    .unwrap();
    fs::create_dir_all(root.path("/var/lib/kubelet")).unwrap();
    fs::write(root.path("/var/lib/kubelet/admin-note"), "another kubelet").unwrap();
    let ca_crt = root.read("/srv/kubernetes/ca.crt");
    let ca_key = root.read("/srv/kubernetes/ca.key");

    let log = root.install(&debs);
    // The admin's CA signed the package's certificates, and was not replaced.
    assert_eq!(root.read("/srv/kubernetes/ca.crt"), ca_crt, "{log}");
    run(Command::new("openssl")
        .args(["verify", "-CAfile", "ca.crt", "server.cert", "kubecfg.crt"])
        .current_dir(root.path("/srv/kubernetes")));
    // Read leniently: without a list, the purge below shows what goes wrong.
    let created =
        fs::read_to_string(root.path("/var/lib/kubedeb/k8s-master/created")).unwrap_or_default();
    assert!(
        !created.contains("/srv/kubernetes/ca.") && !created.contains("/var/lib/etcd"),
        "only what the scripts made is listed:\n{created}"
    );

    let log = root.sh("apt-get purge -y k8s-master k8s-minion k8s-flannel 2>&1");
    assert_eq!(
        root.names("/srv/kubernetes"),
        ["ca.crt", "ca.key"].map(String::from).into(),
        "purge deletes the package's certificates and keeps the admin's CA\n{log}"
    );
    assert_eq!(root.read("/srv/kubernetes/ca.crt"), ca_crt);
    assert_eq!(root.read("/srv/kubernetes/ca.key"), ca_key);
    assert_eq!(
        root.read("/var/lib/etcd/member/snap/db"),
        b"earlier etcd data",
        "purge keeps an etcd data folder that was there before\n{log}"
    );
    assert_eq!(
        root.read("/var/lib/kubelet/admin-note"),
        b"another kubelet",
        "{log}"
    );
    assert!(!root.path("/var/lib/kubedeb").exists(), "{log}");
    assert!(!root.path("/root/.kube").exists(), "{log}");

    // On a host with none of that, purge deletes everything the package made.
    let root = Chroot::new();
    root.install(&debs);
    assert!(root.path("/var/lib/etcd").is_dir());
    assert!(root.path("/var/lib/kubelet").is_dir());
    let log = root.sh("apt-get purge -y k8s-master k8s-minion k8s-flannel 2>&1");
    for gone in [
        "/srv/kubernetes",
        "/var/lib/etcd",
        "/var/lib/kubelet",
        "/var/lib/kubedeb",
    ] {
        assert!(!root.path(gone).exists(), "{gone} left by purge\n{log}");
    }
}

#[test]
fn the_server_certificate_follows_changed_settings_on_upgrade() {
    let project = fetched();
    let old = build(&project, "a", &settings(MASTER_A, 1, ""));
    let new = build(
        &project,
        "b",
        &settings(
            MASTER_B,
            2,
            "[network]\nservice_cluster_ip_range = \"10.100.0.0/24\"\n\
             [dns]\nserver_ip = \"10.100.0.10\"\ndomain = \"k8s.example\"\n",
        ),
    );
    let master_and_flannel = |debs: &[PathBuf]| -> Vec<PathBuf> {
        debs.iter()
            .filter(|d| !d.to_string_lossy().contains("k8s-minion"))
            .cloned()
            .collect()
    };
    let root = Chroot::new();
    root.install(&master_and_flannel(&old));
    let srv = |f: &str| root.path(&format!("/srv/kubernetes/{f}"));
    assert!(
        sans(&srv("server.cert"))
            .starts_with(&format!("IP Address:{MASTER_A}, IP Address:192.168.3.1,")),
        "{}",
        sans(&srv("server.cert"))
    );
    let before: Vec<Vec<u8>> = ["ca.crt", "ca.key", "server.cert", "server.key"]
        .iter()
        .map(|f| fs::read(srv(f)).unwrap())
        .collect();

    let log = root.install(&master_and_flannel(&new));
    assert_eq!(
        sans(&srv("server.cert")),
        format!(
            "IP Address:{MASTER_B}, IP Address:10.100.0.1, DNS:kubernetes, DNS:kubernetes.default, \
             DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.k8s.example"
        ),
        "{log}"
    );
    assert_eq!(
        fs::read(srv("ca.crt")).unwrap(),
        before[0],
        "the CA is kept"
    );
    assert_eq!(
        fs::read(srv("ca.key")).unwrap(),
        before[1],
        "the CA key is kept"
    );
    assert_eq!(
        fs::read(srv("server.key")).unwrap(),
        before[3],
        "the key (also the service-account key) is kept"
    );
    run(Command::new("openssl")
        .args(["verify", "-CAfile", "ca.crt", "server.cert"])
        .current_dir(srv("")));
    let kept: Vec<String> = root
        .names("/srv/kubernetes")
        .into_iter()
        .filter(|n| n.starts_with("server.cert.old-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}\n{log}");
    assert_eq!(
        fs::read(srv(&kept[0])).unwrap(),
        before[2],
        "the old certificate is kept"
    );
    assert!(
        log.contains("issued a new one from the same CA")
            && log.contains(&format!("IP Address:{MASTER_A}"))
            && log.contains(&format!("IP Address:{MASTER_B}"))
            && log.contains(&format!("kept as /srv/kubernetes/{}", kept[0])),
        "the upgrade says what it did:\n{log}"
    );

    // Settings and certificate agree now: configuring again changes and says nothing.
    let reissued = fs::read(srv("server.cert")).unwrap();
    let again = root.sh("/var/lib/dpkg/info/k8s-master.postinst configure 1.1.4-2 2>&1");
    assert!(!again.contains("make-certs"), "{again}");
    assert_eq!(fs::read(srv("server.cert")).unwrap(), reissued);

    // The kept copy is the package's too: purge deletes it with the rest.
    let log = root.sh("apt-get purge -y k8s-master k8s-flannel 2>&1");
    assert!(!root.path("/srv/kubernetes").exists(), "{log}");
}

/// The k8s-master package's /usr/lib/kubedeb/flannel-network, taken out of the built .deb.
fn flannel_network(dir: &Path) -> PathBuf {
    let project = fetched();
    let debs = build(&project, "a", &settings(MASTER_A, 1, ""));
    let master = debs
        .iter()
        .find(|d| d.to_string_lossy().contains("k8s-master"))
        .unwrap();
    let tree = dir.join("tree");
    run(Command::new("dpkg-deb").arg("-x").arg(master).arg(&tree));
    let script = dir.join("flannel-network");
    fs::copy(tree.join("usr/lib/kubedeb/flannel-network"), &script).unwrap();
    script
}

/// Runs `script` with sh in a network namespace of its own (its own loopback only), the
/// host's etcdctl 3.4 speaking the v2 API as etcdctl 2.2.1 would; (output, time taken).
fn in_netns(script: &str, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new("unshare")
        .args(["--net", "--kill-child", "sh", "-c", script])
        .env("ETCDCTL_API", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux)");
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}, killed:\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    (out, started.elapsed())
}

#[test]
fn flannel_network_gives_up_in_bounded_time_on_an_etcd_that_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let register = flannel_network(dir.path());
    // Accepts every connection on etcd's client port and never says a word.
    let listener = dir.path().join("silent.py");
    fs::write(
        &listener,
        "import socket\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', 4001))\n\
         s.listen(64)\n\
         held = []\n\
         open(__file__ + '.ready', 'w').close()\n\
         while True:\n    held.append(s.accept()[0])\n",
    )
    .unwrap();
    // 3 tries: at most 3 x 3 s in all, plus the one call that was under way.
    let (out, took) = in_netns(
        &format!(
            "ip link set lo up\n/usr/bin/python3 '{l}' &\npy=$!\ntrap 'kill $py' EXIT\n\
             while [ ! -e '{l}.ready' ]; do sleep 0.1; done\nsh '{r}' 3",
            l = listener.display(),
            r = register.display()
        ),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        took < Duration::from_secs(14),
        "took {took:?}, more than the 3 tries' 9 s and one call's 3 s:\n{err}"
    );
    assert!(
        err.contains(
            "flannel-network: could not write /coreos.com/network/config to etcd at 127.0.0.1:4001"
        ) && err.contains("etcd took the connection but gave no answer within 3 s")
            && err.contains("systemctl status etcd"),
        "{err}"
    );
}

#[test]
fn flannel_network_warns_when_the_registered_network_is_not_the_configured_one() {
    let dir = tempfile::tempdir().unwrap();
    let register = flannel_network(dir.path());
    let data = dir.path().join("etcd-data");
    let etcdctl = "etcdctl --endpoints http://127.0.0.1:4001";
    let (out, _) = in_netns(
        &format!(
            "set -e\nip link set lo up\n\
             etcd --name infra --data-dir '{data}' --listen-client-urls http://127.0.0.1:4001 \
             --advertise-client-urls http://127.0.0.1:4001 --listen-peer-urls http://127.0.0.1:2380 \
             --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster infra=http://127.0.0.1:2380 \
             --enable-v2=true >'{data}.log' 2>&1 &\n\
             etcd_pid=$!\ntrap 'kill $etcd_pid; wait $etcd_pid || true' EXIT\n\
             sh '{r}' 20 2>&1\necho '--- again'\nsh '{r}' 2 2>&1\n\
             {etcdctl} set /coreos.com/network/config '{{\"Network\":\"10.1.0.0/16\"}}' >/dev/null\n\
             echo '--- changed'\nsh '{r}' 2 2>&1\n{etcdctl} get /coreos.com/network/config",
            data = data.display(),
            r = register.display()
        ),
        Duration::from_secs(120),
    );
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let (first, rest) = all.split_once("--- again\n").unwrap();
    let (again, changed) = rest.split_once("--- changed\n").unwrap();
    assert!(
        first.starts_with("flannel-network: registered /coreos.com/network/config"),
        "{all}"
    );
    assert_eq!(
        again, "",
        "the registered config is the configured one: nothing to say"
    );
    let configured = r#"{"Network":"172.16.0.0/16""#;
    let mut lines = changed.lines();
    let warning = lines.next().unwrap();
    assert!(
        warning.starts_with(r#"flannel-network: warning: etcd already holds /coreos.com/network/config = {"Network":"10.1.0.0/16"}, which is not the configured "#)
            && warning.contains(configured)
            && warning.contains("flanneld keeps using the registered one")
            && warning.contains("run: etcdctl --peers http://127.0.0.1:4001 set /coreos.com/network/config '{\"Network\":\"172.16.0.0/16\""),
        "{all}"
    );
    // Warned, not changed.
    assert_eq!(lines.next(), Some(r#"{"Network":"10.1.0.0/16"}"#), "{all}");
}

#[test]
fn check_refuses_what_build_refuses() {
    let project = fetched();
    for (setting, toml) in [
        // A carriage return in the Maintainer field, which the .deb writer refuses.
        (
            "package.maintainer",
            "[package]\nmaintainer = \"Kube\\rDeb <kubedeb@example.org>\"\n",
        ),
        // A space would make more kubelet flags of kubelet.config.
        (
            "kubelet.config",
            "[kubelet]\nconfig = \"/etc/k --allow-privileged=true\"\n",
        ),
    ] {
        let file = project.file("bad.toml");
        fs::write(&file, format!("master_ip = \"{MASTER_A}\"\n{toml}")).unwrap();
        for command in ["check", "build"] {
            let out = project.kubedeb(
                &[
                    command,
                    "-c",
                    "bad.toml",
                    "--catalog",
                    "catalog.toml",
                    "--dist",
                    "bad-dist",
                ][..if command == "check" { 5 } else { 7 }],
            );
            let err = &out.stderr;
            assert!(!out.ok(), "{command} accepted {toml}:\n{}", out.text());
            assert!(err.contains(setting), "{command}: {err}");
            assert!(!project.file("bad-dist").exists());
        }
    }
}
