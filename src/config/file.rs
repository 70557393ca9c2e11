//! cluster.toml as written: its sections, their defaults (the seed's) and its serde form.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// cluster.toml as written: every field but `master_ip` has the seed's default. Values stay
/// text here so that validation can quote what the user wrote; [`ConfigFile::validate`] turns
/// them into a [`Config`](super::Config).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    /// The master's address; the one setting without a default.
    pub master_ip: Option<Ipv4Addr>,
    pub versions: Versions,
    pub network: Network,
    pub dns: Dns,
    pub apiserver: Apiserver,
    pub kubelet: Kubelet,
    pub docker: Docker,
    pub certificates: Certificates,
    pub fetch: FetchSettings,
    pub package: PackageSettings,
    pub addons: Addons,
    pub debian: DebianSettings,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Versions {
    pub kubernetes: String,
    pub flannel: String,
    pub etcd: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// SERVICE_CLUSTER_IP_RANGE.
    pub service_cluster_ip_range: String,
    /// FLANNEL_NET.
    pub flannel_network: String,
    /// flannel backend type (the seed: vxlan).
    pub flannel_backend: String,
    /// FLANNEL_OTHER_NET_CONFIG: extra JSON members appended to the flannel config, e.g. `"SubnetLen": 24`.
    pub flannel_extra_json: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// DNS_SERVER_IP.
    pub server_ip: String,
    /// DNS_DOMAIN.
    pub domain: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Apiserver {
    pub admission_control: Vec<String>,
    /// SERVICE_NODE_PORT_RANGE, `low-high`.
    pub service_node_port_range: String,
}

/// The cluster addons the master deploys (the seed's ENABLE_CLUSTER_DNS, DNS_REPLICAS, ENABLE_CLUSTER_UI).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Addons {
    /// The cluster DNS (kube-dns: skydns and kube2sky) at `dns.server_ip`.
    pub dns: bool,
    /// How many DNS pods run.
    pub dns_replicas: u32,
    /// kube-ui, reached through the apiserver's proxy.
    pub ui: bool,
}

impl Default for Addons {
    fn default() -> Self {
        Addons {
            dns: true,
            dns_replicas: 1,
            ui: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kubelet {
    /// `--pod-infra-container-image` when not the catalog's pause image (empty: the catalog's,
    /// which k8s-images carries). Another name is fetched and packaged in its place.
    pub pause_image: String,
    /// KUBELET_CONFIG (`--config=`), empty by default as in the seed.
    pub config: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Docker {
    /// DOCKER_OPTS: extra options for dockerd, put before the flannel ones.
    pub extra_opts: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Certificates {
    /// Extra subject alternative names for the apiserver certificate, e.g. `IP:10.0.0.5` or `DNS:k8s.example`.
    pub extra_sans: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchSettings {
    /// Mirror base URLs tried in order before upstream.
    pub mirrors: Vec<String>,
    /// A user catalog file adding versions, URLs and hashes.
    pub catalog: Option<String>,
    /// The largest tarball a download may deliver, like "2 GiB".
    pub max_download: String,
    /// The largest binary extracted from a tarball, like "512 MiB".
    pub max_binary: String,
    /// How long a source may send nothing (connecting or mid-transfer), like "15 s".
    pub timeout: String,
    /// Registry mirrors tried in order before each image's registry, `[http://]host[:port][/prefix][=source]`.
    pub registry_mirrors: Vec<String>,
    /// A containers auth file (`{"auths": ...}`) with registry credentials.
    pub registry_auth: Option<String>,
    /// An extra CA (PEM) for registries with their own certificate authority.
    pub registry_ca: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PackageSettings {
    /// Debian revision of the k8s-* packages; raise it to ship changed settings as an upgrade.
    pub revision: u32,
    pub maintainer: String,
}

/// The Debian packages the nodes need beyond a minimal install, carried into the repository.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebianSettings {
    /// Carry docker.io, iptables, ... and their dependencies into the repository, so that a
    /// node needs no Debian mirror. Off: nodes install them from their own Debian mirror.
    pub carry: bool,
    /// The nodes' Debian release (codename).
    pub release: String,
    pub architecture: String,
    /// Debian mirror base URLs tried in order (`<base>/dists/<release>/InRelease`).
    pub mirrors: Vec<String>,
    /// Debian security mirror base URLs (`<release>-security`); empty: no security suite.
    pub security_mirrors: Vec<String>,
    /// More Debian packages to carry with their dependencies, e.g. "conntrack".
    pub extra_packages: Vec<String>,
    /// A dpkg status file of the nodes' base install (default: the release's `Priority: required` set).
    pub base_status: Option<String>,
    /// An OpenPGP keyring (binary or armored) the release's InRelease is signed with
    /// (default: Debian's bookworm archive keys, carried in kubedeb).
    pub keyring: Option<String>,
}

impl Default for DebianSettings {
    fn default() -> Self {
        DebianSettings {
            carry: false,
            release: "bookworm".into(),
            architecture: "amd64".into(),
            mirrors: vec!["http://deb.debian.org/debian".into()],
            security_mirrors: vec!["http://deb.debian.org/debian-security".into()],
            extra_packages: Vec::new(),
            base_status: None,
            keyring: None,
        }
    }
}

impl Default for Versions {
    fn default() -> Self {
        Versions {
            kubernetes: "1.1.4".into(),
            flannel: "0.5.5".into(),
            etcd: "2.2.1".into(),
        }
    }
}

impl Default for Network {
    fn default() -> Self {
        Network {
            service_cluster_ip_range: "192.168.3.0/24".into(),
            flannel_network: "172.16.0.0/16".into(),
            flannel_backend: "vxlan".into(),
            flannel_extra_json: String::new(),
        }
    }
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            server_ip: "192.168.3.10".into(),
            domain: "cluster.local".into(),
        }
    }
}

impl Default for Apiserver {
    fn default() -> Self {
        Apiserver {
            admission_control: [
                "NamespaceLifecycle",
                "LimitRanger",
                "ServiceAccount",
                "ResourceQuota",
                "SecurityContextDeny",
            ]
            .map(String::from)
            .to_vec(),
            service_node_port_range: "30000-32767".into(),
        }
    }
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            mirrors: Vec::new(),
            catalog: None,
            max_download: "2 GiB".into(),
            max_binary: "512 MiB".into(),
            timeout: "15 s".into(),
            registry_mirrors: Vec::new(),
            registry_auth: None,
            registry_ca: None,
        }
    }
}

impl Default for PackageSettings {
    fn default() -> Self {
        PackageSettings {
            revision: 1,
            maintainer: "kubedeb <kubedeb@kubedeb.invalid>".into(),
        }
    }
}
