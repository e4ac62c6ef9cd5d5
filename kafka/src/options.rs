//! The state store's settings, their defaults, validation, `describe()` for check-config, and
//! the librdkafka settings of each client (kept small: see README.md "Memory").

use std::time::Duration;

use crate::error::Error;
use crate::security::Security;
use crate::url::KafkaUrl;

/// How to reach and use the state topic.
#[derive(Clone, Debug)]
pub struct Options {
    pub url: KafkaUrl,
    pub security: Security,
    /// Consumer group whose coordinator elects the leader. Default `cdc-sentinel.<topic>`.
    pub group_id: String,
    /// Transactional id of the leader's producer; initialising it fences the previous leader.
    /// Default `cdc-sentinel.<topic>`. Every agent of one fleet must use the same one.
    pub transactional_id: String,
    /// librdkafka `client.id` (shows in broker logs and quotas). Default `cdc-sentinel`.
    pub client_id: String,
    /// Who this agent is, in the leader records (`__cdc_sentinel.leader`). Default
    /// `<hostname>/<pid>`.
    pub member: String,
    /// Consumer-group session timeout: a leader that stops heartbeating is replaced after it.
    /// Also sets the lease: the leader confirms its leadership every `session_timeout / 4` and
    /// stops acting when the last confirmation is older than `session_timeout * 3 / 4`.
    pub session_timeout: Duration,
    /// Deadline of every single Kafka call (metadata, init, commit, ...). Default and maximum:
    /// `session_timeout / 2`.
    pub op_timeout: Duration,
    /// Create the topic (1 partition, compacted) when it is missing.
    pub create_topic: bool,
}

/// Key of the leader's claim and lease records; keys starting with `__cdc_sentinel.` are the
/// store's own and cannot be written through [`crate::KafkaStore::write`].
pub const LEADER_KEY: &str = "__cdc_sentinel.leader";
/// Prefix of the store's own keys.
pub const RESERVED_PREFIX: &str = "__cdc_sentinel.";

/// Largest value accepted by `write` (Kafka's default `max.message.bytes` is 1 MiB per batch).
pub const MAX_VALUE_BYTES: usize = 512 * 1024;
/// Largest total of one `write` batch (keys + values).
pub const MAX_BATCH_BYTES: usize = 900 * 1024;

/// Timings derived from the session timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timings {
    pub session: Duration,
    pub heartbeat: Duration,
    pub lease_interval: Duration,
    pub fresh_for: Duration,
    pub op: Duration,
    pub max_poll_interval: Duration,
}

impl Options {
    /// Defaults for `url`: plaintext, group and transactional id `cdc-sentinel.<topic>`,
    /// 10 s session, 5 s per call, create the topic when missing.
    pub fn new(url: KafkaUrl) -> Options {
        let name = format!("cdc-sentinel.{}", url.topic);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown-host".into());
        Options {
            url,
            security: Security::default(),
            group_id: name.clone(),
            transactional_id: name,
            client_id: "cdc-sentinel".into(),
            member: format!("{host}/{}", std::process::id()),
            session_timeout: Duration::from_secs(10),
            op_timeout: Duration::from_secs(5),
            create_topic: true,
        }
    }

    /// Sets the session timeout and the per-call deadline that goes with it (`session / 2`).
    pub fn with_session_timeout(mut self, session: Duration) -> Options {
        self.session_timeout = session;
        self.op_timeout = session / 2;
        self
    }

