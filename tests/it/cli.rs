//! The binary as an operator meets it: exit codes and messages for bad configuration, the
//! redacted effective configuration, environment variables, SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cdc_sentinel::sim::{ConnectorSpec, SimConnect, SimOptions};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cdc-sentinel"));
    c.env_remove("CDC_SENTINEL_CONNECT_PASSWORD");
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_exit_64_naming_the_flag() {
    let (code, _, err) = run(&["run", "--max-wait", "forever"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--max-wait") && err.contains("30m"), "{err}");
    let (code, _, err) = run(&["check-config", "--db", "oracle-db:1521"]);
    assert_eq!(code, 64);
    assert!(
        err.contains("--db") && err.contains("accepted forms"),
        "{err}"
    );
    let (code, _, err) = run(&["check-config", "--hold-with", "freeze"]);
    assert_eq!(code, 64);
    assert!(err.contains("pause") && err.contains("stop"), "{err}");
}

#[test]
fn bad_config_file_exits_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sentinel.toml");
    std::fs::write(&p, "[connectors.inventory]\ndb = \"tcp://db\"\n").unwrap();
    let (code, _, err) = run(&["check-config", "--config", p.to_str().unwrap()]);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("[connectors.\"inventory\"] db") && err.contains("HOST:PORT"),
        "{err}"
    );
    let (code, _, err) = run(&["check-config", "--config", "/nonexistent/sentinel.toml"]);
    assert_eq!(code, 78);
    assert!(err.contains("/nonexistent/sentinel.toml"), "{err}");
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_redacted() {
    let out = bin()
        .args([
            "check-config",
            "--connect-user",
            "admin",
            "--connector",
            "inv",
        ])
        .env("CDC_SENTINEL_CONNECT_PASSWORD", "pa55-w0rd")
        .env("CDC_SENTINEL_MAX_WAIT", "45m")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("max_wait           = 45m"),
        "env var applied: {text}"
    );
    assert!(
        text.contains("connect_password   = *** (set)") && !text.contains("pa55-w0rd"),
        "{text}"
    );
    assert!(text.contains("connectors         = inv"));
}

#[test]
fn help_documents_every_flag_with_its_env_var() {
    let (code, out, _) = run(&["run", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--poll-interval",
        "--probe-interval",
        "--down-after",
        "--up-after",
        "--max-wait",
        "--hold-with",
        "--state-file",
        "--web.listen-address",
        "--dry-run",
    ] {
        assert!(out.contains(flag), "{flag}");
    }
    assert!(out.contains("CDC_SENTINEL_POLL_INTERVAL"));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_promptly_with_state_written_and_exit_0() {
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    sim.add_connector(ConnectorSpec::oracle("term-ora", None));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let log_path = dir.path().join("agent.log");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = bin()
        .args([
            "run",
            "--connect-url",
            &sim.url(),
            "--poll-interval",
            "100ms",
            "--state-file",
            state.to_str().unwrap(),
        ])
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--db",
            "tcp://127.0.0.1:1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .env_remove("NO_COLOR")
        .spawn()
        .unwrap();
    let ready = crate::support::eventually(Duration::from_secs(10), || async move {
        reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    })
    .await;
    assert!(ready, "agent became ready");
    let hc = bin()
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/readyz"),
        ])
        .status()
        .unwrap();
    assert!(hc.success(), "healthcheck passes while ready");

    let t = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "did not stop within 5s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    println!("SIGTERM -> exit in {:?}", t.elapsed());
    assert_eq!(status.code(), Some(0));
    assert!(state.exists(), "state written on the way out");
    // the log went to a file, as under systemd or a container runtime: plain text, no colour codes
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("stopped; state written"), "log: {log}");
    assert!(
        !log.contains('\x1b'),
        "escape codes in a log written to a file:\n{log}"
    );
    let hc = bin()
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/readyz"),
            "--timeout",
            "1s",
        ])
        .status()
        .unwrap();
    assert!(!hc.success(), "healthcheck fails when the agent is gone");
}
