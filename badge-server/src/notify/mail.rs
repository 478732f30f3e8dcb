//! Mail delivery: the `mail` job kind, over SMTP with lettre (rustls on ring).
//!
//! Without `CHENGXIN_SMTP_URL` (development) a mail is written to the log at info
//! level and counted as delivered.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;

use crate::jobs::queue::{Job, JobError};

/// How a mail leaves.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    /// The domain of Message-IDs.
    domain: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("smtp", &self.transport.is_some())
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// The `mail` job's payload.
#[derive(Debug, Deserialize)]
struct MailPayload {
    to: String,
    subject: String,
    text: String,
}

impl Mailer {
    /// From `CHENGXIN_SMTP_URL` (lettre's URL syntax: `smtp://host:port` plain,
    /// `smtp://host?tls=required` STARTTLS, `smtps://user:pass@host` TLS) and
    /// `CHENGXIN_MAIL_FROM`, defaulting to `Chengxin 诚信 <noreply@HOST>` where HOST
    /// is the public URL's.
    pub fn new(
        smtp_url: Option<&str>,
        mail_from: Option<&str>,
        public_url: &str,
    ) -> ca::Result<Self> {
        let config = |m: String| ca::Error::Config(m);
        let host = url::Url::parse(public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .filter(|h| h.contains('.') && !h.chars().all(|c| c.is_ascii_digit() || c == '.'))
            .unwrap_or_else(|| "localhost".to_string());
        let from: Mailbox = match mail_from {
            Some(f) => f
                .parse()
                .map_err(|e| config(format!("CHENGXIN_MAIL_FROM {f:?}: {e}")))?,
            None => format!("Chengxin 诚信 <noreply@{host}>")
                .parse()
                .map_err(|e| config(format!("default sender for {host}: {e}")))?,
        };
        let transport = match smtp_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| config(format!("CHENGXIN_SMTP_URL: {e}")))?
                    .timeout(Some(Duration::from_secs(30)))
                    .build(),
            ),
            None => {
                tracing::warn!("no CHENGXIN_SMTP_URL: mail will be written to the log, not sent");
                None
            }
        };
        let domain = from.email.domain().to_string();
        Ok(Mailer {
            transport,
            from,
            domain,
        })
    }

    /// The sender.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Builds the message of `job`: UTF-8 plain text, a Message-ID derived from the job
    /// (the same on every retry, so a receiver can drop a duplicate).
    fn message(&self, job: &Job, p: &MailPayload) -> Result<Message, JobError> {
        let to: Mailbox =
            p.to.parse()
                .map_err(|e| JobError::Fail(format!("recipient {:?}: {e}", p.to)))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(p.subject.clone())
            .message_id(Some(format!(
                "<job-{}.{}@{}>",
                job.id, job.created_at, self.domain
            )))
            .header(ContentType::TEXT_PLAIN)
            .body(p.text.clone())
            .map_err(|e| JobError::Fail(format!("cannot build the message: {e}")))
    }

    /// The `mail` job: sends `{"to", "subject", "text"}`.
    pub async fn deliver(&self, job: &Job) -> Result<(), JobError> {
        let p: MailPayload = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Fail(format!("mail payload: {e}")))?;
        let message = self.message(job, &p)?;
        let Some(transport) = &self.transport else {
            tracing::info!(
                job = job.id, to = %p.to, subject = %p.subject, text = %redact_tokens(&p.text),
                "mail (not sent: no CHENGXIN_SMTP_URL)"
            );
            return Ok(());
        };
        match transport.send(message).await {
            Ok(_) => {
                tracing::info!(job = job.id, to = %p.to, "mail sent");
                Ok(())
            }
            // 5xx: the server will not take this mail, however often we ask.
            Err(e) if e.is_permanent() => Err(JobError::Fail(format!("SMTP refused: {e}"))),
            Err(e) => Err(JobError::Retry(format!("SMTP: {e}"))),
        }
    }
}

/// `text` with the value of every `token=` replaced by `[redacted]`: the mail logged
/// without SMTP (development) carried working confirmation and password-reset links,
/// which anyone reading the log could use. Set a password in development with
/// `badge-server user add --password-file`.
fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("token=") {
        let (before, after) = rest.split_at(i + "token=".len());
        out.push_str(before);
        out.push_str("[redacted]");
        rest =
            after.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn logged_mail_text_keeps_no_link_token() {
        assert_eq!(
            super::redact_tokens(
                "打开 https://x.cn/password/reset?token=AbC-1_z9 。\nthen token=q"
            ),
            "打开 https://x.cn/password/reset?token=[redacted] 。\nthen token=[redacted]"
        );
    }
}
