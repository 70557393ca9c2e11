//! The release catalog: for each component and version, the tarball, its source, its hash and the binaries inside.
//!
//! The built-in catalog is `packaging/catalog.toml`, compiled in. A user catalog in the same
//! format (`--catalog` or `fetch.catalog`) is merged over it: an entry there overrides, field by
//! field, the built-in entry of the same component and version (so pinning a hash takes one
//! line), and a new version's entry names every field. `kubedeb catalog` prints the built-in one.

use crate::images::ImageRef;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

const BUILT_IN: &str = include_str!("../packaging/catalog.toml");
const BUILT_IN_ORIGIN: &str = "the built-in catalog (packaging/catalog.toml)";

/// The built-in catalog as written, comments and all (`kubedeb catalog`).
pub fn built_in_text() -> &'static str {
    BUILT_IN
}

/// A component whose release binaries kubedeb packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Kubernetes,
    Flannel,
    Etcd,
}

impl Component {
    pub const ALL: [Component; 3] = [Component::Kubernetes, Component::Flannel, Component::Etcd];

    pub fn name(self) -> &'static str {
        match self {
            Component::Kubernetes => "kubernetes",
            Component::Flannel => "flannel",
            Component::Etcd => "etcd",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which etcd API generation a release speaks; flannel 0.5 and Kubernetes 1.1 need the v2 API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EtcdApi {
    /// etcd 2.x: the v2 API is the only one.
    #[default]
    V2,
    /// etcd 3.x: the v2 API must be switched on (`--enable-v2=true`) and etcdctl told to use it (`ETCDCTL_API=2`).
    V3,
}

impl EtcdApi {
    /// Whether etcd must be started with `--enable-v2=true` and etcdctl run with `ETCDCTL_API=2`.
    pub fn needs_v2_switch(self) -> bool {
        self == EtcdApi::V3
    }
}

/// One binary to take out of a release tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinarySpec {
    /// The installed name, e.g. `kube-apiserver`.
    pub name: String,
    /// Member path in the tarball, then the member path inside it when it is itself a tarball, and so on.
    pub path: Vec<String>,
}

/// One container image a Kubernetes release needs (`[kubernetes."<version>".images]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// What the image is for, as templates name it (`images.pause`, `images.skydns`).
    pub role: String,
    /// The name the node's Docker knows it by, and where it is fetched from.
    pub reference: ImageRef,
    /// The image ID (`sha256:<hex>`, the digest of its config) when pinned; `None` means trust on first use.
    pub id: Option<String>,
    /// The addon (`dns`, `ui`) that runs it; such an image is fetched and packaged only when that addon is on.
    pub addon: Option<String>,
}

/// The addons a catalog image may belong to.
pub const ADDONS: [&str; 2] = ["dns", "ui"];

/// One release of one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub component: Component,
    pub version: String,
    /// The tarball's file name (a mirror serves `<mirror>/<file>`).
    pub file: String,
    /// Where upstream publishes it.
    pub url: String,
    /// The published sha256 (lowercase hex); `None` means trust on first use.
    pub sha256: Option<String>,
    /// etcd releases only: which API generation it speaks.
    pub api: EtcdApi,
    pub binaries: Vec<BinarySpec>,
    /// Kubernetes releases only: the container images its pods need, by role.
    pub images: Vec<ImageSpec>,
    /// Which catalog file the entry came from, for messages.
    pub origin: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the catalog {path}: {cause}; check the --catalog / fetch.catalog path")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{origin} is not a valid catalog: {message}; see packaging/catalog.toml for the format"
    )]
    Parse { origin: String, message: String },
    #[error("{origin}: {component} {version}: {problem}; fix that entry")]
    Invalid {
        origin: String,
        component: Component,
        version: String,
        problem: String,
    },
    #[error(
        "no catalog entry for {component} {version} (known versions: {known}); \
         add a [{component}.\"{version}\"] entry to your own catalog file (--catalog or fetch.catalog)"
    )]
    Unknown {
        component: Component,
        version: String,
        known: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    kubernetes: BTreeMap<String, ReleaseEntry>,
    #[serde(default)]
    flannel: BTreeMap<String, ReleaseEntry>,
    #[serde(default)]
    etcd: BTreeMap<String, ReleaseEntry>,
}

