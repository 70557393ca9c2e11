//! The control file of a package model: its fields checked and written by Debian's rules.

use super::error::DebError;
use super::model::{Control, Scripts};
use crate::debian::deb822::{self, Paragraph};
use crate::debian::{fields, version};

fn invalid(field: &str, value: &str, reason: String) -> DebError {
    DebError::InvalidField {
        field: field.to_string(),
        value: value.to_string(),
        reason,
    }
}

/// Whether an extra field would clash with one the writer sets or one that belongs to dpkg's
/// status database or to the repository's index.
fn reserved(name: &str) -> bool {
    [
        fields::CONTROL_ORDER,
        fields::STATUS_FIELDS,
        fields::FILE_FIELDS,
    ]
    .concat()
    .iter()
    .any(|r| r.eq_ignore_ascii_case(name))
}

/// Checks every field so that bad input fails before any file is read or written.
pub fn validate(control: &Control) -> Result<(), DebError> {
    let check = |field: &str, value: &str, rule: fn(&str) -> Result<(), String>| {
        rule(value).map_err(|reason| invalid(field, value, reason))
    };
    check("Package", &control.package, fields::package_name)?;
    check("Version", &control.version, version::validate)?;
    check("Architecture", &control.architecture, fields::architecture)?;
    check("Maintainer", &control.maintainer, fields::maintainer)?;
    check("Description", &control.summary, deb822::single_line)?;
    description(control)?;
    if let Some(section) = &control.section {
        check("Section", section, deb822::single_line)?;
    }
    if let Some(priority) = &control.priority {
        check("Priority", priority, fields::priority)?;
    }
    if let Some(homepage) = &control.homepage {
        check("Homepage", homepage, deb822::single_line)?;
    }
    for (field, items) in relations(control) {
        for item in items {
            check(field, item, fields::relation)?;
        }
    }
    for (name, value) in &control.extra {
        check(name, name, deb822::field_name)?;
        if reserved(name) {
            return Err(invalid(
                name,
                value,
                "this field is set by its own setting or by the writer; remove it from the extra fields".into(),
            ));
        }
        check(name, value, deb822::single_line)?;
    }
    let mut names: Vec<String> = control
        .extra
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid(
            &w[0],
            "",
            "the extra field is given twice; keep one".into(),
        ));
    }
    Ok(())
}

