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

    /// A harder harness (from the trust branch): `sh -n` accepts the line, and a real `sh`
    /// with `curl` replaced by a function that prints each argument NUL-terminated sees
    /// exactly `-X`, the method and one URL whose path segment decodes to the name, for names
    /// with quotes, command substitutions, CR/LF, `%`, unicode, and a base URL with a quote.
    #[cfg(unix)]
    #[test]
    fn hostile_names_reach_the_shell_as_one_argument_equal_to_the_url() {
        let marker =
            std::env::temp_dir().join(format!("cdc-sentinel-pwned-{}", std::process::id()));
        let run = |cmd: &str| -> Vec<String> {
            let syntax = std::process::Command::new("sh")
                .args(["-n", "-c", cmd])
                .output()
                .unwrap();
            assert!(syntax.status.success(), "sh -n rejects {cmd:?}");
            let script = format!("curl() {{ printf '%s\\0' \"$@\"; }}\n{cmd}\n");
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .env("PWNED", &marker)
                .output()
                .unwrap();
            assert!(out.status.success(), "{cmd:?}");
            String::from_utf8(out.stdout)
                .unwrap()
                .split_terminator('\0')
                .map(str::to_string)
                .collect()
        };
        let decode = |s: &str| {
            let b = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        };
        let names = [
            "orders v2/eu",
            "a'; touch \"$PWNED\"; echo '",
            "a\"; touch \"$PWNED\"; echo \"",
            "$(touch \"$PWNED\")",
            "`touch $PWNED`",
            "line one\nline two\r\n",
            "100% done %41",
            "zürich-订单-🚀",
            "back\\slash & pipe | semi ; glob * ? [x] ~home",
            "'",
        ];
        for base in [
            "http://connect:8083",
            "https://c.example:8443/kc/",
            "http://it's:8083",
        ] {
            for name in names {
                let cmd = curl(
                    "POST",
                    base,
                    name,
                    "/restart?includeTasks=true&onlyFailed=true",
                );
                assert!(!cmd.contains('\n'), "one line: {cmd:?}");
                let args = run(&cmd);
                assert_eq!(args.len(), 3, "{cmd:?} -> {args:?}");
                assert_eq!(&args[..2], ["-X", "POST"], "{cmd:?}");
                let rest = args[2]
                    .strip_prefix(&format!("{}/connectors/", base.trim_end_matches('/')))
                    .unwrap_or_else(|| panic!("{:?}", args[2]));
                let (segment, tail) = rest.split_once('/').unwrap();
                assert_eq!(decode(segment), name, "{cmd:?}");
                assert_eq!(tail, "restart?includeTasks=true&onlyFailed=true");
            }
        }
        assert!(!marker.exists(), "a pasted line ran something else");
    }
}
