//! `cdc-sentinel demo`, the README's first command, run as a first-time user runs it (sped up
//! with `--speed`): it exits 0, its decision log tells both nights in order, and `/metrics` is
//! live while it plays.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the demo by its PID if the test fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Position of the first line after `from` that contains every fragment, or a panic that shows
/// the log.
fn find_after(lines: &[&str], from: usize, fragments: &[&str], log: &str) -> usize {
    lines
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, l)| fragments.iter().all(|f| l.contains(f)))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no line with {fragments:?} after line {from}:\n{log}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_plays_both_nights_with_metrics_live() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("demo.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cdc-sentinel"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CDC_SENTINEL_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .args([
            "demo",
            "--speed",
            "4",
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .spawn()
        .unwrap();
    let mut demo = Guard(child);

    // stdout, line by line, as the user watches it
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = demo.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    let metrics_url = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("the demo says where /metrics is within 60s")
            .unwrap_or_else(|| panic!("the demo ended early:\n{}", out.join("\n")));
        out.push(line.clone());
        if let Some(rest) = line.strip_prefix("Metrics live at ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    assert!(
        metrics_url.starts_with("http://127.0.0.1:") && metrics_url.ends_with("/metrics"),
        "{metrics_url}"
    );

    // While it plays, /metrics shows the held connector (any scrape between its hold and its
    // recovery does; the held stretches last seconds).
    let client = reqwest::Client::new();
    let held_seen = crate::support::eventually(Duration::from_secs(60), || async {
        let Ok(r) = client.get(&metrics_url).send().await else {
            return false;
        };
        let text = r.text().await.unwrap_or_default();
        crate::support::value(
            &text,
            "cdc_sentinel_managed",
            &["connector=\"inventory-oracle\""],
        ) == Some(1.0)
    })
    .await;
    assert!(
        held_seen,
        "/metrics never showed inventory-oracle held (cdc_sentinel_managed 1) while the demo ran"
    );

    // The rest of the show, then exit 0.
    let rest = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = rx.recv().await {
            out.push(line);
        }
    })
    .await;
    let stdout = out.join("\n");
    assert!(
        rest.is_ok(),
        "the demo did not finish within 120s:\n{stdout}"
    );
    let status = tokio::task::spawn_blocking(move || demo.0.wait())
        .await
        .unwrap()
        .unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(status.code(), Some(0), "{stdout}\n{log}");

    // The narrative on stdout.
    let out_lines: Vec<&str> = stdout.lines().collect();
    let mut at = 0;
    for step in [
        &["==> Night 1, 01:58"][..],
        &["both held: no retry storm"],
        &["==> Night 1, 02:25"],
        &["resumed, FAILED task restarted, verified RUNNING"],
        &["==> Night 2, 01:58", "overruns the maximum wait"],
        &["timed out: held"],
        &["==> What /metrics says now"],
        &["cdc_sentinel_recovery_timeouts_total{connector=\"inventory-oracle\"} 1"],
        &["Done."],
    ] {
        at = find_after(&out_lines, at, step, &stdout) + 1;
    }

    // The decision log on stderr, in the order the night happens.
    let lines: Vec<&str> = log.lines().collect();
    let inv = "inventory-oracle";
    let mut at = 0;
    for step in [
        &["inventory-oracle: failure detected", "FAILED: task 0"][..],
        &[
            "inventory-oracle: holding it while",
            "task_failed",
            "pause requested",
        ],
        &["inventory-oracle: hold confirmed (connector PAUSED)"],
        &[
            "probing 127.0.0.1:",
            "(elapsed ",
            "waiting: inventory-oracle",
        ],
        &[
            "inventory-oracle: database",
            "back (2 successful probes in a row)",
        ],
        &["inventory-oracle: resume requested and restart of its FAILED tasks"],
        &["inventory-oracle: recovered after"],
        // night 2
        &["inventory-oracle: failure detected"],
        &["inventory-oracle: holding it while"],
        &[
            "ERROR",
            "inventory-oracle: manual intervention required",
            "still down after",
            "last probe: refused",
            "/connectors/inventory-oracle/resume",
        ],
    ] {
        at = find_after(&lines, at, step, &log) + 1;
    }
    // the connector that hides the outage behind RUNNING is held on probes and recovered too
    for fragments in [
        &[
            "orders-oracle: database",
            "down for 3 probes in a row",
            "reads RUNNING",
        ][..],
        &["orders-oracle: holding it while", "probe_failed"],
        &["orders-oracle: recovered after"],
    ] {
        find_after(&lines, 0, fragments, &log);
    }
    assert_eq!(
        log.matches(&format!("{inv}: recovered after")).count(),
        1,
        "night 2 is not recovered automatically:\n{log}"
    );
    assert!(!log.contains('\x1b'), "no colour codes in a log file");
}
