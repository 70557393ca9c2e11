//! The `kubedeb` command: parse the command line, run, print errors with their causes.

use clap::Parser;
use kubedeb::cli::{Cli, Command};
use kubedeb::commands;

fn main() {
    let cli = Cli::parse();
    if let Err(err) = run(&cli.command) {
        eprintln!("error: {err:#}");
        std::process::exit(2);
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
    }
}
