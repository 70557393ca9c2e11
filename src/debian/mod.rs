//! Debian's rules, one copy for the .deb writer and the repository: deb822 paragraphs, field names and order, package names, versions, architectures, relations.

pub mod deb822;
pub mod fields;
pub mod version;
