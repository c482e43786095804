//! The pipeline: the only place that runs several stages, and the only user of rayon.
//!
//! A producer thread opens the inputs in order and cuts each into jobs: chunks of a
//! memory-mapped file (planned by ingest at record boundaries) or blocks of a decompressed
//! stream. Windows of jobs are decoded and counted in parallel, each into its own
//! [`FlowTable`]; the tables are then appended strictly in capture order. A chunk whose
//! assumed start (offset and reader state) does not match where the chunk before it really
//! ended is read again from the right place, so the result is exactly that of one
//! sequential pass and never depends on the thread count.

mod clues;
mod focus;
mod packets;
mod spill;

pub use focus::{Focused, focus};
pub use packets::{Packet, PacketEvent, Packets, packets};
pub use spill::{Merged, MergedRecords, SpillConfig, Spilled, SpilledClues, SpilledRecords};

use crate::decode::{Decoded, decode};
use crate::enrich::{AddrCache, Attribution, Enricher};
use crate::flow::{FlowConfig, FlowSet, FlowTable};
use crate::ingest::{
    self, Body, ChunkPlan, Compression, Event, FileChunk, IngestError, Input, ReaderState, Records,
    Span, StreamBlock, StreamSplitter,
};
use crate::model::{Locator, Proto, SkipReason, Timestamp};
use crate::records::netflow::{Collector, Export, Limits};
use crate::records::{FlowRecord, LogFormat, LogRead, RecordSet};
use crate::report::{self, ReportError, TableFormat};
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

/// Default size of the unit of parallel work: chunks of a file, blocks of a stream.
pub const DEFAULT_CHUNK_BYTES: usize = 32 * 1024 * 1024;

/// Largest block of a decompressed stream. Blocks are allocated and freed one after
/// another; glibc's allocator maps every allocation of 32 MiB or more afresh from the
/// kernel (its largest dynamic mmap threshold), so 32 MiB blocks were zeroed page by page
/// each time: half of a `.zst` run's time went to the kernel. Smaller blocks are reused.
const STREAM_BLOCK_BYTES: usize = 16 * 1024 * 1024;

/// What to read and how to group it. Plain data: the command line fills it in, case tools
/// build it directly.
#[derive(Clone, Debug)]
pub struct FlowsConfig {
    /// Capture files, read as one capture set in this order (`-` is standard input).
    pub inputs: Vec<PathBuf>,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// How packets are grouped into flows.
    pub flow: FlowConfig,
    /// Size of the unit of parallel work in bytes. Results do not depend on it except in
    /// the rare cases the README lists (fragments and timestamps far out of order). Taken
    /// as given, down to one byte: below about 64 KiB each chunk's own work (its flow
    /// table, its edge's search and merge) outweighs what it reads, but small chunks put
    /// edges inside small inputs, which tests and fuzz targets want.
    pub chunk_bytes: usize,
    /// Incremented with the bytes read, for progress display.
    pub progress: Option<Arc<AtomicU64>>,
    /// How plain capture files are read.
    pub read_mode: ingest::ReadMode,
    /// Spill finished flows to disk past a number of flows in memory (off by default: the
    /// library keeps every flow in memory unless asked).
    pub spill: Option<SpillConfig>,
    /// How flow logs and flow exports are found and read.
    pub logs: LogOptions,
    /// Gather header evidence (proxy headers, mails sent over SMTP, ICMP errors) beside the
    /// flows, for `trace`. Off for `flows`.
    pub clues: bool,
    /// With `clues`, also keep HTTP start lines and hosts and the first payload bytes of each
    /// flow direction, for a report asked to include them.
    pub clue_content: bool,
    /// IP layers followed per frame (the outer packet and the tunnels inside it), 1 to
    /// [`crate::decode::MAX_IP_LAYERS`]; deeper frames are counted as `tunnel_too_deep`.
    pub max_ip_layers: usize,
    /// A compressed input stops being read when its decompressed bytes pass this many times
    /// the compressed bytes read (and 64 MiB): a decompression bomb costs neither memory
    /// (flow logs are decompressed whole) nor hours; 0 = no bound.
    pub max_decompression_ratio: u64,
}

/// How flow logs and NetFlow/IPFIX exports are found and read.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// Read every input as this flow-log format instead of detecting it.
    pub format: Option<LogFormat>,
    /// The field list of AWS VPC flow logs that have no header line.
    pub vpc_fields: Option<Vec<String>>,
    /// UDP port whose datagrams are NetFlow/IPFIX exports even when they fail the content
    /// check (which stays on for every other port).
    pub netflow_port: Option<u16>,
    /// Bounds on exporters, templates and data waiting for templates.
    pub netflow_limits: Limits,
    /// UTC offset in seconds of times that flow logs write without one (nfdump and Argus
    /// tables); 0 reads them as UTC. Every record keeps the text as written.
    pub utc_offset_s: i64,
    /// Flow-log lines longer than this many bytes are not read, each counted as
    /// `line_too_long`; 0 = no bound.
    pub max_line_bytes: usize,
    /// Size of the pieces a text log is cut into (at line boundaries) to be read in
    /// parallel, a few pieces at a time, so that the bound on records held in memory is
    /// checked after each piece; the result does not depend on it.
    pub piece_bytes: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            format: None,
            vpc_fields: None,
            netflow_port: None,
            netflow_limits: Limits::default(),
            utc_offset_s: 0,
            max_line_bytes: crate::records::DEFAULT_MAX_LINE_BYTES,
            piece_bytes: crate::records::TEXT_PIECE_BYTES,
        }
    }
}

impl FlowsConfig {
    /// A configuration with defaults for everything but the inputs.
    pub fn new(inputs: Vec<PathBuf>) -> FlowsConfig {
        FlowsConfig {
            inputs,
            threads: 0,
            flow: FlowConfig::default(),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            progress: None,
            read_mode: ingest::ReadMode::default(),
            spill: None,
            logs: LogOptions::default(),
            clues: false,
            clue_content: false,
            max_ip_layers: crate::decode::DEFAULT_IP_LAYERS,
            max_decompression_ratio: ingest::DEFAULT_MAX_RATIO,
        }
    }
}

/// What was learned about one input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputSummary {
    /// The name as given.
    pub name: PathBuf,
    /// Compression layer, when the input could be opened.
    pub compression: Option<Compression>,
    /// Container name (`pcap`, `pcapng`, ...).
    pub container: Option<&'static str>,
    /// Size on disk, when known.
    pub file_size: Option<u64>,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Where the bytes of a capture went: frames, file headers and packetless blocks, and
    /// skipped ranges (each counted under its reason); they add up to `bytes`.
    pub counts: ingest::ByteCounts,
    /// Frames read.
    pub frames: u64,
    /// Why the input could not be read, or stopped being readable.
    pub error: Option<String>,
    /// Earliest and latest frame time (flow logs: earliest record start, latest end).
    pub time_range: Option<(Timestamp, Timestamp)>,
    /// Flow records read from it (flow logs; NetFlow/IPFIX exports in a capture).
    pub records: u64,
}

impl InputSummary {
    /// True when the input was read as a text flow log (its locators are line numbers).
    pub fn is_text_log(&self) -> bool {
        matches!(
            self.container,
            Some(c) if c != LogFormat::NetflowDatagrams.name() && LogFormat::NAMES.contains(&c)
        )
    }

    /// What its locators count: `line` (text logs), `datagram` (raw exports), `flow tuple`
    /// (Azure documents) or `frame`.
    pub fn unit(&self) -> &'static str {
        if self.container == Some(LogFormat::AzureJson.name()) {
            "flow tuple"
        } else if self.is_text_log() || self.container == Some(clues::MAIL_CONTAINER) {
            "line"
        } else if self.container == Some(LogFormat::NetflowDatagrams.name()) {
            "datagram"
        } else {
            "frame"
        }
    }
}

const PARTIAL_MAGIC: &[u8] = b"HOPTRACE-PARTIAL";
/// 6: a SHA-256 of everything before it ends the file.
const PARTIAL_VERSION: u32 = 6;
/// Bytes of the digest that ends a partial table.
const PARTIAL_DIGEST: usize = 32;

impl InputSummary {
    fn encode(&self, w: &mut crate::model::BinWriter) {
        w.str(&self.name.to_string_lossy());
        w.opt(self.compression, |w, c| {
            w.u8(match c {
                Compression::None => 0,
                Compression::Gzip => 1,
                Compression::Zstd => 2,
            })
        });
        w.opt(self.container, |w, c| w.str(c));
        w.opt(self.file_size, |w, v| w.u64(v));
        w.u64(self.bytes);
        w.u64(self.frames);
        w.opt(self.error.as_deref(), |w, e| w.str(e));
        w.opt(self.time_range, |w, (a, b)| {
            w.i64(a.0);
            w.i64(b.0);
        });
        w.u64(self.records);
        w.u64(self.counts.frames);
        w.u64(self.counts.meta);
        w.u64(self.counts.skipped);
    }

    fn decode(r: &mut crate::model::BinReader<'_>) -> Option<InputSummary> {
        Some(InputSummary {
            name: PathBuf::from(r.str()?),
            compression: r.opt(|r| match r.u8()? {
                0 => Some(Compression::None),
                1 => Some(Compression::Gzip),
                2 => Some(Compression::Zstd),
                _ => None,
            })?,
            container: r.opt(|r| {
                let s = r.str()?;
                ["pcap", "pcap (ns)", "pcap (modified)", "pcapng"]
                    .into_iter()
                    .chain(LogFormat::NAMES)
                    .find(|c| *c == s)
            })?,
            file_size: r.opt(|r| r.u64())?,
            bytes: r.u64()?,
            frames: r.u64()?,
            error: r.opt(|r| r.str())?,
            time_range: r.opt(|r| Some((Timestamp(r.i64()?), Timestamp(r.i64()?))))?,
            records: r.u64()?,
            counts: ingest::ByteCounts {
                frames: r.u64()?,
                meta: r.u64()?,
                skipped: r.u64()?,
            },
        })
    }
}

