//! Booted Debian 12 test hosts: systemd-nspawn containers with systemd as PID 1, each in its own network namespace, joined by a bridge in a private one.
//!
//! The bridge lives in a network namespace of its own (`kubedeb-e2e-<pid>`), so the
//! machine's own network and iptables are never touched and nothing can leave: that
//! namespace has no route out. Processes that must reach the hosts (a repository
//! server) run there through [`Lab::in_bridge_netns`]. [`Lab`]'s Drop stops the
//! containers, unmounts what they left, removes their roots and the namespace, also
//! when the test panics.
//!
//! Needs, as root: systemd-container (systemd-nspawn), mmdebstrap, iproute2,
//! util-linux (nsenter). The host needs no systemd.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::tools::{need, run};

/// Debian packages every e2e host gets: an init system, networking, and what the stand-ins
/// and the checks run (python3, curl, openssl).
pub const BASE_PACKAGES: [&str; 12] = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "iproute2",
    "iptables",
    "procps",
    "python3",
    "curl",
    "ca-certificates",
    "openssl",
    "gpg",
    "passwd",
];

/// What a minimal Debian 12 node has on top of mmdebstrap's apt variant (the Essential packages
/// and apt): an init that boots in systemd-nspawn. systemd brings systemd-networkd, which gives
/// host0 its address from the .network file [`Lab::boot`] writes, so no `ip` runs inside. There is
/// no curl, python3, iproute2 or procps: checks run the test machine's tools in the host's network
/// namespace through [`Host::net`].
pub const MINIMAL_PACKAGES: [&str; 3] = ["systemd", "systemd-sysv", "dbus"];

/// The Debian packages k8s-master and k8s-minion depend on that a minimal node lacks (docker.io
/// pulls containerd, runc, tini and their libraries). Phase 1 of issue 13 puts them in the root
/// next to [`MINIMAL_PACKAGES`]; once the kubedeb repository carries Debian's packages
/// (`[debian] carry = true`), `apt-get install k8s-minion` brings them in from there and the
/// root is [`MINIMAL_PACKAGES`] alone.
pub const KUBEDEB_DEBIAN_DEPENDS: [&str; 4] = ["docker.io", "iproute2", "iptables", "openssl"];

/// A minimal Debian 12 root ([`MINIMAL_PACKAGES`]) with `extra` packages on top.
pub fn minimal_root(extra: &[&str]) -> PathBuf {
    let mut packages: Vec<&str> = MINIMAL_PACKAGES.to_vec();
    packages.extend_from_slice(extra);
    debian_root(&packages)
}

fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubedeb-e2e")
}

/// A Debian 12 (bookworm) root file system as a tarball with `packages` on top of
/// mmdebstrap's apt variant, made once and kept under target/ keyed by the package list.
/// apt's sources are removed, since the hosts cannot reach any mirror.
pub fn debian_root(packages: &[&str]) -> PathBuf {
    let mut list: Vec<&str> = packages.to_vec();
    list.sort_unstable();
    list.dedup();
    let mut h = DefaultHasher::new();
    ("bookworm", "apt", &list).hash(&mut h);
    let dir = lab_dir().join("images");
    let tarball = dir.join(format!("bookworm-{:016x}.tar", h.finish()));
    if tarball.exists() {
        return tarball;
    }
    fs::create_dir_all(&dir).unwrap();
    let partial = dir.join(format!(".partial-{}.tar", std::process::id()));
    let started = Instant::now();
    eprintln!(
        "# building the Debian 12 root with mmdebstrap ({}); cached in {}",
        list.join(","),
        tarball.display()
    );
    run(Command::new("mmdebstrap")
        .args(["--variant=apt", "--quiet", "--format=tar"])
        .arg(format!("--include={}", list.join(",")))
        .arg("--customize-hook=rm -f \"$1\"/etc/apt/sources.list \"$1\"/etc/apt/sources.list.d/*")
        .arg("--customize-hook=rm -f \"$1\"/etc/hostname")
        .args(["bookworm"])
        .arg(&partial)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped()));
    fs::rename(&partial, &tarball).unwrap();
    eprintln!("# root built in {:.0?}", started.elapsed());
    tarball
}

/// One booted container.
pub struct Host {
    pub name: String,
    pub ip: Ipv4Addr,
    /// The container's root directory, as the test process sees it.
    pub root: PathBuf,
    machine: String,
    nspawn: Child,
    /// The container's PID 1 (systemd), as the host sees it.
    pub leader: u32,
    console: PathBuf,
}

/// What a command run in a host did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

impl Host {
    /// Runs `script` with `sh -e` in all of the container's namespaces, with a clean environment.
    pub fn sh(&self, script: &str) -> Run {
        self.sh_env(script, &[])
    }

