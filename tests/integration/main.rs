//! The integration tests: the built binaries, the library and the packages they make, checked with Debian's own tools.

#[path = "../harness/mod.rs"]
mod harness;

mod addons;
mod archive_trust;
mod config;
mod deb_memory;
mod deb_rebuild;
mod deb_writer;
mod debian_mirror_harness;
mod docker_api;
mod errors;
mod fetch;
mod fetch_hardening;
mod fetch_images;
mod harness_checks;
mod images_package;
mod operator_cli;
mod packages;
mod pipeline;
mod publish;
mod publish_apt;
mod publish_hardening;
mod publish_kill;
mod scripts_hardening;
mod serve_limits;
mod serve_page;
mod standin;
mod templates;
