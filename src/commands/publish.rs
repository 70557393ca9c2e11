//! `kubedeb publish`: put .deb files into the signed apt repository and say how clients use it.

use crate::cli::{PublishArgs, RepoArgs};
use crate::repository::{self, PublishOptions};
use anyhow::Context;
use std::path::PathBuf;

pub fn run(args: &PublishArgs) -> anyhow::Result<()> {
    publish(&args.repo, &args.debs)
}

/// Publishes `debs` as `repo` says and prints what changed; `kubedeb up` uses it too.
pub fn publish(args: &RepoArgs, debs: &[PathBuf]) -> anyhow::Result<()> {
    let opts = PublishOptions {
        key: args.key.clone(),
        keep: args.keep,
        ..PublishOptions::new(args.suite.clone())
    };
    let repo = &args.repo;
    let report = repository::publish(repo, debs, &opts)
        .with_context(|| format!("publishing into {}", repo.display()))?;
    for p in &report.added {
        crate::outln!(
            "added      {} {} {}  {}",
            p.package,
            p.version,
            p.architecture,
            p.filename
        );
    }
    for p in &report.unchanged {
        crate::outln!(
            "unchanged  {} {} {} (already published, identical)",
            p.package,
            p.version,
            p.architecture
        );
    }
    for p in &report.pruned {
        crate::outln!("pruned     {} {} {}", p.package, p.version, p.architecture);
    }
    if !report.changed {
        crate::outln!("nothing to do: the repository already has exactly these files");
        return Ok(());
    }
    crate::outln!(
        "suite {} published {}, signed by {}",
        report.suite,
        report.date.as_deref().unwrap_or("?"),
        report.fingerprint.as_deref().unwrap_or("?")
    );
    crate::outln!(
        "serve {} and on each node install {} as /usr/share/keyrings/{}.gpg, then add:\n  \
         deb [signed-by=/usr/share/keyrings/{}.gpg] <url> {} main",
        repository::public_dir(repo).display(),
        report.keyring.display(),
        repository::KEYRING_NAME,
        repository::KEYRING_NAME,
        report.suite
    );
    Ok(())
}
