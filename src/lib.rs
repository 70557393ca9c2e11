//! kubedeb turns Kubernetes release binaries into Debian packages and a signed apt repository.
//!
//! The pipeline, one module per stage:
//! - [`config`]: `cluster.toml` read and validated once into the typed [`config::Config`] every command uses;
//! - [`catalog`] and [`fetch`]: release tarballs from upstream, mirrors or a folder, verified and extracted;
//! - [`packages`]: packaging/packages.toml (what each package is made of) and the templates
//!   rendered from the settings, as the `k8s-*` package descriptions;
//! - [`deb`]: the .deb writer;
//! - [`debian`]: Debian's rules for names, versions and control fields, shared by the writer and the repository;
//! - [`repository`]: publishing into a signed, atomic apt repository;
//! - [`archive`]: reading a Debian mirror's archive through its trust chain (InRelease, indexes, .debs);
//! - [`serve`]: serving that repository to the nodes.
//!
//! Errors follow one convention. Each module's error type (`thiserror`) says, in one message,
//! the object, what failed, the cause as text (a field named `cause`, never a `#[source]`) and
//! what to do next; `commands` may wrap it with `anyhow` context saying where it happened, and
//! `main` prints that chain once with `{:#}`. So no cause is printed twice, which
//! `tests/errors.rs` checks through the binary.

pub mod airgap;
pub mod archive;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod deb;
pub mod debian;
pub mod docker_api;
pub mod elf;
pub mod fetch;
pub mod images;
pub mod output;
pub mod packages;
pub mod repository;
pub mod serve;
