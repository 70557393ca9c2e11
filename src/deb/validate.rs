//! Syntax checks for control field values, following dpkg's parser and Debian Policy 5.6.

use super::error::DebError;

fn invalid(field: &str, value: &str, reason: impl Into<String>) -> DebError {
    DebError::InvalidField {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Package names: lower-case letters, digits, `+ - .`; at least two characters, starting alphanumeric.
pub fn package_name(field: &str, value: &str) -> Result<(), DebError> {
    let ok_start = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_chars = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if value.len() < 2 || !ok_start || !ok_chars {
        return Err(invalid(
            field,
            value,
            "a package name has at least two characters from a-z 0-9 + - . and starts with a letter or digit",
        ));
    }
    Ok(())
}

/// Versions `[epoch:]upstream[-revision]` as dpkg's `parseversion` and Policy 5.6.12 accept them.
pub fn version(field: &str, value: &str) -> Result<(), DebError> {
    let fail = |reason: &str| Err(invalid(field, value, reason));
    if value.is_empty() {
        return fail("the version is empty");
    }
    if value.chars().any(char::is_whitespace) {
        return fail("a version contains no white space");
    }
    let rest = match value.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() || !epoch.chars().all(|c| c.is_ascii_digit()) {
                return fail("the epoch before ':' must be a number");
            }
            if rest.is_empty() {
                return fail("nothing follows the epoch's ':'");
            }
            rest
        }
        None => value,
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        return fail("the upstream version must start with a digit");
    }
    if !upstream
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | '-' | ':'))
    {
        return fail("the upstream version may only contain A-Z a-z 0-9 . + ~ - :");
    }
    if let Some(revision) = revision {
        if revision.is_empty() {
            return fail("the Debian revision after the last '-' is empty");
        }
        if !revision
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~'))
        {
            return fail("the Debian revision may only contain A-Z a-z 0-9 . + ~");
        }
    }
    Ok(())
}

/// An architecture of a binary package: `all` or a concrete Debian architecture name.
pub fn architecture(value: &str) -> Result<(), DebError> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-');
    if !ok {
        return Err(invalid(
            "Architecture",
            value,
            "an architecture is a Debian architecture name such as amd64, arm64 or all",
        ));
    }
    if value == "any" || value == "source" {
        return Err(invalid(
            "Architecture",
            value,
            "a binary package needs a concrete architecture such as amd64, or all",
        ));
    }
    Ok(())
}

/// A value that must fit on one line of the control file.
pub fn single_line(field: &str, value: &str) -> Result<(), DebError> {
    if value.trim().is_empty() {
        return Err(invalid(field, value, "the value is empty"));
    }
    if value.contains(['\n', '\r', '\0']) {
        return Err(invalid(field, value, "the value must be a single line"));
    }
    if value != value.trim() {
        return Err(invalid(
            field,
            value,
            "the value has leading or trailing white space",
        ));
    }
    Ok(())
}

/// `Name <address>`, as Policy 5.6.2 asks and lintian checks.
pub fn maintainer(value: &str) -> Result<(), DebError> {
    single_line("Maintainer", value)?;
    let well_formed = value
        .strip_suffix('>')
        .and_then(|v| v.rsplit_once(" <"))
        .is_some_and(|(name, addr)| {
            !name.trim().is_empty() && addr.contains('@') && !addr.contains(['<', '>', ' '])
        });
    if !well_formed {
        return Err(invalid(
            "Maintainer",
            value,
            "write it as 'Full Name <user@example.org>'",
        ));
    }
    Ok(())
}

pub fn priority(value: &str) -> Result<(), DebError> {
    const KNOWN: [&str; 5] = ["required", "important", "standard", "optional", "extra"];
    if !KNOWN.contains(&value) {
        return Err(invalid(
            "Priority",
            value,
            format!("use one of {}", KNOWN.join(", ")),
        ));
    }
    Ok(())
}

/// A field name: printable ASCII without ':' or space, not starting with '#' or '-' (deb822).
pub fn field_name(name: &str) -> Result<(), DebError> {
    let ok = !name.is_empty()
        && !name.starts_with(['#', '-'])
        && name
            .bytes()
            .all(|b| (b'!'..=b'~').contains(&b) && b != b':');
    if !ok {
        return Err(invalid(
            name,
            name,
            "a field name is printable ASCII without ':' or spaces and does not start with '#' or '-'",
        ));
    }
    Ok(())
}

