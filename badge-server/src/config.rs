//! Server settings: the shared CA/database settings plus the listen address.

use std::net::SocketAddr;

use ca::config::Settings;

/// `badge-server serve` settings.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerSettings {
    /// Shared settings (database, CA directory, public URL).
    #[command(flatten)]
    pub common: Settings,
    /// Domain-control and ICP settings.
    #[command(flatten)]
    pub verifier: verifier::config::VerifierSettings,
    /// Issue as soon as every check passes, without staff approval.
    #[arg(long, env = "CHENGXIN_AUTO_APPROVE", default_value_t = false)]
    pub auto_approve: bool,
    /// Behind a reverse proxy: take the client's address for the login limiter from the
    /// last `X-Forwarded-For` hop (the one the proxy added) instead of the connection.
    #[arg(long, env = "CHENGXIN_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// Address to listen on.
    #[arg(long, env = "CHENGXIN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Hours an operator has to answer a complaint.
    #[arg(long, env = "CHENGXIN_COMPLAINT_DEADLINE_HOURS", default_value_t = 120)]
    pub complaint_deadline_hours: u32,
    /// Reminders to the operator, in hours before the deadline (comma-separated).
    #[arg(
        long,
        env = "CHENGXIN_COMPLAINT_REMINDER_HOURS",
        default_value = "48,24",
        value_delimiter = ','
    )]
    pub complaint_reminder_hours: Vec<u32>,
}

impl ServerSettings {
    /// The complaint deadlines these settings ask for.
    pub fn complaint_policy(&self) -> crate::complaint::ComplaintPolicy {
        crate::complaint::ComplaintPolicy {
            answer_within: i64::from(self.complaint_deadline_hours) * 3600,
            reminders_before: self
                .complaint_reminder_hours
                .iter()
                .map(|h| i64::from(*h) * 3600)
                .collect(),
        }
    }
}
