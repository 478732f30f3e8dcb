//! What the impersonation watch tells a member (issue 17): the mail texts, Chinese
//! first, English second, queued in the step's transaction with
//! [`super::complaint::mail`].

/// To a member: `domain` seems to imitate its brand, as `reason` says; staff decide.
pub fn imitation(domain: &str, reason: &str) -> (String, String) {
    (
        format!("【诚信】疑似仿冒您的品牌 / Possible impersonation of your brand: {domain}"),
        format!(
            "您好！\n\n诚信联盟发现 {domain} 可能仿冒贵方的品牌或网站：\n{reason}\n\n\
             联盟工作人员将审核并决定是否发布警示。如有补充信息，请回复本邮件。\n\n---\n\n\
             Hello,\n\nThe Chengxin alliance found that {domain} may impersonate your brand or site:\n\
             {reason}\n\nAlliance staff will review it and decide whether to publish a warning. \
             Reply to this mail with anything that helps them.\n"
        ),
    )
}
