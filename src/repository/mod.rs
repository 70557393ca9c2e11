//! The signed, atomic apt repository: publish debs into `pool/` and `dists/`.
//!
//! Layout of a repository folder:
//! - `public/` is served: `pool/main/<p>/<package>/<file>.deb`, `dists/<suite>` (a symlink to
//!   `dists/.states/<suite>/<n>`, holding Release, Release.gpg, InRelease and
//!   `main/binary-<arch>/{Packages,Packages.gz,Packages.xz,by-hash/}` and the key that signed it),
//!   the exported keys of every suite's signer;
//! - `private/` (0700) holds the gpg home and the record of the signing key;
//! - `.lock` serializes publishes, `.journal` lets the next publish tidy up after a killed one.

pub(crate) mod date;
mod debfile;
mod error;
mod files;
mod index;
mod keyring;
mod layout;
mod plan;
mod publish;
mod recover;
mod sign;

pub use crate::debian::version::compare as compare_versions;
pub use debfile::{read_control, DebFile};
pub use error::{Clash, RepoError};
pub use layout::public_dir;
pub use plan::PublishedPackage;
pub use publish::{publish, PublishOptions, PublishReport};

/// The exported public key: `public/<name>.gpg` (binary, for `signed-by=`) and `public/<name>.asc`.
pub const KEYRING_NAME: &str = "kubedeb-archive-keyring";
