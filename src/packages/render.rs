//! The handlebars templates: the built-in set compiled in, overrides by name from a folder, strict rendering.
//!
//! A template's name is its path under `templates/` (`default/etcd`, `systemd/etcd.service`).
//! `--templates DIR` replaces the built-in template of each file `DIR/<name>`; a file whose
//! name matches no built-in template is refused, so a typo cannot go unnoticed. Every
//! template can be used as a partial (`{{> debhelper/postinst-enable units="..."}}`): `debhelper/`
//! holds snippets copied from debhelper's autoscripts, `maintainer/` kubedeb's own shell
//! functions that more than one script needs.
//! Rendering is strict (a missing variable is an error) and nothing is HTML-escaped.

use crate::catalog::ImageSpec;
use crate::config::{
    Addons, Apiserver, Certificates, Config, Dns, Docker, Kubelet, Network, Versions,
};
use crate::images::ImageRef;
use handlebars::{handlebars_helper, Handlebars};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Every file of `templates/`, by name, sorted; build.rs lists the folder.
pub const BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/templates.rs"));

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read the template folder {path}: {cause}; check the --templates path")]
    ReadDir {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot read the template override {path}: {cause}")]
    ReadFile {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} overrides no built-in template: there is no template named {name:?}; name the file after one of: {known}")]
    UnknownOverride {
        path: PathBuf,
        name: String,
        known: String,
    },
    #[error("the template {name} ({origin}) does not parse: {message}; fix its handlebars syntax")]
    Parse {
        name: String,
        origin: String,
        message: String,
    },
    #[error("rendering the template {name} failed: {message}; a template may only use the variables kubedeb provides (see templates/ for examples)")]
    Render { name: String, message: String },
    #[error(
        "no template named {name:?}: packaging/packages.toml names a template that does not exist"
    )]
    Missing { name: String },
}

/// The registry of built-in and overriding templates.
pub struct Templates {
    registry: Handlebars<'static>,
    /// Names replaced from the override folder, for reports.
    overridden: Vec<String>,
}

impl Templates {
    /// The built-in templates, each replaced by `override_dir/<name>` when that file exists.
    pub fn load(override_dir: Option<&Path>) -> Result<Templates, RenderError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        registry.register_helper("unit_names", Box::new(unit_names));
        let overrides = match override_dir {
            Some(dir) => read_overrides(dir)?,
            None => Vec::new(),
        };
        for (name, text) in BUILTIN {
            if overrides.iter().any(|(n, _, _)| n == name) {
                continue;
            }
            register(&mut registry, name, text, "built in")?;
        }
        let mut overridden = Vec::new();
        for (name, path, text) in &overrides {
            register(&mut registry, name, text, &path.display().to_string())?;
            overridden.push(name.clone());
        }
        Ok(Templates {
            registry,
            overridden,
        })
    }

    /// The names replaced by files of the override folder.
    pub fn overridden(&self) -> &[String] {
        &self.overridden
    }

    /// Render the template `name` with `context`.
    pub fn render(&self, name: &str, context: &Value) -> Result<String, RenderError> {
        if !self.registry.has_template(name) {
            return Err(RenderError::Missing { name: name.into() });
        }
        self.registry
            .render(name, context)
            .map_err(|e| RenderError::Render {
                name: name.into(),
                message: e.to_string(),
            })
    }

    /// Render a one-off template string (a field of packages.toml), named `what` in errors.
    pub fn render_str(
        &self,
        what: &str,
        text: &str,
        context: &Value,
    ) -> Result<String, RenderError> {
        self.registry
            .render_template(text, context)
            .map_err(|e| RenderError::Render {
                name: what.into(),
                message: e.to_string(),
            })
    }
}

// `{{unit_names package.units}}`: the names of units, space-separated, for a unit list in a
// script or a partial's `units=` (a partial's argument cannot be an {{#each}} block).
// `only="start"` keeps the units with that flag set, `except="start_first"` drops those with
// that one, `reverse=true` turns the order round.
handlebars_helper!(
    unit_names: |units: array, {only: str = "", except: str = "", reverse: bool = false}| {
        let flag = |unit: &Value, name: &str| unit.get(name).and_then(Value::as_bool).unwrap_or(false);
        let mut names: Vec<&str> = units
            .iter()
            .filter(|u| only.is_empty() || flag(u, only))
            .filter(|u| except.is_empty() || !flag(u, except))
            .filter_map(|u| u.get("name").and_then(Value::as_str))
            .collect();
        if reverse {
            names.reverse();
        }
        names.join(" ")
    }
);

