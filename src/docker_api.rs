//! A local Unix-socket proxy that pins kubelet's unversioned Docker API requests to one API version.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where kubelet is pointed with `--docker-endpoint=unix://...`.
pub const DEFAULT_LISTEN: &str = "/run/kubedeb/docker-api.sock";
/// The Docker daemon's own socket.
pub const DEFAULT_DOCKER: &str = "/var/run/docker.sock";
/// The newest API that still accepts kubelet 1.1.4's request shapes (e.g. a body on `start`).
pub const DEFAULT_API_VERSION: &str = "1.21";
/// Largest request head (request line and headers, blank line included) accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Connections handled at once; more are accepted and closed at once.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(60);

const NAME: &str = "kubedeb-docker-api";
const USAGE: &str = "usage: kubedeb-docker-api [--listen PATH] [--docker PATH] [--api-version X.Y]";

/// The proxy's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Unix socket clients connect to.
    pub listen: PathBuf,
    /// Docker's Unix socket.
    pub docker: PathBuf,
    /// The version put in front of unversioned paths, e.g. `1.21`.
    pub api_version: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: PathBuf::from(DEFAULT_LISTEN),
            docker: PathBuf::from(DEFAULT_DOCKER),
            api_version: DEFAULT_API_VERSION.to_string(),
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Run(Config),
    Help,
}

/// Parses the arguments after the program name; the error names the problem.
pub fn parse_args<I, S>(args: I) -> Result<Invocation, String>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut config = Config::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not valid UTF-8"))?;
        if arg == "-h" || arg == "--help" {
            return Ok(Invocation::Help);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let flag: &'static str = match flag.as_str() {
            "--listen" => "--listen",
            "--docker" => "--docker",
            "--api-version" => "--api-version",
            _ if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ => return Err(format!("unexpected argument {arg:?}")),
        };
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .into_string()
                .map_err(|v| format!("{flag} value {v:?} is not valid UTF-8"))?,
        };
        if seen.contains(&flag) {
            // Silently taking the last of two would hide a mistake in the unit file.
            return Err(format!("{flag} given twice"));
        }
        seen.push(flag);
        if value.is_empty() {
            return Err(format!("{flag} needs a non-empty value"));
        }
        match flag {
            "--listen" => config.listen = PathBuf::from(value),
            "--docker" => config.docker = PathBuf::from(value),
            _ => {
                if !is_api_version(value.as_bytes()) {
                    return Err(format!(
                        "--api-version {value:?} is not of the form X.Y (e.g. 1.21)"
                    ));
                }
                config.api_version = value;
            }
        }
    }
    if config.listen == config.docker {
        return Err("--listen and --docker name the same socket".to_string());
    }
    Ok(Invocation::Run(config))
}

/// The command's entry: parses `args` (without the program name), then serves until killed.
pub fn run<I, S>(args: I) -> ExitCode
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let config = match parse_args(args) {
        Ok(Invocation::Run(config)) => config,
        Ok(Invocation::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("{NAME}: {problem}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match bind(&config.listen) {
        Ok(listener) => listener,
        Err(e) => {
            log(format_args!(
                "cannot listen on {}: {e}",
                config.listen.display()
            ));
            return ExitCode::FAILURE;
        }
    };
    log(format_args!(
        "listening on {}, forwarding to {} as API v{}",
        config.listen.display(),
        config.docker.display(),
        config.api_version
    ));
    serve(listener, Arc::new(config));
    ExitCode::FAILURE
}

fn log(message: fmt::Arguments<'_>) {
    eprintln!("{NAME}: {message}");
}

/// Binds `path` as a 0600 socket, replacing a stale socket file left by an earlier run.
fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
            // The mode given to mkdir is cut by the umask; the unit's umask must not decide this.
            fs::set_permissions(parent, fs::Permissions::from_mode(0o755))?;
        }
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process is listening on it",
                ));
            }
            fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it exists and is not a socket; not removing it",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // Without the umask the socket would be reachable by others between bind and chmod,
    // and whoever reaches it reaches Docker, i.e. root.
    let previous = set_umask(0o177);
    let bound = UnixListener::bind(path);
    set_umask(previous);
    let listener = bound?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

