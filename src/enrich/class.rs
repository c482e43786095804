//! Address classes from the IANA special-purpose registries, before any database lookup.
//!
//! An address a public database may attribute is one the registries call globally reachable.
//! Everything else (private, shared, loopback, documentation, ...) can only be attributed by
//! the operator of the network where it was seen, so public databases are never asked about
//! it: the bundled country data, for one, maps 192.168.0.0/16 and 172.16.0.0/12 to Australia.
//!
//! The tables follow the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890,
//! RFC 8190) in the revision last updated [`REGISTRY_DATE`], with the IPv4 multicast block
//! (RFC 5771) and the IPv6 address space registry (multicast `ff00::/8`, global unicast
//! `2000::/3`, the rest reserved by the IETF) added, since the special-purpose registries
//! leave them out. Within the tables the most specific block wins, as in the registries
//! (e.g. `192.0.0.9/32`, globally reachable, inside `192.0.0.0/24`, which is not).

use ipnetwork::IpNetwork;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// The revision of the IANA special-purpose registries the tables follow.
pub const REGISTRY_DATE: &str = "2025-10-09";

/// The registries, as cited in answers.
pub const REGISTRY_SOURCE: &str = "IANA IPv4/IPv6 Special-Purpose Address Registries \
     (RFC 6890, RFC 8190), last updated 2025-10-09; IANA IPv4 Multicast (RFC 5771) and \
     IPv6 Address Space registries";

/// What kind of address this is, as far as attribution goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressClass {
    /// Globally reachable unicast: public databases may attribute it.
    Global,
    /// RFC 1918 private-use space.
    Private,
    /// RFC 6598 shared address space (carrier-grade NAT, 100.64.0.0/10).
    Shared,
    /// Loopback.
    Loopback,
    /// Link-local (169.254.0.0/16, fe80::/10).
    LinkLocal,
    /// Documentation ranges (TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20).
    Documentation,
    /// Benchmarking (198.18.0.0/15, 2001:2::/48).
    Benchmarking,
    /// Multicast groups (224.0.0.0/4, ff00::/8).
    Multicast,
    /// Limited broadcast 255.255.255.255.
    Broadcast,
    /// Unspecified: 0.0.0.0 and `::`.
    Unspecified,
    /// "This network" 0.0.0.0/8.
    ThisNetwork,
    /// IPv6 unique local addresses (fc00::/7).
    UniqueLocal,
    /// The IPv6 discard-only block 100::/64 and the dummy prefix 100:0:0:1::/64.
    DiscardOnly,
    /// IPv4-mapped IPv6 (`::ffff:a.b.c.d`): the IPv4 address in IPv6 form.
    Ipv4Mapped,
    /// NAT64 IPv4/IPv6 translation prefixes (64:ff9b::/96, 64:ff9b:1::/48).
    Nat64,
    /// 6to4 (2002::/16).
    SixToFour,
    /// Teredo (2001::/32).
    Teredo,
    /// Other blocks reserved for a protocol and not globally reachable (IETF protocol
    /// assignments, the IPv4 service continuity prefix, SRv6 SIDs, ...).
    ProtocolAssignment,
    /// Deprecated blocks (6to4 relay anycast, ORCHID, IPv6 site-local).
    Deprecated,
    /// Reserved space (240.0.0.0/4; IPv6 outside the blocks the IETF has assigned).
    Reserved,
}

impl AddressClass {
    /// The name used in reports (`address_class`).
    pub fn as_str(self) -> &'static str {
        match self {
            AddressClass::Global => "global",
            AddressClass::Private => "private",
            AddressClass::Shared => "shared",
            AddressClass::Loopback => "loopback",
            AddressClass::LinkLocal => "link_local",
            AddressClass::Documentation => "documentation",
            AddressClass::Benchmarking => "benchmarking",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Unspecified => "unspecified",
            AddressClass::ThisNetwork => "this_network",
            AddressClass::UniqueLocal => "unique_local",
            AddressClass::DiscardOnly => "discard_only",
            AddressClass::Ipv4Mapped => "ipv4_mapped",
            AddressClass::Nat64 => "nat64",
            AddressClass::SixToFour => "6to4",
            AddressClass::Teredo => "teredo",
            AddressClass::ProtocolAssignment => "protocol_assignment",
            AddressClass::Deprecated => "deprecated",
            AddressClass::Reserved => "reserved",
        }
    }
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the registries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialBlock {
    /// The block.
    pub network: IpNetwork,
    /// The registry's name for it ("Shared Address Space").
    pub name: &'static str,
    /// Defining documents ("RFC 6598").
    pub reference: &'static str,
    /// The registry's "Globally Reachable" column; `None` where it says N/A.
    pub globally_reachable: Option<bool>,
    /// The class it gives its addresses.
    pub class: AddressClass,
}

