//! data.tar compressed as independent blocks on every core, joined in archive order into one
//! xz stream (or a run of gzip members). Each large file's content gets blocks of its own:
//! the block cache supplies those it compressed before, and the workers read the others
//! straight from the source file, so no block's input is held in memory.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::block_cache::{BlockCache, CachedBlock, Lookup};
use super::codec::{Codec, Origin, SliceReader};
use super::xz::Record;
use crate::deb::data::{DataSink, FileSource};
use crate::deb::error::DebError;

/// Files at least this large get blocks of their own, which the cache keeps.
pub const MIN_CACHED_FILE: u64 = 1 << 20;

/// What happened to the blocks of the data member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// Blocks copied from the block cache instead of being compressed.
    pub blocks_reused: u64,
    /// Blocks compressed during this build.
    pub blocks_compressed: u64,
    /// Uncompressed bytes that the reused blocks stand for.
    pub bytes_reused: u64,
    /// Cache entries that failed their check and were compressed again.
    pub cache_entries_corrupt: u64,
}

enum Input {
    /// Tar headers and small files; or a large file given as bytes, then `cacheable`.
    Mem { bytes: Vec<u8>, cacheable: bool },
    /// A block of a large file on disk, read again by the worker.
    File {
        file: Arc<File>,
        /// Offset, bytes from the file, bytes of tar padding.
        range: (u64, u64, u64),
        /// CRC32 of the bytes as the main thread read them.
        crc32: u32,
        origin: Origin,
    },
}

enum Output {
    Mem(Vec<u8>),
    Cached(CachedBlock),
}

struct Block {
    out: Output,
    record: Record,
    reused: bool,
    corrupt: bool,
}

struct Job {
    input: Input,
    reply: SyncSender<Result<Block, DebError>>,
}

struct Shared {
    codec: Codec,
    cache: Option<BlockCache>,
}

impl Shared {
    fn run(&self, input: Input) -> Result<Block, DebError> {
        let (mut reader, len, key): (Box<dyn Read>, u64, Option<[u8; 32]>) = match input {
            Input::Mem { bytes, cacheable } => {
                let key =
                    (cacheable && self.cache.is_some()).then(|| Sha256::digest(&bytes).into());
                let len = bytes.len() as u64;
                (Box::new(io::Cursor::new(bytes)), len, key)
            }
            Input::File {
                file,
                range,
                crc32,
                origin,
            } => {
                // The SHA-256 for the cache key is computed here, on the workers, from a
                // read of its own; the CRC32 ties that read to the main thread's (whose
                // bytes went into md5sums) and the compressing read must match both.
                let sha256 = match self.cache {
                    Some(_) => {
                        let first = SliceReader::new(
                            Arc::clone(&file),
                            range,
                            (crc32, None),
                            origin.clone(),
                        );
                        Some(first.sha256().map_err(|e| self.read_err(e))?)
                    }
                    None => None,
                };
                let reader = SliceReader::new(file, range, (crc32, sha256), origin);
                (Box::new(reader), range.1 + range.2, sha256)
            }
        };
        let (Some(cache), Some(key)) = (self.cache.as_ref(), key) else {
            let (bytes, record) = self
                .codec
                .compress(&mut reader, Vec::new())
                .map_err(|e| self.read_err(e))?;
            return Ok(Block {
                out: Output::Mem(bytes),
                record,
                reused: false,
                corrupt: false,
            });
        };
        let entry = cache.entry(&key);
        let corrupt = match cache.lookup(&entry, len)? {
            Lookup::Hit(hit) => {
                return Ok(Block {
                    record: hit.record,
                    out: Output::Cached(hit),
                    reused: true,
                    corrupt: false,
                })
            }
            Lookup::Corrupt => true,
            Lookup::Miss => false,
        };
        let codec = self.codec;
        let stored = cache.store(&entry, |w| codec.compress(&mut reader, w).map(|(_, r)| r))?;
        Ok(Block {
            record: stored.record,
            out: Output::Cached(stored),
            reused: false,
            corrupt,
        })
    }

    fn read_err(&self, cause: io::Error) -> DebError {
        DebError::unwrap_io(cause).unwrap_or_else(|e| self.compressor_err(e))
    }

    fn compressor_err(&self, cause: io::Error) -> DebError {
        DebError::Compressor {
            compression: self.codec.compression(),
            cause,
        }
    }
}

