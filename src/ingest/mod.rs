//! Ingest: input files → frames with locators, and counted skips.
//!
//! Owns the container formats (classic pcap in all its magic variants, pcapng) and the
//! compression layers (gzip, zstd, detected by magic), memory-maps plain files, and cuts
//! inputs into chunks that start at record boundaries so chunks can be read in parallel.
//! Knows nothing about what is inside a frame: no IP, no flows.

mod records;

pub use records::{
    ByteCounts, Event, Iface, Layout, MAX_BLOCK_LEN, MAX_CAPLEN, MAX_INTERFACES, NgState,
    PcapParams, RESYNC_BUFFER, RawFrame, ReaderState, Records, Skip, Span, TsConv, find_ng_block,
    find_pcap_record,
};

use crate::model::LinkType;
use pcap_parser::parse_pcap_header;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A problem with an input as a whole: it cannot be opened or is not a capture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The input.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The input is empty.
    #[error("{path}: empty input (0 bytes), not a capture")]
    Empty {
        /// The input.
        path: PathBuf,
    },
    /// The input's first bytes are no known capture or compression magic.
    #[error(
        "{path}: not a pcap or pcapng capture (gzip/zstd-compressed or not), nor a flow log \
         hoptrace knows (NetFlow/IPFIX export datagrams, Zeek conn.log, AWS VPC flow log) \
         (first bytes {magic}); check the file type with `file {path}`, or name the format \
         with --input-format"
    )]
    UnknownFormat {
        /// The input.
        path: PathBuf,
        /// The first bytes in hex.
        magic: String,
    },
    /// A capture format version this reader does not support.
    #[error("{path}: {what} at byte offset {offset}")]
    Unsupported {
        /// The input.
        path: PathBuf,
        /// What is unsupported.
        what: String,
        /// Where.
        offset: u64,
    },
    /// The input ends inside its file header.
    #[error("{path}: truncated file header ({len} bytes); the capture holds no records")]
    TruncatedHeader {
        /// The input.
        path: PathBuf,
        /// How many bytes there were.
        len: usize,
    },
    /// Reading the decompressed stream failed part way.
    #[error("{path}: {what} stream broken at decompressed byte offset {offset}: {source}")]
    Decompress {
        /// The input.
        path: PathBuf,
        /// gzip or zstd.
        what: &'static str,
        /// Decompressed bytes read before the failure.
        offset: u64,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },
    /// A compressed input passed the decompression ratio bound; the rest is not read.
    #[error(
        "{path}: {what} stream stopped at decompressed byte offset {offset}: {offset} bytes \
         from {compressed} compressed bytes passes {ratio} times (--max-decompression-ratio); \
         a decompression bomb, or evidence that compresses unusually well (raise the bound to \
         read it){}", .left.map(|l| format!("; {l} compressed bytes not read")).unwrap_or_default()
    )]
    RatioLimit {
        /// The input.
        path: PathBuf,
        /// gzip or zstd.
        what: &'static str,
        /// Decompressed bytes read.
        offset: u64,
        /// Compressed bytes read.
        compressed: u64,
        /// The bound.
        ratio: u64,
        /// Compressed bytes left unread, when the input's size is known.
        left: Option<u64>,
    },
}

/// Default bound on decompressed bytes per compressed byte
/// ([`FlowsConfig::max_decompression_ratio`](crate::pipeline::FlowsConfig)): gzip's
/// own format cannot pass about 1,032; packet captures and flow logs compress 3 to 30 times.
pub const DEFAULT_MAX_RATIO: u64 = 1000;
/// Decompressed bytes allowed whatever the ratio (a small file of zeros is no bomb).
pub const RATIO_FLOOR: u64 = 64 << 20;

/// Why a bounded decompressor stopped (the source of its `io::Error`).
#[derive(Debug)]
struct RatioExceeded {
    decompressed: u64,
    compressed: u64,
    ratio: u64,
}

impl std::fmt::Display for RatioExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes from {} compressed bytes passes {} times",
            self.decompressed, self.compressed, self.ratio
        )
    }
}

impl std::error::Error for RatioExceeded {}

/// Counts the bytes a decompressor takes from its input.
struct Counted<R> {
    inner: R,
    taken: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.taken
            .fetch_add(k as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(k)
    }
}

/// A decompressor that stops with [`RatioExceeded`] once its output passes `ratio` times
/// the compressed bytes taken (and [`RATIO_FLOOR`]).
struct Bounded<R> {
    inner: R,
    taken: std::sync::Arc<std::sync::atomic::AtomicU64>,
    out: u64,
    ratio: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let taken = self.taken.load(std::sync::atomic::Ordering::Relaxed);
        let limit = taken.saturating_mul(self.ratio).max(RATIO_FLOOR);
        if self.out >= limit {
            return Err(io::Error::other(RatioExceeded {
                decompressed: self.out,
                compressed: taken,
                ratio: self.ratio,
            }));
        }
        let room = usize::try_from(limit - self.out).unwrap_or(usize::MAX);
        let n = buf.len().min(room);
        let k = self.inner.read(&mut buf[..n])?;
        self.out += k as u64;
        Ok(k)
    }
}

