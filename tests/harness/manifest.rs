//! The units packaging/packages.toml declares, so tests check the packages against the same list.

use std::path::Path;

/// (package, unit names in packages.toml order) of every package.
pub fn units() -> Vec<(String, Vec<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/packages.toml");
    let text = std::fs::read_to_string(&path).expect("packaging/packages.toml");
    let manifest: toml::Table = toml::from_str(&text).expect("packages.toml parses");
    let packages = manifest["package"].as_array().expect("[[package]]");
    packages
        .iter()
        .map(|p| {
            let names = p
                .get("units")
                .and_then(|u| u.as_array())
                .map(|units| {
                    units
                        .iter()
                        .map(|u| u["name"].as_str().expect("unit name").to_string())
                        .collect()
                })
                .unwrap_or_default();
            (p["name"].as_str().expect("package name").to_string(), names)
        })
        .collect()
}

/// Every unit of every package.
pub fn all_units() -> Vec<String> {
    units().into_iter().flat_map(|(_, units)| units).collect()
}
