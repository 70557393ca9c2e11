//! Builds the test stand-ins for the upstream programs: small x86-64 ELF launchers around tests/fixtures/standin/standin.py.
//!
//! Each stand-in accepts exactly the flags of tests/fixtures/flags/<program>.txt, parsed
//! the way the real program parses them, exits 2 on anything else, and with
//! `STANDIN_CHECK_ONLY=1` exits 0 right after parsing. They exist only under tests/
//! and print "kubedeb test stand-in" on `--version`: never ship one.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::harness::tools::{self, run};

/// The programs with a stand-in, in the order of the release tarballs.
pub const PROGRAMS: [&str; 7] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "flanneld",
];

/// The script that flannel's tarball carries beside flanneld.
pub const MK_DOCKER_OPTS: &str = "mk-docker-opts.sh";

const SCRIPT: &str = include_str!("../fixtures/standin/standin.py");
const LAUNCHER: &str = include_str!("../fixtures/standin/launcher.c");
const MK_DOCKER_OPTS_TEXT: &str = include_str!("../fixtures/standin/mk-docker-opts.sh");

/// (program, flag list, details table) from tests/fixtures/flags.
const CONTRACTS: [(&str, &str, &str); 6] = [
    (
        "kube-apiserver",
        include_str!("../fixtures/flags/kube-apiserver.txt"),
        include_str!("../fixtures/flags/details/kube-apiserver.tsv"),
    ),
    (
        "kube-controller-manager",
        include_str!("../fixtures/flags/kube-controller-manager.txt"),
        include_str!("../fixtures/flags/details/kube-controller-manager.tsv"),
    ),
    (
        "kube-scheduler",
        include_str!("../fixtures/flags/kube-scheduler.txt"),
        include_str!("../fixtures/flags/details/kube-scheduler.tsv"),
    ),
    (
        "kubelet",
        include_str!("../fixtures/flags/kubelet.txt"),
        include_str!("../fixtures/flags/details/kubelet.tsv"),
    ),
    (
        "kube-proxy",
        include_str!("../fixtures/flags/kube-proxy.txt"),
        include_str!("../fixtures/flags/details/kube-proxy.tsv"),
    ),
    (
        "flanneld",
        include_str!("../fixtures/flags/flanneld.txt"),
        include_str!("../fixtures/flags/details/flanneld.tsv"),
    ),
];

/// One flag of a program's contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    /// true for `bool` in the .txt: takes no separate word as its value.
    pub is_bool: bool,
    /// The Go type of its value (`int`, `duration`, `ip`, ...), which the stand-in validates.
    pub go_type: String,
    /// The default as the details table prints it (quoted string, `[]`, `<nil>`).
    pub default: String,
}

/// The flag contract of `program` (one with a flag list; kubectl has none).
pub fn contract(program: &str) -> Vec<Flag> {
    let (_, list, details) = CONTRACTS
        .iter()
        .find(|(p, _, _)| *p == program)
        .unwrap_or_else(|| panic!("no flag contract for {program} in tests/fixtures/flags"));
    let header: Vec<&str> = details
        .lines()
        .next()
        .expect("details table has a header")
        .trim_start_matches('#')
        .split('\t')
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (type_col, default_col) = (
        col("value_type"),
        col("default").expect("details table has a default column"),
    );
    let rows: Vec<Vec<&str>> = details
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    list.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (name, kind) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("{program}.txt: line {line:?} is not name<TAB>kind"));
            let row = rows
                .iter()
                .find(|r| r[0] == name)
                .unwrap_or_else(|| panic!("details/{program}.tsv has no row for {name}"));
            let is_bool = match kind {
                "bool" => true,
                "value" => false,
                other => panic!("{program}.txt: {name} has kind {other:?}, not bool|value"),
            };
            let go_type = match type_col {
                Some(c) => row[c].to_string(),
                // flannel's table has no type column: its glog flags are the only typed ones.
                None => match name {
                    "v" => "Level",
                    "log_backtrace_at" => "traceLocation",
                    "vmodule" => "moduleSpec",
                    "stderrthreshold" => "severity",
                    _ if is_bool => "bool",
                    _ => "string",
                }
                .to_string(),
            };
            Flag {
                name: name.to_string(),
                is_bool,
                go_type,
                default: row[default_col].to_string(),
            }
        })
        .collect()
}

fn flag_table(program: &str) -> String {
    if program == "kubectl" {
        return String::new();
    }
    contract(program)
        .iter()
        .map(|f| {
            format!(
                "{}\t{}\t{}\t{}\n",
                f.name,
                if f.is_bool { "bool" } else { "value" },
                f.go_type,
                f.default
            )
        })
        .collect()
}

