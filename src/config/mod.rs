//! Configuration: flags and environment ([`flags`]), the TOML file ([`file`]), validation into
//! one [`Config`] ([`validate`]), the `check-config` text ([`describe`]), the connector
//! [`Selector`] and the one error type ([`error`]). `cli::exit` maps an error's kind to exit 64
//! (a bad flag, EX_USAGE) or 78 (a bad file, EX_CONFIG).

pub mod describe;
pub mod error;
pub mod file;
pub mod flags;
pub mod selector;
pub mod state_store;
pub mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cdc_sentinel_probe::target::{self, Target, TargetError};

use crate::core::windows::Window;
use crate::core::{AfterTimeout, HoldWith, Settings};

pub use error::{ConfigError, ErrorKind};
#[cfg(feature = "demo")]
pub use flags::DemoArgs;
pub use flags::{
    Cli, Command, HealthArgs, LogFormat, MetricsDocArgs, OffsetsArgs, ProbeArgs, RunArgs,
    WindowsArgs,
};
pub use selector::Selector;
pub use validate::{parse_config_file, parse_listen, readiness_url, ConfigFile};

/// The agent's default metrics port. Prometheus' default port allocations page has every port
/// of 9100-9999 taken; 10150 is beyond it (see README, "HTTP endpoints").
pub const DEFAULT_PORT: u16 = 10150;

/// The default of `--max-concurrent-actions`.
pub const DEFAULT_MAX_CONCURRENT_ACTIONS: u16 = 16;

