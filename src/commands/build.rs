//! `kubedeb build`: render the templates and write the packages into the dist folder.

use crate::catalog::Catalog;
use crate::cli::{BuildArgs, DebArgs, PackageArgs};
use crate::config::Config;
use crate::deb::{write_deb, BuildOptions};
use crate::fetch::{fetched, read_lock, Binaries};
use crate::packages::PackagedImage;
use anyhow::Context;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

pub fn run(args: &BuildArgs) -> anyhow::Result<()> {
    let cache = super::resolve(&args.cluster, &args.cache);
    let (config, catalog) = super::load(&args.cluster, &cache)?;
    // Held until the packages are written: a fetch meanwhile would swap the binaries under us.
    let _cache = read_lock(&cache)?;
    same_catalog(&cache, &catalog, &config)?;
    let binaries = fetched(&cache, &config.versions, &catalog)?;
    // Checked before dist/ is touched: a missing or changed archive leaves it as it was.
    let images = fetched_images(&cache, &config, &catalog)?;
    let debian = carried_debs(&cache, &config)?;
    let packages = super::resolve_packages(&args.cluster, &args.packages);
    for deb in build(&packages, &config, &catalog, &binaries, &images, &debian)? {
        crate::outln!("{}", deb.display());
    }
    Ok(())
}

/// Refuses to build from a cache fetched with other catalog entries than `catalog` gives,
/// saying each difference, rather than a bare "not fetched".
fn same_catalog(cache: &Path, catalog: &Catalog, config: &Config) -> anyhow::Result<()> {
    let Some(record) = crate::fetch::record::read(cache)? else {
        return Ok(());
    };
    let differences = crate::fetch::record::differences(&record, catalog, &config.versions);
    if differences.is_empty() {
        return Ok(());
    }
    let was = record.catalog.as_ref().map_or_else(
        || "with no --catalog".to_string(),
        |file| format!("with --catalog {}", file.display()),
    );
    anyhow::bail!(
        "the binaries in {} were fetched with other catalog entries than this build uses:\n  {}\n\
         build {was} as they were fetched, or run `kubedeb fetch` again with this catalog",
        cache.display(),
        differences.join("\n  ")
    )
}

/// The fetched archive of every image the settings need, each checked against the cache's
/// index (see [`crate::images::cached`]); the error names the image and `kubedeb fetch`.
pub fn fetched_images(
    cache: &Path,
    config: &Config,
    catalog: &Catalog,
) -> anyhow::Result<Vec<PackagedImage>> {
    let specs = config.images(catalog)?;
    crate::packages::fetched_images(cache, &specs).with_context(|| {
        format!(
            "the image archives in {} cannot be packaged",
            crate::images::images_dir(cache).display()
        )
    })
}

/// With debian.carry, the Debian packages `kubedeb fetch` carried, each checked again; none without.
pub fn carried_debs(cache: &Path, config: &Config) -> anyhow::Result<Vec<PathBuf>> {
    if !config.debian.carry {
        return Ok(Vec::new());
    }
    Ok(crate::airgap::carried(cache, &config.debian)?
        .into_iter()
        .map(|(_, path)| path)
        .collect())
}

/// Builds every package into the dist folder the command line names, each file written whole
/// or not at all, with the carried Debian packages beside them.
pub fn build(
    args: &PackageArgs,
    config: &Config,
    catalog: &Catalog,
    binaries: &Binaries,
    images: &[PackagedImage],
    debian: &[PathBuf],
) -> anyhow::Result<Vec<PathBuf>> {
    let _dist = open_dist(&args.dist)?;
    build_into(&args.dist, args, config, catalog, binaries, images, debian)
}

/// Puts a carried Debian package in `dir` under its own name (a hard link where it can).
fn place(dir: &Path, deb: &Path) -> anyhow::Result<PathBuf> {
    let name = deb.file_name().context("a carried .deb has a file name")?;
    let target = dir.join(name);
    let tmp = dir.join(format!(".{}.part", name.to_string_lossy()));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(deb, &tmp).is_err() {
        std::fs::copy(deb, &tmp)
            .with_context(|| format!("cannot copy {} to {}", deb.display(), dir.display()))?;
    }
    std::fs::rename(&tmp, &target).with_context(|| format!("cannot write {}", target.display()))?;
    Ok(target)
}

/// Builds every package into `dir` (the dist folder, or `kubedeb up`'s staging folder in it).
pub fn build_into(
    dir: &Path,
    args: &PackageArgs,
    config: &Config,
    catalog: &Catalog,
    binaries: &Binaries,
    images: &[PackagedImage],
    debian: &[PathBuf],
) -> anyhow::Result<Vec<PathBuf>> {
    let map: BTreeMap<String, PathBuf> = binaries
        .iter()
        .map(|(name, path)| (name.to_string(), path.to_path_buf()))
        .collect();
    let specs = crate::packages::specs(config, catalog, &map, images, args.templates.as_deref())?;
    let opts = options(&args.deb)?;
    specs
        .iter()
        .map(|spec| {
            let package = &spec.control.package;
            // Compressing the real binaries takes tens of seconds per package with xz: progress
            // goes to stderr, one line before and one after, so stdout stays the list of files.
            let level = opts
                .level
                .map_or("default level".to_string(), |l| format!("level {l}"));
            eprintln!(
                "{package}: compressing ({}, {level})",
                format!("{:?}", opts.compression).to_lowercase()
            );
            let started = std::time::Instant::now();
            let deb = write_deb(spec, &opts, dir).with_context(|| format!("building {package}"))?;
            let size = std::fs::metadata(&deb).map(|m| m.len()).unwrap_or(0);
            eprintln!(
                "{package}: {:.1} MiB in {:.1} s",
                size as f64 / f64::from(1 << 20),
                started.elapsed().as_secs_f64()
            );
            Ok(deb)
        })
        .chain(debian.iter().map(|deb| place(dir, deb)))
        .collect()
}

/// The dist folder, created, locked against another build or `up` writing into it, and rid of
/// what killed ones left: half-written `.<name>.deb.*.tmp` files and `up` staging folders.
/// The lock is held until the returned handle on the folder is dropped.
pub fn open_dist(dist: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(dist).with_context(|| {
        format!(
            "cannot create the dist folder {}; choose another with --dist",
            dist.display()
        )
    })?;
    // flock on the folder itself: no lock file shows up among the packages.
    let lock = File::open(dist)
        .with_context(|| format!("cannot open the dist folder {}", dist.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            crate::note!(
                "waiting for another kubedeb build into {} to finish",
                dist.display()
            );
            lock.lock()
                .with_context(|| format!("cannot lock the dist folder {}", dist.display()))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e)
                .with_context(|| format!("cannot lock the dist folder {}", dist.display()))
        }
    }
    let entries = std::fs::read_dir(dist)
        .with_context(|| format!("cannot list the dist folder {}", dist.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dist.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') && name.ends_with(".tmp") && path.is_file() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the leftover {}", path.display()))?;
        } else if name.starts_with(UP_STAGING) && path.is_dir() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove the leftover {}", path.display()))?;
        }
    }
    Ok(lock)
}

/// The prefix of the folder in dist/ that `kubedeb up` builds into before publishing.
pub const UP_STAGING: &str = ".up-staging-";

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
