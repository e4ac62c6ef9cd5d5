//! The `cdc-sentinel` binary: everything is in `cli`.

fn main() -> std::process::ExitCode {
    cdc_sentinel::cli::main()
}
