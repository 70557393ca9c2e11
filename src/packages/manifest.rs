//! packaging/packages.toml: what each k8s-* package is made of, as data.

use super::PackageError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MANIFEST: &str = include_str!("../../packaging/packages.toml");
pub(crate) const MANIFEST_ORIGIN: &str = "packaging/packages.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub changelog: Changelog,
    /// By the names packages use in their `upstream`.
    pub upstream: BTreeMap<String, Upstream>,
    pub package: Vec<PackageDef>,
}

impl Manifest {
    /// The upstream `def` names.
    pub fn upstream_of(&self, def: &PackageDef) -> Result<&Upstream, PackageError> {
        self.upstream
            .get(&def.upstream)
            .ok_or_else(|| PackageError::Manifest {
                origin: MANIFEST_ORIGIN.into(),
                message: format!(
                    "{} names the upstream {:?}, which has no [upstream.{}] table",
                    def.name, def.upstream, def.upstream
                ),
            })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackageDef {
    pub name: String,
    pub version: VersionOf,
    pub upstream: String,
    pub summary: String,
    pub description: String,
    #[serde(default)]
    pub depends: Vec<String>,
    #[serde(default)]
    pub conflicts: Vec<String>,
    #[serde(default)]
    pub replaces: Vec<String>,
    #[serde(default)]
    pub binaries: Vec<String>,
    #[serde(default)]
    pub programs: Vec<String>,
    /// Carries the cluster's container images (fetched into the cache) in
    /// [`PackageDef::images_dir`], with the list the loader reads.
    #[serde(default)]
    pub images: bool,
    pub postinst: Option<String>,
    pub prerm: Option<String>,
    pub postrm: Option<String>,
    #[serde(default)]
    pub units: Vec<Unit>,
    #[serde(default)]
    pub file: Vec<FileDef>,
}

impl PackageDef {
    /// Where a package with `images = true` puts the image archives and their list.
    pub fn images_dir(&self) -> String {
        format!("/usr/share/{}", self.name)
    }
}

/// Which upstream version a package carries.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum VersionOf {
    Kubernetes,
    Flannel,
}

/// Whose binaries a package ships, for debian/copyright and the Homepage field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Upstream {
    pub name: String,
    pub source: String,
    pub homepage: String,
    /// debian/copyright's Copyright field: continuation lines start with a space.
    pub copyright: String,
}

/// A systemd unit a package ships, and what its maintainer scripts do with it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub name: String,
    /// Enabled by postinst (and purged from systemd's state by postrm).
    #[serde(default = "yes")]
    pub enable: bool,
    /// Started (restarted on upgrade) by postinst.
    #[serde(default = "yes")]
    pub start: bool,
    /// Started on its own before the package's other units, because postinst needs it running
    /// in between (k8s-master registers the flannel network in etcd).
    #[serde(default)]
    pub start_first: bool,
}

fn yes() -> bool {
    true
}

/// The changelog entry every package gets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Changelog {
    /// RFC 2822, as in debian/changelog.
    pub date: String,
    pub text: String,
}

impl Changelog {
    /// [`Changelog::date`] as a Unix time.
    pub fn epoch(&self) -> Result<u64, PackageError> {
        crate::repository::date::parse(&self.date)
            .and_then(|t| u64::try_from(t).ok())
            .ok_or_else(|| PackageError::Manifest {
                origin: MANIFEST_ORIGIN.into(),
                message: format!(
                    "changelog.date {:?} is not a date like \"Mon, 01 Jan 2024 00:00:00 +0000\"",
                    self.date
                ),
            })
    }
}

/// What a file of a package is; decides its mode and where it may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// Under /etc: a conffile, kept on upgrade.
    Conffile,
    /// A systemd unit or drop-in under /lib/systemd/system.
    Unit,
    /// An executable helper under /usr/lib/kubedeb.
    Helper,
    /// Documentation under /usr/share/doc/<package>.
    Doc,
    /// Data the package's scripts read, under /usr/share/<package> (the addons' manifests).
    Data,
}

impl FileKind {
    pub fn mode(self) -> u32 {
        match self {
            FileKind::Helper => 0o755,
            _ => 0o644,
        }
    }
    pub fn prefix(self, package: &str) -> String {
        match self {
            FileKind::Conffile => "/etc/".into(),
            FileKind::Unit => "/lib/systemd/system/".into(),
            FileKind::Helper => "/usr/lib/kubedeb/".into(),
            FileKind::Doc => format!("/usr/share/doc/{package}/"),
            FileKind::Data => format!("/usr/share/{package}/"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDef {
    pub path: String,
    pub template: String,
    pub kind: FileKind,
    /// A setting of the template context (`addons.dns`) that must be true for the file to be
    /// shipped; absent: always shipped.
    pub when: Option<String>,
}

pub(crate) fn manifest() -> Result<Manifest, PackageError> {
    toml::from_str(MANIFEST).map_err(|e| PackageError::Manifest {
        origin: MANIFEST_ORIGIN.into(),
        message: e.to_string(),
    })
}

/// Each k8s-* package's name and `depends` as written (templates unrendered): what the nodes
/// need from Debian, for resolving the packages to carry before any k8s-* package is built.
pub fn relations() -> Result<Vec<(String, Vec<String>)>, PackageError> {
    Ok(manifest()?
        .package
        .into_iter()
        .map(|p| (p.name, p.depends))
        .collect())
}
