//! Tunnel headers: GRE (with ERSPAN I/II/III, PPTP and transparent Ethernet bridging) and
//! the UDP tunnels (VXLAN, Geneve, GTP-U, Teredo, AYIYA).
//!
//! UDP tunnels are recognised by their IANA port on either side and then checked by content,
//! as Zeek does: a datagram on port 4789 that is not VXLAN stays a plain UDP packet.

use super::{Cx, Encap, Outer, Tunnel, TunnelKind};
use crate::model::{Layer, Proto};

/// The tunnel carried by GRE at `off` (the GRE header) in an IP packet `outer`.
pub(super) fn gre(cx: &mut Cx<'_, '_>, outer: &Outer, off: usize, cap: usize) {
    if cap < 4 {
        return cx.truncated(Layer::Gre);
    }
    let flags = cx.be16(off);
    let proto = cx.be16(off + 2);
    let version = flags & 0x7;
    let mut pos = off + 4;
    let mut key = None;
    let mut seq_present = false;
    let end = off + cap;
    match version {
        0 => {
            let (c, r, k, s) = (
                flags & 0x8000 != 0,
                flags & 0x4000 != 0,
                flags & 0x2000 != 0,
                flags & 0x1000 != 0,
            );
            if c || r {
                pos += 4;
            }
            if k {
                if pos + 4 > end {
                    return cx.truncated(Layer::Gre);
                }
                key = Some(cx.be32(pos));
                pos += 4;
            }
            if s {
                seq_present = true;
                pos += 4;
            }
            if r {
                // Source route entries (RFC 1701), ended by a null entry.
                loop {
                    if pos + 4 > end {
                        return cx.truncated(Layer::Gre);
                    }
                    let af = cx.be16(pos);
                    let len = usize::from(cx.d[pos + 3]);
                    pos += 4 + len;
                    if af == 0 && len == 0 {
                        break;
                    }
                }
            }
        }
        1 => {
            // PPTP enhanced GRE: key = payload length + call id; optional sequence and ack.
            if flags & 0x2000 == 0 || proto != 0x880b || pos + 4 > end {
                return cx.malformed(Layer::Gre);
            }
            key = Some(u32::from(cx.be16(pos + 2)));
            pos += 4;
            if flags & 0x1000 != 0 {
                pos += 4;
            }
            if flags & 0x0080 != 0 {
                pos += 4;
            }
        }
        _ => return cx.malformed(Layer::Gre),
    }
    if pos > end {
        return cx.truncated(Layer::Gre);
    }
    let mut t = Tunnel {
        kind: TunnelKind::Gre,
        src: outer.src,
        dst: outer.dst,
        proto: Proto::GRE,
        sport: 0,
        dport: 0,
        id: key,
    };
    match (version, proto) {
        (1, _) => {
            t.kind = TunnelKind::Pptp;
            if pos == end {
                // An acknowledgement without payload.
                return;
            }
            if !enter(cx, t) {
                return;
            }
            cx.ppp(pos)
        }
        (_, 0x88be) if !seq_present => {
            t.kind = TunnelKind::Erspan1;
            t.id = None;
            if !enter(cx, t) {
                return;
            }
            cx.ethernet(pos)
        }
        (_, 0x88be) => {
            if pos + 8 > end {
                return cx.truncated(Layer::Erspan);
            }
            t.kind = TunnelKind::Erspan2;
            t.id = Some(u32::from(cx.be16(pos + 2) & 0x03ff));
            if !enter(cx, t) {
                return;
            }
            cx.ethernet(pos + 8)
        }
        (_, 0x22eb) => {
            if pos + 12 > end {
                return cx.truncated(Layer::Erspan);
            }
            t.kind = TunnelKind::Erspan3;
            t.id = Some(u32::from(cx.be16(pos + 2) & 0x03ff));
            let hw = cx.be16(pos + 10);
            let mut inner = pos + 12;
            // O flag: an 8-byte platform-specific subheader follows.
            if hw & 0x0001 != 0 {
                inner += 8;
            }
            // Frame type 0 is Ethernet; others (IP) carry no Ethernet header.
            let ft = (hw >> 10) & 0x1f;
            if !enter(cx, t) {
                return;
            }
            if ft == 0 {
                cx.ethernet(inner)
            } else {
                cx.ip(inner)
            }
        }
        (_, 0x6558) => {
            if !enter(cx, t) {
                return;
            }
            cx.ethernet(pos)
        }
        (_, 0x0800 | 0x86dd | 0x8847 | 0x8848 | 0x880b) => {
            if !enter(cx, t) {
                return;
            }
            if proto == 0x880b {
                cx.ppp(pos)
            } else {
                cx.ethertype(pos, proto)
            }
        }
        (_, 0x8909) => {
            // Cisco MetaData inside GRE: the ethertype comes first, then 6 bytes of tags.
            if pos + 8 > end {
                return cx.truncated(Layer::Gre);
            }
            let et = cx.be16(pos);
            if !enter(cx, t) {
                return;
            }
            cx.ethertype(pos + 8, et)
        }
        (_, 0x883e) => {
            // WCCP redirect header (4 bytes) before an IP packet.
            if !enter(cx, t) {
                return;
            }
            cx.ip(pos + 4)
        }
        (_, other) => {
            // Keepalives and non-IP payloads: the carrier packet is already counted.
            if pos < end {
                cx.not_ip(u32::from(other));
            }
        }
    }
}

