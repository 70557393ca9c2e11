//! The `kubedeb-docker-api` binary against a fake Docker socket that records what it receives.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use crate::harness::bin::DOCKER_API as BIN;
/// Bounds every blocking step, so a proxy that keeps a connection open fails the test
/// instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A request line or status line, its headers and its Content-Length body.
#[derive(Debug)]
struct Message {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What the fake Docker saw.
#[derive(Debug)]
enum Seen {
    Request(Message),
    Closed { served: usize },
}

/// None if the peer closed before a message began.
fn read_message(r: &mut impl BufRead) -> Option<Message> {
    let mut line = String::new();
    if r.read_line(&mut line).expect("read a start line") == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("read a header line");
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').expect("header with a colon");
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut message = Message {
        line: line.trim_end().to_string(),
        headers,
        body: Vec::new(),
    };
    if let Some(len) = message.header("content-length").first() {
        message.body = vec![0; len.parse().unwrap()];
        r.read_exact(&mut message.body).expect("read the body");
    }
    Some(message)
}

/// Serves `path` like Docker's HTTP server: keep-alive unless the request says
/// `Connection: close`, and `/exec/*/start` hijacked into an echo stream that says
/// "bye" once the client half-closes.
fn fake_docker(path: &Path) -> Receiver<Seen> {
    let listener = UnixListener::bind(path).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let tx = tx.clone();
            std::thread::spawn(move || serve_docker(conn.unwrap(), &tx));
        }
    });
    rx
}

