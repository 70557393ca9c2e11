//! The four k8s-* packages built with the .deb writer and checked with Debian's tools:
//! dpkg-deb (fields, contents, conffiles), lintian, and a real install of k8s-master and
//! k8s-minion (with k8s-images) together into a Debian 12 chroot (no systemd running), then a purge.

use crate::harness::chroot::Chroot;
use crate::harness::golden::assert_golden;
use crate::harness::images::TestImages;
use crate::harness::tools::{all_output, run_any};
use crate::harness::{bin, fixtures, manifest};
use kubedeb::config::ConfigFile;
use kubedeb::deb::{write_deb, BuildOptions, PackageSpec};
use kubedeb::packages::{self, BuildInput};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const MASTER: &str = "192.168.100.11";

fn config() -> ConfigFile {
    let mut c = ConfigFile {
        master_ip: Some(MASTER.parse().unwrap()),
        ..ConfigFile::default()
    };
    // lintian refuses a maintainer address at localhost (bogus-mail-host).
    c.package.maintainer = "kubedeb tests <kubedeb-tests@example.org>".into();
    c.certificates.extra_sans = vec!["IP:10.0.0.100".into(), "DNS:k8s.example.org".into()];
    c
}

/// The packages written into `dir`, in the order k8s-flannel, k8s-master, k8s-images, k8s-minion.
fn build(dir: &Path) -> (Vec<PackageSpec>, Vec<PathBuf>) {
    // Debian's /bin/true stands in for every release binary: a small dynamically linked ELF.
    let cfg = config().validate().expect("valid settings");
    let binaries = fixtures::catalog_binaries_as(&cfg, Path::new("/bin/true"));
    let programs = [(
        "kubedeb-docker-api".to_string(),
        std::path::PathBuf::from(bin::DOCKER_API),
    )]
    .into();
    let images = TestImages::of(&cfg);
    let specs = packages::packages(&BuildInput {
        config: &cfg,
        binaries: &binaries,
        programs: &programs,
        templates: None,
        etcd_v3_api: false,
        images: &images.images,
    })
    .expect("packages");
    let debs = specs
        .iter()
        .map(|s| write_deb(s, &BuildOptions::default(), dir).expect("write_deb"))
        .collect();
    (specs, debs)
}

fn field(deb: &Path, name: &str) -> String {
    all_output(Command::new("dpkg-deb").arg("--field").arg(deb).arg(name))
        .trim()
        .to_string()
}

/// The whole control file, Installed-Size masked: it follows the sizes of the host's
/// /bin/true and of the built kubedeb-docker-api.
fn control_text(deb: &Path) -> String {
    all_output(Command::new("dpkg-deb").arg("--field").arg(deb))
        .lines()
        .map(|l| match l.strip_prefix("Installed-Size: ") {
            Some(_) => "Installed-Size: (masked)\n".to_string(),
            None => format!("{l}\n"),
        })
        .collect()
}

/// (mode string, path) of every entry, from `dpkg-deb --contents`.
fn contents(deb: &Path) -> BTreeSet<(String, String)> {
    all_output(Command::new("dpkg-deb").arg("--contents").arg(deb))
        .lines()
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (
                cols[0].to_string(),
                cols[5].trim_start_matches('.').to_string(),
            )
        })
        .filter(|(mode, _)| !mode.starts_with('d'))
        .collect()
}

