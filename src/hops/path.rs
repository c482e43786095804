//! The ordered path of one communication, from the observations [`find`](super::find)
//! grouped: origin, tunnel ingresses, source NAT, the AS before an exporter, the exporting
//! routers, the AS after them, destination NAT, tunnel egresses, destination. Each hop
//! keeps the evidence that puts it there.
//!
//! Evidence placed here: the endpoints as each vantage point saw them (with a NAT hop for a
//! view from outside a NAT); every tunnel layer around the communication's packets
//! (ingress toward the origin); NAT fields, exporter, next hops and source/destination AS
//! of flow records. Header chains (proxies, mail relays) and traceroutes are placed by
//! `chains`.

use super::{Candidate, Evidence, Seen};
use crate::decode::Encap;
use crate::model::{Addr, Locator, Timestamp};
use std::collections::{HashMap, HashSet};

/// What a hop is on the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Where the communication started.
    Origin,
    /// The host that sent a traceroute (the communication asked about is the traceroute).
    Vantage,
    /// A forward proxy or CDN edge, named by proxy headers (or the TCP peer that sent them).
    Proxy,
    /// A mail relay, named by `Received:` fields (or the SMTP client that sent the mail).
    Relay,
    /// An outer end of a tunnel the communication went through.
    TunnelEndpoint,
    /// A translating address (NAT), with the inside address it maps.
    Nat,
    /// An AS known only from routing fields of a flow record.
    NeighborAs,
    /// A router: a flow exporter that saw the communication, or a traceroute hop.
    Router,
    /// Where the communication went.
    Destination,
}

impl Role {
    /// Every role, in the order of [`Role::name`]'s table.
    pub const ALL: [Role; 9] = [
        Role::Origin,
        Role::Vantage,
        Role::Proxy,
        Role::Relay,
        Role::TunnelEndpoint,
        Role::Nat,
        Role::NeighborAs,
        Role::Router,
        Role::Destination,
    ];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Role::Origin => "origin",
            Role::Vantage => "vantage",
            Role::Proxy => "proxy",
            Role::Relay => "relay",
            Role::TunnelEndpoint => "tunnel_endpoint",
            Role::Nat => "nat",
            Role::NeighborAs => "neighbor_as",
            Role::Router => "router",
            Role::Destination => "destination",
        }
    }

    /// The role a name in a report stands for.
    pub fn from_name(n: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == n)
    }
}

/// What kind of observation showed a hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProofKind {
    /// Packets of the communication in a capture.
    Packets,
    /// An encapsulation layer around those packets.
    Tunnel,
    /// A flow record (NetFlow, IPFIX, a flow log).
    FlowRecord,
    /// NAT fields of a flow record.
    NatFields,
    /// Routing fields of a flow record (exporter, AS, next hop).
    RoutingFields,
    /// HTTP proxy headers (X-Forwarded-For, Forwarded, Via).
    ProxyHeader,
    /// A mail's `Received:` fields.
    MailHeader,
    /// A traceroute probe and the ICMP error that answered it.
    Traceroute,
    /// The same communication seen inside and outside a NAT by two vantage points.
    NatMatch,
    /// A request sent to a forward proxy naming the node it is to reach (an HTTP `CONNECT`,
    /// or an absolute URL as request target).
    ProxyRequest,
    /// A forward proxy's reply to a `CONNECT` saying it opened the tunnel (a 2xx status).
    ProxyReply,
    /// A forward proxy's reply to a `CONNECT` refusing it (any other status: 407 asking
    /// for credentials, 403, 502...): no tunnel was opened, by its reply.
    ProxyRefused,
}

impl ProofKind {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ProofKind::Packets => "packets",
            ProofKind::Tunnel => "tunnel",
            ProofKind::FlowRecord => "flow_record",
            ProofKind::NatFields => "nat_fields",
            ProofKind::RoutingFields => "routing_fields",
            ProofKind::ProxyHeader => "proxy_header",
            ProofKind::MailHeader => "mail_header",
            ProofKind::Traceroute => "traceroute",
            ProofKind::NatMatch => "nat_match",
            ProofKind::ProxyRequest => "proxy_request",
            ProofKind::ProxyReply => "proxy_reply",
            ProofKind::ProxyRefused => "proxy_refused",
        }
    }
}

