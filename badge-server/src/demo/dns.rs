//! The demo's DNS server: hickory-server answering, on a loopback port only, for the
//! demo sites' zones (their names → 127.0.0.1, and the `_chengxin-challenge` TXT
//! records the demo publishes). The verifier asks it like any other resolver.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};

/// Seconds a TCP client may stay silent before its connection is closed.
const TCP_IDLE: Duration = Duration::from_secs(5);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 16;
/// TTL of every record: 0, so that a newly published TXT is seen at once.
const TTL: u32 = 0;
/// Zone serial (the zones live only as long as the process).
const SERIAL: u32 = 1;
/// Tries at binding TCP on the port the UDP socket got.
const BIND_TRIES: usize = 20;

/// A running demo DNS server; dropping it stops it.
pub struct DemoDns {
    _server: Server<Catalog>,
    zones: Vec<(Name, Arc<InMemoryZoneHandler>)>,
    /// Where it answers (UDP and TCP, 127.0.0.1).
    pub addr: SocketAddr,
}

impl std::fmt::Debug for DemoDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoDns").field("addr", &self.addr).finish()
    }
}

fn name(s: &str) -> std::io::Result<Name> {
    Name::from_ascii(format!("{}.", s.trim_end_matches('.')))
        .map_err(|e| std::io::Error::other(format!("{s}: {e}")))
}

impl DemoDns {
    /// Starts a server on 127.0.0.1 (UDP and TCP on one free port) that is
    /// authoritative for each of `domains` and resolves it, and its `www.`, to
    /// 127.0.0.1.
    pub async fn start(domains: &[&str]) -> std::io::Result<DemoDns> {
        let mut catalog = Catalog::new();
        let mut zones = Vec::new();
        for domain in domains {
            let origin = name(domain)?;
            let mut zone =
                InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
            let soa = SOA::new(
                name(&format!("ns.{domain}"))?,
                name(&format!("hostmaster.{domain}"))?,
                SERIAL,
                3600,
                600,
                86_400,
                TTL,
            );
            let mut ok = zone.upsert_mut(
                Record::from_rdata(origin.clone(), TTL, RData::SOA(soa)),
                SERIAL,
            );
            for host in [origin.clone(), name(&format!("www.{domain}"))?] {
                ok &= zone.upsert_mut(
                    Record::from_rdata(host, TTL, RData::A(A(Ipv4Addr::LOCALHOST))),
                    SERIAL,
                );
            }
            if !ok {
                return Err(std::io::Error::other(format!(
                    "cannot build the zone {domain}"
                )));
            }
            let zone = Arc::new(zone);
            catalog.upsert(
                LowerName::from(origin.clone()),
                vec![zone.clone() as Arc<dyn ZoneHandler>],
            );
            zones.push((origin, zone));
        }
        let mut server = Server::new(catalog);
        let (udp, tcp) = bind_pair().await?;
        let addr = udp.local_addr()?;
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE, TCP_RESPONSE_BUFFER);
        Ok(DemoDns {
            _server: server,
            zones,
            addr,
        })
    }

    /// Publishes (adds to) the TXT records at `owner`, a name inside one of the zones.
    pub async fn publish_txt(&self, owner: &str, value: &str) -> std::io::Result<()> {
        let owner = name(owner)?;
        let zone = self
            .zones
            .iter()
            .find(|(origin, _)| origin.zone_of(&owner))
            .map(|(_, z)| z)
            .ok_or_else(|| std::io::Error::other(format!("{owner} is in no demo zone")))?;
        let record = Record::from_rdata(owner, TTL, RData::TXT(TXT::new(vec![value.to_string()])));
        if zone.upsert(record, SERIAL).await {
            Ok(())
        } else {
            Err(std::io::Error::other("the TXT record was not added"))
        }
    }
}

/// A UDP socket and a TCP listener on the same free loopback port.
async fn bind_pair() -> std::io::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    let mut last = None;
    for _ in 0..BIND_TRIES {
        let udp = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = udp.local_addr()?.port();
        match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port")))
}
