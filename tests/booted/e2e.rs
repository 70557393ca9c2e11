//! End to end (issue 4): a cluster installed from the served repository on booted Debian 12 containers, upgraded, removed, purged and installed again.
//!
//! Needs root, systemd-container, mmdebstrap, iproute2, gcc, python3 and etcd-server on the
//! machine (see tests/harness/nspawn.rs). Each check prints one line, `ok - <check>` or
//! `FAIL - <check>: <detail>`, straight to stderr so it shows without --nocapture.

use crate::cluster::{
    cmdline, copy_into, docker_container_on_bridge, ensure, env_value, eventually, fingerprints,
    inside, kubedeb, on, page_block, units_of, Checks, Cluster, Release, LISTING,
};
use crate::harness::{fixtures, standin};
use crate::nspawn::{self, Host, Lab, BASE_PACKAGES};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// One booted lab at a time: two cores do not boot six hosts with Docker quickly.
static ONE_LAB: Mutex<()> = Mutex::new(());

/// The image of every host: the base, plus Docker. etcd comes from the packages.
fn e2e_image() -> std::path::PathBuf {
    let mut packages: Vec<&str> = BASE_PACKAGES.to_vec();
    packages.push("docker.io");
    nspawn::debian_root(&packages)
}

/// The pieces below the packages, on three booted hosts: Docker and Debian's etcd run in
/// the containers, and the stand-ins do their work against them over the bridge, wired by
/// hand the way the packages wire them (etcd with the seed's flags, flanneld as a notify
/// service, dockerd on the flannel subnet).
#[test]
fn booted_hosts_run_docker_etcd_and_the_standins() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Checks::new("booted hosts: docker, etcd and the stand-ins");
    let image = e2e_image();
    let lab = boot_hosts_with_the_standins(&image);
    hosts_boot_with_systemd(&mut c, &lab);
    docker_runs_and_routes_to_the_master(&mut c, &lab);
    let master = lab.host("master");
    etcd_holds_the_flannel_network(&mut c, master);
    for host in lab.hosts() {
        flannel_puts_docker_on_its_lease(&mut c, host, master.ip);
    }
    etcd_holds_a_lease_per_host(&mut c, master);
    apiserver_answers(&mut c, master);
    kubelets_register_their_nodes(&mut c, &lab);
    c.finish();
}

/// Boots `master`, `node1` and `both` with the stand-ins in /usr/local/bin, and Debian's etcd on the master.
fn boot_hosts_with_the_standins(image: &Path) -> Lab {
    let bin = standin::build_standins(
        &std::env::temp_dir().join(format!("kubedeb-e2e-bin-{}", std::process::id())),
    );
    let mut lab = Lab::new();
    for name in ["master", "node1", "both"] {
        lab.boot(name, image, |root| {
            for program in standin::PROGRAMS {
                copy_into(
                    root,
                    &bin.join(program),
                    &format!("/usr/local/bin/{program}"),
                );
            }
            if name == "master" {
                // Debian's etcd 3.4, as the packaged etcd of the e2e cluster.
                copy_into(root, Path::new("/usr/bin/etcd"), "/usr/local/bin/etcd");
                copy_into(
                    root,
                    Path::new("/usr/bin/etcdctl"),
                    "/usr/local/bin/etcdctl",
                );
            }
        });
    }
    let _ = std::fs::remove_dir_all(bin.parent().unwrap());
    lab
}

fn hosts_boot_with_systemd(c: &mut Checks, lab: &Lab) {
    for host in lab.hosts() {
        let state = host.wait_booted(Duration::from_secs(180));
        c.check(
            &format!("{} booted with systemd as PID 1 ({state})", host.name),
            Ok(()),
        );
    }
}

/// Docker is up on every host, and the nodes route to the master over the bridge.
fn docker_runs_and_routes_to_the_master(c: &mut Checks, lab: &Lab) {
    let master_ip = lab.host("master").ip;
    for host in lab.hosts() {
        c.check(
            &format!("{}: docker.service is active", host.name),
            on(
                host,
                "systemctl is-active docker.service && docker info --format '{{.Driver}}'",
            )
            .map(|_| ()),
        );
        if host.name != "master" {
            c.check(
                &format!(
                    "{}: routes to the master's address over the bridge",
                    host.name
                ),
                on(
                    host,
                    &format!("ip -4 route get {master_ip} | grep -q 'dev host0'"),
                )
                .map(|_| ()),
            );
        }
    }
}