/// Wraps a raw compressed input in its decompressor, bounded by `ratio` (0 = no bound).
fn decompressor(
    c: Compression,
    raw: Box<dyn Read + Send>,
    ratio: u64,
) -> io::Result<Box<dyn Read + Send>> {
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let raw: Box<dyn Read + Send> = if ratio > 0 {
        Box::new(Counted {
            inner: raw,
            taken: taken.clone(),
        })
    } else {
        raw
    };
    let dec: Box<dyn Read + Send> = match c {
        Compression::None => return Ok(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(raw)?),
    };
    Ok(if ratio > 0 {
        Box::new(Bounded {
            inner: dec,
            taken,
            out: 0,
            ratio,
        })
    } else {
        dec
    })
}

/// The error for a failure `source` after `offset` decompressed bytes of a compressed input.
fn stream_error(
    path: &Path,
    c: Compression,
    offset: u64,
    source: io::Error,
    file_size: Option<u64>,
) -> IngestError {
    if let Some(r) = source
        .get_ref()
        .and_then(|e| e.downcast_ref::<RatioExceeded>())
    {
        return IngestError::RatioLimit {
            path: path.to_path_buf(),
            what: c.name(),
            offset,
            compressed: r.compressed,
            ratio: r.ratio,
            left: file_size.map(|s| s.saturating_sub(r.compressed)),
        };
    }
    match c {
        Compression::None => IngestError::Io {
            path: path.to_path_buf(),
            source,
        },
        c => IngestError::Decompress {
            path: path.to_path_buf(),
            what: c.name(),
            offset,
            source,
        },
    }
}

/// The compression layer found around a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain file.
    None,
    /// gzip (one or more members).
    Gzip,
    /// Zstandard (one or more frames).
    Zstd,
}

impl Compression {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// The capture container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// Classic pcap.
    Pcap(PcapParams),
    /// pcapng.
    PcapNg,
}

/// How plain (uncompressed) capture files are read.
///
/// Positional reads into a recycled buffer are the default: measured on this project's
/// benchmark capture, mapping a 1.3 GB file costs about a fifth of the run's CPU time in
/// page faults (one fault per few pages, plus unmapping), while copying the same bytes from
/// the page cache costs about half of that. Decoding is zero-copy in both modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// Read each chunk with `pread` into a reused buffer (default).
    #[default]
    Read,
    /// Memory-map the file.
    Mmap,
}

/// Where an input's bytes come from.
pub enum Body {
    /// A plain file read chunk by chunk with positional reads.
    File {
        /// The open file.
        file: std::sync::Arc<File>,
        /// Its length.
        len: u64,
    },
    /// The whole input is addressable: a memory-mapped file (or an in-memory buffer).
    Bytes(Bytes),
    /// The input is read once, front to back (decompressed or standard input); `prefix`
    /// holds bytes already read while sniffing.
    Stream {
        /// Bytes read before the reader's current position.
        prefix: Vec<u8>,
        /// The rest.
        reader: Box<dyn Read + Send>,
    },
}

/// Bytes of a whole input.
pub enum Bytes {
    /// A read-only memory map.
    Mapped(memmap2::Mmap),
    /// An owned buffer.
    Owned(Vec<u8>),
}

impl Bytes {
    /// Unmaps the pages of `range` after they were read, so the process's resident memory
    /// does not grow with the size of the input. The file's pages stay in the page cache;
    /// reading them again maps them again. Returns where the released pages end (the
    /// range's end rounded down to a page): a caller releasing a growing prefix starts its
    /// next range there, releasing each page once.
    #[allow(unsafe_code)]
    pub fn release(&self, range: std::ops::Range<usize>) -> usize {
        // Whole pages inside the range only: a neighbouring chunk may still read the pages
        // it shares with this one.
        let page = 4096;
        let end = (range.end / page) * page;
        #[cfg(unix)]
        if let Bytes::Mapped(m) = self {
            let start = range.start.div_ceil(page) * page;
            if end > start {
                // SAFETY: the map is a private, read-only file mapping: MADV_DONTNEED
                // drops the page table entries and later reads fault the same file
                // contents back in. No reference observes the change: the bytes read
                // are identical.
                let _ = unsafe {
                    m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
                };
            }
        }
        #[cfg(not(unix))]
        let _ = range;
        end
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// An opened input: its name, layers and bytes, ready to be cut into chunks.
pub struct Input {
    /// The name given on the command line (`-` for standard input).
    pub name: PathBuf,
    /// Compression layer.
    pub compression: Compression,
    /// Container format.
    pub container: Container,
    /// The bytes (decompressed for streams).
    pub body: Body,
    /// Size of the input file on disk, when known.
    pub file_size: Option<u64>,
}

/// Opens an input: a path, or `-` for standard input. Plain files are read chunk by chunk;
/// compressed files and standard input go through a streaming decoder.
pub fn open(path: &Path) -> Result<Input, IngestError> {
    open_with(path, ReadMode::default())
}

/// Opens an input, reading plain files the way `mode` says.
pub fn open_with(path: &Path, mode: ReadMode) -> Result<Input, IngestError> {
    open_bounded(path, mode, DEFAULT_MAX_RATIO)
}

/// Opens an input, reading plain files the way `mode` says and stopping a compressed one
/// whose decompressed bytes pass `max_ratio` times the compressed bytes read (and
/// [`RATIO_FLOOR`]); 0 = no bound.
pub fn open_bounded(path: &Path, mode: ReadMode, max_ratio: u64) -> Result<Input, IngestError> {
    let io_err = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.as_os_str() == "-" {
        return open_stream(path, Box::new(io::stdin()), None, max_ratio);
    }
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        // A pipe or a device (a shell's `<(zcat capture.pcap.gz)` is a pipe): its length
        // says nothing, and it cannot be mapped or read at offsets. Read as a stream, as
        // standard input is; it was refused as empty.
        return open_stream(path, Box::new(file), None, max_ratio);
    }
    let size = meta.len();
    if size == 0 {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mode = if cfg!(unix) { mode } else { ReadMode::Mmap };
    if mode == ReadMode::Mmap {
        let bytes = map_file(&file).map_err(io_err)?;
        return match Compression::sniff(&bytes) {
            Compression::None => {
                let container = sniff_container(path, &bytes)?;
                Ok(Input {
                    name: path.to_path_buf(),
                    compression: Compression::None,
                    container,
                    body: Body::Bytes(bytes),
                    file_size: Some(size),
                })
            }
            _ => open_stream(
                path,
                Box::new(io::Cursor::new(bytes)),
                Some(size),
                max_ratio,
            ),
        };
    }
    let mut head = vec![0u8; 64.min(size as usize)];
    read_at(&file, 0, &mut head).map_err(io_err)?;
    match Compression::sniff(&head) {
        Compression::None => {
            let container = sniff_container(path, &head)?;
            Ok(Input {
                name: path.to_path_buf(),
                compression: Compression::None,
                container,
                body: Body::File {
                    file: std::sync::Arc::new(file),
                    len: size,
                },
                file_size: Some(size),
            })
        }
        _ => open_stream(
            path,
            Box::new(io::BufReader::with_capacity(1 << 20, file)),
            Some(size),
            max_ratio,
        ),
    }
}

/// Fills `buf` from `offset` (short only at the end of the file).
fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
    #[cfg(not(unix))]
    {
        let _ = (file, offset, buf);
        Err(io::Error::other("positional reads need a Unix system"))
    }
}

/// A chunk of a plain file, read with positional reads by one worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChunk {
    /// Where the chunk's byte range begins.
    pub boundary: u64,
    /// Records starting at or after this offset belong to the next chunk.
    pub end: u64,
    /// The first record's offset when known exactly; otherwise the worker finds it by
    /// resynchronisation from `boundary`.
    pub start: Option<u64>,
    /// The reader state assumed at the first record.
    pub state: ReaderState,
}

