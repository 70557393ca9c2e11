//! `kubedeb check`.

pub fn run(_args: &crate::cli::ClusterArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kubedeb check` is not available in this build yet")
}
