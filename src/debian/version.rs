//! Debian versions: syntax and ordering, following dpkg's `parseversion` and `verrevcmp`.

use std::cmp::Ordering;

/// Checks `[epoch:]upstream[-revision]` as dpkg's `parseversion` and Policy 5.6.12 do; the
/// error is the reason, for the caller to put after the field and value it names.
pub fn validate(version: &str) -> Result<(), String> {
    if version.is_empty() {
        return Err("the version is empty".into());
    }
    if version.chars().any(char::is_whitespace) {
        return Err("the version contains white space".into());
    }
    let rest = match version.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
                return Err("the epoch before ':' must be a number".into());
            }
            // dpkg keeps the epoch in a C int and refuses anything larger.
            if epoch.parse::<i32>().is_err() {
                return Err(format!(
                    "the epoch before ':' is too big; dpkg allows at most {}",
                    i32::MAX
                ));
            }
            if rest.is_empty() {
                return Err("nothing follows the epoch's ':'".into());
            }
            rest
        }
        None => version,
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((upstream, revision)) => (upstream, Some(revision)),
        None => (rest, None),
    };
    if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("the upstream version must start with a digit".into());
    }
    if let Some(bad) = upstream
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ".-+~:".contains(*c)))
    {
        return Err(format!(
            "the upstream version contains {bad:?}; it may only contain A-Z a-z 0-9 . + ~ - :"
        ));
    }
    if let Some(revision) = revision {
        if revision.is_empty() {
            return Err("the Debian revision after the last '-' is empty".into());
        }
        if let Some(bad) = revision
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".+~".contains(*c)))
        {
            return Err(format!(
                "the Debian revision contains {bad:?}; it may only contain A-Z a-z 0-9 . + ~"
            ));
        }
    }
    Ok(())
}

struct Parts<'a> {
    epoch: u64,
    upstream: &'a str,
    revision: &'a str,
}

fn split(version: &str) -> Parts<'_> {
    let version = version.trim();
    let (epoch, rest) = match version.split_once(':') {
        Some((e, rest)) if e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(0), rest),
        _ => (0, version),
    };
    let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
    Parts {
        epoch,
        upstream,
        revision,
    }
}

/// dpkg's character weight: `~` sorts before everything, even the end of the string.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(b'~') => -1,
        Some(c) => c as i32 + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = a[i] as i32 - b[j] as i32;
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

/// Orders two version strings exactly as `dpkg --compare-versions` does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (split(a), split(b));
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision))
}

