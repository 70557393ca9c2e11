//! The test stand-ins hold to the flag contracts of the real programs and do their observable work.

use crate::harness::standin::{self, contract, standin, Flag, LocalEtcd, PROGRAMS};
use crate::harness::tools;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FLAG_PROGRAMS: [&str; 6] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "flanneld",
];

fn check(program: &str, args: &[String]) -> Output {
    Command::new(standin(program))
        .args(args)
        .env("STANDIN_CHECK_ONLY", "1")
        .output()
        .unwrap()
}

fn parsed(program: &str, args: &[String]) -> Value {
    let out = check(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} exited {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{program}: no JSON ({e}): {:?}", out.stdout))
}

fn rejected(program: &str, args: &[&str], stderr_says: &str) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = check(program, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{program} {args:?} must exit 2; stderr: {err}"
    );
    assert!(
        err.contains(stderr_says),
        "{program} {args:?}: stderr {err:?} lacks {stderr_says:?}"
    );
}

/// A value the real flag type accepts.
fn sample(flag: &Flag) -> &'static str {
    match flag.go_type.as_str() {
        "int" | "int64" | "int32" | "uint" | "uint64" => "7",
        "Level" => "2",
        "float32" | "float64" => "0.5",
        "duration" => "1m30s",
        "ip" => "10.0.0.1",
        "ipNet" => "10.0.0.0/24",
        "portRange" => "30000-32767",
        "severity" => "ERROR",
        "traceLocation" => "file.go:12",
        "moduleSpec" => "foo=2",
        "stringSlice" => "a,b",
        "mapStringString" => "a=b",
        _ => "some value",
    }
}

#[test]
fn every_standin_is_an_x86_64_elf_that_says_what_it_is() {
    for program in PROGRAMS {
        let bytes = fs::read(standin(program)).unwrap();
        assert_eq!(&bytes[..4], b"\x7fELF", "{program} is not ELF");
        assert_eq!(bytes[4], 2, "{program} is not 64-bit");
        assert_eq!(
            u16::from_le_bytes([bytes[18], bytes[19]]),
            0x3e,
            "{program} is not x86-64"
        );
        let out = Command::new(standin(program))
            .arg("--version")
            .output()
            .unwrap();
        assert!(out.status.success(), "{program} --version: {}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("kubedeb test stand-in"),
            "{program} --version printed {text:?}"
        );
    }
}

#[test]
fn build_standins_copies_all_programs() {
    let dir = tempfile::tempdir().unwrap();
    let bin = standin::build_standins(dir.path());
    let names: BTreeSet<String> = fs::read_dir(&bin)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let want: BTreeSet<String> = PROGRAMS
        .iter()
        .copied()
        .chain([standin::MK_DOCKER_OPTS])
        .map(String::from)
        .collect();
    assert_eq!(names, want);
}

#[test]
fn each_standin_accepts_every_listed_flag_in_each_allowed_form() {
    for program in FLAG_PROGRAMS {
        let flags: Vec<Flag> = contract(program)
            .into_iter()
            .filter(|f| f.name != "version")
            .collect();
        let dash = if program == "flanneld" { "-" } else { "--" };
        // Form 1: -name=value (one dash for flanneld), bare bools.
        // Form 2: --name value, --name=false; Kubernetes names with `_` for `-`.
        let mut one = Vec::new();
        let mut two = Vec::new();
        for f in &flags {
            let alias = if program == "flanneld" {
                f.name.clone()
            } else {
                f.name.replace('-', "_")
            };
            if f.is_bool {
                one.push(format!("{dash}{}", f.name));
                two.push(format!("--{alias}=false"));
            } else {
                one.push(format!("{dash}{}={}", f.name, sample(f)));
                two.push(format!("--{alias}"));
                two.push(sample(f).to_string());
            }
        }
        for (form, args) in [("first", &one), ("second", &two)] {
            let got = parsed(program, args);
            let names: BTreeSet<&str> = got["flags"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            let want: BTreeSet<&str> = flags.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names, want, "{program}, {form} form: flags parsed");
            assert_eq!(
                got["args"],
                Value::Array(vec![]),
                "{program}, {form} form: leftover words"
            );
            for f in &flags {
                let v = &got["flags"][f.name.as_str()];
                if f.is_bool {
                    assert_eq!(v, &Value::Bool(form == "first"), "{program} {}", f.name);
                }
            }
        }
    }
}

