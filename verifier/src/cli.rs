//! The `verifier` command line. `main.rs` only calls [`main`].

use std::path::PathBuf;
use std::process::ExitCode;

use ca::identity::{Domain, IcpNumber, Uscc};
use clap::{Parser, Subcommand};

use crate::challenge::{Challenger, Method};
use crate::config::VerifierSettings;
use crate::icp::{self, Applicant};
use crate::store::{self, Subject};
use crate::token::Token;
use crate::verdict::Outcome;
use crate::{Error, Result};

/// Chengxin verifier.
#[derive(Parser, Debug)]
#[command(name = "verifier", version, about)]
pub struct Cli {
    #[command(flatten)]
    common: ca::config::Settings,
    #[command(flatten)]
    settings: VerifierSettings,
    /// Do not store the evidence in the database.
    #[arg(long, global = true)]
    no_record: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check domain control; prints a JSON verdict, exits 0 pass / 1 fail / 2 error.
    Check {
        /// The domain.
        domain: String,
        /// dns-txt, http-file or html-meta (default: try all, first pass counts).
        #[arg(long)]
        method: Option<String>,
        /// The challenge token.
        #[arg(long)]
        token: String,
    },
    /// Check the domain's ICP filing against an applicant; prints a JSON verdict.
    Icp {
        /// The domain.
        domain: String,
        /// Applicant organization, as on its business licence.
        #[arg(long)]
        org: Option<String>,
        /// Applicant unified social credit code.
        #[arg(long)]
        uscc: Option<String>,
        /// The ICP number the applicant claims.
        #[arg(long)]
        icp: Option<String>,
    },
    /// Validate an ICP dataset (JSONL, JSON array or CSV) and write it as JSONL.
    IcpImport {
        /// Input file.
        input: PathBuf,
        /// Output JSONL file.
        output: PathBuf,
    },
}

/// Runs the CLI: exit 0 pass, 1 fail or review, 2 error (or bad usage).
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<u8> {
    let outcome = match cli.command {
        Command::Check { domain, method, token } => {
            let domain = Domain::parse(&domain)?;
            let token = Token::parse(&token)?;
            let challenger = Challenger::from_settings(&cli.settings)?;
            match method {
                Some(m) => challenger.check(m.parse::<Method>()?, &domain, &token).await,
                None => challenger.check_any(&Method::ALL, &domain, &token).await,
            }
        }
        Command::Icp { domain, org, uscc, icp: claimed } => {
            let spec = cli
                .settings
                .icp_provider
                .as_deref()
                .ok_or_else(|| Error::Config("set CHENGXIN_ICP_PROVIDER (miit:URL or file:PATH)".into()))?;
            let provider = icp::provider_from_spec(spec)?;
            let applicant = Applicant {
                organization: org.unwrap_or_default(),
                uscc: uscc.as_deref().map(Uscc::parse).transpose()?,
                icp: claimed.as_deref().map(IcpNumber::parse_website).transpose()?,
                domain: Domain::parse(&domain)?,
            };
            icp::check(provider.as_ref(), &applicant).await
        }
        Command::IcpImport { input, output } => {
            let n = icp::import(&input, &output)?;
            println!("{n} records written to {}", output.display());
            return Ok(0);
        }
    };
    if !cli.no_record {
        record(&cli.common, &outcome).await?;
    }
    println!("{}", serde_json::to_string_pretty(&outcome).unwrap_or_default());
    Ok(outcome.verdict.exit_code())
}

async fn record(common: &ca::config::Settings, outcome: &Outcome) -> Result<()> {
    let db = common.database().await?;
    store::record(&db, &Subject::default(), &outcome.evidence).await?;
    db.close().await;
    Ok(())
}
