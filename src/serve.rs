//! A small HTTP server for the repository's public tree, with an index page of node commands.

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

use crate::repository::KEYRING_NAME as KEYRING;

/// What the index page needs to know.
#[derive(Debug, Clone)]
pub struct Site {
    /// The served tree (`<repo>/public`).
    pub root: PathBuf,
    /// The suite nodes add to their sources.
    pub suite: String,
    /// The base URL nodes use; None takes it from each request's Host header.
    pub url: Option<String>,
}

/// Serves `site` on `listen` until the process ends, with a few worker threads.
pub fn serve(site: Site, listen: &str) -> anyhow::Result<()> {
    let server = Server::http(listen).map_err(|e| {
        anyhow::anyhow!("cannot listen on {listen}: {e}; pick a free address with --listen")
    })?;
    let server = Arc::new(server);
    let site = Arc::new(site);
    eprintln!("serving {} on http://{listen}/", site.root.display());
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let server = Arc::clone(&server);
            let site = Arc::clone(&site);
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    if let Err(e) = respond(&site, request) {
                        eprintln!("warning: response failed: {e}");
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

fn respond(site: &Site, request: Request) -> io::Result<()> {
    if !matches!(request.method(), Method::Get | Method::Head) {
        return request.respond(Response::from_string("only GET and HEAD\n").with_status_code(405));
    }
    let url_path = request
        .url()
        .split(['?', '#'])
        .next()
        .unwrap_or("/")
        .to_string();
    if url_path == "/" || url_path == "/index.html" {
        let base = base_url(site, &request);
        let page = index_page(&base, &site.suite);
        let header =
            Header::from_bytes("Content-Type", "text/html; charset=utf-8").expect("static header");
        return request.respond(Response::from_string(page).with_header(header));
    }
    match resolve(&site.root, &url_path) {
        Some(path) if path.is_file() => {
            let file = File::open(&path)?;
            let header =
                Header::from_bytes("Content-Type", content_type(&path)).expect("static header");
            request.respond(Response::from_file(file).with_header(header))
        }
        _ => {
            request.respond(Response::from_string("not found\n").with_status_code(StatusCode(404)))
        }
    }
}

/// Maps a URL path to a file under `root`, refusing anything that would leave it.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let relative = Path::new(decoded.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    // Hidden entries are staging and lock files of a publish in progress.
    if relative
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    {
        return None;
    }
    Some(root.join(relative))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("deb") => "application/vnd.debian.binary-package",
        Some("gz") => "application/gzip",
        Some("xz") => "application/x-xz",
        Some("gpg") => "application/pgp-keys",
        Some("asc") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn base_url(site: &Site, request: &Request) -> String {
    if let Some(url) = &site.url {
        return url.trim_end_matches('/').to_string();
    }
    let host = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_else(|| "THIS-SERVER".to_string());
    format!("http://{host}")
}

/// The exact commands a node runs to use this repository.
pub fn node_commands(base: &str, suite: &str) -> String {
    format!(
        "curl -fsSL {base}/{KEYRING}.gpg -o /usr/share/keyrings/{KEYRING}.gpg\n\
         echo 'deb [signed-by=/usr/share/keyrings/{KEYRING}.gpg] {base}/ {suite} main' > /etc/apt/sources.list.d/kubedeb.list\n\
         apt-get update\n"
    )
}

fn index_page(base: &str, suite: &str) -> String {
    let commands = html_escape(&node_commands(base, suite));
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>kubedeb repository</title></head><body>\n\
         <h1>kubedeb apt repository</h1>\n\
         <p>On every node, as root:</p>\n<pre id=\"setup\">{commands}</pre>\n\
         <p>Then, on the master:</p>\n<pre id=\"master\">apt-get install -y k8s-master</pre>\n\
         <p>On every other node:</p>\n<pre id=\"minion\">apt-get install -y k8s-minion</pre>\n\
         <p>A host that is master and node installs both. The key is also at <a href=\"{KEYRING}.asc\">{KEYRING}.asc</a>; \
         the indexes are under <a href=\"dists/\">dists/</a>.</p>\n</body></html>\n"
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_refuses_escapes_and_hidden_files() {
        let root = Path::new("/srv/repo/public");
        assert_eq!(
            resolve(root, "/dists/stable/InRelease"),
            Some(root.join("dists/stable/InRelease"))
        );
        assert_eq!(resolve(root, "/../private/key"), None);
        assert_eq!(resolve(root, "/dists/%2e%2e/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(root, "/.lock"), None);
        assert_eq!(resolve(root, "/dists/.staging-1/Release"), None);
        assert_eq!(resolve(root, "/pool/%ZZ"), None);
    }

    #[test]
    fn node_commands_use_signed_by_never_trusted() {
        let text = node_commands("http://10.0.0.1:8000", "stable");
        assert!(text.contains("[signed-by=/usr/share/keyrings/kubedeb-archive-keyring.gpg] http://10.0.0.1:8000/ stable main"));
        assert!(!text.contains("trusted=yes"));
    }
}
