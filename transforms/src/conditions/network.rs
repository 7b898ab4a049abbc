//! IP inspectors: the class predicates of Go's `net.IP` (which Substation's `network_ip_*`
//! conditions use), validity, and membership in a list of CIDR blocks.
//!
//! The field (or the whole data) is read as text; a value that is not an IP address makes every
//! class predicate false, never an error. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are
//! treated as IPv4, as Go does.

use crate::network::{
    is_global_unicast, is_link_local_multicast, is_link_local_unicast, is_loopback, is_multicast,
    is_private, is_unicast, is_unspecified, parse_ip,
};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::path::Root;
use sluice_core::{Condition, Message, Path, Registry, TransformError};
use std::net::IpAddr;

type IpPredicate = fn(IpAddr) -> bool;

pub fn register(r: &mut Registry) {
    let predicates: [(&str, IpPredicate); 9] = [
        ("network.ip.global_unicast", is_global_unicast),
        ("network.ip.link_local_multicast", is_link_local_multicast),
        ("network.ip.link_local_unicast", is_link_local_unicast),
        ("network.ip.loopback", is_loopback),
        ("network.ip.multicast", is_multicast),
        ("network.ip.private", is_private),
        ("network.ip.unicast", is_unicast),
        ("network.ip.unspecified", is_unspecified),
        ("network.ip.valid", |_| true),
    ];
    for (name, predicate) in predicates {
        r.condition(name, move |s: IpSettings, _| {
            Ok(IpTest {
                source: s.source,
                predicate,
            })
        });
    }
    r.condition("network.ip.in_cidr", |s: InCidrSettings, b| {
        if s.value.is_empty() {
            return Err(b.fail("field `value`: give at least one CIDR block"));
        }
        let blocks = s
            .value
            .iter()
            .enumerate()
            .map(|(i, text)| {
                Cidr::parse(text).ok_or_else(|| {
                    b.fail(format!(
                        "field `value[{i}]`: {text:?} is not a CIDR block like 10.0.0.0/8 or \
                         2001:db8::/32 (or a single address)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InCidr {
            source: s.source,
            blocks,
        })
    });
}

/// Test an IP address (IPv4 or IPv6) in a field or the whole data. The predicates are Go's:
/// `global_unicast` (not unspecified, loopback, multicast, link-local unicast or
/// 255.255.255.255; private addresses count), `link_local_multicast` (224.0.0.0/24, ff02::/16),
/// `link_local_unicast` (169.254/16, fe80::/10), `loopback` (127/8, ::1), `multicast` (224/4,
/// ff00::/8), `private` (10/8, 172.16/12, 192.168/16, fc00::/7), `unicast` (global or link-local
/// unicast), `unspecified` (0.0.0.0, ::) and `valid` (any address). Text that is not an address
/// is false.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct IpSettings {
    /// The field holding the address; the whole data by default.
    #[serde(default)]
    pub source: Path,
}

struct IpTest {
    source: Path,
    predicate: IpPredicate,
}

fn read_ip(message: &mut Message, source: &Path) -> Result<Option<IpAddr>, TransformError> {
    if source.is_root() && source.root == Root::Data && !message.is_parsed() {
        // Raw data that is not text is simply not an address.
        return Ok(std::str::from_utf8(&message.bytes())
            .ok()
            .and_then(parse_ip));
    }
    Ok(message.get_text(source)?.and_then(|t| parse_ip(&t)))
}

impl Condition for IpTest {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        Ok(read_ip(message, &self.source)?.is_some_and(self.predicate))
    }
}

/// True when an IP address is inside any of a list of CIDR blocks (IPv4 and IPv6 mixed; a bare
/// address is a block of one). The blocks are checked when the config is built, so a typo is a
/// config error naming the entry. An IPv4-mapped IPv6 address matches IPv4 blocks.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct InCidrSettings {
    /// The field holding the address; the whole data by default.
    #[serde(default)]
    pub source: Path,
    /// The CIDR blocks, e.g. `["10.0.0.0/8", "fd00::/8"]`.
    pub value: Vec<String>,
}

/// A parsed CIDR block, kept as the network's leading bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4 { bits: u32, prefix: u32 },
    V6 { bits: u128, prefix: u32 },
}

