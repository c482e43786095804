//! The ordered path of one communication, from the observations [`find`](super::find)
//! grouped: origin, tunnel ingresses, source NAT, the AS before an exporter, the exporting
//! routers, the AS after them, destination NAT, tunnel egresses, destination. Each hop
//! keeps the evidence that puts it there.
//!
//! Evidence used so far: the endpoints as each vantage point saw them; every tunnel layer
//! around the communication's packets (ingress toward the origin); NAT fields, exporter
//! addresses and source/destination AS of flow records. Proxy headers, mail relays,
//! traceroutes and NAT matching across vantage points come with the Art. 30 report.

use super::{Candidate, Evidence, Seen};
use crate::decode::Encap;
use crate::model::{Addr, Locator, Timestamp};

/// What a hop is on the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Where the communication started.
    Origin,
    /// An outer end of a tunnel the communication went through.
    TunnelEndpoint,
    /// A translating address (NAT), with the inside address it maps.
    Nat,
    /// An AS known only from routing fields of a flow record.
    NeighborAs,
    /// A router: a flow exporter that saw the communication.
    Router,
    /// Where the communication went.
    Destination,
}

impl Role {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Role::Origin => "origin",
            Role::TunnelEndpoint => "tunnel_endpoint",
            Role::Nat => "nat",
            Role::NeighborAs => "neighbor_as",
            Role::Router => "router",
            Role::Destination => "destination",
        }
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
        }
    }
}

/// One piece of evidence for a hop: which vantage point and input, where in it, and what
/// it showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// Kind of observation.
    pub kind: ProofKind,
    /// Vantage point.
    pub vantage: u32,
    /// Where: input, frame (or line of a log) and byte offset.
    pub at: Locator,
    /// Index of the record in its frame or datagram (0 when none).
    pub record: u32,
    /// What it showed, in a sentence.
    pub showed: String,
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
}

/// Position of a role on the way from origin to destination (lower is nearer the origin);
/// within a role, hops keep the order they were placed in.
fn rank(role: Role, toward_destination: bool) -> u8 {
    match (role, toward_destination) {
        (Role::Origin, _) => 0,
        (Role::TunnelEndpoint, false) => 1,
        (Role::Nat, false) => 2,
        (Role::NeighborAs, false) => 3,
        (Role::Router, _) => 4,
        (Role::NeighborAs, true) => 5,
        (Role::Nat, true) => 6,
        (Role::TunnelEndpoint, true) => 7,
        (Role::Destination, _) => 8,
    }
}

struct Builder {
    hops: Vec<(u8, u32, Hop)>,
    next: u32,
}

impl Builder {
    /// Adds a hop, or the evidence to the same hop (same role, address, port, AS).
    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        rank: u8,
        role: Role,
        ip: Option<Addr>,
        port: Option<u16>,
        asn: Option<u32>,
        maps: Option<(Addr, u16)>,
        span: (Timestamp, Timestamp),
        proof: Proof,
    ) {
        if let Some((_, _, h)) = self.hops.iter_mut().find(|(r, _, h)| {
            *r == rank && h.role == role && h.ip == ip && h.port == port && h.asn == asn
        }) {
            h.first_seen = h.first_seen.min(span.0);
            h.last_seen = h.last_seen.max(span.1);
            if h.maps.is_none() {
                h.maps = maps;
            }
            if !h.evidence.contains(&proof) {
                h.evidence.push(proof);
            }
            return;
        }
        self.next += 1;
        self.hops.push((
            rank,
            self.next,
            Hop {
                ip,
                port,
                role,
                asn,
                maps,
                first_seen: span.0,
                last_seen: span.1,
                evidence: vec![proof],
            },
        ));
    }
}

impl Builder {
    /// Places the communication's two ends, each with what showed it.
    fn ends(
        &mut self,
        c: &Candidate,
        span: (Timestamp, Timestamp),
        origin: Proof,
        destination: Proof,
    ) {
        let o = (Role::Origin, false, c.orig, origin);
        let d = (Role::Destination, true, c.resp, destination);
        for (role, toward, (addr, port), proof) in [o, d] {
            let r = rank(role, toward);
            self.put(
                r,
                role,
                Some(addr),
                port_of(c, port),
                None,
                None,
                span,
                proof,
            );
        }
    }
}

