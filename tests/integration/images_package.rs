//! k8s-images: the image archives and their list in the package (dpkg-deb, lintian), its unit
//! and scripts (systemd-analyze, shellcheck), `kubedeb build` refusing an unfetched or changed
//! archive, and an install into a Debian 12 chroot where Docker does not run.

use crate::harness::chroot::Chroot;
use crate::harness::images::TestImages;
use crate::harness::project::Project;
use crate::harness::repo::snapshot;
use crate::harness::tools::{all_output, run_any, text};
use crate::harness::units::VerifyRoot;
use crate::harness::{bin, fixtures};
use kubedeb::config::{Config, ConfigFile};
use kubedeb::deb::{write_deb, BuildOptions, Compression, PackageSpec};
use kubedeb::packages::{self, BuildInput};
use std::path::{Path, PathBuf};
use std::process::Command;

const UNIT: &str = "k8s-images.service";

fn config() -> Config {
    let mut c = ConfigFile {
        master_ip: Some("192.168.100.11".parse().unwrap()),
        ..ConfigFile::default()
    };
    // lintian refuses a maintainer address at localhost (bogus-mail-host).
    c.package.maintainer = "kubedeb tests <kubedeb-tests@example.org>".into();
    c.validate().expect("valid settings")
}

/// Every package for `cfg` carrying `images`.
fn specs(cfg: &Config, images: &TestImages) -> Vec<PackageSpec> {
    let binaries = fixtures::catalog_binaries_as(cfg, Path::new("/bin/true"));
    let programs = [(
        "kubedeb-docker-api".to_string(),
        PathBuf::from(bin::DOCKER_API),
    )]
    .into();
    packages::packages(&BuildInput {
        config: cfg,
        binaries: &binaries,
        programs: &programs,
        templates: None,
        etcd_v3_api: false,
        images: &images.images,
    })
    .expect("packages")
}

fn spec<'a>(specs: &'a [PackageSpec], name: &str) -> &'a PackageSpec {
    specs
        .iter()
        .find(|s| s.control.package == name)
        .unwrap_or_else(|| panic!("no package {name}"))
}

/// The .deb of `name` written into `dir` (gzip: quick to write and to read back).
fn write(specs: &[PackageSpec], name: &str, dir: &Path) -> PathBuf {
    let opts = BuildOptions {
        compression: Compression::Gzip,
        source_date_epoch: Some(1_704_067_200),
        ..BuildOptions::default()
    };
    write_deb(spec(specs, name), &opts, dir).expect("write_deb")
}

fn field(deb: &Path, name: &str) -> String {
    all_output(Command::new("dpkg-deb").arg("--field").arg(deb).arg(name))
        .trim()
        .to_string()
}

#[test]
fn the_package_carries_every_archive_and_lists_it() {
    let cfg = config();
    let images = TestImages::of(&cfg);
    assert_eq!(
        images.images.len(),
        6,
        "pause and the dns and ui addons' images"
    );
    let specs = specs(&cfg, &images);
    let dir = tempfile::tempdir().unwrap();
    let deb = write(&specs, "k8s-images", dir.path());

    assert_eq!(field(&deb, "Version"), "1.1.4-1");
    assert_eq!(
        field(&deb, "Depends"),
        "docker.io | docker-engine | docker-ce, init-system-helpers (>= 1.22)"
    );
    let description = field(&deb, "Description");
    assert!(
        description.contains("no node needs a registry"),
        "{description}"
    );
    for image in &images.images {
        assert!(
            description.contains(&format!("\n   {}\n", image.spec.reference))
                || description.ends_with(&format!("\n   {}", image.spec.reference)),
            "the description lists {} on a line of its own:\n{description}",
            image.spec.reference
        );
    }
    let minion = write(&specs, "k8s-minion", dir.path());
    assert!(
        field(&minion, "Depends").contains("k8s-images (= 1.1.4-1)"),
        "{}",
        field(&minion, "Depends")
    );
    let master = write(&specs, "k8s-master", dir.path());
    assert!(!field(&master, "Depends").contains("k8s-images"));

    // Every file with its mode; the archives byte for byte as in the cache.
    let listing = all_output(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let mut files: Vec<(String, String)> = listing
        .lines()
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (
                cols[0].to_string(),
                cols[5].trim_start_matches('.').to_string(),
            )
        })
        .filter(|(mode, _)| !mode.starts_with('d'))
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let mut expected: Vec<(String, String)> = [
        (
            "-rw-r--r--",
            "/lib/systemd/system/k8s-images.service".to_string(),
        ),
        ("-rwxr-xr-x", "/usr/lib/kubedeb/load-images".to_string()),
        (
            "-rw-r--r--",
            "/usr/share/doc/k8s-images/README.Debian".to_string(),
        ),
        (
            "-rw-r--r--",
            "/usr/share/doc/k8s-images/changelog.Debian.gz".to_string(),
        ),
        (
            "-rw-r--r--",
            "/usr/share/doc/k8s-images/copyright".to_string(),
        ),
        (
            "-rw-r--r--",
            "/usr/share/k8s-images/images.list".to_string(),
        ),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p))
    .chain(images.images.iter().map(|i| {
        (
            "-rw-r--r--".to_string(),
            format!("/usr/share/k8s-images/{}", i.spec.reference.file_name()),
        )
    }))
    .collect();
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(files, expected);

    let unpacked = tempfile::tempdir().unwrap();
    all_output(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(unpacked.path()),
    );
    let share = unpacked.path().join("usr/share/k8s-images");
    let mut lines = Vec::new();
    for image in &images.images {
        let file = image.spec.reference.file_name();
        assert_eq!(
            std::fs::read(share.join(&file)).unwrap(),
            std::fs::read(&image.archive).unwrap(),
            "{file}"
        );
        lines.push(format!(
            "{} {file} {}",
            image.id.as_deref().unwrap(),
            image.spec.reference
        ));
    }
    let list = std::fs::read_to_string(share.join("images.list")).unwrap();
    let listed: Vec<&str> = list.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(listed, lines, "{list}");

    let lintian = run_any(
        Command::new("lintian")
            .args(["--allow-root", "--fail-on", "error,warning"])
            // The changelog entry describes kubedeb's build, not an upload to Debian.
            .args(["--suppress-tags", "initial-upload-closes-no-bugs"])
            .arg(&deb),
    );
    assert!(lintian.status.success(), "lintian: {}", text(&lintian));
}

