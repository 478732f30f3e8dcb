//! The `badge-server` command line.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ca::authority;
use clap::{Parser, Subcommand};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::account::{self, Email, Role};
use crate::config::ServerSettings;
use crate::error::AppError;
use crate::http::router;
use crate::http::state::AppState;
use crate::jobs::{handlers as jobs, queue};
use crate::telemetry;

/// Chengxin badge server.
#[derive(Parser, Debug)]
#[command(name = "badge-server", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve HTTP.
    Serve(Box<ServerSettings>),
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create the account, or give an existing one this role. With --password-file,
    /// set its password and mark the address confirmed; without, mail it a link to set
    /// one. Prints a new API token for the account on the last line.
    Add {
        /// user, operator, staff or admin.
        #[arg(long)]
        role: String,
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
        /// A file whose first line is the password.
        #[arg(long)]
        password_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        common: ca::config::Settings,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create the account if needed and print a new API token on the last line.
    Create {
        /// user, operator, staff or admin.
        #[arg(long)]
        role: String,
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        label: String,
        /// Days until it expires (1 to 366).
        #[arg(long, default_value_t = account::TOKEN_DAYS)]
        days: i64,
        #[command(flatten)]
        common: ca::config::Settings,
    },
    /// List an account's tokens (never their secrets).
    List {
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        common: ca::config::Settings,
    },
    /// Revoke one of an account's tokens.
    Revoke {
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
        /// The token's id (from `token list`).
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        common: ca::config::Settings,
    },
}

/// Parses the command line and runs it.
pub async fn main() -> ExitCode {
    let cli: Cli = ca::config::parse_hiding_env_values();
    telemetry::init();
    let result = match cli.command {
        Command::Serve(settings) => serve(*settings).await,
        Command::Token { command } => return command_exit(token(command).await),
        Command::User { command } => return command_exit(user_add(command).await),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "badge-server stopped");
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// A one-shot command's exit: its error on stderr and status 1.
fn command_exit(result: Result<(), AppError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// On first start with no CA and no passphrase, creates a development CA whose
/// passphrase is a generated file in the data directory, and says so loudly.
fn ensure_dev_ca(settings: &mut ServerSettings) -> ca::Result<()> {
    let common = &mut settings.common;
    let exists = common.ca_dir.join(authority::files::ISSUING_CERT).exists();
    let configured = common.passphrase()?.is_some() || common.ca_pkcs11.is_some();
    let dev_file = settings_dev_file(common);
    if configured {
        return Ok(());
    }
    if exists {
        if dev_file.exists() {
            tracing::warn!(file = %dev_file.display(), "DEVELOPMENT CA: using the generated passphrase file");
            common.passphrase_file = Some(dev_file);
        }
        return Ok(());
    }
    let rng = SystemRandom::new();
    let random_passphrase = || {
        let mut raw = Zeroizing::new([0u8; 32]);
        rng.fill(raw.as_mut())
            .map_err(|_| ca::Error::Config("no system randomness".into()))?;
        Ok::<_, ca::Error>(Zeroizing::new(hex::encode(raw.as_ref())))
    };
    let passphrase = random_passphrase()?;
    // The root key has its own passphrase; a development CA keeps it beside the other.
    let root_passphrase = random_passphrase()?;
    if let Some(parent) = dev_file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ca::Error::io(parent, e))?;
    }
    ca::signer::write_private_file(&dev_file, passphrase.as_bytes())?;
    ca::signer::write_private_file(
        &dev_file.with_file_name("ca-root-passphrase"),
        root_passphrase.as_bytes(),
    )?;
    let passphrases = authority::KeyPassphrases {
        root: root_passphrase.as_bytes(),
        issuing: Some(passphrase.as_bytes()),
    };
    authority::init(&common.ca_dir, &passphrases, None)?;
    tracing::warn!(
        dir = %common.ca_dir.display(),
        passphrase_file = %dev_file.display(),
        "DEVELOPMENT CA CREATED: not for production. Its keys are protected only by a generated \
         passphrase file next to them. Run `ca init` with a real passphrase for production."
    );
    common.passphrase_file = Some(dev_file);
    Ok(())
}

