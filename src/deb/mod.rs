//! The .deb writer: a package model in, an archive that dpkg accepts out.

pub mod model;

pub use model::{
    BuildOptions, Compression, Control, Entry, EntryKind, PackageSpec, Scripts, Source,
};