fn conffiles(deb: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    all_output(
        Command::new("dpkg-deb")
            .arg("--control")
            .arg(deb)
            .arg(dir.path()),
    );
    fs::read_to_string(dir.path().join("conffiles"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn built_packages_pass_dpkg_deb_and_lintian() {
    let dir = tempfile::tempdir().unwrap();
    let (_, debs) = build(dir.path());
    let names: Vec<String> = debs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "k8s-flannel_0.5.5-1_amd64.deb",
            "k8s-master_1.1.4-1_amd64.deb",
            "k8s-images_1.1.4-1_amd64.deb",
            "k8s-minion_1.1.4-1_amd64.deb"
        ]
    );
    let [flannel, master, minion] = [&debs[0], &debs[1], &debs[3]];
    control_fields(&debs);
    package_contents(flannel, master, minion);
    package_conffiles(flannel, master, minion);
    lintian_finds_no_error(&debs);
}

/// The control files (golden) and the relations between the packages.
fn control_fields(debs: &[PathBuf]) {
    let [flannel, master, minion] = [&debs[0], &debs[1], &debs[3]];
    for deb in debs {
        let package = field(deb, "Package");
        assert_golden(&format!("packages/{package}.control"), &control_text(deb));
    }

    assert_eq!(
        field(flannel, "Depends"),
        "libc6, iproute2, iptables, init-system-helpers (>= 1.22), docker.io | docker-engine | docker-ce"
    );
    assert_eq!(
        field(master, "Depends"),
        "libc6, k8s-flannel (= 0.5.5-1), openssl, passwd, init-system-helpers (>= 1.22)"
    );
    assert_eq!(
        field(minion, "Depends"),
        "libc6, k8s-flannel (= 0.5.5-1), k8s-images (= 1.1.4-1), docker.io | docker-engine | docker-ce, iproute2, init-system-helpers (>= 1.22)"
    );
    assert_eq!(
        field(master, "Conflicts"),
        "etcd, etcd-server, etcd-client, kubernetes-client, kubernetes-master, kubectl"
    );
    assert_eq!(field(master, "Replaces"), field(master, "Conflicts"));
}

/// Every file of each package with its mode.
fn package_contents(flannel: &Path, master: &Path, minion: &Path) {
    let exe = "-rwxr-xr-x";
    let reg = "-rw-r--r--";
    let doc = |pkg: &str| {
        [
            (reg, format!("/usr/share/doc/{pkg}/README.Debian")),
            (reg, format!("/usr/share/doc/{pkg}/changelog.Debian.gz")),
            (reg, format!("/usr/share/doc/{pkg}/copyright")),
        ]
    };
    let expected = |files: &[(&str, &str)], pkg: &str| -> BTreeSet<(String, String)> {
        files
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .chain(doc(pkg).into_iter().map(|(m, p)| (m.to_string(), p)))
            .collect()
    };
    assert_eq!(
        contents(flannel),
        expected(
            &[
                (reg, "/etc/default/flanneld"),
                (reg, "/etc/default/kubedeb-docker"),
                (reg, "/etc/default/kubedeb-node"),
                (
                    reg,
                    "/lib/systemd/system/docker.service.d/kubedeb-flannel.conf"
                ),
                (reg, "/lib/systemd/system/flanneld.service"),
                (reg, "/lib/systemd/system/kubedeb-node.service"),
                (exe, "/usr/bin/flanneld"),
                (exe, "/usr/lib/kubedeb/dockerd-flannel"),
                (exe, "/usr/lib/kubedeb/flannel-vtep"),
                (exe, "/usr/lib/kubedeb/node-env"),
                (exe, "/usr/lib/kubedeb/flannel-vtep"),
            ],
            "k8s-flannel"
        )
    );
    assert_eq!(
        contents(master),
        expected(
            &[
                (reg, "/etc/default/etcd"),
                (reg, "/etc/default/kube-apiserver"),
                (reg, "/etc/default/kube-controller-manager"),
                (reg, "/etc/default/kube-scheduler"),
                (reg, "/lib/systemd/system/etcd.service"),
                (
                    reg,
                    "/lib/systemd/system/flanneld.service.d/kubedeb-master.conf"
                ),
                (reg, "/lib/systemd/system/kube-apiserver.service"),
                (reg, "/lib/systemd/system/kube-controller-manager.service"),
                (reg, "/lib/systemd/system/kube-scheduler.service"),
                (exe, "/usr/bin/etcd"),
                (exe, "/usr/bin/etcdctl"),
                (exe, "/usr/bin/kube-apiserver"),
                (exe, "/usr/bin/kube-controller-manager"),
                (exe, "/usr/bin/kube-scheduler"),
                (exe, "/usr/bin/kubectl"),
                (exe, "/usr/lib/kubedeb/addons"),
                (exe, "/usr/lib/kubedeb/flannel-network"),
                (exe, "/usr/lib/kubedeb/make-certs"),
                // The addons that are on (both, by default).
                (reg, "/usr/share/k8s-master/addons/dns-rc.yaml"),
                (reg, "/usr/share/k8s-master/addons/dns-svc.yaml"),
                (reg, "/usr/share/k8s-master/addons/ui-rc.yaml"),
                (reg, "/usr/share/k8s-master/addons/ui-svc.yaml"),
            ],
            "k8s-master"
        )
    );
    assert_eq!(
        contents(minion),
        expected(
            &[
                (reg, "/etc/default/kube-proxy"),
                (reg, "/etc/default/kubelet"),
                (reg, "/lib/systemd/system/kube-proxy.service"),
                (reg, "/lib/systemd/system/kubedeb-docker-api.service"),
                (reg, "/lib/systemd/system/kubelet.service"),
                (exe, "/usr/bin/kube-proxy"),
                (exe, "/usr/bin/kubelet"),
                (exe, "/usr/lib/kubedeb/cgroup-v1"),
                (exe, "/usr/lib/kubedeb/kubedeb-docker-api"),
            ],
            "k8s-minion"
        )
    );
}

/// The /etc/default files are conffiles, and nothing else is.
fn package_conffiles(flannel: &Path, master: &Path, minion: &Path) {
    assert_eq!(
        conffiles(flannel),
        [
            "/etc/default/flanneld",
            "/etc/default/kubedeb-docker",
            "/etc/default/kubedeb-node"
        ]
    );
    assert_eq!(
        conffiles(master),
        [
            "/etc/default/etcd",
            "/etc/default/kube-apiserver",
            "/etc/default/kube-controller-manager",
            "/etc/default/kube-scheduler"
        ]
    );
    assert_eq!(
        conffiles(minion),
        ["/etc/default/kube-proxy", "/etc/default/kubelet"]
    );
}

fn lintian_finds_no_error(debs: &[PathBuf]) {
    let out = run_any(
        Command::new("lintian")
            .args(["--allow-root", "--fail-on", "error"])
            .args(debs),
    );
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lintian found errors:\n{report}");
    assert!(!report.lines().any(|l| l.starts_with("E: ")), "{report}");
}

fn mode_owner(path: &Path) -> (u32, u32, u32) {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.permissions().mode() & 0o7777, m.uid(), m.gid())
}

