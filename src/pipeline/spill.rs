//! Spilling finished flows to sorted runs on disk, and merging them back in output order,
//! so memory holds the flows that are still live rather than every flow of the capture.

use crate::decode::Encap;
use crate::flow::{ChainId, Flow};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Where to spill and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpillConfig {
    /// Directory for the temporary run files (removed when the run is dropped).
    pub dir: PathBuf,
    /// Spill finished flows once the run holds more than this many flow segments.
    pub max_flows: usize,
}

/// A run file, deleted when dropped.
#[derive(Debug)]
struct RunFile {
    path: PathBuf,
}

impl Drop for RunFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Sorted runs of finished flows written to disk during a run.
#[derive(Debug, Default)]
pub struct Spilled {
    runs: Vec<RunFile>,
    flows: u64,
}

impl Spilled {
    /// Writes one sorted run; each flow takes the layers of its encapsulation chains
    /// (`chains`: its table's) with it, so the table may forget them.
    pub(super) fn write_run(
        &mut self,
        dir: &Path,
        flows: &[Flow],
        chains: &[Box<[Encap]>],
    ) -> io::Result<()> {
        if flows.is_empty() {
            return Ok(());
        }
        let path = dir.join(format!(
            "hoptrace-spill-{}-{}.bin",
            std::process::id(),
            self.runs.len()
        ));
        let run = RunFile { path };
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&run.path)?);
        let mut buf = Vec::with_capacity(512);
        for f in flows {
            buf.clear();
            f.encode_with_chains(chains, &mut buf);
            w.write_all(&(buf.len() as u32).to_le_bytes())?;
            w.write_all(&buf)?;
        }
        w.flush()?;
        self.flows += flows.len() as u64;
        self.runs.push(run);
        Ok(())
    }

    /// Flows on disk.
    pub fn len(&self) -> u64 {
        self.flows
    }

    /// True when nothing was spilled.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Number of run files.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }
}

/// Reads one run back.
struct RunReader {
    r: BufReader<File>,
    buf: Vec<u8>,
}

impl RunReader {
    /// The next flow, its chains pushed to `into` and named from `base` on.
    fn next(&mut self, base: usize, into: &mut Vec<Box<[Encap]>>) -> io::Result<Option<Flow>> {
        let mut len = [0u8; 4];
        match self.r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        self.buf.resize(u32::from_le_bytes(len) as usize, 0);
        self.r.read_exact(&mut self.buf)?;
        Flow::decode_with_chains(&self.buf, base, into)
            .map(Some)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "a spilled flow does not decode")
            })
    }
}

/// The flows of a run in output order: the in-memory ones merged with the spilled runs.
pub struct Merged<'a> {
    mem: std::iter::Peekable<std::slice::Iter<'a, Flow>>,
    readers: Vec<RunReader>,
    heads: Vec<Option<Flow>>,
    /// Number of chains in the table of the flows in memory: spilled flows' chains are
    /// numbered after them.
    base: usize,
    /// The chains of the spilled flows read since [`new_window`](Self::new_window).
    extra: Vec<Box<[Encap]>>,
}

impl<'a> Merged<'a> {
    /// Merges `mem` (whose table has `base` chains) with the runs of `spilled`.
    pub(super) fn new(mem: &'a [Flow], base: usize, spilled: &Spilled) -> io::Result<Merged<'a>> {
        let mut readers = Vec::with_capacity(spilled.runs.len());
        let mut heads = Vec::with_capacity(spilled.runs.len());
        let mut extra = Vec::new();
        for run in &spilled.runs {
            let mut r = RunReader {
                r: BufReader::with_capacity(1 << 18, File::open(&run.path)?),
                buf: Vec::new(),
            };
            heads.push(r.next(base, &mut extra)?);
            readers.push(r);
        }
        Ok(Merged {
            mem: mem.iter().peekable(),
            readers,
            heads,
            base,
            extra,
        })
    }

    /// The chains of the spilled flows given out since the last window, numbered after the
    /// in-memory table's (see [`crate::report::ChainTable`]).
    pub fn extra_chains(&self) -> &[Box<[Encap]>] {
        &self.extra
    }

    /// Starts a window of flows: forgets the chains of the flows given out before, keeping
    /// (renumbered) those of the runs' next flows.
    pub fn new_window(&mut self) {
        if self.extra.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.extra);
        let (base, extra) = (self.base, &mut self.extra);
        let mut move_chain = |c: &mut ChainId| {
            if let Some(i) = (*c as usize).checked_sub(base) {
                extra.push(old.get(i).cloned().unwrap_or_default());
                *c = (base + extra.len() - 1) as ChainId;
            }
        };
        for f in self.heads.iter_mut().flatten() {
            move_chain(&mut f.chains.first);
            f.chains.more.iter_mut().for_each(&mut move_chain);
        }
    }

    /// The next flow in output order.
    pub fn next_flow(&mut self) -> io::Result<Option<std::borrow::Cow<'a, Flow>>> {
        // Few runs: a linear scan of their heads is cheaper than a heap.
        let mut best: Option<usize> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(f) = h
                && best.is_none_or(|b| {
                    self.heads[b]
                        .as_ref()
                        .is_some_and(|g| f.order_key() < g.order_key())
                })
            {
                best = Some(i);
            }
        }
        let mem_first = match (self.mem.peek(), best) {
            (Some(m), Some(b)) => self.heads[b]
                .as_ref()
                .is_none_or(|g| m.order_key() < g.order_key()),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if mem_first {
            return Ok(self.mem.next().map(std::borrow::Cow::Borrowed));
        }
        match best {
            Some(b) => {
                let next = self.readers[b].next(self.base, &mut self.extra)?;
                let f = std::mem::replace(&mut self.heads[b], next);
                Ok(f.map(std::borrow::Cow::Owned))
            }
            None => Ok(None),
        }
    }
}
