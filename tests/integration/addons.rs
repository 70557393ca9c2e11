//! The DNS and UI addons: their manifests as the apiserver reads them (YAML) for several settings,
//! kubelet's --cluster-dns, and /usr/lib/kubedeb/addons against a real kube-apiserver 1.1.4 with
//! its controller manager and etcd 2.2.1 from `KUBEDEB_REAL`: create, scale, replace, switch off,
//! remove.

use crate::harness::standin::{free_port, LocalEtcd};
use crate::harness::tools::{self, need, run_any};
use crate::templates::{build, default_config, file, shell_scripts, sourced};
use kubedeb::catalog::Catalog;
use kubedeb::config::ConfigFile;
use kubedeb::deb::{EntryKind, PackageSpec, Source};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where k8s-master ships the addons' manifests.
const ADDONS_DIR: &str = "/usr/share/k8s-master/addons/";
const HELPER: &str = "/usr/lib/kubedeb/addons";
/// The variable naming the folder of real release tarballs (releases/).
const REAL: &str = "KUBEDEB_REAL";

/// The addons' manifests k8s-master ships with these settings: file name -> text.
fn manifests(specs: &[PackageSpec]) -> BTreeMap<String, String> {
    let master = specs
        .iter()
        .find(|s| s.control.package == "k8s-master")
        .expect("k8s-master");
    master
        .entries
        .iter()
        .filter_map(|e| {
            let name = e.path.strip_prefix(ADDONS_DIR)?;
            let EntryKind::File(Source::Bytes(bytes)) = &e.kind else {
                panic!("{} is not a generated file", e.path)
            };
            assert_eq!(e.mode, 0o644, "{}", e.path);
            Some((name.to_string(), String::from_utf8(bytes.clone()).unwrap()))
        })
        .collect()
}

/// `text` parsed the way YAML readers do (python3-yaml), as JSON: one document.
fn yaml(text: &str) -> Value {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; docs = list(yaml.safe_load_all(sys.stdin)); \
             assert len(docs) == 1, len(docs); json.dump(docs[0], sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run python3: {e}; install it with `apt-get install python3 python3-yaml`"
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3-yaml cannot read the manifest (apt-get install python3-yaml if it is missing):\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn parsed(specs: &[PackageSpec]) -> BTreeMap<String, Value> {
    manifests(specs)
        .into_iter()
        .map(|(name, text)| {
            let doc = yaml(&text);
            (name, doc)
        })
        .collect()
}

/// The catalog's image for `role` under these settings.
fn image(config: &ConfigFile, role: &str) -> String {
    let config = config.validate().unwrap();
    config
        .images(&Catalog::load(None).unwrap())
        .unwrap()
        .into_iter()
        .find(|i| i.role == role)
        .unwrap_or_else(|| panic!("no image {role}"))
        .reference
        .to_string()
}

/// The container `name` of a replication controller.
fn container<'a>(rc: &'a Value, name: &str) -> &'a Value {
    rc["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {rc}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap()).collect())
        .unwrap_or_default()
}

/// The DNS manifests say what the settings say: images by role, replicas, domain, address.
fn check_dns(config: &ConfigFile, docs: &BTreeMap<String, Value>) {
    let rc = &docs["dns-rc.yaml"];
    let svc = &docs["dns-svc.yaml"];
    let domain = &config.dns.domain;
    assert_eq!(rc["kind"], "ReplicationController");
    assert_eq!(rc["metadata"]["name"], "kube-dns-v9");
    assert_eq!(rc["spec"]["replicas"], config.addons.dns_replicas);
    assert_eq!(rc["spec"]["selector"]["k8s-app"], "kube-dns");
    assert_eq!(
        rc["spec"]["template"]["metadata"]["labels"]["k8s-app"],
        "kube-dns"
    );
    assert_eq!(rc["spec"]["template"]["spec"]["dnsPolicy"], "Default");
    for (name, role) in [
        ("etcd", "dns-etcd"),
        ("kube2sky", "kube2sky"),
        ("skydns", "skydns"),
        ("healthz", "exechealthz"),
    ] {
        assert_eq!(container(rc, name)["image"], image(config, role), "{name}");
    }
    let master = config.master_ip.unwrap();
    assert_eq!(
        strings(&container(rc, "kube2sky")["args"]),
        [
            format!("-domain={domain}"),
            format!("-kube_master_url=http://{master}:8080")
        ]
    );
    assert!(
        strings(&container(rc, "skydns")["args"]).contains(&format!("-domain={domain}.").as_str()),
        "{rc}"
    );
    assert_eq!(
        strings(&container(rc, "healthz")["args"]),
        [
            format!("-cmd=nslookup kubernetes.default.svc.{domain} localhost >/dev/null"),
            "-port=8080".to_string()
        ]
    );
    assert_eq!(svc["kind"], "Service");
    assert_eq!(svc["metadata"]["name"], "kube-dns");
    assert_eq!(svc["spec"]["clusterIP"], config.dns.server_ip.as_str());
    assert_eq!(svc["spec"]["selector"]["k8s-app"], "kube-dns");
    let ports: Vec<(u64, &str)> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["port"].as_u64().unwrap(), p["protocol"].as_str().unwrap()))
        .collect();
    assert_eq!(ports, [(53, "UDP"), (53, "TCP")]);
}