/// One entry of a relationship field (`Depends`, ...): alternatives `name [(op version)] [arch list]`
/// separated by `|`. Entries are joined with ", " by the writer, so an entry holds no comma.
pub fn relation(field: &str, value: &str) -> Result<(), DebError> {
    single_line(field, value)?;
    if value.contains(',') {
        return Err(invalid(
            field,
            value,
            "list each relation as its own item instead of joining them with ','",
        ));
    }
    for alternative in value.split('|') {
        relation_alternative(field, value, alternative.trim())?;
    }
    Ok(())
}

fn relation_alternative(field: &str, whole: &str, alt: &str) -> Result<(), DebError> {
    let name_end = alt.find([' ', '(', '[', '<']).unwrap_or(alt.len());
    let (name, mut rest) = alt.split_at(name_end);
    let bare = match name.split_once(':') {
        Some((bare, qualifier)) => {
            if qualifier.is_empty()
                || !qualifier
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(invalid(
                    field,
                    whole,
                    format!("bad architecture qualifier in {name:?}"),
                ));
            }
            bare
        }
        None => name,
    };
    package_name(field, bare).map_err(|_| {
        invalid(
            field,
            whole,
            format!(
                "{bare:?} is not a valid package name (a-z 0-9 + - ., at least two characters)"
            ),
        )
    })?;
    rest = rest.trim_start();
    if let Some(after) = rest.strip_prefix('(') {
        let Some((inside, after)) = after.split_once(')') else {
            return Err(invalid(field, whole, "a '(' has no matching ')'"));
        };
        let inside = inside.trim();
        let op_len = inside
            .find(|c: char| !matches!(c, '<' | '>' | '='))
            .unwrap_or(inside.len());
        let (op, version_text) = inside.split_at(op_len);
        if !matches!(op, "<<" | "<=" | "=" | ">=" | ">>") {
            return Err(invalid(
                field,
                whole,
                format!("{op:?} is not a relation operator; use one of << <= = >= >>"),
            ));
        }
        version(field, version_text.trim()).map_err(|e| match e {
            DebError::InvalidField { reason, .. } => invalid(field, whole, reason),
            other => other,
        })?;
        rest = after.trim_start();
    }
    if let Some(after) = rest.strip_prefix('[') {
        let Some((_, after)) = after.split_once(']') else {
            return Err(invalid(field, whole, "a '[' has no matching ']'"));
        };
        rest = after.trim_start();
    }
    while let Some(after) = rest.strip_prefix('<') {
        let Some((_, after)) = after.split_once('>') else {
            return Err(invalid(field, whole, "a '<' has no matching '>'"));
        };
        rest = after.trim_start();
    }
    if !rest.is_empty() {
        return Err(invalid(
            field,
            whole,
            format!("unexpected {rest:?}; write 'name (>= version)'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_dpkg() {
        for good in [
            "1.1.4",
            "1.1.4-1",
            "2:1.0~rc1-0+deb12u1",
            "1:2:3",
            "1.0-1-2",
            "0",
        ] {
            version("Version", good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "", "v1.0", "1.0-", ":1.0", "a:1.0", "1:", "1.0 1", "1.0_1", "1.0-1:2",
        ] {
            assert!(version("Version", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn package_names_follow_policy() {
        for good in ["k8s-master", "g++", "libc6.1", "0ad"] {
            package_name("Package", good).unwrap();
        }
        for bad in ["a", "K8s", "-foo", "foo_bar", "foo bar", ""] {
            assert!(package_name("Package", bad).is_err(), "{bad:?} accepted");
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
            relation("Depends", good).unwrap_or_else(|e| panic!("{good}: {e}"));
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
            assert!(relation("Depends", bad).is_err(), "{bad:?} accepted");
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
    fn errors_name_field_and_value() {
        let e = single_line("Section", "admin\nroot")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Section") && e.contains("single line"), "{e}");
    }
}
