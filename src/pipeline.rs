//! The pipeline: the only place that runs several stages, and the only user of rayon.
//!
//! A producer thread opens the inputs in order and cuts each into jobs: chunks of a
//! memory-mapped file (planned by ingest at record boundaries) or blocks of a decompressed
//! stream. Windows of jobs are decoded and counted in parallel, each into its own
//! [`FlowTable`]; the tables are then appended strictly in capture order. A chunk whose
//! assumed start (offset and reader state) does not match where the chunk before it really
//! ended is read again from the right place, so the result is exactly that of one
//! sequential pass and never depends on the thread count.

use crate::decode::{Decoded, decode};
use crate::flow::{FlowConfig, FlowSet, FlowTable};
use crate::ingest::{
    self, Body, ChunkPlan, Compression, Event, IngestError, Input, ReaderState, Records,
    StreamBlock, StreamSplitter,
};
use crate::model::{Locator, SkipReason, Timestamp};
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

/// Default size of the unit of parallel work: chunks of a file, blocks of a stream.
pub const DEFAULT_CHUNK_BYTES: usize = 32 * 1024 * 1024;

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
    /// the rare cases the README lists (fragments and timestamps far out of order).
    pub chunk_bytes: usize,
    /// Incremented with the bytes read, for progress display.
    pub progress: Option<Arc<AtomicU64>>,
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
    /// Frames read.
    pub frames: u64,
    /// Why the input could not be read, or stopped being readable.
    pub error: Option<String>,
    /// Earliest and latest frame time.
    pub time_range: Option<(Timestamp, Timestamp)>,
}

/// The result of [`flows`].
#[derive(Debug)]
pub struct FlowRun {
    /// The flows, in output order.
    pub flows: FlowSet,
    /// One summary per input, in input order.
    pub inputs: Vec<InputSummary>,
}

impl FlowRun {
    /// True when something could not be read: an input, a record or a header.
    pub fn skipped_input(&self) -> bool {
        self.flows.diag.has_problems() || self.inputs.iter().any(|i| i.error.is_some())
    }

    /// True when no input could be read at all.
    pub fn nothing_read(&self) -> bool {
        self.inputs.iter().all(|i| i.container.is_none())
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
    Failed {
        input: u32,
        error: IngestError,
    },
}

struct ChunkOut {
    table: FlowTable,
    start: u64,
    next: u64,
    state: Option<ReaderState>,
    end_state: ReaderState,
    frames: u64,
    bytes: u64,
    time: Option<(Timestamp, Timestamp)>,
}

/// Reads every input and groups its packets into flows.
///
/// Inputs that cannot be opened or stop being readable are listed in the summaries and the
/// rest is still read; `Err` is only for a run that cannot start.
pub fn flows(cfg: &FlowsConfig) -> Result<FlowRun, Error> {
    if cfg.inputs.is_empty() {
        return Err(Error::NoInputs);
    }
    let threads = if cfg.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("hoptrace-worker-{i}"))
        .build()
        .map_err(|e| Error::Threads {
            threads,
            reason: e.to_string(),
        })?;
    Ok(pool.install(|| run(cfg, threads)))
}

fn run(cfg: &FlowsConfig, threads: usize) -> FlowRun {
    let window = threads * 2;
    let (tx, rx) = mpsc::sync_channel::<Job>(window * 2);
    let inputs = cfg.inputs.clone();
    let chunk_bytes = cfg.chunk_bytes;
    let producer = std::thread::Builder::new()
        .name("hoptrace-reader".into())
        .spawn(move || produce(&inputs, chunk_bytes, &tx));
    let mut summaries: Vec<InputSummary> = cfg
        .inputs
        .iter()
        .map(|p| InputSummary {
            name: p.clone(),
            ..InputSummary::default()
        })
        .collect();
    let mut acc = FlowTable::new(cfg.flow);
    // Where the previous chunk of the current input ended, to check the next one against.
    let mut expect: Option<(u32, u64, ReaderState)> = None;
    let mut frames_before: Vec<u64> = vec![0; cfg.inputs.len()];
    let mut jobs = rx.into_iter();
    loop {
        let batch: Vec<Job> = jobs.by_ref().take(window).collect();
        if batch.is_empty() {
            break;
        }
        let outs: Vec<(Option<ChunkOut>, Job)> = batch
            .into_par_iter()
            .map(|job| {
                let out = match &job {
                    Job::Chunk {
                        input, data, plan, ..
                    } => Some(read_chunk(*input, data, plan, cfg)),
                    Job::Block { input, block } => Some(read_block(*input, block, cfg)),
                    Job::Opened { .. } | Job::Failed { .. } => None,
                };
                (out, job)
            })
            .collect();
        for (out, job) in outs {
            match (job, out) {
                (Job::Opened { input, summary }, _) => {
                    summaries[input as usize] = summary;
                    expect = None;
                }
                (Job::Failed { input, error }, _) => {
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
                    if let Some((ei, next, state)) = &expect
                        && *ei == input
                        && (out.start != *next || out.state.as_ref() != Some(state))
                    {
                        // The chunk guessed its start wrong: read it again from where the
                        // chunk before it really ended.
                        let fixed = ChunkPlan {
                            start: *next as usize,
                            end: plan.end,
                            state: state.clone(),
                            exact: true,
                        };
                        out = read_chunk(input, &data, &fixed, cfg);
                    }
                    if plan.exact {
                        // The file header before the first record.
                        out.bytes += exact_start as u64;
                    }
                    expect = Some((input, out.next, out.end_state.clone()));
                    let i = input as usize;
                    absorb(
                        &mut acc,
                        &mut summaries[i],
                        &mut frames_before[i],
                        input,
                        out,
                    );
                }
                (Job::Block { input, .. }, Some(out)) => {
                    let i = input as usize;
                    absorb(
                        &mut acc,
                        &mut summaries[i],
                        &mut frames_before[i],
                        input,
                        out,
                    );
                    expect = None;
                }
                _ => {}
            }
        }
    }
    if let Ok(p) = producer {
        let _ = p.join();
    }
    FlowRun {
        flows: acc.finish(),
        inputs: summaries,
    }
}