/// How an IPv4 address is carried inside an IPv6 one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Embedding {
    /// `::ffff:a.b.c.d`.
    Mapped,
    /// NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): the last 32 bits.
    Nat64,
    /// NAT64 local-use prefix 64:ff9b:1::/48 (RFC 8215), read with the RFC 6052 layout for a
    /// /48 prefix (bits 48-63 and 72-87; bits 64-71 are zero), or as a /96 when the address
    /// has the form `64:ff9b:1::a.b.c.d`.
    Nat64Local,
    /// 6to4 (RFC 3056): bits 16-47.
    SixToFour,
    /// Teredo (RFC 4380): the client's public (NAT-mapped) address, the last 32 bits
    /// inverted. The Teredo server's address is bits 32-63.
    Teredo,
}

impl Embedding {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Embedding::Mapped => "ipv4_mapped",
            Embedding::Nat64 => "nat64",
            Embedding::Nat64Local => "nat64_local",
            Embedding::SixToFour => "6to4",
            Embedding::Teredo => "teredo",
        }
    }
}

/// An IPv4 address found inside an IPv6 one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Embedded {
    /// The address attributed in place of the IPv6 one.
    pub ipv4: Ipv4Addr,
    /// How it was carried.
    pub how: Embedding,
    /// For Teredo, the Teredo server named in the address.
    pub teredo_server: Option<Ipv4Addr>,
}

/// What the registries say about an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The class.
    pub class: AddressClass,
    /// The most specific registry block holding the address, if any.
    pub block: Option<&'static SpecialBlock>,
    /// Whether a public database may attribute the address itself. False for everything
    /// but [`AddressClass::Global`] (which includes special-purpose blocks the registries
    /// mark globally reachable, such as AS112 or AMT).
    pub globally_reachable: bool,
    /// The IPv4 address carried inside, for IPv4-mapped, NAT64, 6to4 and Teredo addresses.
    pub embedded: Option<Embedded>,
}

impl Classification {
    /// The note an answer carries when the address is not attributed from public data.
    pub fn note(&self) -> Option<String> {
        if self.globally_reachable {
            return None;
        }
        if let Some(e) = &self.embedded {
            let how = match e.how {
                Embedding::Mapped => "an IPv4-mapped IPv6 address".to_string(),
                Embedding::Nat64 => "a NAT64 address (64:ff9b::/96, RFC 6052)".to_string(),
                Embedding::Nat64Local => {
                    "a NAT64 local-use address (64:ff9b:1::/48, RFC 8215; RFC 6052 layout)"
                        .to_string()
                }
                Embedding::SixToFour => "a 6to4 address (2002::/16, RFC 3056)".to_string(),
                Embedding::Teredo => format!(
                    "a Teredo address (2001::/32, RFC 4380; Teredo server {})",
                    e.teredo_server.map_or_else(String::new, |s| s.to_string())
                ),
            };
            return Some(format!(
                "{how}: attributed through the IPv4 address it carries, {}",
                e.ipv4
            ));
        }
        let block = self
            .block
            .map(|b| format!("{} ({}, {})", b.network, b.name, b.reference))
            .unwrap_or_else(|| self.class.to_string());
        Some(match self.class {
            AddressClass::Multicast => format!(
                "{block}: a multicast group, not a host; it names no provider (attribute the \
                 sender instead)"
            ),
            _ => format!(
                "{block}: not globally reachable; only the operator of the network where it \
                 was seen can attribute it, so public databases were not consulted"
            ),
        })
    }
}

