//! The account mails: confirmation, password reset, reset requests.

/// Confirm the address of a new account.
pub fn confirm(link: &str) -> (String, String) {
    (
        "请确认您的诚信认证账户邮箱 / Confirm your Chengxin account e-mail".into(),
        format!(
            "您好！\n\n请打开以下链接确认您的邮箱地址（48 小时内有效）：\n{link}\n\n\
             如果您没有注册诚信认证账户，请忽略本邮件。\n\n---\n\n\
             Hello,\n\nOpen this link to confirm your e-mail address (valid for 48 hours):\n{link}\n\n\
             If you did not register a Chengxin account, ignore this message.\n"
        ),
    )
}

/// Set a new password.
pub fn reset(link: &str) -> (String, String) {
    (
        "重设您的诚信认证账户密码 / Reset your Chengxin account password".into(),
        format!(
            "您好！\n\n请打开以下链接设置新密码（1 小时内有效，仅可使用一次）：\n{link}\n\n\
             如果您没有申请重设密码，请忽略本邮件，您的密码不会改变。\n\n---\n\n\
             Hello,\n\nOpen this link to set a new password (valid for 1 hour, once):\n{link}\n\n\
             If you did not ask for this, ignore this message; your password stays as it is.\n"
        ),
    )
}

/// Someone tried to register an address that already has an account.
pub fn already_registered(login: &str, forgot: &str) -> (String, String) {
    (
        "您的邮箱已注册诚信认证账户 / Your e-mail already has a Chengxin account".into(),
        format!(
            "您好！\n\n有人（可能是您）尝试用此邮箱注册诚信认证账户，但此邮箱已有账户。\n\
             登录：{login}\n忘记密码：{forgot}\n\n如果不是您本人操作，请忽略本邮件。\n\n---\n\n\
             Hello,\n\nSomeone (perhaps you) tried to register a Chengxin account with this address, \
             which already has one.\nLog in: {login}\nForgot your password: {forgot}\n\n\
             If this was not you, ignore this message.\n"
        ),
    )
}
