//! The cluster settings: cluster.toml read once, validated once, into the typed [`Config`] every
//! command works from.

mod file;
mod init_file;
mod validate;

pub use file::{
    Addons, Certificates, ConfigFile, DebianSettings, Docker, FetchSettings, Kubelet,
    PackageSettings, Versions,
};
pub use validate::{FlannelBackend, NodePortRange};

use crate::catalog::{Catalog, CatalogError, Component, ImageSpec};
use crate::images::ImageRef;
use ipnet::Ipv4Net;
use serde::{Serialize, Serializer};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The validated cluster settings. Only [`ConfigFile::validate`] makes one, so every value in it
/// is known to be well-formed and consistent with the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub master_ip: Ipv4Addr,
    pub versions: Versions,
    pub network: Network,
    pub dns: Dns,
    pub apiserver: Apiserver,
    pub kubelet: Kubelet,
    pub docker: Docker,
    pub certificates: Certificates,
    pub fetch: Fetch,
    pub package: PackageSettings,
    pub addons: Addons,
    pub debian: DebianSettings,
}

/// What `kubedeb fetch` needs of the settings: no master address, no network plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchConfig {
    pub versions: Versions,
    pub fetch: Fetch,
    /// Which images: the addons that are on, and kubelet.pause_image when set.
    pub addons: Addons,
    pub pause_image: Option<ImageRef>,
    pub debian: DebianSettings,
}

/// The images the addons need, by catalog role: an addon that is on needs each of them.
const ADDON_ROLES: [(&str, &[&str]); 2] = [
    ("dns", &["dns-etcd", "kube2sky", "skydns", "exechealthz"]),
    ("ui", &["kube-ui"]),
];

/// The images the cluster needs, in the catalog's role order: the release's images whose addon
/// is on, with kubelet.pause_image (when set) in place of the catalog's pause image.
fn images(
    catalog: &Catalog,
    versions: &Versions,
    addons: &Addons,
    pause_image: Option<&ImageRef>,
) -> Result<Vec<ImageSpec>, ConfigError> {
    let release = catalog.release(Component::Kubernetes, &versions.kubernetes)?;
    let on = |addon: &str| match addon {
        "dns" => addons.dns,
        "ui" => addons.ui,
        _ => false,
    };
    let mut chosen: Vec<ImageSpec> = release
        .images
        .iter()
        .filter(|image| image.addon.as_deref().is_none_or(on))
        .cloned()
        .collect();
    let mut problems = Vec::new();
    match (chosen.iter_mut().find(|i| i.role == "pause"), pause_image) {
        (Some(pause), Some(name)) if pause.reference != *name => {
            pause.reference = name.clone();
            pause.id = None;
        }
        (Some(_), _) => {}
        (None, Some(name)) => chosen.push(ImageSpec {
            role: "pause".into(),
            reference: name.clone(),
            id: None,
            addon: None,
        }),
        (None, None) => problems.push(Problem {
            setting: "kubelet.pause_image".into(),
            message: format!("the catalog entry of kubernetes {} ({}) names no pause image; add `pause = {{ ref = \"...\" }}` to its [images], or set kubelet.pause_image", versions.kubernetes, release.origin),
        }),
    }
    for (addon, roles) in ADDON_ROLES {
        if !on(addon) {
            continue;
        }
        for role in roles
            .iter()
            .filter(|role| !chosen.iter().any(|i| i.role == **role))
        {
            problems.push(Problem {
                setting: format!("addons.{addon}"),
                message: format!("the catalog entry of kubernetes {} ({}) names no `{role}` image, which the {addon} addon runs; add it to that entry's [images], or set addons.{addon} = false", versions.kubernetes, release.origin),
            });
        }
    }
    if problems.is_empty() {
        Ok(chosen)
    } else {
        Err(ConfigError::Invalid {
            origin: "the cluster settings".into(),
            problems,
        })
    }
}