#[test]
fn each_standin_rejects_unknown_and_malformed_flags_with_exit_2() {
    for program in FLAG_PROGRAMS {
        rejected(program, &["--no-such-flag=1"], "no-such-flag");
        rejected(program, &["--no_such_flag"], "no_such_flag");
    }
    for program in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
    ] {
        rejected(program, &["-v=2"], "unknown shorthand flag");
        rejected(program, &["---v=2"], "bad flag syntax");
        rejected(program, &["--v=x"], "invalid argument");
        rejected(program, &["--logtostderr=yes"], "invalid argument");
        rejected(program, &["--log-dir"], "flag needs an argument");
        rejected(program, &["--help"], "unknown flag: --help");
        if program != "kubelet" {
            // The v1.1 docs list it for every binary; only kubelet's credential provider registers it.
            rejected(
                program,
                &["--google-json-key=x"],
                "unknown flag: --google-json-key",
            );
        }
    }
    rejected(
        "kube-apiserver",
        &["--insecure-port=8o8o"],
        "invalid argument",
    );
    rejected(
        "kube-apiserver",
        &["--insecure-bind-address=0.0.0.0.0"],
        "failed to parse IP",
    );
    rejected(
        "kube-apiserver",
        &["--service-node-port-range=30000"],
        "expected hyphen",
    );
    rejected(
        "kube-apiserver",
        &["--service-cluster-ip-range=192.168.3.0"],
        "invalid CIDR",
    );
    rejected("kubelet", &["--sync-frequency=10"], "invalid duration");
    // The flags that only a cgo build of kube-apiserver has; the release binary is not one.
    let cgo_only = include_str!("../fixtures/flags/details/kube-apiserver.cgo-only.txt");
    for name in cgo_only
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = name.split('\t').next().unwrap();
        rejected("kube-apiserver", &[&format!("--{name}=1")], "unknown flag");
    }
    // flanneld (Go's flag package): names are not normalised, glog types still checked.
    rejected(
        "flanneld",
        &["--log-dir=/tmp"],
        "flag provided but not defined: -log-dir",
    );
    rejected("flanneld", &["-v=x"], "invalid value");
    rejected("flanneld", &["-ip-masq=maybe"], "invalid boolean value");
    rejected("flanneld", &["-iface"], "flag needs an argument");
    rejected("flanneld", &["---iface=eth0"], "bad flag syntax");
    rejected("flanneld", &["-h"], "flag provided but not defined: -h");
}

#[test]
fn parsing_follows_each_library_beyond_names() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // pflag: a bool never takes the next word, which stays a positional argument.
    let got = parsed(
        "kube-proxy",
        &s(&["--logtostderr", "false", "--master", "http://m:8080"]),
    );
    assert_eq!(got["flags"]["logtostderr"], Value::Bool(true));
    assert_eq!(got["flags"]["master"], "http://m:8080");
    assert_eq!(got["args"], serde_json::json!(["false"]));
    // The seed's empty kubelet --config= parses.
    let got = parsed(
        "kubelet",
        &s(&["--config=", "--api_servers=http://10.0.0.1:8080"]),
    );
    assert_eq!(got["flags"]["config"], "");
    assert_eq!(
        got["flags"]["api-servers"],
        serde_json::json!(["http://10.0.0.1:8080"])
    );
    // Go flag: parsing stops at the first non-flag word.
    let got = parsed("flanneld", &s(&["-ip-masq", "extra", "-no-such-flag"]));
    assert_eq!(got["args"], serde_json::json!(["extra", "-no-such-flag"]));
    // flanneld takes FLANNELD_<NAME> from the environment for flags not given.
    let out = Command::new(standin("flanneld"))
        .env("STANDIN_CHECK_ONLY", "1")
        .env("FLANNELD_ETCD_ENDPOINTS", "http://10.0.0.1:4001")
        .env("FLANNELD_IFACE", "eth9")
        .arg("--iface=eth0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["flags"]["etcd-endpoints"], "http://10.0.0.1:4001");
    assert_eq!(got["flags"]["iface"], "eth0");
}

/// Kills the child on drop, and shows its stderr when the test failed.
struct Running(Child, String);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            let mut err = String::new();
            if let Some(mut e) = self.0.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            eprintln!("--- stderr of {}:\n{err}", self.1);
        }
    }
}

