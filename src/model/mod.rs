//! Shared vocabulary of every stage: capture time, addresses, protocols, locators.
//!
//! Std only, but for the tables' hasher ([`Seeded`]). Nothing here knows about files, packets or reports; stages build on these types
//! so that what crosses a stage boundary is small, owned and already validated.

mod bin;
mod diag;
mod hash;
mod time;

pub use bin::{BinReader, BinWriter};

pub use diag::{Diagnostics, LISTED_DETAILS, Layer, Listed, SkipReason, SkipStat};
pub use hash::{Seeded, set_hash_seed};
pub use time::{Date, Rfc3339, Seconds, Timestamp};

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address as two 64-bit words plus a family flag: cheap to hash and compare.
///
/// IPv4 addresses are stored IPv4-mapped (`::ffff:a.b.c.d`) with `v4 = true`, so an IPv4
/// address and the IPv6 address `::ffff:a.b.c.d` never compare equal. The words are the
/// address read big-endian, so their order is the byte order Community ID sorts by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr {
    /// The upper 64 bits of the address.
    pub hi: u64,
    /// The lower 64 bits (IPv4: `0xffff_xxxx_xxxx`).
    pub lo: u64,
    /// True for IPv4.
    pub v4: bool,
}

impl Addr {
    /// Packs an IPv4 address given as four network-order bytes.
    #[inline]
    pub fn v4(b: [u8; 4]) -> Addr {
        Addr {
            hi: 0,
            lo: 0xffff_0000_0000 | u64::from(u32::from_be_bytes(b)),
            v4: true,
        }
    }

    /// Packs an IPv6 address given as sixteen network-order bytes.
    #[inline]
    pub fn v6(bytes: [u8; 16]) -> Addr {
        let b = u128::from_be_bytes(bytes);
        Addr {
            hi: (b >> 64) as u64,
            lo: b as u64,
            v4: false,
        }
    }

    /// The address as one number (big-endian reading of its bytes).
    #[inline]
    pub fn bits(&self) -> u128 {
        (u128::from(self.hi) << 64) | u128::from(self.lo)
    }

    /// The sixteen bytes of the (IPv4-mapped for IPv4) address in network order.
    #[inline]
    pub fn octets(&self) -> [u8; 16] {
        self.bits().to_be_bytes()
    }

    /// Appends the bytes that go on the wire (4 for IPv4, 16 for IPv6) to `out`.
    #[inline]
    pub fn wire_bytes(&self, out: &mut Vec<u8>) {
        let b = self.octets();
        out.extend_from_slice(if self.v4 { &b[12..] } else { &b[..] });
    }

    /// Converts to the standard library type.
    pub fn to_ip(&self) -> IpAddr {
        if self.v4 {
            IpAddr::V4(Ipv4Addr::from(self.lo as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(self.bits()))
        }
    }

    /// The address and a port as text: `192.0.2.1:80`, `[2001:db8::1]:80`.
    pub fn with_port(&self, port: u16) -> String {
        std::net::SocketAddr::new(self.to_ip(), port).to_string()
    }
}

impl Addr {
    /// Writes the address (17 bytes).
    pub fn encode(&self, w: &mut BinWriter) {
        w.u64(self.hi);
        w.u64(self.lo);
        w.u8(u8::from(self.v4));
    }

    /// Reads an address written by [`encode`](Self::encode).
    pub fn decode(r: &mut BinReader<'_>) -> Option<Addr> {
        Some(Addr {
            hi: r.u64()?,
            lo: r.u64()?,
            v4: r.u8()? != 0,
        })
    }
}

impl Locator {
    /// Writes the locator.
    pub fn encode(&self, w: &mut BinWriter) {
        w.u32(self.input);
        w.u32(self.interface);
        w.u64(self.frame);
        w.u64(self.offset);
    }

    /// Reads a locator written by [`encode`](Self::encode).
    pub fn decode(r: &mut BinReader<'_>) -> Option<Locator> {
        Some(Locator {
            input: r.u32()?,
            interface: r.u32()?,
            frame: r.u64()?,
            offset: r.u64()?,
        })
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(a) => Addr::v4(a.octets()),
            IpAddr::V6(a) => Addr::v6(a.octets()),
        }
    }
}

