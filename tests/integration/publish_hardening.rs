//! Publish under stress: bursts never date the repository ahead of apt's clock, a key rotation
//! killed at any instant leaves states that verify, non-files and full disks are refused cleanly,
//! epoch collisions name the versions that collide.

use crate::harness::repo::*;
use crate::harness::tools::{need, run, run_any, text};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn public(repo: &Path) -> PathBuf {
    repo.join("public")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The served Release's Date as Unix time, parsed by date(1).
fn release_date(repo: &Path) -> (String, i64) {
    let text = fs::read_to_string(public(repo).join("dists/stable/Release")).unwrap();
    let release = stanzas(&text).remove(0);
    let date = field(&release, "Date").unwrap().to_string();
    let out = run(Command::new("date").args(["-u", "+%s", "-d", &date]));
    let when = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (date, when)
}

/// Stops the gpg-agents started for these homes, also when a test fails half-way.
struct AgentStop(Vec<PathBuf>);

impl Drop for AgentStop {
    fn drop(&mut self) {
        for home in &self.0 {
            stop_agent(home);
        }
    }
}

fn stop_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "gpg-agent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[test]
fn a_burst_of_publishes_never_dates_the_repository_ahead_of_the_clock() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let _agent = AgentStop(vec![repo.join("private/gnupg")]);
    let debs: Vec<PathBuf> = (1..=15)
        .map(|i| DebSpec::new("k8s-burst", &format!("{i}-1")).build(work.path()))
        .collect();
    // Unpacked first: the update must come right after the burst, before the clock catches up.
    let chroot = Chroot::new();
    let mut dates: Vec<(String, i64, i64)> = Vec::new();
    for deb in &debs {
        publish_ok(&repo, &[deb]);
        let (text, when) = release_date(&repo);
        dates.push((text, when, unix_now()));
    }
    // What the nodes see right after the burst: apt refuses a Release more than 10 s ahead.
    chroot.use_repo(&public(&repo), "stable");
    assert_clean(&chroot.update(), "apt-get update right after the burst");
    for (i, (text, when, now)) in dates.iter().enumerate() {
        assert!(
            when <= now,
            "publish {i}: Date {text} is {} s ahead of the clock: {dates:?}",
            when - now
        );
        if i > 0 {
            assert!(
                *when > dates[i - 1].1,
                "publish {i}: Date {text} does not move forward: {dates:?}"
            );
        }
    }
    let out = run(&mut chroot.command(&["apt-cache", "madison", "k8s-burst"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        15,
        "every version published in the burst is visible"
    );
}

/// A signing key with no passphrase, generated in `home` and exported (secret) to a file.
fn new_key_file(home: &Path, file: &Path) -> String {
    let fpr = secret_key_file(home, "Rotated Signer <rotated@example.invalid>", file);
    stop_agent(home);
    fpr
}

/// Fingerprints of the primary keys in a binary keyring.
fn keyring_fingerprints(keyring: &Path) -> Vec<String> {
    let out = run(Command::new("gpg")
        .args(["--batch", "--with-colons", "--show-keys"])
        .arg(keyring));
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut out = Vec::new();
    let mut after_pub = false;
    for line in listing.lines() {
        if line.starts_with("pub:") {
            after_pub = true;
        } else if line.starts_with("fpr:") && after_pub {
            out.push(line.split(':').nth(9).unwrap().to_string());
            after_pub = false;
        }
    }
    out
}

/// gpgv of the served InRelease and Release.gpg with the served keyring: what apt checks.
fn served_signatures_verify(repo: &Path) -> Result<(), String> {
    let keyring = public(repo).join(KEYRING);
    let dists = public(repo).join("dists/stable");
    for args in [
        vec![dists.join("InRelease")],
        vec![dists.join("Release.gpg"), dists.join("Release")],
    ] {
        let out = run_any(
            Command::new("gpgv")
                .arg("--keyring")
                .arg(&keyring)
                .args(&args),
        );
        if !out.status.success() {
            return Err(format!("{args:?} does not verify:\n{}", text(&out)));
        }
    }
    Ok(())
}

/// A small deterministic generator, seeded from the clock and printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const ROTATION_TRIALS: u64 = 40;

#[test]
fn a_key_rotation_killed_at_any_instant_leaves_a_verifiable_repository() {
    need("gpgv");
    let work = tempfile::tempdir().unwrap();
    let template = work.path().join("template");
    let key_home = work.path().join("key-home");
    let mut agents = AgentStop(vec![template.join("private/gnupg"), key_home.clone()]);
    let key_file = work.path().join("rotated.asc");
    let new_fpr = new_key_file(&key_home, &key_file);
    publish_ok(
        &template,
        &[&DebSpec::new("base", "1-1").build(work.path())],
    );
    stop_agent(&template.join("private/gnupg"));
    let old_fpr = keyring_fingerprints(&public(&template).join(KEYRING));
    assert_eq!(old_fpr.len(), 1, "{old_fpr:?}");
    assert_ne!(old_fpr[0], new_fpr);
    let deb = DebSpec::new("k8s-rotate", "1-1")
        .compression("none")
        .filler(256 << 10)
        .build(work.path());
    let rotate = |repo: &Path| {
        let mut cmd = publish_cmd(repo);
        cmd.arg("--key").arg(&key_file).arg(&deb);
        cmd
    };
    let fresh_copy = |name: &str| {
        let copy = work.path().join(name);
        run(Command::new("cp").arg("-a").arg(&template).arg(&copy));
        copy
    };

    // An uninterrupted rotation: apt in a Debian 12 root accepts it with the served keyring.
    let whole = fresh_copy("whole");
    agents.0.push(whole.join("private/gnupg"));
    let mut times = Vec::new();
    for i in 0..3 {
        let copy = fresh_copy(&format!("measure-{i}"));
        agents.0.push(copy.join("private/gnupg"));
        let start = Instant::now();
        run(&mut rotate(&copy));
        times.push(start.elapsed());
        stop_agent(&copy.join("private/gnupg"));
        fs::remove_dir_all(&copy).unwrap();
    }
    times.sort();
    let typical = times[1];
    run(&mut rotate(&whole));
    assert_eq!(
        keyring_fingerprints(&public(&whole).join(KEYRING)),
        vec![new_fpr.as_str()],
        "after the rotation only the new key is served"
    );
    let chroot = Chroot::new();
    chroot.use_repo(&public(&whole), "stable");
    assert_clean(&chroot.update(), "apt-get update after the rotation");

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    println!("typical rotation {typical:?}, seed {seed}");
    let (mut old_signed, mut new_signed) = (0, 0);
    for trial in 1..=ROTATION_TRIALS {
        let repo = fresh_copy(&format!("trial-{trial}"));
        let home = repo.join("private/gnupg");
        agents.0.push(home.clone());
        // Stratified over the whole rotation and a little past it, as in publish_kill.
        let span = typical.as_micros() as u64 * 12 / 10;
        let slice = span / ROTATION_TRIALS;
        let delay = Duration::from_micros((trial - 1) * slice + rng.next() % (slice + 1));
        let mut child = rotate(&repo)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let exited = child.try_wait().unwrap();
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        if let Some(status) = exited {
            assert!(status.success(), "trial {trial}: {}", text(&out));
        }
        stop_agent(&home);

        if let Err(e) = served_signatures_verify(&repo) {
            panic!("trial {trial} (killed after {delay:?}): {e}");
        }
        let apt = HostApt::new(&public(&repo), "stable");
        let update = apt.update();
        assert!(
            update.status.success() && !text(&update).contains("\nW:"),
            "trial {trial} (killed after {delay:?}): apt-get update fails:\n{}",
            text(&update)
        );
        let listed = published_set(&public(&repo), "stable");
        if listed.iter().any(|(p, _, _)| p == "k8s-rotate") {
            new_signed += 1;
        } else {
            old_signed += 1;
        }

        // The next rotation tidies up: only the new key is served, and it verifies.
        run(&mut rotate(&repo));
        stop_agent(&home);
        served_signatures_verify(&repo).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        assert_eq!(
            keyring_fingerprints(&public(&repo).join(KEYRING)),
            vec![new_fpr.as_str()],
            "trial {trial}: the old key is still served"
        );
        fs::remove_dir_all(&repo).unwrap();
    }
    println!("{ROTATION_TRIALS} trials: {old_signed} old state, {new_signed} new state");
    assert!(
        old_signed > 0 && new_signed > 0,
        "the kills did not spread over the rotation"
    );
}

/// Runs a publish that must end on its own within `limit`; kills it and fails otherwise.
fn publish_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("publish still running after {limit:?}:\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_fifo_or_a_directory_given_as_a_deb_is_refused_without_waiting() {
    need("mkfifo");
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let _agent = AgentStop(vec![repo.join("private/gnupg")]);
    publish_ok(&repo, &[&DebSpec::new("base", "1-1").build(work.path())]);
    let good = DebSpec::new("k8s-master", "1.1.4-1").build(work.path());
    let fifo = work.path().join("k8s-minion.deb");
    run(Command::new("mkfifo").arg(&fifo));
    let dir = work.path().join("k8s-flannel.deb");
    fs::create_dir(&dir).unwrap();
    let before = snapshot(&repo);
    for (bad, kind) in [(&fifo, "FIFO"), (&dir, "directory")] {
        let out = publish_within(
            publish_cmd(&repo).arg(&good).arg(bad),
            Duration::from_secs(20),
        );
        assert!(!out.status.success(), "{}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&bad.display().to_string())
                && err.contains(kind)
                && err.contains("not a regular file"),
            "{err}"
        );
        let after = snapshot(&repo);
        assert_eq!(before, after, "{}", snapshot_diff(&before, &after));
    }
}

/// A small tmpfs over `dir`, unmounted on drop so a failing test leaves no mount behind.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn new(dir: &Path, size: &str) -> Self {
        need("mount");
        fs::create_dir_all(dir).unwrap();
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir));
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        stop_agent(&self.0.join("private/gnupg"));
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn partials(dir: &Path) -> Vec<String> {
    snapshot(dir)
        .into_keys()
        .filter(|k| k.ends_with(".partial"))
        .collect()
}

