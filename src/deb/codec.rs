//! The block compressors (xz, gzip) behind the block writer, their framing, and the reader
//! that feeds a block straight from a slice of a source file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::compress;
use super::error::DebError;
use super::model::{BuildOptions, Compression};
use super::xz::{self, Record};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Xz { preset: u32 },
    Gzip { level: u32 },
}

impl Codec {
    /// None for zstd: dpkg reads one frame only, and a zstd block depends on the state the
    /// blocks before it leave behind (repeat offsets, tables), so compressed parts cannot be
    /// joined.
    pub fn for_options(opts: &BuildOptions) -> Result<Option<Codec>, DebError> {
        let level = compress::level(opts)?;
        Ok(match opts.compression {
            Compression::Xz => Some(Codec::Xz { preset: level }),
            Compression::Gzip => Some(Codec::Gzip { level }),
            Compression::Zstd => None,
        })
    }

    pub fn compression(self) -> Compression {
        match self {
            Codec::Xz { .. } => Compression::Xz,
            Codec::Gzip { .. } => Compression::Gzip,
        }
    }

    /// Block input size. xz: three dictionaries, like `xz -T`, so the ratio matches it;
    /// gzip's 32 KiB window gains nothing from larger blocks.
    pub fn chunk_size(self) -> u64 {
        const DICT_KIB: [u64; 10] = [256, 1024, 2048, 4096, 4096, 8192, 8192, 16384, 32768, 65536];
        match self {
            Codec::Xz { preset } => (3 * DICT_KIB[preset as usize] * 1024).max(1 << 20),
            Codec::Gzip { .. } => 4 << 20,
        }
    }

    /// Compresses everything `input` gives into one block (xz) or member (gzip) on `out`.
    pub fn compress<W: Write>(self, input: &mut dyn Read, out: W) -> io::Result<(W, Record)> {
        match self {
            Codec::Xz { preset } => xz::compress_block(preset, input, out),
            Codec::Gzip { level } => {
                // GzBuilder writes neither a file name nor a timestamp.
                let counting = Counting {
                    inner: out,
                    count: 0,
                };
                let mut gz =
                    flate2::GzBuilder::new().write(counting, flate2::Compression::new(level));
                let uncompressed = io::copy(input, &mut gz)?;
                let counted = gz.finish()?;
                let record = Record {
                    unpadded: counted.count,
                    uncompressed,
                };
                Ok((counted.inner, record))
            }
        }
    }

    /// Everything besides the input that decides a block's bytes, for the cache key.
    pub fn params(self) -> String {
        match self {
            Codec::Xz { preset } => format!("xz preset {preset} check crc64"),
            Codec::Gzip { level } => format!("gzip level {level}"),
        }
    }

    /// The block length is the unpadded size rounded up to this.
    pub fn pad_to(self) -> u64 {
        match self {
            Codec::Xz { .. } => 4,
            Codec::Gzip { .. } => 1,
        }
    }

    pub fn stream_start(self) -> Vec<u8> {
        match self {
            Codec::Xz { .. } => xz::stream_header().to_vec(),
            Codec::Gzip { .. } => Vec::new(),
        }
    }

    pub fn stream_end(self, records: &[Record]) -> Vec<u8> {
        match self {
            Codec::Xz { .. } => xz::index_and_footer(records),
            Codec::Gzip { .. } => Vec::new(),
        }
    }
}

struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Which source a [`SliceReader`] reads, for its errors.
#[derive(Debug, Clone)]
pub struct Origin {
    pub entry: String,
    pub path: PathBuf,
}

/// One block's input read again from the source file: `data_len` bytes at `offset`, then
/// `zeros` bytes of tar padding. It ends with an error (a [`DebError`] inside the I/O
/// error) instead of end-of-file when those bytes do not have the SHA-256 `expected`, the
/// hash of what the first read saw: the file changed in between.
pub struct SliceReader {
    file: Arc<File>,
    pos: u64,
    data_left: u64,
    zeros_left: u64,
    hasher: Sha256,
    expected: [u8; 32],
    origin: Origin,
}

impl SliceReader {
    pub fn new(
        file: Arc<File>,
        (offset, data_len, zeros): (u64, u64, u64),
        expected: [u8; 32],
        origin: Origin,
    ) -> Self {
        SliceReader {
            file,
            pos: offset,
            data_left: data_len,
            zeros_left: zeros,
            hasher: Sha256::new(),
            expected,
            origin,
        }
    }

    fn error(&self, cause: Option<io::Error>) -> io::Error {
        let Origin { entry, path } = self.origin.clone();
        match cause {
            Some(cause) => DebError::ReadSource {
                entry,
                source_path: path,
                cause,
            },
            None => DebError::SourceModified {
                entry,
                source_path: path,
            },
        }
        .into_io()
    }
}

impl Read for SliceReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = if self.data_left > 0 {
            let want = buf
                .len()
                .min(usize::try_from(self.data_left).unwrap_or(usize::MAX));
            // Positioned reads: the workers share one open file description.
            let n = match self.file.read_at(&mut buf[..want], self.pos) {
                Ok(0) => return Err(self.error(None)),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
                Err(e) => return Err(self.error(Some(e))),
            };
            self.pos += n as u64;
            self.data_left -= n as u64;
            n
        } else if self.zeros_left > 0 {
            let n = buf
                .len()
                .min(usize::try_from(self.zeros_left).unwrap_or(usize::MAX));
            buf[..n].fill(0);
            self.zeros_left -= n as u64;
            n
        } else {
            let digest: [u8; 32] = self.hasher.clone().finalize().into();
            if digest != self.expected {
                return Err(self.error(None));
            }
            return Ok(0);
        };
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            entry: "/usr/bin/x".into(),
            path: "/src/x".into(),
        }
    }

    #[test]
    fn slice_reader_gives_the_range_then_zeros() {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(b"0123456789").unwrap();
        let file = Arc::new(tmp);
        let expected = Sha256::digest(b"34567\0\0\0\0").into();
        let mut r = SliceReader::new(Arc::clone(&file), (3, 5, 4), expected, origin());
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"34567\0\0\0\0");

        // The same range with other bytes than the first read saw.
        let mut r = SliceReader::new(file, (2, 5, 4), expected, origin());
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        let err = DebError::unwrap_io(err).unwrap().to_string();
        assert!(
            err.contains("/src/x") && err.contains("changed while"),
            "{err}"
        );
    }

    #[test]
    fn gzip_members_concatenate() {
        let codec = Codec::Gzip { level: 6 };
        let mut joined = Vec::new();
        for part in [&b"hello "[..], b"world"] {
            let (out, record) = codec.compress(&mut &part[..], Vec::new()).unwrap();
            assert_eq!(record.unpadded, out.len() as u64);
            assert_eq!(record.uncompressed, part.len() as u64);
            joined.extend_from_slice(&out);
        }
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&joined[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello world");
    }
}