/// Debian's etcd runs on the master as the packages run it, and holds the flannel network.
fn etcd_holds_the_flannel_network(c: &mut Checks, master: &Host) {
    let master_ip = master.ip;
    let etcd = format!(
        "systemd-run --unit=etcd --property=Type=notify /usr/local/bin/etcd -name infra -data-dir /var/lib/etcd \
         -listen-client-urls http://127.0.0.1:4001,http://{master_ip}:4001 -advertise-client-urls http://{master_ip}:4001 \
         --enable-v2=true"
    );
    c.require(
        "master: Debian's etcd 3.4 runs as a notify service with the seed's flags",
        on(master, &etcd).map(|_| ()),
    );
    c.require(
        "master: etcdctl (v2 API) registers the flannel network",
        on(
            master,
            "ETCDCTL_API=2 etcdctl --endpoints http://127.0.0.1:4001 mk /coreos.com/network/config \
             '{\"Network\":\"172.16.0.0/16\", \"Backend\": {\"Type\": \"vxlan\"}}'",
        )
        .map(|_| ()),
    );
}

/// flanneld takes a lease for `host`, and Docker moves onto it.
fn flannel_puts_docker_on_its_lease(c: &mut Checks, host: &Host, master_ip: std::net::Ipv4Addr) {
    let flanneld = format!(
        "systemd-run --unit=flanneld --property=Type=notify /usr/local/bin/flanneld \
         --etcd-endpoints=http://{master_ip}:4001 --ip-masq --iface={}",
        host.ip
    );
    c.check(
        &format!(
            "{}: flanneld stand-in started as a notify service",
            host.name
        ),
        on(host, &flanneld).map(|_| ()),
    );
    let env = on(host, "cat /run/flannel/subnet.env").unwrap_or_default();
    let subnet = env_value(&env, "FLANNEL_SUBNET").unwrap_or_default();
    c.check(
        &format!(
            "{}: subnet.env has a /24 of 172.16.0.0/16 and MTU 1450",
            host.name
        ),
        ensure(
            inside(&subnet, "172.16.0.0/16")
                && subnet.ends_with(".1/24")
                && env_value(&env, "FLANNEL_MTU").as_deref() == Some("1450"),
            || format!("subnet.env: {env:?}"),
        ),
    );
    // Docker on the flannel subnet through a runtime drop-in, as k8s-flannel does with its own.
    let dropin = "mkdir -p /run/systemd/system/docker.service.d && cat > /run/systemd/system/docker.service.d/e2e.conf <<'EOF'\n\
         [Service]\nEnvironmentFile=/run/flannel/subnet.env\nExecStart=\n\
         ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock --bip=${FLANNEL_SUBNET} --mtu=${FLANNEL_MTU} --ip-masq=false\nEOF\n\
         systemctl daemon-reload && ip link set docker0 down && ip link del docker0 && systemctl restart docker";
    c.check(
        &format!("{}: docker restarts on the flannel subnet", host.name),
        on(host, dropin).map(|_| ()),
    );
    c.check(
        &format!(
            "{}: a container runs on docker0 inside the lease with the flannel MTU",
            host.name
        ),
        docker_container_on_bridge(host).and_then(|(ip, (addr, mtu))| {
            ensure(
                addr == subnet && mtu == 1450 && inside(&format!("{ip}/32"), &subnet),
                || format!("docker0 {addr} mtu {mtu}, container {ip}, lease {subnet}"),
            )
        }),
    );
}

fn etcd_holds_a_lease_per_host(c: &mut Checks, master: &Host) {
    c.check(
        "master: etcd holds one lease per flannel host",
        on(master, "ETCDCTL_API=2 etcdctl --endpoints http://127.0.0.1:4001 ls /coreos.com/network/subnets").and_then(
            |out| ensure(out.lines().count() == 3, || format!("leases: {out}")),
        ),
    );
}

