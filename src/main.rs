//! The `kubedeb` command: parse the command line, run, print errors with their causes.

fn main() {
    println!("kubedeb");
}
