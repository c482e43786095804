//! Hops: the communication a preservation request names, found in the evidence.
//!
//! A [`Query`] names a communication the way an Art. 29 request does: an address, perhaps a
//! port, a peer and a protocol, a time (with its original offset) and a window around it, or
//! a Community ID. [`find`] looks for it among the flows rebuilt from packets and the flow
//! records, and groups what it finds into [`Candidate`] communications: the same 5-tuple
//! within the window, seen by one or several inputs (vantage points), with the clock offset
//! between them estimated. One candidate is the communication; several mean the query is
//! ambiguous and the caller lists them, with their Community IDs, instead of guessing.
//!
//! This module knows flows and records, never bytes or files; it does not attribute
//! addresses (that is `enrich`) nor write anything (that is `report`).

mod chains;
mod clues;
mod content;
mod nat;
mod path;

pub use clues::{CONNECT_REPLY_WITHIN, Clue, ClueKind, HeaderCut, PAYLOAD_KEPT};
pub use content::{Content, content, cut_headers, others};
pub use nat::{NatAmbiguity, NatMatch, NatViews};
pub use path::{Hop, Proof, ProofKind, Role, path};

use crate::decode::Encap;
use crate::flow::{Flow, community_id};
use crate::model::{Addr, Proto, Timestamp};
use crate::records::FlowRecord;
use std::net::IpAddr;

/// A time as the request gave it: the instant in UTC and the text with its offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryTime {
    /// The instant, UTC.
    pub utc: Timestamp,
    /// The text as given (`2026-03-01T11:15:07+01:00`).
    pub original: String,
}

impl QueryTime {
    /// Parses RFC 3339 text with an offset (or `Z`); `None` when it is not RFC 3339.
    pub fn parse(s: &str) -> Option<QueryTime> {
        Some(QueryTime {
            utc: Timestamp::parse_rfc3339(s)?,
            original: s.trim().to_string(),
        })
    }
}

/// The communication a request names. Unset fields match anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// An address of the communication (either end).
    pub ip: IpAddr,
    /// The port at `ip`.
    pub port: Option<u16>,
    /// The address at the other end.
    pub peer: Option<IpAddr>,
    /// The transport protocol.
    pub proto: Option<Proto>,
    /// When it happened.
    pub at: Option<QueryTime>,
    /// How far from `at` (either side) the communication may lie, in nanoseconds.
    pub window: i64,
    /// Its Community ID, when the request gives one.
    pub community_id: Option<String>,
}

impl Query {
    /// A query for everything at `ip`, with a 300-second window.
    pub fn new(ip: IpAddr) -> Query {
        Query {
            ip,
            port: None,
            peer: None,
            proto: None,
            at: None,
            window: 300 * 1_000_000_000,
            community_id: None,
        }
    }

    /// True when an observation with these ends, protocol and span matches.
    fn matches(&self, o: &Observation) -> bool {
        let ends = [
            (o.orig.0, o.orig.1, o.resp.0),
            (o.resp.0, o.resp.1, o.orig.0),
        ];
        let ip = addr(self.ip);
        let end_ok = ends.iter().any(|&(a, p, other)| {
            a == ip
                && self.port.is_none_or(|q| q == p)
                && self.peer.is_none_or(|q| addr(q) == other)
        });
        let proto_ok = self
            .proto
            .is_none_or(|p| p == o.proto || (p.is_icmp() && o.proto.is_icmp()));
        let time_ok = self.at.as_ref().is_none_or(|t| {
            o.first.0 <= t.utc.0.saturating_add(self.window)
                && o.last.0 >= t.utc.0.saturating_sub(self.window)
        });
        end_ok && proto_ok && time_ok
    }

    /// The node a request names when it asked a forward proxy to reach this query's address
    /// (and port): an HTTP request (`c`) in the client's direction whose `CONNECT` target,
    /// or absolute URL, has the query's address as its host, sent to another address,
    /// within the query's time; the client or the proxy is the query's peer, if it names
    /// one. Over TCP only.
    fn named_by<'c>(&self, c: &'c Clue) -> Option<&'c crate::decode::headers::ProxyTarget> {
        let ClueKind::Http {
            request: true,
            target: Some(t),
            ..
        } = &c.what
        else {
            return None;
        };
        let ip = addr(self.ip);
        let named = t.addr.map(addr) == Some(ip) && c.dst.0 != ip;
        let port_ok = self.port.is_none_or(|p| t.port == Some(p));
        let peer_ok = self
            .peer
            .map(addr)
            .is_none_or(|p| p == c.src.0 || p == c.dst.0);
        let proto_ok = self.proto.is_none_or(|p| p == Proto::TCP) && c.proto == Proto::TCP;
        let time_ok = self
            .at
            .as_ref()
            .is_none_or(|a| c.ts.0.abs_diff(a.utc.0) <= self.window.unsigned_abs());
        (named && port_ok && peer_ok && proto_ok && time_ok).then_some(t)
    }

    /// True when the Community ID matches (computed only for what matched the rest).
    fn matches_id(&self, o: &Observation) -> bool {
        self.community_id
            .as_deref()
            .is_none_or(|c| c == o.community_id)
    }
}

