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

/// The writer's options from the command line, with `SOURCE_DATE_EPOCH` from the environment.
pub fn options(deb: &DebArgs) -> BuildOptions {
    BuildOptions {
        compression: deb.compression,
        level: deb.level,
        ..BuildOptions::from_env()
    }
}
