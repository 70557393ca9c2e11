//! What a publish will do, decided from the repository's state and the new debs without touching a file.

use super::debfile::DebFile;
use super::error::{Clash, RepoError};
use super::index;
use super::layout::{self, State};
use crate::debian::deb822::Paragraph;
use crate::debian::fields;
use crate::debian::version;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A package in one architecture: `--keep` counts the versions of each.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageKey {
    pub name: String,
    pub arch: String,
}

/// What one Packages stanza is published under. Field order gives the order the tuple
/// (package, version, architecture) had, so states read back list their entries as before.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryKey {
    pub name: String,
    pub version: String,
    pub arch: String,
}

impl EntryKey {
    /// The key a stanza is published under; missing fields are empty.
    pub fn of(p: &Paragraph) -> EntryKey {
        let f = |n: &str| p.get(n).unwrap_or_default().to_string();
        EntryKey {
            name: f("Package"),
            version: f("Version"),
            arch: f("Architecture"),
        }
    }

    pub fn of_deb(deb: &DebFile) -> EntryKey {
        EntryKey {
            name: deb.package.clone(),
            version: deb.version.clone(),
            arch: deb.architecture.clone(),
        }
    }

    pub fn package(&self) -> PackageKey {
        PackageKey {
            name: self.name.clone(),
            arch: self.arch.clone(),
        }
    }
}

/// A package as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PublishedPackage {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// Relative to the public dir, e.g. `pool/main/k/k8s-master/k8s-master_1.1.4-1_amd64.deb`.
    pub filename: String,
}

impl PublishedPackage {
    fn of(p: &Paragraph) -> PublishedPackage {
        let key = EntryKey::of(p);
        PublishedPackage {
            package: key.name,
            version: key.version,
            architecture: key.arch,
            filename: filename(p).to_string(),
        }
    }
}

fn filename(p: &Paragraph) -> &str {
    p.get("Filename").unwrap_or_default()
}

fn sha256(p: &Paragraph) -> &str {
    p.get("SHA256").unwrap_or_default()
}

/// A package the publish adds to the suite.
#[derive(Debug, Clone)]
pub struct Addition<'d> {
    pub package: PublishedPackage,
    /// The deb to copy into the pool; `None` when another suite already put that file there.
    pub copy_from: Option<&'d DebFile>,
}

/// Everything a publish changes, decided before the first write.
#[derive(Debug, Clone)]
pub struct Plan<'d> {
    /// The stanzas the new state lists, in Debian's index order.
    pub entries: Vec<Paragraph>,
    pub added: Vec<Addition<'d>>,
    /// Given again with identical content: nothing to do for them.
    pub unchanged: Vec<PublishedPackage>,
    /// Removed by `keep`.
    pub pruned: Vec<PublishedPackage>,
    /// Pruned pool files no suite lists any more: deleted once the new state is switched in.
    pub unreferenced: Vec<String>,
    /// The generation of the new state.
    pub generation: u64,
    /// The Release date of the state published now, if any: the new one must be later.
    pub previous_date: Option<i64>,
    first: bool,
}

impl Plan<'_> {
    /// True when publishing would leave the repository exactly as it is: nothing added or
    /// pruned, the suite exists, it is signed by the wanted key, and the key of every served
    /// state is known.
    pub fn is_noop(&self, same_signer: bool, keys_known: bool) -> bool {
        self.added.is_empty() && self.pruned.is_empty() && !self.first && same_signer && keys_known
    }

    /// Pool files this publish may create or delete: what a killed run leaves is among them.
    pub fn touched(&self) -> Vec<&str> {
        self.added
            .iter()
            .filter(|a| a.copy_from.is_some())
            .map(|a| a.package.filename.as_str())
            .chain(self.pruned.iter().map(|p| p.filename.as_str()))
            .collect()
    }

    /// The debs to copy and the pool path (relative to the public dir) each goes to.
    pub fn copies(&self) -> impl Iterator<Item = (&DebFile, &str)> {
        self.added
            .iter()
            .filter_map(|a| a.copy_from.map(|deb| (deb, a.package.filename.as_str())))
    }
}