/// How to reach Kafka Connect.
#[derive(Clone)]
pub struct ConnectSettings {
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub timeout: Duration,
    /// Timeout of a pause/resume/stop/restart: Kafka Connect does stop and restart on the leader
    /// and waits for its config topic (its own limit is 90 s), so they can take much longer
    /// than a status read.
    pub action_timeout: Duration,
    /// The largest answer read from Kafka Connect, in bytes (`--connect-max-response-size`).
    pub max_response_bytes: u64,
    /// PEM bundle of extra CA certificates.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM with the client certificate and its private key (mTLS).
    pub identity_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ConnectSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSettings")
            .field("url", &crate::core::classify::redact(&self.url))
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("action_timeout", &self.action_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// Probe timing.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub interval: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct Override {
    pub db: Option<Target>,
    pub max_wait: Option<Duration>,
    pub after_timeout: Option<AfterTimeout>,
    pub hold_with: Option<HoldWith>,
    /// `expect_progress`: judged by its committed offset (true) or never (false).
    pub expect_progress: Option<bool>,
}

/// The validated configuration of a running agent.
#[derive(Debug, Clone)]
pub struct Config {
    pub connect: ConnectSettings,
    pub selector: Selector,
    pub db: Option<Target>,
    pub overrides: BTreeMap<String, Override>,
    pub poll_interval: Duration,
    /// How often each connector's committed offsets are read (`--offsets-interval`).
    pub offsets_interval: Duration,
    pub probe: ProbeConfig,
    pub settings: Settings,
    pub state_file: PathBuf,
    /// `--state-store kafka://...`: the holds live in a Kafka topic shared by the agents of the
    /// cluster, one of which leads (`None`: the state file, one agent).
    pub state_store: Option<cdc_sentinel_kafka::Options>,
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub dry_run: bool,
    /// At most this many connectors' actions in flight at once (`--max-concurrent-actions`).
    pub max_concurrent_actions: usize,
    pub config_file: Option<PathBuf>,
    /// Maintenance windows (`--maintenance`, then `[[maintenance]]` of the file).
    pub maintenance: Vec<Window>,
    /// `--strimzi-cluster` and its companions: hold operator-managed connectors through their
    /// `KafkaConnector`. `None`: everything through REST.
    pub strimzi: Option<cdc_sentinel_strimzi::Options>,
}

impl Config {
    /// The settings that apply to one connector (flags, then its config-file entry).
    pub fn settings_for(&self, name: &str) -> Settings {
        let mut s = self.settings.clone();
        if let Some(o) = self.overrides.get(name) {
            if let Some(m) = o.max_wait {
                s.max_wait = m.as_millis().min(u64::MAX as u128) as u64;
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
    ) -> Result<Target, TargetError> {
        if let Some(t) = self.overrides.get(name).and_then(|o| o.db.clone()) {
            return Ok(t);
        }
        if let Some(t) = &self.db {
            return Ok(t.clone());
        }
        target::derive(connector_config)
    }

    /// The config file's `expect_progress` for a connector, if it says.
    pub fn expect_progress(&self, name: &str) -> Option<bool> {
        self.overrides.get(name).and_then(|o| o.expect_progress)
    }

    /// Whether any connector may be held with STOP (needs Kafka >= 3.5).
    pub fn uses_stop(&self) -> bool {
        self.settings.hold_with == HoldWith::Stop
            || self
                .overrides
                .values()
                .any(|o| o.hold_with == Some(HoldWith::Stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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
        assert_eq!(e.kind, ErrorKind::Usage);
        assert!(e.message.contains("--include"), "{}", e.message);
        // the pattern as typed, not the anchored one the agent builds from it
        assert!(!e.message.contains("^(?:"), "{}", e.message);
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
        assert_eq!(e.kind, ErrorKind::Config);
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
        assert_eq!(e.kind, ErrorKind::Usage, "a bad flag is EX_USAGE");
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
        assert_eq!(e.kind, ErrorKind::Config, "a bad file is EX_CONFIG");
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
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.contains("connector"), "{}", e.message);
        // The `windows` subcommand: the same codes.
        let w = |v: &[&str]| match Cli::try_parse_from(v).unwrap().command {
            Some(Command::Windows(w)) => w,
            _ => unreachable!(),
        };
        let e = w(&["x", "windows", "--maintenance", "nightly 01:00-02:00 UTC"])
            .load()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
        let e = w(&["x", "windows", "--config", p.to_str().unwrap()])
            .load()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(Cli::try_parse_from(["x", "windows", "--count", "0"]).is_err());
    }

    #[test]
    fn strimzi_flags_are_checked_and_described_without_the_kubeconfig() {
        let e = args(&["--strimzi-namespace", "kafka"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
        assert!(
            e.message.contains("--strimzi-namespace") && e.message.contains("--strimzi-cluster"),
            "{}",
            e.message
        );
        let e = args(&["--strimzi-cluster", "my connect"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
        assert!(e.message.contains("--strimzi-cluster"), "{}", e.message);
        let e = args(&["--strimzi-cluster", "c", "--strimzi-namespace", "Kafka"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.message.contains("--strimzi-namespace"), "{}", e.message);
        let e = args(&["--strimzi-cluster", "c", "--strimzi-timeout", "0s"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.message.contains("--strimzi-timeout"), "{}", e.message);
        let e = args(&[
            "--strimzi-cluster",
            "c",
            "--strimzi-kubeconfig",
            "/nonexistent/kubeconfig",
        ])
        .unwrap()
        .validate()
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(
            e.message
                .contains("--strimzi-kubeconfig /nonexistent/kubeconfig"),
            "{}",
            e.message
        );

        let dir = tempfile::tempdir().unwrap();
        let kc = dir.path().join("kubeconfig");
        std::fs::write(&kc, "users:\n- name: x\n  user:\n    token: s3cr3t-t0ken\n").unwrap();
        let c = args(&[
            "--strimzi-cluster",
            "my-connect",
            "--strimzi-namespace",
            "kafka",
            "--strimzi-kubeconfig",
            kc.to_str().unwrap(),
        ])
        .unwrap()
        .validate()
        .unwrap();
        let o = c.strimzi.as_ref().unwrap();
        assert_eq!(
            (o.cluster.as_str(), o.namespace.as_deref()),
            ("my-connect", Some("kafka"))
        );
        assert_eq!(o.request_timeout, Duration::from_secs(10));
        let text = c.describe();
        assert!(
            text.contains("strimzi_cluster    = my-connect")
                && text.contains("strimzi_namespace  = kafka")
                && text.contains(kc.to_str().unwrap())
                && !text.contains("s3cr3t"),
            "{text}"
        );
        assert!(args(&[]).unwrap().validate().unwrap().strimzi.is_none());
    }

    #[test]
    fn describe_shows_flag_spellings_not_debug_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[connectors.inv]\nafter_timeout = \"resume\"\n").unwrap();
        let c = args(&["--config", p.to_str().unwrap(), "--hold-with", "stop"])
            .unwrap()
            .validate()
            .unwrap();
        let text = c.describe();
        assert!(text.contains("after_timeout      = hold\n"), "{text}");
        assert!(text.contains("hold_with          = stop\n"), "{text}");
        assert!(
            text.contains(
                "[connectors.\"inv\"] db = -, max_wait = -, after_timeout = resume, hold_with = -\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn response_sizes_take_units_and_stay_in_range() {
        let size = |v: &str| {
            args(&["--connect-max-response-size", v]).map(|a| a.connect_max_response_size)
        };
        assert_eq!(size("64MiB").unwrap(), 64 << 20);
        assert_eq!(size("1GiB").unwrap(), 1 << 30);
        assert_eq!(size("500MB").unwrap(), 500_000_000);
        assert_eq!(size("65536").unwrap(), 65536);
        assert_eq!(args(&[]).unwrap().connect_max_response_size, 64 << 20);
        for bad in [
            "0",
            "12",
            "5TiB",
            "64 parsecs",
            "MiB",
            "99999999999999999999GiB",
        ] {
            let e = size(bad).unwrap_err().to_string();
            assert!(
                e.contains("--connect-max-response-size") && e.contains("64MiB"),
                "{bad}: {e}"
            );
        }
        let c = args(&["--connect-max-response-size", "512MiB"])
            .unwrap()
            .validate()
            .unwrap();
        assert!(
            c.describe().contains("connect_max_answer = 512MiB"),
            "{}",
            c.describe()
        );
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