/// How much of a pcapng file's head is first read to learn the interfaces later chunks
/// assume; the read grows (doubling) to [`CHUNK_MARGIN_MAX`] until it holds a packet.
const CHUNK_MARGIN: usize = 1 << 20;
/// The most of a pcapng file's head read to find its first packet; a file whose first
/// packet lies further on is read in one piece (on one thread).
const CHUNK_MARGIN_MAX: usize = 64 << 20;

/// Cuts a plain file into chunks of `chunk_bytes` without reading it (but for the head of a
/// pcapng file, to learn the interfaces later chunks assume). The cut depends only on the
/// file length and `chunk_bytes`, never on the thread count.
pub fn plan_file_chunks(
    file: &File,
    len: u64,
    container: &Container,
    chunk_bytes: usize,
) -> io::Result<Vec<FileChunk>> {
    let chunk = chunk_bytes.max(1) as u64;
    let start0 = (container.data_start() as u64).min(len);
    let mut plans = vec![FileChunk {
        boundary: 0,
        end: len,
        start: Some(start0),
        state: container.initial_state(),
    }];
    if len - start0 <= chunk {
        return Ok(plans);
    }
    let later_state = match container {
        Container::Pcap(p) => ReaderState::from(*p),
        Container::PcapNg => match pcapng_head_state(file, len, container)? {
            Some(state) => state,
            // No packet in the head: read the file in one piece.
            None => return Ok(plans),
        },
    };
    let mut boundary = start0 + chunk;
    while boundary < len {
        if let Some(prev) = plans.last_mut() {
            prev.end = boundary;
        }
        plans.push(FileChunk {
            boundary,
            end: len,
            start: None,
            state: later_state.clone(),
        });
        boundary += chunk;
    }
    Ok(plans)
}

/// The reader state at a pcapng file's first packet (its section and interfaces), read from
/// the file's head: 1 MiB, then twice as much until a packet is met (a head of many
/// interfaces, or a large block of decryption secrets or name resolution records), up to
/// [`CHUNK_MARGIN_MAX`]. `None` when no packet is met there.
fn pcapng_head_state(
    file: &File,
    len: u64,
    container: &Container,
) -> io::Result<Option<ReaderState>> {
    let mut size = CHUNK_MARGIN;
    let mut head = Vec::new();
    loop {
        // Only what the last read did not hold is read.
        let have = head.len();
        head.resize((len as usize).min(size), 0);
        let want = head.len() - have;
        let n = read_at(file, have as u64, &mut head[have..])?;
        head.truncate(have + n);
        let whole = head.len() as u64 == len;
        let mut r = Records::new(
            &head,
            Span {
                base: 0,
                pos: 0,
                end: head.len(),
                at_input_end: whole,
            },
            container.initial_state(),
            0,
            1,
        );
        if r.by_ref().any(|ev| matches!(ev, Event::Frame(_))) {
            return Ok(Some(r.state().clone()));
        }
        if whole || n < want || size >= CHUNK_MARGIN_MAX {
            return Ok(None);
        }
        size *= 2;
    }
}

/// Where a chunk's walk started and ended.
#[derive(Clone, Debug)]
pub struct ChunkEnd {
    /// Offset of the first record read.
    pub start: u64,
    /// Offset of the first record not read (the next chunk should start there).
    pub next: u64,
    /// Reader state at `next`.
    pub state: ReaderState,
    /// Frames read.
    pub frames: u64,
    /// Where the bytes read went.
    pub counts: ByteCounts,
}

