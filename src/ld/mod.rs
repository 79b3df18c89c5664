//! ld mode: chainlink as a drop-in `ld`, run by the C compiler driver (`gcc -B DIR`,
//! `clang -fuse-ld=chainlink`, `--ld-path`, `gcc -fuse-ld=lld` with chainlink installed as
//! `ld.lld`) or as `chainlink ld ARGS`.
//!
//! Reads GNU ld's command line ([`options`], after `@FILE` response files: [`response`])
//! into a `Config`; the driver passes the C runtime files itself, so chainlink adds none.
//! Must not contain linking logic.

mod options;
mod response;
mod table;

use std::ffi::{OsStr, OsString};
use std::process::ExitCode;

/// The names under which chainlink behaves as `ld`.
pub fn is_ld_name(program: &OsStr) -> bool {
    let name = std::path::Path::new(program).file_name().and_then(OsStr::to_str).unwrap_or("");
    matches!(name, "ld" | "ld.chainlink" | "ld.lld")
}

/// The version line configure scripts and libtool look for ("GNU" in `ld -v`).
fn version_line() -> String {
    format!("chainlink {} (compatible with GNU ld)", env!("CARGO_PKG_VERSION"))
}

/// Runs an ld command line (without the program name).
pub fn run(args: Vec<OsString>) -> ExitCode {
    let args = match response::expand(args) {
        Ok(args) => args,
        Err(message) => return crate::usage_error(&message),
    };
    match options::parse(&args) {
        Ok(options::Action::Version) => {
            println!("{}", version_line());
            ExitCode::SUCCESS
        }
        Ok(options::Action::Help) => {
            print!("{}", table::help());
            ExitCode::SUCCESS
        }
        Ok(options::Action::Link { config, print_version }) => {
            if print_version {
                println!("{}", version_line());
            }
            crate::run_link(&config, false)
        }
        Err(message) => crate::usage_error(&message),
    }
}
