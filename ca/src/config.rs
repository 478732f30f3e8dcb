//! Settings shared by every binary: one database, one CA directory, one public URL.
//! Each is a flag and a `CHENGXIN_*` environment variable, as design §7 lists them.

use std::path::PathBuf;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::authority::{Ca, CaConfig, read_passphrase_file};
use crate::db::Database;
use crate::pkcs11::{Pkcs11Config, Pkcs11Signer};
use crate::signer::Signer;
use crate::{Error, Result};

/// The words every yes/no setting of the three binaries takes, in any case: `1`,
/// `true`, `yes`, `on` and `0`, `false`, `no`, `off`. The README wrote
/// `CHENGXIN_AUTO_APPROVE=1`, which clap's own parser (true/false only) refused.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The clap value parser of every yes/no setting (`value_parser = ca::config::boolish`):
/// [`parse_bool`]'s words, from the environment or the command line.
pub fn boolish(s: &str) -> std::result::Result<bool, String> {
    parse_bool(s)
        .ok_or_else(|| format!("{s:?} is not yes or no: use 1/0, true/false, yes/no or on/off"))
}

/// Parses the command line of `P` with no environment value shown in `--help`: clap
/// prints `[env: NAME=value]`, and values such as the database or SMTP URL carry
/// passwords, which then reached terminals, logs and bug reports.
pub fn parse_hiding_env_values<P: clap::Parser>() -> P {
    fn hide(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|a| a.hide_env_values(true))
            .mut_subcommands(hide)
    }
    let matches = hide(P::command()).get_matches();
    P::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Where the shared state lives.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    /// Database: `sqlite://path` (default) or `postgres://…`.
    #[arg(
        long,
        env = "CHENGXIN_DATABASE_URL",
        default_value = "sqlite://./data/chengxin.db",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,
    /// Public base URL that seals, CRL, OCSP and AIA URLs point at.
    #[arg(
        long,
        env = "CHENGXIN_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub public_url: String,
    /// The CA directory (certificates and encrypted keys).
    #[arg(
        long = "dir",
        env = "CHENGXIN_CA_DIR",
        default_value = "./data/ca",
        global = true
    )]
    pub ca_dir: PathBuf,
    /// File holding the issuing key passphrase (else `CHENGXIN_CA_PASSPHRASE`).
    #[arg(long, env = "CHENGXIN_CA_PASSPHRASE_FILE", global = true)]
    pub passphrase_file: Option<PathBuf>,
    /// File holding the root key passphrase, which differs from the issuing key's
    /// (else `CHENGXIN_CA_ROOT_PASSPHRASE`). Only `ca init` reads it: the root key
    /// stays offline.
    #[arg(long, env = "CHENGXIN_CA_ROOT_PASSPHRASE_FILE", global = true)]
    pub root_passphrase_file: Option<PathBuf>,
    /// Serial-number prefix of this CA instance (1–127).
    #[arg(long, env = "CHENGXIN_CA_INSTANCE", default_value_t = 1, global = true)]
    pub ca_instance: u8,
    /// Issuing key in a PKCS#11 token: `module=PATH;token=LABEL;key=LABEL` (PIN in
    /// `CHENGXIN_CA_PKCS11_PIN`).
    #[arg(long, env = "CHENGXIN_CA_PKCS11", global = true)]
    pub ca_pkcs11: Option<String>,
    /// The transparency log's origin, the first line of its checkpoints and the name
    /// of its key (default: the public URL's host and port, then `/log`).
    #[arg(long, env = "CHENGXIN_LOG_ORIGIN", global = true)]
    pub log_origin: Option<String>,
}

/// A passphrase from `file` when given, else from the environment variable `var`.
fn passphrase_from(
    file: Option<&std::path::Path>,
    var: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    if let Some(path) = file {
        return read_passphrase_file(path).map(Some);
    }
    Ok(std::env::var(var)
        .ok()
        .filter(|p| !p.is_empty())
        .map(|p| Zeroizing::new(p.into_bytes())))
}

impl Settings {
    /// The issuing key passphrase: `--passphrase-file` if given, else
    /// `CHENGXIN_CA_PASSPHRASE`.
    pub fn passphrase(&self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        passphrase_from(self.passphrase_file.as_deref(), "CHENGXIN_CA_PASSPHRASE")
    }

