//! k8s-images on a booted Debian 12 host with Docker: installed from the served repository, the
//! real images of `$KUBEDEB_REAL/images` loaded with the right IDs, nothing loaded twice when
//! Docker and the unit restart, an upgrade that drops an image removing it, and a purge removing
//! the images it loaded except one a running container uses.
//!
//! The packages are built from the seed's fixture tarballs (only k8s-images is installed, so
//! the release binaries do not matter) and the real image archives. Each check prints one line.

use crate::cluster::{ensure, eventually, kubedeb, on, page_block, say, Checks, Cluster, Release};
use crate::harness::fixtures::SeedTarballs;
use crate::harness::images::{real_images, Saved, REAL};
use crate::harness::project::pinned_catalog;
use crate::nspawn::{self, Host, Lab, BASE_PACKAGES};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

const UI: &str = "gcr.io/google_containers/kube-ui:v4";
const PAUSE: &str = "gcr.io/google_containers/pause:0.8.0";
const LOADED: &str = "/var/lib/kubedeb/k8s-images/loaded";

#[test]
fn images_load_from_the_package_then_upgrade_and_purge_remove_them() {
    let Some(real) = real_images() else {
        for line in [
            "################################################################################",
            &format!(
                "# SKIPPED: {REAL} is not set, so the k8s-images booted test checked NOTHING."
            ),
            &format!(
                "# Set {REAL} to a folder with images/ (docker save archives); .ci/run sets it."
            ),
            "################################################################################",
        ] {
            say(line);
        }
        return;
    };
    let mut c = Checks::new("k8s-images: the real images loaded into Docker from the package");
    let mut lab = Lab::new();
    // The first host booted gets .11: the master address the packages are built for.
    let mut cl = Cluster::new("img", "node", Ipv4Addr::new(10, 213, 7, 11), 8090, |dir| {
        let tarballs = SeedTarballs::new();
        tarballs.write_to(&dir.join("tarballs"));
        // The real image archives in place of the tiny ones, for `up --from` to fetch.
        for entry in std::fs::read_dir(&real).unwrap().flatten() {
            let link = dir.join("tarballs").join(entry.file_name());
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(entry.path(), link).unwrap();
        }
        std::fs::write(
            dir.join("catalog.toml"),
            pinned_catalog("http://upstream.invalid", &tarballs),
        )
        .unwrap();
        Release {
            from: dir.join("tarballs"),
            catalog: dir.join("catalog.toml"),
        }
    });
    c.require(
        "kubedeb init and up publish the packages with the real images",
        kubedeb(cl.path(), &["init", "--master-ip", "10.213.7.11"])
            .and_then(|_| up(&cl))
            .map(|_| ()),
    );
    let image = {
        let mut packages: Vec<&str> = BASE_PACKAGES.to_vec();
        packages.push("docker.io");
        nspawn::debian_root(&packages)
    };
    lab.boot("node", &image, |_| {});
    let host = lab.host("node");
    host.wait_booted(Duration::from_secs(180));
    c.require("kubedeb serve on the bridge", cl.serve(&lab));
    let url = cl.url(&lab);
    let setup = eventually(host, 30, &format!("curl -fsS {url}/"))
        .map(|page| page_block(&page, "setup").unwrap_or_default());
    c.require(
        "the node adds the repository with the page's commands",
        setup.and_then(|s| on(host, &s)).map(|_| ()),
    );

    let specs = images_of(&cl);
    let install = on(host, "apt-get install -y k8s-images </dev/null 2>&1");
    c.require(
        "apt-get install k8s-images says the images are loaded",
        install.and_then(|o| {
            ensure(
                o.contains("k8s-images: the images are loaded into Docker"),
                || o,
            )
        }),
    );
    c.check(
        "docker has every image of the package under its name, with the archive's ID",
        in_docker(host, &real, &specs),
    );
    c.check(
        "k8s-images.service is enabled and active, and recorded what it loaded",
        on(
            host,
            &format!("systemctl is-enabled k8s-images.service && systemctl is-active k8s-images.service && cat {LOADED}"),
        )
        .and_then(|o| ensure(specs.iter().all(|r| o.contains(r.as_str())), || o)),
    );

    // Idempotent: Docker restarted (the unit runs again with it), then the unit restarted: each
    // run finds every image and loads none.
    for (what, restart) in [
        ("Docker", "systemctl restart docker.service"),
        ("the unit", "systemctl restart k8s-images.service"),
    ] {
        let since = on(host, "sleep 1; date +%s").unwrap_or_default();
        let log = on(host, restart).and_then(|_| {
            eventually(host, 60, "systemctl is-active k8s-images.service")?;
            on(
                host,
                &format!(
                    "journalctl -u k8s-images.service --since @{} -o cat",
                    since.trim()
                ),
            )
        });
        c.check(
            &format!("after restarting {what}, load-images finds every image and loads none"),
            log.and_then(|log| {
                ensure(
                    !log.contains("load-images: loaded")
                        && log.matches("is in Docker").count() == specs.len(),
                    || log,
                )
            }),
        );
    }
    c.check("the images are unchanged", in_docker(host, &real, &specs));

    // A running container uses the pause image: purge must keep it.
    c.require(
        "a container runs on the pause image",
        on(
            host,
            &format!("timeout 60 docker run -d --name kept {PAUSE}"),
        )
        .map(|_| ()),
    );

    // Revision 2 without the ui addon: kube-ui is no longer carried, so the upgrade removes it.
    cl.set("ui", "false");
    cl.set("revision", "2");
    c.require(
        "kubedeb up publishes revision 2 without kube-ui",
        up(&cl).map(|_| ()),
    );
    let upgrade = on(
        host,
        "apt-get update -q && apt-get install -y k8s-images </dev/null 2>&1",
    );
    let remaining: Vec<String> = images_of(&cl);
    c.check(
        "the upgrade removes kube-ui, which revision 2 does not carry",
        upgrade.and_then(|o| {
            let version = on(host, "dpkg-query -W -f '${Version}' k8s-images")?;
            ensure(version == "1.1.4-2", || format!("{version}\n{o}"))?;
            let gone = host.sh(&format!("docker image inspect {UI}"));
            ensure(!gone.ok(), || format!("{UI} is still in Docker\n{o}"))?;
            let loaded = on(host, &format!("cat {LOADED}"))?;
            ensure(!loaded.contains(UI), || loaded)
        }),
    );
    c.check(
        "the other images stay, with their IDs",
        in_docker(host, &real, &remaining),
    );

    let purge = on(host, "apt-get purge -y k8s-images </dev/null 2>&1");
    c.check(
        "purge removes the images it loaded, and says it keeps the one a container uses",
        purge.and_then(|o| {
            ensure(
                o.contains(&format!("kept the image {PAUSE}")) && o.contains("use it"),
                || o.clone(),
            )?;
            for r in remaining.iter().filter(|r| r.as_str() != PAUSE) {
                let left = host.sh(&format!("docker image inspect {r}"));
                ensure(!left.ok(), || format!("{r} is still in Docker\n{o}"))?;
            }
            on(host, &format!("docker image inspect {PAUSE} >/dev/null"))?;
            let state = host.sh("test -e /var/lib/kubedeb/k8s-images");
            ensure(!state.ok(), || {
                format!("/var/lib/kubedeb/k8s-images is left\n{o}")
            })
        }),
    );
    let _ = on(host, "timeout 60 docker rm -f kept");
    c.finish();
}