/// The large file whose content is being written.
struct LargeFile {
    /// None when the content comes from memory: it is then buffered like small entries.
    file: Option<Arc<File>>,
    origin: Origin,
    size: u64,
    /// Bytes still to come, tar padding included.
    left: u64,
    /// Where the current block starts in the file, and how much of it came so far.
    offset: u64,
    len: u64,
    crc32: crc32fast::Hasher,
}

/// The data member's writer: takes the uncompressed tar, hands blocks to the worker
/// threads, and writes their results to `out` in order.
pub struct BlockWriter {
    out: Option<File>,
    deb: PathBuf,
    shared: Arc<Shared>,
    chunk: u64,
    buf: Vec<u8>,
    large: Option<LargeFile>,
    /// Blocks in the workers or waiting to be written, with their input sizes.
    pending: VecDeque<(Receiver<Result<Block, DebError>>, u64)>,
    pending_bytes: u64,
    /// How much input may be pending: enough to keep every worker busy and one block ready.
    window: u64,
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    started: bool,
    records: Vec<Record>,
    report: BuildReport,
}

impl BlockWriter {
    /// `cache_dir` None compresses every block. `deb` only names the package in errors.
    pub fn new(
        codec: Codec,
        cache_dir: Option<&Path>,
        threads: u32,
        out: File,
        deb: &Path,
    ) -> Result<Self, DebError> {
        let cache = cache_dir
            .map(|dir| BlockCache::open(dir, codec.params(), codec.pad_to()))
            .transpose()?;
        let shared = Arc::new(Shared { codec, cache });
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = threads.max(1) as usize;
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (rx, worker_shared) = (Arc::clone(&rx), Arc::clone(&shared));
            let worker = std::thread::Builder::new()
                .name("kubedeb-compress".into())
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let _ = job.reply.send(worker_shared.run(job.input));
                })
                .map_err(|cause| shared.compressor_err(cause))?;
            workers.push(worker);
        }
        Ok(BlockWriter {
            out: Some(out),
            deb: deb.to_path_buf(),
            chunk: codec.chunk_size(),
            buf: Vec::new(),
            large: None,
            pending: VecDeque::new(),
            pending_bytes: 0,
            // Counted in bytes, not blocks: the small blocks of tar headers between large
            // files must not take a worker's place.
            window: (threads as u64 + 1) * codec.chunk_size(),
            jobs: Some(jobs),
            workers,
            shared,
            started: false,
            records: Vec::new(),
            report: BuildReport::default(),
        })
    }

    /// Flushes the last blocks, writes the index and returns the member file.
    pub fn finish(mut self) -> Result<(File, BuildReport), DebError> {
        debug_assert!(self.large.is_none(), "a large file ended early");
        self.dispatch_small()?;
        while !self.pending.is_empty() {
            self.drain_one()?;
        }
        self.start()?;
        let end = self.shared.codec.stream_end(&self.records);
        self.write_out(&end)?;
        Ok((self.out.take().expect("present until finish"), self.report))
    }

    fn write_err(&self, cause: io::Error) -> DebError {
        DebError::Write {
            deb: self.deb.clone(),
            member: "data.tar",
            cause,
        }
    }

    fn write_out(&mut self, bytes: &[u8]) -> Result<(), DebError> {
        let out = self.out.as_mut().expect("present until finish");
        out.write_all(bytes).map_err(|e| self.write_err(e))
    }

    fn start(&mut self) -> Result<(), DebError> {
        if !self.started {
            self.started = true;
            self.write_out(&self.shared.codec.stream_start())?;
        }
        Ok(())
    }

    fn worker_gone(&self) -> DebError {
        self.shared.compressor_err(io::Error::other(
            "a compression thread stopped unexpectedly",
        ))
    }

    fn send(&mut self, input: Input) -> Result<(), DebError> {
        let len = match &input {
            Input::Mem { bytes, .. } => bytes.len() as u64,
            Input::File { range, .. } => range.1 + range.2,
        };
        while !self.pending.is_empty() && self.pending_bytes + len > self.window {
            self.drain_one()?;
        }
        let (reply, rx) = mpsc::sync_channel(1);
        let sent = self
            .jobs
            .as_ref()
            .map(|jobs| jobs.send(Job { input, reply }).is_ok());
        if sent != Some(true) {
            return Err(self.worker_gone());
        }
        self.pending.push_back((rx, len));
        self.pending_bytes += len;
        Ok(())
    }

    fn dispatch_small(&mut self) -> Result<(), DebError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.buf);
        self.send(Input::Mem {
            bytes,
            cacheable: false,
        })
    }

    /// Sends the block of the large file that just filled up or ended.
    fn dispatch_large(&mut self) -> Result<(), DebError> {
        let large = self.large.as_mut().expect("inside a large file");
        let input = match &large.file {
            Some(file) => {
                let data = large.len.min(large.size.saturating_sub(large.offset));
                Input::File {
                    file: Arc::clone(file),
                    range: (large.offset, data, large.len - data),
                    crc32: std::mem::take(&mut large.crc32).finalize(),
                    origin: large.origin.clone(),
                }
            }
            None => Input::Mem {
                bytes: std::mem::take(&mut self.buf),
                cacheable: true,
            },
        };
        large.offset += large.len;
        large.len = 0;
        if large.left == 0 {
            self.large = None;
        }
        self.send(input)
    }

    fn drain_one(&mut self) -> Result<(), DebError> {
        let Some((rx, len)) = self.pending.pop_front() else {
            return Ok(());
        };
        self.pending_bytes -= len;
        let block = rx.recv().map_err(|_| self.worker_gone())??;
        self.start()?;
        match block.out {
            Output::Mem(bytes) => self.write_out(&bytes)?,
            Output::Cached(cached) => self.copy_cached(cached)?,
        }
        let r = &mut self.report;
        if block.reused {
            r.blocks_reused += 1;
            r.bytes_reused += block.record.uncompressed;
        } else {
            r.blocks_compressed += 1;
        }
        r.cache_entries_corrupt += u64::from(block.corrupt);
        self.records.push(block.record);
        Ok(())
    }

    fn copy_cached(&mut self, cached: CachedBlock) -> Result<(), DebError> {
        let CachedBlock {
            mut file,
            offset,
            len,
            ..
        } = cached;
        let out = self.out.as_mut().expect("present until finish");
        let mut copy = || -> io::Result<()> {
            file.seek(SeekFrom::Start(offset))?;
            // File to file: std uses copy_file_range, the bytes stay in the kernel.
            let copied = io::copy(&mut (&mut file).take(len), out)?;
            if copied != len {
                return Err(io::Error::other(format!(
                    "a block cache entry gave {copied} of {len} bytes"
                )));
            }
            Ok(())
        };
        copy().map_err(|e| self.write_err(e))
    }

    fn write_large(&mut self, data: &[u8]) -> Result<usize, DebError> {
        let chunk = self.chunk;
        let large = self.large.as_mut().expect("inside a large file");
        let n = (data.len() as u64).min(large.left).min(chunk - large.len) as usize;
        if large.file.is_some() {
            // The worker reads these bytes again from the file; only a checksum is kept.
            large.crc32.update(&data[..n]);
        } else {
            self.buf.extend_from_slice(&data[..n]);
        }
        large.len += n as u64;
        large.left -= n as u64;
        if large.len == chunk || large.left == 0 {
            self.dispatch_large()?;
        }
        Ok(n)
    }

    fn write_small(&mut self, data: &[u8]) -> Result<usize, DebError> {
        let n = data
            .len()
            .min((self.chunk as usize).saturating_sub(self.buf.len()));
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() as u64 >= self.chunk {
            self.dispatch_small()?;
        }
        Ok(n)
    }
}

