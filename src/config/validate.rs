//! Validation of the cluster settings: every problem named by its setting, with what to do about it.

use super::{Apiserver, Config, ConfigError, ConfigFile, Dns, FetchConfig, Network, Problem};
use ipnet::Ipv4Net;
use serde::{Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Members flannel 0.5 reads besides Network and Backend (Go matches JSON keys case-insensitively).
const FLANNEL_EXTRA_KEYS: [&str; 3] = ["SubnetLen", "SubnetMin", "SubnetMax"];
/// A cluster needs one flannel subnet per node: the master and at least one minion.
const MIN_FLANNEL_SUBNETS: u64 = 2;

/// `apiserver.service_node_port_range`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePortRange {
    pub low: u16,
    pub high: u16,
}

impl fmt::Display for NodePortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

/// As kube-apiserver's `--service-node-port-range` reads it.
impl Serialize for NodePortRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// flannel 0.5 backends (`Backend.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlannelBackend {
    Udp,
    Vxlan,
    HostGw,
    AwsVpc,
    Gce,
    Alloc,
}

impl FlannelBackend {
    pub const ALL: [FlannelBackend; 6] = [
        FlannelBackend::Udp,
        FlannelBackend::Vxlan,
        FlannelBackend::HostGw,
        FlannelBackend::AwsVpc,
        FlannelBackend::Gce,
        FlannelBackend::Alloc,
    ];

    /// The name flannel's config uses.
    pub fn name(self) -> &'static str {
        match self {
            FlannelBackend::Udp => "udp",
            FlannelBackend::Vxlan => "vxlan",
            FlannelBackend::HostGw => "host-gw",
            FlannelBackend::AwsVpc => "aws-vpc",
            FlannelBackend::Gce => "gce",
            FlannelBackend::Alloc => "alloc",
        }
    }
}

impl fmt::Display for FlannelBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, setting: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            setting: setting.into(),
            message: message.into(),
        });
    }
}

impl ConfigFile {
    /// Check every setting (except versions against the catalog: [`Config::validate_versions`])
    /// and parse it into the typed settings. Reports all problems at once.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let mut p = Problems::default();
        let master = self.check_master(&mut p);
        let service = parse_net(
            &mut p,
            "network.service_cluster_ip_range",
            &self.network.service_cluster_ip_range,
        );
        let flannel = parse_net(
            &mut p,
            "network.flannel_network",
            &self.network.flannel_network,
        );
        if let Some(service) = service {
            if service.prefix_len() > 30 {
                p.add(
                    "network.service_cluster_ip_range",
                    format!("{service} is too small: it must hold the kubernetes service address and the DNS address; use /30 or a shorter prefix, like /24"),
                );
            }
        }
        if let (Some(service), Some(flannel)) = (service, flannel) {
            if service.contains(&flannel.network()) || flannel.contains(&service.network()) {
                p.add(
                    "network.service_cluster_ip_range",
                    format!("{service} overlaps network.flannel_network {flannel}: service and pod addresses must not mix; pick a service range outside the flannel network"),
                );
            }
        }
        if let (Some(master), Some(service)) = (master, service) {
            if service.contains(&master) {
                p.add("master_ip", format!("{master} is inside network.service_cluster_ip_range {service}: the node network, service range and flannel network must be disjoint; change one of them"));
            }
        }
        if let (Some(master), Some(flannel)) = (master, flannel) {
            if flannel.contains(&master) {
                p.add("master_ip", format!("{master} is inside network.flannel_network {flannel}: the node network, service range and flannel network must be disjoint; change one of them"));
            }
        }
        let dns = self.check_dns(&mut p, service);
        let backend = self.check_backend(&mut p);
        let subnets = self.check_flannel_extra(&mut p, flannel);
        let node_ports = self.check_node_ports(&mut p);
        let fetch = self.check_fetch(&mut p);
        let debian = self.check_debian(&mut p);
        self.check_rest(&mut p);