#[cfg(target_os = "linux")]
type ModeT = u32;
#[cfg(not(target_os = "linux"))]
type ModeT = u16;

extern "C" {
    fn umask(mask: ModeT) -> ModeT;
}

fn set_umask(mask: ModeT) -> ModeT {
    // SAFETY: umask(2) cannot fail and touches no memory. It is process-wide; it is only
    // called from `bind`, before any connection thread exists.
    unsafe { umask(mask) }
}

fn serve(listener: UnixListener, config: Arc<Config>) {
    let active = Arc::new(AtomicUsize::new(0));
    let overloaded = AtomicBool::new(false);
    for conn in listener.incoming() {
        let client = match conn {
            Ok(client) => client,
            Err(e) => {
                log(format_args!("accept failed: {e}"));
                // Out of descriptors repeats immediately; back off instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            // One line per overload episode, so a flood does not flood the journal too.
            if !overloaded.swap(true, Ordering::SeqCst) {
                log(format_args!(
                    "{MAX_CONNECTIONS} connections open; closing new ones until some end"
                ));
            }
            drop(client);
            continue;
        }
        overloaded.store(false, Ordering::SeqCst);
        let slot = Slot(Arc::clone(&active));
        let config = Arc::clone(&config);
        let spawned = std::thread::Builder::new()
            .name("docker-api-conn".to_string())
            .spawn(move || {
                let _slot = slot;
                handle(client, &config);
            });
        if let Err(e) = spawned {
            log(format_args!("cannot start a connection thread: {e}"));
        }
    }
}

/// Frees its connection slot when dropped, also if the connection thread panics.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a request head was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// Larger than [`MAX_HEAD`].
    TooLarge,
    /// Not an HTTP/1 request head; the text says what is wrong.
    Malformed(&'static str),
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::TooLarge => write!(f, "request head larger than {MAX_HEAD} bytes"),
            HeadError::Malformed(why) => write!(f, "malformed request head: {why}"),
        }
    }
}

/// A rewritten request head, ready for Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// Request line and headers with CRLF line ends, ending in the blank line.
    pub head: Vec<u8>,
    /// The request asked to switch protocols (`Upgrade:`), so its stream is hijacked afterwards.
    pub upgrade: bool,
}

/// Where the head in `buf` ends (just past its blank line), if it is complete.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    let mut seen_request_line = false;
    while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + nl];
        start += nl + 1;
        let empty = line.is_empty() || line == b"\r";
        if empty && seen_request_line {
            return Some(start);
        }
        seen_request_line |= !empty;
    }
    None
}

