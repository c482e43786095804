//! What minimisation leaves out of a disclosure unless asked: the content clues of the
//! communication (HTTP start lines and hosts, the first payload bytes of each side) and the
//! other communications between its two ends. Found here, written by `report` only when a
//! report includes them.

use super::{Candidate, Clue, ClueKind, Evidence, Observation, of_flow};

/// One content clue of the communication, with the vantage point that saw it and whether
/// the originator's side sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content<'a> {
    /// The vantage point.
    pub vantage: u32,
    /// The clue (`Http` with a start line, or `Payload`).
    pub clue: &'a Clue,
    /// Sent by the originator's side (false: by the responder's).
    pub from_origin: bool,
}

/// The content clues of the communication's flows, in vantage and capture order; for
/// payload, the earliest of each side at each vantage point.
pub fn content<'a>(c: &Candidate, evidence: &[Evidence<'a>]) -> Vec<Content<'a>> {
    let mut out: Vec<Content<'a>> = Vec::new();
    for e in evidence {
        let obs = super::chains::Views::new(c, e.vantage);
        for clue in e.clues {
            let wanted = matches!(
                clue.what,
                ClueKind::Payload { .. }
                    | ClueKind::Http {
                        start_line: Some(_),
                        ..
                    }
            );
            if !wanted {
                continue;
            }
            let Some(o) = obs.of(clue) else {
                continue;
            };
            let from_origin = clue.src == o.orig;
            if matches!(clue.what, ClueKind::Payload { .. })
                && out.iter().any(|x| {
                    x.vantage == e.vantage
                        && x.from_origin == from_origin
                        && matches!(x.clue.what, ClueKind::Payload { .. })
                })
            {
                continue;
            }
            out.push(Content {
                vantage: e.vantage,
                clue,
                from_origin,
            });
        }
    }
    out
}

/// The header evidence of the communication's flows read incomplete, in vantage and
/// capture order: HTTP header blocks read without their end (each [`ClueKind::Http`] with
/// a `cut`: what followed the cut, which may name proxies, was not read) and mails sent in
/// SMTP sessions that lack segments of the client's data (a `Received:` field in what was
/// lost, or cut by it, was not read). The report names each.
pub fn cut_headers<'a>(c: &Candidate, evidence: &[Evidence<'a>]) -> Vec<Content<'a>> {
    let mut out = Vec::new();
    for e in evidence {
        let obs = super::chains::Views::new(c, e.vantage);
        for clue in e.clues {
            let cut = match &clue.what {
                ClueKind::Http { cut, .. } => cut.is_some(),
                ClueKind::Mail {
                    stream_gaps, file, ..
                } => *stream_gaps > 0 && !file,
                _ => false,
            };
            if !cut {
                continue;
            }
            let Some(o) = obs.of(clue) else {
                continue;
            };
            out.push(Content {
                vantage: e.vantage,
                clue,
                from_origin: clue.src == o.orig,
            });
        }
    }
    out
}

/// Other communications between the communication's two end addresses (either way, any
/// ports and protocol) at any vantage point, within its window.
pub fn others(c: &Candidate, evidence: &[Evidence<'_>]) -> Vec<Observation> {
    let ends = (c.orig.0, c.resp.0);
    let lo = c.first.0.saturating_sub(c.window);
    let hi = c.last.0.saturating_add(c.window);
    let mut out = Vec::new();
    let own: std::collections::HashSet<(u32, super::Seen)> =
        c.observations.iter().map(|x| (x.vantage, x.seen)).collect();
    for e in evidence {
        for (i, f) in e.flows.iter().enumerate() {
            let (a, b) = (f.key.lo().addr, f.key.hi().addr);
            if (a, b) != ends && (b, a) != ends {
                continue;
            }
            let mut o = of_flow(e.vantage, i, f);
            let mine = own.contains(&(o.vantage, o.seen));
            if mine || o.last.0 < lo || o.first.0 > hi {
                continue;
            }
            o.community_id = crate::flow::community_id(&f.key, 0);
            out.push(o);
        }
    }
    out.sort_by_key(|o| (o.first, o.vantage, o.seen));
    out
}
