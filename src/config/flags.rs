//! The command line: every subcommand's flags, each with its `CDC_SENTINEL_*` variable.
//! Durations are human (`250ms`, `60s`, `30m`); see `validate` for what makes them a `Config`.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::core::{AfterTimeout, HoldWith};

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
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Ask a running agent whether it is ready (for container HEALTHCHECKs): exit 0 if so.
    Healthcheck(HealthArgs),
    /// Print the next occurrences of every maintenance window, in its time zone and in UTC.
    Windows(WindowsArgs),
    /// Probe a database once (or --count times) like the agent does: exit 0 up, 1 down, 2 bad input.
    Probe(ProbeArgs),
    /// Print each connector's committed source position (SCN, LSN, binlog) and when it last moved; exit 0, 1 if any is stalled, 2 bad input or Kafka Connect unreachable.
    Offsets(OffsetsArgs),
    /// Print the table of every metric the agent exports (docs/metrics.md, README, monitoring/metrics.json are generated from it).
    #[command(hide = true)]
    MetricsDoc(MetricsDocArgs),
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

#[cfg(feature = "demo")]
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
    #[arg(long, env = "CDC_SENTINEL_DEMO_SPEED", default_value_t = 1.0, value_parser = parse_speed)]
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
    #[arg(long, env = "CDC_SENTINEL_HEALTHCHECK_TIMEOUT", default_value = "3s", value_parser = duration_at_most(max::TIMEOUT))]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `demo --speed`: from 0.1 (ten times slower) to 100.
#[cfg_attr(not(feature = "demo"), allow(dead_code))]
pub(crate) fn parse_speed(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.1..=100.0).contains(&v) => Ok(v),
        _ => Err("expected a factor from 0.1 to 100 (2 plays twice as fast)".into()),
    }
}

/// A boolean from the environment: `true`/`false` as documented, and the usual spellings
/// `1`/`0`, `yes`/`no`, `on`/`off` (any case); anything else is an error, never a silent false.
pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "0" | "no" | "n" | "off" | "" => Ok(false),
        _ => Err("expected true or false (or 1/0, yes/no, on/off)".into()),
    }
}

/// The smallest and largest `--connect-max-response-size`: below 1 KiB not even a small
/// cluster's listing fits; beyond 4 GiB the cap no longer protects the agent.
pub const RESPONSE_SIZE_RANGE: (u64, u64) = (1 << 10, 4 << 30);

/// A size in bytes: `65536`, `64KiB`, `64MiB`, `1GiB` (powers of 1024), `64kB`, `64MB`, `1GB`
/// (powers of 1000), within [`RESPONSE_SIZE_RANGE`].
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let forms = "expected a size like 64MiB, 512MiB, 1GiB or a number of bytes";
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size: {forms}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1_000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown unit {other:?}: {forms}")),
    };
    let (min, max) = RESPONSE_SIZE_RANGE;
    let bytes = n.saturating_mul(mult);
    if bytes < min || bytes > max {
        return Err(format!("must be between 1KiB and 4GiB: {forms}"));
    }
    Ok(bytes)
}

/// The longest value each duration flag (and config-file key) takes. Longer ones are typos;
/// they would also overflow the arithmetic of deadlines (`500000000000y` used to panic).
pub mod max {
    use std::time::Duration;

    /// `--connect-timeout`, `--connect-action-timeout`, `--probe-timeout`, `probe --timeout`,
    /// `healthcheck --timeout`.
    pub const TIMEOUT: Duration = Duration::from_secs(10 * 60);
    /// `--poll-interval`, `--probe-interval`, `probe --interval`.
    pub const INTERVAL: Duration = Duration::from_secs(60 * 60);
    /// `--verify-timeout`, `--verify-window`.
    pub const VERIFY: Duration = Duration::from_secs(24 * 60 * 60);
    /// `--max-wait` and the config file's `max_wait`.
    pub const MAX_WAIT: Duration = Duration::from_secs(30 * 24 * 60 * 60);
}