/// Dotted-quad text of an IPv4 address in a stack buffer, and its length.
fn v4_text(o: [u8; 4]) -> ([u8; 15], usize) {
    let mut b = [0u8; 15];
    let mut n = 0;
    for (i, v) in o.into_iter().enumerate() {
        if i > 0 {
            b[n] = b'.';
            n += 1;
        }
        let w = if v >= 100 {
            3
        } else if v >= 10 {
            2
        } else {
            1
        };
        time::digits(&mut b[n..n + w], u64::from(v));
        n += w;
    }
    (b, n)
}

/// RFC 5952 text of an IPv6 address as the standard library writes it (lowercase hex
/// without leading zeros, the first longest run of two or more zero groups as `::`,
/// IPv4-mapped addresses as `::ffff:a.b.c.d`) in a stack buffer, and its length.
fn v6_text(o: [u8; 16]) -> ([u8; 39], usize) {
    let mut b = [0u8; 39];
    let mut n = 0;
    let mut put = |s: &[u8]| {
        b[n..n + s.len()].copy_from_slice(s);
        n += s.len();
    };
    let g: [u16; 8] = std::array::from_fn(|i| u16::from_be_bytes([o[2 * i], o[2 * i + 1]]));
    if g[..5] == [0; 5] && g[5] == 0xffff {
        put(b"::ffff:");
        let (t, len) = v4_text([o[12], o[13], o[14], o[15]]);
        put(&t[..len]);
        return (b, n);
    }
    // The first longest run of zero groups, if it is two groups or more.
    let (mut zs, mut zl) = (8, 0);
    let mut i = 0;
    while i < 8 {
        if g[i] == 0 {
            let s = i;
            while i < 8 && g[i] == 0 {
                i += 1;
            }
            if i - s > zl {
                (zs, zl) = (s, i - s);
            }
        } else {
            i += 1;
        }
    }
    if zl < 2 {
        (zs, zl) = (8, 0);
    }
    /// Four hex digits and how many leading zeros to leave out.
    fn hex(v: u16) -> ([u8; 4], usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let d = [
            HEX[usize::from(v >> 12)],
            HEX[usize::from(v >> 8 & 0xf)],
            HEX[usize::from(v >> 4 & 0xf)],
            HEX[usize::from(v & 0xf)],
        ];
        (d, (v | 1).leading_zeros() as usize / 4)
    }
    for (i, &v) in g.iter().enumerate() {
        if i == zs {
            put(b"::");
        }
        if (zs..zs + zl).contains(&i) {
            continue;
        }
        if i > 0 && i != zs + zl {
            put(b":");
        }
        let (d, skip) = hex(v);
        put(&d[skip..]);
    }
    (b, n)
}

impl Addr {
    /// Appends the address as [`Display`](fmt::Display) writes it, without the formatting
    /// machinery (the flow table writes two addresses per row).
    pub fn push_text(self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = self.write_text(out);
    }

    /// Writes the text [`push_text`](Self::push_text) appends through any writer, with one
    /// string write (no formatting machinery).
    pub fn write_text<W: fmt::Write + ?Sized>(self, w: &mut W) -> fmt::Result {
        // The buffers hold ASCII digits, letters, dots and colons only.
        match self.to_ip() {
            IpAddr::V4(a) => {
                let (b, n) = v4_text(a.octets());
                w.write_str(std::str::from_utf8(&b[..n]).unwrap_or_default())
            }
            IpAddr::V6(a) => {
                let (b, n) = v6_text(a.octets());
                w.write_str(std::str::from_utf8(&b[..n]).unwrap_or_default())
            }
        }
    }
}

impl fmt::Display for Addr {
    /// RFC 5952 text for IPv6, dotted quad for IPv4.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_ip() {
            IpAddr::V4(a) => {
                let (b, n) = v4_text(a.octets());
                f.pad(std::str::from_utf8(&b[..n]).map_err(|_| fmt::Error)?)
            }
            ip => fmt::Display::fmt(&ip, f),
        }
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An address with a port, written `a.b.c.d:p` or `[v6]:p`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Endpoint {
    /// The address.
    pub addr: Addr,
    /// The port (or ICMP type/code equivalent; 0 where the protocol has none).
    pub port: u16,
}

impl Endpoint {
    /// Writes `a.b.c.d:p` or `[v6]:p` through any writer with plain string writes (the
    /// flow table writes tunnel endpoints into every tunnelled row).
    pub fn write_text<W: fmt::Write + ?Sized>(self, w: &mut W) -> fmt::Result {
        if !self.addr.v4 {
            w.write_str("[")?;
        }
        self.addr.write_text(w)?;
        w.write_str(if self.addr.v4 { ":" } else { "]:" })?;
        w.write_str(itoa::Buffer::new().format(self.port))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_text(f)
    }
}

