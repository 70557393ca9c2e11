//! The command line: what the user can type, parsed and checked without doing any work.

use crate::deb::Compression;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The config file used when `-c` is not given; the only one allowed to be absent.
pub const DEFAULT_CONFIG: &str = "cluster.toml";

const EXAMPLES: &str = "\
Examples:
  kubedeb init --master-ip 192.168.100.11     write a commented cluster.toml
  kubedeb check                               validate it and list every package's files
  kubedeb up                                  fetch, build and publish into repo/
  kubedeb serve                               serve repo/ to the nodes on port 8000
  kubedeb up --from tarballs/                 the same, offline, from downloaded tarballs
  kubedeb check --format json | jq .          the same check, for scripts

Relative paths, on the command line and in cluster.toml, are relative to the folder of the
config file: the current folder unless -c names a file elsewhere.
Exit status: 0 success, 1 a failed operation, 2 a usage error.";

#[derive(Debug, Parser)]
#[command(
    name = "kubedeb",
    version,
    about = "Kubernetes release binaries as Debian packages in a signed local apt repository",
    after_help = EXAMPLES,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Print errors only, no progress or notes.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also say which files, settings and sources are used.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented cluster.toml with the defaults.
    Init(InitArgs),
    /// Validate the config and print what each package will contain.
    Check(CheckArgs),
    /// Download (or take from a folder), verify and extract the release binaries, and fetch the images.
    Fetch(FetchArgs),
    /// Render the templates and build the packages into the dist folder.
    Build(BuildArgs),
    /// Publish .deb files into the signed apt repository.
    Publish(PublishArgs),
    /// fetch, build and publish in one go.
    Up(UpArgs),
    /// Serve the repository over HTTP, with a page telling nodes how to use it.
    Serve(ServeArgs),
    /// Print the built-in release catalog, the format a --catalog file uses.
    Catalog,
    /// List the built-in templates, or write them into a folder to edit for --templates.
    Templates(TemplatesArgs),
    /// Print a shell completion script (e.g. `kubedeb completions bash > /etc/bash_completion.d/kubedeb`).
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. `kubedeb man | man -l -`.
    Man,
    /// Print the help of kubedeb or of one of its commands.
    Help(HelpArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the file.
    #[arg(long = "config", short = 'c', alias = "output", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// The master's IPv4 address.
    #[arg(long, value_name = "IP")]
    pub master_ip: Option<Ipv4Addr>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    /// The cluster settings; a file named here must exist, only the default may be absent
    /// (then the built-in defaults are used) [default: cluster.toml].
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The master's IPv4 address (overrides the file).
    #[arg(long, value_name = "IP")]
    pub master_ip: Option<Ipv4Addr>,
    /// An extra release catalog (overrides the file's `fetch.catalog` and the one the cache
    /// was fetched with).
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
}

impl ClusterArgs {
    /// The config file to read.
    pub fn config_path(&self) -> &Path {
        self.config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG))
    }

    /// The folder relative paths are resolved against: the config file's.
    pub fn base(&self) -> &Path {
        match self.config_path().parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    /// `path` resolved by the one rule for relative paths.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        resolve(self.base(), path)
    }
}

/// `path` relative to `base` unless absolute; `base` "." leaves it as given, so messages show
/// what the user typed.
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() || base == Path::new(".") {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// How `check` and `fetch` print their results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// One JSON document, for scripts.
    Json,
}

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Where `kubedeb fetch` puts the binaries.
    #[arg(long, value_name = "DIR", default_value = "cache")]
    pub cache: PathBuf,
    /// With debian.carry: say why each carried Debian package is needed (apt's reason).
    #[arg(long)]
    pub explain: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args, Clone)]