/// A C string literal, one source line per input line; octal escapes never swallow the next character.
fn c_literal(text: &str) -> String {
    let mut out = String::from("\"");
    for b in text.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n\"\n\""),
            b'?' => out.push_str("\\?"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

fn source_hash() -> u64 {
    let mut h = DefaultHasher::new();
    (SCRIPT, LAUNCHER, MK_DOCKER_OPTS_TEXT).hash(&mut h);
    for (p, l, d) in CONTRACTS {
        (p, l, d).hash(&mut h);
    }
    h.finish()
}

/// Compiles every stand-in into a folder under target/ keyed by the sources, once.
fn compiled() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubedeb-standin");
        let dir = base.join(format!("{:016x}", source_hash()));
        if dir.join(".complete").exists() {
            return dir;
        }
        fs::create_dir_all(&base).expect("create the stand-in build folder");
        // Built aside and renamed, so a concurrent test process never sees half a folder.
        let work = tempfile::Builder::new().prefix(".build-").tempdir_in(&base).expect("temp folder");
        let launcher = work.path().join("launcher.c");
        fs::write(&launcher, LAUNCHER).unwrap();
        for program in PROGRAMS {
            let header = work.path().join(format!("{program}.h"));
            fs::write(
                &header,
                format!(
                    "#define STANDIN_NAME {}\nstatic const char standin_flags[] =\n{};\nstatic const char standin_script[] =\n{};\n",
                    c_literal(program),
                    c_literal(&flag_table(program)),
                    c_literal(SCRIPT)
                ),
            )
            .unwrap();
            run(
                Command::new("gcc")
                    .args(["-O2", "-Wall", "-Werror", "-include"])
                    .arg(&header)
                    .arg("-o")
                    .arg(work.path().join(program))
                    .arg(&launcher));
            fs::remove_file(&header).unwrap();
        }
        fs::remove_file(&launcher).unwrap();
        let script = work.path().join(MK_DOCKER_OPTS);
        fs::write(&script, MK_DOCKER_OPTS_TEXT).unwrap();
        set_mode(&script, 0o755);
        fs::write(work.path().join(".complete"), "").unwrap();
        let tmp = work.keep();
        if fs::rename(&tmp, &dir).is_err() {
            // Another process finished first; its copy is the same.
            let _ = fs::remove_dir_all(&tmp);
            assert!(dir.join(".complete").exists(), "stand-in folder {} is incomplete", dir.display());
        }
        dir
    })
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Puts all stand-ins (and mk-docker-opts.sh) into `out_dir/standin` and returns that folder.
/// Compiles with gcc on first use in a process; later calls only copy.
pub fn build_standins(out_dir: &Path) -> PathBuf {
    let src = compiled();
    let dest = out_dir.join("standin");
    fs::create_dir_all(&dest).unwrap_or_else(|e| panic!("create {}: {e}", dest.display()));
    for name in PROGRAMS.iter().copied().chain([MK_DOCKER_OPTS]) {
        fs::copy(src.join(name), dest.join(name))
            .unwrap_or_else(|e| panic!("copy stand-in {name} to {}: {e}", dest.display()));
    }
    dest
}

/// The path of one compiled stand-in, shared by the whole test process (do not modify it).
pub fn standin(program: &str) -> PathBuf {
    let p = compiled().join(program);
    assert!(p.exists(), "no stand-in named {program}");
    p
}

/// A free TCP port on 127.0.0.1 (taken from the kernel, then released for the caller).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's etcd (3.4) on 127.0.0.1 with the v2 API that flannel 0.5.5 and Kubernetes 1.1 speak,
/// in a temporary data folder; killed on drop.
pub struct LocalEtcd {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    _dir: tempfile::TempDir,
}

impl LocalEtcd {
    pub fn start() -> LocalEtcd {
        LocalEtcd::start_program(Path::new("etcd"), &["--enable-v2=true"])
    }

    /// The etcd `program` (e.g. a release's etcd 2.2.1, which speaks only v2) with `extra` flags.
    pub fn start_program(program: &Path, extra: &[&str]) -> LocalEtcd {
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = fs::File::create(dir.path().join("etcd.log")).unwrap();
        let mut etcd = Command::new(program);
        etcd.args(["--name", "standin-test", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
            ])
            .args(["--initial-cluster", &format!("standin-test={peer_url}")])
            .args(extra)
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = tools::spawn(&mut etcd);
        let etcd = LocalEtcd {
            child,
            url,
            _dir: dir,
        };
        for _ in 0..200 {
            if ureq::get(&format!("{}/v2/keys/", etcd.url)).call().is_ok() {
                return etcd;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "etcd did not answer on {} within 20 s:\n{}",
            etcd.url,
            fs::read_to_string(etcd._dir.path().join("etcd.log")).unwrap_or_default()
        );
    }

    /// Sets a v2 key; panics unless etcd accepts it.
    pub fn put(&self, key: &str, value: &str) {
        ureq::put(&format!("{}/v2/keys{key}", self.url))
            .send_form(&[("value", value)])
            .unwrap_or_else(|e| panic!("etcd PUT {key}: {e}"));
    }

    /// The v2 JSON answer for a key, recursively; None when absent.
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        match ureq::get(&format!("{}/v2/keys{key}?recursive=true", self.url)).call() {
            Ok(r) => Some(serde_json::from_str(&r.into_string().unwrap()).unwrap()),
            Err(ureq::Error::Status(404, _)) => None,
            Err(e) => panic!("etcd GET {key}: {e}"),
        }
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
