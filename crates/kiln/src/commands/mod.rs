//! One module per subcommand.

pub mod build;
pub mod cleanup;
pub mod inspect;
pub mod validate;
pub mod version;