fn settings_dev_file(common: &ca::config::Settings) -> std::path::PathBuf {
    common
        .ca_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."))
        .join("ca-passphrase")
}

async fn serve(mut settings: ServerSettings) -> ca::Result<()> {
    ensure_dev_ca(&mut settings)?;
    let db = settings.common.database().await?;
    let ca = Arc::new(settings.common.open_ca(db.clone()).await?);
    // A second server with this serial prefix refuses to start (CHENGXIN_CA_INSTANCE).
    ca.claim_serial_prefix().await?;
    let serial_prefix = ca.clone();
    tracing::info!(backend = db.backend(), issuer = ca.slug(), "CA opened");
    jobs::refresh_once(&ca).await?;

    let mut state = AppState::build(&settings, db.clone(), ca)?;
    state.metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| tracing::warn!(error = %e, "metrics disabled"))
        .ok();
    tokio::spawn(
        state
            .seal_cache
            .clone()
            .run_flusher(db.clone(), Duration::from_secs(1)),
    );
    // The hourly CRL/OCSP refresh is a recurring job: one run per hour across replicas.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    jobs::schedule(&db, now)
        .await
        .map_err(|e| ca::Error::Config(format!("cannot schedule the PKI refresh: {e}")))?;
    jobs::schedule_housekeeping(&db, now)
        .await
        .map_err(|e| ca::Error::Config(format!("cannot schedule housekeeping: {e}")))?;
    // SIGTERM stops the HTTP server and the worker, which hands back its jobs.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = if settings.jobs.job_worker_disabled {
        tracing::info!("job worker disabled in this process (CHENGXIN_JOB_WORKER_DISABLED)");
        None
    } else {
        Some(tokio::spawn(queue::worker::run(state.clone(), stopped)))
    };
    let app = router::build(state);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| ca::Error::Config(format!("cannot listen on {}: {e}", settings.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ca::Error::Config(e.to_string()))?;
    tracing::info!(%addr, "listening");
    println!("listening on http://{addr}");
    let limits = crate::http::listen::Limits {
        header_timeout: Duration::from_secs(settings.header_timeout_secs.max(1)),
        max_connections: settings.max_connections,
    };
    crate::http::listen::serve(listener, app, limits, async move {
        shutdown().await;
        let _ = stop.send(true);
    })
    .await;
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    serial_prefix.release_serial_prefix().await?;
    db.close().await;
    Ok(())
}

async fn token(command: TokenCommand) -> Result<(), AppError> {
    /// The account of `email`; 404 when there is none.
    async fn owner(db: &ca::db::Database, email: &str) -> Result<account::Account, AppError> {
        Ok(account::credentials(db, &Email::parse(email)?)
            .await?
            .ok_or(AppError::NotFound)?
            .account)
    }
    match command {
        TokenCommand::Create {
            role,
            email,
            label,
            days,
            common,
        } => {
            let role: Role = role.parse()?;
            let email = Email::parse(&email)?;
            let db = common.database().await?;
            let account = account::ensure(&db, &email, role).await?;
            let token = account::create_token_for(&db, &account, &label, days).await?;
            db.close().await;
            println!(
                "account {} ({}), token expires in {days} days",
                account.email, account.role
            );
            println!("{token}");
        }
        TokenCommand::List { email, common } => {
            let db = common.database().await?;
            let owner = owner(&db, &email).await?;
            for t in account::tokens(&db, &owner).await? {
                let state = match t.revoked_at {
                    Some(_) => "revoked",
                    None if t.expires_at <= time::OffsetDateTime::now_utc().unix_timestamp() => {
                        "expired"
                    }
                    None => "live",
                };
                println!(
                    "{}\t{state}\t{}\texpires {}\t{}",
                    t.id,
                    crate::complaint::date_time(t.created_at),
                    crate::complaint::date_time(t.expires_at),
                    t.label
                );
            }
            db.close().await;
        }
        TokenCommand::Revoke { email, id, common } => {
            let db = common.database().await?;
            let owner = owner(&db, &email).await?;
            account::revoke_token(&db, "cli", &owner, id).await?;
            db.close().await;
            println!("token {id} of {} revoked", owner.email);
        }
    }
    Ok(())
}

