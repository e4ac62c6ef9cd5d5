//! Flags, environment and the optional TOML file, validated into one [`Config`].
//!
//! Every flag has an `env = CDC_SENTINEL_*` twin; durations are human (`250ms`, `60s`, `30m`).
//! [`RunArgs::validate`] is pure apart from reading the files it is pointed at, and returns a
//! [`ConfigError`] that names the flag or key and the fix; `main` maps it to exit 64 (a bad
//! flag, EX_USAGE) or 78 (a bad file, EX_CONFIG).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use regex::Regex;
use serde::Deserialize;

use crate::connect::ConnectSettings;
use crate::probe::runner::ProbeConfig;
use crate::recovery::core::{AfterTimeout, HoldWith, Settings};
use crate::target::{self, Target};
use crate::windows::{self, MaintenanceEntry, Window};

/// The agent's default metrics port. Prometheus' default port allocations page has every port
/// of 9100-9999 taken; 10150 is beyond it (see README, "HTTP endpoints").
pub const DEFAULT_PORT: u16 = 10150;

#[derive(Parser, Debug)]
#[command(
    name = "cdc-sentinel",
    version,
    about = "Holds Kafka Connect / Debezium connectors while their database is down and resumes them when it is back",
    args_conflicts_with_subcommands = true,
    args_override_self = true,
    subcommand_precedence_over_arg = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Running the bare binary is `cdc-sentinel run`.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the agent (the default).
    Run(RunArgs),
    /// Print the effective configuration (secrets redacted) and exit; exit 64/78 if it is bad.
    CheckConfig(RunArgs),
    /// Play a nightly backup against an embedded simulated Kafka Connect and database.
    Demo(DemoArgs),
    /// Ask a running agent whether it is ready (for container HEALTHCHECKs): exit 0 if so.
    Healthcheck(HealthArgs),
    /// Run the simulated Kafka Connect worker alone (for test suites).
    #[command(hide = true)]
    Simulate(SimulateArgs),
    /// Print the next occurrences of every maintenance window, in its time zone and in UTC.
    Windows(WindowsArgs),
    /// Probe a database once (or --count times) like the agent does: exit 0 up, 1 down, 2 bad input.
    Probe(crate::probe::cli::ProbeArgs),
}

#[derive(Args, Debug, Clone)]
pub struct SimulateArgs {
    /// Where the simulated worker listens.
    #[arg(long, default_value = "127.0.0.1:8083")]
    pub listen: String,
    /// Kafka version it reports.
    #[arg(long, default_value = "3.9.0")]
    pub version: String,
    /// NAME=KIND@HOST:PORT[:failfast], KIND oracle or postgres (repeatable).
    #[arg(long = "connector")]
    pub connectors: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct WindowsArgs {
    /// TOML file with [[maintenance]] tables (the agent's --config).
    #[arg(long, env = "CDC_SENTINEL_CONFIG")]
    pub config: Option<PathBuf>,
    /// A window for every connector, as for `run` (repeatable).
    #[arg(
        long = "maintenance",
        env = "CDC_SENTINEL_MAINTENANCE",
        value_delimiter = ';'
    )]
    pub maintenance: Vec<String>,
    /// Occurrences to show per window.
    #[arg(long, env = "CDC_SENTINEL_WINDOWS_COUNT", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
    /// List from this time instead of now (RFC 3339, e.g. 2026-03-07T12:00:00-05:00), to check a DST night ahead.
    #[arg(long, env = "CDC_SENTINEL_WINDOWS_FROM")]
    pub from: Option<String>,
}

impl WindowsArgs {
    /// The windows (`--maintenance`, then the file's) and the time to list from, if given.
    pub fn load(&self) -> Result<(Vec<Window>, Option<u64>), ConfigError> {
        let from = self
            .from
            .as_deref()
            .map(|f| {
                chrono::DateTime::parse_from_rfc3339(f.trim())
                    .map(|t| t.timestamp_millis().max(0) as u64)
                    .map_err(|e| {
                        usage(format!(
                            "--from {f:?}: {e}: expected a time like 2026-03-07T12:00:00-05:00"
                        ))
                    })
            })
            .transpose()?;
        let mut list = flag_windows(&self.maintenance)?;
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path).map_err(|e| {
                file_err(format!("--config {}: cannot read it ({e})", path.display()))
            })?;
            let fc: FileConfig = toml::from_str(&text).map_err(|e| {
                file_err(format!(
                    "--config {}: {}",
                    path.display(),
                    e.to_string().trim()
                ))
            })?;
            list.extend(file_windows(path, &fc.maintenance)?);
        }
        Ok((list, from))
    }
}

