//! The air gap: the Debian packages the k8s-* packages need beyond a minimal install, resolved by apt and carried into the repository.
//!
//! `fetch` verifies each suite's InRelease with Debian's archive keys and its Packages by the
//! Release's hash ([`indexes`]), lets apt's own solver choose what a node with only the base
//! install needs for k8s-master, k8s-minion and `debian.extra_packages` ([`solver`]), and
//! brings each chosen .deb into `cache/debian/<Filename>`, checked against its index entry
//! ([`pool`]). `cache/debian/closure.toml` records the result ([`closure`]); the build copies
//! those files beside the k8s-* packages, so publish signs them into the same repository.

pub mod closure;
pub mod error;
pub mod indexes;
pub mod pool;
pub mod solver;

pub use closure::{Carried, Closure};
pub use error::AirgapError;

use crate::config::DebianSettings as Debian;
use crate::fetch::download::Http;
use crate::fetch::lock::{DebLockEntry, Lock};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `fetch` needs: the `[debian]` settings as the command line amends them.
#[derive(Debug, Clone)]
pub struct Options {
    pub release: String,
    pub architecture: String,
    pub mirrors: Vec<String>,
    pub security_mirrors: Vec<String>,
    pub extra_packages: Vec<String>,
    pub base_status: Option<PathBuf>,
    pub keyring: Option<PathBuf>,
    /// Take indexes and .debs from this folder (a mirror's layout, or the .debs side by side).
    pub from: Option<PathBuf>,
    pub cache: PathBuf,
    pub timeout: Duration,
}

impl Options {
    /// From the settings; `cli_mirrors` go before debian.mirrors, paths are relative to `config_path`'s folder.
    pub fn new(
        debian: &Debian,
        cli_mirrors: &[String],
        config_path: &Path,
        cache: &Path,
        from: Option<&Path>,
        timeout: Duration,
    ) -> Options {
        let file = |v: &Option<String>| crate::config::Fetch::file_setting(v.as_ref(), config_path);
        let mut mirrors = trimmed(cli_mirrors);
        mirrors.extend(trimmed(&debian.mirrors));
        Options {
            release: debian.release.clone(),
            architecture: debian.architecture.clone(),
            mirrors,
            security_mirrors: trimmed(&debian.security_mirrors),
            extra_packages: debian.extra_packages.clone(),
            base_status: file(&debian.base_status),
            keyring: file(&debian.keyring),
            from: from.map(Path::to_path_buf),
            cache: cache.to_path_buf(),
            timeout,
        }
    }
}

/// Base URLs without a trailing slash: `<base>/dists/...` is joined with one.
fn trimmed(urls: &[String]) -> Vec<String> {
    urls.iter()
        .map(|u| u.trim_end_matches('/').to_string())
        .collect()
}

/// Where the carried packages, their indexes and the closure live in the cache.
pub fn debian_dir(cache: &Path) -> PathBuf {
    cache.join("debian")
}

/// The k8s-* packages as apt should see them before they are built: their Debian
/// dependencies as packages.toml writes them, and any version of each other.
fn local_index(architecture: &str) -> Result<String, AirgapError> {
    let relations = crate::packages::relations().map_err(|e| AirgapError::Resolve {
        what: "the k8s-* packages".into(),
        release: String::new(),
        cause: e.to_string(),
    })?;
    let mut text = String::new();
    for (name, depends) in relations {
        let mut deps = vec!["libc6".to_string()];
        for d in depends {
            // k8s-flannel (= {{package.flannel_version}}): the version is the build's, not Debian's.
            deps.push(if d.starts_with("k8s-") {
                relation_name(&d).to_string()
            } else {
                d
            });
        }
        // apt -s wants a file to "download", though nothing is.
        text += &format!("Package: {name}\nVersion: 0\nArchitecture: {architecture}\nPriority: optional\nFilename: ./{name}_0_{architecture}.deb\nSize: 1\nDepends: {}\n\n", deps.join(", "));
    }
    Ok(text)
}

/// The package a relation names: `k8s-flannel (= 1)` gives `k8s-flannel`.
fn relation_name(relation: &str) -> &str {
    relation
        .split(['(', ' ', ':'])
        .next()
        .unwrap_or(relation)
        .trim()
}

