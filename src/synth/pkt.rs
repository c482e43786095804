//! Packet builders: each function returns the bytes of one layer around a payload, so
//! frames are built inside out: `eth(IPV4, &ipv4(a, b, TCP, &tcp4(...)))`.

/// Ethertypes and protocol numbers used by the builders.
pub mod num {
    /// IPv4 ethertype.
    pub const IPV4: u16 = 0x0800;
    /// IPv6 ethertype.
    pub const IPV6: u16 = 0x86dd;
    /// ARP ethertype.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag.
    pub const QINQ: u16 = 0x88a8;
    /// MPLS unicast.
    pub const MPLS: u16 = 0x8847;
    /// PPPoE session.
    pub const PPPOE: u16 = 0x8864;
    /// VN-Tag.
    pub const VNTAG: u16 = 0x8926;
    /// 802.1ah.
    pub const PBB: u16 = 0x88e7;
    /// Transparent Ethernet bridging (in GRE).
    pub const TEB: u16 = 0x6558;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// ICMPv6.
    pub const ICMP6: u8 = 58;
    /// GRE.
    pub const GRE: u8 = 47;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

use num::*;

/// One's-complement sum used by IP, TCP, UDP and ICMP checksums.
fn csum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for p in parts {
        for c in p.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            sum += u32::from(w);
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet II frame.
pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    ];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A VLAN tag body (TCI + inner ethertype) and payload, to put after ethertype `VLAN`/`QINQ`.
pub fn vlan(vid: u16, inner: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = (vid & 0x0fff).to_be_bytes().to_vec();
    v.extend_from_slice(&inner.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A VN-Tag body and payload, to put after ethertype `VNTAG`.
pub fn vntag(inner: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 0x01, 0x00, 0x02];
    v.extend_from_slice(&inner.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// An 802.1ah I-tag and customer frame, to put after ethertype `PBB`.
pub fn pbb(isid: u32, customer_frame: &[u8]) -> Vec<u8> {
    let mut v = (isid & 0x00ff_ffff).to_be_bytes().to_vec();
    v.extend_from_slice(customer_frame);
    v
}

/// An MPLS label stack (bottom of stack on the last label) and payload.
pub fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        let bos = if i + 1 == labels.len() { 0x100 } else { 0 };
        v.extend_from_slice(&((l << 12) | bos | 64).to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// A PPPoE session header, PPP protocol and payload, to put after ethertype `PPPOE`.
pub fn pppoe(session: u16, ppp_proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x11, 0x00];
    v.extend_from_slice(&session.to_be_bytes());
    v.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    v.extend_from_slice(&ppp_proto.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Fields of an IPv4 header.
#[derive(Clone, Debug)]
pub struct Ip4 {
    /// Source.
    pub src: [u8; 4],
    /// Destination.
    pub dst: [u8; 4],
    /// Protocol.
    pub proto: u8,
    /// TTL.
    pub ttl: u8,
    /// Identification.
    pub id: u16,
    /// Fragment offset in bytes (multiple of 8).
    pub frag_offset: u16,
    /// More fragments.
    pub more: bool,
    /// Options (padded to 4 bytes).
    pub options: Vec<u8>,
    /// Total length to write instead of the real one.
    pub total_len: Option<u16>,
}

impl Ip4 {
    /// An unfragmented header with TTL 64.
    pub fn new(src: [u8; 4], dst: [u8; 4], proto: u8) -> Ip4 {
        Ip4 {
            src,
            dst,
            proto,
            ttl: 64,
            id: 1,
            frag_offset: 0,
            more: false,
            options: Vec::new(),
            total_len: None,
        }
    }

    /// The packet with this header around `payload`.
    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let mut opts = self.options.clone();
        opts.resize(opts.len().div_ceil(4) * 4, 0);
        let hl = 20 + opts.len();
        let total = self.total_len.unwrap_or((hl + payload.len()) as u16);
        let mut h = vec![0x40 | (hl / 4) as u8, 0];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&self.id.to_be_bytes());
        let ff = (self.frag_offset / 8) | if self.more { 0x2000 } else { 0 };
        h.extend_from_slice(&ff.to_be_bytes());
        h.extend_from_slice(&[self.ttl, self.proto, 0, 0]);
        h.extend_from_slice(&self.src);
        h.extend_from_slice(&self.dst);
        h.extend_from_slice(&opts);
        let c = csum(&[&h]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(payload);
        h
    }
}

/// An IPv4 packet with TTL 64.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    Ip4::new(src, dst, proto).build(payload)
}

/// An IPv6 packet with hop limit 64 and optional extension headers, each given as
/// (header type, body after the next-header and length bytes).
pub fn ipv6_ext(
    src: [u8; 16],
    dst: [u8; 16],
    exts: &[(u8, Vec<u8>)],
    proto: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut ext_bytes = Vec::new();
    for (i, (ty, body)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(proto, |e| e.0);
        if *ty == 44 {
            // Fragment header: fixed 8 bytes, body = 6 bytes (offset/flags + id).
            ext_bytes.push(next);
            ext_bytes.push(0);
            ext_bytes.extend_from_slice(&body[..6]);
        } else {
            let len = (2 + body.len()).div_ceil(8) * 8;
            ext_bytes.push(next);
            ext_bytes.push((len / 8 - 1) as u8);
            ext_bytes.extend_from_slice(body);
            ext_bytes.resize(ext_bytes.len() + len - 2 - body.len(), 0);
        }
    }
    let first = exts.first().map_or(proto, |e| e.0);
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&((ext_bytes.len() + payload.len()) as u16).to_be_bytes());
    v.push(first);
    v.push(64);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(&ext_bytes);
    v.extend_from_slice(payload);
    v
}

/// An IPv6 packet with hop limit 64.
pub fn ipv6(src: [u8; 16], dst: [u8; 16], proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_ext(src, dst, &[], proto, payload)
}

/// An IPv6 fragment header body for [`ipv6_ext`]: offset in bytes, more flag, id.
pub fn ipv6_frag(offset: u16, more: bool, id: u32) -> (u8, Vec<u8>) {
    let mut b = ((offset / 8) << 3 | u16::from(more)).to_be_bytes().to_vec();
    b.extend_from_slice(&id.to_be_bytes());
    (44, b)
}

/// Source and destination as they enter a transport checksum's pseudo-header.
#[derive(Clone, Copy, Debug)]
pub enum Pseudo {
    /// IPv4 addresses.
    V4([u8; 4], [u8; 4]),
    /// IPv6 addresses.
    V6([u8; 16], [u8; 16]),
}

fn pseudo_sum(p: Pseudo, proto: u8, seg: &[u8]) -> u16 {
    let len = seg.len() as u32;
    match p {
        Pseudo::V4(s, d) => {
            let mut ph = Vec::with_capacity(12);
            ph.extend_from_slice(&s);
            ph.extend_from_slice(&d);
            ph.extend_from_slice(&[0, proto]);
            ph.extend_from_slice(&(len as u16).to_be_bytes());
            csum(&[&ph, seg])
        }
        Pseudo::V6(s, d) => {
            let mut ph = Vec::with_capacity(40);
            ph.extend_from_slice(&s);
            ph.extend_from_slice(&d);
            ph.extend_from_slice(&len.to_be_bytes());
            ph.extend_from_slice(&[0, 0, 0, proto]);
            csum(&[&ph, seg])
        }
    }
}

/// A TCP segment (20-byte header, window 65535).
pub fn tcp(p: Pseudo, sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(20 + payload.len());
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    v.extend_from_slice(payload);
    let c = pseudo_sum(p, TCP, &v);
    v[16..18].copy_from_slice(&c.to_be_bytes());
    v
}

/// A UDP datagram.
pub fn udp(p: Pseudo, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + payload.len());
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(payload);
    let c = match pseudo_sum(p, UDP, &v) {
        0 => 0xffff,
        c => c,
    };
    v[6..8].copy_from_slice(&c.to_be_bytes());
    v
}

/// An SCTP common header (checksum left zero) and chunk bytes.
pub fn sctp(sport: u16, dport: u16, chunks: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(chunks);
    v
}

/// An ICMP message: type, code, 4 bytes of rest-of-header, and data.
pub fn icmp4(ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, code, 0, 0];
    v.extend_from_slice(&rest);
    v.extend_from_slice(data);
    let c = csum(&[&v]);
    v[2..4].copy_from_slice(&c.to_be_bytes());
    v
}

/// An ICMPv6 message.
pub fn icmp6(p: Pseudo, ty: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, code, 0, 0];
    v.extend_from_slice(&rest);
    v.extend_from_slice(data);
    let c = pseudo_sum(p, ICMP6, &v);
    v[2..4].copy_from_slice(&c.to_be_bytes());
    v
}