async fn user_add(cmd: UserCommand) -> Result<(), AppError> {
    let UserCommand::Add {
        role,
        email,
        password_file,
        common,
    } = cmd;
    let role: Role = role.parse()?;
    let email = Email::parse(&email)?;
    let password = match &password_file {
        Some(path) => {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                AppError::BadRequest(format!("cannot read {}: {e}", path.display()))
            })?);
            let line = Zeroizing::new(text.lines().next().unwrap_or_default().to_string());
            crate::domain::password::check_new(&line, email.as_str())
                .map_err(AppError::BadRequest)?;
            Some(crate::domain::password::hash_blocking(line.to_string()).await?)
        }
        None => None,
    };
    let public_url = common.public_url()?;
    let db = common.database().await?;
    let account = account::upsert_role(&db, &email, role).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut tx = db.begin().await?;
    match &password {
        Some(hash) => {
            account::set_password(&mut tx, account.id, hash).await?;
            account::confirm_email(&mut tx, account.id, now).await?;
        }
        None => account::enqueue_reset(&mut tx, &account, &public_url, now).await?,
    }
    tx.commit().await?;
    let token = account::create_token(&db, &account, "cli").await?;
    db.close().await;
    println!("account {} ({})", account.email, account.role);
    if password.is_some() {
        println!("password set; e-mail address marked confirmed");
    } else {
        println!(
            "a link to set the password was queued for {}",
            account.email
        );
    }
    println!("{token}");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every yes/no setting of every subcommand (a flag with an environment variable)
    /// takes the words `ca::config::boolish` takes, whatever their case, and refuses
    /// others: one parser for all of them, so a new one cannot be left on clap's
    /// true/false-only default.
    #[test]
    fn every_yes_no_setting_takes_1_0_true_false_yes_no_on_off_in_any_case() {
        let root = Cli::command();
        let mut commands = vec![root.clone()];
        let mut checked = Vec::new();
        while let Some(cmd) = commands.pop() {
            commands.extend(cmd.get_subcommands().cloned());
            for arg in cmd.get_arguments() {
                let is_flag = matches!(
                    arg.get_action(),
                    clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
                );
                let Some(env) = arg.get_env().filter(|_| is_flag) else {
                    continue;
                };
                // The same argument and value parser, given the word as a value (what
                // clap does with the environment variable's value).
                let alone = clap::Command::new("t").arg(
                    arg.clone()
                        .action(clap::ArgAction::Set)
                        .env(None::<&str>)
                        .global(false),
                );
                let id = arg.get_id().clone();
                let long = format!("--{}", arg.get_long().unwrap_or_default());
                let parse = |word: &str| {
                    alone
                        .clone()
                        .try_get_matches_from(["t", long.as_str(), word])
                        .ok()
                        .and_then(|m| m.get_one::<bool>(id.as_str()).copied())
                };
                for (words, expected) in [
                    (["1", "true", "yes", "on", "TRUE", "Yes", "ON"], true),
                    (["0", "false", "no", "off", "FALSE", "No", "Off"], false),
                ] {
                    for w in words {
                        assert_eq!(parse(w), Some(expected), "{env:?}={w}");
                    }
                }
                assert_eq!(parse("maybe"), None, "{env:?}");
                checked.push(env.to_string_lossy().into_owned());
            }
        }
        for env in [
            "CHENGXIN_AUTO_APPROVE",
            "CHENGXIN_TRUST_FORWARDED_FOR",
            "CHENGXIN_JOB_WORKER_DISABLED",
        ] {
            assert!(
                checked.iter().any(|c| c == env),
                "{env} not checked: {checked:?}"
            );
        }
    }
}
