//! A real DNS server on a loopback port, for the tests of `enrich.dns` and for benches
//! (feature `dns-test-server`).
//!
//! It is hickory-server with in-memory zones: PTR records under `in-addr.arpa.`/`ip6.arpa.`,
//! A, AAAA and TXT records under the zones of the names given. Names it does not hold are
//! answered NXDOMAIN. [`BlackHole`] is a "server" that never answers, for timeouts.

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, AAAA, PTR, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};

/// The TTL of every test record, in seconds.
pub const TTL: u32 = 60;

/// Records to serve, grouped by zone.
#[derive(Default)]
pub struct Zones {
    zones: BTreeMap<String, Vec<Record>>,
}

fn name(text: &str) -> Name {
    let full = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    Name::from_str(&full).expect("a valid test DNS name")
}

/// The zone of a name: everything after its first label (`corp.test.` for `host.corp.test.`).
fn zone_of(name: &Name) -> String {
    name.base_name().to_string()
}

impl Zones {
    pub fn new() -> Zones {
        Zones::default()
    }

    fn add(&mut self, zone: String, record: Record) {
        self.zones.entry(zone).or_default().push(record);
    }

    /// A PTR record: `ip` resolves back to `host`.
    pub fn ptr(mut self, ip: IpAddr, host: &str) -> Zones {
        let zone = match ip {
            IpAddr::V4(_) => "in-addr.arpa.",
            IpAddr::V6(_) => "ip6.arpa.",
        };
        self.add(
            zone.into(),
            Record::from_rdata(Name::from(ip), TTL, RData::PTR(PTR(name(host)))),
        );
        self
    }

    /// An A or AAAA record.
    pub fn addr(mut self, host: &str, ip: IpAddr) -> Zones {
        let n = name(host);
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        self.add(zone_of(&n), Record::from_rdata(n, TTL, data));
        self
    }

    /// A TXT record of one string.
    pub fn txt(mut self, host: &str, text: &str) -> Zones {
        let n = name(host);
        self.add(
            zone_of(&n),
            Record::from_rdata(n, TTL, RData::TXT(TXT::new(vec![text.to_string()]))),
        );
        self
    }

    /// Starts serving on 127.0.0.1 (UDP and TCP on one port); must run inside a tokio runtime.
    pub async fn serve(self) -> TestDns {
        let mut catalog = Catalog::new();
        for (zone, records) in self.zones {
            let origin = name(&zone);
            let mut handler: InMemoryZoneHandler =
                InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
            let soa = SOA::new(
                name(&format!("ns.{zone}")),
                name(&format!("admin.{zone}")),
                1,
                3600,
                600,
                86400,
                TTL,
            );
            handler.upsert_mut(Record::from_rdata(origin.clone(), TTL, RData::SOA(soa)), 1);
            for r in records {
                handler.upsert_mut(r, 1);
            }
            catalog.upsert(
                LowerName::new(&origin),
                vec![Arc::new(handler) as Arc<dyn ZoneHandler>],
            );
        }
        let (udp, tcp, addr) = bind_pair().await;
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 4096);
        TestDns { addr, server }
    }
}

/// A running test DNS server; it stops when dropped with its runtime, or with [`TestDns::stop`].
pub struct TestDns {
    pub addr: SocketAddr,
    server: Server<Catalog>,
}

impl TestDns {
    /// `127.0.0.1:PORT`, as `nameservers` takes it.
    pub fn nameserver(&self) -> String {
        self.addr.to_string()
    }

    pub async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}

/// A nameserver that never answers: queries sent to it time out.
pub struct BlackHole {
    pub addr: SocketAddr,
    _udp: UdpSocket,
    _tcp: TcpListener,
}

impl BlackHole {
    /// Binds UDP and TCP on one loopback port and never reads from them.
    pub async fn bind() -> BlackHole {
        let (udp, tcp, addr) = bind_pair().await;
        BlackHole {
            addr,
            _udp: udp,
            _tcp: tcp,
        }
    }
}

/// A UDP socket and a TCP listener on the same free loopback port. The port the system gives for
/// UDP may be taken for TCP (tests run in parallel), so a clash is retried on a new port.
async fn bind_pair() -> (UdpSocket, TcpListener, std::net::SocketAddr) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let addr = udp.local_addr().expect("UDP address");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp, addr);
        }
    }
    panic!("no loopback port free for both UDP and TCP after 50 tries")
}
