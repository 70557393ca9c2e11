//! `kubedeb publish`.

pub fn run(_args: &crate::cli::PublishArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kubedeb publish` is not available in this build yet")
}
