//! Decode: frame bytes → packet facts, one per IP layer, with every encapsulation layer kept.
//!
//! A frame yields one [`PacketFacts`] for each IP header it carries: a VXLAN frame gives the
//! outer UDP packet (the tunnel carrier) and the inner packet, each with the encapsulation
//! layers that enclose it. Layer-2 shims (802.1Q/ad, VN-Tag, 802.1ah, MPLS, PPPoE), the
//! capture link types and the tunnel headers (GRE with ERSPAN and PPTP, IP-in-IP, VXLAN,
//! Geneve, GTP-U, Teredo, AYIYA) are read here; IPv4/IPv6 headers and IPv6 extension chains
//! are read with etherparse's lax slices, which accept frames cut by the snaplen. Ports and
//! TCP flags are read directly: four and fourteen bytes that etherparse would only hand out
//! after the whole TCP header (options included) was captured.
//!
//! Decoding never fails: what cannot be read becomes a [`SkipReason`] with the layer it
//! happened in. Decode knows nothing about files, flows or time.

pub mod headers;
mod link;
mod tunnel;

use crate::ingest::RawFrame;
use crate::model::{Addr, BinReader, BinWriter, Layer, Proto, SkipReason};
use std::fmt;

/// The most IP layers (the outer packet and the tunnels inside it) a decoder can be asked
/// to follow in one frame.
pub const MAX_IP_LAYERS: usize = 16;
/// How many IP layers one frame may nest before decoding stops, unless asked otherwise
/// ([`Decoded::with_max_ip_layers`], `--max-ip-layers`).
pub const DEFAULT_IP_LAYERS: usize = 8;
/// Encapsulation layers (VLAN tags, MPLS labels, tunnels) allowed per IP layer followed:
/// 8 IP layers allow 24.
pub const ENCAP_PER_IP_LAYER: usize = 3;
/// The most encapsulation layers one frame can carry.
pub const MAX_ENCAP: usize = MAX_IP_LAYERS * ENCAP_PER_IP_LAYER;

/// The kind of a tunnel layer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum TunnelKind {
    /// GRE (RFC 2784/2890), including transparent Ethernet bridging.
    Gre,
    /// ERSPAN type I (GRE 0x88be without sequence number).
    Erspan1,
    /// ERSPAN type II (GRE 0x88be).
    Erspan2,
    /// ERSPAN type III (GRE 0x22eb).
    Erspan3,
    /// PPTP's enhanced GRE (RFC 2637) carrying PPP.
    Pptp,
    /// IP-in-IP: IPv4 or IPv6 directly inside IPv4 or IPv6.
    IpInIp,
    /// VXLAN (RFC 7348).
    Vxlan,
    /// Geneve (RFC 8926).
    Geneve,
    /// GTP-U (3GPP TS 29.281).
    GtpU,
    /// Teredo (RFC 4380).
    Teredo,
    /// AYIYA.
    Ayiya,
}

impl TunnelKind {
    /// Lower-case name as written in the `encap` column.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan1 => "erspan1",
            TunnelKind::Erspan2 => "erspan2",
            TunnelKind::Erspan3 => "erspan3",
            TunnelKind::Pptp => "pptp",
            TunnelKind::IpInIp => "ipip",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::GtpU => "gtpu",
            TunnelKind::Teredo => "teredo",
            TunnelKind::Ayiya => "ayiya",
        }
    }

    /// The word for the tunnel's identifier in `encap` text, where it has one.
    fn id_name(self) -> &'static str {
        match self {
            TunnelKind::Gre => "key",
            TunnelKind::Erspan1 | TunnelKind::Erspan2 | TunnelKind::Erspan3 => "session",
            TunnelKind::Pptp => "call",
            TunnelKind::Vxlan | TunnelKind::Geneve => "vni",
            TunnelKind::GtpU => "teid",
            _ => "id",
        }
    }
}