/// The apiserver stand-in starts on the master and answers /healthz.
fn apiserver_answers(c: &mut Checks, master: &Host) {
    let master_ip = master.ip;
    let apiserver = format!(
        "systemd-run --unit=kube-apiserver /usr/local/bin/kube-apiserver --insecure-bind-address=0.0.0.0 \
         --insecure-port=8080 --etcd-servers=http://127.0.0.1:4001 --logtostderr=true \
         --service-cluster-ip-range=192.168.3.0/24 --advertise-address={master_ip}"
    );
    c.require(
        "master: kube-apiserver stand-in started",
        on(master, &apiserver).map(|_| ()),
    );
    c.check(
        "master: /healthz answers on the insecure port",
        eventually(master, 30, "curl -fsS http://127.0.0.1:8080/healthz")
            .and_then(|b| ensure(b == "ok", || b)),
    );
}

/// The kubelets on the nodes reach the master and register their nodes.
fn kubelets_register_their_nodes(c: &mut Checks, lab: &Lab) {
    let master = lab.host("master");
    let master_ip = master.ip;
    for name in ["node1", "both"] {
        let host = lab.host(name);
        let kubelet = format!(
            "systemd-run --unit=kubelet /usr/local/bin/kubelet --hostname-override={} --api-servers=http://{master_ip}:8080 \
             --logtostderr=true --cluster-dns=192.168.3.10 --cluster-domain=cluster.local \
             --pod-infra-container-image=gcr.io/google_containers/pause:0.8.0 --config=",
            host.ip
        );
        c.check(
            &format!("{name}: kubelet stand-in started"),
            on(host, &kubelet).map(|_| ()),
        );
        c.check(
            &format!("{name}: kubelet reached the master's /healthz over the bridge and docker"),
            eventually(
                host,
                30,
                &format!(
                    "grep -q '^ok http://{master_ip}:8080/healthz' /run/standin/kubelet.healthz && \
                     grep -q '^ok docker' /run/standin/kubelet.healthz && cat /run/standin/kubelet.healthz"
                ),
            )
            .map(|_| ()),
        );
    }
    c.check(
        "master: kubectl lists the kubelets' nodes",
        eventually(
            master,
            30,
            "kubectl get nodes | tail -n +2 | wc -l | grep -qx 2 && kubectl get nodes",
        )
        .map(|_| ()),
    );
}

// ------------------------------------------------------------------ the whole flow of issue 4

