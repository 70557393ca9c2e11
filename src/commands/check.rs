//! `kubedeb check`: validate the settings and show what each package will contain.

use crate::cli::{CheckArgs, Format};
use crate::fetch::record;

pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let cache = super::resolve(&args.cluster, &args.cache);
    let (config, catalog) = super::load(&args.cluster, &cache)?;
    let binaries = crate::packages::expected_binaries(&cache, &config, &catalog)?;
    let images = crate::packages::expected_images(&cache, &config.images(&catalog)?)?;
    let specs = crate::packages::specs(&config, &catalog, &binaries, &images, None)?;
    let fetched = binaries.values().all(|path| path.exists());
    let images_fetched = images.iter().all(|i| i.id.is_some() && i.archive.exists());
    let differences = match record::read(&cache)? {
        Some(record) => record::differences(&record, &catalog, &config.versions),
        None => Vec::new(),
    };
    let closure = if config.debian.carry {
        crate::airgap::closure::read(&crate::airgap::debian_dir(&cache))?
    } else {
        None
    };
    let net = &config.network;
    if args.format == Format::Json {
        let doc = serde_json::json!({
            "valid": true,
            "config": args.cluster.config_path(),
            "catalog": catalog.user_file(),
            "master_ip": config.master_ip.to_string(),
            "network": net,
            "versions": {
                "kubernetes": config.versions.kubernetes,
                "flannel": config.versions.flannel,
                "etcd": config.versions.etcd,
            },
            "cache": cache,
            "fetched": fetched,
            "images_fetched": images_fetched,
            "catalog_differences": differences,
            "packages": crate::packages::describe_json(&specs),
            "debian": {
                "carry": config.debian.carry,
                "carried": closure.as_ref().map(crate::airgap::json),
            },
        });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("JSON values serialize")
        );
        return Ok(());
    }
    crate::outln!("settings are valid");
    crate::outln!("  master {}, service range {} (kubernetes service {}), flannel network {} ({} subnets of /{})", config.master_ip, net.service_cluster_ip_range, net.first_service_ip(), net.flannel_network, net.flannel_subnets, net.flannel_subnet_len);
    crate::outln!(
        "  versions: kubernetes {}, flannel {}, etcd {}",
        config.versions.kubernetes,
        config.versions.flannel,
        config.versions.etcd
    );
    crate::outln!();
    if !differences.is_empty() {
        crate::outln!(
            "(the cache {} was fetched with other catalog entries; `kubedeb build` refuses until you pass the catalog it was fetched with or fetch again:",
            cache.display()
        );
        for difference in &differences {
            crate::outln!("   {difference}");
        }
        crate::outln!(")\n");
    } else if !fetched {
        crate::outln!(
            "(binaries not fetched yet: run `kubedeb fetch`; paths below are where they will be)\n"
        );
    }
    if !images_fetched {
        let missing: Vec<String> = images
            .iter()
            .filter(|i| i.id.is_none() || !i.archive.exists())
            .map(|i| i.spec.reference.to_string())
            .collect();
        crate::outln!(
            "(images not fetched yet: {}; run `kubedeb fetch`, `kubedeb build` packages them into k8s-images)\n",
            missing.join(", ")
        );
    }
    crate::out!("{}", crate::packages::describe(&specs));
    match (&closure, config.debian.carry) {
        (Some(closure), _) => crate::out!("\n{}", crate::airgap::describe(closure, args.explain)),
        (None, true) => crate::outln!(
            "\n(Debian packages for {} {} not fetched yet: run `kubedeb fetch`; debian.carry is on)",
            config.debian.release,
            config.debian.architecture
        ),
        (None, false) => crate::outln!(
            "\n(debian.carry is off: nodes install docker.io, iptables, ... from their own Debian mirror)"
        ),
    }
    Ok(())
}