/// Size of the window a chunk is read through: small enough that bytes are still in cache
/// when they are decoded right after the copy.
const WINDOW: usize = 1 << 20;

/// Reads one chunk of a plain file through a window buffer and walks its records, handing
/// every event to `on_event`. Frames are numbered from 1 within the chunk. `buf` is reused
/// between calls (it is never shrunk or cleared, only overwritten).
pub fn walk_file_chunk(
    file: &File,
    len: u64,
    chunk: &FileChunk,
    input: u32,
    buf: &mut Vec<u8>,
    mut on_event: impl FnMut(&Event<'_>),
) -> io::Result<ChunkEnd> {
    if buf.len() < WINDOW {
        buf.resize(WINDOW, 0);
    }
    // `buf[..valid]` holds the file's bytes from `base`.
    let mut base = chunk.boundary;
    let mut valid = 0usize;
    let refill = |buf: &mut Vec<u8>, base: u64, valid: &mut usize| -> io::Result<()> {
        let room = buf.len() - *valid;
        let left = (len - (base + *valid as u64)) as usize;
        let n = read_at(
            file,
            base + *valid as u64,
            &mut buf[*valid..*valid + room.min(left)],
        )?;
        *valid += n;
        Ok(())
    };
    refill(buf, base, &mut valid)?;
    let mut pos = match chunk.start {
        Some(s) => (s - base) as usize,
        None => loop {
            let found = match &chunk.state.layout {
                Layout::Pcap(p) => find_pcap_record(&buf[..valid], 0, p),
                Layout::Ng(s) => find_ng_block(&buf[..valid], 0, s.big_endian),
            };
            match found {
                Some(p) => break p,
                None if base + valid as u64 >= len => break valid,
                // Nothing trusted before the chunk's end, nor as far past it as a chain of
                // records can reach: no record the chunk can trust starts in it (the chunk
                // before reads on through it, and this one is read again from where that
                // one ended). The window grew to the end of the file here, in every chunk
                // of a long unreadable stretch: memory as large as the file, and each
                // chunk searched the rest of it.
                None if base + valid as u64 >= chunk.end.saturating_add(RESYNC_BUFFER as u64) => {
                    break (chunk.end - base) as usize;
                }
                None => {
                    // Nothing trusted yet: look further on (the window grows).
                    let grown = buf.len() * 2;
                    buf.resize(grown, 0);
                    refill(buf, base, &mut valid)?;
                }
            }
        },
    };
    let start = base + pos as u64;
    let mut state = chunk.state.clone();
    let mut frame = 1;
    let mut counts = ByteCounts::default();
    loop {
        let at_end = base + valid as u64 >= len;
        let end_rel = chunk.end.saturating_sub(base) as usize;
        let mut w = Records::new(
            &buf[..valid],
            Span {
                base,
                pos,
                end: end_rel,
                at_input_end: at_end,
            },
            state,
            input,
            frame,
        );
        // Each event is lent where the walker wrote it: moved into a loop variable, it was
        // copied wide over the narrow stores that built it, a stall on every frame.
        while let Some(ev) = w.next().as_ref() {
            on_event(ev);
        }
        let stopped = w.pos();
        counts += w.counts();
        frame = w.next_frame();
        state = w.state().clone();
        // A search for where records resume after a corrupt record goes on past the
        // chunk's end, to where they do (the chunk after it starts there, if it guessed
        // right).
        if (stopped >= end_rel && state.resync_from.is_none()) || at_end {
            pos = stopped;
            break;
        }
        // The next record continues past the window, or where records resume after a
        // corrupt one is decided by bytes past it: slide the window to it.
        let progressed = stopped > 0;
        buf.copy_within(stopped..valid, 0);
        valid -= stopped;
        base += stopped as u64;
        pos = 0;
        if !progressed || valid == buf.len() {
            // One record larger than the window (or a resumption searched past it).
            let grown = buf.len() * 2;
            buf.resize(grown, 0);
        }
        refill(buf, base, &mut valid)?;
    }
    Ok(ChunkEnd {
        start,
        next: base + pos as u64,
        state,
        frames: frame - 1,
        counts,
    })
}

/// Opens an in-memory capture (possibly compressed), as case tools and tests hand them over.
pub fn open_bytes(name: &Path, data: Vec<u8>) -> Result<Input, IngestError> {
    if data.is_empty() {
        return Err(IngestError::Empty {
            path: name.to_path_buf(),
        });
    }
    let size = data.len() as u64;
    match Compression::sniff(&data) {
        Compression::None => {
            let container = sniff_container(name, &data)?;
            Ok(Input {
                name: name.to_path_buf(),
                compression: Compression::None,
                container,
                body: Body::Bytes(Bytes::Owned(data)),
                file_size: Some(size),
            })
        }
        _ => open_stream(
            name,
            Box::new(io::Cursor::new(data)),
            Some(size),
            DEFAULT_MAX_RATIO,
        ),
    }
}

/// A plain (uncompressed) non-capture input, mapped whole by [`open_log_input`].
pub struct Whole {
    /// Its compression layer (none).
    pub compression: Compression,
    /// The bytes.
    pub data: Bytes,
    /// Size on disk.
    pub size: u64,
}

/// A non-capture input opened by [`open_log_input`].
pub enum LogInput {
    /// A plain file, memory-mapped whole.
    Whole(Whole),
    /// A compressed file, decompressed as it is read.
    Stream(LogStream),
}

/// A compressed non-capture input (a flow log) decompressed as it is read, so that memory
/// holds the block being cut into pieces rather than the whole log.
pub struct LogStream {
    path: PathBuf,
    /// Its compression layer.
    pub compression: Compression,
    /// Size on disk.
    pub size: u64,
    /// `None` once the stream ended or broke.
    reader: Option<Box<dyn Read + Send>>,
    /// Bytes decompressed so far.
    read: u64,
}

impl LogStream {
    /// Appends decompressed bytes to `buf` until it holds `want` bytes: `Ok(true)` while more
    /// may follow, `Ok(false)` once the stream ended. A stream that breaks, or passes the
    /// ratio bound, keeps what came before it in `buf` and gives the reason, once; it has
    /// ended after that.
    pub fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> Result<bool, IngestError> {
        let Some(r) = self.reader.as_mut() else {
            return Ok(false);
        };
        // Read in pieces that end at multiples of PIECE_BYTES of the decompressed stream,
        // as a capture's (StreamSplitter::fill): what a break keeps does not depend on
        // `want`.
        let mut res = Ok(true);
        while buf.len() < want {
            let len = buf.len();
            let ask = PIECE_BYTES - (self.read % PIECE_BYTES as u64) as usize;
            buf.resize(len + ask, 0);
            match r.read(&mut buf[len..]) {
                Ok(0) => {
                    res = Ok(false);
                    buf.truncate(len);
                    break;
                }
                Ok(k) => {
                    buf.truncate(len + k);
                    self.read += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(len),
                Err(e) => {
                    res = Err(e);
                    buf.truncate(len);
                    break;
                }
            }
        }
        match res {
            Ok(false) => {
                self.reader = None;
                Ok(false)
            }
            Ok(true) => Ok(true),
            Err(source) => {
                self.reader = None;
                let c = self.compression;
                Err(stream_error(
                    &self.path,
                    c,
                    self.read,
                    source,
                    Some(self.size),
                ))
            }
        }
    }

    /// Appends the rest of the stream to `buf`, with the reason it stopped early if it did;
    /// an error when nothing was decompressed at all (or the stream holds nothing).
    pub fn read_rest(&mut self, buf: &mut Vec<u8>) -> Result<Option<IngestError>, IngestError> {
        let stopped = match self.fill(buf, usize::MAX) {
            Ok(_) => None,
            Err(e) if buf.is_empty() => return Err(e),
            Err(e) => Some(e),
        };
        if buf.is_empty() {
            return Err(IngestError::Empty {
                path: self.path.clone(),
            });
        }
        Ok(stopped)
    }
}

/// Opens a (non-capture) input, decompressing gzip or zstd by its magic: flow logs and
/// files of export datagrams. Plain files are memory-mapped whole; compressed ones are
/// decompressed as they are read ([`LogStream::fill`]), up to `max_ratio` times their
/// compressed size (and [`RATIO_FLOOR`]; 0 = no bound).
pub fn open_log_input(path: &Path, max_ratio: u64) -> Result<LogInput, IngestError> {
    let io_err = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        // Reading it as a capture took its first bytes already (a pipe is read once).
        return Err(IngestError::Unsupported {
            path: path.to_path_buf(),
            what: "not a capture; flow logs and export files are read from regular files \
                   only, and this is a pipe or a device (save it to a file and read that)"
                .to_string(),
            offset: 0,
        });
    }
    let size = meta.len();
    if size == 0 {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
        });
    }
    let raw = map_file(&file).map_err(io_err)?;
    let compression = Compression::sniff(&raw);
    if compression == Compression::None {
        return Ok(LogInput::Whole(Whole {
            compression,
            data: raw,
            size,
        }));
    }
    let reader = decompressor(compression, Box::new(io::Cursor::new(raw)), max_ratio)
        .map_err(|source| stream_error(path, compression, 0, source, Some(size)))?;
    Ok(LogInput::Stream(LogStream {
        path: path.to_path_buf(),
        compression,
        size,
        reader: Some(reader),
        read: 0,
    }))
}