pub struct FetchArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Mirror base URL, tried in order before upstream (repeatable).
    #[arg(long = "mirror", value_name = "URL")]
    pub mirrors: Vec<String>,
    /// Container registry mirror, tried in order before fetch.registry_mirrors and each
    /// image's own registry (repeatable): [http://|https://]host[:port][/prefix][=source].
    #[arg(long = "registry-mirror", value_name = "MIRROR", value_parser = crate::images::RegistryMirror::parse)]
    pub registry_mirrors: Vec<crate::images::RegistryMirror>,
    /// Registry credentials: a containers auth file (as `skopeo login --authfile` writes);
    /// overrides fetch.registry_auth, $REGISTRY_AUTH_FILE and ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub registry_auth: Option<PathBuf>,
    /// Take the tarballs and image archives (`docker save`, named like
    /// gcr.io_google_containers_pause_0.8.0.tar) from this folder instead of downloading.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// Where tarballs, the lock file and extracted binaries are kept.
    #[arg(long, value_name = "DIR", default_value = "cache")]
    pub cache: PathBuf,
    /// Debian mirror base URL, tried in order before debian.mirrors (repeatable; needs debian.carry).
    #[arg(long = "debian-mirror", value_name = "URL")]
    pub debian_mirrors: Vec<String>,
    /// With debian.carry: say why each carried Debian package is needed (apt's reason).
    #[arg(long)]
    pub explain: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args, Clone)]
pub struct BuildArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Where `kubedeb fetch` put the binaries.
    #[arg(long, value_name = "DIR", default_value = "cache")]
    pub cache: PathBuf,
    #[command(flatten)]
    pub packages: PackageArgs,
}

/// How the packages are made: templates, output folder, compression.
#[derive(Debug, Args, Clone)]
pub struct PackageArgs {
    /// Override templates by name with the files in this folder (see `kubedeb templates --dump`).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Where the .deb files are written.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub dist: PathBuf,
    #[command(flatten)]
    pub deb: DebArgs,
}

#[derive(Debug, Args, Clone)]
pub struct DebArgs {
    /// Member compression: xz installs on every dpkg since Debian 8; zstd needs Debian 12.
    #[arg(long, value_enum, default_value_t = Compression::Xz)]
    pub compression: Compression,
    /// Compression level: xz 0-9, gzip 1-9, zstd 1-22 [default: xz 6, gzip 9, zstd 19].
    #[arg(long, value_name = "N")]
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

    /// The usage error for a `--level` the chosen compressor does not take, if any.
    pub fn level_problem(&self) -> Option<String> {
        let level = self.level?;
        let (min, max) = crate::deb::level_range(self.compression);
        let name = self
            .compression
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string());
        (!(min..=max).contains(&level)).then(|| {
            format!(
                "--level {level} is out of range for --compression {name}: use {min}-{max} \
                 (xz 0-9, gzip 1-9, zstd 1-22)"
            )
        })
    }
}

#[derive(Debug, Args, Clone)]
pub struct RepoArgs {
    /// The repository root: `public/` is served, `private/` holds the signing key.
    #[arg(long, value_name = "DIR", default_value = "repo")]
    pub repo: PathBuf,
    /// The suite (and codename) to publish into.
    #[arg(long, value_name = "NAME", default_value = "stable")]
    pub suite: String,
    /// Sign with this gpg key id or key file instead of the repository's own key.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Keep only the N newest versions of each package [default: keep all].
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The .deb files to publish.
    #[arg(required = true, value_name = "DEB")]
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
    #[arg(long, value_name = "DIR", default_value = "repo")]
    pub repo: PathBuf,
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:8000")]
    pub listen: String,
    /// The URL nodes use to reach this server, shown on the index page (default: from the request's Host).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The suite shown on the index page.
    #[arg(long, value_name = "NAME", default_value = "stable")]
    pub suite: String,
}

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    /// Write every built-in template into this folder (its path under it is the name
    /// --templates matches).
    #[arg(long, value_name = "DIR")]
    pub dump: Option<PathBuf>,
    /// With --dump: write into a folder that is not empty, replacing files of the same name.
    #[arg(long, requires = "dump")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct HelpArgs {
    /// The command to explain (all of kubedeb when absent).
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}