/// An entry as written: in a user catalog any field may be left out to keep the built-in one.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct ReleaseEntry {
    file: Option<String>,
    url: Option<String>,
    sha256: Option<String>,
    api: Option<EtcdApi>,
    binaries: Option<BTreeMap<String, Vec<String>>>,
    images: Option<BTreeMap<String, ImageEntry>>,
}

/// An image as written; in a user catalog a field left out keeps the built-in one of that role.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct ImageEntry {
    #[serde(rename = "ref")]
    reference: Option<String>,
    id: Option<String>,
    addon: Option<String>,
}

impl ReleaseEntry {
    /// This entry's fields over `base`'s.
    fn over(self, base: ReleaseEntry) -> ReleaseEntry {
        ReleaseEntry {
            file: self.file.or(base.file),
            url: self.url.or(base.url),
            sha256: self.sha256.or(base.sha256),
            api: self.api.or(base.api),
            binaries: self.binaries.or(base.binaries),
            images: match (self.images, base.images) {
                (Some(mine), Some(mut theirs)) => {
                    for (role, entry) in mine {
                        let base = theirs.remove(&role).unwrap_or_default();
                        theirs.insert(
                            role,
                            ImageEntry {
                                reference: entry.reference.or(base.reference),
                                id: entry.id.or(base.id),
                                addon: entry.addon.or(base.addon),
                            },
                        );
                    }
                    Some(theirs)
                }
                (mine, theirs) => mine.or(theirs),
            },
        }
    }
}

impl CatalogFile {
    fn parse(text: &str, origin: &str) -> Result<CatalogFile, CatalogError> {
        toml::from_str(text).map_err(|e| CatalogError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })
    }

    fn into_entries(self) -> [(Component, BTreeMap<String, ReleaseEntry>); 3] {
        [
            (Component::Kubernetes, self.kubernetes),
            (Component::Flannel, self.flannel),
            (Component::Etcd, self.etcd),
        ]
    }
}

/// The merged catalog: built-in entries, overridden or extended by the user's.
#[derive(Debug, Clone)]
pub struct Catalog {
    releases: BTreeMap<(Component, String), Release>,
    /// The user catalog merged in, as named.
    user: Option<PathBuf>,
}

impl Catalog {
    /// The built-in catalog merged with the user's catalog file, if any.
    pub fn load(user: Option<&Path>) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::parse(BUILT_IN, BUILT_IN_ORIGIN)?;
        let Some(path) = user else {
            return Ok(catalog);
        };
        let text = std::fs::read_to_string(path).map_err(|cause| CatalogError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        let origin = path.display().to_string();
        let mut built_in: BTreeMap<(Component, String), ReleaseEntry> = BTreeMap::new();
        for (component, entries) in CatalogFile::parse(BUILT_IN, BUILT_IN_ORIGIN)?.into_entries() {
            for (version, entry) in entries {
                built_in.insert((component, version), entry);
            }
        }
        for (component, entries) in CatalogFile::parse(&text, &origin)?.into_entries() {
            for (version, entry) in entries {
                let key = (component, version);
                let entry = match built_in.remove(&key) {
                    Some(base) => entry.over(base),
                    None => entry,
                };
                let release = entry.check(component, &key.1, &origin)?;
                catalog.releases.insert(key, release);
            }
        }
        catalog.user = Some(path.to_path_buf());
        Ok(catalog)
    }

