//! `badge-server serve`: config → telemetry → database and migrations → CA → serve.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    badge_server::cli::main().await
}
