//! `kafka://HOST:PORT[,HOST:PORT...]/TOPIC`: where the state store lives.

use crate::error::Error;

/// A parsed state-store URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaUrl {
    /// `host:port` pairs, in the given order (librdkafka's `bootstrap.servers`).
    pub bootstrap: Vec<String>,
    /// The state topic: legal Kafka topic characters only, so it needs no quoting anywhere.
    pub topic: String,
}

impl KafkaUrl {
    /// The bootstrap list as librdkafka and the Kafka CLI tools take it: `h1:p1,h2:p2`.
    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap.join(",")
    }
}

impl std::fmt::Display for KafkaUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kafka://{}/{}", self.bootstrap_servers(), self.topic)
    }
}

impl std::str::FromStr for KafkaUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<KafkaUrl, Error> {
        parse_url(s)
    }
}

/// Parses `kafka://HOST:PORT[,HOST:PORT...]/TOPIC`. Credentials in the URL are refused (they
/// would end up in logs and process listings): use the SASL settings.
pub fn parse_url(s: &str) -> Result<KafkaUrl, Error> {
    let bad = |why: String| Error::Url {
        // The URL is echoed only up to '@', in case someone put credentials in it.
        url: match s.find('@') {
            Some(i) => format!("{}@...", &s[..s[..i].rfind('/').map_or(0, |j| j + 1)]),
            None => s.to_string(),
        },
        why,
    };
    let rest = match s.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("kafka") => rest,
        Some((scheme, _)) => {
            return Err(bad(format!(
                "scheme {scheme:?} is not supported (TLS and SASL are separate settings, the scheme is always kafka://)"
            )))
        }
        None => return Err(bad("missing the kafka:// scheme".into())),
    };
    if rest.contains('@') {
        return Err(bad("credentials in the URL are not accepted (they would show in logs and process lists); use the SASL user and password settings".into()));
    }
    if rest.contains('?') || rest.contains('#') {
        return Err(bad("query strings and fragments are not supported".into()));
    }
    let (hosts, topic) = rest
        .split_once('/')
        .ok_or_else(|| bad("missing /TOPIC after the broker list".into()))?;
    if topic.is_empty() {
        return Err(bad("the topic name is empty".into()));
    }
    validate_topic(topic).map_err(bad)?;
    let mut bootstrap = Vec::new();
    for h in hosts.split(',') {
        let h = h.trim();
        if h.is_empty() {
            return Err(bad("empty broker address in the list".into()));
        }
        bootstrap.push(validate_host_port(h).map_err(bad)?);
    }
    Ok(KafkaUrl {
        bootstrap,
        topic: topic.to_string(),
    })
}

fn validate_topic(t: &str) -> Result<(), String> {
    if t.len() > 249 {
        return Err(format!(
            "topic name is {} characters; Kafka allows at most 249",
            t.len()
        ));
    }
    if t == "." || t == ".." {
        return Err(format!("{t:?} is not a legal topic name"));
    }
    if let Some(c) = t
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic {t:?} contains {c:?}; Kafka topic names may only contain ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

fn validate_host_port(h: &str) -> Result<String, String> {
    let (host, port) = if let Some(inner) = h.strip_prefix('[') {
        // [IPv6]:port
        let (addr, port) = inner
            .split_once("]:")
            .ok_or_else(|| format!("broker {h:?}: write an IPv6 address as [ADDR]:PORT"))?;
        (format!("[{addr}]"), port)
    } else {
        let (host, port) = h
            .rsplit_once(':')
            .ok_or_else(|| format!("broker {h:?} has no port; write HOST:PORT, e.g. {h}:9092"))?;
        if host.contains(':') {
            return Err(format!(
                "broker {h:?}: write an IPv6 address as [ADDR]:PORT"
            ));
        }
        (host.to_string(), port)
    };
    if host.is_empty() || host == "[]" {
        return Err(format!("broker {h:?} has no host"));
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']')))
    {
        return Err(format!("broker host {host:?} contains {c:?}"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(format!("{host}:{p}")),
        _ => Err(format!(
            "broker {h:?}: port {port:?} is not a number from 1 to 65535"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_and_several_brokers() {
        let u = parse_url("kafka://k1:9092,k2:9093/cdc-sentinel.state").unwrap();
        assert_eq!(u.bootstrap, vec!["k1:9092", "k2:9093"]);
        assert_eq!(u.topic, "cdc-sentinel.state");
        assert_eq!(u.bootstrap_servers(), "k1:9092,k2:9093");
        assert_eq!(u.to_string(), "kafka://k1:9092,k2:9093/cdc-sentinel.state");
        let v = parse_url("KAFKA://[::1]:9092/t").unwrap();
        assert_eq!(v.bootstrap, vec!["[::1]:9092"]);
    }

    #[test]
    fn rejects_bad_urls_with_a_reason_and_the_expected_form() {
        for (url, needle) in [
            ("k1:9092/t", "missing the kafka:// scheme"),
            ("http://k1:9092/t", "scheme \"http\""),
            ("kafka://k1:9092", "missing /TOPIC"),
            ("kafka://k1:9092/", "topic name is empty"),
            ("kafka://k1/t", "has no port"),
            ("kafka://k1:0/t", "not a number from 1 to 65535"),
            ("kafka://k1:99999/t", "not a number from 1 to 65535"),
            ("kafka://k1:9092,,k2:9092/t", "empty broker"),
            ("kafka://k1:9092/a/b", "contains '/'"),
            ("kafka://k1:9092/a b", "contains ' '"),
            ("kafka://::1:9092/t", "IPv6"),
            ("kafka://k1:9092/t?x=1", "query strings"),
        ] {
            let e = parse_url(url).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(needle), "{url}: {text}");
            assert!(text.contains("kafka://HOST:PORT"), "{url}: {text}");
        }
        let long = format!("kafka://k:1/{}", "a".repeat(250));
        assert!(parse_url(&long)
            .unwrap_err()
            .to_string()
            .contains("at most 249"));
    }

    #[test]
    fn credentials_in_the_url_are_refused_and_not_echoed() {
        let e = parse_url("kafka://user:hunter2@k1:9092/t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("credentials in the URL are not accepted"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}
