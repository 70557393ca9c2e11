//! End to end with the real daemons (issue 8): Kubernetes 1.1.4, flannel 0.5.5 and etcd 2.2.1 from release tarballs, installed from the served repository on booted Debian 12 hosts.
//!
//! The release tarballs and images are read from the folder named by `KUBEDEB_REAL`
//! (`releases/` with the tarballs and a `catalog.toml` that pins them, `images/` with the
//! `docker save` archives of the pause and addon images), carried in as one `--from` folder.
//! `.ci/run` sets it; unset, the test says so loudly and checks nothing. Point it at the
//! official upstream tarballs (and a catalog of your own) to run the same checks on them.
//!
//! Hosts (systemd-nspawn, cgroup v1, a bridge in a network namespace of the test's own, a
//! default route that ends there): cluster a is `master` (k8s-master), `node1` and `node2`
//! (k8s-minion); cluster b is `both` (both packages, the seed's `ai` role). No host reaches
//! any registry: every image comes from the k8s-images package.
//! Each check prints one line, `ok - <check>` or `FAIL - <check>: <detail>`.

use crate::cluster::{
    cmdline, docker_container_on_bridge, ensure, env_value, eventually, fingerprints, inside,
    kubedeb, on, outside, page_block, retry, say, units_of, Checks, Cluster, Release, LISTING,
};
use crate::nspawn::{self, Host, Lab, KUBEDEB_DEBIAN_DEPENDS};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The variable that names the folder of real release tarballs and images.
const REAL: &str = "KUBEDEB_REAL";

/// Issue 13, phase 2: the kubedeb repository carries the Debian packages k8s-master and
/// k8s-minion depend on (`[debian] carry = true`), and the hosts boot from a minimal root
/// without them. Until then (phase 1) the root has them ([`KUBEDEB_DEBIAN_DEPENDS`]).
const CARRY_DEBIAN: bool = false;

/// The test's pods run the DNS addon's health-check image, which k8s-images carries: a
/// busybox (sh, ping, httpd, nslookup) that no node has to pull from a registry.
const BUSYBOX_IMAGE: &str = "gcr.io/google_containers/exechealthz:1.0";

/// Every image k8s-images carries with the default settings (the addons on).
const PACKAGED_IMAGES: [&str; 6] = [
    "gcr.io/google_containers/pause:0.8.0",
    "gcr.io/google_containers/etcd:2.0.9",
    "gcr.io/google_containers/kube2sky:1.11",
    "gcr.io/google_containers/skydns:2015-10-13-8c72f8c",
    "gcr.io/google_containers/exechealthz:1.0",
    "gcr.io/google_containers/kube-ui:v4",
];

/// Which binary each unit runs.
const UNIT_BINARIES: [(&str, &str); 7] = [
    ("etcd", "etcd"),
    ("kube-apiserver", "kube-apiserver"),
    ("kube-controller-manager", "kube-controller-manager"),
    ("kube-scheduler", "kube-scheduler"),
    ("flanneld", "flanneld"),
    ("kubelet", "kubelet"),
    ("kube-proxy", "kube-proxy"),
];

struct Node {
    host: &'static str,
    cluster: usize,
    blocks: &'static [&'static str],
    packages: &'static [&'static str],
}

impl Node {
    fn runs_pods(&self) -> bool {
        self.packages.contains(&"k8s-minion")
    }
    fn is_master(&self) -> bool {
        self.packages.contains(&"k8s-master")
    }
}

/// In install order: a master before its nodes.
const NODES: [Node; 4] = [
    Node {
        host: "master",
        cluster: 0,
        blocks: &["master"],
        packages: &["k8s-master", "k8s-flannel"],
    },
    Node {
        host: "node1",
        cluster: 0,
        blocks: &["minion"],
        packages: &["k8s-minion", "k8s-images", "k8s-flannel"],
    },
    Node {
        host: "node2",
        cluster: 0,
        blocks: &["minion"],
        packages: &["k8s-minion", "k8s-images", "k8s-flannel"],
    },
    Node {
        host: "both",
        cluster: 1,
        blocks: &["master", "minion"],
        packages: &["k8s-master", "k8s-minion", "k8s-images", "k8s-flannel"],
    },
];

fn real_folder() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os(REAL)?);
    assert!(
        dir.join("releases/catalog.toml").is_file() && dir.join("images").is_dir(),
        "{REAL}={} must hold releases/ (the tarballs and catalog.toml) and images/",
        dir.display()
    );
    Some(std::fs::canonicalize(dir).unwrap())
}

/// sha256 of each release binary, read from the tarballs the packages are built from.
fn release_hashes(releases: &Path) -> BTreeMap<String, String> {
    let script = "set -e\n\
        k=$(mktemp -d); trap 'rm -rf $k' EXIT\n\
        tar -xzf kubernetes.tar.gz -C $k kubernetes/server/kubernetes-server-linux-amd64.tar.gz\n\
        tar -xzf $k/kubernetes/server/kubernetes-server-linux-amd64.tar.gz -C $k\n\
        tar -xzf flannel-0.5.5-linux-amd64.tar.gz -C $k\n\
        tar -xzf etcd-v2.2.1-linux-amd64.tar.gz -C $k\n\
        cd $k && sha256sum kubernetes/server/bin/* flannel-0.5.5/flanneld etcd-v2.2.1-linux-amd64/etcd etcd-v2.2.1-linux-amd64/etcdctl";
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(releases)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cannot read the release binaries in {}: {}",
        releases.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (hash, path) = l.split_once("  ")?;
            Some((path.rsplit('/').next()?.to_string(), hash.to_string()))
        })
        .collect()
}

fn kubectl_value(master: &Host, args: &str, template: &str) -> Result<String, String> {
    on(
        master,
        &format!("kubectl get {args} -o template --template='{template}'"),
    )
    .map(|s| s.trim().to_string())
}

fn pod_name(host: &str) -> String {
    format!("web-{host}")
}

/// A busybox pod pinned to `node_ip`: says hello (for `kubectl logs`) and serves its name over HTTP on 8080.
fn pod_manifest(name: &str, node_ip: Ipv4Addr) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"pod": name}},
        "spec": {
            "nodeName": node_ip.to_string(),
            "containers": [{
                "name": "web",
                "image": BUSYBOX_IMAGE,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", format!(
                    "echo hello from {name}; mkdir -p /www && echo {name} > /www/index.html && exec httpd -f -p 8080 -h /www"
                )],
                "ports": [{"containerPort": 8080}]
            }]
        }
    })
    .to_string()
}

