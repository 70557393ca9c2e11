//! The booted-host tests: clusters installed from the served repository on systemd-nspawn Debian 12 hosts; minutes each, run with `--test-threads=1`.
// The harness is shared with the integration target; this target uses a part of it.
#![allow(dead_code)]

#[path = "../harness/cluster.rs"]
mod cluster;
#[path = "../harness/mod.rs"]
mod harness;
#[path = "../harness/nspawn.rs"]
mod nspawn;

mod e2e;
mod e2e_real;
mod images;
