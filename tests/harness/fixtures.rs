//! Test fixtures: release tarballs with the real upstream layouts holding small x86-64 programs, user
//! catalogs pinning their hashes, and a loopback HTTP server with Range support and injectable faults.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The kubernetes binaries the catalog takes from kubernetes-server-linux-amd64.tar.gz.
pub const KUBE_BINARIES: [&str; 6] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
];

/// A small x86-64 ELF executable (the host's /bin/true).
pub fn elf_program() -> Vec<u8> {
    std::fs::read("/bin/true")
        .expect("/bin/true is needed as a fixture program (install coreutils)")
}

/// A file that is not an ELF program.
pub fn shell_script() -> Vec<u8> {
    b"#!/bin/sh\necho this is not a binary\n".to_vec()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A gzipped tar of (path, contents, mode); paths ending in '/' are directories.
pub fn tar_gz(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, data, mode) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_450_000_000);
        header.set_mode(*mode);
        header.set_uid(0);
        header.set_gid(0);
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            tar.append_data(&mut header, path, &[][..]).unwrap();
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(data.len() as u64);
            tar.append_data(&mut header, path, *data).unwrap();
        }
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// kubernetes.tar.gz as released for v1.1.4: kubernetes/server/kubernetes-server-linux-amd64.tar.gz
/// inside, holding kubernetes/server/bin/<binary>. `programs` gives each binary's contents
/// (missing names are left out of the server tarball).
pub fn kubernetes_tarball(programs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut inner: Vec<(String, Vec<u8>, u32)> = vec![
        ("kubernetes/".into(), vec![], 0o755),
        ("kubernetes/server/".into(), vec![], 0o755),
        ("kubernetes/server/bin/".into(), vec![], 0o755),
    ];
    for (name, program) in programs {
        inner.push((
            format!("kubernetes/server/bin/{name}"),
            program.clone(),
            0o755,
        ));
        inner.push((
            format!("kubernetes/server/bin/{name}.docker_tag"),
            b"v1.1.4\n".to_vec(),
            0o644,
        ));
    }
    let inner_refs: Vec<(&str, &[u8], u32)> = inner
        .iter()
        .map(|(p, d, m)| (p.as_str(), d.as_slice(), *m))
        .collect();
    let server = tar_gz(&inner_refs);
    tar_gz(&[
        ("kubernetes/", b"", 0o755),
        ("kubernetes/README.md", b"# Kubernetes\n", 0o644),
        ("kubernetes/version", b"v1.1.4\n", 0o644),
        ("kubernetes/server/", b"", 0o755),
        (
            "kubernetes/server/kubernetes-salt.tar.gz",
            &tar_gz(&[("kubernetes/saltbase/", b"", 0o755)]),
            0o644,
        ),
        (
            "kubernetes/server/kubernetes-server-linux-amd64.tar.gz",
            &server,
            0o644,
        ),
    ])
}

/// kubernetes.tar.gz with every binary being `program`.
pub fn kubernetes_tarball_of(program: &[u8]) -> Vec<u8> {
    let programs: Vec<(&str, Vec<u8>)> = KUBE_BINARIES
        .iter()
        .map(|n| (*n, program.to_vec()))
        .collect();
    kubernetes_tarball(&programs)
}

pub const FLANNEL_FILE: &str = "flannel-0.5.5-linux-amd64.tar.gz";
pub const ETCD_FILE: &str = "etcd-v2.2.1-linux-amd64.tar.gz";
pub const KUBE_FILE: &str = "kubernetes.tar.gz";

/// flannel-0.5.5-linux-amd64.tar.gz: flannel-0.5.5/flanneld and mk-docker-opts.sh.
pub fn flannel_tarball(flanneld: &[u8]) -> Vec<u8> {
    tar_gz(&[
        ("flannel-0.5.5/", b"", 0o755),
        ("flannel-0.5.5/flanneld", flanneld, 0o755),
        (
            "flannel-0.5.5/mk-docker-opts.sh",
            b"#!/bin/bash\n# flannel's docker options helper\n",
            0o755,
        ),
        ("flannel-0.5.5/README.md", b"# flannel\n", 0o644),
    ])
}