/// The result of [`flows`].
#[derive(Debug)]
pub struct FlowRun {
    /// The flows held in memory, in output order (all of them unless spilling was on).
    pub flows: FlowSet,
    /// One summary per input, in input order.
    pub inputs: Vec<InputSummary>,
    /// Flows spilled to disk; [`FlowRun::merged`] gives every flow in output order.
    pub spilled: Spilled,
    /// Flow records from flow logs and exports, unidirectional ones paired, sorted by
    /// start time.
    pub records: RecordSet,
    /// Header evidence gathered beside the flows (only when [`FlowsConfig::clues`] is on),
    /// in input and frame order: what is held in memory (with spilling on, what was
    /// gathered past the bound was set aside in [`Spilled::clues`], before these).
    pub clues: Vec<crate::hops::Clue>,
    /// SMTP client bytes not kept for reading mails (past the run's bound).
    pub smtp_dropped: u64,
}

impl FlowRun {
    /// Every flow, in memory or spilled, in output order.
    pub fn merged(&self) -> std::io::Result<Merged<'_>> {
        Merged::new(&self.flows.flows, self.flows.chains.len(), &self.spilled)
    }

    /// Frames read from captures (flow logs, raw exports and saved mails count lines or
    /// datagrams, not frames).
    pub fn capture_frames(&self) -> u64 {
        self.inputs
            .iter()
            .filter(|i| i.unit() == "frame")
            .map(|i| i.frames)
            .sum()
    }

    /// Number of flows, in memory and spilled.
    pub fn flow_count(&self) -> u64 {
        self.flows.flows.len() as u64 + self.spilled.len()
    }

    /// Every flow record, in memory or set aside on disk, in output order.
    pub fn merged_records(&self) -> std::io::Result<MergedRecords<'_>> {
        MergedRecords::new(&self.records.records, self.spilled.records())
    }

    /// Number of flow records, in memory and on disk.
    pub fn record_count(&self) -> u64 {
        self.records.records.len() as u64 + self.spilled.records().len()
    }

    /// Number of rows a flow table of the run has: flows and flow records.
    pub fn row_count(&self) -> u64 {
        self.flow_count() + self.record_count()
    }

    /// True when something could not be read: an input, a record or a header.
    pub fn skipped_input(&self) -> bool {
        self.flows.diag.has_problems() || self.inputs.iter().any(|i| i.error.is_some())
    }

    /// True when no input could be read at all.
    pub fn nothing_read(&self) -> bool {
        self.inputs.iter().all(|i| i.container.is_none())
    }
    /// The run's evidence for finding and placing a communication, as vantage point
    /// `vantage`.
    pub fn evidence(&self, vantage: u32) -> crate::hops::Evidence<'_> {
        crate::hops::Evidence {
            vantage,
            flows: &self.flows.flows,
            records: &self.records.records,
            chains: &self.flows.chains,
            clues: &self.clues,
        }
    }
}