/// Where releases come from and how large they may be (the `[fetch]` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// Mirror base URLs tried in order before upstream.
    pub mirrors: Vec<String>,
    /// A user catalog file adding versions, URLs and hashes.
    pub catalog: Option<String>,
    /// fetch.max_download in bytes: a source sending more is cut off.
    pub max_download: u64,
    /// fetch.max_binary in bytes: a larger binary in a tarball is refused.
    pub max_binary: u64,
    /// fetch.timeout: a source silent this long (connecting or mid-transfer) has failed.
    pub timeout: std::time::Duration,
    /// fetch.registry_mirrors, parsed: tried in order before each image's own registry.
    pub registry_mirrors: Vec<crate::images::RegistryMirror>,
    /// fetch.registry_auth as written (see [`Fetch::file_setting`]).
    pub registry_auth: Option<String>,
    /// fetch.registry_ca as written.
    pub registry_ca: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    /// SERVICE_CLUSTER_IP_RANGE.
    pub service_cluster_ip_range: Ipv4Net,
    /// FLANNEL_NET.
    pub flannel_network: Ipv4Net,
    pub flannel_backend: FlannelBackend,
    /// FLANNEL_OTHER_NET_CONFIG as written; [`Config::flannel_config_json`] puts it in place.
    pub flannel_extra_json: String,
    /// The prefix length of each node's flannel subnet.
    pub flannel_subnet_len: u8,
    /// How many node subnets flannel can hand out.
    pub flannel_subnets: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dns {
    /// DNS_SERVER_IP.
    pub server_ip: Ipv4Addr,
    /// DNS_DOMAIN.
    pub domain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Apiserver {
    /// The templates see one comma-separated list: kube-apiserver takes it as one flag value.
    #[serde(serialize_with = "comma_separated")]
    pub admission_control: Vec<String>,
    /// SERVICE_NODE_PORT_RANGE.
    pub service_node_port_range: NodePortRange,
}

fn comma_separated<S: Serializer>(items: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&items.join(","))
}

impl Network {
    /// The first host address of the service range: the `kubernetes` service's IP, put in the apiserver certificate.
    pub fn first_service_ip(&self) -> Ipv4Addr {
        validate::first_host(self.service_cluster_ip_range)
    }
}

/// One setting that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The setting's dotted name in cluster.toml, e.g. `network.service_cluster_ip_range`.
    pub setting: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the cluster settings {path}: {cause}; check the path, or run `kubedeb init` to write one")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("the cluster settings {path} named with -c/--config do not exist; check the name, or run `kubedeb init -c {path}` to write the file")]
    Missing { path: PathBuf },
    #[error("{path} is not a valid cluster.toml: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{}", describe_problems(origin, problems))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl ConfigError {
    /// The problems found by validation (empty for other errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn describe_problems(origin: &str, problems: &[Problem]) -> String {
    match problems {
        [one] => format!("{origin}: {one}"),
        many => {
            let mut text = format!("{origin}: {} problems:", many.len());
            for problem in many {
                text.push_str("\n  ");
                text.push_str(&problem.to_string());
            }
            text
        }
    }
}

impl Config {
    /// Read `path` (built-in defaults when it does not exist), apply the `--master-ip` override and
    /// validate everything but the versions (see [`Config::validate_versions`]).
    pub fn load(path: &Path, master_ip_override: Option<Ipv4Addr>) -> Result<Config, ConfigError> {
        Config::load_named(path, false, master_ip_override)
    }

    /// [`Config::load`], where `must_exist` (a file named with `-c`) makes an absent file an
    /// error instead of the defaults: a mistyped name must not build from the defaults.
    pub fn load_named(
        path: &Path,
        must_exist: bool,
        master_ip_override: Option<Ipv4Addr>,
    ) -> Result<Config, ConfigError> {
        let (mut file, origin) = read_file(path, must_exist)?;
        if let Some(ip) = master_ip_override {
            file.master_ip = Some(ip);
        }
        file.validate().map_err(|e| e.with_origin(origin))
    }

    /// [`Config::load`], then the merged catalog (`catalog_override`, else `fetch.catalog`), then
    /// a check that every version has a catalog entry: what every command needs before working.
    pub fn load_with_catalog(
        path: &Path,
        master_ip_override: Option<Ipv4Addr>,
        catalog_override: Option<&Path>,
    ) -> Result<(Config, Catalog), ConfigError> {
        let config = Config::load(path, master_ip_override)?;
        let catalog = Catalog::load(config.catalog_path(catalog_override, path).as_deref())?;
        config
            .validate_versions(&catalog)
            .map_err(|e| e.with_origin(path.display().to_string()))?;
        Ok((config, catalog))
    }

