//! A flag-contract checker: parses a command line the way the upstream binary would
//! (tests/fixtures/flags/README.md) and refuses what the binary would refuse.

use std::collections::BTreeMap;
use std::path::Path;

/// How a binary parses its command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// spf13/pflag (Kubernetes): `--long` only, `_` and `-` are the same in names.
    Pflag,
    /// Go's `flag` (etcd, flanneld): `-name` == `--name`, names taken as written.
    GoFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Value,
}

/// The flags one binary accepts.
#[derive(Debug, Clone)]
pub struct Contract {
    pub binary: String,
    pub syntax: Syntax,
    pub flags: BTreeMap<String, Kind>,
}

/// The syntax of each binary with a contract.
pub fn syntax_of(binary: &str) -> Syntax {
    match binary {
        "etcd" | "flanneld" => Syntax::GoFlag,
        _ => Syntax::Pflag,
    }
}

impl Contract {
    /// tests/fixtures/flags/<binary>.txt.
    pub fn load(binary: &str) -> Contract {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/flags")
            .join(format!("{binary}.txt"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read the flag contract {}: {e}", path.display()));
        Contract::parse(binary, syntax_of(binary), &text)
    }

    /// A contract from `name<TAB>bool|value` lines (`#` lines are comments).
    pub fn parse(binary: &str, syntax: Syntax, text: &str) -> Contract {
        let mut flags = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (name, kind) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("bad contract line {line:?} for {binary}"));
            let kind = match kind.trim() {
                "bool" => Kind::Bool,
                "value" => Kind::Value,
                other => panic!("bad flag kind {other:?} for {binary}"),
            };
            flags.insert(name.to_string(), kind);
        }
        assert!(!flags.is_empty(), "empty flag contract for {binary}");
        Contract {
            binary: binary.into(),
            syntax,
            flags,
        }
    }

    /// A contract read from the `--help` of etcd 3.x (lines `  --name 'default'`): a flag whose
    /// default is 'true' or 'false' is a bool.
    pub fn from_etcd3_help(help: &str) -> Contract {
        let mut flags = BTreeMap::new();
        for line in help.lines() {
            let Some(rest) = line.trim_start().strip_prefix("--") else {
                continue;
            };
            if !line.starts_with("  --") {
                continue;
            }
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap_or_default();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                continue;
            }
            let default = words.next().unwrap_or_default();
            let kind = if default == "'true'" || default == "'false'" {
                Kind::Bool
            } else {
                Kind::Value
            };
            flags.insert(name.to_string(), kind);
        }
        assert!(
            flags.len() > 40,
            "etcd --help listed only {} flags",
            flags.len()
        );
        Contract {
            binary: "etcd".into(),
            syntax: Syntax::GoFlag,
            flags,
        }
    }

    fn lookup(&self, raw: &str) -> Option<(String, Kind)> {
        let name = match self.syntax {
            Syntax::Pflag => raw.replace('_', "-"),
            Syntax::GoFlag => raw.to_string(),
        };
        self.flags.get(&name).map(|k| (name, *k))
    }

    /// Parse `args` as the binary would; returns (canonical name, value) pairs, or why the binary
    /// would refuse them. Stricter than the binaries in one way: a value flag followed by another
    /// flag is refused, since it means a missing value.
    pub fn check(&self, args: &[String]) -> Result<Vec<(String, Option<String>)>, String> {
        let bin = &self.binary;
        let mut out = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            let body = match self.syntax {
                Syntax::Pflag => match arg.strip_prefix("--") {
                    Some(b) => b,
                    None if arg.starts_with('-') => {
                        return Err(format!(
                            "{bin}: {arg:?}: pflag takes long flags with two dashes only"
                        ))
                    }
                    None => return Err(format!("{bin}: {arg:?} is not a flag (stray argument)")),
                },
                Syntax::GoFlag => match arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) {
                    Some(b) => b,
                    None => return Err(format!("{bin}: {arg:?} is not a flag (stray argument)")),
                },
            };
            if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
                return Err(format!("{bin}: {arg:?} is a malformed flag"));
            }
            let (raw, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let Some((name, kind)) = self.lookup(raw) else {
                return Err(format!("{bin}: unknown flag {arg:?}"));
            };
            let value = match (kind, inline) {
                (Kind::Bool, Some(v)) => {
                    const BOOLS: [&str; 12] = [
                        "1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false",
                        "False",
                    ];
                    if !BOOLS.contains(&v.as_str()) {
                        return Err(format!("{bin}: {arg:?}: {v:?} is not a bool"));
                    }
                    Some(v)
                }
                (Kind::Bool, None) => None,
                (Kind::Value, Some(v)) => Some(v),
                (Kind::Value, None) => match args.get(i) {
                    Some(next) if !next.starts_with('-') => {
                        i += 1;
                        Some(next.clone())
                    }
                    Some(next) => {
                        return Err(format!(
                            "{bin}: {arg:?} needs a value but is followed by {next:?}"
                        ))
                    }
                    None => return Err(format!("{bin}: {arg:?} needs a value")),
                },
            };
            out.push((name, value));
        }
        Ok(out)
    }
}

/// The value of `name` in parsed flags (the last one wins, as in the binaries).
pub fn value_of<'a>(parsed: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    parsed
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_deref().unwrap_or("true"))
}
