//! The .deb writer: a package model in, an archive that dpkg accepts out.
//!
//! [`write_deb`] is the recipe: [`tree`] checks and sorts the entries, [`data`] streams
//! data.tar through [`blocks`] (xz, gzip: independent blocks on every core, reused from the
//! [`block_cache`]) or [`compress`] (zstd) into a temporary file, [`control`] renders the control
//! file, and the ar archive ([`ar`]) is assembled and renamed into place.

pub mod ar;
pub mod block_cache;
pub mod blocks;
pub mod codec;
pub mod compress;
pub mod control;
pub mod data;
pub mod error;
pub mod model;
pub mod tar;
pub mod tree;
mod writer;
pub mod xz;

pub use blocks::BuildReport;
pub use error::DebError;
pub use model::{
    BuildOptions, Compression, Control, Entry, EntryKind, PackageSpec, Scripts, Source,
};
pub use writer::{write_deb, write_deb_with_report};