#[test]
fn a_copy_that_fills_the_disk_leaves_no_partial_file() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let _disk = SmallDisk::new(&repo, "3m");
    publish_ok(&repo, &[&DebSpec::new("base", "1-1").build(work.path())]);
    let big = DebSpec::new("k8s-big", "1-1")
        .compression("none")
        .filler(4 << 20)
        .build(work.path());
    let before = published_set(&public(&repo), "stable");
    let out = publish(&repo, &[&big]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("No space left"), "{}", text(&out));
    assert_eq!(
        partials(&repo),
        Vec::<String>::new(),
        "the failed copy left its partial file, and the disk stays full"
    );
    assert_eq!(published_set(&public(&repo), "stable"), before);
    assert!(served_signatures_verify(&repo).is_ok());

    // A partial file a killed copy left, journal or not, goes with the next publish.
    let stale = public(&repo).join("pool/main/b/base/.base_0-1_amd64.deb.partial");
    fs::write(&stale, vec![0u8; 1 << 20]).unwrap();
    publish_ok(&repo, &[&DebSpec::new("small", "1-1").build(work.path())]);
    assert_eq!(partials(&repo), Vec::<String>::new());
    assert!(served_signatures_verify(&repo).is_ok());
}

#[test]
fn an_epoch_collision_names_the_versions_that_really_collide() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let _agent = AgentStop(vec![repo.join("private/gnupg")]);
    let plain = DebSpec::new("k8s-epoch", "2.0-1").build(work.path());
    let epoch = DebSpec::new("k8s-epoch", "1:2.0-1").build(work.path());
    publish_ok(&repo, &[&plain]);
    let before = snapshot(&repo);
    let out = publish(&repo, &[&epoch]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        !err.contains("already has k8s-epoch 1:2.0-1"),
        "names a version that is not published: {err}"
    );
    assert!(
        err.contains("already has k8s-epoch 2.0-1 ")
            && err.contains("k8s-epoch 1:2.0-1")
            && err.contains("epoch")
            && err.contains("pool/main/k/k8s-epoch/k8s-epoch_2.0-1_amd64.deb"),
        "{err}"
    );
    let after = snapshot(&repo);
    assert_eq!(before, after, "{}", snapshot_diff(&before, &after));

    // Both in one call: refused before anything is written, naming both files and versions.
    let fresh = work.path().join("fresh");
    let out = publish(&fresh, &[&plain, &epoch]);
    assert!(
        !out.status.success(),
        "two debs for one pool file were both published:\n{}",
        text(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains(&plain.display().to_string())
            && err.contains(&epoch.display().to_string())
            && err.contains("is k8s-epoch 2.0-1 ")
            && err.contains("is k8s-epoch 1:2.0-1 "),
        "{err}"
    );
    assert!(!fresh.exists(), "a refused publish created the repository");
}
