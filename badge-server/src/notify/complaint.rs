//! What the complaint steps tell people: the mail texts (Chinese first, English
//! second) and the operator's webhook events, queued inside the step's transaction
//! so that they are sent exactly when the step committed.

use ca::db::Tx;
use serde_json::json;

use crate::domain::complaint::Category;
use crate::error::AppError;
use crate::jobs::kind;
use crate::jobs::queue;

/// A mail's subject and text.
pub type Text = (String, String);

/// Queues a mail in the step's transaction.
pub async fn mail(tx: &mut Tx, to: &str, (subject, text): &Text, now: i64) -> Result<(), AppError> {
    queue::enqueue(
        tx,
        kind::MAIL,
        &json!({ "to": to, "subject": subject, "text": text }),
        now,
        None,
    )
    .await
    .map(drop)
}

/// Queues a webhook to the operator's account (delivered only if it set a URL).
pub async fn webhook(
    tx: &mut Tx,
    account_id: i64,
    event: &str,
    data: serde_json::Value,
    now: i64,
) -> Result<(), AppError> {
    queue::enqueue(
        tx,
        kind::WEBHOOK,
        &json!({ "account_id": account_id, "event": event, "data": data }),
        now,
        None,
    )
    .await
    .map(drop)
}

/// To the operator: a complaint about their site, masked, to answer by `due`.
pub fn filed(domain: &str, category: Category, due: &str, masked: &str, url: &str) -> Text {
    (
        format!(
            "【诚信】{domain} 收到投诉，请于 {due} 前答复 / Complaint about {domain}: answer by {due}"
        ),
        format!(
            "您的网站 {domain} 收到一条投诉（{zh}），请在 {due} 前登录答复，逾期将提交人工审核。\n\n{masked}\n\n{url}\n\n\
             Your site {domain} received a complaint ({en}). Answer by {due} or it goes to staff review.\n",
            zh = category.labels().0,
            en = category.labels().1,
        ),
    )
}

/// To the complainant: the operator answered.
pub fn answered(domain: &str, answer: &str, url: &str) -> Text {
    (
        format!("【诚信】{domain} 已答复您的投诉 / {domain} answered your complaint"),
        format!(
            "{domain} 的经营者已答复您的投诉，请告诉我们您是否满意：\n{url}\n\n{answer}\n\n\
             The operator of {domain} answered your complaint. Tell us whether you are satisfied: {url}\n",
        ),
    )
}

/// To both parties: staff's verdict, its reason and, when the certificate was revoked
/// (`revoked` names the revocation reason), what happened to the seal.
pub fn decided(domain: &str, upheld: bool, reason: &str, revoked: Option<&str>, url: &str) -> Text {
    let (verdict_zh, verdict_en) = if upheld {
        ("投诉成立", "upheld")
    } else {
        ("投诉不成立", "dismissed")
    };
    // Both parties learn what happened to the seal, not only the verdict.
    let (consequence, consequence_en) = match revoked {
        Some(r) => (
            format!("该网站的诚信证书已撤销（{r}），印章与证书页即时显示。\n"),
            format!(
                " The site's Chengxin certificate has been revoked ({r}); its seal and certificate page show it now."
            ),
        ),
        None => (String::new(), String::new()),
    };
    (
        format!("【诚信】投诉审核结论 / Complaint {verdict_en}: {domain}"),
        format!(
            "关于 {domain} 的投诉，审核结论：{verdict_zh}。\n理由：{reason}\n{consequence}{url}\n\n\
             The complaint about {domain} was {verdict_en}. Reason: {reason}{consequence_en}\n",
        ),
    )
}

/// To the operator: the complaint is still unanswered, due at `due`.
pub fn reminder(domain: &str, due: &str, url: &str) -> Text {
    (
        format!("【诚信】提醒：请于 {due} 前答复投诉 / Reminder: answer by {due}"),
        format!(
            "关于 {domain} 的投诉尚未答复，截止时间 {due}。\n{url}\n\n\
             The complaint about {domain} is still unanswered; the deadline is {due}.\n",
        ),
    )
}

/// To staff: no answer by the deadline.
pub fn overdue(domain: &str, url: &str) -> Text {
    (
        format!("【诚信】投诉逾期未答复 / Overdue complaint: {domain}"),
        format!(
            "关于 {domain} 的投诉已逾期未答复，请审核。\n{url}\n\n\
             The complaint about {domain} was not answered in time; please review it.\n",
        ),
    )
}

/// To the other parties: a file was added (its kind and size, never its name, which
/// may identify the complainant, nor its content).
pub fn attachment_added(domain: &str, kind: &str, size: &str, url: &str) -> Text {
    (
        format!("【诚信】关于 {domain} 的投诉有新附件 / New file on the complaint about {domain}"),
        format!(
            "关于 {domain} 的投诉新增一个附件（{kind}，{size}），请登录查看：\n{url}\n\n\
             A file ({kind}, {size}) was added to the complaint about {domain}: {url}\n",
        ),
    )
}
