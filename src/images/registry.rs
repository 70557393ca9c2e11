//! Pulling one image from one registry (Docker Registry HTTP API v2, with oci-client): manifest, config and layers, each verified.

use super::auth::Credentials;
use super::layers::{self, MAX_JSON};
use super::mirror::{Endpoint, Scheme};
use super::ImageError;
use futures_util::StreamExt;
use indicatif::ProgressBar;
use oci_client::client::{linux_amd64_resolver, BlobResponse, ClientConfig, ClientProtocol};
use oci_client::manifest::{
    OciDescriptor, OciImageIndex, OciImageManifest, IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Resumptions of one blob after a transfer that broke having made progress.
const MAX_ATTEMPTS: u32 = 5;

const MANIFEST_TYPES: [&str; 4] = [
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
];

/// A registry client for one fetch: oci-client for authentication and blobs, and a plain
/// client for manifests, whose size oci-client does not bound.
pub struct Registry {
    rt: tokio::runtime::Runtime,
    oci: oci_client::Client,
    http: reqwest::Client,
    timeout: Duration,
}

/// What one source delivered: the config (the image ID is its digest) and the layer blobs, in order.
pub struct Pulled {
    pub config: Vec<u8>,
    pub id: String,
    pub layers: Vec<PathBuf>,
}

/// Where blobs go, and how many bytes one image may have.
#[derive(Clone, Copy)]
pub struct Store<'a> {
    pub blobs: &'a Path,
    pub max_download: u64,
}

/// What the caller checks the image ID against before any layer is downloaded.
pub type CheckId<'a> = &'a dyn Fn(&str) -> Result<(), String>;

