//! Registry mirrors (`[http://|https://]host[:port][/prefix][=source]`), parsed once, and where each serves an image.

use super::ImageRef;
use std::fmt;

/// How a registry is spoken to: https unless `http://` was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A registry mirror as the user wrote it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryMirror {
    pub scheme: Scheme,
    /// `host[:port]`.
    pub host: String,
    /// The path the mirror puts its images under (may be empty).
    pub prefix: String,
    /// `=source`: the mirror serves only images under this registry and path.
    pub source: Option<MirrorSource>,
}

/// The `registry[/path]` part of `=source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorSource {
    pub registry: String,
    pub path: String,
}

/// One place to pull an image from: a registry, the repository there and the tag (or digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    pub host: String,
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}/{}:{}",
            self.scheme.as_str(),
            self.host,
            self.repository,
            self.tag
        )?;
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Display for RegistryMirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        if let Some(source) = &self.source {
            write!(f, "={}", source.registry)?;
            if !source.path.is_empty() {
                write!(f, "/{}", source.path)?;
            }
        }
        Ok(())
    }
}

const FORM: &str = "write it as [http://|https://]host[:port][/prefix][=source], e.g. \
    registry.cn-hangzhou.aliyuncs.com/google_containers=gcr.io/google_containers";

impl RegistryMirror {
    /// Parse a mirror; the error says what is wrong and how to write one.
    pub fn parse(text: &str) -> Result<RegistryMirror, String> {
        let bad = |why: String| format!("{text:?} is not a registry mirror: {why}; {FORM}");
        if text.contains(char::is_whitespace) || text.is_empty() {
            return Err(bad("it is empty or has spaces".into()));
        }
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if text.contains("://") {
            return Err(bad("only http:// and https:// are registry schemes".into()));
        } else {
            (Scheme::Https, text)
        };
        let (place, source) = match rest.split_once('=') {
            Some((place, source)) => (place, Some(source)),
            None => (rest, None),
        };
        let place = place.trim_end_matches('/');
        let (host, prefix) = place.split_once('/').unwrap_or((place, ""));
        // The reference grammar knows hosts and paths: a host is what it takes as a registry.
        let probe = if prefix.is_empty() {
            format!("{host}/x")
        } else {
            format!("{host}/{prefix}/x")
        };
        let parsed = ImageRef::parse(&probe).map_err(|e| bad(e.to_string()))?;
        if parsed.registry != host {
            return Err(bad(format!(
                "{host:?} is not a registry host (a name with a dot or a port, or localhost)"
            )));
        }
        let source = match source {
            None => None,
            Some(source) => {
                let source = source.trim_end_matches('/');
                let parsed = ImageRef::parse(&format!("{source}/x"))
                    .map_err(|e| bad(format!("its source: {e}")))?;
                if !source.starts_with(&parsed.registry) {
                    return Err(bad(format!(
                        "its source {source:?} must start with the registry host, e.g. gcr.io/google_containers"
                    )));
                }
                let path = source[parsed.registry.len()..]
                    .trim_start_matches('/')
                    .to_string();
                Some(MirrorSource {
                    registry: parsed.registry,
                    path,
                })
            }
        };
        Ok(RegistryMirror {
            scheme,
            host: host.to_string(),
            prefix: prefix.to_string(),
            source,
        })
    }

    /// Where this mirror serves `image`, or `None` when its `=source` does not cover it.
    pub fn serves(&self, image: &ImageRef) -> Option<Endpoint> {
        let rest = match &self.source {
            None => image.repository.clone(),
            Some(source) if source.registry == image.registry => {
                if source.path.is_empty() {
                    image.repository.clone()
                } else {
                    image
                        .repository
                        .strip_prefix(&source.path)?
                        .strip_prefix('/')?
                        .to_string()
                }
            }
            Some(_) => return None,
        };
        let repository = if self.prefix.is_empty() {
            rest
        } else {
            format!("{}/{rest}", self.prefix)
        };
        Some(Endpoint {
            scheme: self.scheme,
            host: self.host.clone(),
            repository,
            tag: image.tag.clone(),
            digest: image.digest.clone(),
        })
    }
}