/// The fixture release tarballs: stand-ins for the Kubernetes and flannel programs, and
/// Debian's etcd 3.4 (from the machine's etcd-server) as the etcd release, in a user catalog
/// that pins their hashes.
fn write_release(dir: &Path) -> Release {
    let bin = standin::build_standins(dir);
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    let kube: Vec<(&str, Vec<u8>)> = fixtures::KUBE_BINARIES
        .iter()
        .map(|b| (*b, read(&bin.join(b))))
        .collect();
    let kubernetes = fixtures::kubernetes_tarball(&kube);
    let flanneld = read(&bin.join("flanneld"));
    let mk_docker_opts = read(&bin.join(standin::MK_DOCKER_OPTS));
    let flannel = fixtures::tar_gz(&[
        ("flannel-0.5.5/", b"", 0o755),
        ("flannel-0.5.5/flanneld", &flanneld, 0o755),
        ("flannel-0.5.5/mk-docker-opts.sh", &mk_docker_opts, 0o755),
        (
            "flannel-0.5.5/README.md",
            b"# flannel (kubedeb test stand-in)\n",
            0o644,
        ),
    ]);
    let hint = "install etcd-server: its etcd 3.4 is the e2e cluster's etcd";
    let etcd_bin =
        std::fs::read("/usr/bin/etcd").unwrap_or_else(|e| panic!("/usr/bin/etcd: {e} ({hint})"));
    let etcdctl = std::fs::read("/usr/bin/etcdctl")
        .unwrap_or_else(|e| panic!("/usr/bin/etcdctl: {e} ({hint})"));
    let etcd = fixtures::tar_gz(&[
        ("etcd-v3.4.30-linux-amd64/", b"", 0o755),
        ("etcd-v3.4.30-linux-amd64/etcd", &etcd_bin, 0o755),
        ("etcd-v3.4.30-linux-amd64/etcdctl", &etcdctl, 0o755),
    ]);
    let tarballs = dir.join("tarballs");
    std::fs::create_dir_all(&tarballs).unwrap();
    for (name, bytes) in [
        (fixtures::KUBE_FILE, &kubernetes),
        (fixtures::FLANNEL_FILE, &flannel),
        ("etcd-v3.4.30-linux-amd64.tar.gz", &etcd),
    ] {
        std::fs::write(tarballs.join(name), bytes).unwrap();
    }
    let kube_binaries: String = fixtures::KUBE_BINARIES
        .iter()
        .map(|b| {
            format!("{b} = [\"kubernetes/server/kubernetes-server-linux-amd64.tar.gz\", \"kubernetes/server/bin/{b}\"]\n")
        })
        .collect();
    let catalog = format!(
        "[kubernetes.\"1.1.4\"]\nfile = \"{}\"\nurl = \"http://upstream.invalid/{0}\"\nsha256 = \"{}\"\n\
         [kubernetes.\"1.1.4\".binaries]\n{kube_binaries}\n\
         [flannel.\"0.5.5\"]\nfile = \"{}\"\nurl = \"http://upstream.invalid/{2}\"\nsha256 = \"{}\"\n\
         [flannel.\"0.5.5\".binaries]\nflanneld = [\"flannel-0.5.5/flanneld\"]\n\n\
         [etcd.\"3.4.30\"]\nfile = \"etcd-v3.4.30-linux-amd64.tar.gz\"\n\
         url = \"http://upstream.invalid/etcd-v3.4.30-linux-amd64.tar.gz\"\nsha256 = \"{}\"\napi = \"v3\"\n\
         [etcd.\"3.4.30\".binaries]\netcd = [\"etcd-v3.4.30-linux-amd64/etcd\"]\n\
         etcdctl = [\"etcd-v3.4.30-linux-amd64/etcdctl\"]\n",
        fixtures::KUBE_FILE,
        fixtures::sha256_hex(&kubernetes),
        fixtures::FLANNEL_FILE,
        fixtures::sha256_hex(&flannel),
        fixtures::sha256_hex(&etcd),
    );
    std::fs::write(dir.join("catalog.toml"), catalog).unwrap();
    // kubedeb up --from takes the images from the same folder.
    crate::harness::images::write_seed_images(&tarballs);
    Release {
        from: tarballs,
        catalog: dir.join("catalog.toml"),
    }
}

/// What every installed host must show; `installed` names the packages' roles on each host.
struct Install {
    host: &'static str,
    cluster: usize,
    blocks: &'static [&'static str],
    packages: &'static [&'static str],
}

const INSTALLS: [Install; 3] = [
    Install {
        host: "master",
        cluster: 0,
        blocks: &["master"],
        packages: &["k8s-master", "k8s-flannel"],
    },
    Install {
        host: "node1",
        cluster: 0,
        blocks: &["minion"],
        packages: &["k8s-minion", "k8s-images", "k8s-flannel"],
    },
    Install {
        host: "both",
        cluster: 1,
        blocks: &["master", "minion"],
        packages: &["k8s-master", "k8s-minion", "k8s-images", "k8s-flannel"],
    },
];