/// etcd-v2.2.1-linux-amd64.tar.gz: etcd-v2.2.1-linux-amd64/{etcd,etcdctl} and docs.
pub fn etcd_tarball(program: &[u8]) -> Vec<u8> {
    tar_gz(&[
        ("etcd-v2.2.1-linux-amd64/", b"", 0o755),
        ("etcd-v2.2.1-linux-amd64/etcd", program, 0o755),
        ("etcd-v2.2.1-linux-amd64/etcdctl", program, 0o755),
        ("etcd-v2.2.1-linux-amd64/README.md", b"# etcd\n", 0o644),
        ("etcd-v2.2.1-linux-amd64/Documentation/", b"", 0o755),
    ])
}

/// The three fixture tarballs of the seed versions, each binary a real x86-64 program.
pub struct SeedTarballs {
    pub kubernetes: Vec<u8>,
    pub flannel: Vec<u8>,
    pub etcd: Vec<u8>,
}

impl SeedTarballs {
    pub fn new() -> SeedTarballs {
        let program = elf_program();
        SeedTarballs {
            kubernetes: kubernetes_tarball_of(&program),
            flannel: flannel_tarball(&program),
            etcd: etcd_tarball(&program),
        }
    }

    /// (file name, bytes) of each.
    pub fn files(&self) -> [(&'static str, &[u8]); 3] {
        [
            (KUBE_FILE, &self.kubernetes),
            (FLANNEL_FILE, &self.flannel),
            (ETCD_FILE, &self.etcd),
        ]
    }

    /// Write the three into `dir` under their release file names, with a tiny `docker save`
    /// archive of each image the built-in catalog names: what `--from dir` needs.
    pub fn write_to(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, bytes) in self.files() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        crate::harness::images::write_seed_images(dir);
    }
}

/// A user catalog replacing the built-in entries of the seed versions, as a user adds versions:
/// upstream URLs are `<upstream>/<file>`, and each pin is given (None: trust on first use).
pub fn user_catalog(
    upstream: &str,
    kubernetes: Option<&str>,
    flannel: Option<&str>,
    etcd: Option<&str>,
) -> String {
    let pin = |hash: Option<&str>| {
        hash.map(|h| format!("sha256 = \"{h}\"\n"))
            .unwrap_or_default()
    };
    let kube_binaries: String = KUBE_BINARIES
        .iter()
        .map(|b| format!("{b} = [\"kubernetes/server/kubernetes-server-linux-amd64.tar.gz\", \"kubernetes/server/bin/{b}\"]\n"))
        .collect();
    format!(
        r#"[kubernetes."1.1.4"]
file = "{KUBE_FILE}"
url = "{upstream}/{KUBE_FILE}"
{kpin}
[kubernetes."1.1.4".binaries]
{kube_binaries}
[flannel."0.5.5"]
file = "{FLANNEL_FILE}"
url = "{upstream}/{FLANNEL_FILE}"
{fpin}
[flannel."0.5.5".binaries]
flanneld = ["flannel-0.5.5/flanneld"]

[etcd."2.2.1"]
file = "{ETCD_FILE}"
url = "{upstream}/{ETCD_FILE}"
api = "v2"
{epin}
[etcd."2.2.1".binaries]
etcd = ["etcd-v2.2.1-linux-amd64/etcd"]
etcdctl = ["etcd-v2.2.1-linux-amd64/etcdctl"]
"#,
        kpin = pin(kubernetes),
        fpin = pin(flannel),
        epin = pin(etcd),
    )
}

/// How the test server misbehaves on a route.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Serve the file, honouring Range requests.
    None,
    /// The first `times` responses announce the full length, send `bytes` body bytes, and drop the connection.
    CutAfter { bytes: usize, times: usize },
    /// The first response is cut after `bytes`; every later request gets 503.
    CutThenFail { bytes: usize },
    /// Always send the whole file with 200, whatever the Range header says.
    IgnoreRange,
    /// Answer with this status and no file.
    Status(u16),
}

/// One request the server saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
}