fn spawn(program: &str, args: &[String], envs: &[(&str, &str)]) -> Running {
    let child = Command::new(standin(program))
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Running(child, program.to_string())
}

fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn env_file(path: &Path) -> Vec<(String, String)> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn flanneld_leases_a_subnet_in_real_etcd_and_writes_subnet_env() {
    let etcd = LocalEtcd::start();
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify");
    let sock = UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let subnet_env = dir.path().join("flannel/subnet.env");
    let args = |env: &Path, public: &str| {
        vec![
            format!("--etcd-endpoints=http://127.0.0.1:1,{}", etcd.url),
            "--iface=127.0.0.1".to_string(),
            format!("--public-ip={public}"),
            "--ip-masq".to_string(),
            format!("-subnet-file={}", env.display()),
        ]
    };
    // Started before the network config exists: it waits for it, as flannel does.
    let first = spawn(
        "flanneld",
        &args(&subnet_env, "10.9.0.1"),
        &[("NOTIFY_SOCKET", notify.to_str().unwrap())],
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !subnet_env.exists(),
        "subnet.env written before the network config existed"
    );
    etcd.put(
        "/coreos.com/network/config",
        r#"{"Network":"172.16.0.0/16", "Backend": {"Type": "vxlan"}}"#,
    );
    let mut buf = [0u8; 64];
    let n = sock
        .recv(&mut buf)
        .expect("flanneld sent nothing to NOTIFY_SOCKET");
    assert_eq!(&buf[..n], b"READY=1");
    let env = env_file(&subnet_env);
    let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "FLANNEL_NETWORK",
            "FLANNEL_SUBNET",
            "FLANNEL_MTU",
            "FLANNEL_IPMASQ"
        ]
    );
    assert_eq!(env[0].1, "172.16.0.0/16");
    let lo_mtu: u32 = fs::read_to_string("/sys/class/net/lo/mtu")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        env[2].1,
        (lo_mtu - 50).to_string(),
        "vxlan MTU is the interface's minus 50"
    );
    assert_eq!(env[3].1, "true");
    let subnet = env[1].1.clone();
    let (addr, len) = subnet.split_once('/').unwrap();
    assert_eq!(len, "24");
    let octets: Vec<u8> = addr.split('.').map(|o| o.parse().unwrap()).collect();
    assert_eq!(
        (octets[0], octets[1], octets[3]),
        (172, 16, 1),
        "FLANNEL_SUBNET {subnet}"
    );
    assert_ne!(octets[2], 0, "the first subnet is never handed out");
    let key = format!("/coreos.com/network/subnets/172.16.{}.0-24", octets[2]);
    let lease = etcd
        .get(&key)
        .unwrap_or_else(|| panic!("no lease {key} in etcd"));
    let attrs: Value = serde_json::from_str(lease["node"]["value"].as_str().unwrap()).unwrap();
    assert_eq!(attrs["PublicIP"], "10.9.0.1");
    assert_eq!(attrs["BackendType"], "vxlan");
    let ttl = lease["node"]["ttl"].as_u64().expect("the lease has a TTL");
    assert!(ttl > 86000 && ttl <= 86400, "lease TTL {ttl}");

    // A second host gets another subnet; a restarted first host gets its old one back.
    let env2 = dir.path().join("second.env");
    let second = spawn("flanneld", &args(&env2, "10.9.0.2"), &[]);
    wait_for("the second subnet.env", 30, || env2.exists().then_some(()));
    assert_ne!(env_file(&env2)[1].1, subnet);
    drop(first);
    fs::remove_file(&subnet_env).unwrap();
    let _again = spawn("flanneld", &args(&subnet_env, "10.9.0.1"), &[]);
    wait_for("subnet.env after restart", 30, || {
        subnet_env.exists().then_some(())
    });
    assert_eq!(
        env_file(&subnet_env)[1].1,
        subnet,
        "restart reuses the lease of its public IP"
    );
    let leases = etcd.get("/coreos.com/network/subnets").unwrap();
    assert_eq!(
        leases["node"]["nodes"].as_array().unwrap().len(),
        2,
        "{leases}"
    );
    drop(second);
}

