//! The commented cluster.toml that `kubedeb init` writes: every setting with its default and what it does.

use super::ConfigFile;
use serde::Serialize;
use std::net::Ipv4Addr;

/// A value in TOML syntax.
fn v<T: Serialize>(value: &T) -> String {
    toml::Value::try_from(value)
        .expect("config values serialize to TOML")
        .to_string()
}

pub(super) fn render(master_ip: Option<Ipv4Addr>) -> String {
    let d = ConfigFile::default();
    let master = match master_ip {
        Some(ip) => format!("master_ip = {}", v(&ip.to_string())),
        None => "# master_ip = \"192.168.100.11\"   # required: set it here or pass --master-ip"
            .to_string(),
    };
    let catalog = match &d.fetch.catalog {
        Some(path) => format!("catalog = {}", v(path)),
        None => "# catalog = \"my-catalog.toml\"".to_string(),
    };
    format!(
        r#"# kubedeb cluster settings. Every value below is the default (that of the k8s-debian seed);
# delete a line to keep the default. `kubedeb check` validates this file.

# The master's IPv4 address: the apiserver, etcd and the certificate use it, the minions reach it.
{master}

[versions]
# Each version needs an entry in the release catalog (packaging/catalog.toml, or your own with --catalog).
kubernetes = {kubernetes}
flannel = {flannel}
# etcd 3.4.30 is also in the catalog; it runs with the v2 API switched on for flannel 0.5.
etcd = {etcd}

[network]
# Service (cluster) IPs. Its first address is the kubernetes service and goes into the apiserver certificate.
# Must not overlap the flannel network or the nodes' own network.
service_cluster_ip_range = {service_range}
# The pod network; flannel gives each node a /24 of it (skipping the first), so use /22 or larger.
flannel_network = {flannel_network}
# flannel backend: udp, vxlan, host-gw, aws-vpc, gce or alloc.
flannel_backend = {flannel_backend}
# Extra members of flannel's network config object, e.g. '"SubnetLen": 25' (a leading comma, as in the
# seed's FLANNEL_OTHER_NET_CONFIG, is accepted). flannel 0.5 reads SubnetLen, SubnetMin and SubnetMax.
flannel_extra_json = {flannel_extra_json}

[dns]
# The cluster DNS service address: inside the service range, not its first address.
server_ip = {dns_ip}
domain = {dns_domain}

[apiserver]
admission_control = {admission_control}
service_node_port_range = {node_ports}

[kubelet]
# The pod infrastructure image; empty: the catalog's (gcr.io/google_containers/pause:0.8.0 for
# 1.1.4), which kubedeb fetches and k8s-images carries, so no node pulls it from a registry.
pause_image = {pause_image}
# kubelet --config= (a manifest folder); empty as in the seed.
config = {kubelet_config}

[addons]
# Applied to the cluster by k8s-master once its apiserver runs; one switched off on an upgrade is deleted.
# The cluster DNS (skydns at dns.server_ip; kubelets get --cluster-dns only while it is on), and how many
# pods run it.
dns = {addons_dns}
dns_replicas = {dns_replicas}
# kube-ui, reached through the apiserver: http://<master>:8080/ui
ui = {addons_ui}

[docker]
# Extra dockerd options, put before the flannel ones (--bip, --mtu).
extra_opts = {docker_opts}

[certificates]
# Extra subject alternative names for the apiserver certificate, e.g. ["IP:10.0.0.5", "DNS:k8s.example.org"].
extra_sans = {extra_sans}

[fetch]
# Mirror base URLs tried in order before upstream; kubedeb fetches <mirror>/<tarball file name>.
mirrors = {mirrors}
# Your own release catalog, merged over the built-in one (adds versions, URLs, sha256 pins);
# a relative path is relative to this file's folder.
{catalog}
# The largest tarball one download may deliver, and the largest binary taken out of a tarball
# (B, KiB, MiB, GiB or TiB): a hostile mirror cannot fill the disk or the memory.
max_download = {max_download}
max_binary = {max_binary}
# How long a source may send nothing, while connecting or in the middle of a transfer, before
# kubedeb reports it stalled and tries the next one ("15 s", "2 min").
timeout = {timeout}
# Container registry mirrors, tried in order before each image's own registry (gcr.io is not
# reachable from everywhere): [http://|https://]host[:port][/prefix][=source]. With =source a
# mirror serves only the images under source, at prefix + the rest of their path, e.g.
#   "registry.cn-hangzhou.aliyuncs.com/google_containers=gcr.io/google_containers"
# serves gcr.io/google_containers/pause:0.8.0 as registry.cn-hangzhou.aliyuncs.com/google_containers/pause:0.8.0;
# without it, every image at prefix/<its path>. https unless http:// is written.
registry_mirrors = {registry_mirrors}
# Registry credentials: a containers auth file as `skopeo login --authfile FILE` or `docker login`
# write it (default: $REGISTRY_AUTH_FILE, else ~/.docker/config.json when it exists).
# registry_auth = "auth.json"
# An extra certificate authority (PEM) for registries with their own CA.
# registry_ca = "registry-ca.pem"

[package]
# Debian revision of the k8s-* packages: raise it to ship changed settings as an upgrade.
revision = {revision}
maintainer = {maintainer}

[debian]
# Carry the Debian packages the k8s-* packages need (docker.io, containerd, runc, iptables, ...
# and everything they depend on beyond a minimal Debian install) into the repository, so that a
# node whose only apt source is this repository installs a working node. Off: the nodes take
# them from their own Debian mirror. `kubedeb check` lists what is carried and its size.
carry = {debian_carry}
# The nodes' Debian release and architecture.
release = {debian_release}
architecture = {debian_architecture}
# Debian mirrors tried in order (behind the firewall, a domestic one first, e.g.
# "http://mirrors.tuna.tsinghua.edu.cn/debian"); InRelease is checked against Debian's archive keys.
mirrors = {debian_mirrors}
# Security mirrors for <release>-security ([] leaves the security updates out).
security_mirrors = {debian_security_mirrors}
# More Debian packages to carry, with their dependencies.
extra_packages = {debian_extra}
# The nodes' base install as a dpkg status file (default: the release's Priority: required set).
# base_status = "nodes-status"
# The release's archive keyring (needed for a release other than bookworm).
# keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
"#,
        kubernetes = v(&d.versions.kubernetes),
        flannel = v(&d.versions.flannel),
        etcd = v(&d.versions.etcd),
        service_range = v(&d.network.service_cluster_ip_range),
        flannel_network = v(&d.network.flannel_network),
        flannel_backend = v(&d.network.flannel_backend),
        flannel_extra_json = v(&d.network.flannel_extra_json),
        dns_ip = v(&d.dns.server_ip),
        dns_domain = v(&d.dns.domain),
        admission_control = v(&d.apiserver.admission_control),
        node_ports = v(&d.apiserver.service_node_port_range),
        pause_image = v(&d.kubelet.pause_image),
        kubelet_config = v(&d.kubelet.config),
        addons_dns = v(&d.addons.dns),
        dns_replicas = v(&d.addons.dns_replicas),
        addons_ui = v(&d.addons.ui),
        docker_opts = v(&d.docker.extra_opts),
        extra_sans = v(&d.certificates.extra_sans),
        mirrors = v(&d.fetch.mirrors),
        max_download = v(&d.fetch.max_download),
        max_binary = v(&d.fetch.max_binary),
        timeout = v(&d.fetch.timeout),
        registry_mirrors = v(&d.fetch.registry_mirrors),
        revision = v(&d.package.revision),
        maintainer = v(&d.package.maintainer),
        debian_carry = v(&d.debian.carry),
        debian_release = v(&d.debian.release),
        debian_architecture = v(&d.debian.architecture),
        debian_mirrors = v(&d.debian.mirrors),
        debian_security_mirrors = v(&d.debian.security_mirrors),
        debian_extra = v(&d.debian.extra_packages),
    )
}
