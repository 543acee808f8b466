//! Template front ends for kiln.
//!
//! Every syntax a user can write (Packer's legacy JSON, and HCL2 in [`hcl`]) is parsed into one
//! [`value::Value`] tree with source spans, interpolated with the Go-template engine in
//! [`interp`], and turned into the syntax-free [`ir::Template`] that the engine plans builds
//! from.

pub mod datasources;
pub mod decode;
pub mod diag;
pub mod duration;
pub mod fix;
pub mod hcl;
pub mod interp;
pub mod ir;
pub mod json;
pub mod legacy;
pub mod secrets;
pub mod source;
pub mod value;
pub mod variables;
pub mod version;

pub use diag::Diagnostic;
pub use source::{Source, Span};
pub use value::Value;

/// The Packer release whose behaviour kiln reproduces; `packer_version` and
/// `min_packer_version` are answered against it.
pub const PACKER_COMPAT_VERSION: &str = "1.6.6";
