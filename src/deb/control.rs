//! The control file text: field checks, dpkg's field order and the folded Description.

use super::error::DebError;
use super::model::{Control, Scripts};
use super::validate;

/// Fields the writer sets itself or that belong to other parts of the archive.
const RESERVED: [&str; 20] = [
    "Package",
    "Version",
    "Architecture",
    "Maintainer",
    "Installed-Size",
    "Depends",
    "Recommends",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Provides",
    "Section",
    "Priority",
    "Homepage",
    "Description",
    "Conffiles",
    "Status",
    "Filename",
    "Size",
    "MD5sum",
];

/// Checks every field so that bad input fails before any file is read or written.
pub fn validate(control: &Control) -> Result<(), DebError> {
    validate::package_name("Package", &control.package)?;
    validate::version("Version", &control.version)?;
    validate::architecture(&control.architecture)?;
    validate::maintainer(&control.maintainer)?;
    validate::single_line("Description", &control.summary)?;
    fold_description(&control.long_description)?;
    if let Some(section) = &control.section {
        validate::single_line("Section", section)?;
    }
    if let Some(priority) = &control.priority {
        validate::priority(priority)?;
    }
    if let Some(homepage) = &control.homepage {
        validate::single_line("Homepage", homepage)?;
    }
    for (field, items) in relations(control) {
        for item in items {
            validate::relation(field, item)?;
        }
    }
    for (name, value) in &control.extra {
        validate::field_name(name)?;
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(DebError::InvalidField {
                field: name.clone(),
                value: value.clone(),
                reason: "this field is set by its own setting or by the writer; remove it from the extra fields".into(),
            });
        }
        validate::single_line(name, value)?;
    }
    let mut names: Vec<String> = control
        .extra
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(DebError::InvalidField {
            field: w[0].clone(),
            value: String::new(),
            reason: "the extra field is given twice; keep one".into(),
        });
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

/// The extended description as control-file continuation lines: each line indented by one
/// space, blank lines written as " .", leading and trailing blank lines dropped.
pub fn fold_description(long: &str) -> Result<String, DebError> {
    let lines: Vec<&str> = long.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.is_empty());
    let last = lines.iter().rposition(|l| !l.is_empty());
    let mut out = String::new();
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(out);
    };
    for line in &lines[first..=last] {
        if line.contains(['\r', '\0']) {
            return Err(DebError::InvalidField {
                field: "Description".into(),
                value: line.to_string(),
                reason: "the long description contains a carriage return or NUL".into(),
            });
        }
        if line.starts_with('.') {
            // dpkg reserves " .<text>" lines; a lone "." would silently become a blank line.
            return Err(DebError::InvalidField {
                field: "Description".into(),
                value: line.to_string(),
                reason: "a long-description line may not start with '.'; indent it or reword"
                    .into(),
            });
        }
        if line.is_empty() {
            out.push_str(" .\n");
        } else {
            out.push(' ');
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// Renders `control` in dpkg-gencontrol's field order; call [`validate`] first.
pub fn render(control: &Control, installed_size_kib: u64) -> Result<String, DebError> {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push('\n');
    };
    field("Package", &control.package);
    field("Version", &control.version);
    field("Architecture", &control.architecture);
    field("Maintainer", &control.maintainer);
    field("Installed-Size", &installed_size_kib.to_string());
    for (name, items) in relations(control) {
        if !items.is_empty() {
            field(name, &items.join(", "));
        }
    }
    for (name, value) in [
        ("Section", &control.section),
        ("Priority", &control.priority),
        ("Homepage", &control.homepage),
    ] {
        if let Some(value) = value {
            field(name, value);
        }
    }
    field("Description", &control.summary);
    out.push_str(&fold_description(&control.long_description)?);
    for (name, value) in &control.extra {
        out.push_str(&format!("{name}: {value}\n"));
    }
    Ok(out)
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
    fn scripts_need_interpreter() {
        let s = Scripts {
            postinst: Some("set -e\n".into()),
            ..Default::default()
        };
        let err = validate_scripts(&s).unwrap_err().to_string();
        assert!(err.contains("postinst") && err.contains("#!"), "{err}");
    }
}
