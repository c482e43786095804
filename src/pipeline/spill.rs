//! Spilling finished flows to sorted runs on disk, and merging them back in output order,
//! so memory holds the flows that are still live rather than every flow of the capture;
//! setting flow records aside by pairing group, pairing each group's bucket alone and
//! merging the sorted buckets back, so memory holds a bucket rather than every record.

use crate::decode::Encap;
use crate::flow::{ChainId, Flow, FlowConfig};
use crate::hops::Clue;
use crate::model::{BinReader, BinWriter};
use crate::records::FlowRecord;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Where to spill and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpillConfig {
    /// Directory for the temporary run files (removed when the run is dropped).
    pub dir: PathBuf,
    /// Spill finished flows once the run holds more than this many flow segments, and set
    /// the flow records read (and the header evidence `trace` gathers) aside once it holds
    /// more than this many of them.
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

/// What a run set aside on disk: sorted runs of finished flows written while it read, and
/// its flow records once there were more than the bound.
#[derive(Debug, Default)]
pub struct Spilled {
    runs: Vec<RunFile>,
    /// The level of each run: 0 as written, one more for each merge of [`FAN_IN`] runs.
    levels: Vec<u32>,
    /// Runs written by spilling (before merges).
    written: usize,
    /// Run files created, for their names.
    made: usize,
    flows: u64,
    /// Records set aside while reading, by pairing group.
    buckets: Option<RecordBuckets>,
    /// The records, paired, in sorted runs (once reading ended).
    records: SpilledRecords,
    /// The most records held in memory at once while reading.
    most_held: usize,
    /// Header evidence set aside while reading (`trace`), in the order it was gathered.
    clues: Option<ClueFile>,
}

/// Header evidence set aside: one file, appended to at each setting aside.
#[derive(Debug)]
struct ClueFile {
    w: BufWriter<File>,
    file: RunFile,
    count: u64,
}

impl Spilled {
    /// Sets `records` aside (emptying it) in their pairing groups' files in `dir`.
    pub(super) fn set_aside_records(
        &mut self,
        dir: &Path,
        records: &mut Vec<FlowRecord>,
    ) -> io::Result<()> {
        self.most_held = self.most_held.max(records.len());
        let b = match &mut self.buckets {
            Some(b) => b,
            None => self.buckets.insert(RecordBuckets::new(dir)?),
        };
        b.put(records)
    }

    /// Pairs the run's records (`records`, those still in memory, and any set aside): in
    /// memory when none was set aside, otherwise bucket by bucket into sorted runs on disk
    /// (the set returned is then empty; [`Spilled::records`] has them).
    pub(super) fn pair_records(
        &mut self,
        mut records: Vec<FlowRecord>,
        cfg: &FlowConfig,
    ) -> io::Result<crate::records::RecordSet> {
        match self.buckets.take() {
            None => Ok(crate::records::pair(records, cfg)),
            Some(mut b) => {
                let most_held = self.most_held.max(records.len());
                b.put(&mut records)?;
                self.records = b.finish(cfg)?;
                self.records.most_held = most_held;
                Ok(crate::records::RecordSet::default())
            }
        }
    }

    /// Sets the header evidence `clues` holds aside (emptying it), after what was set
    /// aside before, in a file in `dir`.
    pub(super) fn set_aside_clues(&mut self, dir: &Path, clues: &mut Vec<Clue>) -> io::Result<()> {
        let c = match &mut self.clues {
            Some(c) => c,
            None => {
                let path = dir.join(format!("hoptrace-clues-{}.bin", std::process::id()));
                let file = RunFile { path };
                let w = BufWriter::with_capacity(1 << 20, File::create(&file.path)?);
                self.clues.insert(ClueFile { w, file, count: 0 })
            }
        };
        let mut w = BinWriter::default();
        for clue in clues.drain(..) {
            w.buf.clear();
            clue.encode(&mut w);
            write_item(&mut c.w, &w.buf)?;
            c.count += 1;
        }
        // Read back only once reading has ended: every setting aside is whole on disk.
        c.w.flush()
    }

    /// Header evidence set aside, in the order it was gathered.
    pub fn clues(&self) -> io::Result<SpilledClues> {
        Ok(SpilledClues {
            r: match &self.clues {
                Some(c) => Some(BufReader::with_capacity(1 << 20, File::open(&c.file.path)?)),
                None => None,
            },
            buf: Vec::new(),
        })
    }

    /// Number of clues set aside.
    pub fn clue_count(&self) -> u64 {
        self.clues.as_ref().map_or(0, |c| c.count)
    }

    /// The flow records on disk.
    pub fn records(&self) -> &SpilledRecords {
        &self.records
    }

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
        let (run, mut w) = self.new_run(dir)?;
        let mut buf = Vec::with_capacity(512);
        for f in flows {
            buf.clear();
            f.encode_with_chains(chains, &mut buf);
            write_item(&mut w, &buf)?;
        }
        w.flush()?;
        self.flows += flows.len() as u64;
        self.runs.push(run);
        self.levels.push(0);
        self.written += 1;
        self.compact(dir)
    }

    /// Creates the next run file in `dir`.
    fn new_run(&mut self, dir: &Path) -> io::Result<(RunFile, BufWriter<File>)> {
        let path = dir.join(format!(
            "hoptrace-spill-{}-{}.bin",
            std::process::id(),
            self.made
        ));
        self.made += 1;
        let run = RunFile { path };
        let w = BufWriter::with_capacity(1 << 20, File::create(&run.path)?);
        Ok((run, w))
    }

    /// Merges the last [`FAN_IN`] runs into one while they are of one level, as an
    /// external sort does: the runs on disk stay fewer than `FAN_IN` a level (each flow is
    /// rewritten once a level), so merging them back opens few files and holds few read
    /// buffers whatever the bound and the input's size (a small bound on a large capture
    /// wrote a run file per spill, and merging them back opened them all at once).
    fn compact(&mut self, dir: &Path) -> io::Result<()> {
        loop {
            let n = self.runs.len();
            let Some(&level) = self.levels.last() else {
                return Ok(());
            };
            if n < FAN_IN || self.levels[n - FAN_IN..].iter().any(|&l| l != level) {
                return Ok(());
            }
            let (run, mut w) = self.new_run(dir)?;
            // Each reader's chains: an empty one first, as in a table (chain id 0).
            let mut parts = Vec::with_capacity(FAN_IN);
            for r in &self.runs[n - FAN_IN..] {
                let mut reader = RunReader::open(&r.path, 1 << 16)?;
                let mut chains: Vec<Box<[Encap]>> = vec![Box::default()];
                let head = reader.next(0, &mut chains)?;
                parts.push((reader, chains, head));
            }
            let mut buf = Vec::with_capacity(512);
            while let Some(b) = first_head(parts.iter().map(|(_, _, h)| h.as_ref())) {
                let (reader, chains, head) = &mut parts[b];
                if let Some(f) = head.take() {
                    buf.clear();
                    f.encode_with_chains(chains, &mut buf);
                    write_item(&mut w, &buf)?;
                }
                chains.truncate(1);
                *head = reader.next(0, chains)?;
            }
            w.flush()?;
            drop(parts);
            // Dropping the merged runs deletes their files.
            self.runs.truncate(n - FAN_IN);
            self.levels.truncate(n - FAN_IN);
            self.runs.push(run);
            self.levels.push(level + 1);
        }
    }

    /// Flows on disk.
    pub fn len(&self) -> u64 {
        self.flows
    }

    /// True when nothing was spilled.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Number of run files on disk (after merges).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Number of runs written by spilling (before merges).
    pub fn runs_written(&self) -> usize {
        self.written
    }
}

