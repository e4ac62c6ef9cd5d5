//! A stand-in agent: opens a store and reports on stdout, one `SIM {json}` line per event;
//! reads commands on stdin. Used by the fencing test (from a child process it can SIGSTOP) and
//! by `examples/agent_sim.rs` (timings and memory by hand).
//!
//! Commands: `may_act` | `write KEY VALUE` | `fill N BYTES` (N keys of BYTES each, 100 per
//! transaction) | `load` | `rss` | `close`.

use std::time::{Duration, Instant};

use cdc_sentinel_kafka::{parse_url, KafkaStore, Leadership, Options};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

pub fn say(v: serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "SIM {v}");
    let _ = out.flush();
}

fn leadership_json(l: &Leadership, t0: Instant) -> serde_json::Value {
    let t = t0.elapsed().as_millis() as u64;
    match l {
        Leadership::Leader { epoch, .. } => {
            json!({"event": "leadership", "state": "leader", "epoch": epoch, "t_ms": t})
        }
        Leadership::Standby => json!({"event": "leadership", "state": "standby", "t_ms": t}),
        Leadership::Disconnected { why } => {
            json!({"event": "leadership", "state": "disconnected", "why": why, "t_ms": t})
        }
    }
}

pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

pub async fn run(url: &str, session: Duration) {
    let t0 = Instant::now();
    let opts = match parse_url(url) {
        Ok(u) => Options::new(u).with_session_timeout(session),
        Err(e) => return say(json!({"event": "error", "error": e.to_string()})),
    };
    let store = match KafkaStore::open(opts).await {
        Ok(s) => s,
        Err(e) => return say(json!({"event": "error", "kind": e.kind(), "error": e.to_string()})),
    };
    say(
        json!({"event": "open", "t_ms": t0.elapsed().as_millis() as u64, "pid": std::process::id()}),
    );
    let mut rx = store.leadership();
    tokio::spawn(async move {
        loop {
            let l = rx.borrow_and_update().clone();
            say(leadership_json(&l, t0));
            if rx.changed().await.is_err() {
                break;
            }
        }
    });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["may_act"] => match store.may_act() {
                Ok(()) => say(json!({"event": "may_act", "ok": true})),
                Err(e) => say(
                    json!({"event": "may_act", "ok": false, "kind": e.kind(), "error": e.to_string()}),
                ),
            },
            ["write", k, v] => match store
                .write(vec![(k.to_string(), Some(v.as_bytes().to_vec()))])
                .await
            {
                Ok(()) => say(json!({"event": "write", "ok": true})),
                Err(e) => say(
                    json!({"event": "write", "ok": false, "kind": e.kind(), "error": e.to_string()}),
                ),
            },
            ["fill", n, size] => {
                let (n, size): (usize, usize) = (n.parse().unwrap_or(0), size.parse().unwrap_or(0));
                let started = Instant::now();
                let mut result = Ok(());
                for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
                    let batch = chunk
                        .iter()
                        .map(|i| (format!("connector-{i:05}"), Some(vec![b'x'; size])))
                        .collect();
                    result = store.write(batch).await;
                    if result.is_err() {
                        break;
                    }
                }
                match result {
                    Ok(()) => say(
                        json!({"event": "fill", "ok": true, "ms": started.elapsed().as_millis() as u64}),
                    ),
                    Err(e) => say(json!({"event": "fill", "ok": false, "error": e.to_string()})),
                }
            }
            ["load"] => {
                let started = Instant::now();
                match store.load().await {
                    Ok(m) => say(
                        json!({"event": "load", "ok": true, "keys": m.len(), "ms": started.elapsed().as_millis() as u64,
                        "values": m.iter().take(20).map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned())).collect::<std::collections::BTreeMap<_, _>>()}),
                    ),
                    Err(e) => say(json!({"event": "load", "ok": false, "error": e.to_string()})),
                }
            }
            ["rss"] => say(json!({"event": "rss", "kib": rss_kib()})),
            ["close"] => break,
            _ => say(json!({"event": "error", "error": format!("unknown command {line:?}")})),
        }
    }
    store.close().await;
    say(json!({"event": "closed"}));
}