/// The same file given twice is fine; two different files claiming one version are not, nor
/// two versions that differ only in the epoch (the pool file name leaves it out).
pub fn unique_inputs(debs: Vec<DebFile>) -> Result<Vec<DebFile>, RepoError> {
    let mut seen: HashMap<EntryKey, DebFile> = HashMap::new();
    let mut pool_files: HashMap<String, DebFile> = HashMap::new();
    let mut out = Vec::new();
    for deb in debs {
        let key = EntryKey::of_deb(&deb);
        let pool_file = layout::pool_path(&deb.package, &deb.version, &deb.architecture);
        let first = seen.get(&key).or_else(|| pool_files.get(&pool_file));
        match first {
            Some(first) if first.sha256 == deb.sha256 && first.version == deb.version => continue,
            Some(first) => {
                return Err(RepoError::ConflictingInputs(Box::new(Clash {
                    first: Some(first.path.clone()),
                    first_version: first.version.clone(),
                    first_sha256: first.sha256.clone(),
                    package: deb.package,
                    version: deb.version,
                    arch: deb.architecture,
                    second: deb.path,
                    second_sha256: deb.sha256,
                    pool_file,
                })))
            }
            None => {
                seen.insert(key, deb.clone());
                pool_files.insert(pool_file, deb.clone());
                out.push(deb);
            }
        }
    }
    Ok(out)
}

/// Merges `inputs` into the suite's `current` state and applies `keep`. `others` are the other
/// suites' states: the pool is shared, so a file they list keeps its content and is never deleted.
pub fn plan<'d>(
    current: Option<&State>,
    others: &[&State],
    inputs: &'d [DebFile],
    keep: Option<usize>,
) -> Result<Plan<'d>, RepoError> {
    // Pool file -> (SHA256, version) of what holds it: the pool name leaves out the epoch, so
    // the version there may differ from the one that claims the file.
    let mut pool: HashMap<String, (String, String)> = HashMap::new();
    for state in others.iter().copied().chain(current) {
        for entry in &state.entries {
            pool.insert(
                filename(entry).to_string(),
                (sha256(entry).to_string(), EntryKey::of(entry).version),
            );
        }
    }
    let mut entries: BTreeMap<EntryKey, Paragraph> = current
        .map(|c| {
            c.entries
                .iter()
                .map(|e| (EntryKey::of(e), e.clone()))
                .collect()
        })
        .unwrap_or_default();

    let mut unchanged = Vec::new();
    let mut added = Vec::new();
    for deb in inputs {
        let key = EntryKey::of_deb(deb);
        let filename = layout::pool_path(&deb.package, &deb.version, &deb.architecture);
        let indexed = entries.get(&key);
        let published = indexed
            .map(|e| (sha256(e).to_string(), deb.version.clone()))
            .or_else(|| pool.get(&filename).cloned());
        match published {
            Some((sha, held_by)) if sha != deb.sha256 => {
                return Err(RepoError::DuplicateVersion(Box::new(Clash {
                    package: deb.package.clone(),
                    version: deb.version.clone(),
                    arch: deb.architecture.clone(),
                    first: None,
                    first_version: held_by,
                    first_sha256: sha,
                    second: deb.path.clone(),
                    second_sha256: deb.sha256.clone(),
                    pool_file: filename,
                })))
            }
            Some(_) if indexed.is_some() => {
                unchanged.push(PublishedPackage::of(indexed.expect("checked")))
            }
            in_pool => {
                let stanza = fields::package_stanza(
                    &deb.control,
                    &[
                        ("Filename", filename),
                        ("Size", deb.size.to_string()),
                        ("MD5sum", deb.md5.clone()),
                        ("SHA256", deb.sha256.clone()),
                    ],
                );
                added.push(Addition {
                    package: PublishedPackage::of(&stanza),
                    // Already in the pool through another suite: index it, no copy.
                    copy_from: in_pool.is_none().then_some(deb),
                });
                entries.insert(key, stanza);
            }
        }
    }

    let mut pruned = Vec::new();
    if let Some(keep) = keep {
        let mut lines: BTreeMap<PackageKey, Vec<EntryKey>> = BTreeMap::new();
        for key in entries.keys() {
            lines.entry(key.package()).or_default().push(key.clone());
        }
        for (_, mut keys) in lines {
            keys.sort_by(|a, b| version::compare(&b.version, &a.version));
            for key in keys.into_iter().skip(keep) {
                let gone = PublishedPackage::of(&entries.remove(&key).expect("key from the map"));
                // A new deb older than the kept versions is simply not added.
                match added.iter().position(|a| a.package == gone) {
                    Some(pos) => {
                        added.remove(pos);
                    }
                    None => pruned.push(gone),
                }
            }
        }
    }

    let mut entries: Vec<Paragraph> = entries.into_values().collect();
    index::sort_entries(&mut entries);
    let referenced: BTreeSet<&str> = entries
        .iter()
        .chain(others.iter().flat_map(|s| &s.entries))
        .map(filename)
        .collect();
    let unreferenced = pruned
        .iter()
        .filter(|p| !referenced.contains(p.filename.as_str()))
        .map(|p| p.filename.clone())
        .collect();
    Ok(Plan {
        entries,
        added,
        unchanged,
        pruned,
        unreferenced,
        generation: current.map_or(1, |c| c.generation + 1),
        previous_date: current.and_then(|c| c.date),
        first: current.is_none(),
    })
}

