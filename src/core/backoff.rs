//! Capped exponential backoff with deterministic jitter.

use super::Millis;

/// Capped exponential backoff with deterministic jitter (±20%, from the connector name and
/// the attempt), so many connectors retrying after the same 409 spread out.
pub fn backoff(name: &str, attempt: u32, base: Millis, cap: Millis) -> Millis {
    let exp = base.saturating_mul(1u64 << attempt.min(20));
    let d = exp.min(cap);
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes().chain(attempt.to_le_bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let spread = d / 5; // ±20%
    if spread == 0 {
        return d;
    }
    d - spread + h % (2 * spread + 1)
}
