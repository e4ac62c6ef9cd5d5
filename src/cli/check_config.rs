//! `cdc-sentinel check-config`: the effective configuration, secrets redacted; exit 64/78 if bad.

use super::exit::Exit;
use crate::config::RunArgs;

pub fn run(a: RunArgs) -> Exit {
    match a.validate() {
        Ok(cfg) => {
            print!("{}", cfg.describe());
            Exit::Ok
        }
        Err(e) => {
            eprintln!("cdc-sentinel: {}", e.message);
            Exit::from(&e)
        }
    }
}