fn mask32(prefix: u32) -> u32 {
    u32::MAX.checked_shl(32 - prefix).unwrap_or(0)
}

fn mask128(prefix: u32) -> u128 {
    u128::MAX.checked_shl(128 - prefix).unwrap_or(0)
}

impl Cidr {
    /// Parses `addr/prefix` or a bare address. Host bits below the prefix are ignored.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (a, Some(p.parse::<u32>().ok()?))
            }
            Some(_) => return None,
            None => (text.trim(), None),
        };
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => {
                let prefix = prefix.unwrap_or(32);
                (prefix <= 32).then(|| Cidr::V4 {
                    bits: u32::from(v4) & mask32(prefix),
                    prefix,
                })
            }
            IpAddr::V6(v6) => {
                let prefix = prefix.unwrap_or(128);
                (prefix <= 128).then(|| Cidr::V6 {
                    bits: u128::from(v6) & mask128(prefix),
                    prefix,
                })
            }
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip.to_canonical()) {
            (Cidr::V4 { bits, prefix }, IpAddr::V4(v4)) => u32::from(v4) & mask32(*prefix) == *bits,
            (Cidr::V6 { bits, prefix }, IpAddr::V6(v6)) => {
                u128::from(v6) & mask128(*prefix) == *bits
            }
            _ => false,
        }
    }
}

struct InCidr {
    source: Path,
    blocks: Vec<Cidr>,
}

impl Condition for InCidr {
    fn test(&self, message: &mut Message) -> Result<bool, TransformError> {
        Ok(read_ip(message, &self.source)?
            .is_some_and(|ip| self.blocks.iter().any(|b| b.contains(ip))))
    }
}

/// Whether a `when` condition holds for one JSON input (for the inspectors' tests).
#[cfg(test)]
pub(crate) fn when_passes(when: serde_json::Value, input: serde_json::Value) -> bool {
    let mut c = crate::testing::config(
        "object.insert",
        serde_json::json!({"target": "hit", "value": true}),
    );
    c["transforms"][0]["when"] = when;
    crate::testing::apply(c, &input)[0].get("hit").is_some()
}

#[cfg(test)]
mod tests {
    use super::when_passes as test;
    use super::*;
    use crate::testing::{apply_raw, build_error, config};
    use serde_json::json;

    fn class(ty: &str, ip: &str) -> bool {
        test(
            json!({"type": format!("network.ip.{ty}"), "source": "ip"}),
            json!({ "ip": ip }),
        )
    }