struct Lifecycle<'a> {
    c: Checks,
    lab: &'a Lab,
    clusters: &'a [Cluster],
}

impl<'a> Lifecycle<'a> {
    fn host(&self, name: &str) -> &'a Host {
        self.lab.host(name)
    }
    fn master_of(&self, n: &Node) -> &'a Host {
        self.host(self.clusters[n.cluster].master)
    }

    /// Every unit of the node's packages active, none failed.
    fn units_active(&mut self, phase: &str, n: &Node, within: u64) {
        let host = self.host(n.host);
        let units = units_of(host, n.packages).unwrap_or_default();
        let script = format!(
            "failed=$(systemctl --failed --no-legend --plain | grep . || true)\n\
             for u in {}; do systemctl is-active -q $u || {{ echo \"$u $(systemctl is-active $u)\"; exit 1; }}; done\n\
             test -z \"$failed\" || {{ echo \"failed: $failed\"; exit 1; }}",
            units.join(" ")
        );
        let r = eventually(host, within, &script).map_err(|e| {
            let journal = on(
                host,
                &format!(
                    "for u in {}; do systemctl is-active -q $u || {{ systemctl status --no-pager -l $u; journalctl -u $u -n 25 --no-pager; }}; done",
                    units.join(" ")
                ),
            )
            .unwrap_or_else(|e| e);
            format!("{e}\njournal of the units not active:\n{journal}")
        });
        self.c.check(
            &format!(
                "{phase} {}: every unit of {} is active ({} units), none failed",
                n.host,
                n.packages.join(", "),
                units.len()
            ),
            ensure(!units.is_empty(), || "no units found".into()).and(r.map(|_| ())),
        );
    }

    /// The pods pinned to `a` and `b` reach each other's address.
    fn pods_ping(&mut self, phase: &str, a: &str, b: &str, within: u64) -> Option<Duration> {
        let master = self.host("master");
        let started = Instant::now();
        let mut result = Ok(());
        for (from, to) in [(a, b), (b, a)] {
            let ip = kubectl_value(
                master,
                &format!("pod {}", pod_name(to)),
                "{{.status.podIP}}",
            );
            result = ip.and_then(|ip| {
                eventually(
                    master,
                    within,
                    // Bounded per attempt: kubectl 1.1.4's exec into a container that has
                    // just started can hang until its own stream timeout ("Timeout occured"),
                    // which alone would use up the window that retries are meant to fill.
                    &format!(
                        "timeout 6 kubectl exec {} -- ping -c 1 -W 2 {ip}",
                        pod_name(from)
                    ),
                )
                .map(|_| ())
            });
            if result.is_err() {
                break;
            }
        }
        let took = started.elapsed();
        let ok = self.c.check(
            &format!("{phase} the pods on {a} and {b} ping each other across the flannel network"),
            result,
        );
        ok.then_some(took)
    }
}

#[test]
fn real_daemons_cluster_from_the_served_repository() {
    let Some(real) = real_folder() else {
        say_skipped();
        return;
    };
    let releases = real.join("releases");
    let hashes = release_hashes(&releases);
    let mut c = Checks::new("issue 8: the real daemons, from the served repository");
    // A minimal Debian 12: no curl, python3 or procps; the checks bring their own tools.
    let image = if CARRY_DEBIAN {
        nspawn::minimal_root(&[])
    } else {
        nspawn::minimal_root(&KUBEDEB_DEBIAN_DEPENDS)
    };
    let mut lab = Lab::new();
    // `up --from` takes tarballs and image archives from one folder: links to both.
    let carried = tempfile::tempdir().unwrap();
    for dir in [&releases, &real.join("images")] {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let link = carried.path().join(entry.file_name());
            // Both have a SHA256SUMS; kubedeb reads neither.
            if !link.exists() {
                std::os::unix::fs::symlink(entry.path(), link).unwrap();
            }
        }
    }
    let release = |_: &Path| Release {
        from: carried.path().to_path_buf(),
        catalog: releases.join("catalog.toml"),
    };
    let mut clusters = vec![
        Cluster::new("a", "master", Ipv4Addr::new(10, 213, 7, 11), 8080, release),
        Cluster::new("b", "both", Ipv4Addr::new(10, 213, 7, 14), 8081, release),
    ];
    publish_and_lint(&mut c, &clusters);
    boot_hosts(&mut c, &mut lab, &image);
    serve_the_repositories(&mut c, &lab, &mut clusters);
    isolated_before_the_install(&mut c, &lab);
    let installed = install_from_the_pages(&mut c, &lab, &clusters);
    let mut l = Lifecycle {
        c,
        lab: &lab,
        clusters: &clusters,
    };
    for n in &NODES {
        l.units_active("install:", n, 60);
        real_binaries(&mut l, n, &hashes);
        network_checks(&mut l, n, "install:");
    }
    images_come_from_the_package(&mut l, "install:");
    addons_run(&mut l, "install:", 1);
    pods_run_on_every_node(&mut l);
    l.pods_ping("install:", "node1", "node2", 60);
    service_reaches_the_pod_on_node2(&mut l);
    names_resolve_through_the_cluster_dns(&mut l, "install:");
    kube_ui_answers_through_the_apiserver(&mut l);
    logs_and_exec(&mut l);
    secure_port_takes_the_service_account_token(&mut l);
    crashed_daemons_restart_with_what_depends_on_them(&mut l);
    l.pods_ping("crash:", "node1", "node2", 60);
    // Upgrade with settings that need no new image and leave the certificate alone.
    let fingerprints_before = fingerprints(l.host("master")).unwrap_or_default();
    upgrade_to_revision_2(&mut l);
    upgraded_daemons_run_the_new_settings(&mut l, &fingerprints_before);
    l.pods_ping("upgrade:", "node1", "node2", 90);
    addons_run(&mut l, "upgrade:", 2);
    names_resolve_through_the_cluster_dns(&mut l, "upgrade:");
    // node1 leaves, is purged, and comes back.
    let vtep_mac = remove_node1(&mut l);
    purge_node1(&mut l, &installed.listings["node1"]);
    reinstall_node1(&mut l, &installed.commands["node1"], &vtep_mac);
    purge_the_master(&mut l);
    l.c.finish();
}

