//! Golden files: expected texts kept under tests/golden/, rewritten with `KUBEDEB_UPDATE_GOLDEN=1`.

use std::path::{Path, PathBuf};

/// The variable that makes [`assert_golden`] rewrite the files instead of comparing.
pub const UPDATE: &str = "KUBEDEB_UPDATE_GOLDEN";

pub fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with tests/golden/`name`; with `KUBEDEB_UPDATE_GOLDEN=1` writes it there
/// instead. A mismatch fails with a line diff naming the file and how to accept the change.
pub fn assert_golden(name: &str, actual: &str) {
    let file = path(name);
    if std::env::var_os(UPDATE).is_some_and(|v| v == "1") {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
        return;
    }
    let expected = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) => panic!(
            "golden file {} cannot be read ({e}); create it with {UPDATE}=1 and review it",
            file.display()
        ),
    };
    if expected != actual {
        panic!(
            "the text differs from the golden file {} (- golden, + actual):\n{}\
             If the change is intended, rerun the test with {UPDATE}=1, review and commit tests/golden/{name}",
            file.display(),
            diff(&expected, actual)
        );
    }
}

/// A line diff (longest common subsequence), with the lines that differ and up to two of
/// context around them. Golden files are small, so the quadratic table is cheap.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|(op, _)| *op != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near(k) {
            if skipped {
                out.push_str("  ...\n");
                skipped = false;
            }
            let shown = line
                .strip_suffix('\n')
                .map_or_else(|| format!("{line}\\ (no newline at end)"), str::to_string);
            out.push_str(&format!("{op} {shown}\n"));
        } else {
            skipped = true;
        }
    }
    out
}
