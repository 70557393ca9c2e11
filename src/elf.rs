//! ELF headers of release binaries: is it an x86-64 executable, is it dynamically linked.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Is `path` a 64-bit little-endian x86-64 ELF executable or position-independent executable?
pub fn check_x86_64_executable(path: &Path) -> Result<(), String> {
    let mut header = Vec::with_capacity(20);
    File::open(path)
        .and_then(|f| f.take(20).read_to_end(&mut header))
        .map_err(|e| format!("cannot read it: {e}"))?;
    if !header.starts_with(b"\x7fELF") {
        let start: String = header
            .iter()
            .take(12)
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        return Err(format!("not an ELF file (it starts with {start:?})"));
    }
    if header.len() < 20 {
        return Err(format!("a truncated ELF header ({} bytes)", header.len()));
    }
    if header[4] != 2 {
        return Err("a 32-bit ELF file, not a 64-bit one".into());
    }
    if header[5] != 1 {
        return Err("a big-endian ELF file".into());
    }
    let e_type = u16::from_le_bytes([header[16], header[17]]);
    if e_type != 2 && e_type != 3 {
        let kind = match e_type {
            1 => "a relocatable object",
            4 => "a core dump",
            _ => "an unknown ELF type",
        };
        return Err(format!("{kind} (e_type {e_type}), not an executable"));
    }
    let machine = u16::from_le_bytes([header[18], header[19]]);
    if machine != 0x3e {
        let name = match machine {
            0x03 => "i386",
            0x28 => "arm",
            0xb7 => "arm64",
            0x15 => "ppc64",
            0x16 => "s390",
            0xf3 => "riscv",
            _ => "another machine",
        };
        return Err(format!(
            "built for {name} (e_machine {machine:#x}), not x86-64"
        ));
    }
    Ok(())
}

/// What lintian and the libc6 dependency need to know of a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linking {
    /// It asks for a program interpreter (PT_INTERP): dynamically linked.
    pub dynamic: bool,
    /// It still has a symbol table (SHT_SYMTAB): not stripped.
    pub unstripped: bool,
}

/// Reads `count` table entries of `size` bytes at `offset`; at most 64 KiB entries of 4 KiB.
fn table(
    file: &mut std::fs::File,
    offset: u64,
    size: usize,
    count: usize,
) -> std::io::Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    let mut table = vec![0u8; size.min(4096) * count];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut table)?;
    Ok(table)
}

/// How an ELF file is linked, from its program and section headers. Anything that is not a
/// 64-bit little-endian ELF counts as static and stripped: only its headers are read.
pub fn linking(path: &Path) -> std::io::Result<Linking> {
    const PT_INTERP: u32 = 3;
    const SHT_SYMTAB: u32 = 2;
    let mut file = std::fs::File::open(path)?;
    let mut header = [0u8; 64];
    let none = Linking {
        dynamic: false,
        unstripped: false,
    };
    if file.read(&mut header)? < 64
        || &header[..4] != b"\x7fELF"
        || header[4] != 2
        || header[5] != 1
    {
        return Ok(none);
    }
    let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]) as usize;
    let type_in = |table: &[u8], size: usize, offset: usize, wanted: u32| {
        table.chunks(size).any(|entry| {
            u32::from_le_bytes(entry[offset..offset + 4].try_into().expect("4 bytes")) == wanted
        })
    };
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    let (shentsize, shnum) = (u16_at(0x3a), u16_at(0x3c));
    let dynamic = phentsize >= 4
        && type_in(
            &table(&mut file, u64_at(0x20), phentsize, phnum)?,
            phentsize,
            0,
            PT_INTERP,
        );
    let unstripped = shentsize >= 8
        && type_in(
            &table(&mut file, u64_at(0x28), shentsize, shnum)?,
            shentsize,
            4,
            SHT_SYMTAB,
        );
    Ok(Linking {
        dynamic,
        unstripped,
    })
}

/// Whether an ELF file asks for a program interpreter (PT_INTERP), i.e. is dynamically linked.
pub fn is_dynamic(path: &Path) -> std::io::Result<bool> {
    linking(path).map(|l| l.dynamic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(bytes: &[u8]) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        std::fs::write(&path, bytes).unwrap();
        check_x86_64_executable(&path)
    }

    fn elf(class: u8, e_type: u16, machine: u16) -> Vec<u8> {
        let mut h = vec![
            0x7f, b'E', b'L', b'F', class, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        h.extend(e_type.to_le_bytes());
        h.extend(machine.to_le_bytes());
        h.extend([0; 44]);
        h
    }

    #[test]
    fn elf_header_check_accepts_x86_64_executables_only() {
        assert_eq!(check_x86_64_executable(Path::new("/bin/true")), Ok(()));
        assert_eq!(with_header(&elf(2, 2, 0x3e)), Ok(()));
        assert_eq!(with_header(&elf(2, 3, 0x3e)), Ok(()));
        assert!(with_header(b"#!/bin/sh\necho hi\n")
            .unwrap_err()
            .contains("#!/bin/sh"));
        assert!(with_header(&elf(1, 2, 0x03))
            .unwrap_err()
            .contains("32-bit"));
        assert!(with_header(&elf(2, 1, 0x3e))
            .unwrap_err()
            .contains("relocatable"));
        assert!(with_header(&elf(2, 2, 0xb7)).unwrap_err().contains("arm64"));
        assert!(with_header(b"\x7fELF\x02")
            .unwrap_err()
            .contains("truncated"));
    }

    #[test]
    fn dynamic_binaries_are_told_apart_from_static_ones() {
        assert!(
            is_dynamic(Path::new("/bin/true")).unwrap(),
            "Debian's /bin/true links libc"
        );
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert!(!is_dynamic(&script).unwrap());
        // A static ELF: the same header, with the program header table turned into PT_LOADs.
        let mut elf = std::fs::read("/bin/true").unwrap();
        let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
        let (size, num) = (
            u16::from_le_bytes([elf[0x36], elf[0x37]]) as usize,
            u16::from_le_bytes([elf[0x38], elf[0x39]]) as usize,
        );
        for i in 0..num {
            let at = phoff + i * size;
            if elf[at..at + 4] == 3u32.to_le_bytes() {
                elf[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
            }
        }
        let fake_static = dir.path().join("static");
        std::fs::write(&fake_static, elf).unwrap();
        assert!(!is_dynamic(&fake_static).unwrap());
    }

    #[test]
    fn stripped_binaries_are_told_apart_from_unstripped_ones() {
        // Debian strips its binaries; this test program keeps its symbols.
        assert!(!linking(Path::new("/bin/true")).unwrap().unstripped);
        let me = std::env::current_exe().unwrap();
        let facts = linking(&me).unwrap();
        let has_symtab = std::process::Command::new("readelf")
            .arg("-S")
            .arg(&me)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(".symtab"))
            .unwrap_or(true);
        assert_eq!(facts.unstripped, has_symtab);
    }
}