/// The checks of the issue on every host, after an install (first or again).
fn installed_checks(
    c: &mut Checks,
    lab: &Lab,
    clusters: &[Cluster],
    pause_image: &str,
    phase: &str,
) {
    for i in &INSTALLS {
        let host = lab.host(i.host);
        let cluster = &clusters[i.cluster];
        let master_ip = cluster.master_ip;
        let units = units_of(host, i.packages).unwrap_or_default();
        let state = on(
            host,
            &format!(
                "for u in {}; do printf '%s %s\\n' $u $(systemctl is-active $u); done",
                units.join(" ")
            ),
        )
        .unwrap_or_default();
        let failed = on(host, "systemctl --failed --no-legend --plain").unwrap_or_default();
        c.check(
            &format!(
                "{phase} {}: every unit of {} is active, none failed",
                i.host,
                i.packages.join(", ")
            ),
            ensure(
                !units.is_empty()
                    && state.lines().all(|l| l.ends_with(" active"))
                    && failed.trim().is_empty(),
                || format!("{state}failed: {failed}"),
            ),
        );
        let lease = on(host, "cat /run/flannel/subnet.env").unwrap_or_default();
        let subnet = env_value(&lease, "FLANNEL_SUBNET").unwrap_or_default();
        c.check(
            &format!(
                "{phase} {}: a container runs on docker0 inside its lease with the flannel MTU",
                i.host
            ),
            docker_container_on_bridge(host).and_then(|(ip, (addr, mtu))| {
                let want_mtu: u32 = env_value(&lease, "FLANNEL_MTU")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                ensure(
                    addr == subnet && mtu == want_mtu && inside(&format!("{ip}/32"), &subnet),
                    || format!("docker0 {addr} mtu {mtu}, container {ip}, subnet.env {lease:?}"),
                )
            }),
        );
        if i.packages.contains(&"k8s-minion") {
            let words = cmdline(host, "kubelet").unwrap_or_default();
            let wants = [
                format!("--api-servers=http://{master_ip}:8080"),
                format!("--hostname-override={}", host.ip),
                format!("--pod-infra-container-image={pause_image}"),
            ];
            c.check(
                &format!("{phase} {}: kubelet's command line names the master, this host and the pause image", i.host),
                ensure(wants.iter().all(|w| words.contains(w)), || format!("{words:?}")),
            );
            for unit in ["kubelet", "kube-proxy"] {
                c.check(
                    &format!("{phase} {}: {unit} reaches the master's /healthz over the bridge", i.host),
                    eventually(
                        host,
                        30,
                        &format!("grep -x 'ok http://{master_ip}:8080/healthz' /run/standin/{unit}.healthz"),
                    )
                    .map(|_| ()),
                );
            }
        }
        if i.packages.contains(&"k8s-master") {
            master_checks(c, host, cluster, phase);
        }
    }
}

fn master_checks(c: &mut Checks, host: &Host, cluster: &Cluster, phase: &str) {
    let name = host.name.as_str();
    let ip = cluster.master_ip;
    let flannel_hosts = INSTALLS
        .iter()
        .filter(|i| clusters_of(i) == cluster.name)
        .count();
    let etcdctl = "ETCDCTL_API=2 etcdctl --endpoints http://127.0.0.1:4001";
    c.check(
        &format!("{phase} {name}: etcd holds the configured flannel network"),
        on(host, &format!("{etcdctl} get /coreos.com/network/config")).and_then(|cfg| {
            let v: serde_json::Value =
                serde_json::from_str(&cfg).map_err(|e| format!("{cfg}: {e}"))?;
            ensure(
                v["Network"] == "172.16.0.0/16" && v["Backend"]["Type"] == "vxlan",
                || cfg.clone(),
            )
        }),
    );
    c.check(
        &format!("{phase} {name}: etcd holds one subnet lease per flannel host ({flannel_hosts})"),
        eventually(
            host,
            30,
            &format!(
                "test $({etcdctl} ls /coreos.com/network/subnets | wc -l) -eq {flannel_hosts}"
            ),
        )
        .map(|_| ()),
    );
    c.check(
        &format!("{phase} {name}: openssl verifies the server certificate against the CA"),
        on(
            host,
            "openssl verify -CAfile /srv/kubernetes/ca.crt /srv/kubernetes/server.cert",
        )
        .map(|_| ()),
    );
    let want_sans = format!(
        "IP Address:{ip}, IP Address:192.168.3.1, DNS:kubernetes, DNS:kubernetes.default, \
         DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"
    );
    c.check(
        &format!("{phase} {name}: the server certificate's SANs are exactly the configured ones"),
        on(
            host,
            "openssl x509 -noout -ext subjectAltName -in /srv/kubernetes/server.cert | tail -n +2",
        )
        .and_then(|got| {
            let mut got: Vec<&str> = got.trim().split(", ").collect();
            let mut want: Vec<&str> = want_sans.split(", ").collect();
            got.sort_unstable();
            want.sort_unstable();
            ensure(got == want, || format!("SANs {got:?}, want {want:?}"))
        }),
    );
    c.check(
        &format!("{phase} {name}: private keys and certificates have the documented owners and modes"),
        on(host, "cd /srv/kubernetes && stat -c '%n %a %U:%G' ca.key server.key kubecfg.key ca.crt server.cert kubecfg.crt")
            .and_then(|got| {
                let want = "ca.key 600 root:root\nserver.key 640 root:kube-cert\nkubecfg.key 640 root:kube-cert\n\
                            ca.crt 644 root:kube-cert\nserver.cert 644 root:kube-cert\nkubecfg.crt 644 root:kube-cert\n";
                ensure(got == want, || got.clone())
            }),
    );
    c.check(
        &format!(
            "{phase} {name}: the apiserver answers /healthz on the insecure port, and over TLS with this CA \
             to the master's client certificate (kubecfg.crt) while refusing a request without one (401)"
        ),
        eventually(
            host,
            30,
            &format!(
                "test \"$(curl -fsS http://{ip}:8080/healthz)\" = ok && \
                 test \"$(curl -fsS --cacert /srv/kubernetes/ca.crt --cert /srv/kubernetes/kubecfg.crt \
                 --key /srv/kubernetes/kubecfg.key https://{ip}:6443/healthz)\" = ok && \
                 test \"$(curl -s -o /dev/null -w '%{{http_code}}' --cacert /srv/kubernetes/ca.crt \
                 https://{ip}:6443/healthz)\" = 401"
            ),
        )
        .map(|_| ()),
    );
}

