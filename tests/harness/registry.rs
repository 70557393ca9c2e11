//! Debian's `docker-registry` on loopback for tests (own config, port and storage; TLS and htpasswd when asked), filled with `skopeo copy`, and a bearer-token proxy in front of it.

use crate::harness::tools::{cannot_run, run};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (the registry binds it right after; nothing else here races for it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(addr: SocketAddr, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening on {addr}: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {addr} within 20 s");
}

/// A certificate authority and a server certificate for 127.0.0.1, made with openssl.
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A folder with ca.crt, for skopeo's --dest-cert-dir.
    pub cert_dir: PathBuf,
}

impl Tls {
    pub fn new(dir: &Path) -> Tls {
        let p = |n: &str| dir.join(n);
        std::fs::create_dir_all(dir).unwrap();
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=kubedeb test CA",
            ])
            .arg("-keyout")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.crt")));
        run(Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .arg("-keyout")
            .arg(p("server.key"))
            .arg("-out")
            .arg(p("server.csr")));
        std::fs::write(p("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(p("server.csr"))
            .arg("-CA")
            .arg(p("ca.crt"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .arg("-extfile")
            .arg(p("ext.cnf"))
            .arg("-out")
            .arg(p("server.crt")));
        let cert_dir = p("certs.d");
        std::fs::create_dir_all(&cert_dir).unwrap();
        std::fs::copy(p("ca.crt"), cert_dir.join("ca.crt")).unwrap();
        Tls {
            ca: p("ca.crt"),
            cert: p("server.crt"),
            key: p("server.key"),
            cert_dir,
        }
    }
}

/// How a test registry is set up.
#[derive(Default)]
pub struct Options<'a> {
    pub tls: Option<&'a Tls>,
    /// htpasswd (bcrypt) basic auth with this user and password.
    pub user: Option<(&'a str, &'a str)>,
}

/// A running `docker-registry serve`, killed and its storage removed on drop.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    pub addr: SocketAddr,
    user: Option<(String, String)>,
    cert_dir: Option<PathBuf>,
}

impl Registry {
    pub fn start(opts: Options) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        );
        if let Some(tls) = opts.tls {
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                tls.cert.display(),
                tls.key.display()
            );
        }
        if let Some((user, pass)) = opts.user {
            let out = run(Command::new("htpasswd").args(["-Bbn", user, pass]));
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, &out.stdout).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: kubedeb-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}", cannot_run(&cmd, &e)));
        wait_for(addr, &mut child, "docker-registry");
        Registry {
            child,
            dir,
            addr,
            user: opts.user.map(|(u, p)| (u.to_string(), p.to_string())),
            cert_dir: opts.tls.map(|t| t.cert_dir.clone()),
        }
    }

    /// `host:port`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// This registry as a plain-http `--registry-mirror` for every image.
    pub fn mirror(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Push the `docker save` archive at `archive` as `name` (`path:tag`) with skopeo.
    pub fn push(&self, archive: &Path, name: &str) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet"]);
        match &self.cert_dir {
            Some(dir) => {
                cmd.arg("--dest-cert-dir").arg(dir);
            }
            None => {
                cmd.arg("--dest-tls-verify=false");
            }
        }
        if let Some((user, pass)) = &self.user {
            cmd.arg("--dest-creds").arg(format!("{user}:{pass}"));
        }
        cmd.arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{}/{name}", self.host()));
        run(&mut cmd);
    }

    /// Push bytes of an archive (written to a temporary file first).
    pub fn push_bytes(&self, archive: &[u8], name: &str) {
        let file = self.dir.path().join("push.tar");
        std::fs::write(&file, archive).unwrap();
        self.push(&file, name);
        std::fs::remove_file(&file).unwrap();
    }

    /// Every blob the registry stores, with its size.
    pub fn blobs(&self) -> Vec<(PathBuf, u64)> {
        let root = self
            .dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256");
        let mut found = Vec::new();
        for prefix in std::fs::read_dir(&root).unwrap().flatten() {
            for blob in std::fs::read_dir(prefix.path()).unwrap().flatten() {
                let data = blob.path().join("data");
                let len = std::fs::metadata(&data).unwrap().len();
                found.push((data, len));
            }
        }
        found
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bearer-token proxy (tests/fixtures/registry_token_proxy.py) in front of a registry.
pub struct TokenProxy {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TokenProxy {
    /// Tokens are issued at /token for `user`:`pass` (basic auth) only.
    pub fn start(backend: &Registry, user: &str, pass: &str) -> TokenProxy {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.log");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry_token_proxy.py");
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(port.to_string())
            .arg(format!("http://{}", backend.host()))
            .arg(user)
            .arg(pass)
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}", cannot_run(&cmd, &e)));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_for(addr, &mut child, "the token proxy");
        // Its stderr is drained so that it never blocks on a full pipe.
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let _ = line;
            }
        });
        TokenProxy {
            child,
            addr,
            log,
            _dir: dir,
        }
    }

    /// The requests it saw: `METHOD path status [range]`, one a line.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TokenProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registry holding the tiny seed images (tests/harness/images.rs) as
/// `google_containers/<name>:<tag>`, for tests about something else than images: pass
/// `--registry-mirror` [`Registry::mirror`].
pub fn seed_registry() -> Registry {
    let registry = Registry::start(Options::default());
    for (role, reference) in crate::harness::images::SEED_IMAGES {
        let (config, layer) = crate::harness::images::tiny_image(role);
        registry.push_bytes(
            &crate::harness::images::archive_of(reference, &config, &layer),
            reference.strip_prefix("gcr.io/").unwrap(),
        );
    }
    registry
}