/// Appends one job's table to the run's table and updates the input's summary.
fn absorb(
    acc: &mut FlowTable,
    summary: &mut InputSummary,
    frames_before: &mut u64,
    input: u32,
    mut out: ChunkOut,
) {
    out.table.rebase_frames(input, *frames_before);
    *frames_before += out.frames;
    summary.frames += out.frames;
    summary.bytes += out.bytes;
    if let Some((a, b)) = out.time {
        summary.time_range = Some(match summary.time_range {
            Some((x, y)) => (x.min(a), y.max(b)),
            None => (a, b),
        });
    }
    acc.append(out.table);
}

/// Opens the inputs in order and cuts them into jobs.
fn produce(inputs: &[PathBuf], chunk_bytes: usize, tx: &mpsc::SyncSender<Job>) {
    for (i, path) in inputs.iter().enumerate() {
        let input = i as u32;
        let opened = match ingest::open(path) {
            Ok(o) => o,
            Err(error) => {
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
                let Ok(splitter) = StreamSplitter::new(stream, chunk_bytes) else {
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

fn read_chunk(input: u32, data: &[u8], plan: &ChunkPlan, cfg: &FlowsConfig) -> ChunkOut {
    let rec = Records::new(
        data,
        0,
        plan.start,
        plan.end,
        plan.state.clone(),
        input,
        1,
        true,
    );
    let mut out = read_records(rec, cfg);
    out.start = plan.start as u64;
    out.state = if plan.exact {
        None
    } else {
        Some(plan.state.clone())
    };
    out
}

fn read_block(input: u32, block: &StreamBlock, cfg: &FlowsConfig) -> ChunkOut {
    let rec = Records::new(
        &block.data,
        block.base,
        block.start,
        block.data.len(),
        block.state.clone(),
        input,
        1,
        block.last,
    );
    let mut out = read_records(rec, cfg);
    out.start = block.base + block.start as u64;
    out.bytes += block.start as u64;
    out
}

/// Decodes every record of a walker into a fresh flow table.
fn read_records(mut rec: Records<'_>, cfg: &FlowsConfig) -> ChunkOut {
    let start = rec.next_offset();
    let mut table = FlowTable::new(cfg.flow);
    let mut dec = Decoded::default();
    let mut time: Option<(Timestamp, Timestamp)> = None;
    for ev in rec.by_ref() {
        match ev {
            Event::Frame(f) => {
                decode(&f, &mut dec);
                let packets = dec.packets();
                if let Some((reason, detail)) = dec.problem {
                    let bytes = if packets.is_empty() {
                        f.data.len() as u64
                    } else {
                        0
                    };
                    table.diag.add(reason, detail, bytes, f.loc);
                }
                table.add_frame(packets, dec.encap(), f.ts, f.loc);
                time = Some(match time {
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
    let next = rec.next_offset();
    if let Some(p) = &cfg.progress {
        p.fetch_add(next - start, Ordering::Relaxed);
    }
    ChunkOut {
        frames: rec.next_frame() - 1,
        end_state: rec.state().clone(),
        table,
        start,
        next,
        state: None,
        bytes: next - start,
        time,
    }
}

/// Where a frame came from, for tools that report on single frames.
pub fn locator_text(inputs: &[InputSummary], loc: &Locator) -> String {
    let name = inputs.get(loc.input as usize).map_or_else(
        || format!("input {}", loc.input),
        |s| s.name.display().to_string(),
    );
    format!("{name}: frame {} (byte offset {})", loc.frame, loc.offset)
}
