//! deb822 paragraphs (control files, `Packages`, `Release`): parsing and writing in apt-ftparchive's field order.

/// One paragraph: fields in their order. A value keeps its continuation lines (`"\n line"`),
/// with the first line trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Paragraph {
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of a field, looked up case-insensitively as dpkg and apt do.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The text of the paragraph, each line ending in `\n`, no blank line after it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.fields {
            out.push_str(name);
            out.push(':');
            if !value.is_empty() && !value.starts_with('\n') {
                out.push(' ');
            }
            out.push_str(value);
            out.push('\n');
        }
        out
    }
}

/// Splits text into paragraphs, refusing what dpkg would refuse: a line that is neither
/// `Name: value` nor a continuation, a continuation before any field, a field given twice.
pub fn parse(text: &str) -> Result<Vec<Paragraph>, String> {
    let mut paragraphs = Vec::new();
    let mut current = Paragraph::default();
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some((_, value)) = current.fields.last_mut() else {
                return Err(format!(
                    "line {number} is a continuation line with no field before it"
                ));
            };
            value.push('\n');
            value.push_str(line.trim_end());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!(
                "line {number} ({line:?}) has no ':' after a field name"
            ));
        };
        if name.is_empty() || name.starts_with('-') || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("line {number} has the invalid field name {name:?}"));
        }
        if current.get(name).is_some() {
            return Err(format!("line {number} repeats the field {name}"));
        }
        current
            .fields
            .push((name.to_string(), value.trim().to_string()));
    }
    if !current.fields.is_empty() {
        paragraphs.push(current);
    }
    Ok(paragraphs)
}

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
    let mut fields = Vec::with_capacity(all.len());
    for known in PACKAGE_ORDER {
        if let Some(pos) = all.iter().position(|(n, _)| n.eq_ignore_ascii_case(known)) {
            let (_, value) = all.remove(pos);
            fields.push((known.to_string(), value));
        }
    }
    fields.extend(all);
    Paragraph { fields }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back_multiline_fields() {
        let text =
            "Package: foo\nDescription: short\n long\n .\n more\nEmpty:\n a\n b\n\nPackage: bar\n";
        let paragraphs = parse(text).unwrap();
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(
            paragraphs[0].get("description"),
            Some("short\n long\n .\n more")
        );
        assert_eq!(
            paragraphs[0].to_text(),
            "Package: foo\nDescription: short\n long\n .\n more\nEmpty:\n a\n b\n"
        );
        assert_eq!(paragraphs[1].get("Package"), Some("bar"));
    }

    #[test]
    fn refuses_broken_text() {
        assert!(parse(" continuation\n").unwrap_err().contains("line 1"));
        assert!(parse("Package foo\n").unwrap_err().contains("no ':'"));
        assert!(parse("Package: a\npackage: b\n")
            .unwrap_err()
            .contains("repeats"));
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
