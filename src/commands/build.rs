//! `kubedeb build`: render the templates and write the packages into the dist folder.

use crate::cli::{BuildArgs, DebArgs};
use crate::config::Config;
use crate::deb::BuildOptions;
use crate::fetch::fetched;

pub fn run(args: &BuildArgs) -> anyhow::Result<()> {
    let cluster = &args.cluster;
    let (config, catalog) = Config::load_with_catalog(
        &cluster.config,
        cluster.master_ip,
        cluster.catalog.as_deref(),
    )?;
    let binaries = fetched(&args.cache, &config, &catalog)?;
    let debs = crate::build::build(
        &config,
        &catalog,
        &binaries,
        args.templates.as_deref(),
        &args.dist,
        &options(&args.deb),
    )?;
    for deb in debs {
        println!("{}", deb.display());
    }
    Ok(())
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