    pub fn sh_env(&self, script: &str, env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.leader.to_string(), "-a", "env", "-i"]);
        cmd.args([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root",
            "LANG=C.UTF-8",
            "DEBIAN_FRONTEND=noninteractive",
        ]);
        cmd.args(env.iter().map(|(k, v)| format!("{k}={v}")));
        cmd.args(["sh", "-ec", script]).stdin(Stdio::null());
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run nsenter: {e} (apt-get install util-linux)"));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `program args` of the test machine, run in this host's network namespace only (its
    /// addresses, routes and iptables; the test machine's files and tools). For what a minimal
    /// node has no tool for: fetching a page, a TLS request, reading routes before iproute2
    /// is installed.
    pub fn net<I, S>(&self, program: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        need(program);
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.leader.to_string(), "-n", "--", program])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `script`; panics with its output unless it exits 0. Returns stdout.
    pub fn ok(&self, script: &str) -> String {
        let r = self.sh(script);
        assert!(
            r.ok(),
            "{}: `{script}` exited {}\n--- stdout\n{}--- stderr\n{}",
            self.name,
            r.code,
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// Waits for boot to finish; returns `systemctl is-system-running` (running or degraded).
    pub fn wait_booted(&self, timeout: Duration) -> String {
        // systemctl cannot connect before PID 1 has made its private socket.
        let r = self.sh(&format!(
            "end=$(($(date +%s) + {0}))\n\
             while [ ! -S /run/systemd/private ] && [ $(date +%s) -lt $end ]; do sleep 0.1; done\n\
             timeout {0} systemctl is-system-running --wait || true",
            timeout.as_secs()
        ));
        let state = r.stdout.trim().to_string();
        assert!(
            state == "running" || state == "degraded",
            "{} did not finish booting: {state:?}\n{}\nfailed units:\n{}",
            self.name,
            r.stderr,
            self.sh("systemctl --failed --no-pager --no-legend || true")
                .stdout
        );
        state
    }

    /// The console output of the container so far.
    pub fn console(&self) -> String {
        fs::read_to_string(&self.console).unwrap_or_default()
    }

    /// A path inside the container, as the host sees it.
    pub fn path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }

    fn stop(&mut self) {
        if self.nspawn.try_wait().ok().flatten().is_some() {
            return;
        }
        // nspawn turns SIGTERM into an orderly shutdown of the container.
        unsafe_kill(self.nspawn.id(), "TERM");
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if self.nspawn.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Killing PID 1 of a PID namespace kills everything in it.
        unsafe_kill(self.leader, "KILL");
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// A set of hosts on one bridge. Drop tears everything down.
pub struct Lab {
    pub netns: String,
    pub bridge: String,
    /// The bridge's own address, reachable from every host (serve the repository here).
    pub gateway: Ipv4Addr,
    id: String,
    dir: PathBuf,
    hosts: Vec<Host>,
    next: u8,
}

impl Lab {
    /// A fresh network namespace with a bridge on 10.213.7.1/24. Hosts get .11, .12, ...
    pub fn new() -> Lab {
        assert!(
            nix_is_root(),
            "the e2e test boots containers with systemd-nspawn and must run as root (CI does)"
        );
        static LABS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let id = format!(
            "{}-{}",
            std::process::id(),
            LABS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let netns = format!("kubedeb-e2e-{id}");
        let dir = lab_dir().join(format!("run-{id}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // Created before anything else, so Drop has something to clean from the first step on.
        let lab = Lab {
            netns: netns.clone(),
            bridge: "kdbbr0".into(),
            gateway: Ipv4Addr::new(10, 213, 7, 1),
            id,
            dir,
            hosts: Vec::new(),
            next: 11,
        };
        run(Command::new("ip").args(["netns", "add", &netns]));
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["link", "add", &lab.bridge, "type", "bridge"],
            vec!["addr", "add", "10.213.7.1/24", "dev", &lab.bridge],
            vec!["link", "set", &lab.bridge, "up"],
        ] {
            run(Command::new("ip").args(["-n", &netns]).args(&args));
        }
        lab
    }

    /// `cmd` wrapped to run in the bridge's network namespace (and nothing else: same files,
    /// same mounts), e.g. a repository server listening on the gateway address.
    pub fn in_bridge_netns(&self, program: &Path) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.netns))
            .arg("--")
            .arg(program);
        cmd
    }

    /// Unpacks `image` into a fresh root, lets `prepare` change it, and boots it as `name`.
    pub fn boot(&mut self, name: &str, image: &Path, prepare: impl FnOnce(&Path)) -> &Host {
        let ip = Ipv4Addr::new(10, 213, 7, self.next);
        self.next += 1;
        let root = self.dir.join(name);
        fs::create_dir_all(&root).unwrap();
        run(Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-xf")
            .arg(image));
        write(
            &root.join("etc/systemd/network/80-container-host0.network"),
            &format!(
                "# kubedeb e2e: a static address on the test bridge. The default route ends in the\n\
                 # bridge's namespace, which has no route out (kube-proxy 1.1 wants a default route).\n\
                 [Match]\nName=host0\n\n\
                 [Network]\nAddress={ip}/24\nGateway={gateway}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nLLMNR=no\nMulticastDNS=no\n",
                gateway = self.gateway
            ),
        );
        // A resolver that answers at once (nothing listens, so the query is refused): an
        // unreachable one delays kubelet and apt by its timeouts.
        let resolv = root.join("etc/resolv.conf");
        let _ = fs::remove_file(&resolv);
        write(
            &resolv,
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        );
        // kubelet 1.1.4 runs pods on cgroup v1 only. systemd-nspawn mounts the v1 controllers
        // read-only; Docker must create cgroups in them.
        write(
            &root.join("etc/systemd/system/lab-cgroup-rw.service"),
            "[Unit]\nDescription=kubedeb e2e lab: writable cgroup v1 controllers\n\
             DefaultDependencies=no\nBefore=sysinit.target containerd.service docker.service\n\n\
             [Service]\nType=oneshot\nRemainAfterExit=yes\n\
             ExecStart=/bin/sh -c 'for d in /sys/fs/cgroup/*/; do c=$(basename $d); \
             case $c in systemd|unified) continue;; esac; \
             umount -l $d && mount -t cgroup -o rw,nosuid,nodev,noexec,$c cgroup $d; done'\n\n\
             [Install]\nWantedBy=sysinit.target\n",
        );
        let sysinit = root.join("etc/systemd/system/sysinit.target.wants");
        fs::create_dir_all(&sysinit).unwrap();
        let _ = std::os::unix::fs::symlink(
            "/etc/systemd/system/lab-cgroup-rw.service",
            sysinit.join("lab-cgroup-rw.service"),
        );
        let wants = root.join("etc/systemd/system/multi-user.target.wants");
        fs::create_dir_all(&wants).unwrap();
        let link = wants.join("systemd-networkd.service");
        if !link.exists() {
            std::os::unix::fs::symlink("/lib/systemd/system/systemd-networkd.service", link)
                .unwrap();
        }
        write(&root.join("etc/hostname"), &format!("{name}\n"));
        let hosts = fs::read_to_string(root.join("etc/hosts")).unwrap_or_default();
        write(
            &root.join("etc/hosts"),
            &format!("{hosts}127.0.1.1\t{name}\n"),
        );
        prepare(&root);

        let machine = format!("{name}-{}", self.id);
        let console = self.dir.join(format!("{name}.console"));
        let log = fs::File::create(&console).unwrap();
        let nspawn = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg("--")
            .arg("systemd-nspawn")
            .arg("--directory")
            .arg(&root)
            .args([
                "--boot",
                "--register=no",
                "--keep-unit",
                "--console=passive",
            ])
            .arg(format!("--machine={machine}"))
            .arg(format!("--hostname={name}"))
            .arg(format!("--network-bridge={}", self.bridge))
            // Docker needs every capability and the syscalls of mounting, namespaces and bpf.
            .args([
                "--capability=all",
                "--system-call-filter=@system-service @mount @privileged keyctl bpf",
            ])
            // cgroup v1 (the hosts' controllers are made writable at boot, see above).
            .env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run systemd-nspawn: {e} (apt-get install systemd-container)")
            });
        let mut host = Host {
            name: name.into(),
            ip,
            root,
            machine,
            nspawn,
            leader: 0,
            console,
        };
        host.leader = find_leader(&mut host);
        self.hosts.push(host);
        self.hosts.last().unwrap()
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Where the lab keeps roots and logs (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn nix_is_root() -> bool {
    // Real uid from /proc, without a libc binding.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// The container's systemd: the child of the nspawn process that runs /proc/<pid>/comm "systemd".
fn find_leader(host: &mut Host) -> u32 {
    let parent = host.nspawn.id();
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = host.nspawn.try_wait().unwrap() {
            panic!(
                "systemd-nspawn for {} exited with {status}:\n{}",
                host.name,
                host.console()
            );
        }
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The fields after the ")" that closes comm: state, ppid, ...
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let ppid: u32 = rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if ppid == parent && comm.trim() == "systemd" {
                return pid;
            }
        }
        assert!(
            Instant::now() < end,
            "{}: no systemd under nspawn after 30 s:\n{}",
            host.name,
            host.console()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Mount points at or below `dir`, deepest first.
fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

impl Drop for Lab {
    fn drop(&mut self) {
        for host in &mut self.hosts {
            host.stop();
            let _ = fs::remove_dir(format!("/run/systemd/nspawn/propagate/{}", host.machine));
        }
        for m in mounts_below(&self.dir) {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        if std::env::var_os("KUBEDEB_E2E_KEEP").is_some() {
            eprintln!(
                "# KUBEDEB_E2E_KEEP: roots and logs kept in {}",
                self.dir.display()
            );
        } else if mounts_below(&self.dir).is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!(
                "# left {} in place: mounts remain below it",
                self.dir.display()
            );
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}
