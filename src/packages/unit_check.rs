//! A systemd unit file syntax check, so a broken unit (from a `--templates` override) is refused at build, not at install.
//!
//! It follows systemd's own parser where that parser would reject, warn about or ignore a
//! line: sections, `key=value` lines, continuation lines and comments, `Type=` of a service,
//! and the executable of `Exec*=` lines, which must be an absolute path after its prefixes.

/// A unit file's first problem: its 1-based line and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitProblem {
    pub line: usize,
    pub problem: String,
}

/// The sections systemd reads in the unit types kubedeb ships; `X-` sections are the user's own.
const SECTIONS: [&str; 6] = ["Unit", "Install", "Service", "Socket", "Timer", "Path"];
/// The service types systemd 252 (Debian 12) knows.
const SERVICE_TYPES: [&str; 7] = [
    "simple", "exec", "forking", "oneshot", "dbus", "notify", "idle",
];
const EXEC_KEYS: [&str; 7] = [
    "ExecStart",
    "ExecStartPre",
    "ExecStartPost",
    "ExecCondition",
    "ExecReload",
    "ExecStop",
    "ExecStopPost",
];

/// Checks `text` as a unit file or drop-in.
pub fn check(text: &str) -> Result<(), UnitProblem> {
    let mut section: Option<String> = None;
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let start = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let fail = |problem: String| UnitProblem {
            line: start,
            problem,
        };
        // A trailing backslash continues the line; comment lines inside are skipped, as systemd does.
        let mut logical = line.to_string();
        while logical.ends_with('\\') {
            logical.pop();
            logical.push(' ');
            loop {
                let Some((_, next)) = lines.next() else {
                    return Err(fail(
                        "the last line ends with a backslash, continuing into nothing; remove it"
                            .into(),
                    ));
                };
                let next = next.trim();
                if !(next.starts_with('#') || next.starts_with(';')) {
                    logical.push_str(next);
                    break;
                }
            }
        }
        let logical = logical.trim();
        if let Some(rest) = logical.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(fail(format!(
                    "section header {logical:?} does not end with ']'; write it as [Name]"
                )));
            };
            if !(SECTIONS.contains(&name) || name.starts_with("X-")) {
                return Err(fail(format!(
                    "unknown section [{name}]; systemd ignores it: use one of [{}]",
                    SECTIONS.join("], [")
                )));
            }
            section = Some(name.to_string());
            continue;
        }
        let Some((key, value)) = logical.split_once('=') else {
            return Err(fail(format!(
                "{logical:?} is neither a [Section] header nor a Key=value line; systemd ignores it"
            )));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(fail(format!(
                "{key:?} is not a setting name; write Key=value with a name like ExecStart"
            )));
        }
        let Some(section) = section.as_deref() else {
            return Err(fail(format!(
                "{key}= comes before any section; put it under [Unit], [Service] or [Install]"
            )));
        };
        if section == "Service" && key == "Type" && !SERVICE_TYPES.contains(&value) {
            return Err(fail(format!(
                "Type={value} is not a service type; use one of {}",
                SERVICE_TYPES.join(", ")
            )));
        }
        if section == "Service" && EXEC_KEYS.contains(&key) && !value.is_empty() {
            check_command(key, value).map_err(fail)?;
        }
    }
    Ok(())
}

/// The executable of an `Exec*=` line, after its `-@:+!` prefixes, must be an absolute path.
fn check_command(key: &str, value: &str) -> Result<(), String> {
    let command = value.trim_start_matches(['-', '@', ':', '+', '!']);
    let command = command.trim_start_matches(['"', '\'']);
    if command.starts_with('/') {
        return Ok(());
    }
    let program = command.split_whitespace().next().unwrap_or("");
    Err(format!(
        "{key}={value}: the program {program:?} is not an absolute path; write its full path, \
         like /usr/bin/{}",
        program.rsplit('/').next().unwrap_or(program)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(text: &str) -> usize {
        check(text).expect_err("should be refused").line
    }

    #[test]
    fn a_sound_unit_with_comments_and_continuations_passes() {
        let unit = "# comment\n; another\n[Unit]\nDescription=x\n\n[Service]\nType=notify\n\
                    EnvironmentFile=-/etc/default/x\nExecStart=/usr/bin/x \\\n  # skipped\n  --flag \\\n  --other\n\
                    ExecStartPre=-+/bin/true\nExecStart=\nExecStop=@/bin/kill kill\n\
                    [Install]\nWantedBy=multi-user.target\n[X-Mine]\nAnything=goes\n";
        assert_eq!(check(unit), Ok(()));
    }

    #[test]
    fn broken_lines_are_refused_with_their_line() {
        assert_eq!(line_of("[Unit]\nDescription=x\n[Service\nType=simple\n"), 3);
        assert_eq!(line_of("[Unit]\n[Service]\nType=bogus\n"), 3);
        assert_eq!(line_of("[Service]\nExecStart=usr/bin/x\n"), 2);
        assert_eq!(line_of("[Service]\nExecStart=-x --flag\n"), 2);
        assert_eq!(line_of("Description=x\n[Unit]\n"), 1);
        assert_eq!(line_of("[Unit]\nDescription\n"), 2);
        assert_eq!(line_of("[Unti]\n"), 1);
        assert_eq!(line_of("[Service]\nExecStart=/bin/x \\"), 2);
        let err = check("[Service]\nType=bogus\n").unwrap_err();
        assert!(err.problem.contains("simple"), "{}", err.problem);
    }
}