/// How long a publish may wait for the clock to pass the previous Release date. Dates have
/// 1-second resolution, so in normal operation the wait is under a second.
pub const MAX_DATE_WAIT_SECS: i64 = 2;

/// The Release date of a new state and whether the clock must first reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseDate {
    pub date: i64,
    /// Sign only once the clock has reached `date`.
    pub wait: bool,
}

/// The new Release date from `base` (now, or `SOURCE_DATE_EPOCH`), the previous state's date and
/// the real clock.
///
/// apt refuses a Release dated more than 10 s ahead of its own clock ("not valid yet"), and a
/// Release dated before the one it has is taken for a stale mirror and silently ignored (apt's
/// check is `last > new`; an equal date is accepted). So the date is never ahead of the clock
/// and never before the previous one. Of the two ways to meet both when publishes come within
/// one second, waiting for the next second beats reusing the same one: every state keeps a
/// Date of its own, strictly increasing, so apt, mirrors and our own plan can still tell which
/// of two states is newer, and the cost is under a second per publish in a burst. A previous
/// date far ahead (written by an older kubedeb, or the clock was set back) is reused rather than
/// waited out or undercut: going back would make clients that have it ignore the update.
pub fn release_date(base: i64, previous: Option<i64>, clock: i64) -> ReleaseDate {
    let floor = previous.map_or(i64::MIN, |p| p.saturating_add(1));
    let date = base.min(clock).max(floor);
    match previous {
        Some(previous) if date - clock > MAX_DATE_WAIT_SECS => ReleaseDate {
            date: previous,
            wait: false,
        },
        _ => ReleaseDate {
            date,
            wait: date > clock,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn deb(name: &str, version: &str, sha: &str) -> DebFile {
        DebFile {
            path: PathBuf::from(format!("dist/{name}_{version}.deb")),
            control: vec![
                ("Package".into(), name.into()),
                ("Version".into(), version.into()),
                ("Architecture".into(), "amd64".into()),
            ],
            package: name.into(),
            version: version.into(),
            architecture: "amd64".into(),
            size: 10,
            md5: "md5".into(),
            sha256: sha.into(),
        }
    }

    fn stanza(name: &str, version: &str, sha: &str) -> Paragraph {
        fields::package_stanza(
            &deb(name, version, sha).control,
            &[
                ("Filename", layout::pool_path(name, version, "amd64")),
                ("SHA256", sha.into()),
            ],
        )
    }

    fn state(generation: u64, entries: Vec<Paragraph>) -> State {
        State {
            generation,
            dir: PathBuf::from(format!("dists/.states/stable/{generation}-x")),
            date: Some(1000),
            entries,
            md5_files: Vec::new(),
            sha256_files: Vec::new(),
        }
    }

    fn versions(packages: &[PublishedPackage]) -> Vec<&str> {
        packages.iter().map(|p| p.version.as_str()).collect()
    }

    fn added_versions<'a>(plan: &'a Plan) -> Vec<&'a str> {
        plan.added
            .iter()
            .map(|a| a.package.version.as_str())
            .collect()
    }

    #[test]
    fn a_first_publish_adds_and_copies_everything() {
        let inputs = [
            deb("k8s-master", "1.1.4-1", "a"),
            deb("k8s-minion", "1.1.4-1", "b"),
        ];
        let plan = plan(None, &[], &inputs, None).unwrap();
        assert_eq!(added_versions(&plan), ["1.1.4-1", "1.1.4-1"]);
        assert_eq!(plan.copies().count(), 2);
        assert_eq!(plan.generation, 1);
        assert_eq!(
            plan.touched(),
            [
                "pool/main/k/k8s-master/k8s-master_1.1.4-1_amd64.deb",
                "pool/main/k/k8s-minion/k8s-minion_1.1.4-1_amd64.deb"
            ]
        );
        // Nothing added yet, but no suite exists: never a no-op.
        assert!(!plan.is_noop(true, true));
    }

    #[test]
    fn the_same_deb_again_changes_nothing() {
        let current = state(4, vec![stanza("k8s-master", "1.1.4-1", "a")]);
        let inputs = [deb("k8s-master", "1.1.4-1", "a")];
        let plan = plan(Some(&current), &[], &inputs, None).unwrap();
        assert!(plan.added.is_empty());
        assert_eq!(versions(&plan.unchanged), ["1.1.4-1"]);
        assert_eq!(plan.generation, 5);
        assert_eq!(plan.previous_date, Some(1000));
        assert!(plan.is_noop(true, true));
        assert!(!plan.is_noop(false, true), "a new key re-signs");
        assert!(
            !plan.is_noop(true, false),
            "a lost keyring is exported again"
        );
    }

    #[test]
    fn another_content_under_a_published_version_is_refused() {
        let current = state(1, vec![stanza("k8s-master", "1.1.4-1", "a")]);
        let inputs = [deb("k8s-master", "1.1.4-1", "other")];
        let err = plan(Some(&current), &[], &inputs, None).unwrap_err();
        assert!(matches!(err, RepoError::DuplicateVersion(c) if c.first_sha256 == "a"));
    }

    #[test]
    fn the_pool_of_other_suites_is_shared() {
        let testing = state(1, vec![stanza("k8s-master", "1.1.4-1", "a")]);
        let inputs = [deb("k8s-master", "1.1.4-1", "a")];
        let plan = plan(None, &[&testing], &inputs, None).unwrap();
        assert_eq!(added_versions(&plan), ["1.1.4-1"]);
        assert_eq!(plan.copies().count(), 0, "the file is in the pool already");
        assert!(plan.touched().is_empty());

        let inputs = [deb("k8s-master", "1.1.4-1", "b")];
        let err = super::plan(None, &[&testing], &inputs, None).unwrap_err();
        assert!(matches!(err, RepoError::DuplicateVersion(_)));
    }

    #[test]
    fn keep_prunes_the_oldest_by_debian_order() {
        let current = state(
            1,
            vec![
                stanza("k8s-master", "1.9-1", "a"),
                stanza("k8s-master", "1.10-1", "b"),
                stanza("k8s-minion", "1.0-1", "c"),
            ],
        );
        let inputs = [deb("k8s-master", "1.11-1", "d")];
        let plan = plan(Some(&current), &[], &inputs, Some(2)).unwrap();
        assert_eq!(added_versions(&plan), ["1.11-1"]);
        assert_eq!(versions(&plan.pruned), ["1.9-1"]);
        assert_eq!(
            plan.unreferenced,
            ["pool/main/k/k8s-master/k8s-master_1.9-1_amd64.deb"]
        );
        let listed: Vec<EntryKey> = plan.entries.iter().map(EntryKey::of).collect();
        assert_eq!(
            listed
                .iter()
                .map(|k| format!("{} {}", k.name, k.version))
                .collect::<Vec<_>>(),
            ["k8s-master 1.10-1", "k8s-master 1.11-1", "k8s-minion 1.0-1"]
        );
    }

    #[test]
    fn a_new_deb_older_than_what_is_kept_is_not_added() {
        let current = state(1, vec![stanza("k8s-master", "2-1", "a")]);
        let inputs = [deb("k8s-master", "1-1", "b")];
        let plan = plan(Some(&current), &[], &inputs, Some(1)).unwrap();
        assert!(plan.added.is_empty());
        assert!(plan.pruned.is_empty());
        assert!(plan.is_noop(true, true));
    }

    #[test]
    fn a_pruned_file_another_suite_lists_stays_in_the_pool() {
        let old = stanza("k8s-master", "1-1", "a");
        let current = state(1, vec![old.clone()]);
        let testing = state(1, vec![old]);
        let inputs = [deb("k8s-master", "2-1", "b")];
        let plan = plan(Some(&current), &[&testing], &inputs, Some(1)).unwrap();
        assert_eq!(versions(&plan.pruned), ["1-1"]);
        assert!(plan.unreferenced.is_empty());
        // Still journaled: a killed run re-checks it against every suite.
        assert_eq!(plan.touched().len(), 2);
    }

    #[test]
    fn inputs_repeat_only_with_the_same_content() {
        let same = vec![deb("k8s-master", "1-1", "a"), deb("k8s-master", "1-1", "a")];
        assert_eq!(unique_inputs(same).unwrap().len(), 1);
        let clash = vec![deb("k8s-master", "1-1", "a"), deb("k8s-master", "1-1", "b")];
        assert!(matches!(
            unique_inputs(clash),
            Err(RepoError::ConflictingInputs(_))
        ));
    }

    #[test]
    fn an_epoch_collision_names_the_version_that_holds_the_pool_file() {
        let current = state(1, vec![stanza("k8s-master", "2.0-1", "a")]);
        let inputs = [deb("k8s-master", "1:2.0-1", "b")];
        let err = plan(Some(&current), &[], &inputs, None).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, RepoError::DuplicateVersion(c) if c.first_version == "2.0-1"),
            "{text}"
        );
        assert!(text.contains("already has k8s-master 2.0-1 "), "{text}");
        assert!(text.contains("epoch"), "{text}");

        // Two new debs that would share one pool file are refused before anything is written.
        let inputs = vec![
            deb("k8s-master", "3.0-1", "c"),
            deb("k8s-master", "1:3.0-1", "d"),
        ];
        let err = unique_inputs(inputs).unwrap_err();
        let text = err.to_string();
        assert!(matches!(&err, RepoError::ConflictingInputs(_)), "{text}");
        assert!(
            text.contains("is k8s-master 3.0-1 ") && text.contains("is k8s-master 1:3.0-1 "),
            "{text}"
        );
    }

    #[test]
    fn release_dates_move_forward_and_never_ahead_of_the_clock() {
        let at = |date, wait| ReleaseDate { date, wait };
        // The clock, or SOURCE_DATE_EPOCH when it is earlier.
        assert_eq!(release_date(500, None, 500), at(500, false));
        assert_eq!(release_date(400, None, 500), at(400, false));
        assert_eq!(release_date(2000, Some(1000), 2000), at(2000, false));
        // A SOURCE_DATE_EPOCH in the future is clamped to the clock.
        assert_eq!(release_date(9000, None, 500), at(500, false));
        // Always after the previous date, waiting for the clock to get there.
        assert_eq!(release_date(500, Some(1000), 2000), at(1001, false));
        assert_eq!(release_date(1000, Some(1000), 1000), at(1001, true));
        assert_eq!(release_date(999, Some(1000), 999), at(1001, true));
        // A previous date far ahead is reused, never waited out nor undercut.
        assert_eq!(release_date(1000, Some(1013), 1000), at(1013, false));
    }
}
