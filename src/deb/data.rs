//! Streams the data.tar archive into any writer, hashing each file in the same pass and
//! adding up Installed-Size the way dpkg-gencontrol does.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::UNIX_EPOCH;

use md5::{Digest, Md5};

use super::error::DebError;
use super::model::Source;
use super::tar::TarWriter;
use super::tree::{Node, Planned};

/// The file on disk that a data.tar entry's content is read from.
pub struct FileSource<'a> {
    pub file: &'a File,
    pub size: u64,
    /// The install path, for errors.
    pub entry: String,
    pub path: &'a Path,
}

/// Where data.tar goes: any writer, told where each regular file's content begins.
pub trait DataSink: Write {
    /// The next `len` bytes written are one file's content and its tar padding, read from
    /// `source` when the file is on disk.
    fn begin_file(&mut self, _len: u64, _source: Option<FileSource<'_>>) -> io::Result<()> {
        Ok(())
    }
}

impl DataSink for Vec<u8> {}
impl<W: Write> DataSink for super::compress::Encoder<W> {}
impl<S: DataSink + ?Sized> DataSink for &mut S {
    fn begin_file(&mut self, len: u64, source: Option<FileSource<'_>>) -> io::Result<()> {
        (**self).begin_file(len, source)
    }
}

/// What the control archive needs to know about the data archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSummary {
    /// `(path without leading slash, md5)` for every regular file, in archive order.
    pub md5sums: Vec<(String, [u8; 16])>,
    /// Regular files and symlinks count their size rounded up to KiB, every directory
    /// (the root included) 1 KiB: dpkg-gencontrol's rule.
    pub installed_size_kib: u64,
}

/// Writes the uncompressed data.tar for `plan` to `out`. `clamp` is the latest mtime any
/// entry may have (SOURCE_DATE_EPOCH or now); generated entries get exactly that.
/// `deb` only names the package in errors.
pub fn write_data_tar<W: DataSink>(
    plan: &[Planned],
    clamp: u64,
    out: W,
    deb: &Path,
) -> Result<(W, DataSummary), DebError> {
    let write_err = |cause: io::Error| DebError::from_write(deb, "data.tar", cause);
    let mut tar = TarWriter::new(out);
    let mut summary = DataSummary {
        md5sums: Vec::new(),
        installed_size_kib: 0,
    };
    for entry in plan {
        let name = entry.tar_name();
        match entry.node {
            Node::Dir => {
                tar.dir(&name, entry.mode, clamp).map_err(write_err)?;
                summary.installed_size_kib += 1;
            }
            Node::Symlink(target) => {
                tar.symlink(&name, target, clamp).map_err(write_err)?;
                summary.installed_size_kib += kib(target.len() as u64);
            }
            Node::File(Source::Bytes(bytes)) => {
                let mut reader = HashingReader::new(&bytes[..]);
                let len = bytes.len() as u64;
                tar.file_with(&name, entry.mode, clamp, len, &mut reader, |w, padded| {
                    w.begin_file(padded, None)
                })
                .map_err(write_err)?;
                summary.md5sums.push((entry.rel.clone(), reader.digest()));
                summary.installed_size_kib += kib(bytes.len() as u64);
            }
            Node::File(Source::Path(source_path)) => {
                let (digest, size) = stream_file(&mut tar, entry, &name, source_path, clamp, deb)?;
                summary.md5sums.push((entry.rel.clone(), digest));
                summary.installed_size_kib += kib(size);
            }
        }
    }
    let out = tar.finish().map_err(write_err)?;
    Ok((out, summary))
}

fn stream_file<W: DataSink>(
    tar: &mut TarWriter<W>,
    entry: &Planned,
    name: &str,
    source_path: &Path,
    clamp: u64,
    deb: &Path,
) -> Result<([u8; 16], u64), DebError> {
    let read_err = |cause: io::Error| DebError::ReadSource {
        entry: entry.install_path(),
        source_path: source_path.to_path_buf(),
        cause,
    };
    let file = File::open(source_path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(DebError::SourceNotFile {
            entry: entry.install_path(),
            source_path: source_path.to_path_buf(),
        });
    }
    let size = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
        .min(clamp);
    let mut reader = HashingReader::new(&file);
    let source = FileSource {
        file: &file,
        size,
        entry: entry.install_path(),
        path: source_path,
    };
    // A read error surfaces from inside the copy; tell it apart from a write error by
    // remembering it in the reader.
    let copied = tar.file_with(name, entry.mode, mtime, size, &mut reader, |w, padded| {
        w.begin_file(padded, Some(source))
    });
    if let Some(e) = reader.error.take() {
        return Err(read_err(e));
    }
    let copied = copied.map_err(|cause| DebError::from_write(deb, "data.tar", cause))?;
    let now = reader.inner.metadata().map_err(read_err)?.len();
    if copied != size || now != size {
        return Err(DebError::SourceChanged {
            entry: entry.install_path(),
            source_path: source_path.to_path_buf(),
            expected: size,
            actual: if copied != size { copied } else { now },
        });
    }
    Ok((reader.digest(), size))
}

fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}

/// Hashes what passes through and keeps the first read error for the caller.
struct HashingReader<R> {
    inner: R,
    hasher: Md5,
    error: Option<io::Error>,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Md5::new(),
            error: None,
        }
    }

    fn digest(self) -> [u8; 16] {
        self.hasher.finalize().into()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                self.error = Some(e);
                Err(io::Error::new(kind, "source read failed"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::model::Entry;
    use crate::deb::tree::plan;

    #[test]
    fn counts_installed_size_like_dpkg_gencontrol() {
        let entries = vec![
            Entry::file("/usr/bin/a", 0o755, Source::Bytes(vec![1; 1025])),
            Entry::file("/usr/bin/empty", 0o644, Source::Bytes(vec![])),
            Entry::file("/etc/k", 0o644, Source::Bytes(vec![1; 1024])),
            Entry::symlink("/usr/bin/b", "a"),
        ];
        let planned = plan(&entries).unwrap();
        let (_, summary) = write_data_tar(&planned, 0, Vec::new(), Path::new("t.deb")).unwrap();
        // dirs ./ etc usr usr/bin = 4; a = 2; empty = 0; k = 1; symlink = 1
        assert_eq!(summary.installed_size_kib, 8);
        let names: Vec<&str> = summary.md5sums.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["etc/k", "usr/bin/a", "usr/bin/empty"]);
        assert_eq!(
            hex::encode(summary.md5sums[2].1),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }

    #[test]
    fn missing_source_names_entry_and_path() {
        let entries = vec![Entry::file(
            "/usr/bin/gone",
            0o755,
            Source::Path("/nonexistent/kubedeb-test".into()),
        )];
        let planned = plan(&entries).unwrap();
        let err = write_data_tar(&planned, 0, Vec::new(), Path::new("t.deb"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("/usr/bin/gone") && err.contains("/nonexistent/kubedeb-test"),
            "{err}"
        );
    }
}