/// A tunnel's outer endpoints: the carrier packet's addresses, protocol and ports.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Tunnel {
    /// Kind of tunnel.
    pub kind: TunnelKind,
    /// Outer source address (tunnel ingress for this packet).
    pub src: Addr,
    /// Outer destination address (tunnel egress for this packet).
    pub dst: Addr,
    /// Carrier IP protocol: 47 for GRE family, 4 or 41 for IP-in-IP, 17 for UDP tunnels.
    pub proto: Proto,
    /// Carrier source port (UDP tunnels; 0 otherwise).
    pub sport: u16,
    /// Carrier destination port (UDP tunnels; 0 otherwise).
    pub dport: u16,
    /// VNI, TEID, GRE key, ERSPAN session or PPTP call id, when the header carries one.
    pub id: Option<u32>,
}

/// One encapsulation layer around a packet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Encap {
    /// An 802.1Q or 802.1ad tag with its VLAN id.
    Vlan(u16),
    /// A Cisco VN-Tag.
    VnTag,
    /// An 802.1ah (PBB) I-tag with its service id.
    Pbb(u32),
    /// One MPLS label.
    Mpls(u32),
    /// A PPPoE session.
    Pppoe(u16),
    /// A tunnel.
    Tunnel(Tunnel),
}

impl Encap {
    /// Writes the layer's text (what [`Display`](fmt::Display) shows) through any writer
    /// with plain string writes: the flow table writes every layer of every tunnelled row.
    pub fn write_text<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        fn num<W: fmt::Write + ?Sized>(w: &mut W, label: &str, v: u32) -> fmt::Result {
            w.write_str(label)?;
            w.write_str(itoa::Buffer::new().format(v))
        }
        match self {
            Encap::Vlan(v) => num(w, "vlan:", u32::from(*v)),
            Encap::VnTag => w.write_str("vntag"),
            Encap::Pbb(i) => num(w, "pbb:", *i),
            Encap::Mpls(l) => num(w, "mpls:", *l),
            Encap::Pppoe(s) => write!(w, "pppoe:0x{s:04x}"),
            Encap::Tunnel(t) => {
                w.write_str(t.kind.name())?;
                w.write_str(":")?;
                if t.proto == Proto::UDP {
                    let end = |addr, port| crate::model::Endpoint { addr, port };
                    end(t.src, t.sport).write_text(w)?;
                    w.write_str("-")?;
                    end(t.dst, t.dport).write_text(w)?;
                } else {
                    t.src.write_text(w)?;
                    w.write_str("-")?;
                    t.dst.write_text(w)?;
                }
                if let Some(id) = t.id {
                    w.write_str(";")?;
                    w.write_str(t.kind.id_name())?;
                    num(w, "=", id)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Encap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_text(f)
    }
}

impl TunnelKind {
    const ALL: [TunnelKind; 11] = [
        TunnelKind::Gre,
        TunnelKind::Erspan1,
        TunnelKind::Erspan2,
        TunnelKind::Erspan3,
        TunnelKind::Pptp,
        TunnelKind::IpInIp,
        TunnelKind::Vxlan,
        TunnelKind::Geneve,
        TunnelKind::GtpU,
        TunnelKind::Teredo,
        TunnelKind::Ayiya,
    ];
}

impl Encap {
    /// Writes the layer.
    pub fn encode(&self, w: &mut BinWriter) {
        match self {
            Encap::Vlan(v) => {
                w.u8(0);
                w.u16(*v);
            }
            Encap::VnTag => w.u8(1),
            Encap::Pbb(i) => {
                w.u8(2);
                w.u32(*i);
            }
            Encap::Mpls(l) => {
                w.u8(3);
                w.u32(*l);
            }
            Encap::Pppoe(s) => {
                w.u8(4);
                w.u16(*s);
            }
            Encap::Tunnel(t) => {
                w.u8(5);
                w.u8(t.kind as u8);
                t.src.encode(w);
                t.dst.encode(w);
                w.u8(t.proto.0);
                w.u16(t.sport);
                w.u16(t.dport);
                w.opt(t.id, |w, v| w.u32(v));
            }
        }
    }

    /// Reads a layer written by [`encode`](Self::encode).
    pub fn decode(r: &mut BinReader<'_>) -> Option<Encap> {
        Some(match r.u8()? {
            0 => Encap::Vlan(r.u16()?),
            1 => Encap::VnTag,
            2 => Encap::Pbb(r.u32()?),
            3 => Encap::Mpls(r.u32()?),
            4 => Encap::Pppoe(r.u16()?),
            5 => Encap::Tunnel(Tunnel {
                kind: *TunnelKind::ALL.get(usize::from(r.u8()?))?,
                src: Addr::decode(r)?,
                dst: Addr::decode(r)?,
                proto: Proto(r.u8()?),
                sport: r.u16()?,
                dport: r.u16()?,
                id: r.opt(|r| r.u32())?,
            }),
            _ => return None,
        })
    }
}

impl Context {
    /// Writes the context.
    pub fn encode(&self, w: &mut BinWriter) {
        w.u16(self.vlan[0]);
        w.u16(self.vlan[1]);
        w.u8(self.tunnel_kind);
        w.u32(self.tunnel_id);
    }

    /// Reads a context written by [`encode`](Self::encode).
    pub fn decode(r: &mut BinReader<'_>) -> Option<Context> {
        Some(Context {
            vlan: [r.u16()?, r.u16()?],
            tunnel_kind: r.u8()?,
            tunnel_id: r.u32()?,
        })
    }
}

/// Identifies the overlay and L2 domain a packet belongs to, as part of its flow key: the
/// VLAN tags in the same Ethernet segment as the IP header and the innermost tunnel's kind
/// and identifier. Outer tunnel endpoints are not part of it: a flow that moves between
/// tunnels stays one flow and lists every carrier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Context {
    /// Outer and inner VLAN id (0 = none).
    pub vlan: [u16; 2],
    /// Innermost tunnel kind (as `TunnelKind as u8 + 1`; 0 = not tunnelled).
    pub tunnel_kind: u8,
    /// Innermost tunnel identifier (VNI, TEID, GRE key; 0 = none).
    pub tunnel_id: u32,
}

impl Context {
    fn push_vlan(&mut self, vid: u16) {
        if vid == 0 {
            // A priority tag carries no VLAN.
        } else if self.vlan[0] == 0 {
            self.vlan[0] = vid;
        } else if self.vlan[1] == 0 {
            self.vlan[1] = vid;
        } else {
            // Keep the two innermost tags of deeper stacks.
            self.vlan = [self.vlan[1], vid];
        }
    }

