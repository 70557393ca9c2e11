//! `kubedeb fetch`: get, verify and extract the release binaries the cluster settings name.

use crate::cli::FetchArgs;
use crate::config::Config;
use crate::fetch::{fetch, FetchOptions};

pub fn run(args: &FetchArgs) -> anyhow::Result<()> {
    let cluster = &args.cluster;
    let (config, catalog) = super::load(cluster)?;
    let binaries = fetch(&config, &catalog, &options(args, &config, "fetch")?)?;
    for (name, path) in binaries.iter() {
        println!("{name}\t{}", path.display());
    }
    Ok(())
}

/// What `fetch` and `up` (the `command` run) fetch with: the command line's mirrors first,
/// then the config file's.
pub fn options(
    args: &FetchArgs,
    config: &Config,
    command: &'static str,
) -> anyhow::Result<FetchOptions> {
    let mut mirrors = args.mirrors.clone();
    for mirror in &config.fetch.mirrors {
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
        from: args.from.clone(),
        cache: args.cache.clone(),
        max_download: config.fetch.max_download,
        max_binary: config.fetch.max_binary,
        timeout: config.fetch.timeout,
        command,
    })
}
