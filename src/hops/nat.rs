//! NAT seen from two vantage points: the same connection captured inside a translating
//! network (private source) and outside it (the translated source), each its own 5-tuple.
//! Two candidates are one communication when they reach the same destination endpoint with
//! the same protocol, no vantage point saw both, they start within the query's window of
//! each other (the clocks of two sensors may differ by that much), each direction carried
//! the same packets and IP bytes, and, for TCP, each direction's first sequence number is
//! the same (a NAT that rewrites sequence numbers is still matched on the rest, and the
//! evidence says so). A candidate that matches several others, or whose one match matches
//! other connections on the candidate's side too, is left alone rather than guess, and
//! says so ([`NatAmbiguity`]): the report names the views and the log that would decide.

use super::{Candidate, Evidence, Observation, Seen};
use crate::flow::DirStats;
use crate::model::{Addr, Proto, Timestamp, counted};
use std::collections::{HashMap, HashSet};

/// What the two views of one direction have in common.
#[derive(Clone, Copy, PartialEq, Eq)]
struct View {
    pkts: u64,
    bytes: u64,
    seq: u32,
}

/// Each direction of a flow (from `orig`, then back), as its vantage point counted it.
fn view(f: &crate::flow::Flow, orig: (Addr, u16)) -> [View; 2] {
    let lo = f.key.lo();
    let (a, b) = if (lo.addr, lo.port) == orig {
        (0, 1)
    } else {
        (1, 0)
    };
    let v = |d: &DirStats| View {
        pkts: d.pkts,
        bytes: d.bytes,
        seq: d.first_seq,
    };
    [v(&f.dir[a]), v(&f.dir[b])]
}

/// The flow behind a candidate's first observation, with its views.
fn views(c: &Candidate, evidence: &[Evidence<'_>]) -> Option<[View; 2]> {
    let o = c.observations.first()?;
    let Seen::Flow(i) = o.seen else { return None };
    let e = evidence.iter().find(|e| e.vantage == o.vantage)?;
    Some(view(e.flows.get(i)?, o.orig))
}

/// True for addresses a NAT translates from: private, shared (CGN), link-local, unique
/// local. Only standard library facts: attribution is `enrich`'s.
pub(super) fn inside(a: Addr) -> bool {
    match a.to_ip() {
        std::net::IpAddr::V4(v) => {
            let o = v.octets();
            v.is_private() || v.is_link_local() || (o[0] == 100 && o[1] & 0xc0 == 64)
        }
        std::net::IpAddr::V6(v) => {
            let s = v.segments()[0];
            s & 0xfe00 == 0xfc00 || s & 0xffc0 == 0xfe80
        }
    }
}

/// The same communication seen inside and outside a NAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatMatch {
    /// The translated source (address and port) the outside vantage point saw.
    pub outside: (Addr, u16),
    /// The vantage point that saw it.
    pub vantage: u32,
    /// Why the two views are one communication.
    pub why: String,
}

/// What two views of one communication have the same: protocol, responder, and packets
/// and bytes each way.
type Twin = (Proto, (Addr, u16), [u64; 4]);

/// Each vantage point's flows (its index in the evidence) by [`Twin`] and side of a NAT
/// (true: inside), each with its start, in order of start.
type ByTwin = HashMap<(usize, Twin, bool), Vec<(Timestamp, usize)>>;

fn twin(proto: Proto, resp: (Addr, u16), v: [View; 2]) -> Twin {
    (proto, resp, [v[0].pkts, v[0].bytes, v[1].pkts, v[1].bytes])
}

/// True when two views (on the two sides of a NAT) may be one communication: they start
/// within `window` of each other and carried the same packets and bytes each way.
fn same(a: &Observation, va: [View; 2], b: &Observation, vb: [View; 2], window: i64) -> bool {
    (b.first.0 - a.first.0).abs() <= window
        && va[0].pkts == vb[0].pkts
        && va[0].bytes == vb[0].bytes
        && va[1].pkts == vb[1].pkts
        && va[1].bytes == vb[1].bytes
}

