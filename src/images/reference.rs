//! A container image reference (`[registry[:port]/]path[:tag][@digest]`), parsed once into its parts.

use serde::{Serialize, Serializer};
use std::fmt;

/// Where an image without a registry host comes from, as Docker names it.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference. `Display` gives it back in full form (`registry/path:tag[@digest]`),
/// which is the name kubelet and `docker load` use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// `host[:port]`; [`DOCKER_HUB`] when the reference names none.
    pub registry: String,
    /// The path in the registry, e.g. `google_containers/pause` (`library/x` on Docker Hub).
    pub repository: String,
    /// The tag; `latest` when the reference names none.
    pub tag: String,
    /// `algorithm:hex` when the reference pins a manifest digest.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parse `reference`; the error says what part is wrong.
    pub fn parse(reference: &str) -> Result<ImageRef, String> {
        parse_parts(reference)
    }

    /// The file name of the image's `docker save` archive, in the cache and in a `--from` folder:
    /// the reference with `/`, `:` and `@` turned into `_`, plus `.tar`
    /// (`gcr.io_google_containers_pause_0.8.0.tar`).
    pub fn file_name(&self) -> String {
        let mut name = format!("{}/{}:{}", self.registry, self.repository, self.tag);
        if let Some(digest) = &self.digest {
            name.push('@');
            name.push_str(digest);
        }
        name.replace(['/', ':', '@'], "_") + ".tar"
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)?;
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn parse_parts(reference: &str) -> Result<ImageRef, String> {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        let (algorithm, hex) = digest
            .split_once(':')
            .ok_or("the digest must be algorithm:hex")?;
        let algorithm_ok = !algorithm.is_empty()
            && algorithm.split(['+', '.', '-', '_']).all(|part| {
                part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && part.chars().all(|c| c.is_ascii_alphanumeric())
            });
        if !algorithm_ok || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("bad digest {digest:?}"));
        }
    }
    // A tag follows the last ':' unless that ':' belongs to a registry port (a '/' comes after it).
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !tag_ok {
            return Err(format!("bad tag {tag:?}"));
        }
    }
    if name.is_empty() {
        return Err("no name".into());
    }
    if name.len() > 255 {
        return Err("the name is longer than 255 characters".into());
    }
    let mut components: Vec<&str> = name.split('/').collect();
    let first = components[0];
    if components.len() > 1
        && (first.contains(['.', ':'])
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()))
    {
        check_domain(first)?;
        components.remove(0);
    }
    let registry = if name.split('/').count() > components.len() {
        first.to_string()
    } else {
        DOCKER_HUB.to_string()
    };
    for component in &components {
        if !is_path_component(component) {
            return Err(format!("bad repository path component {component:?} (lowercase letters and digits, separated by '.', '_', '__' or '-')"));
        }
    }
    // Docker Hub's official images live under library/.
    if registry == DOCKER_HUB && components.len() == 1 {
        components.insert(0, "library");
    }
    Ok(ImageRef {
        registry,
        repository: components.join("/"),
        tag: tag.unwrap_or("latest").to_string(),
        digest: digest.map(str::to_string),
    })
}

fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    if let Some(port) = port {
        if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("bad registry port {port:?}"));
        }
    }
    let host_ok = !host.is_empty()
        && host.split('.').all(|part| {
            !part.is_empty()
                && !part.starts_with('-')
                && !part.ends_with('-')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if host_ok {
        Ok(())
    } else {
        Err(format!("bad registry host {host:?}"))
    }
}

fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_into_registry_path_and_tag() {
        let r = ImageRef::parse("gcr.io/google_containers/pause:0.8.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("gcr.io", "google_containers/pause", "0.8.0")
        );
        assert_eq!(r.to_string(), "gcr.io/google_containers/pause:0.8.0");
        assert_eq!(r.file_name(), "gcr.io_google_containers_pause_0.8.0.tar");
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        let r = ImageRef::parse("localhost:5000/pause:3.1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost:5000", "pause")
        );
        let r = ImageRef::parse("registry.local:5000/google_containers/pause-amd64").unwrap();
        assert_eq!(r.tag, "latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("gcr.io/x/pause:1@{digest}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
    }

    #[test]
    fn references_follow_the_docker_grammar() {
        for good in [
            "daocloud.io/gpx_dev/pause:0.8.0",
            "gcr.io/google_containers/skydns:2015-10-13-8c72f8c",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a__b/c.d-e---f",
        ] {
            assert!(ImageRef::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in [
            "",
            "daocloud.io/gpx_dev/pause:",
            "daocloud.io/gpx_dev/pause:-x",
            "daocloud.io//pause",
            "pause@sha256:abc",
            "registry:port/pause",
            "pause_/x",
            "pause:1 2",
            "gpx_dev/Pause:0.8.0",
            "Daocloud/Pause",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }
}