fn check_ui(config: &ConfigFile, docs: &BTreeMap<String, Value>) {
    let rc = &docs["ui-rc.yaml"];
    let svc = &docs["ui-svc.yaml"];
    assert_eq!(rc["metadata"]["name"], "kube-ui-v4");
    assert_eq!(rc["spec"]["replicas"], 1);
    assert_eq!(container(rc, "kube-ui")["image"], image(config, "kube-ui"));
    assert_eq!(svc["metadata"]["name"], "kube-ui");
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
}

/// kubelet's options as /bin/sh reads /etc/default/kubelet.
fn kubelet_opts(specs: &[PackageSpec]) -> Vec<String> {
    sourced(&file(specs, "/etc/default/kubelet"), "KUBELET_OPTS")
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn with(f: impl FnOnce(&mut ConfigFile)) -> ConfigFile {
    let mut c = default_config();
    f(&mut c);
    c
}

/// Replicas 3, another domain, DNS address and service range, another pause image.
fn other_dns() -> ConfigFile {
    with(|c| {
        c.addons.dns_replicas = 3;
        c.dns.domain = "k8s.example.org".into();
        c.network.service_cluster_ip_range = "10.100.0.0/16".into();
        c.dns.server_ip = "10.100.0.53".into();
        c.kubelet.pause_image = "registry.local:5000/pause:0.8.0".into();
    })
}

#[test]
fn the_manifests_follow_the_settings_and_only_the_addons_that_are_on_are_shipped() {
    let cases = [
        ("defaults", default_config(), true, true),
        ("dns off", with(|c| c.addons.dns = false), false, true),
        ("ui off", with(|c| c.addons.ui = false), true, false),
        (
            "both off",
            with(|c| {
                c.addons.dns = false;
                c.addons.ui = false;
            }),
            false,
            false,
        ),
        (
            "replicas 3, other domain and address",
            other_dns(),
            true,
            true,
        ),
    ];
    for (what, config, dns, ui) in cases {
        let specs = build(&config, false);
        let docs = parsed(&specs);
        let mut expected = Vec::new();
        if dns {
            expected.extend(["dns-rc.yaml", "dns-svc.yaml"]);
        }
        if ui {
            expected.extend(["ui-rc.yaml", "ui-svc.yaml"]);
        }
        assert_eq!(docs.keys().collect::<Vec<_>>(), expected, "{what}");
        for (name, doc) in &docs {
            assert_eq!(doc["apiVersion"], "v1", "{what}: {name}");
            assert_eq!(
                doc["metadata"]["namespace"], "kube-system",
                "{what}: {name}"
            );
        }
        if dns {
            check_dns(&config, &docs);
        }
        if ui {
            check_ui(&config, &docs);
        }
        // The helper is shipped whatever is on: it deletes what an earlier version applied.
        assert!(
            file(&specs, HELPER).starts_with("#!/bin/sh\n"),
            "{what}: {HELPER}"
        );
        // kubelet: --cluster-dns only with the DNS addon, --cluster-domain always.
        let opts = kubelet_opts(&specs);
        let cluster_dns: Vec<&String> = opts
            .iter()
            .filter(|o| o.starts_with("--cluster-dns"))
            .collect();
        if dns {
            assert_eq!(
                cluster_dns,
                [&format!("--cluster-dns={}", config.dns.server_ip)],
                "{what}"
            );
        } else {
            assert!(cluster_dns.is_empty(), "{what}: {opts:?}");
        }
        assert!(
            opts.contains(&format!("--cluster-domain={}", config.dns.domain)),
            "{what}: {opts:?}"
        );
        // README.Debian says which addons run and how to reach kube-ui.
        let readme = file(&specs, "/usr/share/doc/k8s-master/README.Debian");
        let master = config.master_ip.unwrap();
        assert_eq!(
            readme.contains(&format!(
                "http://{master}:8080/api/v1/proxy/namespaces/kube-system/services/kube-ui/"
            )),
            ui,
            "{what}: {readme}"
        );
        assert_eq!(readme.contains("The cluster DNS is off"), !dns, "{what}");
        assert!(readme.contains("/usr/lib/kubedeb/addons apply"), "{what}");
    }
}

#[test]
fn the_dns_replica_count_is_checked_only_while_the_dns_is_on() {
    let err = with(|c| c.addons.dns_replicas = 0)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("addons.dns_replicas"), "{err}");
    with(|c| {
        c.addons.dns = false;
        c.addons.dns_replicas = 0;
    })
    .validate()
    .unwrap();
}