macro_rules! rows {
    ($($net:literal, $name:literal, $ref:literal, $global:expr, $class:ident;)*) => {
        &[$(($net, $name, $ref, $global, AddressClass::$class),)*]
    };
}

type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<bool>,
    AddressClass,
);

const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const NA: Option<bool> = None;

/// IANA IPv4 Special-Purpose Address Registry (2025-10-09), plus multicast.
const V4: &[Row] = rows![
    "0.0.0.0/8", "\"This network\"", "RFC 791", F, ThisNetwork;
    "0.0.0.0/32", "\"This host on this network\"", "RFC 1122", F, Unspecified;
    "10.0.0.0/8", "Private-Use", "RFC 1918", F, Private;
    "100.64.0.0/10", "Shared Address Space", "RFC 6598", F, Shared;
    "127.0.0.0/8", "Loopback", "RFC 1122", F, Loopback;
    "169.254.0.0/16", "Link Local", "RFC 3927", F, LinkLocal;
    "172.16.0.0/12", "Private-Use", "RFC 1918", F, Private;
    "192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890", F, ProtocolAssignment;
    "192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", F, ProtocolAssignment;
    "192.0.0.8/32", "IPv4 dummy address", "RFC 7600", F, ProtocolAssignment;
    "192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", T, Global;
    "192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", T, Global;
    "192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050", F, ProtocolAssignment;
    "192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050", F, ProtocolAssignment;
    "192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", F, Documentation;
    "192.31.196.0/24", "AS112-v4", "RFC 7535", T, Global;
    "192.52.193.0/24", "AMT", "RFC 7450", T, Global;
    "192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", NA, Deprecated;
    "192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", F, ProtocolAssignment;
    "192.168.0.0/16", "Private-Use", "RFC 1918", F, Private;
    "192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", T, Global;
    "198.18.0.0/15", "Benchmarking", "RFC 2544", F, Benchmarking;
    "198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", F, Documentation;
    "203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", F, Documentation;
    "224.0.0.0/4", "Multicast", "RFC 5771", NA, Multicast;
    "240.0.0.0/4", "Reserved", "RFC 1112", F, Reserved;
    "255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919", F, Broadcast;
];

/// IANA IPv6 Special-Purpose Address Registry (2025-10-09), plus the address space registry.
const V6: &[Row] = rows![
    "::/0", "Reserved by IETF", "RFC 4291", F, Reserved;
    "2000::/3", "Global Unicast", "RFC 4291", T, Global;
    "::1/128", "Loopback Address", "RFC 4291", F, Loopback;
    "::/128", "Unspecified Address", "RFC 4291", F, Unspecified;
    "::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", F, Ipv4Mapped;
    "64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", T, Nat64;
    "64:ff9b:1::/48", "IPv4-IPv6 Translat.", "RFC 8215", F, Nat64;
    "100::/64", "Discard-Only Address Block", "RFC 6666", F, DiscardOnly;
    "100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", F, DiscardOnly;
    "2001::/23", "IETF Protocol Assignments", "RFC 2928", F, ProtocolAssignment;
    "2001::/32", "TEREDO", "RFC 4380, RFC 8190", NA, Teredo;
    "2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", T, Global;
    "2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", T, Global;
    "2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", T, Global;
    "2001:2::/48", "Benchmarking", "RFC 5180", F, Benchmarking;
    "2001:3::/32", "AMT", "RFC 7450", T, Global;
    "2001:4:112::/48", "AS112-v6", "RFC 7535", T, Global;
    "2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", NA, Deprecated;
    "2001:20::/28", "ORCHIDv2", "RFC 7343", T, Global;
    "2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", T, Global;
    "2001:db8::/32", "Documentation", "RFC 3849", F, Documentation;
    "2002::/16", "6to4", "RFC 3056", NA, SixToFour;
    "2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", T, Global;
    "3fff::/20", "Documentation", "RFC 9637", F, Documentation;
    "5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", F, ProtocolAssignment;
    "fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", F, UniqueLocal;
    "fe80::/10", "Link-Local Unicast", "RFC 4291", F, LinkLocal;
    "fec0::/10", "Deprecated site-local", "RFC 3879", F, Deprecated;
    "ff00::/8", "Multicast", "RFC 4291", NA, Multicast;
];

