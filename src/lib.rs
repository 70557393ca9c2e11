//! kubedeb turns Kubernetes release binaries into Debian packages and a signed apt repository.
//!
//! The pipeline, one module per stage:
//! - [`config`]: the cluster settings (`cluster.toml`) and their validation;
//! - [`catalog`] and [`fetch`]: release tarballs from upstream, mirrors or a folder, verified and extracted;
//! - [`render`] and [`cluster`]: templates rendered into the `k8s-*` package descriptions;
//! - [`deb`]: the .deb writer;
//! - [`debian`]: Debian's rules for names, versions and control fields, shared by the writer and the repository;
//! - [`repository`]: publishing into a signed, atomic apt repository;
//! - [`serve`]: serving that repository to the nodes.

pub mod build;
pub mod catalog;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod deb;
pub mod debian;
pub mod docker_api;
pub mod elf;
pub mod fetch;
pub mod render;
pub mod repository;
pub mod serve;