/// Paths whose change across install and purge is dpkg's, apt's or the shadow tools' business.
fn bookkeeping(p: &str) -> bool {
    [
        "/var/lib/dpkg",
        "/var/lib/apt",
        "/var/cache",
        "/var/log",
        "/tmp/debs",
    ]
    .iter()
    .any(|b| p == *b || p.starts_with(&format!("{b}/")))
        || (p.starts_with("/etc/") && p.ends_with('-'))
        || p == "/etc/ld.so.cache"
}

#[test]
fn master_and_minion_install_together_in_a_chroot_then_purge_cleanly() {
    let out = tempfile::tempdir().unwrap();
    let (_, debs) = build(out.path());
    let root = Chroot::new();
    let before = root.tree(&WATCHED);
    let docker_unit = root.sha256("/lib/systemd/system/docker.service");
    assert!(
        !root.path("/run/systemd/system").exists(),
        "the chroot must not look like a booted system"
    );

    let log = install_master_and_minion(&root, &debs);
    enabled_and_not_started(&root, &log);
    certificates_made_with_the_documented_modes(&root);
    etcd_folder_and_kubeconfig(&root);
    configure_again_keeps_the_certificates(&root);
    units_pass_systemd_analyze(&root, &docker_unit);
    purge_restores_the_root(&root, &before, &docker_unit);
}

/// What install and purge may change: compared before and after.
const WATCHED: [&str; 8] = [
    "/etc",
    "/srv",
    "/root",
    "/var/lib",
    "/var/cache/kubedeb",
    "/lib/systemd",
    "/usr/lib/kubedeb",
    "/run",
];

/// A file in the installed certificate folder.
fn srv(root: &Chroot, f: &str) -> PathBuf {
    root.path(&format!("/srv/kubernetes/{f}"))
}

/// `openssl ARGS` in the installed certificate folder; its output, which must succeed.
fn openssl_in(root: &Chroot, args: &[&str]) -> String {
    all_output(
        Command::new("openssl")
            .args(args)
            .current_dir(srv(root, "")),
    )
}