#[test]
fn the_helper_and_the_master_scripts_pass_shellcheck_with_every_addon_choice() {
    need("shellcheck");
    let dir = tempfile::tempdir().unwrap();
    for config in [
        with(|c| c.addons.dns = false),
        with(|c| c.addons.ui = false),
        other_dns(),
    ] {
        let specs = build(&config, false);
        for (name, text) in shell_scripts(&specs) {
            if !(name.starts_with("k8s-master.") || name == HELPER) {
                continue;
            }
            let path = dir.path().join(name.replace('/', "_"));
            std::fs::write(&path, &text).unwrap();
            crate::templates::sh_n_and_shellcheck(&name, &path);
        }
    }
}

#[test]
fn the_helper_refuses_bad_usage_and_needs_no_apiserver_when_no_addon_is_on_or_was() {
    let dir = tempfile::tempdir().unwrap();
    let specs = build(
        &with(|c| {
            c.addons.dns = false;
            c.addons.ui = false;
        }),
        false,
    );
    let helper = dir.path().join("addons");
    std::fs::write(&helper, file(&specs, HELPER)).unwrap();
    let run = |args: &[&str]| {
        run_any(
            Command::new("sh")
                .arg(&helper)
                .args(args)
                .env("KUBEDEB_APISERVER", "http://127.0.0.1:9")
                .env("KUBEDEB_ADDONS", dir.path().join("shipped"))
                .env("KUBEDEB_ADDONS_STATE", dir.path().join("state"))
                .env("KUBECTL", "/bin/false"),
        )
    };
    for args in [&[][..], &["apply", "soon"], &["delete"]] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            tools::text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage: addons apply|remove [WAIT]"),
            "{}",
            tools::text(&out)
        );
    }
    // Nothing shipped, nothing applied before: done at once, no apiserver asked.
    for action in ["apply", "remove"] {
        let out = run(&[action]);
        assert!(out.status.success(), "{action}: {}", tools::text(&out));
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "{action}: {}",
            tools::text(&out)
        );
    }
}

/// A process of the test, killed on drop; its output in `log`.
struct Daemon {
    child: Child,
    log: PathBuf,
    name: &'static str,
}