    /// VLAN ids as text: `100`, `100.200` (outer.inner) or empty.
    pub fn vlan_text(&self) -> String {
        let mut s = String::new();
        self.push_vlan_text(&mut s);
        s
    }

    /// Appends the text of [`vlan_text`](Self::vlan_text) to `out`.
    pub fn push_vlan_text(&self, out: &mut String) {
        use std::fmt::Write as _;
        // Writing into a String cannot fail.
        let _ = match self.vlan {
            [0, _] => Ok(()),
            [a, 0] => write!(out, "{a}"),
            [a, b] => write!(out, "{a}.{b}"),
        };
    }
}

/// An IP fragment's place in its datagram.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fragment {
    /// Datagram identification (IPv4: 16 bits; IPv6: 32 bits).
    pub id: u32,
    /// Offset of this fragment's data in the datagram, in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// Bytes of datagram data this fragment carries (on the wire).
    pub len: u32,
    /// Captured datagram bytes `offset..offset + head_len` that fall within the first 16
    /// bytes of the transport header, so tiny or reordered fragments can still be put on
    /// their flow.
    pub head: [u8; 16],
    /// How many bytes of `head` are valid.
    pub head_len: u8,
}

/// What one IP header of a frame says about its packet. Small and `Copy`: this is what
/// crosses from decode into the flow stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketFacts {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port; ICMP type for ICMP (0 when the protocol has no ports).
    pub sport: u16,
    /// Destination port; ICMP code for ICMP.
    pub dport: u16,
    /// Transport protocol (after IPv6 extension headers).
    pub proto: Proto,
    /// IP length on the wire (IPv4 total length; 40 + IPv6 payload length).
    pub ip_len: u32,
    /// TTL or hop limit.
    pub ttl: u8,
    /// TCP flags byte (0 for other protocols or when not captured).
    pub tcp_flags: u8,
    /// TCP sequence number (0 for other protocols or when not captured).
    pub tcp_seq: u32,
    /// Transport payload bytes on the wire (TCP/UDP data length).
    pub payload_len: u32,
    /// Ports (and TCP flags) were read; false for non-first fragments and for first
    /// fragments too short to hold them.
    pub ports_known: bool,
    /// IP fragment information, when the packet is a fragment.
    pub frag: Option<Fragment>,
    /// Overlay and VLAN context.
    pub ctx: Context,
    /// How many encapsulation layers of the frame enclose this packet.
    pub depth: u8,
    /// Byte range of the captured transport payload (or of the fragment data) in the frame.
    pub payload: (u32, u32),
}