/// Phase 2: a Debian mirror layout in the carried `--from` folder `dir`, made of links into
/// the mirror subsets `mirrors` (Debian's and its security archive's roots): `dists/` and `pool/`
/// are real folders whose entries link into the mirrors, merged where two mirrors have a folder
/// of the same name (both have `dists/`; `pool/main` and `pool/updates` sit side by side).
fn link_debian_mirrors(dir: &Path, mirrors: &[&Path]) {
    for top in ["dists", "pool"] {
        let sources: Vec<PathBuf> = mirrors
            .iter()
            .map(|m| m.join(top))
            .filter(|p| p.is_dir())
            .collect();
        merge_links(&dir.join(top), &sources);
    }
}

/// Makes `dest` a folder holding a link to each entry of `sources`; an entry that is a folder
/// in more than one source becomes a folder of its own, merged the same way. The first source
/// wins for a file that two have.
fn merge_links(dest: &Path, sources: &[PathBuf]) {
    std::fs::create_dir_all(dest).unwrap();
    let mut entries: BTreeMap<std::ffi::OsString, Vec<PathBuf>> = BTreeMap::new();
    for source in sources {
        for entry in std::fs::read_dir(source).unwrap().flatten() {
            entries
                .entry(entry.file_name())
                .or_default()
                .push(entry.path());
        }
    }
    for (name, paths) in entries {
        let dirs: Vec<PathBuf> = paths.iter().filter(|p| p.is_dir()).cloned().collect();
        if dirs.len() > 1 {
            merge_links(&dest.join(&name), &dirs);
        } else {
            std::os::unix::fs::symlink(&paths[0], dest.join(&name)).unwrap();
        }
    }
}

