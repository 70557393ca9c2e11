//! data.tar compressed as independent blocks on every core, joined in archive order into one
//! xz stream (or a run of gzip members): each large file's content gets blocks of its own,
//! which the block cache supplies when the same bytes were compressed before.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::block_cache::{BlockCache, CachedBlock, Lookup};
use super::compress;
use super::data::DataSink;
use super::error::DebError;
use super::model::{BuildOptions, Compression};
use super::xz::{self, Record};

/// Files at least this large get blocks of their own, which the cache keeps.
pub const MIN_CACHED_FILE: u64 = 1 << 20;

/// What happened to the blocks of one data member.
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

impl BuildReport {
    pub fn add(&mut self, other: &BuildReport) {
        self.blocks_reused += other.blocks_reused;
        self.blocks_compressed += other.blocks_compressed;
        self.bytes_reused += other.bytes_reused;
        self.cache_entries_corrupt += other.cache_entries_corrupt;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Xz { preset: u32 },
    Gzip { level: u32 },
}

impl Codec {
    /// None for zstd: dpkg reads one frame only, and a zstd block depends on the state the
    /// blocks before it leave behind, so compressed parts cannot be joined.
    pub fn for_options(opts: &BuildOptions) -> Result<Option<Codec>, DebError> {
        let level = compress::level(opts)?;
        Ok(match opts.compression {
            Compression::Xz => Some(Codec::Xz { preset: level }),
            Compression::Gzip => Some(Codec::Gzip { level }),
            Compression::Zstd => None,
        })
    }

    /// Block input size. xz: three dictionaries, like `xz -T`, so the ratio matches it;
    /// gzip's 32 KiB window gains nothing from larger blocks.
    pub fn chunk_size(self) -> usize {
        const DICT_KIB: [usize; 10] =
            [256, 1024, 2048, 4096, 4096, 8192, 8192, 16384, 32768, 65536];
        match self {
            Codec::Xz { preset } => (3 * DICT_KIB[preset as usize] * 1024).max(1 << 20),
            Codec::Gzip { .. } => 4 << 20,
        }
    }

    pub fn compress<W: Write>(self, data: &[u8], out: W) -> io::Result<(W, Record)> {
        match self {
            Codec::Xz { preset } => xz::compress_block(preset, data, out),
            Codec::Gzip { level } => {
                // GzBuilder writes neither a file name nor a timestamp.
                let counting = Counting {
                    inner: out,
                    count: 0,
                };
                let mut gz =
                    flate2::GzBuilder::new().write(counting, flate2::Compression::new(level));
                gz.write_all(data)?;
                let counted = gz.finish()?;
                let record = Record {
                    unpadded: counted.count,
                    uncompressed: data.len() as u64,
                };
                Ok((counted.inner, record))
            }
        }
    }

    /// Everything besides the input that decides a block's bytes, for the cache key.
    fn params(self) -> String {
        match self {
            Codec::Xz { preset } => {
                format!("xz preset {preset} check crc64 chunk {}", self.chunk_size())
            }
            Codec::Gzip { level } => format!("gzip level {level} chunk {}", self.chunk_size()),
        }
    }

    fn pad_to(self) -> u64 {
        match self {
            Codec::Xz { .. } => 4,
            Codec::Gzip { .. } => 1,
        }
    }

    fn stream_start(self) -> Vec<u8> {
        match self {
            Codec::Xz { .. } => xz::stream_header().to_vec(),
            Codec::Gzip { .. } => Vec::new(),
        }
    }