/// The version as it appears in a pool file name: dpkg-name and dak drop the epoch.
pub fn without_epoch(version: &str) -> &str {
    match version.split_once(':') {
        Some((e, rest)) if e.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The comparison table of dpkg's scripts/t/Dpkg_Version.t.
    const DPKG_CASES: &str = "\
1.0-1 2.0-2 -1
2.2~rc-4 2.2-1 -1
2.2-1 2.2~rc-4 1
1.0000-1 1.0-1 0
1 0:1 0
0 0:0-0 0
2:2.5 1:7.5 1
1:foo foo 1
0:foo foo 0
foo foo 0
foo- foo 0
foo- foo-0 0
foo fo 1
foo- foo+ -1
foo~1 foo -1
foo~foo+Bar foo~foo+bar -1
foo~~ foo~ -1
1~ 1 -1
12345+that-really-is-some-ver-0 12345+that-really-is-some-ver-10 -1
foo-0 foo-01 -1
foo.bar foobar 1
foo.bar foo1bar 1
foo.bar foo0bar 1
1foo-1 foo-1 -1
foo2.0 foo2 1
foo2.0.0 foo2.10.0 -1
foo2.0 foo2.0.0 -1
foo2.0 foo2.10 -1
foo2.1 foo2.10 -1
1.09 1.9 0
1.0.8+nmu1 1.0.8 1
3.11 3.10+nmu1 1
0.9j-20080306-4 0.9i-20070324-2 1
1.2.0~b7-1 1.2.0~b6-1 1
1.011-1 1.06-2 1
0.0.9+dfsg1-1 0.0.8+dfsg1-3 1
4.6.99+svn6582-1 4.6.99+svn6496-1 1
53 52 1
0.9.9~pre122-1 0.9.9~pre111-1 1
2:2.3.2-2+lenny2 2:2.3.2-2 1
1:3.8.1-1 3.8.GA-1 1
1.0.1+gpl-1 1.0.1-2 1
1a 1000a -1
";

    #[test]
    fn matches_dpkg_comparison_table() {
        for line in DPKG_CASES.lines() {
            let mut f = line.split_whitespace();
            let (a, b, want) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            let want = match want {
                "-1" => Ordering::Less,
                "0" => Ordering::Equal,
                _ => Ordering::Greater,
            };
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    /// Equalities and differences from dpkg's lib/dpkg/t/t-version.c.
    #[test]
    fn matches_libdpkg_cases() {
        assert_eq!(compare("0-00", "00-0"), Ordering::Equal);
        assert_eq!(compare("1:2-3", "1:2-3"), Ordering::Equal);
        assert_eq!(compare("0-0", "1:0-0"), Ordering::Less);
        assert_eq!(compare("a-0", "b-0"), Ordering::Less);
        assert_eq!(compare("0-a", "0-b"), Ordering::Less);
        assert_eq!(compare("0:0-0-0", "0-0-0"), Ordering::Equal);
        assert_eq!(compare("0:0:0-0", "0:0:0-0"), Ordering::Equal);
    }

    #[test]
    fn validates_like_parseversion() {
        for good in [
            "0",
            "0:0",
            "0:0-0",
            "0:0.0-0.0",
            "1:0",
            "5:1",
            "0:0-0-0",
            "0:0:0-0",
            "0:0:0:0-0",
            "0:0-0:0-0",
            "0:09azAZ.-+~:-0",
            "0:0-azAZ09.+~",
            "1.1.4-1",
            "2:1.0~rc1-0+deb12u1",
            "1:2:3",
            "1.0-1-2",
            "2147483647:1",
            "1.1.4",
        ] {
            assert_eq!(validate(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "  ",
            "0:",
            "0:0 0-1",
            "-1:0-1",
            "999999999999999999999999:0-1",
            "a:0-0",
            "A:0-0",
            "-0",
            "0:-0",
            "0:abc3-0",
            "0:0-0:0",
            "v1.0",
            "1.0-",
            ":1.0",
            "1:",
            "1.0_1",
            "1.0-1:2",
            "a:1.0",
            "1.0 1",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} should be refused");
        }
        for c in "!#@$%&/|\\<>()[]{};,_=*^'".chars() {
            assert!(validate(&format!("0:0{c}-0")).is_err(), "upstream with {c}");
        }
        for c in "!#@$%&/|\\<>()[]{}:;,_=*^'".chars() {
            assert!(validate(&format!("0:0-0{c}")).is_err(), "revision with {c}");
        }
    }

    /// The repository's copy accepted an empty revision; dpkg 1.21 says "revision number is empty".
    #[test]
    fn drift_empty_revision_is_refused() {
        for bad in ["0:0-", "1.0-"] {
            assert!(validate(bad).unwrap_err().contains("revision"), "{bad}");
        }
    }

    /// The writer's copy accepted any epoch; dpkg refuses one beyond INT_MAX ("epoch in version is too big").
    #[test]
    fn drift_epoch_overflow_is_refused() {
        assert_eq!(validate("2147483647:1"), Ok(()));
        for bad in ["2147483648:1", "99999999999999999999:1.0-1"] {
            assert!(validate(bad).unwrap_err().contains("too big"), "{bad}");
        }
    }

    #[test]
    fn reasons_name_the_bad_character() {
        assert!(validate("1.0_1").unwrap_err().contains("'_'"));
        assert!(validate("1:1.0-1:2")
            .unwrap_err()
            .contains("revision contains ':'"));
    }

    #[test]
    fn pool_names_drop_the_epoch() {
        assert_eq!(without_epoch("1:2.0-1"), "2.0-1");
        assert_eq!(without_epoch("2.0-1"), "2.0-1");
    }
}
