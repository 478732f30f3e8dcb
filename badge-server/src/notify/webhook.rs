//! Webhooks: an operator names an HTTPS (or HTTP) endpoint and gets a secret; events
//! about its sites are POSTed there as JSON, signed, by the `webhook` job kind.
//!
//! # What a receiver gets
//! `POST <url>` with `Content-Type: application/json` and the body
//! `{"id": <delivery id>, "event": "<name>", "created_at": <unix seconds>, "data": {…}}`,
//! and the headers
//! - `Chengxin-Webhook-Id`: the delivery id (the same on every retry: drop duplicates);
//! - `Chengxin-Webhook-Timestamp`: unix seconds when this attempt was signed;
//! - `Chengxin-Webhook-Signature`: `v1=<hex HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`,
//!   keyed with the secret string exactly as shown (`whsec_…`, its UTF-8 bytes), over the
//!   raw body bytes.
//!
//! A receiver recomputes the signature, compares it in constant time, and rejects a
//! timestamp more than 5 minutes from its clock (a replayed delivery). Any 2xx answer
//! is success; anything else, a timeout or a connection failure is retried with
//! exponential backoff. Redirects are not followed.
//!
//! Setting and removing the webhook are use cases ([`crate::service::webhooks`]); this
//! module checks URLs, signs and delivers.
//!
//! The URL is operator input: deliveries go through the verifier's guarded client,
//! which refuses private, loopback and other internal addresses after resolving the
//! name; `PUT /api/v1/me/webhook` refuses them up front when the name resolves.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use serde_json::json;
use verifier::dns::Perspectives;
use verifier::http::SafeHttp;
use verifier::net::PrivatePolicy;

use crate::error::AppError;
use crate::jobs::queue::{Job, JobError};

/// Signature header.
pub const SIGNATURE_HEADER: &str = "Chengxin-Webhook-Signature";
/// Timestamp header.
pub const TIMESTAMP_HEADER: &str = "Chengxin-Webhook-Timestamp";
/// Delivery id header.
pub const ID_HEADER: &str = "Chengxin-Webhook-Id";
/// Receivers should reject deliveries signed longer ago than this (seconds).
pub const REPLAY_WINDOW_SECS: i64 = 300;
/// Longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// How webhooks are checked and delivered.
#[derive(Clone)]
pub struct Webhooks {
    http: SafeHttp,
    dns: Arc<Perspectives>,
    policy: PrivatePolicy,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Webhooks {
    /// From the verifier's settings (resolvers, `CHENGXIN_ALLOW_PRIVATE_TARGETS`) and a
    /// delivery timeout.
    pub fn new(
        s: &verifier::config::VerifierSettings,
        timeout: Duration,
    ) -> verifier::Result<Self> {
        let servers = s.dns_servers()?;
        let dns = Arc::new(Perspectives::new(
            &servers,
            s.quorum(servers.len())?,
            s.dns_timeout(),
        )?);
        let policy = s.private_policy()?;
        let http = SafeHttp::new(dns.clone(), policy.clone(), 443, timeout)?.any_port();
        Ok(Webhooks { http, dns, policy })
    }

    /// Checks a URL an operator gives: http or https, a host, no credentials, and, when
    /// the name resolves now, no internal address. A name that does not resolve yet is
    /// accepted (deliveries check again, every time).
    pub async fn check_url(&self, input: &str) -> Result<url::Url, String> {
        let input = input.trim();
        if input.len() > MAX_URL_LEN {
            return Err(format!("longer than {MAX_URL_LEN} characters"));
        }
        let url = url::Url::parse(input).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("only http and https URLs are accepted".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("credentials in URLs are refused".into());
        }
        if url.port() == Some(0) {
            return Err("port 0 is refused".into());
        }
        let ips = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![ip.into()],
            Some(url::Host::Ipv6(ip)) => vec![ip.into()],
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if !name.contains('.') || name == "localhost" || name.ends_with(".localhost") {
                    return Err(format!("{name} is not a public host name"));
                }
                match self.dns.agreed_addresses(&name).await {
                    Ok((ips, _)) => ips,
                    Err(why) => {
                        tracing::info!(host = %name, reason = %why, "webhook host does not resolve yet");
                        vec![]
                    }
                }
            }
            None => return Err("no host".into()),
        };
        if let Some(bad) = ips.iter().find(|ip| !self.policy.permits(**ip)) {
            // Logged for us, not told to the operator (it would map our network).
            tracing::info!(host = url.host_str().unwrap_or(""), address = %bad, "webhook host is internal");
            return Err(format!(
                "{} resolves to an internal address: refused",
                url.host_str().unwrap_or("")
            ));
        }
        Ok(url)
    }
}