/// `--maintenance` values: windows for every selected connector.
fn flag_windows(values: &[String]) -> Result<Vec<Window>, ConfigError> {
    values
        .iter()
        .map(|v| {
            windows::parse_when(v)
                .map(|schedule| Window {
                    schedule,
                    connectors: vec![],
                    targets: vec![],
                    source: "--maintenance".into(),
                })
                .map_err(|e| usage(format!("--maintenance {v:?}: {e}")))
        })
        .collect()
}

/// The `[[maintenance]]` tables of the config file.
fn file_windows(path: &Path, entries: &[MaintenanceEntry]) -> Result<Vec<Window>, ConfigError> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let source = format!("--config {} [[maintenance]] #{}", path.display(), i + 1);
            e.to_window(source.clone())
                .map_err(|m| file_err(format!("{source}: {m}")))
        })
        .collect()
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Where the demo agent serves /metrics.
    #[arg(
        long = "web.listen-address",
        env = "CDC_SENTINEL_WEB_LISTEN_ADDRESS",
        default_value = "127.0.0.1:10150"
    )]
    pub listen: String,
    /// Run the scenes faster (2; 10 plays both nights in a few seconds) or slower (0.5).
    #[arg(long, env = "CDC_SENTINEL_DEMO_SPEED", default_value_t = 1.0)]
    pub speed: f64,
    /// Log format.
    #[arg(long, env = "CDC_SENTINEL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Args, Debug, Clone)]
pub struct HealthArgs {
    /// The agent's readiness URL. Default: /readyz on the port of CDC_SENTINEL_WEB_LISTEN_ADDRESS
    /// (so a container that changes the port needs nothing else), else 10150.
    #[arg(long, env = "CDC_SENTINEL_HEALTHCHECK_URL")]
    pub url: Option<String>,
    /// How long to wait for the answer.
    #[arg(long, env = "CDC_SENTINEL_HEALTHCHECK_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,
}

impl HealthArgs {
    /// The URL to ask: `--url`, or the local readiness endpoint of the listen address.
    pub fn resolved_url(&self) -> String {
        if let Some(u) = &self.url {
            return u.clone();
        }
        let listen = std::env::var("CDC_SENTINEL_WEB_LISTEN_ADDRESS").unwrap_or_default();
        readiness_url(&listen)
    }
}

