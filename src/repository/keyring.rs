//! The served public keys: each state's own beside its InRelease, and the top-level union of all suites'.
//!
//! A state and the top-level keyring cannot be switched in one rename, so the top-level one is
//! only ever a superset of what the served states need: before a switch it holds the keys of the
//! states served now and of the state about to be; after the switch it drops what none of them
//! uses. A publish killed at any point leaves every served InRelease verifiable with it.

use super::error::RepoError;
use super::files;
use super::layout::{self, State};
use super::sign;
use super::KEYRING_NAME;
use std::fs;
use std::path::{Path, PathBuf};

/// `<dir>/kubedeb-archive-keyring.gpg` (binary) and `.asc`.
fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{KEYRING_NAME}.gpg")),
        dir.join(format!("{KEYRING_NAME}.asc")),
    )
}

/// The top-level binary keyring clients name in `signed-by=`.
pub fn served(repo: &Path) -> PathBuf {
    paths(&layout::public_dir(repo)).0
}

/// Writes the signer's public key into a state directory before it is signed, so the state is
/// switched in together with the key that verifies it.
pub fn write_into_state(state_dir: &Path, binary: &[u8], armored: &[u8]) -> Result<(), RepoError> {
    let (gpg, asc) = paths(state_dir);
    // Written like the indexes beside them; the state's final directory sync covers them.
    files::write_synced(&gpg, binary)?;
    files::write_synced(&asc, armored)
}

/// The binary key that verifies `state`: its own, or for a state from before states carried
/// one, the top-level keyring it was published with.
fn key_of(repo: &Path, state: &State) -> Result<Option<Vec<u8>>, RepoError> {
    for path in [paths(&state.dir).0, served(repo)] {
        match fs::read(&path) {
            Ok(bytes) => return Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RepoError::io("read", &path)(e)),
        }
    }
    Ok(None)
}

/// True when every state has a key to verify it with.
pub fn all_known(repo: &Path, states: &[&State]) -> Result<bool, RepoError> {
    for state in states {
        if key_of(repo, state)?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Makes the top-level keyring hold exactly the keys of `states` and `extra`. Each file is
/// replaced by one rename, and only when its content changes.
pub fn serve_union(repo: &Path, states: &[&State], extra: Option<&[u8]>) -> Result<(), RepoError> {
    let mut keys: Vec<Vec<u8>> = extra.map(<[u8]>::to_vec).into_iter().collect();
    for state in states {
        if let Some(key) = key_of(repo, state)? {
            // Identical exports once: a key listed twice works, but the keyring would keep growing.
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    // A binary keyring is a sequence of keys, so concatenation is their union.
    let binary = keys.concat();
    let public = layout::public_dir(repo);
    let (gpg, asc) = paths(&public);
    if fs::read(&gpg).ok().as_deref() == Some(binary.as_slice()) && asc.is_file() {
        return Ok(());
    }
    let armored = sign::armor_keyring(&binary)?;
    fs::create_dir_all(&public).map_err(RepoError::io("create", &public))?;
    // Binary first: it is the one apt uses.
    files::replace_if_changed(&gpg, &binary)?;
    files::replace_if_changed(&asc, &armored)
}
