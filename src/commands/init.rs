//! `kubedeb init`: write a commented cluster.toml holding every default.

use crate::cli::InitArgs;
use crate::config::ConfigFile;
use anyhow::Context;
use std::io::Write;

pub fn run(args: &InitArgs) -> anyhow::Result<()> {
    let path = &args.config;
    if path.exists() && !args.force {
        anyhow::bail!(
            "{} already exists: edit it, or pass --force to replace it with the defaults",
            path.display()
        );
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".cluster.toml.")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(ConfigFile::init_file(args.master_ip).as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    match args.master_ip {
        Some(_) => crate::note!("wrote {}; check it with `kubedeb check`", path.display()),
        None => crate::note!(
            "wrote {}; set master_ip in it (or pass --master-ip to every command)",
            path.display()
        ),
    }
    Ok(())
}