#[test]
fn the_unit_passes_systemd_analyze_and_the_scripts_shellcheck() {
    let cfg = config();
    let images = TestImages::of(&cfg);
    let specs = specs(&cfg, &images);
    for docker in ["docker.io.service", "docker-ce.service"] {
        let root = VerifyRoot::new(&specs, docker);
        let out = root.verify(&[UNIT.to_string(), "kubelet.service".to_string()]);
        assert!(out.is_empty(), "systemd-analyze verify ({docker}):\n{out}");
    }
    let unit = generated(&specs, &format!("/lib/systemd/system/{UNIT}"));
    for line in [
        "Requires=docker.service",
        "After=docker.service",
        "Before=kubelet.service",
        "Type=oneshot",
        "RemainAfterExit=yes",
        "ExecStart=/usr/lib/kubedeb/load-images",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} in\n{unit}");
    }
    let kubelet = generated(&specs, "/lib/systemd/system/kubelet.service");
    for key in ["Wants=", "After="] {
        assert!(
            kubelet
                .lines()
                .any(|l| l.starts_with(key) && l.split([' ', '=']).any(|w| w == UNIT)),
            "kubelet.service {key} names {UNIT}:\n{kubelet}"
        );
    }

    let package = spec(&specs, "k8s-images");
    let dir = tempfile::tempdir().unwrap();
    let s = &package.scripts;
    let scripts = [
        ("postinst", s.postinst.clone().unwrap()),
        ("prerm", s.prerm.clone().unwrap()),
        ("postrm", s.postrm.clone().unwrap()),
        (
            "load-images",
            generated(&specs, "/usr/lib/kubedeb/load-images"),
        ),
    ];
    for (name, script) in &scripts {
        let path = dir.path().join(name);
        std::fs::write(&path, script).unwrap();
        let out = run_any(
            Command::new("shellcheck")
                .args(["-s", "sh", "-S", "info"])
                .arg(&path),
        );
        assert!(out.status.success(), "shellcheck {name}:\n{}", text(&out));
        // Every docker command is bounded: a hung daemon cannot hang dpkg or the boot.
        for line in script.lines().filter(|l| l.contains("docker ")) {
            let code = line.trim_start();
            if code.starts_with('#') || code.starts_with("echo") {
                continue;
            }
            assert!(
                code.contains("timeout "),
                "{name}: unbounded docker call: {line}"
            );
        }
    }
}

