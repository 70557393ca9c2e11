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
    let opts = options(&args.deb)?;
    specs
        .iter()
        .map(|spec| {
            write_deb(spec, &opts, dist)
                .with_context(|| format!("building {}", spec.control.package))
        })
        .collect()
}

/// The writer's options from the command line, with `SOURCE_DATE_EPOCH` from the environment,
/// else the packages' changelog date.
pub fn options(deb: &DebArgs) -> anyhow::Result<BuildOptions> {
    let from_env = BuildOptions::from_env();
    let epoch = match from_env.source_date_epoch {
        Some(epoch) => epoch,
        None => crate::packages::default_epoch()?,
    };
    Ok(BuildOptions {
        compression: deb.compression,
        level: deb.level,
        block_cache: deb.block_cache_dir(),
        source_date_epoch: Some(epoch),
        ..from_env
    })
}
