//! One publish: check the debs, take the lock, copy into the pool, stage a signed state, switch it in.

use super::debfile::{self, DebFile};
use super::error::RepoError;
use super::files;
use super::index::{self, ReleaseInfo};
use super::layout::{self, State};
use super::plan::{self, Plan, PublishedPackage};
use super::recover::recover;
use super::sign::{self, KeyChoice, Signer};
use super::{date, keyring};
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

/// What to publish into and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    pub suite: String,
    /// A key file or a key id in the default gpg home; `None` uses the repository's own key.
    pub key: Option<String>,
    /// Keep only the N newest versions of each package (per architecture).
    pub keep: Option<usize>,
    pub origin: String,
    pub label: String,
    pub description: String,
}

impl PublishOptions {
    pub fn new(suite: impl Into<String>) -> Self {
        PublishOptions {
            suite: suite.into(),
            key: None,
            keep: None,
            origin: "kubedeb".into(),
            label: "kubedeb".into(),
            description: "Kubernetes packages built by kubedeb".into(),
        }
    }
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions::new("stable")
    }
}

/// What a publish did.
#[derive(Debug, Clone)]
pub struct PublishReport {
    pub suite: String,
    pub added: Vec<PublishedPackage>,
    /// Given again with identical content: nothing to do for them.
    pub unchanged: Vec<PublishedPackage>,
    /// Removed by `keep`.
    pub pruned: Vec<PublishedPackage>,
    /// False when the repository was left exactly as it was.
    pub changed: bool,
    /// The Release date of the state now published.
    pub date: Option<String>,
    pub fingerprint: Option<String>,
    /// The binary keyring clients name in `signed-by=`.
    pub keyring: PathBuf,
}

/// Publishes `debs` into the suite. Everything that can be checked without writing (the debs,
/// an explicit key, version clashes) is checked before the first write; the switch to the new
/// state is one rename, so readers and a killed publish only ever see the old or the new state.
pub fn publish(
    repo: &Path,
    debs: &[PathBuf],
    opts: &PublishOptions,
) -> Result<PublishReport, RepoError> {
    layout::check_suite(&opts.suite)?;
    if opts.keep == Some(0) {
        return Err(RepoError::BadOption {
            option: "--keep",
            value: "0".into(),
            reason: "it would remove every package; keep at least 1 version".into(),
        });
    }
    let inputs = plan::unique_inputs(inspect_all(debs)?)?;
    let choice = opts.key.as_deref().map(sign::check_key).transpose()?;

    fs::create_dir_all(repo).map_err(RepoError::io("create the repository folder", repo))?;
    let lock_path = layout::lock_path(repo);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(RepoError::io("open the lock file", &lock_path))?;
    lock.lock().map_err(RepoError::io("lock", &lock_path))?;
    let private = layout::private_dir(repo);
    let result = {
        // The agent must be gone before the lock is released: the next publish starts its own.
        let _agent = AgentGuard(sign::home(&private));
        publish_locked(repo, &inputs, opts, choice.as_ref())
    };
    drop(lock);
    result
}

fn inspect_all(debs: &[PathBuf]) -> Result<Vec<DebFile>, RepoError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let mut out = Vec::with_capacity(debs.len());
    for chunk in debs.chunks(workers) {
        let results: Vec<Result<DebFile, RepoError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|deb| scope.spawn(move || debfile::inspect(deb)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("deb inspection panicked"))
                .collect()
        });
        for result in results {
            out.push(result?);
        }
    }
    Ok(out)
}

/// Stops the agent gpg started for the repository's home, whatever way the publish ends.
struct AgentGuard(PathBuf);

impl Drop for AgentGuard {
    fn drop(&mut self) {
        if self.0.is_dir() {
            sign::kill_agent(&self.0);
        }
    }
}

/// Plan, then stage (keys, pool files, a signed state directory), switch, tidy.
fn publish_locked(
    repo: &Path,
    inputs: &[DebFile],
    opts: &PublishOptions,
    choice: Option<&KeyChoice>,
) -> Result<PublishReport, RepoError> {
    let suite = opts.suite.as_str();
    let states = layout::all_states(repo)?;
    let current = layout::current(repo, suite)?;
    recover(repo, suite, &states, current.as_ref())?;
    let own = layout::states_dir(repo, suite);
    let others: Vec<&State> = states.iter().filter(|s| !s.dir.starts_with(&own)).collect();
    let plan = plan::plan(current.as_ref(), &others, inputs, opts.keep)?;

    let private = layout::private_dir(repo);
    let served_keyring = keyring::served(repo);
    let configured = sign::configured(&private)?;
    let wanted = sign::wanted(&private, choice)?;
    let same_signer = wanted.is_some() && wanted == configured;
    let served: Vec<&State> = others.iter().copied().chain(current.as_ref()).collect();
    if plan.is_noop(same_signer, keyring::all_known(repo, &served)?) {
        // A key rotation killed after its switch served the old key too: drop it now.
        keyring::serve_union(repo, &served, None)?;
        let date = plan.previous_date.map(date::format);
        let fingerprint = configured.map(|s| s.fingerprint);
        return Ok(report(
            suite,
            plan,
            false,
            date,
            fingerprint,
            served_keyring,
        ));
    }

    let (signer, key) = prepare_signer(repo, choice, wanted)?;
    let journal = layout::journal_path(repo);
    // The journal names every pool file this publish touches, so a killed run can be tidied up.
    files::write_synced(&journal, plan.touched().join("\n").as_bytes())?;
    let (state_name, date) = stage(repo, &plan, opts, current.as_ref(), &signer, &key)?;
    // The served keyring takes the new key before the new state is served and loses the old
    // one only after: whenever this is killed, each served state verifies with it.
    keyring::serve_union(repo, &served, Some(&key.0))?;
    files::switch(repo, suite, &state_name)?;
    keyring::serve_union(repo, &others, Some(&key.0))?;
    tidy(repo, &plan, current.as_ref())?;
    files::remove_if_present(&journal)?;
    sign::tighten(&private)?;
    let fingerprint = Some(signer.fingerprint);
    Ok(report(
        suite,
        plan,
        true,
        Some(date),
        fingerprint,
        served_keyring,
    ))
}