/// The position of the run head that comes first in output order (the first of equals),
/// `None` when every run is done. Few runs (fewer than [`FAN_IN`] a level): a linear scan
/// is cheaper than a heap.
fn first_head<'f>(heads: impl Iterator<Item = Option<&'f Flow>>) -> Option<usize> {
    let mut best: Option<(usize, &Flow)> = None;
    for (i, h) in heads.enumerate() {
        if let Some(f) = h
            && best.is_none_or(|(_, g)| f.order_key() < g.order_key())
        {
            best = Some((i, f));
        }
    }
    best.map(|(i, _)| i)
}

/// Runs of one level merged into one (see [`Spilled::compact`]).
const FAN_IN: usize = 64;

/// Writes one item of a run file: its length (4 bytes, little-endian), then its bytes.
fn write_item(w: &mut impl Write, item: &[u8]) -> io::Result<()> {
    w.write_all(&(item.len() as u32).to_le_bytes())?;
    w.write_all(item)
}

/// Reads the next item of a run file into `buf`; false at the end of the file.
fn read_item(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    buf.resize(u32::from_le_bytes(len) as usize, 0);
    r.read_exact(buf)?;
    Ok(true)
}

/// Reads set-aside header evidence back ([`Spilled::clues`]).
#[derive(Debug)]
pub struct SpilledClues {
    r: Option<BufReader<File>>,
    buf: Vec<u8>,
}