/// What a node installs: each is resolved on its own base, since a node takes one or both.
pub fn requests(opts: &Options) -> Vec<String> {
    let mut r = vec!["k8s-master".to_string(), "k8s-minion".to_string()];
    r.extend(opts.extra_packages.iter().cloned());
    r
}

/// Verify the indexes, resolve, bring the .debs into the pool, record the lock and the closure.
pub fn fetch(
    opts: &Options,
    lock: &Lock,
    say: &(dyn Fn(String) + Sync),
) -> Result<Closure, AirgapError> {
    let dir = debian_dir(&opts.cache);
    std::fs::create_dir_all(&dir).map_err(error::io("create", &dir))?;
    let keyring: Vec<u8> = match &opts.keyring {
        Some(path) => std::fs::read(path).map_err(error::io("read the keyring", path))?,
        None => crate::archive::keyrings::debian_bookworm().concat(),
    };
    let http = opts.from.is_none().then(|| Http::new(opts.timeout));
    let index = indexes::fetch(opts, http.as_ref(), &[&keyring], say)?;
    let suite_names: Vec<String> = index.iter().map(|i| i.suite.name.clone()).collect();
    let apt = solver::Apt::new(
        &dir,
        &suite_names,
        &keyring,
        &opts.architecture,
        &local_index(&opts.architecture)?,
        &opts.release,
    )?;
    let required: BTreeSet<String> = index
        .iter()
        .flat_map(|i| &i.packages)
        .filter(|p| p.essential || p.priority.as_deref() == Some("required"))
        .map(|p| p.package.clone())
        .collect();
    let base_packages = apt.set_base(
        opts.base_status.as_deref(),
        &required.into_iter().collect::<Vec<_>>(),
    )?;
    // name -> (version, via, wanted_by)
    let mut chosen: BTreeMap<String, (String, String, BTreeSet<String>)> = BTreeMap::new();
    for request in requests(opts) {
        for (name, c) in apt.install(&request)? {
            if name.starts_with("k8s-") && !opts.extra_packages.contains(&name) {
                continue;
            }
            let e =
                chosen
                    .entry(name)
                    .or_insert((c.version.clone(), c.via.clone(), BTreeSet::new()));
            if e.0 != c.version {
                return Err(AirgapError::Resolve {
                    what: request.clone(),
                    release: opts.release.clone(),
                    cause: format!(
                        "apt chose two versions of one package ({} and {})",
                        e.0, c.version
                    ),
                });
            }
            e.2.insert(request.clone());
        }
    }
    drop(apt);
    let mut wanted = Vec::new();
    for (name, (version, _, _)) in &chosen {
        let found = index.iter().find_map(|i| {
            i.packages
                .iter()
                .find(|p| {
                    &p.package == name
                        && &p.version == version
                        && (p.architecture == opts.architecture || p.architecture == "all")
                })
                .map(|p| pool::Wanted {
                    entry: p,
                    suite: &i.suite,
                })
        });
        wanted.push(found.ok_or_else(|| AirgapError::Resolve {
            what: format!("{name} {version}"),
            release: opts.release.clone(),
            cause: "apt chose a version no verified index lists".into(),
        })?);
    }
    let sources = pool::fill(&dir, &wanted, opts.from.as_deref(), http.as_ref(), say)?;
    let mut closure = Closure {
        release: opts.release.clone(),
        architecture: opts.architecture.clone(),
        suites: suite_names,
        extra_packages: opts.extra_packages.clone(),
        base_packages,
        package: Vec::new(),
    };
    let before = lock.debs().map_err(|e| AirgapError::NotFetched {
        path: lock.path().to_path_buf(),
        cause: e.to_string(),
    })?;
    let mut locked = BTreeMap::new();
    for (w, source) in wanted.iter().zip(sources) {
        let e = w.entry;
        let (_, via, wanted_by) = &chosen[&e.package];
        let source = if source == "cache" {
            before
                .get(&key(&e.package, &e.version, &e.architecture))
                .map_or(source, |l| l.source.clone())
        } else {
            source
        };
        locked.insert(
            key(&e.package, &e.version, &e.architecture),
            DebLockEntry {
                filename: e.filename.clone(),
                sha256: e.sha256.clone(),
                source: source.clone(),
            },
        );
        closure.package.push(Carried {
            name: e.package.clone(),
            version: e.version.clone(),
            architecture: e.architecture.clone(),
            suite: w.suite.name.clone(),
            filename: e.filename.clone(),
            size: e.size,
            sha256: e.sha256.clone(),
            source,
            wanted_by: wanted_by.iter().cloned().collect(),
            via: via.clone(),
        });
    }
    lock.record_debs(locked)
        .map_err(|e| AirgapError::NotFetched {
            path: lock.path().to_path_buf(),
            cause: e.to_string(),
        })?;
    closure::write(&dir, &closure)?;
    Ok(closure)
}