#[allow(unsafe_code)]
pub(crate) fn map_file(file: &File) -> io::Result<Bytes> {
    // SAFETY: the map is read-only and private to this process. Evidence files are not
    // expected to change while they are read; if another process truncates the file, reads
    // past the new end raise SIGBUS, which is the documented risk of reading through mmap
    // and the reason inputs should be working copies, not live capture files.
    let map = unsafe { memmap2::MmapOptions::new().map(file)? };
    #[cfg(unix)]
    {
        // Sequential access with read-ahead; failure only costs speed.
        let _ = map.advise(memmap2::Advice::Sequential);
    }
    Ok(Bytes::Mapped(map))
}

impl Compression {
    fn sniff(b: &[u8]) -> Compression {
        match b {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            _ if starts_zstd(b) => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// `b` starts as zstd data does: with a frame, or with a skippable frame (`pzstd` writes
/// one before each frame, for its parallel decompression; the decoder passes over them).
pub fn starts_zstd(b: &[u8]) -> bool {
    matches!(
        b,
        [0x28, 0xb5, 0x2f, 0xfd, ..] | [0x50..=0x5f, 0x2a, 0x4d, 0x18, ..]
    )
}

fn open_stream(
    path: &Path,
    mut raw: Box<dyn Read + Send>,
    file_size: Option<u64>,
    max_ratio: u64,
) -> Result<Input, IngestError> {
    let mut head = Vec::with_capacity(4);
    read_up_to(&mut raw, &mut head, 4).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let compression = Compression::sniff(&head);
    let raw: Box<dyn Read + Send> = Box::new(io::Cursor::new(head).chain(raw));
    let mut reader =
        decompressor(compression, raw, max_ratio).map_err(|source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let mut prefix = Vec::with_capacity(64);
    read_up_to(&mut reader, &mut prefix, 28)
        .map_err(|source| stream_error(path, compression, 0, source, file_size))?;
    if prefix.is_empty() {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
        });
    }
    let container = sniff_container(path, &prefix)?;
    Ok(Input {
        name: path.to_path_buf(),
        compression,
        container,
        body: Body::Stream { prefix, reader },
        file_size,
    })
}

/// Reads until `buf` holds `n` bytes or the reader ends.
fn read_up_to(r: &mut dyn Read, buf: &mut Vec<u8>, n: usize) -> io::Result<()> {
    let mut tmp = [0u8; 64];
    while buf.len() < n {
        let want = (n - buf.len()).min(tmp.len());
        match r.read(&mut tmp[..want]) {
            Ok(0) => break,
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Identifies the container from its first bytes and validates the file header.
fn sniff_container(path: &Path, b: &[u8]) -> Result<Container, IngestError> {
    let magic = || b.iter().take(8).map(|x| format!("{x:02x}")).collect();
    if b.len() >= 4 && b[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        if b.len() < 28 {
            return Err(IngestError::TruncatedHeader {
                path: path.to_path_buf(),
                len: b.len(),
            });
        }
        let (major, minor) = match &b[8..12] {
            [0x1a, 0x2b, 0x3c, 0x4d] => (
                u16::from_be_bytes([b[12], b[13]]),
                u16::from_be_bytes([b[14], b[15]]),
            ),
            [0x4d, 0x3c, 0x2b, 0x1a] => (
                u16::from_le_bytes([b[12], b[13]]),
                u16::from_le_bytes([b[14], b[15]]),
            ),
            _ => {
                return Err(IngestError::Unsupported {
                    path: path.to_path_buf(),
                    what: "pcapng section header with an unknown byte-order magic".into(),
                    offset: 8,
                });
            }
        };
        if major != 1 {
            return Err(IngestError::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "pcapng section header version {major}.{minor} is not supported (only 1.x)"
                ),
                offset: 12,
            });
        }
        return Ok(Container::PcapNg);
    }
    let is_pcap_magic = b.len() >= 4
        && matches!(
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1
        );
    if !is_pcap_magic {
        return Err(IngestError::UnknownFormat {
            path: path.to_path_buf(),
            magic: magic(),
        });
    }
    if b.len() < 24 {
        return Err(IngestError::TruncatedHeader {
            path: path.to_path_buf(),
            len: b.len(),
        });
    }
    let raw_magic = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    // pcap-parser does not know the big-endian spelling of the "modified" magic; read that
    // header with the little-endian magic and swap the fields ourselves.
    let (hdr, modified_be) = if raw_magic == 0x34cd_b2a1 {
        let mut le = b[..24].to_vec();
        le[..4].copy_from_slice(&[0x34, 0xcd, 0xb2, 0xa1]);
        for f in [4..6, 6..8] {
            le[f].reverse();
        }
        for f in [8..12, 12..16, 16..20, 20..24] {
            le[f].reverse();
        }
        let (_, h) = parse_pcap_header(&le).map_err(|_| IngestError::UnknownFormat {
            path: path.to_path_buf(),
            magic: magic(),
        })?;
        (h, true)
    } else {
        let (_, h) = parse_pcap_header(&b[..24]).map_err(|_| IngestError::UnknownFormat {
            path: path.to_path_buf(),
            magic: magic(),
        })?;
        (h, false)
    };
    if hdr.version_major != 2 {
        return Err(IngestError::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "pcap version {}.{} is not supported (only 2.x)",
                hdr.version_major, hdr.version_minor
            ),
            offset: 4,
        });
    }
    Ok(Container::Pcap(PcapParams {
        big_endian: hdr.is_bigendian() || modified_be,
        nanos: hdr.is_nanosecond_precision(),
        modified: hdr.is_modified_format(),
        // The upper bits of the link-type field carry FCS information (pcap-ng draft); the
        // link type itself is the low 16 bits.
        link: LinkType((hdr.network.0 as u32) & 0xffff),
        snaplen: hdr.snaplen,
    }))
}

impl Container {
    /// Byte offset of the first record.
    pub fn data_start(&self) -> usize {
        match self {
            Container::Pcap(_) => 24,
            Container::PcapNg => 0,
        }
    }

