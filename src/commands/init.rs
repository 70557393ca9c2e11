//! `kubedeb init`.

pub fn run(_args: &crate::cli::InitArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kubedeb init` is not available in this build yet")
}