/// The `ai` role: k8s-master and k8s-minion installed together; apt's log.
fn install_master_and_minion(root: &Chroot, debs: &[PathBuf]) -> String {
    fs::create_dir_all(root.path("/tmp/debs")).unwrap();
    for deb in debs {
        fs::copy(
            deb,
            root.path(&format!(
                "/tmp/debs/{}",
                deb.file_name().unwrap().to_string_lossy()
            )),
        )
        .unwrap();
    }
    // The `ai` role: master and minion on one host (k8s-flannel given as a file too: no repository here).
    let log = root.sh("apt-get install -y /tmp/debs/k8s-master_1.1.4-1_amd64.deb /tmp/debs/k8s-minion_1.1.4-1_amd64.deb /tmp/debs/k8s-flannel_0.5.5-1_amd64.deb /tmp/debs/k8s-images_1.1.4-1_amd64.deb 2>&1");
    assert!(
        !log.contains("kubedeb:") || !log.to_lowercase().contains("error"),
        "{log}"
    );
    for pkg in ["k8s-flannel", "k8s-master", "k8s-images", "k8s-minion"] {
        assert_eq!(
            root.sh(&format!("dpkg-query -W -f '${{Status}}' {pkg}")),
            "install ok installed",
            "{pkg}\n{log}"
        );
    }

    log
}

/// Enabled for the first boot, nothing started.
fn enabled_and_not_started(root: &Chroot, log: &str) {
    let wants = root.path("/etc/systemd/system/multi-user.target.wants");
    for unit in manifest::all_units() {
        let link = wants.join(&unit);
        assert_eq!(
            fs::read_link(&link).unwrap_or_else(|e| panic!("{unit} is not enabled: {e}\n{log}")),
            PathBuf::from(format!("/lib/systemd/system/{unit}"))
        );
    }
    assert!(
        !root.path("/run/flannel").exists(),
        "nothing may run in a chroot install"
    );
}