impl Default for PacketFacts {
    fn default() -> Self {
        PacketFacts {
            src: Addr::default(),
            dst: Addr::default(),
            sport: 0,
            dport: 0,
            proto: Proto(0),
            ip_len: 0,
            ttl: 0,
            tcp_flags: 0,
            tcp_seq: 0,
            payload_len: 0,
            ports_known: false,
            frag: None,
            ctx: Context::default(),
            depth: 0,
            payload: (0, 0),
        }
    }
}

/// The result of decoding one frame, reused from frame to frame so decoding allocates
/// nothing.
pub struct Decoded {
    packets: [PacketFacts; MAX_IP_LAYERS],
    n_packets: usize,
    encap: [Encap; MAX_ENCAP],
    n_encap: usize,
    /// The first problem met, if any: reason and detail.
    pub problem: Option<(SkipReason, u32)>,
    max_ip: usize,
    max_encap: usize,
}

impl Default for Decoded {
    fn default() -> Self {
        Decoded::with_max_ip_layers(DEFAULT_IP_LAYERS)
    }
}

impl Decoded {
    /// A decoder output that follows at most `n` IP layers per frame (1 to
    /// [`MAX_IP_LAYERS`]; other values are clamped) and [`ENCAP_PER_IP_LAYER`] times as many
    /// encapsulation layers; deeper frames are counted as `tunnel_too_deep`.
    pub fn with_max_ip_layers(n: usize) -> Decoded {
        let n = n.clamp(1, MAX_IP_LAYERS);
        Decoded {
            packets: [PacketFacts::default(); MAX_IP_LAYERS],
            n_packets: 0,
            encap: [Encap::VnTag; MAX_ENCAP],
            n_encap: 0,
            problem: None,
            max_ip: n,
            max_encap: n * ENCAP_PER_IP_LAYER,
        }
    }

    /// The packets of the frame, outermost first.
    pub fn packets(&self) -> &[PacketFacts] {
        &self.packets[..self.n_packets]
    }

    /// All encapsulation layers of the frame, outermost first; packet `p` is enclosed by
    /// `encap()[..p.depth]`.
    pub fn encap(&self) -> &[Encap] {
        &self.encap[..self.n_encap]
    }

    fn reset(&mut self) {
        self.n_packets = 0;
        self.n_encap = 0;
        self.problem = None;
    }
}

/// Decodes one frame into `out` (which is cleared first).
pub fn decode(frame: &RawFrame<'_>, out: &mut Decoded) {
    out.reset();
    let mut cx = Cx {
        d: frame.data,
        out,
        ctx: Context::default(),
        ip_layers: 0,
    };
    link::dispatch(&mut cx, frame.link);
}

/// What a tunnel decoder needs of the packet that carries it.
#[derive(Clone, Copy)]
pub(crate) struct Outer {
    pub(crate) src: Addr,
    pub(crate) dst: Addr,
    pub(crate) sport: u16,
    pub(crate) dport: u16,
}

/// Decoding state for one frame.
pub(crate) struct Cx<'a, 'o> {
    pub(crate) d: &'a [u8],
    pub(crate) out: &'o mut Decoded,
    pub(crate) ctx: Context,
    ip_layers: usize,
}