/// One piece of evidence for a hop: which vantage point and input, where in it, and what
/// it showed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proof {
    /// Kind of observation.
    pub kind: ProofKind,
    /// Vantage point.
    pub vantage: u32,
    /// Where: input, frame (or line of a log) and byte offset.
    pub at: Locator,
    /// Index of the record in its frame or datagram (0 when none).
    pub record: u32,
    /// What it showed, in a sentence (never a host name).
    pub showed: String,
    /// Host names the evidence carried (a relay's `from`/`by` names, a `Via` entry's name,
    /// a forwarded-for token that is not an address), kept apart so a report can leave
    /// them out.
    pub names: Vec<String>,
}

/// One hop of the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// The address (none for an AS known only from routing fields).
    pub ip: Option<Addr>,
    /// The port, where the evidence gives one.
    pub port: Option<u16>,
    /// What the hop is.
    pub role: Role,
    /// The AS, for `neighbor_as` hops (others are attributed from their address).
    pub asn: Option<u32>,
    /// For a NAT hop: the inside address and port it translates.
    pub maps: Option<(Addr, u16)>,
    /// Earliest time the evidence places the communication here.
    pub first_seen: Timestamp,
    /// Latest time.
    pub last_seen: Timestamp,
    /// Why the hop is on the path.
    pub evidence: Vec<Proof>,
    /// What to be wary of: `unverified` (named by a header a node before the one the
    /// evidence saw wrote, or may have in a header block read without its end, so it may be
    /// forged), `repeated` (named twice in one chain),
    /// `date_out_of_order` (a relay's date before the one before it).
    pub flags: Vec<&'static str>,
}

/// Where a hop sits on the way from origin to destination (lower is nearer the origin).
/// Within a place, hops are ordered by their `sub` number (TTL, position in a header
/// chain), then by when they were first seen, then by the order they were placed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Place {
    /// The origin (or the traceroute's sender).
    Origin,
    /// Proxies and relays that headers name before the node the evidence saw send them.
    Upstream,
    /// That node: the TCP client that sent the headers, when they name nodes before it.
    Peer,
    /// Routers a traceroute from the destination's side found (beyond the tunnels seen
    /// there, which lie nearer the destination).
    RouterNearOrigin,
    TunnelIn,
    NatIn,
    AsIn,
    Router,
    AsOut,
    NatOut,
    TunnelOut,
    /// Routers a traceroute from the origin's side found (beyond the tunnels seen there).
    RouterNearDestination,
    /// The TCP responder, when a response's `Via` says it is a proxy.
    PeerOut,
    /// Proxies a response's `Via` names beyond the responder (toward the server).
    Downstream,
    Destination,
}

/// What [`Builder::put`] merges on: the same place, role, address, port and AS.
type HopKey = (Place, Role, Option<Addr>, Option<u16>, Option<u32>);

/// The hops being placed, with indexes so that placing one costs the same however many
/// there are (a keep-alive connection from a proxy can carry thousands of requests, each
/// naming its own origin: finding each hop by a scan of the others was quadratic).
#[derive(Default)]
struct Builder {
    hops: Vec<(Place, u32, u32, Hop)>,
    next: u32,
    /// The hops with each key, in the order placed (the first is the one merged into).
    by_key: HashMap<HopKey, Vec<usize>>,
    /// The hops with each address, in the order placed.
    by_ip: HashMap<Option<Addr>, Vec<usize>>,
    /// The evidence each hop has, to add a proof only once.
    proofs: HashSet<(usize, Proof)>,
}

fn key_of(place: Place, h: &Hop) -> HopKey {
    (place, h.role, h.ip, h.port, h.asn)
}

