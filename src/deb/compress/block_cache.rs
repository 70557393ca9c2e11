//! The on-disk cache of compressed blocks: one file per block, named after its input and the
//! compressor settings, checked against its SHA-256 before every use and written atomically.
//!
//! Entry layout: `KDBLOCK2`, the entry's key (32 bytes, the hash its file is named after),
//! SHA-256 of the key and everything after the head (32 bytes), the block bytes, then the
//! trailer: unpadded size, uncompressed size and block length (u64 LE each). The key inside
//! binds the bytes to their name: an entry copied or renamed over another is not used.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::xz::Record;
use crate::deb::error::DebError;

const MAGIC: &[u8; 8] = b"KDBLOCK2";
const HEAD: u64 = 8 + 32 + 32;
const TRAILER: u64 = 24;

/// A verified block inside an open cache file.
#[derive(Debug)]
pub struct CachedBlock {
    pub file: File,
    pub offset: u64,
    pub len: u64,
    pub record: Record,
}

#[derive(Debug)]
pub enum Lookup {
    Hit(CachedBlock),
    Miss,
    /// The entry failed its check and was removed.
    Corrupt,
}

/// Where a block's entry lives and the key it must carry inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    key: [u8; 32],
}

#[derive(Debug)]
pub struct BlockCache {
    dir: PathBuf,
    /// Everything besides the input that decides a block's bytes.
    params: String,
    /// The block length is the unpadded size rounded up to this (4 for xz, 1 for gzip).
    pad_to: u64,
}

fn cache_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> DebError + 'a {
    move |cause| DebError::BlockCache {
        path: path.to_path_buf(),
        action,
        cause,
    }
}

impl BlockCache {
    pub fn open(dir: &Path, params: String, pad_to: u64) -> Result<Self, DebError> {
        fs::create_dir_all(dir).map_err(cache_err(dir, "create the folder"))?;
        Ok(BlockCache {
            dir: dir.to_path_buf(),
            params,
            pad_to,
        })
    }

    /// The entry for the block input with this SHA-256.
    pub fn entry(&self, input_sha256: &[u8; 32]) -> Entry {
        let mut key = Sha256::new();
        key.update(b"kubedeb block cache v1\0");
        key.update(env!("CARGO_PKG_VERSION").as_bytes());
        key.update(b"\0");
        key.update(self.params.as_bytes());
        key.update(b"\0");
        key.update(input_sha256);
        let key: [u8; 32] = key.finalize().into();
        Entry {
            path: self.dir.join(format!("{}.blk", hex::encode(key))),
            key,
        }
    }

    /// Opens and checks the entry; a damaged one is deleted so the caller recompresses.
    pub fn lookup(&self, entry: &Entry, uncompressed: u64) -> Result<Lookup, DebError> {
        let path = &entry.path;
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Miss),
            Err(e) => return Err(cache_err(path, "open the entry")(e)),
        };
        match check(&mut file, &entry.key, uncompressed, self.pad_to)
            .map_err(cache_err(path, "read the entry"))?
        {
            Some((record, len)) => Ok(Lookup::Hit(CachedBlock {
                file,
                offset: HEAD,
                len,
                record,
            })),
            None => {
                drop(file);
                match fs::remove_file(path) {
                    Ok(()) => Ok(Lookup::Corrupt),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Lookup::Corrupt),
                    Err(e) => Err(cache_err(path, "remove the damaged entry")(e)),
                }
            }
        }
    }

    /// Writes a new entry at `path` from what `compress` produces, returning it open.
    pub fn store(
        &self,
        entry: &Entry,
        compress: impl FnOnce(&mut dyn Write) -> io::Result<Record>,
    ) -> Result<CachedBlock, DebError> {
        let path = &entry.path;
        let write = || -> io::Result<CachedBlock> {
            let tmp = tempfile::Builder::new()
                .prefix(".tmp-")
                .tempfile_in(&self.dir)?;
            let mut out = HashingWriter {
                inner: BufWriter::with_capacity(1 << 20, tmp.as_file().try_clone()?),
                hasher: Sha256::new(),
                count: 0,
            };
            out.inner.write_all(&[0; HEAD as usize])?;
            out.hasher.update(entry.key);
            let record = compress(&mut out)?;
            let len = out.count;
            if len != record.unpadded.next_multiple_of(self.pad_to) {
                return Err(io::Error::other(
                    "compressor output disagrees with its size",
                ));
            }
            out.write_all(&trailer(record, len))?;
            let HashingWriter { inner, hasher, .. } = out;
            let mut file = inner.into_inner().map_err(|e| e.into_error())?;
            let digest = hasher.finalize();
            file.seek(SeekFrom::Start(0))?;
            file.write_all(MAGIC)?;
            file.write_all(&entry.key)?;
            file.write_all(&digest)?;
            let file = tmp.persist(path).map_err(|e| e.error)?;
            Ok(CachedBlock {
                file,
                offset: HEAD,
                len,
                record,
            })
        };
        // A DebError inside (a source that changed under the compressor) is returned as is.
        write().map_err(|cause| {
            DebError::unwrap_io(cause)
                .unwrap_or_else(|cause| cache_err(path, "write the entry")(cause))
        })
    }
}