/// Pushes a tunnel layer and switches to the tunnel's context.
fn enter(cx: &mut Cx<'_, '_>, t: Tunnel) -> bool {
    cx.enter_tunnel(t, [0, 0]);
    cx.push_encap(Encap::Tunnel(t))
}

const VXLAN: u16 = 4789;
const VXLAN_LINUX: u16 = 8472;
const GENEVE: u16 = 6081;
const GTP_U: u16 = 2152;
const TEREDO: u16 = 3544;
const AYIYA: u16 = 5072;

/// A UDP payload at `off` (`cap` captured bytes) that may be a tunnel.
pub(super) fn udp(cx: &mut Cx<'_, '_>, outer: &Outer, off: usize, cap: usize) {
    let on = |p: u16| outer.sport == p || outer.dport == p;
    let mk = |kind, id| Tunnel {
        kind,
        src: outer.src,
        dst: outer.dst,
        proto: Proto::UDP,
        sport: outer.sport,
        dport: outer.dport,
        id,
    };
    let d = &cx.d[off..off + cap];
    if (on(VXLAN) || on(VXLAN_LINUX)) && cap >= 8 + 14 && d[0] & 0x08 != 0 {
        let vni = u32::from_be_bytes([0, d[4], d[5], d[6]]);
        if enter(cx, mk(TunnelKind::Vxlan, Some(vni))) {
            cx.ethernet(off + 8);
        }
    } else if on(GENEVE) && cap >= 8 && d[0] >> 6 == 0 {
        let opt_len = usize::from(d[0] & 0x3f) * 4;
        let proto = u16::from_be_bytes([d[2], d[3]]);
        let vni = u32::from_be_bytes([0, d[4], d[5], d[6]]);
        let inner = off + 8 + opt_len;
        if 8 + opt_len > cap {
            return cx.truncated(Layer::Geneve);
        }
        if enter(cx, mk(TunnelKind::Geneve, Some(vni))) {
            match proto {
                0x6558 => cx.ethernet(inner),
                p => cx.ethertype(inner, p),
            }
        }
    } else if on(GTP_U) && cap >= 8 && d[0] >> 5 == 1 && d[0] & 0x10 != 0 {
        gtp_u(cx, outer, off, cap, mk(TunnelKind::GtpU, None));
    } else if on(TEREDO) || looks_like_teredo(d) {
        teredo(cx, off, cap, mk(TunnelKind::Teredo, None));
    } else if on(AYIYA) && cap >= 8 {
        let hdr = 8 + (1usize << (d[0] >> 4)) + usize::from(d[1] >> 4) * 4;
        let op = d[2] & 0x0f;
        let next = d[3];
        if op != 1 || hdr >= cap || !matches!(next, 4 | 41) {
            // Not a forwarded packet: the UDP packet is all there is.
            return;
        }
        if enter(cx, mk(TunnelKind::Ayiya, None)) {
            cx.ip(off + hdr);
        }
    }
}