struct Route {
    body: Vec<u8>,
    fault: Fault,
    served: usize,
}

/// A loopback HTTP/1.1 server, one thread per connection, stopped on drop.
pub struct TestServer {
    pub base: String,
    addr: std::net::SocketAddr,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (routes, seen, stop) = (routes.clone(), seen.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (routes, seen) = (routes.clone(), seen.clone());
                    std::thread::spawn(move || {
                        let _ = handle(stream, &routes, &seen);
                    });
                }
            })
        };
        TestServer {
            base: format!("http://{addr}"),
            addr,
            routes,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Serve `body` at `path` (like "/mirror/kubernetes.tar.gz") with `fault`.
    pub fn route(&self, path: &str, body: &[u8], fault: Fault) {
        self.routes.lock().unwrap().insert(
            path.to_string(),
            Route {
                body: body.to_vec(),
                fault,
                served: 0,
            },
        );
    }

    /// Serve the three seed tarballs under `prefix` (like "/mirror").
    pub fn serve_seed(&self, prefix: &str, tarballs: &SeedTarballs) {
        for (name, bytes) in tarballs.files() {
            self.route(&format!("{prefix}/{name}"), bytes, Fault::None);
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn requests_for(&self, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.path == path)
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn handle(
    stream: TcpStream,
    routes: &Mutex<HashMap<String, Route>>,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let mut out = stream;
    let (status, headers, body, cut) = {
        let mut routes = routes.lock().unwrap();
        match routes.get_mut(&path) {
            None => (404, String::new(), b"not found\n".to_vec(), None),
            Some(route) => {
                route.served += 1;
                respond(route, range.as_deref())
            }
        }
    };
    seen.lock().unwrap().push(Seen {
        path,
        range,
        status,
    });
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        503 => "Service Unavailable",
        _ => "Status",
    };
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )?;
    match cut {
        Some(bytes) => {
            out.write_all(&body[..bytes.min(body.len())])?;
            out.flush()?;
            out.shutdown(Shutdown::Both)?;
        }
        None => {
            out.write_all(&body)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// (status, extra headers, body, cut after this many body bytes).
fn respond(route: &Route, range: Option<&str>) -> (u16, String, Vec<u8>, Option<usize>) {
    let len = route.body.len();
    match route.fault {
        Fault::Status(code) => {
            return (
                code,
                String::new(),
                format!("status {code}\n").into_bytes(),
                None,
            )
        }
        Fault::CutThenFail { .. } if route.served > 1 => {
            return (503, String::new(), b"gone\n".to_vec(), None);
        }
        Fault::IgnoreRange => return (200, String::new(), route.body.clone(), None),
        _ => {}
    }
    let start = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse::<usize>().ok());
    let (status, headers, body) = match start {
        Some(start) if start >= len => {
            return (
                416,
                format!("Content-Range: bytes */{len}\r\n"),
                Vec::new(),
                None,
            );
        }
        Some(start) => (
            206,
            format!(
                "Content-Range: bytes {start}-{}/{len}\r\nAccept-Ranges: bytes\r\n",
                len - 1
            ),
            route.body[start..].to_vec(),
        ),
        None => (
            200,
            "Accept-Ranges: bytes\r\n".to_string(),
            route.body.clone(),
        ),
    };
    let cut = match route.fault {
        Fault::CutAfter { bytes, times } if route.served <= times => Some(bytes),
        Fault::CutThenFail { bytes } => Some(bytes),
        _ => None,
    };
    (status, headers, body, cut)
}

/// Every release binary the built-in catalog names for `config`'s versions, each played by
/// `program` (a small real ELF such as Debian's /bin/true).
pub fn catalog_binaries_as(
    config: &kubedeb::config::Config,
    program: &Path,
) -> std::collections::BTreeMap<String, std::path::PathBuf> {
    let catalog = kubedeb::catalog::Catalog::load(None).expect("the built-in catalog");
    kubedeb::packages::expected_binaries(Path::new("cache"), config, &catalog)
        .expect("the config's versions are in the catalog")
        .into_keys()
        .map(|name| (name, program.to_path_buf()))
        .collect()
}
