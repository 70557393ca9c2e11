//! Fetching the cluster's images: each from the registry mirrors then its own registry (or a `--from` folder), verified, written as a `docker save` archive and recorded.

use super::archive;
use super::auth::Credentials;
use super::index::{entry, images_dir, record, IndexEntry};
use super::mirror::{endpoints, RegistryMirror, Scheme};
use super::registry::{Registry, Store};
use super::ImageError;
use crate::catalog::ImageSpec;
use crate::fetch::lock::{ImageLockEntry, Lock};
use crate::fetch::FetchError;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// Where images come from, beyond their own registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Tried in order before each image's own registry.
    pub mirrors: Vec<RegistryMirror>,
    /// The containers auth file to read credentials from, if any.
    pub auth_file: Option<PathBuf>,
    /// An extra PEM CA for registries with their own (fetch.registry_ca).
    pub ca: Option<PathBuf>,
}

/// One run of image fetching, inside a tarball fetch (under its cache lock).
pub struct Job<'a> {
    pub images: &'a [ImageSpec],
    pub registry: &'a RegistryOptions,
    pub from: Option<&'a Path>,
    pub cache: &'a Path,
    pub max_download: u64,
    pub timeout: std::time::Duration,
    /// The subcommand the user ran, for advice.
    pub command: &'static str,
    pub lock: &'a Lock,
    pub progress: &'a MultiProgress,
    pub say: &'a dyn Fn(String),
}

/// The ID an image must have, and who says so.
enum Expected {
    Pin(String),
    Locked(ImageLockEntry),
    FirstUse,
}

