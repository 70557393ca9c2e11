//! `kubedeb up`: fetch, build and publish in one command.

use crate::cli::UpArgs;
use crate::fetch::fetch;
use crate::repository::RepoError;
use anyhow::Context;
use std::path::Path;

pub fn run(args: &UpArgs) -> anyhow::Result<()> {
    let cluster = &args.fetch.cluster;
    let cache = super::resolve(cluster, &args.fetch.cache);
    let (config, catalog) = super::load(cluster, &cache)?;
    let packages = super::resolve_packages(cluster, &args.packages);
    let mut repo_args = args.repo.clone();
    repo_args.repo = cluster.resolve(&repo_args.repo);
    // Before the minutes of fetching and building, not after: a repository that cannot take
    // the packages fails now.
    writable_repo(&repo_args.repo)?;
    let binaries = fetch(
        &config.versions,
        &catalog,
        &super::fetch::options(
            &args.fetch,
            &config.fetch,
            &config.debian,
            &cache,
            "up",
            config.images(&catalog)?,
        )?,
    )?;
    // Another fetch may slip in between the two locks; while this one is held none can.
    let _cache = crate::fetch::read_lock(&cache)?;
    let images = super::build::fetched_images(&cache, &config, &catalog)?;
    let debian = super::build::carried_debs(&cache, &config)?;
    // Built into a staging folder and moved into dist/ only once published: a refused publish
    // leaves dist/ as it was, so what the README publishes from there still publishes.
    let dist = &packages.dist;
    let _dist_lock = super::build::open_dist(dist)?;
    let staging = tempfile::Builder::new()
        .prefix(super::build::UP_STAGING)
        .tempdir_in(dist)
        .with_context(|| format!("cannot create a staging folder in {}", dist.display()))?;
    let debs = super::build::build_into(
        staging.path(),
        &packages,
        &config,
        &catalog,
        &binaries,
        &images,
        &debian,
    )?;
    for deb in &debs {
        crate::outln!(
            "built      {}",
            deb.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    super::publish::publish(&repo_args, &debs).map_err(|err| {
        match err.downcast_ref::<RepoError>() {
            Some(RepoError::DuplicateVersion { .. }) => err.context(format!(
                "the settings changed since revision {} was published: raise package.revision in {} to publish them as an upgrade",
                config.package.revision,
                cluster.config_path().display()
            )),
            _ => err,
        }
    })?;
    for deb in &debs {
        let target = dist.join(deb.file_name().expect("a built .deb has a file name"));
        std::fs::rename(deb, &target).with_context(|| {
            format!(
                "published, but cannot move {} to {}",
                deb.display(),
                target.display()
            )
        })?;
    }
    Ok(())
}

/// Creates the repository folder and a probe file in it, so that a repository kubedeb cannot
/// write is found before building.
fn writable_repo(repo: &Path) -> anyhow::Result<()> {
    let refused = |cause: std::io::Error| {
        anyhow::anyhow!(
            "the repository {} is not writable ({cause}); fix its permissions or choose another folder with --repo, then run `kubedeb up` again",
            repo.display()
        )
    };
    std::fs::create_dir_all(repo).map_err(refused)?;
    tempfile::Builder::new()
        .prefix(".kubedeb-write-probe.")
        .tempfile_in(repo)
        .map_err(refused)?;
    Ok(())
}
