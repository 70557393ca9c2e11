//! `kubedeb fetch`: get, verify and extract the release binaries the cluster settings name, and fetch their images.

use crate::catalog::ImageSpec;
use crate::cli::{FetchArgs, Format};
use crate::config::Fetch;
use crate::fetch::{fetch, FetchOptions};
use crate::images::RegistryOptions;
use std::path::{Path, PathBuf};

pub fn run(args: &FetchArgs) -> anyhow::Result<()> {
    let cache = super::resolve(&args.cluster, &args.cache);
    let (config, catalog) = super::load_fetch(&args.cluster, &cache)?;
    let images = config.images(&catalog)?;
    let opts = options(
        args,
        &config.fetch,
        &config.debian,
        &cache,
        "fetch",
        images.clone(),
    )?;
    let binaries = fetch(&config.versions, &catalog, &opts)?;
    let fetched = crate::images::cached(&cache, &images)?;
    let closure = match opts.debian {
        Some(_) => crate::airgap::closure::read(&crate::airgap::debian_dir(&cache))?,
        None => None,
    };
    if args.format == Format::Json {
        let listed: Vec<serde_json::Value> = binaries
            .iter()
            .map(|(name, path)| serde_json::json!({"name": name, "path": path}))
            .collect();
        let doc = serde_json::json!({
            "cache": cache,
            "catalog": catalog.user_file(),
            "versions": {
                "kubernetes": config.versions.kubernetes,
                "flannel": config.versions.flannel,
                "etcd": config.versions.etcd,
            },
            "binaries": listed,
            "images": fetched.iter().map(|i| serde_json::json!({
                "role": i.spec.role,
                "reference": i.spec.reference,
                "id": i.id,
                "path": i.path,
            })).collect::<Vec<_>>(),
            "debian": closure.as_ref().map(crate::airgap::json),
        });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("JSON values serialize")
        );
        return Ok(());
    }
    for (name, path) in binaries.iter() {
        crate::outln!("{name}\t{}", path.display());
    }
    for image in &fetched {
        crate::outln!("{}\t{}", image.spec.reference, image.path.display());
    }
    if let Some(closure) = &closure {
        crate::outln!(
            "{}",
            crate::airgap::describe(closure, args.explain).trim_end()
        );
    }
    Ok(())
}

/// What `fetch` and `up` (the `command` run) fetch with: the command line's mirrors first,
/// then the config file's; `cache` is already resolved.
pub fn options(
    args: &FetchArgs,
    settings: &Fetch,
    debian: &crate::config::DebianSettings,
    cache: &Path,
    command: &'static str,
    images: Vec<ImageSpec>,
) -> anyhow::Result<FetchOptions> {
    let mut mirrors = args.mirrors.clone();
    for mirror in &settings.mirrors {
        if !mirrors.contains(mirror) {
            mirrors.push(mirror.clone());
        }
    }
    for (i, mirror) in args.mirrors.iter().enumerate() {
        if !(mirror.starts_with("http://") || mirror.starts_with("https://")) {
            anyhow::bail!(
                "--mirror {mirror:?} (number {}) is not a base URL: write one like http://mirror.local/k8s \
                 (kubedeb fetches <mirror>/<tarball file name>)",
                i + 1
            );
        }
    }
    let from = args.from.as_ref().map(|dir| args.cluster.resolve(dir));
    let debian = debian_options(args, settings, debian, cache, from.as_deref())?;
    Ok(FetchOptions {
        debian,
        mirrors,
        from,
        cache: cache.to_path_buf(),
        max_download: settings.max_download,
        max_binary: settings.max_binary,
        timeout: settings.timeout,
        command,
        images,
        registry: registry_options(args, settings),
    })
}

/// The Debian packages to carry, when debian.carry is on.
fn debian_options(
    args: &FetchArgs,
    settings: &Fetch,
    debian: &crate::config::DebianSettings,
    cache: &Path,
    from: Option<&Path>,
) -> anyhow::Result<Option<crate::airgap::Options>> {
    for mirror in &args.debian_mirrors {
        if !(mirror.starts_with("http://") || mirror.starts_with("https://"))
            || mirror.contains(char::is_whitespace)
        {
            anyhow::bail!("--debian-mirror {mirror:?} is not a base URL; write one like http://mirrors.ustc.edu.cn/debian");
        }
    }
    if !debian.carry {
        if !args.debian_mirrors.is_empty() {
            anyhow::bail!("--debian-mirror needs debian.carry = true in {}: without it no Debian packages are carried", args.cluster.config_path().display());
        }
        return Ok(None);
    }
    Ok(Some(crate::airgap::Options::new(
        debian,
        &args.debian_mirrors,
        args.cluster.config_path(),
        cache,
        from,
        settings.timeout,
    )))
}

/// The registry mirrors (the command line's first), the auth file and the CA.
fn registry_options(args: &FetchArgs, settings: &Fetch) -> RegistryOptions {
    let mut mirrors = args.registry_mirrors.clone();
    for mirror in &settings.registry_mirrors {
        if !mirrors.contains(mirror) {
            mirrors.push(mirror.clone());
        }
    }
    let config = args.cluster.config_path();
    RegistryOptions {
        mirrors,
        auth_file: auth_file(args, settings),
        ca: Fetch::file_setting(settings.registry_ca.as_ref(), config),
    }
}

/// `--registry-auth`, else fetch.registry_auth, else $REGISTRY_AUTH_FILE, else
/// ~/.docker/config.json when it exists (what skopeo and docker read).
fn auth_file(args: &FetchArgs, settings: &Fetch) -> Option<PathBuf> {
    if let Some(file) = &args.registry_auth {
        return Some(args.cluster.resolve(file));
    }
    if let Some(file) =
        Fetch::file_setting(settings.registry_auth.as_ref(), args.cluster.config_path())
    {
        return Some(file);
    }
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(file));
    }
    let docker = PathBuf::from(std::env::var_os("HOME")?).join(".docker/config.json");
    docker.is_file().then_some(docker)
}