    /// The user catalog to merge: the command line's (as given), else `fetch.catalog`, which,
    /// when relative, is relative to the folder of the config file `config_path`.
    pub fn catalog_path(
        &self,
        catalog_override: Option<&Path>,
        config_path: &Path,
    ) -> Option<PathBuf> {
        self.fetch.catalog_path(catalog_override, config_path)
    }

    /// Every version must have a catalog entry, which names every image the settings need.
    pub fn validate_versions(&self, catalog: &Catalog) -> Result<(), ConfigError> {
        self.versions.validate(catalog)?;
        self.images(catalog).map(drop)
    }

    /// The images the cluster's pods need (see [`FetchConfig::images`]).
    pub fn images(&self, catalog: &Catalog) -> Result<Vec<ImageSpec>, ConfigError> {
        let pause = (!self.kubelet.pause_image.is_empty())
            .then(|| ImageRef::parse(&self.kubelet.pause_image).expect("validated"));
        images(catalog, &self.versions, &self.addons, pause.as_ref())
    }

    /// The configured version of a component.
    pub fn version(&self, component: Component) -> &str {
        self.versions.of(component)
    }

    /// The flannel network config written to etcd (`/coreos.com/network/config`), in the seed's form:
    /// `{"Network":"<flannel_network>", "Backend": {"Type": "<flannel_backend>"}<, flannel_extra_json>}`.
    ///
    /// `flannel_extra_json` holds extra members of that object, written either as `"Key": value, ...`
    /// or, like the seed's FLANNEL_OTHER_NET_CONFIG, with a leading comma; line breaks become spaces.
    pub fn flannel_config_json(&self) -> String {
        format!(
            r#"{{"Network":"{}", "Backend": {{"Type": "{}"}}{}}}"#,
            self.network.flannel_network,
            self.network.flannel_backend,
            validate::extra_members(&self.network.flannel_extra_json)
        )
    }
}

impl Versions {
    /// The configured version of a component.
    pub fn of(&self, component: Component) -> &str {
        match component {
            Component::Kubernetes => &self.kubernetes,
            Component::Flannel => &self.flannel,
            Component::Etcd => &self.etcd,
        }
    }

    /// Every version must have a catalog entry.
    pub fn validate(&self, catalog: &Catalog) -> Result<(), ConfigError> {
        let problems: Vec<Problem> = Component::ALL
            .into_iter()
            .filter_map(|component| {
                let version = self.of(component);
                catalog.release(component, version).err().map(|e| Problem {
                    setting: format!("versions.{component}"),
                    message: e.to_string(),
                })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                origin: "the cluster settings".into(),
                problems,
            })
        }
    }
}

impl Fetch {
    /// The user catalog to merge: the command line's (as given), else `fetch.catalog`, which,
    /// when relative, is relative to the folder of the config file `config_path`.
    pub fn catalog_path(
        &self,
        catalog_override: Option<&Path>,
        config_path: &Path,
    ) -> Option<PathBuf> {
        if let Some(path) = catalog_override {
            return Some(path.to_path_buf());
        }
        let path = Path::new(self.catalog.as_ref()?);
        let base = config_path.parent().unwrap_or(Path::new(""));
        Some(if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        })
    }
}

impl Fetch {
    /// A path setting (fetch.registry_auth, fetch.registry_ca) resolved as fetch.catalog is:
    /// relative to the folder of the config file `config_path`.
    pub fn file_setting(value: Option<&String>, config_path: &Path) -> Option<PathBuf> {
        let path = Path::new(value?);
        let base = config_path.parent().unwrap_or(Path::new(""));
        Some(if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        })
    }
}

impl FetchConfig {
    /// The settings `fetch` uses from `path` (which, when `must_exist`, may not be absent).
    pub fn load(path: &Path, must_exist: bool) -> Result<FetchConfig, ConfigError> {
        let (file, origin) = read_file(path, must_exist)?;
        file.validate_fetch().map_err(|e| e.with_origin(origin))
    }

