//! `chengxin-witness`: a C2SP tlog-witness for Chengxin's transparency log (and any
//! log that signs C2SP checkpoints with Ed25519).
//!
//! It follows the logs it is configured with (`--log ORIGIN=VERIFIER_KEY`), keeps the
//! last checkpoint it cosigned for each in its state file, and cosigns a new one
//! (`cosignature/v1`) only when the log signed it and a consistency proof shows it
//! extends the last. A log that shows two trees of one size to this witness is
//! refused; shown to two witnesses, the two cosigned checkpoints prove the fork
//! (`tlog::witness::find_fork`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod key;
mod server;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::server::{REQUEST_TIMEOUT, Witness};

/// Default wait for a request's headers: a witness's clients are logs that send a
/// small request at once, so slow or idle sockets are closed early.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Default connection limit: a witness serves a handful of logs, and the limit keeps
/// a flood of sockets from taking the descriptors its state file needs.
const MAX_CONNECTIONS: usize = 128;
use crate::state::State;

#[derive(Parser)]
#[command(name = "chengxin-witness", version, about = "A C2SP tlog-witness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve `POST /add-checkpoint`.
    Serve {
        /// Address to listen on (port 0: any free port; the address is printed).
        #[arg(long)]
        listen: SocketAddr,
        /// The state file: the last checkpoint cosigned for each log.
        #[arg(long)]
        state: PathBuf,
        /// The witness's key file (from `keygen`).
        #[arg(long)]
        key_file: PathBuf,
        /// A log to witness, `ORIGIN=VERIFIER_KEY` (the log's Ed25519 note key, named
        /// for its origin); repeat for more logs.
        #[arg(long = "log", value_name = "ORIGIN=VERIFIER_KEY", required = true)]
        logs: Vec<String>,
        /// Create the state file, empty. Only for a new witness: the file must not
        /// exist. Without it a missing state file is an error, never a fresh start,
        /// since a witness that forgot what it cosigned could cosign a fork.
        #[arg(long)]
        new_state: bool,
        /// Seconds a request may take, body included.
        #[arg(long, value_name = "SECS", default_value_t = REQUEST_TIMEOUT.as_secs())]
        request_timeout: u64,
        /// Seconds a client may take to send a request's line and headers (also the
        /// idle time after which a kept-alive connection closes).
        #[arg(long, value_name = "SECS", default_value_t = HEADER_TIMEOUT.as_secs())]
        header_timeout: u64,
        /// Most connections open at once; more wait in the kernel's accept queue.
        #[arg(long, value_name = "N", default_value_t = MAX_CONNECTIONS)]
        max_connections: usize,
    },
    /// Make a witness key: writes the key file (mode 0600, never over an existing one)
    /// and prints the verifier key that logs and clients configure.
    Keygen {
        /// The witness's name, a schema-less URL (`witness.example/w1`).
        #[arg(long)]
        name: String,
        /// Where to write the key.
        #[arg(long)]
        key_file: PathBuf,
    },
}

/// Reads `--log ORIGIN=VERIFIER_KEY` flags; an origin given twice is an error.
fn parse_logs(flags: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut logs = BTreeMap::new();
    for flag in flags {
        let (origin, vkey) = flag
            .split_once('=')
            .ok_or_else(|| format!("--log {flag:?} is not ORIGIN=VERIFIER_KEY"))?;
        tlog::witness::check_log_key(origin, vkey).map_err(|e| e.to_string())?;
        if logs.insert(origin.to_owned(), vkey.to_owned()).is_some() {
            return Err(format!("--log {origin} given twice"));
        }
    }
    Ok(logs)
}

async fn serve(
    listen: SocketAddr,
    state_path: PathBuf,
    key_file: PathBuf,
    logs: Vec<String>,
    new_state: bool,
    timeout: Duration,
    limits: httpd::Limits,
) -> Result<(), String> {
    let key = key::load(&key_file)?;
    let logs = parse_logs(&logs)?;
    let state = if new_state {
        if state_path.exists() {
            return Err(format!(
                "--new-state: {} exists; a witness never forgets what it cosigned",
                state_path.display()
            ));
        }
        let s = State::default();
        s.save(&state_path)
            .map_err(|e| format!("{}: {e}", state_path.display()))?;
        s
    } else {
        State::load(&state_path)?
    };
    let witness = Arc::new(Witness {
        key,
        logs,
        state: Mutex::new(state),
        state_path,
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "chengxin-witness: {} witnessing {} log(s)",
        witness.key.verifier_key(),
        witness.logs.len()
    );
    println!("listening on http://{addr}");
    httpd::serve(
        listener,
        server::router(witness, timeout),
        limits,
        shutdown(),
    )
    .await
    .map_err(|e| format!("serve on {addr}: {e}"))
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen { name, key_file } => key::create(&key_file, &name).map(|k| {
            println!("{}", k.verifier_key());
        }),
        Command::Serve {
            listen,
            state,
            key_file,
            logs,
            new_state,
            request_timeout,
            header_timeout,
            max_connections,
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(serve(
                    listen,
                    state,
                    key_file,
                    logs,
                    new_state,
                    Duration::from_secs(request_timeout),
                    httpd::Limits {
                        header_timeout: Duration::from_secs(header_timeout.max(1)),
                        max_connections,
                        threads: None,
                    },
                ))
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chengxin-witness: {e}");
            ExitCode::FAILURE
        }
    }
}