fn report(
    suite: &str,
    plan: Plan,
    changed: bool,
    date: Option<String>,
    fingerprint: Option<String>,
    keyring: PathBuf,
) -> PublishReport {
    PublishReport {
        suite: suite.to_string(),
        added: plan.added.into_iter().map(|a| a.package).collect(),
        unchanged: plan.unchanged,
        pruned: plan.pruned,
        changed,
        date,
        fingerprint,
        keyring,
    }
}

/// The signer's public key: binary (for `signed-by=`) and armored.
type PublicKey = (Vec<u8>, Vec<u8>);

/// Makes sure the signing key exists and can sign, and exports its public half. Nothing served
/// changes: the key reaches clients inside the new state and through the top-level keyring.
fn prepare_signer(
    repo: &Path,
    choice: Option<&KeyChoice>,
    wanted: Option<Signer>,
) -> Result<(Signer, PublicKey), RepoError> {
    let private = layout::private_dir(repo);
    files::make_private_dir(&private)?;
    let signer = sign::prepare(&private, choice, wanted)?;
    let key = signer.export()?;
    Ok((signer, key))
}

/// Copies the new debs into the pool and writes the new state directory, signed and synced,
/// beside the current one. Nothing served changes yet. Returns the state's name and its date.
fn stage(
    repo: &Path,
    plan: &Plan,
    opts: &PublishOptions,
    current: Option<&State>,
    signer: &Signer,
    key: &PublicKey,
) -> Result<(String, String), RepoError> {
    let public = layout::public_dir(repo);
    for (deb, filename) in plan.copies() {
        files::copy_into_pool(&deb.path, &public.join(filename), &deb.sha256)?;
    }
    let clock = now();
    let base = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(clock);
    let release_date = plan::release_date(base, plan.previous_date, clock);
    if release_date.wait {
        wait_for_second(release_date.date);
    }
    let date_text = date::format(release_date.date);
    let state_name = layout::new_state_name(plan.generation);
    let state_dir = layout::states_dir(repo, &opts.suite).join(&state_name);
    let info = ReleaseInfo {
        origin: &opts.origin,
        label: &opts.label,
        suite: &opts.suite,
        description: &opts.description,
        date: &date_text,
    };
    index::write_state(&state_dir, &plan.entries, &info, current)?;
    keyring::write_into_state(&state_dir, &key.0, &key.1)?;
    // Release.gpg first, InRelease last: a state is complete once InRelease exists.
    signer.sign(
        &state_dir.join("Release"),
        &state_dir.join("Release.gpg"),
        &state_dir.join("InRelease"),
    )?;
    for name in ["Release.gpg", "InRelease"] {
        files::sync_file(&state_dir.join(name))?;
    }
    files::sync_tree_dirs(&state_dir)?;
    Ok((state_name, date_text))
}

/// After the switch: the old state and the pruned pool files no suite lists any more go.
fn tidy(repo: &Path, plan: &Plan, old: Option<&State>) -> Result<(), RepoError> {
    if let Some(old) = old {
        fs::remove_dir_all(&old.dir).map_err(RepoError::io("remove the old state", &old.dir))?;
    }
    let public = layout::public_dir(repo);
    for filename in &plan.unreferenced {
        files::remove_if_present(&public.join(filename))?;
    }
    Ok(())
}

/// Sleeps until the clock has reached the start of `second` (the plan bounds how far off it is).
fn wait_for_second(second: i64) {
    let target =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(second).unwrap_or(0));
    let limit = std::time::Duration::from_secs(plan::MAX_DATE_WAIT_SECS as u64 + 1);
    let started = std::time::Instant::now();
    // A loop, not one sleep: the wall clock may be slewed while we sleep.
    while let Ok(left) = target.duration_since(std::time::SystemTime::now()) {
        if started.elapsed() > limit {
            break;
        }
        std::thread::sleep(
            left.min(std::time::Duration::from_millis(200)) + std::time::Duration::from_millis(1),
        );
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
