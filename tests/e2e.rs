//! End to end (issue 4): a cluster installed from the served repository on booted Debian 12 containers, upgraded, removed, purged and installed again.
//!
//! Needs root, systemd-container, mmdebstrap, iproute2, gcc, python3 and etcd-server on the
//! machine (see tests/common/nspawn.rs). Each check prints one line, `ok - <check>` or
//! `FAIL - <check>: <detail>`, straight to stderr so it shows without --nocapture.

#[path = "common/nspawn.rs"]
mod nspawn;
#[path = "common/standin.rs"]
mod standin;

use nspawn::{Host, Lab, BASE_PACKAGES};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One booted lab at a time: two cores do not boot six hosts with Docker quickly.
static ONE_LAB: Mutex<()> = Mutex::new(());

/// Prints one line per check and fails the test at the end when any failed.
struct Checks {
    name: &'static str,
    failed: Vec<String>,
    passed: usize,
    started: Instant,
}

impl Checks {
    fn new(name: &'static str) -> Checks {
        say(&format!("# {name}"));
        Checks {
            name,
            failed: Vec::new(),
            passed: 0,
            started: Instant::now(),
        }
    }

    fn check(&mut self, what: &str, result: Result<(), String>) -> bool {
        match result {
            Ok(()) => {
                say(&format!("ok - {what}"));
                self.passed += 1;
                true
            }
            Err(detail) => {
                say(&format!(
                    "FAIL - {what}: {}",
                    detail.trim_end().replace('\n', "\n#   ")
                ));
                self.failed.push(what.to_string());
                false
            }
        }
    }

    /// A check later steps depend on: stop here when it fails.
    fn require(&mut self, what: &str, result: Result<(), String>) {
        if !self.check(what, result) {
            self.finish();
        }
    }

    fn finish(&self) {
        say(&format!(
            "# {}: {} checks ok, {} failed, {:.0?}",
            self.name,
            self.passed,
            self.failed.len(),
            self.started.elapsed()
        ));
        assert!(
            self.failed.is_empty(),
            "{}: failed checks: {:?}",
            self.name,
            self.failed
        );
    }
}

/// Writes past the test harness's capture, so CI logs show each check as it happens.
fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

fn ensure(cond: bool, detail: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(detail())
    }
}

/// Runs `script` on `host` and turns a non-zero exit into the check's detail.
fn on(host: &Host, script: &str) -> Result<String, String> {
    let r = host.sh(script);
    if r.ok() {
        Ok(r.stdout)
    } else {
        Err(format!(
            "`{script}` on {} exited {}: {}{}",
            host.name, r.code, r.stdout, r.stderr
        ))
    }
}

/// Polls `script` on `host` until it exits 0 or `secs` pass.
fn eventually(host: &Host, secs: u64, script: &str) -> Result<String, String> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        match on(host, script) {
            Ok(out) => return Ok(out),
            Err(e) if Instant::now() > end => return Err(format!("after {secs} s: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn copy_into(root: &Path, from: &Path, to: &str) {
    let dest = root.join(to.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(from, &dest)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), dest.display()));
}

/// The image of every host: the base, plus Docker. etcd comes from the packages.
fn e2e_image() -> std::path::PathBuf {
    let mut packages: Vec<&str> = BASE_PACKAGES.to_vec();
    packages.push("docker.io");
    nspawn::debian_root(&packages)
}

/// docker0's IPv4 address and MTU on `host`.
fn docker0(host: &Host) -> Result<(String, u32), String> {
    let addr = on(host, "ip -4 -o addr show dev docker0 | awk '{print $4}'")?;
    let mtu = on(host, "cat /sys/class/net/docker0/mtu")?;
    Ok((
        addr.trim().to_string(),
        mtu.trim()
            .parse()
            .map_err(|e| format!("mtu {mtu:?}: {e}"))?,
    ))
}

/// Starts a container from an image made of the host's own sleep and libc (the hosts reach
/// no registry) and returns its address and then docker0's (address, MTU): the bridge takes
/// the MTU Docker gives its ports only once a container is attached.
fn docker_container_on_bridge(host: &Host) -> Result<(String, (String, u32)), String> {
    on(
        host,
        "docker rm -f e2e-probe >/dev/null 2>&1 || true\n\
         if ! docker image inspect e2e-tiny >/dev/null 2>&1; then\n\
           d=$(mktemp -d) && mkdir -p $d/bin $d/lib/x86_64-linux-gnu $d/lib64\n\
           cp /bin/sleep $d/bin/ && cp /lib/x86_64-linux-gnu/libc.so.6 $d/lib/x86_64-linux-gnu/\n\
           cp /lib64/ld-linux-x86-64.so.2 $d/lib64/ && tar -C $d -c . | docker import - e2e-tiny >/dev/null\n\
           rm -rf $d\n\
         fi\n\
         docker run -d --name e2e-probe e2e-tiny /bin/sleep infinity >/dev/null",
    )?;
    let ip = on(
        host,
        "docker inspect -f '{{.NetworkSettings.IPAddress}}' e2e-probe",
    )?;
    let bridge = docker0(host);
    let _ = on(host, "docker rm -f e2e-probe");
    Ok((ip.trim().to_string(), bridge?))
}

fn env_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("{key}="))
            .map(|v| v.trim_matches('"').to_string())
    })
}

/// Whether `addr` (a.b.c.d/len) lies inside `subnet` (a.b.c.d/len).
fn inside(addr: &str, subnet: &str) -> bool {
    let parse = |s: &str| -> Option<(u32, u32)> {
        let (ip, len) = s.split_once('/')?;
        let ip: std::net::Ipv4Addr = ip.parse().ok()?;
        Some((u32::from(ip), len.parse().ok()?))
    };
    match (parse(addr), parse(subnet)) {
        (Some((a, _)), Some((s, len))) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            a & mask == s & mask
        }
        _ => false,
    }
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
    let bin = standin::build_standins(
        &std::env::temp_dir().join(format!("kubedeb-e2e-bin-{}", std::process::id())),
    );
    let mut lab = Lab::new();
    for name in ["master", "node1", "both"] {
        lab.boot(name, &image, |root| {
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
    for host in lab.hosts() {
        let state = host.wait_booted(Duration::from_secs(180));
        c.check(
            &format!("{} booted with systemd as PID 1 ({state})", host.name),
            Ok(()),
        );
    }
    let master = lab.host("master");
    let master_ip = master.ip;
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
    for host in lab.hosts() {
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
    c.check(
        "master: etcd holds one lease per flannel host",
        on(master, "ETCDCTL_API=2 etcdctl --endpoints http://127.0.0.1:4001 ls /coreos.com/network/subnets").and_then(
            |out| ensure(out.lines().count() == 3, || format!("leases: {out}")),
        ),
    );

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
    for name in ["node1", "both"] {
        let host = lab.host(name);
        let kubelet = format!(
            "systemd-run --unit=kubelet /usr/local/bin/kubelet --hostname-override={} --api-servers=http://{master_ip}:8080 \
             --logtostderr=true --cluster-dns=192.168.3.10 --cluster-domain=cluster.local \
             --pod-infra-container-image=daocloud.io/gpx_dev/pause:0.8.0 --config=",
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
    c.finish();
}
