//! `kubedeb build`: render the templates and write the packages into the dist folder.

use crate::catalog::Catalog;
use crate::cli::{BuildArgs, DebArgs, PackageArgs};
use crate::config::Config;
use crate::deb::BuildOptions;
use crate::fetch::{fetched, Binaries};
use std::path::PathBuf;

pub fn run(args: &BuildArgs) -> anyhow::Result<()> {
    let (config, catalog) = super::load(&args.cluster)?;
    let binaries = fetched(&args.cache, &config, &catalog)?;
    for deb in build(&args.packages, &config, &catalog, &binaries)? {
        println!("{}", deb.display());
    }
    Ok(())
}

/// Builds the packages as the command line says; `kubedeb up` uses it too.
pub fn build(
    args: &PackageArgs,
    config: &Config,
    catalog: &Catalog,
    binaries: &Binaries,
) -> anyhow::Result<Vec<PathBuf>> {
    crate::build::build(
        config,
        catalog,
        binaries,
        args.templates.as_deref(),
        &args.dist,
        &options(&args.deb),
    )
}

/// File times in the packages when `SOURCE_DATE_EPOCH` is not set (2024-01-01, the date of the
/// packages' changelog entry). A fixed time makes every build reproducible, so running
/// `kubedeb up` again with unchanged settings rebuilds identical files and publishes nothing.
const DEFAULT_EPOCH: u64 = 1_704_067_200;

/// The writer's options from the command line, with `SOURCE_DATE_EPOCH` from the environment.
pub fn options(deb: &DebArgs) -> BuildOptions {
    let from_env = BuildOptions::from_env();
    BuildOptions {
        compression: deb.compression,
        level: deb.level,
        block_cache: deb.block_cache_dir(),
        source_date_epoch: Some(from_env.source_date_epoch.unwrap_or(DEFAULT_EPOCH)),
        ..from_env
    }
}
