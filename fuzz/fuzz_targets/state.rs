//! The state file as read at start-up (src/runtime/store): corrupt, newer or odd files are
//! errors, never a panic; what parses writes back to what it was.
#![no_main]

use cdc_sentinel::runtime::store::parse_state;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = parse_state("state file fuzz", data) {
        let json = serde_json::to_vec(&state).expect("a parsed state serializes");
        let again = parse_state("state file fuzz", &json).expect("a written state parses");
        assert_eq!(again, state);
    }
});
