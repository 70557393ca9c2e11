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
    eprintln!(
        "publishing {} package file(s) into {} (suite {}): reading, indexing, signing",
        debs.len(),
        repo.display(),
        args.suite
    );
    let started = std::time::Instant::now();
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
    eprintln!(
        "publish finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !report.changed {
        crate::outln!("nothing to do: the repository already has exactly these files");
        print_fingerprint(&report);
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
    print_fingerprint(&report);
    Ok(())
}

/// The key nodes are asked to trust, and how a node admin checks a copy of it before doing so.
fn print_fingerprint(report: &repository::PublishReport) {
    if let Some(fingerprint) = &report.fingerprint {
        crate::outln!(
            "signing key fingerprint: {fingerprint}\n  \
             node admins compare it with the page `kubedeb serve` shows, or on a node with gpg with \
             `gpg --show-keys /usr/share/keyrings/{}.gpg`, before trusting the key",
            repository::KEYRING_NAME
        );
    }
}
