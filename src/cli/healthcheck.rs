//! `cdc-sentinel healthcheck`: asks a running agent whether it is ready (container
//! HEALTHCHECKs); exit 0 if so.

use super::exit::Exit;
use crate::config::HealthArgs;

pub async fn run(h: HealthArgs) -> Exit {
    let client = match reqwest::Client::builder().timeout(h.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return Exit::Failure;
        }
    };
    let url = h.resolved_url();
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => {
            println!("ready");
            Exit::Ok
        }
        Ok(r) => {
            eprintln!("not ready: {url} answered {}", r.status());
            Exit::Failure
        }
        Err(e) => {
            eprintln!("not ready: {url} did not answer: {e}");
            Exit::Failure
        }
    }
}
