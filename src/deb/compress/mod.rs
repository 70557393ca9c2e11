//! The compression engine: one streaming [`Encoder`] per member, and for data.tar the
//! [`BlockWriter`], which compresses independent blocks on every core and splices those the
//! block cache already holds into one xz stream (or a run of gzip members).
//!
//! [`encoder`] holds the streaming compressors and their level and thread rules, [`codec`]
//! the block compressors and their framing, [`xz`] the hand-written xz container, [`blocks`]
//! the worker pool and [`block_cache`] the on-disk cache of compressed blocks.

mod block_cache;
mod blocks;
mod codec;
mod encoder;
mod xz;

pub use blocks::{BlockWriter, BuildReport};
pub use codec::Codec;
pub use encoder::level_range;
pub use encoder::{level, threads, Encoder};
