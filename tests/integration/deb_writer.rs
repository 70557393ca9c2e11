//! The .deb writer checked with Debian's own tools: dpkg-deb, dpkg, dpkg-gencontrol, lintian.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::harness::deb::*;
use crate::harness::golden::assert_golden;
use crate::harness::tools::{run, run_any, stdout};
use kubedeb::deb::{write_deb, BuildOptions, Compression, DebError, Entry, Source};

const ALL: [Compression; 3] = [Compression::Xz, Compression::Gzip, Compression::Zstd];

fn opts(compression: Compression, source_date_epoch: Option<u64>) -> BuildOptions {
    BuildOptions {
        compression,
        level: None,
        threads: 0,
        source_date_epoch,
        block_cache: None,
    }
}

fn build(fx: &Fixture, opts: &BuildOptions) -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let deb = write_deb(&fx.spec, opts, out.path()).unwrap();
    assert_eq!(deb, out.path().join("kubedeb-test_1.1.4-1_amd64.deb"));
    (out, deb)
}

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What `dpkg-deb --contents` must show for the fixture, written out by hand.
fn expected_listing() -> Vec<Listed> {
    let dir = |path: &str, perms: &str| Listed {
        perms: perms.into(),
        owner: "root/root".into(),
        size: 0,
        path: path.into(),
        target: None,
    };
    let file = |path: &str, perms: &str, size: usize| Listed {
        size: size as u64,
        ..dir(path, perms)
    };
    let link = |path: &str, target: &str| Listed {
        target: Some(target.into()),
        ..dir(path, "lrwxrwxrwx")
    };
    let d = "drwxr-xr-x";
    let f = "-rw-r--r--";
    let deep = deep_dir();
    let (deep1, _) = deep.rsplit_once('/').unwrap();
    vec![
        dir("./", d),
        dir("./etc/", d),
        dir("./etc/default/", d),
        file("./etc/default/kubedeb-test", f, DEFAULTS.len()),
        dir("./etc/kubedeb-test/", d),
        file("./etc/kubedeb-test/config.toml", f, CONFIG.len()),
        dir("./usr/", d),
        dir("./usr/bin/", d),
        file("./usr/bin/kubedeb-hello", "-rwxr-xr-x", HELLO.len()),
        link("./usr/bin/kubedeb-hi", "kubedeb-hello"),
        dir("./usr/lib/", d),
        dir("./usr/lib/kubedeb-test/", d),
        file("./usr/lib/kubedeb-test/payload.bin", f, BLOB_SIZE),
        dir("./usr/share/", d),
        dir("./usr/share/doc/", d),
        dir("./usr/share/doc/kubedeb-test/", d),
        file(
            "./usr/share/doc/kubedeb-test/changelog.Debian.gz",
            f,
            gzip_best(changelog().as_bytes()).len(),
        ),
        file(
            "./usr/share/doc/kubedeb-test/copyright",
            f,
            copyright().len(),
        ),
        dir("./usr/share/kubedeb-test/", d),
        link("./usr/share/kubedeb-test/deep-link", &long_target()),
        dir(&format!(".{deep1}/"), d),
        dir(&format!(".{deep}/"), d),
        file(&format!(".{}", deep_file()), f, 5),
        dir("./var/", d),
        dir("./var/lib/", d),
        dir("./var/lib/kubedeb-test/", "drwxr-x---"),
    ]
}

fn field(deb: &Path, name: &str) -> String {
    stdout(Command::new("dpkg-deb").arg("--field").arg(deb).arg(name))
        .trim_end()
        .to_string()
}