fn relations(control: &Control) -> [(&'static str, &Vec<String>); 6] {
    [
        ("Depends", &control.depends),
        ("Recommends", &control.recommends),
        ("Conflicts", &control.conflicts),
        ("Breaks", &control.breaks),
        ("Replaces", &control.replaces),
        ("Provides", &control.provides),
    ]
}

/// The Description value: the summary, then the folded long description as continuation lines.
fn description(control: &Control) -> Result<String, DebError> {
    let folded = fields::fold_description(&control.long_description).map_err(|reason| {
        // Name the offending line rather than the whole text.
        let line = control
            .long_description
            .lines()
            .map(str::trim_end)
            .find(|l| l.contains(['\r', '\0']) || l.starts_with('.'))
            .unwrap_or_default();
        invalid("Description", line, reason)
    })?;
    let mut value = control.summary.clone();
    if !folded.is_empty() {
        value.push('\n');
        value.push_str(folded.trim_end_matches('\n'));
    }
    Ok(value)
}

/// Renders `control` in [`fields::CONTROL_ORDER`], the extra fields after; call [`validate`] first.
pub fn render(control: &Control, installed_size_kib: u64) -> Result<String, DebError> {
    let mut known: Vec<(String, String)> = vec![
        ("Package".into(), control.package.clone()),
        ("Version".into(), control.version.clone()),
        ("Architecture".into(), control.architecture.clone()),
        ("Maintainer".into(), control.maintainer.clone()),
        ("Installed-Size".into(), installed_size_kib.to_string()),
        ("Description".into(), description(control)?),
    ];
    for (name, items) in relations(control) {
        if !items.is_empty() {
            known.push((name.into(), items.join(", ")));
        }
    }
    for (name, value) in [
        ("Section", &control.section),
        ("Priority", &control.priority),
        ("Homepage", &control.homepage),
    ] {
        if let Some(value) = value {
            known.push((name.into(), value.clone()));
        }
    }
    let mut paragraph = Paragraph {
        fields: deb822::in_order(known, fields::CONTROL_ORDER),
    };
    paragraph.fields.extend(control.extra.iter().cloned());
    Ok(paragraph.to_text())
}

/// The maintainer scripts that are present, by their control-archive name.
pub fn scripts(scripts: &Scripts) -> Vec<(&'static str, &str)> {
    [
        ("preinst", &scripts.preinst),
        ("postinst", &scripts.postinst),
        ("prerm", &scripts.prerm),
        ("postrm", &scripts.postrm),
    ]
    .into_iter()
    .filter_map(|(name, s)| s.as_deref().map(|s| (name, s)))
    .collect()
}

/// dpkg executes scripts directly, so they need an interpreter line.
pub fn validate_scripts(s: &Scripts) -> Result<(), DebError> {
    for (name, text) in scripts(s) {
        if !text.starts_with("#!") {
            return Err(DebError::InvalidScript {
                script: name,
                reason: "it must start with an interpreter line such as '#!/bin/sh'".into(),
            });
        }
        if text.contains('\0') || text.contains('\r') {
            return Err(DebError::InvalidScript {
                script: name,
                reason: "it contains a NUL byte or a carriage return".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Control {
        Control {
            package: "k8s-master".into(),
            version: "1.1.4-1".into(),
            architecture: "amd64".into(),
            maintainer: "Kube Deb <kubedeb@example.org>".into(),
            summary: "Kubernetes master".into(),
            long_description: "\nFirst paragraph\nwraps here.\n\n  verbatim line\n\n".into(),
            section: Some("admin".into()),
            priority: Some("optional".into()),
            homepage: Some("https://kubernetes.io/".into()),
            depends: vec!["etcd-server (>= 2.2.1)".into(), "iptables".into()],
            extra: vec![("Built-Using".into(), "kubedeb (= 0.1.0)".into())],
            ..Default::default()
        }
    }

    #[test]
    fn renders_in_dpkg_order_with_folded_description() {
        let c = sample();
        validate(&c).unwrap();
        assert_eq!(
            render(&c, 42).unwrap(),
            "Package: k8s-master\n\
             Version: 1.1.4-1\n\
             Architecture: amd64\n\
             Maintainer: Kube Deb <kubedeb@example.org>\n\
             Installed-Size: 42\n\
             Depends: etcd-server (>= 2.2.1), iptables\n\
             Section: admin\n\
             Priority: optional\n\
             Homepage: https://kubernetes.io/\n\
             Description: Kubernetes master\n \
             First paragraph\n \
             wraps here.\n \
             .\n   \
             verbatim line\n\
             Built-Using: kubedeb (= 0.1.0)\n"
        );
    }

    #[test]
    fn rejects_bad_fields() {
        type Change = Box<dyn Fn(&mut Control)>;
        let cases: Vec<(&str, Change)> = vec![
            ("Package", Box::new(|c| c.package = "K8s".into())),
            ("Version", Box::new(|c| c.version = "v1.1.4".into())),
            ("Description", Box::new(|c| c.summary = "two\nlines".into())),
            ("Section", Box::new(|c| c.section = Some("admin\n".into()))),
            ("Depends", Box::new(|c| c.depends.push("a, b".into()))),
            (
                "Installed-Size",
                Box::new(|c| c.extra.push(("Installed-Size".into(), "1".into()))),
            ),
            // The repository's index owns the file hashes and dropped a deb's own copy.
            (
                "SHA256",
                Box::new(|c| c.extra.push(("SHA256".into(), "0".repeat(64)))),
            ),
            (
                "Description",
                Box::new(|c| c.long_description = "ok\n.hidden".into()),
            ),
        ];
        for (field, change) in cases {
            let mut c = sample();
            change(&mut c);
            let err = validate(&c).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn errors_name_field_and_value() {
        let mut c = sample();
        c.section = Some("admin\nroot".into());
        let e = validate(&c).unwrap_err().to_string();
        assert!(e.contains("Section") && e.contains("single line"), "{e}");
    }

    #[test]
    fn scripts_need_interpreter() {
        let s = Scripts {
            postinst: Some("set -e\n".into()),
            ..Default::default()
        };
        let err = validate_scripts(&s).unwrap_err().to_string();
        assert!(err.contains("postinst") && err.contains("#!"), "{err}");
    }
}