impl Cx<'_, '_> {
    pub(crate) fn fail(&mut self, reason: SkipReason, detail: u32) {
        if self.out.problem.is_none() {
            self.out.problem = Some((reason, detail));
        }
    }

    pub(crate) fn truncated(&mut self, layer: Layer) {
        self.fail(SkipReason::TruncatedHeader, layer as u32);
    }

    pub(crate) fn malformed(&mut self, layer: Layer) {
        self.fail(SkipReason::MalformedHeader, layer as u32);
    }

    pub(crate) fn not_ip(&mut self, what: u32) {
        self.fail(SkipReason::NotIp, what);
    }

    /// Records an encapsulation layer; false when there is no room left.
    pub(crate) fn push_encap(&mut self, e: Encap) -> bool {
        if self.out.n_encap >= self.out.max_encap {
            self.fail(SkipReason::TunnelTooDeep, 0);
            return false;
        }
        self.out.encap[self.out.n_encap] = e;
        self.out.n_encap += 1;
        true
    }

    #[inline]
    pub(crate) fn be16(&self, off: usize) -> u16 {
        u16::from_be_bytes([self.d[off], self.d[off + 1]])
    }

    #[inline]
    pub(crate) fn be32(&self, off: usize) -> u32 {
        u32::from_be_bytes([
            self.d[off],
            self.d[off + 1],
            self.d[off + 2],
            self.d[off + 3],
        ])
    }

    /// True when `n` bytes are available at `off`.
    #[inline]
    pub(crate) fn has(&self, off: usize, n: usize) -> bool {
        off.checked_add(n).is_some_and(|e| e <= self.d.len())
    }

    /// Dispatches on an ethertype at `off`, following tags and shims until an IP header.
    pub(crate) fn ethertype(&mut self, mut off: usize, mut et: u16) {
        loop {
            match et {
                0x0800 | 0x86dd => return self.ip(off),
                0x8100 | 0x88a8 | 0x9100 | 0x9200 | 0x9300 => {
                    if !self.has(off, 4) {
                        return self.truncated(Layer::Vlan);
                    }
                    let vid = self.be16(off) & 0x0fff;
                    if !self.push_encap(Encap::Vlan(vid)) {
                        return;
                    }
                    self.ctx.push_vlan(vid);
                    et = self.be16(off + 2);
                    off += 4;
                }
                0x8926 => {
                    if !self.has(off, 6) {
                        return self.truncated(Layer::VnTag);
                    }
                    if !self.push_encap(Encap::VnTag) {
                        return;
                    }
                    et = self.be16(off + 4);
                    off += 6;
                }
                0x88e7 => {
                    // 802.1ah: 4-byte I-tag, then the customer's Ethernet header.
                    if !self.has(off, 18) {
                        return self.truncated(Layer::Pbb);
                    }
                    let isid = self.be32(off) & 0x00ff_ffff;
                    if !self.push_encap(Encap::Pbb(isid)) {
                        return;
                    }
                    self.ctx.vlan = [0, 0];
                    et = self.be16(off + 16);
                    off += 18;
                }
                0x8847 | 0x8848 => return self.mpls(off),
                0x8864 => {
                    if !self.has(off, 8) {
                        return self.truncated(Layer::Pppoe);
                    }
                    let session = self.be16(off + 2);
                    if !self.push_encap(Encap::Pppoe(session)) {
                        return;
                    }
                    return self.ppp_fields(off + 6);
                }
                0x8909 => {
                    // Cisco MetaData: version, length, options, SGT, then the ethertype.
                    if !self.has(off, 8) {
                        return self.truncated(Layer::Link);
                    }
                    et = self.be16(off + 6);
                    off += 8;
                }
                0x6558 => return self.ethernet(off),
                x if x < 0x0600 => {
                    // An 802.3 length field: LLC, possibly SNAP with an ethertype.
                    if self.has(off, 8) && self.d[off..off + 3] == [0xaa, 0xaa, 0x03] {
                        et = self.be16(off + 6);
                        off += 8;
                        if et < 0x0600 {
                            return self.not_ip(0);
                        }
                    } else {
                        return self.not_ip(0);
                    }
                }
                other => return self.not_ip(u32::from(other)),
            }
        }
    }

