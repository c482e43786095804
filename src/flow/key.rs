//! Flow keys: the canonical, direction-free identity of a bidirectional flow.

use crate::decode::{Context, PacketFacts};
use crate::model::{Addr, Endpoint, Proto, Side};

/// The identity of a bidirectional flow: both endpoints in canonical order, the protocol,
/// and the overlay/VLAN context.
///
/// Endpoints are ordered the way Community ID v1 orders them (address bytes, then port), so
/// the lower endpoint is hashed first. ICMP messages use Zeek's port equivalents: a request
/// and its reply type share a key; one-way messages (errors, unknown types) keep their
/// sender first and are never reordered.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct FlowKey {
    lo_addr: [u64; 2],
    hi_addr: [u64; 2],
    lo_port: u16,
    hi_port: u16,
    /// Transport protocol.
    pub proto: Proto,
    /// Bit 0: one-way ICMP; bit 1: IPv4.
    bits: u8,
    vlan: [u16; 2],
    tunnel_kind: u8,
    tunnel_id: u32,
}

impl std::hash::Hash for FlowKey {
    /// Hashes the key as three 128-bit words (it is hashed once per packet): foldhash
    /// folds each in one multiply, without the bookkeeping of gathering 64-bit writes.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let pair = |a: u64, b: u64| u128::from(a) | u128::from(b) << 64;
        h.write_u128(pair(self.lo_addr[0], self.lo_addr[1]));
        h.write_u128(pair(self.hi_addr[0], self.hi_addr[1]));
        h.write_u128(pair(
            u64::from(self.lo_port)
                | u64::from(self.hi_port) << 16
                | u64::from(self.proto.0) << 32
                | u64::from(self.bits) << 40
                | u64::from(self.tunnel_kind) << 48,
            u64::from(self.vlan[0])
                | u64::from(self.vlan[1]) << 16
                | u64::from(self.tunnel_id) << 32,
        ));
    }
}

impl FlowKey {
    /// Builds the key of a packet and says which side of it sent the packet.
    // Always inlined: returned through memory, the key's narrow fields were read back
    // wide and stalled the load on every packet.
    #[inline(always)]
    pub fn of(p: &PacketFacts) -> (FlowKey, Side) {
        let (sport, dport, one_way) = if p.proto.is_icmp() && p.ports_known {
            icmp_port_equivalents(p.proto, p.sport as u8, p.dport as u8)
        } else if p.proto.has_ports() || p.proto.is_icmp() {
            (p.sport, p.dport, false)
        } else {
            (0, 0, false)
        };
        FlowKey::new(p.src, sport, p.dst, dport, p.proto, one_way, p.ctx)
    }

    /// The lower endpoint (the sender for one-way ICMP).
    #[inline]
    pub fn lo(&self) -> Endpoint {
        self.endpoint(Side::Lo)
    }

    /// The higher endpoint (the receiver for one-way ICMP).
    #[inline]
    pub fn hi(&self) -> Endpoint {
        self.endpoint(Side::Hi)
    }

    /// One-way ICMP message: endpoints are in sender order, not canonical order.
    #[inline]
    pub fn one_way(&self) -> bool {
        self.bits & 1 != 0
    }

    /// Overlay and VLAN context.
    #[inline]
    pub fn ctx(&self) -> Context {
        Context {
            vlan: self.vlan,
            tunnel_kind: self.tunnel_kind,
            tunnel_id: self.tunnel_id,
        }
    }

    /// Builds a key from a sender and a receiver, canonicalising unless `one_way`.
    #[inline]
    pub fn new(
        src: Addr,
        sport: u16,
        dst: Addr,
        dport: u16,
        proto: Proto,
        one_way: bool,
        ctx: Context,
    ) -> (FlowKey, Side) {
        let s = Endpoint {
            addr: src,
            port: sport,
        };
        let d = Endpoint {
            addr: dst,
            port: dport,
        };
        let (lo, hi, side) = if one_way || (s.addr, s.port) <= (d.addr, d.port) {
            (s, d, Side::Lo)
        } else {
            (d, s, Side::Hi)
        };
        (
            FlowKey {
                lo_addr: [lo.addr.hi, lo.addr.lo],
                hi_addr: [hi.addr.hi, hi.addr.lo],
                lo_port: lo.port,
                hi_port: hi.port,
                proto,
                bits: u8::from(one_way) | (u8::from(src.v4) << 1),
                vlan: ctx.vlan,
                tunnel_kind: ctx.tunnel_kind,
                tunnel_id: ctx.tunnel_id,
            },
            side,
        )
    }

    /// The endpoint of a side.
    #[inline]
    pub fn endpoint(&self, side: Side) -> Endpoint {
        let (a, port) = match side {
            Side::Lo => (self.lo_addr, self.lo_port),
            Side::Hi => (self.hi_addr, self.hi_port),
        };
        Endpoint {
            addr: Addr {
                hi: a[0],
                lo: a[1],
                v4: self.bits & 2 != 0,
            },
            port,
        }
    }

