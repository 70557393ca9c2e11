//! One module per subcommand: each turns parsed arguments into calls on the library.

pub mod build;
pub mod check;
pub mod fetch;
pub mod init;
pub mod publish;
pub mod serve;
pub mod up;

/// The settings and release catalog the command line names.
fn load(
    args: &crate::cli::ClusterArgs,
) -> anyhow::Result<(crate::config::Config, crate::catalog::Catalog)> {
    Ok(crate::config::Config::load_with_catalog(
        &args.config,
        args.master_ip,
        args.catalog.as_deref(),
    )?)
}