impl Write for BlockWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            let n = if self.large.is_some() {
                self.write_large(rest)
            } else {
                self.write_small(rest)
            };
            rest = &rest[n.map_err(DebError::into_io)?..];
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl DataSink for BlockWriter {
    fn begin_file(&mut self, len: u64, source: Option<FileSource<'_>>) -> io::Result<()> {
        if len < MIN_CACHED_FILE {
            return Ok(());
        }
        debug_assert!(self.large.is_none(), "files do not nest");
        // The headers before the file form a block of their own, so the file's blocks
        // start at its first byte whatever precedes it.
        self.dispatch_small().map_err(DebError::into_io)?;
        let (file, origin, size) = match source {
            Some(src) => (
                Some(Arc::new(src.file.try_clone()?)),
                Origin {
                    entry: src.entry,
                    path: src.path.to_path_buf(),
                },
                src.size,
            ),
            None => (
                None,
                Origin {
                    entry: String::new(),
                    path: PathBuf::new(),
                },
                len,
            ),
        };
        self.large = Some(LargeFile {
            file,
            origin,
            size,
            left: len,
            offset: 0,
            len: 0,
            crc32: crc32fast::Hasher::new(),
        });
        Ok(())
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        // Workers finish their current block and see the closed queue.
        self.jobs.take();
        self.pending.clear();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