/// `http://HOST:PORT/readyz` for a listen address; a wildcard host is asked on loopback.
pub fn readiness_url(listen: &str) -> String {
    match parse_listen(listen.trim()) {
        Ok(a) if a.ip().is_unspecified() => format!("http://127.0.0.1:{}/readyz", a.port()),
        Ok(a) => format!("http://{a}/readyz"),
        Err(_) => format!("http://127.0.0.1:{DEFAULT_PORT}/readyz"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("{e}: expected a duration like 250ms, 60s, 30m or 1h30m"))?;
    Ok(d)
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Kafka Connect REST URL.
    #[arg(
        long,
        env = "CDC_SENTINEL_CONNECT_URL",
        default_value = "http://localhost:8083"
    )]
    pub connect_url: String,
    /// Basic-auth user for Kafka Connect (password from CDC_SENTINEL_CONNECT_PASSWORD or --connect-password-file).
    #[arg(long, env = "CDC_SENTINEL_CONNECT_USER")]
    pub connect_user: Option<String>,
    /// File holding the basic-auth password (first line).
    #[arg(long, env = "CDC_SENTINEL_CONNECT_PASSWORD_FILE")]
    pub connect_password_file: Option<PathBuf>,
    /// PEM file with CA certificates to trust for an https:// Kafka Connect.
    #[arg(long, env = "CDC_SENTINEL_CONNECT_CA")]
    pub connect_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --connect-client-key).
    #[arg(long, env = "CDC_SENTINEL_CONNECT_CLIENT_CERT")]
    pub connect_client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, env = "CDC_SENTINEL_CONNECT_CLIENT_KEY")]
    pub connect_client_key: Option<PathBuf>,
    /// Timeout of each Kafka Connect request.
    #[arg(long, env = "CDC_SENTINEL_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Timeout of a pause/resume/stop/restart call (stop and restart wait for the leader and the config topic).
    #[arg(long, env = "CDC_SENTINEL_CONNECT_ACTION_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub connect_action_timeout: Duration,

    /// Act only on this connector (repeatable; comma-separated in the environment).
    #[arg(
        long = "connector",
        env = "CDC_SENTINEL_CONNECTOR",
        value_delimiter = ','
    )]
    pub connectors: Vec<String>,
    /// Act only on connectors whose whole name matches this regex.
    #[arg(long, env = "CDC_SENTINEL_INCLUDE")]
    pub include: Option<String>,
    /// Never act on connectors whose whole name matches this regex.
    #[arg(long, env = "CDC_SENTINEL_EXCLUDE")]
    pub exclude: Option<String>,

    /// Database to probe for every selected connector (tcp://HOST:PORT, oracle://HOST:PORT/SERVICE, postgres://, mysql://). Default: from each connector's config.
    #[arg(long, env = "CDC_SENTINEL_DB")]
    pub db: Option<String>,
    /// TOML file with per-connector settings (targets, max wait, ...).
    #[arg(long, env = "CDC_SENTINEL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Maintenance window for every selected connector, e.g. "Mon-Sun 01:50-02:30 Asia/Seoul": held at its start, resumed after its end once the database is back (repeatable; ';'-separated in the environment).
    #[arg(
        long = "maintenance",
        env = "CDC_SENTINEL_MAINTENANCE",
        value_delimiter = ';'
    )]
    pub maintenance: Vec<String>,

    /// How often to read every connector's status.
    #[arg(long, env = "CDC_SENTINEL_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// How often to probe each database.
    #[arg(long, env = "CDC_SENTINEL_PROBE_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub probe_interval: Duration,
    /// Timeout of one probe.
    #[arg(long, env = "CDC_SENTINEL_PROBE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub probe_timeout: Duration,
    /// Failed probes in a row that mean "down" while a connector still reads RUNNING.
    #[arg(long, env = "CDC_SENTINEL_DOWN_AFTER", default_value_t = 3)]
    pub down_after: u32,
    /// Successful probes in a row that mean "back".
    #[arg(long, env = "CDC_SENTINEL_UP_AFTER", default_value_t = 2)]
    pub up_after: u32,
    /// After a resume, how long the connector and every task have to reach RUNNING.
    #[arg(long, env = "CDC_SENTINEL_VERIFY_TIMEOUT", default_value = "2m", value_parser = parse_duration)]
    pub verify_timeout: Duration,
    /// How long they must then stay RUNNING for the recovery to count.
    #[arg(long, env = "CDC_SENTINEL_VERIFY_WINDOW", default_value = "30s", value_parser = parse_duration)]
    pub verify_window: Duration,
    /// Give up waiting after this long: the connector stays held and an alert fires.
    #[arg(long, env = "CDC_SENTINEL_MAX_WAIT", default_value = "30m", value_parser = parse_duration)]
    pub max_wait: Duration,
    /// After the maximum wait: keep holding (the runbook's way) or resume once the database is back.
    #[arg(long, env = "CDC_SENTINEL_AFTER_TIMEOUT", value_enum, default_value_t = AfterTimeout::Hold)]
    pub after_timeout: AfterTimeout,
    /// How to hold a connector: pause (any Kafka) or stop (Kafka >= 3.5: releases the database sessions).
    #[arg(long, env = "CDC_SENTINEL_HOLD_WITH", value_enum, default_value_t = HoldWith::Pause)]
    pub hold_with: HoldWith,
    /// Where the agent records which connectors it holds.
    #[arg(
        long,
        env = "CDC_SENTINEL_STATE_FILE",
        default_value = "cdc-sentinel-state.json"
    )]
    pub state_file: PathBuf,
    /// Address for /metrics, /healthz, /readyz (":PORT" means every interface).
    #[arg(
        long = "web.listen-address",
        env = "CDC_SENTINEL_WEB_LISTEN_ADDRESS",
        default_value = ":10150"
    )]
    pub listen: String,
    /// Log format.
    #[arg(long, env = "CDC_SENTINEL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log and count what would be done, send nothing, write no state.
    #[arg(long, env = "CDC_SENTINEL_DRY_RUN")]
    pub dry_run: bool,
}

/// A configuration problem; `exit_code` is 64 for flags, 78 for files.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
    pub exit_code: i32,
}

fn usage(msg: impl Into<String>) -> ConfigError {
    ConfigError {
        message: msg.into(),
        exit_code: 64,
    }
}

