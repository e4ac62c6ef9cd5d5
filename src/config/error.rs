//! The configuration layer's one error type: what is wrong, and whether a flag (usage, exit 64)
//! or a file (config, exit 78) is to blame. `cli::exit` maps the kind to the exit code.

/// Whom a configuration problem is blamed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A flag or environment variable (EX_USAGE).
    Usage,
    /// A file: the config file, a password or certificate file, the state file (EX_CONFIG).
    Config,
}

/// A configuration problem; the message names the flag, key or file and the fix.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
    pub kind: ErrorKind,
}

pub(crate) fn usage(msg: impl Into<String>) -> ConfigError {
    ConfigError {
        message: msg.into(),
        kind: ErrorKind::Usage,
    }
}

pub(crate) fn file_err(msg: impl Into<String>) -> ConfigError {
    ConfigError {
        message: msg.into(),
        kind: ErrorKind::Config,
    }
}
