//! What `trace` keeps of runs that set flows, records or header evidence aside on disk: the
//! evidence that shares an address with what the query matches ([`crate::hops::Reach`]),
//! read back from memory and disk in two passes, so the hop search holds that evidence and
//! not the whole capture set.

use super::{Error, FlowRun};
use crate::decode::Encap;
use crate::flow::{ChainId, Flow};
use crate::hops::{Clue, Evidence, Query, Reach};
use crate::records::FlowRecord;
use std::collections::HashMap;

/// The evidence of one vantage point that can take part in tracing a query.
#[derive(Debug, Default)]
pub struct Focused {
    /// The flows kept, in the run's output order.
    pub flows: Vec<Flow>,
    /// Their encapsulation chains, renumbered (each chain once).
    pub chains: Vec<Box<[Encap]>>,
    /// The flow records kept, in the run's record order.
    pub records: Vec<FlowRecord>,
    /// Flows of the run (in memory and on disk) left out.
    pub flows_left: u64,
    /// Flow records left out.
    pub records_left: u64,
    /// The header evidence kept (set aside and held), in input and frame order.
    pub clues: Vec<Clue>,
    /// Header evidence left out.
    pub clues_left: u64,
}

impl Focused {
    /// This vantage point's evidence for the hop search.
    pub fn evidence(&self, vantage: u32) -> Evidence<'_> {
        Evidence {
            vantage,
            flows: &self.flows,
            records: &self.records,
            chains: &self.chains,
            clues: &self.clues,
        }
    }
}

/// How many flows a pass reads between forgetting the chains of the spilled flows it gave
/// out (their chains are copied as each kept flow is).
const WINDOW: usize = 4096;

/// Keeps, of every run, the flows and records [`Reach`] says the hop search can read: a
/// first pass over every run's flows and records (in memory and on disk) finds the
/// addresses the query reaches, a second keeps what has an end among them. The reports
/// built from the kept evidence and from every run held whole are the same.
pub fn focus(runs: &[FlowRun], q: &Query, dir: &std::path::Path) -> Result<Vec<Focused>, Error> {
    let read_err = |source: std::io::Error| Error::SpillRead {
        dir: dir.to_path_buf(),
        source,
    };
    let mut reach = Reach::new(q);
    for r in runs {
        let mut m = r.merged().map_err(read_err)?;
        let mut n = 0;
        while let Some(f) = m.next_flow().map_err(read_err)? {
            reach.add_flow(&f);
            n += 1;
            if n % WINDOW == 0 {
                m.new_window();
            }
        }
        let mut m = r.merged_records().map_err(read_err)?;
        while let Some(rec) = m.next_record().map_err(read_err)? {
            reach.add_record(&rec);
        }
        // A request naming the query's address as the node a forward proxy was to reach
        // reaches its client and proxy (the hop search falls back to it).
        let mut aside = r.spilled.clues().map_err(read_err)?;
        while let Some(c) = aside.next_clue().map_err(read_err)? {
            reach.add_clue(&c);
        }
        r.clues.iter().for_each(|c| reach.add_clue(c));
    }
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let mut kept = Focused::default();
        let mut ids: HashMap<ChainId, ChainId> = HashMap::new();
        let mut m = r.merged().map_err(read_err)?;
        let mut n = 0;
        while let Some(f) = m.next_flow().map_err(read_err)? {
            n += 1;
            if reach.keeps_flow(&f) {
                let mut f = f.into_owned();
                let table = crate::report::ChainTable::new(&r.flows.chains, m.extra_chains());
                let mut renumber = |c: &mut ChainId| {
                    let next = kept.chains.len() as ChainId;
                    *c = *ids.entry(*c).or_insert_with(|| {
                        kept.chains.push(table.get(*c).into());
                        next
                    });
                };
                renumber(&mut f.chains.first);
                f.chains.more.iter_mut().for_each(&mut renumber);
                kept.flows.push(f);
            } else {
                kept.flows_left += 1;
            }
            if n % WINDOW == 0 {
                // Spilled flows' chain ids are only valid within a window: the ids kept
                // so far were of flows already given out, so start the map afresh for
                // spilled chains (the in-memory table's ids stay valid).
                let base = r.flows.chains.len() as ChainId;
                ids.retain(|&c, _| c < base);
                m.new_window();
            }
        }
        let mut m = r.merged_records().map_err(read_err)?;
        while let Some(rec) = m.next_record().map_err(read_err)? {
            if reach.keeps_record(&rec) {
                kept.records.push(rec.into_owned());
            } else {
                kept.records_left += 1;
            }
        }
        // Header evidence is kept in one pass, set aside (gathered first) then held, and
        // sorted as the run sorted what it held.
        let mut aside = r.spilled.clues().map_err(read_err)?;
        let keep = |c: Clue, kept: &mut Focused| {
            if reach.keeps_clue(&c) {
                kept.clues.push(c);
            } else {
                kept.clues_left += 1;
            }
        };
        while let Some(c) = aside.next_clue().map_err(read_err)? {
            keep(c, &mut kept);
        }
        for c in &r.clues {
            keep(c.clone(), &mut kept);
        }
        kept.clues.sort_by_key(|c| (c.at.input, c.at.frame, c.ts));
        out.push(kept);
    }
    Ok(out)
}