/// Rewrites one complete request head (as delimited by [`find_head_end`]): an unversioned
/// target gets `/v<api_version>` in front, and unless the request upgrades, its
/// `Connection` header becomes `Connection: close`, so that Docker ends the connection after
/// one response and every request a client sends arrives on a fresh connection, rewritten.
pub fn rewrite_head(head: &[u8], api_version: &str) -> Result<Rewritten, HeadError> {
    if head.len() > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    // Without the final LF, splitting would yield a spurious empty last line that looks
    // like the blank line ending the head.
    let head = head
        .strip_suffix(b"\n")
        .ok_or(HeadError::Malformed("head does not end with a blank line"))?;
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        // RFC 9112 2.2: a server should ignore empty lines before the request line.
        .skip_while(|line| line.is_empty());
    let request_line = lines
        .next()
        .ok_or(HeadError::Malformed("no request line"))?;
    let RequestLine {
        method,
        target,
        version,
    } = split_request_line(request_line)?;

    let mut headers: Vec<&[u8]> = Vec::new();
    let mut terminated = false;
    for line in lines.by_ref() {
        if line.is_empty() {
            terminated = true;
            break;
        }
        check_header_line(line)?;
        headers.push(line);
    }
    if !terminated || lines.next().is_some() {
        return Err(HeadError::Malformed(
            "head does not end with one blank line",
        ));
    }

    let upgrade = headers.iter().any(|h| header_is(h, b"upgrade"));
    let mut out = Vec::with_capacity(head.len() + api_version.len() + 32);
    out.extend_from_slice(method);
    out.push(b' ');
    if !is_versioned(target) {
        out.extend_from_slice(b"/v");
        out.extend_from_slice(api_version.as_bytes());
    }
    out.extend_from_slice(target);
    out.push(b' ');
    out.extend_from_slice(version);
    out.extend_from_slice(b"\r\n");
    for header in headers {
        // Keep-Alive only means something next to the Connection header that is replaced.
        if !upgrade && (header_is(header, b"connection") || header_is(header, b"keep-alive")) {
            continue;
        }
        out.extend_from_slice(header);
        out.extend_from_slice(b"\r\n");
    }
    if !upgrade {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Rewritten { head: out, upgrade })
}

struct RequestLine<'a> {
    method: &'a [u8],
    target: &'a [u8],
    version: &'a [u8],
}

fn split_request_line(line: &[u8]) -> Result<RequestLine<'_>, HeadError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed(
            "request line is not METHOD TARGET VERSION",
        ));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(HeadError::Malformed("bad method"));
    }
    // Docker's clients send origin-form targets; anything else is not for this proxy.
    if target.first() != Some(&b'/') || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(HeadError::Malformed("target is not an absolute path"));
    }
    let ok_version =
        matches!(version, [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit());
    if !ok_version {
        return Err(HeadError::Malformed("not HTTP/1.x"));
    }
    Ok(RequestLine {
        method,
        target,
        version,
    })
}

fn check_header_line(line: &[u8]) -> Result<(), HeadError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HeadError::Malformed("header line without a colon"))?;
    let name = &line[..colon];
    // Also refuses obsolete line folding (a leading space) and a space before the colon,
    // both of which RFC 9112 says a server must reject rather than guess at.
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(HeadError::Malformed("bad header name"));
    }
    if line[colon + 1..].iter().any(|&b| b == b'\r' || b == 0) {
        return Err(HeadError::Malformed("control character in a header value"));
    }
    Ok(())
}

fn header_is(line: &[u8], lower_name: &[u8]) -> bool {
    line.len() > lower_name.len()
        && line[lower_name.len()] == b':'
        && line[..lower_name.len()].eq_ignore_ascii_case(lower_name)
}

/// `/v<digits>.<digits>/...`: the client already chose a version.
fn is_versioned(target: &[u8]) -> bool {
    let Some(rest) = target.strip_prefix(b"/v") else {
        return false;
    };
    let path_end = rest.iter().position(|&b| b == b'?').unwrap_or(rest.len());
    match rest[..path_end].iter().position(|&b| b == b'/') {
        Some(slash) => is_api_version(&rest[..slash]),
        None => false,
    }
}