/// `kubedeb up` with gzip: the packages are large, and only their contents matter here.
fn up(cl: &Cluster) -> Result<String, String> {
    let from = cl.path().join("tarballs");
    let catalog = cl.path().join("catalog.toml");
    kubedeb(
        cl.path(),
        &[
            "up",
            "--from",
            &from.to_string_lossy(),
            "--catalog",
            &catalog.to_string_lossy(),
            "--compression",
            "gzip",
        ],
    )
}

/// The references of the images cluster.toml needs.
fn images_of(cl: &Cluster) -> Vec<String> {
    let index = std::fs::read_to_string(cl.path().join("cache/images/index.toml")).unwrap();
    let text = std::fs::read_to_string(cl.path().join("cluster.toml")).unwrap();
    let mut file: kubedeb::config::ConfigFile = toml::from_str(&text).unwrap();
    file.master_ip.get_or_insert(cl.master_ip);
    let catalog = kubedeb::catalog::Catalog::load(Some(&cl.path().join("catalog.toml"))).unwrap();
    let refs: Vec<String> = file
        .validate()
        .unwrap()
        .images(&catalog)
        .unwrap()
        .iter()
        .map(|i| i.reference.to_string())
        .collect();
    assert!(refs.iter().all(|r| index.contains(r.as_str())), "{index}");
    refs
}

/// Every one of `refs` is in the host's Docker with the ID of its real archive.
fn in_docker(host: &Host, real: &Path, refs: &[String]) -> Result<(), String> {
    for r in refs {
        let file = kubedeb::images::ImageRef::parse(r).unwrap().file_name();
        let want = Saved::read(&real.join(&file)).id();
        let got = on(
            host,
            &format!("docker image inspect --format '{{{{.Id}}}}' {r}"),
        )?;
        ensure(got.trim() == want, || {
            format!("{r}: {} in Docker, archive {want}", got.trim())
        })?;
    }
    Ok(())
}
