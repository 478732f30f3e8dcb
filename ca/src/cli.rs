//! The `ca` command line. `main.rs` only calls [`main`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::certificate::KeySource;
use crate::config::Settings;
use crate::pkcs11::Pkcs11Signer;
use crate::profile::{SiteIdentity, SubjectPublicKey};
use crate::signer::{KeyAlgorithm, Signer, write_file_atomically, write_private_file};
use crate::{Error, Result, RevocationReason, Serial, audit, authority};

/// Chengxin certificate authority.
#[derive(Parser, Debug)]
#[command(name = "ca", version, about)]
pub struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the root and issuing CA in the CA directory.
    Init,
    /// Issue a one-year site identity certificate.
    Issue {
        /// A certified domain; repeat for more (the first is the primary).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        /// Organization name, as on the business licence.
        #[arg(long)]
        org: String,
        /// Unified social credit code.
        #[arg(long)]
        uscc: String,
        /// Website ICP filing number (…号-N).
        #[arg(long)]
        icp: String,
        /// Province.
        #[arg(long)]
        province: String,
        /// City.
        #[arg(long)]
        city: String,
        /// The operator's PKCS#10 request (PEM or DER); without it a key pair is generated.
        #[arg(long)]
        csr: Option<PathBuf>,
        /// Where to write the certificate (PEM).
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke, hold (certificateHold) or release (removeFromCRL) a certificate, or
    /// revoke many (`--serials-file`); then publish the CRLs of the shards that changed.
    Revoke {
        /// Serial number in hexadecimal.
        #[arg(
            long,
            required_unless_present = "serials_file",
            conflicts_with = "serials_file"
        )]
        serial: Option<String>,
        /// A file of serial numbers in hexadecimal, one a line (blank lines and
        /// `#` comments are skipped), all revoked for `--reason`, 100 to a
        /// transaction. Any bad or unknown serial is refused, naming its line, before
        /// anything is revoked; serials already revoked are skipped, so the command
        /// can be run again after an interruption.
        #[arg(long)]
        serials_file: Option<PathBuf>,
        /// RFC 5280 reason name.
        #[arg(long)]
        reason: String,
    },
    /// Block a key proven compromised by its private key, and revoke every live
    /// certificate with it for keyCompromise.
    RevokeKey {
        /// The compromised private key (PKCS#8 PEM), as proof.
        #[arg(long)]
        key: PathBuf,
    },
    /// Bring in a new issuing CA signed by the root (its key brought online); the
    /// old one is kept for its certificates' CRLs and OCSP until the last expires.
    RotateIssuing {
        /// The root key (encrypted PKCS#8 PEM), brought back online for this.
        #[arg(long)]
        root_key: Option<PathBuf>,
    },
    /// Publish a new CRL for one shard and write it (DER).
    Crl {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// The CRL shard (`/crl/{issuer}/{shard}.crl`, what a certificate's CRL
        /// distribution point names), or `legacy` for the certificates issued before
        /// CRLs were sharded (`/crl/{issuer}.crl`).
        #[arg(long, default_value = "0", value_parser = parse_shard)]
        shard: i64,
        /// The issuing CA (its URL slug) whose CRL: by default the current one; a
        /// retired one still answering for its certificates can be named.
        #[arg(long)]
        issuer: Option<String>,
    },
    /// Check a certificate: chain signature, validity and revocation status.
    Verify {
        /// The certificate (PEM or DER).
        #[arg(long)]
        cert: PathBuf,
    },
    /// Re-sign OCSP responses that expire soon.
    OcspRefresh,
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The transparency log.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
}

#[derive(Subcommand, Debug)]
enum LogCommand {
    /// Print the log's verifier key (C2SP signed-note form, `name+id+key`).
    Key,
    /// Recompute every tile and root from the entries, check every checkpoint's
    /// signature and consistency with the one before, and that every certificate
    /// and revocation has its entries; exit 1 with the first discrepancy.
    Verify {
        /// A checkpoint kept from before (a signed note file), checked against the log.
        #[arg(long)]
        from: Option<PathBuf>,
        /// The log's verifier key (default: the key in the CA directory).
        #[arg(long)]
        vkey: Option<String>,
    },
    /// Hash the entries appended since the last checkpoint and sign a new one now
    /// (`badge-server` does this every `CHENGXIN_LOG_CHECKPOINT_SECS`).
    Checkpoint,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Recompute the hash chain and report the first break.
    Verify,
}

/// Runs the CLI and maps errors to exit codes: 1 for bad input, 2 for failures.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if e.is_input_error() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

