//! An `InRelease` verified with gpgv against given keyrings, then its Release paragraph read: suite, dates, SHA256 sums.

use super::error::ArchiveError;
use crate::debian::deb822;
use crate::repository::date;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's InRelease files are a few hundred KiB; anything much bigger is not one.
pub const MAX_INRELEASE: u64 = 16 << 20;

/// gpgv checks a few signatures in well under a second; a hung one must not hang kubedeb.
const GPGV_TIMEOUT: Duration = Duration::from_secs(60);

/// The sha256 and size of one file the Release lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSum {
    pub sha256: String,
    pub size: u64,
}

/// A verified Release: where it came from, who signed it, and what it lists.
#[derive(Debug, Clone)]
pub struct Release {
    /// The InRelease's URL, named in every later error about the files it lists.
    pub url: String,
    /// The fingerprint of the primary key of the (first) good signature.
    pub signer: String,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub date: i64,
    pub valid_until: Option<i64>,
    /// SHA256 entries by path relative to the suite's directory (`main/binary-amd64/Packages.xz`).
    pub files: BTreeMap<String, FileSum>,
}

/// Verifies `inrelease` (fetched from `url`) with `keyrings`, then reads the signed text as the
/// Release of `suite` (its Suite or Codename), refusing it when expired at `now` (Unix time).
pub fn verify(
    url: &str,
    suite: &str,
    inrelease: &[u8],
    keyrings: &[&[u8]],
    now: i64,
) -> Result<Release, ArchiveError> {
    if inrelease.len() as u64 > MAX_INRELEASE {
        return Err(ArchiveError::TooBig {
            what: "the InRelease".into(),
            url: url.into(),
            limit: MAX_INRELEASE,
        });
    }
    let (signer, text) = signed_text(url, inrelease, keyrings)?;
    let bad = |cause: String| ArchiveError::BadRelease {
        url: url.into(),
        cause,
    };
    let text = String::from_utf8(text).map_err(|_| bad("the signed text is not UTF-8".into()))?;
    let release = parse_release(url, signer, &text).map_err(bad)?;
    check_suite(&release, suite).map_err(bad)?;
    check_fresh(&release, now)?;
    Ok(release)
}

/// Runs gpgv in a scratch home and returns the signer and the text that was signed (only that:
/// lines outside the signed part of a clearsigned file are dropped by gpgv's `--output`).
fn signed_text(
    url: &str,
    inrelease: &[u8],
    keyrings: &[&[u8]],
) -> Result<(String, Vec<u8>), ArchiveError> {
    let failed = |cause: String| ArchiveError::Gpgv {
        url: url.into(),
        cause,
    };
    let scratch =
        tempfile::tempdir().map_err(|e| failed(format!("cannot make a scratch folder: {e}")))?;
    let dir = scratch.path();
    let write = |name: &str, bytes: &[u8]| {
        fs::write(dir.join(name), bytes).map_err(|e| failed(format!("cannot write {name}: {e}")))
    };
    write("InRelease", inrelease)?;
    let mut cmd = Command::new("gpgv");
    cmd.arg("--homedir").arg(dir).args(["--status-fd", "1"]);
    for (n, keyring) in keyrings.iter().enumerate() {
        let name = format!("keyring-{n}.gpg");
        write(&name, keyring)?;
        cmd.arg("--keyring").arg(dir.join(name));
    }
    cmd.arg("--output")
        .arg(dir.join("Release"))
        .arg(dir.join("InRelease"));
    let (status, stderr) = run_bounded(cmd, dir).map_err(failed)?;
    let signer = good_signer(&status).map_err(|cause| ArchiveError::Untrusted {
        url: url.into(),
        cause: with_detail(cause, &stderr),
    })?;
    let text = fs::read(dir.join("Release")).map_err(|e| {
        failed(format!(
            "gpgv wrote no signed text ({e}): {}",
            stderr.trim()
        ))
    })?;
    Ok((signer, text))
}

/// The cause with gpgv's own lines, each without its `gpgv:` prefix, on one line.
fn with_detail(cause: String, stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(|l| l.trim_start_matches("gpgv:").trim())
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => cause,
        lines => format!("{cause} (gpgv: {})", lines.join("; ")),
    }
}

