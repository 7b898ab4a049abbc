//! The network family: split DNS names with the public suffix list, classify IP addresses, and
//! compute Community ID flow hashes.
//!
//! The public suffix list is compiled into the binary (the `psl` crate), so nothing is fetched at
//! run time; it is as fresh as the build. The IP helpers here (`parse_ip`, `is_private`...) follow
//! Go's `net.IP` predicates, which Substation's conditions use, and are shared with the
//! `network.ip.*` conditions.

use crate::common::{get_str, target_or, wrong_type};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{MapTransform, Message, Path, Registry, TransformError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub fn register(r: &mut Registry) {
    for (name, part) in [
        ("network.registered_domain", Part::Registered),
        ("network.subdomain", Part::Subdomain),
        ("network.top_level_domain", Part::Suffix),
    ] {
        r.map(name, move |s: DomainSettings, _| Ok(Domain { s, part }));
    }
    r.map("network.ip_class", |s: IpClassSettings, _| Ok(s));
    r.map("network.community_id", |s: CommunityIdSettings, _| Ok(s));
}

// ---- Domains -------------------------------------------------------------------------------

/// Split a DNS name with the public suffix list (ICANN and private sections, built into the
/// binary). `registered_domain` writes the name one label below its public suffix
/// (`www.example.co.uk` -> `example.co.uk`), `subdomain` what comes before that (`www`), and
/// `top_level_domain` the public suffix itself (`co.uk`). Names are lowercased and a trailing dot
/// (as in DNS logs) is removed. A TLD missing from the list counts as a suffix of one label.
/// When the part does not exist (`com` has no registered domain, `example.com` no subdomain),
/// the message passes unchanged. Text that cannot be a DNS name (spaces, `/`, `:`, `@`, empty
/// labels) is an error.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DomainSettings {
    /// The field holding the name (e.g. `dns.question.name`); the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the part; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Registered,
    Subdomain,
    Suffix,
}

struct Domain {
    s: DomainSettings,
    part: Part,
}

/// The name lowercased without its trailing dot, or an error when it cannot be a DNS name.
/// `None` for the empty name.
fn normalize_domain(path: &Path, text: &str) -> Result<Option<String>, TransformError> {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() {
        return Ok(None);
    }
    let bad_char = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | ':' | '@' | '\\'));
    if let Some(c) = bad_char {
        return Err(TransformError::invalid(format!(
            "`{path}` is {text:?}, expected a DNS name (found {c:?}; give the host part of a URL)"
        )));
    }
    if name.split('.').any(str::is_empty) {
        return Err(TransformError::invalid(format!(
            "`{path}` is {text:?}, expected a DNS name (it has an empty label)"
        )));
    }
    Ok(Some(name.to_lowercase()))
}

/// The registered domain (public suffix plus one label) of a lowercased name.
pub fn registered_domain(name: &str) -> Option<&str> {
    psl::domain_str(name)
}

/// The public suffix of a lowercased name.
pub fn public_suffix(name: &str) -> Option<&str> {
    psl::suffix_str(name)
}

impl MapTransform for Domain {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let source = &self.s.source;
        let Some(text) = get_str(message, source)? else {
            return Ok(());
        };
        let Some(name) = normalize_domain(source, &text)? else {
            return Ok(());
        };
        let part = match self.part {
            Part::Registered => registered_domain(&name),
            Part::Suffix => public_suffix(&name),
            Part::Subdomain => registered_domain(&name).and_then(|d| {
                name.strip_suffix(d)
                    .and_then(|rest| rest.strip_suffix('.'))
                    .filter(|rest| !rest.is_empty())
            }),
        };
        match part {
            Some(p) => {
                let p = p.to_string();
                message.set(target_or(&self.s.target, source), Value::String(p))
            }
            None => Ok(()),
        }
    }
}

// ---- IP addresses --------------------------------------------------------------------------

/// Parses an IPv4 or IPv6 address as Go's `net.ParseIP` does: no zone, no brackets, no port,
/// no leading zeros in IPv4 octets.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// The address with an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) turned into IPv4, so that
/// the class predicates treat it as Go does.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn v6_first(ip: &Ipv6Addr) -> u16 {
    ip.segments()[0]
}

