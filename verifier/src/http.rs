//! An HTTP client that cannot be turned against us: it resolves names itself through
//! the perspectives, refuses internal addresses (after resolution, and for IP literals
//! in redirects), connects only to the addresses it checked, follows at most a few
//! redirects and only to http/https on allowed ports, and caps time and body size.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::Serialize;
use url::Url;

use crate::dns::Perspectives;
use crate::net::PrivatePolicy;
use crate::{Error, Result};

/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 5;
/// Most body bytes read.
pub const MAX_BODY: usize = 64 * 1024;

/// Resolves through the perspectives and refuses internal addresses. reqwest asks
/// it once per connection and connects to what it returns: no second lookup.
struct GuardedResolver {
    dns: Arc<Perspectives>,
    policy: PrivatePolicy,
    port_hint: u16,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let dns = self.dns.clone();
        let policy = self.policy.clone();
        let port = self.port_hint;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let (ips, _) = dns
                .agreed_addresses(&host)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            if let Some(bad) = ips.iter().find(|ip| !policy.permits(**ip)) {
                // The address stays in our log: telling the applicant would map our
                // network for them.
                tracing::info!(%host, address = %bad, "challenge host resolves to an internal address");
                return Err(format!("{host} resolves to an internal address: refused").into());
            }
            let addrs: Addrs = Box::new(ips.into_iter().map(move |ip| SocketAddr::new(ip, port)));
            Ok(addrs)
        })
    }
}

/// One request of a fetch.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// The URL requested.
    pub url: String,
    /// The address connected to.
    pub address: Option<String>,
    /// The HTTP status, when one came back.
    pub status: Option<u16>,
}

/// What a fetch brought back.
#[derive(Debug, Clone, Serialize)]
pub struct Fetched {
    /// Every request made, redirects included.
    pub hops: Vec<Hop>,
    /// Final status.
    pub status: u16,
    /// Body, at most [`MAX_BODY`] bytes.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// Whether the body was cut at [`MAX_BODY`].
    pub truncated: bool,
    /// SHA-256 of the body bytes read, hex.
    pub body_sha256: String,
}

/// Why a fetch failed, in words for the operator.
#[derive(Debug, Clone, Serialize)]
pub struct FetchFailure {
    /// Requests made before the failure.
    pub hops: Vec<Hop>,
    /// What went wrong.
    pub reason: String,
    /// True when retrying later could succeed (timeouts, resets); false for refusals.
    pub transient: bool,
}

/// The guarded client.
#[derive(Clone)]
pub struct SafeHttp {
    client: reqwest::Client,
    policy: PrivatePolicy,
    /// Ports requests may go to; `None` for any port (webhook endpoints).
    allowed_ports: Option<Vec<u16>>,
    timeout: Duration,
}

/// What a POST brought back.
#[derive(Debug, Clone, Serialize)]
pub struct Posted {
    /// The address connected to.
    pub address: Option<String>,
    /// The HTTP status.
    pub status: u16,
}

impl std::fmt::Debug for SafeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeHttp")
            .field("policy", &self.policy)
            .field("ports", &self.allowed_ports)
            .finish()
    }
}

