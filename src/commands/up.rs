//! `kubedeb up`: fetch, build and publish in one command.

use crate::cli::UpArgs;
use crate::fetch::fetch;
use crate::repository::RepoError;
use anyhow::Context;

pub fn run(args: &UpArgs) -> anyhow::Result<()> {
    let cluster = &args.fetch.cluster;
    let (config, catalog) = super::load(cluster)?;
    let binaries = fetch(
        &config,
        &catalog,
        &super::fetch::options(&args.fetch, &config, "up")?,
    )?;
    // Another fetch may slip in between the two locks; while this one is held none can.
    let _cache = crate::fetch::read_lock(&args.fetch.cache)?;
    // Built into a staging folder and moved into dist/ only once published: a refused publish
    // leaves dist/ as it was, so what the README publishes from there still publishes.
    let dist = &args.packages.dist;
    let _dist_lock = super::build::open_dist(dist)?;
    let staging = tempfile::Builder::new()
        .prefix(super::build::UP_STAGING)
        .tempdir_in(dist)
        .with_context(|| format!("cannot create a staging folder in {}", dist.display()))?;
    let debs =
        super::build::build_into(staging.path(), &args.packages, &config, &catalog, &binaries)?;
    for deb in &debs {
        println!(
            "built      {}",
            deb.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    super::publish::publish(&args.repo, &debs).map_err(|err| {
        match err.downcast_ref::<RepoError>() {
            Some(RepoError::DuplicateVersion { .. }) => err.context(format!(
                "the settings changed since revision {} was published: raise package.revision in {} to publish them as an upgrade",
                config.package.revision,
                cluster.config.display()
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
