//! Registry credentials from a containers auth file (`{"auths": {"host": {"auth": base64(user:pass)}}}`, as `docker login` writes).

use super::ImageError;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest auth file read: they hold a few lines per registry.
const MAX_FILE: u64 = 1 << 20;

/// User and password for registry hosts.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_host: BTreeMap<String, (String, String)>,
    /// The file they came from, for messages.
    pub file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl Credentials {
    /// No credentials: every registry is asked anonymously.
    pub fn none() -> Credentials {
        Credentials::default()
    }

    /// Read the auth file at `path`.
    pub fn load(path: &Path) -> Result<Credentials, ImageError> {
        let problem = |problem: String| ImageError::AuthFile {
            path: path.to_path_buf(),
            problem,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| problem(format!("cannot read it: {e}")))?
            .len();
        if len > MAX_FILE {
            return Err(problem(format!(
                "it is {len} bytes, more than an auth file holds ({MAX_FILE})"
            )));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
        let file: AuthFile = serde_json::from_str(&text).map_err(|e| {
            problem(format!(
                "not a containers auth file ({e}); it holds {{\"auths\": {{\"host[:port]\": {{\"auth\": \"<base64 of user:password>\"}}}}}}, as `skopeo login` or `docker login` write it"
            ))
        })?;
        let mut by_host = BTreeMap::new();
        for (key, entry) in file.auths {
            let pair = match (entry.auth, entry.username, entry.password) {
                (Some(auth), _, _) if !auth.is_empty() => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| {
                            problem(format!(
                                "the auth of {key:?} is not base64 of user:password"
                            ))
                        })?;
                    let (user, pass) = decoded.split_once(':').ok_or_else(|| {
                        problem(format!(
                            "the auth of {key:?} is not base64 of user:password"
                        ))
                    })?;
                    (user.to_string(), pass.to_string())
                }
                (_, Some(user), Some(pass)) => (user, pass),
                // Entries kept by a credential helper hold no secret here.
                _ => continue,
            };
            by_host.insert(host_of(&key), pair);
        }
        Ok(Credentials {
            by_host,
            file: Some(path.to_path_buf()),
        })
    }

    /// The user and password for `host` (`host[:port]`), if the file has them.
    pub fn for_host(&self, host: &str) -> Option<(String, String)> {
        let host = host.to_ascii_lowercase();
        let hub = ["docker.io", "index.docker.io", "registry-1.docker.io"];
        self.by_host.get(&host).cloned().or_else(|| {
            hub.contains(&host.as_str())
                .then(|| hub.iter().find_map(|h| self.by_host.get(*h).cloned()))
                .flatten()
        })
    }
}

/// The `host[:port]` of an auths key, which may be a URL (`https://index.docker.io/v1/`).
fn host_of(key: &str) -> String {
    let rest = key.split_once("://").map_or(key, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_auth_file_gives_each_host_its_user_and_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths": {{"127.0.0.1:5000": {{"auth": "{auth}"}},
                   "https://index.docker.io/v1/": {{"username": "bob", "password": "pw"}},
                   "helper.example": {{}}}}, "credsStore": "pass"}}"#
            ),
        )
        .unwrap();
        let c = Credentials::load(&path).unwrap();
        assert_eq!(
            c.for_host("127.0.0.1:5000"),
            Some(("alice".into(), "s3cr:et".into()))
        );
        assert_eq!(c.for_host("docker.io"), Some(("bob".into(), "pw".into())));
        assert_eq!(c.for_host("helper.example"), None);
        assert_eq!(c.for_host("127.0.0.1:5001"), None);

        std::fs::write(&path, r#"{"auths": {"x.io": {"auth": "%%%"}}}"#).unwrap();
        let err = Credentials::load(&path).unwrap_err().to_string();
        assert!(err.contains("x.io") && err.contains("base64"), "{err}");
        std::fs::write(&path, "not json").unwrap();
        let err = Credentials::load(&path).unwrap_err().to_string();
        assert!(err.contains("skopeo login"), "{err}");
    }
}
