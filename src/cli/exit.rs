//! Every exit code the binary uses, in one place.

use std::process::ExitCode;

use crate::config::{ConfigError, ErrorKind};
use crate::runtime::app::StartError;
use crate::runtime::supervisor::AgentError;

/// Why the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done, or stopped by a signal after writing the state.
    Ok,
    /// A generic failure (`healthcheck`: not ready; `demo`: a scene did not play; a forced
    /// shutdown that abandoned an action in flight; `offsets`: a connector expected to
    /// progress did not move).
    Failure,
    /// `probe`: the database is down.
    ProbeDown,
    /// `probe`: bad input (its own convention, like `pg_isready`).
    ProbeBadInput,
    /// EX_USAGE: a bad flag or environment variable.
    Usage,
    /// EX_SOFTWARE: an internal error.
    Software,
    /// EX_OSERR: the runtime could not start.
    OsError,
    /// EX_CONFIG: a bad config, password, certificate or state file, an unwritable state
    /// directory, a worker that cannot do `--hold-with stop`.
    Config,
    /// EX_UNAVAILABLE: the listen address is busy or not ours to bind (`offsets`: Kafka Connect
    /// unreachable, failing, or older than 3.5).
    Unavailable,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::ProbeDown => 1,
            Exit::ProbeBadInput => 2,
            Exit::Usage => 64,
            Exit::Software => 70,
            Exit::OsError => 71,
            Exit::Unavailable => 69,
            Exit::Config => 78,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

impl From<&ConfigError> for Exit {
    fn from(e: &ConfigError) -> Exit {
        match e.kind {
            ErrorKind::Usage => Exit::Usage,
            ErrorKind::Config => Exit::Config,
        }
    }
}

impl From<&StartError> for Exit {
    fn from(e: &StartError) -> Exit {
        match e {
            // the port is busy or not ours: the service is unavailable, the config may be fine
            StartError::Listen { .. } => Exit::Unavailable,
            StartError::Config(_) | StartError::Agent(_) => Exit::Config,
        }
    }
}

impl From<&AgentError> for Exit {
    fn from(_: &AgentError) -> Exit {
        // a state file that cannot be read or written, a worker that cannot do the hold
        Exit::Config
    }
}
