//! One module per subcommand.

pub mod build;
pub mod cleanup;
pub mod console;
pub mod fix;
pub mod fmt;
pub mod hcl2_upgrade;
pub mod init;
pub mod inspect;
pub mod validate;
pub mod version;