/// Everything a user of one compression depends on, checked with dpkg-deb and dpkg.
fn check_package(compression: Compression) {
    let fx = Fixture::new();
    let (_out, deb) = build(&fx, &opts(compression, None));
    let ext = compression.extension();

    let members = ar_members(&deb);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "debian-binary",
            &format!("control.tar.{ext}"),
            &format!("data.tar.{ext}")
        ]
    );
    assert_eq!(members[0].1, b"2.0\n");

    let listing = contents(&deb);
    assert!(listing.iter().any(|l| l.path.len() > 100));
    assert_eq!(listing, expected_listing());

    // Installed-Size is checked against dpkg-gencontrol by its own test.
    let installed_size = field(&deb, "Installed-Size");
    let control = stdout(Command::new("dpkg-deb").arg("--field").arg(&deb));
    assert_golden(
        "deb_writer/control",
        &control.replace(
            &format!("\nInstalled-Size: {installed_size}\n"),
            "\nInstalled-Size: (the value dpkg-deb --field prints)\n",
        ),
    );
    assert_eq!(field(&deb, "Package"), "kubedeb-test");
    assert_eq!(field(&deb, "Version"), "1.1.4-1");
    assert_eq!(field(&deb, "Depends"), "dash (>= 0.5), iptables | nftables");

    // `dpkg-deb --info` marks executable control members with '*'.
    let info = stdout(Command::new("dpkg-deb").arg("--info").arg(&deb));
    let control_members: Vec<(bool, &str)> = info
        .lines()
        .filter(|l| l.contains(" bytes, ") && l.contains(" lines "))
        .map(|l| {
            let after = l.split_once(" lines").unwrap().1.trim_start();
            match after.strip_prefix('*') {
                Some(rest) => (true, rest.split_whitespace().next().unwrap()),
                None => (false, after.split_whitespace().next().unwrap()),
            }
        })
        .collect();
    assert_eq!(
        control_members,
        [
            (false, "conffiles"),
            (false, "control"),
            (false, "md5sums"),
            (true, "postinst"),
            (true, "postrm")
        ],
        "{info}"
    );

    let extracted = tempfile::tempdir().unwrap();
    let root = extracted.path().join("root");
    extract_data(&deb, &root);
    for (path, bytes) in fx.expected_files() {
        let got = fs::read(root.join(path.trim_start_matches('/'))).unwrap();
        assert!(got == bytes, "{path} differs after extraction");
    }
    assert_eq!(
        fs::read_link(root.join("usr/share/kubedeb-test/deep-link")).unwrap(),
        Path::new(&long_target())
    );

    check_dpkg_install(&fx, &deb);
}

