//! The one way tests run the built kubedeb binaries: a clean environment, captured output.

use std::path::Path;
use std::process::{Command, ExitStatus, Output};

pub const KUBEDEB: &str = env!("CARGO_BIN_EXE_kubedeb");
pub const DOCKER_API: &str = env!("CARGO_BIN_EXE_kubedeb-docker-api");

/// `kubedeb` with nothing from the caller's environment that would change its behaviour:
/// no proxies (the tests' servers are on loopback) and no SOURCE_DATE_EPOCH (tests that want
/// one set it).
/// `KUBEDEB_UNDER_TEST=/path/to/kubedeb` runs the tests against another build (an older one,
/// to see which tests fail there).
pub fn kubedeb() -> Command {
    let program = std::env::var_os("KUBEDEB_UNDER_TEST").unwrap_or_else(|| KUBEDEB.into());
    let mut cmd = Command::new(program);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "SOURCE_DATE_EPOCH",
        // Registry credentials come only from what a test names.
        "REGISTRY_AUTH_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// `kubedeb` working in the project folder `dir`, with a GnuPG home that does not exist, so
/// nothing the user's keyring holds can leak into a test.
pub fn kubedeb_in(dir: &Path) -> Command {
    let mut cmd = kubedeb();
    cmd.current_dir(dir)
        .env("GNUPGHOME", dir.join("gnupg-unused"));
    cmd
}

/// The result of one run, its output as text.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Status and both streams, for assertion messages.
    pub fn text(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    /// Fails the test unless the run succeeded; returns it for more checks.
    pub fn success(self) -> Run {
        assert!(self.ok(), "kubedeb failed:\n{}", self.text());
        self
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs a command made by [`kubedeb`] or [`kubedeb_in`].
pub fn run(cmd: &mut Command) -> Run {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (cargo builds it for the tests)"))
        .into()
}

/// `kubedeb <args>` in `dir`.
pub fn kubedeb_at(dir: &Path, args: &[&str]) -> Run {
    run(kubedeb_in(dir).args(args))
}
