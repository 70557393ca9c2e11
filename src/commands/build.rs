//! `kubedeb build`.

pub fn run(_args: &crate::cli::BuildArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kubedeb build` is not available in this build yet")
}
