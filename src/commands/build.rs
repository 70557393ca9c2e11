//! `kubedeb build`: render the templates and write the packages into the dist folder.

use crate::catalog::Catalog;
use crate::cli::{BuildArgs, DebArgs, PackageArgs};
use crate::config::Config;
use crate::deb::{write_deb, BuildOptions};
use crate::fetch::{fetched, Binaries};
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub fn run(args: &BuildArgs) -> anyhow::Result<()> {
    let (config, catalog) = super::load(&args.cluster)?;
    let binaries = fetched(&args.cache, &config, &catalog)?;
    for deb in build(&args.packages, &config, &catalog, &binaries)? {
        println!("{}", deb.display());
    }
    Ok(())
}

/// Builds every package into the dist folder the command line names, each file written whole
/// or not at all; `kubedeb up` uses it too.
pub fn build(
    args: &PackageArgs,
    config: &Config,
    catalog: &Catalog,
    binaries: &Binaries,
) -> anyhow::Result<Vec<PathBuf>> {
    let map: BTreeMap<String, PathBuf> = binaries
        .iter()
        .map(|(name, path)| (name.to_string(), path.to_path_buf()))
        .collect();
    let specs = crate::packages::specs(config, catalog, &map, args.templates.as_deref())?;
    let dist = &args.dist;
    std::fs::create_dir_all(dist).with_context(|| {
        format!(
            "cannot create the dist folder {}; choose another with --dist",
            dist.display()
        )
    })?;
    let opts = options(&args.deb);
    specs
        .iter()
        .map(|spec| {
            write_deb(spec, &opts, dist)
                .with_context(|| format!("building {}", spec.control.package))
        })
        .collect()
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
