//! `kubedeb serve`: serve the repository's public tree to the nodes.

use crate::cli::ServeArgs;
use crate::serve::{serve, Site};
use anyhow::Context;

pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let root = crate::repository::public_dir(&args.repo);
    let release = root.join("dists").join(&args.suite).join("InRelease");
    std::fs::metadata(&release)
        .with_context(|| format!("{} has no published suite {:?} ({} is missing); run `kubedeb publish` or `kubedeb up` first", args.repo.display(), args.suite, release.display()))?;
    serve(
        Site {
            root,
            suite: args.suite.clone(),
            url: args.url.clone(),
        },
        &args.listen,
    )
}