impl Builder {
    /// Adds a hop, or its evidence and flags to the same hop (same place, role, address,
    /// port and AS).
    fn put(&mut self, place: Place, sub: u32, hop: Hop) {
        let key = key_of(place, &hop);
        if let Some(&i) = self.by_key.get(&key).and_then(|v| v.first()) {
            let (_, s, _, h) = &mut self.hops[i];
            *s = (*s).min(sub);
            h.first_seen = h.first_seen.min(hop.first_seen);
            h.last_seen = h.last_seen.max(hop.last_seen);
            if h.maps.is_none() {
                h.maps = hop.maps;
            }
            for p in hop.evidence {
                add_proof(&mut self.proofs, i, h, p);
            }
            for f in hop.flags {
                if !h.flags.contains(&f) {
                    h.flags.push(f);
                }
            }
            return;
        }
        let i = self.hops.len();
        self.by_key.entry(key).or_default().push(i);
        self.by_ip.entry(hop.ip).or_default().push(i);
        for p in &hop.evidence {
            self.proofs.insert((i, p.clone()));
        }
        self.next += 1;
        self.hops.push((place, sub, self.next, hop));
    }

    /// Places the communication's two ends, each with what showed it.
    fn ends(
        &mut self,
        c: &Candidate,
        span: (Timestamp, Timestamp),
        origin: Proof,
        destination: Proof,
    ) {
        let o = (Place::Origin, ChainBuilder::first_role(c), c.orig, origin);
        let d = (Place::Destination, Role::Destination, c.resp, destination);
        for (place, role, (addr, port), proof) in [o, d] {
            self.put(
                place,
                0,
                hop(role, Some(addr), port_of(c, port), span, proof),
            );
        }
    }

    /// Moves the end at `from` with address `addr` (the TCP end that sent headers naming
    /// other nodes) to `to` with a new role, adding the proof.
    fn demote(&mut self, from: Place, to: Place, addr: Addr, role: Role, proof: Proof) {
        let Some(with_ip) = self.by_ip.get(&Some(addr)) else {
            return;
        };
        for &i in with_ip {
            let (p, _, _, h) = &mut self.hops[i];
            if *p != from && *p != to {
                continue;
            }
            let old = key_of(*p, h);
            (*p, h.role) = (to, role);
            let new = key_of(*p, h);
            if old != new {
                if let Some(v) = self.by_key.get_mut(&old) {
                    v.retain(|&j| j != i);
                }
                let v = self.by_key.entry(new).or_default();
                let at = v.partition_point(|&j| j < i);
                v.insert(at, i);
            }
            add_proof(&mut self.proofs, i, h, proof.clone());
        }
    }
}

/// Adds `p` to hop `i`'s evidence unless it has it.
fn add_proof(seen: &mut HashSet<(usize, Proof)>, i: usize, h: &mut Hop, p: Proof) {
    if seen.insert((i, p.clone())) {
        h.evidence.push(p);
    }
}

/// A hop with one piece of evidence.
pub(super) fn hop(
    role: Role,
    ip: Option<Addr>,
    port: Option<u16>,
    span: (Timestamp, Timestamp),
    proof: Proof,
) -> Hop {
    Hop {
        ip,
        port,
        role,
        asn: None,
        maps: None,
        first_seen: span.0,
        last_seen: span.1,
        evidence: vec![proof],
        flags: Vec::new(),
    }
}

/// The path of a candidate communication, ordered origin → destination.
pub fn path(c: &Candidate, evidence: &[Evidence<'_>]) -> Vec<Hop> {
    let mut b = Builder::default();
    for o in &c.observations {
        let Some(e) = evidence.iter().find(|e| e.vantage == o.vantage) else {
            continue;
        };
        let span = (o.first, o.last);
        // The observation's own direction may be the reverse of the candidate's (and its
        // source translated, seen outside a NAT).
        let same_dir = o.orig == c.orig || o.resp == c.resp;
        match o.seen {
            Seen::Flow(i) => {
                let Some(f) = e.flows.get(i) else {
                    continue;
                };
                flow_hops(&mut b, c, o, f, e, span, same_dir);
            }
            Seen::Record(i) => {
                let Some(r) = e.records.get(i) else {
                    continue;
                };
                record_hops(&mut b, c, o, r, span, same_dir);
            }
        }
    }
    for e in evidence {
        super::chains::place(&mut ChainBuilder(&mut b), c, e);
    }
    b.hops.sort_by_key(|a| (a.0, a.1, a.3.first_seen, a.2));
    b.hops.into_iter().map(|(_, _, _, h)| h).collect()
}

/// What the header chains (proxies, relays, traceroutes) may do to the path being built.
pub(super) struct ChainBuilder<'a>(&'a mut Builder);