fn addr(ip: IpAddr) -> Addr {
    match ip {
        IpAddr::V4(a) => Addr::v4(a.octets()),
        IpAddr::V6(a) => Addr::v6(a.octets()),
    }
}

/// What an observation is: a flow from packets or a flow record, by its position in the
/// run's output order of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seen {
    /// The n-th flow (in the run's flow output order).
    Flow(usize),
    /// The n-th flow record (in the run's record order).
    Record(usize),
}

/// The evidence of one vantage point: the flows and flow records of one capture set (one
/// run of the flow stage; its inputs are read as one sequence, a rotated capture say).
#[derive(Clone, Copy, Debug)]
pub struct Evidence<'a> {
    /// The vantage point's number, as the caller numbers them.
    pub vantage: u32,
    /// Its flows, in the run's output order.
    pub flows: &'a [Flow],
    /// Its flow records.
    pub records: &'a [FlowRecord],
    /// The encapsulation chains its flows refer to (`FlowSet::chains`).
    pub chains: &'a [Box<[Encap]>],
    /// Header evidence gathered beside its flows (proxy headers, mails, ICMP errors).
    pub clues: &'a [Clue],
}

/// One vantage point's view of the communication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The vantage point that saw it.
    pub vantage: u32,
    /// Which flow or record of that vantage point's evidence.
    pub seen: Seen,
    /// The input (of that vantage point's run) it came from.
    pub input: u32,
    /// Originator address and port, as this observation saw them.
    pub orig: (Addr, u16),
    /// Responder address and port.
    pub resp: (Addr, u16),
    /// Transport protocol.
    pub proto: Proto,
    /// First and last time, by this input's clock.
    pub first: Timestamp,
    /// Last time.
    pub last: Timestamp,
    /// Community ID v1.
    pub community_id: String,
    /// Packets and bytes each way as this observation counted them: from the originator,
    /// then back (flow records: as reported, before sampling).
    pub sizes: [(u64, u64); 2],
    /// The VLAN ids its packets carried, outer then inner (0: none).
    pub vlan: [u16; 2],
}

/// One communication the query may mean: its observations, grouped by Community ID and
/// time, with every input that saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Community ID v1 of its 5-tuple.
    pub community_id: String,
    /// Originator, as the earliest observation saw it.
    pub orig: (Addr, u16),
    /// Responder.
    pub resp: (Addr, u16),
    /// Transport protocol.
    pub proto: Proto,
    /// Earliest first time over the observations (each by its own input's clock).
    pub first: Timestamp,
    /// Latest last time.
    pub last: Timestamp,
    /// The observations, earliest first.
    pub observations: Vec<Observation>,
    /// The communication is a traceroute run: probes from `orig` to `resp` (one flow per
    /// probe port) that ICMP errors answered. Its observations are every probe's.
    pub traceroute: bool,
    /// How far apart (nanoseconds) evidence of the communication may lie: the query's
    /// window.
    pub window: i64,
    /// The same communication seen outside a NAT by another vantage point (its
    /// observations are among these), and why the two views are one.
    pub nat: Option<NatMatch>,
    /// Seen from the other side of a NAT, but not joined: which view there is its own
    /// cannot be told.
    pub nat_ambiguous: Option<NatAmbiguity>,
    /// Found through a request to a forward proxy: the query's address is the end of no
    /// flow or record, and this request, carried by the communication, named it as the
    /// node the proxy was to reach (the first such request).
    pub requested: Option<Requested>,
}