impl Job<'_> {
    fn blobs(&self) -> PathBuf {
        images_dir(self.cache).join("blobs").join("sha256")
    }

    fn expected(&self, spec: &ImageSpec) -> Result<Expected, FetchError> {
        if let Some(id) = &spec.id {
            return Ok(Expected::Pin(id.clone()));
        }
        Ok(match self.lock.image(&spec.reference.to_string())? {
            Some(entry) => Expected::Locked(entry),
            None => Expected::FirstUse,
        })
    }

    /// Why `id` is not the image wanted, with both IDs; `None` when it is.
    fn wrong_id(&self, spec: &ImageSpec, expected: &Expected, id: &str) -> Option<String> {
        match expected {
            Expected::Pin(pin) if pin != id => Some(format!(
                "its image ID is {id}, but the catalog pins {pin}: refused"
            )),
            Expected::Locked(entry) if entry.id != id => Some(format!(
                "its image ID is {id}, but {} recorded {} at its first fetch (from {}): refused; \
                 if the new image is the right one, delete the [image.\"{}\"] entry from {} \
                 (or pin its id in your own catalog, --catalog) and fetch again",
                self.lock.path().display(),
                entry.id,
                entry.source,
                spec.reference,
                self.lock.path().display()
            )),
            _ => None,
        }
    }

    /// Fetch every image; every failure is reported, not only the first.
    pub fn run(&self) -> Result<(), FetchError> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |e: std::io::Error| {
                FetchError::Image(ImageError::Io {
                    action,
                    path,
                    cause: e.to_string(),
                })
            }
        };
        let blobs = self.blobs();
        std::fs::create_dir_all(&blobs).map_err(io("create the image folder", &blobs))?;
        tidy(self.cache, &blobs);
        let credentials = match (&self.registry.auth_file, self.from) {
            (Some(file), None) => Credentials::load(file)?,
            _ => Credentials::none(),
        };
        let registry = match self.from {
            Some(_) => None,
            None => Some(Registry::new(
                self.registry.ca.as_deref(),
                Scheme::http_hosts(
                    self.images
                        .iter()
                        .flat_map(|s| endpoints(&self.registry.mirrors, &s.reference))
                        .collect::<Vec<_>>()
                        .iter(),
                ),
                self.timeout,
            )?),
        };
        let mut errors = Vec::new();
        for spec in self.images {
            let result = match (&registry, self.from) {
                (_, Some(dir)) => self.carried(spec, dir),
                (Some(registry), None) => self.pulled(spec, registry, &credentials),
                (None, None) => unreachable!("a registry client unless --from"),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(FetchError::Several(errors)),
        }
    }

    /// The cached archive, when it is recorded, unchanged and of the expected ID.
    fn already(&self, spec: &ImageSpec, expected: &Expected) -> Result<bool, FetchError> {
        let Some(found) = entry(self.cache, &spec.reference)? else {
            return Ok(false);
        };
        let wanted = match expected {
            Expected::Pin(id) => id,
            Expected::Locked(e) => &e.id,
            // Nothing vouches for it: fetch again and trust that copy.
            Expected::FirstUse => return Ok(false),
        };
        let path = images_dir(self.cache).join(&found.file);
        if found.file != spec.reference.file_name() || found.id != *wanted || !path.is_file() {
            return Ok(false);
        }
        if crate::fetch::sha256_file(&path)? != found.sha256 {
            (self.say)(format!(
                "{}: {} changed since it was fetched; fetching it again",
                spec.reference,
                path.display()
            ));
            return Ok(false);
        }
        (self.say)(format!(
            "{}: already fetched in {} (image ID {})",
            spec.reference,
            path.display(),
            found.id
        ));
        Ok(true)
    }

    fn pulled(
        &self,
        spec: &ImageSpec,
        registry: &Registry,
        credentials: &Credentials,
    ) -> Result<(), FetchError> {
        let expected = self.expected(spec)?;
        if self.already(spec, &expected)? {
            return Ok(());
        }
        let blobs = self.blobs();
        let sources = endpoints(&self.registry.mirrors, &spec.reference);
        let count = sources.len();
        let mut attempts = Vec::new();
        let mut id_refused = false;
        for (i, at) in sources.iter().enumerate() {
            (self.say)(format!("{}: connecting to {at}", spec.reference));
            let bar = self.progress.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_message(spec.reference.to_string());
            let wrong = std::cell::Cell::new(false);
            let check = |id: &str| match self.wrong_id(spec, &expected, id) {
                Some(why) => {
                    wrong.set(true);
                    Err(why)
                }
                None => Ok(()),
            };
            let result = registry.pull(
                at,
                credentials,
                Store {
                    blobs: &blobs,
                    max_download: self.max_download,
                },
                &check,
                &bar,
                self.say,
            );
            bar.finish_and_clear();
            self.progress.remove(&bar);
            match result {
                Ok(pulled) => {
                    return self.keep(
                        spec,
                        &expected,
                        &pulled.config,
                        &pulled.id,
                        &pulled.layers,
                        &at.to_string(),
                    );
                }
                Err(why) => {
                    id_refused |= wrong.get();
                    if i + 1 < count {
                        (self.say)(format!("{at}: {why}; trying the next source"));
                    }
                    attempts.push((at.to_string(), why));
                }
            }
        }
        let next = if id_refused {
            match expected {
                Expected::Pin(_) => "fetch it from a source that has the pinned image, or correct the id in your catalog (--catalog)".to_string(),
                _ => "the sources serve another image under this name; see above how to accept it".to_string(),
            }
        } else {
            format!(
                "add a registry mirror that has it (--registry-mirror MIRROR or fetch.registry_mirrors, e.g. \
                 registry.cn-hangzhou.aliyuncs.com/google_containers=gcr.io/google_containers), or save it \
                 elsewhere as {} (`docker save`) and run `kubedeb {} --from DIR`",
                spec.reference.file_name(),
                self.command
            )
        };
        Err(FetchError::Image(ImageError::AllSourcesFailed {
            reference: spec.reference.to_string(),
            attempts,
            next,
        }))
    }

    /// Carried in by hand: a wrong archive is an error, there is no other source.
    fn carried(&self, spec: &ImageSpec, dir: &Path) -> Result<(), FetchError> {
        let expected = self.expected(spec)?;
        let path = dir.join(spec.reference.file_name());
        if !path.is_file() {
            return Err(FetchError::Image(ImageError::NotInFolder {
                file: spec.reference.file_name(),
                dir: dir.to_path_buf(),
                reference: spec.reference.to_string(),
            }));
        }
        let refused = |problem: String| {
            FetchError::Image(ImageError::Refused {
                path: path.clone(),
                reference: spec.reference.to_string(),
                problem,
            })
        };
        (self.say)(format!("{}: reading {}", spec.reference, path.display()));
        let carried = archive::read(&path, &spec.reference, &self.blobs(), self.max_download)
            .map_err(refused)?;
        if let Some(why) = self.wrong_id(spec, &expected, &carried.id) {
            remove_all(&carried.layers);
            return Err(refused(why));
        }
        self.keep(
            spec,
            &expected,
            &carried.config,
            &carried.id,
            &carried.layers,
            &path.display().to_string(),
        )
    }

    /// Write the verified image's archive, trust its ID when it is the first copy, record it.
    fn keep(
        &self,
        spec: &ImageSpec,
        expected: &Expected,
        config: &[u8],
        id: &str,
        layers: &[PathBuf],
        source: &str,
    ) -> Result<(), FetchError> {
        let file = spec.reference.file_name();
        let dest = images_dir(self.cache).join(&file);
        let sha256 =
            archive::write(&dest, &spec.reference, config, id, layers).map_err(|cause| {
                FetchError::Image(ImageError::Io {
                    action: "write",
                    path: dest.clone(),
                    cause,
                })
            })?;
        remove_all(layers);
        let key = spec.reference.to_string();
        if let Expected::FirstUse = expected {
            self.lock.record_image(
                &key,
                ImageLockEntry {
                    id: id.to_string(),
                    source: source.to_string(),
                },
            )?;
            (self.say)(format!(
                "{key}: the catalog pins no image ID: trusting this first copy (from {source}); \
                 recorded {id} in {}. Later fetches must match it.",
                self.lock.path().display()
            ));
        }
        record(
            self.cache,
            &spec.reference,
            IndexEntry {
                file,
                id: id.to_string(),
                sha256,
                source: source.to_string(),
            },
        )?;
        (self.say)(format!(
            "{key}: image ID {id} verified; wrote {}",
            dest.display()
        ));
        Ok(())
    }
}

fn remove_all(paths: &[PathBuf]) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes what killed fetches left half-written: staging folders and archive temp files
/// (run under the cache lock, so none belongs to a running fetch). `.part` blobs stay, to resume.
fn tidy(cache: &Path, blobs: &Path) {
    let clear = |dir: &Path, prefix: &str| {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(prefix) {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    };
    clear(blobs, ".carried-");
    clear(&images_dir(cache), ".image-");
}
