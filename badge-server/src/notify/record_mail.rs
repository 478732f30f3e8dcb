//! Mails about shared records: to the organization a record concerns, and to staff
//! when it disputes one. Never the record's submitter or anything personal.

use super::complaint::Text;

/// To an operator: a member shared a record about its organization or site.
pub fn shared_about_you(about: &str, category: &str, url: &str) -> Text {
    (
        format!(
            "【诚信】联盟成员提交了一条关于 {about} 的诚信档案 / A record about {about} was shared"
        ),
        format!(
            "联盟成员单位提交了一条关于 {about} 的诚信档案（类别：{category}）。\
             您可以查看全文，如有异议请在此提出，由联盟工作人员处理：\n\n{url}\n\n\
             A member of the alliance shared a record about {about} (category: {category}). \
             Read it, and dispute it there if it is wrong; alliance staff decide.\n"
        ),
    )
}

/// To staff: a record was disputed.
pub fn disputed(id: &str, url: &str) -> Text {
    (
        format!("【诚信】诚信档案 {id} 有异议待处理 / Record {id} disputed"),
        format!(
            "被记录的单位对诚信档案 {id} 提出了异议，请处理（保留或删除）：\n\n{url}\n\n\
             The organization concerned disputed record {id}: keep it or delete it.\n"
        ),
    )
}
