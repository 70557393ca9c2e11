//! HTTP downloads into `<file>.part`, resumed with Range requests, with timeouts so a stalled source fails over.

use indicatif::{ProgressBar, ProgressStyle};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// Attempts on one source; a retry only happens after an attempt that made progress.
const MAX_ATTEMPTS: u32 = 10;

/// Two agents: one honouring the proxy environment, one direct for loopback and NO_PROXY hosts
/// (ureq 2 reads HTTP(S)_PROXY but not NO_PROXY).
pub(crate) struct Http {
    proxied: ureq::Agent,
    direct: ureq::Agent,
    no_proxy: Vec<String>,
    /// fetch.timeout, for connecting and for each read: a silent source fails this soon.
    timeout: Duration,
}

impl Http {
    pub fn new(timeout: Duration) -> Http {
        let builder = || {
            ureq::AgentBuilder::new()
                .timeout_connect(timeout)
                .timeout_read(timeout)
                .user_agent(concat!("kubedeb/", env!("CARGO_PKG_VERSION")))
        };
        let no_proxy = std::env::var("NO_PROXY")
            .or_else(|_| std::env::var("no_proxy"))
            .unwrap_or_default()
            .split(',')
            .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        Http {
            proxied: builder().try_proxy_from_env(true).build(),
            direct: builder().build(),
            no_proxy,
            timeout,
        }
    }

    /// GET a small file (an index, a signature) into memory, refusing more than `max` bytes.
    /// An error is a sentence for the user; a missing file's starts with "HTTP 404".
    pub fn get_small(&self, url: &str, max: u64) -> Result<Vec<u8>, String> {
        let response = match self.agent_for(url).get(url).call() {
            Ok(response) => response,
            Err(ureq::Error::Status(code, response)) => {
                return Err(format!("HTTP {code} {}", response.status_text()))
            }
            Err(ureq::Error::Transport(e)) => return Err(transport_cause(&e, self.timeout)),
        };
        if let Some(len) = response
            .header("Content-Length")
            .and_then(|l| l.parse::<u64>().ok())
        {
            if len > max {
                return Err(format!("it is {len} bytes, more than the {max} allowed"));
            }
        }
        let mut body = Vec::new();
        response
            .into_reader()
            .take(max + 1)
            .read_to_end(&mut body)
            .map_err(|e| {
                if timed_out(&e) {
                    stalled(self.timeout)
                } else {
                    format!("the transfer broke off: {e}")
                }
            })?;
        if body.len() as u64 > max {
            return Err(format!("it is more than the {max} bytes allowed"));
        }
        Ok(body)
    }

    fn agent_for(&self, url: &str) -> &ureq::Agent {
        let host = url
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
            .unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let host = if host.starts_with('[') {
            host.split(']')
                .next()
                .unwrap_or(host)
                .trim_start_matches('[')
        } else {
            host.split(':').next().unwrap_or(host)
        }
        .to_ascii_lowercase();
        let loopback = host == "localhost" || host.starts_with("127.") || host == "::1";
        let excluded = self
            .no_proxy
            .iter()
            .any(|n| n == "*" || host == *n || host.ends_with(&format!(".{n}")));
        if loopback || excluded {
            &self.direct
        } else {
            &self.proxied
        }
    }
}

/// What a finished download looked like.
pub(crate) struct Downloaded {
    /// Bytes already in `.part` before this call (from an interrupted earlier run).
    pub resumed_from: u64,
}