/// A request sent to a forward proxy that named the query's address as the node to reach
/// (an HTTP `CONNECT`, or a request target in absolute form with an address literal as
/// its host): how [`find`] reaches a communication seen only on the client's side of the
/// proxy, where the address is the end of no flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requested {
    /// The vantage point whose evidence holds the request.
    pub vantage: u32,
    /// Where the request is (its first segment).
    pub at: crate::model::Locator,
    /// When it was sent.
    pub ts: Timestamp,
    /// A `CONNECT` (a tunnel); false: a request in absolute form.
    pub connect: bool,
    /// The port it named.
    pub port: Option<u16>,
    /// The address it named (the query's): the nodes other requests on the same
    /// connection named are other communications', left off the path.
    pub addr: Addr,
}

impl Candidate {
    /// The vantage points that saw it, in order of their first observation, each with its
    /// clock offset (seconds) against the first, estimated from the start of the same
    /// communication: positive when that vantage point's clock runs ahead (or it saw the
    /// communication start later, as a point further along the path does).
    pub fn vantage_points(&self) -> Vec<(u32, f64)> {
        let mut out: Vec<(u32, Timestamp)> = Vec::new();
        for o in &self.observations {
            if !out.iter().any(|(v, _)| *v == o.vantage) {
                out.push((o.vantage, o.first));
            }
        }
        let base = out.first().map_or(0, |(_, t)| t.0);
        out.into_iter()
            .map(|(i, t)| (i, (t.0 - base) as f64 / 1e9))
            .collect()
    }
}

/// An observation of a flow, without its Community ID (a hash: computed once it matches).
pub(super) fn of_flow(vantage: u32, i: usize, f: &Flow) -> Observation {
    let o = f.orig_side();
    let (a, b) = (f.key.endpoint(o), f.key.endpoint(o.other()));
    let last = f.dir[0].last.max(f.dir[1].last);
    let (d0, d1) = (&f.dir[o.idx()], &f.dir[o.other().idx()]);
    Observation {
        vantage,
        seen: Seen::Flow(i),
        input: f.first_loc.input,
        orig: (a.addr, a.port),
        resp: (b.addr, b.port),
        proto: f.key.proto,
        first: f.first_ts(),
        last,
        community_id: String::new(),
        sizes: [(d0.pkts, d0.bytes), (d1.pkts, d1.bytes)],
        vlan: f.key.ctx().vlan,
    }
}

fn of_record(vantage: u32, i: usize, r: &FlowRecord) -> Option<Observation> {
    let community_id = r.community_id()?;
    Some(Observation {
        community_id,
        ..record_seen(vantage, i, r)
    })
}

/// A record as an observation, without its Community ID.
fn record_seen(vantage: u32, i: usize, r: &FlowRecord) -> Observation {
    Observation {
        vantage,
        seen: Seen::Record(i),
        input: r.loc.at.input,
        orig: (r.src, r.sport),
        resp: (r.dst, r.dport),
        proto: r.proto,
        first: r.start,
        last: r.end,
        community_id: String::new(),
        sizes: [(r.fwd.pkts, r.fwd.bytes), (r.rev.pkts, r.rev.bytes)],
        vlan: [r.routing().vlan.unwrap_or(0), 0],
    }
}

/// The addresses the evidence of a communication `q` names can involve, for keeping only
/// that evidence of a run too large to hold whole (`trace` on flows and records set aside
/// on disk). Everything the hop search reads shares an address with a flow or record that
/// matches the query's address, port, peer, protocol and time (the test [`find`] applies
/// before it computes a Community ID): the candidates themselves (the query's address),
/// the other view of a NAT at another vantage point (the same responder, see `nat`), a
/// traceroute's probes and other communications between the same two ends (see
/// [`others`]), and the client and proxy of a request naming the query's address as the
/// node a forward proxy was to reach (what [`find`] falls back to: take clues in with
/// [`Reach::add_clue`]); tunnel carriers are read from the encapsulation chains. Header evidence
/// ([`Clue`]) is read only where it belongs to an observation of the communication (its
/// packet has the observation's two ends) or quotes a probe between the communication's
/// two ends (an ICMP error), so a clue with none of [`Clue::ends`] among the addresses is
/// not read either; a saved mail's clue is always kept. A flow, record or clue with no end
/// among these addresses cannot change what [`find`], [`path`], [`content`] and [`others`]
/// give, so leaving it out gives the same report. A change to what the hop search reads must keep
/// this true (tests compare the reports of runs held whole and focused).
#[derive(Clone, Debug)]
pub struct Reach {
    query: Query,
    addrs: std::collections::HashSet<Addr>,
}