impl SpilledClues {
    /// The next clue; `None` at the end.
    pub fn next_clue(&mut self) -> io::Result<Option<Clue>> {
        let Some(r) = &mut self.r else {
            return Ok(None);
        };
        if !read_item(r, &mut self.buf)? {
            return Ok(None);
        }
        let mut br = BinReader::new(&self.buf);
        match Clue::decode(&mut br) {
            Some(c) if br.is_done() => Ok(Some(c)),
            _ => Err(damaged("set-aside header evidence")),
        }
    }
}

/// Reads one run back.
struct RunReader {
    r: BufReader<File>,
    buf: Vec<u8>,
}

impl RunReader {
    /// Opens a run file, read through a buffer of `capacity` bytes.
    fn open(path: &Path, capacity: usize) -> io::Result<RunReader> {
        Ok(RunReader {
            r: BufReader::with_capacity(capacity, File::open(path)?),
            buf: Vec::new(),
        })
    }

    /// The next flow, its chains pushed to `into` and named from `base` on.
    fn next(&mut self, base: usize, into: &mut Vec<Box<[Encap]>>) -> io::Result<Option<Flow>> {
        if !read_item(&mut self.r, &mut self.buf)? {
            return Ok(None);
        }
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
            let mut r = RunReader::open(&run.path, 1 << 18)?;
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
        let best = first_head(self.heads.iter().map(Option::as_ref));
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

/// Pairing groups flow records are set aside in: enough that, for the bounds a run uses,
/// one group's share of the records fits in memory when it is paired.
const RECORD_BUCKETS: u64 = 64;

/// Flow records set aside on disk while a run reads, by pairing group (see
/// [`crate::records::pair_group`]): a record and every record it may pair with go to the
/// same bucket, so the buckets can be paired one at a time.
#[derive(Debug)]
pub(super) struct RecordBuckets {
    dir: PathBuf,
    files: Vec<(RunFile, BufWriter<File>)>,
    /// Records that pair with none, set aside so far.
    spread: u64,
}

impl RecordBuckets {
    /// Creates the bucket files in `dir`.
    pub(super) fn new(dir: &Path) -> io::Result<RecordBuckets> {
        let mut files = Vec::with_capacity(RECORD_BUCKETS as usize);
        for i in 0..RECORD_BUCKETS {
            let run = RunFile {
                path: dir.join(format!("hoptrace-records-{}-{i}.bin", std::process::id())),
            };
            let w = BufWriter::with_capacity(1 << 15, File::create(&run.path)?);
            files.push((run, w));
        }
        Ok(RecordBuckets {
            dir: dir.to_path_buf(),
            files,
            spread: 0,
        })
    }

    /// Writes `records` to their buckets and empties it (keeping its allocation).
    pub(super) fn put(&mut self, records: &mut Vec<FlowRecord>) -> io::Result<()> {
        let mut w = BinWriter::default();
        for r in records.drain(..) {
            // A record that pairs with none (a two-way record, one without ports) may go
            // anywhere: they take the buckets in turn, so a log of them spreads evenly.
            let g = crate::records::pair_group(&r).unwrap_or_else(|| {
                self.spread += 1;
                self.spread
            });
            let b = (g % RECORD_BUCKETS) as usize;
            write_record(&mut self.files[b].1, &mut w, &r)?;
        }
        Ok(())
    }

    /// Pairs each bucket's records and writes them as a sorted run: the records of every
    /// bucket, merged in output order, are what pairing all of them at once gives.
    fn finish(self, cfg: &FlowConfig) -> io::Result<SpilledRecords> {
        let dir = self.dir;
        let mut out = SpilledRecords::default();
        let mut w = BinWriter::default();
        for (i, (run, mut f)) in self.files.into_iter().enumerate() {
            f.flush()?;
            drop(f);
            let mut read = RecordReader::open(&run.path)?;
            let mut records = Vec::new();
            while let Some(r) = read.next()? {
                records.push(r);
            }
            drop((read, run));
            if records.is_empty() {
                continue;
            }
            let set = crate::records::pair(records, cfg);
            let run = RunFile {
                path: dir.join(format!(
                    "hoptrace-records-{}-{i}.sorted.bin",
                    std::process::id()
                )),
            };
            let mut f = BufWriter::with_capacity(1 << 20, File::create(&run.path)?);
            for r in &set.records {
                write_record(&mut f, &mut w, r)?;
            }
            f.flush()?;
            out.records += set.records.len() as u64;
            out.paired += set.records.iter().filter(|r| r.paired.is_some()).count() as u64;
            out.runs.push(run);
        }
        Ok(out)
    }
}

/// Writes one record as an item of a run file (`w` is scratch space).
fn write_record(f: &mut impl Write, w: &mut BinWriter, r: &FlowRecord) -> io::Result<()> {
    w.buf.clear();
    r.encode(w);
    write_item(f, &w.buf)
}

fn damaged(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} does not decode"),
    )
}

