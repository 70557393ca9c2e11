//! The HTTP server for the repository's public tree (hyper + tower-http), with an index page of node commands.

mod addresses;
mod confined;
mod facts;
mod page;
mod watchdog;

pub use facts::{fingerprints, keyring, Keyring};
pub use page::{check_url, node_commands};

use bytes::Bytes;
use confined::Confined;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower_http::services::fs::{ServeDir, ServeFileSystemResponseBody};
use watchdog::{Progress, Watched};

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

/// Open connections beyond this wait in the listen backlog until one closes: memory and
/// descriptors stay bounded however many clients connect.
const MAX_CONNECTIONS: usize = 512;
/// A connection on which no byte moved for this long (idle keep-alive, or a client that
/// stopped reading) is closed.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A request's headers must arrive within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// apt's requests are a few hundred bytes; anything near this is refused with 431.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Read buffer bound (also caps hyper's queued output between flushes).
const MAX_BUF_BYTES: usize = 64 * 1024;
/// Bytes read from a file per body chunk: large enough for loopback-speed downloads, small
/// enough that a few hundred connections fit in memory.
const CHUNK_BYTES: usize = 256 * 1024;
/// Threads for file reads (tokio::fs runs them off the event loop).
const FILE_THREADS: usize = 16;

type Body = Either<Full<Bytes>, ServeFileSystemResponseBody>;

struct Server {
    site: Site,
    files: ServeDir<tower_http::services::fs::DefaultServeDirFallback, Confined>,
}

/// Serves `site` on `listen` until the process ends.
pub fn serve(site: Site, listen: &str) -> anyhow::Result<()> {
    if let Some(url) = &site.url {
        check_url(url).map_err(anyhow::Error::msg)?;
    }
    let backend = Confined::new(&site.root).map_err(|e| {
        anyhow::anyhow!(
            "cannot open the served tree {}: {e}; run `kubedeb publish` first",
            site.root.display()
        )
    })?;
    let listener = std::net::TcpListener::bind(listen).map_err(|e| {
        anyhow::anyhow!("cannot listen on {listen}: {e}; pick a free address with --listen")
    })?;
    listener.set_nonblocking(true)?;
    let files = ServeDir::with_backend(&site.root, backend)
        .append_index_html_on_directories(false)
        .redirect_to_trailing_slash(false)
        .with_buf_chunk_size(CHUNK_BYTES);
    announce(&site, listener.local_addr()?);
    let server = Arc::new(Server { site, files });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(FILE_THREADS)
        .build()?;
    runtime.block_on(accept_loop(server, listener))
}

async fn accept_loop(server: Arc<Server>, listener: std::net::TcpListener) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like pass; back off rather than spin.
                eprintln!("warning: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            connection(server, stream, client).await;
            drop(permit);
        });
    }
}

