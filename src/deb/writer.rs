//! `write_deb`: checks the spec, streams data.tar through the compressor into a temporary
//! file, builds control.tar in memory, then assembles the ar archive and renames it in place.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::ar;
use super::compress::{self, BlockWriter, BuildReport, Codec, Encoder};
use super::control;
use super::data::{self, DataSummary};
use super::error::DebError;
use super::model::{BuildOptions, PackageSpec};
use super::tar::TarWriter;
use super::tree::{self, Planned};

/// Writes `out_dir/<spec.file_name()>` and returns its path. The file appears complete or
/// not at all: on any error nothing is left in `out_dir` and an older file of that name is
/// untouched.
pub fn write_deb(
    spec: &PackageSpec,
    opts: &BuildOptions,
    out_dir: &Path,
) -> Result<PathBuf, DebError> {
    write_deb_with_report(spec, opts, out_dir).map(|(deb, _)| deb)
}

/// [`write_deb`], also telling how many compressed blocks came from the block cache.
pub fn write_deb_with_report(
    spec: &PackageSpec,
    opts: &BuildOptions,
    out_dir: &Path,
) -> Result<(PathBuf, BuildReport), DebError> {
    control::validate(&spec.control)?;
    control::validate_scripts(&spec.scripts)?;
    compress::level(opts)?;
    let plan = tree::plan(&spec.entries)?;
    check_out_dir(out_dir)?;
    let deb = out_dir.join(spec.file_name());
    let clamp = opts.source_date_epoch.unwrap_or_else(now);

    // An unnamed temporary file: whatever happens, it never shows up in out_dir.
    let data_file = tempfile::tempfile_in(out_dir).map_err(|cause| DebError::OutputDir {
        dir: out_dir.to_path_buf(),
        cause,
    })?;
    let (data_file, summary, report) = data_member(&plan, opts, clamp, data_file, &deb)?;
    let control_member = control_member(spec, &plan, &summary, opts, clamp, &deb)?;
    let ext = opts.compression.extension();
    assemble(
        &deb,
        out_dir,
        clamp,
        (&format!("control.tar.{ext}"), &control_member),
        (&format!("data.tar.{ext}"), data_file),
    )?;
    Ok((deb, report))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn check_out_dir(out_dir: &Path) -> Result<(), DebError> {
    let meta = fs::metadata(out_dir).map_err(|cause| DebError::OutputDir {
        dir: out_dir.to_path_buf(),
        cause,
    })?;
    if !meta.is_dir() {
        return Err(DebError::OutputDir {
            dir: out_dir.to_path_buf(),
            cause: io::Error::other("not a directory"),
        });
    }
    Ok(())
}

/// Compresses data.tar into `file` as it is produced: as independent blocks that the block
/// cache can supply (xz, gzip), or as one zstd frame.
fn data_member(
    plan: &[Planned],
    opts: &BuildOptions,
    clamp: u64,
    file: File,
    deb: &Path,
) -> Result<(File, DataSummary, BuildReport), DebError> {
    let write_err = |cause: io::Error| DebError::from_write(deb, "data.tar", cause);
    let threads = compress::threads(opts);
    if let Some(codec) = Codec::for_options(opts)? {
        let cache = opts.block_cache.as_deref();
        let mut blocks = BlockWriter::new(codec, cache, threads, file, deb)?;
        let (_, summary) = data::write_data_tar(plan, clamp, &mut blocks, deb)?;
        let (file, report) = blocks.finish()?;
        return Ok((file, summary, report));
    }
    let encoder = Encoder::new(opts, BufWriter::with_capacity(1 << 20, file))?;
    let (encoder, summary) = data::write_data_tar(plan, clamp, encoder, deb)?;
    let buffered = encoder.finish().map_err(write_err)?;
    let file = buffered
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?;
    Ok((file, summary, BuildReport::default()))
}

/// control.tar is a few KiB, so it is built and compressed in memory.
fn control_member(
    spec: &PackageSpec,
    plan: &[Planned],
    summary: &DataSummary,
    opts: &BuildOptions,
    clamp: u64,
    deb: &Path,
) -> Result<Vec<u8>, DebError> {
    let control_text = control::render(&spec.control, summary.installed_size_kib)?;
    let conffiles: String = plan
        .iter()
        .filter(|p| p.is_conffile())
        .map(|p| p.install_path() + "\n")
        .collect();
    let md5sums: String = summary
        .md5sums
        .iter()
        .map(|(path, digest)| format!("{}  {path}\n", hex::encode(digest)))
        .collect();
    let mut members: Vec<(&str, u32, &[u8])> = vec![("control", 0o644, control_text.as_bytes())];
    if !conffiles.is_empty() {
        members.push(("conffiles", 0o644, conffiles.as_bytes()));
    }
    if !md5sums.is_empty() {
        members.push(("md5sums", 0o644, md5sums.as_bytes()));
    }
    for (name, text) in control::scripts(&spec.scripts) {
        members.push((name, 0o755, text.as_bytes()));
    }
    members.sort_by_key(|m| m.0);

    let write = || -> io::Result<Vec<u8>> {
        let encoder = Encoder::new(opts, Vec::new()).map_err(io::Error::other)?;
        let mut tar = TarWriter::new(encoder);
        tar.dir("./", 0o755, clamp)?;
        for (name, mode, bytes) in &members {
            let name = format!("./{name}");
            tar.file(&name, *mode, clamp, bytes.len() as u64, &mut &bytes[..])?;
        }
        tar.finish()?.finish()
    };
    write().map_err(|cause| DebError::Write {
        deb: deb.to_path_buf(),
        member: "control.tar",
        cause,
    })
}

/// Writes the ar archive to a named temporary file beside the target, syncs it and renames
/// it over the target. Dropping the temporary file on error deletes it.
fn assemble(
    deb: &Path,
    out_dir: &Path,
    mtime: u64,
    (control_name, control): (&str, &[u8]),
    (data_name, mut data): (&str, File),
) -> Result<(), DebError> {
    let file_name = deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(out_dir)
        .map_err(|cause| DebError::OutputDir {
            dir: out_dir.to_path_buf(),
            cause,
        })?;
    let write_err = |member: &'static str| {
        move |cause: io::Error| DebError::Write {
            deb: deb.to_path_buf(),
            member,
            cause,
        }
    };

    let data_size = data
        .seek(io::SeekFrom::End(0))
        .map_err(write_err("data.tar"))?;
    data.rewind().map_err(write_err("data.tar"))?;
    let mut head = Vec::with_capacity(control.len() + 256);
    head.extend_from_slice(ar::MAGIC);
    let mut add_member = |name: &str, bytes: &[u8]| -> io::Result<()> {
        head.extend_from_slice(&ar::member_header(name, mtime, bytes.len() as u64)?);
        head.extend_from_slice(bytes);
        head.extend_from_slice(ar::padding(bytes.len() as u64));
        Ok(())
    };
    add_member("debian-binary", b"2.0\n").map_err(write_err("debian-binary"))?;
    add_member(control_name, control).map_err(write_err("control.tar"))?;
    head.extend_from_slice(
        &ar::member_header(data_name, mtime, data_size).map_err(write_err("data.tar"))?,
    );

    let out = tmp.as_file_mut();
    out.write_all(&head).map_err(write_err("ar header"))?;
    // File to file: std uses copy_file_range, so the bytes need not pass through user space.
    let copied = io::copy(&mut data, out).map_err(write_err("data.tar"))?;
    if copied != data_size {
        return Err(write_err("data.tar")(io::Error::other(format!(
            "copied {copied} of {data_size} bytes"
        ))));
    }
    out.write_all(ar::padding(data_size))
        .map_err(write_err("data.tar"))?;
    out.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(write_err("file mode"))?;
    out.sync_all().map_err(write_err("fsync"))?;
    tmp.persist(deb).map_err(|e| write_err("rename")(e.error))?;
    // The package is complete and in place; syncing the folder only makes the rename
    // durable, and some filesystems refuse fsync on a directory.
    if let Ok(dir) = File::open(out_dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}