impl Registry {
    /// `ca`: an extra PEM certificate authority; `http_hosts`: the hosts spoken to over plain http.
    pub fn new(
        ca: Option<&Path>,
        http_hosts: Vec<String>,
        timeout: Duration,
    ) -> Result<Registry, ImageError> {
        // One process-wide TLS provider (ring, which ureq uses too); a second install is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = match ca {
            None => None,
            Some(path) => {
                let problem = |problem: String| ImageError::Ca {
                    path: path.to_path_buf(),
                    problem,
                };
                let data =
                    std::fs::read(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
                let certs = reqwest::Certificate::from_pem_bundle(&data)
                    .map_err(|e| problem(format!("not PEM certificates: {e}")))?;
                if certs.is_empty() {
                    return Err(problem(
                        "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
                    ));
                }
                Some((data, certs))
            }
        };
        let user_agent = concat!("kubedeb/", env!("CARGO_PKG_VERSION"));
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(http_hosts),
            extra_root_certificates: pem
                .iter()
                .map(|(data, _)| oci_client::client::Certificate {
                    encoding: oci_client::client::CertificateEncoding::Pem,
                    data: data.clone(),
                })
                .collect(),
            platform_resolver: Some(Box::new(linux_amd64_resolver)),
            read_timeout: Some(timeout),
            connect_timeout: Some(timeout),
            user_agent,
            ..Default::default()
        };
        let client_error = |e: String| ImageError::Io {
            action: "set up the registry client for",
            path: ca.map(Path::to_path_buf).unwrap_or_default(),
            cause: e,
        };
        let oci = oci_client::Client::try_from(config).map_err(|e| client_error(e.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .read_timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(user_agent);
        if let Some((_, certs)) = pem {
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| client_error(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| client_error(e.to_string()))?;
        Ok(Registry {
            rt,
            oci,
            http,
            timeout,
        })
    }

    /// Pull the image at `at` into `blobs`: every byte checked against its digest, the config's
    /// digest passed to `check_id` before any layer is fetched, each layer's content against the
    /// config's diff_ids. An error is a sentence for the user; nothing unverified stays behind.
    pub fn pull(
        &self,
        at: &Endpoint,
        credentials: &Credentials,
        store: Store,
        check_id: CheckId,
        bar: &ProgressBar,
        say: &dyn Fn(String),
    ) -> Result<Pulled, String> {
        self.rt.block_on(async {
            let pull = Pull {
                registry: self,
                reference: match &at.digest {
                    Some(d) => {
                        Reference::with_digest(at.host.clone(), at.repository.clone(), d.clone())
                    }
                    None => {
                        Reference::with_tag(at.host.clone(), at.repository.clone(), at.tag.clone())
                    }
                },
                at,
                blobs: store.blobs,
                bar,
                say,
                authorization: None,
            };
            pull.run(credentials, store.max_download, check_id).await
        })
    }
}

struct Pull<'a> {
    registry: &'a Registry,
    reference: Reference,
    at: &'a Endpoint,
    blobs: &'a Path,
    bar: &'a ProgressBar,
    say: &'a dyn Fn(String),
    /// The Authorization header for manifest requests.
    authorization: Option<String>,
}

impl Pull<'_> {
    async fn run(
        mut self,
        credentials: &Credentials,
        max_download: u64,
        check_id: CheckId<'_>,
    ) -> Result<Pulled, String> {
        let creds = credentials.for_host(&self.at.host);
        let auth = match &creds {
            Some((user, pass)) => RegistryAuth::Basic(user.clone(), pass.clone()),
            None => RegistryAuth::Anonymous,
        };
        let token = self
            .registry
            .oci
            .auth(&self.reference, &auth, RegistryOperation::Pull)
            .await
            .map_err(|e| self.explain(e, creds.is_some(), credentials))?;
        self.authorization = match (token, &creds) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, Some((user, pass))) => Some(format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{user}:{pass}")
                )
            )),
            (None, None) => None,
        };
        let wanted = self
            .at
            .digest
            .clone()
            .unwrap_or_else(|| self.at.tag.clone());
        let (body, digest) = self.manifest(&wanted, creds.is_some(), credentials).await?;
        if let Some(pinned) = &self.at.digest {
            if *pinned != digest {
                return Err(format!(
                    "the manifest's digest is {digest}, not the {pinned} the reference pins"
                ));
            }
        }
        let manifest = match media_type(&body)?.as_str() {
            IMAGE_MANIFEST_LIST_MEDIA_TYPE | OCI_IMAGE_INDEX_MEDIA_TYPE => {
                let index: OciImageIndex = serde_json::from_slice(&body)
                    .map_err(|e| format!("its manifest list is not valid: {e}"))?;
                let chosen = linux_amd64_resolver(&index.manifests)
                    .ok_or("its manifest list has no linux/amd64 image")?;
                let (body, digest) = self.manifest(&chosen, creds.is_some(), credentials).await?;
                if digest != chosen {
                    return Err(format!(
                        "the linux/amd64 manifest's digest is {digest}, not the {chosen} its list names"
                    ));
                }
                image_manifest(&body)?
            }
            _ => image_manifest(&body)?,
        };
        let sizes = std::iter::once(&manifest.config)
            .chain(&manifest.layers)
            .map(|d| u64::try_from(d.size).unwrap_or(u64::MAX))
            .try_fold(0u64, u64::checked_add)
            .unwrap_or(u64::MAX);
        if sizes > max_download {
            return Err(format!(
                "the image is {sizes} bytes, more than fetch.max_download ({max_download} bytes): refused; \
                 if it really is that large, raise fetch.max_download in cluster.toml"
            ));
        }
        if manifest.config.size > MAX_JSON as i64 {
            return Err(format!(
                "its config is {} bytes, more than a config holds ({MAX_JSON}): refused",
                manifest.config.size
            ));
        }
        let config_path = self.blob(&manifest.config).await?;
        let config = std::fs::read(&config_path)
            .map_err(|e| format!("cannot read {}: {e}", config_path.display()))?;
        let _ = std::fs::remove_file(&config_path);
        let id = manifest.config.digest.clone();
        check_id(&id)?;
        let diff_ids = layers::diff_ids(&config)?;
        if diff_ids.len() != manifest.layers.len() {
            return Err(format!(
                "its manifest lists {} layers, its config {} (rootfs.diff_ids)",
                manifest.layers.len(),
                diff_ids.len()
            ));
        }
        let mut paths = Vec::new();
        for (layer, diff_id) in manifest.layers.iter().zip(&diff_ids) {
            let path = self.blob(layer).await?;
            if let Err(e) = layers::check_layer(&path, diff_id, max_download) {
                let _ = std::fs::remove_file(&path);
                return Err(format!("layer {}: {e}", layer.digest));
            }
            paths.push(path);
        }
        Ok(Pulled {
            config,
            id,
            layers: paths,
        })
    }

    /// A failure of oci-client in words, with the next step for authentication errors.
    fn explain(
        &self,
        e: oci_client::errors::OciDistributionError,
        had_creds: bool,
        credentials: &Credentials,
    ) -> String {
        use oci_client::errors::OciDistributionError as E;
        match e {
            E::AuthenticationFailure(reason) => format!(
                "authentication failed ({}): {}",
                reason.trim(),
                auth_advice(&self.at.host, had_creds, credentials)
            ),
            E::RequestError(e) => request_error(&e, self.registry.timeout),
            E::ServerError { code, message, .. } => format!("HTTP {code}: {}", message.trim()),
            E::RegistryError { envelope, .. } => format!("the registry says: {envelope}"),
            other => other.to_string(),
        }
    }

    /// GET the manifest `wanted` (a tag or a digest), at most [`MAX_JSON`] bytes; returns it and its digest.
    async fn manifest(
        &self,
        wanted: &str,
        had_creds: bool,
        credentials: &Credentials,
    ) -> Result<(Vec<u8>, String), String> {
        let url = format!(
            "{}://{}/v2/{}/manifests/{wanted}",
            self.at.scheme.as_str(),
            self.reference.resolve_registry(),
            self.at.repository
        );
        let mut request = self
            .registry
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, MANIFEST_TYPES.join(", "));
        if let Some(value) = &self.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| request_error(&e, self.registry.timeout))?;
        let status = response.status();
        match status.as_u16() {
            200 => {}
            401 | 403 => {
                return Err(format!(
                    "not authorized (HTTP {}): {}",
                    status.as_u16(),
                    auth_advice(&self.at.host, had_creds, credentials)
                ))
            }
            404 => return Err("no such image there (HTTP 404)".into()),
            code => return Err(format!("HTTP {code} for its manifest")),
        }
        if response.content_length().is_some_and(|l| l > MAX_JSON) {
            return Err(format!(
                "its manifest is more than {MAX_JSON} bytes: refused"
            ));
        }
        let header = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| request_error(&e, self.registry.timeout))?;
            if body.len() + chunk.len() > MAX_JSON as usize {
                return Err(format!(
                    "its manifest is more than {MAX_JSON} bytes: refused"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        if let Some(header) = header.filter(|h| h.starts_with("sha256:")) {
            if header != digest {
                return Err(format!(
                    "its manifest hashes to {digest}, but the registry says {header}: refused"
                ));
            }
        }
        Ok((body, digest))
    }

    /// Download one blob to `<blobs>/<hex>`, resuming `<hex>.part`; its sha256 is checked while
    /// it streams in, and a blob that does not match is deleted.
    async fn blob(&self, desc: &OciDescriptor) -> Result<PathBuf, String> {
        let hex = sha256_hex(&desc.digest)?;
        let size = u64::try_from(desc.size)
            .map_err(|_| format!("blob {} has a negative size", desc.digest))?;
        let done = self.blobs.join(hex);
        let part = self.blobs.join(format!("{hex}.part"));
        // Verified by an earlier attempt that failed later (another layer, another source).
        if done.is_file() && crate::fetch::sha256_file(&done).is_ok_and(|h| h == hex) {
            return Ok(done);
        }
        let mut fresh_retry = false;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            if have > size {
                remove(&part)?;
                have = 0;
            }
            let resumed_from = have;
            // The digest, not the descriptor: a descriptor's foreign `urls` are not followed.
            let digest: &str = &desc.digest;
            let response = self
                .registry
                .oci
                .pull_blob_stream_partial(&self.reference, &digest, have, None)
                .await
                .map_err(|e| format!("blob {}: {}", desc.digest, self.explain_blob(e)))?;
            let (stream, partial) = match response {
                BlobResponse::Partial(s) => (s, true),
                BlobResponse::Full(s) => (s, false),
            };
            let mut hasher = Sha256::new();
            let mut out = if partial && have > 0 {
                hash_prefix(&part, &mut hasher)?;
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&part)
                    .map_err(|e| format!("cannot write {}: {e}", part.display()))?
            } else {
                have = 0;
                std::fs::File::create(&part)
                    .map_err(|e| format!("cannot write {}: {e}", part.display()))?
            };
            self.bar.set_length(size);
            self.bar.set_position(have);
            let mut stream = stream.stream;
            let mut broke = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => {
                        if have + chunk.len() as u64 > size {
                            drop(out);
                            remove(&part)?;
                            return Err(format!(
                                "blob {} sends more than its {size} bytes: cut off",
                                desc.digest
                            ));
                        }
                        hasher.update(&chunk);
                        out.write_all(&chunk)
                            .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
                        have += chunk.len() as u64;
                        self.bar.set_position(have);
                    }
                    Err(e) => {
                        broke = Some(io_error(&e, self.registry.timeout));
                        break;
                    }
                }
            }
            out.sync_all()
                .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
            drop(out);
            if let Some(why) = broke {
                if have > resumed_from && have < size && attempts < MAX_ATTEMPTS {
                    (self.say)(format!(
                        "{}: blob {}: {why} after {have} bytes; resuming",
                        self.at, desc.digest
                    ));
                    continue;
                }
                if have < size {
                    return Err(format!(
                        "blob {}: the transfer broke after {have} of {size} bytes: {why}",
                        desc.digest
                    ));
                }
            }
            if have < size {
                if attempts < MAX_ATTEMPTS && have > resumed_from {
                    continue;
                }
                return Err(format!(
                    "blob {}: the transfer ended after {have} of {size} bytes",
                    desc.digest
                ));
            }
            let actual = hex::encode(hasher.finalize());
            if actual != hex {
                remove(&part)?;
                if resumed_from > 0 && !fresh_retry {
                    // The kept .part may have come from another source: judge this one on a fresh copy.
                    fresh_retry = true;
                    continue;
                }
                return Err(format!(
                    "blob {} has the sha256 {actual}: refused, a wrong or corrupted blob (nothing kept)",
                    desc.digest
                ));
            }
            std::fs::rename(&part, &done).map_err(|e| {
                format!("cannot move {} to {}: {e}", part.display(), done.display())
            })?;
            return Ok(done);
        }
    }

    fn explain_blob(&self, e: oci_client::errors::OciDistributionError) -> String {
        use oci_client::errors::OciDistributionError as E;
        match e {
            E::RequestError(e) => request_error(&e, self.registry.timeout),
            E::ServerError { code: 404, .. } => "not there (HTTP 404)".into(),
            E::ServerError { code, message, .. } => format!("HTTP {code}: {}", message.trim()),
            E::RegistryError { envelope, .. } => format!("the registry says: {envelope}"),
            E::UnauthorizedError { .. } => "not authorized (HTTP 401)".into(),
            other => other.to_string(),
        }
    }
}

