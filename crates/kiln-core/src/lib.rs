//! The kiln build engine.
//!
//! A build is a builder's [`step::Step`]s run in order and cleaned up in reverse; a provisioning
//! [`plugin::Hook`] inside them runs the provisioners over a communicator; the builder's
//! [`artifact::Artifact`] then goes through the post-processor chains ([`engine`]).
//! Everything a user sees goes through one [`ui::Ui`], which redacts secrets in every form.

pub mod artifact;
pub mod clean_keys;
pub mod connect;
pub mod digest;
pub mod engine;
pub mod error;
pub mod journal;
pub mod log;
pub mod plugin;
pub mod process;
pub mod redact;
pub mod step;
pub mod ui;

pub use error::{Error, Result};
