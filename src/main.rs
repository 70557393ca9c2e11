//! The `kubedeb` command: parse the command line, run, print errors with their causes.

use clap::{CommandFactory, Parser};
use kubedeb::cli::{Cli, Command};
use kubedeb::commands;
use kubedeb::output::{set_verbosity, Verbosity};

/// A failed operation; clap exits 2 for a usage error, as cargo and ripgrep do.
const FAILED: i32 = 1;

fn main() {
    let cli = Cli::parse();
    set_verbosity(match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    });
    if let Some(problem) = usage_problem(&cli.command) {
        Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, problem)
            .exit();
    }
    if let Err(err) = run(&cli.command) {
        eprintln!("error: {err:#}");
        std::process::exit(FAILED);
    }
}

/// What clap cannot check alone: one argument's range depending on another's value.
fn usage_problem(command: &Command) -> Option<String> {
    match command {
        Command::Build(args) => args.packages.deb.level_problem(),
        Command::Up(args) => args.packages.deb.level_problem(),
        _ => None,
    }
}

fn run(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Init(args) => commands::init::run(args),
        Command::Fetch(args) => commands::fetch::run(args),
        Command::Publish(args) => commands::publish::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Build(args) => commands::build::run(args),
        Command::Up(args) => commands::up::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Catalog => commands::builtin::catalog(),
        Command::Templates(args) => commands::builtin::templates(args),
        Command::Completions(args) => commands::builtin::completions(args, Cli::command()),
        Command::Man => commands::builtin::man(Cli::command()),
        Command::Help(args) => commands::builtin::help(args, Cli::command()),
    }
}
