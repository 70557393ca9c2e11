//! apt's own solver on the verified indexes: a scratch apt configuration, `apt-get install -s` against a minimal base.

use super::error::{io, AirgapError};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A package apt chose for a request, and why (apt's "Installing X as Depends of Y").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub version: String,
    /// apt's reason, e.g. "Depends of k8s-flannel"; empty for the request itself.
    pub via: String,
}

/// A scratch apt that sees only the verified suites in `debian_dir` and a flat `local` index.
pub struct Apt {
    dir: tempfile::TempDir,
    release: String,
}

impl Apt {
    /// `suites` are the suite folders under `debian_dir/dists`; `keyring` the bytes their
    /// InRelease files verified with; `local` a Packages text (the k8s-* packages, unbuilt).
    pub fn new(
        debian_dir: &Path,
        suites: &[String],
        keyring: &[u8],
        architecture: &str,
        local: &str,
        release: &str,
    ) -> Result<Apt, AirgapError> {
        // apt's file: URIs must be absolute.
        let debian_dir = &std::fs::canonicalize(debian_dir).map_err(io("find", debian_dir))?;
        let dir = tempfile::Builder::new()
            .prefix(".apt-")
            .tempdir_in(debian_dir)
            .map_err(io("make a scratch folder in", debian_dir))?;
        let root = dir.path();
        for sub in [
            "etc/apt.conf.d",
            "etc/preferences.d",
            "etc/sources.list.d",
            "etc/trusted.gpg.d",
            "state/lists/partial",
            "cache/archives/partial",
            "log",
            "local",
        ] {
            std::fs::create_dir_all(root.join(sub)).map_err(io("create", &root.join(sub)))?;
        }
        let r = root.display();
        let conf = format!(
            "Dir::State \"{r}/state/\";\nDir::State::status \"{r}/status\";\nDir::Cache \"{r}/cache/\";\n\
             Dir::Etc \"{r}/etc/\";\nDir::Etc::Parts \"{r}/etc/apt.conf.d/\";\nDir::Etc::SourceList \"{r}/etc/sources.list\";\n\
             Dir::Etc::SourceParts \"{r}/etc/sources.list.d/\";\nDir::Etc::Preferences \"{r}/etc/preferences\";\n\
             Dir::Etc::PreferencesParts \"{r}/etc/preferences.d/\";\nDir::Etc::Trusted \"{r}/etc/trusted.gpg\";\n\
             Dir::Etc::TrustedParts \"{r}/etc/trusted.gpg.d/\";\nDir::Log \"{r}/log/\";\n\
             APT::Architecture \"{architecture}\";\nAPT::Architectures {{ \"{architecture}\"; }};\n\
             APT::Install-Recommends \"false\";\nAPT::Install-Suggests \"false\";\nAPT::Sandbox::User \"root\";\n\
             Acquire::Languages \"none\";\nDebug::NoLocking \"true\";\n"
        );
        let write = |rel: &str, bytes: &[u8]| {
            let path = root.join(rel);
            std::fs::write(&path, bytes).map_err(io("write", &path))
        };
        write("apt.conf", conf.as_bytes())?;
        write("keyring.gpg", keyring)?;
        write("status", b"")?;
        write("local/Packages", local.as_bytes())?;
        let mut sources = String::new();
        for suite in suites {
            sources += &format!(
                "deb [signed-by={r}/keyring.gpg] file:{} {suite} main\n",
                debian_dir.display()
            );
        }
        sources += &format!("deb [trusted=yes] file:{r}/local ./\n");
        write("etc/sources.list", sources.as_bytes())?;
        let apt = Apt {
            dir,
            release: release.to_string(),
        };
        apt.run("the verified indexes", "apt-get", &["update", "-q"])?;
        Ok(apt)
    }

