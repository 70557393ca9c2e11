//! What Debian allows in the fields kubedeb writes and reads: package names, architectures,
//! maintainers, priorities, relations, the long description, and the fields' order.
//!
//! Each check returns the reason a value is refused; the caller names the field and the file.

use super::deb822::{self, Paragraph};
use super::version;

/// The fields the .deb writer sets, in the order it writes them.
pub const CONTROL_ORDER: &[&str] = &[
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
];

/// Fields of dpkg's status database, never of a package's control file.
pub const STATUS_FIELDS: &[&str] = &["Conffiles", "Status"];

/// apt-ftparchive's order for Packages stanzas (apt-pkg/tagfile-order.c, `TFRewritePackageOrder`);
/// fields not listed follow in the order the control file gives them.
const PACKAGE_ORDER: &[&str] = &[
    "Package",
    "Package-Type",
    "Architecture",
    "Subarchitecture",
    "Version",
    "Revision",
    "Package-Revision",
    "Package_Revision",
    "Kernel-Version",
    "Built-Using",
    "Built-For-Profiles",
    "Multi-Arch",
    "Status",
    "Priority",
    "Class",
    "Essential",
    "Installer-Menu-Item",
    "Section",
    "Source",
    "Origin",
    "Maintainer",
    "Original-Maintainer",
    "Bugs",
    "Config-Version",
    "Conffiles",
    "Triggers-Awaited",
    "Triggers-Pending",
    "Installed-Size",
    "Provides",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Recommended",
    "Suggests",
    "Optional",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Enhances",
    "Filename",
    "MSDOS-Filename",
    "Size",
    "MD5sum",
    "SHA1",
    "SHA256",
    "SHA512",
    "Homepage",
    "Description",
    "Tag",
    "Task",
];

/// The fields the repository adds to a deb's control fields; a deb's own copies are dropped.
pub const FILE_FIELDS: &[&str] = &["Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"];

/// Builds a Packages stanza: control fields plus file fields, ordered as apt-ftparchive orders them.
pub fn package_stanza(control: &[(String, String)], file_fields: &[(&str, String)]) -> Paragraph {
    let mut all: Vec<(String, String)> = control
        .iter()
        .filter(|(n, _)| !FILE_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(n)))
        .cloned()
        .collect();
    all.extend(file_fields.iter().map(|(n, v)| (n.to_string(), v.clone())));
    Paragraph {
        fields: deb822::in_order(all, PACKAGE_ORDER),
    }
}

/// Policy 5.6.1: lower-case letters, digits, `+ - .`; at least two characters, starting alphanumeric.
pub fn package_name(name: &str) -> Result<(), String> {
    let ok_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if name.len() < 2 || !ok_start || !ok_chars {
        return Err(
            "a package name has at least two characters from a-z 0-9 + - . and starts with a letter or digit"
                .into(),
        );
    }
    Ok(())
}

/// The architecture of a binary package: `all` or a concrete Debian architecture name.
pub fn architecture(arch: &str) -> Result<(), String> {
    let ok = !arch.is_empty()
        && arch
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !arch.starts_with('-');
    if !ok {
        return Err(
            "an architecture is a Debian architecture name such as amd64, arm64 or all".into(),
        );
    }
    // Wildcards belong to source packages; a built package runs on one architecture.
    if arch == "any" || arch == "source" {
        return Err("a binary package needs a concrete architecture such as amd64, or all".into());
    }
    Ok(())
}

/// `Name <address>`, as Policy 5.6.2 asks and lintian checks.
pub fn maintainer(value: &str) -> Result<(), String> {
    deb822::single_line(value)?;
    let well_formed = value
        .strip_suffix('>')
        .and_then(|v| v.rsplit_once(" <"))
        .is_some_and(|(name, addr)| {
            !name.trim().is_empty() && addr.contains('@') && !addr.contains(['<', '>', ' '])
        });
    if !well_formed {
        return Err("write it as 'Full Name <user@example.org>'".into());
    }
    Ok(())
}

pub fn priority(value: &str) -> Result<(), String> {
    const KNOWN: [&str; 5] = ["required", "important", "standard", "optional", "extra"];
    if !KNOWN.contains(&value) {
        return Err(format!("use one of {}", KNOWN.join(", ")));
    }
    Ok(())
}

/// One entry of a relationship field (`Depends`, ...): alternatives `name [(op version)] [arch list]`
/// separated by `|`. Entries are joined with ", " by the writer, so an entry holds no comma.
pub fn relation(value: &str) -> Result<(), String> {
    deb822::single_line(value)?;
    if value.contains(',') {
        return Err("list each relation as its own item instead of joining them with ','".into());
    }
    for alternative in value.split('|') {
        relation_alternative(alternative.trim())?;
    }
    Ok(())
}

