//! The rendered templates, checked the way their consumers read them: /etc/default files sourced
//! by /bin/sh and every flag checked against the binary's contract, units through
//! `systemd-analyze verify`, maintainer scripts and helpers through `sh -n` and shellcheck.

use crate::harness::flags::{value_of, Contract};
use crate::harness::golden::assert_golden;
use crate::harness::tools::{need, run_any};
use crate::harness::units::VerifyRoot;
use crate::harness::{bin, fixtures, images, manifest};
use kubedeb::config::ConfigFile;
use kubedeb::deb::{EntryKind, PackageSpec, Source};
use kubedeb::packages::{self, BuildInput};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

const NODE_IP: &str = "10.9.8.7";

/// (binary, OPTS variable) of every service.
const SERVICES: [(&str, &str); 7] = [
    ("etcd", "ETCD_OPTS"),
    ("kube-apiserver", "KUBE_APISERVER_OPTS"),
    ("kube-controller-manager", "KUBE_CONTROLLER_MANAGER_OPTS"),
    ("kube-scheduler", "KUBE_SCHEDULER_OPTS"),
    ("kubelet", "KUBELET_OPTS"),
    ("kube-proxy", "KUBE_PROXY_OPTS"),
    ("flanneld", "FLANNEL_OPTS"),
];

pub(crate) fn default_config() -> ConfigFile {
    ConfigFile {
        master_ip: Some(Ipv4Addr::new(192, 168, 100, 11)),
        ..ConfigFile::default()
    }
}

/// Every setting the templates use changed from its default.
fn other_config() -> ConfigFile {
    let mut c = ConfigFile {
        master_ip: Some(Ipv4Addr::new(10, 20, 0, 5)),
        ..ConfigFile::default()
    };
    c.versions.etcd = "3.4.30".into();
    c.network.service_cluster_ip_range = "10.100.0.0/16".into();
    c.network.flannel_network = "10.244.0.0/16".into();
    c.network.flannel_backend = "udp".into();
    c.network.flannel_extra_json = "\"SubnetLen\": 26".into();
    c.dns.server_ip = "10.100.0.10".into();
    c.dns.domain = "k8s.example.org".into();
    c.apiserver.admission_control = vec!["NamespaceLifecycle".into(), "ServiceAccount".into()];
    c.apiserver.service_node_port_range = "20000-22767".into();
    c.kubelet.pause_image = "registry.local:5000/pause:0.8.0".into();
    c.kubelet.config = "/etc/kubernetes/manifests".into();
    c.docker.extra_opts =
        "--registry-mirror=http://registry.local:5000 --insecure-registry=registry.local:5000"
            .into();
    c.certificates.extra_sans = vec!["IP:10.20.0.100".into(), "DNS:k8s.example.org".into()];
    c.package.revision = 3;
    c
}

pub(crate) fn build(config: &ConfigFile, etcd_v3_api: bool) -> Vec<PackageSpec> {
    let config = &config.validate().expect("valid settings");
    let binaries = fixtures::catalog_binaries_as(config, Path::new("/bin/true"));
    let programs = [(
        "kubedeb-docker-api".to_string(),
        std::path::PathBuf::from(bin::DOCKER_API),
    )]
    .into();
    packages::packages(&BuildInput {
        config,
        binaries: &binaries,
        programs: &programs,
        templates: None,
        etcd_v3_api,
        images: &images::standing_in(config, Path::new("/bin/true")),
    })
    .expect("packages")
}

/// The generated text of `path` in any package.
pub(crate) fn file(specs: &[PackageSpec], path: &str) -> String {
    for spec in specs {
        for entry in &spec.entries {
            if entry.path == path {
                if let EntryKind::File(Source::Bytes(bytes)) = &entry.kind {
                    return String::from_utf8(bytes.clone()).expect("utf-8");
                }
            }
        }
    }
    panic!("no generated file {path} in the packages")
}

/// Every text the templates render into `specs`, by golden name: `<package>/<path>` for
/// files, `<package>/DEBIAN/<script>` for maintainer scripts (compressed files left out).
fn rendered(specs: &[PackageSpec]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let package = &spec.control.package;
        let scripts = &spec.scripts;
        for (name, script) in [
            ("preinst", &scripts.preinst),
            ("postinst", &scripts.postinst),
            ("prerm", &scripts.prerm),
            ("postrm", &scripts.postrm),
        ] {
            if let Some(text) = script {
                out.insert(format!("{package}/DEBIAN/{name}"), text.clone());
            }
        }
        for entry in &spec.entries {
            if let EntryKind::File(Source::Bytes(bytes)) = &entry.kind {
                if entry.path.ends_with(".gz") {
                    continue;
                }
                let text = String::from_utf8(bytes.clone())
                    .unwrap_or_else(|_| panic!("{} is not text", entry.path));
                out.insert(format!("{package}{}", entry.path), text);
            }
        }
    }
    out
}

#[test]
fn rendered_files_match_the_golden_files() {
    for (name, config) in [("default", default_config()), ("other", other_config())] {
        let files = rendered(&build(&config, name == "other"));
        let list: String = files.keys().map(|k| format!("{k}\n")).collect();
        // The list catches a file that is no longer rendered, whose golden file would linger.
        assert_golden(&format!("rendered/{name}/FILES"), &list);
        for (file, text) in &files {
            assert_golden(&format!("rendered/{name}/{file}"), text);
        }
    }
}

