//! Log output: text (no colour unless stderr is a terminal and `NO_COLOR` is unset) or JSON.
//! A text log is one line per event: control characters inside an event (a newline or a
//! carriage return in a connector name from Kafka Connect, an escape sequence) are written
//! escaped, so no name can split a line or forge one. JSON escapes them itself.

use std::io::Write;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CDC_SENTINEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube_client=off"));
    // colour only for a person at a terminal: log files, journald and `kubectl logs`
    // must not fill with escape codes (https://no-color.org is honoured too)
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => b
            .with_writer(move || OneLine {
                out: std::io::stderr(),
                ansi,
            })
            .init(),
        LogFormat::Json => b
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .init(),
    }
}

/// A writer for text logs: each `write` is one formatted event (tracing-subscriber writes an
/// event with one `write_all`), written with its control characters escaped but for the final
/// newline, tabs, and, when colours are on, the escape character that starts them.
pub struct OneLine<W> {
    pub out: W,
    pub ansi: bool,
}

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.strip_suffix(b"\n") {
            Some(b) => (b, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        let text = String::from_utf8_lossy(body);
        let keep = |c: char| c == '\t' || (self.ansi && c == '\x1b');
        if !text.chars().any(|c| c.is_control() && !keep(c)) {
            self.out.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut line = String::with_capacity(text.len() + 16);
        for c in text.chars() {
            match c {
                '\n' => line.push_str("\\n"),
                '\r' => line.push_str("\\r"),
                c if c.is_control() && !keep(c) => line.push_str(&c.escape_unicode().to_string()),
                c => line.push(c),
            }
        }
        line.push_str(&String::from_utf8_lossy(end));
        self.out.write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_line(event: &str, ansi: bool) -> String {
        let mut w = OneLine {
            out: Vec::new(),
            ansi,
        };
        w.write_all(event.as_bytes()).unwrap();
        String::from_utf8(w.out).unwrap()
    }

    #[test]
    fn a_name_cannot_split_or_forge_a_line() {
        let event = "WARN evil\n2026-01-01T00:00:00Z ERROR forged\r: holding it\n";
        assert_eq!(
            one_line(event, false),
            "WARN evil\\n2026-01-01T00:00:00Z ERROR forged\\r: holding it\n"
        );
        assert_eq!(
            one_line("a\x1b[31mred\x07\u{85}b\n", false),
            "a\\u{1b}[31mred\\u{7}\\u{85}b\n"
        );
        // colours stay colours at a terminal
        assert_eq!(
            one_line("\x1b[33mWARN\x1b[0m x\ty\n", true),
            "\x1b[33mWARN\x1b[0m x\ty\n"
        );
        assert_eq!(one_line("plain line\n", false), "plain line\n");
    }
}
