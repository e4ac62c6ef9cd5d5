//! Flags, environment and the file, checked and turned into a [`Config`]. Pure apart from
//! reading the files it is pointed at; every error names the flag, key or file and the fix.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use super::error::{file_err, usage, ConfigError};
use super::file::FileConfig;
use super::file::MaintenanceEntry;
use super::flags::{duration_at_most, max, HealthArgs, OffsetsArgs, RunArgs, WindowsArgs};
use super::{Config, ConnectSettings, Override, ProbeConfig, Selector, DEFAULT_PORT};
use crate::core::windows::{self, Window};
use crate::core::Settings;
use cdc_sentinel_probe::target;

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
        .map(|v| v.trim())
        // CDC_SENTINEL_MAINTENANCE="...; ...;" may end with a separator
        .filter(|v| !v.is_empty())
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

/// What the `--config` file contributes to a [`Config`].
#[derive(Debug)]
pub struct ConfigFile {
    pub overrides: BTreeMap<String, Override>,
    /// `ignore = true` entries.
    pub ignored: Vec<String>,
    /// The `[[maintenance]]` windows.
    pub maintenance: Vec<Window>,
}

/// The `--config` file's text (read from `path`, named in errors), checked as strictly as the
/// flags: unknown keys, bad URLs, durations of zero or beyond the maximum, empty lists.
pub fn parse_config_file(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    let fc: FileConfig = toml::from_str(text).map_err(|e| {
        file_err(format!(
            "--config {}: {}",
            path.display(),
            e.to_string().trim()
        ))
    })?;
    let mut overrides = BTreeMap::new();
    let mut ignored = Vec::new();
    for (name, entry) in fc.connectors {
        let key = |k: &str| format!("--config {}: [connectors.\"{name}\"] {k}", path.display());
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
                .map(|v| {
                    let d = duration_at_most(max::MAX_WAIT)(v)?;
                    if d.is_zero() {
                        return Err(
                            "must be greater than zero (as --max-wait must be); omit the key to use --max-wait".to_string(),
                        );
                    }
                    Ok(d)
                })
                .transpose()
                .map_err(|e| {
                    file_err(format!(
                        "{} = {:?}: {e}",
                        key("max_wait"),
                        entry.max_wait.as_deref().unwrap_or("")
                    ))
                })?,
            after_timeout: entry.after_timeout,
            hold_with: entry.hold_with,
            expect_progress: entry.expect_progress,
        };
        overrides.insert(name, o);
    }
    let maintenance = file_windows(path, &fc.maintenance)?;
    Ok(ConfigFile {
        overrides,
        ignored,
        maintenance,
    })
}

