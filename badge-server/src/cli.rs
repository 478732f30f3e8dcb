//! The `badge-server` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zeroize::Zeroizing;

use crate::config::ServerSettings;
use crate::domain::account::{self, Email, Role};
use crate::error::AppError;
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
    /// Members of the alliance.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// The anti-fraud work report.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ReportCommand {
    /// Build and publish the report of a month (2026-11) or quarter (2026-Q4) that has
    /// ended; a published one is recomputed and must come out the same. Prints the
    /// figures as JSON, then `published` or `unchanged` on the last line.
    Build {
        /// The period: YYYY-MM or YYYY-Qn.
        #[arg(long)]
        period: String,
        /// Chromium, which prints the PDF (default: /usr/bin/chromium when installed).
        #[arg(long, env = "CHENGXIN_CHROMIUM")]
        chromium: Option<std::path::PathBuf>,
        #[command(flatten)]
        common: ca::config::Settings,
    },
}

#[derive(Subcommand, Debug)]
enum MemberCommand {
    /// Add a member organization; prints its id (m_…) on the last line. Give its
    /// staff accounts with `user add --role member --member ID`.
    Add {
        /// The organization's registered name.
        #[arg(long)]
        name: String,
        /// Its unified social credit code.
        #[arg(long)]
        uscc: String,
        /// Address of its trust-and-safety team.
        #[arg(long)]
        contact: Option<String>,
        #[command(flatten)]
        common: ca::config::Settings,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create the account, or give an existing one this role. With --password-file,
    /// set its password and mark the address confirmed; without, mail it a link to set
    /// one. Prints a new API token for the account on the last line.
    Add {
        /// user, operator, staff, admin or member.
        #[arg(long)]
        role: String,
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
        /// The member (m_…) a `member` account acts for.
        #[arg(long)]
        member: Option<String>,
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
        Command::Serve(settings) => crate::app::serve(*settings).await,
        Command::Token { command } => return command_exit(token(command).await),
        Command::User { command } => return command_exit(user_add(command).await),
        Command::Member { command } => return command_exit(member(command).await),
        Command::Report { command } => return command_exit(report(command).await),
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

async fn report(command: ReportCommand) -> Result<(), AppError> {
    let ReportCommand::Build {
        period,
        chromium,
        common,
    } = command;
    let period = crate::domain::report::Period::parse(&period)
        .map_err(|e| AppError::Invalid(vec![("period".into(), e)]))?;
    let db = common.database().await?;
    let chromium = crate::service::reports::find_chromium(chromium.as_deref());
    let built = crate::service::reports::build(
        &db,
        chromium.as_deref(),
        period,
        crate::domain::clock::now(),
        "cli",
    )
    .await;
    db.close().await;
    let built = built?;
    print!("{}", String::from_utf8_lossy(&built.figures.to_bytes()));
    if let Some(problem) = &built.pdf_problem {
        eprintln!("warning: {problem}");
    }
    println!(
        "{} {period}{}",
        match built.outcome {
            crate::service::reports::Outcome::Published => "published",
            crate::service::reports::Outcome::Unchanged => "unchanged",
        },
        if built.has_pdf {
            " (HTML, PDF, JSON, CSV)"
        } else {
            " (HTML, JSON, CSV; no PDF)"
        }
    );
    Ok(())
}

async fn token(command: TokenCommand) -> Result<(), AppError> {
    /// The account of `email`; 404 when there is none.
    async fn owner(db: &ca::db::Database, email: &str) -> Result<account::Account, AppError> {
        Ok(
            crate::store::accounts::credentials(db, &Email::parse(email)?)
                .await?
                .ok_or(AppError::NotFound)?
                .account,
        )
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
            let account = crate::store::accounts::ensure(&db, &email, role).await?;
            let token =
                crate::store::accounts::create_token_for(&db, &account, &label, days).await?;
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
            for t in crate::store::accounts::tokens(&db, &owner).await? {
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
                    crate::domain::clock::date_time(t.created_at),
                    crate::domain::clock::date_time(t.expires_at),
                    t.label
                );
            }
            db.close().await;
        }
        TokenCommand::Revoke { email, id, common } => {
            let db = common.database().await?;
            let owner = owner(&db, &email).await?;
            crate::store::accounts::revoke_token(&db, "cli", &owner, id).await?;
            db.close().await;
            println!("token {id} of {} revoked", owner.email);
        }
    }
    Ok(())
}

async fn member(cmd: MemberCommand) -> Result<(), AppError> {
    let MemberCommand::Add {
        name,
        uscc,
        contact,
        common,
    } = cmd;
    let new = crate::domain::member::NewMember {
        name: &name,
        uscc: &uscc,
        contact: contact.as_deref(),
    };
    let db = common.database().await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let member = crate::service::members::add(&db, "cli", &new, now).await?;
    db.close().await;
    println!("member {} ({})", member.name, member.uscc);
    println!("{}", member.id);
    Ok(())
}

async fn user_add(cmd: UserCommand) -> Result<(), AppError> {
    let UserCommand::Add {
        role,
        email,
        member,
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
    let account = match (role, member) {
        (Role::Member, Some(member)) => {
            crate::store::accounts::upsert_member(&db, &email, &member).await?
        }
        (Role::Member, None) => {
            return Err(AppError::BadRequest(
                "the member role needs --member ID (from `member add`)".into(),
            ));
        }
        (_, Some(_)) => {
            return Err(AppError::BadRequest(
                "--member is for the member role only".into(),
            ));
        }
        (role, None) => crate::store::accounts::upsert_role(&db, &email, role).await?,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut tx = db.begin().await?;
    match &password {
        Some(hash) => {
            crate::store::accounts::set_password(&mut tx, account.id, hash).await?;
            crate::store::accounts::confirm_email(&mut tx, account.id, now).await?;
        }
        None => {
            crate::service::accounts::enqueue_reset(&mut tx, &account, &public_url, now).await?
        }
    }
    tx.commit().await?;
    let token = crate::store::accounts::create_token(&db, &account, "cli").await?;
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
