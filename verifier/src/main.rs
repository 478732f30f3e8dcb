//! `verifier`: domain-control and ICP checks (see issue 3).

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("verifier: not implemented yet; domain-control and ICP checks arrive with issue 3");
    ExitCode::from(2)
}