/// Download `url` into `part`, continuing what is already there. An error is a sentence for the user.
/// `say` reports resumed transfers (progress bars are hidden when stderr is not a terminal).
pub(crate) fn download(
    http: &Http,
    url: &str,
    part: &Path,
    max: u64,
    bar: &ProgressBar,
    say: &dyn Fn(String),
) -> Result<Downloaded, String> {
    let agent = http.agent_for(url);
    let resumed_from = file_len(part);
    let mut attempts = 0;
    let mut restarted = false;
    loop {
        attempts += 1;
        let have = file_len(part);
        let mut request = agent.get(url).set("Accept-Encoding", "identity");
        if have > 0 {
            request = request.set("Range", &format!("bytes={have}-"));
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(ureq::Error::Status(416, _)) if have > 0 && !restarted => {
                // What we hold is not a prefix of what is served now; start over.
                restarted = true;
                remove(part)?;
                continue;
            }
            Err(ureq::Error::Status(code, response)) => {
                return Err(format!("HTTP {code} {}", response.status_text()));
            }
            Err(ureq::Error::Transport(e)) => return Err(transport_cause(&e, http.timeout)),
        };
        let (mut out, start) = match response.status() {
            206 => {
                let range_start = response
                    .header("Content-Range")
                    .and_then(|r| r.strip_prefix("bytes "))
                    .and_then(|r| r.split('-').next())
                    .and_then(|s| s.trim().parse::<u64>().ok());
                if range_start != Some(have) {
                    if restarted {
                        return Err(format!(
                            "the server answered a Range request for byte {have} with {:?}",
                            response.header("Content-Range")
                        ));
                    }
                    restarted = true;
                    remove(part)?;
                    continue;
                }
                let out = OpenOptions::new()
                    .append(true)
                    .open(part)
                    .map_err(|e| write_error(part, e))?;
                (out, have)
            }
            200 => {
                // A server that ignores Range sends the whole file: start it over.
                let out = File::create(part).map_err(|e| write_error(part, e))?;
                (out, 0)
            }
            status => {
                return Err(format!(
                    "unexpected HTTP status {status} {}",
                    response.status_text()
                ))
            }
        };
        let total = response
            .header("Content-Length")
            .and_then(|l| l.parse::<u64>().ok())
            .map(|len| start + len);
        let too_large = |size: u64| {
            let _ = remove(part);
            format!(
                "it sends {size} bytes or more, more than fetch.max_download ({max} bytes): cut off; \
                 if the release really is that large, raise fetch.max_download in cluster.toml"
            )
        };
        if let Some(total) = total.filter(|&t| t > max) {
            return Err(too_large(total));
        }
        // Until now the bar said "connecting": a length of 0 would draw a finished bar.
        bar.set_style(transfer_style(total.is_some()));
        bar.set_length(total.unwrap_or(0));
        bar.set_position(start);
        // One byte past the limit tells a source that sends too much from one that sends just enough.
        let mut body = response.into_reader().take((max + 1).saturating_sub(start));
        let (copied, result) = copy(&mut body, &mut out, bar, http.timeout);
        if start + copied > max {
            return Err(too_large(start + copied));
        }
        let result =
            result.and_then(|()| out.sync_all().map_err(|e| write_error(part, e).to_string()));
        match result {
            Ok(()) if total.is_none_or(|t| start + copied == t) => {
                return Ok(Downloaded { resumed_from })
            }
            Ok(()) => {
                if attempts >= MAX_ATTEMPTS {
                    return Err(format!(
                        "the transfer ended after {} of {} bytes",
                        start + copied,
                        total.unwrap_or(0)
                    ));
                }
            }
            Err(e) if copied > 0 && attempts < MAX_ATTEMPTS => {
                say(format!(
                    "{url}: {e} after {} bytes; resuming",
                    start + copied
                ));
            }
            Err(e) => {
                return Err(format!(
                    "the transfer broke after {} bytes: {e}",
                    start + copied
                ))
            }
        }
    }
}

/// The bar while connecting: a spinner and the message, no byte count that could look done.
pub(crate) fn connecting_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("static template")
}

/// The bar once the response is in: bytes against the total when the source says it.
fn transfer_style(total_known: bool) -> ProgressStyle {
    let template = if total_known {
        "{msg} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} {eta}"
    } else {
        "{spinner} {msg} {bytes} {bytes_per_sec}"
    };
    ProgressStyle::with_template(template)
        .expect("static template")
        .progress_chars("=> ")
}

