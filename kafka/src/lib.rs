//! cdc-sentinel's Kafka state store and leader election.
//!
//! Every agent of a fleet opens the same compacted one-partition topic. The agents' election
//! members join one consumer group; the group coordinator assigns the single partition to
//! exactly one of them, and that one claims leadership: it initialises a transactional producer
//! with the fleet's one `transactional.id` (which fences every older leader's producer), commits
//! a claim record, reads the topic up to it, and only then reports [`Leadership::Leader`]. It
//! confirms its leadership with a small lease transaction every `session_timeout / 4`;
//! [`KafkaStore::may_act`] is true only while the last confirmation is younger than
//! `session_timeout * 3 / 4` by the monotonic clock. Standbys read the topic all along, so
//! their [`KafkaStore::load`] is warm. See README.md for the protocol, its one residual window,
//! the timeouts and the memory settings.
//!
//! The store deals in bytes: keys are strings, values opaque bytes, `None` a tombstone.

mod error;
mod group;
mod leader;
mod lease;
mod options;
mod security;
mod shared;
mod store;
mod tail;
mod topic;
mod url;

pub use error::{Error, Result};
pub use options::{Options, LEADER_KEY, MAX_BATCH_BYTES, MAX_VALUE_BYTES, RESERVED_PREFIX};
pub use security::{Sasl, SaslMechanism, Secret, Security, Tls};
pub use shared::{LeaderRecord, Leadership};
pub use store::KafkaStore;
pub use url::{parse_url, KafkaUrl};