/// Runs `cmd` with its output in files of `dir` (no pipe to fill up), killed after the timeout;
/// returns its status-fd text and stderr. gpgv's exit code is not used: with several signatures
/// it fails when any key is unknown, and the status lines say which were good.
fn run_bounded(mut cmd: Command, dir: &Path) -> Result<(String, String), String> {
    let (out, err) = (dir.join("status"), dir.join("stderr"));
    let file =
        |p: &Path| File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()));
    cmd.stdin(Stdio::null())
        .stdout(file(&out)?)
        .stderr(file(&err)?);
    let child = cmd.spawn().map_err(|e| format!("cannot run gpgv: {e}"))?;
    wait_bounded(child)?;
    let read = |p: &Path| fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned());
    let status = read(&out).map_err(|e| format!("cannot read gpgv's status: {e}"))?;
    Ok((status, read(&err).unwrap_or_default()))
}

fn wait_bounded(mut child: Child) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if start.elapsed() < GPGV_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("gpgv did not finish in {GPGV_TIMEOUT:?}"));
            }
            Err(e) => return Err(format!("cannot wait for gpgv: {e}")),
        }
    }
}

/// The primary key fingerprint of a good signature, from gpgv's `--status-fd` lines: a
/// GOODSIG and a VALIDSIG with a strong digest, and no BADSIG anywhere.
fn good_signer(status: &str) -> Result<String, String> {
    let lines: Vec<Vec<&str>> = status
        .lines()
        .filter_map(|l| l.strip_prefix("[GNUPG:] "))
        .map(|l| l.split(' ').collect())
        .collect();
    let keyword = |k: &'static str| lines.iter().filter(move |l| l[0] == k);
    if let Some(bad) = keyword("BADSIG").next() {
        return Err(format!(
            "a signature by {} is BAD: the file was changed after signing",
            bad.get(1).unwrap_or(&"?")
        ));
    }
    if keyword("GOODSIG").next().is_none() {
        return Err(no_good_signature(&lines));
    }
    let mut weak = None;
    for valid in keyword("VALIDSIG") {
        let digest = valid.get(8).unwrap_or(&"");
        if matches!(*digest, "1" | "2" | "3") {
            weak = Some(format!(
                "the only good signature uses a weak digest (OpenPGP algorithm {digest})"
            ));
            continue;
        }
        return Ok(valid.get(10).or(valid.get(1)).unwrap_or(&"").to_string());
    }
    Err(weak.unwrap_or_else(|| "gpgv reported no valid signature".into()))
}

fn no_good_signature(lines: &[Vec<&str>]) -> String {
    let missing: Vec<&str> = lines
        .iter()
        .filter(|l| l[0] == "NO_PUBKEY")
        .filter_map(|l| l.get(1).copied())
        .collect();
    if !missing.is_empty() {
        return format!(
            "it is signed by {}, a key not in the keyring",
            missing.join(", ")
        );
    }
    if lines.iter().any(|l| l[0] == "NEWSIG" || l[0] == "ERRSIG") {
        return "no signature could be verified".into();
    }
    "it carries no signature (not a clearsigned file)".into()
}

/// The Release paragraph: its dates and SHA256 list.
fn parse_release(url: &str, signer: String, text: &str) -> Result<Release, String> {
    let paragraphs = deb822::parse(text)?;
    let [p] = paragraphs.as_slice() else {
        return Err(format!("it holds {} paragraphs, not one", paragraphs.len()));
    };
    let date_field = |name: &str| -> Result<Option<i64>, String> {
        p.get(name)
            .map(|v| date::parse(v).ok_or(format!("its {name} {v:?} is not an RFC 1123 date")))
            .transpose()
    };
    Ok(Release {
        url: url.into(),
        signer,
        suite: p.get("Suite").map(str::to_string),
        codename: p.get("Codename").map(str::to_string),
        date: date_field("Date")?.ok_or("it has no Date")?,
        valid_until: date_field("Valid-Until")?,
        files: parse_sums(p.get("SHA256").ok_or("it has no SHA256 list")?)?,
    })
}