fn register(
    registry: &mut Handlebars<'static>,
    name: &str,
    text: &str,
    origin: &str,
) -> Result<(), RenderError> {
    registry
        .register_template_string(name, text)
        .map_err(|e| RenderError::Parse {
            name: name.into(),
            origin: origin.into(),
            message: e.to_string(),
        })
}

/// Every file below `dir` as (name, path, text); a name that is not built in is an error.
fn read_overrides(dir: &Path) -> Result<Vec<(String, PathBuf, String)>, RenderError> {
    let known: BTreeSet<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for (name, path) in files {
        if !known.contains(name.as_str()) {
            return Err(RenderError::UnknownOverride {
                path,
                name,
                known: known.iter().copied().collect::<Vec<_>>().join(", "),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|cause| RenderError::ReadFile {
            path: path.clone(),
            cause,
        })?;
        out.push((name, path, text));
    }
    Ok(out)
}

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), RenderError> {
    let read_err = |cause| RenderError::ReadDir {
        path: dir.to_path_buf(),
        cause,
    };
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let path = entry.path();
        // Follows symlinks, so a folder of links to edited copies works.
        let meta = std::fs::metadata(&path).map_err(|cause| RenderError::ReadFile {
            path: path.clone(),
            cause,
        })?;
        if meta.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).expect("below root");
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, path));
        }
    }
    Ok(())
}

/// What every template sees: the settings as parsed, values derived from them, and the
/// package being built. Serialized as is, so a template names a value by its path in the
/// settings (`network.flannel_network`), and the derived ones sit beside them.
#[derive(Serialize)]
struct Context<'a, P> {
    master_ip: Ipv4Addr,
    /// The etcd release speaks the v3 API: its v2 API must be switched on for flannel 0.5.
    etcd_v3_api: bool,
    versions: &'a Versions,
    network: NetworkContext<'a>,
    dns: &'a Dns,
    apiserver: &'a Apiserver,
    kubelet: &'a Kubelet,
    docker: &'a Docker,
    certificates: &'a Certificates,
    addons: &'a Addons,
    /// role → image reference, for the images the settings need (`images.pause`).
    images: BTreeMap<&'a str, &'a ImageRef>,
    package: P,
}

#[derive(Serialize)]
struct NetworkContext<'a> {
    #[serde(flatten)]
    settings: &'a Network,
    first_service_ip: Ipv4Addr,
    flannel_config_json: String,
}