/// Why two views that are the [`same`] are one communication: `a` inside, `b` outside.
fn why(a: &Observation, va: [View; 2], b: &Observation, vb: [View; 2]) -> String {
    let apart = (b.first.0 - a.first.0).abs();
    let seq = if a.proto != Proto::TCP {
        String::new()
    } else if va[0].seq == vb[0].seq && va[1].seq == vb[1].seq && va[0].seq != 0 {
        format!(
            ", the same TCP sequence numbers ({} and {})",
            va[0].seq, va[1].seq
        )
    } else {
        ", different TCP sequence numbers (the NAT rewrites them)".to_string()
    };
    format!(
        "the same communication as {} inside: the same destination, {} and {} out, {} and {} back{seq}, starting {:.3} s apart by the two clocks",
        a.orig.0.with_port(a.orig.1),
        counted(va[0].pkts, "packet", "packets"),
        counted(va[0].bytes, "byte", "bytes"),
        counted(va[1].pkts, "packet", "packets"),
        counted(va[1].bytes, "byte", "bytes"),
        apart as f64 / 1e9
    )
}

/// Views listed when several match: the report names this many and counts past them.
const LISTED: usize = 4;

/// Views of one side of a NAT: vantage point and source (address, port) as seen there, at
/// most four, and whether more matched.
pub type NatViews = (Vec<(u32, (Addr, u16))>, bool);

/// The same communication seen from the other side of a NAT more than once over, so that
/// which view is its own cannot be told: several flows there match it equally, or the one
/// that matches it matches other connections on its own side too. The views are not
/// joined; the report says so, and what record would tell them apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatAmbiguity {
    /// The candidate is the inside view (its source translated), not the outside one.
    pub inside: bool,
    /// The other side's views that match it.
    pub there: NatViews,
    /// The views on the candidate's side that those match (the candidate's among them).
    pub here: NatViews,
}