/// An IP protocol number (the IANA "Assigned Internet Protocol Numbers" registry).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Proto(pub u8);

impl Proto {
    /// ICMP for IPv4.
    pub const ICMP: Proto = Proto(1);
    /// IPv4 encapsulated in IP.
    pub const IPIP: Proto = Proto(4);
    /// TCP.
    pub const TCP: Proto = Proto(6);
    /// UDP.
    pub const UDP: Proto = Proto(17);
    /// IPv6 encapsulated in IP.
    pub const IPV6: Proto = Proto(41);
    /// Generic Routing Encapsulation.
    pub const GRE: Proto = Proto(47);
    /// Encapsulating Security Payload.
    pub const ESP: Proto = Proto(50);
    /// ICMP for IPv6.
    pub const ICMPV6: Proto = Proto(58);
    /// SCTP.
    pub const SCTP: Proto = Proto(132);

    /// Lower-case name as Zeek and the IANA keyword list write it, or the number.
    pub fn name(self) -> ProtoName {
        ProtoName(self.0)
    }

    /// True for protocols whose flows are keyed on ports (TCP, UDP, SCTP, UDP-Lite, DCCP).
    pub fn has_ports(self) -> bool {
        matches!(self.0, 6 | 17 | 33 | 132 | 136)
    }

    /// True for ICMP and ICMPv6.
    pub fn is_icmp(self) -> bool {
        matches!(self.0, 1 | 58)
    }

    /// Parses a name (`tcp`, `udp`, `icmp`, ...) or a decimal protocol number.
    pub fn parse(s: &str) -> Option<Proto> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u8>() {
            return Some(Proto(n));
        }
        (0..=255u8)
            .map(Proto)
            .find(|p| p.known_name().is_some_and(|n| n.eq_ignore_ascii_case(s)))
    }

    fn known_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "hopopt",
            1 => "icmp",
            2 => "igmp",
            4 => "ipip",
            6 => "tcp",
            17 => "udp",
            33 => "dccp",
            41 => "ipv6",
            46 => "rsvp",
            47 => "gre",
            50 => "esp",
            51 => "ah",
            58 => "icmp6",
            89 => "ospf",
            103 => "pim",
            112 => "vrrp",
            115 => "l2tp",
            132 => "sctp",
            136 => "udplite",
            _ => return None,
        })
    }
}

/// Display adapter for [`Proto::name`].
pub struct ProtoName(u8);

impl Proto {
    /// Appends the protocol's name as [`Proto::name`] writes it, without the formatting
    /// machinery.
    pub fn push_name(self, out: &mut String) {
        match self.known_name() {
            Some(n) => out.push_str(n),
            None => out.push_str(itoa::Buffer::new().format(self.0)),
        }
    }
}

impl fmt::Display for ProtoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Proto(self.0).known_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A capture link-layer header type (the tcpdump.org LINKTYPE_ registry), kept open so
/// unknown values survive to be counted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback, host byte order address family.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II / 802.3.
    pub const ETHERNET: LinkType = LinkType(1);
    /// PPP, with or without HDLC address/control bytes.
    pub const PPP: LinkType = LinkType(9);
    /// OpenBSD DLT_RAW value seen in some files.
    pub const RAW_12: LinkType = LinkType(12);
    /// OpenBSD/FreeBSD DLT_RAW value seen in some files.
    pub const RAW_14: LinkType = LinkType(14);
    /// PPP in HDLC-like framing.
    pub const PPP_HDLC: LinkType = LinkType(50);
    /// PPPoE session payload (PPP protocol field first).
    pub const PPP_ETHER: LinkType = LinkType(51);
    /// Raw IPv4 or IPv6, version from the first nibble.
    pub const RAW: LinkType = LinkType(101);
    /// Cisco HDLC.
    pub const C_HDLC: LinkType = LinkType(104);
    /// OpenBSD loopback, network byte order address family.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux "cooked" capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux netfilter NFLOG.
    pub const NFLOG: LinkType = LinkType(239);
    /// Linux "cooked" capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// Where a piece of evidence was found: input file, interface, frame (1-based, as Wireshark