impl Daemon {
    fn start(name: &'static str, program: &Path, args: &[String], dir: &Path) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = tools::spawn(
            Command::new(program)
                .args(args)
                .stdout(out.try_clone().unwrap())
                .stderr(out),
        );
        Daemon { child, log, name }
    }

    fn log(&self) -> String {
        format!(
            "--- {} log:\n{}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// kube-apiserver, kube-controller-manager and kubectl of kubernetes.tar.gz (the server tarball
/// inside it) and etcd of the etcd release, extracted into `dir`.
fn real_binaries(real: &Path, dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let releases = real.join("releases");
    let server = "kubernetes/server/kubernetes-server-linux-amd64.tar.gz";
    tools::run(
        Command::new("tar")
            .arg("-xzf")
            .arg(releases.join("kubernetes.tar.gz"))
            .arg("-C")
            .arg(dir)
            .arg(server),
    );
    tools::run(
        Command::new("tar")
            .arg("-xzf")
            .arg(dir.join(server))
            .arg("-C")
            .arg(dir)
            .args([
                "kubernetes/server/bin/kube-apiserver",
                "kubernetes/server/bin/kube-controller-manager",
                "kubernetes/server/bin/kubectl",
            ]),
    );
    tools::run(
        Command::new("tar")
            .arg("-xzf")
            .arg(releases.join("etcd-v2.2.1-linux-amd64.tar.gz"))
            .arg("-C")
            .arg(dir)
            .arg("etcd-v2.2.1-linux-amd64/etcd"),
    );
    let bin = dir.join("kubernetes/server/bin");
    (
        bin.join("kube-apiserver"),
        bin.join("kube-controller-manager"),
        bin.join("kubectl"),
        dir.join("etcd-v2.2.1-linux-amd64/etcd"),
    )
}

/// The helper of k8s-master, its manifests and its state, run against one apiserver.
struct Helper {
    dir: PathBuf,
    server: String,
    kubectl: PathBuf,
}

impl Helper {
    fn shipped(&self) -> PathBuf {
        self.dir.join("shipped")
    }
    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Puts what k8s-master ships with `config` in place, as an upgrade does.
    fn install(&self, config: &ConfigFile) {
        let specs = build(config, false);
        let _ = std::fs::remove_dir_all(self.shipped());
        std::fs::create_dir_all(self.shipped()).unwrap();
        for (name, text) in manifests(&specs) {
            std::fs::write(self.shipped().join(name), text).unwrap();
        }
        std::fs::write(self.dir.join("addons"), file(&specs, HELPER)).unwrap();
    }

    /// `addons ARGS` with its run time; stdout and stderr together.
    fn run(&self, args: &[&str]) -> (bool, String, Duration) {
        let start = Instant::now();
        let out = run_any(
            Command::new("sh")
                .arg(self.dir.join("addons"))
                .args(args)
                .env("KUBEDEB_APISERVER", &self.server)
                .env("KUBEDEB_ADDONS", self.shipped())
                .env("KUBEDEB_ADDONS_STATE", self.state())
                .env("KUBECTL", &self.kubectl),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text, start.elapsed())
    }

    fn apply(&self) -> String {
        let (ok, text, _) = self.run(&["apply", "30"]);
        assert!(ok, "addons apply failed:\n{text}");
        text
    }

    fn recorded(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.state())
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// kubectl against the test's apiserver.
struct Kubectl<'a> {
    program: &'a Path,
    server: &'a str,
}

impl Kubectl<'_> {
    /// `kubectl get ARGS -o json` in kube-system: None when not found.
    fn get(&self, args: &[&str]) -> Option<Value> {
        let out = run_any(
            Command::new(self.program)
                .env("KUBECONFIG", "/dev/null")
                .arg(format!("--server={}", self.server))
                .arg("--namespace=kube-system")
                .arg("get")
                .args(args)
                .args(["-o", "json"]),
        );
        if out.status.success() {
            return Some(serde_json::from_slice(&out.stdout).unwrap());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not found"), "kubectl get {args:?}: {err}");
        None
    }

    /// The kube-system pods labelled k8s-app=`app`.
    fn pods(&self, app: &str) -> Vec<Value> {
        let list = self
            .get(&["pods", "-l", &format!("k8s-app={app}")])
            .unwrap();
        list["items"].as_array().unwrap().clone()
    }

    /// Waits (at most 60 s) until `check` holds for the pods of `app`.
    fn pods_until(&self, app: &str, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let pods = self.pods(app);
            if check(&pods) {
                return pods;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the {app} pods are not {what} after 60 s: {pods:#?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn uid(object: &Value) -> &str {
    object["metadata"]["uid"].as_str().unwrap()
}

/// Says loudly that the real-apiserver test checked nothing.
fn say_skipped() {
    eprintln!(
        "################################################################################\n\
         # SKIPPED: {REAL} is not set, so the addons helper was NOT run against a real\n\
         # kube-apiserver 1.1.4. Set {REAL} to a folder with releases/ (kubernetes.tar.gz,\n\
         # etcd-v2.2.1-linux-amd64.tar.gz); .ci/run sets it.\n\
         ################################################################################"
    );
}

#[test]
fn the_helper_creates_scales_replaces_switches_off_and_removes_on_a_real_apiserver() {
    let Some(real) = std::env::var_os(REAL).map(PathBuf::from) else {
        say_skipped();
        return;
    };
    need("openssl");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (apiserver, controller_manager, kubectl, etcd_program) = real_binaries(&real, d);
    let etcd = LocalEtcd::start_program(&etcd_program, &[]);
    // The service-account key, so that the ServiceAccount admission plugin of the packages'
    // settings lets the controller manager create the pods.
    let key = d.join("sa.key");
    tools::run(
        Command::new("openssl")
            .args(["genrsa", "-traditional", "-out"])
            .arg(&key)
            .arg("2048"),
    );
    let config = default_config();
    let valid = config.validate().unwrap();
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    let _api = Daemon::start(
        "kube-apiserver",
        &apiserver,
        &[
            format!("--etcd-servers={}", etcd.url),
            "--insecure-bind-address=127.0.0.1".into(),
            format!("--insecure-port={port}"),
            "--secure-port=0".into(),
            format!(
                "--service-cluster-ip-range={}",
                valid.network.service_cluster_ip_range
            ),
            format!(
                "--admission-control={}",
                valid.apiserver.admission_control.join(",")
            ),
            format!("--service-account-key-file={}", key.display()),
            "--logtostderr=true".into(),
        ],
        d,
    );
    let _cm = Daemon::start(
        "kube-controller-manager",
        &controller_manager,
        &[
            format!("--master={server}"),
            format!("--port={}", free_port()),
            "--address=127.0.0.1".into(),
            format!("--service-account-private-key-file={}", key.display()),
            "--logtostderr=true".into(),
        ],
        d,
    );
    let helper = Helper {
        dir: d.join("k8s-master"),
        server: server.clone(),
        kubectl: kubectl.clone(),
    };
    std::fs::create_dir_all(&helper.dir).unwrap();
    let k = Kubectl {
        program: &kubectl,
        server: &server,
    };
    let logs = || format!("{}\n{}", _api.log(), _cm.log());

    // First install: the apiserver is still coming up; the helper waits for it.
    helper.install(&config);
    let (ok, said, _) = helper.run(&["apply", "60"]);
    assert!(ok, "first apply:\n{said}\n{}", logs());
    for line in [
        "created the namespace kube-system",
        "created ReplicationController kube-system/kube-dns-v9",
        "created Service kube-system/kube-dns",
        "created ReplicationController kube-system/kube-ui-v4",
        "created Service kube-system/kube-ui",
    ] {
        assert!(said.contains(line), "{line}:\n{said}");
    }
    let rc = k
        .get(&["rc", "kube-dns-v9"])
        .expect("the DNS replication controller");
    assert_eq!(rc["spec"]["replicas"], 1);
    let svc = k.get(&["svc", "kube-dns"]).expect("the DNS service");
    assert_eq!(svc["spec"]["clusterIP"], "192.168.3.10");
    assert!(k.get(&["rc", "kube-ui-v4"]).is_some() && k.get(&["svc", "kube-ui"]).is_some());
    assert_eq!(
        helper.recorded(),
        ["dns-rc.yaml", "dns-svc.yaml", "ui-rc.yaml", "ui-svc.yaml"]
    );
    k.pods_until("kube-dns", "1", |p| p.len() == 1);

    // Again, unchanged: nothing happens.
    let said = helper.apply();
    assert!(
        !said.contains("created") && !said.contains("deleting"),
        "{said}"
    );
    assert_eq!(uid(&k.get(&["rc", "kube-dns-v9"]).unwrap()), uid(&rc));

    // Upgrade to dns_replicas = 2: the same controller, scaled.
    helper.install(&with(|c| c.addons.dns_replicas = 2));
    let said = helper.apply();
    assert!(
        said.contains("scaled ReplicationController kube-system/kube-dns-v9 to 2 replicas"),
        "{said}"
    );
    let scaled = k.get(&["rc", "kube-dns-v9"]).unwrap();
    assert_eq!(scaled["spec"]["replicas"], 2);
    assert_eq!(uid(&scaled), uid(&rc), "scaling must keep the controller");
    assert_eq!(
        uid(&k.get(&["svc", "kube-dns"]).unwrap()),
        uid(&svc),
        "an unchanged service stays"
    );
    let old_pods = k.pods_until("kube-dns", "2", |p| p.len() == 2);

    // Another domain: the controller and its pods are replaced, none is left with the old args.
    let renamed = with(|c| {
        c.addons.dns_replicas = 2;
        c.dns.domain = "k8s.example.org".into();
    });
    helper.install(&renamed);
    let said = helper.apply();
    assert!(said.contains("deleting the old one"), "{said}");
    let replaced = k.get(&["rc", "kube-dns-v9"]).unwrap();
    assert_ne!(uid(&replaced), uid(&rc));
    assert_eq!(
        strings(&container(&replaced, "kube2sky")["args"])[0],
        "-domain=k8s.example.org"
    );
    let new_pods =
        k.pods_until("kube-dns", "2 with the new domain", |pods| {
            pods.len() == 2
                && pods.iter().all(|p| {
                    p["spec"]["containers"].as_array().unwrap().iter().any(|c| {
                        c["name"] == "kube2sky" && c["args"][0] == "-domain=k8s.example.org"
                    })
                })
        });
    for pod in &old_pods {
        assert!(
            new_pods.iter().all(|p| uid(p) != uid(pod)),
            "an old pod is left: {pod}"
        );
    }

    // DNS switched off: its objects and pods go, kube-ui stays.
    helper.install(&with(|c| c.addons.dns = false));
    let said = helper.apply();
    assert!(
        said.contains("deleted ReplicationController kube-system/kube-dns-v9"),
        "{said}"
    );
    assert!(
        said.contains("deleted Service kube-system/kube-dns"),
        "{said}"
    );
    assert!(k.get(&["rc", "kube-dns-v9"]).is_none() && k.get(&["svc", "kube-dns"]).is_none());
    k.pods_until("kube-dns", "gone", |p| p.is_empty());
    assert!(k.get(&["rc", "kube-ui-v4"]).is_some() && k.get(&["svc", "kube-ui"]).is_some());
    assert_eq!(helper.recorded(), ["ui-rc.yaml", "ui-svc.yaml"]);

    // Someone deletes kube-ui's service: the next apply makes it again.
    tools::run(
        Command::new(&kubectl)
            .env("KUBECONFIG", "/dev/null")
            .arg(format!("--server={server}"))
            .args(["--namespace=kube-system", "delete", "svc", "kube-ui"]),
    );
    let said = helper.apply();
    assert!(
        said.contains("created Service kube-system/kube-ui"),
        "{said}"
    );

    // Removal (prerm): every object goes, the namespace stays, nothing is kept.
    let (ok, said, _) = helper.run(&["remove"]);
    assert!(ok, "remove:\n{said}");
    assert!(k.get(&["rc", "kube-ui-v4"]).is_none() && k.get(&["svc", "kube-ui"]).is_none());
    k.pods_until("kube-ui", "gone", |p| p.is_empty());
    assert!(k.get(&["namespace", "kube-system"]).is_some());
    assert!(!helper.state().exists(), "{:?}", helper.recorded());
}

#[test]
fn the_helper_gives_up_in_bounded_time_when_the_apiserver_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    // A port that takes connections and never answers, and one where nothing listens.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let closed_url = format!("http://127.0.0.1:{}", free_port());
    // kubectl 1.1.4 as the packages ship it: its own behaviour on a silent server is part of it.
    let Some(real) = std::env::var_os(REAL) else {
        say_skipped();
        return;
    };
    let kubectl = real_binaries(Path::new(&real), dir.path()).2;
    for (what, server) in [("silent", &silent_url), ("closed", &closed_url)] {
        let helper = Helper {
            dir: dir.path().join(what),
            server: server.clone(),
            kubectl: kubectl.clone(),
        };
        std::fs::create_dir_all(&helper.dir).unwrap();
        helper.install(&default_config());
        let (ok, said, took) = helper.run(&["apply", "4"]);
        assert!(!ok, "{what}: {said}");
        assert!(
            said.contains(&format!(
                "the apiserver at {server} did not answer within 4 s"
            )) && said.contains("run: /usr/lib/kubedeb/addons apply"),
            "{what}: {said}"
        );
        // One try of at most 5 s may start just before the 4 s are over.
        assert!(took < Duration::from_secs(15), "{what}: took {took:?}");
        assert!(helper.recorded().is_empty(), "{what}: nothing was applied");
        let (ok, said, took) = helper.run(&["remove", "0"]);
        assert!(ok, "{what}: nothing applied, nothing to remove: {said}");
        assert!(took < Duration::from_secs(2), "{what}: {took:?}");
    }
}