/// The image's own registry, over https.
pub fn origin(image: &ImageRef) -> Endpoint {
    Endpoint {
        scheme: Scheme::Https,
        host: image.registry.clone(),
        repository: image.repository.clone(),
        tag: image.tag.clone(),
        digest: image.digest.clone(),
    }
}

/// Every place to try for `image`, in order: the mirrors that serve it, then its own registry.
pub fn endpoints(mirrors: &[RegistryMirror], image: &ImageRef) -> Vec<Endpoint> {
    let mut all: Vec<Endpoint> = mirrors.iter().filter_map(|m| m.serves(image)).collect();
    let own = origin(image);
    if !all.contains(&own) {
        all.push(own);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(r: &str) -> ImageRef {
        ImageRef::parse(r).unwrap()
    }

    #[test]
    fn a_mirror_with_a_source_maps_only_the_images_under_it() {
        let m = RegistryMirror::parse(
            "registry.cn-hangzhou.aliyuncs.com/google_containers=gcr.io/google_containers",
        )
        .unwrap();
        assert_eq!(m.scheme, Scheme::Https);
        let e = m
            .serves(&image("gcr.io/google_containers/pause:0.8.0"))
            .unwrap();
        assert_eq!(
            e.to_string(),
            "https://registry.cn-hangzhou.aliyuncs.com/google_containers/pause:0.8.0"
        );
        assert_eq!(m.serves(&image("gcr.io/other/pause:0.8.0")), None);
        assert_eq!(
            m.serves(&image("docker.io/google_containers/pause:1")),
            None
        );
        assert_eq!(
            m.to_string(),
            "https://registry.cn-hangzhou.aliyuncs.com/google_containers=gcr.io/google_containers"
        );
    }

    #[test]
    fn a_mirror_without_a_source_serves_every_image_under_its_prefix() {
        let m = RegistryMirror::parse("http://127.0.0.1:5000").unwrap();
        let e = m
            .serves(&image("gcr.io/google_containers/pause:0.8.0"))
            .unwrap();
        assert_eq!(
            e.to_string(),
            "http://127.0.0.1:5000/google_containers/pause:0.8.0"
        );
        let m = RegistryMirror::parse("https://mirror.local:8443/cache/").unwrap();
        let e = m.serves(&image("busybox")).unwrap();
        assert_eq!(
            e.to_string(),
            "https://mirror.local:8443/cache/library/busybox:latest"
        );
        let m = RegistryMirror::parse("localhost:5000=gcr.io").unwrap();
        let e = m
            .serves(&image("gcr.io/google_containers/pause:0.8.0"))
            .unwrap();
        assert_eq!(e.repository, "google_containers/pause");
    }

    #[test]
    fn bad_mirrors_are_refused_with_the_form_to_write() {
        for bad in [
            "",
            "ftp://mirror.local",
            "mirror",
            "mirror.local/Bad",
            "mirror.local=",
            "mirror.local=gcr.io/BAD",
            "mirror local",
            "mirror.local:port",
        ] {
            let err = RegistryMirror::parse(bad).unwrap_err();
            assert!(err.contains("host[:port]"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_image_registry_comes_last_and_once() {
        let mirrors = [
            RegistryMirror::parse("http://127.0.0.1:1").unwrap(),
            RegistryMirror::parse("mirror.local=docker.io").unwrap(),
        ];
        let all = endpoints(&mirrors, &image("gcr.io/google_containers/pause:0.8.0"));
        let shown: Vec<String> = all.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "http://127.0.0.1:1/google_containers/pause:0.8.0",
                "https://gcr.io/google_containers/pause:0.8.0"
            ]
        );
    }
}