    /// An Ethernet II header at `off`.
    pub(crate) fn ethernet(&mut self, off: usize) {
        if !self.has(off, 14) {
            return self.truncated(Layer::Link);
        }
        let et = self.be16(off + 12);
        self.ethertype(off + 14, et)
    }

    /// An MPLS label stack at `off`.
    pub(crate) fn mpls(&mut self, mut off: usize) {
        for _ in 0..16 {
            if !self.has(off, 4) {
                return self.truncated(Layer::Mpls);
            }
            let entry = self.be32(off);
            if !self.push_encap(Encap::Mpls(entry >> 12)) {
                return;
            }
            off += 4;
            if entry & 0x100 != 0 {
                if !self.has(off, 1) {
                    return self.truncated(Layer::Mpls);
                }
                return match self.d[off] >> 4 {
                    4 | 6 => self.ip(off),
                    // A pseudowire control word (first nibble 0) before an Ethernet frame.
                    0 if self.has(off, 4 + 14) => self.ethernet(off + 4),
                    _ => self.malformed(Layer::Mpls),
                };
            }
        }
        self.malformed(Layer::Mpls)
    }

    /// A PPP protocol number at `off - 2` and its payload at `off`.
    pub(crate) fn ppp_protocol(&mut self, off: usize, proto: u16) {
        match proto {
            0x0021 | 0x0057 => self.ip(off),
            0x0281 | 0x0283 => self.mpls(off),
            p => self.not_ip(0x1_0000 | u32::from(p)),
        }
    }

    /// A PPP frame with optional HDLC address/control bytes and a possibly compressed
    /// protocol field.
    pub(crate) fn ppp(&mut self, mut off: usize) {
        if self.has(off, 2) && self.d[off] == 0xff && self.d[off + 1] == 0x03 {
            off += 2;
        }
        self.ppp_fields(off)
    }

    /// A PPP protocol field, one byte when compressed (odd first byte, RFC 1661 PFC) or
    /// two, and the payload after it.
    pub(crate) fn ppp_fields(&mut self, off: usize) {
        if !self.has(off, 1) {
            return self.truncated(Layer::Ppp);
        }
        if self.d[off] & 1 == 1 {
            let p = u16::from(self.d[off]);
            self.ppp_protocol(off + 1, p)
        } else {
            if !self.has(off, 2) {
                return self.truncated(Layer::Ppp);
            }
            let p = self.be16(off);
            self.ppp_protocol(off + 2, p)
        }
    }