        // Every check that found nothing wrong gave its value.
        let (
            Some(master_ip),
            Some(service),
            Some(flannel),
            Some(dns),
            Some(backend),
            Some((flannel_subnet_len, flannel_subnets)),
            Some(node_ports),
            Some(fetch),
            true,
        ) = (
            master,
            service,
            flannel,
            dns,
            backend,
            subnets,
            node_ports,
            fetch,
            p.0.is_empty(),
        )
        else {
            return Err(ConfigError::Invalid {
                origin: "the cluster settings".into(),
                problems: p.0,
            });
        };
        Ok(Config {
            master_ip,
            versions: self.versions.clone(),
            network: Network {
                service_cluster_ip_range: service,
                flannel_network: flannel,
                flannel_backend: backend,
                flannel_extra_json: self.network.flannel_extra_json.clone(),
                flannel_subnet_len,
                flannel_subnets,
            },
            dns: Dns {
                server_ip: dns,
                domain: self.dns.domain.clone(),
            },
            apiserver: Apiserver {
                admission_control: self.apiserver.admission_control.clone(),
                service_node_port_range: node_ports,
            },
            kubelet: self.kubelet.clone(),
            docker: self.docker.clone(),
            certificates: self.certificates.clone(),
            fetch,
            package: self.package.clone(),
            addons: self.addons.clone(),
            debian,
        })
    }

    /// Check only what `kubedeb fetch` uses: the versions and the `[fetch]` section.
    pub fn validate_fetch(&self) -> Result<FetchConfig, ConfigError> {
        let mut p = Problems::default();
        let fetch = self.check_fetch(&mut p);
        let pause_image = self.check_pause_image(&mut p);
        self.check_addons(&mut p);
        let debian = self.check_debian(&mut p);
        match fetch {
            Some(fetch) if p.0.is_empty() => Ok(FetchConfig {
                versions: self.versions.clone(),
                fetch,
                addons: self.addons.clone(),
                pause_image,
                debian,
            }),
            _ => Err(ConfigError::Invalid {
                origin: "the cluster settings".into(),
                problems: p.0,
            }),
        }
    }

    fn check_fetch(&self, p: &mut Problems) -> Option<super::Fetch> {
        for (i, mirror) in self.fetch.mirrors.iter().enumerate() {
            if !(mirror.starts_with("http://") || mirror.starts_with("https://"))
                || mirror.contains(char::is_whitespace)
            {
                p.add(format!("fetch.mirrors[{i}]"), format!("{mirror:?} is not a base URL; write one like \"http://mirror.local/k8s\" (kubedeb fetches <mirror>/<tarball file name>)"));
            }
        }
        let max_download = parse_setting_size(p, "fetch.max_download", &self.fetch.max_download);
        let max_binary = parse_setting_size(p, "fetch.max_binary", &self.fetch.max_binary);
        let timeout = parse_timeout(p, &self.fetch.timeout);
        let mut registry_mirrors = Vec::new();
        for (i, text) in self.fetch.registry_mirrors.iter().enumerate() {
            match crate::images::RegistryMirror::parse(text) {
                Ok(mirror) => registry_mirrors.push(mirror),
                Err(e) => p.add(format!("fetch.registry_mirrors[{i}]"), e),
            }
        }
        for (name, value) in [
            ("fetch.registry_auth", &self.fetch.registry_auth),
            ("fetch.registry_ca", &self.fetch.registry_ca),
        ] {
            if value.as_deref() == Some("") {
                p.add(name, "is empty: name a file, or leave the setting out");
            }
        }
        Some(super::Fetch {
            registry_mirrors,
            registry_auth: self.fetch.registry_auth.clone(),
            registry_ca: self.fetch.registry_ca.clone(),
            mirrors: self.fetch.mirrors.clone(),
            catalog: self.fetch.catalog.clone(),
            max_download: max_download?,
            max_binary: max_binary?,
            timeout: timeout?,
        })
    }

    /// The `[debian]` section. Problems are reported even with `carry` off, so that turning it
    /// on later does not first meet a typo.
    fn check_debian(&self, p: &mut Problems) -> super::DebianSettings {
        let d = &self.debian;
        let codename_ok = !d.release.is_empty()
            && d.release.len() <= 64
            && d.release
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !codename_ok {
            p.add(
                "debian.release",
                format!(
                    "{:?} is not a Debian release codename; write one like \"bookworm\"",
                    d.release
                ),
            );
        }
        if let Err(e) = crate::debian::fields::architecture(&d.architecture) {
            p.add("debian.architecture", format!("{:?}: {e}", d.architecture));
        } else if d.architecture == "all" {
            p.add(
                "debian.architecture",
                "\"all\" is not a machine; write the nodes' architecture, like \"amd64\"",
            );
        }
        for (key, list) in [
            ("debian.mirrors", &d.mirrors),
            ("debian.security_mirrors", &d.security_mirrors),
        ] {
            for (i, mirror) in list.iter().enumerate() {
                if !(mirror.starts_with("http://") || mirror.starts_with("https://"))
                    || mirror.contains(char::is_whitespace)
                {
                    p.add(format!("{key}[{i}]"), format!("{mirror:?} is not a base URL; write one like \"http://mirrors.ustc.edu.cn/debian\" (kubedeb fetches <mirror>/dists/<release>/InRelease)"));
                }
            }
        }
        if d.carry && d.mirrors.is_empty() {
            p.add("debian.mirrors", "is empty while debian.carry is on: name at least one Debian mirror, like \"http://deb.debian.org/debian\" (or carry the packages in with --from DIR and keep a mirror URL for the record)");
        }
        for (i, name) in d.extra_packages.iter().enumerate() {
            if let Err(e) = crate::debian::fields::package_name(name) {
                p.add(
                    format!("debian.extra_packages[{i}]"),
                    format!("{name:?}: {e}"),
                );
            }
        }
        if d.release != "bookworm" && d.keyring.is_none() {
            p.add("debian.keyring", format!("kubedeb carries Debian's archive keys for bookworm only; for {:?} name the release's keyring file (e.g. /usr/share/keyrings/debian-archive-keyring.gpg)", d.release));
        }
        for (name, value) in [
            ("debian.base_status", &d.base_status),
            ("debian.keyring", &d.keyring),
        ] {
            if value.as_deref() == Some("") {
                p.add(name, "is empty: name a file, or leave the setting out");
            }
        }
        d.clone()
    }

    fn check_master(&self, p: &mut Problems) -> Option<Ipv4Addr> {
        let Some(ip) = self.master_ip else {
            p.add(
                "master_ip",
                "no master address: set master_ip = \"<address>\" in cluster.toml or pass --master-ip <address>",
            );
            return None;
        };
        if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast() {
            p.add(
                "master_ip",
                format!(
                    "{ip} is not an address nodes can reach; use the master's own unicast address"
                ),
            );
            return None;
        }
        Some(ip)
    }

    fn check_dns(&self, p: &mut Problems, service: Option<Ipv4Net>) -> Option<Ipv4Addr> {
        let text = &self.dns.server_ip;
        let dns = match text.parse::<Ipv4Addr>() {
            Ok(ip) => ip,
            Err(_) => {
                p.add("dns.server_ip", format!("{text:?} is not an IPv4 address; write one like \"192.168.3.10\", inside network.service_cluster_ip_range"));
                return None;
            }
        };
        if let Some(service) = service {
            let first = first_host(service);
            if !service.contains(&dns) {
                p.add("dns.server_ip", format!("{dns} is outside network.service_cluster_ip_range {service}: the DNS service address must come from the service range; pick an address inside it"));
            } else if dns == service.network() {
                p.add("dns.server_ip", format!("{dns} is the network address of {service}, which the apiserver never allocates; pick another address inside it"));
            } else if dns == first {
                p.add("dns.server_ip", format!("{dns} is the first address of {service}, taken by the kubernetes service itself; pick another, like the .10 address"));
            } else if service.prefix_len() < 31 && dns == service.broadcast() {
                p.add("dns.server_ip", format!("{dns} is the broadcast address of {service}, which the apiserver never allocates; pick another address inside it"));
            }
        }
        let domain = &self.dns.domain;
        if !is_dns_name(domain, false) {
            p.add("dns.domain", format!("{domain:?} is not a DNS domain (lowercase labels of letters, digits and '-', separated by dots); the default is \"cluster.local\""));
        }
        Some(dns)
    }

    fn check_backend(&self, p: &mut Problems) -> Option<FlannelBackend> {
        let backend = &self.network.flannel_backend;
        let found = FlannelBackend::ALL
            .into_iter()
            .find(|b| b.name() == backend.as_str());
        if found.is_none() {
            let names: Vec<&str> = FlannelBackend::ALL.iter().map(|b| b.name()).collect();
            p.add(
                "network.flannel_backend",
                format!(
                    "{backend:?} is not a flannel 0.5 backend; use one of {}",
                    names.join(", ")
                ),
            );
        }
        found
    }

    /// Returns the node subnet length and how many node subnets flannel can hand out.
    fn check_flannel_extra(&self, p: &mut Problems, flannel: Option<Ipv4Net>) -> Option<(u8, u64)> {
        const SETTING: &str = "network.flannel_extra_json";
        let extra = extra_members(&self.network.flannel_extra_json);
        let hint = "write extra members of the flannel config object, like \"SubnetLen\": 24, \"SubnetMin\": \"172.16.10.0\" (a leading comma is allowed)";
        let whole = format!(r#"{{"Network":"10.0.0.0/8", "Backend": {{"Type": "vxlan"}}{extra}}}"#);
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&whole) {
            p.add(
                SETTING,
                format!("the flannel config would not be valid JSON ({e}); {hint}"),
            );
            return None;
        }
        let members = extra.trim_start_matches([',', ' ']);
        let object: serde_json::Map<String, serde_json::Value> =
            match serde_json::from_str(&format!("{{{members}}}")) {
                Ok(object) => object,
                Err(e) => {
                    p.add(
                        SETTING,
                        format!("cannot read the extra members ({e}); {hint}"),
                    );
                    return None;
                }
            };
        let mut subnet_len = None;
        let mut subnet_min = None;
        let mut subnet_max = None;
        let mut ok = true;
        for (key, value) in &object {
            let Some(known) = FLANNEL_EXTRA_KEYS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(key))
            else {
                let why =
                    if key.eq_ignore_ascii_case("Network") || key.eq_ignore_ascii_case("Backend") {
                        "comes from network.flannel_network / network.flannel_backend; set it there"
                    } else {
                        "is not read by flannel 0.5, which would silently ignore it"
                    };
                p.add(
                    SETTING,
                    format!(
                        "{key:?} {why} (extra members flannel reads: {})",
                        FLANNEL_EXTRA_KEYS.join(", ")
                    ),
                );
                ok = false;
                continue;
            };
            match *known {
                "SubnetLen" => match value.as_u64() {
                    Some(len) if (1..=30).contains(&len) => subnet_len = Some(len as u8),
                    _ => {
                        p.add(SETTING, format!("SubnetLen {value} must be a whole number from the flannel network's prefix length to 30"));
                        ok = false;
                    }
                },
                name => match value.as_str().map(str::parse::<Ipv4Addr>) {
                    Some(Ok(ip)) if name == "SubnetMin" => subnet_min = Some(ip),
                    Some(Ok(ip)) => subnet_max = Some(ip),
                    _ => {
                        p.add(SETTING, format!("{name} {value} must be an IPv4 address in a string, like \"172.16.10.0\""));
                        ok = false;
                    }
                },
            }
        }
        let flannel = flannel?;
        if !ok {
            return None;
        }
        flannel_subnets(p, flannel, subnet_len, subnet_min, subnet_max)
    }

    fn check_node_ports(&self, p: &mut Problems) -> Option<NodePortRange> {
        const SETTING: &str = "apiserver.service_node_port_range";
        let text = &self.apiserver.service_node_port_range;
        let parsed = text.split_once('-').and_then(|(low, high)| {
            Some((
                low.trim().parse::<u32>().ok()?,
                high.trim().parse::<u32>().ok()?,
            ))
        });
        let Some((low, high)) = parsed else {
            p.add(
                SETTING,
                format!("{text:?} is not a port range; write it as low-high, like \"30000-32767\""),
            );
            return None;
        };
        if !(1..=65535).contains(&low) || !(1..=65535).contains(&high) {
            p.add(SETTING, format!("{text:?}: ports must be from 1 to 65535"));
            return None;
        }
        if low > high {
            p.add(
                SETTING,
                format!("{text:?} is reversed: write the lower port first, like \"{high}-{low}\""),
            );
            return None;
        }
        Some(NodePortRange {
            low: low as u16,
            high: high as u16,
        })
    }

    fn check_pause_image(&self, p: &mut Problems) -> Option<crate::images::ImageRef> {
        if self.kubelet.pause_image.is_empty() {
            return None;
        }
        match crate::images::ImageRef::parse(&self.kubelet.pause_image) {
            Ok(image) => Some(image),
            Err(why) => {
                p.add("kubelet.pause_image", format!("{:?} is not an image reference ({why}); write [registry[:port]/]name[:tag][@digest], like \"gcr.io/google_containers/pause:0.8.0\", or leave it empty for the catalog's pause image", self.kubelet.pause_image));
                None
            }
        }
    }

    fn check_addons(&self, p: &mut Problems) {
        // The count of an addon that is off is never used: no reason to refuse it.
        if self.addons.dns && !(1..=100).contains(&self.addons.dns_replicas) {
            p.add(
                "addons.dns_replicas",
                format!(
                    "{} is out of range: run from 1 to 100 DNS pods, or set addons.dns = false",
                    self.addons.dns_replicas
                ),
            );
        }
    }

    fn check_rest(&self, p: &mut Problems) {
        self.check_pause_image(p);
        self.check_addons(p);
        if self.apiserver.admission_control.is_empty() {
            p.add(
                "apiserver.admission_control",
                "the list is empty; list at least one plugin, like [\"AlwaysAdmit\"]",
            );
        }
        for (i, name) in self.apiserver.admission_control.iter().enumerate() {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                p.add(format!("apiserver.admission_control[{i}]"), format!("{name:?} is not an admission plugin name (letters and digits, like \"NamespaceLifecycle\"); list each plugin as its own string"));
            }
        }
        for (i, san) in self.certificates.extra_sans.iter().enumerate() {
            let ok = match san.split_once(':') {
                Some(("IP", ip)) => ip.parse::<IpAddr>().is_ok(),
                Some(("DNS", name)) => is_dns_name(name.strip_prefix("*.").unwrap_or(name), true),
                _ => false,
            };
            if !ok {
                p.add(format!("certificates.extra_sans[{i}]"), format!("{san:?} is not a subject alternative name; write \"IP:<address>\" or \"DNS:<name>\""));
            }
        }
        let maintainer = &self.package.maintainer;
        // The rule `build` applies to the Maintainer field, so that `check` never passes what `build` refuses.
        if let Err(why) = crate::debian::fields::maintainer(maintainer) {
            p.add("package.maintainer", format!("{maintainer:?} is not a Debian maintainer ({why}); write \"Full Name <address@example.org>\""));
        }
        let kubelet_config = &self.kubelet.config;
        if kubelet_config.contains(char::is_whitespace) {
            p.add("kubelet.config", format!("{kubelet_config:?} holds white space, which would split it into more kubelet flags (--config=/etc/k --allow-privileged=true is two); write one path or URL without spaces, or leave it empty"));
        }
        for (setting, value) in [
            ("docker.extra_opts", &self.docker.extra_opts),
            ("kubelet.config", &self.kubelet.config),
        ] {
            if value.contains(['\n', '\r', '"', '\\', '`', '$']) {
                p.add(setting, format!("{value:?} goes into a double-quoted line of an /etc/default file: it must be one line without \" \\ ` or $"));
            }
        }
    }
}

