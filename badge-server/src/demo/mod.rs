//! What `serve --demo` brings along: the two demonstration sites, the ICP dataset
//! that files them (`badge-server/demo/icp.jsonl`, MIIT's row shape, read by the
//! verifier's `file:` provider like any offline dataset), and the loopback DNS
//! server ([`dns`]) that their challenges are published in. The flow that certifies
//! them is [`crate::service::demo`]; the pages that show their seals are
//! `crate::http::demo`.
//!
//! Their domains are ordinary `.cn` names (the verifier takes only names under the
//! Public Suffix List's ICANN section), resolvable only through the demo DNS. A
//! browser reaches a demo page as `http://<domain>.localhost:<port>/`: every
//! current browser resolves `*.localhost` to the loopback address by itself
//! (RFC 6761), and only in demo mode does the seal read a `Referer` host
//! `<domain>.localhost` as `<domain>` ([`referer_site_host`]).

pub mod dns;

/// One demonstration site: what its operator applies with.
#[derive(Debug, Clone, Copy)]
pub struct DemoSite {
    /// The certified domain.
    pub domain: &'static str,
    /// The organization (as in the bundled ICP dataset).
    pub organization: &'static str,
    /// Its USCC (valid check character; region 440300, Shenzhen).
    pub uscc: &'static str,
    /// The website filing number (in the bundled dataset).
    pub icp: &'static str,
    /// Province.
    pub province: &'static str,
    /// City.
    pub city: &'static str,
    /// What the demo page is called.
    pub title: &'static str,
}

/// The two demonstration sites.
pub const SITES: [DemoSite; 2] = [
    DemoSite {
        domain: "chengxin-demo-shop.cn",
        organization: "深圳诚信演示网店有限公司",
        uscc: "91440300708461136T",
        icp: "粤ICP备2026000101号-1",
        province: "广东省",
        city: "深圳市",
        title: "诚信演示网店 Demo Shop",
    },
    DemoSite {
        domain: "chengxin-demo-news.cn",
        organization: "深圳诚信演示资讯有限公司",
        uscc: "91440300MA5G2B8D9F",
        icp: "粤ICP备2026000102号-1",
        province: "广东省",
        city: "深圳市",
        title: "诚信演示资讯 Demo News",
    },
];

/// A host that copies the first demo site's seal (not one of its domains).
pub const COPYCAT_HOST: &str = "chengxin-demo-copycat.cn";

/// The operator account that applies for the demo sites.
pub const OPERATOR_EMAIL: &str = "demo-operator@chengxin-demo-shop.cn";

/// The staff account that approves them, and that the visitor may log in as.
pub const STAFF_EMAIL: &str = "demo-staff@chengxin-demo-shop.cn";

/// The ICP dataset the demo's filing checks read (JSONL, MIIT's row shape).
pub const ICP_DATASET: &str = include_str!("../../demo/icp.jsonl");

/// The suffix every browser resolves to loopback by itself (RFC 6761).
pub const LOCALHOST: &str = ".localhost";

/// The host a demo `Referer` stands for: `<name>.localhost` is read as `<name>`.
/// Only the demo server asks (a real server compares the `Referer` host as sent);
/// a `*.localhost` page can only be served from the visitor's own machine.
pub fn referer_site_host(host: &str) -> &str {
    let trimmed = host.trim_end_matches('.');
    match trimmed.len().checked_sub(LOCALHOST.len()) {
        Some(cut)
            if cut > 0
                && trimmed.is_char_boundary(cut)
                && trimmed[cut..].eq_ignore_ascii_case(LOCALHOST) =>
        {
            &trimmed[..cut]
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_localhost_host_stands_for_the_name_before_it_and_nothing_else_changes() {
        assert_eq!(
            referer_site_host("chengxin-demo-shop.cn.localhost"),
            "chengxin-demo-shop.cn"
        );
        assert_eq!(referer_site_host("a.b.LOCALHOST."), "a.b");
        assert_eq!(referer_site_host("localhost"), "localhost");
        assert_eq!(referer_site_host(".localhost"), ".localhost");
        assert_eq!(referer_site_host("evil-localhost.cn"), "evil-localhost.cn");
        assert_eq!(referer_site_host("chenxi-shuzhi.cn"), "chenxi-shuzhi.cn");
    }

    #[test]
    fn the_bundled_dataset_files_every_demo_site_through_the_verifier_s_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("icp.jsonl");
        std::fs::write(&path, ICP_DATASET).unwrap();
        let rows = verifier::icp::read_records(&path).unwrap();
        for site in SITES {
            let row = rows.iter().find(|r| r.domain == site.domain).unwrap();
            assert_eq!(
                (row.unit_name.as_str(), row.service_licence.as_str()),
                (site.organization, site.icp)
            );
            ca::identity::Uscc::parse(site.uscc).unwrap();
        }
    }
}
