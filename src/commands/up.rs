//! `kubedeb up`.

pub fn run(_args: &crate::cli::UpArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kubedeb up` is not available in this build yet")
}
