//! `kubedeb catalog`, `templates`, `completions`, `man` and `help`: what the binary carries, shown.

use crate::cli::{CompletionsArgs, HelpArgs, TemplatesArgs};
use crate::packages::render::BUILTIN as BUILTIN_TEMPLATES;
use anyhow::Context;
use std::io::Write;
use std::path::Path;

pub fn catalog() -> anyhow::Result<()> {
    crate::out!("{}", crate::catalog::built_in_text());
    Ok(())
}

pub fn templates(args: &TemplatesArgs) -> anyhow::Result<()> {
    let Some(dir) = &args.dump else {
        for (name, _) in BUILTIN_TEMPLATES {
            crate::outln!("{name}");
        }
        return Ok(());
    };
    refuse_non_empty(dir, args.force)?;
    for (name, text) in BUILTIN_TEMPLATES {
        let path = dir.join(name);
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).with_context(|| {
            format!(
                "cannot create {}; choose another --dump folder",
                parent.display()
            )
        })?;
        // Written whole or not at all: an interrupted dump leaves no truncated template behind.
        let mut tmp = tempfile::Builder::new()
            .prefix(".template.")
            .tempfile_in(parent)
            .with_context(|| format!("cannot create a file in {}", parent.display()))?;
        tmp.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", tmp.path().display()))?;
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    crate::note!(
        "wrote {} templates into {}; edit the ones to change, delete the others, then pass --templates {}",
        BUILTIN_TEMPLATES.len(),
        dir.display(),
        dir.display()
    );
    Ok(())
}

fn refuse_non_empty(dir: &Path, force: bool) -> anyhow::Result<()> {
    let mut entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot list {}: {e}; name a folder (new or empty) for --dump",
                dir.display()
            ))
        }
    };
    if entries.next().is_some() && !force {
        anyhow::bail!(
            "{} is not empty: name a new or empty folder, or pass --force to write the templates over what it holds",
            dir.display()
        );
    }
    Ok(())
}

pub fn completions(args: &CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "kubedeb", &mut script);
    crate::out!("{}", String::from_utf8_lossy(&script));
    Ok(())
}

pub fn man(cmd: clap::Command) -> anyhow::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut page)
        .context("cannot render the man page")?;
    crate::out!("{}", String::from_utf8_lossy(&page));
    Ok(())
}

pub fn help(args: &HelpArgs, mut cmd: clap::Command) -> anyhow::Result<()> {
    // Built first so a command's usage line names it as `kubedeb <command>`.
    cmd.build();
    let help = match &args.command {
        None => cmd.render_long_help(),
        Some(name) => match cmd.find_subcommand_mut(name) {
            Some(sub) => sub.render_long_help(),
            None => {
                let known: Vec<String> = cmd
                    .get_subcommands()
                    .map(|s| s.get_name().to_string())
                    .collect();
                cmd.error(
                    clap::error::ErrorKind::InvalidSubcommand,
                    format!(
                        "no command named {name:?}; the commands are: {}",
                        known.join(", ")
                    ),
                )
                .exit()
            }
        },
    };
    crate::out!("{help}");
    Ok(())
}
