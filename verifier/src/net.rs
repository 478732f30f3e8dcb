//! Which addresses the verifier may connect to: never private, loopback, link-local,
//! multicast, unspecified or otherwise internal ones, so an applicant cannot point a
//! challenge at our own network (SSRF).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{Error, Result};

/// The rule for internal addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivatePolicy {
    /// Production: internal addresses are refused.
    Refuse,
    /// Tests: every address is allowed.
    AllowAll,
    /// Tests: these networks are allowed, every other internal address refused.
    Allow(Vec<(IpAddr, u8)>),
}

impl PrivatePolicy {
    /// From `CHENGXIN_ALLOW_PRIVATE_TARGETS`: unset, empty or a "no"
    /// ([`ca::config::parse_bool`]: `0`, `false`, `no`, `off`) refuse; a "yes" (`1`,
    /// `true`, `yes`, `on`) allows all; otherwise a comma list of CIDRs
    /// (`127.0.0.1/32,::1/128`).
    pub fn parse(value: Option<&str>) -> Result<Self> {
        let v = value.map(str::trim).unwrap_or("");
        match ca::config::parse_bool(v) {
            _ if v.is_empty() => return Ok(PrivatePolicy::Refuse),
            Some(false) => return Ok(PrivatePolicy::Refuse),
            Some(true) => return Ok(PrivatePolicy::AllowAll),
            None => {}
        }
        let nets = v
            .split(',')
            .map(|cidr| {
                let (ip, len) = cidr.trim().split_once('/').unwrap_or((cidr.trim(), ""));
                let ip: IpAddr = ip.parse().map_err(|_| {
                    Error::Config(format!(
                        "CHENGXIN_ALLOW_PRIVATE_TARGETS: bad address {ip:?}"
                    ))
                })?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let len = if len.is_empty() {
                    max
                } else {
                    len.parse::<u8>()
                        .ok()
                        .filter(|l| *l <= max)
                        .ok_or_else(|| {
                            Error::Config(format!(
                                "CHENGXIN_ALLOW_PRIVATE_TARGETS: bad prefix in {cidr:?}"
                            ))
                        })?
                };
                Ok((ip, len))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PrivatePolicy::Allow(nets))
    }

    /// Whether we may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        if !is_internal(ip) {
            return true;
        }
        match self {
            PrivatePolicy::Refuse => false,
            PrivatePolicy::AllowAll => true,
            PrivatePolicy::Allow(nets) => nets.iter().any(|(net, len)| in_network(ip, *net, *len)),
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// True for every address that is not plainly on the public internet.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
        || o[0] >= 240 // reserved
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let s = ip.segments();
    // 64:ff9b::/96 (NAT64) and 2002::/16 (6to4) embed an IPv4 address.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let o = ip.octets();
        return internal_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        let o = ip.octets();
        return internal_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    // 64:ff9b:1::/48 is NAT64 for local use (RFC 8215): never a public address, and
    // where it embeds the IPv4 address is up to each network. Teredo 2001::/32 tunnels
    // to an (obfuscated) IPv4 address through a relay. Both are refused whole.
    if (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) || (s[0] == 0x2001 && s[1] == 0) {
        return true;
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || s[0] == 0x2001 && s[1] == 0x0db8 // documentation
        || s[0] == 0x0100 && s[1..4] == [0, 0, 0] // discard-only 100::/64
        || (s[0] == 0 && s[1..6] == [0, 0, 0, 0, 0]) // IPv4-compatible ::/96 and ::
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_of_every_kind_are_refused_and_public_ones_allowed() {
        let refuse = PrivatePolicy::Refuse;
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!refuse.permits(bad.parse().unwrap()), "{bad} permitted");
        }
        for good in [
            "1.1.1.1",
            "223.5.5.5",
            "2400:3200::1",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
        ] {
            assert!(refuse.permits(good.parse().unwrap()), "{good} refused");
        }
    }

    #[test]
    fn an_allow_list_opens_only_the_networks_it_names() {
        let p = PrivatePolicy::parse(Some("127.0.0.1/32, ::1")).unwrap();
        assert!(p.permits("127.0.0.1".parse().unwrap()));
        assert!(p.permits("::1".parse().unwrap()));
        assert!(!p.permits("127.0.0.2".parse().unwrap()));
        assert!(!p.permits("10.0.0.1".parse().unwrap()));
        assert!(
            PrivatePolicy::parse(Some("1"))
                .unwrap()
                .permits("10.0.0.1".parse().unwrap())
        );
        assert!(PrivatePolicy::parse(Some("127.0.0.1/40")).is_err());
        assert!(PrivatePolicy::parse(Some("nonsense")).is_err());
    }

    #[test]
    fn allow_private_targets_takes_the_yes_no_words_of_every_other_setting() {
        let private: IpAddr = "10.0.0.1".parse().unwrap();
        for yes in ["1", "true", "YES", "On"] {
            assert!(
                PrivatePolicy::parse(Some(yes)).unwrap().permits(private),
                "{yes}"
            );
        }
        for no in ["", "0", "False", "no", "OFF"] {
            assert!(
                !PrivatePolicy::parse(Some(no)).unwrap().permits(private),
                "{no}"
            );
        }
    }
}