/// One address family's blocks.
struct Family {
    /// Sorted by prefix length, longest first, so the first match is the most specific.
    blocks: Vec<SpecialBlock>,
    /// Each block's network and mask as integers (IPv4 in the low 32 bits), in the same
    /// order: matching an address is one AND and one compare per block.
    masks: Vec<(u128, u128)>,
    /// For each value of an address's first byte, the blocks (indexes, in the same order)
    /// that can hold such an address: a global address is matched against none or one or
    /// two blocks, not all of them.
    by_byte: Vec<Vec<u8>>,
    /// The family's address width in bits.
    bits: u32,
}

/// An address as an integer (IPv4 in the low 32 bits).
fn int(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl Family {
    fn new(rows: &[Row], bits: u32) -> Family {
        let mut blocks: Vec<SpecialBlock> = rows
            .iter()
            .map(
                |&(net, name, reference, globally_reachable, class)| SpecialBlock {
                    // The tables are constants checked by a unit test; a typo fails it.
                    network: net
                        .parse()
                        .unwrap_or_else(|e| panic!("registry row {net}: {e}")),
                    name,
                    reference,
                    globally_reachable,
                    class,
                },
            )
            .collect();
        blocks.sort_by_key(|b| std::cmp::Reverse(b.network.prefix()));
        let masks: Vec<(u128, u128)> = blocks
            .iter()
            .map(|b| (int(b.network.network()), int(b.network.mask())))
            .collect();
        let width = u128::MAX >> (128 - bits);
        let mut by_byte = vec![Vec::new(); 256];
        for (i, &(net, mask)) in masks.iter().enumerate() {
            let first = (net >> (bits - 8)) as usize;
            let last = ((net | (!mask & width)) >> (bits - 8)) as usize;
            for list in by_byte.get_mut(first..=last).unwrap_or_default() {
                // Fewer than 256 blocks per family (a unit test checks).
                list.push(i as u8);
            }
        }
        Family {
            blocks,
            masks,
            by_byte,
            bits,
        }
    }
}

struct Tables {
    v4: Family,
    v6: Family,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
    v4: Family::new(V4, 32),
    v6: Family::new(V6, 128),
});

/// Every block of the tables, IPv4 first.
pub fn blocks() -> impl Iterator<Item = &'static SpecialBlock> {
    TABLES.v4.blocks.iter().chain(TABLES.v6.blocks.iter())
}

fn most_specific(ip: IpAddr) -> Option<&'static SpecialBlock> {
    let f = if ip.is_ipv4() { &TABLES.v4 } else { &TABLES.v6 };
    let a = int(ip);
    let i = f
        .by_byte
        .get((a >> (f.bits - 8)) as usize)?
        .iter()
        .map(|&i| i as usize)
        .find(|&i| f.masks.get(i).is_some_and(|&(net, mask)| a & mask == net))?;
    f.blocks.get(i)
}

/// Classifies an address. IPv4 addresses outside every block are global unicast.
pub fn classify(ip: IpAddr) -> Classification {
    let block = most_specific(ip);
    let (class, reachable) = match block {
        Some(b) => (b.class, b.globally_reachable == Some(true)),
        None => (AddressClass::Global, true),
    };
    let block = block.filter(|b| !(b.network.prefix() == 3 && b.class == AddressClass::Global));
    let embedded = match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6, class),
        IpAddr::V4(_) => None,
    };
    Classification {
        class,
        block,
        // A NAT64 well-known-prefix address is globally reachable as IPv6, but it is the
        // carried IPv4 host that a database can attribute.
        globally_reachable: reachable && embedded.is_none(),
        embedded,
    }
}

