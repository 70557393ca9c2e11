//! deb822 paragraphs (control files, `Packages`, `Release`): field names, one-line values, parsing, writing and ordering.

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
        if field_name(name).is_err() {
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

/// Policy 5.1: printable ASCII without ':' or space, not starting with '#' (a comment) or '-'.
pub fn field_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with(['#', '-'])
        && name
            .bytes()
            .all(|b| (b'!'..=b'~').contains(&b) && b != b':');
    if !ok {
        return Err(
            "a field name is printable ASCII without ':' or spaces and does not start with '#' or '-'"
                .into(),
        );
    }
    Ok(())
}

/// A value that must fit on the field's own line, with nothing a parser would trim away.
pub fn single_line(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("the value is empty".into());
    }
    if value.contains(['\n', '\r', '\0']) {
        return Err("the value must be a single line".into());
    }
    if value != value.trim() {
        return Err("the value has leading or trailing white space".into());
    }
    Ok(())
}

/// `fields` with those named in `order` first, in that order and spelling; the others follow
/// as they came.
pub fn in_order(mut fields: Vec<(String, String)>, order: &[&str]) -> Vec<(String, String)> {
    let mut ordered = Vec::with_capacity(fields.len());
    for known in order {
        if let Some(pos) = fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(known))
        {
            let (_, value) = fields.remove(pos);
            ordered.push((known.to_string(), value));
        }
    }
    ordered.extend(fields);
    ordered
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

    /// The repository's parser took '#' as the start of a field name; Policy 5.1 reserves it.
    #[test]
    fn drift_comment_character_is_no_field_name() {
        assert!(field_name("#Package").is_err());
        assert!(parse("#Package: foo\n")
            .unwrap_err()
            .contains("invalid field name"));
        for good in ["Package", "X-Custom", "Package_Revision"] {
            field_name(good).unwrap();
        }
        for bad in ["", "-X", "Two Words", "A:B", "Caf\u{e9}"] {
            assert!(field_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn single_line_values() {
        single_line("admin").unwrap();
        for bad in ["", " ", "admin\nroot", "admin ", "a\rb"] {
            assert!(single_line(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn in_order_puts_known_fields_first_in_their_spelling() {
        let fields = vec![
            ("b".to_string(), "2".to_string()),
            ("X".to_string(), "x".to_string()),
            ("A".to_string(), "1".to_string()),
        ];
        assert_eq!(
            in_order(fields, &["A", "B"]),
            [("A", "1"), ("B", "2"), ("X", "x")].map(|(n, v)| (n.to_string(), v.to_string()))
        );
    }
}