fn serve_docker(conn: UnixStream, tx: &Sender<Seen>) {
    conn.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut reader = BufReader::new(&conn);
    let mut served = 0;
    while let Some(request) = read_message(&mut reader) {
        served += 1;
        let close = request.header("connection").contains(&"close");
        let exec = request.line.contains("/exec/");
        tx.send(Seen::Request(request)).unwrap();
        if exec {
            (&conn)
                .write_all(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
                .unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 {
                (&conn).write_all(line.as_bytes()).unwrap();
                line.clear();
            }
            (&conn).write_all(b"bye\n").unwrap();
            break;
        }
        (&conn)
            .write_all(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"Id\":\"abc\"}")
            .unwrap();
        if close {
            break;
        }
    }
    tx.send(Seen::Closed { served }).unwrap();
}

fn next(seen: &Receiver<Seen>) -> Seen {
    seen.recv_timeout(IO_TIMEOUT)
        .expect("the fake Docker saw nothing")
}

/// The proxy binary, killed when dropped.
struct Proxy {
    child: Child,
    listen: PathBuf,
}

impl Proxy {
    fn start(listen: &Path, docker: &Path) -> Proxy {
        let child = Command::new(BIN)
            .arg("--listen")
            .arg(listen)
            .arg(format!("--docker={}", docker.display()))
            .args(["--api-version", "1.21"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut proxy = Proxy {
            child,
            listen: listen.to_path_buf(),
        };
        let deadline = Instant::now() + IO_TIMEOUT;
        while UnixStream::connect(listen).is_err() {
            if let Some(status) = proxy.child.try_wait().unwrap() {
                let mut err = String::new();
                proxy
                    .child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("proxy exited with {status}: {err}");
            }
            assert!(Instant::now() < deadline, "proxy socket never came up");
            std::thread::sleep(Duration::from_millis(5));
        }
        proxy
    }

    fn connect(&self) -> UnixStream {
        let conn = UnixStream::connect(&self.listen).unwrap();
        conn.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        conn.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        conn
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temp dir with a fake Docker socket in it and the proxy in front of it.
fn setup() -> (tempfile::TempDir, Receiver<Seen>, Proxy) {
    let dir = tempfile::tempdir().unwrap();
    let seen = fake_docker(&dir.path().join("docker.sock"));
    let proxy = Proxy::start(
        &dir.path().join("api.sock"),
        &dir.path().join("docker.sock"),
    );
    (dir, seen, proxy)
}

#[test]
fn unversioned_create_arrives_versioned_with_body_and_connection_close() {
    let (_dir, seen, proxy) = setup();
    let body = r#"{"Image":"pause","Cmd":null}"#;
    let mut conn = proxy.connect();
    write!(
        conn,
        "POST /containers/create?name=x HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 201 Created\r\n"));
    assert!(response.ends_with(b"{\"Id\":\"abc\"}"));

    let Seen::Request(request) = next(&seen) else {
        panic!("no request")
    };
    assert_eq!(
        request.line,
        "POST /v1.21/containers/create?name=x HTTP/1.1"
    );
    assert_eq!(request.body, body.as_bytes());
    assert_eq!(request.header("connection"), ["close"]);
    assert_eq!(request.header("content-type"), ["application/json"]);
    assert_eq!(request.header("host"), ["docker"]);
}

#[test]
fn keep_alive_client_gets_one_answer_then_the_connection_closes() {
    let (_dir, seen, proxy) = setup();
    let conn = proxy.connect();
    let mut reader = BufReader::new(&conn);
    (&conn)
        .write_all(
            b"GET /containers/json HTTP/1.1\r\nHost: docker\r\nConnection: keep-alive\r\n\r\n",
        )
        .unwrap();
    let response = read_message(&mut reader).expect("a response");
    assert_eq!(response.line, "HTTP/1.1 201 Created");

    // A second request on the same connection must not reach Docker unrewritten.
    let _ = (&conn).write_all(b"GET /containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n\r\n");
    let mut rest = Vec::new();
    match reader.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest)),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }

    let Seen::Request(first) = next(&seen) else {
        panic!("no request")
    };
    assert_eq!(first.line, "GET /v1.21/containers/json HTTP/1.1");
    assert_eq!(first.header("connection"), ["close"]);
    assert!(matches!(next(&seen), Seen::Closed { served: 1 }));
}

#[test]
fn hijacked_exec_start_streams_both_ways() {
    let (_dir, seen, proxy) = setup();
    let conn = proxy.connect();
    let mut reader = BufReader::new(&conn);
    let body = r#"{"Detach":false,"Tty":true}"#;
    write!(
        &conn,
        "POST /exec/abc/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let response = read_message(&mut reader).expect("a response");
    assert_eq!(response.line, "HTTP/1.1 101 UPGRADED");

    (&conn).write_all(b"ping\n").unwrap();
    let mut echo = String::new();
    reader.read_line(&mut echo).unwrap();
    assert_eq!(echo, "ping\n");
    // Our end of stdin must reach Docker while its output keeps coming.
    conn.shutdown(Shutdown::Write).unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "bye\n");

    let Seen::Request(request) = next(&seen) else {
        panic!("no request")
    };
    assert_eq!(request.line, "POST /v1.21/exec/abc/start HTTP/1.1");
    assert_eq!(request.header("connection"), ["Upgrade"]);
    assert_eq!(request.header("upgrade"), ["tcp"]);
    assert_eq!(request.body, body.as_bytes());
}

#[test]
fn socket_is_0600_in_a_created_0755_dir_and_a_stale_one_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let listen = dir.path().join("run/kubedeb/docker-api.sock");
    let docker = dir.path().join("docker.sock");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;

    let first = Proxy::start(&listen, &docker);
    assert!(std::fs::metadata(&listen).unwrap().file_type().is_socket());
    assert_eq!(mode(&listen), 0o600);
    assert_eq!(mode(listen.parent().unwrap()), 0o755);
    drop(first); // SIGKILL: the socket file stays behind, stale.

    assert!(listen.exists());
    let _second = Proxy::start(&listen, &docker);
    assert_eq!(mode(&listen), 0o600);
}

#[test]
fn missing_docker_socket_gives_502_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let docker = dir.path().join("no-docker.sock");
    let proxy = Proxy::start(&dir.path().join("api.sock"), &docker);
    let conn = proxy.connect();
    (&conn)
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        .unwrap();
    let response = read_message(&mut BufReader::new(&conn)).expect("a response");
    assert_eq!(response.line, "HTTP/1.1 502 Bad Gateway");
    let body = String::from_utf8(response.body).unwrap();
    assert!(body.contains(&docker.display().to_string()), "{body}");
    assert_eq!(body.lines().count(), 1, "{body}");
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    let out = Command::new(BIN)
        .arg("--api-version=latest")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--api-version \"latest\""), "{err}");
    assert!(err.contains("usage: kubedeb-docker-api"), "{err}");
}