/// numbers them) and byte offset of the record in the (decompressed) input.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Locator {
    /// Index of the input in the run's input list.
    pub input: u32,
    /// Capture interface (pcapng interface id; 0 for classic pcap).
    pub interface: u32,
    /// Frame number within the input, counting from 1.
    pub frame: u64,
    /// Byte offset of the frame's record header within the input.
    pub offset: u64,
}

/// One side of a bidirectional flow, in the canonical order of its key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Side {
    /// The endpoint that sorts lower in the flow key.
    Lo,
    /// The endpoint that sorts higher in the flow key.
    Hi,
}

impl Side {
    /// The other side.
    #[inline]
    pub fn other(self) -> Side {
        match self {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        }
    }

    /// 0 for `Lo`, 1 for `Hi`, for indexing per-side arrays.
    #[inline]
    pub fn idx(self) -> usize {
        match self {
            Side::Lo => 0,
            Side::Hi => 1,
        }
    }
}

/// `n` with its noun in the right number ("1 packet", "2 packets", "2 entries"), for the
/// sentences of reports an investigator sends as they are.
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_puts_the_noun_in_number() {
        assert_eq!(counted(0u64, "entry", "entries"), "0 entries");
        assert_eq!(counted(1u8, "router", "routers"), "1 router");
        assert_eq!(counted(2u32, "proxy", "proxies"), "2 proxies");
    }

    #[test]
    fn addresses_write_as_the_standard_library_does() {
        for o in [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [10, 0, 99, 100],
            [1, 22, 203, 9],
        ] {
            let ip = Ipv4Addr::from(o);
            let a = Addr::v4(o);
            assert_eq!(a.to_string(), ip.to_string());
            assert_eq!(format!("{a:>16}|{a:<16}|"), format!("{ip:>16}|{ip:<16}|"));
        }
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(Addr::v6(v6.octets()).to_string(), "2001:db8::1");
    }

    /// `push_text` against the standard library's text: every pattern of zero and non-zero
    /// groups (which run is compressed, ties, single zeros), digits of every width,
    /// IPv4-mapped addresses and those near them, and IPv4.
    #[test]
    fn pushed_text_is_the_standard_librarys_for_every_zero_pattern() {
        let check = |ip: IpAddr| {
            let mut s = String::from("x");
            Addr::from(ip).push_text(&mut s);
            assert_eq!(s[1..], ip.to_string(), "{ip:?}");
        };
        let values = [1u16, 0xf, 0x10, 0xab, 0x100, 0xabc, 0x1000, 0xffff, 0x8000];
        for pattern in 0u32..256 {
            for (k, _) in values.iter().enumerate() {
                let g: [u16; 8] = std::array::from_fn(|i| {
                    if pattern >> i & 1 == 0 {
                        0
                    } else {
                        values[(k + i) % values.len()]
                    }
                });
                check(IpAddr::V6(Ipv6Addr::from(g)));
            }
        }
        for o in [
            [0, 0, 0, 0],
            [192, 0, 2, 1],
            [255, 255, 255, 255],
            [10, 0, 0, 9],
        ] {
            let [a, b, c, d] = o;
            let w = [u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])];
            for (g5, g4) in [(0xffff, 0), (0xfffe, 0), (0xffff, 1), (0, 0)] {
                check(IpAddr::V6(Ipv6Addr::from([0, 0, 0, 0, g4, g5, w[0], w[1]])));
            }
            check(IpAddr::V4(Ipv4Addr::from(o)));
        }
    }

    #[test]
    fn ipv4_and_mapped_ipv6_stay_distinct() {
        let a = Addr::v4([10, 0, 0, 1]);
        let b = Addr::from("::ffff:10.0.0.1".parse::<IpAddr>().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.to_string(), "10.0.0.1");
        assert_eq!(b.to_string(), "::ffff:10.0.0.1");
    }

    #[test]
    fn endpoints_print_ipv6_in_brackets() {
        let e = Endpoint {
            addr: Addr::from("2001:db8::1".parse::<IpAddr>().unwrap()),
            port: 443,
        };
        assert_eq!(e.to_string(), "[2001:db8::1]:443");
    }

    #[test]
    fn protocol_names_parse_both_ways() {
        assert_eq!(Proto::parse("TCP"), Some(Proto::TCP));
        assert_eq!(Proto::parse("icmp6"), Some(Proto::ICMPV6));
        assert_eq!(Proto::parse("253"), Some(Proto(253)));
        assert_eq!(Proto(253).name().to_string(), "253");
        assert_eq!(Proto::parse("nonsense"), None);
    }
}
