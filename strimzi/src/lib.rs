//! cdc-sentinel's Kubernetes side: holds Strimzi-managed connectors through their
//! `KafkaConnector`'s `spec.state`, so the Cluster Operator keeps them held instead of undoing a
//! REST pause at its next reconciliation.
//!
//! Each poll the agent calls [`Strimzi::observe`] (one consistent list of the cluster's
//! `KafkaConnector`s) next to its Kafka Connect poll. A connector with a resource is
//! operator-managed: it is held with [`Strimzi::hold`], resumed with [`Strimzi::release`]
//! (then its FAILED tasks restarted through REST as before), and handed back with
//! [`Strimzi::clear_mark`]. A blind view ([`View::Blind`]) means no action on such connectors.
//!
//! Per poll, with `--strimzi-cluster` set:
//! 1. `let view = strimzi.observe().await;` next to the Kafka Connect list (`tokio::join!`).
//! 2. `View::Blind`: no action on any connector of this Connect cluster (with connector
//!    resources enabled the operator deletes connectors that have no resource, so any of them
//!    may be managed); log `error` once per change, count it.
//! 3. `View::Fresh(snapshot)`: for each connector, `snapshot.get(name)` is its resource or
//!    `None` (REST-managed as before). Feed the pure core `state`, `mark` (ours?) and
//!    `reconciliation_paused`: a mark with `state == Running`, or our record without a mark, is
//!    a hand-back; `state` paused/stopped without a mark is a human's hold.
//! 4. Route the core's hold/resume for managed connectors to [`Strimzi::hold`] /
//!    [`Strimzi::release`] (after the write-ahead save, as for REST), restarts of FAILED tasks
//!    to REST, hand-backs to [`Strimzi::clear_mark`]. An [`Outcome::Declined`] is the API
//!    server's current truth overriding the snapshot: treat it as the corresponding
//!    observation at the next poll, never retry the write over it.
//!

//! |---|---|
//! | [`model`] | the lean read model: [`Resource`], [`HoldMark`], [`Snapshot`], annotation names |
//! | [`patch`] | pure decisions and merge-patch bodies for hold/release/clear/restart |
//! | [`client`] | API discovery, the list per poll, guarded writes with 409 re-read, request events |
//! | [`error`] | the error type: verb, resource, namespace and fix in every message |

pub mod client;
pub mod error;
pub mod model;
pub mod patch;

pub use client::{Managed, Operation, Options, RequestEvent, Strimzi, View};
pub use error::{Error, Verb};
pub use model::{ApiVersion, ConnectorState, Hold, HoldMark, HoldState, Resource, Snapshot};
pub use patch::{Declined, Outcome, Restart};

/// Quotes a word for a POSIX shell when it needs it (for `kubectl` lines printed for a human).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/=@%+,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_quote_leaves_safe_words_and_quotes_the_rest() {
        assert_eq!(
            super::shell_quote("system:serviceaccount:cdc:agent"),
            "system:serviceaccount:cdc:agent"
        );
        assert_eq!(super::shell_quote("a b"), "'a b'");
        assert_eq!(super::shell_quote("it's"), r"'it'\''s'");
        assert_eq!(super::shell_quote(""), "''");
        assert_eq!(super::shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }
}