/// Certificates: made on the node with the documented modes.
fn certificates_made_with_the_documented_modes(root: &Chroot) {
    let srv = |f: &str| srv(root, f);
    let openssl = |args: &[&str]| openssl_in(root, args);
    let kube_cert = root.gid("kube-cert").expect("kube-cert group created");
    assert_eq!(mode_owner(&srv("")), (0o755, 0, 0));
    assert_eq!(mode_owner(&srv("ca.crt")), (0o644, 0, kube_cert));
    assert_eq!(mode_owner(&srv("ca.key")), (0o600, 0, 0));
    assert_eq!(mode_owner(&srv("server.cert")), (0o644, 0, kube_cert));
    assert_eq!(mode_owner(&srv("server.key")), (0o640, 0, kube_cert));
    assert_eq!(mode_owner(&srv("kubecfg.crt")), (0o644, 0, kube_cert));
    assert_eq!(mode_owner(&srv("kubecfg.key")), (0o640, 0, kube_cert));
    let listing: BTreeSet<String> = fs::read_dir(srv(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        listing,
        [
            "ca.crt",
            "ca.key",
            "kubecfg.crt",
            "kubecfg.key",
            "server.cert",
            "server.key"
        ]
        .map(String::from)
        .into()
    );
    let sans = openssl(&[
        "x509",
        "-in",
        "server.cert",
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert!(
        sans.contains(&format!("IP Address:{MASTER}, IP Address:192.168.3.1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP Address:10.0.0.100, DNS:k8s.example.org")),
        "{sans}"
    );
    let subject = openssl(&["x509", "-in", "ca.crt", "-noout", "-subject"]);
    let cn = subject
        .trim()
        .trim_start_matches("subject=")
        .trim()
        .trim_start_matches("CN = ")
        .trim_start_matches("CN=");
    let (ip, time) = cn
        .split_once('@')
        .unwrap_or_else(|| panic!("CA subject {subject}"));
    assert!(
        ip == MASTER && time.parse::<u64>().is_ok(),
        "CA subject {subject}"
    );
    openssl(&["verify", "-CAfile", "ca.crt", "server.cert", "kubecfg.crt"]);
    assert!(openssl(&[
        "x509",
        "-in",
        "server.cert",
        "-noout",
        "-ext",
        "extendedKeyUsage"
    ])
    .contains("TLS Web Server Authentication"));
    assert!(openssl(&[
        "x509",
        "-in",
        "kubecfg.crt",
        "-noout",
        "-ext",
        "extendedKeyUsage"
    ])
    .contains("TLS Web Client Authentication"));
    for (key, cert) in [
        ("server.key", "server.cert"),
        ("kubecfg.key", "kubecfg.crt"),
        ("ca.key", "ca.crt"),
    ] {
        // PKCS#1, which Kubernetes 1.1's service-account code reads; and the key fits its certificate.
        assert!(
            fs::read_to_string(srv(key))
                .unwrap()
                .starts_with("-----BEGIN RSA PRIVATE KEY-----"),
            "{key}"
        );
        assert_eq!(
            openssl(&["rsa", "-in", key, "-noout", "-modulus"]),
            openssl(&["x509", "-in", cert, "-noout", "-modulus"]),
            "{key} does not fit {cert}"
        );
    }
}

/// etcd's data folder, root's kubeconfig.
fn etcd_folder_and_kubeconfig(root: &Chroot) {
    assert_eq!(mode_owner(&root.path("/var/lib/etcd")), (0o700, 0, 0));
    assert!(!root.path("/infra.etcd").exists());
    assert_eq!(mode_owner(&root.path("/root/.kube/config")).0, 0o600);
    assert!(fs::read_to_string(root.path("/root/.kube/config"))
        .unwrap()
        .contains("server: http://127.0.0.1:8080"));
}

/// Configure again (what dpkg-reconfigure and a failed upgrade's retry do): no certificate is
/// regenerated, no error; deleting server.cert renews it from the same CA and key.
fn configure_again_keeps_the_certificates(root: &Chroot) {
    let srv = |f: &str| srv(root, f);
    let openssl = |args: &[&str]| openssl_in(root, args);
    let hashes = |names: &[&str]| {
        names
            .iter()
            .map(|n| root.sha256(&format!("/srv/kubernetes/{n}")))
            .collect::<Vec<_>>()
    };
    let all = [
        "ca.crt",
        "ca.key",
        "server.cert",
        "server.key",
        "kubecfg.crt",
        "kubecfg.key",
    ];
    let first = hashes(&all);
    for pkg in ["k8s-flannel", "k8s-master", "k8s-minion"] {
        root.sh(&format!(
            "/var/lib/dpkg/info/{pkg}.postinst configure 1.1.4-1"
        ));
    }
    assert_eq!(
        hashes(&all),
        first,
        "a second configure must not touch the certificates"
    );
    // Deleting server.cert renews it from the same CA and key (the documented renewal).
    fs::remove_file(srv("server.cert")).unwrap();
    root.sh("/var/lib/dpkg/info/k8s-master.postinst configure 1.1.4-1");
    let renewed = hashes(&all);
    assert_ne!(renewed[2], first[2]);
    assert_eq!([&renewed[..2], &renewed[3..]], [&first[..2], &first[3..]]);
    openssl(&["verify", "-CAfile", "ca.crt", "server.cert"]);
}

/// The installed units, with the real docker.io unit and our drop-in, pass systemd's checks.
fn units_pass_systemd_analyze(root: &Chroot, docker_unit: &str) {
    let verify = run_any(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.root().display()))
            .arg("--man=no")
            .args(manifest::all_units())
            .arg("docker.service"),
    );
    let said = String::from_utf8_lossy(&verify.stdout).into_owned()
        + &String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && said.is_empty(),
        "systemd-analyze verify:\n{said}"
    );
    assert_eq!(
        root.sha256("/lib/systemd/system/docker.service"),
        docker_unit,
        "docker's own unit must stay untouched"
    );
}

/// Purge leaves the root as it was, Docker included.
fn purge_restores_the_root(root: &Chroot, before: &BTreeSet<String>, docker_unit: &str) {
    let log = root.sh("apt-get purge -y k8s-master k8s-minion k8s-images k8s-flannel 2>&1");
    let after = root.tree(&WATCHED);
    let added: Vec<&String> = after
        .difference(before)
        .filter(|p| !bookkeeping(p))
        .collect();
    let removed: Vec<&String> = before
        .difference(&after)
        .filter(|p| !bookkeeping(p))
        .collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "purge left {added:?}, removed {removed:?}\n{log}"
    );
    assert_eq!(
        root.gid("kube-cert"),
        None,
        "the kube-cert group made by the postinst is deleted"
    );
    assert_eq!(
        root.sha256("/lib/systemd/system/docker.service"),
        docker_unit
    );
    assert_eq!(
        root.sh("dpkg-query -W -f '${Status}' docker.io"),
        "install ok installed"
    );
}