/// A GRE header (version 0) with optional checksum flag, key and sequence number.
pub fn gre(proto: u16, key: Option<u32>, seq: Option<u32>, payload: &[u8]) -> Vec<u8> {
    let mut flags = 0u16;
    if key.is_some() {
        flags |= 0x2000;
    }
    if seq.is_some() {
        flags |= 0x1000;
    }
    let mut v = flags.to_be_bytes().to_vec();
    v.extend_from_slice(&proto.to_be_bytes());
    if let Some(k) = key {
        v.extend_from_slice(&k.to_be_bytes());
    }
    if let Some(s) = seq {
        v.extend_from_slice(&s.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// PPTP's enhanced GRE (version 1) carrying a PPP frame with protocol `ppp_proto`.
pub fn pptp(call_id: u16, seq: u32, ppp_proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x30, 0x01, 0x88, 0x0b];
    v.extend_from_slice(&((payload.len() + 4) as u16).to_be_bytes());
    v.extend_from_slice(&call_id.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&[0xff, 0x03]);
    v.extend_from_slice(&ppp_proto.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// ERSPAN type II header (after GRE with sequence number) and mirrored frame.
pub fn erspan2(session: u16, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![0x10, 0x00];
    v.extend_from_slice(&(session & 0x03ff).to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(frame);
    v
}

/// ERSPAN type III header (no platform subheader) and mirrored Ethernet frame.
pub fn erspan3(session: u16, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![0x20, 0x00];
    v.extend_from_slice(&(session & 0x03ff).to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    v.extend_from_slice(frame);
    v
}

/// A VXLAN header and inner Ethernet frame.
pub fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![0x08, 0, 0, 0];
    v.extend_from_slice(&(vni << 8).to_be_bytes());
    v.extend_from_slice(frame);
    v
}

/// A Geneve header (with one 4-byte option) and payload of protocol type `proto`.
pub fn geneve(vni: u32, proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x01, 0x00];
    v.extend_from_slice(&proto.to_be_bytes());
    v.extend_from_slice(&(vni << 8).to_be_bytes());
    v.extend_from_slice(&[0x01, 0x02, 0x80, 0x00]);
    v.extend_from_slice(payload);
    v
}

/// A GTP-U G-PDU header (with sequence number and one extension header) and IP packet.
pub fn gtpu(teid: u32, ip: &[u8]) -> Vec<u8> {
    let mut v = vec![0x36, 0xff];
    v.extend_from_slice(&((ip.len() + 8) as u16).to_be_bytes());
    v.extend_from_slice(&teid.to_be_bytes());
    // Sequence number, N-PDU number, next extension: PDU session container (0x85).
    v.extend_from_slice(&[0x00, 0x01, 0x00, 0x85]);
    v.extend_from_slice(&[0x01, 0x00, 0x09, 0x00]);
    v.extend_from_slice(ip);
    v
}

/// A Teredo packet: origin indication and IPv6 packet.
pub fn teredo(ipv6_packet: &[u8]) -> Vec<u8> {
    let mut v = vec![0x00, 0x00, 0xf2, 0x27, 0x3f, 0x57, 0xfe, 0xfd];
    v.extend_from_slice(ipv6_packet);
    v
}

/// An AYIYA header (16-byte identity, 20-byte SHA-1 signature, forward) and IP packet.
pub fn ayiya(next: u8, ip: &[u8]) -> Vec<u8> {
    let mut v = vec![0x41, 0x52, 0x11, next, 0, 0, 0, 0];
    v.extend_from_slice(&[0xee; 16]);
    v.extend_from_slice(&[0x5a; 20]);
    v.extend_from_slice(ip);
    v
}

/// Linux cooked capture v1 header and payload.
pub fn sll(proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1, 0, 6, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0];
    v.extend_from_slice(&proto.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Linux cooked capture v2 header and payload.
pub fn sll2(proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = proto.to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
    v.extend_from_slice(&[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0]);
    v.extend_from_slice(payload);
    v
}

/// BSD loopback header in little-endian host order (`NULL`) or big-endian (`LOOP`).
pub fn null(af: u32, big_endian: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = if big_endian {
        af.to_be_bytes().to_vec()
    } else {
        af.to_le_bytes().to_vec()
    };
    v.extend_from_slice(payload);
    v
}

/// A PPP frame with address/control bytes.
pub fn ppp(proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff, 0x03];
    v.extend_from_slice(&proto.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A Cisco HDLC frame.
pub fn chdlc(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x0f, 0x00];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// An NFLOG record: header, a prefix TLV, and the packet TLV (little-endian TLVs).
pub fn nflog(family: u8, ip: &[u8]) -> Vec<u8> {
    let mut v = vec![family, 0, 0, 1];
    // NFULA_PREFIX "hoptrace\0" (type 10).
    let prefix = b"hoptrace\0";
    v.extend_from_slice(&((4 + prefix.len()) as u16).to_le_bytes());
    v.extend_from_slice(&10u16.to_le_bytes());
    v.extend_from_slice(prefix);
    v.resize(v.len().div_ceil(4) * 4, 0);
    v.extend_from_slice(&((4 + ip.len()) as u16).to_le_bytes());
    v.extend_from_slice(&9u16.to_le_bytes());
    v.extend_from_slice(ip);
    v.resize(v.len().div_ceil(4) * 4, 0);
    v
}

/// Shorthands for whole Ethernet frames.
pub struct Pkt;

impl Pkt {
    /// TCP over IPv4 over Ethernet.
    pub fn tcp4(src: ([u8; 4], u16), dst: ([u8; 4], u16), flags: u8, payload: &[u8]) -> Vec<u8> {
        let seg = tcp(Pseudo::V4(src.0, dst.0), src.1, dst.1, 1, flags, payload);
        eth(IPV4, &ipv4(src.0, dst.0, TCP, &seg))
    }

    /// UDP over IPv4 over Ethernet.
    pub fn udp4(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
        eth(IPV4, &Pkt::udp4_ip(src, dst, payload))
    }

    /// UDP over IPv4, without a link layer.
    pub fn udp4_ip(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
        let d = udp(Pseudo::V4(src.0, dst.0), src.1, dst.1, payload);
        ipv4(src.0, dst.0, UDP, &d)
    }

    /// TCP over IPv4, without a link layer.
    pub fn tcp4_ip(src: ([u8; 4], u16), dst: ([u8; 4], u16), flags: u8, payload: &[u8]) -> Vec<u8> {
        let seg = tcp(Pseudo::V4(src.0, dst.0), src.1, dst.1, 1, flags, payload);
        ipv4(src.0, dst.0, TCP, &seg)
    }

    /// ICMP echo request (type 8) or reply (type 0) over IPv4 over Ethernet.
    pub fn icmp4(src: [u8; 4], dst: [u8; 4], ty: u8, code: u8) -> Vec<u8> {
        eth(IPV4, &Pkt::icmp4_ip(src, dst, ty, code))
    }

    /// ICMP over IPv4, without a link layer.
    pub fn icmp4_ip(src: [u8; 4], dst: [u8; 4], ty: u8, code: u8) -> Vec<u8> {
        ipv4(src, dst, ICMP, &icmp4(ty, code, [0, 1, 0, 1], b"hoptrace"))
    }

    /// TCP over IPv6 over Ethernet.
    pub fn tcp6(src: ([u8; 16], u16), dst: ([u8; 16], u16), flags: u8, payload: &[u8]) -> Vec<u8> {
        eth(IPV6, &Pkt::tcp6_ip(src, dst, flags, payload))
    }

    /// TCP over IPv6, without a link layer.
    pub fn tcp6_ip(
        src: ([u8; 16], u16),
        dst: ([u8; 16], u16),
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let seg = tcp(Pseudo::V6(src.0, dst.0), src.1, dst.1, 1, flags, payload);
        ipv6(src.0, dst.0, TCP, &seg)
    }

    /// UDP over IPv6 over Ethernet.
    pub fn udp6(src: ([u8; 16], u16), dst: ([u8; 16], u16), payload: &[u8]) -> Vec<u8> {
        eth(IPV6, &Pkt::udp6_ip(src, dst, payload))
    }

    /// UDP over IPv6, without a link layer.
    pub fn udp6_ip(src: ([u8; 16], u16), dst: ([u8; 16], u16), payload: &[u8]) -> Vec<u8> {
        let d = udp(Pseudo::V6(src.0, dst.0), src.1, dst.1, payload);
        ipv6(src.0, dst.0, UDP, &d)
    }

    /// ICMPv6 over IPv6 over Ethernet.
    pub fn icmp6(src: [u8; 16], dst: [u8; 16], ty: u8, code: u8) -> Vec<u8> {
        let m = icmp6(Pseudo::V6(src, dst), ty, code, [0, 1, 0, 1], b"hoptrace");
        eth(IPV6, &ipv6(src, dst, ICMP6, &m))
    }
}

/// An IPv6 address from eight 16-bit groups.
pub fn v6(g: [u16; 8]) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (i, x) in g.iter().enumerate() {
        b[2 * i..2 * i + 2].copy_from_slice(&x.to_be_bytes());
    }
    b
}
