//! One module per subcommand: each turns parsed arguments into calls on the library.

pub mod build;
pub mod builtin;
pub mod check;
pub mod fetch;
pub mod init;
pub mod publish;
pub mod serve;
pub mod up;

use crate::catalog::Catalog;
use crate::cli::{ClusterArgs, PackageArgs};
use crate::config::{Config, Fetch, FetchConfig};
use std::path::{Path, PathBuf};

/// The settings the command line names and the release catalog for them (see [`catalog`]).
fn load(args: &ClusterArgs, cache: &Path) -> anyhow::Result<(Config, Catalog)> {
    let path = args.config_path();
    let config = Config::load_named(path, args.config.is_some(), args.master_ip)?;
    let catalog = catalog(args, &config.fetch, cache)?;
    config
        .validate_versions(&catalog)
        .map_err(|e| e.with_origin(path.display().to_string()))?;
    crate::detail!(
        "settings: {}; catalog: {}",
        path.display(),
        catalog
            .user_file()
            .map_or("built in".into(), |f| f.display().to_string())
    );
    Ok((config, catalog))
}

/// [`load`] for `fetch`, which needs only the versions and the `[fetch]` section.
fn load_fetch(args: &ClusterArgs, cache: &Path) -> anyhow::Result<(FetchConfig, Catalog)> {
    let path = args.config_path();
    let config = FetchConfig::load(path, args.config.is_some())?;
    let catalog = catalog(args, &config.fetch, cache)?;
    config
        .versions
        .validate(&catalog)
        .and_then(|()| config.images(&catalog).map(drop))
        .map_err(|e| e.with_origin(path.display().to_string()))?;
    Ok((config, catalog))
}

/// The catalog: `--catalog`, else `fetch.catalog`, else the one the cache was fetched with, so
/// a custom catalog is named once, at fetch time.
fn catalog(args: &ClusterArgs, fetch: &Fetch, cache: &Path) -> anyhow::Result<Catalog> {
    let named = match &args.catalog {
        Some(path) => Some(args.resolve(path)),
        None => fetch.catalog_path(None, args.config_path()),
    };
    let file = match named {
        Some(file) => Some(file),
        None => crate::fetch::record::read(cache)?.and_then(|r| r.catalog),
    };
    Ok(Catalog::load(file.as_deref())?)
}

/// The package options with their paths resolved by the one rule ([`ClusterArgs::resolve`]).
fn resolve_packages(cluster: &ClusterArgs, args: &PackageArgs) -> PackageArgs {
    let mut args = args.clone();
    args.templates = args.templates.map(|dir| cluster.resolve(&dir));
    args.dist = cluster.resolve(&args.dist);
    if args.deb.block_cache_dir().is_some() {
        args.deb.block_cache = cluster.resolve(&args.deb.block_cache);
    }
    args
}

/// `cache` resolved by the one rule.
fn resolve(cluster: &ClusterArgs, path: &Path) -> PathBuf {
    cluster.resolve(path)
}