    /// Parse and check one catalog file, every entry whole; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let mut releases = BTreeMap::new();
        for (component, entries) in CatalogFile::parse(text, origin)?.into_entries() {
            for (version, entry) in entries {
                let release = entry.check(component, &version, origin)?;
                releases.insert((component, version), release);
            }
        }
        Ok(Catalog {
            releases,
            user: None,
        })
    }

    /// The user catalog file merged over the built-in one, if any.
    pub fn user_file(&self) -> Option<&Path> {
        self.user.as_deref()
    }

    /// Entries of `other` replace entries of the same component and version.
    pub fn merge(&mut self, other: Catalog) {
        self.releases.extend(other.releases);
    }

    pub fn release(&self, component: Component, version: &str) -> Result<&Release, CatalogError> {
        self.releases
            .get(&(component, version.to_string()))
            .ok_or_else(|| CatalogError::Unknown {
                component,
                version: version.to_string(),
                known: self.versions(component).join(", "),
            })
    }

    /// The versions known for a component, in sorted order.
    pub fn versions(&self, component: Component) -> Vec<&str> {
        self.releases
            .keys()
            .filter(|(c, _)| *c == component)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl ReleaseEntry {
    fn check(
        self,
        component: Component,
        version: &str,
        origin: &str,
    ) -> Result<Release, CatalogError> {
        let invalid = |problem: String| CatalogError::Invalid {
            origin: origin.to_string(),
            component,
            version: version.to_string(),
            problem,
        };
        if version.is_empty()
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-+~".contains(c))
        {
            return Err(invalid(format!(
                "version {version:?} must be letters, digits and . - + ~ only"
            )));
        }
        let missing = |field: &str| {
            invalid(format!(
                "no `{field}` given: an entry for a version the built-in catalog lacks names \
                 file, url and [binaries] (see `kubedeb catalog`)"
            ))
        };
        let file = self.file.ok_or_else(|| missing("file"))?;
        let url = self.url.ok_or_else(|| missing("url"))?;
        let binaries_table = self.binaries.ok_or_else(|| missing("binaries"))?;
        if file.is_empty() || file.contains('/') || file == "." || file == ".." {
            return Err(invalid(format!(
                "file {file:?} must be a plain file name without '/'"
            )));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(format!(
                "url {url:?} must start with http:// or https://"
            )));
        }
        let sha256 = match self.sha256 {
            Some(hash) if is_sha256_hex(&hash) => Some(hash.to_ascii_lowercase()),
            Some(hash) => {
                return Err(invalid(format!(
                    "sha256 {hash:?} is not 64 hexadecimal digits"
                )));
            }
            None => None,
        };
        let api = match (component, self.api) {
            (Component::Etcd, api) => api.unwrap_or_default(),
            (_, Some(_)) => return Err(invalid("`api` applies to etcd releases only".into())),
            (_, None) => EtcdApi::default(),
        };
        if binaries_table.is_empty() {
            return Err(invalid("no binaries listed; add a [binaries] table".into()));
        }
        let mut binaries = Vec::new();
        for (name, path) in binaries_table {
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                return Err(invalid(format!(
                    "binary name {name:?} must be a plain file name"
                )));
            }
            if path.is_empty() {
                return Err(invalid(format!(
                    "binary {name}: empty path; list the member path in the tarball"
                )));
            }
            for member in &path {
                let bad = member.is_empty()
                    || member.starts_with('/')
                    || member.split('/').any(|part| part == "..");
                if bad {
                    return Err(invalid(format!(
                        "binary {name}: member path {member:?} must be relative, without '..'"
                    )));
                }
            }
            binaries.push(BinarySpec { name, path });
        }
        let images = match (component, self.images) {
            (_, None) => Vec::new(),
            (Component::Kubernetes, Some(table)) => check_images(table).map_err(invalid)?,
            (_, Some(_)) => {
                return Err(invalid(
                    "`images` applies to kubernetes releases only".into(),
                ))
            }
        };
        Ok(Release {
            component,
            version: version.to_string(),
            file,
            url,
            sha256,
            api,
            binaries,
            images,
            origin: origin.to_string(),
        })
    }
}

fn check_images(table: BTreeMap<String, ImageEntry>) -> Result<Vec<ImageSpec>, String> {
    let mut images = Vec::new();
    for (role, entry) in table {
        if role.is_empty()
            || !role
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!(
                "image role {role:?} must be lowercase letters, digits and '-'"
            ));
        }
        let text = entry.reference.ok_or_else(|| {
            format!("image {role}: no `ref` given; write ref = \"registry/path:tag\"")
        })?;
        let reference = ImageRef::parse(&text)
            .map_err(|why| format!("image {role}: {text:?} is not an image reference ({why})"))?;
        let id = match entry.id {
            None => None,
            Some(id) => match id.strip_prefix("sha256:") {
                Some(hex) if is_sha256_hex(hex) => Some(format!("sha256:{}", hex.to_ascii_lowercase())),
                _ => {
                    return Err(format!(
                        "image {role}: id {id:?} must be \"sha256:\" and 64 hexadecimal digits (the image ID `docker images --no-trunc` shows)"
                    ))
                }
            },
        };
        if let Some(addon) = &entry.addon {
            if !ADDONS.contains(&addon.as_str()) {
                return Err(format!(
                    "image {role}: addon {addon:?} is not one of {}",
                    ADDONS.join(", ")
                ));
            }
        }
        images.push(ImageSpec {
            role,
            reference,
            id,
            addon: entry.addon,
        });
    }
    Ok(images)
}

pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_catalog_has_the_seed_versions_with_their_pins() {
        let catalog = Catalog::load(None).unwrap();
        let kube = catalog.release(Component::Kubernetes, "1.1.4").unwrap();
        assert_eq!(kube.file, "kubernetes.tar.gz");
        assert_eq!(kube.sha256, None);
        let names: Vec<&str> = kube.binaries.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kube-apiserver",
                "kube-controller-manager",
                "kube-proxy",
                "kube-scheduler",
                "kubectl",
                "kubelet"
            ]
        );
        let apiserver = &kube.binaries[0];
        assert_eq!(
            apiserver.path,
            [
                "kubernetes/server/kubernetes-server-linux-amd64.tar.gz",
                "kubernetes/server/bin/kube-apiserver"
            ]
        );
        let flannel = catalog.release(Component::Flannel, "0.5.5").unwrap();
        assert_eq!(
            flannel.sha256.as_deref(),
            Some("78127e165f124a8f8ddf2391f8b775b3494aec7e693928f78f2328256fe3644c")
        );
        let etcd = catalog.release(Component::Etcd, "2.2.1").unwrap();
        assert_eq!(
            etcd.sha256.as_deref(),
            Some("59f7985c81b6bc551246c165c2fd83e33a063875e4e0c61920b1d90a4910f462")
        );
        assert_eq!(etcd.api, EtcdApi::V2);
        let etcd3 = catalog.release(Component::Etcd, "3.4.30").unwrap();
        assert!(etcd3.api.needs_v2_switch());
        assert_eq!(etcd3.binaries[0].path, ["etcd-v3.4.30-linux-amd64/etcd"]);
        let images: Vec<String> = kube
            .images
            .iter()
            .map(|i| format!("{}={}", i.role, i.reference))
            .collect();
        assert_eq!(
            images,
            [
                "dns-etcd=gcr.io/google_containers/etcd:2.0.9",
                "exechealthz=gcr.io/google_containers/exechealthz:1.0",
                "kube-ui=gcr.io/google_containers/kube-ui:v4",
                "kube2sky=gcr.io/google_containers/kube2sky:1.11",
                "pause=gcr.io/google_containers/pause:0.8.0",
                "skydns=gcr.io/google_containers/skydns:2015-10-13-8c72f8c",
            ]
        );
    }

    #[test]
    fn user_image_entries_override_one_field_of_one_role() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user.toml");
        let id = format!("sha256:{}", "B".repeat(64));
        std::fs::write(
            &path,
            format!("[kubernetes.\"1.1.4\".images]\npause = {{ id = \"{id}\" }}\n"),
        )
        .unwrap();
        let catalog = Catalog::load(Some(&path)).unwrap();
        let kube = catalog.release(Component::Kubernetes, "1.1.4").unwrap();
        let pause = kube.images.iter().find(|i| i.role == "pause").unwrap();
        assert_eq!(
            pause.reference.to_string(),
            "gcr.io/google_containers/pause:0.8.0"
        );
        assert_eq!(
            pause.id.as_deref(),
            Some(&*format!("sha256:{}", "b".repeat(64)))
        );
        assert_eq!(kube.images.len(), 6);
        let bad = "[etcd.\"2.2.1\".images]\npause = { ref = \"x\" }\n";
        std::fs::write(&path, bad).unwrap();
        let err = Catalog::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("kubernetes releases only"), "{err}");
        for (bad, word) in [
            ("pause = { ref = \"Pause:1\" }", "not an image reference"),
            ("pause = { ref = \"pause:1\", id = \"abc\" }", "sha256:"),
            ("pause = { ref = \"pause:1\", addon = \"web\" }", "dns, ui"),
            ("pause = { id = \"sha256:abc\" }", "sha256:"),
            ("Pause = { ref = \"pause:1\" }", "role"),
        ] {
            std::fs::write(&path, format!("[kubernetes.\"1.1.4\".images]\n{bad}\n")).unwrap();
            let err = Catalog::load(Some(&path)).unwrap_err().to_string();
            assert!(err.contains(word), "{bad}: {err}");
        }
    }

    #[test]
    fn user_entries_replace_and_extend_the_built_in_ones() {
        let mut catalog = Catalog::load(None).unwrap();
        let user = r#"
[flannel."0.5.5"]
file = "flannel-0.5.5-linux-amd64.tar.gz"
url = "http://mirror.example/flannel-0.5.5-linux-amd64.tar.gz"
sha256 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
[flannel."0.5.5".binaries]
flanneld = ["flannel-0.5.5/flanneld"]

[kubernetes."1.2.0"]
file = "kubernetes.tar.gz"
url = "https://example/kubernetes.tar.gz"
[kubernetes."1.2.0".binaries]
kubelet = ["kubernetes/server/kubernetes-server-linux-amd64.tar.gz", "kubernetes/server/bin/kubelet"]
"#;
        catalog.merge(Catalog::parse(user, "user.toml").unwrap());
        let flannel = catalog.release(Component::Flannel, "0.5.5").unwrap();
        assert_eq!(
            flannel.url,
            "http://mirror.example/flannel-0.5.5-linux-amd64.tar.gz"
        );
        assert_eq!(flannel.sha256.as_deref(), Some(&"a".repeat(64)[..]));
        assert_eq!(flannel.origin, "user.toml");
        assert_eq!(catalog.versions(Component::Kubernetes), ["1.1.4", "1.2.0"]);
        assert!(catalog.release(Component::Etcd, "2.2.1").is_ok());
    }

    #[test]
    fn unknown_version_names_the_known_ones_and_the_fix() {
        let catalog = Catalog::load(None).unwrap();
        let err = catalog
            .release(Component::Etcd, "9.9.9")
            .unwrap_err()
            .to_string();
        assert!(err.contains("etcd 9.9.9"), "{err}");
        assert!(err.contains("2.2.1, 3.4.30"), "{err}");
        assert!(err.contains("--catalog"), "{err}");
    }

    #[test]
    fn bad_entries_are_refused_with_the_entry_named() {
        let cases = [
            ("[etcd.\"1\"]\nfile=\"a\"\nurl=\"http://x/a\"\nsha256=\"abc\"\n[etcd.\"1\".binaries]\netcd=[\"e\"]", "sha256"),
            ("[etcd.\"1\"]\nfile=\"a/b\"\nurl=\"http://x/a\"\n[etcd.\"1\".binaries]\netcd=[\"e\"]", "file"),
            ("[etcd.\"1\"]\nfile=\"a\"\nurl=\"ftp://x/a\"\n[etcd.\"1\".binaries]\netcd=[\"e\"]", "url"),
            ("[flannel.\"1\"]\nfile=\"a\"\nurl=\"http://x/a\"\napi=\"v3\"\n[flannel.\"1\".binaries]\nf=[\"e\"]", "api"),
            ("[etcd.\"1\"]\nfile=\"a\"\nurl=\"http://x/a\"\n[etcd.\"1\".binaries]\netcd=[\"../e\"]", "'..'"),
            ("[etcd.\"1\"]\nfile=\"a\"\nurl=\"http://x/a\"\n[etcd.\"1\".binaries]\n", "no binaries"),
        ];
        for (text, word) in cases {
            let err = Catalog::parse(text, "user.toml").unwrap_err().to_string();
            assert!(
                err.contains("user.toml") && err.contains(word),
                "{word}: {err}"
            );
        }
        let err = Catalog::parse("[docker.\"1\"]\nfile=\"a\"", "user.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker"), "{err}");
        let err = Catalog::parse("[etcd.\"1\"]\nfile=\"a\"\nurl=\"http://x\"\nmd5=\"x\"\n[etcd.\"1\".binaries]\ne=[\"e\"]", "u")
            .unwrap_err()
            .to_string();
        assert!(err.contains("md5"), "{err}");
        let err = Catalog::parse("[etcd.\"1\"]\nfile=\"a\"\nurl=\"http://x\"\napi=\"v4\"\n[etcd.\"1\".binaries]\ne=[\"e\"]", "u")
            .unwrap_err()
            .to_string();
        assert!(err.contains("v4"), "{err}");
    }
}