const ACTOR: &str = "ca-cli";

async fn log_command(s: &Settings, command: LogCommand) -> Result<()> {
    match command {
        LogCommand::Key => println!("{}", s.log_signer()?.verifier_key()),
        LogCommand::Verify { from, vkey } => {
            let vkey = match vkey {
                Some(v) => v,
                None => s.log_signer()?.verifier_key(),
            };
            let from = match &from {
                Some(p) => Some(std::fs::read(p).map_err(|e| Error::io(p, e))?),
                None => None,
            };
            let db = s.database().await?;
            let report = crate::transparency::verify(&db, &vkey, from.as_deref()).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        LogCommand::Checkpoint => {
            let db = s.database().await?;
            let signer = s.log_signer()?;
            crate::transparency::backfill(&db).await?;
            match signer.integrate(&db).await? {
                Some(c) => {
                    crate::store::log::publish_checkpoint(
                        &db,
                        c.size as i64,
                        &c.note,
                        time::OffsetDateTime::now_utc().unix_timestamp(),
                    )
                    .await?;
                    print!("{}", c.note);
                }
                None => println!("no new entries"),
            }
        }
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let s = cli.settings;
    match cli.command {
        Command::Init => {
            // Everything that can refuse is asked before anything is created: the
            // passphrases, the directory, then the database (connected, migrated and
            // written to), so that a refusal leaves no key, file or token object.
            let root = s.root_passphrase()?.ok_or(Error::MissingRootPassphrase)?;
            let issuing = s.passphrase()?;
            let pkcs11 = s.pkcs11()?;
            if issuing.is_none() && pkcs11.is_none() {
                return Err(Error::MissingPassphrase);
            }
            let passphrases = authority::KeyPassphrases {
                root: &root,
                issuing: issuing.as_deref().map(Vec::as_slice),
            };
            passphrases.check()?;
            authority::refuse_existing(&s.ca_dir)?;
            let db = s.database().await?;
            db.check_writable().await?;
            let hsm: Option<Arc<dyn Signer>> = match pkcs11 {
                Some(p) => Some(Arc::new(Pkcs11Signer::generate(
                    &p,
                    KeyAlgorithm::EcdsaP256,
                )?)),
                None => None,
            };
            let report = authority::init(&s.ca_dir, &passphrases, hsm.as_deref())?;
            let recorded = async {
                let ca = s.open_ca(db.clone()).await?;
                let mut tx = db.begin().await?;
                for (key, key_id, algorithm) in [
                    ("root", &report.root_key_id, "ECDSA P-384"),
                    ("issuing", &report.issuing_key_id, "ECDSA P-256"),
                ] {
                    let in_token = key == "issuing" && hsm.is_some();
                    audit::append(
                        &mut tx,
                        ACTOR,
                        "ca.key.generate",
                        key_id,
                        &json!({ "key": key, "algorithm": algorithm, "hsm": in_token }),
                    )
                    .await?;
                }
                audit::append(
                    &mut tx,
                    ACTOR,
                    "ca.init",
                    ca.slug(),
                    &json!({
                        "dir": report.dir,
                        "hsm": hsm.is_some(),
                        "root_key_id": report.root_key_id,
                        "issuing_key_id": report.issuing_key_id,
                    }),
                )
                .await?;
                // Shard 0 is where the first certificates go.
                ca.publish_crl_in(&mut tx, 0).await?;
                tx.commit().await?;
                Ok::<_, Error>(ca)
            }
            .await;
            // Keys nobody recorded must not stand in the way of the next `ca init`.
            let ca = recorded.inspect_err(|_| report.undo())?;
            println!("created root and issuing CA in {}", report.dir.display());
            println!("issuer: {}", ca.slug());
            println!(
                "move {} offline",
                report.dir.join(authority::files::ROOT_KEY).display()
            );
        }
        Command::Issue {
            domains,
            org,
            uscc,
            icp,
            province,
            city,
            csr,
            out,
        } => {
            let identity = SiteIdentity::parse(&org, &uscc, &icp, &province, &city, &domains)?;
            let csr = csr.map(|path| read_csr(&path)).transpose()?;
            let key_out = key_path_for(&out);
            if csr.is_none() && key_out.exists() {
                return Err(Error::Config(format!(
                    "{} exists; refusing to overwrite a key",
                    key_out.display()
                )));
            }
            let ca = s.open_ca(s.database().await?).await?;
            ca.check_issuer_outlives(time::OffsetDateTime::now_utc())?;
            ca.claim_serial_prefix().await?;
            // A generated key is in its file (whole, 0600) before the certificate is
            // on record: a crash after the commit must not lose it.
            let generated = csr.is_none();
            let key = match csr {
                Some(k) => KeySource::Csr(k),
                None => {
                    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
                    let pem = zeroize::Zeroizing::new(kp.serialize_pem());
                    write_private_file(&key_out, pem.as_bytes())?;
                    println!(
                        "key: {} (generated; not stored by the CA)",
                        key_out.display()
                    );
                    crate::crash_point("after-key");
                    KeySource::Generated(SubjectPublicKey::from_key_pair(&kp))
                }
            };
            // A refused request stored nothing, so its key goes; after any other
            // failure the certificate may be on record, so the key stays.
            let issued = ca.issue(&identity, key, ACTOR).await.inspect_err(|e| {
                if generated && e.is_input_error() {
                    let _ = std::fs::remove_file(&key_out);
                } else if generated {
                    eprintln!(
                        "note: the key generated for this request stays in {}; \
                         if no certificate was issued, remove it before trying again",
                        key_out.display()
                    );
                }
            })?;
            crate::crash_point("after-commit");
            ca.release_serial_prefix().await?;
            write_file_atomically(&out, issued.pem.as_bytes(), 0o644, true)?;
            println!("serial: {}", issued.serial);
            println!("sha256: {}", hex::encode(&issued.sha256));
            println!("not_after: {}", issued.not_after);
            println!("certificate: {}", out.display());
        }
        Command::Revoke {
            serial,
            serials_file,
            reason,
        } => {
            let reason: RevocationReason = reason.parse()?;
            match (serial, serials_file) {
                (Some(serial), _) => {
                    let serial = Serial::parse_hex(&serial)?;
                    let ca = s.open_ca(s.database().await?).await?;
                    let r = ca.revoke(&serial, reason, ACTOR).await?;
                    println!("{} {} (CRL shard {})", r.serial, r.reason, r.crl_shard);
                    for other in &r.also_revoked {
                        println!("{other} {} (same key)", r.reason);
                    }
                    publish_dirty(&ca).await?;
                }
                (None, Some(file)) => {
                    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
                    let lines = parse_serials(&text)?;
                    let ca = s.open_ca(s.database().await?).await?;
                    let serials: Vec<Serial> = lines.iter().map(|(_, s)| s.clone()).collect();
                    let done =
                        ca.revoke_many(&serials, reason, ACTOR)
                            .await
                            .map_err(|e| match e {
                                Error::UnknownCertificate(hex) => {
                                    let line = lines
                                        .iter()
                                        .find(|(_, s)| s.to_hex() == hex)
                                        .map_or(0, |(n, _)| *n);
                                    Error::InvalidField {
                                        field: "serials file",
                                        reason: format!(
                                            "line {line}: no certificate with serial {hex}"
                                        ),
                                    }
                                }
                                other => other,
                            })?;
                    for r in &done.revoked {
                        for other in &r.also_revoked {
                            println!("{other} {} (same key as {})", r.reason, r.serial);
                        }
                    }
                    for serial in &done.already_revoked {
                        println!("{serial} already revoked, skipped");
                    }
                    print_published(&ca, &done.published);
                    println!(
                        "{} certificates revoked ({reason}), {} already revoked",
                        done.revoked.len(),
                        done.already_revoked.len()
                    );
                    publish_dirty(&ca).await?;
                }
                (None, None) => {
                    return Err(Error::Config("give --serial or --serials-file".into()));
                }
            }
        }
        Command::RevokeKey { key } => {
            let pem = zeroize::Zeroizing::new(
                std::fs::read_to_string(&key).map_err(|e| Error::io(&key, e))?,
            );
            let ca = s.open_ca(s.database().await?).await?;
            let r = ca.revoke_key(&pem, ACTOR).await?;
            for serial in &r.revoked {
                println!("{serial} keyCompromise");
            }
            println!("key blocked; {} certificates revoked", r.revoked.len());
            publish_dirty(&ca).await?;
        }
        Command::RotateIssuing { root_key } => {
            if s.pkcs11()?.is_some() {
                return Err(Error::Config(
                    "rotate-issuing makes a key file; with CHENGXIN_CA_PKCS11 set the issuing \
                     key is in a token"
                        .into(),
                ));
            }
            // The root key opens with its own passphrase; the new issuing key is
            // encrypted with the issuing one.
            let passphrase = s.passphrase()?.ok_or(Error::MissingPassphrase)?;
            let root_passphrase = s.root_passphrase()?.ok_or(Error::MissingPassphrase)?;
            let root_key = root_key.unwrap_or_else(|| s.ca_dir.join(authority::files::ROOT_KEY));
            let db = s.database().await?;
            let report =
                authority::rotate_issuing(&s.ca_dir, &root_key, &root_passphrase, &passphrase)?;
            let ca = s.open_ca(db.clone()).await?;
            let mut tx = db.begin().await?;
            audit::append(
                &mut tx,
                ACTOR,
                "ca.rotate-issuing",
                ca.slug(),
                &json!({ "retired": report.retired_slug, "not_after": report.not_after }),
            )
            .await?;
            ca.publish_crl_in(&mut tx, 0).await?;
            tx.commit().await?;
            println!("new issuing CA: {}", ca.slug());
            println!(
                "retired issuing CA: {} (kept for its certificates' CRLs and OCSP)",
                report.retired_slug
            );
            println!("move {} offline again", root_key.display());
        }
        Command::Crl { out, shard, issuer } => {
            let ca = s.open_ca(s.database().await?).await?;
            let ca = match &issuer {
                Some(slug) => ca.issuer_by_slug(slug).ok_or_else(|| {
                    Error::Config(format!("no issuing CA {slug} with unexpired certificates"))
                })?,
                None => &ca,
            };
            let crl = ca.publish_crl(shard, ACTOR).await?;
            write_file_atomically(&out, &crl.der, 0o644, true)?;
            println!(
                "CRL {} of {} with {} entries: {}",
                crl.number,
                ca.urls().crl_shard(shard),
                crl.entries,
                out.display()
            );
        }
        Command::Verify { cert } => {
            let ca = s.open_ca(s.database().await?).await?;
            let bytes = std::fs::read(&cert).map_err(|e| Error::io(&cert, e))?;
            let report = ca.check_certificate(&bytes).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            if !report.valid {
                return Err(Error::CertificateInvalid(report.problems.join("; ")));
            }
        }
        Command::Log { command } => log_command(&s, command).await?,
        Command::OcspRefresh => {
            let ca = s.open_ca(s.database().await?).await?;
            let n = ca.refresh_ocsp(100_000).await?;
            println!("refreshed {n} OCSP responses");
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let db = s.database().await?;
            let n = audit::verify(&db).await?;
            println!("audit log intact: {n} entries");
        }
    }
    Ok(())
}

/// Publishes the CRLs of the shards a revocation marked: the `ca` command has no
/// job runner, so it does what the server's `crl.publish` job does, once, at its end.
async fn publish_dirty(ca: &authority::Ca) -> Result<()> {
    print_published(ca, &ca.publish_dirty_crls(ACTOR).await?);
    Ok(())
}

/// One line per CRL published: its number, its URL and how many it lists.
fn print_published(ca: &authority::Ca, published: &[crate::crl::ShardCrl]) {
    for p in published {
        println!(
            "CRL {} of {} with {} entries",
            p.crl.number,
            ca.issuer_by_slug(&p.issuer)
                .map_or_else(|| p.issuer.clone(), |i| i.urls().crl_shard(p.shard)),
            p.crl.entries
        );
    }
}

/// The serials of a `--serials-file` with their line numbers: hexadecimal, one a
/// line; blank lines and `#` comments skipped. The first bad line fails the whole
/// file, naming the line.
fn parse_serials(text: &str) -> Result<Vec<(usize, Serial)>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let serial = Serial::parse_hex(line).map_err(|e| Error::InvalidField {
            field: "serials file",
            reason: format!("line {}: {e}", i + 1),
        })?;
        out.push((i + 1, serial));
    }
    if out.is_empty() {
        return Err(Error::InvalidField {
            field: "serials file",
            reason: "no serial in it".into(),
        });
    }
    Ok(out)
}

/// `--shard`: a shard number, or `legacy`.
fn parse_shard(s: &str) -> std::result::Result<i64, String> {
    if s == "legacy" {
        return Ok(crate::crl::LEGACY_SHARD);
    }
    s.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("{s:?} is neither a shard number nor `legacy`"))
}

fn read_csr(path: &Path) -> Result<SubjectPublicKey> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => SubjectPublicKey::from_csr_pem(text),
        _ => SubjectPublicKey::from_csr_der(&bytes),
    }
}

/// `cert.pem` → `cert.key.pem`; anything else gets `.key` appended.
fn key_path_for(out: &Path) -> PathBuf {
    match out.to_str().and_then(|s| s.strip_suffix(".pem")) {
        Some(stem) => PathBuf::from(format!("{stem}.key.pem")),
        None => PathBuf::from(format!("{}.key", out.display())),
    }
}
