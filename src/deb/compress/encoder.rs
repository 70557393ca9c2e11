//! Streaming compressors for the archive members: xz and zstd on several threads, gzip
//! without name or timestamp, each producing the same bytes for the same input.

use std::io::{self, Write};

use crate::deb::error::DebError;
use crate::deb::model::{BuildOptions, Compression};

/// A compressing writer; [`Encoder::finish`] flushes the trailer and returns the inner writer.
pub enum Encoder<W: Write> {
    Xz(liblzma::write::XzEncoder<W>),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

/// The level range each compressor accepts.
pub fn level_range(compression: Compression) -> (u32, u32) {
    match compression {
        Compression::Xz => (0, 9),
        Compression::Gzip => (1, 9),
        Compression::Zstd => (1, 22),
    }
}

/// The level to use, checked against the compressor's range.
pub fn level(opts: &BuildOptions) -> Result<u32, DebError> {
    let level = opts
        .level
        .unwrap_or_else(|| opts.compression.default_level());
    let (min, max) = level_range(opts.compression);
    if !(min..=max).contains(&level) {
        return Err(DebError::InvalidLevel {
            compression: opts.compression,
            level,
            min,
            max,
        });
    }
    Ok(level)
}

/// Worker threads: the requested count, or one per core for 0.
pub fn threads(opts: &BuildOptions) -> u32 {
    match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        n => n,
    }
}

impl<W: Write> Encoder<W> {
    /// The thread count never changes the output: xz and zstd always run their
    /// multi-threaded (block/job based) encoders, whose output depends on the level only.
    pub fn new(opts: &BuildOptions, inner: W) -> Result<Self, DebError> {
        let level = level(opts)?;
        let threads = threads(opts);
        let setup = |cause: io::Error| DebError::Compressor {
            compression: opts.compression,
            cause,
        };
        Ok(match opts.compression {
            Compression::Xz => {
                let stream = liblzma::stream::MtStreamBuilder::new()
                    .preset(level)
                    .threads(threads)
                    .check(liblzma::stream::Check::Crc64)
                    .encoder()
                    .map_err(|e| setup(e.into()))?;
                Encoder::Xz(liblzma::write::XzEncoder::new_stream(inner, stream))
            }
            Compression::Gzip => Encoder::Gzip(
                // GzBuilder leaves out the file name and writes mtime 0.
                flate2::GzBuilder::new().write(inner, flate2::Compression::new(level)),
            ),
            Compression::Zstd => {
                let mut encoder =
                    zstd::stream::write::Encoder::new(inner, level as i32).map_err(setup)?;
                encoder.multithread(threads).map_err(setup)?;
                encoder.include_checksum(true).map_err(setup)?;
                Encoder::Zstd(encoder)
            }
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Xz(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Xz(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Xz(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn compress(opts: &BuildOptions, data: &[u8]) -> Vec<u8> {
        let mut e = Encoder::new(opts, Vec::new()).unwrap();
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn sample() -> Vec<u8> {
        (0..3_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 % 7)
            .collect()
    }

    #[test]
    fn output_does_not_depend_on_thread_count() {
        let data = sample();
        for compression in [Compression::Xz, Compression::Gzip, Compression::Zstd] {
            let mut opts = BuildOptions {
                compression,
                level: Some(1),
                threads: 1,
                ..Default::default()
            };
            let one = compress(&opts, &data);
            opts.threads = 4;
            assert_eq!(one, compress(&opts, &data), "{compression:?}");
        }
    }

    #[test]
    fn round_trips() {
        let data = sample();
        let opts = |compression| BuildOptions {
            compression,
            level: Some(3),
            ..Default::default()
        };
        let mut out = Vec::new();
        liblzma::read::XzDecoder::new(&compress(&opts(Compression::Xz), &data)[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        out.clear();
        flate2::read::GzDecoder::new(&compress(&opts(Compression::Gzip), &data)[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        assert_eq!(
            zstd::decode_all(&compress(&opts(Compression::Zstd), &data)[..]).unwrap(),
            data
        );
    }

    #[test]
    fn rejects_out_of_range_levels() {
        let opts = BuildOptions {
            compression: Compression::Zstd,
            level: Some(0),
            ..Default::default()
        };
        let err = Encoder::new(&opts, Vec::new()).err().unwrap().to_string();
        assert!(err.contains("1..=22"), "{err}");
    }
}
