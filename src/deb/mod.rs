//! The .deb writer: a package model in, an archive that dpkg accepts out.
//!
//! [`write_deb`] is the recipe: [`tree`] checks and sorts the entries, [`data`] streams
//! data.tar through the [`compress`] engine (xz, gzip: independent blocks on every core, reused
//! from the block cache; zstd: one stream) into a temporary file, [`control`] writes the control
//! file by the rules of [`crate::debian`], and the ar archive ([`ar`]) is assembled and renamed
//! into place. Only the model, the options and the writer are public.

mod ar;
mod compress;
mod control;
mod data;
mod error;
mod model;
mod tar;
mod tree;
mod writer;

pub use compress::{level_range, BuildReport};
pub use error::DebError;
pub use model::{
    BuildOptions, Compression, Control, Entry, EntryKind, PackageSpec, Scripts, Source,
};
pub use writer::{write_deb, write_deb_with_report};