/// The path of a candidate communication, ordered origin → destination.
pub fn path(c: &Candidate, evidence: &[Evidence<'_>]) -> Vec<Hop> {
    let mut b = Builder {
        hops: Vec::new(),
        next: 0,
    };
    for o in &c.observations {
        let Some(e) = evidence.iter().find(|e| e.vantage == o.vantage) else {
            continue;
        };
        let span = (o.first, o.last);
        // The observation's own direction may be the reverse of the candidate's.
        let same_dir = o.orig == c.orig;
        match o.seen {
            Seen::Flow(i) => {
                let Some(f) = e.flows.get(i) else {
                    continue;
                };
                let proof = |kind, showed: String| Proof {
                    kind,
                    vantage: o.vantage,
                    at: f.first_loc,
                    record: 0,
                    showed,
                };
                // What each end sent, as this vantage point saw it: the TTL left says how
                // many routers lay between that end and here.
                let (o_side, r_side) = if same_dir {
                    (f.orig_side(), f.orig_side().other())
                } else {
                    (f.orig_side().other(), f.orig_side())
                };
                let o_ttl = distance(&f.dir[o_side.idx()]);
                let r_ttl = distance(&f.dir[r_side.idx()]);
                b.ends(
                    c,
                    span,
                    proof(
                        ProofKind::Packets,
                        format!("packets of the communication; this end opened it{o_ttl}"),
                    ),
                    proof(
                        ProofKind::Packets,
                        format!("packets of the communication; this end answered{r_ttl}"),
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
                // The innermost tunnel spans the widest part of the path: ingresses
                // innermost first, egresses outermost first.
                for t in tunnels.iter().rev() {
                    let (ingress, egress) = if forward {
                        (t.src, t.dst)
                    } else {
                        (t.dst, t.src)
                    };
                    let what = format!("{:?} tunnel {ingress} → {egress}", t.kind);
                    b.put(
                        rank(Role::TunnelEndpoint, false),
                        Role::TunnelEndpoint,
                        Some(ingress),
                        None,
                        None,
                        None,
                        span,
                        proof(ProofKind::Tunnel, format!("{what}: ingress")),
                    );
                }
                for t in &tunnels {
                    let (ingress, egress) = if forward {
                        (t.src, t.dst)
                    } else {
                        (t.dst, t.src)
                    };
                    let what = format!("{:?} tunnel {ingress} → {egress}", t.kind);
                    b.put(
                        rank(Role::TunnelEndpoint, true),
                        Role::TunnelEndpoint,
                        Some(egress),
                        None,
                        None,
                        None,
                        span,
                        proof(ProofKind::Tunnel, format!("{what}: egress")),
                    );
                }
            }
            Seen::Record(i) => {
                let Some(r) = e.records.get(i) else {
                    continue;
                };
                let proof = |kind, showed: String| Proof {
                    kind,
                    vantage: o.vantage,
                    at: r.loc.at,
                    record: r.loc.record,
                    showed,
                };
                let src = r.kind.name();
                let seen = proof(
                    ProofKind::FlowRecord,
                    format!("{src} record of the communication"),
                );
                b.ends(c, span, seen.clone(), seen);
                let rt = &r.routing;
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
                if let Some((a, p)) = near.filter(|n| *n != inside_near) {
                    b.put(
                        rank(Role::Nat, false),
                        Role::Nat,
                        Some(a),
                        Some(p),
                        None,
                        Some(inside_near),
                        span,
                        proof(
                            ProofKind::NatFields,
                            format!("{} translated to {}", ep(inside_near), ep((a, p))),
                        ),
                    );
                }
                if let Some((a, p)) = far.filter(|n| *n != inside_far) {
                    b.put(
                        rank(Role::Nat, true),
                        Role::Nat,
                        Some(a),
                        Some(p),
                        None,
                        Some(inside_far),
                        span,
                        proof(
                            ProofKind::NatFields,
                            format!("{} reached as {}", ep(inside_far), ep((a, p))),
                        ),
                    );
                }
                let (as_near, as_far) = if same_dir {
                    (rt.src_as, rt.dst_as)
                } else {
                    (rt.dst_as, rt.src_as)
                };
                if let Some(x) = rt.exporter {
                    b.put(
                        rank(Role::Router, false),
                        Role::Router,
                        Some(x),
                        None,
                        None,
                        None,
                        span,
                        proof(
                            ProofKind::RoutingFields,
                            format!(
                                "exported the record{}",
                                rt.in_if
                                    .zip(rt.out_if)
                                    .map(|(a, b)| format!(" (interfaces {a} → {b})"))
                                    .unwrap_or_default()
                            ),
                        ),
                    );
                }
                // AS 0 and the reserved 4-byte value mean "unknown" to exporters.
                let known = |a: &u32| *a != 0 && *a != u32::MAX;
                if let Some(a) = as_near.filter(known) {
                    b.put(
                        rank(Role::NeighborAs, false),
                        Role::NeighborAs,
                        None,
                        None,
                        Some(a),
                        None,
                        span,
                        proof(
                            ProofKind::RoutingFields,
                            format!("the exporter's routing table put the origin in AS{a}"),
                        ),
                    );
                }
                if let Some(a) = as_far.filter(known) {
                    b.put(
                        rank(Role::NeighborAs, true),
                        Role::NeighborAs,
                        None,
                        None,
                        Some(a),
                        None,
                        span,
                        proof(
                            ProofKind::RoutingFields,
                            format!("the exporter's routing table put the destination in AS{a}"),
                        ),
                    );
                }
            }
        }
    }
    // Same rank: the hop seen first is nearer the origin for ingress-side roles, and the
    // order of placement otherwise.
    b.hops.sort_by_key(|a| (a.0, a.2.first_seen, a.1));
    b.hops.into_iter().map(|(_, _, h)| h).collect()
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
        "; {range} on arrival: about {} router(s) from here (if it started at {initial})",
        initial - seen
    )
}

/// A hop's port: none for ICMP, whose "ports" are the message type and code.
fn port_of(c: &Candidate, p: u16) -> Option<u16> {
    (!c.proto.is_icmp()).then_some(p)
}

fn ep((a, p): (Addr, u16)) -> String {
    let ip = a.to_ip();
    if ip.is_ipv6() {
        format!("[{ip}]:{p}")
    } else {
        format!("{ip}:{p}")
    }
}
