//! `cdc-sentinel metrics-doc` (hidden): prints the metric table.

use super::exit::Exit;
use crate::config::MetricsDocArgs;

pub fn run(a: MetricsDocArgs) -> Exit {
    let _ = a;
    Exit::Usage
}
