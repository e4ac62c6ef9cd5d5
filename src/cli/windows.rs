//! `cdc-sentinel windows`: the next occurrences of every maintenance window.

use super::exit::Exit;
use crate::config::WindowsArgs;
use crate::runtime::clock::Clock;

pub fn run(w: WindowsArgs) -> Exit {
    match w.load() {
        Ok((list, from)) => {
            let from = from.unwrap_or_else(|| Clock::system().now_ms());
            print!(
                "{}",
                crate::core::windows::describe(&list, from, w.count as usize)
            );
            Exit::Ok
        }
        Err(e) => {
            eprintln!("cdc-sentinel: {}", e.message);
            Exit::from(&e)
        }
    }
}