fn file_err(msg: impl Into<String>) -> ConfigError {
    ConfigError {
        message: msg.into(),
        exit_code: 78,
    }
}

/// Which connectors this agent acts on: the single decision point (one agent per worker later
/// means changing only this).
#[derive(Debug, Clone, Default)]
pub struct Selector {
    names: Vec<String>,
    include: Option<Regex>,
    exclude: Option<Regex>,
    ignored: Vec<String>,
}

impl Selector {
    pub fn selects(&self, name: &str) -> bool {
        if !self.names.is_empty() && !self.names.iter().any(|n| n == name) {
            return false;
        }
        if let Some(re) = &self.include {
            if !re.is_match(name) {
                return false;
            }
        }
        if let Some(re) = &self.exclude {
            if re.is_match(name) {
                return false;
            }
        }
        !self.ignored.iter().any(|n| n == name)
    }
}

/// Per-connector settings from the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorFileEntry {
    /// Database URL to probe for this connector.
    pub db: Option<String>,
    pub max_wait: Option<String>,
    pub after_timeout: Option<AfterTimeout>,
    pub hold_with: Option<HoldWith>,
    /// Never act on this connector.
    #[serde(default)]
    pub ignore: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    connectors: BTreeMap<String, ConnectorFileEntry>,
    #[serde(default)]
    maintenance: Vec<MaintenanceEntry>,
}

/// Validated per-connector override.
#[derive(Debug, Clone, Default)]
pub struct Override {
    pub db: Option<Target>,
    pub max_wait: Option<Duration>,
    pub after_timeout: Option<AfterTimeout>,
    pub hold_with: Option<HoldWith>,
}

/// The validated configuration of a running agent.
#[derive(Debug, Clone)]
pub struct Config {
    pub connect: ConnectSettings,
    pub selector: Selector,
    pub db: Option<Target>,
    pub overrides: BTreeMap<String, Override>,
    pub poll_interval: Duration,
    pub probe: ProbeConfig,
    pub settings: Settings,
    pub state_file: PathBuf,
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub dry_run: bool,
    pub config_file: Option<PathBuf>,
    /// Maintenance windows (`--maintenance`, then `[[maintenance]]` of the file).
    pub maintenance: Vec<Window>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// Parses a listen address: `HOST:PORT`, `:PORT` (every interface) or `[V6]:PORT`.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse::<SocketAddr>()
        .map_err(|_| format!("--web.listen-address {s:?} is not HOST:PORT (e.g. :{DEFAULT_PORT} or 127.0.0.1:{DEFAULT_PORT})"))
}

