//! DNS through several resolvers ("perspectives"); a check passes only when a quorum
//! of them agree. Caching is off: a re-verification must see today's records.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::Serialize;

use crate::{Error, Result};

/// What one perspective said.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The resolver asked.
    pub resolver: String,
    /// Its records (TXT strings or addresses), empty for NXDOMAIN / no data.
    pub records: Vec<String>,
    /// Set when the resolver did not answer (timeout, SERVFAIL, refused).
    pub error: Option<String>,
}

/// Several independent resolvers and the quorum that must agree.
pub struct Perspectives {
    resolvers: Vec<(SocketAddr, TokioResolver)>,
    quorum: usize,
}

impl std::fmt::Debug for Perspectives {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Perspectives")
            .field("servers", &self.servers())
            .field("quorum", &self.quorum)
            .finish()
    }
}

impl Perspectives {
    /// One resolver per server; each asks only its own server, without cache or hosts file.
    pub fn new(servers: &[SocketAddr], quorum: usize, timeout: Duration) -> Result<Self> {
        let resolvers = servers
            .iter()
            .map(|addr| {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                let mut opts = ResolverOpts::default();
                opts.timeout = timeout;
                opts.attempts = 2;
                opts.cache_size = 0;
                opts.use_hosts_file = ResolveHosts::Never;
                opts.ndots = 0;
                opts.edns0 = true;
                let resolver = Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
                .with_options(opts)
                .build()
                .map_err(|e| Error::Config(format!("DNS resolver {addr}: {e}")))?;
                Ok((*addr, resolver))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Perspectives { resolvers, quorum })
    }

    /// The servers, for evidence.
    pub fn servers(&self) -> Vec<String> {
        self.resolvers.iter().map(|(a, _)| a.to_string()).collect()
    }

    /// How many must agree.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Asks every perspective for the TXT records at `name`.
    pub async fn txt(&self, name: &str) -> Vec<Answer> {
        self.ask(name, RecordType::TXT).await
    }

    /// Asks every perspective for the A and AAAA records of `host`.
    pub async fn addresses(&self, host: &str) -> Vec<Answer> {
        let (v4, v6) = tokio::join!(
            self.ask(host, RecordType::A),
            self.ask(host, RecordType::AAAA)
        );
        v4.into_iter()
            .zip(v6)
            .map(|(a, b)| Answer {
                resolver: a.resolver,
                records: a.records.into_iter().chain(b.records).collect(),
                error: match (a.error, b.error) {
                    (Some(x), Some(_)) => Some(x),
                    _ => None,
                },
            })
            .collect()
    }

    /// The addresses that at least a quorum of perspectives returned for `host`, or
    /// the reason there are none.
    pub async fn agreed_addresses(
        &self,
        host: &str,
    ) -> std::result::Result<(Vec<IpAddr>, Vec<Answer>), String> {
        let answers = self.addresses(host).await;
        let answered = answers.iter().filter(|a| a.error.is_none()).count();
        if answered < self.quorum {
            return Err(format!(
                "only {answered} of {} resolvers answered for {host}; {} must agree",
                answers.len(),
                self.quorum
            ));
        }
        let mut votes: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for a in &answers {
            for r in &a.records {
                if let Ok(ip) = r.parse::<IpAddr>() {
                    *votes.entry(ip).or_default() += 1;
                }
            }
        }
        let agreed: Vec<IpAddr> = votes
            .into_iter()
            .filter(|(_, n)| *n >= self.quorum)
            .map(|(ip, _)| ip)
            .collect();
        if agreed.is_empty() {
            return Err(format!(
                "no address of {host} is agreed by {} resolvers",
                self.quorum
            ));
        }
        Ok((agreed, answers))
    }

    async fn ask(&self, name: &str, rtype: RecordType) -> Vec<Answer> {
        let fqdn = if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        };
        let futures = self.resolvers.iter().map(|(addr, r)| {
            let fqdn = fqdn.clone();
            async move {
                let resolver = addr.to_string();
                match r.lookup(fqdn.as_str(), rtype).await {
                    Ok(lookup) => Answer {
                        resolver,
                        records: lookup
                            .answers()
                            .iter()
                            .filter_map(|rec| match &rec.data {
                                RData::TXT(txt) => Some(
                                    txt.txt_data
                                        .iter()
                                        .map(|s| String::from_utf8_lossy(s))
                                        .collect::<String>(),
                                ),
                                RData::A(a) => Some(a.0.to_string()),
                                RData::AAAA(a) => Some(a.0.to_string()),
                                _ => None,
                            })
                            .collect(),
                        error: None,
                    },
                    Err(e) if e.is_no_records_found() => Answer {
                        resolver,
                        records: vec![],
                        error: None,
                    },
                    Err(e) => Answer {
                        resolver,
                        records: vec![],
                        error: Some(e.to_string()),
                    },
                }
            }
        });
        futures_util::future::join_all(futures).await
    }
}
