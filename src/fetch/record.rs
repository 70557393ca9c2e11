//! `fetched.toml` in the cache: the catalog and entries a fetch used, so later commands use the same ones.

use super::FetchError;
use crate::catalog::{Catalog, Component, Release};
use crate::config::Versions;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE: &str = "fetched.toml";
const HEADER: &str = "\
# fetched.toml: written by `kubedeb fetch`; the catalog and entries the binaries in bin/ come
# from. build, check and up use this catalog when none is configured. Delete it to forget it.
";

/// What the last fetch into a cache used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The user catalog merged over the built-in one (absolute); absent: the built-in one only.
    pub catalog: Option<PathBuf>,
    /// By component name.
    #[serde(default)]
    pub release: BTreeMap<String, Entry>,
}

/// The catalog entry a release was fetched with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub version: String,
    pub file: String,
    pub url: String,
    pub sha256: Option<String>,
    pub binaries: BTreeMap<String, Vec<String>>,
}

impl Entry {
    fn of(release: &Release) -> Entry {
        Entry {
            version: release.version.clone(),
            file: release.file.clone(),
            url: release.url.clone(),
            sha256: release.sha256.clone(),
            binaries: release
                .binaries
                .iter()
                .map(|b| (b.name.clone(), b.path.clone()))
                .collect(),
        }
    }
}

fn path(cache: &Path) -> PathBuf {
    cache.join(FILE)
}

/// The record in `cache`, None when no fetch wrote one.
pub fn read(cache: &Path) -> Result<Option<Record>, FetchError> {
    let path = path(cache);
    let problem = |problem: String| FetchError::Lock {
        path: path.clone(),
        problem,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map(Some).map_err(|e| {
            problem(format!(
                "not a valid fetch record: {e}; delete it and run `kubedeb fetch` again"
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(problem(format!("cannot read it: {e}"))),
    }
}

/// Records what `catalog` says of `releases`, replacing the previous record.
pub(super) fn write(
    cache: &Path,
    catalog: &Catalog,
    releases: &[&Release],
) -> Result<(), FetchError> {
    let path = path(cache);
    let failed = |e: std::io::Error| FetchError::Lock {
        path: path.clone(),
        problem: format!("cannot write it: {e}"),
    };
    let catalog_file = match catalog.user_file() {
        // Absolute: a later command may name the cache from another folder.
        Some(file) => Some(std::fs::canonicalize(file).map_err(failed)?),
        None => None,
    };
    let record = Record {
        catalog: catalog_file,
        release: releases
            .iter()
            .map(|r| (r.component.to_string(), Entry::of(r)))
            .collect(),
    };
    let text = format!(
        "{HEADER}\n{}",
        toml::to_string(&record).expect("a record serializes")
    );
    let mut tmp = tempfile::Builder::new()
        .prefix(".fetched.toml.")
        .tempfile_in(cache)
        .map_err(failed)?;
    tmp.write_all(text.as_bytes()).map_err(failed)?;
    tmp.persist(&path).map_err(|e| failed(e.error))?;
    Ok(())
}

fn catalog_name(file: Option<&Path>) -> String {
    match file {
        Some(file) => format!("the catalog {}", file.display()),
        None => "the built-in catalog".to_string(),
    }
}

/// How the entries `catalog` gives the configured versions differ from those the cache was
/// fetched with, one line per difference; empty when they agree.
pub fn differences(record: &Record, catalog: &Catalog, versions: &Versions) -> Vec<String> {
    let mut found = Vec::new();
    let used = catalog_name(record.catalog.as_deref());
    let now = catalog_name(catalog.user_file());
    for component in Component::ALL {
        let Some(fetched) = record.release.get(component.name()) else {
            continue;
        };
        let Ok(release) = catalog.release(component, versions.of(component)) else {
            continue;
        };
        if fetched.version != release.version {
            found.push(format!(
                "{component}: the cache holds {} (fetched with {used}), the settings want {}",
                fetched.version, release.version
            ));
            continue;
        }
        let current = Entry::of(release);
        let show = |v: &Option<String>| {
            v.clone()
                .unwrap_or_else(|| "none (trust on first use)".into())
        };
        for (field, was, is) in [
            ("file", fetched.file.clone(), current.file.clone()),
            ("url", fetched.url.clone(), current.url.clone()),
            ("sha256", show(&fetched.sha256), show(&current.sha256)),
            (
                "binaries",
                format!("{:?}", fetched.binaries),
                format!("{:?}", current.binaries),
            ),
        ] {
            if was != is {
                found.push(format!(
                    "{component} {} {field}: {was} in {used} (fetched), {is} in {now}",
                    release.version
                ));
            }
        }
    }
    found
}