fn embedded_ipv4(ip: Ipv6Addr, class: AddressClass) -> Option<Embedded> {
    let o = ip.octets();
    let v4 = |a: u8, b: u8, c: u8, d: u8| Ipv4Addr::new(a, b, c, d);
    let (ipv4, how, teredo_server) = match class {
        AddressClass::Ipv4Mapped => (v4(o[12], o[13], o[14], o[15]), Embedding::Mapped, None),
        AddressClass::Nat64 if o[4] == 0 && o[5] == 0 => {
            (v4(o[12], o[13], o[14], o[15]), Embedding::Nat64, None)
        }
        AddressClass::Nat64 => {
            // 64:ff9b:1::/48. RFC 6052 §2.2 layout for a /48: v4 in bits 48-63 and 72-87,
            // bits 64-71 ("u") zero, suffix zero. If instead only the last 32 bits are set,
            // a /96 was carved out of the /48.
            if o[8] == 0 && o[11..].iter().all(|&b| b == 0) {
                (v4(o[6], o[7], o[9], o[10]), Embedding::Nat64Local, None)
            } else if o[6..12].iter().all(|&b| b == 0) {
                (v4(o[12], o[13], o[14], o[15]), Embedding::Nat64Local, None)
            } else {
                return None;
            }
        }
        AddressClass::SixToFour => (v4(o[2], o[3], o[4], o[5]), Embedding::SixToFour, None),
        AddressClass::Teredo => (
            v4(!o[12], !o[13], !o[14], !o[15]),
            Embedding::Teredo,
            Some(v4(o[4], o[5], o[6], o[7])),
        ),
        _ => return None,
    };
    Some(Embedded {
        ipv4,
        how,
        teredo_server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Classification {
        classify(s.parse().unwrap())
    }

    #[test]
    fn every_row_parses_and_is_its_own_network_address() {
        for b in blocks() {
            assert_eq!(b.network.network(), b.network.ip(), "{}", b.network);
        }
        assert_eq!(TABLES.v4.blocks.len(), V4.len());
        assert_eq!(TABLES.v6.blocks.len(), V6.len());
        assert_eq!(TABLES.v4.masks.len(), V4.len());
        assert_eq!(TABLES.v6.masks.len(), V6.len());
        assert!(V4.len() <= 256 && V6.len() <= 256);
        assert!(TABLES.v4.blocks.iter().all(|b| b.network.is_ipv4()));
        assert!(TABLES.v6.blocks.iter().all(|b| b.network.is_ipv6()));
    }

    /// The integer match finds the block a scan with `IpNetwork::contains` finds, at every
    /// block's edges and just outside them, and at addresses spread over both spaces.
    #[test]
    fn the_integer_match_agrees_with_the_networks() {
        let scan = |ip: IpAddr| {
            let f = if ip.is_ipv4() { &TABLES.v4 } else { &TABLES.v6 };
            f.blocks.iter().find(|b| b.network.contains(ip))
        };
        let mut ips: Vec<IpAddr> = Vec::new();
        for b in blocks() {
            let (lo, mask) = (int(b.network.network()), int(b.network.mask()));
            let v4 = b.network.is_ipv4();
            let hi = lo | (!mask & if v4 { u128::from(u32::MAX) } else { u128::MAX });
            for x in [
                lo.wrapping_sub(1),
                lo,
                lo.wrapping_add(1),
                hi.wrapping_sub(1),
                hi,
                hi.wrapping_add(1),
            ] {
                ips.push(if v4 {
                    IpAddr::V4(Ipv4Addr::from(x as u32))
                } else {
                    IpAddr::V6(Ipv6Addr::from(x))
                });
            }
        }
        let mut x: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645)
                .wrapping_add(1);
            ips.push(IpAddr::V6(Ipv6Addr::from(x)));
            ips.push(IpAddr::V4(Ipv4Addr::from((x >> 64) as u32)));
        }
        let mut matched = 0;
        for ip in ips {
            let (a, b) = (most_specific(ip), scan(ip));
            assert_eq!(a.map(|b| b.network), b.map(|b| b.network), "{ip}");
            matched += usize::from(a.is_some());
        }
        assert!(matched > 400, "{matched}");
    }

    #[test]
    fn most_specific_block_wins() {
        let pcp = class("192.0.0.9");
        assert_eq!(pcp.class, AddressClass::Global);
        assert!(pcp.globally_reachable);
        assert_eq!(pcp.block.unwrap().name, "Port Control Protocol Anycast");
        let ietf = class("192.0.0.200");
        assert_eq!(ietf.class, AddressClass::ProtocolAssignment);
        assert!(!ietf.globally_reachable);
        assert_eq!(class("2001:3::1").class, AddressClass::Global);
        assert_eq!(class("2001:5::1").class, AddressClass::ProtocolAssignment);
    }

    #[test]
    fn common_classes() {
        for (ip, c) in [
            ("8.8.8.8", AddressClass::Global),
            ("10.1.2.3", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("172.32.0.1", AddressClass::Global),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Shared),
            ("100.128.0.1", AddressClass::Global),
            ("127.0.0.1", AddressClass::Loopback),
            ("169.254.1.1", AddressClass::LinkLocal),
            ("192.0.2.1", AddressClass::Documentation),
            ("198.19.0.1", AddressClass::Benchmarking),
            ("224.0.0.251", AddressClass::Multicast),
            ("239.255.255.250", AddressClass::Multicast),
            ("240.0.0.1", AddressClass::Reserved),
            ("255.255.255.255", AddressClass::Broadcast),
            ("0.0.0.0", AddressClass::Unspecified),
            ("0.1.2.3", AddressClass::ThisNetwork),
            ("2001:4860:4860::8888", AddressClass::Global),
            ("::1", AddressClass::Loopback),
            ("::", AddressClass::Unspecified),
            ("fd00::1", AddressClass::UniqueLocal),
            ("fe80::1", AddressClass::LinkLocal),
            ("ff02::fb", AddressClass::Multicast),
            ("2001:db8::1", AddressClass::Documentation),
            ("3fff::1", AddressClass::Documentation),
            ("100::1", AddressClass::DiscardOnly),
            ("4000::1", AddressClass::Reserved),
            ("fec0::1", AddressClass::Deprecated),
            ("192.88.99.1", AddressClass::Deprecated),
        ] {
            let got = class(ip);
            assert_eq!(got.class, c, "{ip}");
            assert_eq!(got.globally_reachable, c == AddressClass::Global, "{ip}");
        }
    }

    #[test]
    fn embedded_ipv4_addresses() {
        let e = |s: &str| class(s).embedded.map(|e| (e.ipv4.to_string(), e.how));
        assert_eq!(
            e("64:ff9b::808:808"),
            Some(("8.8.8.8".into(), Embedding::Nat64))
        );
        assert_eq!(
            e("::ffff:1.2.3.4"),
            Some(("1.2.3.4".into(), Embedding::Mapped))
        );
        assert_eq!(
            e("2002:c000:204::1"),
            Some(("192.0.2.4".into(), Embedding::SixToFour))
        );
        // RFC 6052 §2.4 example for a /48: 2001:db8:122:c000:2:2100:: carries 192.0.2.33;
        // the same layout under 64:ff9b:1::/48.
        assert_eq!(
            e("64:ff9b:1:c000:2:2100::"),
            Some(("192.0.2.33".into(), Embedding::Nat64Local))
        );
        assert_eq!(
            e("64:ff9b:1::c000:221"),
            Some(("192.0.2.33".into(), Embedding::Nat64Local))
        );
        // RFC 4380 §4 example: server 65.54.227.120, client 192.0.2.45 behind NAT.
        let t = class("2001:0:4136:e378:8000:63bf:3fff:fdd2");
        let emb = t.embedded.clone().unwrap();
        assert_eq!(emb.ipv4.to_string(), "192.0.2.45");
        assert_eq!(emb.teredo_server.unwrap().to_string(), "65.54.227.120");
        assert!(!t.globally_reachable);
        assert!(t.note().unwrap().contains("Teredo server 65.54.227.120"));
        // The well-known NAT64 prefix is globally reachable, but the attributed host is the
        // IPv4 one.
        assert!(!class("64:ff9b::808:808").globally_reachable);
    }

    #[test]
    fn notes_say_why_nothing_was_looked_up() {
        assert_eq!(class("8.8.8.8").note(), None);
        let n = class("100.64.1.1").note().unwrap();
        assert!(
            n.contains("100.64.0.0/10 (Shared Address Space, RFC 6598)"),
            "{n}"
        );
        assert!(n.contains("only the operator"), "{n}");
        assert!(
            class("224.0.0.1")
                .note()
                .unwrap()
                .contains("multicast group")
        );
    }
}
