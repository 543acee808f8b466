//! The `file` builder: the artifact is a file, copied from `source` or written from `content`.

pub mod builder;
pub mod config;
