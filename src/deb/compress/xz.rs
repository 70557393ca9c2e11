//! The .xz container around independently compressed blocks: stream header, index and
//! footer written by hand, and the block cut out of a single-block stream from liblzma.
//!
//! Format: <https://tukaani.org/xz/xz-file-format.txt> (sections 2, 3 and 4).

use std::io::{self, Read, Write};

const MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];
const FOOTER_MAGIC: [u8; 2] = *b"YZ";
/// Stream flags for the CRC64 check, the one xz and dpkg-deb use by default.
const FLAGS_CRC64: [u8; 2] = [0, 0x04];
pub const HEADER_LEN: usize = 12;
const FOOTER_LEN: usize = 12;
/// The largest index+footer of a one-block stream: indicator, count, two 9-byte varints,
/// CRC32 (20 + 4 bytes), then the footer.
const MAX_TAIL: usize = 24 + FOOTER_LEN;

/// One block as the index lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Block header + compressed data + check, without the block padding.
    pub unpadded: u64,
    pub uncompressed: u64,
}

impl Record {
    /// The block's length in the stream, padding included.
    pub fn padded(&self) -> u64 {
        self.unpadded.next_multiple_of(4)
    }
}

pub fn stream_header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..6].copy_from_slice(&MAGIC);
    h[6..8].copy_from_slice(&FLAGS_CRC64);
    h[8..].copy_from_slice(&crc32fast::hash(&FLAGS_CRC64).to_le_bytes());
    h
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The index listing `records` followed by the stream footer.
pub fn index_and_footer(records: &[Record]) -> Vec<u8> {
    let mut index = vec![0u8];
    varint(&mut index, records.len() as u64);
    for r in records {
        varint(&mut index, r.unpadded);
        varint(&mut index, r.uncompressed);
    }
    index.resize(index.len().next_multiple_of(4), 0);
    let crc = crc32fast::hash(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    let backward = (index.len() / 4 - 1) as u32;
    let mut footer = Vec::with_capacity(FOOTER_LEN);
    footer.extend_from_slice(&backward.to_le_bytes());
    footer.extend_from_slice(&FLAGS_CRC64);
    let crc = crc32fast::hash(&footer);
    index.extend_from_slice(&crc.to_le_bytes());
    index.extend_from_slice(&footer);
    index.extend_from_slice(&FOOTER_MAGIC);
    index
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("liblzma wrote an unexpected stream: {what}"),
    )
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> io::Result<u64> {
    let mut n = 0u64;
    for i in 0..9 {
        let b = *bytes.get(*pos).ok_or_else(|| bad("index ends early"))?;
        *pos += 1;
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(bad("index number too long"))
}

/// Given the end of a one-block stream, returns the block's record and how many of the
/// `tail` bytes are index and footer.
fn parse_tail(tail: &[u8]) -> io::Result<(Record, usize)> {
    let footer = tail
        .len()
        .checked_sub(FOOTER_LEN)
        .map(|at| &tail[at..])
        .ok_or_else(|| bad("too short for a footer"))?;
    if footer[10..] != FOOTER_MAGIC || footer[8..10] != FLAGS_CRC64 {
        return Err(bad("footer magic or flags"));
    }
    if crc32fast::hash(&footer[4..10]).to_le_bytes() != footer[..4] {
        return Err(bad("footer CRC32"));
    }
    let index_len = (u32::from_le_bytes(footer[4..8].try_into().unwrap()) as usize + 1) * 4;
    let index = tail
        .len()
        .checked_sub(FOOTER_LEN + index_len)
        .map(|at| &tail[at..tail.len() - FOOTER_LEN])
        .ok_or_else(|| bad("index longer than the stream tail"))?;
    let (body, crc) = index.split_at(index.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(bad("index CRC32"));
    }
    let mut pos = 1;
    if body[0] != 0 || read_varint(body, &mut pos)? != 1 {
        return Err(bad("not exactly one block"));
    }
    let record = Record {
        unpadded: read_varint(body, &mut pos)?,
        uncompressed: read_varint(body, &mut pos)?,
    };
    Ok((record, index_len + FOOTER_LEN))
}

/// Takes a whole one-block .xz stream and passes on only its block (padding included),
/// holding back the few bytes that may turn out to be index and footer.
pub struct BlockCutter<W: Write> {
    inner: W,
    header: Vec<u8>,
    tail: Vec<u8>,
    passed: u64,
}

impl<W: Write> BlockCutter<W> {
    pub fn new(inner: W) -> Self {
        BlockCutter {
            inner,
            header: Vec::with_capacity(HEADER_LEN),
            tail: Vec::with_capacity(2 * MAX_TAIL),
            passed: 0,
        }
    }

    /// Ends the stream: checks its header, index and footer and returns the block's record.
    pub fn finish(mut self) -> io::Result<(W, Record)> {
        if self.header != stream_header() {
            return Err(bad("stream header is not xz with CRC64"));
        }
        let (record, trailer) = parse_tail(&self.tail)?;
        let block_rest = self.tail.len() - trailer;
        self.inner.write_all(&self.tail[..block_rest])?;
        self.passed += block_rest as u64;
        if self.passed != record.padded() {
            return Err(bad("block length disagrees with the index"));
        }
        Ok((self.inner, record))
    }
}

impl<W: Write> Write for BlockCutter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        let need = HEADER_LEN - self.header.len();
        if need > 0 {
            let n = need.min(rest.len());
            self.header.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        self.tail.extend_from_slice(rest);
        if self.tail.len() > MAX_TAIL {
            let flush = self.tail.len() - MAX_TAIL;
            self.inner.write_all(&self.tail[..flush])?;
            self.passed += flush as u64;
            self.tail.drain(..flush);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Compresses everything `input` gives as one xz block at `preset`, writing the padded
/// block to `out`.
pub fn compress_block<W: Write>(
    preset: u32,
    input: &mut dyn Read,
    out: W,
) -> io::Result<(W, Record)> {
    let stream = liblzma::stream::Stream::new_easy_encoder(preset, liblzma::stream::Check::Crc64)
        .map_err(io::Error::from)?;
    // The cutter passes the block on as it comes, keeping only a few dozen bytes itself.
    let mut encoder = liblzma::write::XzEncoder::new_stream(BlockCutter::new(out), stream);
    io::copy(input, &mut encoder)?;
    encoder.finish()?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sample(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| ((i ^ seed).wrapping_mul(2654435761) >> 13) as u8 % 11)
            .collect()
    }

    /// Blocks compressed apart, at different presets, joined into one stream by hand.
    fn spliced(parts: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = stream_header().to_vec();
        let mut records = Vec::new();
        for (preset, data) in parts {
            let (block, record) = compress_block(*preset, &mut &data[..], Vec::new()).unwrap();
            assert_eq!(block.len() as u64, record.padded());
            assert_eq!(record.uncompressed, data.len() as u64);
            out.extend_from_slice(&block);
            records.push(record);
        }
        out.extend_from_slice(&index_and_footer(&records));
        out
    }

    #[test]
    fn varints_match_the_specification() {
        let mut v = Vec::new();
        for n in [0u64, 127, 128, 300, u64::MAX >> 1] {
            v.clear();
            varint(&mut v, n);
            let mut pos = 0;
            assert_eq!(read_varint(&v, &mut pos).unwrap(), n);
            assert_eq!(pos, v.len());
        }
        v.clear();
        varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
    }

    #[test]
    fn spliced_stream_decodes_with_liblzma() {
        let parts = vec![
            (6, sample(100_000, 1)),
            (1, sample(1, 2)),
            (6, sample(3_000_000, 3)),
        ];
        let xz = spliced(&parts);
        let mut out = Vec::new();
        liblzma::read::XzDecoder::new(&xz[..])
            .read_to_end(&mut out)
            .unwrap();
        let expected: Vec<u8> = parts.iter().flat_map(|(_, d)| d.clone()).collect();
        assert!(out == expected);
    }

    #[test]
    fn xz_tool_tests_and_lists_the_spliced_stream() {
        let parts: Vec<(u32, Vec<u8>)> = (0..5)
            .map(|i| (3, sample(70_001 * i + 5, i as u32)))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.xz");
        std::fs::write(&path, spliced(&parts)).unwrap();
        let test = Command::new("xz")
            .arg("-t")
            .arg(&path)
            .status()
            .expect("xz runs; install it with `apt-get install xz-utils`");
        assert!(test.success());
        let list = Command::new("xz")
            .args(["--robot", "--list"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(list.status.success());
        let text = String::from_utf8(list.stdout).unwrap();
        let totals = text.lines().find(|l| l.starts_with("totals")).unwrap();
        let fields: Vec<&str> = totals.split('\t').collect();
        // totals  streams  blocks  compressed  uncompressed  ratio  checks
        assert_eq!(fields[1], "1", "{text}");
        assert_eq!(fields[2], "5", "{text}");
        let len: usize = parts.iter().map(|(_, d)| d.len()).sum();
        assert_eq!(fields[4], len.to_string(), "{text}");
        assert_eq!(fields[6], "CRC64", "{text}");
    }

    #[test]
    fn cutter_refuses_a_damaged_index() {
        let stream = {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(b"hello").unwrap();
            e.finish().unwrap()
        };
        let mut cut = BlockCutter::new(Vec::new());
        cut.write_all(&stream).unwrap();
        assert!(cut.finish().is_ok());
        let mut damaged = stream.clone();
        let at = damaged.len() - FOOTER_LEN - 3;
        damaged[at] ^= 1;
        let mut cut = BlockCutter::new(Vec::new());
        cut.write_all(&damaged).unwrap();
        let err = cut.finish().unwrap_err().to_string();
        assert!(err.contains("CRC32"), "{err}");
    }
}