fn clusters_of(i: &Install) -> &'static str {
    ["a", "b"][i.cluster]
}

/// Issue 4: packages built by `kubedeb up` and served by `kubedeb serve` install, run, upgrade,
/// remove, purge and install again on booted hosts. Cluster a: `master` (k8s-master) and
/// `node1` (k8s-minion); cluster b: `both`, its own master with k8s-master and k8s-minion
/// (the seed's `ai` role: a master is the host at master_ip, so it is a cluster of its own).
#[test]
fn cluster_from_the_served_repository_through_its_lifecycle() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Checks::new("issue 4: cluster from the served repository");
    let image = e2e_image();
    let mut lab = Lab::new();
    let mut clusters = two_clusters();
    init_and_publish(&mut c, &clusters);
    boot_hosts(&mut c, &mut lab, &image);
    serve_the_repositories(&mut c, &lab, &mut clusters);
    let installed = install_from_the_pages(&mut c, &lab, &clusters);
    installed_checks(
        &mut c,
        &lab,
        &clusters,
        "gcr.io/google_containers/pause:0.8.0",
        "install:",
    );
    let fingerprints_before: Vec<String> = clusters
        .iter()
        .map(|cl| fingerprints(lab.host(cl.master)).unwrap_or_default())
        .collect();
    let new_image = "registry.example.org/pause:0.8.0";
    upgrade_to_revision_2(&mut c, &lab, &clusters, new_image);
    installed_checks(&mut c, &lab, &clusters, new_image, "upgrade:");
    certificates_unchanged(&mut c, &lab, &clusters, &fingerprints_before);
    for i in &INSTALLS {
        remove(&mut c, lab.host(i.host), i);
        purge(&mut c, lab.host(i.host), i, &installed.listings[i.host]);
    }
    reinstall(&mut c, &lab, &installed.commands);
    installed_checks(&mut c, &lab, &clusters, new_image, "reinstall:");
    c.finish();
}

/// Cluster a, mastered by `master`, and cluster b, mastered by `both`, each with its own release folder.
fn two_clusters() -> Vec<Cluster> {
    vec![
        Cluster::new(
            "a",
            "master",
            std::net::Ipv4Addr::new(10, 213, 7, 11),
            8080,
            write_release,
        ),
        Cluster::new(
            "b",
            "both",
            std::net::Ipv4Addr::new(10, 213, 7, 13),
            8081,
            write_release,
        ),
    ]
}

/// `kubedeb init` and `kubedeb up` in each cluster's folder, with Debian's etcd 3.4 as the etcd.
fn init_and_publish(c: &mut Checks, clusters: &[Cluster]) {
    for cl in clusters {
        let init = kubedeb(
            cl.path(),
            &["init", "--master-ip", &cl.master_ip.to_string()],
        );
        c.require(
            &format!("cluster {}: kubedeb init", cl.name),
            init.map(|_| ()),
        );
        cl.set("etcd", "\"3.4.30\"");
        c.require(
            &format!("cluster {}: kubedeb up builds and publishes", cl.name),
            cl.up().map(|_| ()),
        );
    }
}