/// A duration of at most `max`; the error says the maximum (clap adds the flag, or `cli`
/// the environment variable it came from).
pub(crate) fn duration_at_most(
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let limit = humantime::format_duration(max);
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            format!("{e}: expected a duration like 250ms, 60s, 30m or 1h30m, at most {limit}")
        })?;
        if d > max {
            return Err(format!(
                "longer than the maximum, {limit}: give a duration of at most {limit}"
            ));
        }
        Ok(d)
    }
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
    #[arg(long, env = "CDC_SENTINEL_CONNECT_TIMEOUT", default_value = "10s", value_parser = duration_at_most(max::TIMEOUT))]
    pub connect_timeout: Duration,
    /// Largest Kafka Connect answer read (e.g. 64MiB, 512MiB); a larger one is a failed poll, never buffered whole.
    #[arg(long, env = "CDC_SENTINEL_CONNECT_MAX_RESPONSE_SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub connect_max_response_size: u64,
    /// Timeout of a pause/resume/stop/restart call (stop and restart wait for the leader and the config topic).
    #[arg(long, env = "CDC_SENTINEL_CONNECT_ACTION_TIMEOUT", default_value = "60s", value_parser = duration_at_most(max::TIMEOUT))]
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
    #[arg(long, env = "CDC_SENTINEL_POLL_INTERVAL", default_value = "5s", value_parser = duration_at_most(max::INTERVAL))]
    pub poll_interval: Duration,
    /// How often to probe each database.
    #[arg(long, env = "CDC_SENTINEL_PROBE_INTERVAL", default_value = "60s", value_parser = duration_at_most(max::INTERVAL))]
    pub probe_interval: Duration,
    /// Timeout of one probe.
    #[arg(long, env = "CDC_SENTINEL_PROBE_TIMEOUT", default_value = "5s", value_parser = duration_at_most(max::TIMEOUT))]
    pub probe_timeout: Duration,
    /// Failed probes in a row that mean "down" while a connector still reads RUNNING.
    #[arg(long, env = "CDC_SENTINEL_DOWN_AFTER", default_value_t = 3)]
    pub down_after: u32,
    /// Successful probes in a row that mean "back".
    #[arg(long, env = "CDC_SENTINEL_UP_AFTER", default_value_t = 2)]
    pub up_after: u32,
    /// After a resume, how long the connector and every task have to reach RUNNING.
    #[arg(long, env = "CDC_SENTINEL_VERIFY_TIMEOUT", default_value = "2m", value_parser = duration_at_most(max::VERIFY))]
    pub verify_timeout: Duration,
    /// How long they must then stay RUNNING for the recovery to count.
    #[arg(long, env = "CDC_SENTINEL_VERIFY_WINDOW", default_value = "30s", value_parser = duration_at_most(max::VERIFY))]
    pub verify_window: Duration,
    /// How often to read each connector's committed offsets (GET /connectors/NAME/offsets, Kafka >= 3.5); also right after a hold and during verification.
    #[arg(long, env = "CDC_SENTINEL_OFFSETS_INTERVAL", default_value = "30s", value_parser = duration_at_most(max::INTERVAL))]
    pub offsets_interval: Duration,
    /// A connector expected to progress (heartbeats) whose committed offset has not moved for this long while RUNNING is stalled; also how long a resumed one may take to move. Must exceed the worker's offset.flush.interval.ms (60s by default).
    #[arg(long, env = "CDC_SENTINEL_STALL_AFTER", default_value = "10m", value_parser = duration_at_most(max::VERIFY))]
    pub stall_after: Duration,
    /// Give up waiting after this long: the connector stays held and an alert fires.
    #[arg(long, env = "CDC_SENTINEL_MAX_WAIT", default_value = "30m", value_parser = duration_at_most(max::MAX_WAIT))]
    pub max_wait: Duration,
    /// After the maximum wait: keep holding (the runbook's way) or resume once the database is back.
    #[arg(long, env = "CDC_SENTINEL_AFTER_TIMEOUT", value_enum, default_value_t = AfterTimeout::Hold)]
    pub after_timeout: AfterTimeout,
    /// How to hold a connector: pause (any Kafka) or stop (Kafka >= 3.5: releases the database sessions).
    #[arg(long, env = "CDC_SENTINEL_HOLD_WITH", value_enum, default_value_t = HoldWith::Pause)]
    pub hold_with: HoldWith,
    /// At most this many connectors' actions (pause, stop, resume, restart) in flight at once, so a mass hold does not flood the worker.
    #[arg(long, env = "CDC_SENTINEL_MAX_CONCURRENT_ACTIONS", default_value_t = super::DEFAULT_MAX_CONCURRENT_ACTIONS, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_concurrent_actions: u16,
    /// Where the agent records which connectors it holds.
    #[arg(
        long,
        env = "CDC_SENTINEL_STATE_FILE",
        default_value = "cdc-sentinel-state.json"
    )]
    pub state_file: PathBuf,

    /// Keep the holds in a Kafka topic shared by every agent of the Connect cluster (one agent per worker; one leads and acts, the others stand by): kafka://HOST:PORT[,HOST:PORT...]/TOPIC. Without it: --state-file, one agent.
    #[arg(long, env = "CDC_SENTINEL_STATE_STORE")]
    pub state_store: Option<String>,
    /// PEM file with the CA certificates that signed the Kafka brokers' certificates (turns TLS on for the state store).
    #[arg(long, env = "CDC_SENTINEL_KAFKA_TLS_CA")]
    pub kafka_tls_ca: Option<PathBuf>,
    /// PEM client certificate for brokers that require TLS client authentication (with --kafka-tls-key).
    #[arg(long, env = "CDC_SENTINEL_KAFKA_TLS_CERT")]
    pub kafka_tls_cert: Option<PathBuf>,
    /// PEM private key of --kafka-tls-cert.
    #[arg(long, env = "CDC_SENTINEL_KAFKA_TLS_KEY")]
    pub kafka_tls_key: Option<PathBuf>,
    /// SASL mechanism for the state store: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (password from CDC_SENTINEL_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file).
    #[arg(long, env = "CDC_SENTINEL_KAFKA_SASL_MECHANISM")]
    pub kafka_sasl_mechanism: Option<String>,
    /// SASL user name for the state store.
    #[arg(long, env = "CDC_SENTINEL_KAFKA_SASL_USER")]
    pub kafka_sasl_user: Option<String>,
    /// File holding the SASL password (one trailing newline is dropped).
    #[arg(long, env = "CDC_SENTINEL_KAFKA_SASL_PASSWORD_FILE")]
    pub kafka_sasl_password_file: Option<PathBuf>,
    /// Kafka consumer-group session timeout of the election: a leader that dies or freezes is replaced after about this long (brokers accept 6s to 30m by default).
    #[arg(long, env = "CDC_SENTINEL_KAFKA_SESSION_TIMEOUT", default_value = "10s", value_parser = duration_at_most(max::TIMEOUT))]
    pub kafka_session_timeout: Duration,

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
    /// Log and count what would be done, send nothing, write no state (in the environment: true/false, 1/0, yes/no, on/off).
    #[arg(long, env = "CDC_SENTINEL_DRY_RUN", action = clap::ArgAction::SetTrue, value_parser = parse_bool)]
    pub dry_run: bool,

    /// Strimzi: the KafkaConnect's metadata.name. A connector with a KafkaConnector labelled strimzi.io/cluster=NAME is held through its spec.state (the operator undoes a pause made through REST).
    #[arg(long, env = "CDC_SENTINEL_STRIMZI_CLUSTER")]
    pub strimzi_cluster: Option<String>,
    /// Strimzi: the namespace of the KafkaConnectors. Default: the pod's own (its service account's), outside a pod the kubeconfig context's, else default.
    #[arg(long, env = "CDC_SENTINEL_STRIMZI_NAMESPACE")]
    pub strimzi_namespace: Option<String>,
    /// Strimzi: a kubeconfig file to use instead of the standard search (KUBECONFIG, the pod's service account, ~/.kube/config).
    #[arg(long, env = "CDC_SENTINEL_STRIMZI_KUBECONFIG")]
    pub strimzi_kubeconfig: Option<PathBuf>,
    /// Strimzi: timeout of each Kubernetes API request.
    #[arg(long, env = "CDC_SENTINEL_STRIMZI_TIMEOUT", default_value = "10s", value_parser = duration_at_most(max::TIMEOUT))]
    pub strimzi_timeout: Duration,
}

