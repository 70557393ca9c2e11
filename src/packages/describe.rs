//! The text `kubedeb check` prints about each package it would build.

use crate::deb::{Entry, EntryKind, PackageSpec, Source};
use std::fmt::Write as _;

/// The maintainer scripts a package has, in dpkg's order.
fn script_names(spec: &PackageSpec) -> Vec<&'static str> {
    [
        ("preinst", &spec.scripts.preinst),
        ("postinst", &spec.scripts.postinst),
        ("prerm", &spec.scripts.prerm),
        ("postrm", &spec.scripts.postrm),
    ]
    .into_iter()
    .filter_map(|(n, s)| s.as_ref().map(|_| n))
    .collect()
}

/// What each package will contain, for `kubedeb check`: control relations, scripts, and every
/// path with its mode and origin.
pub fn describe(specs: &[PackageSpec]) -> String {
    let mut out = String::new();
    for spec in specs {
        let c = &spec.control;
        let _ = writeln!(out, "{} {} ({})", c.package, c.version, c.architecture);
        let _ = writeln!(out, "  {}", c.summary);
        for (field, values) in [
            ("Depends", &c.depends),
            ("Conflicts", &c.conflicts),
            ("Replaces", &c.replaces),
        ] {
            if !values.is_empty() {
                let _ = writeln!(out, "  {field}: {}", values.join(", "));
            }
        }
        let scripts = script_names(spec);
        if !scripts.is_empty() {
            let _ = writeln!(out, "  Scripts: {}", scripts.join(", "));
        }
        let mut entries: Vec<&Entry> = spec.entries.iter().collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        for entry in entries {
            let what = match &entry.kind {
                EntryKind::File(Source::Path(p)) => format!("from {}", p.display()),
                EntryKind::File(Source::Bytes(b)) => format!("generated, {} bytes", b.len()),
                EntryKind::Dir => "directory".into(),
                EntryKind::Symlink(t) => format!("-> {t}"),
            };
            let conffile =
                if entry.path.starts_with("/etc/") && matches!(entry.kind, EntryKind::File(_)) {
                    " [conffile]"
                } else {
                    ""
                };
            let _ = writeln!(
                out,
                "  {:04o} {}{conffile} ({what})",
                entry.mode, entry.path
            );
        }
        out.push('\n');
    }
    out
}

/// The same as [`describe`], as JSON for `kubedeb check --format json`.
pub fn describe_json(specs: &[PackageSpec]) -> serde_json::Value {
    let packages: Vec<serde_json::Value> = specs
        .iter()
        .map(|spec| {
            let c = &spec.control;
            let scripts = script_names(spec);
            let mut entries: Vec<&Entry> = spec.entries.iter().collect();
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            let files: Vec<serde_json::Value> = entries
                .into_iter()
                .map(|entry| {
                    let (kind, from) = match &entry.kind {
                        EntryKind::File(Source::Path(p)) => ("file", Some(p.display().to_string())),
                        EntryKind::File(Source::Bytes(_)) => ("file", None),
                        EntryKind::Dir => ("directory", None),
                        EntryKind::Symlink(t) => ("symlink", Some(t.clone())),
                    };
                    serde_json::json!({
                        "path": entry.path,
                        "mode": format!("{:04o}", entry.mode),
                        "kind": kind,
                        "from": from,
                        "conffile": entry.path.starts_with("/etc/") && kind == "file",
                    })
                })
                .collect();
            serde_json::json!({
                "package": c.package,
                "version": c.version,
                "architecture": c.architecture,
                "summary": c.summary,
                "depends": c.depends,
                "conflicts": c.conflicts,
                "replaces": c.replaces,
                "scripts": scripts,
                "files": files,
            })
        })
        .collect();
    serde_json::Value::Array(packages)
}
