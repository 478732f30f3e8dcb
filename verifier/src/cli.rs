//! The `verifier` command line. `main.rs` only calls [`main`].

use std::path::PathBuf;
use std::process::ExitCode;

use ca::identity::{Domain, IcpNumber, Uscc};
use clap::{Parser, Subcommand};

use crate::challenge::{Challenger, Method};
use crate::config::VerifierSettings;
use crate::icp::{self, Applicant};
use crate::recheck::{Rechecker, Scope, Summary};
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
        /// The challenge token. A base64url token begins with `-` one time in 64,
        /// so a value that looks like a flag is still taken as the token.
        #[arg(long, allow_hyphen_values = true)]
        token: String,
    },
    /// Look up the domain's ICP filing (who filed it, under which number), or, given
    /// applicant details, check the filing against them; prints a JSON verdict.
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
    /// Re-verify certified sites: those due, all, or one.
    Recheck {
        /// Only sites with a check or retry due (the scheduled run).
        #[arg(long, conflicts_with_all = ["all", "site"])]
        due: bool,
        /// Every site not yet revoked.
        #[arg(long, conflicts_with = "site")]
        all: bool,
        /// One site (on request, on complaint, by staff).
        #[arg(long)]
        site: Option<String>,
        /// Change site states without holding or revoking certificates (no CA keys here).
        #[arg(long)]
        no_ca: bool,
    },
    /// Validate an ICP dataset (JSONL, JSON array or CSV) and write it as JSONL.
    IcpImport {
        /// Input file.
        input: PathBuf,
        /// Output JSONL file.
        output: PathBuf,
    },
    /// Watch a Chengxin transparency log: verify its new checkpoint against the one
    /// seen last (signature, consistency), check the new entries hash to it, and print
    /// the events for the watched domains and USCCs as JSON lines (a summary line when
    /// nothing is watched). Exit 0 consistent, 1 the log misbehaved, 2 could not check.
    LogMonitor {
        /// The log's base URL (`https://seal.example.cn/log`).
        url: String,
        /// The state file (JSON): the trusted key, the last checkpoint verified, the
        /// watch list. Created by the first run, which needs --vkey.
        #[arg(long)]
        state: PathBuf,
        /// Domains (subdomains match too) and USCCs to watch, comma-separated; kept in
        /// the state file for the next runs.
        #[arg(long, value_delimiter = ',')]
        watch: Option<Vec<String>>,
        /// The log's verifier key (`ca log key` prints it): trusted on the first run.
        #[arg(long)]
        vkey: Option<String>,
        /// Most entries to download and check in this run; the rest wait for the next.
        #[arg(long, default_value_t = crate::monitor::MAX_ENTRIES_PER_RUN,
              value_parser = clap::value_parser!(u64).range(1..=crate::monitor::MAX_ENTRIES_PER_RUN))]
        max_entries: u64,
    },
    /// Validate an ICP dataset and write its on-disk index (for national datasets:
    /// point CHENGXIN_ICP_PROVIDER=file:OUTPUT at it; rows are read from disk).
    IcpIndex {
        /// Input file (JSONL, JSON array or CSV).
        input: PathBuf,
        /// Output index file.
        output: PathBuf,
    },
}

