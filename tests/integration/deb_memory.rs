//! The writer streams: a 300 MB payload must not raise the process's peak memory near its
//! size. Measured in a child process running only this test, so no other test's allocations count.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::process::Command;

use crate::harness::tools;

use kubedeb::deb::{write_deb, BuildOptions, Compression, Control, Entry, PackageSpec, Source};

const PAYLOAD: u64 = 300 * 1024 * 1024;
const LIMIT_KIB: u64 = 150 * 1024;
/// Set in the child that measures: the test binary run again with only this test.
const CHILD: &str = "KUBEDEB_DEB_MEMORY_CHILD";

fn vm_hwm_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Incompressible bytes, so the compressed member is as large as the payload too.
fn write_random(file: File, len: u64) {
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    w.into_inner().unwrap().sync_all().unwrap();
}

#[test]
fn peak_memory_stays_far_below_payload_size() {
    if std::env::var_os(CHILD).is_some() {
        return measure();
    }
    // The test binary runs other tests in parallel, and VmHWM is the whole process's: so the
    // build runs in a process of its own, this binary again with only this test.
    let name = format!(
        "{}::peak_memory_stays_far_below_payload_size",
        module_path!().split_once("::").map_or("", |(_, rest)| rest)
    );
    let out = tools::run_any(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--test-threads=1", "--nocapture"])
            .env(CHILD, "1"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    assert!(
        out.status.success(),
        "the measuring child failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("peak RSS ") && stdout.contains("1 passed"),
        "the child ran the build: {stdout}"
    );
}

/// The build and its checks, in the child.
fn measure() {
    let src = tempfile::tempdir().unwrap();
    let payload = src.path().join("payload.bin");
    write_random(File::create(&payload).unwrap(), PAYLOAD);
    let spec = PackageSpec {
        control: Control {
            package: "kubedeb-big".into(),
            version: "1.0-1".into(),
            architecture: "amd64".into(),
            maintainer: "Kube Deb <kubedeb@example.org>".into(),
            summary: "large payload".into(),
            ..Default::default()
        },
        entries: vec![Entry::file(
            "/usr/lib/kubedeb-big/payload.bin",
            0o644,
            Source::Path(payload),
        )],
        ..Default::default()
    };
    let opts = BuildOptions {
        compression: Compression::Zstd,
        level: Some(1),
        threads: 0,
        source_date_epoch: Some(1_451_606_400),
        block_cache: None,
    };
    let before = vm_hwm_kib();
    let out = tempfile::tempdir().unwrap();
    let deb = write_deb(&spec, &opts, out.path()).unwrap();
    let peak = vm_hwm_kib();
    println!("peak RSS {peak} KiB, {before} KiB before the build");
    assert!(
        peak < LIMIT_KIB,
        "peak RSS {peak} KiB (before the build {before} KiB) is over {LIMIT_KIB} KiB"
    );
    assert!(
        fs::metadata(&deb).unwrap().len() > PAYLOAD,
        "random data should not shrink"
    );

    let listing = tools::stdout(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    assert!(
        listing.contains(&format!(" {PAYLOAD} ")) && listing.contains("payload.bin"),
        "{listing}"
    );
}
