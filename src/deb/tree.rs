//! Turns the spec's entries into the sorted data.tar entry list: paths checked, duplicates
//! refused, missing parent directories added.

use std::collections::BTreeMap;

use super::error::DebError;
use super::model::{Entry, EntryKind, Source};

/// What one data.tar entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node<'a> {
    Dir,
    File(&'a Source),
    Symlink(&'a str),
}

/// One data.tar entry, in archive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned<'a> {
    /// Path below the root without a leading slash (`usr/bin/etcd`); empty for the root.
    pub rel: String,
    pub mode: u32,
    pub node: Node<'a>,
}

impl Planned<'_> {
    /// The install path as the user wrote it (`/usr/bin/etcd`).
    pub fn install_path(&self) -> String {
        format!("/{}", self.rel)
    }

    /// The member name as dpkg-deb writes it: `./`, `./usr/`, `./usr/bin/etcd`.
    pub fn tar_name(&self) -> String {
        match (self.node, self.rel.is_empty()) {
            (_, true) => "./".to_string(),
            (Node::Dir, false) => format!("./{}/", self.rel),
            _ => format!("./{}", self.rel),
        }
    }

    /// dpkg treats every shipped regular file under /etc as a conffile.
    pub fn is_conffile(&self) -> bool {
        matches!(self.node, Node::File(_)) && self.rel.starts_with("etc/")
    }
}

const AUTO_DIR_MODE: u32 = 0o755;

/// Checks the entries and returns them sorted component by component, so that every
/// directory comes right before its contents; the root `./` is first.
pub fn plan(entries: &[Entry]) -> Result<Vec<Planned<'_>>, DebError> {
    let mut tree: BTreeMap<Vec<&str>, (u32, Node)> = BTreeMap::new();
    for entry in entries {
        let components = components(&entry.path)?;
        let node = match &entry.kind {
            EntryKind::Dir => Node::Dir,
            EntryKind::File(source) => Node::File(source),
            EntryKind::Symlink(target) => {
                check_target(&entry.path, target)?;
                Node::Symlink(target)
            }
        };
        let mode = if let Node::Symlink(_) = node {
            0o777
        } else if entry.mode > 0o7777 {
            return Err(DebError::InvalidMode {
                path: entry.path.clone(),
                mode: entry.mode,
            });
        } else {
            entry.mode
        };
        if tree.insert(components, (mode, node)).is_some() {
            return Err(DebError::DuplicatePath {
                path: entry.path.clone(),
            });
        }
    }
    let explicit: Vec<Vec<&str>> = tree.keys().cloned().collect();
    for components in &explicit {
        for depth in 1..components.len() {
            let parent = components[..depth].to_vec();
            match tree.get(&parent) {
                Some((_, Node::Dir)) => {}
                Some(_) => {
                    return Err(DebError::ParentNotDirectory {
                        path: format!("/{}", components.join("/")),
                        parent: format!("/{}", parent.join("/")),
                    })
                }
                None => {
                    tree.insert(parent, (AUTO_DIR_MODE, Node::Dir));
                }
            }
        }
    }
    tree.insert(Vec::new(), (AUTO_DIR_MODE, Node::Dir));
    Ok(tree
        .into_iter()
        .map(|(components, (mode, node))| Planned {
            rel: components.join("/"),
            mode,
            node,
        })
        .collect())
}

fn components(path: &str) -> Result<Vec<&str>, DebError> {
    let invalid = |reason: &str| DebError::InvalidPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let Some(rel) = path.strip_prefix('/') else {
        return Err(invalid("the path is relative"));
    };
    if rel.is_empty() {
        return Err(invalid(
            "the root directory is always shipped with mode 0755 and cannot be an entry",
        ));
    }
    if path.contains(['\n', '\r', '\0']) {
        return Err(invalid(
            "the path contains a newline, carriage return or NUL, which dpkg refuses",
        ));
    }
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid(
            "the path has an empty component ('//' or a trailing '/')",
        ));
    }
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(invalid("the path has a '.' or '..' component"));
    }
    Ok(parts)
}

fn check_target(path: &str, target: &str) -> Result<(), DebError> {
    if target.is_empty() || target.contains(['\n', '\r', '\0']) {
        return Err(DebError::InvalidPath {
            path: path.to_string(),
            reason: "the symlink target is empty or contains a newline, carriage return or NUL"
                .into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(path: &str) -> Entry {
        Entry::file(path, 0o644, Source::Bytes(b"x".to_vec()))
    }

    #[test]
    fn sorts_and_adds_parents() {
        let entries = vec![
            bytes("/usr/bin-extra/a"),
            Entry::symlink("/usr/bin/y", "x"),
            bytes("/usr/bin/x"),
            Entry::dir("/etc/k8s", 0o700),
            bytes("/etc/k8s/conf"),
        ];
        let planned = plan(&entries).unwrap();
        let names: Vec<(String, u32)> = planned.iter().map(|p| (p.tar_name(), p.mode)).collect();
        let expected = [
            ("./", 0o755),
            ("./etc/", 0o755),
            ("./etc/k8s/", 0o700),
            ("./etc/k8s/conf", 0o644),
            ("./usr/", 0o755),
            ("./usr/bin/", 0o755),
            ("./usr/bin/x", 0o644),
            ("./usr/bin/y", 0o777),
            ("./usr/bin-extra/", 0o755),
            ("./usr/bin-extra/a", 0o644),
        ];
        let expected: Vec<(String, u32)> =
            expected.iter().map(|(n, m)| (n.to_string(), *m)).collect();
        assert_eq!(names, expected);
        let conffiles: Vec<String> = planned
            .iter()
            .filter(|p| p.is_conffile())
            .map(Planned::install_path)
            .collect();
        assert_eq!(conffiles, ["/etc/k8s/conf"]);
    }

    #[test]
    fn refuses_bad_paths() {
        for (path, needle) in [
            ("usr/bin/x", "relative"),
            ("/usr/../etc/x", ".."),
            ("/usr/./x", "'.'"),
            ("/usr//x", "empty component"),
            ("/usr/x/", "empty component"),
            ("/", "root"),
            ("/usr/x\ny", "newline"),
        ] {
            let err = plan(&[bytes(path)]).unwrap_err().to_string();
            assert!(
                err.contains(needle) && err.contains("package entry"),
                "{path:?}: {err}"
            );
        }
    }

    #[test]
    fn refuses_duplicates_and_files_as_parents() {
        let err = plan(&[bytes("/usr/bin/x"), Entry::dir("/usr/bin/x", 0o755)]).unwrap_err();
        assert!(
            matches!(err, DebError::DuplicatePath { ref path } if path == "/usr/bin/x"),
            "{err}"
        );
        let err = plan(&[bytes("/usr/bin"), bytes("/usr/bin/x")]).unwrap_err();
        assert!(
            matches!(err, DebError::ParentNotDirectory { ref parent, .. } if parent == "/usr/bin"),
            "{err}"
        );
        let err = plan(&[Entry::file("/x", 0o10644, Source::Bytes(vec![]))]).unwrap_err();
        assert!(matches!(err, DebError::InvalidMode { .. }), "{err}");
    }
}
