//! Checks the state topic's shape (1 partition, cleanup.policy=compact) and creates it when it
//! is missing and creating is allowed. Errors name the topic and the exact command that fixes it.

use std::sync::Arc;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::error::Error;
use crate::options::Options;
use crate::shared::{client_config, Ctx, Shared};

/// Segment age of a topic this store creates: compaction only cleans closed segments, and the
/// leader's lease records (one every session/4) would otherwise pile up for the broker default
/// of 7 days before the first compaction.
pub(crate) const SEGMENT_MS: &str = "3600000";

/// What `ensure` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Existed,
    Created,
}

/// The command that creates the topic as the store needs it.
pub(crate) fn create_command(opts: &Options) -> String {
    format!(
        "kafka-topics.sh --bootstrap-server {} --create --topic {} --partitions 1 --config cleanup.policy=compact --config segment.ms={SEGMENT_MS}{}",
        opts.url.bootstrap_servers(),
        opts.url.topic,
        command_config(opts)
    )
}

fn command_config(opts: &Options) -> &'static str {
    if opts.security.tls.is_some() || opts.security.sasl.is_some() {
        " --command-config client.properties (a file with your TLS/SASL client settings)"
    } else {
        ""
    }
}

pub(crate) fn ensure(shared: &Arc<Shared>) -> Result<Outcome, Error> {
    let opts = &shared.opts;
    let topic = opts.url.topic.as_str();
    let op = shared.timings.op;
    let mut settings = opts.admin_settings();
    // The admin client is a producer to librdkafka, whose default would auto-create the topic
    // with the broker's default shape on the metadata request below.
    settings.push(("allow.auto.create.topics", "false".into()));
    let admin: AdminClient<Ctx> = AdminClient::from_config_and_context(
        &client_config(&settings),
        Ctx {
            shared: shared.clone(),
            client: "admin",
        },
    )
    .map_err(|e| Error::Config(shared.redactor.clean(&e.to_string())))?;

    let mut outcome = Outcome::Existed;
    let partitions = match partitions(shared, &admin)? {
        Some(n) => n,
        None => {
            if !opts.create_topic {
                return Err(Error::TopicMissing {
                    topic: topic.into(),
                    why: "creating it is turned off in this agent's settings".into(),
                    command: create_command(opts),
                });
            }
            create(shared, &admin)?;
            outcome = Outcome::Created;
            // Metadata of a new topic may lag a moment behind its creation.
            let deadline = std::time::Instant::now() + op;
            loop {
                match partitions(shared, &admin)? {
                    Some(n) => break n,
                    None if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(100))
                    }
                    None => {
                        return Err(Error::Kafka {
                            op: "create topic",
                            detail: format!("topic {topic} was created but does not show in the metadata after {op:?}"),
                        })
                    }
                }
            }
        }
    };

    let policy = cleanup_policy(shared, &admin)?;
    let policy_ok = policy.as_deref() == Some("compact");
    if partitions != 1 || !policy_ok {
        let mut found = Vec::new();
        if partitions != 1 {
            found.push(format!("{partitions} partitions"));
        }
        if !policy_ok {
            found.push(format!(
                "cleanup.policy={}",
                policy.as_deref().unwrap_or("(unknown)")
            ));
        }
        let b = opts.url.bootstrap_servers();
        let fix = if partitions != 1 {
            format!(
                "Point the agent at another (new) topic, or, if nothing else uses this one, delete and recreate it: kafka-topics.sh --bootstrap-server {b} --delete --topic {topic}{cc} && {create}",
                cc = command_config(opts),
                create = create_command(opts)
            )
        } else {
            format!(
                "Change the policy: kafka-configs.sh --bootstrap-server {b} --alter --entity-type topics --entity-name {topic} --add-config cleanup.policy=compact{}",
                command_config(opts)
            )
        };
        return Err(Error::TopicShape {
            topic: topic.into(),
            found: found.join(" and "),
            fix,
        });
    }
    Ok(outcome)
}