    /// Runs an apt tool in the scratch configuration; `what` names what it resolves, for errors.
    fn run(&self, what: &str, tool: &str, args: &[&str]) -> Result<String, AirgapError> {
        let out = Command::new(tool)
            .args(args)
            .env("APT_CONFIG", self.dir.path().join("apt.conf"))
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| AirgapError::Resolve {
                what: what.to_string(),
                release: self.release.clone(),
                cause: format!("cannot run {tool}: {e}; install the apt package"),
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // apt-get update prints "W:" for a source it could not use and still exits 0.
        let warned = stderr
            .lines()
            .any(|l| l.starts_with("W:") || l.starts_with("E:"));
        if !out.status.success() || (args.first() == Some(&"update") && warned) {
            return Err(AirgapError::Resolve {
                what: what.to_string(),
                release: self.release.clone(),
                cause: format!(
                    "{tool} {} said:\n{}{}",
                    args.join(" "),
                    stdout.trim_end(),
                    stderr.trim_end()
                ),
            });
        }
        Ok(format!("{stdout}\n{stderr}"))
    }

    /// The base install: a dpkg status file given by the user, or what apt installs for the
    /// release's `Priority: required` and `Essential: yes` packages on an empty system.
    pub fn set_base(
        &self,
        status: Option<&Path>,
        required: &[String],
    ) -> Result<usize, AirgapError> {
        let target = self.dir.path().join("status");
        if let Some(status) = status {
            std::fs::copy(status, &target).map_err(io("copy the base status file", status))?;
            return Ok(std::fs::read_to_string(&target)
                .map(|t| t.matches("\nPackage: ").count() + 1)
                .unwrap_or(0));
        }
        let mut args = vec!["install", "-s", "-q", "--no-install-recommends"];
        args.extend(required.iter().map(String::as_str));
        let chosen = parse_inst(&self.run("the base install", "apt-get", &args)?);
        let specs: Vec<String> = chosen
            .iter()
            .map(|(n, c)| format!("{n}={}", c.version))
            .collect();
        let mut show = vec!["show", "--no-all-versions"];
        show.extend(specs.iter().map(String::as_str));
        let text = self.run("the base install", "apt-cache", &show)?;
        let mut status = String::new();
        for stanza in text
            .split("\n\n")
            .filter(|s| s.trim_start().starts_with("Package:"))
        {
            status += stanza.trim();
            status += "\nStatus: install ok installed\n\n";
        }
        std::fs::write(&target, status).map_err(io("write", &target))?;
        Ok(chosen.len())
    }

    /// What apt would install for `request` on the base, by package name.
    pub fn install(&self, request: &str) -> Result<BTreeMap<String, Chosen>, AirgapError> {
        let out = self.run(
            request,
            "apt-get",
            &[
                "install",
                "-s",
                "-q",
                "--no-install-recommends",
                "-o",
                "Debug::pkgDepCache::AutoInstall=true",
                request,
            ],
        )?;
        let mut chosen = parse_inst(&out);
        for (name, via) in parse_reasons(&out) {
            if let Some(c) = chosen.get_mut(&name) {
                c.via = via;
            }
        }
        Ok(chosen)
    }
}

/// `Inst name [old] (version suite [arch])` lines.
fn parse_inst(out: &str) -> BTreeMap<String, Chosen> {
    let mut chosen = BTreeMap::new();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("Inst ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let Some(name) = words.next() else { continue };
        let version = words
            .find(|w| w.starts_with('('))
            .map(|w| w.trim_start_matches('(').to_string());
        if let Some(version) = version {
            chosen.insert(
                name.to_string(),
                Chosen {
                    version,
                    via: String::new(),
                },
            );
        }
    }
    chosen
}

/// apt's `Installing X as Depends of Y` (Debug::pkgDepCache::AutoInstall) lines, first reason kept.
fn parse_reasons(out: &str) -> BTreeMap<String, String> {
    let mut reasons = BTreeMap::new();
    for line in out.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("Installing ") else {
            continue;
        };
        if let Some((name, why)) = rest.split_once(" as ") {
            let name = name.split(':').next().unwrap_or(name).to_string();
            // "Depends of docker.io:amd64": the architecture is the target's, said once elsewhere.
            let why: Vec<&str> = why
                .split_whitespace()
                .map(|w| w.split(':').next().unwrap_or(w))
                .collect();
            reasons.entry(name).or_insert_with(|| why.join(" "));
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_apts_simulation() {
        let out = "Inst containerd (1.6.20~ds1-1+b1 Debian:12.14/oldstable [amd64])\n\
                   Inst libc6 [2.36-9] (2.36-9+deb12u10 Debian-Security:12/oldstable-security [amd64])\n\
                   Conf containerd (1.6.20~ds1-1+b1 Debian:12.14/oldstable [amd64])\n\
                   \x20 Installing containerd:amd64 as Depends of docker.io:amd64\n";
        let chosen = parse_inst(out);
        assert_eq!(chosen["containerd"].version, "1.6.20~ds1-1+b1");
        assert_eq!(chosen["libc6"].version, "2.36-9+deb12u10");
        assert_eq!(chosen.len(), 2);
        assert_eq!(parse_reasons(out)["containerd"], "Depends of docker.io");
    }
}