#[test]
fn control_plane_standins_talk_to_each_other_over_loopback() {
    let etcd = LocalEtcd::start();
    let state = tempfile::tempdir().unwrap();
    let state_env = [("STANDIN_STATE_DIR", state.path().to_str().unwrap())];
    let port = standin::free_port();
    let master = format!("http://127.0.0.1:{port}");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let _api = spawn(
        "kube-apiserver",
        &s(&[
            &format!("--etcd_servers={}", etcd.url),
            "--insecure-bind-address=127.0.0.1",
            &format!("--insecure-port={port}"),
            "--secure-port=0",
            "--service-cluster-ip-range=192.168.3.0/24",
            "--logtostderr=true",
        ]),
        &state_env,
    );
    let healthz = wait_for("apiserver /healthz", 30, || {
        ureq::get(&format!("{master}/healthz"))
            .call()
            .ok()
            .map(|r| r.into_string().unwrap())
    });
    assert_eq!(healthz, "ok");
    let range = etcd
        .get("/registry/ranges/serviceips")
        .expect("apiserver wrote its service range");
    assert!(range["node"]["value"]
        .as_str()
        .unwrap()
        .contains("192.168.3.0/24"));

    let kubelet_healthz = standin::free_port().to_string();
    let _kubelet = spawn(
        "kubelet",
        &s(&[
            "--hostname-override=10.1.2.3",
            &format!("--api-servers={master}"),
            "--healthz-port",
            &kubelet_healthz,
            "--docker-endpoint=unix:///nonexistent/docker.sock",
            "--config=",
        ]),
        &state_env,
    );
    let _proxy = spawn(
        "kube-proxy",
        &s(&[&format!("--master={master}"), "--healthz-port=0"]),
        &state_env,
    );
    let record = |name: &str| fs::read_to_string(state.path().join(format!("{name}.healthz"))).ok();
    let kubelet_state = wait_for("kubelet registration", 30, || {
        record("kubelet").filter(|t| t.contains("ok register 10.1.2.3"))
    });
    assert!(
        kubelet_state.starts_with(&format!("ok {master}/healthz\n")),
        "{kubelet_state}"
    );
    assert!(
        kubelet_state.contains("fail docker /nonexistent/docker.sock"),
        "{kubelet_state}"
    );
    let proxy_state = wait_for("kube-proxy probe", 30, || record("kube-proxy"));
    assert_eq!(proxy_state, format!("ok {master}/healthz\n"));
    let own = ureq::get(&format!("http://127.0.0.1:{kubelet_healthz}/healthz"))
        .call()
        .unwrap();
    assert_eq!(own.into_string().unwrap(), "ok");

    let out = Command::new(standin("kubectl"))
        .args(["-s", &master, "get", "nodes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("10.1.2.3 ")),
        "kubectl get nodes: {text}"
    );
    let out = Command::new(standin("kubectl"))
        .args(["version", &format!("--server={master}")])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Server Version"),
        "{out:?}"
    );

    // A controller-manager whose root CA is missing fails like the real one.
    let out = Command::new(standin("kube-controller-manager"))
        .args([
            &format!("--master={master}"),
            "--root-ca-file=/nonexistent/ca.crt",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("error reading root-ca-file"));
}

/// Runs openssl in `dir`; panics unless it succeeds.
fn openssl(dir: &Path, args: &[&str]) {
    tools::run(Command::new("openssl").args(args).current_dir(dir));
}

/// The extensions of the package's postinst (templates/scripts/k8s-master.postinst).
const OPENSSL_CNF: &str = "[req]\ndistinguished_name = dn\n[dn]\n\
    [ca]\nbasicConstraints = critical, CA:true\nkeyUsage = critical, keyCertSign, cRLSign, digitalSignature\n\
    [server]\nbasicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature, keyEncipherment\n\
    extendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = IP:127.0.0.1\n\
    [client]\nbasicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature, keyEncipherment\n\
    extendedKeyUsage = clientAuth\n";

/// Makes the CA `{ca}.crt`/`{ca}.key` in `dir`.
fn make_ca(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-config",
            "openssl.cnf",
            "-extensions",
            "ca",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.crt"),
            "-subj",
            &format!("/CN={ca}"),
            "-days",
            "2",
            "-sha256",
        ],
    );
}