    /// The key as 48 bytes (for spilling flows to disk).
    pub fn to_bytes(&self) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[0..8].copy_from_slice(&self.lo_addr[0].to_le_bytes());
        b[8..16].copy_from_slice(&self.lo_addr[1].to_le_bytes());
        b[16..24].copy_from_slice(&self.hi_addr[0].to_le_bytes());
        b[24..32].copy_from_slice(&self.hi_addr[1].to_le_bytes());
        b[32..34].copy_from_slice(&self.lo_port.to_le_bytes());
        b[34..36].copy_from_slice(&self.hi_port.to_le_bytes());
        b[36] = self.proto.0;
        b[37] = self.bits;
        b[38..40].copy_from_slice(&self.vlan[0].to_le_bytes());
        b[40..42].copy_from_slice(&self.vlan[1].to_le_bytes());
        b[42] = self.tunnel_kind;
        b[44..48].copy_from_slice(&self.tunnel_id.to_le_bytes());
        b
    }

    /// The inverse of [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(b: &[u8; 48]) -> FlowKey {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        FlowKey {
            lo_addr: [u64_at(0), u64_at(8)],
            hi_addr: [u64_at(16), u64_at(24)],
            lo_port: u16_at(32),
            hi_port: u16_at(34),
            proto: Proto(b[36]),
            bits: b[37],
            vlan: [u16_at(38), u16_at(40)],
            tunnel_kind: b[42],
            tunnel_id: u32::from_le_bytes([b[44], b[45], b[46], b[47]]),
        }
    }

    /// The same flow with ports 0: where fragments go whose first fragment never came.
    pub fn without_ports(&self) -> FlowKey {
        let mut k = *self;
        k.lo_port = 0;
        k.hi_port = 0;
        k
    }
}

/// Zeek's (and Community ID's) mapping of ICMP type/code to port equivalents: a message
/// with a counterpart type (echo ↔ echo reply, ...) uses (type, counterpart) and is
/// two-way; any other uses (type, code) and is one-way.
pub fn icmp_port_equivalents(proto: Proto, ty: u8, code: u8) -> (u16, u16, bool) {
    let counterpart = if proto == Proto::ICMP {
        match ty {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            10 => Some(9),
            9 => Some(10),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    } else {
        match ty {
            128 => Some(129),
            129 => Some(128),
            130 => Some(131),
            131 => Some(130),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            139 => Some(140),
            140 => Some(139),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    };
    match counterpart {
        Some(c) => (u16::from(ty), c, false),
        None => (u16::from(ty), u16::from(code), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, proto: Proto) -> PacketFacts {
        PacketFacts {
            src: Addr::v4(src),
            dst: Addr::v4(dst),
            sport: sp,
            dport: dp,
            proto,
            ports_known: true,
            ..PacketFacts::default()
        }
    }

    #[test]
    fn both_directions_of_a_connection_share_a_key() {
        let (a, sa) = FlowKey::of(&facts([10, 0, 0, 2], 4000, [10, 0, 0, 1], 80, Proto::TCP));
        let (b, sb) = FlowKey::of(&facts([10, 0, 0, 1], 80, [10, 0, 0, 2], 4000, Proto::TCP));
        assert_eq!(a, b);
        assert_ne!(sa, sb);
        assert_eq!(a.lo().port, 80);
    }

    #[test]
    fn echo_request_and_reply_share_a_key_but_errors_do_not_flip() {
        let (req, _) = FlowKey::of(&facts([10, 0, 0, 2], 8, [10, 0, 0, 1], 0, Proto::ICMP));
        let (rep, _) = FlowKey::of(&facts([10, 0, 0, 1], 0, [10, 0, 0, 2], 0, Proto::ICMP));
        assert_eq!(req, rep);
        let (e1, s1) = FlowKey::of(&facts([10, 0, 0, 2], 3, [10, 0, 0, 1], 3, Proto::ICMP));
        let (e2, _) = FlowKey::of(&facts([10, 0, 0, 1], 3, [10, 0, 0, 2], 3, Proto::ICMP));
        assert_ne!(e1, e2);
        assert!(e1.one_way());
        assert_eq!(s1, Side::Lo);
        assert_eq!(e1.lo().addr, Addr::v4([10, 0, 0, 2]));
    }

    #[test]
    fn protocols_without_ports_ignore_port_fields() {
        let (k, _) = FlowKey::of(&facts([10, 0, 0, 2], 99, [10, 0, 0, 1], 98, Proto::GRE));
        assert_eq!((k.lo().port, k.hi().port), (0, 0));
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn hot_structures_stay_small() {
        // Hashed and copied once per packet: keep them within one cache line.
        assert_eq!(std::mem::size_of::<super::FlowKey>(), 48);
        assert!(std::mem::size_of::<crate::decode::PacketFacts>() <= 128);
        println!(
            "flow {} facts {}",
            std::mem::size_of::<crate::flow::Flow>(),
            std::mem::size_of::<crate::decode::PacketFacts>()
        );
    }
}
