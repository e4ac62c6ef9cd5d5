//! Log output: text (no colour unless stderr is a terminal and `NO_COLOR` is unset) or JSON.

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CDC_SENTINEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube_client=off"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // colour only for a person at a terminal: log files, journald and `kubectl logs`
        // must not fill with escape codes (https://no-color.org is honoured too)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().flatten_event(true).init(),
    }
}
