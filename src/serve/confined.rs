//! A file backend for tower-http's ServeDir that opens nothing whose real path is outside the served root.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tower_http::services::fs::{Backend, File};

/// Serves files whose canonical path lies under `root`; everything else is "not found".
///
/// The repository's own links (`dists/<suite>` -> `.states/<suite>/<n>`) stay inside the tree
/// and keep working; a link to `../private` or `/etc` does not.
#[derive(Clone, Debug)]
pub struct Confined {
    root: Arc<PathBuf>,
}

impl Confined {
    /// `root` must exist: it is canonicalized once, so that later prefix checks compare real paths.
    pub fn new(root: &Path) -> io::Result<Self> {
        Ok(Confined {
            root: Arc::new(std::fs::canonicalize(root)?),
        })
    }

    /// The real path of `path`, if it lies under the root.
    fn inside(&self, path: &Path) -> io::Result<PathBuf> {
        let real = std::fs::canonicalize(path)?;
        if real.starts_with(&*self.root) {
            Ok(real)
        } else {
            Err(outside())
        }
    }

    fn open_blocking(&self, path: &Path) -> io::Result<std::fs::File> {
        let real = self.inside(path)?;
        let file = std::fs::File::open(&real)?;
        // A link swapped between the check and the open would still be followed; what the
        // descriptor really refers to settles it.
        let opened =
            std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot check where {} leads (is /proc mounted?): {e}",
                        real.display()
                    ),
                )
            })?;
        if opened.starts_with(&*self.root) {
            Ok(file)
        } else {
            Err(outside())
        }
    }
}

fn outside() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "outside the served tree")
}

type Boxed<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

impl Backend for Confined {
    type File = ConfinedFile;
    type Metadata = std::fs::Metadata;
    type OpenFuture = Boxed<ConfinedFile>;
    type MetadataFuture = Boxed<std::fs::Metadata>;

    fn open(&self, path: PathBuf) -> Self::OpenFuture {
        let this = self.clone();
        Box::pin(async move {
            let file = blocking(move || this.open_blocking(&path)).await?;
            Ok(ConfinedFile(tokio::fs::File::from_std(file)))
        })
    }

    fn metadata(&self, path: PathBuf) -> Self::MetadataFuture {
        let this = self.clone();
        Box::pin(async move { blocking(move || std::fs::metadata(this.inside(&path)?)).await })
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("file task failed: {e}")))?
}

/// An opened file, read asynchronously through tokio.
#[derive(Debug)]
pub struct ConfinedFile(tokio::fs::File);

impl AsyncRead for ConfinedFile {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncSeek for ConfinedFile {
    fn start_seek(mut self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        Pin::new(&mut self.0).start_seek(position)
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Pin::new(&mut self.0).poll_complete(cx)
    }
}

impl File for ConfinedFile {
    type Metadata = std::fs::Metadata;
    type MetadataFuture<'a> =
        Pin<Box<dyn Future<Output = io::Result<std::fs::Metadata>> + Send + 'a>>;

    fn metadata(&self) -> Self::MetadataFuture<'_> {
        Box::pin(self.0.metadata())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_inside_the_root_work_and_links_out_of_it_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("public");
        std::fs::create_dir_all(public.join(".states/stable/1")).unwrap();
        std::fs::create_dir_all(dir.path().join("private")).unwrap();
        std::fs::write(public.join(".states/stable/1/InRelease"), "signed").unwrap();
        std::fs::write(dir.path().join("private/key"), "secret").unwrap();
        std::os::unix::fs::symlink(".states/stable/1", public.join("stable")).unwrap();
        std::os::unix::fs::symlink("../private", public.join("private")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", public.join("passwd")).unwrap();

        let backend = Confined::new(&public).unwrap();
        assert!(backend
            .open_blocking(&public.join("stable/InRelease"))
            .is_ok());
        for escape in ["private/key", "passwd"] {
            let err = backend.open_blocking(&public.join(escape)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{escape}");
            assert!(backend.inside(&public.join(escape)).is_err(), "{escape}");
        }
    }
}