fn boot_hosts(c: &mut Checks, lab: &mut Lab, image: &Path) {
    for name in ["master", "node1", "both"] {
        lab.boot(name, image, |_| {});
    }
    for host in lab.hosts() {
        let state = host.wait_booted(Duration::from_secs(180));
        c.check(&format!("{} booted ({state})", host.name), Ok(()));
    }
}

/// `kubedeb serve` for each cluster on the bridge, whose masters must be the hosts at their master_ip.
fn serve_the_repositories(c: &mut Checks, lab: &Lab, clusters: &mut [Cluster]) {
    for cl in clusters.iter_mut() {
        let served = cl.serve(lab);
        c.require(
            &format!("cluster {}: kubedeb serve on {}", cl.name, cl.url(lab)),
            served,
        );
    }
    let assert_master_ips = clusters
        .iter()
        .all(|cl| lab.host(cl.master).ip == cl.master_ip);
    c.require(
        "hosts have the masters' addresses",
        ensure(assert_master_ips, || "boot order changed".into()),
    );
}

/// What the install leaves for the later steps.
struct Installed {
    /// Each host's files before the install, for the purge to compare with.
    listings: std::collections::HashMap<&'static str, String>,
    /// The install commands each host ran from its cluster's page, for the reinstall.
    commands: std::collections::HashMap<&'static str, Vec<String>>,
}

/// The operator's steps, from each cluster's page.
fn install_from_the_pages(c: &mut Checks, lab: &Lab, clusters: &[Cluster]) -> Installed {
    let mut listings = std::collections::HashMap::new();
    let mut install_commands: std::collections::HashMap<&str, Vec<String>> = Default::default();
    for i in &INSTALLS {
        let host = lab.host(i.host);
        let url = clusters[i.cluster].url(lab);
        let page = eventually(host, 30, &format!("curl -fsS {url}/"));
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                c.require(
                    &format!("{}: fetches the page of kubedeb serve", i.host),
                    Err(e),
                );
                unreachable!()
            }
        };
        let setup = page_block(&page, "setup").unwrap_or_default();
        c.require(
            &format!(
                "{}: the page's setup commands add the key and a signed-by source",
                i.host
            ),
            ensure(setup.contains("signed-by="), || page.clone())
                .and_then(|_| on(host, &setup).map(|_| ())),
        );
        listings.insert(i.host, on(host, LISTING).unwrap_or_default());
        for block in i.blocks {
            let cmd = page_block(&page, block).unwrap_or_default();
            let out = on(host, &format!("{cmd} </dev/null"));
            c.require(
                &format!("{}: `{cmd}` from the page", i.host),
                out.map(|_| ()),
            );
            install_commands.entry(i.host).or_default().push(cmd);
        }
    }
    Installed {
        listings,
        commands: install_commands,
    }
}

/// Upgrade with a changed setting: revision 2 with `new_image` as the pause image.
fn upgrade_to_revision_2(c: &mut Checks, lab: &Lab, clusters: &[Cluster], new_image: &str) {
    for cl in clusters {
        // The operator carries the new pause image in beside the tarballs: up fetches it from there.
        let (archive, _) = crate::harness::images::tiny_archive(new_image, new_image);
        let file = kubedeb::images::ImageRef::parse(new_image)
            .unwrap()
            .file_name();
        std::fs::write(cl.path().join("tarballs").join(file), archive).unwrap();
        cl.set("pause_image", &format!("\"{new_image}\""));
        cl.set("revision", "2");
        c.require(
            &format!("cluster {}: kubedeb up publishes revision 2", cl.name),
            cl.up().map(|_| ()),
        );
    }
    for i in &INSTALLS {
        let host = lab.host(i.host);
        let out = on(
            host,
            "apt-get update -q && apt-get -y upgrade </dev/null 2>&1",
        );
        c.check(
            &format!(
                "upgrade: {}: apt-get upgrade installs revision 2 without a prompt",
                i.host
            ),
            out.and_then(|o| {
                let versions = on(host, &format!("dpkg-query -W {}", i.packages.join(" ")))?;
                ensure(
                    !o.contains("Configuration file")
                        && versions.lines().all(|l| l.ends_with("-2")),
                    || format!("{versions}\n{o}"),
                )
            }),
        );
    }
}

