//! What kubedeb prints: results on stdout (a closed pipe ends the run quietly), notes on stderr by verbosity.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// How much goes to stderr besides errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `-q`: errors only.
    Quiet = 0,
    /// Notes on what happened (the default).
    Normal = 1,
    /// `-v`: also which files and settings were used.
    Verbose = 2,
}

static VERBOSITY: AtomicU8 = AtomicU8::new(Verbosity::Normal as u8);

pub fn set_verbosity(v: Verbosity) {
    VERBOSITY.store(v as u8, Ordering::Relaxed);
}

pub fn verbosity() -> Verbosity {
    match VERBOSITY.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// Writes a result to stdout. A reader that went away (`kubedeb check | head -1`) has all it
/// wanted, so a broken pipe ends the run with success instead of the panic `println!` gives.
pub fn stdout(text: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// A note on stderr unless `-q`.
pub fn note(text: std::fmt::Arguments) {
    if verbosity() >= Verbosity::Normal {
        eprintln!("{text}");
    }
}

/// A detail on stderr with `-v` only.
pub fn detail(text: std::fmt::Arguments) {
    if verbosity() >= Verbosity::Verbose {
        eprintln!("{text}");
    }
}

/// `println!` to stdout through [`stdout`].
#[macro_export]
macro_rules! outln {
    () => { $crate::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` to stdout through [`stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*)) };
}

/// A note on stderr, hidden by `-q`.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => { $crate::output::note(format_args!($($arg)*)) };
}

/// A detail on stderr, shown by `-v`.
#[macro_export]
macro_rules! detail {
    ($($arg:tt)*) => { $crate::output::detail(format_args!($($arg)*)) };
}
