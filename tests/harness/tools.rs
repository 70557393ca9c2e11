//! The one way tests run a Debian tool: a missing tool fails the test (never skips it) naming the package to install.

use std::process::{Child, Command, Output};

/// The Debian package that provides `tool` (as `.ci/run` installs them).
pub fn package_of(tool: &str) -> &'static str {
    let name = tool.rsplit('/').next().unwrap_or(tool);
    match name {
        "dpkg" | "dpkg-deb" | "dpkg-query" => "dpkg",
        "dpkg-gencontrol" | "dpkg-scanpackages" => "dpkg-dev",
        "apt-get" | "apt-cache" => "apt",
        "apt-ftparchive" => "apt-utils",
        "lintian" => "lintian",
        "mmdebstrap" => "mmdebstrap",
        "chromium" => "chromium",
        "tar" => "tar",
        "ar" => "binutils",
        "gcc" => "gcc",
        "gpg" | "gpgconf" => "gpg",
        "gpgv" => "gpgv",
        "openssl" => "openssl",
        "shellcheck" => "shellcheck",
        "systemd-analyze" => "systemd",
        "systemd-nspawn" => "systemd-container",
        "etcd" => "etcd-server",
        "etcdctl" => "etcd-client",
        "ip" => "iproute2",
        "nsenter" | "unshare" => "util-linux",
        "mount" | "umount" => "mount",
        "ldd" => "libc-bin",
        "python3" => "python3",
        "curl" => "curl",
        "xz" => "xz-utils",
        "zstd" => "zstd",
        "skopeo" => "skopeo",
        "docker-registry" => "docker-registry",
        "htpasswd" => "apache2-utils",
        "gzip" => "gzip",
        "sh" | "dash" => "dash",
        "bash" => "bash",
        _ => "coreutils",
    }
}

/// Why `cmd` could not start, with the package to install.
pub fn cannot_run(cmd: &Command, e: &std::io::Error) -> String {
    let tool = cmd.get_program().to_string_lossy();
    if tool.ends_with("/kubedeb") || tool.ends_with("/kubedeb-docker-api") {
        return format!("cannot run {tool}: {e} (cargo builds it for the tests)");
    }
    format!(
        "cannot run {tool}: {e}; install it with `apt-get install {}`",
        package_of(&tool)
    )
}

/// Runs `cmd` whatever its exit status; fails only if the tool is missing.
pub fn run_any(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{}", cannot_run(cmd, &e)))
}

/// Runs `cmd` and fails the test if the tool is missing or exits non-zero.
pub fn run(cmd: &mut Command) -> Output {
    let out = run_any(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Status and both streams of `out`, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The stdout of a successful run.
pub fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).expect("the tool prints UTF-8")
}

/// Stdout then stderr of a successful run, for tools that report on either.
pub fn all_output(cmd: &mut Command) -> String {
    let out = run(cmd);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Starts `cmd` in the background; fails the test naming the package if the tool is missing.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.spawn()
        .unwrap_or_else(|e| panic!("{}", cannot_run(cmd, &e)))
}

/// Fails the test when `tool` is not on PATH, for tools run inside a root or a namespace where a
/// failed start would not say which tool was missing.
pub fn need(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}`: install it with `apt-get install {}`",
        package_of(tool)
    );
}