    fn stream_end(self, records: &[Record]) -> Vec<u8> {
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
    input: Vec<u8>,
    cacheable: bool,
    reply: SyncSender<Result<Block, DebError>>,
}

struct Shared {
    codec: Codec,
    cache: Option<BlockCache>,
}

impl Shared {
    fn run(&self, input: &[u8], cacheable: bool) -> Result<Block, DebError> {
        let codec = self.codec;
        let Some(cache) = self.cache.as_ref().filter(|_| cacheable) else {
            let (bytes, record) = codec
                .compress(input, Vec::with_capacity(input.len() / 2))
                .map_err(|cause| self.compressor_err(cause))?;
            return Ok(Block {
                out: Output::Mem(bytes),
                record,
                reused: false,
                corrupt: false,
            });
        };
        let path = cache.entry(input);
        let corrupt = match cache.lookup(&path, input.len() as u64)? {
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
        let stored = cache.store(&path, |w| codec.compress(input, w).map(|(_, r)| r))?;
        Ok(Block {
            record: stored.record,
            out: Output::Cached(stored),
            reused: false,
            corrupt,
        })
    }

    fn compressor_err(&self, cause: io::Error) -> DebError {
        DebError::Compressor {
            compression: match self.codec {
                Codec::Xz { .. } => Compression::Xz,
                Codec::Gzip { .. } => Compression::Gzip,
            },
            cause,
        }
    }
}

/// The data member's writer: takes the uncompressed tar, hands blocks to the worker
/// threads, and writes their results to `out` in order.
pub struct BlockWriter {
    out: Option<File>,
    deb: PathBuf,
    shared: Arc<Shared>,
    chunk: usize,
    buf: Vec<u8>,
    /// Bytes still to come of the large file being written; 0 between large files.
    file_left: u64,
    pending: VecDeque<Receiver<Result<Block, DebError>>>,
    window: usize,
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
                    let result = worker_shared.run(&job.input, job.cacheable);
                    drop(job.input);
                    let _ = job.reply.send(result);
                })
                .map_err(|cause| shared.compressor_err(cause))?;
            workers.push(worker);
        }
        Ok(BlockWriter {
            out: Some(out),
            deb: deb.to_path_buf(),
            chunk: codec.chunk_size(),
            buf: Vec::new(),
            file_left: 0,
            pending: VecDeque::new(),
            // One block waiting beside those in progress keeps every worker busy.
            window: threads + 1,
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
        debug_assert_eq!(self.file_left, 0, "a large file ended early");
        self.dispatch(false)?;
        while !self.pending.is_empty() {
            self.drain_one()?;
        }
        self.start()?;
        let end = self.shared.codec.stream_end(&self.records);
        self.output()?.write_all(&end).map_err(self.write_err())?;
        Ok((self.out.take().expect("present until finish"), self.report))
    }

    fn write_err(&self) -> impl FnOnce(io::Error) -> DebError + '_ {
        |cause| DebError::Write {
            deb: self.deb.clone(),
            member: "data.tar",
            cause,
        }
    }

    fn output(&mut self) -> Result<&mut File, DebError> {
        Ok(self.out.as_mut().expect("present until finish"))
    }

    fn start(&mut self) -> Result<(), DebError> {
        if !self.started {
            self.started = true;
            let start = self.shared.codec.stream_start();
            self.output()?.write_all(&start).map_err(self.write_err())?;
        }
        Ok(())
    }

    fn worker_gone(&self) -> DebError {
        self.shared.compressor_err(io::Error::other(
            "a compression thread stopped unexpectedly",
        ))
    }

    fn dispatch(&mut self, cacheable: bool) -> Result<(), DebError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        while self.pending.len() >= self.window {
            self.drain_one()?;
        }
        let input = std::mem::take(&mut self.buf);
        let (reply, rx) = mpsc::sync_channel(1);
        let job = Job {
            input,
            cacheable,
            reply,
        };
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(job).is_ok());
        if sent != Some(true) {
            return Err(self.worker_gone());
        }
        self.pending.push_back(rx);
        Ok(())
    }

    fn drain_one(&mut self) -> Result<(), DebError> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let block = rx.recv().map_err(|_| self.worker_gone())??;
        self.start()?;
        let deb = self.deb.clone();
        let out = self.output()?;
        let written = match block.out {
            Output::Mem(bytes) => out.write_all(&bytes),
            Output::Cached(CachedBlock {
                mut file,
                offset,
                len,
                ..
            }) => file.seek(SeekFrom::Start(offset)).and_then(|_| {
                // File to file: std uses copy_file_range, the bytes stay in the kernel.
                let copied = io::copy(&mut (&mut file).take(len), out)?;
                if copied != len {
                    return Err(io::Error::other(format!(
                        "a block cache entry gave {copied} of {len} bytes"
                    )));
                }
                Ok(())
            }),
        };
        written.map_err(|cause| DebError::Write {
            deb,
            member: "data.tar",
            cause,
        })?;
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
}

impl Write for BlockWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(self.chunk);
            }
            let mut room = self.chunk - self.buf.len();
            if self.file_left > 0 {
                room = room.min(usize::try_from(self.file_left).unwrap_or(usize::MAX));
            }
            let n = room.min(rest.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            let full = self.buf.len() == self.chunk;
            let result = if self.file_left > 0 {
                self.file_left -= n as u64;
                if self.file_left == 0 || full {
                    self.dispatch(true)
                } else {
                    Ok(())
                }
            } else if full {
                self.dispatch(false)
            } else {
                Ok(())
            };
            result.map_err(io::Error::other)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl DataSink for BlockWriter {
    fn begin_file(&mut self, len: u64) -> io::Result<()> {
        if len >= MIN_CACHED_FILE {
            debug_assert_eq!(self.file_left, 0, "files do not nest");
            // The headers before the file form a block of their own, so the file's
            // blocks start at its first byte whatever precedes it.
            self.dispatch(false).map_err(io::Error::other)?;
            self.file_left = len;
        }
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
