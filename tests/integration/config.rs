//! Cluster settings through the real binary: `kubedeb init` files round-trip to the defaults, and
//! every invalid setting stops a command with its name, before anything is written.

use kubedeb::config::{Config, ConfigFile};
use std::net::Ipv4Addr;

use crate::harness::project::Project;

#[test]
fn init_writes_every_default_and_loads_back_to_them() {
    let project = Project::new();
    let out = project.kubedeb(&["init", "--master-ip", "10.1.2.3", "--output", "my.toml"]);
    assert!(out.status.success(), "{}", out.stderr);
    let text = std::fs::read_to_string(project.path().join("my.toml")).unwrap();
    let expected = ConfigFile {
        master_ip: Some(Ipv4Addr::new(10, 1, 2, 3)),
        ..ConfigFile::default()
    };
    assert_eq!(
        Config::load(&project.path().join("my.toml"), None).unwrap(),
        expected.validate().unwrap()
    );
    // Every setting is spelled out in the file, so users see what they can change.
    let table: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(table, toml::Table::try_from(&expected).unwrap());
    assert!(
        text.lines().filter(|l| l.starts_with('#')).count() > 10,
        "commented:\n{text}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(project.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["my.toml"], "no temporary file left");
}

#[test]
fn init_without_master_address_needs_one_at_load() {
    let project = Project::new();
    let out = project.kubedeb(&["init"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("set master_ip"), "{}", out.stderr);
    let path = project.path().join("cluster.toml");
    let err = Config::load(&path, None).unwrap_err().to_string();
    assert!(
        err.contains("master_ip: no master address") && err.contains("--master-ip"),
        "{err}"
    );
    let loaded = Config::load(&path, Some(Ipv4Addr::new(192, 168, 100, 11))).unwrap();
    assert_eq!(
        loaded,
        ConfigFile {
            master_ip: Some(Ipv4Addr::new(192, 168, 100, 11)),
            ..ConfigFile::default()
        }
        .validate()
        .unwrap()
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let project = Project::new();
    std::fs::write(
        project.path().join("cluster.toml"),
        "master_ip = \"10.0.0.1\"\n",
    )
    .unwrap();
    let out = project.kubedeb(&["init", "--master-ip", "10.9.9.9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("cluster.toml already exists") && out.stderr.contains("--force"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("cluster.toml")).unwrap(),
        "master_ip = \"10.0.0.1\"\n"
    );
    let out = project.kubedeb(&["init", "--master-ip", "10.9.9.9", "--force"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(std::fs::read_to_string(project.path().join("cluster.toml"))
        .unwrap()
        .contains("master_ip = \"10.9.9.9\""));
}

#[test]
fn missing_file_means_defaults_plus_the_master_address() {
    let project = Project::new();
    let loaded = Config::load(
        &project.path().join("absent.toml"),
        Some(Ipv4Addr::new(10, 0, 0, 1)),
    )
    .unwrap();
    assert_eq!(loaded.master_ip, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(
        loaded.network.first_service_ip(),
        Ipv4Addr::new(192, 168, 3, 1)
    );
    assert_eq!(
        loaded.flannel_config_json(),
        r#"{"Network":"172.16.0.0/16", "Backend": {"Type": "vxlan"}}"#
    );
}

/// Each bad cluster.toml stops `kubedeb check` (which validates every setting; `fetch` only
/// those it uses) with exit 1, the setting named, and no cache folder created.
#[test]
fn invalid_settings_stop_a_command_naming_the_setting() {
    let cases: &[(&str, &str, &str)] = &[
        ("", "master_ip", "no master address"),
        ("master_ip = \"192.168.100.11\"\n[network]\nservice_cluster_ip_range = \"192.168.3.0/40\"", "network.service_cluster_ip_range", "CIDR"),
        ("master_ip = \"192.168.100.11\"\n[network]\nflannel_network = \"172.16.0.0/23\"", "network.flannel_network", "node subnet"),
        ("master_ip = \"192.168.100.11\"\n[network]\nservice_cluster_ip_range = \"172.16.8.0/24\"\n[dns]\nserver_ip = \"172.16.8.10\"", "network.service_cluster_ip_range", "overlaps"),
        ("master_ip = \"192.168.100.11\"\n[dns]\nserver_ip = \"10.0.0.10\"", "dns.server_ip", "outside"),
        ("master_ip = \"192.168.100.11\"\n[dns]\nserver_ip = \"192.168.3.0\"", "dns.server_ip", "network address"),
        ("master_ip = \"192.168.100.11\"\n[dns]\nserver_ip = \"192.168.3.1\"", "dns.server_ip", "first address"),
        ("master_ip = \"192.168.3.7\"", "master_ip", "inside network.service_cluster_ip_range"),
        ("master_ip = \"172.16.0.7\"", "master_ip", "inside network.flannel_network"),
        ("master_ip = \"192.168.100.11\"\n[apiserver]\nservice_node_port_range = \"32767-30000\"", "apiserver.service_node_port_range", "reversed"),
        ("master_ip = \"192.168.100.11\"\n[apiserver]\nservice_node_port_range = \"30000-99999\"", "apiserver.service_node_port_range", "1 to 65535"),
        ("master_ip = \"192.168.100.11\"\n[versions]\netcd = \"9.9.9\"", "versions.etcd", "no catalog entry for etcd 9.9.9"),
        ("master_ip = \"192.168.100.11\"\n[kubelet]\npause_image = \"gcr.io/Google_Containers/pause\"", "kubelet.pause_image", "not an image reference"),
        ("master_ip = \"192.168.100.11\"\n[network]\nflannel_extra_json = '\"SubnetLen\": }'", "network.flannel_extra_json", "not be valid JSON"),
    ];
    for (text, setting, words) in cases {
        let project = Project::new();
        std::fs::write(project.path().join("cluster.toml"), text).unwrap();
        std::fs::create_dir(project.path().join("empty")).unwrap();
        let out = project.kubedeb(&["check"]);
        let err = &out.stderr;
        assert_eq!(out.status.code(), Some(1), "{setting}: {err}");
        assert!(
            err.contains(&format!("{setting}: ")) && err.contains(words),
            "{setting} / {words}: {err}"
        );
        assert!(err.starts_with("error: cluster.toml: "), "{err}");
        assert!(
            !project.path().join("cache").exists(),
            "{setting}: nothing written"
        );
    }
}

#[test]
fn unknown_keys_are_named() {
    let project = Project::new();
    std::fs::write(
        project.path().join("cluster.toml"),
        "master_ip = \"10.0.0.1\"\n[network]\nflanel_network = \"10.1.0.0/16\"\n",
    )
    .unwrap();
    let out = project.kubedeb(&["fetch", "--from", "."]);
    assert_eq!(out.status.code(), Some(1));
    let err = &out.stderr;
    assert!(
        err.contains("cluster.toml is not a valid cluster.toml")
            && err.contains("unknown field `flanel_network`"),
        "{err}"
    );
    assert!(
        err.contains("flannel_network"),
        "lists the known keys: {err}"
    );
}

#[test]
fn a_user_catalog_adds_versions() {
    let project = Project::new();
    std::fs::write(project.path().join("cluster.toml"), "master_ip = \"10.0.0.1\"\n[versions]\netcd = \"2.3.7\"\n[fetch]\ncatalog = \"mine.toml\"\n").unwrap();
    std::fs::write(
        project.path().join("mine.toml"),
        "[etcd.\"2.3.7\"]\nfile = \"etcd-v2.3.7-linux-amd64.tar.gz\"\nurl = \"https://github.com/coreos/etcd/releases/download/v2.3.7/etcd-v2.3.7-linux-amd64.tar.gz\"\n\
         [etcd.\"2.3.7\".binaries]\netcd = [\"etcd-v2.3.7-linux-amd64/etcd\"]\netcdctl = [\"etcd-v2.3.7-linux-amd64/etcdctl\"]\n",
    )
    .unwrap();
    std::fs::create_dir(project.path().join("empty")).unwrap();
    let out = project.kubedeb(&["fetch", "--from", "empty"]);
    let err = &out.stderr;
    // Validation passed: the fetch itself now asks for the new version's tarball.
    assert!(
        err.contains("etcd-v2.3.7-linux-amd64.tar.gz is not in empty"),
        "{err}"
    );
    // Without the catalog, the version is unknown.
    let out = project.kubedeb(&[
        "fetch",
        "--from",
        "empty",
        "--catalog",
        "/nonexistent/catalog.toml",
    ]);
    let err = &out.stderr;
    assert!(
        err.contains("cannot read the catalog /nonexistent/catalog.toml"),
        "{err}"
    );

    // fetch.catalog is relative to the config file, wherever kubedeb runs.
    let site = project.path().join("site");
    std::fs::create_dir(&site).unwrap();
    for file in ["cluster.toml", "mine.toml"] {
        std::fs::rename(project.path().join(file), site.join(file)).unwrap();
    }
    // --from too: relative paths are relative to the config file's folder.
    std::fs::rename(project.path().join("empty"), site.join("empty")).unwrap();
    let out = project.kubedeb(&["fetch", "-c", "site/cluster.toml", "--from", "empty"]);
    let err = &out.stderr;
    assert!(
        err.contains("etcd-v2.3.7-linux-amd64.tar.gz is not in site/empty"),
        "{err}"
    );
}
