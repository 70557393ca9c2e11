//! `kubedeb up`: fetch, build and publish in one command.

use crate::cli::UpArgs;
use crate::fetch::fetch;
use crate::repository::RepoError;

pub fn run(args: &UpArgs) -> anyhow::Result<()> {
    let cluster = &args.fetch.cluster;
    let (config, catalog) = super::load(cluster)?;
    let binaries = fetch(
        &config,
        &catalog,
        &super::fetch::options(&args.fetch, &config)?,
    )?;
    let debs = super::build::build(&args.packages, &config, &catalog, &binaries)?;
    for deb in &debs {
        println!("built      {}", deb.display());
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
    })
}
