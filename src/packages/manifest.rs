//! packaging/packages.toml: what each k8s-* package is made of, as data.

use super::PackageError;
use serde::Deserialize;

const MANIFEST: &str = include_str!("../../packaging/packages.toml");
pub(crate) const MANIFEST_ORIGIN: &str = "packaging/packages.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub package: Vec<PackageDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackageDef {
    pub name: String,
    pub version: VersionOf,
    pub upstream: Upstream,
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
    pub postinst: Option<String>,
    pub prerm: Option<String>,
    pub postrm: Option<String>,
    #[serde(default)]
    pub file: Vec<FileDef>,
}

/// Which upstream version a package carries.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum VersionOf {
    Kubernetes,
    Flannel,
}

/// Whose binaries a package ships (for debian/copyright).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Upstream {
    Kubernetes,
    KubernetesEtcd,
    Flannel,
}

impl Upstream {
    pub fn name(self) -> &'static str {
        match self {
            Upstream::Kubernetes => "Kubernetes",
            Upstream::KubernetesEtcd => "Kubernetes, etcd",
            Upstream::Flannel => "flannel",
        }
    }
    pub fn source(self) -> &'static str {
        match self {
            Upstream::Kubernetes | Upstream::KubernetesEtcd => {
                "https://github.com/kubernetes/kubernetes/releases"
            }
            Upstream::Flannel => "https://github.com/coreos/flannel/releases",
        }
    }
    pub fn copyright(self) -> &'static str {
        match self {
            Upstream::Kubernetes => "2014-2016 The Kubernetes Authors",
            Upstream::KubernetesEtcd => {
                "2014-2016 The Kubernetes Authors\n 2013-2016 CoreOS, Inc. (etcd, https://github.com/coreos/etcd)"
            }
            Upstream::Flannel => "2014-2016 CoreOS, Inc.",
        }
    }
    pub fn homepage(self) -> &'static str {
        match self {
            Upstream::Kubernetes | Upstream::KubernetesEtcd => "https://kubernetes.io/",
            Upstream::Flannel => "https://github.com/coreos/flannel",
        }
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
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDef {
    pub path: String,
    pub template: String,
    pub kind: FileKind,
}

pub(crate) fn manifest() -> Result<Manifest, PackageError> {
    toml::from_str(MANIFEST).map_err(|e| PackageError::Manifest {
        origin: MANIFEST_ORIGIN.into(),
        message: e.to_string(),
    })
}