    /// The reader state at the first record.
    pub fn initial_state(&self) -> ReaderState {
        match self {
            Container::Pcap(p) => ReaderState::from(*p),
            Container::PcapNg => ReaderState::from(NgState::default()),
        }
    }

    /// Short name for summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Container::Pcap(p) if p.modified => "pcap (modified)",
            Container::Pcap(p) if p.nanos => "pcap (ns)",
            Container::Pcap(_) => "pcap",
            Container::PcapNg => "pcapng",
        }
    }
}

/// A byte range of an addressable input to read as one unit of parallel work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkPlan {
    /// First byte of the first record (found by resynchronisation for all but the first).
    pub start: usize,
    /// Records starting at or after this offset belong to the next chunk.
    pub end: usize,
    /// The reader state assumed at `start`; checked against the previous chunk's end state.
    pub state: ReaderState,
    /// True when `start` and `state` are known exactly (the first chunk).
    pub exact: bool,
}

/// Cuts an addressable input into chunks of about `chunk_bytes`, each starting at a record
/// boundary found by resynchronisation. The cut depends only on the bytes and `chunk_bytes`,
/// never on the thread count, so results are the same however many threads read them.
///
/// Later chunks assume the reader state in force at the first packet of the file (one
/// section, its leading interfaces); the pipeline checks each assumption against the end
/// state of the chunk before and reads a chunk again from the right place when it was wrong.
pub fn plan_chunks(data: &[u8], container: &Container, chunk_bytes: usize) -> Vec<ChunkPlan> {
    let start0 = container.data_start().min(data.len());
    let mut plans = vec![ChunkPlan {
        start: start0,
        end: data.len(),
        state: container.initial_state(),
        exact: true,
    }];
    let chunk_bytes = chunk_bytes.max(1);
    if data.len() - start0 <= chunk_bytes {
        return plans;
    }
    let later_state = match container {
        Container::Pcap(p) => ReaderState::from(*p),
        Container::PcapNg => {
            let mut r = Records::new(
                data,
                Span {
                    base: 0,
                    pos: 0,
                    end: data.len(),
                    at_input_end: true,
                },
                container.initial_state(),
                0,
                1,
            );
            loop {
                match r.next() {
                    Some(Event::Frame(_)) | None => break,
                    Some(Event::Skip(_)) => {}
                }
            }
            r.state().clone()
        }
    };
    let mut boundary = start0 + chunk_bytes;
    while boundary < data.len() {
        let found = match &later_state.layout {
            Layout::Pcap(p) => find_pcap_record(data, boundary, p),
            Layout::Ng(s) => find_ng_block(data, boundary, s.big_endian),
        };
        let start = found.unwrap_or(data.len());
        if start >= data.len() {
            break;
        }
        if let Some(prev) = plans.last_mut() {
            prev.end = start;
        }
        plans.push(ChunkPlan {
            start,
            end: data.len(),
            state: later_state.clone(),
            exact: false,
        });
        boundary = start.max(boundary) + chunk_bytes;
    }
    plans
}

