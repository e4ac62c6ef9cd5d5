//! `cdc-sentinel check-config`: the effective configuration, secrets redacted; exit 64/78 if
//! bad. As strict as `run`: beyond the flags and files, it builds the Kafka Connect TLS client
//! and opens the state store (reads the state file, proves its directory writable) with the
//! code `run` starts with.

use super::exit::Exit;
use crate::config::RunArgs;
use crate::runtime::app;

pub async fn run(a: RunArgs) -> Exit {
    let cfg = match a.validate() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("cdc-sentinel: {}", e.message);
            return Exit::from(&e);
        }
    };
    if let Err(e) = app::check(&cfg).await {
        eprintln!("cdc-sentinel: {e}");
        return Exit::from(&e);
    }
    print!("{}", cfg.describe());
    Exit::Ok
}