    #[test]
    fn go_classes() {
        let yes: &[(&str, &[&str])] = &[
            (
                "global_unicast",
                &["10.0.0.1", "8.8.8.8", "2001:db8::1", "fd00::1"],
            ),
            ("link_local_multicast", &["224.0.0.251", "ff02::1:2"]),
            ("link_local_unicast", &["169.254.169.254", "fe80::1"]),
            (
                "loopback",
                &["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"],
            ),
            ("multicast", &["239.255.255.250", "ff05::2"]),
            (
                "private",
                &[
                    "10.1.2.3",
                    "172.16.0.1",
                    "192.168.0.1",
                    "fc00::1",
                    "::ffff:10.0.0.1",
                ],
            ),
            ("unicast", &["8.8.8.8", "fe80::1", "10.0.0.1"]),
            ("unspecified", &["0.0.0.0", "::"]),
            ("valid", &["1.2.3.4", "::ffff:1.2.3.4", "2001:db8::"]),
        ];
        let no: &[(&str, &[&str])] = &[
            (
                "global_unicast",
                &["127.0.0.1", "255.255.255.255", "224.0.0.1", "fe80::1", "::"],
            ),
            (
                "link_local_multicast",
                &["224.0.1.1", "ff05::1", "10.0.0.1"],
            ),
            ("link_local_unicast", &["169.253.0.1", "fec0::1"]),
            ("loopback", &["128.0.0.1", "::2"]),
            ("multicast", &["223.255.255.255", "fe80::1"]),
            (
                "private",
                &["172.32.0.1", "11.0.0.1", "fe80::1", "100.64.0.1"],
            ),
            ("unicast", &["127.0.0.1", "224.0.0.1", "::"]),
            ("unspecified", &["0.0.0.1", "::1"]),
            (
                "valid",
                &[
                    "256.1.1.1",
                    "01.2.3.4",
                    "fe80::1%eth0",
                    "[::1]",
                    "1.2.3.4:80",
                    "",
                    "x",
                ],
            ),
        ];
        for (ty, ips) in yes {
            for ip in *ips {
                assert!(class(ty, ip), "{ip} should be {ty}");
            }
        }
        for (ty, ips) in no {
            for ip in *ips {
                assert!(!class(ty, ip), "{ip} should not be {ty}");
            }
        }
        // Missing fields and non-strings are false; the whole raw data works.
        assert!(!test(
            json!({"type": "network.ip.valid", "source": "ip"}),
            json!({})
        ));
        assert!(!test(
            json!({"type": "network.ip.valid", "source": "ip"}),
            json!({"ip": 5})
        ));
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "network.ip.private"});
        assert!(apply_raw(c.clone(), "10.0.0.1").is_empty());
        assert_eq!(apply_raw(c.clone(), "8.8.8.8").len(), 1);
        let p = crate::testing::run(c, vec![sluice_core::Message::new(vec![0xff, 0x0a])]);
        assert_eq!(
            (p.output.len(), p.errors.len()),
            (1, 0),
            "binary data is not an address"
        );
    }

    #[test]
    fn cidr_lists() {
        let when = json!({
            "type": "network.ip.in_cidr", "source": "ip",
            "value": ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "172.16.5.4/12", "0.0.0.0/0"]
        });
        let hit = |ip: &str| test(when.clone(), json!({ "ip": ip }));
        assert!(hit("10.200.3.4"));
        assert!(hit("192.168.1.7"));
        assert!(hit("2001:db8:ffff::1"));
        assert!(hit("172.31.0.1"), "host bits in a block are ignored");
        assert!(hit("8.8.8.8"), "0.0.0.0/0 holds every IPv4 address");
        assert!(!hit("2001:db9::1"), "but no IPv6 address");
        assert!(!hit("not an ip"));
        let v6only =
            json!({"type": "network.ip.in_cidr", "source": "ip", "value": ["fd00::/8", "::/0"]});
        assert!(test(v6only.clone(), json!({"ip": "2606:4700::1111"})));
        assert!(!test(v6only, json!({"ip": "1.1.1.1"})));
        let mapped = json!({"type": "network.ip.in_cidr", "source": "ip", "value": ["10.0.0.0/8"]});
        assert!(test(mapped, json!({"ip": "::ffff:10.9.9.9"})));
        assert_eq!(Cidr::parse("10.1.2.3/8"), Cidr::parse("10.0.0.0/8"));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("::/129"), None);
        assert_eq!(Cidr::parse("10.0.0.0/"), None);
        assert_eq!(Cidr::parse("10.0.0.0/-1"), None);
    }

    #[test]
    fn bad_cidr_is_a_config_error() {
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({
            "type": "network.ip.in_cidr", "source": "ip", "value": ["10.0.0.0/8", "10.0.0.0/33"]
        });
        let err = build_error(c);
        assert!(
            err.contains(
                "when (network.ip.in_cidr): field `value[1]`: \"10.0.0.0/33\" is not a CIDR block"
            ),
            "{err}"
        );
        let mut c = config("utility.drop", json!({}));
        c["transforms"][0]["when"] = json!({"type": "network.ip.in_cidr", "value": []});
        assert!(build_error(c).contains("give at least one CIDR block"));
    }
}