/// The SHA256 field's lines, `<hex> <size> <path>`, by path.
fn parse_sums(value: &str) -> Result<BTreeMap<String, FileSum>, String> {
    let mut files = BTreeMap::new();
    for line in value.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || {
            format!(
                "its SHA256 line {:?} is not `<sha256> <size> <path>`",
                line.trim()
            )
        };
        let [sha256, size, path] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            return Err(bad());
        };
        if !is_sha256(sha256) || !is_relative(path) {
            return Err(bad());
        }
        let size = size.parse().map_err(|_| bad())?;
        let sum = FileSum {
            sha256: sha256.to_ascii_lowercase(),
            size,
        };
        if files.insert(path.to_string(), sum).is_some() {
            return Err(format!("its SHA256 list names {path} twice"));
        }
    }
    Ok(files)
}

pub(crate) fn is_sha256(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A path that stays inside the folder it is relative to.
pub(crate) fn is_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// apt's check against a mirror serving another suite's (validly signed) Release.
fn check_suite(release: &Release, suite: &str) -> Result<(), String> {
    if release.suite.as_deref() == Some(suite) || release.codename.as_deref() == Some(suite) {
        return Ok(());
    }
    Err(format!(
        "it is the Release of {} (codename {}), not of {suite}",
        release.suite.as_deref().unwrap_or("no suite"),
        release.codename.as_deref().unwrap_or("none")
    ))
}

/// A Release past its Valid-Until may be an old archive replayed to hold back security updates.
fn check_fresh(release: &Release, now: i64) -> Result<(), ArchiveError> {
    match release.valid_until {
        Some(until) if until < now => Err(ArchiveError::Expired {
            url: release.url.clone(),
            valid_until: date::format(until),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG AAAA kubedeb <a@b>\n\
        [GNUPG:] VALIDSIG SUBKEY 2024-01-01 1700000000 0 4 0 22 10 01 PRIMARY\n";

    #[test]
    fn a_good_signature_names_its_primary_key() {
        assert_eq!(good_signer(GOOD).unwrap(), "PRIMARY");
    }

    #[test]
    fn bad_missing_and_weak_signatures_are_refused() {
        let bad = format!("{GOOD}[GNUPG:] BADSIG BBBB x\n");
        assert!(good_signer(&bad).unwrap_err().contains("BAD"));
        let foreign = "[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 6ED0E7B82643E131 22 10 01 1 9\n\
                       [GNUPG:] NO_PUBKEY 6ED0E7B82643E131\n";
        assert!(good_signer(foreign)
            .unwrap_err()
            .contains("6ED0E7B82643E131, a key not in the keyring"));
        assert!(good_signer("").unwrap_err().contains("no signature"));
        let sha1 = GOOD.replace(" 22 10 01 ", " 22 2 01 ");
        assert!(good_signer(&sha1).unwrap_err().contains("weak digest"));
    }

    #[test]
    fn reads_a_release_paragraph() {
        let sum = "a".repeat(64);
        let text = format!(
            "Suite: stable\nCodename: bookworm\nDate: Sat, 10 May 2025 09:03:08 UTC\n\
             Valid-Until: Sat, 17 May 2025 09:03:08 UTC\nSHA256:\n {sum}  1234 main/binary-amd64/Packages.xz\n"
        );
        let r = parse_release("u", "F".into(), &text).unwrap();
        assert_eq!(r.date, 1_746_867_788);
        assert_eq!(r.valid_until, Some(1_746_867_788 + 7 * 86_400));
        assert_eq!(r.files["main/binary-amd64/Packages.xz"].size, 1234);
        check_suite(&r, "bookworm").unwrap();
        check_suite(&r, "stable").unwrap();
        assert!(check_suite(&r, "trixie").is_err());
        check_fresh(&r, r.date).unwrap();
        assert!(check_fresh(&r, r.date + 8 * 86_400).is_err());
    }

    #[test]
    fn refuses_unsafe_or_broken_sum_lines() {
        let sum = "a".repeat(64);
        for line in [
            format!("{sum} 1 ../etc/passwd"),
            format!("{sum} 1 /etc/passwd"),
            format!("{sum} x main/Packages"),
            "abc 1 main/Packages".to_string(),
            format!("{sum} 1"),
        ] {
            assert!(
                parse_sums(&format!("\n {line}")).is_err(),
                "{line} accepted"
            );
        }
        let twice = format!("\n {sum} 1 a\n {sum} 1 a");
        assert!(parse_sums(&twice).unwrap_err().contains("twice"));
    }
}