impl RunArgs {
    /// Checks everything and builds the [`Config`].
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let url = self.connect_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            return Err(usage(format!(
                "--connect-url {:?} must be an http:// or https:// URL, e.g. http://localhost:8083",
                crate::classify::redact(url)
            )));
        }
        if url
            .split("://")
            .nth(1)
            .is_some_and(|r| r.split('/').next().unwrap_or("").contains('@'))
        {
            return Err(usage("--connect-url must not carry credentials: use --connect-user and CDC_SENTINEL_CONNECT_PASSWORD or --connect-password-file"));
        }
        let mut password = std::env::var("CDC_SENTINEL_CONNECT_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        if let Some(f) = &self.connect_password_file {
            let text = std::fs::read_to_string(f).map_err(|e| {
                file_err(format!(
                    "--connect-password-file {}: cannot read it ({e})",
                    f.display()
                ))
            })?;
            password = Some(text.lines().next().unwrap_or("").to_string());
        }
        if password.is_some() && self.connect_user.is_none() {
            return Err(usage(
                "a Kafka Connect password is set but --connect-user is not: give both",
            ));
        }
        let read_pem = |flag: &str, p: &Option<PathBuf>| -> Result<Option<Vec<u8>>, ConfigError> {
            match p {
                None => Ok(None),
                Some(p) => std::fs::read(p)
                    .map(Some)
                    .map_err(|e| file_err(format!("{flag} {}: cannot read it ({e})", p.display()))),
            }
        };
        let ca_pem = read_pem("--connect-ca", &self.connect_ca)?;
        let identity_pem = match (read_pem("--connect-client-cert", &self.connect_client_cert)?, read_pem("--connect-client-key", &self.connect_client_key)?) {
            (Some(mut c), Some(k)) => {
                c.push(b'\n');
                c.extend_from_slice(&k);
                Some(c)
            }
            (None, None) => None,
            _ => return Err(usage("--connect-client-cert and --connect-client-key go together: give both for mutual TLS")),
        };
        if (ca_pem.is_some() || identity_pem.is_some()) && !url.starts_with("https://") {
            return Err(usage(
                "--connect-ca/--connect-client-cert need an https:// --connect-url",
            ));
        }

        let anchored = |flag: &str, re: &Option<String>| -> Result<Option<Regex>, ConfigError> {
            re.as_ref()
                .map(|r| {
                    Regex::new(&format!("^(?:{r})$")).map_err(|e| {
                        usage(format!(
                            "{flag} {r:?} is not a valid regular expression: {e}"
                        ))
                    })
                })
                .transpose()
        };
        let include = anchored("--include", &self.include)?;
        let exclude = anchored("--exclude", &self.exclude)?;
        if self.connectors.iter().any(|c| c.trim().is_empty()) {
            return Err(usage("--connector needs a connector name"));
        }

        let db = self
            .db
            .as_deref()
            .map(target::parse_url)
            .transpose()
            .map_err(|e| usage(format!("--db: {e}")))?;

        for (flag, d) in [
            ("--poll-interval", self.poll_interval),
            ("--probe-interval", self.probe_interval),
            ("--probe-timeout", self.probe_timeout),
            ("--connect-timeout", self.connect_timeout),
            ("--connect-action-timeout", self.connect_action_timeout),
            ("--max-wait", self.max_wait),
        ] {
            if d.is_zero() {
                return Err(usage(format!("{flag} must be greater than zero")));
            }
        }
        if self.down_after == 0 || self.up_after == 0 {
            return Err(usage("--down-after and --up-after must be at least 1"));
        }
        if self.up_after as usize > crate::recovery::core::ProbeObs::KEEP {
            return Err(usage(format!(
                "--up-after {} is more than {} probes: lower it",
                self.up_after,
                crate::recovery::core::ProbeObs::KEEP
            )));
        }
        if self.probe_timeout > self.probe_interval.max(Duration::from_millis(1)) * 2 {
            return Err(usage(format!(
                "--probe-timeout ({}) is longer than twice --probe-interval ({}): lower the timeout",
                humantime::format_duration(self.probe_timeout),
                humantime::format_duration(self.probe_interval)
            )));
        }
        let listen = parse_listen(&self.listen).map_err(usage)?;
        let mut maintenance = flag_windows(&self.maintenance)?;

        let mut overrides = BTreeMap::new();
        let mut ignored = Vec::new();
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path).map_err(|e| {
                file_err(format!("--config {}: cannot read it ({e})", path.display()))
            })?;
            let fc: FileConfig = toml::from_str(&text).map_err(|e| {
                file_err(format!(
                    "--config {}: {}",
                    path.display(),
                    e.to_string().trim()
                ))
            })?;
            for (name, entry) in fc.connectors {
                let key =
                    |k: &str| format!("--config {}: [connectors.\"{name}\"] {k}", path.display());
                if entry.ignore {
                    ignored.push(name.clone());
                }
                let o = Override {
                    db: entry
                        .db
                        .as_deref()
                        .map(target::parse_url)
                        .transpose()
                        .map_err(|e| file_err(format!("{}: {e}", key("db"))))?,
                    max_wait: entry
                        .max_wait
                        .as_deref()
                        .map(parse_duration)
                        .transpose()
                        .map_err(|e| file_err(format!("{}: {e}", key("max_wait"))))?,
                    after_timeout: entry.after_timeout,
                    hold_with: entry.hold_with,
                };
                overrides.insert(name, o);
            }
            maintenance.extend(file_windows(path, &fc.maintenance)?);
        }

        let settings = Settings {
            hold_with: self.hold_with,
            after_timeout: self.after_timeout,
            max_wait: ms(self.max_wait),
            down_after: self.down_after,
            up_after: self.up_after,
            verify_timeout: ms(self.verify_timeout),
            verify_window: ms(self.verify_window),
            confirm_timeout: ms(self.poll_interval * 6).max(30_000),
            reattempt_base: ms(self.probe_interval).max(1_000),
            reattempt_cap: 600_000,
            deleted_after: 3,
            dry_run: self.dry_run,
        };
        Ok(Config {
            connect: ConnectSettings {
                url: url.trim_end_matches('/').to_string(),
                user: self.connect_user.clone(),
                password,
                timeout: self.connect_timeout,
                action_timeout: self.connect_action_timeout,
                ca_pem,
                identity_pem,
            },
            selector: Selector {
                names: self.connectors.clone(),
                include,
                exclude,
                ignored,
            },
            db,
            overrides,
            poll_interval: self.poll_interval,
            probe: ProbeConfig {
                interval: self.probe_interval,
                timeout: self.probe_timeout,
            },
            settings,
            state_file: self.state_file.clone(),
            listen,
            log_format: self.log_format,
            dry_run: self.dry_run,
            config_file: self.config.clone(),
            maintenance,
        })
    }
}