#[test]
fn debian_mirrors_merge_into_one_layout_of_links() {
    let t = tempfile::tempdir().unwrap();
    let debian = t.path().join("debian");
    let security = t.path().join("security");
    for (root, files) in [
        (
            &debian,
            &[
                "dists/bookworm/InRelease",
                "dists/bookworm/main/binary-amd64/Packages",
                "dists/bookworm-updates/InRelease",
                "pool/main/r/runc/runc_1.deb",
            ][..],
        ),
        (
            &security,
            &[
                "dists/bookworm-security/InRelease",
                "dists/bookworm-security/main/binary-amd64/Packages",
                "pool/updates/main/o/openssl/openssl_3.deb",
            ][..],
        ),
    ] {
        for f in files {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
    }
    let carried = t.path().join("carried");
    link_debian_mirrors(&carried, &[&debian, &security]);
    for f in [
        "dists/bookworm/InRelease",
        "dists/bookworm/main/binary-amd64/Packages",
        "dists/bookworm-updates/InRelease",
        "dists/bookworm-security/main/binary-amd64/Packages",
        "pool/main/r/runc/runc_1.deb",
        "pool/updates/main/o/openssl/openssl_3.deb",
    ] {
        assert_eq!(std::fs::read_to_string(carried.join(f)).unwrap(), f);
    }
    // Real folders where both mirrors have one, links below them.
    for d in ["dists", "pool"] {
        assert!(!carried.join(d).is_symlink() && carried.join(d).is_dir());
    }
    assert!(carried.join("dists/bookworm").is_symlink());
    assert!(carried.join("dists/bookworm-security").is_symlink());
    assert!(carried.join("pool/main").is_symlink());
}

/// Says loudly that nothing was checked: the test without `KUBEDEB_REAL`.
fn say_skipped() {
    for line in [
        "################################################################################",
        &format!(
            "# SKIPPED: {REAL} is not set, so the real-daemon end-to-end test checked NOTHING."
        ),
        &format!("# Set {REAL} to a folder with releases/ (tarballs, catalog.toml) and images/;"),
        "# .ci/run sets it and never skips this test.",
        "################################################################################",
    ] {
        say(line);
    }
}

/// `kubedeb init` and `kubedeb up` from the real release tarballs in each cluster's folder; lintian on the packages.
fn publish_and_lint(c: &mut Checks, clusters: &[Cluster]) {
    for cl in clusters {
        let init = kubedeb(
            cl.path(),
            &["init", "--master-ip", &cl.master_ip.to_string()],
        );
        c.require(
            &format!("cluster {}: kubedeb init", cl.name),
            init.map(|_| ()),
        );
        if CARRY_DEBIAN {
            cl.set_in("debian", "carry", "true");
        }
        c.require(
            &format!(
                "cluster {}: kubedeb up from the real release tarballs",
                cl.name
            ),
            cl.up().map(|_| ()),
        );
    }
    c.check(
        "lintian --fail-on error passes on the packages of the real binaries",
        lintian(&clusters[0].path().join("dist")),
    );
}

/// Boots the hosts in install order: nothing but the packages will bring them images.
fn boot_hosts(c: &mut Checks, lab: &mut Lab, image: &Path) {
    for n in &NODES {
        lab.boot(n.host, image, |_| {});
    }
    for host in lab.hosts() {
        let state = host.wait_booted(Duration::from_secs(180));
        c.check(&format!("{} booted with cgroup v1 ({state})", host.name), {
            on(host, "test \"$(stat -fc %T /sys/fs/cgroup)\" != cgroup2fs").map(|_| ())
        });
    }
}

/// `kubedeb serve` for each cluster on the bridge, whose masters must be the hosts at their master_ip.
fn serve_the_repositories(c: &mut Checks, lab: &Lab, clusters: &mut [Cluster]) {
    let masters_in_place = clusters
        .iter()
        .all(|cl| lab.host(cl.master).ip == cl.master_ip);
    c.require(
        "hosts have the masters' addresses",
        ensure(masters_in_place, || "boot order changed".into()),
    );
    for cl in clusters.iter_mut() {
        let served = cl.serve(lab);
        c.require(
            &format!("cluster {}: kubedeb serve on {}", cl.name, cl.url(lab)),
            served,
        );
    }
}

/// Before the install: the lab's bridge namespace routes nowhere but the lab network, every
/// host's routes end there, no registry name resolves on a host, and (phase 2) Docker is not
/// installed or (phase 1) holds no image. Nothing is sent anywhere to find this out.
fn isolated_before_the_install(c: &mut Checks, lab: &Lab) {
    let [a, b, n, _] = lab.gateway.octets();
    let lab_net = format!("{a}.{b}.{n}.0/24");
    let bridge_ip = |args: &[&str]| {
        let out = lab
            .in_bridge_netns(Path::new("ip"))
            .args(args)
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        Ok::<_, String>((out.status.success(), text))
    };
    c.check(
        &format!("the lab's bridge namespace has no route but {lab_net}: nothing leaves the lab"),
        bridge_ip(&["-4", "route"]).and_then(|(ok, routes)| {
            let (_, v6) = bridge_ip(&["-6", "route"])?;
            let (found, unreachable) = bridge_ip(&["-4", "route", "get", "192.0.2.1"])?;
            ensure(
                ok && routes
                    .lines()
                    .all(|l| l.starts_with(&format!("{lab_net} ")))
                    && !v6.contains("default")
                    && !found
                    && unreachable.contains("unreachable"),
                || {
                    format!(
                        "IPv4 routes:\n{routes}IPv6 routes:\n{v6}route to 192.0.2.1: {unreachable}"
                    )
                },
            )
        }),
    );
    for host in lab.hosts() {
        // From outside: before the install a minimal node has no `ip`.
        let routes = outside(host, "ip", &["-4", "route"]).and_then(|v4| {
            let v6 = outside(host, "ip", &["-6", "route"])?;
            let links = outside(host, "ip", &["-o", "link"])?;
            Ok((v4, v6, links))
        });
        c.check(
            &format!(
                "{}: its only way out is host0 to the lab's bridge (default via {}, {lab_net})",
                host.name, lab.gateway
            ),
            routes.and_then(|(v4, v6, links)| {
                let names: Vec<&str> = links
                    .lines()
                    .filter_map(|l| l.split(": ").nth(1))
                    .map(|n| n.split('@').next().unwrap_or(n))
                    .collect();
                // docker0 (phase 1: Docker runs from the root) routes only to its own containers.
                let lab_route = |l: &str| {
                    l.starts_with(&format!("default via {} dev host0 ", lab.gateway))
                        || l.starts_with(&format!("{lab_net} dev host0 "))
                        || (!CARRY_DEBIAN
                            && l.contains(" dev docker0 ")
                            && !l.starts_with("default"))
                };
                ensure(
                    v4.lines().all(lab_route)
                        && v4.lines().any(|l| l.starts_with("default via"))
                        && !v6.contains("default")
                        && names.iter().all(|n| {
                            ["lo", "host0"].contains(n) || (!CARRY_DEBIAN && *n == "docker0")
                        }),
                    || format!("IPv4 routes:\n{v4}IPv6 routes:\n{v6}links: {names:?}"),
                )
            }),
        );
        let resolved = on(
            host,
            "for r in gcr.io registry-1.docker.io daocloud.io registry.cn-hangzhou.aliyuncs.com deb.debian.org; do \
             timeout 5 getent ahosts $r >/dev/null && echo $r; done; true",
        )
        .unwrap_or_else(|e| e);
        c.check(
            &format!("{}: no registry or mirror name resolves", host.name),
            ensure(resolved.trim().is_empty(), || {
                format!("resolved: {resolved}")
            }),
        );
        if CARRY_DEBIAN {
            c.check(
                &format!(
                    "{}: docker.io is not installed before the install",
                    host.name
                ),
                match host.sh("dpkg -s docker.io") {
                    r if r.code == 1 => Ok(()),
                    r => Err(format!(
                        "dpkg -s docker.io exited {}: {}{}",
                        r.code, r.stdout, r.stderr
                    )),
                },
            );
        }
    }
    if !CARRY_DEBIAN {
        for n in NODES.iter().filter(|n| n.runs_pods()) {
            let host = lab.host(n.host);
            c.check(
                &format!("{}: Docker holds no image before the install", n.host),
                on(host, "docker images -q")
                    .and_then(|out| ensure(out.trim().is_empty(), || out.clone())),
            );
        }
    }
}

/// Every image the package carries is in Docker under its name, with the ID kubedeb fetched.
fn images_come_from_the_package(l: &mut Lifecycle, phase: &str) {
    for n in NODES.iter().filter(|n| n.runs_pods()) {
        let host = l.host(n.host);
        let listed = on(
            host,
            "docker images --format '{{.Repository}}:{{.Tag}}' | sort",
        )
        .unwrap_or_default();
        let missing: Vec<&str> = PACKAGED_IMAGES
            .iter()
            .copied()
            .filter(|i| !listed.lines().any(|l| l == *i))
            .collect();
        l.c.check(
            &format!(
                "{phase} {}: k8s-images loaded all {} images into Docker",
                n.host,
                PACKAGED_IMAGES.len()
            ),
            ensure(missing.is_empty(), || {
                format!("missing {missing:?}; docker has:\n{listed}")
            }),
        );
    }
}

fn kube_system_pods(master: &Host, label: &str) -> String {
    on(
        master,
        &format!("kubectl get pods --namespace=kube-system -l k8s-app={label} --no-headers"),
    )
    .unwrap_or_else(|e| e)
}

/// The DNS addon runs `dns_replicas` pods with all four containers ready, and the UI one pod, in each cluster.
fn addons_run(l: &mut Lifecycle, phase: &str, dns_replicas: usize) {
    for cl in l.clusters {
        let master = l.host(cl.master);
        let dns = format!(
            "test \"$(kubectl get pods --namespace=kube-system -l k8s-app=kube-dns --no-headers | awk '$2 == \"4/4\" && $3 == \"Running\"' | wc -l)\" = {dns_replicas}"
        );
        let r = eventually(master, 300, &dns);
        l.c.check(
            &format!("{phase} cluster {}: kubectl get pods --namespace=kube-system shows {dns_replicas} DNS pod(s) Running, 4/4 ready", cl.name),
            r.map(|_| ()).map_err(|e| format!("{e}\n{}", kube_system_pods(master, "kube-dns"))),
        );
        let ui = "kubectl get pods --namespace=kube-system -l k8s-app=kube-ui --no-headers | awk '$2 == \"1/1\" && $3 == \"Running\"' | grep .";
        let r = eventually(master, 180, ui);
        l.c.check(
            &format!("{phase} cluster {}: the kube-ui pod is Running", cl.name),
            r.map(|_| ())
                .map_err(|e| format!("{e}\n{}", kube_system_pods(master, "kube-ui"))),
        );
    }
}

/// From a pod: the kubernetes service's name answers the service range's first address, and
/// the test's own Service resolves by name.
fn names_resolve_through_the_cluster_dns(l: &mut Lifecycle, phase: &str) {
    let master = l.host("master");
    let web_ip = kubectl_value(master, "service web", "{{.spec.clusterIP}}").unwrap_or_default();
    for (name, want) in [
        (
            "kubernetes.default.svc.cluster.local",
            "192.168.3.1".to_string(),
        ),
        ("web.default.svc.cluster.local", web_ip.clone()),
    ] {
        let script = format!(
            "timeout 10 kubectl exec {} -- nslookup {name} | tail -n +3 | grep -w {want}",
            pod_name("node1")
        );
        l.c.check(
            &format!("{phase} from a pod, nslookup {name} answers {want}"),
            ensure(!want.is_empty(), || "no cluster IP".into())
                .and_then(|_| eventually(master, 120, &script).map(|_| ())),
        );
    }
}

/// kube-ui's page through the apiserver's proxy.
fn kube_ui_answers_through_the_apiserver(l: &mut Lifecycle) {
    let master = l.host("master");
    let url = "http://127.0.0.1:8080/api/v1/proxy/namespaces/kube-system/services/kube-ui/";
    l.c.check(
        "master: kube-ui answers through the apiserver proxy",
        retry(120, || {
            outside(master, "curl", &["-fsS", "-m", "10", url])
                .and_then(|page| ensure(page.to_lowercase().contains("<html"), || page.clone()))
        })
        .map(|_| ()),
    );
}

/// `apt-get purge k8s-master`: the addons' objects are deleted first, so their pods leave the nodes.
fn purge_the_master(l: &mut Lifecycle) {
    let master = l.host("master");
    l.c.check(
        "purge: master: apt-get purge k8s-master",
        on(master, "apt-get -y purge k8s-master </dev/null").map(|_| ()),
    );
    for node in ["node1", "node2"] {
        let script = "test -z \"$(docker ps -q --filter name=kube-dns --filter name=kube-ui)\"";
        l.c.check(
            &format!("purge: master: no DNS or UI container is left on {node}"),
            eventually(l.host(node), 120, script)
                .map(|_| ())
                .map_err(|e| format!("{e}\n{}", on(l.host(node), "docker ps").unwrap_or_default())),
        );
    }
}

/// What the install leaves for the later steps.
struct Installed {
    /// Each host's files before the install, for the purge to compare with.
    listings: BTreeMap<&'static str, String>,
    /// The install commands each host ran from its cluster's page, for the reinstall.
    commands: BTreeMap<&'static str, Vec<String>>,
}

/// Install, exactly as each cluster's page says, and wait for each node to be Ready.
fn install_from_the_pages(c: &mut Checks, lab: &Lab, clusters: &[Cluster]) -> Installed {
    let mut listings = BTreeMap::new();
    let mut install_commands: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut ready_after = Vec::new();
    for n in &NODES {
        let host = lab.host(n.host);
        let url = clusters[n.cluster].url(lab);
        let page = retry(30, || {
            outside(host, "curl", &["-fsS", "-m", "10", &format!("{url}/")])
        });
        let page = page.unwrap_or_else(|e| {
            c.require(
                &format!("{}: fetches the page of kubedeb serve", n.host),
                Err(e),
            );
            unreachable!()
        });
        let setup = page_block(&page, "setup").unwrap_or_default();
        c.require(
            &format!(
                "{}: the page's setup commands add the key and a signed-by source",
                n.host
            ),
            on(host, &setup).map(|_| ()),
        );
        c.check(
            &format!(
                "{}: apt's only source is the kubedeb repository {url}",
                n.host
            ),
            only_the_kubedeb_source(host, &url),
        );
        listings.insert(n.host, on(host, LISTING).unwrap_or_default());
        let started = Instant::now();
        for block in n.blocks {
            let cmd = page_block(&page, block).unwrap_or_default();
            c.require(
                &format!("{}: `{cmd}` from the page", n.host),
                on(host, &format!("{cmd} </dev/null")).map(|_| ()),
            );
            install_commands.entry(n.host).or_default().push(cmd);
        }
        let apt_took = started.elapsed();
        say(&format!(
            "# {}: apt-get install of {} took {apt_took:.0?}",
            n.host,
            n.packages.join(", ")
        ));
        if CARRY_DEBIAN {
            c.check(
                &format!(
                    "{}: docker.io is installed from the kubedeb repository",
                    n.host
                ),
                docker_io_from_the_repository(host, &url),
            );
        }
        if n.runs_pods() {
            let master = lab.host(clusters[n.cluster].master);
            let ready = eventually(master, 180, &format!("{}", NodeReady(host.ip)));
            if c.check(
                &format!(
                    "{}: Ready in kubectl get nodes, named and addressed {}",
                    n.host, host.ip
                ),
                ready.map(|_| ()),
            ) {
                ready_after.push((n.host, started.elapsed()));
            }
        }
    }
    for (host, took) in &ready_after {
        say(&format!(
            "# {host}: {:.0?} from the start of apt-get install to Ready",
            took
        ));
    }
    Installed {
        listings,
        commands: install_commands,
    }
}

/// After the page's setup commands apt has one source, the kubedeb repository at `url`: in
/// sources.list.d/kubedeb.list, with nothing in sources.list or beside it, and `apt-cache
/// policy` lists no other archive.
fn only_the_kubedeb_source(host: &Host, url: &str) -> Result<(), String> {
    let list = std::fs::read_to_string(host.path("/etc/apt/sources.list")).unwrap_or_default();
    let entries: Vec<String> = std::fs::read_dir(host.path("/etc/apt/sources.list.d"))
        .map_err(|e| format!("sources.list.d: {e}"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let kubedeb = std::fs::read_to_string(host.path("/etc/apt/sources.list.d/kubedeb.list"))
        .unwrap_or_default();
    let policy = on(host, "apt-cache policy")?;
    let archives: Vec<&str> = policy
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("://"))
        .collect();
    let active = |text: &str| {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    ensure(
        active(&list).is_empty()
            && entries == ["kubedeb.list"]
            && active(&kubedeb).len() == 1
            && active(&kubedeb)[0].contains(&format!(" {url}/ "))
            && !archives.is_empty()
            && archives.iter().all(|l| names_url(l, url)),
        || {
            format!(
                "sources.list: {list:?}\nsources.list.d: {entries:?}\nkubedeb.list: {kubedeb:?}\napt-cache policy:\n{policy}"
            )
        },
    )
}

/// Whether a line of apt's names the repository at `url` (apt may print it with or without the slash).
fn names_url(line: &str, url: &str) -> bool {
    line.contains(&format!(" {url}/ ")) || line.contains(&format!(" {url} "))
}

/// Phase 2: docker.io is installed, in the version the kubedeb repository at `url` has (apt's only source).
fn docker_io_from_the_repository(host: &Host, url: &str) -> Result<(), String> {
    let policy = on(host, "apt-cache policy docker.io")?;
    let installed = policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Installed: "))
        .unwrap_or("(none)")
        .to_string();
    // The version table: "*** <version> <pin>" for the installed one, then its sources.
    let sources: Vec<&str> = policy
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(&format!("*** {installed} ")))
        .skip(1)
        .take_while(|l| l.starts_with("        "))
        .collect();
    ensure(
        installed != "(none)" && sources.iter().any(|l| names_url(l, url)),
        || format!("docker.io {installed}, not from {url}:\n{policy}"),
    )
}

/// Pods on every node that runs them.
fn pods_run_on_every_node(l: &mut Lifecycle) {
    for n in NODES.iter().filter(|n| n.runs_pods()) {
        let master = l.master_of(n);
        let ip = l.host(n.host).ip;
        let name = pod_name(n.host);
        let created = eventually(
            master,
            120,
            &format!(
                "kubectl get pod {name} >/dev/null 2>&1 || kubectl create -f - <<'EOF'\n{}\nEOF",
                pod_manifest(&name, ip)
            ),
        );
        let lease = on(l.host(n.host), "cat /run/flannel/subnet.env").unwrap_or_default();
        let subnet = env_value(&lease, "FLANNEL_SUBNET").unwrap_or_default();
        let running = created.and_then(|_| {
            eventually(master, 180, &format!("kubectl get pod {name} -o template --template='{{{{.status.phase}}}}' | grep -x Running"))
        });
        let pod_ip =
            kubectl_value(master, &format!("pod {name}"), "{{.status.podIP}}").unwrap_or_default();
        l.c.check(
            &format!(
                "{}: a pod pinned to it is Running, its IP in the node's lease",
                n.host
            ),
            running.and_then(|_| {
                ensure(inside(&format!("{pod_ip}/32"), &subnet), || {
                    format!("pod IP {pod_ip}, lease {subnet}")
                })
            }),
        );
    }
}

fn service_reaches_the_pod_on_node2(l: &mut Lifecycle) {
    let master = l.host("master");
    let service = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"pod": pod_name("node2")}, "ports": [{"port": 80, "targetPort": 8080}]}
    });
    let cluster_ip = on(
        master,
        &format!("kubectl create -f - <<'EOF'\n{service}\nEOF"),
    )
    .and_then(|_| kubectl_value(master, "service web", "{{.spec.clusterIP}}"));
    l.c.check(
        "node1: the Service's cluster IP reaches the pod on node2 through kube-proxy",
        cluster_ip.and_then(|ip| {
            ensure(inside(&format!("{ip}/32"), "192.168.3.0/24"), || {
                format!("cluster IP {ip}")
            })?;
            // The test machine's curl in node1's network: kube-proxy's rules apply there.
            let node1 = l.host("node1");
            retry(60, || {
                outside(
                    node1,
                    "curl",
                    &["-fsS", "-m", "3", &format!("http://{ip}/")],
                )
                .and_then(|body| ensure(body.trim() == pod_name("node2"), || body.clone()))
            })
            .map(|_| ())
        }),
    );
}