/// `0.0.0.0` or `::`.
pub fn is_unspecified(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => v4 == Ipv4Addr::UNSPECIFIED,
        IpAddr::V6(v6) => v6 == Ipv6Addr::UNSPECIFIED,
    }
}

/// `127.0.0.0/8` or `::1`.
pub fn is_loopback(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

/// `224.0.0.0/4` or `ff00::/8`.
pub fn is_multicast(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.octets()[0] & 0xf0 == 0xe0,
        IpAddr::V6(v6) => v6_first(&v6) & 0xff00 == 0xff00,
    }
}

/// `224.0.0.0/24` or `ff02::/16` (any flags, as Go: `ffx2::/16`).
pub fn is_link_local_multicast(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => matches!(v4.octets(), [224, 0, 0, _]),
        IpAddr::V6(v6) => v6_first(&v6) & 0xff0f == 0xff02,
    }
}

/// `169.254.0.0/16` or `fe80::/10`.
pub fn is_link_local_unicast(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => matches!(v4.octets(), [169, 254, _, _]),
        IpAddr::V6(v6) => v6_first(&v6) & 0xffc0 == 0xfe80,
    }
}

/// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) or unique local IPv6 (`fc00::/7`).
pub fn is_private(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => matches!(v4.octets(), [10, ..] | [172, 16..=31, ..] | [192, 168, ..]),
        IpAddr::V6(v6) => v6_first(&v6) & 0xfe00 == 0xfc00,
    }
}

/// Go's `IsGlobalUnicast`: any address that is not unspecified, loopback, multicast, link-local
/// unicast or the IPv4 broadcast address. Private and documentation addresses count.
pub fn is_global_unicast(ip: IpAddr) -> bool {
    let broadcast = canonical(ip) == IpAddr::V4(Ipv4Addr::BROADCAST);
    !broadcast
        && !is_unspecified(ip)
        && !is_loopback(ip)
        && !is_multicast(ip)
        && !is_link_local_unicast(ip)
}

/// Substation's `unicast`: global unicast or link-local unicast (loopback is not included).
pub fn is_unicast(ip: IpAddr) -> bool {
    is_global_unicast(ip) || is_link_local_unicast(ip)
}

/// The class `network.ip_class` writes: the first that applies, in this order.
pub fn ip_class(ip: IpAddr) -> &'static str {
    let ip = canonical(ip);
    if is_unspecified(ip) {
        return "unspecified";
    }
    if is_loopback(ip) {
        return "loopback";
    }
    if ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
        return "broadcast";
    }
    if is_multicast(ip) {
        return "multicast";
    }
    if is_link_local_unicast(ip) {
        return "link_local";
    }
    if is_private(ip) {
        return "private";
    }
    match ip {
        IpAddr::V4(v4) => match v4.octets() {
            [100, 64..=127, ..] => "shared",
            [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
            [198, 18..=19, ..] => "benchmarking",
            [0, ..] | [192, 0, 0, _] | [240..=255, ..] => "reserved",
            _ => "global",
        },
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if (s[0] == 0x2001 && s[1] == 0x0db8) || s[0] & 0xfff0 == 0x3ff0 {
                "documentation"
            } else if s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0 {
                "benchmarking"
            } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
                "reserved"
            } else {
                "global"
            }
        }
    }
}

/// Write the class of an IP address (IPv4 or IPv6; IPv4-mapped IPv6 counts as IPv4), the first
/// that applies of: `unspecified` (0.0.0.0, ::), `loopback` (127/8, ::1), `broadcast`
/// (255.255.255.255), `multicast` (224/4, ff00::/8), `link_local` (169.254/16, fe80::/10),
/// `private` (10/8, 172.16/12, 192.168/16, fc00::/7), `shared` (100.64/10, carrier-grade NAT),
/// `documentation` (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20),
/// `benchmarking` (198.18/15, 2001:2::/48), `reserved` (0/8, 192.0.0/24, 240/4, 100::/64),
/// else `global`. A value that is not an IP address is an error.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct IpClassSettings {
    /// The field holding the address; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// Where to write the class; defaults to the source.
    #[serde(default)]
    pub target: Option<Path>,
}