/// Flow records of a run on disk, paired, in sorted runs: set aside by pairing group while
/// the run read, each group's file paired alone when reading ended.
#[derive(Debug, Default)]
pub struct SpilledRecords {
    runs: Vec<RunFile>,
    records: u64,
    paired: u64,
    most_held: usize,
}

impl SpilledRecords {
    /// Records on disk (after pairing).
    pub fn len(&self) -> u64 {
        self.records
    }

    /// True when no record was set aside.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Records on disk that are two one-way records paired.
    pub fn paired(&self) -> u64 {
        self.paired
    }

    /// The most records the run's list held at once while reading, before setting them
    /// aside: the bound plus what one export datagram or one piece of a text log gave
    /// (besides them, at most two jobs a thread are being read).
    pub fn most_held(&self) -> usize {
        self.most_held
    }
}

/// Reads one sorted run of records back.
struct RecordReader {
    r: BufReader<File>,
    buf: Vec<u8>,
}

impl RecordReader {
    fn open(path: &Path) -> io::Result<RecordReader> {
        Ok(RecordReader {
            r: BufReader::with_capacity(1 << 16, File::open(path)?),
            buf: Vec::new(),
        })
    }

    fn next(&mut self) -> io::Result<Option<FlowRecord>> {
        if !read_item(&mut self.r, &mut self.buf)? {
            return Ok(None);
        }
        FlowRecord::decode(&mut BinReader::new(&self.buf))
            .map(Some)
            .ok_or_else(|| damaged("a set-aside flow record"))
    }
}

/// The flow records of a run in output order (start time, then locator): those in memory
/// merged with the sorted runs on disk.
pub struct MergedRecords<'a> {
    mem: std::iter::Peekable<std::slice::Iter<'a, FlowRecord>>,
    readers: Vec<RecordReader>,
    heads: Vec<Option<FlowRecord>>,
    /// Where the next record comes from, once looked for (peeking, then taking it, look
    /// once).
    pick: Option<Pick>,
}

/// Where a merge's next record is.
#[derive(Clone, Copy)]
enum Pick {
    Mem,
    Run(usize),
    Done,
}

impl<'a> MergedRecords<'a> {
    pub(super) fn new(mem: &'a [FlowRecord], spilled: &SpilledRecords) -> io::Result<Self> {
        let mut readers = Vec::with_capacity(spilled.runs.len());
        let mut heads = Vec::with_capacity(spilled.runs.len());
        for run in &spilled.runs {
            let mut r = RecordReader::open(&run.path)?;
            heads.push(r.next()?);
            readers.push(r);
        }
        Ok(MergedRecords {
            mem: mem.iter().peekable(),
            readers,
            heads,
            pick: None,
        })
    }

    /// Where the next record comes from (a scan of the runs' heads, done once per record).
    fn pick(&mut self) -> Pick {
        if let Some(p) = self.pick {
            return p;
        }
        let order = |r: &FlowRecord| (r.start, r.loc);
        let mut best: Option<(usize, &FlowRecord)> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(r) = h
                && best.is_none_or(|(_, g)| order(r) < order(g))
            {
                best = Some((i, r));
            }
        }
        let p = match (self.mem.peek().copied(), best) {
            (Some(m), Some((b, r))) if order(r) < order(m) => Pick::Run(b),
            (Some(_), _) => Pick::Mem,
            (None, Some((b, _))) => Pick::Run(b),
            (None, None) => Pick::Done,
        };
        self.pick = Some(p);
        p
    }

    /// True when every record was given out.
    pub fn is_done(&mut self) -> bool {
        matches!(self.pick(), Pick::Done)
    }

    /// The next record's place in the table's order, without taking it.
    pub fn peek_order(&mut self) -> Option<(crate::model::Timestamp, u32, u64, u8)> {
        let r = match self.pick() {
            Pick::Mem => self.mem.peek().copied(),
            Pick::Run(b) => self.heads[b].as_ref(),
            Pick::Done => None,
        };
        r.map(|r| crate::report::row_order(&crate::report::RowSource::Record(r)))
    }

    /// The next record in output order.
    pub fn next_record(&mut self) -> io::Result<Option<std::borrow::Cow<'a, FlowRecord>>> {
        let p = self.pick();
        self.pick = None;
        match p {
            Pick::Done => Ok(None),
            Pick::Mem => Ok(self.mem.next().map(std::borrow::Cow::Borrowed)),
            Pick::Run(b) => {
                let next = self.readers[b].next()?;
                let r = std::mem::replace(&mut self.heads[b], next);
                Ok(r.map(std::borrow::Cow::Owned))
            }
        }
    }
}
