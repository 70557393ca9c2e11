//! The `k8s-flannel`, `k8s-master`, `k8s-images` and `k8s-minion` package descriptions:
//! packaging/packages.toml plus the rendered templates plus the release binaries and image
//! archives, as [`PackageSpec`]s for the .deb writer.

mod describe;
mod images;
mod manifest;
pub mod render;
pub mod unit_check;

pub use describe::{describe, describe_json};
pub use images::{expected_images, fetched_images, PackagedImage};
pub use manifest::{relations, FileKind, Unit};

use crate::catalog::{Catalog, Component};
use crate::config::Config;
use crate::deb::{Control, Entry, PackageSpec, Scripts, Source};
use crate::fetch::binaries_dir;
use manifest::{manifest, Changelog, FileDef, PackageDef, Upstream, VersionOf, MANIFEST_ORIGIN};
use render::{RenderError, Templates};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The release binaries are linux-amd64 builds.
const ARCHITECTURE: &str = "amd64";

/// What [`packages`] needs.
pub struct BuildInput<'a> {
    pub config: &'a Config,
    /// Binary name -> the extracted file (from `kubedeb fetch`).
    pub binaries: &'a BTreeMap<String, PathBuf>,
    /// kubedeb's own program name -> its executable (built with kubedeb, see [`own_programs`]).
    pub programs: &'a BTreeMap<String, PathBuf>,
    /// A folder of templates overriding the built-in ones by name.
    pub templates: Option<&'a Path>,
    /// The etcd release speaks the v3 API (etcd 3.x): run it with `--enable-v2=true` and etcdctl with `ETCDCTL_API=2`.
    pub etcd_v3_api: bool,
    /// The images the cluster needs ([`Config::images`]) with their archives: templates see
    /// their names as `images.<role>`; a package with `images = true` carries the archives.
    pub images: &'a [PackagedImage],
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{package} needs the binary {name}, which was not fetched; run `kubedeb fetch` (or check the release catalog's binaries for this version)")]
    MissingBinary { package: String, name: String },
    #[error("{package} needs kubedeb's program {name}, which is not at {path}: it is built with kubedeb (cargo build --release) and must lie beside the kubedeb executable")]
    MissingProgram {
        package: String,
        name: String,
        path: PathBuf,
    },
    #[error("the package list {origin} is invalid: {message}")]
    Manifest { origin: String, message: String },
    #[error("{package}: {path} cannot be a {kind:?} file: {why}; fix {origin}")]
    BadPath {
        package: String,
        path: String,
        kind: FileKind,
        why: &'static str,
        origin: String,
    },
    #[error("cannot read the binary {path} for {package}: {cause}; run `kubedeb fetch` again")]
    ReadBinary {
        package: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    BadUnit(Box<BadUnit>),
    #[error("cannot compress the changelog of {package}: {cause}")]
    Changelog {
        package: String,
        cause: std::io::Error,
    },
}

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

/// The package descriptions for these settings, binaries and images ([`fetched_images`], or
/// [`expected_images`] to describe them before fetch), with kubedeb's own programs from
/// beside the running executable.
pub fn specs(
    config: &Config,
    catalog: &Catalog,
    binaries: &BTreeMap<String, PathBuf>,
    images: &[PackagedImage],
    templates: Option<&Path>,
) -> anyhow::Result<Vec<PackageSpec>> {
    let etcd = catalog.release(Component::Etcd, &config.versions.etcd)?;
    let input = BuildInput {
        config,
        binaries,
        programs: &own_programs(),
        templates,
        etcd_v3_api: etcd.api.needs_v2_switch(),
        images,
    };
    Ok(packages(&input)?)
}

/// What the templates of one package see as `package`.
#[derive(Serialize)]
struct PackageContext<'a> {
    name: &'a str,
    /// This package's Debian version.
    version: &'a str,
    /// The Debian versions of the packages, for relations between them.
    flannel_version: &'a str,
    kubernetes_version: &'a str,
    maintainer: &'a str,
    /// For debian/copyright.
    upstream: &'a str,
    upstream_version: &'a str,
    source: &'a str,
    copyright: &'a str,
    /// In the order of packages.toml; maintainer scripts take their unit lists from it.
    units: &'a [Unit],
}

