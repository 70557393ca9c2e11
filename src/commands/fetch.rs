//! `kubedeb fetch`: get, verify and extract the release binaries the cluster settings name.

use crate::cli::FetchArgs;
use crate::config::Config;
use crate::fetch::{fetch, FetchOptions};

pub fn run(args: &FetchArgs) -> anyhow::Result<()> {
    let cluster = &args.cluster;
    let (config, catalog) = super::load(cluster)?;
    let opts = FetchOptions {
        mirrors: mirrors(args, &config)?,
        from: args.from.clone(),
        cache: args.cache.clone(),
    };
    let binaries = fetch(&config, &catalog, &opts)?;
    for (name, path) in binaries.iter() {
        println!("{name}\t{}", path.display());
    }
    Ok(())
}

/// Mirrors given on the command line first, then those of the config file.
pub fn mirrors(args: &FetchArgs, config: &Config) -> anyhow::Result<Vec<String>> {
    // Mirrors given on the command line come first, then those of the config file.
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
    Ok(mirrors)
}
