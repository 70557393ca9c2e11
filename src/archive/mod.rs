//! Reading a Debian archive with its trust chain: a signed `InRelease`, the index files it lists, the .debs they list.
//!
//! The chain apt follows, each link checked before the next is read: the `InRelease` is
//! verified with a keyring (Debian's bundled ones, or a mirror's own) and gives the sha256 and
//! size of each index file; an index gives the sha256 and size of each package file.

pub mod deb_check;
pub mod error;
pub mod index;
pub mod inrelease;
pub mod keyrings;

pub use deb_check::{check_deb, check_stream};
pub use error::ArchiveError;
pub use index::{read_packages, Package};
pub use inrelease::{verify, FileSum, Release};