/// The packages in dependency order: k8s-flannel, k8s-master, k8s-images, k8s-minion.
pub fn packages(input: &BuildInput) -> Result<Vec<PackageSpec>, PackageError> {
    let config = input.config;
    let templates = Templates::load(input.templates)?;
    let revision = config.package.revision;
    let flannel_version = format!("{}-{revision}", config.versions.flannel);
    let kubernetes_version = format!("{}-{revision}", config.versions.kubernetes);

    let image_specs: Vec<_> = input.images.iter().map(|i| i.spec.clone()).collect();
    let manifest = manifest()?;
    manifest
        .package
        .iter()
        .map(|def| {
            let upstream = manifest.upstream_of(def)?;
            let (version, upstream_version) = match def.version {
                VersionOf::Kubernetes => (&kubernetes_version, &config.versions.kubernetes),
                VersionOf::Flannel => (&flannel_version, &config.versions.flannel),
            };
            let package = PackageContext {
                name: &def.name,
                version,
                flannel_version: &flannel_version,
                kubernetes_version: &kubernetes_version,
                maintainer: &config.package.maintainer,
                upstream: &upstream.name,
                upstream_version,
                source: &upstream.source,
                copyright: &upstream.copyright,
                units: &def.units,
            };
            let ctx = render::context(config, &image_specs, input.etcd_v3_api, package);
            build_one(
                def,
                upstream,
                &manifest.changelog,
                version,
                &templates,
                &ctx,
                input,
            )
        })
        .collect()
}

/// A unit file that does not pass [`unit_check`], with where it came from.
#[derive(Debug, thiserror::Error)]
#[error("{package}: the unit {path} (template {template} from {from}) line {line}: {problem}; fix the template, systemd would not run it as meant")]
pub struct BadUnit {
    pub package: String,
    pub path: String,
    pub template: String,
    pub from: String,
    pub line: usize,
    pub problem: String,
}

fn build_one(
    def: &PackageDef,
    upstream: &Upstream,
    changelog_entry: &Changelog,
    version: &str,
    templates: &Templates,
    ctx: &Value,
    input: &BuildInput,
) -> Result<PackageSpec, PackageError> {
    let name = &def.name;
    let field = |what: &str, text: &str| -> Result<String, PackageError> {
        Ok(templates.render_str(&format!("{MANIFEST_ORIGIN}: {name}.{what}"), text, ctx)?)
    };
    let list = |what: &str, items: &[String]| -> Result<Vec<String>, PackageError> {
        items.iter().map(|item| field(what, item)).collect()
    };
    let script = |template: &Option<String>| -> Result<Option<String>, PackageError> {
        template
            .as_deref()
            .map(|t| templates.render(t, ctx))
            .transpose()
            .map_err(PackageError::from)
    };

    let mut control = Control {
        package: name.clone(),
        version: version.to_string(),
        architecture: ARCHITECTURE.into(),
        maintainer: input.config.package.maintainer.clone(),
        summary: field("summary", &def.summary)?,
        long_description: field("description", &def.description)?,
        section: Some("admin".into()),
        priority: Some("optional".into()),
        homepage: Some(upstream.homepage.clone()),
        depends: list("depends", &def.depends)?,
        conflicts: list("conflicts", &def.conflicts)?,
        replaces: list("replaces", &def.replaces)?,
        ..Control::default()
    };

    let mut entries = Vec::new();
    let mut dynamic = false;
    let mut overrides = Vec::new();
    let linking = |path: &PathBuf| -> Result<Option<crate::elf::Linking>, PackageError> {
        // Before `kubedeb fetch` (as in `kubedeb check`) the binary is not there yet: the libc6
        // dependency and the overrides are then decided when the package is built from it.
        match crate::elf::linking(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            other => other.map(Some).map_err(|cause| PackageError::ReadBinary {
                package: name.clone(),
                path: path.clone(),
                cause,
            }),
        }
    };
    for binary in &def.binaries {
        let path = input
            .binaries
            .get(binary)
            .ok_or_else(|| PackageError::MissingBinary {
                package: name.clone(),
                name: binary.clone(),
            })?;
        let target = format!("/usr/bin/{binary}");
        if let Some(facts) = linking(path)? {
            dynamic |= facts.dynamic;
            if !facts.dynamic {
                overrides.push(("statically-linked-binary", target.clone()));
            }
            if facts.unstripped {
                overrides.push(("unstripped-binary-or-object", target.clone()));
            }
        }
        entries.push(Entry::file(target, 0o755, Source::Path(path.clone())));
    }
    for program in &def.programs {
        let path = input
            .programs
            .get(program)
            .filter(|p| p.is_file())
            .ok_or_else(|| PackageError::MissingProgram {
                package: name.clone(),
                name: program.clone(),
                path: input.programs.get(program).cloned().unwrap_or_default(),
            })?;
        dynamic |= linking(path)?.is_some_and(|facts| facts.dynamic);
        entries.push(Entry::file(
            format!("/usr/lib/kubedeb/{program}"),
            0o755,
            Source::Path(path.clone()),
        ));
    }
    if def.images {
        entries.extend(images::entries(&def.images_dir(), input.images));
    }
    if !overrides.is_empty() {
        entries.push(Entry::file(
            format!("/usr/share/lintian/overrides/{name}"),
            0o644,
            Source::Bytes(lintian_overrides(name, &overrides).into_bytes()),
        ));
    }
    for file in &def.file {
        check_path(name, file)?;
        if !shipped(name, file, ctx)? {
            continue;
        }
        let text = templates.render(&file.template, ctx)?;
        if file.kind == manifest::FileKind::Unit {
            unit_check::check(&text).map_err(|p| {
                PackageError::BadUnit(Box::new(BadUnit {
                    package: name.clone(),
                    path: file.path.clone(),
                    template: file.template.clone(),
                    from: if templates.overridden().contains(&file.template) {
                        "your --templates folder".into()
                    } else {
                        "the built-in templates".into()
                    },
                    line: p.line,
                    problem: p.problem,
                }))
            })?;
        }
        entries.push(Entry::file(
            file.path.clone(),
            file.kind.mode(),
            Source::Bytes(text.into_bytes()),
        ));
    }
    // Kubernetes' and etcd's release binaries are static; a cgo build (flanneld) needs libc.
    if dynamic && !control.depends.iter().any(|d| d.starts_with("libc6")) {
        control.depends.insert(0, "libc6".into());
    }
    let copyright = templates.render("doc/copyright", ctx)?;
    entries.push(Entry::file(
        format!("/usr/share/doc/{name}/copyright"),
        0o644,
        Source::Bytes(copyright.into_bytes()),
    ));
    entries.push(Entry::file(
        format!("/usr/share/doc/{name}/changelog.Debian.gz"),
        0o644,
        Source::Bytes(changelog(
            changelog_entry,
            name,
            version,
            &input.config.package.maintainer,
        )?),
    ));

    Ok(PackageSpec {
        control,
        scripts: Scripts {
            preinst: None,
            postinst: script(&def.postinst)?,
            prerm: script(&def.prerm)?,
            postrm: script(&def.postrm)?,
        },
        entries,
    })
}