fn key(name: &str, version: &str, arch: &str) -> String {
    format!("{name}_{version}_{arch}")
}

/// The carried .debs for `debian`'s release, each checked again against its recorded sha256.
pub fn carried(cache: &Path, debian: &Debian) -> Result<Vec<(Carried, PathBuf)>, AirgapError> {
    let dir = debian_dir(cache);
    let Some(closure) = closure::read(&dir)? else {
        return Err(AirgapError::NotFetched {
            path: closure::path(&dir),
            cause: "no Debian packages were fetched (debian.carry is on)".into(),
        });
    };
    if closure.release != debian.release
        || closure.architecture != debian.architecture
        || closure.extra_packages != debian.extra_packages
    {
        return Err(AirgapError::NotFetched { path: closure::path(&dir), cause: format!("they were fetched for {} {} with extra packages {:?}, the settings now say {} {} with {:?}", closure.release, closure.architecture, closure.extra_packages, debian.release, debian.architecture, debian.extra_packages) });
    }
    let mut out = Vec::new();
    for c in closure.package {
        let path = dir.join(&c.filename);
        let entry = crate::archive::Package {
            package: c.name.clone(),
            version: c.version.clone(),
            architecture: c.architecture.clone(),
            filename: c.filename.clone(),
            size: c.size,
            sha256: c.sha256.clone(),
            depends: None,
            pre_depends: None,
            provides: None,
            priority: None,
            essential: false,
        };
        crate::archive::check_deb(&entry, &path).map_err(|e| AirgapError::NotFetched {
            path: path.clone(),
            cause: e.to_string(),
        })?;
        out.push((c, path));
    }
    Ok(out)
}

/// The closure for people: one line a package (with apt's reason when `explain`), then the total.
pub fn describe(closure: &Closure, explain: bool) -> String {
    let mut s = format!(
        "Debian packages carried for {} {} ({} packages beyond a base of {}):\n",
        closure.release,
        closure.architecture,
        closure.package.len(),
        closure.base_packages
    );
    for p in &closure.package {
        s += &format!(
            "  {} {} ({}, {} KiB)",
            p.name,
            p.version,
            p.suite,
            p.size.div_ceil(1024)
        );
        if explain {
            let via = if p.via.is_empty() {
                "requested".to_string()
            } else {
                p.via.clone()
            };
            s += &format!(": {via}; needed by {}", p.wanted_by.join(", "));
        }
        s += "\n";
    }
    s += &format!(
        "  total: {:.1} MiB\n",
        closure.total_size() as f64 / (1 << 20) as f64
    );
    s
}

/// The closure as JSON for `--json`.
pub fn json(closure: &Closure) -> serde_json::Value {
    serde_json::json!({
        "release": closure.release,
        "architecture": closure.architecture,
        "total_size": closure.total_size(),
        "packages": closure.package.iter().map(|p| serde_json::json!({
            "name": p.name, "version": p.version, "architecture": p.architecture,
            "suite": p.suite, "size": p.size, "sha256": p.sha256, "source": p.source,
            "wanted_by": p.wanted_by, "via": p.via,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_index_loosens_only_the_k8s_versions() {
        let text = local_index("amd64").unwrap();
        assert!(text.contains("Package: k8s-minion\n"), "{text}");
        assert!(!text.contains("{{"), "{text}");
        assert!(
            text.contains("docker.io | docker-engine | docker-ce"),
            "{text}"
        );
        assert!(text.contains("init-system-helpers (>= 1.22)"), "{text}");
        assert_eq!(relation_name("k8s-flannel (= 0.5.5-1)"), "k8s-flannel");
    }
}