/// Where a chain puts a hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChainPlace {
    /// Before the TCP client, in chain order (`sub` = position).
    Upstream,
    /// Among the routers, found from the origin's side (`sub` = TTL).
    Router,
    /// Among the routers, found from the destination's side (`sub` = 256 − TTL).
    RouterFromDestination,
    /// Beyond the TCP responder, toward a server behind it (`sub` = position).
    Downstream,
    /// The end of the path beyond a proxy the TCP responder is (the node a request sent to
    /// it names).
    Beyond,
    /// The origin itself (the first node a chain names).
    Origin,
}

impl ChainBuilder<'_> {
    /// Adds a hop a chain names.
    pub(super) fn put(&mut self, at: ChainPlace, sub: u32, h: Hop) {
        let place = match at {
            ChainPlace::Upstream => Place::Upstream,
            ChainPlace::Router => Place::RouterNearDestination,
            ChainPlace::RouterFromDestination => Place::RouterNearOrigin,
            ChainPlace::Downstream => Place::Downstream,
            ChainPlace::Beyond => Place::Destination,
            ChainPlace::Origin => Place::Origin,
        };
        self.0.put(place, sub, h);
    }

    /// The TCP client at `addr` sent headers that name nodes before it: it is a proxy or a
    /// relay (the first node named is placed as the origin by the caller).
    pub(super) fn client_forwards(&mut self, addr: Addr, role: Role, proof: Proof) {
        self.0.demote(Place::Origin, Place::Peer, addr, role, proof);
    }

    /// True when `addr` is the TCP responder's (at the destination's end of the path).
    pub(super) fn is_responder(&self, addr: Addr) -> bool {
        let b = &*self.0;
        b.by_ip.get(&Some(addr)).is_some_and(|v| {
            v.iter()
                .any(|&i| matches!(b.hops[i].0, Place::Destination | Place::PeerOut))
        })
    }

    /// Adds evidence to the end of the path at `addr` (whatever role it has now), or
    /// places it there when no hop has that address yet.
    pub(super) fn at_end(&mut self, origin_end: bool, h: Hop) {
        let places: &[Place] = if origin_end {
            &[Place::Origin, Place::Peer]
        } else {
            &[Place::Destination, Place::PeerOut]
        };
        let b = &mut *self.0;
        let end = b
            .by_ip
            .get(&h.ip)
            .and_then(|v| v.iter().copied().find(|&i| places.contains(&b.hops[i].0)));
        if let Some(i) = end {
            let end = &mut b.hops[i].3;
            end.first_seen = end.first_seen.min(h.first_seen);
            end.last_seen = end.last_seen.max(h.last_seen);
            for p in h.evidence {
                add_proof(&mut b.proofs, i, end, p);
            }
            return;
        }
        b.put(places[0], 0, h);
    }

    /// The TCP responder at `addr` answered as a proxy (a response's `Via`), or was sent
    /// a request only a proxy is sent.
    pub(super) fn responder_proxies(&mut self, addr: Addr, proof: Proof) {
        self.0
            .demote(Place::Destination, Place::PeerOut, addr, Role::Proxy, proof);
    }

    /// The role the first hop has: the traceroute's sender or the origin.
    pub(super) fn first_role(c: &Candidate) -> Role {
        if c.traceroute {
            Role::Vantage
        } else {
            Role::Origin
        }
    }
}