impl MapTransform for IpClassSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        let Some(text) = get_str(message, &self.source)? else {
            return Ok(());
        };
        let ip = parse_ip(&text).ok_or_else(|| not_an_ip(&self.source, &text))?;
        let class = ip_class(ip);
        message.set(
            target_or(&self.target, &self.source),
            Value::String(class.into()),
        )
    }
}

fn not_an_ip(path: &Path, text: &str) -> TransformError {
    TransformError::invalid(format!(
        "`{path}` is {text:?}, expected an IPv4 or IPv6 address"
    ))
}

// ---- Community ID --------------------------------------------------------------------------

/// Compute the Community ID (v1) of a flow, the same value Zeek, Suricata, Arkime and
/// Elastic write (`1:` and a base64 SHA-1), so flows can be joined across tools. The ID does
/// not depend on direction: swapping source and destination gives the same ID. The protocol
/// may be a number (6) or a name (`tcp`, `udp`, `sctp`, `icmp`, `icmpv6`...). For TCP, UDP and
/// SCTP the ports are hashed; for ICMP and ICMPv6 the type and code are (read from `icmp_type`
/// and `icmp_code` when set, else from the port fields as Zeek logs them), with request and
/// reply types paired as the spec says; for other protocols only the addresses. A flow with a
/// missing address, protocol or port passes unchanged; a value that is not an address, port or
/// protocol, or addresses of different families, is an error.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CommunityIdSettings {
    /// The source IP address.
    #[serde(default = "default_source_ip")]
    pub source_ip: Path,
    /// The destination IP address.
    #[serde(default = "default_destination_ip")]
    pub destination_ip: Path,
    /// The source port (or the ICMP type when `icmp_type` is not set).
    #[serde(default = "default_source_port")]
    pub source_port: Path,
    /// The destination port (or the ICMP code when `icmp_code` is not set).
    #[serde(default = "default_destination_port")]
    pub destination_port: Path,
    /// The IP protocol: a number (`6`, `"17"`) or a name (`tcp`, `udp`, `icmp`...).
    #[serde(default = "default_protocol")]
    pub protocol: Path,
    /// The ICMP type, for ICMP and ICMPv6 flows that keep it apart from the ports.
    #[serde(default)]
    pub icmp_type: Option<Path>,
    /// The ICMP code, for ICMP and ICMPv6 flows that keep it apart from the ports.
    #[serde(default)]
    pub icmp_code: Option<Path>,
    /// The seed (0 to 65535); every tool that must agree on IDs uses the same one.
    #[serde(default)]
    pub seed: u16,
    /// Where to write the ID.
    #[serde(default = "default_community_target")]
    pub target: Path,
}

fn default_source_ip() -> Path {
    Path::parse("source.ip")
}
fn default_destination_ip() -> Path {
    Path::parse("destination.ip")
}
fn default_source_port() -> Path {
    Path::parse("source.port")
}
fn default_destination_port() -> Path {
    Path::parse("destination.port")
}
fn default_protocol() -> Path {
    Path::parse("network.transport")
}
fn default_community_target() -> Path {
    Path::parse("network.community_id")
}

const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;
const SCTP: u8 = 132;

/// IP protocol names as logs write them (lowercase), to their numbers.
const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", ICMP),
    ("igmp", 2),
    ("ipip", 4),
    ("ipv4", 4),
    ("tcp", TCP),
    ("egp", 8),
    ("udp", UDP),
    ("ipv6", 41),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", ICMPV6),
    ("icmp6", ICMPV6),
    ("ipv6-icmp", ICMPV6),
    ("eigrp", 88),
    ("ospf", 89),
    ("pim", 103),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", SCTP),
];

/// The request/reply pairs of ICMP types: a type here has the other as its "port" pair, so a
/// request and its reply get the same ID. Other types are one-way: type and code are hashed as
/// they are, without ordering the endpoints.
fn icmp_counterpart(protocol: u8, icmp_type: u16) -> Option<u16> {
    let pairs: &[(u16, u16)] = if protocol == ICMP {
        // echo, router advert/solicit, timestamp, info, address mask
        &[(8, 0), (9, 10), (13, 14), (15, 16), (17, 18)]
    } else {
        // echo, MLD query/report, router, neighbor, who-are-you, home agent address discovery
        &[
            (128, 129),
            (130, 131),
            (133, 134),
            (135, 136),
            (139, 140),
            (144, 145),
        ]
    };
    pairs.iter().find_map(|&(a, b)| {
        if a == icmp_type {
            Some(b)
        } else if b == icmp_type {
            Some(a)
        } else {
            None
        }
    })
}