fn trailer(record: Record, len: u64) -> [u8; TRAILER as usize] {
    let mut t = [0u8; TRAILER as usize];
    t[..8].copy_from_slice(&record.unpadded.to_le_bytes());
    t[8..16].copy_from_slice(&record.uncompressed.to_le_bytes());
    t[16..].copy_from_slice(&len.to_le_bytes());
    t
}

/// The record and block length of a sound entry, None for a damaged one.
fn check(
    file: &mut File,
    key: &[u8; 32],
    uncompressed: u64,
    pad_to: u64,
) -> io::Result<Option<(Record, u64)>> {
    let size = file.metadata()?.len();
    if size < HEAD + TRAILER {
        return Ok(None);
    }
    let mut head = [0u8; HEAD as usize];
    file.read_exact(&mut head)?;
    let mut t = [0u8; TRAILER as usize];
    file.seek(SeekFrom::Start(size - TRAILER))?;
    file.read_exact(&mut t)?;
    let field = |i: usize| u64::from_le_bytes(t[i * 8..i * 8 + 8].try_into().unwrap());
    let record = Record {
        unpadded: field(0),
        uncompressed: field(1),
    };
    let len = field(2);
    if &head[..8] != MAGIC
        || &head[8..40] != key
        || record.uncompressed != uncompressed
        || len != record.unpadded.next_multiple_of(pad_to)
        || Some(size) != HEAD.checked_add(len).and_then(|n| n.checked_add(TRAILER))
    {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(HEAD))?;
    let mut hasher = Sha256::new();
    hasher.update(key);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    if hasher.finalize()[..] != head[40..] {
        return Ok(None);
    }
    Ok(Some((record, len)))
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(input: &[u8]) -> [u8; 32] {
        Sha256::digest(input).into()
    }

    fn stored(cache: &BlockCache, input: &[u8]) -> Entry {
        stored_as(cache, input, b"compressed!")
    }

    fn stored_as(cache: &BlockCache, input: &[u8], block: &'static [u8]) -> Entry {
        let entry = cache.entry(&key(input));
        cache
            .store(&entry, |w| {
                w.write_all(block)?;
                Ok(Record {
                    unpadded: block.len() as u64,
                    uncompressed: input.len() as u64,
                })
            })
            .unwrap();
        entry
    }

    fn read_back(hit: CachedBlock) -> Vec<u8> {
        let mut file = hit.file;
        file.seek(SeekFrom::Start(hit.offset)).unwrap();
        let mut out = vec![0; hit.len as usize];
        file.read_exact(&mut out).unwrap();
        out
    }

    #[test]
    fn stores_checks_and_finds_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::open(&dir.path().join("blocks"), "test".into(), 1).unwrap();
        let entry = stored(&cache, b"input");
        match cache.lookup(&entry, 5).unwrap() {
            Lookup::Hit(hit) => assert_eq!(read_back(hit), b"compressed!"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cache.lookup(&cache.entry(&key(b"other")), 5).unwrap(),
            Lookup::Miss
        ));
        let names: Vec<_> = fs::read_dir(dir.path().join("blocks")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn keys_depend_on_settings_and_input() {
        let dir = tempfile::tempdir().unwrap();
        let a = BlockCache::open(dir.path(), "xz 6".into(), 4).unwrap();
        let b = BlockCache::open(dir.path(), "xz 9".into(), 4).unwrap();
        let (x, y) = (key(b"x"), key(b"y"));
        assert_ne!(a.entry(&x), b.entry(&x));
        assert_ne!(a.entry(&x), a.entry(&y));
        assert_eq!(a.entry(&x), a.entry(&x));
    }

    #[test]
    fn damaged_entries_are_removed_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::open(dir.path(), "test".into(), 1).unwrap();
        let entry = stored(&cache, b"input");
        let path = entry.path.clone();
        let good = fs::read(&path).unwrap();
        type Damage<'a> = &'a dyn Fn(&mut Vec<u8>);
        let damage: [Damage; 4] = [
            &|b| b[HEAD as usize + 2] ^= 0x20,
            &|b| b.truncate(b.len() - 1),
            &|b| b[0] = b'X',
            &|b| {
                let at = b.len() - 16;
                b[at] = 9;
            },
        ];
        for (i, damage) in damage.iter().enumerate() {
            let mut bytes = good.clone();
            damage(&mut bytes);
            fs::write(&path, &bytes).unwrap();
            assert!(
                matches!(cache.lookup(&entry, 5).unwrap(), Lookup::Corrupt),
                "damage {i}"
            );
            assert!(!path.exists(), "damage {i}");
        }
        fs::write(&path, &good).unwrap();
        // Right bytes, wrong expectation: a block for another input length is not used either.
        assert!(matches!(cache.lookup(&entry, 6).unwrap(), Lookup::Corrupt));
    }

    #[test]
    fn an_entry_under_another_key_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::open(dir.path(), "test".into(), 1).unwrap();
        // Same input length, so only the key tells the two apart.
        let a = stored_as(&cache, b"aaaaa", b"block of a");
        let b = stored_as(&cache, b"bbbbb", b"block of b");
        let (bytes_a, bytes_b) = (fs::read(&a.path).unwrap(), fs::read(&b.path).unwrap());
        fs::write(&a.path, &bytes_b).unwrap();
        fs::write(&b.path, &bytes_a).unwrap();
        assert!(matches!(cache.lookup(&a, 5).unwrap(), Lookup::Corrupt));
        assert!(matches!(cache.lookup(&b, 5).unwrap(), Lookup::Corrupt));
    }
}
