//! `kubedeb check`: validate the settings and show what each package will contain.

use crate::cli::ClusterArgs;

/// The cache folder `kubedeb fetch` uses by default; `check` shows paths inside it.
const DEFAULT_CACHE: &str = "cache";

pub fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    let (config, catalog) = super::load(args)?;
    let net = &config.network;
    println!("settings are valid");
    println!("  master {}, service range {} (kubernetes service {}), flannel network {} ({} subnets of /{})", config.master_ip, net.service_cluster_ip_range, net.first_service_ip(), net.flannel_network, net.flannel_subnets, net.flannel_subnet_len);
    println!(
        "  versions: kubernetes {}, flannel {}, etcd {}",
        config.versions.kubernetes, config.versions.flannel, config.versions.etcd
    );
    println!();
    let binaries =
        crate::packages::expected_binaries(std::path::Path::new(DEFAULT_CACHE), &config, &catalog)?;
    let specs = crate::packages::specs(&config, &catalog, &binaries, None)?;
    if binaries.values().any(|path| !path.exists()) {
        println!(
            "(binaries not fetched yet: run `kubedeb fetch`; paths below are where they will be)\n"
        );
    }
    print!("{}", crate::packages::describe(&specs));
    Ok(())
}