/// A flow's endpoints and protocol, as the Community ID hashes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub source_ip: IpAddr,
    pub destination_ip: IpAddr,
    pub protocol: u8,
    /// Source and destination ports, or ICMP type and code; `None` for protocols without ports.
    pub ports: Option<(u16, u16)>,
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// The Community ID v1 of a flow. The addresses must be of one family.
pub fn community_id(flow: &Flow, seed: u16) -> String {
    use sha1::Digest;
    let mut src = ip_bytes(flow.source_ip);
    let mut dst = ip_bytes(flow.destination_ip);
    let mut ports = flow.ports;
    let mut one_way = false;
    if let (ICMP | ICMPV6, Some((icmp_type, code))) = (flow.protocol, ports) {
        match icmp_counterpart(flow.protocol, icmp_type) {
            Some(reply) => ports = Some((icmp_type, reply)),
            None => {
                ports = Some((icmp_type, code));
                one_way = true;
            }
        }
    }
    let (sp, dp) = ports.unwrap_or((0, 0));
    let ordered = one_way || src < dst || (src == dst && sp < dp);
    if !ordered {
        std::mem::swap(&mut src, &mut dst);
        ports = ports.map(|(a, b)| (b, a));
    }
    let mut hasher = sha1::Sha1::new();
    hasher.update(seed.to_be_bytes());
    hasher.update(&src);
    hasher.update(&dst);
    hasher.update([flow.protocol, 0]);
    if let Some((a, b)) = ports {
        hasher.update(a.to_be_bytes());
        hasher.update(b.to_be_bytes());
    }
    format!("1:{}", STANDARD.encode(hasher.finalize()))
}

/// An unsigned integer read from a number or a numeric string, at most `max`.
fn read_uint(
    message: &mut Message,
    path: &Path,
    max: u64,
    what: &'static str,
) -> Result<Option<u64>, TransformError> {
    let (n, shown) = match message.get(path)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => (n.as_u64(), n.to_string()),
        Some(Value::String(s)) => (s.trim().parse::<u64>().ok(), format!("{s:?}")),
        Some(other) => return Err(wrong_type(path, what, other)),
    };
    match n {
        Some(n) if n <= max => Ok(Some(n)),
        _ => Err(TransformError::invalid(format!(
            "`{path}` is {shown}, expected {what} (0 to {max})"
        ))),
    }
}

fn read_ip(message: &mut Message, path: &Path) -> Result<Option<IpAddr>, TransformError> {
    match message.get(path)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_ip(s).map(Some).ok_or_else(|| not_an_ip(path, s)),
        Some(other) => Err(wrong_type(path, "an IP address string", other)),
    }
}

