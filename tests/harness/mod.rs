//! The one test harness of both test binaries: the built kubedeb, Debian tools with install hints, temporary projects, golden files, fixtures and readers.
//!
//! Included as `#[path = "../harness/mod.rs"] mod harness;`. The booted hosts (`nspawn`,
//! `cluster`) are the booted target's alone, so tests/booted/main.rs adds them.

pub mod bin;
pub mod chroot;
pub mod deb;
pub mod debian_mirror;
pub mod fixtures;
pub mod flags;
pub mod golden;
pub mod images;
pub mod manifest;
pub mod project;
pub mod registry;
pub mod repo;
pub mod standin;
pub mod tools;
pub mod units;
