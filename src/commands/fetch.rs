//! `kubedeb fetch`.

pub fn run(_args: &crate::cli::FetchArgs) -> anyhow::Result<()> {
    anyhow::bail!("`kubedeb fetch` is not available in this build yet")
}
