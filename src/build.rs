//! The build stage: fetched binaries and cluster settings in, the k8s-* .deb files out.

use crate::catalog::{Catalog, Component};
use crate::cluster::{self, BuildInput};
use crate::config::Config;
use crate::deb::{write_deb, BuildOptions, PackageSpec};
use crate::fetch::{binaries_dir, Binaries};
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the binaries of the configured releases are, or will be once fetched.
pub fn expected_binaries(
    cache: &Path,
    config: &Config,
    catalog: &Catalog,
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut map = BTreeMap::new();
    for component in [Component::Kubernetes, Component::Flannel, Component::Etcd] {
        let version = config.version(component);
        let release = catalog.release(component, version)?;
        let dir = binaries_dir(cache, component, version);
        for binary in &release.binaries {
            map.insert(binary.name.clone(), dir.join(&binary.name));
        }
    }
    Ok(map)
}

/// The package descriptions for these settings and binaries.
pub fn specs(
    config: &Config,
    catalog: &Catalog,
    binaries: &BTreeMap<String, PathBuf>,
    templates: Option<&Path>,
) -> anyhow::Result<Vec<PackageSpec>> {
    let etcd = catalog.release(Component::Etcd, &config.versions.etcd)?;
    let input = BuildInput {
        config,
        binaries,
        programs: &cluster::own_programs(),
        templates,
        etcd_v3_api: etcd.api.needs_v2_switch(),
    };
    Ok(cluster::packages(&input)?)
}

/// Builds every package into `dist`, each file written whole or not at all.
pub fn build(
    config: &Config,
    catalog: &Catalog,
    binaries: &Binaries,
    templates: Option<&Path>,
    dist: &Path,
    opts: &BuildOptions,
) -> anyhow::Result<Vec<PathBuf>> {
    let map: BTreeMap<String, PathBuf> = binaries
        .iter()
        .map(|(name, path)| (name.to_string(), path.to_path_buf()))
        .collect();
    let specs = specs(config, catalog, &map, templates)?;
    std::fs::create_dir_all(dist).with_context(|| {
        format!(
            "cannot create the dist folder {}; choose another with --dist",
            dist.display()
        )
    })?;
    specs
        .iter()
        .map(|spec| {
            write_deb(spec, opts, dist)
                .with_context(|| format!("building {}", spec.control.package))
        })
        .collect()
}