/// The generated text of `path` in any package.
fn generated(specs: &[PackageSpec], path: &str) -> String {
    use kubedeb::deb::{EntryKind, Source};
    specs
        .iter()
        .flat_map(|s| &s.entries)
        .find_map(|e| match &e.kind {
            EntryKind::File(Source::Bytes(b)) if e.path == path => {
                Some(String::from_utf8(b.clone()).unwrap())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no generated {path}"))
}

#[test]
fn build_refuses_an_unfetched_or_changed_image_and_leaves_dist_alone() {
    let project = Project::with_release();
    let build = [
        "build",
        "--catalog",
        "catalog.toml",
        "--master-ip",
        "10.0.0.1",
        "--compression",
        "gzip",
    ];
    project
        .kubedeb(&["fetch", "--from", "tarballs", "--catalog", "catalog.toml"])
        .success();

    // Nothing built yet: a refused build does not even make dist/.
    let index = project.file("cache/images/index.toml");
    let recorded = std::fs::read_to_string(&index).unwrap();
    let without_ui: String = drop_entry(&recorded, "gcr.io/google_containers/kube-ui:v4");
    std::fs::write(&index, &without_ui).unwrap();
    let run = project.kubedeb(&build);
    assert_eq!(run.code(), Some(1), "{}", run.text());
    assert!(
        run.stderr.contains("gcr.io/google_containers/kube-ui:v4")
            && run.stderr.contains("kubedeb fetch"),
        "{}",
        run.text()
    );
    assert!(!project.file("dist").exists(), "{}", run.text());

    std::fs::write(&index, &recorded).unwrap();
    let built = project.kubedeb(&build).success();
    let dist = project.file("dist");
    let names: Vec<String> = built
        .stdout
        .lines()
        .map(|l| {
            Path::new(l)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "k8s-flannel_0.5.5-1_amd64.deb",
            "k8s-master_1.1.4-1_amd64.deb",
            "k8s-images_1.1.4-1_amd64.deb",
            "k8s-minion_1.1.4-1_amd64.deb"
        ]
    );
    let before = snapshot(&dist);

    // A changed archive: refused, named, and dist/ keeps the packages it had.
    let archive = project.file("cache/images/gcr.io_google_containers_pause_0.8.0.tar");
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes.push(0);
    std::fs::write(&archive, bytes).unwrap();
    let run = project.kubedeb(&build);
    assert_eq!(run.code(), Some(1), "{}", run.text());
    assert!(
        run.stderr
            .contains("the image archive cache/images/gcr.io_google_containers_pause_0.8.0.tar")
            && run.stderr.contains("changed")
            && run.stderr.contains("kubedeb fetch"),
        "{}",
        run.text()
    );
    assert_eq!(snapshot(&dist), before);
    // Said once: main prints the chain, no cause twice.
    assert_eq!(
        run.stderr.matches("changed since").count(),
        1,
        "{}",
        run.stderr
    );

    // check describes the package and where each archive comes from.
    let check = project
        .kubedeb(&[
            "check",
            "--catalog",
            "catalog.toml",
            "--master-ip",
            "10.0.0.1",
        ])
        .success()
        .stdout;
    assert!(check.contains("k8s-images 1.1.4-1 (amd64)"), "{check}");
    assert!(
        check
            .contains("0644 /usr/share/k8s-images/gcr.io_google_containers_pause_0.8.0.tar (from "),
        "{check}"
    );
}

/// index.toml without the table of `reference`.
fn drop_entry(index: &str, reference: &str) -> String {
    let mut doc: toml::Table = toml::from_str(index).unwrap();
    let images = doc["image"].as_table_mut().unwrap();
    assert!(images.remove(reference).is_some(), "{reference} in {index}");
    toml::to_string(&doc).unwrap()
}

#[test]
fn installs_in_a_chroot_without_docker_and_says_when_the_images_load() {
    let cfg = config();
    let images = TestImages::of(&cfg);
    let specs = specs(&cfg, &images);
    let out = tempfile::tempdir().unwrap();
    let deb = write(&specs, "k8s-images", out.path());
    let root = Chroot::new();
    let watched = [
        "/etc",
        "/var/lib",
        "/lib/systemd",
        "/usr/lib/kubedeb",
        "/usr/share",
    ];
    let before = root.tree(&watched);

    let log = root.install(&[deb]);
    assert!(
        log.contains("the images load into Docker at the next boot, before the kubelet"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_link(root.path(&format!(
            "/etc/systemd/system/multi-user.target.wants/{UNIT}"
        )))
        .unwrap_or_else(|e| panic!("{UNIT} is not enabled: {e}\n{log}")),
        PathBuf::from(format!("/lib/systemd/system/{UNIT}"))
    );
    for image in &images.images {
        let file = format!("/usr/share/k8s-images/{}", image.spec.reference.file_name());
        assert_eq!(root.read(&file), std::fs::read(&image.archive).unwrap());
    }
    assert!(
        !root.path("/var/lib/kubedeb/k8s-images").exists(),
        "nothing was loaded, so nothing is recorded"
    );

    // Docker does not run at purge: what the package loaded stays, and the message says so.
    let pause = "gcr.io/google_containers/pause:0.8.0";
    std::fs::create_dir_all(root.path("/var/lib/kubedeb/k8s-images")).unwrap();
    std::fs::write(
        root.path("/var/lib/kubedeb/k8s-images/loaded"),
        format!("{} {pause}\n", images.images[0].id.as_deref().unwrap()),
    )
    .unwrap();
    let log = root.sh("apt-get purge -y k8s-images 2>&1");
    assert!(
        log.contains("Docker is not running, so the images this package loaded are left in it")
            && log.contains(&format!("docker image rm {pause}")),
        "{log}"
    );
    let after = root.tree(&watched);
    let changed: Vec<&String> = before
        .symmetric_difference(&after)
        .filter(|p| !p.starts_with("/var/lib/dpkg") && !p.starts_with("/var/lib/apt"))
        .filter(|p| !p.starts_with("/etc/") || !p.ends_with('-'))
        .collect();
    assert!(
        changed.is_empty(),
        "purge left or removed {changed:?}\n{log}"
    );
}
