//! The effective settings for one connector (flags, then its config-file entry).

use super::record::{AfterTimeout, HoldWith};
use super::Millis;

/// Effective settings for one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub hold_with: HoldWith,
    pub after_timeout: AfterTimeout,
    pub max_wait: Millis,
    pub down_after: u32,
    pub up_after: u32,
    pub verify_timeout: Millis,
    pub verify_window: Millis,
    /// A hold (or a resume) not visible in the status after this long is sent again.
    pub confirm_timeout: Millis,
    /// A hold whose outcome is unknown (a timeout, a 5xx) can still take effect this long
    /// after it was sent: the action timeout plus Kafka Connect's own 90 s request timeout.
    /// A poll after that showing the connector RUNNING proves it never will.
    pub late_landing: Millis,
    /// First delay before another resume after a failed verification; doubles, capped.
    pub reattempt_base: Millis,
    pub reattempt_cap: Millis,
    /// Polls in a row a held connector must be confirmed deleted before its record goes.
    pub deleted_after: u32,
    /// A failed action is retried this soon (the poll interval, at least 250 ms) while it has
    /// been failing for less than [`Settings::fast_retry_for`]: a rebalance answers 409 to a
    /// few requests, and a hold is urgent.
    pub fast_retry: Millis,
    pub fast_retry_for: Millis,
    /// Then retries back off exponentially from 1 s, capped here for holds...
    pub hold_retry_cap: Millis,
    /// ...and here for resumes and restarts (no long tail: the database is back).
    pub resume_retry_cap: Millis,
    /// A resume (or its restart) failing for this long ends in `needs_attention`
    /// (`--verify-timeout`, at least ten polls).
    pub resume_give_up: Millis,
    /// A connector expected to progress whose committed offset has not advanced for this
    /// long while it reads RUNNING is stalled; after a resume, how long it may take to move.
    pub stall_after: Millis,
    pub dry_run: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            hold_with: HoldWith::Pause,
            after_timeout: AfterTimeout::Hold,
            max_wait: 30 * 60_000,
            down_after: 3,
            up_after: 2,
            verify_timeout: 120_000,
            verify_window: 30_000,
            confirm_timeout: 30_000,
            late_landing: 150_000,
            reattempt_base: 30_000,
            reattempt_cap: 600_000,
            deleted_after: 3,
            fast_retry: 1_000,
            fast_retry_for: 30_000,
            hold_retry_cap: 30_000,
            resume_retry_cap: 10_000,
            resume_give_up: 120_000,
            stall_after: 600_000,
            dry_run: false,
        }
    }
}
