//! The engine's error type.

/// Why a build, step or plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure explained in words.
    #[error("{0}")]
    Msg(String),
    /// The build was cancelled (SIGINT/SIGTERM).
    #[error("Build was cancelled.")]
    Cancelled,
    /// A configuration problem, with its location.
    #[error("{0}")]
    Config(#[from] kiln_template::Diagnostic),
    /// A communicator failure.
    #[error(transparent)]
    Comm(kiln_comm::CommError),
    /// Local I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<kiln_comm::CommError> for Error {
    /// A cancelled communicator operation is the build being cancelled.
    fn from(e: kiln_comm::CommError) -> Error {
        match e {
            kiln_comm::CommError::Cancelled => Error::Cancelled,
            other => Error::Comm(other),
        }
    }
}

impl Error {
    /// An error from a message.
    pub fn msg(m: impl Into<String>) -> Error {
        Error::Msg(m.into())
    }
}

/// Result with the engine's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
