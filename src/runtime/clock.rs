//! Wall-clock milliseconds driven by tokio's clock, so that a paused tokio clock in tests moves
//! the agent's `now` too, while production gets real Unix time.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
pub struct Clock {
    start_wall_ms: u64,
    start: tokio::time::Instant,
}

impl Clock {
    /// Unix time now, advancing with tokio's clock from here on.
    #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
    pub fn system() -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Clock::starting_at(wall)
    }

    /// A clock that reads `wall_ms` now (tests).
    pub fn starting_at(wall_ms: u64) -> Clock {
        Clock {
            start_wall_ms: wall_ms,
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.start_wall_ms + self.start.elapsed().as_millis() as u64
    }
}