fn is_api_version(s: &[u8]) -> bool {
    let mut parts = s.split(|&b| b == b'.');
    let (Some(major), Some(minor), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    [major, minor]
        .iter()
        .all(|p| !p.is_empty() && p.len() <= 4 && p.iter().all(u8::is_ascii_digit))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Why no head could be read from a client.
#[derive(Debug)]
pub enum ReadHeadError {
    /// The client closed before sending anything: a probe, not an error.
    Closed,
    /// The client closed in the middle of the head.
    Truncated,
    /// More than [`MAX_HEAD`] bytes without the blank line.
    TooLarge,
    /// The read timeout passed.
    TimedOut,
    Io(io::Error),
}

/// Reads until the end of the request head; returns the head and any bytes read past it
/// (the start of the body), which belong to Docker too.
pub fn read_head<R: Read>(reader: &mut R) -> Result<(Vec<u8>, Vec<u8>), ReadHeadError> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let mut scanned: usize = 0;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err(ReadHeadError::Closed),
            Ok(0) => return Err(ReadHeadError::Truncated),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ReadHeadError::TimedOut)
            }
            Err(e) => return Err(ReadHeadError::Io(e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        // Rescan a little before the new bytes, as a CRLF CRLF may straddle two reads;
        // scanning from the start every time would make a slow client quadratic.
        let from = scanned.saturating_sub(3);
        let found = find_head_end_from(&buf, from);
        if let Some(end) = found {
            if end > MAX_HEAD {
                return Err(ReadHeadError::TooLarge);
            }
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() >= MAX_HEAD {
            return Err(ReadHeadError::TooLarge);
        }
        scanned = buf.len();
    }
}

fn find_head_end_from(buf: &[u8], from: usize) -> Option<usize> {
    // A head starting with blank lines is rare enough to rescan in full.
    let leading_blank = buf.first().is_some_and(|&b| b == b'\r' || b == b'\n');
    if from == 0 || leading_blank {
        return find_head_end(buf);
    }
    let window = &buf[from..];
    let mut i = 0;
    while let Some(nl) = window[i..].iter().position(|&b| b == b'\n') {
        let at = from + i + nl;
        let blank = (at >= 1 && buf[at - 1] == b'\n')
            || (at >= 2 && buf[at - 1] == b'\r' && buf[at - 2] == b'\n');
        if blank {
            return Some(at + 1);
        }
        i += nl + 1;
    }
    None
}

fn handle(mut client: UnixStream, config: &Config) {
    if let Err(e) = client.set_read_timeout(Some(HEAD_TIMEOUT)) {
        log(format_args!("cannot set the head timeout: {e}"));
        return;
    }
    let (head, rest) = match read_head(&mut client) {
        Ok(read) => read,
        Err(ReadHeadError::Closed) => return,
        Err(ReadHeadError::Truncated) => {
            log(format_args!(
                "client closed in the middle of a request head"
            ));
            return;
        }
        Err(ReadHeadError::TooLarge) => {
            let e = HeadError::TooLarge;
            log(format_args!("refused: {e}"));
            refuse(
                client,
                "431 Request Header Fields Too Large",
                &e.to_string(),
            );
            return;
        }
        Err(ReadHeadError::TimedOut) => {
            log(format_args!(
                "no complete request head within {}s",
                HEAD_TIMEOUT.as_secs()
            ));
            refuse(
                client,
                "408 Request Timeout",
                "request head not received in time",
            );
            return;
        }
        Err(ReadHeadError::Io(e)) => {
            log(format_args!("reading a request head: {e}"));
            return;
        }
    };
    let rewritten = match rewrite_head(&head, &config.api_version) {
        Ok(rewritten) => rewritten,
        Err(e) => {
            let status = match e {
                HeadError::TooLarge => "431 Request Header Fields Too Large",
                HeadError::Malformed(_) => "400 Bad Request",
            };
            log(format_args!("refused: {e}"));
            refuse(client, status, &e.to_string());
            return;
        }
    };
    let mut docker = match UnixStream::connect(&config.docker) {
        Ok(docker) => docker,
        Err(e) => {
            let why = format!(
                "cannot connect to Docker at {}: {e}",
                config.docker.display()
            );
            log(format_args!("{why}"));
            refuse(client, "502 Bad Gateway", &why);
            return;
        }
    };
    // Streams such as `logs -f` and exec sessions stay quiet for as long as they like.
    if let Err(e) = client.set_read_timeout(None) {
        log(format_args!("cannot clear the head timeout: {e}"));
        return;
    }
    let sent = docker
        .write_all(&rewritten.head)
        .and_then(|()| docker.write_all(&rest));
    if let Err(e) = sent {
        log(format_args!("writing the request to Docker: {e}"));
        return;
    }
    relay(client, docker, rewritten.upgrade);
}

/// Copies both ways until both directions are done.
fn relay(client: UnixStream, docker: UnixStream, upgrade: bool) {
    let result: io::Result<()> = std::thread::scope(|s| {
        let back = std::thread::Builder::new()
            .name("docker-api-back".to_string())
            .spawn_scoped(s, || {
                pump(&docker, &client);
                if !upgrade {
                    // Docker closed after its one response (we asked it to); whatever the
                    // client still sends cannot be answered, and waiting for it would pin
                    // this connection to a keep-alive client that never closes.
                    let _ = client.shutdown(Shutdown::Both);
                }
            });
        let _back = back?;
        pump(&client, &docker);
        Ok(())
    });
    if let Err(e) = result {
        log(format_args!("cannot start a relay thread: {e}"));
    }
}

/// Copies `from` into `to` until EOF or an error, then passes the end on: a half-close
/// from one side becomes a half-close towards the other (exec stdin ends, output goes on).
fn pump(mut from: &UnixStream, mut to: &UnixStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A reset reads as an end: the other direction still deserves its half-close.
            Err(_) => break,
        };
        if to.write_all(&buf[..n]).is_err() {
            // Nobody reads any more; stop the sender instead of letting it fill a buffer.
            let _ = from.shutdown(Shutdown::Read);
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Answers with an error status and a one-line body, then closes.
fn refuse(mut client: UnixStream, status: &str, why: &str) {
    let body = format!("{NAME}: {why}\n");
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.set_write_timeout(Some(Duration::from_secs(10)));
    if client.write_all(response.as_bytes()).is_err() {
        return;
    }
    let _ = client.shutdown(Shutdown::Write);
    // Closing with unread request bytes can reset the connection before the client reads
    // the answer; drain a bounded amount first.
    let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = io::copy(&mut (&client).take(1 << 20), &mut io::sink());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(head: &str) -> Result<String, HeadError> {
        rewrite_head(head.as_bytes(), "1.21").map(|r| String::from_utf8(r.head).unwrap())
    }

    #[test]
    fn unversioned_path_gets_version_and_query_string_stays() {
        let out = rewrite("POST /containers/create?name=x&y=%2F HTTP/1.1\r\nHost: docker\r\n\r\n")
            .unwrap();
        assert_eq!(
            out,
            "POST /v1.21/containers/create?name=x&y=%2F HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn versioned_paths_are_untouched() {
        for target in [
            "/v1.21/containers/json",
            "/v1.41/version?x=1",
            "/v10.0/_ping",
        ] {
            let out = rewrite(&format!("GET {target} HTTP/1.1\r\n\r\n")).unwrap();
            assert!(
                out.starts_with(&format!("GET {target} HTTP/1.1\r\n")),
                "{out}"
            );
        }
    }

    #[test]
    fn version_like_paths_that_are_not_versions_are_prefixed() {
        for target in [
            "/v1.21",
            "/v1/containers/json",
            "/v1.x/y",
            "/version",
            "/_ping",
            "/v1.21?x=/",
        ] {
            let out = rewrite(&format!("GET {target} HTTP/1.1\r\n\r\n")).unwrap();
            assert!(
                out.starts_with(&format!("GET /v1.21{target} HTTP/1.1\r\n")),
                "{out}"
            );
        }
    }

    #[test]
    fn connection_header_is_replaced_by_close() {
        let out = rewrite(
            "GET /containers/json HTTP/1.1\r\nHost: docker\r\nconnection: keep-alive\r\nKeep-Alive: timeout=5\r\nAccept: */*\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            out,
            "GET /v1.21/containers/json HTTP/1.1\r\nHost: docker\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn upgrade_requests_keep_their_headers() {
        let head = "POST /exec/abc/start HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 2\r\n\r\n";
        let r = rewrite_head(head.as_bytes(), "1.21").unwrap();
        assert!(r.upgrade);
        assert_eq!(
            String::from_utf8(r.head).unwrap(),
            "POST /v1.21/exec/abc/start HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 2\r\n\r\n"
        );
    }

    #[test]
    fn bare_lf_lines_come_out_as_crlf() {
        let out = rewrite("\r\nGET /info HTTP/1.0\nHost: d\n\n").unwrap();
        assert_eq!(
            out,
            "GET /v1.21/info HTTP/1.0\r\nHost: d\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn header_limit() {
        let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(rewrite(&big), Err(HeadError::TooLarge));
        let mut unterminated =
            std::io::Cursor::new(format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD)));
        assert!(matches!(
            read_head(&mut unterminated),
            Err(ReadHeadError::TooLarge)
        ));
    }

    #[test]
    fn malformed_heads_are_refused() {
        for head in [
            "GET /containers/json\r\n\r\n",
            "GET  /containers/json HTTP/1.1\r\n\r\n",
            "GET containers/json HTTP/1.1\r\n\r\n",
            "GET http://docker/containers/json HTTP/1.1\r\n\r\n",
            "GET /x HTTP/2.0\r\n\r\n",
            "G(T /x HTTP/1.1\r\n\r\n",
            "GET /x HTTP/1.1\r\nNo colon here\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost : d\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: d\r\n folded\r\n\r\n",
            "GET /x HTTP/1.1\r\nX: a\rb\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: d\r\n",
            "",
        ] {
            assert!(
                matches!(rewrite(head), Err(HeadError::Malformed(_))),
                "{head:?}"
            );
        }
    }

    /// Hands out the given pieces one read at a time.
    struct Chunks(Vec<&'static [u8]>);

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let piece = self.0.remove(0);
            buf[..piece.len()].copy_from_slice(piece);
            Ok(piece.len())
        }
    }

    #[test]
    fn read_head_splits_head_from_body_across_reads() {
        let straddling = vec![&b"POST /x HTTP/1.1\r\nA: b\r\n\r"[..], b"\n{\"k\":1}"];
        let (head, rest) = read_head(&mut Chunks(straddling)).unwrap();
        assert_eq!(head, b"POST /x HTTP/1.1\r\nA: b\r\n\r\n");
        assert_eq!(rest, b"{\"k\":1}");

        let bytes: &'static [u8] = b"GET /x HTTP/1.1\nA: b\n\nbody";
        let one_by_one = bytes.chunks(1).collect();
        let (head, rest) = read_head(&mut Chunks(one_by_one)).unwrap();
        assert_eq!(head, b"GET /x HTTP/1.1\nA: b\n\n");
        assert_eq!(rest, b"");

        assert!(matches!(
            read_head(&mut Chunks(vec![])),
            Err(ReadHeadError::Closed)
        ));
        assert!(matches!(
            read_head(&mut Chunks(vec![b"GET / HT"])),
            Err(ReadHeadError::Truncated)
        ));
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse_args(Vec::<String>::new()),
            Ok(Invocation::Run(Config::default()))
        );
        let parsed = parse_args([
            "--listen=/tmp/a.sock",
            "--docker",
            "/tmp/d.sock",
            "--api-version",
            "1.24",
        ]);
        assert_eq!(
            parsed,
            Ok(Invocation::Run(Config {
                listen: "/tmp/a.sock".into(),
                docker: "/tmp/d.sock".into(),
                api_version: "1.24".into(),
            }))
        );
        for (bad, problem) in [
            (&["--api-version", "v1.21"][..], "X.Y"),
            (&["--listen"][..], "needs a value"),
            (&["--bogus"][..], "unknown option --bogus"),
            (&["extra"][..], "unexpected argument"),
            (&["--docker=/a", "--docker=/b"][..], "given twice"),
            (&["--listen=/a", "--docker=/a"][..], "same socket"),
        ] {
            let err = parse_args(bad.iter().copied()).unwrap_err();
            assert!(err.contains(problem), "{bad:?}: {err}");
        }
    }
}