/// Whether `file` goes into the package with these settings: its `when` names a true/false
/// value of the template context (`addons.dns`), and without one it always does.
fn shipped(package: &str, file: &FileDef, ctx: &Value) -> Result<bool, PackageError> {
    let Some(when) = &file.when else {
        return Ok(true);
    };
    match ctx.pointer(&format!("/{}", when.replace('.', "/"))) {
        Some(Value::Bool(on)) => Ok(*on),
        _ => Err(PackageError::Manifest {
            origin: MANIFEST_ORIGIN.into(),
            message: format!(
                "{package}: {} has when = {when:?}, which names no true/false setting; name one like \"addons.dns\"",
                file.path
            ),
        }),
    }
}

fn check_path(package: &str, file: &FileDef) -> Result<(), PackageError> {
    let bad = |why| PackageError::BadPath {
        package: package.into(),
        path: file.path.clone(),
        kind: file.kind,
        why,
        origin: MANIFEST_ORIGIN.into(),
    };
    if !file.path.starts_with(&file.kind.prefix(package)) {
        return Err(bad("it is outside the folder for that kind"));
    }
    if file.path.ends_with('/') || file.path.split('/').any(|c| c == ".." || c == ".") {
        return Err(bad("it is not a plain file path"));
    }
    Ok(())
}

/// lintian's errors for upstream release binaries that kubedeb ships byte for byte, as
/// verified against their pinned sha256: static Go programs (CGO_ENABLED=0) are static by
/// design, and a release binary left unstripped upstream cannot be stripped without
/// becoming a different file.
fn lintian_overrides(package: &str, overrides: &[(&str, String)]) -> String {
    let mut text = String::from(
        "# kubedeb ships the upstream release binaries unchanged (their sha256 is verified):\n\
         # statically-linked-binary: Go programs built with CGO_ENABLED=0, static by design;\n\
         # unstripped-binary-or-object: left unstripped upstream; stripping would change the verified file.\n",
    );
    for (tag, path) in overrides {
        let _ = writeln!(text, "{package}: {tag} [{}]", path.trim_start_matches('/'));
    }
    text
}

