//! Text that leaves the agent for a human or a shell: URL path segments and shell quoting.
//! Anything the agent prints for an operator to paste must do exactly what it says, whatever
//! a connector is called.

/// Percent-encodes a connector name for one URL path segment (RFC 3986 unreserved characters
/// stay, everything else, `/` and `%` included, is encoded).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Quotes a word for a POSIX shell: single quotes, each `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `curl -X METHOD 'BASE/connectors/NAME/SUFFIX'`, paste-safe: the name is one encoded path
/// segment and the whole URL one quoted word.
pub fn curl(method: &str, base_url: &str, connector: &str, suffix: &str) -> String {
    let url = format!(
        "{}/connectors/{}{suffix}",
        base_url.trim_end_matches('/'),
        path_segment(connector)
    );
    format!("curl -X {method} {}", shell_quote(&url))
}

/// `kubectl -n NS patch kafkaconnector NAME --type merge -p '{"spec":{"state":"STATE"}}'`,
/// paste-safe: namespace and name are quoted words.
pub fn kubectl_state(namespace: &str, connector: &str, state: &str) -> String {
    format!(
        "kubectl -n {} patch kafkaconnector {} --type merge -p {}",
        shell_quote(namespace),
        shell_quote(connector),
        shell_quote(&format!("{{\"spec\":{{\"state\":\"{state}\"}}}}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_lines_quote_every_word() {
        assert_eq!(
            kubectl_state("kafka", "inv's", "running"),
            r#"kubectl -n 'kafka' patch kafkaconnector 'inv'\''s' --type merge -p '{"spec":{"state":"running"}}'"#
        );
    }

    #[test]
    fn names_become_one_encoded_segment() {
        assert_eq!(path_segment("inv oracle/1"), "inv%20oracle%2F1");
        assert_eq!(path_segment("a%2Fb"), "a%252Fb");
        assert_eq!(path_segment("ünï"), "%C3%BCn%C3%AF");
        assert_eq!(
            curl("PUT", "http://c:8083/", "orders v2/eu", "/resume"),
            "curl -X PUT 'http://c:8083/connectors/orders%20v2%2Feu/resume'"
        );
    }

    /// The shell sees exactly the intended URL as one word, whatever the name holds.
    #[cfg(unix)]
    #[test]
    fn hostile_names_paste_as_one_word() {
        let hostile = [
            "a'; touch /tmp/cdc-sentinel-pwned; echo '",
            "$(touch /tmp/cdc-sentinel-pwned)",
            "`id`",
            "line\nbreak",
            "back\\slash \"quoted\"",
            "100%",
        ];
        for name in hostile {
            let cmd = curl("PUT", "http://connect:8083", name, "/resume");
            let echoed = cmd.replacen("curl -X PUT ", "printf '%s|' ", 1);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&echoed)
                .output()
                .unwrap();
            let words = String::from_utf8(out.stdout).unwrap();
            assert_eq!(
                words,
                format!(
                    "http://connect:8083/connectors/{}/resume|",
                    path_segment(name)
                ),
                "{name:?} -> {cmd}"
            );
        }
        assert!(!std::path::Path::new("/tmp/cdc-sentinel-pwned").exists());
    }
}