    /// An IPv4 or IPv6 header at `off` and everything inside it.
    pub(crate) fn ip(&mut self, off: usize) {
        use etherparse::LaxIpSlice;
        use etherparse::err::ip::LaxHeaderSliceError;
        if self.ip_layers >= self.out.max_ip {
            return self.fail(SkipReason::TunnelTooDeep, 0);
        }
        let s = &self.d[off.min(self.d.len())..];
        let v6 = s.first().is_some_and(|b| b >> 4 == 6);
        let (ip_layer, ext_layer) = if v6 {
            (Layer::Ipv6, Layer::Ipv6Ext)
        } else {
            (Layer::Ipv4, Layer::Ipv4)
        };
        // Read in place, by reference: moving the slices out of the result copied them
        // wide over the narrow stores that had built them, a stall on every packet.
        let parsed = LaxIpSlice::from_slice(s);
        let (ip, ext_err) = match &parsed {
            Ok((ip, ext_err)) => (ip, ext_err),
            Err(LaxHeaderSliceError::Len(_)) => return self.truncated(ip_layer),
            Err(LaxHeaderSliceError::Content(_)) => return self.malformed(ip_layer),
        };
        let pl = ip.payload();
        let payload = pl.payload;
        let pay_off = off + (payload.as_ptr() as usize - s.as_ptr() as usize);
        let (src, dst, ttl, hdr_len, ip_len);
        let mut frag: Option<Fragment> = None;
        match ip {
            LaxIpSlice::Ipv4(v4) => {
                let h = v4.header();
                src = Addr::v4(h.source());
                dst = Addr::v4(h.destination());
                ttl = h.ttl();
                hdr_len = usize::from(h.ihl()) * 4;
                ip_len = if usize::from(h.total_len()) >= hdr_len {
                    u32::from(h.total_len())
                } else {
                    // A zero or too-small total length (seen in captures of offloaded
                    // segments): the captured length is the best estimate.
                    s.len() as u32
                };
                let fo = u32::from(h.fragments_offset().value()) * 8;
                if fo != 0 || h.more_fragments() {
                    frag = Some(Fragment {
                        id: u32::from(h.identification()),
                        offset: fo,
                        more: h.more_fragments(),
                        len: ip_len.saturating_sub(hdr_len as u32),
                        head: [0; 16],
                        head_len: 0,
                    });
                }
            }
            LaxIpSlice::Ipv6(v6) => {
                let h = v6.header();
                src = Addr::v6(h.source());
                dst = Addr::v6(h.destination());
                ttl = h.hop_limit();
                hdr_len = pay_off - off;
                ip_len = if h.payload_length() != 0 {
                    40 + u32::from(h.payload_length())
                } else {
                    s.len() as u32
                };
                // Only a chain that parsed whole is walked: etherparse 0.21's iterator
                // trusts the chain and reads past the end of a cut one (undefined
                // behaviour, found by fuzzing; tests/it/fuzz.rs keeps the input).
                let walkable = if ext_err.is_none() {
                    v6.extensions().clone()
                } else {
                    Default::default()
                };
                for ext in walkable {
                    if let etherparse::Ipv6ExtensionSlice::Fragment(fh) = ext {
                        let fo = u32::from(fh.fragment_offset().value()) * 8;
                        if fo != 0 || fh.more_fragments() {
                            frag = Some(Fragment {
                                id: fh.identification(),
                                offset: fo,
                                more: fh.more_fragments(),
                                len: ip_len.saturating_sub(hdr_len as u32),
                                head: [0; 16],
                                head_len: 0,
                            });
                        }
                    }
                }
            }
        }
        let proto = Proto(pl.ip_number.0);
        if let Some(fr) = &mut frag
            && fr.offset < 16
        {
            let n = payload.len().min(16 - fr.offset as usize);
            fr.head[..n].copy_from_slice(&payload[..n]);
            fr.head_len = n as u8;
        }
        let wire_payload = ip_len.saturating_sub(hdr_len as u32) as usize;
        // The packet is written in place, field by field, and completed below: a
        // `PacketFacts` built on the stack and copied in (twice, through `transport`) cost
        // more than its decoding, the wide copies stalling on the narrow stores that had
        // just filled it.
        let i = self.out.n_packets;
        let depth = self.out.n_encap as u8;
        let f = &mut self.out.packets[i];
        f.src = src;
        f.dst = dst;
        f.sport = 0;
        f.dport = 0;
        f.proto = proto;
        f.ip_len = ip_len;
        f.ttl = ttl;
        f.tcp_flags = 0;
        f.tcp_seq = 0;
        f.payload_len = 0;
        f.ports_known = false;
        // Stored only when there is one: most packets are no fragment, and copying the
        // whole (mostly unwritten) option stalls on the store of its tag.
        f.frag = None;
        if frag.is_some() {
            f.frag = frag;
        }
        f.ctx = self.ctx;
        f.depth = depth;
        f.payload = (pay_off as u32, (pay_off + payload.len()) as u32);
        self.out.n_packets = i + 1;
        if ext_err.is_some() {
            // The IPv6 extension chain was cut or broken: the packet counts on a flow
            // without ports, and the problem is reported.
            return self.fail(SkipReason::TruncatedHeader, ext_layer as u32);
        }
        self.ip_layers += 1;
        if let Some(fr) = frag
            && fr.offset != 0
        {
            // A later fragment: no transport header; the flow stage attributes it.
            return;
        }
        let outer = Outer {
            src,
            dst,
            sport: 0,
            dport: 0,
        };
        self.transport(
            i,
            outer,
            proto,
            frag.is_some(),
            pay_off,
            payload.len(),
            wire_payload,
        );
    }