/// What to do about a refused login.
fn auth_advice(host: &str, had_creds: bool, credentials: &Credentials) -> String {
    match (&credentials.file, had_creds) {
        (Some(file), true) => format!("check the credentials for {host} in {}", file.display()),
        (Some(file), false) => format!(
            "{} has no credentials for {host}: add them (`skopeo login --authfile {} {host}`)",
            file.display(),
            file.display()
        ),
        (None, _) => format!(
            "give credentials for {host} in an auth file (--registry-auth FILE or fetch.registry_auth; `skopeo login --authfile FILE {host}` writes one)"
        ),
    }
}

/// The `<hex>` of a `sha256:<hex>` digest; other algorithms are refused.
fn sha256_hex(digest: &str) -> Result<&str, String> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .ok_or_else(|| format!("the digest {digest:?} is not sha256:<64 hex digits>: refused"))
}

fn media_type(body: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Versioned {
        schema_version: i64,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let v: Versioned =
        serde_json::from_slice(body).map_err(|e| format!("its manifest is not valid JSON: {e}"))?;
    if v.schema_version != 2 {
        return Err(format!(
            "its manifest has schemaVersion {}; only schema 2 and OCI manifests are fetched",
            v.schema_version
        ));
    }
    Ok(match v.media_type {
        Some(t) => t,
        None if v.manifests.is_some() => OCI_IMAGE_INDEX_MEDIA_TYPE.into(),
        None => OCI_IMAGE_MEDIA_TYPE.into(),
    })
}

fn image_manifest(body: &[u8]) -> Result<OciImageManifest, String> {
    let m: OciImageManifest = serde_json::from_slice(body)
        .map_err(|e| format!("its manifest is not an image manifest: {e}"))?;
    match m.media_type.as_deref() {
        None | Some(IMAGE_MANIFEST_MEDIA_TYPE) | Some(OCI_IMAGE_MEDIA_TYPE) => Ok(m),
        Some(other) => Err(format!(
            "its manifest has the media type {other}, not an image manifest"
        )),
    }
}

fn hash_prefix(path: &Path, hasher: &mut Sha256) -> Result<(), String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

/// A failed request in words: the kind first, without the URL (the source is named already).
fn request_error(e: &reqwest::Error, timeout: Duration) -> String {
    let kind = if e.is_timeout() {
        return format!("no answer for {} s (fetch.timeout)", timeout.as_secs());
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut parts = vec![kind.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        // hyper-util's wrapper says only what `kind` already says.
        let wrapper = text.starts_with("client error (");
        if !wrapper && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

fn io_error(e: &std::io::Error, timeout: Duration) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>());
    match inner {
        Some(e) => request_error(e, timeout),
        None => e.to_string(),
    }
}

impl Scheme {
    /// The hosts of these endpoints spoken to over http.
    pub fn http_hosts<'a>(endpoints: impl Iterator<Item = &'a Endpoint>) -> Vec<String> {
        let mut hosts: Vec<String> = endpoints
            .filter(|e| e.scheme == Scheme::Http)
            .map(|e| e.host.clone())
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}