    /// The root key passphrase: `--root-passphrase-file` if given, else
    /// `CHENGXIN_CA_ROOT_PASSPHRASE`.
    pub fn root_passphrase(&self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        passphrase_from(
            self.root_passphrase_file.as_deref(),
            "CHENGXIN_CA_ROOT_PASSPHRASE",
        )
    }

    /// The public URL without a trailing slash, checked to be http(s).
    pub fn public_url(&self) -> Result<String> {
        let url = self.public_url.trim().trim_end_matches('/');
        let parsed = url::Url::parse(url)
            .map_err(|e| Error::Config(format!("CHENGXIN_PUBLIC_URL {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Error::Config(format!(
                "CHENGXIN_PUBLIC_URL {url:?} must be an http(s) URL"
            )));
        }
        Ok(url.to_string())
    }

    /// The HSM location, when the issuing key is in a token.
    pub fn pkcs11(&self) -> Result<Option<Pkcs11Config>> {
        let Some(spec) = &self.ca_pkcs11 else {
            return Ok(None);
        };
        let mut module = None;
        let mut token = None;
        let mut key = None;
        for part in spec.split(';').filter(|p| !p.trim().is_empty()) {
            match part.split_once('=') {
                Some(("module", v)) => module = Some(PathBuf::from(v.trim())),
                Some(("token", v)) => token = Some(v.trim().to_string()),
                Some(("key", v)) => key = Some(v.trim().to_string()),
                _ => {
                    return Err(Error::Config(format!(
                        "CHENGXIN_CA_PKCS11: cannot read {part:?}"
                    )));
                }
            }
        }
        let pin = std::env::var("CHENGXIN_CA_PKCS11_PIN")
            .map_err(|_| Error::Config("CHENGXIN_CA_PKCS11 needs CHENGXIN_CA_PKCS11_PIN".into()))?;
        match (module, token, key) {
            (Some(module), Some(token_label), Some(key_label)) => Ok(Some(Pkcs11Config {
                module,
                token_label,
                pin,
                key_label,
            })),
            _ => Err(Error::Config(
                "CHENGXIN_CA_PKCS11 needs module=, token= and key=".into(),
            )),
        }
    }

    /// The CA as configured.
    pub fn ca_config(&self) -> Result<CaConfig> {
        Ok(CaConfig {
            dir: self.ca_dir.clone(),
            public_url: self.public_url()?,
            instance: self.ca_instance,
        })
    }

    /// The transparency log's origin: `--log-origin` or the default from the public URL.
    pub fn log_origin(&self) -> Result<String> {
        match self.log_origin.as_deref().map(str::trim) {
            Some(o) if !o.is_empty() => Ok(o.to_owned()),
            _ => crate::transparency::default_origin(&self.public_url()?),
        }
    }

    /// The transparency log's checkpoint signer: its key in the CA directory,
    /// encrypted with the issuing key's passphrase (created on first use).
    pub fn log_signer(&self) -> Result<crate::transparency::LogSigner> {
        let passphrase = self.passphrase()?.ok_or_else(|| {
            Error::Config(
                "the transparency log key is encrypted with the issuing key's passphrase: \
                 set CHENGXIN_CA_PASSPHRASE (or --passphrase-file)"
                    .into(),
            )
        })?;
        crate::transparency::LogSigner::open(&self.ca_dir, &passphrase, &self.log_origin()?)
    }

    /// Connects to the database (running migrations).
    pub async fn database(&self) -> Result<Database> {
        Ok(Database::connect(&self.database_url).await?)
    }

    /// Opens the online CA: from the token when configured, else from the encrypted
    /// issuing key file.
    pub async fn open_ca(&self, db: Database) -> Result<Ca> {
        let config = self.ca_config()?;
        match self.pkcs11()? {
            Some(p) => {
                let signer = Pkcs11Signer::open(&p)?;
                let refresh: Arc<dyn Signer> = Arc::new(signer.with_own_session()?);
                Ca::open_with_signer(&config, Arc::new(signer), db)
                    .await?
                    .with_refresh_signer(refresh)
            }
            None => {
                Ca::open(
                    &config,
                    self.passphrase()?.as_deref().map(|p| p.as_slice()),
                    db,
                )
                .await
            }
        }
    }
}