    /// The images to fetch: the release's, with the addons that are off left out and
    /// kubelet.pause_image in place of the catalog's pause image when set.
    pub fn images(&self, catalog: &Catalog) -> Result<Vec<ImageSpec>, ConfigError> {
        images(
            catalog,
            &self.versions,
            &self.addons,
            self.pause_image.as_ref(),
        )
    }
}

/// cluster.toml as written and the name messages give its settings; the defaults when the
/// file is absent and may be.
fn read_file(path: &Path, must_exist: bool) -> Result<(ConfigFile, String), ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let file = toml::from_str::<ConfigFile>(&text).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            Ok((file, path.display().to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => Ok((
            ConfigFile::default(),
            format!("the built-in defaults ({} does not exist)", path.display()),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::Missing {
            path: path.to_path_buf(),
        }),
        Err(cause) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            cause,
        }),
    }
}

impl ConfigFile {
    /// A commented cluster.toml holding every default (and `master_ip` when given).
    pub fn init_file(master_ip: Option<Ipv4Addr>) -> String {
        init_file::render(master_ip)
    }
}

impl ConfigError {
    /// The same problems, said to come from `origin` (the file, or the built-in defaults).
    pub fn with_origin(self, origin: String) -> ConfigError {
        match self {
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid { origin, problems },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ConfigFile {
        ConfigFile {
            master_ip: Some(Ipv4Addr::new(192, 168, 100, 11)),
            ..ConfigFile::default()
        }
    }

    /// Validation of `config` fails, and every problem reported names `setting` and says `words`.
    fn refused(config: ConfigFile, setting: &str, words: &str) -> String {
        let err = config.validate().expect_err("should be refused");
        let problems = err.problems();
        assert!(!problems.is_empty(), "{err}");
        assert!(
            problems
                .iter()
                .any(|p| p.setting == setting && p.message.contains(words)),
            "expected {setting} with {words:?}, got: {err}"
        );
        err.to_string()
    }

    #[test]
    fn defaults_with_a_master_address_validate_to_the_seed_values() {
        let v = valid().validate().unwrap();
        assert_eq!(v.master_ip, Ipv4Addr::new(192, 168, 100, 11));
        assert_eq!(
            v.network.service_cluster_ip_range.to_string(),
            "192.168.3.0/24"
        );
        assert_eq!(v.network.first_service_ip(), Ipv4Addr::new(192, 168, 3, 1));
        assert_eq!(v.network.flannel_network.to_string(), "172.16.0.0/16");
        assert_eq!(v.network.flannel_backend, FlannelBackend::Vxlan);
        assert_eq!(
            (v.network.flannel_subnet_len, v.network.flannel_subnets),
            (24, 255)
        );
        assert_eq!(v.dns.server_ip, Ipv4Addr::new(192, 168, 3, 10));
        assert_eq!(
            v.apiserver.service_node_port_range,
            NodePortRange {
                low: 30000,
                high: 32767
            }
        );
    }

    #[test]
    fn first_service_ip_is_the_real_first_host_not_dot_one() {
        let mut c = valid();
        c.network.service_cluster_ip_range = "10.254.0.128/25".into();
        c.dns.server_ip = "10.254.0.200".into();
        assert_eq!(
            c.validate().unwrap().network.first_service_ip(),
            Ipv4Addr::new(10, 254, 0, 129)
        );
    }

    #[test]
    fn missing_master_address_is_refused() {
        let err = refused(ConfigFile::default(), "master_ip", "--master-ip");
        assert!(err.starts_with("the cluster settings: master_ip:"), "{err}");
        let mut c = valid();
        c.master_ip = Some(Ipv4Addr::new(127, 0, 0, 1));
        refused(c, "master_ip", "unicast");
    }

    #[test]
    fn malformed_networks_and_addresses_are_refused() {
        let mut c = valid();
        c.network.service_cluster_ip_range = "192.168.3.0/33".into();
        refused(c, "network.service_cluster_ip_range", "CIDR");
        let mut c = valid();
        c.network.service_cluster_ip_range = "192.168.3.7/24".into();
        refused(c, "network.service_cluster_ip_range", "192.168.3.0/24");
        let mut c = valid();
        c.network.flannel_network = "172.16.0.0".into();
        refused(c, "network.flannel_network", "CIDR");
        let mut c = valid();
        c.dns.server_ip = "192.168.3.300".into();
        refused(c, "dns.server_ip", "not an IPv4 address");
        let mut c = valid();
        c.dns.domain = "Cluster.Local.".into();
        refused(c, "dns.domain", "not a DNS domain");
    }

    #[test]
    fn service_range_overlapping_the_flannel_network_is_refused() {
        let mut c = valid();
        c.network.service_cluster_ip_range = "172.16.3.0/24".into();
        c.dns.server_ip = "172.16.3.10".into();
        refused(
            c,
            "network.service_cluster_ip_range",
            "overlaps network.flannel_network",
        );
        let mut c = valid();
        c.network.flannel_network = "192.168.0.0/16".into();
        refused(c, "network.service_cluster_ip_range", "overlaps");
    }

    #[test]
    fn dns_address_must_be_a_usable_address_of_the_service_range() {
        for (ip, words) in [
            ("192.168.4.10", "outside"),
            ("192.168.3.0", "network address"),
            ("192.168.3.1", "first address"),
            ("192.168.3.255", "broadcast"),
        ] {
            let mut c = valid();
            c.dns.server_ip = ip.into();
            refused(c, "dns.server_ip", words);
        }
    }

    #[test]
    fn master_address_inside_a_range_is_refused() {
        let mut c = valid();
        c.master_ip = Some(Ipv4Addr::new(192, 168, 3, 20));
        refused(c, "master_ip", "service_cluster_ip_range");
        let mut c = valid();
        c.master_ip = Some(Ipv4Addr::new(172, 16, 5, 1));
        refused(c, "master_ip", "flannel_network");
    }

    #[test]
    fn templates_see_the_parsed_values_not_the_text() {
        let mut c = valid();
        c.apiserver.service_node_port_range = " 30000 - 32767\n".into();
        let v = c.validate().unwrap();
        assert_eq!(
            serde_json::to_value(&v.apiserver).unwrap(),
            serde_json::json!({
                "admission_control": "NamespaceLifecycle,LimitRanger,ServiceAccount,ResourceQuota,SecurityContextDeny",
                "service_node_port_range": "30000-32767",
            })
        );
        let network = serde_json::to_value(&v.network).unwrap();
        assert_eq!(network["service_cluster_ip_range"], "192.168.3.0/24");
        assert_eq!(network["flannel_backend"], "vxlan");
        c.network.flannel_backend = "host-gw".into();
        let network = serde_json::to_value(&c.validate().unwrap().network).unwrap();
        assert_eq!(network["flannel_backend"], "host-gw");
    }

    #[test]
    fn node_port_range_must_be_low_high_within_1_65535() {
        for (text, words) in [
            ("30000", "low-high"),
            ("a-b", "low-high"),
            ("32767-30000", "reversed"),
            ("0-100", "1 to 65535"),
            ("30000-70000", "1 to 65535"),
        ] {
            let mut c = valid();
            c.apiserver.service_node_port_range = text.into();
            refused(c, "apiserver.service_node_port_range", words);
        }
    }

    #[test]
    fn flannel_network_needs_two_node_subnets() {
        // flannel 0.5.5 skips the first /24: a /23 leaves one subnet, a /22 three.
        let mut c = valid();
        c.network.flannel_network = "172.16.0.0/23".into();
        let err = refused(c, "network.flannel_network", "1 node subnet");
        assert!(err.contains("/22"), "{err}");
        let mut c = valid();
        c.network.flannel_network = "172.16.0.0/22".into();
        assert_eq!(c.validate().unwrap().network.flannel_subnets, 3);
        // A small network still works with smaller node subnets.
        let mut c = valid();
        c.network.flannel_network = "172.16.0.0/24".into();
        c.network.flannel_extra_json = r#""SubnetLen": 26"#.into();
        assert_eq!(c.validate().unwrap().network.flannel_subnets, 3);
        let mut c = valid();
        c.network.flannel_network = "172.16.0.0/24".into();
        refused(c, "network.flannel_network", "1 node subnet");
    }

    #[test]
    fn flannel_extra_json_accepts_both_forms_and_yields_the_seed_json() {
        let mut c = valid();
        assert_eq!(
            c.validate().unwrap().flannel_config_json(),
            r#"{"Network":"172.16.0.0/16", "Backend": {"Type": "vxlan"}}"#
        );
        c.network.flannel_extra_json = r#""SubnetLen": 25"#.into();
        assert_eq!(
            c.validate().unwrap().flannel_config_json(),
            r#"{"Network":"172.16.0.0/16", "Backend": {"Type": "vxlan"}, "SubnetLen": 25}"#
        );
        c.network.flannel_extra_json =
            ",\"SubnetMin\": \"172.16.10.0\",\n \"SubnetMax\": \"172.16.20.0\"".into();
        let v = c.validate().unwrap();
        assert_eq!(v.network.flannel_subnets, 11);
        let json: serde_json::Value = serde_json::from_str(&v.flannel_config_json()).unwrap();
        assert_eq!(json["SubnetMax"], "172.16.20.0");
        assert!(!v.flannel_config_json().contains('\n'));
    }

    #[test]
    fn flannel_extra_json_that_breaks_the_config_is_refused() {
        for (extra, words) in [
            (r#""SubnetLen": "#, "not be valid JSON"),
            (r#"{"SubnetLen": 24}"#, "not be valid JSON"),
            (r#""SubnetLen": 24,"#, "not be valid JSON"),
            (r#""Network": "10.0.0.0/8""#, "network.flannel_network"),
            (r#""SubnetLenn": 24"#, "not read by flannel"),
            (r#""SubnetLen": "24""#, "whole number"),
            (r#""SubnetMin": "172.16.300.0""#, "IPv4 address"),
            (r#""SubnetMin": "10.0.0.0""#, "outside"),
            (r#""SubnetLen": 8"#, "larger than"),
        ] {
            let mut c = valid();
            c.network.flannel_extra_json = extra.into();
            refused(c, "network.flannel_extra_json", words);
        }
        let mut c = valid();
        c.network.flannel_backend = "vxlan2".into();
        refused(c, "network.flannel_backend", "host-gw");
    }

    #[test]
    fn a_bad_pause_image_names_the_setting() {
        let mut c = valid();
        c.kubelet.pause_image = "gpx_dev/Pause:0.8.0".into();
        refused(c, "kubelet.pause_image", "path component");
    }

    #[test]
    fn dns_replicas_are_checked_only_while_the_dns_addon_is_on() {
        let mut c = valid();
        c.addons.dns_replicas = 0;
        refused(c.clone(), "addons.dns_replicas", "out of range");
        c.addons.dns_replicas = 101;
        refused(c.clone(), "addons.dns_replicas", "out of range");
        c.addons.dns = false;
        c.validate().unwrap();
        c.validate_fetch().unwrap();
    }

    #[test]
    fn fetch_sizes_parse_with_binary_units_and_bad_ones_name_the_setting() {
        let v = valid().validate().unwrap();
        assert_eq!(v.fetch.max_download, 2 << 30);
        assert_eq!(v.fetch.max_binary, 512 << 20);
        assert_eq!(validate::parse_size("4096").unwrap(), 4096);
        assert_eq!(validate::parse_size("3KiB").unwrap(), 3072);
        for bad in ["", "2 GB", "1.5 GiB", "-1 MiB", "0 MiB", "99999999999 TiB"] {
            assert!(validate::parse_size(bad).is_err(), "{bad:?}");
        }
        let mut c = valid();
        c.fetch.max_binary = "lots".into();
        refused(c, "fetch.max_binary", "MiB");
        let mut c = valid();
        c.fetch.max_download = "0 GiB".into();
        refused(c, "fetch.max_download", "zero");
    }

    #[test]
    fn fetch_timeout_is_seconds_or_minutes_and_a_bad_one_names_the_setting() {
        let v = valid().validate().unwrap();
        assert_eq!(v.fetch.timeout, std::time::Duration::from_secs(15));
        for (text, secs) in [("1 s", 1), ("2min", 120), (" 60 min ", 3600)] {
            let mut c = valid();
            c.fetch.timeout = text.into();
            assert_eq!(
                c.validate().unwrap().fetch.timeout.as_secs(),
                secs,
                "{text:?}"
            );
        }
        for bad in [
            "",
            "15",
            "0 s",
            "61 min",
            "1.5 s",
            "-1 s",
            "99999999999999999 min",
            "1 h",
        ] {
            let mut c = valid();
            c.fetch.timeout = bad.into();
            refused(c, "fetch.timeout", "like \"15 s\"");
        }
    }

    #[test]
    fn other_settings_are_checked() {
        let mut c = valid();
        c.certificates.extra_sans = vec![
            "IP:10.0.0.5".into(),
            "DNS:k8s.example.org".into(),
            "10.0.0.6".into(),
        ];
        refused(c, "certificates.extra_sans[2]", "IP:<address>");
        let mut c = valid();
        c.fetch.mirrors = vec!["mirror.local/k8s".into()];
        refused(c, "fetch.mirrors[0]", "base URL");
        let mut c = valid();
        c.apiserver.admission_control = vec!["NamespaceLifecycle,LimitRanger".into()];
        refused(c, "apiserver.admission_control[0]", "own string");
        let mut c = valid();
        c.package.maintainer = "nobody".into();
        refused(c, "package.maintainer", "Full Name");
        let mut c = valid();
        c.docker.extra_opts = "--insecure-registry=\"x\"".into();
        refused(c, "docker.extra_opts", "one line");
    }

    /// kubelet.config goes unquoted-by-kubelet into KUBELET_OPTS: a space starts another flag.
    #[test]
    fn kubelet_config_refuses_white_space() {
        for bad in ["/etc/k --allow-privileged=true", "/etc/k\tx", " /etc/k"] {
            let mut c = valid();
            c.kubelet.config = bad.into();
            refused(c, "kubelet.config", "white space");
        }
        let mut c = valid();
        c.kubelet.config = "/etc/kubernetes/manifests".into();
        c.validate().unwrap();
    }

    /// `check` applies the Maintainer rule `build` applies: a carriage return fails both.
    #[test]
    fn maintainer_follows_the_control_field_rule() {
        for bad in [
            "Kube Deb <kubedeb@example.org>\r",
            "Kube Deb\r <kubedeb@example.org>",
            "Kube Deb<kubedeb@example.org>",
        ] {
            assert!(crate::debian::fields::maintainer(bad).is_err(), "{bad:?}");
            let mut c = valid();
            c.package.maintainer = bad.into();
            refused(c, "package.maintainer", "Full Name");
        }
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let mut c = ConfigFile::default();
        c.dns.server_ip = "192.168.3.1".into();
        c.apiserver.service_node_port_range = "2-1".into();
        let err = c.validate().unwrap_err();
        let settings: Vec<&str> = err.problems().iter().map(|p| p.setting.as_str()).collect();
        assert_eq!(
            settings,
            [
                "master_ip",
                "dns.server_ip",
                "apiserver.service_node_port_range"
            ]
        );
        assert!(
            err.to_string().contains("3 problems:\n  master_ip: "),
            "{err}"
        );
    }

    #[test]
    fn init_file_holds_every_default_and_round_trips() {
        let ip = Ipv4Addr::new(10, 0, 0, 1);
        let text = ConfigFile::init_file(Some(ip));
        let table: toml::Table = toml::from_str(&text).unwrap();
        let expected = ConfigFile {
            master_ip: Some(ip),
            ..ConfigFile::default()
        };
        // Every setting is written out, not merely defaulted on reading.
        assert_eq!(table, toml::Table::try_from(&expected).unwrap());
        let parsed: ConfigFile = toml::from_str(&text).unwrap();
        assert_eq!(parsed, expected);
        parsed.validate().unwrap();

        let without: ConfigFile = toml::from_str(&ConfigFile::init_file(None)).unwrap();
        assert_eq!(without, ConfigFile::default());
    }

    #[test]
    fn versions_need_a_catalog_entry() {
        let catalog = Catalog::load(None).unwrap();
        valid()
            .validate()
            .unwrap()
            .validate_versions(&catalog)
            .unwrap();
        let mut c = valid().validate().unwrap();
        c.versions.etcd = "3.4.30".into();
        c.validate_versions(&catalog).unwrap();
        c.versions.kubernetes = "1.2.0".into();
        let err = c.validate_versions(&catalog).unwrap_err();
        assert_eq!(err.problems()[0].setting, "versions.kubernetes");
        assert!(err.to_string().contains("kubernetes 1.2.0"), "{err}");
    }
}