fn logs_and_exec(l: &mut Lifecycle) {
    let master = l.host("master");
    l.c.check(
        "master: kubectl logs shows the pod's output",
        eventually(
            master,
            30,
            &format!(
                "kubectl logs {0} | grep -x 'hello from {0}'",
                pod_name("node1")
            ),
        )
        .map(|_| ()),
    );
    l.c.check(
        "master: kubectl exec runs a command in the pod",
        on(
            master,
            &format!("kubectl exec {} -- cat /www/index.html", pod_name("node2")),
        )
        .and_then(|out| ensure(out.trim() == pod_name("node2"), || out.clone())),
    );
}

fn secure_port_takes_the_service_account_token(l: &mut Lifecycle) {
    let master = l.host("master");
    let ca = l.clusters[0].master_ip;
    let ca_file = master.path("/srv/kubernetes/ca.crt");
    let ca_file = ca_file.to_string_lossy();
    let url = format!("https://{ca}:6443/api/v1/namespaces/default/pods");
    // The token from inside the pod; the requests with the test machine's curl in the master's network.
    let code = |token: &str| {
        outside(
            master,
            "curl",
            &[
                "-s",
                "-m",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
                &ca_file,
                "-H",
                &format!("Authorization: Bearer {token}"),
                &url,
            ],
        )
    };
    let attempt = || {
        let token = on(
            master,
            &format!(
                "timeout 10 kubectl exec {} -- cat /var/run/secrets/kubernetes.io/serviceaccount/token",
                pod_name("node1")
            ),
        )?;
        let token = token.trim();
        ensure(token.len() > 5, || format!("token {token:?}"))?;
        let forged = format!("{}AAAAA", &token[..token.len() - 5]);
        let (good, bad) = (code(token)?, code(&forged)?);
        ensure(good == "200" && bad == "401", || format!("{good} {bad}"))
            .map(|_| format!("{good} {bad}"))
    };
    l.c.check(
        "master: the secure port accepts the pod's service-account token (200) and refuses a forged one (401)",
        retry(60, attempt).map(|_| ()),
    );
}

