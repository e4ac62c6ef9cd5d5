//! A stand-in agent on the Kafka state store, for measuring by hand: election and failover
//! times, and the memory of a leader and a standby.
//!
//!   cargo run -p cdc-sentinel-kafka --release --example agent_sim -- kafka://127.0.0.1:9092/state [SESSION_MS]
//!
//! It prints one `SIM {json}` line per event (open, every leadership change, command results)
//! and reads commands on stdin: `may_act`, `write KEY VALUE`, `fill N BYTES`, `load`, `rss`,
//! `close`. RUST_LOG=info shows the store's own log on stderr.

#[path = "../tests/support/sim.rs"]
mod sim;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: agent_sim kafka://HOST:PORT/TOPIC [SESSION_MS]");
        std::process::exit(64);
    };
    let session = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    sim::run(&url, std::time::Duration::from_millis(session)).await;
}
