//! `kubedeb fetch`: get, verify and extract the release binaries the cluster settings name.

use crate::cli::{FetchArgs, Format};
use crate::config::Fetch;
use crate::fetch::{fetch, FetchOptions};
use std::path::Path;

pub fn run(args: &FetchArgs) -> anyhow::Result<()> {
    let cache = super::resolve(&args.cluster, &args.cache);
    let (config, catalog) = super::load_fetch(&args.cluster, &cache)?;
    let binaries = fetch(
        &config.versions,
        &catalog,
        &options(args, &config.fetch, &cache, "fetch")?,
    )?;
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
    Ok(())
}

/// What `fetch` and `up` (the `command` run) fetch with: the command line's mirrors first,
/// then the config file's; `cache` is already resolved.
pub fn options(
    args: &FetchArgs,
    settings: &Fetch,
    cache: &Path,
    command: &'static str,
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
    Ok(FetchOptions {
        mirrors,
        from: args.from.as_ref().map(|dir| args.cluster.resolve(dir)),
        cache: cache.to_path_buf(),
        max_download: settings.max_download,
        max_binary: settings.max_binary,
        timeout: settings.timeout,
        command,
    })
}