/// Install, remove and purge in a throw-away root, as an admin would.
fn check_dpkg_install(fx: &Fixture, deb: &Path) {
    let root = DpkgRoot::new();
    // The fresh root has no dash or coreutils installed; dependency resolution is apt's job.
    root.dpkg(&["--force-depends", "-i", deb.to_str().unwrap()]);
    for (path, bytes) in fx.expected_files() {
        assert!(fs::read(root.installed(&path)).unwrap() == bytes, "{path}");
    }
    let mode = |p: &str| {
        fs::metadata(root.installed(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("/usr/bin/kubedeb-hello"), 0o755);
    assert_eq!(mode("/var/lib/kubedeb-test"), 0o750);
    assert_eq!(
        fs::read_link(root.installed("/usr/bin/kubedeb-hi")).unwrap(),
        Path::new("kubedeb-hello")
    );
    assert_eq!(
        fs::read_to_string(root.installed("/var/lib/kubedeb-test/scripts.log")).unwrap(),
        "postinst configure\n"
    );

    let status = root.status_of(PACKAGE);
    assert!(status.contains("Status: install ok installed"), "{status}");
    let md5 = |data: &[u8]| {
        use md5::{Digest, Md5};
        hex::encode(Md5::digest(data))
    };
    let conffiles: Vec<String> = status
        .split_once("Conffiles:\n")
        .map(|(_, rest)| {
            rest.lines()
                .take_while(|l| l.starts_with(' '))
                .map(|l| l.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        conffiles,
        [
            format!("/etc/default/kubedeb-test {}", md5(DEFAULTS.as_bytes())),
            format!("/etc/kubedeb-test/config.toml {}", md5(CONFIG.as_bytes())),
        ],
        "{status}"
    );
    let listed = String::from_utf8(root.dpkg(&["-L", PACKAGE]).stdout).unwrap();
    assert!(listed.lines().any(|l| l == deep_file()), "{listed}");

    root.dpkg(&["-r", PACKAGE]);
    assert!(!root.installed("/usr/bin/kubedeb-hello").exists());
    assert!(!root.installed("/usr/lib/kubedeb-test/payload.bin").exists());
    assert!(!root.installed(&deep_file()).exists());
    assert!(fs::symlink_metadata(root.installed("/usr/bin/kubedeb-hi")).is_err());
    assert!(
        root.installed("/etc/kubedeb-test/config.toml").exists(),
        "conffile kept on remove"
    );
    let status = root.status_of(PACKAGE);
    assert!(
        status.contains("Status: deinstall ok config-files"),
        "{status}"
    );

    root.dpkg(&["-P", PACKAGE]);
    assert!(!root.installed("/etc/kubedeb-test/config.toml").exists());
    assert!(!root.installed("/etc/default/kubedeb-test").exists());
    assert!(
        !root.installed("/var/lib/kubedeb-test").exists(),
        "postrm purge ran"
    );
    let status = root.status_of(PACKAGE);
    assert!(
        status.is_empty() || status.contains("not-installed"),
        "{status}"
    );
}

#[test]
fn xz_package_is_read_and_installed_by_dpkg() {
    check_package(Compression::Xz);
}

#[test]
fn gzip_package_is_read_and_installed_by_dpkg() {
    check_package(Compression::Gzip);
}

#[test]
fn zstd_package_is_read_and_installed_by_dpkg() {
    check_package(Compression::Zstd);
}

#[test]
fn lintian_finds_no_error() {
    let fx = Fixture::new();
    let (_out, deb) = build(&fx, &opts(Compression::Xz, None));
    let out = run_any(
        Command::new("lintian")
            .args([
                "--allow-root",
                "--fail-on",
                "error",
                "--no-tag-display-limit",
            ])
            .arg(&deb),
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "lintian failed:\n{report}");
    assert!(!report.lines().any(|l| l.starts_with("E: ")), "{report}");
}

fn touch(path: &Path, time: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

fn source_paths(fx: &Fixture) -> Vec<PathBuf> {
    fx.spec
        .entries
        .iter()
        .filter_map(|e| match &e.kind {
            kubedeb::deb::EntryKind::File(Source::Path(p)) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// Header mtimes of every data.tar entry, as dpkg-deb hands the archive out.
fn data_mtimes(deb: &Path) -> Vec<(String, u64)> {
    let tarball = run(Command::new("dpkg-deb").arg("--fsys-tarfile").arg(deb)).stdout;
    let mut archive = tar::Archive::new(&tarball[..]);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                String::from_utf8(e.path_bytes().to_vec()).unwrap(),
                e.header().mtime().unwrap(),
            )
        })
        .collect()
}

#[test]
fn source_date_epoch_builds_are_byte_identical() {
    let fx = Fixture::new();
    for compression in ALL {
        let first = fs::read(build(&fx, &opts(compression, Some(EPOCH))).1).unwrap();
        // Newer source mtimes and a different thread count must not change a byte.
        let later = SystemTime::now() + Duration::from_secs(3600);
        for path in source_paths(&fx) {
            touch(&path, later);
        }
        let mut one_thread = opts(compression, Some(EPOCH));
        one_thread.threads = 1;
        let (_out, deb) = build(&fx, &one_thread);
        let second = fs::read(&deb).unwrap();
        assert!(first == second, "{compression:?} builds differ");
        let mtimes = data_mtimes(&deb);
        assert!(mtimes.iter().all(|(_, t)| *t == EPOCH), "{mtimes:?}");

        if compression == Compression::Gzip {
            for (name, member) in ar_members(&deb).into_iter().skip(1) {
                assert_eq!(&member[..3], &[0x1f, 0x8b, 8], "{name}");
                assert_eq!(
                    member[3] & 0x08,
                    0,
                    "{name} has a file name in its gzip header"
                );
                assert_eq!(&member[4..8], &[0, 0, 0, 0], "{name} has a gzip timestamp");
            }
        }
    }
}

#[test]
fn without_source_date_epoch_mtimes_are_clamped_to_now() {
    let fx = Fixture::new();
    let paths = source_paths(&fx);
    let old = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    touch(&paths[0], old);
    touch(
        &paths[1],
        SystemTime::now() + Duration::from_secs(86_400 * 365),
    );
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (_out, deb) = build(&fx, &opts(Compression::Gzip, None));
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (path, mtime) in data_mtimes(&deb) {
        if path == "./usr/bin/kubedeb-hello" {
            assert_eq!(mtime, 1_000_000_000, "an older file keeps its mtime");
        } else {
            assert!(
                (before..=after).contains(&mtime),
                "{path}: {mtime} not in {before}..={after}"
            );
        }
    }
}

#[test]
fn installed_size_matches_dpkg_gencontrol() {
    let fx = Fixture::new();
    let (_out, deb) = build(&fx, &opts(Compression::Zstd, None));
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    extract_data(&deb, &tree);
    let debian = work.path().join("debian");
    fs::create_dir(&debian).unwrap();
    fs::write(
        debian.join("control"),
        format!(
            "Source: {PACKAGE}\nMaintainer: {MAINTAINER}\n\n\
             Package: {PACKAGE}\nArchitecture: amd64\nDescription: x\n y\n"
        ),
    )
    .unwrap();
    fs::write(debian.join("changelog"), changelog()).unwrap();
    let generated = stdout(
        Command::new("dpkg-gencontrol")
            .arg(format!("-p{PACKAGE}"))
            .arg(format!("-P{}", tree.display()))
            .arg("-O")
            .current_dir(work.path()),
    );
    let theirs = generated
        .lines()
        .find_map(|l| l.strip_prefix("Installed-Size: "))
        .unwrap_or_else(|| panic!("no Installed-Size in\n{generated}"));
    assert_eq!(field(&deb, "Installed-Size"), theirs);
    // The payload alone is over 3 MiB: a sanity bound on the unit (KiB, not bytes or MiB).
    assert!(theirs.parse::<u64>().unwrap() > 3 * 1024);
}

#[test]
fn md5sums_match_md5sum_of_extracted_files() {
    let fx = Fixture::new();
    let (_out, deb) = build(&fx, &opts(Compression::Xz, Some(EPOCH)));
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    extract_data(&deb, &tree);
    let control = work.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    let ours = fs::read_to_string(control.join("md5sums")).unwrap();
    let files: Vec<String> = contents(&deb)
        .into_iter()
        .filter(|l| l.perms.starts_with('-'))
        .map(|l| l.path.trim_start_matches("./").to_string())
        .collect();
    assert_eq!(files.len(), fx.expected_files().len());
    let theirs = stdout(Command::new("md5sum").args(&files).current_dir(&tree));
    assert_eq!(ours, theirs);
    assert_eq!(
        fs::read_to_string(control.join("conffiles")).unwrap(),
        "/etc/default/kubedeb-test\n/etc/kubedeb-test/config.toml\n"
    );
    for script in ["postinst", "postrm"] {
        let mode = fs::metadata(control.join(script))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{script}");
    }
}

#[test]
fn failed_build_leaves_previous_package_and_no_temp_file() {
    let mut fx = Fixture::new();
    let out = tempfile::tempdir().unwrap();
    let deb = write_deb(&fx.spec, &opts(Compression::Gzip, None), out.path()).unwrap();
    let previous = fs::read(&deb).unwrap();

    // Sorted last, so the whole payload has been streamed before the failure.
    let missing = fx.src.path().join("not-there");
    fx.spec.entries.push(Entry::file(
        "/usr/share/zzz/missing",
        0o644,
        Source::Path(missing.clone()),
    ));
    fx.spec.entries[3] = Entry::file(
        format!("/etc/{PACKAGE}/config.toml"),
        0o644,
        Source::Bytes(b"changed\n".to_vec()),
    );
    let err = write_deb(&fx.spec, &opts(Compression::Gzip, None), out.path()).unwrap_err();
    assert!(matches!(err, DebError::ReadSource { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("/usr/share/zzz/missing") && message.contains(missing.to_str().unwrap()),
        "{message}"
    );
    assert_eq!(dir_listing(out.path()), ["kubedeb-test_1.1.4-1_amd64.deb"]);
    assert!(
        fs::read(&deb).unwrap() == previous,
        "previous package changed"
    );

    let empty = tempfile::tempdir().unwrap();
    write_deb(&fx.spec, &opts(Compression::Xz, None), empty.path()).unwrap_err();
    assert!(dir_listing(empty.path()).is_empty());
}

#[test]
fn bad_input_is_refused_with_a_clear_error_and_no_output() {
    type Change = Box<dyn Fn(&mut kubedeb::deb::PackageSpec)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "listed twice",
            Box::new(|s| s.entries.push(Entry::dir("/usr/bin/kubedeb-hi", 0o755))),
        ),
        (
            "relative",
            Box::new(|s| s.entries.push(Entry::dir("usr/lib/x", 0o755))),
        ),
        (
            "'..'",
            Box::new(|s| s.entries.push(Entry::dir("/usr/lib/../x", 0o755))),
        ),
        ("Version", Box::new(|s| s.control.version = "v1.1.4".into())),
        (
            "Section",
            Box::new(|s| s.control.section = Some("admin\nEvil: yes".into())),
        ),
        (
            "Package",
            Box::new(|s| s.control.package = "Kubedeb_Test".into()),
        ),
        (
            "Depends",
            Box::new(|s| s.control.depends.push("etcd (=> 2.2)".into())),
        ),
        (
            "postinst",
            Box::new(|s| s.scripts.postinst = Some("echo no shebang\n".into())),
        ),
    ];
    for (needle, change) in cases {
        let mut fx = Fixture::new();
        change(&mut fx.spec);
        let out = tempfile::tempdir().unwrap();
        let err = write_deb(&fx.spec, &opts(Compression::Xz, None), out.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
        assert!(
            dir_listing(out.path()).is_empty(),
            "{needle}: output left behind"
        );
    }

    let fx = Fixture::new();
    let err = write_deb(
        &fx.spec,
        &opts(Compression::Xz, None),
        Path::new("/nonexistent/kubedeb-out"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/kubedeb-out"),
        "{err}"
    );
}