fn read_protocol(message: &mut Message, path: &Path) -> Result<Option<u8>, TransformError> {
    let name = match message.get(path)? {
        Some(Value::String(s)) if s.trim().parse::<u64>().is_err() => s.trim().to_lowercase(),
        _ => {
            return read_uint(message, path, 255, "an IP protocol number or name")
                .map(|n| n.map(|n| n as u8));
        }
    };
    PROTOCOLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| Some(*p))
        .ok_or_else(|| {
            TransformError::invalid(format!(
                "`{path}` is {name:?}, expected an IP protocol number or a known name ({})",
                PROTOCOLS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

impl CommunityIdSettings {
    fn flow(&self, message: &mut Message) -> Result<Option<Flow>, TransformError> {
        let Some(source_ip) = read_ip(message, &self.source_ip)? else {
            return Ok(None);
        };
        let Some(destination_ip) = read_ip(message, &self.destination_ip)? else {
            return Ok(None);
        };
        if source_ip.is_ipv4() != destination_ip.is_ipv4() {
            return Err(TransformError::invalid(format!(
                "`{}` ({source_ip}) and `{}` ({destination_ip}) are of different IP versions; \
                 a flow's addresses must both be IPv4 or both IPv6",
                self.source_ip, self.destination_ip
            )));
        }
        let Some(protocol) = read_protocol(message, &self.protocol)? else {
            return Ok(None);
        };
        let (first, second, what) = match protocol {
            TCP | UDP | SCTP => (&self.source_port, &self.destination_port, "a port"),
            ICMP | ICMPV6 => (
                self.icmp_type.as_ref().unwrap_or(&self.source_port),
                self.icmp_code.as_ref().unwrap_or(&self.destination_port),
                "an ICMP type or code",
            ),
            _ => {
                return Ok(Some(Flow {
                    source_ip,
                    destination_ip,
                    protocol,
                    ports: None,
                }));
            }
        };
        let max = if what == "a port" { 65535 } else { 255 };
        let Some(a) = read_uint(message, first, max, what)? else {
            return Ok(None);
        };
        let Some(b) = read_uint(message, second, max, what)? else {
            return Ok(None);
        };
        Ok(Some(Flow {
            source_ip,
            destination_ip,
            protocol,
            ports: Some((a as u16, b as u16)),
        }))
    }
}

impl MapTransform for CommunityIdSettings {
    fn map(&self, message: &mut Message) -> Result<(), TransformError> {
        match self.flow(message)? {
            Some(flow) => {
                let id = community_id(&flow, self.seed);
                message.set(&self.target, Value::String(id))
            }
            None => Ok(()),
        }
    }
}

/// Runs the tests of a config under `configs/examples/` (for the families' example tests).
#[cfg(test)]
pub(crate) fn run_example(name: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs/examples")
        .join(name);
    let config = sluice_core::Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.tests.is_empty(), "{name} has no tests");
    let reports = futures::executor::block_on(sluice_core::testing::run_tests(
        &config,
        &crate::registry(),
        &sluice_core::Resources::default(),
    ));
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {}", r.name, r.detail))
        .collect();
    assert!(failed.is_empty(), "{name}:\n{}", failed.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{apply, apply_err, apply_raw, build_error, config};
    use proptest::prelude::*;
    use serde_json::json;

    fn domain(ty: &str, name: &str) -> Value {
        let out = apply(
            config(ty, json!({"source": "q", "target": "t"})),
            &json!({ "q": name }),
        );
        out[0].get("t").cloned().unwrap_or(Value::Null)
    }

    #[test]
    fn splits_domains() {
        let reg = "network.registered_domain";
        assert_eq!(domain(reg, "www.example.co.uk"), "example.co.uk");
        assert_eq!(domain(reg, "WWW.Example.COM."), "example.com");
        assert_eq!(domain(reg, "a.b.c.example.com"), "example.com");
        // Private section of the list: each bucket is its own registered domain.
        assert_eq!(
            domain(reg, "my-bucket.s3.amazonaws.com"),
            "my-bucket.s3.amazonaws.com"
        );
        assert_eq!(domain(reg, "com"), Value::Null);
        assert_eq!(domain(reg, "co.uk"), Value::Null);
        assert_eq!(domain(reg, "host.corp.internal"), "corp.internal");
        assert_eq!(domain(reg, "www.食狮.公司.cn"), "食狮.公司.cn");

        let sub = "network.subdomain";
        assert_eq!(domain(sub, "www.example.co.uk"), "www");
        assert_eq!(domain(sub, "a.b.example.com."), "a.b");
        assert_eq!(domain(sub, "example.com"), Value::Null);

        let tld = "network.top_level_domain";
        assert_eq!(domain(tld, "www.example.co.uk"), "co.uk");
        assert_eq!(domain(tld, "example.com"), "com");
        assert_eq!(domain(tld, "localhost"), "localhost");
    }

    #[test]
    fn domain_edge_cases() {
        let c = config("network.registered_domain", json!({}));
        assert_eq!(
            apply_raw(c.clone(), "mail.google.com"),
            vec![json!("google.com")]
        );
        // Missing field and empty names pass unchanged.
        let c = config(
            "network.registered_domain",
            json!({"source": "q", "target": "t"}),
        );
        assert_eq!(apply(c.clone(), &json!({"x": 1})), vec![json!({"x": 1})]);
        assert_eq!(apply(c.clone(), &json!({"q": ""})), vec![json!({"q": ""})]);
        assert!(apply_err(c.clone(), &json!({"q": 5})).contains("expected a string"));
        let err = apply_err(c.clone(), &json!({"q": "https://example.com/x"}));
        assert!(err.contains("expected a DNS name"), "{err}");
        assert!(apply_err(c, &json!({"q": "a..example.com"})).contains("empty label"));
    }

    fn class(ip: &str) -> Value {
        apply(
            config("network.ip_class", json!({"source": "ip", "target": "c"})),
            &json!({ "ip": ip }),
        )[0]["c"]
            .clone()
    }

    #[test]
    fn classifies_ips() {
        for (ip, want) in [
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("127.0.0.53", "loopback"),
            ("::1", "loopback"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.251", "multicast"),
            ("ff02::fb", "multicast"),
            ("169.254.169.254", "link_local"),
            ("fe80::1", "link_local"),
            ("10.0.1.10", "private"),
            ("172.31.255.1", "private"),
            ("172.32.0.1", "global"),
            ("192.168.1.1", "private"),
            ("fd12:3456::1", "private"),
            ("::ffff:10.1.2.3", "private"),
            ("100.64.0.1", "shared"),
            ("192.0.2.7", "documentation"),
            ("2001:db8::1", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("240.0.0.1", "reserved"),
            ("0.1.2.3", "reserved"),
            ("81.2.69.160", "global"),
            ("2607:f8b0:400c:c03::1a", "global"),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
        let c = config("network.ip_class", json!({"source": "ip"}));
        let err = apply_err(c.clone(), &json!({"ip": "10.0.0.256"}));
        assert!(err.contains("expected an IPv4 or IPv6 address"), "{err}");
        assert!(apply_err(c.clone(), &json!({"ip": "fe80::1%eth0"})).contains("IPv4 or IPv6"));
        assert_eq!(apply(c, &json!({})), vec![json!({})]);
    }

    #[test]
    fn go_predicates() {
        let ip = |s: &str| parse_ip(s).unwrap();
        assert!(is_global_unicast(ip("10.0.0.1")));
        assert!(is_global_unicast(ip("2001:db8::1")));
        assert!(!is_global_unicast(ip("255.255.255.255")));
        assert!(!is_global_unicast(ip("fe80::1")));
        assert!(is_link_local_multicast(ip("ff02::1")));
        assert!(is_link_local_multicast(ip("ff12::1")));
        assert!(!is_link_local_multicast(ip("ff05::1")));
        assert!(is_link_local_multicast(ip("224.0.0.1")));
        assert!(!is_link_local_multicast(ip("224.0.1.1")));
        assert!(is_unicast(ip("fe80::1")));
        assert!(!is_unicast(ip("127.0.0.1")));
        assert!(is_loopback(ip("::ffff:127.0.0.1")));
        assert!(parse_ip("010.1.1.1").is_none());
        assert!(parse_ip(" 10.1.1.1").is_none());
    }

    fn cid(src: &str, dst: &str, proto: Value, sp: Value, dp: Value, seed: u16) -> String {
        let c = config(
            "network.community_id",
            json!({
                "source_ip": "s", "destination_ip": "d", "source_port": "sp",
                "destination_port": "dp", "protocol": "p", "seed": seed, "target": "id"
            }),
        );
        let out = apply(
            c,
            &json!({"s": src, "d": dst, "p": proto, "sp": sp, "dp": dp}),
        );
        out[0]["id"].as_str().unwrap_or("").to_string()
    }

    /// The spec's baseline (corelight/community-id-spec, baseline/baseline_deflt.json) and the
    /// pycommunityid tests, with seed 0 and seed 1.
    #[test]
    fn matches_published_vectors() {
        let vectors: &[(&str, &str, u8, u16, u16, &str, &str)] = &[
            (
                "128.232.110.120",
                "66.35.250.204",
                6,
                34855,
                80,
                "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
                "1:3V71V58M3Ksw/yuFALMcW0LAHvc=",
            ),
            (
                "66.35.250.204",
                "128.232.110.120",
                6,
                80,
                34855,
                "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
                "1:3V71V58M3Ksw/yuFALMcW0LAHvc=",
            ),
            (
                "10.0.0.1",
                "10.0.0.2",
                6,
                10,
                11569,
                "1:SXBGMX1lBOwhhoDrZynfROxnhnM=",
                "1:HmBRGR+fUyXF4t8WEtal7Y0gEAo=",
            ),
            (
                "192.168.1.52",
                "8.8.8.8",
                17,
                54585,
                53,
                "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
                "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=",
            ),
            (
                "192.168.170.8",
                "192.168.170.56",
                132,
                7,
                80,
                "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ=",
                "1:Y1/0jQg6e+I3ZwZZ9LP65DNbTXU=",
            ),
            (
                "192.168.0.89",
                "192.168.0.1",
                1,
                8,
                0,
                "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
                "1:03g6IloqVBdcZlPyX8r0hgoE7kA=",
            ),
            (
                "192.168.0.1",
                "192.168.0.89",
                1,
                0,
                8,
                "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
                "1:03g6IloqVBdcZlPyX8r0hgoE7kA=",
            ),
            // Type 20 is one-way: the code is hashed and the endpoints keep their order.
            (
                "192.168.0.89",
                "192.168.0.1",
                1,
                20,
                0,
                "1:3o2RFccXzUgjl7zDpqmY7yJi8rI=",
                "1:lCXHHxavE1Vq3oX9NH5ladQg02o=",
            ),
            (
                "192.168.0.89",
                "192.168.0.1",
                1,
                20,
                1,
                "1:tz/fHIDUHs19NkixVVoOZywde+I=",
                "1:Ie3wmFyxiEyikbsbcO03d2nh+PM=",
            ),
            // For an echo reply the code is ignored.
            (
                "192.168.0.1",
                "192.168.0.89",
                1,
                0,
                20,
                "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
                "1:03g6IloqVBdcZlPyX8r0hgoE7kA=",
            ),
            (
                "fe80::200:86ff:fe05:80da",
                "fe80::260:97ff:fe07:69ea",
                58,
                135,
                0,
                "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
                "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=",
            ),
            (
                "fe80::260:97ff:fe07:69ea",
                "fe80::200:86ff:fe05:80da",
                58,
                136,
                0,
                "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
                "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=",
            ),
            (
                "3ffe:507:0:1:260:97ff:fe07:69ea",
                "3ffe:507:0:1:200:86ff:fe05:80da",
                58,
                3,
                0,
                "1:NdobDX8PQNJbAyfkWxhtL2Pqp5w=",
                "1:OlOWx9psIbBFi7lOCw/4MhlKR9M=",
            ),
            (
                "3ffe:507:0:1:200:86ff:fe05:80da",
                "3ffe:507:0:1:260:97ff:fe07:69ea",
                58,
                3,
                0,
                "1:/OGBt9BN1ofenrmSPWYicpij2Vc=",
                "1:Ij4ZxnC87/MXzhOjvH2vHu7LRmE=",
            ),
        ];
        for &(s, d, p, sp, dp, seed0, seed1) in vectors {
            assert_eq!(
                cid(s, d, json!(p), json!(sp), json!(dp), 0),
                seed0,
                "{s} {d}"
            );
            assert_eq!(
                cid(s, d, json!(p), json!(sp), json!(dp), 1),
                seed1,
                "{s} {d}"
            );
        }
        // More of the baseline: IPv6 TCP, ICMPv6 router solicit to multicast, and a portless
        // protocol (RSVP, 46) whose ports are not hashed.
        assert_eq!(
            cid(
                "2001:470:e5bf:dead:4957:2174:e82c:4887",
                "2607:f8b0:400c:c03::1a",
                json!("tcp"),
                json!(63943),
                json!(25),
                0
            ),
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="
        );
        assert_eq!(
            cid(
                "fe80::200:86ff:fe05:80da",
                "ff02::2",
                json!("icmpv6"),
                json!(133),
                json!(0),
                0
            ),
            "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="
        );
        assert_eq!(
            cid(
                "10.1.12.1",
                "10.1.12.2",
                json!(46),
                json!(null),
                json!(null),
                0
            ),
            "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="
        );
        assert_eq!(
            cid("10.1.24.4", "10.1.12.1", json!("46"), json!(1), json!(2), 1),
            "1:BK3BVW3U2eemuwVQVN3zd/GULno="
        );
    }

    #[test]
    fn community_id_inputs() {
        // Names, numeric strings, ECS defaults and separate ICMP fields.
        let out = apply(
            config("network.community_id", json!({})),
            &json!({
                "source": {"ip": "128.232.110.120", "port": "34855"},
                "destination": {"ip": "66.35.250.204", "port": 80},
                "network": {"transport": "TCP"}
            }),
        );
        assert_eq!(
            out[0]["network"]["community_id"],
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        let c = config(
            "network.community_id",
            json!({"icmp_type": "icmp.type", "icmp_code": "icmp.code"}),
        );
        let out = apply(
            c,
            &json!({
                "source": {"ip": "192.168.0.89"}, "destination": {"ip": "192.168.0.1"},
                "network": {"transport": "icmp"}, "icmp": {"type": 8, "code": 0}
            }),
        );
        assert_eq!(
            out[0]["network"]["community_id"],
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
        // A missing port passes unchanged.
        let c = config("network.community_id", json!({}));
        let input = json!({"source": {"ip": "10.0.0.1"}, "destination": {"ip": "10.0.0.2"}, "network": {"transport": "udp"}});
        assert_eq!(apply(c.clone(), &input), vec![input.clone()]);
        // Bad values are errors that say what was expected.
        let bad = |patch: Value| {
            let mut v = json!({
                "source": {"ip": "10.0.0.1", "port": 1},
                "destination": {"ip": "10.0.0.2", "port": 2},
                "network": {"transport": "udp"}
            });
            for (k, val) in patch.as_object().unwrap() {
                let path = Path::parse(k);
                path.set(&mut v, val.clone()).unwrap();
            }
            apply_err(c.clone(), &v)
        };
        assert!(bad(json!({"source.port": 70000})).contains("expected a port (0 to 65535)"));
        assert!(bad(json!({"source.port": -1})).contains("expected a port"));
        assert!(
            bad(json!({"source.port": "-"})).contains("`source.port` is \"-\", expected a port")
        );
        assert!(bad(json!({"source.port": [1]})).contains("is array, expected a port"));
        assert!(bad(json!({"network.transport": "quic"})).contains("known name"));
        assert!(bad(json!({"network.transport": 300})).contains("0 to 255"));
        assert!(bad(json!({"source.ip": "::1"})).contains("different IP versions"));
        assert!(bad(json!({"destination.ip": "nope"})).contains("expected an IPv4 or IPv6"));
        let mut c = config("network.community_id", json!({}));
        c["transforms"][0]["seed"] = json!(70000);
        assert!(build_error(c).contains("field `seed`"));
    }

    #[test]
    fn example_config() {
        run_example("network.jsonnet");
    }

    fn ipv4() -> impl Strategy<Value = IpAddr> {
        any::<[u8; 4]>().prop_map(IpAddr::from)
    }

    fn ipv6() -> impl Strategy<Value = IpAddr> {
        any::<[u8; 16]>().prop_map(IpAddr::from)
    }

    proptest! {
        /// Swapping source and destination gives the same ID, for every protocol kind.
        #[test]
        fn community_id_is_symmetric(
            (a, b) in prop_oneof![(ipv4(), ipv4()), (ipv6(), ipv6())],
            sp in any::<u16>(), dp in any::<u16>(),
            protocol in prop::sample::select(vec![TCP, UDP, SCTP, 47]),
            seed in any::<u16>(),
        ) {
            let forward = Flow { source_ip: a, destination_ip: b, protocol, ports: Some((sp, dp)) };
            let back = Flow { source_ip: b, destination_ip: a, protocol, ports: Some((dp, sp)) };
            prop_assert_eq!(community_id(&forward, seed), community_id(&back, seed));
        }

        /// An ICMP request and its reply, in opposite directions, share an ID.
        #[test]
        fn icmp_request_and_reply_match(a in ipv4(), b in ipv4(), code in 0u16..16) {
            let request = Flow { source_ip: a, destination_ip: b, protocol: ICMP, ports: Some((8, code)) };
            let reply = Flow { source_ip: b, destination_ip: a, protocol: ICMP, ports: Some((0, 0)) };
            prop_assert_eq!(community_id(&request, 0), community_id(&reply, 0));
        }
    }
}
