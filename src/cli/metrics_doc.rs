//! `cdc-sentinel metrics-doc` (hidden): the metric table as docs/metrics.md, as the README's
//! table, or as monitoring/metrics.json (what the monitoring generator reads). `--write`
//! rewrites the three committed files in place (run from the repository root); a test fails
//! when they are not current.

use super::exit::Exit;
use crate::config::MetricsDocArgs;
use crate::telemetry::table;

const README_START: &str =
    "<!-- metrics-table:start (generated: cargo run -- metrics-doc --write) -->\n";
const README_END: &str = "<!-- metrics-table:end -->";

/// docs/metrics.md, whole.
pub fn docs_page() -> String {
    format!(
        "# Metrics\n\n\
Every metric cdc-sentinel exports on `/metrics`, in one place. This page is generated from the\n\
agent's metric table (`src/telemetry/table.rs`) by `cargo run -- metrics-doc --write`; the\n\
alerts, dashboards and runbook tables are generated from the same table\n\
(`monitoring/metrics.json`). `tests/it/metrics_doc.rs` scrapes a running agent and fails if the\n\
table and the scrape disagree, and if this page is not current.\n\n\
Per-connector series are rebuilt from the latest Kafka Connect snapshot at every scrape, so a\n\
deleted or deselected connector disappears instead of exporting stale values. Counters keyed by\n\
connector go with it too (a connector deleted and created again starts from 0, which `rate()` and\n\
`increase()` read as a counter reset); they are created at 0 when a connector first appears, so\n\
the first failure counts in `increase()`.\n\n{}",
        table::markdown_table()
    )
}

/// The README's table: what lies between the markers, `None` without them.
pub fn readme_section(readme: &str) -> Option<String> {
    let start = readme.find(README_START)? + README_START.len();
    let end = start + readme[start..].find(README_END)?;
    Some(readme[start..end].to_string())
}

fn write_all() -> Result<(), String> {
    let rd = |p: &str| {
        std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read {p}: {e} (run from the repository root)"))
    };
    let wr = |p: &str, s: &str| std::fs::write(p, s).map_err(|e| format!("cannot write {p}: {e}"));
    wr("docs/metrics.md", &docs_page())?;
    wr("monitoring/metrics.json", &table::json())?;
    let readme = rd("README.md")?;
    let start = readme
        .find(README_START)
        .ok_or("README.md has no metrics-table:start marker")?
        + README_START.len();
    let end = start
        + readme[start..]
            .find(README_END)
            .ok_or("README.md has no metrics-table:end marker")?;
    let next = format!(
        "{}{}{}",
        &readme[..start],
        table::markdown_table(),
        &readme[end..]
    );
    wr("README.md", &next)
}

pub fn run(a: MetricsDocArgs) -> Exit {
    if a.write {
        return match write_all() {
            Ok(()) => {
                println!(
                    "wrote docs/metrics.md, monitoring/metrics.json and README.md's metric table"
                );
                Exit::Ok
            }
            Err(e) => {
                eprintln!("cdc-sentinel metrics-doc: {e}");
                Exit::Failure
            }
        };
    }
    match a.format.as_str() {
        "markdown" => print!("{}", docs_page()),
        "readme" => print!("{}", table::markdown_table()),
        "json" => print!("{}", table::json()),
        other => {
            eprintln!(
                "cdc-sentinel metrics-doc: --format {other:?}: expected markdown, readme or json"
            );
            return Exit::Usage;
        }
    }
    Exit::Ok
}