impl Reach {
    /// The reach of `q` before any evidence: its address and peer.
    pub fn new(q: &Query) -> Reach {
        let mut addrs = std::collections::HashSet::new();
        addrs.insert(addr(q.ip));
        if let Some(p) = q.peer {
            addrs.insert(addr(p));
        }
        Reach {
            query: q.clone(),
            addrs,
        }
    }

    /// Takes in a flow: when it matches the query, both its ends are reached.
    pub fn add_flow(&mut self, f: &Flow) {
        if self.query.matches(&of_flow(0, 0, f)) {
            self.addrs.insert(f.key.lo().addr);
            self.addrs.insert(f.key.hi().addr);
        }
    }

    /// Takes in a clue: a request naming the query's address as the node a forward proxy
    /// was to reach (what [`find`] falls back to) reaches its client and proxy.
    pub fn add_clue(&mut self, c: &Clue) {
        if self.query.named_by(c).is_some() {
            self.addrs.insert(c.src.0);
            self.addrs.insert(c.dst.0);
        }
    }

    /// Takes in a flow record: when it matches the query, both its ends are reached.
    pub fn add_record(&mut self, r: &FlowRecord) {
        if self.query.matches(&record_seen(0, 0, r)) {
            self.addrs.insert(r.src);
            self.addrs.insert(r.dst);
        }
    }

    /// True when a flow has an end among the reached addresses (call after every flow and
    /// record was taken in).
    pub fn keeps_flow(&self, f: &Flow) -> bool {
        self.addrs.contains(&f.key.lo().addr) || self.addrs.contains(&f.key.hi().addr)
    }

    /// True when a flow record has an end among the reached addresses.
    pub fn keeps_record(&self, r: &FlowRecord) -> bool {
        self.addrs.contains(&r.src) || self.addrs.contains(&r.dst)
    }

    /// True when a clue can be read by the hop search: a saved mail's, or one with an end
    /// (or a quoted end) among the reached addresses.
    pub fn keeps_clue(&self, c: &Clue) -> bool {
        matches!(c.what, ClueKind::Mail { file: true, .. })
            || c.ends().any(|a| self.addrs.contains(&a))
    }

    /// Number of addresses reached.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// Never true: the query's own address is always reached.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
}