/// A block of a streamed input, cut at a record boundary by [`StreamSplitter`]. Its buffer
/// goes back to the splitter that cut it when it is dropped, for a later block.
pub struct StreamBlock {
    /// The bytes: whole records up to `end` (except at the end of the input), then what was
    /// read past them (the next block's first bytes).
    pub data: Vec<u8>,
    /// Offset of `data[0]` within the (decompressed) input.
    pub base: u64,
    /// Offset within `data` of the first record (after the file header in the first block).
    pub start: usize,
    /// Records starting here or after are the next block's. The bytes after it decide, as
    /// they did when the block was cut, where records resume after a corrupt one.
    pub end: usize,
    /// Reader state at `data[start]`.
    pub state: ReaderState,
    /// True when this block ends the input.
    pub last: bool,
    pool: Option<BlockPool>,
}

impl Drop for StreamBlock {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool
            && let Ok(mut v) = pool.lock()
            && v.len() < POOLED_BLOCKS
        {
            v.push(std::mem::take(&mut self.data));
        }
    }
}

/// Buffers of blocks read and dropped, kept for the next blocks: a block's pages are
/// written once, not faulted in and zeroed again for every block.
type BlockPool = std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// How many dropped block buffers a splitter keeps.
const POOLED_BLOCKS: usize = 4;

/// How much a splitter asks its reader for at a time. The records read are walked right
/// after each piece, while it is in cache: walking a whole block after it was read took as
/// long as decompressing it (a cache miss per record header).
const PIECE_BYTES: usize = 64 * 1024;

/// How far a splitter's walk through the block being filled has got.
#[derive(Clone, Copy)]
enum Walk {
    /// Up to this offset by record lengths alone; the reader state there is the block's.
    Fast(usize),
    /// Something the record walker must judge (or a state change) was met: the block is
    /// walked whole once it is read.
    Slow,
}

/// Reads a streamed input into blocks of whole records, tracking the reader state so each
/// block can be read on its own.
pub struct StreamSplitter {
    name: PathBuf,
    compression: Compression,
    reader: Box<dyn Read + Send>,
    carry: Vec<u8>,
    base: u64,
    state: ReaderState,
    block_bytes: usize,
    eof: bool,
    done: bool,
    pending_error: Option<IngestError>,
    file_size: Option<u64>,
    pool: BlockPool,
}

impl StreamSplitter {
    /// Starts splitting an input whose body is a stream.
    pub fn new(input: Input, block_bytes: usize) -> Result<StreamSplitter, Input> {
        match input.body {
            Body::Stream { prefix, reader } => Ok(StreamSplitter {
                name: input.name,
                compression: input.compression,
                reader,
                carry: prefix,
                base: 0,
                state: input.container.initial_state(),
                block_bytes: block_bytes.max(1),
                eof: false,
                done: false,
                pending_error: None,
                file_size: input.file_size,
                pool: BlockPool::default(),
            }),
            Body::Bytes(_) | Body::File { .. } => Err(input),
        }
    }