    /// Checks the settings; the error names the setting and the allowed range.
    pub fn validate(&self) -> Result<(), Error> {
        self.security.validate()?;
        if self.session_timeout < Duration::from_secs(1)
            || self.session_timeout > Duration::from_secs(1800)
        {
            return Err(Error::Config(format!(
                "Kafka session timeout {:?} is out of range: use 1s to 30m (brokers allow 6s to 30m by default; 10s is the default)",
                self.session_timeout
            )));
        }
        if self.op_timeout < Duration::from_millis(200)
            || self.op_timeout > self.session_timeout / 2
        {
            return Err(Error::Config(format!(
                "Kafka call timeout {:?} must be between 200ms and half the session timeout ({:?}), so a leader can confirm its lease before it goes stale",
                self.op_timeout,
                self.session_timeout / 2
            )));
        }
        for (what, v) in [
            ("group id", &self.group_id),
            ("transactional id", &self.transactional_id),
            ("client id", &self.client_id),
        ] {
            if v.is_empty() || v.len() > 249 || v.chars().any(|c| c.is_control()) {
                return Err(Error::Config(format!(
                    "Kafka {what} {v:?} must be 1 to 249 printable characters"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn timings(&self) -> Timings {
        let session = self.session_timeout;
        Timings {
            session,
            heartbeat: (session / 5).max(Duration::from_millis(100)),
            lease_interval: session / 4,
            fresh_for: session - session / 4,
            op: self.op_timeout,
            max_poll_interval: (session * 3).max(Duration::from_secs(30)),
        }
    }

    /// The effective settings, one `name: value` per line, secrets as `*** (set)`.
    pub fn describe(&self) -> String {
        let t = self.timings();
        let mut lines = vec![
            ("state store".to_string(), self.url.to_string()),
            ("bootstrap servers".into(), self.url.bootstrap_servers()),
            (
                "topic".into(),
                format!("{} (1 partition, cleanup.policy=compact)", self.url.topic),
            ),
            (
                "create topic when missing".into(),
                self.create_topic.to_string(),
            ),
            (
                "consumer group (elects the leader)".into(),
                self.group_id.clone(),
            ),
            (
                "transactional id (fences old leaders)".into(),
                self.transactional_id.clone(),
            ),
            ("client id".into(), self.client_id.clone()),
            ("member".into(), self.member.clone()),
            ("session timeout".into(), format!("{:?}", t.session)),
            ("lease every".into(), format!("{:?}", t.lease_interval)),
            (
                "acts only if confirmed within".into(),
                format!("{:?}", t.fresh_for),
            ),
            ("Kafka call timeout".into(), format!("{:?}", t.op)),
        ];
        for (k, v) in self.security.describe() {
            lines.push((k.to_string(), v));
        }
        let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        lines
            .iter()
            .map(|(k, v)| format!("{k:width$}  {v}\n"))
            .collect()
    }

    fn ms(d: Duration) -> String {
        d.as_millis().to_string()
    }

    /// Settings every client shares: address, security, and bounded network waits.
    pub(crate) fn common_settings(&self) -> Vec<(&'static str, String)> {
        let t = self.timings();
        let mut s = vec![
            ("bootstrap.servers", self.url.bootstrap_servers()),
            ("client.id", self.client_id.clone()),
            (
                "socket.timeout.ms",
                Self::ms(t.op.max(Duration::from_secs(10))),
            ),
            ("socket.connection.setup.timeout.ms", Self::ms(t.op)),
            ("reconnect.backoff.ms", "100".into()),
            ("reconnect.backoff.max.ms", "2000".into()),
            ("topic.metadata.refresh.interval.ms", "60000".into()),
            // Only log; never statistics (they would cost memory and CPU for nothing).
            ("statistics.interval.ms", "0".into()),
            ("log.connection.close", "false".into()),
        ];
        s.extend(self.security.librdkafka_settings());
        s
    }

    /// The election member: subscribes to the topic; pauses its partition once assigned.
    pub(crate) fn group_settings(&self) -> Vec<(&'static str, String)> {
        let t = self.timings();
        let mut s = self.common_settings();
        s.extend([
            ("group.id", self.group_id.clone()),
            ("session.timeout.ms", Self::ms(t.session)),
            ("heartbeat.interval.ms", Self::ms(t.heartbeat)),
            ("max.poll.interval.ms", Self::ms(t.max_poll_interval)),
            // Sticky: a new standby joining does not move leadership; only a lost leader does.
            ("partition.assignment.strategy", "cooperative-sticky".into()),
            ("enable.auto.commit", "false".into()),
            ("enable.auto.offset.store", "false".into()),
            ("auto.offset.reset", "latest".into()),
            ("allow.auto.create.topics", "false".into()),
            ("enable.partition.eof", "false".into()),
            ("queued.min.messages", "1".into()),
            ("queued.max.messages.kbytes", "64".into()),
            ("message.max.bytes", "65536".into()),
            ("fetch.max.bytes", "65536".into()),
            ("max.partition.fetch.bytes", "65536".into()),
            ("receive.message.max.bytes", "1049088".into()),
        ]);
        s
    }

    /// The tail: reads the whole topic (read_committed) into the view, leaders and standbys.
    pub(crate) fn tail_settings(&self) -> Vec<(&'static str, String)> {
        let mut s = self.common_settings();
        s.extend([
            // assign() only, never subscribe(): not a member of the election group. librdkafka
            // still wants a group id; nothing is committed under it.
            ("group.id", format!("{}.tail", self.group_id)),
            ("enable.auto.commit", "false".into()),
            ("enable.auto.offset.store", "false".into()),
            ("isolation.level", "read_committed".into()),
            // A position past the end means the records are gone (topic recreated, broker lost
            // its data): report it instead of silently starting over.
            ("auto.offset.reset", "error".into()),
            ("allow.auto.create.topics", "false".into()),
            ("enable.partition.eof", "true".into()),
            ("fetch.wait.max.ms", "100".into()),
            ("queued.min.messages", "1000".into()),
            ("queued.max.messages.kbytes", "256".into()),
            ("message.max.bytes", "524288".into()),
            ("fetch.max.bytes", "524288".into()),
            ("max.partition.fetch.bytes", "262144".into()),
            ("receive.message.max.bytes", "1049088".into()),
        ]);
        s
    }

    /// The leader's transactional producer.
    pub(crate) fn producer_settings(&self) -> Vec<(&'static str, String)> {
        let t = self.timings();
        let mut s = self.common_settings();
        s.extend([
            ("transactional.id", self.transactional_id.clone()),
            ("enable.idempotence", "true".into()),
            ("acks", "all".into()),
            // A transaction left open by a frozen leader is aborted by the broker after this;
            // the next leader's init aborts it at once anyway.
            (
                "transaction.timeout.ms",
                Self::ms((t.session * 3).max(Duration::from_secs(30))),
            ),
            ("linger.ms", "0".into()),
            ("queue.buffering.max.messages", "10000".into()),
            ("queue.buffering.max.kbytes", "2048".into()),
            ("batch.size", "1000000".into()),
            ("message.max.bytes", "1000000".into()),
            ("compression.type", "none".into()),
        ]);
        s
    }

    /// The short-lived admin client that checks or creates the topic.
    pub(crate) fn admin_settings(&self) -> Vec<(&'static str, String)> {
        self.common_settings()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::{Sasl, SaslMechanism, Secret};
    use crate::url::parse_url;

    fn opts() -> Options {
        Options::new(parse_url("kafka://k1:9092,k2:9092/state").unwrap())
    }

    #[test]
    fn defaults_derive_from_the_topic() {
        let o = opts();
        assert_eq!(o.group_id, "cdc-sentinel.state");
        assert_eq!(o.transactional_id, "cdc-sentinel.state");
        let t = o.timings();
        assert_eq!(t.lease_interval, Duration::from_millis(2500));
        assert_eq!(t.fresh_for, Duration::from_millis(7500));
        assert_eq!(t.heartbeat, Duration::from_secs(2));
        o.validate().unwrap();
    }

    #[test]
    fn every_client_config_is_accepted_by_librdkafka() {
        let mut o = opts();
        o.security.sasl = Some(Sasl {
            mechanism: SaslMechanism::ScramSha256,
            username: "u".into(),
            password: Secret::new("pw-8c1d"),
        });
        // librdkafka checks some settings only when the client is created (no connection yet).
        let cfg = |settings: Vec<(&'static str, String)>| {
            let mut cfg = rdkafka::ClientConfig::new();
            for (k, v) in &settings {
                cfg.set(*k, v);
            }
            cfg
        };
        use rdkafka::consumer::BaseConsumer;
        use rdkafka::producer::BaseProducer;
        cfg(o.group_settings())
            .create::<BaseConsumer>()
            .expect("group consumer settings");
        cfg(o.tail_settings())
            .create::<BaseConsumer>()
            .expect("tail consumer settings");
        cfg(o.producer_settings())
            .create::<BaseProducer>()
            .expect("producer settings");
        cfg(o.admin_settings())
            .create::<BaseProducer>()
            .expect("admin settings");
        let d = o.describe();
        assert!(
            d.contains("SASL password") && d.contains("*** (set)"),
            "{d}"
        );
        assert!(!d.contains("pw-8c1d"), "{d}");
        assert!(!format!("{o:?}").contains("pw-8c1d"));
    }

    #[test]
    fn validation_names_the_setting() {
        let o = opts().with_session_timeout(Duration::from_millis(500));
        assert!(o
            .validate()
            .unwrap_err()
            .to_string()
            .contains("session timeout"));
        let mut o = opts();
        o.op_timeout = Duration::from_secs(6);
        assert!(o
            .validate()
            .unwrap_err()
            .to_string()
            .contains("half the session timeout"));
        let mut o = opts();
        o.group_id = String::new();
        assert!(o.validate().unwrap_err().to_string().contains("group id"));
    }
}