/// Makes `{name}.key` and `{name}.crt` in `dir`, signed by the CA `ca` with the extensions `section`.
fn issue(dir: &Path, ca: &str, name: &str, section: &str) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            section,
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// curl's answer as (exit code, HTTP status, body); the status is "000" when TLS failed.
fn curl(dir: &Path, args: &[&str], url: &str) -> (i32, String, String) {
    let out = tools::run_any(
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
            .args(args)
            .arg(url)
            .current_dir(dir),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        out.status.code().unwrap_or(-1),
        code.to_string(),
        format!("{body}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn apiserver_secure_port_requires_a_client_certificate_or_token_like_1_1_4() {
    let etcd = LocalEtcd::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("openssl.cnf"), OPENSSL_CNF).unwrap();
    make_ca(d, "ca");
    issue(d, "ca", "server", "server");
    issue(d, "ca", "kubecfg", "client");
    make_ca(d, "other-ca");
    issue(d, "other-ca", "stranger", "client");
    fs::write(d.join("tokens.csv"), "s3cret,admin,1,system:masters\n").unwrap();
    let (insecure, secure) = (standin::free_port(), standin::free_port());
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let path = |f: &str| d.join(f).to_str().unwrap().to_string();
    let _api = spawn(
        "kube-apiserver",
        &s(&[
            &format!("--etcd-servers={}", etcd.url),
            "--insecure-bind-address=127.0.0.1",
            &format!("--insecure-port={insecure}"),
            "--bind-address=127.0.0.1",
            &format!("--secure-port={secure}"),
            "--service-cluster-ip-range=192.168.3.0/24",
            &format!("--client-ca-file={}", path("ca.crt")),
            &format!("--tls-cert-file={}", path("server.crt")),
            &format!("--tls-private-key-file={}", path("server.key")),
            &format!("--token-auth-file={}", path("tokens.csv")),
        ]),
        &[],
    );
    let https = format!("https://127.0.0.1:{secure}/healthz");
    let ca = ["--cacert", "ca.crt"];
    // No credential: 401 with the real one's body, once the secure port is up.
    let (exit, code, body) = wait_for("the secure port", 30, || {
        let got = curl(d, &ca, &https);
        (got.1 != "000").then_some(got)
    });
    assert_eq!(
        (exit, code.as_str(), body.as_str()),
        (0, "401", "Unauthorized\n"),
        "no credential"
    );
    // The apiserver's other paths are as closed.
    let (_, code, _) = curl(d, &ca, &format!("https://127.0.0.1:{secure}/api/v1/nodes"));
    assert_eq!(code, "401", "/api/v1/nodes without a credential");
    // A client certificate signed by --client-ca-file.
    let mine = [
        "--cacert",
        "ca.crt",
        "--cert",
        "kubecfg.crt",
        "--key",
        "kubecfg.key",
    ];
    let (exit, code, body) = curl(d, &mine, &https);
    assert_eq!(
        (exit, code.as_str(), body.as_str()),
        (0, "200", "ok"),
        "client certificate of the CA"
    );
    // A client certificate of another CA: refused in the handshake or with 401.
    let theirs = [
        "--cacert",
        "ca.crt",
        "--cert",
        "stranger.crt",
        "--key",
        "stranger.key",
    ];
    let (exit, code, body) = curl(d, &theirs, &https);
    assert!(
        exit != 0 || code == "401",
        "a certificate of another CA was let in: exit {exit}, status {code}, {body:?}"
    );
    assert_ne!(
        code, "200",
        "a certificate of another CA was let in: {body:?}"
    );
    // A bearer token of --token-auth-file, and one that is not in it.
    let token = ["--cacert", "ca.crt", "-H", "Authorization: Bearer s3cret"];
    let (_, code, body) = curl(d, &token, &https);
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("200", "ok"),
        "listed token"
    );
    let wrong = ["--cacert", "ca.crt", "-H", "Authorization: Bearer guess"];
    let (_, code, _) = curl(d, &wrong, &https);
    assert_eq!(code, "401", "unlisted token");
    // The insecure port stays open to anyone, as in 1.1.4.
    let (exit, code, body) = curl(d, &[], &format!("http://127.0.0.1:{insecure}/healthz"));
    assert_eq!(
        (exit, code.as_str(), body.as_str()),
        (0, "200", "ok"),
        "insecure port"
    );
}