/// Crashes: systemd restarts the killed daemon and, through PartOf=, what depends on it.
fn crashed_daemons_restart_with_what_depends_on_them(l: &mut Lifecycle) {
    let crashes = [
        ("node1", "flanneld", &["kubelet", "kube-proxy"][..]),
        (
            "master",
            "etcd",
            &[
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "flanneld",
            ][..],
        ),
    ];
    let pids = |host: &Host, units: &[&str]| {
        on(
            host,
            &format!(
                "for u in {}; do systemctl show -p MainPID --value $u; done",
                units.join(" ")
            ),
        )
        .unwrap_or_default()
    };
    let before: Vec<String> = crashes
        .iter()
        .map(|(h, _, deps)| pids(l.host(h), deps))
        .collect();
    for (host, unit, _) in crashes {
        l.c.check(
            &format!("crash: kill -9 of {unit} on {host}"),
            on(
                l.host(host),
                &format!("kill -9 $(systemctl show -p MainPID --value {unit})"),
            )
            .map(|_| ()),
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    for n in NODES.iter().filter(|n| n.cluster == 0) {
        l.units_active("crash:", n, 60);
    }
    for ((host, unit, deps), before) in crashes.iter().zip(&before) {
        let now = pids(l.host(host), deps);
        let restarted = before
            .lines()
            .zip(now.lines())
            .all(|(b, n)| b != n && n != "0");
        l.c.check(
            &format!(
                "crash: {host}: {} were restarted with {unit}",
                deps.join(", ")
            ),
            ensure(restarted && now.lines().count() == deps.len(), || {
                format!("main PIDs before {before:?}, after {now:?}")
            }),
        );
    }
}

/// Revision 2 with settings that need no new image and leave the certificate alone (and two DNS pods), through `apt-get upgrade`.
fn upgrade_to_revision_2(l: &mut Lifecycle) {
    for cl in l.clusters {
        cl.set("dns_replicas", "2");
        cl.set("service_node_port_range", "\"30000-31999\"");
        cl.set("extra_opts", "\"--max-concurrent-downloads=2\"");
        cl.set("revision", "2");
        l.c.require(
            &format!("cluster {}: kubedeb up publishes revision 2", cl.name),
            cl.up().map(|_| ()),
        );
    }
    for n in &NODES {
        let host = l.host(n.host);
        let out = on(
            host,
            "apt-get update -q && apt-get -y upgrade </dev/null 2>&1",
        );
        l.c.check(
            &format!("upgrade: {}: apt-get upgrade installs revision 2", n.host),
            out.and_then(|o| {
                let versions = on(host, &format!("dpkg-query -W {}", n.packages.join(" ")))?;
                ensure(versions.lines().all(|v| v.ends_with("-2")), || {
                    format!("{versions}\n{o}")
                })
            }),
        );
    }
}

/// The daemons run with revision 2's settings, the certificates are the same, and the pods run again.
fn upgraded_daemons_run_the_new_settings(l: &mut Lifecycle, fingerprints_before: &str) {
    for n in &NODES {
        l.units_active("upgrade:", n, 90);
        let host = l.host(n.host);
        let dockerd = on(host, "tr '\\0' ' ' < /proc/$(pidof dockerd)/cmdline").unwrap_or_default();
        l.c.check(
            &format!(
                "upgrade: {}: dockerd runs with the new extra option",
                n.host
            ),
            ensure(dockerd.contains("--max-concurrent-downloads=2"), || {
                dockerd.clone()
            }),
        );
        if n.is_master() {
            let words = cmdline(host, "kube-apiserver").unwrap_or_default();
            l.c.check(
                &format!(
                    "upgrade: {}: kube-apiserver runs with the new node-port range",
                    n.host
                ),
                ensure(
                    words
                        .iter()
                        .any(|w| w == "--service-node-port-range=30000-31999"),
                    || format!("{words:?}"),
                ),
            );
        }
    }
    l.c.check(
        "upgrade: master: the certificates are unchanged",
        fingerprints(l.host("master"))
            .and_then(|now| ensure(now == fingerprints_before && !now.is_empty(), || now)),
    );
    for n in NODES.iter().filter(|n| n.runs_pods()) {
        let master = l.master_of(n);
        l.c.check(
            &format!("upgrade: {}: its pod is Running", n.host),
            eventually(master, 180, &format!("kubectl get pod {} -o template --template='{{{{.status.phase}}}}' | grep -x Running", pod_name(n.host))).map(|_| ()),
        );
    }
}

/// node1 leaves: `apt-get remove` stops its services and the master notices. Returns flannel.1's MAC from before.
fn remove_node1(l: &mut Lifecycle) -> String {
    let packages = NODES[1].packages.join(" ");
    let node1 = l.host("node1");
    let vtep_mac = on(node1, "cat /sys/class/net/flannel.1/address").unwrap_or_default();
    l.c.check(
        "remove: node1: apt-get remove",
        on(node1, &format!("apt-get -y remove {packages} </dev/null")).map(|_| ()),
    );
    let running = on(node1, "for p in kubelet kube-proxy flanneld kubedeb-docker-api; do pidof $p >/dev/null && echo $p; done; true").unwrap_or_default();
    l.c.check(
        "remove: node1: the services are stopped",
        ensure(running.trim().is_empty(), || format!("running: {running}")),
    );
    l.c.check(
        "remove: node1: Docker runs again on its default bridge",
        on(node1, "systemctl is-active docker")
            .and_then(|_| docker_container_on_bridge(node1))
            .and_then(|(ip, (addr, mtu))| {
                ensure(
                    addr == "172.17.0.1/16"
                        && mtu == 1500
                        && inside(&format!("{ip}/32"), "172.17.0.0/16"),
                    || format!("docker0 {addr} mtu {mtu}, container {ip}"),
                )
            }),
    );
    // The master notices (node-monitor-grace-period, 40 s), so Ready after the reinstall is news.
    l.c.check(
        "remove: node1: the master marks it NotReady",
        eventually(
            l.host("master"),
            120,
            &format!(
                "kubectl get nodes --no-headers | awk '$1 == \"{}\" && $3 ~ /^NotReady/' | grep .",
                node1.ip
            ),
        )
        .map(|_| ()),
    );
    vtep_mac
}

/// `apt-get purge` on node1 leaves none of the packages' files, links, rules or containers; `before` is its listing before the install.
fn purge_node1(l: &mut Lifecycle, before: &str) {
    let node1 = l.host("node1");
    let packages = NODES[1].packages.join(" ");
    l.c.check(
        "purge: node1: apt-get purge",
        on(node1, &format!("apt-get -y purge {packages} </dev/null")).map(|_| ()),
    );
    let after = on(node1, LISTING).unwrap_or_default();
    let before: std::collections::BTreeSet<&str> = before.lines().collect();
    let left: Vec<&str> = after.lines().filter(|f| !before.contains(f)).collect();
    l.c.check(
        "purge: node1: nothing of the packages is left",
        ensure(left.is_empty(), || format!("left: {left:?}")),
    );
    // Only the packaged images: the bridge check's own image (e2e-tiny) is not k8s-images' to remove.
    let images =
        on(node1, "docker images --format '{{.Repository}}:{{.Tag}}'").unwrap_or_else(|e| e);
    let left: Vec<&str> = images
        .lines()
        .filter(|i| PACKAGED_IMAGES.contains(i))
        .collect();
    l.c.check(
        "purge: node1: the images k8s-images loaded are removed",
        ensure(
            left.is_empty() && !images.contains("Cannot connect"),
            || images.clone(),
        ),
    );
    let leftovers = on(node1, "ip -o link show flannel.1 2>/dev/null; iptables-save | grep -E 'KUBE|172\\.16\\.' ; docker ps -aq --filter name=^/k8s_; true").unwrap_or_default();
    l.c.check(
        "purge: node1: no flannel interface, kube-proxy rules or pod containers are left",
        ensure(leftovers.trim().is_empty(), || leftovers.clone()),
    );
}

/// node1 installs again with the commands from its page, and is Ready with its pod and its old VTEP MAC.
fn reinstall_node1(l: &mut Lifecycle, install_commands: &[String], vtep_mac: &str) {
    let node1 = l.host("node1");
    let started = Instant::now();
    for cmd in install_commands {
        l.c.check(
            &format!("reinstall: node1: `{cmd}` again"),
            on(node1, &format!("{cmd} </dev/null")).map(|_| ()),
        );
    }
    let ready = eventually(l.host("master"), 180, &format!("{}", NodeReady(node1.ip)));
    if l.c
        .check("reinstall: node1: Ready again", ready.map(|_| ()))
    {
        say(&format!(
            "# reinstall: node1: {:.0?} from the start of apt-get install to Ready",
            started.elapsed()
        ));
    }
    l.units_active("reinstall:", &NODES[1], 60);
    l.c.check(
        "reinstall: node1: its pod is Running again",
        eventually(l.host("master"), 180, &format!("kubectl get pod {} -o template --template='{{{{.status.phase}}}}' | grep -x Running", pod_name("node1"))).map(|_| ()),
    );
    // With a new flannel.1 MAC the other nodes would keep sending to the old one until their
    // neighbour entry expires (up to 90 s): flannel-vtep gives it the same MAC again.
    l.c.check(
        "reinstall: node1: flannel.1 has the MAC it had before the purge",
        on(node1, "cat /sys/class/net/flannel.1/address").and_then(|now| {
            ensure(now == vtep_mac && !now.is_empty(), || {
                format!("{vtep_mac:?} then {now:?}")
            })
        }),
    );
    if let Some(took) = l.pods_ping("reinstall:", "node1", "node2", 20) {
        say(&format!(
            "# reinstall: the pods reached each other after {:.0?}",
            took
        ));
    }
}

/// The `kubectl get nodes` test for one node, as a shell command: Ready, and addressed by its IP.
struct NodeReady(Ipv4Addr);

impl std::fmt::Display for NodeReady {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "kubectl get nodes --no-headers | awk '$1 == \"{0}\" && $3 ~ /^Ready/' | grep . && \
             kubectl get node {0} -o template --template='{{{{range .status.addresses}}}}{{{{.address}}}} {{{{end}}}}' | grep -qw {0}",
            self.0
        )
    }
}