/// The first host address of a network (its network address + 1), the address Kubernetes gives its own service.
pub(crate) fn first_host(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(1))
}

/// `flannel_extra_json` as text to append after the Backend member: empty, or starting with a comma.
pub(crate) fn extra_members(raw: &str) -> String {
    // Raw line breaks can only be whitespace in valid JSON, and keep the config on one line for etcdctl.
    let text = raw.replace(['\n', '\r', '\t'], " ");
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else if text.starts_with(',') {
        text.to_string()
    } else {
        format!(", {text}")
    }
}

fn parse_net(p: &mut Problems, setting: &str, text: &str) -> Option<Ipv4Net> {
    match text.parse::<Ipv4Net>() {
        Ok(net) if net.network() != net.addr() => {
            p.add(
                setting,
                format!(
                    "{text} has host bits set; write the network address: {}",
                    net.trunc()
                ),
            );
            None
        }
        Ok(net) => Some(net),
        Err(_) => {
            p.add(setting, format!("{text:?} is not an IPv4 network in CIDR form; write one like \"192.168.3.0/24\""));
            None
        }
    }
}

/// flannel 0.5.5 gives each node a `SubnetLen` subnet (default /24, or half the network when it is
/// /24 or smaller) between SubnetMin (default: the second subnet, as it skips the first) and
/// SubnetMax (default: the last subnet). A cluster needs at least [`MIN_FLANNEL_SUBNETS`] of them,
/// so with /24 subnets the network needs a prefix of /22 or shorter.
fn flannel_subnets(
    p: &mut Problems,
    net: Ipv4Net,
    len: Option<u8>,
    min: Option<Ipv4Addr>,
    max: Option<Ipv4Addr>,
) -> Option<(u8, u64)> {
    const SETTING: &str = "network.flannel_network";
    let prefix = net.prefix_len();
    let len = match len {
        Some(len) if len < prefix => {
            p.add("network.flannel_extra_json", format!("SubnetLen {len} is larger than network.flannel_network {net}; use {prefix} to 30"));
            return None;
        }
        Some(len) => len,
        None if prefix < 24 => 24,
        None => prefix + 1,
    };
    if len > 30 {
        p.add(SETTING, format!("{net} is too small for flannel node subnets; use a prefix of /22 or shorter, like 172.16.0.0/16"));
        return None;
    }
    let size = 1u64 << (32 - len);
    let start = u64::from(u32::from(net.network()));
    let end = start + (1u64 << (32 - prefix));
    let min = min.map_or(start + size, |ip| u64::from(u32::from(ip)));
    let max = max.map_or(end - size, |ip| u64::from(u32::from(ip)));
    for (name, value) in [("SubnetMin", min), ("SubnetMax", max)] {
        if !(start..end).contains(&value) {
            p.add(
                "network.flannel_extra_json",
                format!(
                    "{name} {} is outside network.flannel_network {net}",
                    Ipv4Addr::from(value as u32)
                ),
            );
            return None;
        }
    }
    let count = if max >= min {
        (max - min) / size + 1
    } else {
        0
    };
    if count < MIN_FLANNEL_SUBNETS {
        p.add(
            SETTING,
            format!(
                "{net} leaves flannel {count} node subnet(s) of /{len} (flannel skips the network's first subnet); \
                 a cluster needs at least {MIN_FLANNEL_SUBNETS}, one per node: use a bigger network (/22 or shorter for /24 subnets), like 172.16.0.0/16"
            ),
        );
        return None;
    }
    Some((len, count))
}

