//! `kubedeb serve`.

pub fn run(_args: &crate::cli::ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kubedeb serve` is not available in this build yet")
}