/// The topic's partition count, or None when it does not exist.
fn partitions(shared: &Shared, admin: &AdminClient<Ctx>) -> Result<Option<usize>, Error> {
    let topic = shared.opts.url.topic.as_str();
    let md = admin
        .inner()
        .fetch_metadata(Some(topic), shared.timings.op)
        .map_err(|e| match e.rdkafka_error_code() {
            Some(RDKafkaErrorCode::OperationTimedOut)
            | Some(RDKafkaErrorCode::BrokerTransportFailure)
            | Some(RDKafkaErrorCode::AllBrokersDown) => {
                // Prefer the cause the client reported (auth, TLS) over the bare timeout.
                match shared.map_err("metadata", &e) {
                    Error::Kafka { .. } => Error::Unreachable {
                        bootstrap: shared.bootstrap.clone(),
                        detail: format!(
                            "no answer to a metadata request within {:?}",
                            shared.timings.op
                        ),
                    },
                    other => other,
                }
            }
            _ => shared.map_err("metadata", &e),
        })?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match t.error() {
        None => Ok(if t.partitions().is_empty() {
            None
        } else {
            Some(t.partitions().len())
        }),
        Some(e) => {
            let code: RDKafkaErrorCode = e.into();
            match code {
                RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                    Ok(None)
                }
                RDKafkaErrorCode::LeaderNotAvailable if t.partitions().is_empty() => Ok(None),
                other => Err(shared.map_err("metadata", &KafkaError::MetadataFetch(other))),
            }
        }
    }
}

fn create(shared: &Shared, admin: &AdminClient<Ctx>) -> Result<(), Error> {
    let opts = &shared.opts;
    let topic = opts.url.topic.as_str();
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(-1))
        .set("cleanup.policy", "compact")
        .set("segment.ms", SEGMENT_MS);
    let aopts = AdminOptions::new()
        .request_timeout(Some(shared.timings.op))
        .operation_timeout(Some(shared.timings.op));
    let results = futures_executor::block_on(admin.create_topics([&new], &aopts))
        .map_err(|e| shared.map_err("create topic", &e))?;
    for r in results {
        match r {
            Ok(_) => {
                tracing::info!(
                    topic,
                    "state store: created topic {topic} (1 partition, cleanup.policy=compact)"
                );
            }
            // Another agent created it at the same moment: fine, its shape is checked next.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((
                _,
                code @ (RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed),
            )) => {
                return Err(Error::TopicMissing {
                    topic: topic.into(),
                    why: format!("this agent may not create it ({code})"),
                    command: create_command(opts),
                })
            }
            Err((_, code)) => {
                return Err(Error::TopicMissing {
                    topic: topic.into(),
                    why: format!("creating it failed ({code})"),
                    command: create_command(opts),
                })
            }
        }
    }
    Ok(())
}

fn cleanup_policy(shared: &Shared, admin: &AdminClient<Ctx>) -> Result<Option<String>, Error> {
    let topic = shared.opts.url.topic.as_str();
    let aopts = AdminOptions::new().request_timeout(Some(shared.timings.op));
    let results = futures_executor::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic(topic)], &aopts),
    )
    .map_err(|e| shared.map_err("describe topic configs", &e))?;
    match results.into_iter().next() {
        None => Ok(None),
        Some(Ok(res)) => Ok(res.get("cleanup.policy").and_then(|e| e.value.clone())),
        Some(Err(RDKafkaErrorCode::TopicAuthorizationFailed)) => Err(Error::Authorization {
            detail: format!("describing the configuration of topic {topic} was refused"),
            needs: format!("DESCRIBE_CONFIGS on topic {topic}"),
        }),
        Some(Err(code)) => Err(Error::Kafka {
            op: "describe topic configs",
            detail: format!("{code}"),
        }),
    }
}