    /// The transport header of packet `i` (already recorded with what its IP header says),
    /// and any tunnel it carries. `fragmented`: the packet is a first fragment (later ones
    /// carry no transport header and never get here).
    #[allow(clippy::too_many_arguments)]
    fn transport(
        &mut self,
        i: usize,
        mut outer: Outer,
        p: Proto,
        fragmented: bool,
        off: usize,
        cap: usize,
        wire: usize,
    ) {
        match p.0 {
            6 | 17 | 33 | 132 | 136 => {
                if cap < 4 {
                    if !fragmented {
                        self.truncated(transport_layer(p));
                    }
                    return;
                }
                outer.sport = self.be16(off);
                outer.dport = self.be16(off + 2);
                let f = &mut self.out.packets[i];
                f.sport = outer.sport;
                f.dport = outer.dport;
                f.ports_known = true;
                match p.0 {
                    6 => {
                        if cap >= 14 {
                            let d = &self.d[off..off + 14];
                            f.tcp_flags = d[13];
                            f.tcp_seq = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
                            let doff = usize::from(d[12] >> 4) * 4;
                            f.payload_len = wire.saturating_sub(doff) as u32;
                            let start = (off + doff).min(off + cap);
                            f.payload = (start as u32, (off + cap) as u32);
                        } else {
                            f.ports_known = !fragmented;
                            if !fragmented {
                                self.truncated(Layer::Tcp);
                            }
                        }
                    }
                    17 => {
                        f.payload_len = wire.saturating_sub(8) as u32;
                        let start = (off + 8).min(off + cap);
                        f.payload = (start as u32, (off + cap) as u32);
                        if !fragmented && cap > 8 {
                            tunnel::udp(self, &outer, off + 8, cap - 8);
                        }
                    }
                    _ => {}
                }
            }
            1 | 58 => {
                if cap < 2 {
                    if !fragmented {
                        self.truncated(transport_layer(p));
                    }
                    return;
                }
                let (ty, code) = (self.d[off], self.d[off + 1]);
                let f = &mut self.out.packets[i];
                f.sport = u16::from(ty);
                f.dport = u16::from(code);
                f.ports_known = true;
                let start = (off + 8).min(off + cap);
                f.payload = (start as u32, (off + cap) as u32);
                f.payload_len = wire.saturating_sub(8) as u32;
            }
            4 | 41 if !fragmented => {
                self.out.packets[i].ports_known = true;
                let t = Tunnel {
                    kind: TunnelKind::IpInIp,
                    src: outer.src,
                    dst: outer.dst,
                    proto: p,
                    sport: 0,
                    dport: 0,
                    id: None,
                };
                self.enter_tunnel(t, [0, 0]);
                if self.push_encap(Encap::Tunnel(t)) {
                    self.ip(off);
                }
            }
            47 if !fragmented => {
                self.out.packets[i].ports_known = true;
                tunnel::gre(self, &outer, off, cap);
            }
            _ => {
                // Other protocols (and fragmented tunnels) are flows without ports; what
                // keys them is known, even for a first fragment.
                self.out.packets[i].ports_known = true;
            }
        }
    }

    /// Sets the context for packets inside a tunnel.
    pub(crate) fn enter_tunnel(&mut self, t: Tunnel, vlan: [u16; 2]) {
        self.ctx = Context {
            vlan,
            tunnel_kind: t.kind as u8 + 1,
            tunnel_id: t.id.unwrap_or(0),
        };
    }
}

fn transport_layer(p: Proto) -> Layer {
    match p.0 {
        6 => Layer::Tcp,
        1 => Layer::Icmp,
        58 => Layer::Icmpv6,
        132 => Layer::Sctp,
        _ => Layer::Udp,
    }
}