/// `--connect-url` parsed as the HTTP client will parse it, so a URL that would fail every
/// poll forever (`http://a b:8083`, `http://[::1`, a port that is not a number) is refused
/// at start-up instead. The message never shows a password.
fn check_connect_url(url: &str) -> Result<(), ConfigError> {
    let shown = crate::core::classify::redact(url);
    let fix = "expected http://HOST:PORT or https://HOST:PORT (the Kafka Connect REST root, e.g. http://localhost:8083)";
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        usage(format!(
            "--connect-url {shown:?} is not a valid URL ({e}): {fix}"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(usage(format!(
            "--connect-url {shown:?} must be an http:// or https:// URL: {fix}"
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(usage(format!("--connect-url {shown:?} has no host: {fix}")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(usage("--connect-url must not carry credentials: use --connect-user and CDC_SENTINEL_CONNECT_PASSWORD or --connect-password-file"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(usage(format!(
            "--connect-url {shown:?} has a query or fragment: give the REST root only, {fix}"
        )));
    }
    Ok(())
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

impl OffsetsArgs {
    /// How to reach Kafka Connect, checked exactly as `run` checks the same flags.
    pub fn validate(&self) -> Result<ConnectSettings, ConfigError> {
        let run = RunArgs {
            connect_url: self.connect_url.clone(),
            connect_user: self.connect_user.clone(),
            connect_password_file: self.connect_password_file.clone(),
            connect_ca: self.connect_ca.clone(),
            connect_client_cert: self.connect_client_cert.clone(),
            connect_client_key: self.connect_client_key.clone(),
            connect_timeout: self.connect_timeout,
            connect_action_timeout: self.connect_timeout,
            connect_max_response_size: 64 << 20,
            max_concurrent_actions: super::DEFAULT_MAX_CONCURRENT_ACTIONS,
            state_store: None,
            kafka_tls_ca: None,
            kafka_tls_cert: None,
            kafka_tls_key: None,
            kafka_sasl_mechanism: None,
            kafka_sasl_user: None,
            kafka_sasl_password_file: None,
            kafka_session_timeout: Duration::from_secs(10),
            strimzi_cluster: None,
            strimzi_namespace: None,
            strimzi_kubeconfig: None,
            strimzi_timeout: Duration::from_secs(10),
            connectors: Vec::new(),
            include: None,
            exclude: None,
            db: None,
            config: None,
            maintenance: Vec::new(),
            poll_interval: Duration::from_secs(5),
            probe_interval: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(5),
            down_after: 3,
            up_after: 2,
            verify_timeout: Duration::from_secs(120),
            verify_window: Duration::from_secs(30),
            offsets_interval: Duration::from_secs(30),
            stall_after: Duration::from_secs(600),
            max_wait: Duration::from_secs(1800),
            after_timeout: crate::core::AfterTimeout::Hold,
            hold_with: crate::core::HoldWith::Pause,
            state_file: PathBuf::from("unused"),
            listen: format!(":{DEFAULT_PORT}"),
            log_format: super::LogFormat::Text,
            dry_run: true,
        };
        if self.connectors.iter().any(|c| c.trim().is_empty()) {
            return Err(usage("an empty connector name"));
        }
        run.validate().map(|c| c.connect)
    }
}

impl RunArgs {
    /// Checks everything and builds the [`Config`].
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let url = self.connect_url.trim();
        check_connect_url(url)?;
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
            let first = text.lines().next().unwrap_or("");
            if first.trim().is_empty() {
                return Err(file_err(format!(
                    "--connect-password-file {}: {}; put the password on its first line",
                    f.display(),
                    if text.trim().is_empty() {
                        "the file is empty"
                    } else {
                        "its first line is blank"
                    }
                )));
            }
            password = Some(first.to_string());
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
                    // checked as typed first, so the error shows the user's pattern, not the
                    // anchored one built from it
                    let bad = |e: regex::Error| {
                        usage(format!(
                            "{flag} {r:?} is not a valid regular expression: {e}"
                        ))
                    };
                    Regex::new(r).map_err(bad)?;
                    Regex::new(&format!("^(?:{r})$")).map_err(bad)
                })
                .transpose()
        };
        let include = anchored("--include", &self.include)?;
        let exclude = anchored("--exclude", &self.exclude)?;
        // CDC_SENTINEL_CONNECTOR="a, b" means a and b
        let names: Vec<String> = self
            .connectors
            .iter()
            .map(|c| c.trim().to_string())
            .collect();
        if names.iter().any(String::is_empty) {
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
            ("--verify-timeout", self.verify_timeout),
            ("--verify-window", self.verify_window),
            ("--offsets-interval", self.offsets_interval),
            ("--stall-after", self.stall_after),
        ] {
            if d.is_zero() {
                return Err(usage(format!("{flag} must be greater than zero")));
            }
        }
        if self.down_after == 0 || self.up_after == 0 {
            return Err(usage("--down-after and --up-after must be at least 1"));
        }
        if self.up_after as usize > crate::core::ProbeObs::KEEP {
            return Err(usage(format!(
                "--up-after {} is more than {} probes: lower it",
                self.up_after,
                crate::core::ProbeObs::KEEP
            )));
        }
        if self.probe_timeout
            > self
                .probe_interval
                .max(Duration::from_millis(1))
                .saturating_mul(2)
        {
            return Err(usage(format!(
                "--probe-timeout ({}) is longer than twice --probe-interval ({}): lower the timeout",
                humantime::format_duration(self.probe_timeout),
                humantime::format_duration(self.probe_interval)
            )));
        }
        if self.stall_after < self.offsets_interval {
            return Err(usage(format!(
                "--stall-after ({}) is shorter than --offsets-interval ({}): a stall is judged from reads of the committed offsets; lengthen --stall-after (it must also exceed the worker's offset.flush.interval.ms, 60s by default)",
                humantime::format_duration(self.stall_after),
                humantime::format_duration(self.offsets_interval)
            )));
        }
        let listen = parse_listen(&self.listen).map_err(usage)?;
        let state_store = self.state_store()?;
        let mut maintenance = flag_windows(&self.maintenance)?;

        let mut overrides = BTreeMap::new();
        let mut ignored = Vec::new();
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path).map_err(|e| {
                file_err(format!("--config {}: cannot read it ({e})", path.display()))
            })?;
            let file = parse_config_file(path, &text)?;
            overrides = file.overrides;
            ignored = file.ignored;
            maintenance.extend(file.maintenance);
        }

        let strimzi = self.strimzi()?;

        let settings = Settings {
            hold_with: self.hold_with,
            after_timeout: self.after_timeout,
            max_wait: ms(self.max_wait),
            down_after: self.down_after,
            up_after: self.up_after,
            verify_timeout: ms(self.verify_timeout),
            verify_window: ms(self.verify_window),
            confirm_timeout: ms(self.poll_interval.saturating_mul(6)).max(30_000),
            late_landing: ms(self.connect_action_timeout).saturating_add(90_000),
            reattempt_base: ms(self.probe_interval).max(1_000),
            reattempt_cap: 600_000,
            deleted_after: 3,
            stall_after: ms(self.stall_after),
            fast_retry: ms(self.poll_interval).max(250),
            fast_retry_for: 30_000,
            hold_retry_cap: 30_000,
            resume_retry_cap: 10_000,
            resume_give_up: ms(self.verify_timeout).max(ms(self.poll_interval).saturating_mul(10)),
            dry_run: self.dry_run,
        };
        Ok(Config {
            connect: ConnectSettings {
                url: url.trim_end_matches('/').to_string(),
                user: self.connect_user.clone(),
                password,
                timeout: self.connect_timeout,
                action_timeout: self.connect_action_timeout,
                max_response_bytes: self.connect_max_response_size,
                ca_pem,
                identity_pem,
            },
            selector: Selector {
                names,
                include,
                exclude,
                ignored,
            },
            db,
            overrides,
            poll_interval: self.poll_interval,
            offsets_interval: self.offsets_interval,
            probe: ProbeConfig {
                interval: self.probe_interval,
                timeout: self.probe_timeout,
            },
            settings,
            state_file: self.state_file.clone(),
            state_store,
            listen,
            log_format: self.log_format,
            dry_run: self.dry_run,
            max_concurrent_actions: usize::from(self.max_concurrent_actions),
            config_file: self.config.clone(),
            maintenance,
            strimzi,
        })
    }

    /// `--strimzi-*`: the client's options, checked as the API server would check the names.
    fn strimzi(&self) -> Result<Option<cdc_sentinel_strimzi::Options>, ConfigError> {
        let Some(cluster) = &self.strimzi_cluster else {
            for (flag, set) in [
                ("--strimzi-namespace", self.strimzi_namespace.is_some()),
                ("--strimzi-kubeconfig", self.strimzi_kubeconfig.is_some()),
            ] {
                if set {
                    return Err(usage(format!(
                        "{flag} is set but --strimzi-cluster is not: give the KafkaConnect's name with --strimzi-cluster (or CDC_SENTINEL_STRIMZI_CLUSTER)"
                    )));
                }
            }
            return Ok(None);
        };
        if self.strimzi_timeout.is_zero() {
            return Err(usage("--strimzi-timeout must be greater than zero"));
        }
        if let Some(p) = &self.strimzi_kubeconfig {
            // Only that it can be read: its content (credentials) is never shown.
            std::fs::File::open(p).map_err(|e| {
                file_err(format!(
                    "--strimzi-kubeconfig {}: cannot read it ({e}). Fix: point it at a kubeconfig file, or leave it out to use KUBECONFIG, the pod's service account or ~/.kube/config",
                    p.display()
                ))
            })?;
        }
        let mut o = cdc_sentinel_strimzi::Options::new(cluster.trim());
        o.namespace = self
            .strimzi_namespace
            .as_ref()
            .map(|n| n.trim().to_string());
        o.kubeconfig = self.strimzi_kubeconfig.clone();
        o.request_timeout = self.strimzi_timeout;
        o.validate().map_err(|e| usage(e.to_string()))?;
        Ok(Some(o))
    }
}
