//! `kubedeb-docker-api`: pins kubelet's unversioned Docker API requests to one API version.

fn main() -> std::process::ExitCode {
    kubedeb::docker_api::run(std::env::args_os().skip(1))
}
