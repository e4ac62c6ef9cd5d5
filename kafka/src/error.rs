//! The one error type of the Kafka state store, with a short `kind()` for metric labels and
//! the mapping from librdkafka's error codes to messages that name the problem and the fix.
//! No variant ever carries a secret: texts that come from librdkafka pass the redactor first.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Everything that can go wrong in the state store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid state store URL {url:?}: {why}. Expected kafka://HOST:PORT[,HOST:PORT...]/TOPIC, e.g. kafka://kafka-0:9092,kafka-1:9092/cdc-sentinel-state")]
    Url { url: String, why: String },

    #[error("invalid Kafka state store setting: {0}")]
    Config(String),

    #[error("cannot reach Kafka at {bootstrap}: {detail}. Check the address and port, that the brokers' advertised listeners resolve and are reachable from here, and the TLS/SASL settings match the listener")]
    Unreachable { bootstrap: String, detail: String },

    #[error("Kafka at {bootstrap} refused authentication: {detail}. Check the SASL mechanism, user and password (or the TLS client certificate) against the listener's settings")]
    AuthFailed { bootstrap: String, detail: String },

    #[error("TLS with Kafka at {bootstrap} failed: {detail}. Check the CA file (--kafka-tls-ca), the client certificate and key, and that the listener speaks TLS")]
    Tls { bootstrap: String, detail: String },

    #[error("not authorized: {detail}. Grant this agent's principal {needs}")]
    Authorization { detail: String, needs: String },

    #[error("the state-store topic {topic} does not exist and {why}. Create it: {command}")]
    TopicMissing {
        topic: String,
        why: String,
        command: String,
    },

    #[error("the state-store topic {topic} has {found}, but the state store needs exactly 1 partition and cleanup.policy=compact. {fix}")]
    TopicShape {
        topic: String,
        found: String,
        fix: String,
    },

    #[error("this agent is not the leader of the state store (it is {state}); only the leader writes and acts")]
    NotLeader { state: String },

    #[error("leadership not confirmed by Kafka for {age:?} (limit {limit:?}): not acting until Kafka confirms it again")]
    Stale { age: Duration, limit: Duration },

    #[error("fenced: another cdc-sentinel agent took over the state store (transactional id {transactional_id}); this one stepped down and will not write")]
    Fenced { transactional_id: String },

    #[error("Kafka did not complete {op} within {timeout:?}")]
    Timeout { op: &'static str, timeout: Duration },

    #[error("record rejected before it was sent: {0}")]
    InvalidRecord(String),

    #[error("Kafka error during {op}: {detail}")]
    Kafka { op: &'static str, detail: String },

    #[error("the state store is closed")]
    Closed,
}

/// A convenient alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A short, stable name for the error, for metric labels (never the message text).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Url { .. } => "url",
            Error::Config(_) => "config",
            Error::Unreachable { .. } => "unreachable",
            Error::AuthFailed { .. } => "auth_failed",
            Error::Tls { .. } => "tls",
            Error::Authorization { .. } => "authorization",
            Error::TopicMissing { .. } => "topic_missing",
            Error::TopicShape { .. } => "topic_shape",
            Error::NotLeader { .. } => "not_leader",
            Error::Stale { .. } => "stale",
            Error::Fenced { .. } => "fenced",
            Error::Timeout { .. } => "timeout",
            Error::InvalidRecord(_) => "invalid_record",
            Error::Kafka { .. } => "kafka",
            Error::Closed => "closed",
        }
    }

    /// True when another agent has (or may have) taken over: the caller must not act.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Error::Fenced { .. })
    }
}

/// Removes known secrets from text that came from librdkafka before it reaches a log line or an
/// error. librdkafka does not print passwords at the levels we enable; this is the second lock.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub(crate) fn new(secrets: Vec<String>) -> Redactor {
        // Longest first, so a secret that contains another is removed whole.
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    pub(crate) fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

/// What a failed librdkafka call means, for the state store.
pub(crate) struct Mapper<'a> {
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub group_id: &'a str,
    pub transactional_id: &'a str,
    pub redactor: &'a Redactor,
}

