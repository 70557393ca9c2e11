//! What can go wrong while reading an archive, each error naming the mirror or file and what to do.

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the InRelease of {url} is not signed by a trusted key: {cause}; check that the URL names the right mirror and suite, or give the keyring of the archive that signs it")]
    Untrusted { url: String, cause: String },

    #[error("cannot verify the InRelease of {url}: {cause}; check that gpgv (package gpgv) is installed")]
    Gpgv { url: String, cause: String },

    #[error("{what} from {url} is bigger than the {limit} bytes kubedeb reads; check that the URL names a Debian mirror")]
    TooBig {
        what: String,
        url: String,
        limit: u64,
    },

    #[error("the Release of {url} is not usable: {cause}; check that the URL names a Debian mirror and suite")]
    BadRelease { url: String, cause: String },

    #[error("the Release of {url} expired on {valid_until}: the mirror is stale or replays an old archive; use an up-to-date mirror")]
    Expired { url: String, valid_until: String },

    #[error("the Release of {url} does not list {path}; check the component and architecture, or use a mirror that carries them")]
    NotListed { url: String, path: String },

    #[error("{file} does not match what {listed_in} lists: {cause}; fetch it again, from another mirror if it fails again")]
    Mismatch {
        file: String,
        listed_in: String,
        cause: String,
    },

    #[error("the index {file} is not usable: {cause}; fetch it again, from another mirror if it fails again")]
    BadIndex { file: String, cause: String },

    #[error("cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: String,
        cause: String,
    },
}
