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
//! | module | owns |
//! |---|---|
//! | [`model`] | the lean read model: [`Resource`], [`HoldMark`], [`Snapshot`], annotation names |
//! | [`patch`] | pure decisions and merge-patch bodies for hold/release/clear/restart |
//! | [`client`] | API discovery, the list per poll, guarded writes with 409 re-read, request events |
//! | [`error`] | the error type: verb, resource, namespace and fix in every message |
//! | `fake` (feature `fake`) | a fake Kubernetes API server for tests |

pub mod client;
pub mod error;
pub mod model;
pub mod patch;

#[cfg(feature = "fake")]
pub mod fake;

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