/// The hops one flow of the communication shows: its ends (with the TTL distance) and the
/// tunnels around its packets.
fn flow_hops(
    b: &mut Builder,
    c: &Candidate,
    o: &super::Observation,
    f: &crate::flow::Flow,
    e: &Evidence<'_>,
    span: (Timestamp, Timestamp),
    same_dir: bool,
) {
    let proof = |kind, showed: String| Proof {
        kind,
        vantage: o.vantage,
        at: f.first_loc,
        record: 0,
        showed,
        names: Vec::new(),
    };
    // What each end sent, as this vantage point saw it: the TTL left says how many routers
    // lay between that end and here.
    let (o_side, r_side) = if same_dir {
        (f.orig_side(), f.orig_side().other())
    } else {
        (f.orig_side().other(), f.orig_side())
    };
    // A traceroute's probes leave with small TTLs on purpose: they say nothing of distance.
    let (o_ttl, r_ttl) = if c.traceroute {
        (String::new(), String::new())
    } else {
        (
            distance(&f.dir[o_side.idx()]),
            distance(&f.dir[r_side.idx()]),
        )
    };
    let (opened, answered) = if c.traceroute {
        ("sent the probes", "was the probes' destination")
    } else {
        ("opened it", "answered")
    };
    // Seen outside a NAT: this view's source is the translated one.
    let outside = if same_dir { o.orig } else { o.resp };
    if let Some(nat) = c
        .nat
        .as_ref()
        .filter(|n| n.outside == outside && outside != c.orig)
    {
        let mut h = hop(
            Role::Nat,
            Some(outside.0),
            Some(outside.1),
            span,
            proof(
                ProofKind::NatMatch,
                format!("the source as seen here{o_ttl}; {}", nat.why),
            ),
        );
        h.maps = Some(c.orig);
        b.put(Place::NatIn, 0, h);
        let dest = proof(
            ProofKind::Packets,
            format!("packets of the communication; this end {answered}{r_ttl}"),
        );
        b.put(
            Place::Destination,
            0,
            hop(
                Role::Destination,
                Some(c.resp.0),
                port_of(c, c.resp.1),
                span,
                dest,
            ),
        );
        return;
    }
    b.ends(
        c,
        span,
        proof(
            ProofKind::Packets,
            format!("packets of the communication; this end {opened}{o_ttl}"),
        ),
        proof(
            ProofKind::Packets,
            format!("packets of the communication; this end {answered}{r_ttl}"),
        ),
    );
    // Tunnels around the first packet; their direction is the first packet's.
    let chain: &[Encap] = e.chains.get(f.chains.first as usize).map_or(&[], |c| c);
    let forward = (f.first_side == f.orig_side()) == same_dir;
    let tunnels: Vec<_> = chain
        .iter()
        .filter_map(|x| match x {
            Encap::Tunnel(t) => Some(*t),
            _ => None,
        })
        .collect();
    // The innermost tunnel spans the widest part of the path: ingresses innermost first,
    // egresses outermost first.
    let ends = |t: &crate::decode::Tunnel| {
        if forward {
            (t.src, t.dst)
        } else {
            (t.dst, t.src)
        }
    };
    let ingresses = tunnels
        .iter()
        .rev()
        .map(|t| (t, Place::TunnelIn, ends(t).0, "ingress"));
    let egresses = tunnels
        .iter()
        .map(|t| (t, Place::TunnelOut, ends(t).1, "egress"));
    for (t, place, addr, end) in ingresses.chain(egresses) {
        let (i, x) = ends(t);
        b.put(
            place,
            0,
            hop(
                Role::TunnelEndpoint,
                Some(addr),
                None,
                span,
                proof(
                    ProofKind::Tunnel,
                    format!("{} tunnel {i} → {x}: {end}", t.kind.name().to_uppercase()),
                ),
            ),
        );
    }
}

