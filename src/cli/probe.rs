//! `cdc-sentinel probe URL`: the one-shot probe for the operator at 02:00, like `tnsping` or
//! `pg_isready`, but asking the same question the agent asks. Prints UP/DOWN, the reason, what
//! it means, the version where the reply has one, and the latency. Exit 0 when (the last probe
//! is) up, 1 when down, 2 on bad input.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use cdc_sentinel_probe::target::{parse_url, OracleId, Protocol, Target};
use cdc_sentinel_probe::{probe, ProbeResult};

use super::exit::Exit;
use crate::config::ProbeArgs;

/// Whether this process was started as `cdc-sentinel probe ...`, so that `main` can give a
/// command-line error exit code 2 (bad input) instead of 64 for this subcommand.
pub fn invoked() -> bool {
    std::env::args_os().nth(1).is_some_and(|a| a == "probe")
}

/// Checks the input; the error is the message for stderr.
pub fn target(a: &ProbeArgs) -> Result<Target, String> {
    let t = parse_url(a.url.trim()).map_err(|e| e.to_string())?;
    if let Some(OracleId::Service(n) | OracleId::Sid(n)) = &t.oracle {
        if !cdc_sentinel_probe::oracle::valid_name(n) {
            return Err(format!(
                "invalid database URL {:?}: {n:?} is not a service name or SID (letters, digits, . _ - $ # only)",
                a.url
            ));
        }
    }
    if a.count == 0 {
        return Err("--count must be at least 1".into());
    }
    if a.timeout.is_zero() {
        return Err("--timeout must be more than 0".into());
    }
    Ok(t)
}

/// One probe as the operator reads it: a status line, then what it means.
pub fn render(t: &Target, r: &ProbeResult) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{:<4} {}  reason={}  latency={}",
        if r.up() { "UP" } else { "DOWN" },
        t.url(),
        r.reason.as_str(),
        fmt_latency(r.duration)
    );
    if let Some(v) = &r.version {
        let who = if t.protocol == Protocol::Oracle {
            "listener"
        } else {
            "server"
        };
        let _ = write!(s, "  {who}_version={v}");
    }
    let _ = write!(s, "\n     {}", r.detail);
    s
}

fn fmt_latency(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

/// Prints a line; a closed stdout (`| head -1`) is not an error worth a panic.
fn out(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Runs the subcommand.
pub async fn run(a: ProbeArgs) -> Exit {
    let t = match target(&a) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cdc-sentinel probe: {e}");
            return Exit::ProbeBadInput;
        }
    };
    let mut up = 0u32;
    let mut latencies = Vec::new();
    let mut last_up = false;
    for i in 0..a.count {
        if i > 0 {
            tokio::time::sleep(a.interval).await;
        }
        let r = probe(&t, a.timeout).await;
        out(&render(&t, &r));
        last_up = r.up();
        up += r.up() as u32;
        latencies.push(r.duration);
    }
    if t.protocol == Protocol::Oracle && last_up {
        out("     note: ACCEPT proves the service is registered and has a free handler; a MOUNTED database accepts on its default service too (docs/probes.md: an open-only service)");
    }
    if a.count > 1 {
        let min = latencies.iter().min().copied().unwrap_or_default();
        let max = latencies.iter().max().copied().unwrap_or_default();
        let avg = latencies.iter().sum::<Duration>() / latencies.len().max(1) as u32;
        out(&format!(
            "--- {}: {} probes, {} up, {} down; latency min/avg/max {}/{}/{}",
            t.url(),
            a.count,
            up,
            a.count - up,
            fmt_latency(min),
            fmt_latency(avg),
            fmt_latency(max)
        ));
    }
    if last_up {
        Exit::Ok
    } else {
        Exit::ProbeDown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdc_sentinel_probe::Reason;

    fn args(url: &str) -> ProbeArgs {
        ProbeArgs {
            url: url.into(),
            count: 1,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn bad_input_names_the_accepted_forms() {
        for bad in [
            "db1:1521",
            "oracle://db1:1521",
            "oracle://h:1/SVC(UR=A)",
            "ftp://h:1",
        ] {
            let e = target(&args(bad)).unwrap_err();
            assert!(
                e.contains("oracle://HOST:PORT/SERVICE") || e.contains("service name or SID"),
                "{bad}: {e}"
            );
        }
        let mut a = args("postgres://h:5432");
        a.count = 0;
        assert!(target(&a).unwrap_err().contains("--count"));
    }

    #[test]
    fn renders_what_the_operator_needs() {
        let t = parse_url("oracle://db1:1521/ORCLPDB1").unwrap();
        let r = ProbeResult {
            reason: Reason::ServiceUnknown,
            detail: "listener up, service ORCLPDB1 not registered (ORA-12514)".into(),
            version: Some("19.0.0.0.0".into()),
            duration: Duration::from_micros(2345),
        };
        let text = render(&t, &r);
        assert_eq!(
            text,
            "DOWN oracle://db1:1521/ORCLPDB1  reason=service_unknown  latency=2.3ms  listener_version=19.0.0.0.0\n     listener up, service ORCLPDB1 not registered (ORA-12514)"
        );
    }
}