/// `v1=<hex HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`.
pub fn signature(secret: &str, id: i64, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(format!("{id}.{timestamp}.").as_bytes());
    ctx.update(body);
    format!("v1={}", hex::encode(ctx.sign().as_ref()))
}

/// A new secret: 256 random bits, `whsec_<base64url>`.
pub fn new_secret() -> Result<String, AppError> {
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| AppError::Internal(ca::Error::Config("no system randomness".into())))?;
    Ok(format!("whsec_{}", URL_SAFE_NO_PAD.encode(raw)))
}

/// The `webhook` job's payload.
#[derive(Debug, Deserialize)]
pub struct WebhookPayload {
    /// Whose webhook receives the event.
    pub account_id: i64,
    /// The event's name.
    pub event: String,
    /// What the event says.
    #[serde(default)]
    pub data: serde_json::Value,
}

impl WebhookPayload {
    /// The payload of a `webhook` job.
    pub fn of(job: &Job) -> Result<WebhookPayload, JobError> {
        serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Fail(format!("webhook payload: {e}")))
    }
}

impl Webhooks {
    /// POSTs the event of `job` (its payload `p`), signed with `secret` now, to `url`.
    pub async fn deliver(
        &self,
        job: &Job,
        p: &WebhookPayload,
        url: &str,
        secret: &str,
    ) -> Result<(), JobError> {
        let body = serde_json::to_vec(&json!({
            "id": job.id,
            "event": p.event,
            "created_at": job.created_at,
            "data": p.data,
        }))
        .map_err(|e| JobError::Fail(e.to_string()))?;
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let headers = [
            ("content-type", "application/json".to_string()),
            (ID_HEADER, job.id.to_string()),
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (
                SIGNATURE_HEADER,
                signature(secret, job.id, timestamp, &body),
            ),
        ];
        match self.http.post(url, &headers, body).await {
            Ok(posted) if (200..300).contains(&posted.status) => {
                tracing::info!(job = job.id, %url, status = posted.status, "webhook delivered");
                Ok(())
            }
            Ok(posted) => Err(JobError::Retry(format!("{url} answered {}", posted.status))),
            Err(f) if f.transient => Err(JobError::Retry(f.reason)),
            // Refused by the address rules, or an unusable URL: asking again will not help.
            Err(f) => Err(JobError::Fail(f.reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_id_timestamp_and_body_in_hex() {
        // Computed with openssl: printf '42.1700000000.{"a":1}' |
        //   openssl dgst -sha256 -hmac whsec_test
        let sig = signature("whsec_test", 42, 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "v1=47965ed83429cee80b96b80f2b8048b3c2c65b885885dc35ffae9c8acc4bab34"
        );
        assert_eq!(sig.len(), 3 + 64);
        assert_ne!(
            sig,
            signature("whsec_test", 42, 1_700_000_001, br#"{"a":1}"#)
        );
    }

    #[test]
    fn a_new_secret_is_256_random_bits_with_a_prefix() {
        let a = new_secret().unwrap();
        assert!(a.starts_with("whsec_"));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a[6..]).unwrap().len(), 32);
        assert_ne!(a, new_secret().unwrap());
    }
}