fn certificates_unchanged(c: &mut Checks, lab: &Lab, clusters: &[Cluster], before: &[String]) {
    for (cl, before) in clusters.iter().zip(before) {
        c.check(
            &format!("upgrade: {}: the certificates are unchanged", cl.master),
            fingerprints(lab.host(cl.master))
                .and_then(|now| ensure(&now == before && !now.is_empty(), || now)),
        );
    }
}

/// `apt-get remove` stops the services and gives Docker its default bridge back.
fn remove(c: &mut Checks, host: &Host, i: &Install) {
    let units = units_of(host, i.packages).unwrap_or_default();
    c.check(
        &format!("remove: {}: apt-get remove", i.host),
        on(
            host,
            &format!("apt-get -y remove {} </dev/null", i.packages.join(" ")),
        )
        .map(|_| ()),
    );
    let running = on(
        host,
        "for p in etcd kube-apiserver kube-controller kube-scheduler kubelet kube-proxy flanneld; do \
         pgrep -x $p >/dev/null && echo $p; done; true",
    )
    .unwrap_or_default();
    let active = on(
        host,
        &format!(
            "for u in {}; do systemctl is-active -q $u && echo $u; done; true",
            units.join(" ")
        ),
    )
    .unwrap_or_default();
    c.check(
        &format!("remove: {}: the services are stopped", i.host),
        ensure(
            running.trim().is_empty() && active.trim().is_empty(),
            || format!("running: {running} active: {active}"),
        ),
    );
    c.check(
        &format!(
            "remove: {}: Docker runs again on its default bridge",
            i.host
        ),
        on(host, "systemctl is-active docker")
            .and_then(|_| docker_container_on_bridge(host))
            .and_then(|(ip, (addr, mtu))| {
                ensure(
                    addr == "172.17.0.1/16"
                        && mtu == 1500
                        && inside(&format!("{ip}/32"), "172.17.0.0/16"),
                    || {
                        let why =
                            host.sh("ls -l /run/flannel /etc/systemd/system/docker.service.d \
                             /lib/systemd/system/docker.service.d 2>&1 || true; \
                             journalctl -b --no-pager -n 25 -u docker.service 2>&1");
                        format!("docker0 {addr} mtu {mtu}, container {ip}\n{}", why.stdout)
                    },
                )
            }),
    );
}

/// `apt-get purge` leaves the host's files as `before` (its listing before the install) had them.
fn purge(c: &mut Checks, host: &Host, i: &Install, before: &str) {
    c.check(
        &format!("purge: {}: apt-get purge", i.host),
        on(
            host,
            &format!("apt-get -y purge {} </dev/null", i.packages.join(" ")),
        )
        .map(|_| ()),
    );
    let after = on(host, LISTING).unwrap_or_default();
    let b: std::collections::BTreeSet<&str> = before.lines().collect();
    let a: std::collections::BTreeSet<&str> = after.lines().collect();
    let left: Vec<&&str> = a.difference(&b).collect();
    let lost: Vec<&&str> = b.difference(&a).collect();
    c.check(
        &format!(
            "purge: {}: no file is left that the packages or their scripts created",
            i.host
        ),
        ensure(left.is_empty(), || format!("left: {left:?}")),
    );
    c.check(
        &format!(
            "purge: {}: no file that was there before the install is gone",
            i.host
        ),
        ensure(lost.is_empty(), || format!("gone: {lost:?}")),
    );
    c.check(
        &format!("purge: {}: the kube-cert group is gone", i.host),
        ensure(on(host, "getent group kube-cert").is_err(), || {
            "kube-cert still exists".into()
        }),
    );
}

/// Install again, with the commands each host ran from its page.
fn reinstall(
    c: &mut Checks,
    lab: &Lab,
    install_commands: &std::collections::HashMap<&'static str, Vec<String>>,
) {
    for i in &INSTALLS {
        let host = lab.host(i.host);
        for cmd in &install_commands[i.host] {
            let out = on(host, &format!("{cmd} </dev/null"));
            c.check(
                &format!("reinstall: {}: `{cmd}` again", i.host),
                out.map(|_| ()),
            );
        }
    }
}