impl Config {
    /// The settings that apply to one connector (flags, then its config-file entry).
    pub fn settings_for(&self, name: &str) -> Settings {
        let mut s = self.settings.clone();
        if let Some(o) = self.overrides.get(name) {
            if let Some(m) = o.max_wait {
                s.max_wait = ms(m);
            }
            if let Some(a) = o.after_timeout {
                s.after_timeout = a;
            }
            if let Some(h) = o.hold_with {
                s.hold_with = h;
            }
        }
        s
    }

    /// The target for a connector: config file, then `--db`, then the connector's own config.
    pub fn target_for(
        &self,
        name: &str,
        connector_config: &BTreeMap<String, String>,
    ) -> Result<Target, String> {
        if let Some(t) = self.overrides.get(name).and_then(|o| o.db.clone()) {
            return Ok(t);
        }
        if let Some(t) = &self.db {
            return Ok(t.clone());
        }
        target::derive(connector_config)
    }

    /// Whether any connector may be held with STOP (needs Kafka >= 3.5).
    pub fn uses_stop(&self) -> bool {
        self.settings.hold_with == HoldWith::Stop
            || self
                .overrides
                .values()
                .any(|o| o.hold_with == Some(HoldWith::Stop))
    }

    /// The effective configuration as text, secrets redacted (`check-config`).
    pub fn describe(&self) -> String {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let dm = |m: u64| humantime::format_duration(Duration::from_millis(m)).to_string();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "connect_url        = {}",
            crate::classify::redact(&self.connect.url)
        );
        let _ = writeln!(
            s,
            "connect_user       = {}",
            self.connect.user.as_deref().unwrap_or("(none)")
        );
        let _ = writeln!(
            s,
            "connect_password   = {}",
            if self.connect.password.is_some() {
                "*** (set)"
            } else {
                "(none)"
            }
        );
        let _ = writeln!(
            s,
            "connect_tls        = ca: {}, client certificate: {}",
            self.connect.ca_pem.is_some(),
            self.connect.identity_pem.is_some()
        );
        let _ = writeln!(
            s,
            "connect_timeout    = {} (actions: {})",
            d(self.connect.timeout),
            d(self.connect.action_timeout)
        );
        let _ = writeln!(
            s,
            "connectors         = {}",
            if self.selector.names.is_empty() {
                "(all)".to_string()
            } else {
                self.selector.names.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "include            = {}",
            self.selector
                .include
                .as_ref()
                .map(|r| r.as_str())
                .unwrap_or("(none)")
        );
        let _ = writeln!(
            s,
            "exclude            = {}",
            self.selector
                .exclude
                .as_ref()
                .map(|r| r.as_str())
                .unwrap_or("(none)")
        );
        let _ = writeln!(
            s,
            "db                 = {}",
            self.db
                .as_ref()
                .map(|t| t.url())
                .unwrap_or_else(|| "(from each connector's config)".into())
        );
        let _ = writeln!(s, "poll_interval      = {}", d(self.poll_interval));
        let _ = writeln!(s, "probe_interval     = {}", d(self.probe.interval));
        let _ = writeln!(s, "probe_timeout      = {}", d(self.probe.timeout));
        let _ = writeln!(s, "down_after         = {}", self.settings.down_after);
        let _ = writeln!(s, "up_after           = {}", self.settings.up_after);
        let _ = writeln!(
            s,
            "verify_timeout     = {}",
            dm(self.settings.verify_timeout)
        );
        let _ = writeln!(
            s,
            "verify_window      = {}",
            dm(self.settings.verify_window)
        );
        let _ = writeln!(s, "max_wait           = {}", dm(self.settings.max_wait));
        let _ = writeln!(s, "after_timeout      = {:?}", self.settings.after_timeout);
        let _ = writeln!(s, "hold_with          = {:?}", self.settings.hold_with);
        let _ = writeln!(s, "state_file         = {}", self.state_file.display());
        let _ = writeln!(s, "web.listen_address = {}", self.listen);
        let _ = writeln!(s, "dry_run            = {}", self.dry_run);
        for w in &self.maintenance {
            let _ = writeln!(
                s,
                "maintenance        = {} ({}; from {})",
                w.schedule,
                w.scope(),
                w.source
            );
        }
        for (name, o) in &self.overrides {
            let _ = writeln!(
                s,
                "[connectors.{name:?}] db = {}, max_wait = {}, after_timeout = {:?}, hold_with = {:?}{}",
                o.db.as_ref().map(|t| t.url()).unwrap_or_else(|| "-".into()),
                o.max_wait.map(d).unwrap_or_else(|| "-".into()),
                o.after_timeout,
                o.hold_with,
                if self.selector.ignored.contains(name) { ", ignore = true" } else { "" }
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<RunArgs, clap::Error> {
        let mut v = vec!["cdc-sentinel", "run"];
        v.extend_from_slice(extra);
        match Cli::try_parse_from(v)?.command {
            Some(Command::Run(a)) => Ok(a),
            _ => unreachable!(),
        }
    }

    #[test]
    fn healthcheck_follows_the_listen_address() {
        assert_eq!(readiness_url(":9999"), "http://127.0.0.1:9999/readyz");
        assert_eq!(
            readiness_url("0.0.0.0:10150"),
            "http://127.0.0.1:10150/readyz"
        );
        assert_eq!(
            readiness_url("127.0.0.2:8080"),
            "http://127.0.0.2:8080/readyz"
        );
        assert_eq!(readiness_url(""), "http://127.0.0.1:10150/readyz");
    }

    #[test]
    fn defaults_match_the_runbook() {
        let c = args(&[]).unwrap().validate().unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(5));
        assert_eq!(c.probe.interval, Duration::from_secs(60));
        assert_eq!(c.settings.max_wait, 30 * 60_000);
        assert_eq!((c.settings.down_after, c.settings.up_after), (3, 2));
        assert_eq!(c.listen.port(), DEFAULT_PORT);
        assert_eq!(c.settings.hold_with, HoldWith::Pause);
    }

    #[test]
    fn bad_flags_name_the_flag_and_the_fix() {
        let e = args(&["--poll-interval", "5 parsecs"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--poll-interval") && e.contains("30m"), "{e}");
        let e = args(&["--include", "inv("])
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.exit_code, 64);
        assert!(e.message.contains("--include"), "{}", e.message);
        let e = args(&["--db", "10.0.0.1:1521"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            e.message.contains("--db") && e.message.contains("tcp://HOST:PORT"),
            "{}",
            e.message
        );
        let e = args(&["--connect-url", "http://admin:pw@connect:8083"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(!e.message.contains("pw@"), "{}", e.message);
    }

    #[test]
    fn selection_is_one_decision() {
        let c = args(&["--include", "inv-.*", "--exclude", ".*-test"])
            .unwrap()
            .validate()
            .unwrap();
        assert!(c.selector.selects("inv-oracle"));
        assert!(!c.selector.selects("inv-test"));
        assert!(!c.selector.selects("xinv-oracle"), "regexes are anchored");
        let c = args(&["--connector", "a", "--connector", "b"])
            .unwrap()
            .validate()
            .unwrap();
        assert!(c.selector.selects("a") && c.selector.selects("b") && !c.selector.selects("c"));
    }

    #[test]
    fn config_file_overrides_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[connectors.inv]\ndb = \"oracle://db:1521/PDB1\"\nmax_wait = \"45m\"\nhold_with = \"stop\"\n[connectors.legacy]\nignore = true\n").unwrap();
        let c = args(&["--config", p.to_str().unwrap()])
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(c.settings_for("inv").max_wait, 45 * 60_000);
        assert_eq!(
            c.target_for("inv", &BTreeMap::new()).unwrap().label(),
            "db:1521/PDB1"
        );
        assert!(c.uses_stop());
        assert!(!c.selector.selects("legacy"));
        std::fs::write(&p, "[connectors.inv]\nmax_wiat = \"45m\"\n").unwrap();
        let e = args(&["--config", p.to_str().unwrap()])
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.exit_code, 78);
        assert!(
            e.message.contains("max_wiat") && e.message.contains("c.toml"),
            "{}",
            e.message
        );
        std::fs::write(&p, "[connectors.inv]\nmax_wait = \"soon\"\n").unwrap();
        let e = args(&["--config", p.to_str().unwrap()])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            e.message.contains("max_wait") && e.message.contains("30m"),
            "{}",
            e.message
        );
    }

    #[test]
    fn maintenance_windows_from_flags_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            r#"
[connectors.inv]
db = "oracle://db:1521/PDB1"

[[maintenance]]
when = "Mon-Fri 01:50-02:30 Asia/Seoul"
connectors = ["inv"]
targets = ["oracle://crm-db:1521/CRM"]

[[maintenance]]
start = "2026-12-24T01:00:00+09:00"
end = "2026-12-24T04:00:00+09:00"
"#,
        )
        .unwrap();
        let c = args(&[
            "--maintenance",
            "Mon-Sun 01:50-02:30 Asia/Seoul",
            "--maintenance",
            "Sat-Sun 23:30-00:30 UTC",
            "--config",
            p.to_str().unwrap(),
        ])
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(c.maintenance.len(), 4);
        assert_eq!(c.maintenance[0].source, "--maintenance");
        assert!(
            c.maintenance[0].applies_to("anything", None),
            "flags are global"
        );
        assert_eq!(c.maintenance[2].connectors, vec!["inv"]);
        assert_eq!(c.maintenance[2].targets, vec!["crm-db:1521/CRM"]);
        assert!(c.maintenance[3].source.ends_with("[[maintenance]] #2"));
        let text = c.describe();
        assert!(
            text.contains("maintenance        = Mon-Fri 01:50-02:30 Asia/Seoul (connectors inv; targets crm-db:1521/CRM; from --config"),
            "{text}"
        );
        // The `windows` subcommand reads the same.
        let w = match Cli::try_parse_from([
            "cdc-sentinel",
            "windows",
            "--config",
            p.to_str().unwrap(),
            "--count",
            "2",
            "--from",
            "2026-12-23T00:00:00Z",
        ])
        .unwrap()
        .command
        {
            Some(Command::Windows(w)) => w,
            _ => unreachable!(),
        };
        let (list, from) = w.load().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(from, Some(1_797_984_000_000));
    }