async fn connection(server: Arc<Server>, stream: tokio::net::TcpStream, client: SocketAddr) {
    let progress = Progress::new();
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&progress)));
    let service = hyper::service::service_fn(move |request| {
        let server = Arc::clone(&server);
        async move {
            let method = request.method().clone();
            let path = request.uri().path().to_string();
            let response = respond(&server, request).await;
            log_request(client, &method, &path, &response);
            Ok::<_, Infallible>(response)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_BUF_BYTES)
        .max_header_size(MAX_HEADER_BYTES)
        .serve_connection(io, service);
    // Dropping the connection closes it; other connections are separate tasks and never wait on it.
    tokio::select! {
        _ = conn => {}
        () = progress.stalled(STALL_TIMEOUT) => {}
    }
}

async fn respond(server: &Server, request: Request<Incoming>) -> Response<Body> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let path = request.uri().path().to_string();
    if path == "/" || path == "/index.html" {
        let host = request.headers().get(header::HOST).map(|h| h.as_bytes());
        return match page::base_url(server.site.url.as_deref(), host) {
            Ok(base) => {
                // Read per request: a publish while serving changes the key and the packages.
                let (root, suite) = (server.site.root.clone(), server.site.suite.clone());
                let facts = tokio::task::spawn_blocking(move || facts::read(&root, &suite))
                    .await
                    .unwrap_or_default();
                let mut response = Response::new(Either::Left(Full::from(page::index_page(
                    &base,
                    &server.site.suite,
                    &facts,
                ))));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                response
            }
            Err(why) => text(StatusCode::BAD_REQUEST, &format!("{why}\n")),
        };
    }
    if hidden(&path) {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    match server.files.clone().try_call(request).await {
        Ok(response) => response.map(Either::Right),
        // What ServeDir's own service maps to 404; a file that is gone is not a server fault.
        Err(e) if not_found(&e) => text(StatusCode::NOT_FOUND, "not found\n"),
        Err(e) => {
            eprintln!("warning: cannot serve {path}: {e}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n")
        }
    }
}

/// Tells the operator what to give the nodes and what they will be asked to trust.
fn announce(site: &Site, listening: SocketAddr) {
    eprintln!(
        "serving {} (suite {}) on {listening}",
        site.root.display(),
        site.suite
    );
    match addresses::for_nodes(site.url.as_deref(), listening) {
        Ok(urls) => {
            eprintln!("nodes use (the page there shows their commands):");
            for url in urls {
                eprintln!("  {url}");
            }
        }
        Err(why) => eprintln!("warning: {why}"),
    }
    let facts = facts::read(&site.root, &site.suite);
    match &facts.keyring {
        Some(k) => {
            for fingerprint in &k.fingerprints {
                eprintln!("signing key fingerprint: {fingerprint}");
            }
            eprintln!(
                "keyring sha256: {}; node admins compare both with the page before trusting the key",
                k.sha256
            );
        }
        None => eprintln!(
            "warning: {} cannot be read or holds no key: run `kubedeb publish` again",
            site.root
                .join(format!("{}.gpg", crate::repository::KEYRING_NAME))
                .display()
        ),
    }
    if let Some(master) = facts.master {
        eprintln!("packages built for the master {master}");
    }
    eprintln!("one line per request follows: client method path status bytes");
}

/// One line per request, so an admin sees which node fetched what and what apt was told.
/// The bytes are the body's length as answered (0 for HEAD), not counted on the wire.
fn log_request(client: SocketAddr, method: &Method, path: &str, response: &Response<Body>) {
    let bytes = if *method == Method::HEAD {
        0
    } else {
        match response.body() {
            Either::Left(full) => hyper::body::Body::size_hint(full).exact().unwrap_or(0),
            Either::Right(_) => response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0),
        }
    };
    // The path is as the client sent it: URI characters only, so it cannot break the line.
    eprintln!(
        "{client} {method} {path} {} {bytes}",
        response.status().as_u16()
    );
}

/// Hidden entries are staging and lock files of a publish in progress, and the state
/// directories behind `dists/<suite>`: served only through the suite link.
fn hidden(path: &str) -> bool {
    let decoded = percent_decode(path);
    decoded.split('/').any(|segment| segment.starts_with('.'))
}

/// Lossy on purpose: only the leading dots matter here, ServeDir decodes the path itself.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = s
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn not_found(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{NotADirectory, NotFound, PermissionDenied};
    matches!(e.kind(), NotFound | PermissionDenied | NotADirectory)
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Either::Left(Full::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_entries_are_refused_also_when_encoded() {
        assert!(!hidden("/dists/stable/InRelease"));
        assert!(!hidden(
            "/pool/main/k/k8s-master/k8s-master_1.1.4-1_amd64.deb"
        ));
        assert!(hidden("/.lock"));
        assert!(hidden("/dists/.staging-1/Release"));
        assert!(hidden("/dists/%2estates/stable/1/InRelease"));
        assert!(hidden("/dists/%2Estates/stable/1/InRelease"));
        assert!(hidden("/../private/"));
    }
}
