//! One module per subcommand: each turns parsed arguments into calls on the library.

pub mod build;
pub mod check;
pub mod fetch;
pub mod init;
pub mod publish;
pub mod serve;
pub mod up;
