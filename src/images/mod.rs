//! Container images: their references, and the `docker save` archives kubedeb fetches and packages.

mod error;
mod index;
mod reference;

pub use error::ImageError;
pub use index::{cached, entry, images_dir, record, CachedImage, IndexEntry};
pub use reference::{ImageRef, DOCKER_HUB};
