//! Signing with gpg: the repository's own Ed25519 key in `private/gnupg`, or a key the user names.

use super::error::RepoError;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where the signing key lives and which one it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// `None` is the user's default gpg home (`$GNUPGHOME` or `~/.gnupg`).
    pub home: Option<PathBuf>,
    pub fingerprint: String,
}

/// A `--key` checked before anything is written.
#[derive(Debug, Clone)]
pub enum KeyChoice {
    /// A key file holding a secret key, to import into the repository's gpg home.
    File { path: PathBuf, fingerprint: String },
    /// A secret key in the user's default gpg home.
    User { fingerprint: String },
}

fn gpg(home: Option<&Path>) -> Command {
    let mut cmd = Command::new("gpg");
    if let Some(home) = home {
        cmd.arg("--homedir").arg(home);
    }
    // Loopback with an empty passphrase: a key without passphrase signs, any other fails instead of prompting.
    cmd.args([
        "--batch",
        "--no-tty",
        "--quiet",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
    ]);
    cmd.stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command, action: &str) -> Result<Output, RepoError> {
    let output = cmd.output().map_err(|e| RepoError::Gpg {
        action: action.to_string(),
        detail: format!("cannot run gpg: {e}"),
    })?;
    if !output.status.success() {
        return Err(RepoError::Gpg {
            action: action.to_string(),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output)
}

/// Fingerprints of the primary secret keys in gpg's `--with-colons` listing.
fn secret_fingerprints(colons: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_sec = false;
    for line in colons.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.first() {
            Some(&"sec") => after_sec = true,
            Some(&"fpr") if after_sec => {
                out.push(fields.get(9).unwrap_or(&"").to_string());
                after_sec = false;
            }
            Some(&"pub") | Some(&"ssb") | Some(&"sub") => after_sec = false,
            _ => {}
        }
    }
    out
}

/// Every primary secret key in a home; a gpg failure is an error, not an empty list.
fn all_secret(home: Option<&Path>) -> Result<Vec<String>, RepoError> {
    let mut cmd = gpg(home);
    cmd.args(["--with-colons", "--list-secret-keys"]);
    let out = run(cmd, "list the secret keys")?;
    Ok(secret_fingerprints(&String::from_utf8_lossy(&out.stdout)))
}

/// Secret keys matching what a user typed (id, fingerprint, name); gpg fails when none does.
fn find_secret(home: Option<&Path>, id: &str) -> Vec<String> {
    let mut cmd = gpg(home);
    cmd.args(["--with-colons", "--list-secret-keys", "--", id]);
    match cmd.output() {
        Ok(o) if o.status.success() => secret_fingerprints(&String::from_utf8_lossy(&o.stdout)),
        _ => Vec::new(),
    }
}

/// Checks a `--key` without writing anything: a file with a secret key, or a key id in the default gpg home.
pub fn check_key(key: &str) -> Result<KeyChoice, RepoError> {
    let not_found = |detail: String| RepoError::KeyNotFound {
        key: key.to_string(),
        detail,
    };
    let path = Path::new(key);
    if path.is_file() {
        // An empty throw-away home: reading a file must not create or touch the user's.
        let scratch = tempfile::tempdir()
            .map_err(|e| not_found(format!("cannot make a scratch gpg home: {e}")))?;
        let mut cmd = gpg(Some(scratch.path()));
        // Reading a secret key file would start an agent, which outlives a killed publish.
        cmd.args(["--no-autostart", "--with-colons", "--show-keys", "--"])
            .arg(path);
        let output = cmd
            .output()
            .map_err(|e| not_found(format!("cannot run gpg to read it: {e}")))?;
        let found = secret_fingerprints(&String::from_utf8_lossy(&output.stdout));
        return match found.as_slice() {
            [one] => Ok(KeyChoice::File { path: path.to_path_buf(), fingerprint: one.clone() }),
            [] => Err(not_found(format!(
                "the file {key} holds no secret key; export one with `gpg --export-secret-keys --armor <id> > {key}`"
            ))),
            _ => Err(not_found(format!("the file {key} holds {} secret keys; give a file with one", found.len()))),
        };
    }
    if key.contains('/') || key.ends_with(".asc") || key.ends_with(".gpg") || key.ends_with(".key")
    {
        return Err(not_found(format!("there is no key file {key}")));
    }
    let found = find_secret(None, key);
    match found.as_slice() {
        [one] => Ok(KeyChoice::User { fingerprint: one.clone() }),
        [] => Err(not_found(
            "it is neither a key file nor a secret key in the default gpg home ($GNUPGHOME or ~/.gnupg); \
             list the keys with `gpg --list-secret-keys`"
                .into(),
        )),
        _ => Err(not_found(format!("it matches {} secret keys; give the full fingerprint", found.len()))),
    }
}

/// The repository's gpg home.
pub fn home(private: &Path) -> PathBuf {
    private.join("gnupg")
}

fn config_path(private: &Path) -> PathBuf {
    private.join("signing-key")
}

/// The signer recorded by an earlier publish, if any.
pub fn configured(private: &Path) -> Result<Option<Signer>, RepoError> {
    let path = config_path(private);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RepoError::io("read", &path)(e)),
    };
    let damaged = || RepoError::Damaged {
        path: path.clone(),
        reason: format!("it says {:?}", text.trim()),
    };
    let (kind, fingerprint) = text.trim().split_once(' ').ok_or_else(damaged)?;
    let home = match kind {
        "repo" => Some(home(private)),
        "user" => None,
        _ => return Err(damaged()),
    };
    Ok(Some(Signer {
        home,
        fingerprint: fingerprint.to_string(),
    }))
}

