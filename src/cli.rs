//! The command line: what the user can type, parsed and checked without doing any work.

use crate::deb::Compression;
use clap::{Args, Parser, Subcommand};
use std::net::Ipv4Addr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "kubedeb",
    version,
    about = "Kubernetes release binaries as Debian packages in a signed local apt repository"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented cluster.toml with the defaults.
    Init(InitArgs),
    /// Validate the config and print what each package will contain.
    Check(ClusterArgs),
    /// Download (or take from a folder), verify and extract the release binaries.
    Fetch(FetchArgs),
    /// Render the templates and build the packages into the dist folder.
    Build(BuildArgs),
    /// Publish .deb files into the signed apt repository.
    Publish(PublishArgs),
    /// fetch, build and publish in one go.
    Up(UpArgs),
    /// Serve the repository over HTTP, with a page telling nodes how to use it.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the file.
    #[arg(long, default_value = "cluster.toml")]
    pub output: PathBuf,
    /// The master's IPv4 address.
    #[arg(long)]
    pub master_ip: Option<Ipv4Addr>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    /// The cluster settings; built-in defaults when absent.
    #[arg(long, short = 'c', default_value = "cluster.toml")]
    pub config: PathBuf,
    /// The master's IPv4 address (overrides the file).
    #[arg(long)]
    pub master_ip: Option<Ipv4Addr>,
    /// An extra release catalog (overrides the file's `fetch.catalog`).
    #[arg(long)]
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct FetchArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Mirror base URL, tried in order before upstream (repeatable).
    #[arg(long = "mirror")]
    pub mirrors: Vec<String>,
    /// Take the tarballs from this folder instead of downloading.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Where tarballs, the lock file and extracted binaries are kept.
    #[arg(long, default_value = "cache")]
    pub cache: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct BuildArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Where `kubedeb fetch` put the binaries.
    #[arg(long, default_value = "cache")]
    pub cache: PathBuf,
    #[command(flatten)]
    pub packages: PackageArgs,
}

/// How the packages are made: templates, output folder, compression.
#[derive(Debug, Args, Clone)]
pub struct PackageArgs {
    /// Override templates by name with the files in this folder.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Where the .deb files are written.
    #[arg(long, default_value = "dist")]
    pub dist: PathBuf,
    #[command(flatten)]
    pub deb: DebArgs,
}

#[derive(Debug, Args, Clone)]
pub struct DebArgs {
    /// Member compression: xz installs on every dpkg since Debian 8; zstd needs Debian 12.
    #[arg(long, value_enum, default_value_t = Compression::Xz)]
    pub compression: Compression,
    /// Compression level (xz 0-9, gzip 1-9, zstd 1-22).
    #[arg(long)]
    pub level: Option<u32>,
    /// Keep the compressed blocks of large files here and reuse them when a rebuild packs
    /// the same bytes again (xz and gzip; zstd recompresses everything); `none` turns it off.
    #[arg(long, value_name = "DIR", default_value = "cache/blocks")]
    pub block_cache: PathBuf,
}

impl DebArgs {
    /// The block cache folder, None after `--block-cache none`.
    pub fn block_cache_dir(&self) -> Option<PathBuf> {
        (self.block_cache.as_os_str() != "none").then(|| self.block_cache.clone())
    }
}

#[derive(Debug, Args, Clone)]
pub struct RepoArgs {
    /// The repository root: `public/` is served, `private/` holds the signing key.
    #[arg(long, default_value = "repo")]
    pub repo: PathBuf,
    /// The suite (and codename) to publish into.
    #[arg(long, default_value = "stable")]
    pub suite: String,
    /// Sign with this gpg key id or key file instead of the repository's own key.
    #[arg(long)]
    pub key: Option<String>,
    /// Keep only the N newest versions of each package.
    #[arg(long)]
    pub keep: Option<usize>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The .deb files to publish.
    #[arg(required = true)]
    pub debs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub fetch: FetchArgs,
    #[command(flatten)]
    pub packages: PackageArgs,
    #[command(flatten)]
    pub repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The repository root.
    #[arg(long, default_value = "repo")]
    pub repo: PathBuf,
    /// Address and port to listen on.
    #[arg(long, default_value = "0.0.0.0:8000")]
    pub listen: String,
    /// The URL nodes use to reach this server, shown on the index page (default: from the request's Host).
    #[arg(long)]
    pub url: Option<String>,
    /// The suite shown on the index page.
    #[arg(long, default_value = "stable")]
    pub suite: String,
}