/// The library's error: only what stops a run as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The worker pool could not start.
    #[error("cannot start {threads} worker threads: {reason}")]
    Threads {
        /// Requested threads.
        threads: usize,
        /// Why.
        reason: String,
    },
    /// No inputs were given.
    #[error("no input files given")]
    NoInputs,
    /// `trace` was given standard input, a pipe or a device: it reads evidence from files.
    #[error(
        "{path}: trace reads its evidence from files, digesting each (SHA-256) for the report, \
         and this is standard input, a pipe or a device (read once: it cannot be both digested \
         and traced); save it to a file and trace that"
    )]
    NotAFile {
        /// The input.
        path: PathBuf,
    },
    /// Partial tables built with different flow rules cannot be merged.
    #[error(
        "partial flow tables were built with different timeouts ({ours} and {theirs}); \
         build them with the same --idle-timeout and --active-timeout flags"
    )]
    Incompatible {
        /// This table's rules.
        ours: String,
        /// The other table's rules.
        theirs: String,
    },
    /// Finished flows or flow records could not be written to the spill directory.
    #[error(
        "cannot write finished flows or flow records to the spill directory {dir} (free space there or pick another directory)"
    )]
    Spill {
        /// The spill directory.
        dir: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Flows or flow records set aside in the spill directory could not be read back.
    #[error("cannot read back the flows or flow records set aside in the spill directory {dir}")]
    SpillRead {
        /// The spill directory.
        dir: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

enum Job {
    Opened {
        input: u32,
        summary: InputSummary,
    },
    Chunk {
        input: u32,
        data: Arc<ingest::Bytes>,
        plan: ChunkPlan,
        exact_start: usize,
    },
    Block {
        input: u32,
        block: StreamBlock,
    },
    File {
        input: u32,
        file: Arc<std::fs::File>,
        len: u64,
        chunk: FileChunk,
    },
    Failed {
        input: u32,
        error: IngestError,
    },
    /// A file of NetFlow/IPFIX export datagrams.
    Exports {
        input: u32,
        data: ingest::Bytes,
    },
    /// One piece of a text flow log: `range` of `data`.
    LogPiece {
        input: u32,
        data: Arc<ingest::Bytes>,
        range: (usize, usize),
        format: LogFormat,
        piece: crate::records::PlannedPiece,
    },
    /// Records already read on the reading thread (a batch of an Azure document's flow
    /// tuples) and the input bytes they account for.
    Parsed {
        input: u32,
        read: LogRead,
        bytes: u64,
    },
    /// The end of a text flow log, after its pieces.
    LogEnd {
        input: u32,
    },
}

struct LogOut {
    read: LogRead,
    exports: Vec<Export>,
    /// Bytes of the input read.
    bytes: u64,
}

struct ChunkOut {
    table: FlowTable,
    error: Option<std::io::Error>,
    start: u64,
    next: u64,
    state: Option<ReaderState>,
    end_state: ReaderState,
    frames: u64,
    bytes: u64,
    /// Where the bytes went (frames, headers and packetless blocks, skipped ranges).
    counts: ingest::ByteCounts,
    time: Option<(Timestamp, Timestamp)>,
    /// NetFlow/IPFIX export datagrams found in the chunk's UDP packets.
    exports: Vec<Export>,
    /// Header evidence, when asked for.
    gathered: clues::Gathered,
}

/// Reads every input and groups its packets into flows.
///
/// Inputs that cannot be opened or stop being readable are listed in the summaries and the
/// rest is still read; `Err` is only for a run that cannot start.
pub fn flows(cfg: &FlowsConfig) -> Result<FlowRun, Error> {
    if cfg.inputs.is_empty() {
        return Err(Error::NoInputs);
    }
    let pool = pool(cfg.threads)?;
    let (partial, spilled) = run(cfg, &pool, cfg.spill.as_ref())?;
    partial.finish_spilled(spilled, cfg.spill.as_ref())
}

/// A partial aggregate: the flow table of some inputs, not yet finished, so that the
/// table of the inputs that follow them (built in another run, on another machine) can be
/// appended. `a.append(b)` then `finish()` gives what one run over `a`'s and `b`'s inputs
/// gives, and appending is associative.
#[derive(Debug)]
pub struct PartialRun {
    /// The unfinished table.
    pub table: FlowTable,
    /// One summary per input.
    pub inputs: Vec<InputSummary>,
    /// Flow records read (not yet paired).
    pub records: Vec<FlowRecord>,
    /// Header evidence gathered (when asked for; not written to partial tables).
    pub clues: Vec<crate::hops::Clue>,
    /// SMTP client bytes not kept for reading mails.
    pub smtp_dropped: u64,
}

impl PartialRun {
    /// Appends the partial run of the inputs that follow this run's inputs. Both must have
    /// been built with the same flow rules.
    pub fn append(&mut self, mut later: PartialRun) -> Result<(), Error> {
        if later.table.config() != self.table.config() {
            return Err(Error::Incompatible {
                ours: format!("{:?}", self.table.config()),
                theirs: format!("{:?}", later.table.config()),
            });
        }
        let shift = self.inputs.len() as u32;
        later.table.renumber_inputs(shift);
        for r in &mut later.records {
            r.loc.at.input += shift;
            if let Some(p) = &mut r.paired {
                p.at.input += shift;
            }
        }
        for c in &mut later.clues {
            c.at.input += shift;
        }
        self.table.append(later.table);
        self.inputs.extend(later.inputs);
        self.records.extend(later.records);
        self.clues.extend(later.clues);
        self.smtp_dropped += later.smtp_dropped;
        Ok(())
    }

    /// Writes the partial run to a file another process can load and append to. The format
    /// is hoptrace's own (magic `HOPTRACE-PARTIAL`, a version, then the input summaries,
    /// the unfinished table and the flow records, and a SHA-256 of all that comes before
    /// it, so a damaged file is refused rather than read as other counts); it is meant for
    /// moving tables between runs of the same hoptrace version, not for archiving.
    pub fn save(&self, out: &mut dyn Write) -> std::io::Result<()> {
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        let mut w = crate::model::BinWriter::default();
        w.buf.extend_from_slice(PARTIAL_MAGIC);
        w.u32(PARTIAL_VERSION);
        w.u32(self.inputs.len() as u32);
        for i in &self.inputs {
            i.encode(&mut w);
        }
        // Written a few thousand flows and records at a time: encoding the whole table
        // first held a second copy of it (61 MB more at the peak for the 0.9 GB benchmark
        // set's 174,930 flows).
        let mut drain = |w: &mut crate::model::BinWriter| {
            digest.update(&w.buf);
            out.write_all(&w.buf)?;
            w.buf.clear();
            Ok(())
        };
        self.table.encode_streamed(&mut w, &mut drain)?;
        w.u32(self.records.len() as u32);
        for batch in self.records.chunks(crate::flow::ENCODE_BATCH) {
            for r in batch {
                r.encode(&mut w);
            }
            drain(&mut w)?;
        }
        drain(&mut w)?;
        out.write_all(&digest.finalize())
    }

    /// Loads a partial run written by [`save`](Self::save).
    ///
    /// The file is memory-mapped and its pages are dropped from the process as they are
    /// decoded, so a part is not held twice (file and flows) while it is loaded. The bytes
    /// are digested as they are decoded; a file whose digest differs is refused.
    pub fn load(path: &std::path::Path) -> Result<PartialRun, IngestError> {
        use sha2::Digest;
        let io = |source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let bytes = if size >= PARTIAL_MAGIC.len() as u64 {
            ingest::map_file(&file).map_err(io)?
        } else {
            // Too short to be one (and an empty file cannot be mapped): the check below
            // names what it is not.
            ingest::Bytes::Owned(std::fs::read(path).map_err(io)?)
        };
        // The bytes before `at` (from the start of the table's fields) are decoded: they
        // are digested, and their whole pages released, each once.
        let mut released = 0;
        let mut digest = sha2::Sha256::new();
        let mut digested = 0;
        let mut release = |at: usize| {
            let end = PARTIAL_MAGIC.len() + at;
            if end > digested {
                digest.update(&bytes[digested..end]);
                digested = end;
            }
            released = released.max(bytes.release(released..end));
        };
        let bad = |what: &str| IngestError::Unsupported {
            path: path.to_path_buf(),
            what: what.to_string(),
            offset: 0,
        };
        if !bytes.starts_with(PARTIAL_MAGIC) {
            return Err(bad(
                "not a hoptrace partial flow table (write one with `hoptrace flows --partial FILE`)",
            ));
        }
        let mut r = crate::model::BinReader::new(&bytes[PARTIAL_MAGIC.len()..]);
        match r.u32() {
            Some(PARTIAL_VERSION) => {}
            Some(v) => {
                return Err(bad(&format!(
                    "partial flow table format version {v}; this hoptrace reads version {PARTIAL_VERSION}"
                )));
            }
            None => return Err(bad("truncated partial flow table")),
        }
        let Some(body) = bytes
            .len()
            .checked_sub(PARTIAL_DIGEST)
            .filter(|&b| b >= PARTIAL_MAGIC.len() + 4)
        else {
            return Err(bad("truncated partial flow table"));
        };
        let mut r = crate::model::BinReader::new(&bytes[PARTIAL_MAGIC.len()..body]);
        r.u32();
        let damaged = || bad("damaged partial flow table");
        let n = r.count().ok_or_else(damaged)?;
        let mut inputs = Vec::with_capacity(n);
        for _ in 0..n {
            inputs.push(InputSummary::decode(&mut r).ok_or_else(damaged)?);
        }
        let table = FlowTable::decode_releasing(&mut r, &mut release).ok_or_else(damaged)?;
        let n = r.count().ok_or_else(damaged)?;
        let mut records = Vec::with_capacity(n.min(1 << 20));
        for i in 0..n {
            records.push(FlowRecord::decode(&mut r).ok_or_else(damaged)?);
            if (i + 1) % crate::flow::ENCODE_BATCH == 0 {
                release(r.at);
            }
        }
        if !r.is_done() {
            return Err(damaged());
        }
        release(body - PARTIAL_MAGIC.len());
        if digest.finalize()[..] != bytes[body..] {
            return Err(bad(
                "damaged partial flow table (its SHA-256 does not match its contents)",
            ));
        }
        Ok(PartialRun {
            clues: Vec::new(),
            smtp_dropped: 0,
            table,
            inputs,
            records,
        })
    }

    /// Finishes the table: every flow in output order.
    pub fn finish(self) -> FlowRun {
        let cfg = *self.table.config();
        FlowRun {
            flows: self.table.finish(),
            inputs: self.inputs,
            spilled: Spilled::default(),
            records: crate::records::pair(self.records, &cfg),
            clues: self.clues,
            smtp_dropped: self.smtp_dropped,
        }
    }

    /// Past `sp`'s bound, spills the flows no later part can change (closed, not waiting
    /// for fragments) and sets the records held aside, into `spilled`: call after each
    /// [`append`](Self::append) to merge parts whose flows and records do not fit in
    /// memory together (`hoptrace merge --max-flows`). A later part joins only flows still
    /// open, so what is spilled is final.
    pub fn bound(&mut self, spilled: &mut Spilled, sp: &SpillConfig) -> Result<(), Error> {
        spill_finished(&mut self.table, spilled, sp)?;
        if self.records.len() > sp.max_flows {
            spilled
                .set_aside_records(&sp.dir, &mut self.records)
                .map_err(|source| Error::Spill {
                    dir: sp.dir.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Finishes the table with what [`bound`](Self::bound) set aside in `spilled` (in the
    /// spill directory of `sp`): records are paired a pairing group at a time.
    pub fn finish_spilled(
        self,
        mut spilled: Spilled,
        sp: Option<&SpillConfig>,
    ) -> Result<FlowRun, Error> {
        let cfg = *self.table.config();
        let records = spilled
            .pair_records(self.records, &cfg)
            .map_err(|source| Error::Spill {
                dir: sp.map(|s| s.dir.clone()).unwrap_or_default(),
                source,
            })?;
        Ok(FlowRun {
            flows: self.table.finish(),
            inputs: self.inputs,
            spilled,
            records,
            clues: self.clues,
            smtp_dropped: self.smtp_dropped,
        })
    }
}

/// Past the bound, writes the flows of `table` no later packet or fragment can change to
/// a sorted run file in the spill directory. Spilling goes through every flow held: with
/// more live flows than the bound it waits until a quarter of those held are closed, so
/// each pass writes out about a quarter or more of what it goes through (a closed flow
/// still waiting for fragments stays). It tried after every chunk, which was quadratic
/// there (a 12.9 GB capture with a bound of 100,000: 62.4 s instead of 8.9 s, and a small
/// run file per chunk to merge back).
fn spill_finished(
    table: &mut FlowTable,
    spilled: &mut Spilled,
    sp: &SpillConfig,
) -> Result<(), Error> {
    if table.held() > sp.max_flows && table.closed() * 4 >= table.held() {
        let done = table.take_finished();
        spilled
            .write_run(&sp.dir, &done, table.chains())
            .map_err(|source| Error::Spill {
                dir: sp.dir.clone(),
                source,
            })?;
        table.compact_chains();
    }
    Ok(())
}

/// Reads every input into a [`PartialRun`].
pub fn partial(cfg: &FlowsConfig) -> Result<PartialRun, Error> {
    if cfg.inputs.is_empty() {
        return Err(Error::NoInputs);
    }
    let pool = pool(cfg.threads)?;
    // A partial table may be appended to an earlier one: nothing of it can be spilled.
    Ok(run(cfg, &pool, None)?.0)
}

/// What reading one job gave.
type JobOut = (Option<ChunkOut>, Option<LogOut>, Job);

/// Reads every input: jobs are read on `pool` as the producer hands them out, at most
/// twice the pool's threads at a time, and appended to the run in input order on the
/// calling thread as they finish. No job waits for a slower one before it starts, and
/// neither the in-order step nor waiting for the producer (which decompresses streams)
/// holds a pool thread.
fn run(
    cfg: &FlowsConfig,
    pool: &rayon::ThreadPool,
    spill: Option<&SpillConfig>,
) -> Result<(PartialRun, Spilled), Error> {
    let mut spilled = Spilled::default();
    let window = pool.current_num_threads() as u64 * 2;
    let (tx, rx) = mpsc::sync_channel::<Job>(window as usize * 2);
    let inputs = cfg.inputs.clone();
    let chunk_bytes = cfg.chunk_bytes;
    let mode = cfg.read_mode;
    let logs = cfg.logs.clone();
    let max_ratio = cfg.max_decompression_ratio;
    let producer = std::thread::Builder::new()
        .name("hoptrace-reader".into())
        .spawn(move || produce(&inputs, chunk_bytes, (mode, max_ratio), &logs, &tx));
    let mut summaries: Vec<InputSummary> = cfg
        .inputs
        .iter()
        .map(|p| InputSummary {
            name: p.clone(),
            ..InputSummary::default()
        })
        .collect();
    let mut acc = FlowTable::new(cfg.flow);
    // Emptied chunk tables, kept with their allocations for the next chunks.
    let spare: std::sync::Mutex<Vec<FlowTable>> = std::sync::Mutex::new(Vec::new());
    let buffers: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
    // Where the previous chunk of the current input ended, to check the next one against.
    let mut expect: Option<(u32, u64, ReaderState)> = None;
    let mut frames_before: Vec<u64> = vec![0; cfg.inputs.len()];
    // NetFlow/IPFIX template state, fed in capture order.
    let mut collector = Collector::new(cfg.logs.netflow_limits);
    let mut records: Vec<FlowRecord> = Vec::new();
    let mut gathered = clues::Gathered::default();
    let mut kept_smtp = 0usize;
    // Lines read of the text log whose pieces are being added, and the rows its own
    // summary declares.
    let mut whole_log = LogRead::default();
    let mut jobs = rx.into_iter();
    // Reads one job.
    let process = |job: Job| -> JobOut {
        let log = match &job {
            Job::Exports { input, data } => Some(read_exports(*input, data)),
            Job::LogPiece {
                input,
                data,
                range: (a, b),
                format,
                piece,
            } => {
                let (a, b) = (*a, *b);
                let read = crate::records::read_piece(
                    *input,
                    &data[a..b],
                    &piece.piece(cfg.logs.max_line_bytes),
                    *format,
                    &cfg.logs.text(),
                );
                data.release(a..b);
                Some(LogOut {
                    read,
                    exports: Vec::new(),
                    bytes: (b - a) as u64,
                })
            }
            _ => None,
        };
        let out = match &job {
            Job::Chunk {
                input, data, plan, ..
            } => {
                let out = read_chunk(*input, data, plan, cfg, take(&spare, cfg));
                data.release(plan.start..out.next as usize);
                Some(out)
            }
            Job::Block { input, block } => Some(read_block(*input, block, cfg, take(&spare, cfg))),
            Job::File {
                input,
                file,
                len,
                chunk,
            } => {
                let mut buf = take_buf(&buffers);
                let out = read_file(*input, file, *len, chunk, cfg, take(&spare, cfg), &mut buf);
                give_buf(&buffers, buf);
                Some(out)
            }
            Job::Opened { .. }
            | Job::Failed { .. }
            | Job::Exports { .. }
            | Job::LogPiece { .. }
            | Job::Parsed { .. }
            | Job::LogEnd { .. } => None,
        };
        (out, log, job)
    };
    // Appends jobs' results to the run, in input order.
    let mut absorb = |outs: Vec<JobOut>| -> Result<(), Error> {
        for (out, log, job) in outs {
            let mut ctx = Absorb {
                acc: &mut acc,
                collector: &mut collector,
                records: &mut records,
                aside: spill.map(|sp| (sp, &mut spilled)),
                spare: &spare,
                gathered: &mut gathered,
                kept_smtp: &mut kept_smtp,
            };
            let job = match job {
                Job::Parsed { input, read, bytes } => {
                    whole_log.units += read.units;
                    let log = LogOut {
                        read,
                        exports: Vec::new(),
                        bytes,
                    };
                    ctx.log(&mut summaries[input as usize], log)?;
                    continue;
                }
                job => job,
            };
            match (&job, log) {
                (Job::Exports { input, .. }, Some(log)) => {
                    ctx.log(&mut summaries[*input as usize], log)?;
                    continue;
                }
                (Job::LogPiece { input, .. }, Some(mut log)) => {
                    whole_log.units += log.read.units;
                    whole_log.declared_rows =
                        log.read.declared_rows.take().or(whole_log.declared_rows);
                    ctx.log(&mut summaries[*input as usize], log)?;
                    continue;
                }
                (Job::LogEnd { input }, _) => {
                    // The rows read against those the log's own summary declares.
                    let mut whole = std::mem::take(&mut whole_log);
                    whole.check_declared(*input);
                    ctx.acc.diag.merge(whole.diag);
                    continue;
                }
                _ => {}
            }
            match (job, out) {
                (Job::Opened { input, summary }, _) => {
                    summaries[input as usize] = summary;
                    expect = None;
                }
                (Job::Failed { input, error }, _) => {
                    if let IngestError::RatioLimit { offset, left, .. } = &error {
                        let at = crate::model::Locator {
                            input,
                            offset: *offset,
                            ..Default::default()
                        };
                        let left = left.unwrap_or(0);
                        acc.diag
                            .add_n(SkipReason::DecompressionLimit, 0, 1, left, at);
                    }
                    let s = &mut summaries[input as usize];
                    if s.error.is_none() {
                        s.error = Some(error.to_string());
                    }
                }
                (
                    Job::Chunk {
                        input,
                        data,
                        plan,
                        exact_start,
                    },
                    Some(mut out),
                ) => {
                    if let Some((next, state)) = wrong_start(&expect, input, &out) {
                        // The chunk guessed its start wrong: read it again from where the
                        // chunk before it really ended.
                        let fixed = ChunkPlan {
                            start: next as usize,
                            end: plan.end,
                            state,
                            exact: true,
                        };
                        give(
                            ctx.spare,
                            std::mem::replace(&mut out.table, FlowTable::new(cfg.flow)),
                        );
                        out = read_chunk(input, &data, &fixed, cfg, take(ctx.spare, cfg));
                    }
                    if plan.exact {
                        // The file header before the first record.
                        out.bytes += exact_start as u64;
                        out.counts.meta += exact_start as u64;
                    }
                    expect = Some((input, out.next, out.end_state.clone()));
                    let i = input as usize;
                    ctx.chunk(&mut summaries[i], &mut frames_before[i], input, out)?;
                }
                (
                    Job::File {
                        input,
                        file,
                        len,
                        chunk,
                    },
                    Some(mut out),
                ) => {
                    if let Some((next, state)) = wrong_start(&expect, input, &out) {
                        // The chunk found its start by resynchronisation and it is not
                        // where the chunk before it really ended: read it again from there.
                        let fixed = FileChunk {
                            boundary: next,
                            end: chunk.end.max(next),
                            start: Some(next),
                            state,
                        };
                        give(
                            ctx.spare,
                            std::mem::replace(&mut out.table, FlowTable::new(cfg.flow)),
                        );
                        let mut buf = take_buf(&buffers);
                        out = read_file(
                            input,
                            &file,
                            len,
                            &fixed,
                            cfg,
                            take(ctx.spare, cfg),
                            &mut buf,
                        );
                        give_buf(&buffers, buf);
                    }
                    expect = Some((input, out.next, out.end_state.clone()));
                    let i = input as usize;
                    ctx.chunk(&mut summaries[i], &mut frames_before[i], input, out)?;
                }
                (Job::Block { input, .. }, Some(out)) => {
                    let i = input as usize;
                    ctx.chunk(&mut summaries[i], &mut frames_before[i], input, out)?;
                    expect = None;
                }
                _ => {}
            }
        }
        if let Some(sp) = spill {
            spill_finished(&mut acc, &mut spilled, sp)?;
        }
        Ok(())
    };
    pool.in_place_scope(|s| -> Result<(), Error> {
        type Done = (u64, std::thread::Result<JobOut>);
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let (mut started, mut appended) = (0u64, 0u64);
        let mut finished: std::collections::BTreeMap<u64, std::thread::Result<JobOut>> =
            Default::default();
        let mut more = true;
        loop {
            while more && started - appended < window {
                match jobs.next() {
                    Some(job) => {
                        let (tx, process, seq) = (done_tx.clone(), &process, started);
                        s.spawn(move |_| {
                            let out =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    process(job)
                                }));
                            let _ = tx.send((seq, out));
                        });
                        started += 1;
                    }
                    None => more = false,
                }
            }
            if appended == started {
                return Ok(());
            }
            // This thread holds a sender: the channel cannot close while a job is out.
            let Ok((seq, out)) = done_rx.recv() else {
                return Ok(());
            };
            finished.insert(seq, out);
            let mut outs = Vec::new();
            while let Some(out) = finished.remove(&(appended + outs.len() as u64)) {
                outs.push(out.unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
            }
            appended += outs.len() as u64;
            absorb(outs)?;
        }
    })?;
    if let Ok(p) = producer {
        let _ = p.join();
    }
    collector.finish(&mut acc.diag);
    Ok((
        PartialRun {
            table: acc,
            inputs: summaries,
            records,
            smtp_dropped: gathered.smtp_dropped,
            clues: gathered.finish(),
        },
        spilled,
    ))
}

/// A recycled (or new) table for one chunk.
fn take(spare: &std::sync::Mutex<Vec<FlowTable>>, cfg: &FlowsConfig) -> FlowTable {
    spare
        .lock()
        .ok()
        .and_then(|mut v| v.pop())
        .unwrap_or_else(|| FlowTable::with_capacity(cfg.flow, 8192))
}

fn give(spare: &std::sync::Mutex<Vec<FlowTable>>, mut t: FlowTable) {
    // A table discarded after a wrong guess still holds flows: never reuse them.
    t.clear();
    if let Ok(mut v) = spare.lock() {
        v.push(t);
    }
}

/// Where a chunk should have started, when its guess (found by resynchronisation, with
/// an assumed reader state) differs from where the chunk before it really ended.
fn wrong_start(
    expect: &Option<(u32, u64, ReaderState)>,
    input: u32,
    out: &ChunkOut,
) -> Option<(u64, ReaderState)> {
    match expect {
        Some((i, next, state))
            if *i == input && (out.start != *next || out.state.as_ref() != Some(state)) =>
        {
            Some((*next, state.clone()))
        }
        _ => None,
    }
}

/// What the in-order step appends to.
struct Absorb<'a> {
    acc: &'a mut FlowTable,
    collector: &'a mut Collector,
    records: &'a mut Vec<FlowRecord>,
    /// Where records past the bound are set aside, when spilling is on.
    aside: Option<(&'a SpillConfig, &'a mut Spilled)>,
    spare: &'a std::sync::Mutex<Vec<FlowTable>>,
    gathered: &'a mut clues::Gathered,
    kept_smtp: &'a mut usize,
}

impl Absorb<'_> {
    /// Appends one job's table to the run's table, decodes the job's NetFlow/IPFIX exports
    /// (in capture order, for the template state), updates the input's summary, and gives
    /// the emptied job table back for reuse.
    fn chunk(
        &mut self,
        summary: &mut InputSummary,
        frames_before: &mut u64,
        input: u32,
        out: ChunkOut,
    ) -> Result<(), Error> {
        let (exports, gathered) = absorb(self.acc, summary, frames_before, input, out, self.spare);
        self.gathered.append(gathered, self.kept_smtp);
        self.bound_clues()?;
        for e in exports {
            let before = self.records.len();
            self.collector
                .datagram(&e, self.records, &mut self.acc.diag);
            summary.records += (self.records.len() - before) as u64;
            self.bound_records()?;
        }
        Ok(())
    }

    /// Past the bound on flows in memory, sets the records held aside on disk by pairing
    /// group, to be paired a group at a time when reading ends.
    fn bound_records(&mut self) -> Result<(), Error> {
        if let Some((sp, spilled)) = &mut self.aside
            && self.records.len() > sp.max_flows
        {
            spilled
                .set_aside_records(&sp.dir, self.records)
                .map_err(|source| Error::Spill {
                    dir: sp.dir.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Past the bound on flows in memory, sets the header evidence gathered aside on disk
    /// (`trace`), to be read back with what the query reaches.
    fn bound_clues(&mut self) -> Result<(), Error> {
        if let Some((sp, spilled)) = &mut self.aside
            && self.gathered.clues.len() > sp.max_flows
        {
            spilled
                .set_aside_clues(&sp.dir, &mut self.gathered.clues)
                .map_err(|source| Error::Spill {
                    dir: sp.dir.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Adds what a flow log (or a piece of one) gave.
    fn log(&mut self, summary: &mut InputSummary, log: LogOut) -> Result<(), Error> {
        let LogOut {
            read,
            exports,
            bytes,
        } = log;
        summary.bytes += bytes;
        summary.frames += read.units;
        summary.records += read.records.len() as u64;
        if let Some((a, b)) = read.time_range {
            summary.time_range = Some(match summary.time_range {
                Some((x, y)) => (x.min(a), y.max(b)),
                None => (a, b),
            });
        }
        self.acc.diag.merge(read.diag);
        self.records.extend(read.records);
        self.bound_records()?;
        for e in exports {
            let before = self.records.len();
            self.collector
                .datagram(&e, self.records, &mut self.acc.diag);
            summary.records += (self.records.len() - before) as u64;
            if let Some(r) = self.records.get(before..) {
                for r in r {
                    summary.time_range = Some(match summary.time_range {
                        Some((x, y)) => (x.min(r.start), y.max(r.end)),
                        None => (r.start, r.end),
                    });
                }
            }
            self.bound_records()?;
        }
        Ok(())
    }
}

/// Splits a file of NetFlow/IPFIX export datagrams.
fn read_exports(input: u32, data: &[u8]) -> LogOut {
    let mut read = LogRead::default();
    let exports = crate::records::netflow::split_datagrams(input, data, &mut read.diag);
    read.units = exports.len() as u64;
    LogOut {
        read,
        exports,
        bytes: data.len() as u64,
    }
}

impl LogOptions {
    /// How these options read text logs.
    pub fn text(&self) -> crate::records::TextOptions {
        crate::records::TextOptions {
            vpc_fields: self.vpc_fields.clone(),
            utc_offset_s: self.utc_offset_s,
            max_line_bytes: self.max_line_bytes,
        }
    }
}

/// Appends one job's table to the run's table, updates the input's summary, and gives the
/// emptied job table back for reuse; returns the job's exports and header evidence with
/// frame numbers of the input.
fn absorb(
    acc: &mut FlowTable,
    summary: &mut InputSummary,
    frames_before: &mut u64,
    input: u32,
    mut out: ChunkOut,
    spare: &std::sync::Mutex<Vec<FlowTable>>,
) -> (Vec<Export>, clues::Gathered) {
    if let Some(source) = out.error.take()
        && summary.error.is_none()
    {
        let e = IngestError::Io {
            path: summary.name.clone(),
            source,
        };
        summary.error = Some(e.to_string());
    }
    out.table.rebase_frames(input, *frames_before);
    let mut exports = std::mem::take(&mut out.exports);
    for e in &mut exports {
        if e.at.input == input {
            e.at.frame += *frames_before;
        }
    }
    let mut gathered = std::mem::take(&mut out.gathered);
    gathered.rebase(input, *frames_before);
    *frames_before += out.frames;
    summary.frames += out.frames;
    summary.bytes += out.bytes;
    summary.counts += out.counts;
    if let Some((a, b)) = out.time {
        summary.time_range = Some(match summary.time_range {
            Some((x, y)) => (x.min(a), y.max(b)),
            None => (a, b),
        });
    }
    acc.append_from(&mut out.table);
    give(spare, out.table);
    (exports, gathered)
}

/// Hands a flow log to the workers: a file of export datagrams (or a log that cannot be
/// cut) as one job, a text log as pieces, each planned before it is sent and scanned for
/// the next after, then the log's end. A compressed log is decompressed a piece at a time.
/// False when the run stopped taking jobs; the reason a stream stopped early, if it did.
fn send_log(
    input: u32,
    body: LogBody,
    format: LogFormat,
    logs: &LogOptions,
    tx: &mpsc::SyncSender<Job>,
) -> (bool, Option<IngestError>) {
    use crate::records::{PiecePlanner, next_cut, piece_ranges};
    let piece_bytes = logs.piece_bytes;
    let mut planner = PiecePlanner::new(format, &logs.text());
    let mut send = |data: &Arc<ingest::Bytes>, range: (usize, usize), off0: u64| {
        let job = Job::LogPiece {
            input,
            data: Arc::clone(data),
            range,
            format,
            piece: planner.next(off0),
        };
        let sent = tx.send(job).is_ok();
        planner.pass(&data[range.0..range.1]);
        sent
    };
    let mut stopped = None;
    match body {
        LogBody::Whole(data) if format == LogFormat::NetflowDatagrams => {
            return (tx.send(Job::Exports { input, data }).is_ok(), None);
        }
        LogBody::Whole(data) if format == LogFormat::AzureJson => {
            // Read here, a batch of tuples at a time, each handed on as it is read: the
            // channel's bound holds the batches in flight.
            let len = data.len() as u64;
            let mut open = true;
            crate::records::cloud::read_azure_batches(
                input,
                &data,
                crate::records::cloud::AZURE_BATCH,
                |read, last| {
                    let bytes = if last { len } else { 0 };
                    open = tx.send(Job::Parsed { input, read, bytes }).is_ok();
                    open
                },
            );
            if !open {
                return (false, None);
            }
        }
        LogBody::Whole(data) => {
            let data = Arc::new(data);
            for range in piece_ranges(&data, format, piece_bytes) {
                if !send(&data, range, range.0 as u64) {
                    return (false, None);
                }
            }
        }
        LogBody::Stream {
            mut head,
            mut stream,
        } => {
            // Each piece is read until the first line end past `piece_bytes`; a little more
            // is asked for, so that the end of the line is usually there already.
            let piece_bytes = piece_bytes.max(1);
            let (mut off0, mut looked, mut more) = (0u64, 0usize, true);
            loop {
                let cut = loop {
                    if let Some(c) = next_cut(&head, piece_bytes, looked) {
                        break Some(c);
                    }
                    looked = head.len();
                    if !more {
                        break None;
                    }
                    let want = (piece_bytes + (64 << 10)).max(head.len() + piece_bytes);
                    match stream.fill(&mut head, want) {
                        Ok(m) => more = m,
                        Err(e) => (more, stopped) = (false, Some(e)),
                    }
                };
                let rest = match cut {
                    Some(c) => head.split_off(c),
                    None => Vec::new(),
                };
                let piece = std::mem::replace(&mut head, rest);
                looked = 0;
                if piece.is_empty() {
                    break;
                }
                let len = piece.len();
                let data = Arc::new(ingest::Bytes::Owned(piece));
                if !send(&data, (0, len), off0) {
                    return (false, stopped);
                }
                off0 += len as u64;
            }
        }
    }
    (tx.send(Job::LogEnd { input }).is_ok(), stopped)
}

/// Opens the inputs in order and cuts them into jobs.
fn produce(
    inputs: &[PathBuf],
    chunk_bytes: usize,
    (mode, max_ratio): (ingest::ReadMode, u64),
    logs: &LogOptions,
    tx: &mpsc::SyncSender<Job>,
) {
    for (i, path) in inputs.iter().enumerate() {
        let input = i as u32;
        let opened = match logs.format {
            Some(f) => Err(IngestError::UnknownFormat {
                path: path.clone(),
                magic: f.name().to_string(),
            }),
            None => ingest::open_bounded(path, mode, max_ratio),
        };
        let opened = match opened {
            Ok(o) => o,
            Err(error @ IngestError::UnknownFormat { .. }) if path.as_os_str() != "-" => {
                // Not a capture: a flow log?
                let job = match open_log(path, logs, max_ratio) {
                    Ok(Some((summary, body, format, stopped))) => {
                        if tx.send(Job::Opened { input, summary }).is_err() {
                            return;
                        }
                        let (go_on, broke) = send_log(input, body, format, logs, tx);
                        if !go_on {
                            return;
                        }
                        match stopped.or(broke) {
                            Some(error) => Job::Failed { input, error },
                            None => continue,
                        }
                    }
                    Ok(None) => Job::Failed { input, error },
                    Err(error) => Job::Failed { input, error },
                };
                if tx.send(job).is_err() {
                    return;
                }
                continue;
            }
            Err(error) => {
                // An unknown format here is standard input's (files were tried as flow
                // logs above): it is read once, as a capture, so a flow log there cannot be
                // read again as one (it was said to be no format hoptrace knows).
                let error = match error {
                    IngestError::UnknownFormat { path, magic } => IngestError::Unsupported {
                        path,
                        what: format!(
                            "not a capture{}; flow logs and export files are read from \
                             regular files only, not from standard input (save it to a file \
                             and read that)",
                            match logs.format {
                                Some(_) => String::new(),
                                None => format!(" (first bytes {magic})"),
                            }
                        ),
                        offset: 0,
                    },
                    error => error,
                };
                if tx.send(Job::Failed { input, error }).is_err() {
                    return;
                }
                continue;
            }
        };
        let summary = InputSummary {
            name: path.clone(),
            compression: Some(opened.compression),
            container: Some(opened.container.name()),
            file_size: opened.file_size,
            ..InputSummary::default()
        };
        if tx.send(Job::Opened { input, summary }).is_err() {
            return;
        }
        let container = opened.container;
        match opened.body {
            Body::File { file, len } => {
                let chunks = match ingest::plan_file_chunks(&file, len, &container, chunk_bytes) {
                    Ok(c) => c,
                    Err(source) => {
                        let error = IngestError::Io {
                            path: path.clone(),
                            source,
                        };
                        if tx.send(Job::Failed { input, error }).is_err() {
                            return;
                        }
                        continue;
                    }
                };
                for chunk in chunks {
                    let job = Job::File {
                        input,
                        file: Arc::clone(&file),
                        len,
                        chunk,
                    };
                    if tx.send(job).is_err() {
                        return;
                    }
                }
            }
            Body::Bytes(bytes) => {
                let data = Arc::new(bytes);
                for plan in ingest::plan_chunks(&data, &container, chunk_bytes) {
                    let job = Job::Chunk {
                        input,
                        data: Arc::clone(&data),
                        exact_start: container.data_start(),
                        plan,
                    };
                    if tx.send(job).is_err() {
                        return;
                    }
                }
            }
            Body::Stream { prefix, reader } => {
                let stream = Input {
                    name: path.clone(),
                    compression: opened.compression,
                    container,
                    body: Body::Stream { prefix, reader },
                    file_size: opened.file_size,
                };
                let block_bytes = chunk_bytes.min(STREAM_BLOCK_BYTES);
                let Ok(splitter) = StreamSplitter::new(stream, block_bytes) else {
                    continue;
                };
                for block in splitter {
                    let job = match block {
                        Ok(block) => Job::Block { input, block },
                        Err(error) => Job::Failed { input, error },
                    };
                    if tx.send(job).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// A flow log's bytes: a plain file mapped whole (or a log read whole), or a compressed
/// one as a stream with its first bytes read.
enum LogBody {
    Whole(ingest::Bytes),
    Stream {
        head: Vec<u8>,
        stream: ingest::LogStream,
    },
}

/// An input that is not a capture, opened, and its flow-log format (or the forced one);
/// `None` when it is no flow log either.
type OpenedLog = (InputSummary, LogBody, LogFormat, Option<IngestError>);

fn open_log(
    path: &std::path::Path,
    logs: &LogOptions,
    max_ratio: u64,
) -> Result<Option<OpenedLog>, IngestError> {
    let (compression, size, body, mut stopped) = match ingest::open_log_input(path, max_ratio)? {
        ingest::LogInput::Whole(w) => (w.compression, w.size, LogBody::Whole(w.data), None),
        ingest::LogInput::Stream(mut stream) => {
            // Enough to tell the format by; the rest as the log is cut into pieces.
            let mut head = Vec::new();
            let stopped = match stream.fill(&mut head, logs.piece_bytes.max(64 << 10)) {
                Ok(_) => None,
                Err(e) if head.is_empty() => return Err(e),
                Err(e) => Some(e),
            };
            if head.is_empty() {
                return Err(IngestError::Empty {
                    path: path.to_path_buf(),
                });
            }
            let (c, s) = (stream.compression, stream.size);
            (c, s, LogBody::Stream { head, stream }, stopped)
        }
    };
    let start: &[u8] = match &body {
        LogBody::Whole(data) => data,
        LogBody::Stream { head, .. } => head,
    };
    let format = logs
        .format
        .or_else(|| crate::records::detect(start))
        .or_else(|| logs.vpc_fields.is_some().then_some(LogFormat::AwsVpc));
    let Some(format) = format else {
        return Ok(None);
    };
    // Export datagrams and Azure's JSON documents are read whole.
    let body = match body {
        LogBody::Stream {
            mut head,
            mut stream,
        } if matches!(format, LogFormat::NetflowDatagrams | LogFormat::AzureJson) => {
            if stopped.is_none() {
                stopped = stream.read_rest(&mut head)?;
            }
            LogBody::Whole(ingest::Bytes::Owned(head))
        }
        b => b,
    };
    let summary = InputSummary {
        name: path.to_path_buf(),
        compression: Some(compression),
        container: Some(format.name()),
        file_size: Some(size),
        ..InputSummary::default()
    };
    Ok(Some((summary, body, format, stopped)))
}

fn read_chunk(
    input: u32,
    data: &[u8],
    plan: &ChunkPlan,
    cfg: &FlowsConfig,
    table: FlowTable,
) -> ChunkOut {
    let rec = Records::new(
        data,
        Span {
            base: 0,
            pos: plan.start,
            end: plan.end,
            at_input_end: true,
        },
        plan.state.clone(),
        input,
        1,
    );
    let mut out = read_records(rec, cfg, table);
    out.state = if plan.exact {
        None
    } else {
        Some(plan.state.clone())
    };
    out
}

fn read_block(input: u32, block: &StreamBlock, cfg: &FlowsConfig, table: FlowTable) -> ChunkOut {
    let rec = Records::new(
        &block.data,
        Span {
            base: block.base,
            pos: block.start,
            end: block.end,
            at_input_end: block.last,
        },
        block.state.clone(),
        input,
        1,
    );
    let mut out = read_records(rec, cfg, table);
    out.start = block.base + block.start as u64;
    out.bytes += block.start as u64;
    out.counts.meta += block.start as u64;
    out
}

/// Decodes one event into a table.
#[inline]
fn handle(
    ev: &Event<'_>,
    table: &mut FlowTable,
    dec: &mut Decoded,
    time: &mut Option<(Timestamp, Timestamp)>,
    exports: &mut Vec<Export>,
    netflow_port: Option<u16>,
    side: Option<(&mut clues::Gathered, bool)>,
) {
    match ev {
        Event::Frame(f) => {
            decode(f, dec);
            let packets = dec.packets();
            if let Some((g, content)) = side {
                for p in packets {
                    g.packet(p, f.data, f.ts, f.loc, content);
                }
            }
            for p in packets {
                if p.proto == Proto::UDP && p.ports_known && p.frag.is_none() {
                    let (a, b) = (p.payload.0 as usize, p.payload.1 as usize);
                    let Some(pl) = f.data.get(a..b) else {
                        continue;
                    };
                    let forced = netflow_port == Some(p.dport) && pl.len() >= 4;
                    if (forced || crate::records::netflow::looks_like_export(pl).is_some())
                        && pl.len() as u32 == p.payload_len
                    {
                        exports.push(Export {
                            at: f.loc,
                            captured: Some(f.ts),
                            exporter: Some((p.src, p.sport)),
                            bytes: pl.to_vec(),
                        });
                    }
                }
            }
            if let Some((reason, detail)) = dec.problem {
                let bytes = if packets.is_empty() {
                    f.data.len() as u64
                } else {
                    0
                };
                table.diag.add(reason, detail, bytes, f.loc);
            }
            table.add_frame(packets, dec.encap(), f.ts, f.loc);
            *time = Some(match *time {
                Some((a, b)) => (a.min(f.ts), b.max(f.ts)),
                None => (f.ts, f.ts),
            });
        }
        Event::Skip(s) => {
            if s.reason == SkipReason::UnknownInterface {
                table.frames += 1;
            }
            table.diag.add_n(s.reason, s.detail, 1, s.bytes, s.at);
        }
    }
}

/// Decodes every record of a walker into `table`.
fn read_records(mut rec: Records<'_>, cfg: &FlowsConfig, mut table: FlowTable) -> ChunkOut {
    let start = rec.next_offset();
    let mut dec = Decoded::with_max_ip_layers(cfg.max_ip_layers);
    let mut time: Option<(Timestamp, Timestamp)> = None;
    let mut exports = Vec::new();
    let port = cfg.logs.netflow_port;
    let mut gathered = clues::Gathered::default();
    while let Some(ev) = rec.next().as_ref() {
        let side = cfg.clues.then_some((&mut gathered, cfg.clue_content));
        handle(
            ev,
            &mut table,
            &mut dec,
            &mut time,
            &mut exports,
            port,
            side,
        );
    }
    let next = rec.next_offset();
    if let Some(p) = &cfg.progress {
        p.fetch_add(next - start, Ordering::Relaxed);
    }
    ChunkOut {
        frames: rec.next_frame() - 1,
        end_state: rec.state().clone(),
        table,
        error: None,
        start,
        next,
        state: None,
        bytes: next - start,
        counts: rec.counts(),
        time,
        exports,
        gathered,
    }
}

/// Reads one chunk of a plain file into `table`.
fn read_file(
    input: u32,
    file: &std::fs::File,
    len: u64,
    chunk: &FileChunk,
    cfg: &FlowsConfig,
    mut table: FlowTable,
    buf: &mut Vec<u8>,
) -> ChunkOut {
    let mut dec = Decoded::with_max_ip_layers(cfg.max_ip_layers);
    let mut time: Option<(Timestamp, Timestamp)> = None;
    let assumed = chunk.start.is_none().then(|| chunk.state.clone());
    let mut exports = Vec::new();
    let port = cfg.logs.netflow_port;
    let mut gathered = clues::Gathered::default();
    let res = ingest::walk_file_chunk(file, len, chunk, input, buf, |ev| {
        let side = cfg.clues.then_some((&mut gathered, cfg.clue_content));
        handle(
            ev,
            &mut table,
            &mut dec,
            &mut time,
            &mut exports,
            port,
            side,
        )
    });
    match res {
        Ok(end) => {
            if let Some(p) = &cfg.progress {
                p.fetch_add(end.next - end.start, Ordering::Relaxed);
            }
            ChunkOut {
                table,
                error: None,
                start: end.start,
                next: end.next,
                state: assumed,
                end_state: end.state,
                frames: end.frames,
                // The first chunk also covers the file header before its first record.
                bytes: end.next - if chunk.boundary == 0 { 0 } else { end.start },
                counts: {
                    let mut c = end.counts;
                    if chunk.boundary == 0 {
                        c.meta += end.start;
                    }
                    c
                },
                time,
                exports,
                gathered,
            }
        }
        Err(source) => ChunkOut {
            frames: table.frames,
            table,
            error: Some(source),
            start: chunk.start.unwrap_or(chunk.boundary),
            next: chunk.end,
            state: assumed,
            end_state: chunk.state.clone(),
            bytes: 0,
            counts: ingest::ByteCounts::default(),
            time,
            exports,
            gathered,
        },
    }
}

fn take_buf(pool: &std::sync::Mutex<Vec<Vec<u8>>>) -> Vec<u8> {
    pool.lock()
        .ok()
        .and_then(|mut v| v.pop())
        .unwrap_or_default()
}

fn give_buf(pool: &std::sync::Mutex<Vec<Vec<u8>>>, b: Vec<u8>) {
    if let Ok(mut v) = pool.lock() {
        v.push(b);
    }
}

/// Writes a run's flow table, encoding rows in parallel and merging spilled flows back in
/// order (the bytes are the same as [`report::write_flows`] writes for a run held in memory).
pub fn write_flows(
    run: &FlowRun,
    format: TableFormat,
    out: &mut dyn Write,
    threads: usize,
) -> Result<(), ReportError> {
    write_flows_enriched(run, format, out, threads, None)
}

/// [`write_flows`] with the `--enrich` columns: provider and country of both addresses,
/// looked up once per distinct address (the cache is shared by the encoding threads).
pub fn write_flows_enriched(
    run: &FlowRun,
    format: TableFormat,
    out: &mut dyn Write,
    threads: usize,
    enrich: Option<&AddrCache<'_>>,
) -> Result<(), ReportError> {
    const ROWS: usize = 8192;
    let names = report::input_names(run);
    let chains = &run.flows.chains;
    let pool = pool(threads).map_err(|e| ReportError::Io(std::io::Error::other(e.to_string())))?;
    let window = pool.current_num_threads() * 4 * ROWS;
    let mut b = Batches::new(run.merged()?, run.merged_records()?, window);
    if format == TableFormat::Parquet {
        #[cfg(feature = "parquet")]
        {
            let batches = std::iter::from_fn(|| match b.advance() {
                Ok(false) => None,
                Ok(true) => {
                    let items = b.items();
                    let chains = report::ChainTable::new(chains, b.merged.extra_chains());
                    Some(Ok(pool.install(|| {
                        items
                            .par_chunks(ROWS)
                            .flat_map_iter(|chunk| {
                                report::source_rows(chunk.iter().copied(), chains, &names, enrich)
                            })
                            .collect()
                    })))
                }
                Err(e) => Some(Err(e)),
            });
            return report::write_parquet_batches(batches, enrich.is_some(), out);
        }
        #[cfg(not(feature = "parquet"))]
        return Err(ReportError::NoParquet);
    }
    if format == TableFormat::Csv {
        out.write_all(&report::csv_header_for(enrich.is_some()))?;
    }
    // Encode a window of flows in parallel, write it, go on: memory stays bounded. The
    // row buffers are reused too (fresh ones of a few MiB each were new pages to fault in).
    let spare: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
    while b.advance()? {
        let items = b.items();
        let chains = report::ChainTable::new(chains, b.merged.extra_chains());
        let bufs: Vec<std::io::Result<Vec<u8>>> = pool.install(|| {
            items
                .par_chunks(ROWS)
                .map(|chunk| {
                    let mut buf = take_buf(&spare);
                    buf.clear();
                    buf.reserve(chunk.len() * 300);
                    let each = |row: &report::FlowRow| -> std::io::Result<()> {
                        match format {
                            TableFormat::Csv => report::csv_filled_row_into(row, &mut buf),
                            _ => {
                                serde_json::to_writer(&mut buf, row)?;
                                buf.push(b'\n');
                            }
                        }
                        Ok(())
                    };
                    report::each_row(chunk.iter().copied(), chains, &names, enrich, each)?;
                    Ok(buf)
                })
                .collect()
        });
        for b in bufs {
            let b = b?;
            out.write_all(&b)?;
            give_buf(&spare, b);
        }
    }
    out.flush()?;
    Ok(())
}

/// A window of flows in output order: the flows held in memory by reference, spilled ones
/// read back into `read` (16 bytes a flow instead of a copy of each; a window is 64 Ki flows
/// or more). Its vectors are kept from one window to the next.
#[derive(Default)]
struct Window<'a> {
    slots: Vec<Slot<'a>>,
    read: Vec<crate::flow::Flow>,
}

#[derive(Clone, Copy)]
enum Slot<'a> {
    Mem(&'a crate::flow::Flow),
    Read(usize),
}

impl<'a> Window<'a> {
    /// The next `n` flows (fewer at the end); spilled ones name chains of
    /// `merged.extra_chains()` until the next window starts.
    fn fill(&mut self, merged: &mut spill::Merged<'a>, n: usize) -> Result<(), ReportError> {
        use std::borrow::Cow;
        merged.new_window();
        self.slots.clear();
        self.read.clear();
        while self.slots.len() < n {
            match merged.next_flow()? {
                Some(Cow::Borrowed(f)) => self.slots.push(Slot::Mem(f)),
                Some(Cow::Owned(f)) => {
                    self.slots.push(Slot::Read(self.read.len()));
                    self.read.push(f);
                }
                None => break,
            }
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn flows(&self) -> impl Iterator<Item = &crate::flow::Flow> + '_ {
        self.slots.iter().map(|s| match *s {
            Slot::Mem(f) => f,
            Slot::Read(i) => &self.read[i],
        })
    }
}

/// The rows of a table in batches: a window of flows in output order (from memory and
/// spilled runs) and the records (from memory and set-aside runs) that come before each of
/// them, at most about `n` records a batch, so that neither flows nor records are all held
/// at once.
struct Batches<'a> {
    merged: Merged<'a>,
    recs: MergedRecords<'a>,
    flows: Window<'a>,
    taken: RecWindow<'a>,
    /// The batch covers flows `from..upto` of the window.
    from: usize,
    upto: usize,
    n: usize,
    started: bool,
}

impl<'a> Batches<'a> {
    fn new(merged: Merged<'a>, recs: MergedRecords<'a>, n: usize) -> Batches<'a> {
        Batches {
            merged,
            recs,
            flows: Window::default(),
            taken: RecWindow::default(),
            from: 0,
            upto: 0,
            n,
            started: false,
        }
    }

    /// Moves to the next batch; false when every row was given.
    fn advance(&mut self) -> Result<bool, ReportError> {
        let held = self.flows.slots.len();
        if !self.started || (held > 0 && self.upto == held) {
            self.flows.fill(&mut self.merged, self.n)?;
            self.started = true;
            self.upto = 0;
        }
        self.from = self.upto;
        self.upto = self
            .taken
            .fill(&self.flows, self.from, &mut self.recs, self.n)?;
        Ok(self.upto > self.from || !self.taken.slots.is_empty())
    }

    /// The batch's rows: its flows, each after the records that come before it.
    fn items<'s>(&'s self) -> Vec<report::RowSource<'s>> {
        use report::RowSource;
        let t = &self.taken;
        let mut items = Vec::with_capacity(self.upto - self.from + t.slots.len());
        let mut r = 0;
        let mut records_before = |k: usize, items: &mut Vec<RowSource<'s>>| {
            while r < t.slots.len() && t.before[r] == k {
                items.push(RowSource::Record(t.get(r)));
                r += 1;
            }
        };
        let batch = self.flows.flows().enumerate().skip(self.from);
        for (k, f) in batch.take(self.upto - self.from) {
            records_before(k, &mut items);
            items.push(RowSource::Flow(f));
        }
        records_before(self.upto, &mut items);
        items
    }
}

/// The records of a batch, in output order: those in memory by reference, those read back
/// from disk owned; each with the window's flow it comes before.
#[derive(Default)]
struct RecWindow<'a> {
    slots: Vec<RecSlot<'a>>,
    read: Vec<FlowRecord>,
    /// For each record, the index of the window's flow it comes before.
    before: Vec<usize>,
}

enum RecSlot<'a> {
    Mem(&'a FlowRecord),
    Read(usize),
}

impl<'a> RecWindow<'a> {
    fn get(&self, i: usize) -> &FlowRecord {
        match self.slots[i] {
            RecSlot::Mem(r) => r,
            RecSlot::Read(j) => &self.read[j],
        }
    }

    /// Takes the records that come before the window's flows from `from` on, up to `n` of
    /// them, and returns the index of the first flow not covered (the window's length when
    /// every flow is). With no flows left, takes the next `n` records.
    fn fill(
        &mut self,
        flows: &Window<'_>,
        from: usize,
        recs: &mut MergedRecords<'a>,
        n: usize,
    ) -> Result<usize, ReportError> {
        use report::{RowSource, row_order};
        self.slots.clear();
        self.read.clear();
        self.before.clear();
        if recs.is_done() {
            return Ok(flows.slots.len());
        }
        let mut k = from;
        for f in flows.flows().skip(from) {
            let at = row_order(&RowSource::Flow(f));
            while recs.peek_order().is_some_and(|o| o < at) {
                if self.slots.len() >= n {
                    return Ok(k);
                }
                self.take(recs, k)?;
            }
            k += 1;
        }
        if flows.is_empty() {
            while self.slots.len() < n && recs.peek_order().is_some() {
                self.take(recs, k)?;
            }
        }
        Ok(k)
    }

    fn take(&mut self, recs: &mut MergedRecords<'a>, before: usize) -> Result<(), ReportError> {
        use std::borrow::Cow;
        match recs.next_record()? {
            Some(Cow::Borrowed(r)) => self.slots.push(RecSlot::Mem(r)),
            Some(Cow::Owned(r)) => {
                self.slots.push(RecSlot::Read(self.read.len()));
                self.read.push(r);
            }
            None => return Ok(()),
        }
        self.before.push(before);
        Ok(())
    }
}

/// Attributes addresses in parallel, answers in input order.
pub fn attribute(
    enricher: &Enricher,
    ips: &[std::net::IpAddr],
    threads: usize,
) -> Result<Vec<Attribution>, Error> {
    let pool = pool(threads)?;
    Ok(pool.install(|| ips.par_iter().map(|&ip| enricher.lookup(ip)).collect()))
}

fn pool(threads: usize) -> Result<rayon::ThreadPool, Error> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("hoptrace-worker-{i}"))
        .build()
        .map_err(|e| Error::Threads {
            threads,
            reason: e.to_string(),
        })
}

/// Where a frame came from, for tools that report on single frames.
pub fn locator_text(inputs: &[InputSummary], loc: &Locator) -> String {
    let name = inputs.get(loc.input as usize).map_or_else(
        || format!("input {}", loc.input),
        |s| s.name.display().to_string(),
    );
    format!("{name}: frame {} (byte offset {})", loc.frame, loc.offset)
}

/// What [`trace`] looks for and where: every input is its own vantage point (read as its
/// own capture set), the query names the communication, the party discloses.
#[derive(Clone, Debug)]
pub struct TraceConfig {
    /// Evidence files, one vantage point each; a directory is one vantage point, its files
    /// (see [`input_files`]) read as one capture set, as a rotated capture is.
    pub inputs: Vec<PathBuf>,
    /// How each is read (threads, timeouts, flow-log options); its `inputs` are ignored.
    /// With `spill` set, each vantage point holds at most that many flows (and as many
    /// records) in memory while it is read, and the hop search reads back only what
    /// shares an address with the flows and records the query matches ([`focus`]): the
    /// same report as a run held whole. Without it every flow and record is held.
    pub read: FlowsConfig,
    /// The communication.
    pub query: crate::hops::Query,
    /// The disclosing party (ISO 3166-1 alpha-2).
    pub party: String,
    /// The requesting party.
    pub requesting: Option<String>,
    /// The reference of the preservation request being executed.
    pub request_ref: Option<String>,
    /// Add an Art. 29 preservation-request draft per foreign provider.
    pub art29: bool,
    /// When the report was generated, to write in it (the library never reads the clock).
    pub generated_at: Option<crate::hops::QueryTime>,
    /// What the report includes beyond the minimised default.
    pub include: report::Include,
}

/// What [`trace`] found.
#[derive(Debug)]
pub enum TraceOutcome {
    /// One communication: its disclosure.
    Found(Box<report::Disclosure>),
    /// Several communications match: the caller lists them instead of guessing.
    Ambiguous(Vec<crate::hops::Candidate>),
    /// Nothing matches. `untraceable` names the flow records that match the query but
    /// carry no 5-tuple a Community ID can be formed from (`FILE line N`), which no
    /// communication can be built from.
    NotFound {
        /// Where each such record is.
        untraceable: Vec<String>,
    },
}

/// An input of run `r` (number `n` in it) as the disclosure lists it, with its digest `d`.
fn input_out(r: &FlowRun, n: u32, i: &InputSummary, d: &str) -> report::InputOut {
    let capture = i.container.is_some() && i.unit() == "frame";
    report::InputOut {
        path: i.name.display().to_string(),
        format: i.container.unwrap_or("unreadable").to_string(),
        sha256: d.to_string(),
        unit: i.unit(),
        read: i.frames,
        bytes: i.bytes,
        byte_split: capture.then_some(report::ByteSplitOut {
            frames: i.counts.frames,
            headers: i.counts.meta,
            skipped: i.counts.skipped,
        }),
        error: i.error.clone(),
        not_read: r
            .flows
            .diag
            .listing(Some(n))
            .into_iter()
            .filter(|l| l.reason.is_problem())
            .map(
                |crate::model::Listed {
                     reason,
                     detail,
                     stat,
                 }| report::NotReadOut {
                    reason: reason.name(),
                    detail,
                    count: stat.count,
                    bytes: stat.bytes,
                    first: stat.first.frame,
                    first_offset: stat.first.offset,
                },
            )
            .collect(),
    }
}

/// The files an input names: a file alone, or a directory's files (not those whose name
/// starts with a dot, nor subdirectories) in name order with runs of digits compared as
/// numbers (`cap.pcap2` before `cap.pcap10`, as capture tools number rotated files): for
/// `trace` one vantage point, for `flows` part of the capture set. A directory that cannot
/// be listed, or holds no file, is given as it is, so that reading it fails with its name.
pub fn input_files(path: &std::path::Path) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(path) else {
        return vec![path.to_path_buf()];
    };
    let mut files: Vec<PathBuf> = dir
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort_by(|a, b| natural_order(&a.to_string_lossy(), &b.to_string_lossy()));
    if files.is_empty() {
        return vec![path.to_path_buf()];
    }
    files
}

/// Compares names with runs of digits as numbers (leading zeros aside), the rest as text.
fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn runs(s: &str) -> impl Iterator<Item = (bool, &str)> {
        let mut rest = s;
        std::iter::from_fn(move || {
            let digit = rest.chars().next()?.is_ascii_digit();
            let end = rest
                .find(|c: char| c.is_ascii_digit() != digit)
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(end);
            rest = tail;
            Some((digit, run))
        })
    }
    let (mut x, mut y) = (runs(a), runs(b));
    loop {
        let o = match (x.next(), y.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some((true, p)), Some((true, q))) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            (Some((_, p)), Some((_, q))) => p.cmp(q),
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
}

/// SHA-256 of a file's bytes, in hex.
fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    // Small enough that the bytes just copied in (and the page cache's lines they came
    // from) are still in the core's cache when they are hashed: with 1 MiB reads, hashing
    // the 0.9 GB benchmark capture took about 1.6 times the CPU (the copy's writes and
    // the hash's reads went out to L3; 32 to 128 KiB were alike, 256 KiB as slow as 1 MiB).
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Finds the communication the query names in the evidence, reconstructs its path,
/// attributes every hop and builds the Art. 30 disclosure. Returns the outcome and each
/// vantage point's run (for its summary).
pub fn trace(
    cfg: &TraceConfig,
    enricher: &Enricher,
) -> Result<(TraceOutcome, Vec<FlowRun>), Error> {
    if cfg.inputs.is_empty() {
        return Err(Error::NoInputs);
    }
    let vantage_points: Vec<Vec<PathBuf>> = cfg.inputs.iter().map(|p| input_files(p)).collect();
    // A pipe would be read by three readers at once (the digest, the mail check and the
    // flows), each taking part of it: a report of part of the evidence, or of none.
    for path in vantage_points.iter().flatten() {
        let piped = path.as_os_str() == "-"
            || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if piped {
            return Err(Error::NotAFile { path: path.clone() });
        }
    }
    // The inputs' digests are computed on a thread of their own while the flows are
    // built: the file is read from the page cache a second time, but not after the run.
    let (runs, digests) = std::thread::scope(|s| {
        let hasher = s.spawn(|| {
            vantage_points
                .iter()
                .flatten()
                .map(|p| sha256_file(p).unwrap_or_else(|e| format!("unreadable: {e}")))
                .collect::<Vec<String>>()
        });
        let mut runs = Vec::with_capacity(cfg.inputs.len());
        for files in &vantage_points {
            if let [path] = &files[..]
                && let Some(run) = clues::mail_file(path, 0)
            {
                runs.push(run);
                continue;
            }
            let mut c = cfg.read.clone();
            c.inputs = files.clone();
            c.clues = true;
            c.clue_content = cfg.include.urls || cfg.include.payload;
            match flows(&c) {
                Ok(r) => runs.push(r),
                Err(e) => return Err(e),
            }
        }
        let digests = hasher.join().unwrap_or_default();
        Ok((runs, digests))
    })?;
    let q = &cfg.query;
    // With spilling on, a run may hold part of its flows and records on disk: the hop
    // search reads what of them shares an address with what the query matches (the same
    // report, from far fewer flows on a large capture set; also when nothing was spilled,
    // so every such trace takes one road).
    let focused = match &cfg.read.spill {
        Some(sp) => Some(focus(&runs, q, &sp.dir)?),
        None => None,
    };
    let evidence: Vec<crate::hops::Evidence<'_>> = match &focused {
        Some(f) => f
            .iter()
            .enumerate()
            .map(|(i, f)| f.evidence(i as u32))
            .collect(),
        None => runs
            .iter()
            .enumerate()
            .map(|(i, r)| r.evidence(i as u32))
            .collect(),
    };
    let mut found = crate::hops::find(&evidence, q);
    let outcome = match found.len() {
        0 => TraceOutcome::NotFound {
            untraceable: crate::hops::untraceable(&evidence, q)
                .into_iter()
                .filter_map(|(v, i)| {
                    let run = runs.get(v as usize)?;
                    let at = evidence.get(v as usize)?.records.get(i)?.loc.at;
                    let input = run.inputs.get(at.input as usize)?;
                    Some(format!(
                        "{} {} {}",
                        input.name.display(),
                        input.unit(),
                        at.frame
                    ))
                })
                .collect(),
        },
        1 => {
            let c = found.remove(0);
            let d = disclose(cfg, &runs, &evidence, &c, &digests, enricher);
            TraceOutcome::Found(Box::new(d))
        }
        _ => TraceOutcome::Ambiguous(found),
    };
    drop(evidence);
    Ok((outcome, runs))
}

/// The disclosure of candidate `c` found in `evidence` (the runs' evidence, or what
/// [`focus`] kept of it), with the inputs' digests (in the runs' input order).
pub(crate) fn disclose(
    cfg: &TraceConfig,
    runs: &[FlowRun],
    evidence: &[crate::hops::Evidence<'_>],
    c: &crate::hops::Candidate,
    digests: &[String],
    enricher: &Enricher,
) -> report::Disclosure {
    let q = &cfg.query;
    let hops = crate::hops::path(c, evidence);
    let attributions: Vec<Option<Attribution>> = hops
        .iter()
        .map(|h| h.ip.map(|a| enricher.lookup(a.to_ip())))
        .collect();
    let vantage_inputs: Vec<Vec<String>> = runs.iter().map(report::input_names).collect();
    let inputs = runs
        .iter()
        .flat_map(|r| r.inputs.iter().enumerate().map(move |(n, i)| (r, n, i)))
        .zip(digests)
        .map(|((r, n, i), d)| input_out(r, n as u32, i, d))
        .collect();
    let parameters = report::ParametersOut {
        party: cfg.party.to_ascii_uppercase(),
        requesting: cfg.requesting.as_ref().map(|r| r.to_ascii_uppercase()),
        request_ref: cfg.request_ref.clone(),
        ip: q.ip.to_string(),
        port: q.port,
        peer: q.peer.map(|p| p.to_string()),
        proto: q.proto.map(|p| p.name().to_string()),
        at: q.at.as_ref().map(|t| t.original.clone()),
        at_utc: q.at.as_ref().map(|t| t.utc.rfc3339().to_string()),
        window_s: q.window as f64 / 1e9,
        community_id: q.community_id.clone(),
    };
    report::disclosure(report::DisclosureInput {
        parameters,
        candidate: c,
        hops: &hops,
        attributions: &attributions,
        enricher,
        vantage_inputs: &vantage_inputs,
        inputs,
        art29: cfg.art29,
        generated_at: cfg
            .generated_at
            .as_ref()
            .map(|t| t.utc.rfc3339().to_string()),
        include: cfg.include,
        smtp_dropped: runs.iter().map(|r| r.smtp_dropped).sum(),
        cut_headers: crate::hops::cut_headers(c, evidence),
        content: if cfg.include.urls || cfg.include.payload {
            crate::hops::content(c, evidence)
        } else {
            Vec::new()
        },
        others: if cfg.include.other_communications {
            crate::hops::others(c, evidence)
        } else {
            Vec::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::natural_order;

    #[test]
    fn rotated_capture_names_sort_by_their_numbers() {
        let mut names = vec![
            "cap.pcap10",
            "cap.pcap",
            "cap.pcap2",
            "cap.pcap1",
            "cap_00011_20260301.pcap",
            "cap_00002_20260301.pcap",
            "cap.pcap02",
        ];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(
            names,
            [
                "cap.pcap",
                "cap.pcap1",
                "cap.pcap02",
                "cap.pcap2",
                "cap.pcap10",
                "cap_00002_20260301.pcap",
                "cap_00011_20260301.pcap",
            ]
        );
    }
}