/// Copy until the end or the first error; returns the bytes written either way.
fn copy(
    body: &mut impl Read,
    out: &mut File,
    bar: &ProgressBar,
    timeout: Duration,
) -> (u64, Result<(), String>) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut copied = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return (copied, Ok(())),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if timed_out(&e) => return (copied, Err(stalled(timeout))),
            Err(e) => return (copied, Err(e.to_string())),
        };
        if let Err(e) = out.write_all(&buf[..n]) {
            return (copied, Err(format!("cannot write the download: {e}")));
        }
        copied += n as u64;
        bar.inc(n as u64);
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

fn write_error(path: &Path, e: std::io::Error) -> String {
    format!("cannot write {}: {e}", path.display())
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

fn stalled(timeout: Duration) -> String {
    format!(
        "stalled: no answer for {} s (fetch.timeout)",
        timeout.as_secs()
    )
}

/// What went wrong on the wire, each clause once: ureq's own text starts with the URL, which
/// the caller's message already names, and can repeat its kind inside the io error it wraps
/// ("Network Error: Network Error: ...").
fn transport_cause(e: &ureq::Transport, timeout: Duration) -> String {
    let io_timeout = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(timed_out);
    if io_timeout {
        return match e.kind() {
            ureq::ErrorKind::ConnectionFailed => format!(
                "cannot connect: no answer for {} s (fetch.timeout)",
                timeout.as_secs()
            ),
            _ => stalled(timeout),
        };
    }
    let kind = match e.kind() {
        ureq::ErrorKind::Dns => "cannot resolve the host name".to_string(),
        ureq::ErrorKind::ConnectionFailed => "cannot connect".to_string(),
        ureq::ErrorKind::Io => "network error".to_string(),
        other => other.to_string(),
    };
    let url = e.url().map(|u| u.to_string());
    // ureq's message ("Connect error") only restates the kind when there is a cause to show.
    let mut parts = vec![kind];
    let mut source = std::error::Error::source(e);
    if source.is_none() {
        parts.extend(e.message().map(str::to_string));
    }
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    let mut said: Vec<String> = Vec::new();
    for clause in parts.iter().flat_map(|p| p.split(": ")).map(str::trim) {
        let repeated = said
            .iter()
            .any(|s| s.eq_ignore_ascii_case(clause) || s.contains(clause));
        if !clause.is_empty() && !repeated && url.as_deref() != Some(clause) {
            said.push(clause.to_string());
        }
    }
    said.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_no_proxy_hosts_go_direct() {
        let http = Http {
            proxied: ureq::agent(),
            direct: ureq::agent(),
            no_proxy: vec!["mirror.local".into()],
            timeout: Duration::from_secs(1),
        };
        let direct = |url: &str| std::ptr::eq(http.agent_for(url), &http.direct);
        assert!(direct("http://127.0.0.1:8000/x"));
        assert!(direct("http://localhost/x"));
        assert!(direct("http://[::1]:80/x"));
        assert!(direct("http://a.mirror.local/x"));
        assert!(direct("https://user@mirror.local:8443/x"));
        assert!(!direct("https://github.com/x"));
        assert!(!direct("https://notmirror.local/x"));
    }

    #[test]
    fn a_transport_failure_names_neither_the_url_nor_a_clause_twice() {
        // A port nothing listens on: refused at once, no network needed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/kubernetes.tar.gz");
        let Err(ureq::Error::Transport(e)) = ureq::get(&url).call() else {
            panic!("{url} answered");
        };
        let said = transport_cause(&e, Duration::from_secs(1));
        assert!(said.starts_with("cannot connect"), "{said}");
        assert!(!said.contains("127.0.0.1"), "{said}");
        let clauses: Vec<&str> = said.split(": ").collect();
        for (i, c) in clauses.iter().enumerate() {
            assert!(!clauses[..i].contains(c), "{said}");
        }
    }
}