/// The hops one flow record shows: its ends, NAT fields, the exporter, the neighbour ASes.
fn record_hops(
    b: &mut Builder,
    c: &Candidate,
    o: &super::Observation,
    r: &crate::records::FlowRecord,
    span: (Timestamp, Timestamp),
    same_dir: bool,
) {
    let proof = |kind, showed: String| Proof {
        kind,
        vantage: o.vantage,
        at: r.loc.at,
        record: r.loc.record,
        showed,
        names: Vec::new(),
    };
    let src = r.kind.name();
    let seen = proof(
        ProofKind::FlowRecord,
        format!("{src} record of the communication"),
    );
    b.ends(c, span, seen.clone(), seen);
    let rt = r.routing();
    // The record's own source is the candidate's origin when same_dir.
    let (near, far) = if same_dir {
        (rt.nat_src, rt.nat_dst)
    } else {
        (rt.nat_dst, rt.nat_src)
    };
    let (inside_near, inside_far) = if same_dir {
        ((r.src, r.sport), (r.dst, r.dport))
    } else {
        ((r.dst, r.dport), (r.src, r.sport))
    };
    let nats = [
        (Place::NatIn, near, inside_near, "translated to"),
        (Place::NatOut, far, inside_far, "reached as"),
    ];
    for (place, nat, inside, verb) in nats {
        if let Some((a, p)) = nat.filter(|n| *n != inside) {
            let mut h = hop(
                Role::Nat,
                Some(a),
                Some(p),
                span,
                proof(
                    ProofKind::NatFields,
                    format!("{} {verb} {}", ep(inside), ep((a, p))),
                ),
            );
            h.maps = Some(inside);
            b.put(place, 0, h);
        }
    }
    let (as_near, as_far) = if same_dir {
        (rt.src_as, rt.dst_as)
    } else {
        (rt.dst_as, rt.src_as)
    };
    if let Some(x) = rt.exporter {
        let ifs = rt
            .in_if
            .zip(rt.out_if)
            .map(|(a, b)| format!(" (interfaces {a} → {b})"))
            .unwrap_or_default();
        b.put(
            Place::Router,
            10,
            hop(
                Role::Router,
                Some(x),
                None,
                span,
                proof(
                    ProofKind::RoutingFields,
                    format!("exported the record{ifs}"),
                ),
            ),
        );
    }
    // The next hops lie beyond the exporter in the record's own direction: toward the
    // destination when that is the communication's, toward the origin otherwise.
    let beyond = |k: u32| if same_dir { 10 + k } else { 10 - k };
    let next = [
        (
            rt.next_hop,
            1,
            "the exporter forwarded the record's packets to this next hop",
        ),
        (
            rt.bgp_next_hop,
            2,
            "the exporter's BGP route for the record's destination leaves its AS through this next hop",
        ),
    ];
    for (addr, k, what) in next {
        let Some(a) = addr.filter(|a| !a.to_ip().is_unspecified() && Some(*a) != rt.exporter)
        else {
            continue;
        };
        b.put(
            Place::Router,
            beyond(k),
            hop(
                Role::Router,
                Some(a),
                None,
                span,
                proof(ProofKind::RoutingFields, what.to_string()),
            ),
        );
    }
    // AS 0 and the reserved 4-byte value mean "unknown" to exporters.
    let known = |a: &u32| *a != 0 && *a != u32::MAX;
    let ases = [
        (Place::AsIn, as_near, "origin"),
        (Place::AsOut, as_far, "destination"),
    ];
    for (place, asn, end) in ases {
        if let Some(a) = asn.filter(known) {
            let mut h = hop(
                Role::NeighborAs,
                None,
                None,
                span,
                proof(
                    ProofKind::RoutingFields,
                    format!("the exporter's routing table put the {end} in AS{a}"),
                ),
            );
            h.asn = Some(a);
            b.put(place, 0, h);
        }
    }
}

/// The routers between a sender and the vantage point, from the TTL (hop limit) its
/// packets arrived with and the nearest common initial value at or above it (64, 128, 255):
/// `; TTL 52 on arrival: about 12 routers from here (initial 64)`.
fn distance(d: &crate::flow::DirStats) -> String {
    if d.pkts == 0 {
        return String::new();
    }
    let seen = d.ttl_max;
    let Some(initial) = [32u8, 64, 128, 255].into_iter().find(|&i| i >= seen) else {
        return String::new();
    };
    let range = if d.ttl_min == d.ttl_max {
        format!("TTL {seen}")
    } else {
        format!("TTL {}-{seen}", d.ttl_min)
    };
    format!(
        "; {range} on arrival: about {} from here (if it started at {initial})",
        crate::model::counted(initial - seen, "router", "routers")
    )
}

/// A hop's port: none for ICMP, whose "ports" are the message type and code.
fn port_of(c: &Candidate, p: u16) -> Option<u16> {
    (!c.proto.is_icmp()).then_some(p)
}

pub(super) fn ep((a, p): (Addr, u16)) -> String {
    a.with_port(p)
}