/// `cdc-sentinel probe URL` (its exit codes: 0 up, 1 down, 2 bad input).
#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    /// What to probe: oracle://HOST:PORT/SERVICE, oracle://HOST:PORT?sid=SID, postgres://HOST:PORT, mysql://HOST:PORT or tcp://HOST:PORT.
    pub url: String,
    /// Probe this many times (exit code from the last one).
    #[arg(long, env = "CDC_SENTINEL_PROBE_COUNT", default_value_t = 1)]
    pub count: u32,
    /// Pause between probes with --count (its variable is also `run --probe-interval`'s, as the timeout's is).
    #[arg(long, env = "CDC_SENTINEL_PROBE_INTERVAL", default_value = "1s", value_parser = duration_at_most(max::INTERVAL))]
    pub interval: Duration,
    /// Timeout of one probe (connect and protocol exchange).
    #[arg(long, env = "CDC_SENTINEL_PROBE_TIMEOUT", default_value = "5s", value_parser = duration_at_most(max::TIMEOUT))]
    pub timeout: Duration,
}

/// `cdc-sentinel offsets [CONNECTOR]...`: each connector's committed source position, read
/// twice `--wait` apart to show whether it moves.
#[derive(Args, Debug, Clone)]
pub struct OffsetsArgs {
    /// Connectors to show (default: every connector the worker lists).
    pub connectors: Vec<String>,
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
    #[arg(long, env = "CDC_SENTINEL_CONNECT_TIMEOUT", default_value = "10s", value_parser = duration_at_most(max::TIMEOUT))]
    pub connect_timeout: Duration,
    /// Read the offsets a second time after this long, to show which positions move (0s: read once). Make it longer than the worker's offset.flush.interval.ms (60s by default) for a meaningful answer.
    #[arg(long, env = "CDC_SENTINEL_OFFSETS_WAIT", default_value = "0s", value_parser = duration_at_most(max::TIMEOUT))]
    pub wait: Duration,
    /// Print one JSON object per connector instead of text.
    #[arg(long, env = "CDC_SENTINEL_OFFSETS_JSON")]
    pub json: bool,
}

/// `cdc-sentinel metrics-doc`: the metric table as Markdown (docs/metrics.md) or JSON
/// (monitoring/metrics.json).
#[derive(Args, Debug, Clone)]
pub struct MetricsDocArgs {
    /// `markdown` (docs/metrics.md), `readme` (the README's table) or `json` (monitoring/metrics.json).
    #[arg(long, default_value = "markdown")]
    pub format: String,
    /// Rewrite docs/metrics.md, monitoring/metrics.json and README.md's table in place.
    #[arg(long)]
    pub write: bool,
}

impl ValueEnum for HoldWith {
    fn value_variants<'a>() -> &'a [Self] {
        HoldWith::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl ValueEnum for AfterTimeout {
    fn value_variants<'a>() -> &'a [Self] {
        AfterTimeout::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}
