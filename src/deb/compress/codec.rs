//! The block compressors (xz, gzip) behind the block writer, their framing, and the reader
//! that feeds a block straight from a slice of a source file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::encoder;
use super::xz::{self, Record};
use crate::deb::error::DebError;
use crate::deb::model::{BuildOptions, Compression};

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
        let level = encoder::level(opts)?;
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

/// One block's input read again from the source file by a worker: `data_len` bytes at
/// `offset`, then `zeros` bytes of tar padding. At the end it checks what it read against
/// the CRC32 of what the main thread's read saw (and the SHA-256 of an earlier read, when
/// given) and ends with an error (a [`DebError`] inside the I/O error) instead of
/// end-of-file when they differ: the file changed in between.
pub struct SliceReader {
    file: Arc<File>,
    pos: u64,
    data_left: u64,
    zeros_left: u64,
    sha256: Sha256,
    crc32: crc32fast::Hasher,
    expect_crc32: u32,
    expect_sha256: Option<[u8; 32]>,
    origin: Origin,
    read_sha256: Option<[u8; 32]>,
}

impl SliceReader {
    pub fn new(
        file: Arc<File>,
        (offset, data_len, zeros): (u64, u64, u64),
        (expect_crc32, expect_sha256): (u32, Option<[u8; 32]>),
        origin: Origin,
    ) -> Self {
        SliceReader {
            file,
            pos: offset,
            data_left: data_len,
            zeros_left: zeros,
            sha256: Sha256::new(),
            crc32: crc32fast::Hasher::new(),
            expect_crc32,
            expect_sha256,
            origin,
            read_sha256: None,
        }
    }

    /// Reads the whole slice and returns its SHA-256, checked like any read.
    pub fn sha256(mut self) -> io::Result<[u8; 32]> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.read_sha256.expect("set at the end of the slice"))
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

    fn end(&mut self) -> io::Result<usize> {
        let sha256: [u8; 32] = self.sha256.clone().finalize().into();
        let crc32 = self.crc32.clone().finalize();
        if crc32 != self.expect_crc32 || self.expect_sha256.is_some_and(|e| e != sha256) {
            return Err(self.error(None));
        }
        self.read_sha256 = Some(sha256);
        Ok(0)
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
            return self.end();
        };
        self.sha256.update(&buf[..n]);
        self.crc32.update(&buf[..n]);
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
        let want = b"34567\0\0\0\0";
        let crc = crc32fast::hash(want);
        let sha: [u8; 32] = Sha256::digest(want).into();
        let mut r = SliceReader::new(Arc::clone(&file), (3, 5, 4), (crc, Some(sha)), origin());
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, want);
        let r = SliceReader::new(Arc::clone(&file), (3, 5, 4), (crc, None), origin());
        assert_eq!(r.sha256().unwrap(), sha);

        // The same range with other bytes than the first read saw.
        for expect in [(crc, Some([0; 32])), (crc ^ 1, None)] {
            let mut r = SliceReader::new(Arc::clone(&file), (3, 5, 4), expect, origin());
            let err = r.read_to_end(&mut Vec::new()).unwrap_err();
            let err = DebError::unwrap_io(err).unwrap().to_string();
            assert!(
                err.contains("/src/x") && err.contains("changed while"),
                "{err}"
            );
        }
        // A file that got shorter.
        let mut r = SliceReader::new(file, (8, 5, 0), (crc, None), origin());
        let err = DebError::unwrap_io(r.read_to_end(&mut Vec::new()).unwrap_err()).unwrap();
        assert!(matches!(err, DebError::SourceModified { .. }), "{err}");
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
