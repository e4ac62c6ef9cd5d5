//! Why a probe succeeded or failed: a closed set, the `reason` label of the probe metrics.

use std::time::Duration;

/// The reason of one probe's result. `Ok` is up; every other reason is down.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    strum::EnumCount,
    strum::VariantArray,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Reason {
    Ok,
    Refused,
    Timeout,
    Dns,
    ServiceUnknown,
    Blocked,
    Restricted,
    NoHandler,
    StartingUp,
    TooManyConnections,
    ProtocolError,
}

impl Reason {
    /// Every reason, `Ok` first.
    pub const ALL: &'static [Reason] = <Reason as strum::VariantArray>::VARIANTS;
    /// How many reasons there are (the size of per-reason count arrays).
    pub const COUNT: usize = <Reason as strum::EnumCount>::COUNT;

    /// The failure reasons, in declaration order.
    pub fn failures() -> impl Iterator<Item = Reason> {
        Self::ALL.iter().copied().filter(|r| *r != Reason::Ok)
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Position in [`Reason::ALL`], for arrays sized by [`Reason::COUNT`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Every reason but `ok` counts as "down" for recovery.
    pub fn is_up(self) -> bool {
        self == Reason::Ok
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a protocol probe found: reason, detail, version.
pub type Outcome = (Reason, String, Option<String>);

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub reason: Reason,
    /// What it means, for the log ("connection refused", "listener up, service X not registered").
    pub detail: String,
    /// The server's version where the reply carries one.
    pub version: Option<String>,
    pub duration: Duration,
}

impl ProbeResult {
    pub fn up(&self) -> bool {
        self.reason.is_up()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_indexed_in_declaration_order() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        assert_eq!(Reason::ALL.len(), Reason::COUNT);
        assert_eq!(Reason::ServiceUnknown.as_str(), "service_unknown");
        assert_eq!(Reason::failures().count(), Reason::COUNT - 1);
    }
}