impl Mapper<'_> {
    /// Maps a librdkafka error of operation `op`. `last_client_error` is the most recent error
    /// librdkafka reported through the client's error callback (e.g. an authentication failure
    /// behind a metadata request that merely timed out).
    pub(crate) fn map(
        &self,
        op: &'static str,
        err: &KafkaError,
        last_client_error: Option<(RDKafkaErrorCode, String)>,
    ) -> Error {
        let code = err.rdkafka_error_code();
        let detail = self.redactor.clean(&err.to_string());
        let mapped = code.and_then(|c| self.by_code(op, c, &detail));
        let generic = |e: &Error| matches!(e, Error::Unreachable { .. } | Error::Kafka { .. });
        match mapped {
            Some(e) if !generic(&e) => return e,
            _ => {}
        }
        // A timeout or transport failure often hides the real cause, reported earlier through
        // the error callback (an authentication or TLS failure): prefer that one.
        if let Some((c, text)) = last_client_error {
            let text = self.redactor.clean(&text);
            if let Some(e) = self.by_code(op, c, &text).filter(|e| !generic(e)) {
                return e;
            }
        }
        mapped.unwrap_or(Error::Kafka { op, detail })
    }

    fn by_code(&self, op: &'static str, code: RDKafkaErrorCode, detail: &str) -> Option<Error> {
        use RDKafkaErrorCode as C;
        let detail = detail.to_string();
        let bootstrap = self.bootstrap.to_string();
        Some(match code {
            C::Authentication
            | C::SaslAuthenticationFailed
            | C::UnsupportedSASLMechanism
            | C::IllegalSASLState => Error::AuthFailed { bootstrap, detail },
            C::SSL => Error::Tls { bootstrap, detail },
            C::TopicAuthorizationFailed => Error::Authorization {
                detail,
                needs: format!(
                    "READ, WRITE and DESCRIBE (and DESCRIBE_CONFIGS; CREATE to let the agent create it) on topic {}",
                    self.topic
                ),
            },
            C::GroupAuthorizationFailed => Error::Authorization {
                detail,
                needs: format!("READ on consumer group {}", self.group_id),
            },
            C::TransactionalIdAuthorizationFailed => Error::Authorization {
                detail,
                needs: format!("WRITE and DESCRIBE on transactional id {}", self.transactional_id),
            },
            C::ClusterAuthorizationFailed => Error::Authorization {
                detail,
                needs: "the cluster permissions this call needs (IDEMPOTENT_WRITE for transactions, CREATE to create the topic)".to_string(),
            },
            C::Fenced | C::ProducerFenced | C::InvalidProducerEpoch => Error::Fenced {
                transactional_id: self.transactional_id.to_string(),
            },
            C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::Resolve
            | C::BrokerNotAvailable
            | C::NetworkException => Error::Unreachable { bootstrap, detail },
            C::OperationTimedOut | C::RequestTimedOut | C::MessageTimedOut => {
                Error::Kafka { op, detail: format!("timed out ({detail})") }
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper(r: &Redactor) -> Mapper<'_> {
        Mapper {
            bootstrap: "k1:9092",
            topic: "t",
            group_id: "g",
            transactional_id: "x",
            redactor: r,
        }
    }

    #[test]
    fn redactor_removes_every_secret_longest_first() {
        let r = Redactor::new(vec!["pw".into(), "pw-long".into(), String::new()]);
        assert_eq!(r.clean("a pw-long b pw c"), "a *** b *** c");
        assert_eq!(r.clean("nothing here"), "nothing here");
    }

    #[test]
    fn fencing_errors_map_to_fenced() {
        let r = Redactor::default();
        for code in [
            RDKafkaErrorCode::Fenced,
            RDKafkaErrorCode::ProducerFenced,
            RDKafkaErrorCode::InvalidProducerEpoch,
        ] {
            let e = mapper(&r).map("commit", &KafkaError::MessageProduction(code), None);
            assert!(e.is_fenced(), "{code:?} -> {e}");
        }
    }

    #[test]
    fn a_timeout_behind_an_auth_failure_is_reported_as_auth_failure() {
        let r = Redactor::new(vec!["s3cret".into()]);
        let e = mapper(&r).map(
            "metadata",
            &KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut),
            Some((
                RDKafkaErrorCode::Authentication,
                "SASL authentication error: bad password s3cret".into(),
            )),
        );
        assert_eq!(e.kind(), "auth_failed");
        let text = e.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("k1:9092"), "{text}");
    }

    #[test]
    fn topic_authorization_names_the_topic_and_the_grants() {
        let r = Redactor::default();
        let e = mapper(&r).map(
            "metadata",
            &KafkaError::MetadataFetch(RDKafkaErrorCode::TopicAuthorizationFailed),
            None,
        );
        assert_eq!(e.kind(), "authorization");
        assert!(e.to_string().contains("on topic t"), "{e}");
    }
}
