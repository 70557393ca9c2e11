//! A publish killed (SIGKILL) at any moment leaves a repository apt accepts, publishing exactly
//! the old or the new package set; the next publish tidies what the killed one left.

use crate::harness::repo::*;
use crate::harness::tools::{run, text};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRIALS: u64 = 50;
const KEEP: usize = 3;

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

fn versions_of(set: &BTreeSet<(String, String, String)>, package: &str) -> BTreeSet<u64> {
    set.iter()
        .filter(|(p, _, _)| p == package)
        .map(|(_, v, _)| v.trim_end_matches("-1").parse().unwrap())
        .collect()
}

/// The set `--keep KEEP` leaves after adding `version`.
fn expected_after(old: &BTreeSet<u64>, version: u64) -> BTreeSet<u64> {
    let mut all: Vec<u64> = old.iter().copied().chain([version]).collect();
    all.sort();
    all.into_iter().rev().take(KEEP).collect()
}

fn kill_deb(dir: &Path, version: u64) -> PathBuf {
    DebSpec::new("k8s-kill", &format!("{version}-1"))
        .compression("none")
        .filler(64 << 10)
        .build(dir)
}

/// Stops the agent a killed publish left running, also when the test fails half-way.
struct AgentStop(PathBuf);

impl Drop for AgentStop {
    fn drop(&mut self) {
        stop_agent(&self.0);
    }
}

fn stop_agent(repo: &Path) {
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(repo.join("private/gnupg"))
        .args(["--kill", "gpg-agent"])
        .status();
}

/// How long an uninterrupted publish of one new deb takes here (median of five, into copies).
fn typical_duration(work: &Path, repo: &Path) -> Duration {
    let mut times = Vec::new();
    for i in 0..5 {
        let copy = work.join(format!("measure-{i}"));
        run(Command::new("cp").arg("-a").arg(repo).arg(&copy));
        let deb = kill_deb(work, 900 + i);
        let start = Instant::now();
        run(publish_cmd(&copy).args(["--keep", "3"]).arg(&deb));
        times.push(start.elapsed());
        stop_agent(&copy);
        fs::remove_dir_all(&copy).unwrap();
    }
    times.sort();
    times[2]
}

#[test]
fn a_killed_publish_leaves_the_old_or_the_new_state() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let public = repo.join("public");
    let _agent = AgentStop(repo.clone());
    let base = DebSpec::new("base", "1-1").build(work.path());
    publish_ok(&repo, &[&base, &kill_deb(work.path(), 0)]);
    let typical = typical_duration(work.path(), &repo);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    println!("typical publish {typical:?}, seed {seed}");

    let apt = HostApt::new(&public, "stable");
    let (mut old_outcomes, mut new_outcomes, mut finished) = (0, 0, 0);
    for trial in 1..=TRIALS {
        let deb = kill_deb(work.path(), trial);
        let before = published_set(&public, "stable");
        let old = versions_of(&before, "k8s-kill");
        let new = expected_after(&old, trial);
        // Stratified over the whole publish and a little past its end: trial k lands at a
        // random point of the k-th slice, so no phase of the publish goes untested.
        let span = typical.as_micros() as u64 * 12 / 10;
        let slice = span / TRIALS;
        let delay = Duration::from_micros((trial - 1) * slice + rng.next() % (slice + 1));
        let mut child = publish_cmd(&repo)
            .args(["--keep", "3"])
            .arg(&deb)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let exited_before_kill = child.try_wait().unwrap();
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        if let Some(status) = exited_before_kill {
            assert!(
                status.success(),
                "trial {trial}: publish failed on its own:\n{}",
                text(&out)
            );
            finished += 1;
        }

        let update = apt.update();
        assert!(
            update.status.success(),
            "trial {trial} (killed after {delay:?}): apt-get update fails:\n{}",
            text(&update)
        );
        let seen = apt.versions("k8s-kill");
        let seen: BTreeSet<u64> = seen
            .iter()
            .map(|v| v.trim_end_matches("-1").parse().unwrap())
            .collect();
        let on_disk = published_set(&public, "stable");
        assert_eq!(
            versions_of(&on_disk, "k8s-kill"),
            seen,
            "trial {trial}: apt and the index disagree"
        );
        assert_eq!(
            on_disk.iter().filter(|(p, _, _)| p == "base").count(),
            1,
            "trial {trial}: base lost"
        );
        if seen == old {
            assert!(
                exited_before_kill.is_none(),
                "trial {trial}: a finished publish left the old state"
            );
            old_outcomes += 1;
        } else {
            assert_eq!(
                seen, new,
                "trial {trial} (killed after {delay:?}): neither old {old:?} nor new {new:?}"
            );
            new_outcomes += 1;
        }
    }
    println!("{TRIALS} trials: {old_outcomes} old state, {new_outcomes} new state ({finished} finished before the kill)");
    assert!(
        old_outcomes > 0 && new_outcomes > 0,
        "the kills did not spread over the publish"
    );

    // One more publish tidies everything the killed ones left behind.
    publish_ok(&repo, &[&kill_deb(work.path(), TRIALS + 1)]);
    stop_agent(&repo);
    assert!(apt.update().status.success());
    let files = snapshot(&repo);
    let leftovers: Vec<&String> = files
        .keys()
        .filter(|k| k.contains(".partial") || k.ends_with(".link"))
        .collect();
    assert!(leftovers.is_empty(), "leftovers: {leftovers:?}");
    assert!(!repo.join(".journal").exists());
    let states = fs::read_dir(public.join("dists/.states/stable"))
        .unwrap()
        .count();
    assert_eq!(states, 1, "old or unfinished states left");
    let pool: BTreeSet<String> = files
        .iter()
        .filter(|(k, v)| k.starts_with("public/pool/") && v.starts_with("file"))
        .map(|(k, _)| k.trim_start_matches("public/").to_string())
        .collect();
    let indexed: BTreeSet<String> = stanzas(
        &fs::read_to_string(public.join("dists/stable/main/binary-amd64/Packages")).unwrap(),
    )
    .iter()
    .map(|s| field(s, "Filename").unwrap().to_string())
    .collect();
    assert_eq!(pool, indexed, "the pool holds exactly the indexed files");
}