/// The template context for `config` and one package's values (`package`).
pub fn context(
    config: &Config,
    images: &[ImageSpec],
    etcd_v3_api: bool,
    package: impl Serialize,
) -> Value {
    let context = Context {
        master_ip: config.master_ip,
        etcd_v3_api,
        versions: &config.versions,
        network: NetworkContext {
            settings: &config.network,
            first_service_ip: config.network.first_service_ip(),
            flannel_config_json: config.flannel_config_json(),
        },
        dns: &config.dns,
        apiserver: &config.apiserver,
        kubelet: &config.kubelet,
        docker: &config.docker,
        certificates: &config.certificates,
        addons: &config.addons,
        images: images
            .iter()
            .map(|i| (i.role.as_str(), &i.reference))
            .collect(),
        package,
    };
    // Strings, numbers, lists and string-keyed maps only: nothing serde_json can refuse.
    serde_json::to_value(context).expect("the template context serializes to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;
    use serde_json::json;

    fn config() -> ConfigFile {
        ConfigFile {
            master_ip: Some(Ipv4Addr::new(192, 168, 100, 11)),
            ..ConfigFile::default()
        }
    }

    #[test]
    fn builtin_list_matches_the_templates_folder() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut files = Vec::new();
        collect_files(&root, &root, &mut files).unwrap();
        let mut on_disk: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
        on_disk.sort();
        let listed: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn shared_shell_has_one_home_and_debhelper_holds_only_debhelper() {
        for (text, home) in [
            (
                "ip -4 -o addr show dev docker0",
                "maintainer/docker0-address",
            ),
            ("/usr/sbin/dockerd", "maintainer/dockerd"),
            ("while [ ! -s ", "maintainer/wait-subnet-env"),
            ("openssl genrsa", "lib/make-certs"),
        ] {
            let found: Vec<&str> = BUILTIN
                .iter()
                .filter(|(_, t)| t.contains(text))
                .map(|(n, _)| *n)
                .collect();
            assert_eq!(found, [home], "{text:?}");
        }
        for (name, text) in BUILTIN.iter().filter(|(n, _)| n.starts_with("debhelper/")) {
            let first = text.lines().next().unwrap_or("");
            assert!(
                first.contains("debhelper 13.11.4 autoscripts/"),
                "{name} must name the debhelper autoscript it copies: {first}"
            );
        }
    }

    #[test]
    fn every_builtin_template_parses() {
        Templates::load(None).unwrap();
    }

    #[test]
    fn override_replaces_by_name_and_unknown_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("default")).unwrap();
        std::fs::write(
            dir.path().join("default/etcd"),
            "ETCD_OPTS=\"-name {{master_ip}}\"\n",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        assert_eq!(templates.overridden(), ["default/etcd"]);
        let ctx = context(&config().validate().unwrap(), &[], false, json!({}));
        assert_eq!(
            templates.render("default/etcd", &ctx).unwrap(),
            "ETCD_OPTS=\"-name 192.168.100.11\"\n"
        );

        std::fs::write(dir.path().join("default/etcd2"), "x").unwrap();
        let err = Templates::load(Some(dir.path())).err().unwrap();
        let text = err.to_string();
        assert!(
            matches!(err, RenderError::UnknownOverride { ref name, .. } if name == "default/etcd2"),
            "{text}"
        );
        assert!(
            text.contains("default/etcd2") && text.contains("default/etcd,"),
            "{text}"
        );
    }

    #[test]
    fn strict_mode_names_the_missing_variable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("default")).unwrap();
        std::fs::write(dir.path().join("default/etcd"), "{{no_such_setting}}").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let ctx = context(&config().validate().unwrap(), &[], false, json!({}));
        let err = templates
            .render("default/etcd", &ctx)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("default/etcd") && err.contains("no_such_setting"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_override_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("systemd")).unwrap();
        std::fs::write(dir.path().join("systemd/etcd.service"), "{{#if x}}").unwrap();
        let err = Templates::load(Some(dir.path())).err().unwrap().to_string();
        assert!(
            err.contains("systemd/etcd.service") && err.contains("does not parse"),
            "{err}"
        );
    }

    #[test]
    fn unit_names_filters_and_orders_a_unit_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("default")).unwrap();
        std::fs::write(
            dir.path().join("default/etcd"),
            "{{unit_names package.units}}|{{unit_names package.units only=\"start\"}}|\
             {{unit_names package.units only=\"start\" except=\"start_first\"}}|\
             {{unit_names package.units reverse=true}}",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let units = json!({"units": [
            {"name": "a.service", "enable": true, "start": true, "start_first": true},
            {"name": "b.service", "enable": true, "start": false, "start_first": false},
            {"name": "c.service", "enable": true, "start": true, "start_first": false},
        ]});
        let ctx = context(&config().validate().unwrap(), &[], false, units);
        assert_eq!(
            templates.render("default/etcd", &ctx).unwrap(),
            "a.service b.service c.service|a.service c.service|c.service|c.service b.service a.service"
        );
    }

    #[test]
    fn nothing_is_html_escaped() {
        let templates = Templates::load(None).unwrap();
        let mut cfg = config();
        cfg.network.flannel_extra_json = "\"SubnetLen\": 24".into();
        let ctx = context(
            &cfg.validate().unwrap(),
            &[],
            false,
            json!({"name": "k8s-master"}),
        );
        let out = templates.render("lib/flannel-network", &ctx).unwrap();
        assert!(
            out.contains(
                r#"{"Network":"172.16.0.0/16", "Backend": {"Type": "vxlan"}, "SubnetLen": 24}"#
            ),
            "{out}"
        );
    }
}
