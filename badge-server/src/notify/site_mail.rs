//! The site mails: a certificate revoked because another one with the same key was
//! reported compromised.

use std::fmt::Display;

/// The certificate of `domain` (serial `serial`) was revoked with another that
/// carries the same key; `link` is its certificate page.
pub fn same_key_revoked(domain: &str, serial: impl Display, link: &str) -> (String, String) {
    (
        format!("【诚信】证书已因密钥泄露撤销 / Certificate revoked, key compromised: {domain}"),
        format!(
            "您好！\n\n{domain} 的诚信证书（序列号 {serial}）已撤销（keyCompromise）：\
             它的公钥与另一张报告了私钥泄露的证书相同，该密钥已永久停用，印章与证书页即时显示已撤销。\
             请生成新的密钥并重新申请。\n{link}\n\n---\n\n\
             Hello,\n\nThe Chengxin certificate of {domain} (serial {serial}) has been revoked \
             (keyCompromise): it carries the same public key as another certificate whose private \
             key was reported compromised. That key is blocked for good, and the seal and \
             certificate page show the revocation now. Generate a new key and apply again.\n{link}\n"
        ),
    )
}
