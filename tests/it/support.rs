//! Test support: real TCP "databases" that a test opens and closes, an in-process agent started
//! from real command-line flags, a /metrics reader, captured logs, and `eventually`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cdc_sentinel::config::{Cli, Command};
use cdc_sentinel::runtime::app::{self, Running};
use cdc_sentinel::runtime::clock::Clock;
use cdc_sentinel_sim::standin::StandinDb;
use clap::Parser;

/// A database stand-in that answers every protocol probe like an open database and that a
/// test can take down (refused, sessions cut) and bring back on the same port.
pub struct Db(StandinDb);

impl Db {
    pub async fn start() -> Db {
        Db(StandinDb::start().await.expect("bind db"))
    }
    pub async fn down(&mut self) {
        self.0.down().await
    }
    pub async fn up(&mut self) {
        self.0.up().await.expect("reopen db")
    }
}

impl std::ops::Deref for Db {
    type Target = StandinDb;
    fn deref(&self) -> &StandinDb {
        &self.0
    }
}

/// Flags that make a 30-minute night last a few seconds.
pub const FAST: &[&str] = &[
    "--poll-interval",
    "100ms",
    "--probe-interval",
    "100ms",
    "--probe-timeout",
    "200ms",
    "--verify-window",
    "300ms",
    "--verify-timeout",
    "3s",
    "--connect-timeout",
    "2s",
];

/// An agent running in this process, started from command-line flags.
pub struct Agent {
    pub running: Option<Running>,
    pub state_file: PathBuf,
    pub base: String,
    _dir: Option<tempfile::TempDir>,
}

impl Agent {
    /// Starts an agent against `connect_url` with [`FAST`] timing, then `extra` flags.
    pub async fn start(connect_url: &str, extra: &[&str]) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let mut a = Agent::start_with_state(connect_url, extra, state).await;
        a._dir = Some(dir);
        a
    }

    pub async fn start_with_state(connect_url: &str, extra: &[&str], state_file: PathBuf) -> Agent {
        init_logs();
        let mut argv: Vec<String> = [
            "cdc-sentinel",
            "run",
            "--connect-url",
            connect_url,
            "--web.listen-address",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.push("--state-file".into());
        argv.push(state_file.display().to_string());
        argv.extend(FAST.iter().map(|s| s.to_string()));
        argv.extend(extra.iter().map(|s| s.to_string()));
        let args = match Cli::try_parse_from(argv).expect("flags parse").command {
            Some(Command::Run(a)) => a,
            _ => unreachable!(),
        };
        let cfg = args.validate().expect("valid config");
        let running = app::start(cfg, Clock::system())
            .await
            .expect("agent starts");
        let base = format!("http://{}", running.addr);
        Agent {
            running: Some(running),
            state_file,
            base,
            _dir: None,
        }
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::StatusCode {
        reqwest::get(format!("{}{path}", self.base))
            .await
            .unwrap()
            .status()
    }

    /// The value of one series, labels given as `k="v"` fragments.
    pub async fn value(&self, name: &str, labels: &[&str]) -> Option<f64> {
        value(&self.metrics().await, name, labels)
    }

    /// Waits until the series has this value.
    pub async fn wait_value(&self, name: &str, labels: &[&str], want: f64, within: Duration) {
        let ok = eventually(within, || async {
            self.value(name, labels).await == Some(want)
        })
        .await;
        if !ok {
            let text = self.metrics().await;
            let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(name)).collect();
            panic!(
                "{name}{labels:?} never became {want}; now:\n{}",
                lines.join("\n")
            );
        }
    }

    /// The agent's own view of a connector (its typed diagnostics, not /metrics).
    pub fn view(&self, connector: &str) -> Option<cdc_sentinel::telemetry::ConnectorView> {
        self.running
            .as_ref()
            .and_then(|r| r.diagnostics().connectors.get(connector).cloned())
    }

    async fn wait_view(
        &self,
        connector: &str,
        what: &str,
        within: Duration,
        ok: impl Fn(&cdc_sentinel::telemetry::ConnectorView) -> bool,
    ) {
        let reached = eventually(within, || async {
            self.view(connector).is_some_and(|v| ok(&v))
        })
        .await;
        if !reached {
            panic!(
                "{connector} never reached {what}; the agent sees: {:?}",
                self.view(connector)
            );
        }
    }

    /// Waits until the agent sees the connector in this Kafka Connect state.
    pub async fn wait_state(&self, connector: &str, state: &str, within: Duration) {
        self.wait_view(connector, &format!("state {state}"), within, |v| {
            v.state.as_str() == state
        })
        .await
    }

    /// Waits until the agent has the connector in this recovery phase.
    pub async fn wait_phase(&self, connector: &str, phase: &str, within: Duration) {
        self.wait_view(connector, &format!("phase {phase}"), within, |v| {
            v.phase.as_str() == phase
        })
        .await
    }

    /// Stops it gracefully (as SIGTERM does).
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop(Duration::from_secs(5)).await.expect("clean stop");
        }
    }

    /// Kills it: no graceful shutdown, nothing written at the end.
    pub async fn kill(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown.cancel();
            r.task.abort();
            let _ = r.task.await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown.cancel();
            r.task.abort();
        }
    }
}

/// The value of a series in a text exposition.
pub fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            let base = series.split('{').next().unwrap_or("");
            base == name && labels.iter().all(|lab| series.contains(lab))
        })
        .and_then(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()))
}

/// Polls `cond` every 20 ms until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every log line of this test process, for assertions on what the on-call would read.
pub fn logs() -> String {
    String::from_utf8_lossy(
        &LOGS
            .get()
            .map(|l| l.lock().unwrap().clone())
            .unwrap_or_default(),
    )
    .into_owned()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        if std::env::var_os("CDC_SENTINEL_TEST_LOG").is_some() {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn init_logs() {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = Capture(buf.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(move || w.clone())
            .try_init();
        buf
    });
}

/// HTTP calls a human makes against Kafka Connect.
pub async fn human(method: &str, url: String) -> u16 {
    let c = reqwest::Client::new();
    let req = match method {
        "PUT" => c.put(url),
        "POST" => c.post(url),
        _ => c.get(url),
    };
    req.send().await.unwrap().status().as_u16()
}