/// Where kubedeb's own programs are: beside the running kubedeb executable, where cargo
/// builds and installs them.
pub fn own_programs() -> BTreeMap<String, PathBuf> {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    manifest()
        .map(|m| {
            m.package
                .iter()
                .flat_map(|p| p.programs.iter())
                .map(|program| (program.clone(), dir.join(program)))
                .collect()
        })
        .unwrap_or_default()
}

/// File times in the packages when `SOURCE_DATE_EPOCH` is not set: the date of the changelog
/// entry. A fixed time makes every build reproducible, so running `kubedeb up` again with
/// unchanged settings rebuilds identical files and publishes nothing.
pub fn default_epoch() -> Result<u64, PackageError> {
    manifest()?.changelog.epoch()
}

/// A minimal Debian changelog, gzipped without a timestamp so that builds are reproducible.
fn changelog(
    entry: &Changelog,
    package: &str,
    version: &str,
    maintainer: &str,
) -> Result<Vec<u8>, PackageError> {
    // A fixed date: the entry describes the build recipe, not the moment of building.
    let text = format!(
        "{package} ({version}) unstable; urgency=medium\n\n  * {}\n\n -- {maintainer}  {}\n",
        entry.text, entry.date
    );
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(text.as_bytes())
        .and_then(|_| gz.finish())
        .map_err(|cause| PackageError::Changelog {
            package: package.into(),
            cause,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;
    use std::net::Ipv4Addr;

    fn binaries() -> BTreeMap<String, PathBuf> {
        let catalog = crate::catalog::Catalog::load(None).unwrap();
        expected_binaries(Path::new("cache"), &config(), &catalog)
            .unwrap()
            .into_keys()
            .map(|b| (b, PathBuf::from("/bin/true")))
            .collect()
    }

    /// Any existing executable stands in for kubedeb's own programs here.
    fn programs() -> BTreeMap<String, PathBuf> {
        let exe = std::env::current_exe().unwrap();
        own_programs()
            .into_keys()
            .map(|k| (k, exe.clone()))
            .collect()
    }

    /// The settings' images, each archive played by /bin/true.
    fn images(cfg: &Config) -> Vec<PackagedImage> {
        cfg.images(&Catalog::load(None).unwrap())
            .unwrap()
            .into_iter()
            .map(|spec| PackagedImage {
                spec,
                archive: PathBuf::from("/bin/true"),
                id: Some(format!("sha256:{}", "0".repeat(64))),
            })
            .collect()
    }

    fn config() -> Config {
        ConfigFile {
            master_ip: Some(Ipv4Addr::new(192, 168, 100, 11)),
            ..ConfigFile::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn manifest_parses_and_paths_fit_their_kinds() {
        let m = manifest().unwrap();
        let names: Vec<&str> = m.package.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["k8s-flannel", "k8s-master", "k8s-images", "k8s-minion"]
        );
        let units: Vec<Vec<&str>> = m
            .package
            .iter()
            .map(|p| p.units.iter().map(|u| u.name.as_str()).collect())
            .collect();
        assert_eq!(
            units,
            [
                vec!["kubedeb-node.service", "flanneld.service"],
                vec![
                    "etcd.service",
                    "kube-apiserver.service",
                    "kube-controller-manager.service",
                    "kube-scheduler.service"
                ],
                vec!["k8s-images.service"],
                vec![
                    "kubedeb-docker-api.service",
                    "kubelet.service",
                    "kube-proxy.service"
                ],
            ]
        );
        for p in &m.package {
            m.upstream_of(p).unwrap();
            for u in &p.units {
                // Every unit a script handles is one the package ships.
                assert!(
                    p.file
                        .iter()
                        .any(|f| f.path == format!("/lib/systemd/system/{}", u.name)),
                    "{}: {}",
                    p.name,
                    u.name
                );
            }
            for f in &p.file {
                check_path(&p.name, f).unwrap();
            }
        }
    }

    #[test]
    fn versions_and_sibling_dependency() {
        let cfg = config();
        let bins = binaries();
        let specs = packages(&BuildInput {
            config: &cfg,
            binaries: &bins,
            programs: &programs(),
            templates: None,
            etcd_v3_api: false,
            images: &images(&cfg),
        })
        .unwrap();
        let v: Vec<(&str, &str)> = specs
            .iter()
            .map(|s| (s.control.package.as_str(), s.control.version.as_str()))
            .collect();
        assert_eq!(
            v,
            [
                ("k8s-flannel", "0.5.5-1"),
                ("k8s-master", "1.1.4-1"),
                ("k8s-images", "1.1.4-1"),
                ("k8s-minion", "1.1.4-1")
            ]
        );
        let minion = &specs[3].control.depends;
        assert!(
            minion.contains(&"k8s-images (= 1.1.4-1)".to_string()),
            "{minion:?}"
        );
        let images = &specs[2];
        assert!(images
            .control
            .depends
            .iter()
            .all(|d| !d.starts_with("k8s-")));
        assert!(images.entries.contains(&Entry::file(
            "/usr/share/k8s-images/gcr.io_google_containers_pause_0.8.0.tar",
            0o644,
            Source::Path("/bin/true".into())
        )));
        for spec in [&specs[1], &specs[3]] {
            assert!(spec
                .control
                .depends
                .contains(&"k8s-flannel (= 0.5.5-1)".to_string()));
        }
    }

    #[test]
    fn a_missing_binary_is_named() {
        let cfg = config();
        let mut bins = binaries();
        bins.remove("kube-scheduler");
        let err = packages(&BuildInput {
            config: &cfg,
            binaries: &bins,
            programs: &programs(),
            templates: None,
            etcd_v3_api: false,
            images: &images(&cfg),
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("k8s-master")
                && err.contains("kube-scheduler")
                && err.contains("kubedeb fetch"),
            "{err}"
        );
    }

    #[test]
    fn describe_lists_paths_modes_and_relations() {
        let cfg = config();
        let bins = binaries();
        let specs = packages(&BuildInput {
            config: &cfg,
            binaries: &bins,
            programs: &programs(),
            templates: None,
            etcd_v3_api: false,
            images: &images(&cfg),
        })
        .unwrap();
        let text = describe(&specs);
        assert!(text.contains("k8s-master 1.1.4-1 (amd64)"), "{text}");
        assert!(
            text.contains("  0755 /usr/bin/etcd (from /bin/true)"),
            "{text}"
        );
        assert!(
            text.contains("  0644 /etc/default/etcd [conffile] (generated, "),
            "{text}"
        );
        assert!(
            text.contains("Depends: libc6, k8s-flannel (= 0.5.5-1), openssl"),
            "{text}"
        );
        assert!(text.contains("Scripts: postinst, prerm, postrm"), "{text}");
    }

    #[test]
    fn when_ships_a_file_only_while_its_setting_is_true() {
        let file = |when: &str| FileDef {
            path: "/usr/share/k8s-master/addons/x.yaml".into(),
            template: "addons/dns-rc.yaml".into(),
            kind: FileKind::Data,
            when: Some(when.into()),
        };
        let mut cfg = config();
        let ctx = |cfg: &Config| render::context(cfg, &[], false, serde_json::json!({}));
        assert!(shipped("k8s-master", &file("addons.dns"), &ctx(&cfg)).unwrap());
        cfg.addons.dns = false;
        assert!(!shipped("k8s-master", &file("addons.dns"), &ctx(&cfg)).unwrap());
        for bad in ["addons.dns_replicas", "addons.nope", "dns"] {
            let err = shipped("k8s-master", &file(bad), &ctx(&cfg))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(bad) && err.contains("packages.toml") && err.contains("x.yaml"),
                "{err}"
            );
        }
        // Every `when` of packages.toml names a true/false setting.
        for p in &manifest().unwrap().package {
            for f in &p.file {
                shipped(&p.name, f, &ctx(&config())).unwrap();
            }
        }
    }

    #[test]
    fn the_default_file_time_is_the_changelog_date() {
        // 2024-01-01 00:00:00 UTC, the time every build without SOURCE_DATE_EPOCH has used.
        assert_eq!(default_epoch().unwrap(), 1_704_067_200);
    }

    #[test]
    fn changelog_is_reproducible_gzip() {
        let entry = manifest().unwrap().changelog;
        let a = changelog(&entry, "k8s-master", "1.1.4-1", "A <a@b>").unwrap();
        assert_eq!(
            a,
            changelog(&entry, "k8s-master", "1.1.4-1", "A <a@b>").unwrap()
        );
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "gzip mtime must be zero");
    }
}