/// `var` as /bin/sh sees it after sourcing `text`.
pub(crate) fn sourced(text: &str, var: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default");
    std::fs::write(&path, text).unwrap();
    let out = run_any(
        Command::new("/bin/sh")
            .arg("-euc")
            .arg(format!(". \"$1\"; printf '%s' \"${{{var}}}\""))
            .arg("sh")
            .arg(&path),
    );
    assert!(
        out.status.success(),
        "sourcing failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The command line systemd runs: ExecStart with `$VAR` split into words, `${NODE_IP}` filled in.
fn command_line(specs: &[PackageSpec], binary: &str, var: &str) -> Vec<String> {
    let defaults = file(specs, &format!("/etc/default/{binary}"));
    let opts = sourced(&defaults, var);
    let unit = file(specs, &format!("/lib/systemd/system/{binary}.service"));
    let exec: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .collect();
    assert_eq!(
        exec.len(),
        1,
        "{binary}.service needs one ExecStart:\n{unit}"
    );
    let mut words = exec[0].split_whitespace();
    assert_eq!(words.next(), Some(format!("/usr/bin/{binary}").as_str()));
    assert!(
        unit.contains(&format!("EnvironmentFile=-/etc/default/{binary}\n")),
        "{binary}.service must read /etc/default/{binary}"
    );
    let mut args = Vec::new();
    for word in words {
        if word == format!("${var}") {
            args.extend(opts.split_whitespace().map(String::from));
        } else {
            let word = word.replace("${NODE_IP}", NODE_IP);
            assert!(
                !word.contains('$'),
                "unexpected variable in {binary}'s ExecStart: {word}"
            );
            args.push(word);
        }
    }
    args
}

fn contract(binary: &str, etcd_v3_api: bool) -> Contract {
    if binary == "etcd" && etcd_v3_api {
        let out = run_any(Command::new("etcd").arg("--help"));
        let help = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        Contract::from_etcd3_help(&help)
    } else {
        Contract::load(binary)
    }
}

/// Every flag of every service passes its contract; returns the parsed flags by binary.
fn checked(
    specs: &[PackageSpec],
    etcd_v3_api: bool,
) -> BTreeMap<&'static str, Vec<(String, Option<String>)>> {
    SERVICES
        .iter()
        .map(|(binary, var)| {
            let args = command_line(specs, binary, var);
            let parsed = contract(binary, etcd_v3_api)
                .check(&args)
                .unwrap_or_else(|e| panic!("{e}\nargs: {args:?}"));
            (*binary, parsed)
        })
        .collect()
}

fn expect(
    parsed: &BTreeMap<&str, Vec<(String, Option<String>)>>,
    binary: &str,
    flag: &str,
    value: &str,
) {
    assert_eq!(
        value_of(&parsed[binary], flag),
        Some(value),
        "{binary} --{flag}; all: {:?}",
        parsed[binary]
    );
}

#[test]
fn default_config_flags_pass_the_contracts_and_match_the_seed() {
    let specs = build(&default_config(), false);
    let p = checked(&specs, false);
    let m = "192.168.100.11";
    expect(&p, "etcd", "name", "infra");
    expect(&p, "etcd", "data-dir", "/var/lib/etcd");
    expect(
        &p,
        "etcd",
        "listen-client-urls",
        &format!("http://127.0.0.1:4001,http://{m}:4001"),
    );
    expect(
        &p,
        "etcd",
        "advertise-client-urls",
        &format!("http://{m}:4001"),
    );
    assert_eq!(value_of(&p["etcd"], "enable-v2"), None);
    expect(&p, "kube-apiserver", "insecure-bind-address", "0.0.0.0");
    expect(&p, "kube-apiserver", "insecure-port", "8080");
    expect(
        &p,
        "kube-apiserver",
        "etcd-servers",
        "http://127.0.0.1:4001",
    );
    expect(
        &p,
        "kube-apiserver",
        "service-cluster-ip-range",
        "192.168.3.0/24",
    );
    expect(
        &p,
        "kube-apiserver",
        "admission-control",
        "NamespaceLifecycle,LimitRanger,ServiceAccount,ResourceQuota,SecurityContextDeny",
    );
    expect(
        &p,
        "kube-apiserver",
        "service-node-port-range",
        "30000-32767",
    );
    expect(&p, "kube-apiserver", "advertise-address", m);
    expect(
        &p,
        "kube-apiserver",
        "client-ca-file",
        "/srv/kubernetes/ca.crt",
    );
    expect(
        &p,
        "kube-apiserver",
        "tls-cert-file",
        "/srv/kubernetes/server.cert",
    );
    expect(
        &p,
        "kube-apiserver",
        "tls-private-key-file",
        "/srv/kubernetes/server.key",
    );
    expect(
        &p,
        "kube-controller-manager",
        "master",
        "http://127.0.0.1:8080",
    );
    expect(
        &p,
        "kube-controller-manager",
        "root-ca-file",
        "/srv/kubernetes/ca.crt",
    );
    expect(
        &p,
        "kube-controller-manager",
        "service-account-private-key-file",
        "/srv/kubernetes/server.key",
    );
    expect(&p, "kube-scheduler", "master", "http://127.0.0.1:8080");
    expect(&p, "kubelet", "hostname-override", NODE_IP);
    expect(&p, "kubelet", "api-servers", &format!("http://{m}:8080"));
    expect(&p, "kubelet", "cluster-dns", "192.168.3.10");
    expect(&p, "kubelet", "cluster-domain", "cluster.local");
    expect(
        &p,
        "kubelet",
        "pod-infra-container-image",
        "gcr.io/google_containers/pause:0.8.0",
    );
    assert_eq!(
        value_of(&p["kubelet"], "config"),
        None,
        "an empty KUBELET_CONFIG is left out"
    );
    expect(&p, "kube-proxy", "hostname-override", NODE_IP);
    expect(&p, "kube-proxy", "master", &format!("http://{m}:8080"));
    expect(
        &p,
        "flanneld",
        "etcd-endpoints",
        &format!("http://{m}:4001"),
    );
    expect(&p, "flanneld", "ip-masq", "true");
    expect(&p, "flanneld", "iface", NODE_IP);
    for (binary, _) in SERVICES.iter().filter(|(b, _)| b.starts_with("kube")) {
        expect(&p, binary, "logtostderr", "true");
    }
    assert_eq!(
        sourced(
            &file(&specs, "/etc/default/kubedeb-docker"),
            "KUBEDEB_DOCKER_OPTS"
        ),
        ""
    );
}

#[test]
fn the_node_port_range_is_rendered_as_parsed() {
    // Validation reads it trimmed; the file must get that value, not the text with its line breaks.
    let mut cfg = default_config();
    cfg.apiserver.service_node_port_range = " 20000 - 22767\n".into();
    let specs = build(&cfg, false);
    let text = file(&specs, "/etc/default/kube-apiserver");
    assert_eq!(text.lines().count(), default_lines(), "{text}");
    expect(
        &checked(&specs, false),
        "kube-apiserver",
        "service-node-port-range",
        "20000-22767",
    );
}

fn default_lines() -> usize {
    file(
        &build(&default_config(), false),
        "/etc/default/kube-apiserver",
    )
    .lines()
    .count()
}

#[test]
fn other_config_flags_pass_the_contracts_and_follow_the_settings() {
    let cfg = other_config();
    let specs = build(&cfg, true);
    let p = checked(&specs, true);
    let m = "10.20.0.5";
    expect(&p, "etcd", "enable-v2", "true");
    expect(&p, "etcd", "data-dir", "/var/lib/etcd");
    expect(
        &p,
        "etcd",
        "listen-client-urls",
        &format!("http://127.0.0.1:4001,http://{m}:4001"),
    );
    expect(
        &p,
        "kube-apiserver",
        "service-cluster-ip-range",
        "10.100.0.0/16",
    );
    expect(
        &p,
        "kube-apiserver",
        "admission-control",
        "NamespaceLifecycle,ServiceAccount",
    );
    expect(
        &p,
        "kube-apiserver",
        "service-node-port-range",
        "20000-22767",
    );
    expect(&p, "kube-apiserver", "advertise-address", m);
    expect(&p, "kubelet", "api-servers", &format!("http://{m}:8080"));
    expect(&p, "kubelet", "cluster-dns", "10.100.0.10");
    expect(&p, "kubelet", "cluster-domain", "k8s.example.org");
    expect(
        &p,
        "kubelet",
        "pod-infra-container-image",
        "registry.local:5000/pause:0.8.0",
    );
    expect(&p, "kubelet", "config", "/etc/kubernetes/manifests");
    expect(&p, "kube-proxy", "master", &format!("http://{m}:8080"));
    expect(
        &p,
        "flanneld",
        "etcd-endpoints",
        &format!("http://{m}:4001"),
    );
    assert_eq!(
        sourced(
            &file(&specs, "/etc/default/kubedeb-docker"),
            "KUBEDEB_DOCKER_OPTS"
        ),
        cfg.docker.extra_opts
    );
    assert!(file(&specs, "/usr/lib/kubedeb/node-env").contains("\nMASTER_IP=10.20.0.5\n"));

    // The etcd 3.4 line: etcdctl must speak the v2 API that flannel 0.5 reads.
    let register = file(&specs, "/usr/lib/kubedeb/flannel-network");
    assert!(
        register.contains("\nETCDCTL_API=2\nexport ETCDCTL_API\n"),
        "{register}"
    );
    let v2 = file(
        &build(&default_config(), false),
        "/usr/lib/kubedeb/flannel-network",
    );
    assert!(!v2.contains("ETCDCTL_API"), "{v2}");
}

#[test]
fn etcd_3_accepts_the_rendered_flags() {
    // The real etcd 3.4 (Debian's etcd-server) parses its flags before --version exits.
    let specs = build(&other_config(), true);
    let args = command_line(&specs, "etcd", "ETCD_OPTS");
    let out = run_any(Command::new("etcd").args(&args).arg("--version"));
    assert!(
        out.status.success(),
        "etcd refused {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_any(Command::new("etcd").args(["--no-such-flag", "--version"]));
    assert!(
        !out.status.success(),
        "etcd must refuse an unknown flag, or this check proves nothing"
    );
}

/// The JSON that lib/flannel-network writes to etcd.
fn flannel_json(specs: &[PackageSpec]) -> serde_json::Value {
    let text = file(specs, "/usr/lib/kubedeb/flannel-network");
    let start = text.find("<<'KUBEDEB_FLANNEL_JSON'\n").expect("heredoc")
        + "<<'KUBEDEB_FLANNEL_JSON'\n".len();
    let end = text[start..]
        .find("\nKUBEDEB_FLANNEL_JSON\n")
        .expect("heredoc end")
        + start;
    serde_json::from_str(&text[start..end])
        .unwrap_or_else(|e| panic!("bad JSON {:?}: {e}", &text[start..end]))
}

#[test]
fn the_flannel_network_config_follows_the_settings() {
    assert_eq!(
        flannel_json(&build(&default_config(), false)),
        serde_json::json!({"Network": "172.16.0.0/16", "Backend": {"Type": "vxlan"}})
    );
    assert_eq!(
        flannel_json(&build(&other_config(), true)),
        serde_json::json!({"Network": "10.244.0.0/16", "Backend": {"Type": "udp"}, "SubnetLen": 26})
    );
}

#[test]
fn the_server_certificate_names_follow_the_settings() {
    let line = |specs: &[PackageSpec]| {
        file(specs, "/usr/share/doc/k8s-master/README.Debian");
        let postinst = specs[1].scripts.postinst.clone().unwrap();
        assert!(
            postinst.contains(
                "\n\t/usr/lib/kubedeb/make-certs --record \"$CREATED\" /srv/kubernetes kube-cert\n"
            ),
            "{postinst}"
        );
        file(specs, "/usr/lib/kubedeb/make-certs")
            .lines()
            .find(|l| l.starts_with("SANS = "))
            .expect("SAN line")
            .to_string()
    };
    assert_eq!(
        line(&build(&default_config(), false)),
        "SANS = IP:192.168.100.11, IP:192.168.3.1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"
    );
    assert_eq!(
        line(&build(&other_config(), true)),
        "SANS = IP:10.20.0.5, IP:10.100.0.1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.k8s.example.org, IP:10.20.0.100, DNS:k8s.example.org"
    );
}

#[test]
fn master_and_minion_install_together_without_sharing_a_path() {
    let specs = build(&default_config(), false);
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for spec in &specs {
        for entry in &spec.entries {
            if let Some(other) = owner.insert(&entry.path, &spec.control.package) {
                panic!(
                    "{} is in both {other} and {}",
                    entry.path, spec.control.package
                );
            }
        }
    }
    // One flanneld serves both roles: its unit and settings come from k8s-flannel only; the
    // master adds a drop-in.
    assert_eq!(owner["/lib/systemd/system/flanneld.service"], "k8s-flannel");
    assert_eq!(owner["/etc/default/flanneld"], "k8s-flannel");
    assert_eq!(
        owner["/lib/systemd/system/flanneld.service.d/kubedeb-master.conf"],
        "k8s-master"
    );
}

/// Every unit of the packages, and Docker's with our drop-in.
fn units() -> Vec<String> {
    let mut units = manifest::all_units();
    units.push("docker.service".into());
    units
}

#[test]
fn units_pass_systemd_analyze_verify_with_docker_io_and_docker_ce() {
    for (config, v3) in [(default_config(), false), (other_config(), true)] {
        let specs = build(&config, v3);
        for docker in ["docker.io.service", "docker-ce.service"] {
            let root = VerifyRoot::new(&specs, docker);
            let out = root.verify(&units());
            assert!(
                out.is_empty(),
                "systemd-analyze verify ({docker}) printed:\n{out}"
            );
        }
    }
}

#[test]
fn systemd_analyze_verify_catches_a_broken_unit() {
    // So that the clean result above means something: a typo and a missing helper are reported.
    let specs = build(&default_config(), false);
    let root = VerifyRoot::new(&specs, "docker.io.service");
    let dropin = root
        .dir
        .path()
        .join("lib/systemd/system/flanneld.service.d/kubedeb-master.conf");
    let text = std::fs::read_to_string(&dropin).unwrap();
    std::fs::write(&dropin, text + "Restrat=always\n").unwrap();
    std::fs::remove_file(root.dir.path().join("usr/lib/kubedeb/dockerd-flannel")).unwrap();
    let out = root.verify(&units());
    assert!(out.contains("Restrat"), "{out}");
    assert!(out.contains("dockerd-flannel"), "{out}");
}

#[test]
/// The seed's orderings, with PartOf= where it had BindsTo=: a dependency restarted by systemd
/// after a crash restarts what depends on it (BindsTo= only stopped it and left it down).
fn units_keep_the_seed_orderings() {
    let specs = build(&default_config(), false);
    let unit = |name: &str| file(&specs, &format!("/lib/systemd/system/{name}"));
    for name in [
        "kube-apiserver.service",
        "kube-controller-manager.service",
        "kube-scheduler.service",
    ] {
        let u = unit(name);
        assert!(
            u.contains("\nRequires=etcd.service flanneld.service\n"),
            "{u}"
        );
        assert!(u.contains("\nAfter=etcd.service flanneld.service\n"), "{u}");
        assert!(u.contains("\nPartOf=etcd.service\n"), "{u}");
        assert!(!u.contains("BindsTo="), "{u}");
    }
    for name in ["kubelet.service", "kube-proxy.service"] {
        let u = unit(name);
        assert!(u.contains("\nPartOf=flanneld.service\n"), "{u}");
        assert!(!u.contains("BindsTo="), "{u}");
        assert!(u.contains("Requires=flanneld.service"), "{u}");
        assert!(u.contains("After=flanneld.service"), "{u}");
    }
    assert!(unit("kube-proxy.service").contains("\nLimitNOFILE=65536\n"));
    assert!(unit("etcd.service").contains("\nType=notify\n"));
    assert!(unit("flanneld.service").contains("\nType=notify\n"));
    let master = unit("flanneld.service.d/kubedeb-master.conf");
    assert!(
        master.contains("\nRequires=etcd.service\nPartOf=etcd.service\nAfter=etcd.service\n"),
        "{master}"
    );
    for (binary, _) in SERVICES {
        let u = unit(&format!("{binary}.service"));
        let restart = if u.contains("PartOf=") {
            // Also after a clean exit: an apiserver may exit when its etcd went away.
            "\nRestart=always\n"
        } else {
            "\nRestart=on-failure\n"
        };
        assert!(u.contains(restart), "{binary}: {u}");
        assert!(
            u.contains("\nWantedBy=multi-user.target\n"),
            "{binary}: {u}"
        );
    }
    let docker = unit("docker.service.d/kubedeb-flannel.conf");
    assert!(docker.contains("\nAfter=flanneld.service\n"), "{docker}");
    assert!(
        docker.contains("\nExecStart=\nExecStart=/usr/lib/kubedeb/dockerd-flannel "),
        "{docker}"
    );
}

/// Every maintainer script and shell helper of the packages, as (name, text).
pub(crate) fn shell_scripts(specs: &[PackageSpec]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for spec in specs {
        let s = &spec.scripts;
        for (kind, text) in [
            ("preinst", &s.preinst),
            ("postinst", &s.postinst),
            ("prerm", &s.prerm),
            ("postrm", &s.postrm),
        ] {
            if let Some(text) = text {
                out.push((format!("{}.{kind}", spec.control.package), text.clone()));
            }
        }
        for entry in &spec.entries {
            if let EntryKind::File(Source::Bytes(bytes)) = &entry.kind {
                if bytes.starts_with(b"#!/bin/sh") {
                    out.push((
                        entry.path.clone(),
                        String::from_utf8(bytes.clone()).unwrap(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn scripts_pass_sh_n_and_shellcheck() {
    for (config, v3) in [(default_config(), false), (other_config(), true)] {
        let specs = build(&config, v3);
        let scripts = shell_scripts(&specs);
        assert_eq!(scripts.len(), 12 + 8, "12 maintainer scripts and 8 helpers");
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in &scripts {
            assert!(text.starts_with("#!/bin/sh\n"), "{name}");
            assert!(text.contains("\nset -e\n"), "{name} must run with set -e");
            let path = dir.path().join(name.replace('/', "_"));
            std::fs::write(&path, text).unwrap();
            sh_n_and_shellcheck(name, &path);
        }
    }
}

#[test]
fn shellcheck_catches_a_broken_script() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad");
    std::fs::write(&path, "#!/bin/sh\nset -e\nrm -rf $1/*\n").unwrap();
    let out = run_any(
        Command::new("shellcheck")
            .args(["-s", "sh", "-S", "info"])
            .arg(&path),
    );
    assert!(
        !out.status.success(),
        "shellcheck must flag an unquoted variable"
    );
}

#[test]
fn maintainer_scripts_use_the_debhelper_way() {
    let specs = build(&default_config(), false);
    let scripts: BTreeMap<String, String> = shell_scripts(&specs).into_iter().collect();
    let declared = manifest::units();
    assert_eq!(declared.len(), 4, "{declared:?}");
    for (package, units) in &declared {
        assert!(!units.is_empty(), "{package} declares no units");
        let units = units.join(" ");
        let postinst = &scripts[&format!("{package}.postinst")];
        assert!(
            postinst.contains(&format!("for _kubedeb_unit in {units}; do")),
            "{postinst}"
        );
        assert!(
            postinst.contains("deb-systemd-helper --quiet was-enabled"),
            "{postinst}"
        );
        assert!(
            !postinst.contains("systemctl enable") && !postinst.contains("systemctl start"),
            "{postinst}"
        );
        let postrm = &scripts[&format!("{package}.postrm")];
        assert!(
            postrm.contains(&format!("deb-systemd-helper purge {units}")),
            "{postrm}"
        );
        let prerm = &scripts[&format!("{package}.prerm")];
        assert!(prerm.contains("deb-systemd-invoke stop"), "{prerm}");
        let reversed: Vec<&str> = units.split(' ').rev().collect();
        assert!(
            prerm.contains(&format!("deb-systemd-invoke stop {} >", reversed.join(" "))),
            "{prerm}"
        );
        for (name, text) in [("postinst", postinst), ("prerm", prerm), ("postrm", postrm)] {
            // Every start, stop and network change is behind the "systemd is running" guard.
            for (i, line) in text.lines().enumerate() {
                if line.contains("deb-systemd-invoke") && !line.trim_start().starts_with('#') {
                    let before: String = text.lines().take(i).collect::<Vec<_>>().join("\n");
                    assert!(
                        before.contains("[ -d /run/systemd/system ]")
                            || before.contains("[ ! -d /run/systemd/system ]"),
                        "{package}.{name} line {}: {line}",
                        i + 1
                    );
                }
            }
        }
    }
}

/// Runs `script` with `sh` in a new network namespace (its own loopback) next to a real
/// etcd 3.4 serving the v2 API on 127.0.0.1:4001; returns the script's output.
fn with_etcd(script: &str, env: &[(&str, &str)]) -> std::process::Output {
    // Run inside the namespace, where a missing one would only say "not found".
    need("etcd");
    need("etcdctl");
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "set -e\nip link set lo up\n\
         etcd --name infra --data-dir '{data}' --listen-client-urls http://127.0.0.1:4001 \
         --advertise-client-urls http://127.0.0.1:4001 --listen-peer-urls http://127.0.0.1:2380 \
         --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster infra=http://127.0.0.1:2380 \
         --enable-v2=true >'{log}' 2>&1 &\n\
         etcd_pid=$!\ntrap 'kill $etcd_pid; wait $etcd_pid || true' EXIT\n{script}\n",
        data = dir.path().join("data").display(),
        log = dir.path().join("etcd.log").display(),
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "sh", "-c", &body]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_any(&mut cmd)
}

#[test]
fn flannel_network_registers_once_and_keeps_an_existing_config() {
    for (config, v3, env) in [
        (other_config(), true, vec![]),
        // etcdctl 2.2.1's --peers, spoken by Debian's etcdctl 3.4 in its v2 mode.
        (default_config(), false, vec![("ETCDCTL_API", "2")]),
    ] {
        let specs = build(&config, v3);
        let dir = tempfile::tempdir().unwrap();
        let register = dir.path().join("flannel-network");
        std::fs::write(&register, file(&specs, "/usr/lib/kubedeb/flannel-network")).unwrap();
        let expected = flannel_json(&specs);
        let out = with_etcd(
            &format!(
                "sh '{r}' 20\n\
                 ETCDCTL_API=2 etcdctl --endpoints http://127.0.0.1:4001 get /coreos.com/network/config\n\
                 ETCDCTL_API=2 etcdctl --endpoints http://127.0.0.1:4001 set /coreos.com/network/config '{{\"Network\":\"10.1.0.0/16\"}}' >/dev/null\n\
                 sh '{r}' 2\n\
                 ETCDCTL_API=2 etcdctl --endpoints http://127.0.0.1:4001 get /coreos.com/network/config",
                r = register.display()
            ),
            &env.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(
            lines[0].starts_with("flannel-network: registered /coreos.com/network/config"),
            "{stdout}"
        );
        let stored: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(stored, expected, "{stdout}");
        // The second run found a config and kept it: create-only.
        assert_eq!(lines[2..], [r#"{"Network":"10.1.0.0/16"}"#], "{stdout}");
    }
}

#[test]
fn flannel_network_gives_up_with_a_clear_message_without_etcd() {
    let specs = build(&other_config(), true);
    let dir = tempfile::tempdir().unwrap();
    let register = dir.path().join("flannel-network");
    std::fs::write(&register, file(&specs, "/usr/lib/kubedeb/flannel-network")).unwrap();
    let out = run_any(
        Command::new("unshare")
            .args(["--net", "sh"])
            .arg(&register)
            .arg("2"),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "could not write /coreos.com/network/config to etcd at 127.0.0.1:4001 after 2 tries"
        ),
        "{err}"
    );
    assert!(err.contains("systemctl status etcd"), "{err}");
}

/// Runs the rendered cgroup-v1 helper with `args` in a mount namespace of its own, where
/// /sys/fs/cgroup is a cgroup2 mount when `v2`, and /etc/default and /usr/sbin are empty
/// tmpfs (no update-grub): returns its exit code, output and the GRUB drop-in it left.
fn cgroup_helper(v2: bool, args: &str) -> (i32, String, String) {
    let specs = build(&default_config(), false);
    let dir = tempfile::tempdir().unwrap();
    let helper = dir.path().join("cgroup-v1");
    std::fs::write(&helper, file(&specs, "/usr/lib/kubedeb/cgroup-v1")).unwrap();
    let mount_v2 = if v2 {
        "mount -t cgroup2 none /sys/fs/cgroup"
    } else {
        "true"
    };
    let body = format!(
        "set -e\n{mount_v2}\nmount -t tmpfs none /etc/default\nmount -t tmpfs none /usr/sbin\n\
         set +e\nfor a in {args}; do sh '{helper}' $a 2>&1; echo \"exit $?\"; done\n\
         cat /etc/default/grub.d/kubedeb-cgroup-v1.cfg 2>/dev/null; true",
        helper = helper.display()
    );
    let out = run_any(Command::new("unshare").args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &body,
    ]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = text
        .lines()
        .find_map(|l| l.strip_prefix("exit "))
        .and_then(|c| c.parse().ok())
        .unwrap_or(-1);
    let dropin = text
        .split_once("GRUB_CMDLINE_LINUX=")
        .map(|(_, v)| v.lines().next().unwrap_or("").to_string())
        .unwrap_or_default();
    (code, text, dropin)
}

#[test]
fn cgroup_v1_helper_says_what_to_do_on_cgroup_v2_and_writes_the_grub_dropin() {
    let (code, out, _) = cgroup_helper(false, "check");
    assert_eq!(code, 0, "cgroup v1 (this test host's layout) passes: {out}");
    let (code, out, dropin) = cgroup_helper(true, "check");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("kubelet 1.1.4 needs cgroup v1"), "{out}");
    assert!(
        out.contains("/usr/lib/kubedeb/cgroup-v1 enable") && out.contains("reboot"),
        "the message names the command and the reboot: {out}"
    );
    assert!(dropin.is_empty(), "check writes nothing: {out}");
    let (code, out, dropin) = cgroup_helper(true, "enable check");
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        dropin, "\"$GRUB_CMDLINE_LINUX systemd.unified_cgroup_hierarchy=0\"",
        "{out}"
    );
    assert!(out.contains("update-grub is not installed"), "{out}");
    assert!(out.contains("is in place: reboot to use it"), "{out}");
    let (_, out, dropin) = cgroup_helper(true, "enable disable");
    assert!(dropin.is_empty(), "disable removes the drop-in: {out}");
}

/// The rendered make-certs helper of `config`, written to a temp dir that also holds its output.
struct CertHelper {
    dir: tempfile::TempDir,
}

impl CertHelper {
    fn new(config: &ConfigFile) -> CertHelper {
        // The helper runs openssl; without it the failures would not say why.
        need("openssl");
        let dir = tempfile::tempdir().unwrap();
        let specs = build(config, false);
        std::fs::write(
            dir.path().join("make-certs"),
            file(&specs, "/usr/lib/kubedeb/make-certs"),
        )
        .unwrap();
        CertHelper { dir }
    }

    fn certs(&self) -> std::path::PathBuf {
        self.dir.path().join("srv/kubernetes")
    }

    /// `sh make-certs ARGS...`: (exit code, stderr).
    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = run_any(
            Command::new("sh")
                .arg(self.dir.path().join("make-certs"))
                .args(args),
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `openssl ARGS...` in the certificate folder; its stdout, which must succeed.
    fn openssl(&self, args: &[&str]) -> String {
        let out = run_any(Command::new("openssl").args(args).current_dir(self.certs()));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The folder's file names with their contents.
    fn contents(&self) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(self.certs())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }
}

/// A group to give the certificates to, other than the one new files get anyway where there is
/// one, so that the test sees the helper set it: any group as root, else one of the user's.
fn cert_group() -> (String, u32) {
    let id = |arg: &str| String::from_utf8(run_any(Command::new("id").arg(arg)).stdout).unwrap();
    let primary: u32 = id("-g").trim().parse().unwrap();
    let groups: Vec<(String, u32)> = if id("-u").trim() == "0" {
        std::fs::read_to_string("/etc/group")
            .unwrap()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
            })
            .collect()
    } else {
        id("-Gn")
            .split_whitespace()
            .map(String::from)
            .zip(id("-G").split_whitespace().map(|g| g.parse().unwrap()))
            .collect()
    };
    let other = groups.iter().find(|(_, gid)| *gid != primary);
    other.or(groups.first()).cloned().expect("a group")
}

fn mode_owner(path: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.mode() & 0o7777, meta.uid(), meta.gid())
}

#[test]
fn make_certs_makes_the_documented_certificates_once() {
    let helper = CertHelper::new(&other_config());
    let (group, gid) = cert_group();
    let certs = helper.certs();
    let dir = certs.to_str().unwrap();
    let (code, err) = helper.run(&[dir, &group]);
    assert_eq!(code, 0, "{err}");

    // Owners and modes as README.Debian documents them; ca.key keeps the default group.
    let (dir_mode, uid, default_gid) = mode_owner(&certs);
    assert_eq!(dir_mode, 0o755);
    for (name, mode, gid) in [
        ("ca.crt", 0o644, gid),
        ("ca.key", 0o600, default_gid),
        ("server.cert", 0o644, gid),
        ("server.key", 0o640, gid),
        ("kubecfg.crt", 0o644, gid),
        ("kubecfg.key", 0o640, gid),
    ] {
        assert_eq!(mode_owner(&certs.join(name)), (mode, uid, gid), "{name}");
    }
    let first = helper.contents();
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        [
            "ca.crt",
            "ca.key",
            "kubecfg.crt",
            "kubecfg.key",
            "server.cert",
            "server.key"
        ],
        "the work folder is gone"
    );

    assert_eq!(
        helper.openssl(&["verify", "-CAfile", "ca.crt", "server.cert", "kubecfg.crt"]),
        "server.cert: OK\nkubecfg.crt: OK\n"
    );
    let ext = |cert: &str, ext: &str| {
        let out = helper.openssl(&["x509", "-in", cert, "-noout", "-ext", ext]);
        out.lines()
            .skip(1)
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        ext("server.cert", "subjectAltName"),
        "IP Address:10.20.0.5, IP Address:10.100.0.1, DNS:kubernetes, DNS:kubernetes.default, \
         DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.k8s.example.org, \
         IP Address:10.20.0.100, DNS:k8s.example.org"
    );
    assert_eq!(
        ext("server.cert", "extendedKeyUsage"),
        "TLS Web Server Authentication, TLS Web Client Authentication"
    );
    assert_eq!(
        ext("kubecfg.crt", "extendedKeyUsage"),
        "TLS Web Client Authentication"
    );
    assert_eq!(ext("ca.crt", "basicConstraints"), "CA:TRUE");
    assert_eq!(ext("server.cert", "basicConstraints"), "CA:FALSE");
    let subject = |cert: &str| {
        helper
            .openssl(&[
                "x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253",
            ])
            .trim()
            .trim_start_matches("subject=")
            .to_string()
    };
    assert_eq!(subject("server.cert"), "CN=kubernetes-master");
    assert_eq!(subject("kubecfg.crt"), "CN=kubecfg");
    let ca = subject("ca.crt");
    let time = ca
        .strip_prefix("CN=10.20.0.5@")
        .unwrap_or_else(|| panic!("{ca}"));
    assert!(time.parse::<u64>().is_ok(), "{ca}");
    for (key, cert) in [
        ("ca.key", "ca.crt"),
        ("server.key", "server.cert"),
        ("kubecfg.key", "kubecfg.crt"),
    ] {
        // PKCS#1, which Kubernetes 1.1's service-account code reads.
        assert!(
            first[key].starts_with(b"-----BEGIN RSA PRIVATE KEY-----\n"),
            "{key}"
        );
        assert_eq!(
            helper.openssl(&["rsa", "-in", key, "-noout", "-modulus"]),
            helper.openssl(&["x509", "-in", cert, "-noout", "-modulus"]),
            "{key} does not fit {cert}"
        );
    }

    // Again (a reconfigure, an upgrade): nothing changes, nothing is said.
    assert_eq!(helper.run(&[dir, &group]), (0, String::new()));
    assert_eq!(helper.contents(), first);

    // The documented renewal: without server.cert, a new one from the same key and CA.
    std::fs::remove_file(certs.join("server.cert")).unwrap();
    assert_eq!(helper.run(&[dir, &group]), (0, String::new()));
    let renewed = helper.contents();
    assert_ne!(renewed["server.cert"], first["server.cert"]);
    for name in first.keys().filter(|n| *n != "server.cert") {
        assert_eq!(renewed[name], first[name], "{name} was replaced");
    }
    assert_eq!(mode_owner(&certs.join("server.cert")), (0o644, uid, gid));
    assert_eq!(
        helper.openssl(&["verify", "-CAfile", "ca.crt", "server.cert"]),
        "server.cert: OK\n"
    );

    // A new CA (ca.key kept) says that the certificates there were signed by the old one, and
    // replaces neither.
    std::fs::remove_file(certs.join("ca.crt")).unwrap();
    let (code, err) = helper.run(&[dir, &group]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("made a new {dir}/ca.crt; server.cert and kubecfg.crt were signed by the old CA: delete them and run dpkg-reconfigure k8s-master")),
        "{err}"
    );
    let after = helper.contents();
    assert_ne!(after["ca.crt"], renewed["ca.crt"]);
    for name in renewed.keys().filter(|n| *n != "ca.crt") {
        assert_eq!(after[name], renewed[name], "{name} was replaced");
    }
}

#[test]
fn make_certs_refuses_bad_input_with_a_clear_message() {
    let helper = CertHelper::new(&default_config());
    let (group, _) = cert_group();
    let certs = helper.certs();
    let dir = certs.to_str().unwrap();

    for args in [
        &[][..],
        &[dir],
        &[dir, &group, "extra"],
        &["", &group],
        &["--record"],
        &["--record", "list", dir],
    ] {
        let (code, err) = helper.run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.starts_with("usage: make-certs [--record LIST] DIR GROUP"),
            "{args:?}: {err}"
        );
    }
    let (code, err) = helper.run(&[dir, "kubedeb-no-such-group"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        "make-certs: there is no group kubedeb-no-such-group to give the certificates to; \
         create it (groupadd --system kubedeb-no-such-group) or name another\n"
    );
    assert!(!certs.exists(), "nothing is made on bad input");

    std::fs::create_dir_all(certs.parent().unwrap()).unwrap();
    std::fs::write(&certs, "not a folder").unwrap();
    let (code, err) = helper.run(&[dir, &group]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        format!("make-certs: {dir} is not a directory; move it away or name another DIR\n")
    );
    assert_eq!(std::fs::read_to_string(&certs).unwrap(), "not a folder");
}

/// `sh -n` and `shellcheck -s sh -S info` both pass on the script at `path` (`name` in messages).
pub(crate) fn sh_n_and_shellcheck(name: &str, path: &Path) {
    let out = run_any(Command::new("sh").arg("-n").arg(path));
    assert!(
        out.status.success(),
        "sh -n {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_any(
        Command::new("shellcheck")
            .args(["-s", "sh", "-S", "info"])
            .arg(path),
    );
    assert!(
        out.status.success(),
        "shellcheck {name}:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