    /// A buffer for the next block, holding what was carried over from the last one.
    /// A reused buffer keeps its length: what it held is overwritten, not zeroed first.
    fn buffer(&mut self) -> Vec<u8> {
        let reused = self.pool.lock().ok().and_then(|mut v| v.pop());
        let mut buf = reused.unwrap_or_default();
        if buf.len() < self.carry.len() {
            buf.resize(self.carry.len(), 0);
        }
        buf[..self.carry.len()].copy_from_slice(&self.carry);
        buf
    }

    /// Reads into `buf[filled..target]` piece by piece, advancing `walk` through the
    /// records of each piece; returns how far `buf` is filled (less than `target` at the
    /// end of the input).
    fn fill(
        &mut self,
        buf: &mut Vec<u8>,
        mut filled: usize,
        target: usize,
        walk: &mut Walk,
    ) -> Result<usize, (usize, IngestError)> {
        while filled < target {
            // Up to the next multiple of PIECE_BYTES in the decompressed stream, whatever
            // the block size: a decompressor that breaks part way through a read hands out
            // nothing of that read (zstd decodes on into the next frame block), so what is
            // saved before a break depends on where reads end, and they end at the same
            // offsets however the stream is cut into blocks.
            let at = self.base + filled as u64;
            let upto = filled + PIECE_BYTES - (at % PIECE_BYTES as u64) as usize;
            if buf.len() < upto {
                buf.resize(upto, 0);
            }
            match self.reader.read(&mut buf[filled..upto]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => {
                    filled += k;
                    *walk = self.walk_on(&buf[..filled], *walk);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    let offset = self.base + filled as u64;
                    let e =
                        stream_error(&self.name, self.compression, offset, source, self.file_size);
                    return Err((filled, e));
                }
            }
        }
        Ok(filled)
    }

    /// `walk` carried on through `data` by record lengths alone, as far as whole records
    /// go (pcap records; pcapng blocks that leave the reader state as it is), or `Slow`
    /// at anything the record walker must judge.
    fn walk_on(&self, data: &[u8], walk: Walk) -> Walk {
        let Walk::Fast(pos) = walk else {
            return Walk::Slow;
        };
        // A search for where records resume after a corrupt one is the walker's.
        if self.state.resync_from.is_some() {
            return Walk::Slow;
        }
        let end = match &self.state.layout {
            Layout::Pcap(p) => records::pcap_records_end(data, pos, p),
            Layout::Ng(st) => records::ng_blocks_end(data, pos, st),
        };
        end.map_or(Walk::Slow, Walk::Fast)
    }

    /// A block of `buf[..len]` whose records run from `start` (in state `state`) to `end`.
    fn block(
        &self,
        mut buf: Vec<u8>,
        (start, end, len): (usize, usize, usize),
        state: ReaderState,
        last: bool,
    ) -> StreamBlock {
        buf.truncate(len);
        StreamBlock {
            data: buf,
            base: self.base,
            start,
            end,
            state,
            last,
            pool: Some(std::sync::Arc::clone(&self.pool)),
        }
    }
}

impl Iterator for StreamSplitter {
    type Item = Result<StreamBlock, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending_error.take() {
            return Some(Err(e));
        }
        if self.done {
            return None;
        }
        let mut buf = self.buffer();
        let mut filled = self.carry.len();
        let skip = if self.base == 0 {
            container_header_len(&self.state)
        } else {
            0
        };
        // What was carried over is walked before anything is read after it.
        let mut walk = self.walk_on(&buf[..filled], Walk::Fast(skip.min(filled)));
        let mut size = self.block_bytes;
        loop {
            if !self.eof {
                let target = filled + size.saturating_sub(filled).max(size.min(64 * 1024));
                match self.fill(&mut buf, filled, target, &mut walk) {
                    Ok(f) => filled = f,
                    Err((f, e)) => {
                        // Hand out what was read as the last block (what this fill read
                        // before the break too); report the break after it.
                        filled = f;
                        self.done = true;
                        if filled <= skip {
                            return Some(Err(e));
                        }
                        self.pending_error = Some(e);
                        let state = self.state.clone();
                        let start = skip.min(filled);
                        let block = self.block(buf, (start, filled, filled), state, true);
                        return Some(Ok(block));
                    }
                }
            }
            let start = skip.min(filled);
            let (cut, end_state) = match walk {
                Walk::Fast(cut) => (cut, self.state.clone()),
                Walk::Slow => {
                    let mut walker = Records::new(
                        &buf[..filled],
                        Span {
                            base: self.base,
                            pos: start,
                            end: filled,
                            at_input_end: self.eof,
                        },
                        self.state.clone(),
                        0,
                        1,
                    );
                    for _ in walker.by_ref() {}
                    (walker.pos(), walker.state().clone())
                }
            };
            if cut == start && !self.eof {
                // No whole record yet (one record larger than what was read, or where
                // records resume after a corrupt one is decided past it): read as much
                // again, so that the walks over the block cost twice its size at most.
                size = size.max(filled) * 2;
                continue;
            }
            let cut = if self.eof { filled } else { cut };
            self.carry.clear();
            self.carry.extend_from_slice(&buf[cut..filled]);
            let last = self.eof && self.carry.is_empty();
            let state = std::mem::replace(&mut self.state, end_state);
            let block = self.block(buf, (start, cut, filled), state, last);
            self.base += cut as u64;
            self.done = last;
            return Some(Ok(block));
        }
    }
}

fn container_header_len(state: &ReaderState) -> usize {
    match state.layout {
        Layout::Pcap(_) => 24,
        Layout::Ng(_) => 0,
    }
}
