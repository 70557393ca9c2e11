//! Container images: their references, and the `docker save` archives kubedeb fetches and packages.

mod archive;
mod auth;
mod error;
mod fetch;
mod index;
mod layers;
mod mirror;
mod reference;
mod registry;

pub use auth::Credentials;
pub use error::ImageError;
pub use fetch::{Job, RegistryOptions};
pub use index::{cached, entry, images_dir, record, CachedImage, IndexEntry};
pub use mirror::{Endpoint, RegistryMirror, Scheme};
pub use reference::{ImageRef, DOCKER_HUB};