fn gtp_u(cx: &mut Cx<'_, '_>, _outer: &Outer, off: usize, cap: usize, mut t: Tunnel) {
    let d = &cx.d[off..off + cap];
    let flags = d[0];
    let msg_type = d[1];
    t.id = Some(u32::from_be_bytes([d[4], d[5], d[6], d[7]]));
    if msg_type != 0xff {
        // Echo, error indication, end marker: signalling, no user packet.
        return;
    }
    let mut pos = 8;
    if flags & 0x07 != 0 {
        if cap < 12 {
            return cx.truncated(Layer::GtpU);
        }
        let mut next_ext = d[11];
        pos = 12;
        // Extension headers: length in 4-byte units, next type in the last byte.
        while next_ext != 0 {
            if pos >= cap {
                return cx.truncated(Layer::GtpU);
            }
            let len = usize::from(d[pos]) * 4;
            if len == 0 || pos + len > cap {
                return cx.malformed(Layer::GtpU);
            }
            next_ext = d[pos + len - 1];
            pos += len;
        }
    }
    if pos >= cap {
        return;
    }
    if !matches!(d[pos] >> 4, 4 | 6) {
        return cx.malformed(Layer::GtpU);
    }
    if enter(cx, t) {
        cx.ip(off + pos);
    }
}

/// Teredo relays and servers also use ports other than 3544; like Zeek's detector, take a
/// UDP payload on any port for Teredo when (after optional authentication and origin
/// indication headers) it is an IPv6 header with a Teredo address (2001:0::/32) on either
/// side. [`teredo`] then checks the lengths.
fn looks_like_teredo(d: &[u8]) -> bool {
    if d.len() < 40 {
        return false;
    }
    let mut pos = 0;
    if d[0] == 0 && d[1] == 1 && d.len() >= 4 {
        pos += 4 + usize::from(d[2]) + usize::from(d[3]) + 9;
    }
    if pos + 2 <= d.len() && d[pos] == 0 && d[pos + 1] == 0 {
        pos += 8;
    }
    if pos + 40 > d.len() || d[pos] >> 4 != 6 {
        return false;
    }
    let teredo = |a: &[u8]| a[..4] == [0x20, 0x01, 0x00, 0x00];
    teredo(&d[pos + 8..pos + 24]) || teredo(&d[pos + 24..pos + 40])
}

fn teredo(cx: &mut Cx<'_, '_>, off: usize, cap: usize, t: Tunnel) {
    let d = &cx.d[off..off + cap];
    let mut pos = 0;
    // Optional authentication header, then optional origin indication, then IPv6.
    if cap >= 4 && d[0] == 0 && d[1] == 1 {
        pos += 4 + usize::from(d[2]) + usize::from(d[3]) + 9;
    }
    if pos + 2 <= cap && d[pos] == 0 && d[pos + 1] == 0 {
        pos += 8;
    }
    if pos + 40 > cap || d[pos] >> 4 != 6 {
        return;
    }
    // The IPv6 payload length must fit the datagram, as Zeek checks before trusting it.
    let plen = usize::from(u16::from_be_bytes([d[pos + 4], d[pos + 5]]));
    let next_header = d[pos + 6];
    if pos + 40 + plen > cap && !(next_header == 59 && plen == 0) {
        return;
    }
    if enter(cx, t) {
        cx.ip(off + pos);
    }
}