    #[test]
    fn bad_maintenance_windows_show_the_accepted_forms() {
        let e = args(&["--maintenance", "Mon-Sun 01:50-02:30"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.exit_code, 64, "a bad flag is EX_USAGE");
        assert!(
            e.message.contains("--maintenance \"Mon-Sun 01:50-02:30\"")
                && e.message.contains("Mon,Wed,Fri")
                && e.message.contains("Asia/Seoul"),
            "{}",
            e.message
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[[maintenance]]\nwhen = \"Mon-Sun 1:50-2:30pm Asia/Seoul\"\n",
        )
        .unwrap();
        let e = args(&["--config", p.to_str().unwrap()])
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.exit_code, 78, "a bad file is EX_CONFIG");
        assert!(
            e.message.contains("c.toml [[maintenance]] #1: when = ")
                && e.message.contains("\"2:30pm\" is not a time")
                && e.message.contains("Mon,Wed,Fri"),
            "{}",
            e.message
        );
        std::fs::write(
            &p,
            "[[maintenance]]\nwhen = \"daily 01:00-02:00 UTC\"\nconnector = [\"inv\"]\n",
        )
        .unwrap();
        let e = args(&["--config", p.to_str().unwrap()])
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.exit_code, 78);
        assert!(e.message.contains("connector"), "{}", e.message);
        // The `windows` subcommand: the same codes.
        let w = |v: &[&str]| match Cli::try_parse_from(v).unwrap().command {
            Some(Command::Windows(w)) => w,
            _ => unreachable!(),
        };
        let e = w(&["x", "windows", "--maintenance", "nightly 01:00-02:00 UTC"])
            .load()
            .unwrap_err();
        assert_eq!(e.exit_code, 64);
        let e = w(&["x", "windows", "--config", p.to_str().unwrap()])
            .load()
            .unwrap_err();
        assert_eq!(e.exit_code, 78);
        assert!(Cli::try_parse_from(["x", "windows", "--count", "0"]).is_err());
    }

    #[test]
    fn describe_redacts_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cr3t-pw\n").unwrap();
        let c = args(&[
            "--connect-user",
            "admin",
            "--connect-password-file",
            p.to_str().unwrap(),
        ])
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(c.connect.password.as_deref(), Some("s3cr3t-pw"));
        let text = c.describe();
        assert!(
            !text.contains("s3cr3t") && text.contains("*** (set)"),
            "{text}"
        );
        assert!(!format!("{:?}", c.connect).contains("s3cr3t"));
    }
}