/// `lintian --fail-on error` on every .deb in `dist`; its tags are printed either way.
fn lintian(dist: &Path) -> Result<(), String> {
    let debs: Vec<PathBuf> = std::fs::read_dir(dist)
        .map_err(|e| format!("{}: {e}", dist.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    let out = std::process::Command::new("lintian")
        .args([
            "--fail-on",
            "error",
            "--suppress-tags",
            "spelling-error-in-binary",
        ])
        .args(&debs)
        .output()
        .map_err(|e| format!("cannot run lintian: {e} (apt-get install lintian)"))?;
    let tags = String::from_utf8_lossy(&out.stdout);
    for line in tags.lines().filter(|l| !l.starts_with("I: ")) {
        say(&format!("#   lintian: {line}"));
    }
    ensure(out.status.success() && debs.len() == 4, || {
        format!(
            "{} packages, lintian {}:\n{tags}{}",
            debs.len(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Each unit's main process is the packaged binary, and that binary is the release's.
fn real_binaries(l: &mut Lifecycle, n: &Node, hashes: &BTreeMap<String, String>) {
    let host = l.host(n.host);
    let units = units_of(host, n.packages).unwrap_or_default();
    let mut detail = Vec::new();
    let mut seen = 0;
    for (unit, binary) in UNIT_BINARIES {
        if !units.iter().any(|u| u == &format!("{unit}.service")) {
            continue;
        }
        seen += 1;
        let script = format!(
            "pid=$(systemctl show -p MainPID --value {unit}); echo $(readlink /proc/$pid/exe) $(sha256sum < /usr/bin/{binary} | cut -d' ' -f1)"
        );
        let got = on(host, &script).unwrap_or_default();
        let want = format!(
            "/usr/bin/{binary} {}",
            hashes.get(binary).map(String::as_str).unwrap_or("?")
        );
        if got.trim() != want {
            detail.push(format!("{unit}: {} (want {want})", got.trim()));
        }
    }
    l.c.check(
        &format!(
            "{}: the {seen} daemons are the release's binaries, run from /usr/bin",
            n.host
        ),
        ensure(detail.is_empty() && seen > 0, || detail.join("\n")),
    );
}

/// etcd holds the network and a lease per flannel host; flannel.1 is vxlan; docker0 sits in the lease.
fn network_checks(l: &mut Lifecycle, n: &Node, phase: &str) {
    let host = l.host(n.host);
    if n.is_master() {
        let flannel_hosts = NODES.iter().filter(|m| m.cluster == n.cluster).count();
        let etcdctl = "etcdctl --peers http://127.0.0.1:4001";
        l.c.check(
            &format!("{phase} {}: etcd {} holds the flannel network and one lease per flannel host ({flannel_hosts})", n.host, "2.2.1"),
            on(host, &format!("{etcdctl} --version; {etcdctl} get /coreos.com/network/config")).and_then(|out| {
                ensure(out.contains("2.2.1") && out.contains("172.16.0.0/16") && out.contains("vxlan"), || out.clone())
            })
            .and_then(|_| {
                eventually(host, 30, &format!("test $({etcdctl} ls /coreos.com/network/subnets | wc -l) -eq {flannel_hosts}")).map(|_| ())
            }),
        );
    }
    l.c.check(
        &format!("{phase} {}: flannel.1 is a vxlan device", n.host),
        on(host, "ip -d link show flannel.1")
            .and_then(|out| ensure(out.contains("vxlan id 1"), || out.clone())),
    );
    let lease = on(host, "cat /run/flannel/subnet.env").unwrap_or_default();
    let subnet = env_value(&lease, "FLANNEL_SUBNET").unwrap_or_default();
    let want_mtu: u32 = env_value(&lease, "FLANNEL_MTU")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    l.c.check(
        &format!(
            "{phase} {}: docker0 is inside the node's lease with flannel's MTU",
            n.host
        ),
        docker_container_on_bridge(host).and_then(|(ip, (addr, mtu))| {
            ensure(
                addr == subnet && mtu == want_mtu && inside(&format!("{ip}/32"), &subnet),
                || format!("docker0 {addr} mtu {mtu}, container {ip}, subnet.env {lease:?}"),
            )
        }),
    );
}