/// The flows of the vantage points not in `skip`, on the given side of a NAT, that match
/// observation `a` (its views `va`) as [`same`] asks, each with its evidence index and flow
/// index; at most `limit`.
#[allow(clippy::too_many_arguments)]
fn matching(
    index: &ByTwin,
    evidence: &[Evidence<'_>],
    skip: &[u32],
    a: &Observation,
    va: [View; 2],
    a_inside: bool,
    window: i64,
    limit: usize,
) -> Vec<(Observation, usize, usize)> {
    let mut out = Vec::new();
    let (lo, hi) = (
        a.first.0.saturating_sub(window),
        a.first.0.saturating_add(window),
    );
    for (k, e) in evidence.iter().enumerate() {
        if skip.contains(&e.vantage) {
            continue;
        }
        let Some(flows) = index.get(&(k, twin(a.proto, a.resp, va), !a_inside)) else {
            continue;
        };
        let from = flows.partition_point(|(t, _)| t.0 < lo);
        for &(t, i) in &flows[from..] {
            if t.0 > hi {
                break;
            }
            let f = &e.flows[i];
            let o = super::of_flow(e.vantage, i, f);
            if same(a, va, &o, view(f, o.orig), window) {
                out.push((o, k, i));
                if out.len() >= limit {
                    return out;
                }
            }
        }
    }
    out
}

/// Joins each candidate with its view from the other side of a NAT, when exactly one flow
/// of another vantage point matches it (it need not match the query: a request names the
/// public address, the inside view has the private one) and that flow matches no other
/// connection on the candidate's side. The inside view then names the communication, and
/// the outside source becomes its NAT hop. When either is not one, the candidate is left
/// alone and says why ([`Candidate::nat_ambiguous`]).
pub(super) fn fold(evidence: &[Evidence<'_>], found: Vec<Candidate>) -> Vec<Candidate> {
    if evidence.len() < 2 {
        return found;
    }
    let mut out: Vec<Candidate> = Vec::with_capacity(found.len());
    let mut used: HashSet<(u32, Seen)> = HashSet::new();
    // The flows of each vantage point by protocol, responder, packets and bytes each way
    // (as the flow's own direction has them) and side of a NAT, each list in order of start:
    // a candidate's other views are those of another vantage point on the other side with
    // its protocol, responder and counts, starting within the window of it (what `why`
    // asks). Scanning every flow for each candidate was quadratic when a query matches
    // many communications.
    let mut index: Option<ByTwin> = None;
    for mut c in found {
        let first = c.observations.first().map(|o| (o.vantage, o.seen));
        if first.is_some_and(|f| used.contains(&f)) {
            continue;
        }
        let Some(vc) = views(&c, evidence) else {
            out.push(c);
            continue;
        };
        let mine: Vec<u32> = c.observations.iter().map(|o| o.vantage).collect();
        let c_inside = inside(c.orig.0);
        let index = index.get_or_insert_with(|| {
            let mut m = ByTwin::new();
            for (k, e) in evidence.iter().enumerate() {
                for (i, f) in e.flows.iter().enumerate() {
                    let o = super::of_flow(e.vantage, i, f);
                    let key = (k, twin(o.proto, o.resp, view(f, o.orig)), inside(o.orig.0));
                    m.entry(key).or_default().push((o.first, i));
                }
            }
            for v in m.values_mut() {
                v.sort_unstable();
            }
            m
        });
        let c_obs = c.observations[0].clone();
        let there = matching(
            index,
            evidence,
            &mine,
            &c_obs,
            vc,
            c_inside,
            c.window,
            LISTED + 1,
        );
        // The one view there must match only this communication here: an outside flow
        // that matches two inside connections equally could be either's.
        // Views there of one connection (its 5-tuple) at several vantage points are one.
        let one_there = !there.is_empty()
            && there.len() <= LISTED
            && there.iter().all(|(o, ..)| {
                let t = &there[0].0;
                (o.orig, o.resp, o.proto) == (t.orig, t.resp, t.proto)
            });
        let here = if one_there {
            let (o, k, i) = &there[0];
            let vo = view(&evidence[*k].flows[*i], o.orig);
            let skip: Vec<u32> = there.iter().map(|(o, ..)| o.vantage).collect();
            matching(
                index,
                evidence,
                &skip,
                o,
                vo,
                !c_inside,
                c.window,
                LISTED + 1,
            )
        } else {
            Vec::new()
        };
        let listed = |v: &[(Observation, usize, usize)]| -> NatViews {
            let l = v.iter().take(LISTED).map(|(o, ..)| (o.vantage, o.orig));
            (l.collect(), v.len() > LISTED)
        };
        // What the view there matches here must be this communication only (it may have
        // been seen here at more than one vantage point).
        let only_this = |v: &[(Observation, usize, usize)]| {
            !v.is_empty()
                && v.iter().all(|(o, ..)| {
                    c.observations
                        .iter()
                        .any(|x| (x.vantage, x.seen) == (o.vantage, o.seen))
                })
        };
        if one_there && only_this(&here) {
            let views: Vec<_> = there
                .iter()
                .map(|(o, k, i)| (o.clone(), &evidence[*k].flows[*i]))
                .collect();
            let (o, f) = (&views[0].0, views[0].1);
            let vo = view(f, o.orig);
            let w = if c_inside {
                why(&c_obs, vc, o, vo)
            } else {
                why(o, vo, &c_obs, vc)
            };
            join(&mut c, views, w, c_inside, mine[0], &mut used);
        } else if !there.is_empty() {
            let here = if here.is_empty() {
                (vec![(c_obs.vantage, c_obs.orig)], false)
            } else {
                listed(&here)
            };
            c.nat_ambiguous = Some(NatAmbiguity {
                inside: c_inside,
                there: listed(&there),
                here,
            });
        }
        out.push(c);
    }
    // A candidate that became another's outside view is not a communication of its own.
    out.retain(|c| {
        c.nat.is_some()
            || !c
                .observations
                .first()
                .is_some_and(|o| used.contains(&(o.vantage, o.seen)))
    });
    out
}

/// Joins candidate `c` with `views`, one connection seen from the other side of a NAT (by
/// one vantage point or more), each with its flow; `why` is the first's.
fn join(
    c: &mut Candidate,
    views: Vec<(Observation, &crate::flow::Flow)>,
    why: String,
    c_inside: bool,
    first_vantage: u32,
    used: &mut HashSet<(u32, Seen)>,
) {
    let Some(first) = views.first().map(|(o, f)| Observation {
        community_id: crate::flow::community_id(&f.key, 0),
        ..o.clone()
    }) else {
        return;
    };
    let outside = if c_inside { first.orig } else { c.orig };
    c.nat = Some(NatMatch {
        outside,
        vantage: if c_inside {
            first.vantage
        } else {
            first_vantage
        },
        why,
    });
    for (mut o, f) in views {
        o.community_id = crate::flow::community_id(&f.key, 0);
        used.insert((o.vantage, o.seen));
        c.first = c.first.min(o.first);
        c.last = c.last.max(o.last);
        c.observations.push(o);
    }
    c.observations
        .sort_by_key(|x| (x.first, x.vantage, x.input, x.seen));
    if !c_inside {
        c.orig = first.orig;
        c.community_id = first.community_id;
    }
    // The inside view first: clock offsets are against it.
    if let Some(pos) = c.observations.iter().position(|x| x.orig == c.orig) {
        let first = c.observations.remove(pos);
        c.observations.insert(0, first);
    }
}
