//! Verifier settings: resolvers, challenge port, SSRF policy, ICP provider, timeouts.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::net::PrivatePolicy;
use crate::{Error, Result};

/// Settings shared by the CLI and the server; each is a flag and an environment
/// variable (design §7).
#[derive(clap::Args, Debug, Clone)]
pub struct VerifierSettings {
    /// DNS servers (perspectives), comma-separated `ip:port`; default: /etc/resolv.conf.
    #[arg(long, env = "CHENGXIN_DNS_SERVERS", global = true)]
    pub dns_servers: Option<String>,
    /// How many perspectives must agree (default: a majority).
    #[arg(long, env = "CHENGXIN_DNS_QUORUM", global = true)]
    pub dns_quorum: Option<usize>,
    /// Port for `http-file` and `html-meta` challenges.
    #[arg(
        long,
        env = "CHENGXIN_HTTP_CHALLENGE_PORT",
        default_value_t = 80,
        global = true
    )]
    pub http_challenge_port: u16,
    /// Tests only: `1` allows every private target, or a comma list of CIDRs to allow.
    #[arg(long, env = "CHENGXIN_ALLOW_PRIVATE_TARGETS", global = true)]
    pub allow_private_targets: Option<String>,
    /// ICP filing source: `miit:http://host:port` or `file:PATH`.
    #[arg(long, env = "CHENGXIN_ICP_PROVIDER", global = true)]
    pub icp_provider: Option<String>,
    /// Seconds one DNS query may take.
    #[arg(long, env = "CHENGXIN_DNS_TIMEOUT", default_value_t = 3, global = true)]
    pub dns_timeout_secs: u64,
    /// Seconds one HTTP challenge (all redirects included) may take.
    #[arg(
        long,
        env = "CHENGXIN_HTTP_TIMEOUT",
        default_value_t = 10,
        global = true
    )]
    pub http_timeout_secs: u64,
    /// Days between ICP re-checks of a healthy site.
    #[arg(
        long,
        env = "CHENGXIN_RECHECK_ICP_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub recheck_icp_days: i64,
    /// Days between domain-control re-checks of a healthy site.
    #[arg(
        long,
        env = "CHENGXIN_RECHECK_DOMAIN_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub recheck_domain_days: i64,
    /// Hours of grace between the first failure and suspension (and again before revocation).
    #[arg(
        long,
        env = "CHENGXIN_GRACE_HOURS",
        default_value_t = 72,
        global = true
    )]
    pub grace_hours: i64,
    /// Sites re-verified at once.
    #[arg(
        long,
        env = "CHENGXIN_RECHECK_CONCURRENCY",
        default_value_t = 64,
        global = true
    )]
    pub recheck_concurrency: usize,
    /// Days a passing domain-control check may be relied on for approval (CA/B Forum
    /// Baseline Requirements §4.2.1 allow reuse of validation data; we keep 30 days).
    #[arg(
        long,
        env = "CHENGXIN_VALIDATION_REUSE_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub validation_reuse_days: i64,
}

impl VerifierSettings {
    /// The configured perspectives, or the system resolvers.
    pub fn dns_servers(&self) -> Result<Vec<SocketAddr>> {
        match &self.dns_servers {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<SocketAddr>()
                        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                        .map_err(|_| {
                            Error::Config(format!("CHENGXIN_DNS_SERVERS: {s:?} is not ip:port"))
                        })
                })
                .collect::<Result<Vec<_>>>()
                .and_then(|v| {
                    if v.is_empty() {
                        Err(Error::Config("CHENGXIN_DNS_SERVERS is empty".into()))
                    } else {
                        Ok(v)
                    }
                }),
            None => system_resolvers(),
        }
    }

    /// Perspectives that must agree: configured, or a majority.
    pub fn quorum(&self, servers: usize) -> Result<usize> {
        let q = self.dns_quorum.unwrap_or(servers / 2 + 1);
        if q == 0 || q > servers {
            return Err(Error::Config(format!(
                "CHENGXIN_DNS_QUORUM must be 1 to {servers} (the number of DNS servers), got {q}"
            )));
        }
        Ok(q)
    }

    /// The SSRF policy.
    pub fn private_policy(&self) -> Result<PrivatePolicy> {
        PrivatePolicy::parse(self.allow_private_targets.as_deref())
    }

    /// DNS query timeout.
    pub fn dns_timeout(&self) -> Duration {
        Duration::from_secs(self.dns_timeout_secs.max(1))
    }

    /// HTTP challenge timeout.
    pub fn http_timeout(&self) -> Duration {
        Duration::from_secs(self.http_timeout_secs.max(1))
    }
}

fn system_resolvers() -> Result<Vec<SocketAddr>> {
    let text = std::fs::read_to_string("/etc/resolv.conf").map_err(|e| {
        Error::Config(format!(
            "no CHENGXIN_DNS_SERVERS and /etc/resolv.conf unreadable: {e}"
        ))
    })?;
    let servers: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if servers.is_empty() {
        return Err(Error::Config(
            "no CHENGXIN_DNS_SERVERS and no nameserver in /etc/resolv.conf".into(),
        ));
    }
    Ok(servers)
}