fn relation_alternative(alt: &str) -> Result<(), String> {
    let name_end = alt.find([' ', '(', '[', '<']).unwrap_or(alt.len());
    let (name, mut rest) = alt.split_at(name_end);
    let bare = match name.split_once(':') {
        Some((bare, qualifier)) => {
            if qualifier.is_empty()
                || !qualifier
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(format!("bad architecture qualifier in {name:?}"));
            }
            bare
        }
        None => name,
    };
    package_name(bare).map_err(|_| {
        format!("{bare:?} is not a valid package name (a-z 0-9 + - ., at least two characters)")
    })?;
    rest = rest.trim_start();
    if let Some(after) = rest.strip_prefix('(') {
        let Some((inside, after)) = after.split_once(')') else {
            return Err("a '(' has no matching ')'".into());
        };
        let inside = inside.trim();
        let op_len = inside
            .find(|c: char| !matches!(c, '<' | '>' | '='))
            .unwrap_or(inside.len());
        let (op, version_text) = inside.split_at(op_len);
        if !matches!(op, "<<" | "<=" | "=" | ">=" | ">>") {
            return Err(format!(
                "{op:?} is not a relation operator; use one of << <= = >= >>"
            ));
        }
        version::validate(version_text.trim())?;
        rest = after.trim_start();
    }
    if let Some(after) = rest.strip_prefix('[') {
        let Some((_, after)) = after.split_once(']') else {
            return Err("a '[' has no matching ']'".into());
        };
        rest = after.trim_start();
    }
    while let Some(after) = rest.strip_prefix('<') {
        let Some((_, after)) = after.split_once('>') else {
            return Err("a '<' has no matching '>'".into());
        };
        rest = after.trim_start();
    }
    if !rest.is_empty() {
        return Err(format!("unexpected {rest:?}; write 'name (>= version)'"));
    }
    Ok(())
}

/// The extended description as control-file continuation lines: each line indented by one
/// space, blank lines written as " .", leading and trailing blank lines dropped.
pub fn fold_description(long: &str) -> Result<String, String> {
    let lines: Vec<&str> = long.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.is_empty());
    let last = lines.iter().rposition(|l| !l.is_empty());
    let mut out = String::new();
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(out);
    };
    for line in &lines[first..=last] {
        if line.contains(['\r', '\0']) {
            return Err("the long description contains a carriage return or NUL".into());
        }
        if line.starts_with('.') {
            // dpkg reserves " .<text>" lines; a lone "." would silently become a blank line.
            return Err(
                "a long-description line may not start with '.'; indent it or reword".into(),
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_follow_policy() {
        for good in ["k8s-master", "g++", "libc6.1", "0ad"] {
            package_name(good).unwrap();
        }
        for bad in ["a", "K8s", "-foo", "foo_bar", "foo bar", ""] {
            assert!(package_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// The repository's copy stated the rule without the first character; both refuse a name
    /// that starts with `+ - .`, and the one reason now says why.
    #[test]
    fn drift_package_name_first_character() {
        for bad in ["+foo", "-foo", ".foo"] {
            let reason = package_name(bad).unwrap_err();
            assert!(
                reason.contains("starts with a letter or digit"),
                "{bad}: {reason}"
            );
        }
        package_name("9fans").unwrap();
    }

    /// The repository's copy took any a-z 0-9 - run as an architecture: `any`, `source`, `-x`.
    #[test]
    fn drift_architecture_must_be_concrete() {
        for good in ["amd64", "arm64", "all", "kfreebsd-amd64"] {
            architecture(good).unwrap();
        }
        for bad in ["any", "source", "-amd64", "", "AMD64", "amd_64"] {
            assert!(architecture(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn relations_are_parsed() {
        for good in [
            "etcd-server",
            "etcd-server (>= 2.2.1)",
            "iptables | nftables",
            "libc6:amd64 (>= 2.36) [amd64] <!nocheck>",
            "docker.io(>=1.9)",
        ] {
            relation(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "a, b",
            "foo (> 1.0)",
            "foo (>= v1)",
            "foo (>= 1.0",
            "Foo",
            "foo bar",
            "",
            "foo\nbar",
        ] {
            assert!(relation(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn maintainer_needs_name_and_address() {
        maintainer("Kube Deb <kubedeb@example.org>").unwrap();
        for bad in ["kubedeb@example.org", "<a@b.c>", "A <nope>", "A <a@b.c>\nX"] {
            assert!(maintainer(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn long_description_folds_and_refuses_dot_lines() {
        assert_eq!(
            fold_description("\nOne\n\n  two\n\n").unwrap(),
            " One\n .\n   two\n"
        );
        assert!(fold_description("ok\n.hidden").is_err());
    }

    #[test]
    fn orders_fields_like_apt_ftparchive() {
        let control: Vec<(String, String)> = [
            ("Package", "foo"),
            ("Version", "1"),
            ("Description", "d"),
            ("X-Custom", "x"),
            ("Architecture", "amd64"),
            ("Size", "bogus"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        let stanza = package_stanza(
            &control,
            &[("Filename", "pool/f.deb".into()), ("Size", "3".into())],
        );
        let names: Vec<&str> = stanza.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Package",
                "Architecture",
                "Version",
                "Filename",
                "Size",
                "Description",
                "X-Custom"
            ]
        );
        assert_eq!(stanza.get("Size"), Some("3"));
    }
}