/// A DNS name: dot-separated labels of lowercase letters, digits and '-' (uppercase allowed when `any_case`).
fn is_dns_name(name: &str, any_case: bool) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| {
                    c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || c == '-'
                        || (any_case && c.is_ascii_uppercase())
                })
        })
}

/// Docker's reference grammar: `[domain[:port]/]path[:tag][@digest]`, lowercase path components.
/// A size setting's value in bytes, or a problem naming the setting.
fn parse_setting_size(p: &mut Problems, setting: &str, text: &str) -> Option<u64> {
    match parse_size(text) {
        Ok(bytes) => Some(bytes),
        Err(why) => {
            p.add(setting, format!("{text:?} {why}"));
            None
        }
    }
}

/// fetch.timeout: "15 s", "2 min": whole seconds or minutes, from 1 s to 1 hour.
fn parse_timeout(p: &mut Problems, text: &str) -> Option<std::time::Duration> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let scale = match unit.trim() {
        "s" => Some(1),
        "min" => Some(60),
        _ => None,
    };
    let seconds = digits
        .parse::<u64>()
        .ok()
        .zip(scale)
        .and_then(|(n, scale)| n.checked_mul(scale));
    match seconds {
        Some(seconds) if (1..=3600).contains(&seconds) => {
            Some(std::time::Duration::from_secs(seconds))
        }
        _ => {
            p.add(
                "fetch.timeout",
                format!("{text:?} is not a timeout from 1 s to 60 min; write a whole number with s or min, like \"15 s\""),
            );
            None
        }
    }
}

/// "512 MiB", "2GiB", "1048576": a byte count with an optional binary unit (B, KiB, MiB, GiB, TiB).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        "TiB" => 40,
        _ => return Err(
            "is not a size; write a whole number with B, KiB, MiB, GiB or TiB, like \"512 MiB\""
                .into(),
        ),
    };
    let n: u64 = digits.parse().map_err(|_| {
        "is not a size; write a whole number with B, KiB, MiB, GiB or TiB, like \"512 MiB\""
            .to_string()
    })?;
    if n == 0 {
        return Err("is zero: nothing could be fetched; give a size like \"512 MiB\"".into());
    }
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| "is too large; give a size below 16 EiB, like \"2 GiB\"".to_string())
}