impl SafeHttp {
    /// A client whose connections go through `dns` and `policy`. `challenge_port` is
    /// where challenges are fetched (80 in production); redirects may go to it, 80 or 443.
    pub fn new(
        dns: Arc<Perspectives>,
        policy: PrivatePolicy,
        challenge_port: u16,
        timeout: Duration,
    ) -> Result<Self> {
        crate::icp::install_crypto_provider();
        let resolver: Arc<dyn Resolve> = Arc::new(GuardedResolver {
            dns,
            policy: policy.clone(),
            port_hint: 0,
        });
        let client = reqwest::Client::builder()
            .dns_resolver(resolver)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(0)
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("chengxin-verifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let mut allowed_ports = vec![80, 443, challenge_port];
        allowed_ports.dedup();
        Ok(SafeHttp {
            client,
            policy,
            allowed_ports: Some(allowed_ports),
            timeout,
        })
    }

    /// The same client, allowing any destination port (the address rules still hold):
    /// for endpoints an operator names, such as webhooks, which often live on other
    /// ports than 80 and 443.
    pub fn any_port(mut self) -> Self {
        self.allowed_ports = None;
        self
    }

    /// POSTs `body` to `url` with `headers`, under the same address rules as
    /// [`SafeHttp::get`]. Redirects are not followed: a 3xx is returned as the status.
    /// The response body is read (up to [`MAX_BODY`]) and dropped.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> std::result::Result<Posted, FetchFailure> {
        let hop = |status| Hop {
            url: url.to_string(),
            address: None,
            status,
        };
        let fail = |reason: String, transient: bool| FetchFailure {
            hops: vec![hop(None)],
            reason,
            transient,
        };
        let parsed = Url::parse(url).map_err(|e| fail(format!("bad URL {url:?}: {e}"), false))?;
        self.check_target(&parsed)
            .map_err(|(reason, transient)| fail(reason, transient))?;
        let mut request = self.client.post(parsed.clone()).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let send = async {
            let response = request.send().await.map_err(|e| {
                let reason = describe(&e);
                let transient =
                    e.is_timeout() || (e.is_connect() && !reason.contains("internal address"));
                (format!("{parsed}: {reason}"), transient)
            })?;
            let address = response.remote_addr();
            if let Some(addr) = address
                && !self.policy.permits(addr.ip())
            {
                tracing::info!(url = %parsed, address = %addr, "connected to an internal address");
                return Err((
                    format!("{parsed} connected to an internal address; refused"),
                    false,
                ));
            }
            let status = response.status().as_u16();
            // Drain what the receiver sent so the exchange completes; its content is ignored.
            let _ = read_capped(response, MAX_BODY).await;
            Ok(Posted {
                address: address.map(|a| a.to_string()),
                status,
            })
        };
        match tokio::time::timeout(self.timeout, send).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err((reason, transient))) => Err(fail(reason, transient)),
            Err(_) => Err(fail(
                format!("no complete answer within {} s", self.timeout.as_secs()),
                true,
            )),
        }
    }

    /// GETs `url`, following redirects under the rules above.
    pub async fn get(&self, url: &str) -> std::result::Result<Fetched, FetchFailure> {
        let mut hops = Vec::new();
        match tokio::time::timeout(self.timeout, self.follow(url, &mut hops)).await {
            Ok(Ok(f)) => Ok(Fetched { hops, ..f }),
            Ok(Err((reason, transient))) => Err(FetchFailure {
                hops,
                reason,
                transient,
            }),
            Err(_) => Err(FetchFailure {
                hops,
                reason: format!("no complete answer within {} s", self.timeout.as_secs()),
                transient: true,
            }),
        }
    }

    async fn follow(
        &self,
        start: &str,
        hops: &mut Vec<Hop>,
    ) -> std::result::Result<Fetched, (String, bool)> {
        let mut url = Url::parse(start).map_err(|e| (format!("bad URL {start:?}: {e}"), false))?;
        for _ in 0..=MAX_REDIRECTS {
            self.check_target(&url)?;
            let mut hop = Hop {
                url: url.to_string(),
                address: None,
                status: None,
            };
            let response = match self.client.get(url.clone()).send().await {
                Ok(r) => r,
                Err(e) => {
                    let reason = describe(&e);
                    let transient =
                        e.is_timeout() || (e.is_connect() && !reason.contains("internal address"));
                    hops.push(hop);
                    return Err((format!("{url}: {reason}"), transient));
                }
            };
            let status = response.status();
            hop.status = Some(status.as_u16());
            if let Some(addr) = response.remote_addr()
                && !self.policy.permits(addr.ip())
            {
                tracing::info!(%url, address = %addr, "connected to an internal address");
                hops.push(hop);
                return Err((
                    format!("{url} connected to an internal address; refused"),
                    false,
                ));
            }
            hop.address = response.remote_addr().map(|a| a.to_string());
            hops.push(hop);
            if matches!(status.as_u16(), 301 | 302 | 307 | 308) {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| (format!("{url} redirects without a Location"), false))?;
                url = url
                    .join(location)
                    .map_err(|e| (format!("bad redirect {location:?}: {e}"), false))?;
                continue;
            }
            let (body, truncated) = read_capped(response, MAX_BODY)
                .await
                .map_err(|e| (format!("{url}: {e}"), true))?;
            let body_sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &body));
            return Ok(Fetched {
                hops: Vec::new(),
                status: status.as_u16(),
                body,
                truncated,
                body_sha256,
            });
        }
        Err((format!("more than {MAX_REDIRECTS} redirects"), false))
    }

    /// Scheme, port and IP-literal checks, made before every request (redirect
    /// targets included); names are checked by the resolver.
    fn check_target(&self, url: &Url) -> std::result::Result<(), (String, bool)> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err((format!("{url}: only http and https are followed"), false));
        }
        let port = url.port_or_known_default().unwrap_or(0);
        if port == 0
            || self
                .allowed_ports
                .as_ref()
                .is_some_and(|ports| !ports.contains(&port))
        {
            return Err((format!("{url}: port {port} is not allowed"), false));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err((format!("{url}: credentials in URLs are refused"), false));
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err((format!("{url}: no host"), false)),
        };
        if let Some(ip) = ip
            && !self.policy.permits(ip)
        {
            return Err((
                format!("{url}: {ip} is an internal address; refused"),
                false,
            ));
        }
        Ok(())
    }
}

/// Reads at most `max` bytes (the challenges' [`MAX_BODY`], the log monitor's tile
/// limits); the flag says whether the body was longer.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> std::result::Result<(Vec<u8>, bool), String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        let room = max - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// reqwest's error with its causes, so "refused: internal address" reaches the operator.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