/// Who signs this publish: an explicit `--key`, else the recorded signer, else `None` (generate one).
pub fn wanted(private: &Path, choice: Option<&KeyChoice>) -> Result<Option<Signer>, RepoError> {
    Ok(match choice {
        Some(KeyChoice::File { fingerprint, .. }) => Some(Signer {
            home: Some(home(private)),
            fingerprint: fingerprint.clone(),
        }),
        Some(KeyChoice::User { fingerprint }) => Some(Signer {
            home: None,
            fingerprint: fingerprint.clone(),
        }),
        None => configured(private)?,
    })
}

/// Makes the wanted signer usable (import, or generate when there is none) and records it.
pub fn prepare(
    private: &Path,
    choice: Option<&KeyChoice>,
    wanted: Option<Signer>,
) -> Result<Signer, RepoError> {
    let signer = match (choice, wanted) {
        (Some(KeyChoice::File { path, .. }), Some(signer)) => {
            ensure_home(private)?;
            let mut cmd = gpg(signer.home.as_deref());
            cmd.arg("--import").arg(path);
            run(cmd, &format!("import the key file {}", path.display()))?;
            signer
        }
        (_, Some(signer)) => {
            if !all_secret(signer.home.as_deref())?.contains(&signer.fingerprint) {
                let place = match &signer.home {
                    Some(h) => h.display().to_string(),
                    None => "the default gpg home ($GNUPGHOME or ~/.gnupg)".into(),
                };
                return Err(RepoError::KeyNotFound {
                    key: signer.fingerprint.clone(),
                    detail: format!("the repository signs with it but {place} has no such secret key; pass --key"),
                });
            }
            signer
        }
        (_, None) => generate(private)?,
    };
    // Sign a probe now: a key that cannot sign (a passphrase, an expired key) fails before
    // anything is written to the repository.
    let mut probe = gpg(signer.home.as_deref());
    // Empty stdin to stdout: never name an output file here, gpg deletes it when signing fails.
    probe.args(["--local-user", &signer.fingerprint, "--clearsign"]);
    run(probe, &format!("sign with the key {}", signer.fingerprint))?;
    let kind = if signer.home.is_some() {
        "repo"
    } else {
        "user"
    };
    let record = format!("{kind} {}\n", signer.fingerprint);
    let path = config_path(private);
    if fs::read_to_string(&path).ok().as_deref() != Some(record.as_str()) {
        let tmp = private.join(".signing-key.partial");
        fs::write(&tmp, &record).map_err(RepoError::io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(RepoError::io("write", &path))?;
    }
    tighten(private)?;
    Ok(signer)
}

fn ensure_home(private: &Path) -> Result<(), RepoError> {
    let home = home(private);
    if !home.is_dir() {
        fs::create_dir_all(&home).map_err(RepoError::io("create the gpg home", &home))?;
    }
    tighten(private)
}

/// Generates the repository's own key in a side directory and renames it into place, so a
/// publish killed half-way never leaves a half-made gpg home.
fn generate(private: &Path) -> Result<Signer, RepoError> {
    let partial = private.join("gnupg.partial");
    if partial.exists() {
        kill_agent(&partial);
        fs::remove_dir_all(&partial).map_err(RepoError::io("remove the leftover", &partial))?;
    }
    fs::create_dir_all(&partial).map_err(RepoError::io("create", &partial))?;
    fs::set_permissions(&partial, fs::Permissions::from_mode(0o700))
        .map_err(RepoError::io("chmod", &partial))?;
    let host =
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
    let uid = format!("kubedeb repository <kubedeb@{}>", host.trim());
    let mut cmd = gpg(Some(&partial));
    cmd.args(["--quick-gen-key", &uid, "ed25519", "sign", "never"]);
    let result = run(cmd, "generate the repository's signing key");
    let fingerprint = result.map(|_| find_secret(Some(&partial), &uid));
    kill_agent(&partial);
    let fingerprint = fingerprint?
        .into_iter()
        .next()
        .ok_or_else(|| RepoError::Gpg {
            action: "generate the repository's signing key".into(),
            detail: "the new key is not in the key listing".into(),
        })?;
    let home = home(private);
    if home.exists() {
        fs::remove_dir_all(&home).map_err(RepoError::io("remove the unconfigured", &home))?;
    }
    fs::rename(&partial, &home).map_err(RepoError::io("move the new gpg home to", &home))?;
    Ok(Signer {
        home: Some(home),
        fingerprint,
    })
}

/// Private material: directories 0700, files 0600 (sockets and the like left alone).
pub fn tighten(private: &Path) -> Result<(), RepoError> {
    fn walk(dir: &Path) -> Result<(), RepoError> {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(RepoError::io("chmod", dir))?;
        for entry in fs::read_dir(dir).map_err(RepoError::io("list", dir))? {
            let entry = entry.map_err(RepoError::io("list", dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(RepoError::io("stat", &path))?;
            if kind.is_dir() {
                walk(&path)?;
            } else if kind.is_file() {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                    .map_err(RepoError::io("chmod", &path))?;
            }
        }
        Ok(())
    }
    walk(private)
}

/// Stops the gpg-agent gpg started for a home of ours, so no daemon outlives the publish.
pub fn kill_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "gpg-agent"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The armored form of a binary keyring, one block for all its keys (as `gpg --export --armor`
/// writes it), made in a throw-away gpg home.
pub fn armor_keyring(binary: &[u8]) -> Result<Vec<u8>, RepoError> {
    let failed = |detail: String| RepoError::Gpg {
        action: "armor the public keyring".into(),
        detail,
    };
    let scratch =
        tempfile::tempdir().map_err(|e| failed(format!("cannot make a scratch gpg home: {e}")))?;
    let file = scratch.path().join("keyring.gpg");
    fs::write(&file, binary)
        .map_err(|e| failed(format!("cannot write {}: {e}", file.display())))?;
    // Public keys need no agent; one started here would outlive a killed publish.
    let mut import = gpg(Some(scratch.path()));
    import.args(["--no-autostart", "--import"]).arg(&file);
    run(import, "read the public keyring")?;
    let mut export = gpg(Some(scratch.path()));
    export.args([
        "--no-autostart",
        "--armor",
        "--export-options",
        "export-minimal",
        "--export",
    ]);
    let out = run(export, "armor the public keyring")?.stdout;
    if out.is_empty() {
        return Err(failed("gpg exported nothing".into()));
    }
    Ok(out)
}

impl Signer {
    /// The public key: binary (for `signed-by=`) and armored.
    pub fn export(&self) -> Result<(Vec<u8>, Vec<u8>), RepoError> {
        let export = |armor: bool| -> Result<Vec<u8>, RepoError> {
            let mut cmd = gpg(self.home.as_deref());
            if armor {
                cmd.arg("--armor");
            }
            cmd.args([
                "--export-options",
                "export-minimal",
                "--export",
                &self.fingerprint,
            ]);
            let out = run(cmd, &format!("export the public key {}", self.fingerprint))?.stdout;
            if out.is_empty() {
                return Err(RepoError::Gpg {
                    action: format!("export the public key {}", self.fingerprint),
                    detail: "gpg exported nothing".into(),
                });
            }
            Ok(out)
        };
        Ok((export(false)?, export(true)?))
    }

    /// Writes `Release.gpg` (detached) and `InRelease` (clear-signed) for `release`.
    pub fn sign(&self, release: &Path, detached: &Path, inline: &Path) -> Result<(), RepoError> {
        for (out, mode) in [(detached, "--detach-sign"), (inline, "--clearsign")] {
            let mut cmd = gpg(self.home.as_deref());
            cmd.args([
                "--yes",
                "--digest-algo",
                "SHA512",
                "--local-user",
                &self.fingerprint,
                "--armor",
                mode,
                "--output",
            ])
            .arg(out)
            .arg(release);
            run(
                cmd,
                &format!("sign {} with {}", release.display(), self.fingerprint),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_primary_secret_fingerprints() {
        let listing = "sec:u:255:22:AAAA:1:::u:::scSC:::+:::23::0:\nfpr:::::::::ABCDEF0123:\n\
                       grp:::::::::X:\nuid:u::::1::H::kubedeb repository <a@b>::::::::::0:\n\
                       ssb:u:255:18:BBBB:1::::::e:::+:::cv25519::\nfpr:::::::::SUBKEY:\n";
        assert_eq!(secret_fingerprints(listing), ["ABCDEF0123"]);
    }
}