/// Runs the CLI: exit 0 pass, 1 fail or review, 2 error (or bad usage).
pub async fn main() -> ExitCode {
    let cli: Cli = ca::config::parse_hiding_env_values();
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
        Command::Check {
            domain,
            method,
            token,
        } => {
            let domain = Domain::parse(&domain)?;
            let token = Token::parse(&token)?;
            let challenger = Challenger::from_settings(&cli.settings)?;
            match method {
                Some(m) => {
                    challenger
                        .check(m.parse::<Method>()?, &domain, &token)
                        .await
                }
                None => challenger.check_any(&Method::ALL, &domain, &token).await,
            }
        }
        Command::Icp {
            domain,
            org,
            uscc,
            icp: claimed,
        } => {
            let spec = cli.settings.icp_provider.as_deref().ok_or_else(|| {
                Error::Config("set CHENGXIN_ICP_PROVIDER (miit:URL or file:PATH)".into())
            })?;
            let provider = icp::provider_from_spec(spec)?;
            let domain = Domain::parse(&domain)?;
            match org {
                // A bare lookup is a question about the filing, not a comparison.
                None if uscc.is_none() && claimed.is_none() => {
                    icp::lookup(provider.as_ref(), &domain).await
                }
                org => {
                    let applicant = Applicant {
                        organization: org.unwrap_or_default(),
                        uscc: uscc.as_deref().map(Uscc::parse).transpose()?,
                        icp: claimed
                            .as_deref()
                            .map(IcpNumber::parse_website)
                            .transpose()?,
                        domain,
                    };
                    icp::check(provider.as_ref(), &applicant).await
                }
            }
        }
        Command::Recheck {
            due,
            all,
            site,
            no_ca,
        } => {
            let scope = match (due, all, site) {
                (_, _, Some(id)) => Scope::Site(id),
                (_, true, None) => Scope::All,
                (true, false, None) => Scope::Due,
                (false, false, None) => {
                    return Err(Error::Config(
                        "say which sites: --due, --all or --site ID".into(),
                    ));
                }
            };
            let summary = recheck(&cli.common, &cli.settings, scope, no_ca).await?;
            let failed = !summary.failures.is_empty();
            print_json(&summary);
            return Ok(if failed { 2 } else { 0 });
        }
        Command::IcpImport { input, output } => {
            let n = icp::import(&input, &output)?;
            println!("{n} records written to {}", output.display());
            return Ok(0);
        }
        Command::LogMonitor {
            url,
            state,
            watch,
            vkey,
            max_entries,
        } => {
            let opts = crate::monitor::Options {
                url,
                state,
                watch,
                vkey,
                max_entries,
            };
            return match crate::monitor::run(&opts, &mut std::io::stdout().lock()).await {
                Ok(report) => {
                    eprintln!(
                        "{}: {} entries, consistent with {}; entries {}..{} checked ({} left), \
                         {} watched events",
                        report.origin,
                        report.size,
                        report.previous_size,
                        report.entries_from,
                        report.entries_to,
                        report.pending,
                        report.watched_events
                    );
                    Ok(0)
                }
                Err(e @ Error::LogAlert(_)) => {
                    eprintln!("{e}");
                    Ok(1)
                }
                Err(e) => Err(e),
            };
        }
        Command::IcpIndex { input, output } => {
            let n = icp::index::build(&input, &output)?;
            println!("{n} records indexed in {}", output.display());
            return Ok(0);
        }
    };
    if !cli.no_record {
        record(&cli.common, &outcome).await?;
    }
    print_json(&outcome);
    Ok(outcome.verdict.exit_code())
}

/// Prints JSON to standard output; a closed pipe (`| head`) is not an error.
fn print_json(value: &impl serde::Serialize) {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let _ = writeln!(std::io::stdout(), "{text}");
}

async fn recheck(
    common: &ca::config::Settings,
    settings: &VerifierSettings,
    scope: Scope,
    no_ca: bool,
) -> Result<Summary> {
    let db = common.database().await?;
    let ca = if no_ca {
        None
    } else {
        Some(std::sync::Arc::new(common.open_ca(db.clone()).await?))
    };
    let icp = match settings.icp_provider.as_deref() {
        Some(spec) => Some(std::sync::Arc::from(icp::provider_from_spec(spec)?)),
        None => {
            tracing::warn!("no CHENGXIN_ICP_PROVIDER: only domain control is re-checked");
            None
        }
    };
    let rechecker = Rechecker {
        db: db.clone(),
        challenger: Challenger::from_settings(settings)?,
        icp,
        ca,
        policy: settings.policy(),
        concurrency: settings.recheck_concurrency,
    };
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sites {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let summary = rechecker
        .run(scope, crate::verdict::now(), &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .await?;
    bar.finish_and_clear();
    // The certificates it held, released or revoked marked their CRL shards; like
    // `ca revoke`, this command has no job runner, so it publishes them itself.
    if let Some(ca) = &rechecker.ca
        && summary.suspended + summary.revoked + summary.released > 0
    {
        ca.publish_dirty_crls("verifier").await?;
    }
    db.close().await;
    Ok(summary)
}

async fn record(common: &ca::config::Settings, outcome: &Outcome) -> Result<()> {
    let db = common.database().await?;
    store::record(&db, &Subject::default(), &outcome.evidence).await?;
    db.close().await;
    Ok(())
}