/// The flow records (vantage point, index) that match the query's addresses, port,
/// protocol and time but carry no 5-tuple a Community ID can be formed from (an ICMP record
/// without type and code, a TCP or UDP record without ports, as VPC flow logs write
/// them). [`find`] cannot make them a communication; the caller names them rather than
/// reporting that nothing matched.
pub fn untraceable(evidence: &[Evidence<'_>], q: &Query) -> Vec<(u32, usize)> {
    let mut out = Vec::new();
    for e in evidence {
        for (i, r) in e.records.iter().enumerate() {
            if !r.has_tuple() && q.matches(&record_seen(e.vantage, i, r)) {
                out.push((e.vantage, i));
            }
        }
    }
    out
}

/// The flows that carried a request naming the query's address as the node a forward
/// proxy was to reach ([`Query::named_by`]), each as an observation with the first such
/// request it carried: what [`find`] falls back to when the address is the end of no flow
/// or record (a capture on the client's side of a proxy holds the client's connection to
/// the proxy, not the proxy's onward). A request belongs to the flow between its two ends
/// that started last by its time (a flow is split at idle gaps).
fn requested(evidence: &[Evidence<'_>], q: &Query) -> Vec<(Observation, Requested)> {
    type Ends = [(Addr, u16); 2];
    let ends = |a: (Addr, u16), b: (Addr, u16)| if a <= b { [a, b] } else { [b, a] };
    let mut out: Vec<(Observation, Requested)> = Vec::new();
    for e in evidence {
        let named: Vec<(&Clue, (bool, Option<u16>))> = e
            .clues
            .iter()
            .filter_map(|c| q.named_by(c).map(|t| (c, (t.connect, t.port))))
            .collect();
        if named.is_empty() {
            continue;
        }
        // The TCP flows between those requests' ends, in output (start) order.
        let wanted: std::collections::HashSet<Ends> =
            named.iter().map(|(c, _)| ends(c.src, c.dst)).collect();
        let mut by_ends: std::collections::HashMap<Ends, Vec<usize>> = Default::default();
        for (i, f) in e.flows.iter().enumerate() {
            let (lo, hi) = (f.key.lo(), f.key.hi());
            let k = ends((lo.addr, lo.port), (hi.addr, hi.port));
            if f.key.proto == Proto::TCP && wanted.contains(&k) {
                by_ends.entry(k).or_default().push(i);
            }
        }
        let mut taken = std::collections::HashSet::new();
        for (c, (connect, port)) in named {
            let Some(&i) = by_ends.get(&ends(c.src, c.dst)).and_then(|l| {
                l.iter()
                    .rev()
                    .find(|&&i| e.flows[i].first_ts() <= c.ts)
                    .or(l.first())
            }) else {
                continue;
            };
            // Requests come in time order: a flow's first is kept.
            if taken.contains(&i) {
                continue;
            }
            let f = &e.flows[i];
            let mut o = of_flow(e.vantage, i, f);
            // Sent to the connection's responder, the proxy (the path puts the node it
            // names beyond the responder only then).
            if o.resp != c.dst {
                continue;
            }
            o.community_id = community_id(&f.key, 0);
            if q.matches_id(&o) {
                let r = Requested {
                    vantage: e.vantage,
                    at: c.at,
                    ts: c.ts,
                    connect,
                    port,
                    addr: addr(q.ip),
                };
                taken.insert(i);
                out.push((o, r));
            }
        }
    }
    out
}

/// Finds the communications `q` may mean in the evidence of every vantage point (flows,
/// tunnel carriers included, and flow records). Observations of the same 5-tuple
/// (Community ID) whose spans lie within the query's window of each other form one
/// candidate, whichever vantage point saw them; candidates come out earliest first. When
/// none has the query's address as an end, the connections that carried a request naming
/// it as the node a forward proxy was to reach are the candidates (see
/// [`Candidate::requested`]).
pub fn find(evidence: &[Evidence<'_>], q: &Query) -> Vec<Candidate> {
    let mut seen: Vec<Observation> = Vec::new();
    for e in evidence {
        seen.extend(
            e.flows
                .iter()
                .enumerate()
                .map(|(i, f)| of_flow(e.vantage, i, f))
                .filter(|o| q.matches(o))
                .map(|mut o| {
                    if let Some(f) = e.flows.get(match o.seen {
                        Seen::Flow(i) => i,
                        Seen::Record(_) => usize::MAX,
                    }) {
                        o.community_id = community_id(&f.key, 0);
                    }
                    o
                })
                .filter(|o| q.matches_id(o)),
        );
        seen.extend(
            e.records
                .iter()
                .enumerate()
                .filter_map(|(i, r)| of_record(e.vantage, i, r))
                .filter(|o| q.matches(o) && q.matches_id(o)),
        );
    }
    let mut asked: Vec<(Observation, Requested)> = Vec::new();
    if seen.is_empty() {
        asked = requested(evidence, q);
        seen = asked.iter().map(|(o, _)| o.clone()).collect();
    }
    let order = |o: &Observation| (o.first, o.vantage, o.input, o.seen);
    seen.sort_by(|a, b| (&a.community_id, order(a)).cmp(&(&b.community_id, order(b))));
    let mut out: Vec<Candidate> = Vec::new();
    for o in seen {
        match out.last_mut() {
            Some(c)
                if c.community_id == o.community_id
                    && o.first.0 <= c.last.0.saturating_add(q.window) =>
            {
                c.first = c.first.min(o.first);
                c.last = c.last.max(o.last);
                c.observations.push(o);
            }
            _ => out.push(Candidate {
                community_id: o.community_id.clone(),
                orig: o.orig,
                resp: o.resp,
                proto: o.proto,
                first: o.first,
                last: o.last,
                observations: vec![o],
                traceroute: false,
                window: q.window,
                nat: None,
                nat_ambiguous: None,
                requested: None,
            }),
        }
    }
    if !asked.is_empty() {
        let by_flow: std::collections::HashMap<(u32, Seen), Requested> = asked
            .iter()
            .map(|(o, r)| ((o.vantage, o.seen), *r))
            .collect();
        for c in &mut out {
            c.requested = c
                .observations
                .iter()
                .filter_map(|o| by_flow.get(&(o.vantage, o.seen)))
                .min_by_key(|r| (r.ts, r.vantage, r.at.input, r.at.frame))
                .copied();
        }
    }

    for c in &mut out {
        c.observations.sort_by_key(order);
        if let Some(o) = c.observations.first() {
            c.orig = o.orig;
            c.resp = o.resp;
        }
    }
    let out = chains::fold_traceroutes(evidence, out);
    let mut out = nat::fold(evidence, out);
    out.sort_by(|a, b| (a.first, &a.community_id).cmp(&(b.first, &b.community_id)));
    out
}
