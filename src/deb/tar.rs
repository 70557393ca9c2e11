//! A minimal GNU tar writer producing the headers dpkg-deb writes: `./`-prefixed names kept
//! verbatim, owner root:root, GNU long-name records for paths and targets over 100 bytes.

use std::io::{self, Read, Write};

const BLOCK: usize = 512;
const NAME_LEN: usize = 100;
/// Large enough to keep the compressor busy, small next to any payload.
const COPY_BUF: usize = 256 * 1024;

/// Writes tar records to `W`; every call appends whole 512-byte blocks.
pub struct TarWriter<W: Write> {
    inner: W,
}

impl<W: Write> TarWriter<W> {
    pub fn new(inner: W) -> Self {
        TarWriter { inner }
    }

    pub fn dir(&mut self, name: &str, mode: u32, mtime: u64) -> io::Result<()> {
        let header = self.header(name, None, tar::EntryType::Directory, mode, 0, mtime)?;
        self.inner.write_all(header.as_bytes())
    }

    pub fn symlink(&mut self, name: &str, target: &str, mtime: u64) -> io::Result<()> {
        let header = self.header(name, Some(target), tar::EntryType::Symlink, 0o777, 0, mtime)?;
        self.inner.write_all(header.as_bytes())
    }

    /// Writes a regular file of `size` bytes taken from `data`; returns how many bytes `data`
    /// actually gave (fewer than `size` means the source shrank and the archive is unusable).
    pub fn file(
        &mut self,
        name: &str,
        mode: u32,
        mtime: u64,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<u64> {
        self.file_with(name, mode, mtime, size, data, |_, _| Ok(()))
    }

    /// [`TarWriter::file`], calling `before_content` with the inner writer and the length of
    /// the content plus its padding once the header is written.
    pub fn file_with(
        &mut self,
        name: &str,
        mode: u32,
        mtime: u64,
        size: u64,
        data: &mut dyn Read,
        before_content: impl FnOnce(&mut W, u64) -> io::Result<()>,
    ) -> io::Result<u64> {
        let header = self.header(name, None, tar::EntryType::Regular, mode, size, mtime)?;
        self.inner.write_all(header.as_bytes())?;
        before_content(&mut self.inner, size.next_multiple_of(BLOCK as u64))?;
        let mut buf = vec![0u8; COPY_BUF];
        let mut copied = 0u64;
        while copied < size {
            let want = (size - copied).min(COPY_BUF as u64) as usize;
            let n = match data.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.inner.write_all(&buf[..n])?;
            copied += n as u64;
        }
        self.pad(copied)?;
        Ok(copied)
    }

    /// Ends the archive with two zero blocks and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(&[0; 2 * BLOCK])?;
        Ok(self.inner)
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.inner.write_all(&[0; BLOCK][rem..])?;
        }
        Ok(())
    }

    fn header(
        &mut self,
        name: &str,
        target: Option<&str>,
        kind: tar::EntryType,
        mode: u32,
        size: u64,
        mtime: u64,
    ) -> io::Result<tar::Header> {
        let mut header = base_header(kind, mode, size, mtime)?;
        set_field(&mut header.as_old_mut().name, name);
        if name.len() > NAME_LEN {
            self.long_record(tar::EntryType::GNULongName, name)?;
        }
        if let Some(target) = target {
            set_field(&mut header.as_old_mut().linkname, target);
            if target.len() > NAME_LEN {
                self.long_record(tar::EntryType::GNULongLink, target)?;
            }
        }
        header.set_cksum();
        Ok(header)
    }

    /// The `././@LongLink` record GNU tar writes before an entry whose name does not fit.
    fn long_record(&mut self, kind: tar::EntryType, value: &str) -> io::Result<()> {
        let len = value.len() as u64 + 1;
        let mut header = base_header(kind, 0o644, len, 0)?;
        set_field(&mut header.as_old_mut().name, "././@LongLink");
        header.set_cksum();
        self.inner.write_all(header.as_bytes())?;
        self.inner.write_all(value.as_bytes())?;
        self.inner.write_all(&[0])?;
        self.pad(len)
    }
}

fn base_header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(size);
    header.set_mtime(mtime);
    header.set_username("root")?;
    header.set_groupname("root")?;
    Ok(header)
}

/// Copies as much of `value` as fits; a longer value is carried by the long-name record.
fn set_field(field: &mut [u8], value: &str) {
    let bytes = value.as_bytes();
    let n = bytes.len().min(field.len());
    field.fill(0);
    field[..n].copy_from_slice(&bytes[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// name, link target, mode, mtime, contents
    type Seen = (String, Option<String>, u32, u64, Vec<u8>);

    fn entries(archive: &[u8]) -> Vec<Seen> {
        let mut ar = tar::Archive::new(archive);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = String::from_utf8(e.path_bytes().to_vec()).unwrap();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8(l.to_vec()).unwrap());
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, link, h.mode().unwrap(), h.mtime().unwrap(), data)
            })
            .collect()
    }

    #[test]
    fn round_trips_long_names_through_a_tar_reader() {
        let long = format!("./usr/share/{}/{}", "a".repeat(80), "b".repeat(80));
        let target = format!("/opt/{}", "c".repeat(150));
        let mut w = TarWriter::new(Vec::new());
        w.dir("./", 0o755, 7).unwrap();
        assert_eq!(w.file(&long, 0o640, 9, 5, &mut &b"hello"[..]).unwrap(), 5);
        w.symlink("./usr/bin/l", &target, 7).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % BLOCK, 0);
        assert_eq!(
            entries(&bytes),
            vec![
                ("./".to_string(), None, 0o755, 7, vec![]),
                (long, None, 0o640, 9, b"hello".to_vec()),
                ("./usr/bin/l".to_string(), Some(target), 0o777, 7, vec![]),
            ]
        );
    }

    #[test]
    fn reports_short_sources() {
        let mut w = TarWriter::new(Vec::new());
        assert_eq!(w.file("./x", 0o644, 0, 10, &mut &b"abc"[..]).unwrap(), 3);
    }
}
