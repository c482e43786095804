//! The record walker: turns a byte region of a pcap or pcapng input into frames and counted
//! skips, resynchronising after corrupt records.
//!
//! Record headers are read directly (16 or 24 bytes for pcap, 28 for an Enhanced Packet
//! Block) because pcap-parser's frame parsers go through nom per record and allocate an
//! options vector per pcapng packet; pcap-parser still parses the rare, option-rich blocks
//! (Section Header, Interface Description).

use crate::model::{LinkType, Locator, SkipReason, Timestamp};
use pcap_parser::pcapng::{
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le,
    parse_sectionheaderblock,
};
use std::sync::Arc;

/// The largest captured length a record may claim before it counts as corrupt, unless the
/// file's snapshot length is larger (libpcap uses the same rule with 262144), up to
/// [`MAX_BLOCK_LEN`] (see [`PcapParams::max_caplen`]).
pub const MAX_CAPLEN: u32 = 262_144;
/// The largest pcapng block accepted before it counts as corrupt.
pub const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;
/// The most interfaces a pcapng section may define (24 bytes each, 1.5 MiB in all); later
/// Interface Description Blocks of the section are counted as `interface_limit` and the
/// packets naming them as `unknown_interface`.
pub const MAX_INTERFACES: usize = 65_536;
/// How many consecutive plausible records make a resynchronisation point trusted.
const RESYNC_CHAIN: usize = 4;
/// Room for a chain of `RESYNC_CHAIN` (4) of the largest pcapng blocks: how far past its
/// end a file chunk looks for a record start it can trust before leaving its bytes to the
/// chunk before it (see [`crate::ingest::walk_file_chunk`]).
pub const RESYNC_BUFFER: usize = RESYNC_CHAIN * MAX_BLOCK_LEN as usize;

/// A frame as read from the capture: borrowed bytes plus where and when they were captured.
#[derive(Clone, Copy, Debug)]
pub struct RawFrame<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// Link-layer header type of the interface the frame was captured on.
    pub link: LinkType,
    /// Length of the frame on the wire (may exceed `data.len()` when the snaplen cut it).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
    /// Input, interface, frame number and record offset.
    pub loc: Locator,
}

/// A region of input that did not become a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skip {
    /// Why.
    pub reason: SkipReason,
    /// Reason-specific detail (link type, layer, ...).
    pub detail: u32,
    /// Bytes of input the skip covers.
    pub bytes: u64,
    /// Where it started.
    pub at: Locator,
}

/// One step of the walker.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A captured frame.
    Frame(RawFrame<'a>),
    /// Something that was not a frame.
    Skip(Skip),
}

/// Classic pcap file parameters from its 24-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapParams {
    /// Fields are big-endian.
    pub big_endian: bool,
    /// Timestamps carry nanoseconds (magic a1b23c4d) rather than microseconds.
    pub nanos: bool,
    /// Kuznetzov's "modified" format with 24-byte record headers (magic a1b2cd34).
    pub modified: bool,
    /// Link type of every frame.
    pub link: LinkType,
    /// Snapshot length from the header.
    pub snaplen: u32,
}

impl PcapParams {
    /// The largest captured length a record may claim before it counts as corrupt: the
    /// file's snapshot length, at least [`MAX_CAPLEN`] and at most [`MAX_BLOCK_LEN`] (the
    /// largest pcapng block). A header's snapshot length of up to 4 GiB would otherwise let
    /// one corrupt record length make a reader hold the rest of the file (libpcap refuses
    /// records past 262,144 bytes for most link types, 128 MiB for D-Bus).
    pub fn max_caplen(&self) -> u32 {
        self.snaplen.clamp(MAX_CAPLEN, MAX_BLOCK_LEN)
    }
}

/// How an interface's timestamps become nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsConv {
    /// Timestamp units per second (`if_tsresol`; 10^6 by default).
    pub units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    pub offset_secs: i64,
}

impl TsConv {
    fn from_tsresol(raw: u8, offset_secs: i64) -> Option<TsConv> {
        let units_per_sec = if raw & 0x80 == 0 {
            10u64.checked_pow(u32::from(raw))?
        } else {
            1u64.checked_shl(u32::from(raw & 0x7f))?
        };
        Some(TsConv {
            units_per_sec,
            offset_secs,
        })
    }

    #[inline]
    fn to_ts(self, units: u64) -> Timestamp {
        let ups = self.units_per_sec;
        // The usual resolutions divide by a constant (a multiplication), not by a variable.
        let (secs, nanos) = match ups {
            1_000_000 => (units / 1_000_000, units % 1_000_000 * 1000),
            1_000_000_000 => (units / 1_000_000_000, units % 1_000_000_000),
            _ => (
                units / ups,
                (u128::from(units % ups) * 1_000_000_000 / u128::from(ups)) as u64,
            ),
        };
        Timestamp::from_secs_nanos((secs as i64).saturating_add(self.offset_secs), nanos as u32)
    }
}

/// A pcapng interface as its Interface Description Block defined it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Link type of its frames.
    pub link: LinkType,
    /// Snapshot length (0 = unlimited).
    pub snaplen: u32,
    /// Timestamp conversion.
    pub ts: TsConv,
}

/// Where a pcapng walker is: the current section's byte order and interfaces.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NgState {
    /// Byte offset of the current Section Header Block.
    pub section_offset: u64,
    /// The section is big-endian.
    pub big_endian: bool,
    /// Interfaces defined so far in the section, by id (at most [`MAX_INTERFACES`]). Shared:
    /// every chunk and block carries the state it starts in, and copying the list for each
    /// made a section of many interfaces cost memory and time per chunk.
    pub ifaces: Arc<Vec<Iface>>,
    /// A section with an unsupported version: its blocks are skipped until the next section.
    pub unsupported: bool,
}

/// How the records are laid out at some offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Classic pcap.
    Pcap(PcapParams),
    /// pcapng.
    Ng(NgState),
}

/// The state a walker needs to read records at some offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderState {
    /// How the records are laid out.
    pub layout: Layout,
    /// Set while a walker searches for where records resume after a corrupt record: the
    /// corrupt record's input offset. The offset the state is at is then no record start
    /// but the first one the bytes before it do not rule out; the search goes on from it
    /// (in whichever buffer, chunk or block holds the bytes after it), and the bytes from
    /// the corrupt record to where records resume are counted as one unreadable range
    /// when it ends.
    pub resync_from: Option<u64>,
}

impl From<PcapParams> for ReaderState {
    fn from(p: PcapParams) -> ReaderState {
        ReaderState {
            layout: Layout::Pcap(p),
            resync_from: None,
        }
    }
}

impl From<NgState> for ReaderState {
    fn from(st: NgState) -> ReaderState {
        ReaderState {
            layout: Layout::Ng(st),
            resync_from: None,
        }
    }
}

/// Where in a buffer a walker starts and stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Input offset of the buffer's first byte.
    pub base: u64,
    /// Position of the first record in the buffer.
    pub pos: usize,
    /// Records starting at or after this position are left to the next walker.
    pub end: usize,
    /// The buffer ends where the input ends (a partial record there is truncated).
    pub at_input_end: bool,
}

/// Walks the records of `data[pos..]`, yielding those that start before `end`.
///
/// `base` is the input offset of `data[0]`; `at_input_end` says whether `data` ends where
/// the input ends (so a partial record there is a truncated record, not a buffer boundary).
///
/// After a corrupt record, reading resumes at the first offset where four plausible records
/// follow one another. A walker whose bytes end before that is known stops, still
/// searching (see [`ReaderState::resync_from`]), at the first start its bytes do not rule
/// out, to be walked on from there with more of the input: where reading resumes depends
/// on the input, not on where a buffer, chunk or block ended, however far the search goes.
/// A search goes on past `end` (it is not a record), to where records resume.
/// Frame numbers count from `first_frame`.
pub struct Records<'a> {
    data: &'a [u8],
    base: u64,
    pos: usize,
    end: usize,
    state: ReaderState,
    /// The input's locator with frame and offset 0: see `loc`.
    origin: Locator,
    frame: u64,
    at_input_end: bool,
    counts: ByteCounts,
}

/// Where the bytes a walker consumed went: every byte of a capture is in a frame's record,
/// in a file header or a block that carries no packet, or in a skipped range (counted
/// under its reason).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteCounts {
    /// Bytes of records that became frames (record headers, data, padding, options).
    pub frames: u64,
    /// Bytes of file headers and blocks without packets (section headers, interface
    /// descriptions, statistics, name resolution, ...).
    pub meta: u64,
    /// Bytes of records and ranges skipped (truncated, bad lengths, unreadable, unknown
    /// interface, unsupported section, ...).
    pub skipped: u64,
}

impl ByteCounts {
    /// All bytes accounted.
    pub fn total(&self) -> u64 {
        self.frames + self.meta + self.skipped
    }
}

impl std::ops::AddAssign for ByteCounts {
    fn add_assign(&mut self, o: ByteCounts) {
        self.frames += o.frames;
        self.meta += o.meta;
        self.skipped += o.skipped;
    }
}

impl<'a> Records<'a> {
    /// Creates a walker over `data[span.pos..]` that stops at the first record starting at
    /// or after `span.end`, for input number `input`, numbering frames from `first_frame`.
    pub fn new(
        data: &'a [u8],
        span: Span,
        state: ReaderState,
        input: u32,
        first_frame: u64,
    ) -> Records<'a> {
        Records {
            data,
            base: span.base,
            pos: span.pos,
            end: span.end.min(data.len()),
            state,
            origin: Locator {
                input,
                ..Locator::default()
            },
            frame: first_frame,
            at_input_end: span.at_input_end,
            counts: ByteCounts::default(),
        }
    }

    /// Offset (within the input) of the first record this walker did not yield.
    pub fn next_offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Position within `data` of the first record this walker did not yield.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The reader state after the last record yielded.
    pub fn state(&self) -> &ReaderState {
        &self.state
    }

    /// Number of the next frame.
    pub fn next_frame(&self) -> u64 {
        self.frame
    }

    /// Where the bytes consumed so far went.
    pub fn counts(&self) -> ByteCounts {
        self.counts
    }

    /// Copied from `origin`: input and interface then travel as one word, and reading the
    /// frame's locator back does not stall on two narrow stores (every frame).
    #[inline(always)]
    fn loc(&self, at: usize) -> Locator {
        Locator {
            frame: self.frame,
            offset: self.base + at as u64,
            ..self.origin
        }
    }

    /// Skips a corrupt record at `self.pos`: reports it, and starts the search for where
    /// records resume after it ([`Records::search_on`]).
    fn resync(&mut self, reason: SkipReason) -> Option<Event<'a>> {
        let bad = self.pos;
        self.state.resync_from = Some(self.base + bad as u64);
        // pcapng blocks start on 4-byte boundaries.
        self.pos = bad
            + match self.state.layout {
                Layout::Pcap(_) => 1,
                Layout::Ng(_) => 4,
            };
        Some(Event::Skip(Skip {
            reason,
            detail: 0,
            bytes: 0,
            at: self.loc(bad),
        }))
    }

    /// Searches on from `self.pos` for where records resume after the corrupt record at
    /// input offset `from`: the bytes from it to the first trusted start (or to the end of
    /// the input) become one unreadable range. When the bytes at hand leave that open, the
    /// walker stops, still searching, at the first start they do not rule out: the bytes
    /// before it are part of the range, wherever it turns out to end.
    #[cold]
    #[inline(never)]
    fn search_on(&mut self, from: u64) -> Option<Event<'a>> {
        let (data, pos, at_end) = (self.data, self.pos, self.at_input_end);
        let found = match &self.state.layout {
            Layout::Pcap(p) => search_pcap_record(data, pos, p, at_end),
            Layout::Ng(s) => search_ng_block(data, pos, s.big_endian, at_end),
        };
        let next = match found {
            Search::At(n) => n,
            Search::Nowhere => data.len(),
            Search::Undecided(n) => {
                self.pos = n;
                return None;
            }
        };
        self.state.resync_from = None;
        self.pos = next;
        let bytes = self.base + next as u64 - from;
        self.counts.skipped += bytes;
        Some(Event::Skip(Skip {
            reason: SkipReason::UnreadableBytes,
            detail: 0,
            bytes,
            // No frame lies between the corrupt record and here: the frame number holds.
            at: Locator {
                frame: self.frame,
                offset: from,
                ..self.origin
            },
        }))
    }

    fn truncated(&mut self) -> Option<Event<'a>> {
        let at = self.pos;
        let bytes = (self.data.len() - at) as u64;
        self.pos = self.data.len();
        Some(Event::Skip(Skip {
            reason: SkipReason::TruncatedRecord,
            detail: 0,
            bytes,
            at: self.loc(at),
        }))
    }

    #[inline(always)]
    fn next_pcap(&mut self, p: PcapParams) -> Option<Event<'a>> {
        let data = self.data;
        let pos = self.pos;
        let hdr = if p.modified { 24 } else { 16 };
        if data.len() - pos < hdr {
            return if self.at_input_end {
                self.truncated()
            } else {
                None
            };
        }
        let h = read_pcap_header(&data[pos..pos + 16], p.big_endian);
        if h.caplen > p.max_caplen() {
            return self.resync(SkipReason::BadRecordLength);
        }
        let start = pos + hdr;
        let stop = start + h.caplen as usize;
        prefetch(data, stop);
        if stop > data.len() {
            return if self.at_input_end {
                self.truncated()
            } else {
                None
            };
        }
        let nanos = if p.nanos {
            i64::from(h.frac)
        } else {
            i64::from(h.frac) * 1000
        };
        // A fraction of a second beyond one second is carried, as libpcap's readers do.
        let ts = Timestamp::from_secs_nanos(i64::from(h.secs), 0).0 + nanos;
        let frame = RawFrame {
            ts: Timestamp(ts),
            link: p.link,
            orig_len: h.origlen.max(h.caplen),
            data: &data[start..stop],
            loc: self.loc(pos),
        };
        self.pos = stop;
        self.frame += 1;
        Some(Event::Frame(frame))
    }

    fn next_ng(&mut self) -> Option<Event<'a>> {
        loop {
            let data = self.data;
            let pos = self.pos;
            if pos >= self.end {
                return None;
            }
            let rest = data.len() - pos;
            if rest < 12 {
                return if self.at_input_end {
                    self.truncated()
                } else {
                    None
                };
            }
            let Layout::Ng(st) = &self.state.layout else {
                return None;
            };
            let mut be = st.big_endian;
            let btype = rd32(&data[pos..], be);
            if btype == SHB_TYPE {
                match &data[pos + 8..pos + 12] {
                    [0x1a, 0x2b, 0x3c, 0x4d] => be = true,
                    [0x4d, 0x3c, 0x2b, 0x1a] => be = false,
                    _ => return self.resync(SkipReason::BadRecordLength),
                }
            }
            let blen = rd32(&data[pos + 4..], be);
            if blen < 12 || !blen.is_multiple_of(4) || blen > MAX_BLOCK_LEN {
                return self.resync(SkipReason::BadRecordLength);
            }
            let blen = blen as usize;
            if blen > rest {
                return if self.at_input_end {
                    self.truncated()
                } else {
                    None
                };
            }
            prefetch(data, pos + blen);
            let block = &data[pos..pos + blen];
            if rd32(&block[blen - 4..], be) as usize != blen {
                return self.resync(SkipReason::BadBlockTrailer);
            }
            match btype {
                SHB_TYPE => {
                    let ok = match parse_sectionheaderblock(block) {
                        Ok((_, shb)) => shb.major_version == 1,
                        Err(_) => false,
                    };
                    self.state.layout = Layout::Ng(NgState {
                        section_offset: self.base + pos as u64,
                        big_endian: be,
                        ifaces: Arc::default(),
                        unsupported: !ok,
                    });
                    self.pos += blen;
                    if !ok {
                        return self.block_skip(SkipReason::UnsupportedSection, 0, pos, blen);
                    }
                    self.counts.meta += blen as u64;
                    continue;
                }
                _ if st.unsupported => {
                    self.pos += blen;
                    return self.block_skip(SkipReason::UnsupportedSection, 0, pos, blen);
                }
                IDB_TYPE if st.ifaces.len() >= MAX_INTERFACES => {
                    self.pos += blen;
                    return self.block_skip(SkipReason::InterfaceLimit, 0, pos, blen);
                }
                IDB_TYPE => {
                    let parsed = if be {
                        parse_interfacedescriptionblock_be(block)
                    } else {
                        parse_interfacedescriptionblock_le(block)
                    };
                    self.pos += blen;
                    let iface = parsed.ok().and_then(|(_, idb)| {
                        Some(Iface {
                            link: LinkType(u32::from(idb.linktype.0 as u16)),
                            snaplen: idb.snaplen,
                            ts: TsConv::from_tsresol(idb.if_tsresol, idb.if_tsoffset)?,
                        })
                    });
                    match iface {
                        Some(iface) => {
                            if let Layout::Ng(st) = &mut self.state.layout {
                                Arc::make_mut(&mut st.ifaces).push(iface);
                            }
                            self.counts.meta += blen as u64;
                            continue;
                        }
                        None => {
                            // Keep interface numbering aligned with the file: later packet
                            // blocks naming this interface count as unknown interface.
                            if let Layout::Ng(st) = &mut self.state.layout {
                                Arc::make_mut(&mut st.ifaces).push(Iface {
                                    link: LinkType(u32::MAX),
                                    snaplen: 0,
                                    ts: TsConv {
                                        units_per_sec: 1_000_000,
                                        offset_secs: 0,
                                    },
                                });
                            }
                            let link = crate::model::Layer::Link as u32;
                            return self.block_skip(SkipReason::MalformedHeader, link, pos, blen);
                        }
                    }
                }
                EPB_TYPE | PB_TYPE => {
                    if blen < 32 {
                        return self.resync(SkipReason::BadRecordLength);
                    }
                    // The fixed part of the header, bounds-checked once.
                    let h: &[u8; 28] = block.first_chunk().unwrap_or(&[0; 28]);
                    let if_id = if btype == EPB_TYPE {
                        rd32(&h[8..], be)
                    } else {
                        u32::from(rd16(&h[8..], be))
                    };
                    let ts_units =
                        (u64::from(rd32(&h[12..], be)) << 32) | u64::from(rd32(&h[16..], be));
                    let (caplen, origlen) = (rd32(&h[20..], be), rd32(&h[24..], be));
                    if caplen as usize > blen - 32 {
                        return self.resync(SkipReason::BadRecordLength);
                    }
                    return Some(self.ng_frame(pos, blen, if_id, Some(ts_units), caplen, origlen));
                }
                SPB_TYPE => {
                    if blen < 16 {
                        return self.resync(SkipReason::BadRecordLength);
                    }
                    let origlen = rd32(&block[8..], be);
                    let snap = match &self.state.layout {
                        Layout::Ng(st) => st.ifaces.first().map_or(0, |i| i.snaplen),
                        Layout::Pcap(_) => 0,
                    };
                    let mut caplen = origlen.min((blen - 16) as u32);
                    if snap != 0 {
                        caplen = caplen.min(snap);
                    }
                    return Some(self.ng_frame(pos, blen, 0, None, caplen, origlen));
                }
                _ => {
                    // Name resolution, statistics, secrets, custom and unknown blocks carry
                    // no packets; their bytes are accounted as metadata.
                    self.pos += blen;
                    self.counts.meta += blen as u64;
                    continue;
                }
            }
        }
    }

    /// The whole pcapng block at `pos` (`blen` bytes), skipped for `reason`.
    fn block_skip(
        &self,
        reason: SkipReason,
        detail: u32,
        pos: usize,
        blen: usize,
    ) -> Option<Event<'a>> {
        Some(Event::Skip(Skip {
            reason,
            detail,
            bytes: blen as u64,
            at: self.loc(pos),
        }))
    }

    fn ng_frame(
        &mut self,
        pos: usize,
        blen: usize,
        if_id: u32,
        ts_units: Option<u64>,
        caplen: u32,
        origlen: u32,
    ) -> Event<'a> {
        let hdr = if ts_units.is_some() { 28 } else { 12 };
        let data = &self.data[pos + hdr..pos + hdr + caplen as usize];
        let mut loc = self.loc(pos);
        loc.interface = if_id;
        self.pos += blen;
        let iface = match &self.state.layout {
            Layout::Ng(st) => st.ifaces.get(if_id as usize).copied(),
            Layout::Pcap(_) => None,
        };
        self.frame += 1;
        match iface {
            Some(iface) if iface.link.0 != u32::MAX => Event::Frame(RawFrame {
                // A Simple Packet Block has no timestamp: it inherits none, and sorts first.
                ts: ts_units.map_or(Timestamp(0), |u| iface.ts.to_ts(u)),
                link: iface.link,
                orig_len: origlen.max(caplen),
                data,
                loc,
            }),
            _ => Event::Skip(Skip {
                reason: SkipReason::UnknownInterface,
                detail: if_id,
                bytes: blen as u64,
                at: loc,
            }),
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Event<'a>;

    // Always inlined into the walk: an event returned through memory was read back wide
    // over the narrow stores that built it, a stall on every frame.
    #[inline(always)]
    fn next(&mut self) -> Option<Event<'a>> {
        if let Some(from) = self.state.resync_from {
            return self.search_on(from);
        }
        if self.pos >= self.end {
            return None;
        }
        let (before, meta_before) = (self.pos, self.counts.meta);
        let ev = match &self.state.layout {
            Layout::Pcap(p) => {
                let p = *p;
                self.next_pcap(p)
            }
            Layout::Ng(_) => self.next_ng(),
        };
        match &ev {
            // The walk moved over the frame's record and any packetless blocks before it.
            Some(Event::Frame(_)) => {
                self.counts.frames += (self.pos - before) as u64 - (self.counts.meta - meta_before);
            }
            Some(Event::Skip(s)) => self.counts.skipped += s.bytes,
            None => {}
        }
        ev
    }
}

const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 1;
const PB_TYPE: u32 = 2;
const SPB_TYPE: u32 = 3;
const EPB_TYPE: u32 = 6;

/// Asks the CPU to start loading the cache line at `data[at]`, so the next record header
/// is in cache by the time the current frame is decoded. Reading a capture is bound by
/// these misses: records are hundreds of bytes apart and the header is all we touch.
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch(data: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if at < data.len() {
        // SAFETY: a prefetch is a hint: it never faults and changes no architectural
        // state, and the pointer is inside the slice.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                data.as_ptr().add(at).cast::<i8>(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, at);
}

// Always inlined: out of line, the eight reads of an Enhanced Packet Block's header cost
// as much as the rest of the pcapng walk (callgrind: 125 instructions a frame).
#[inline(always)]
fn rd32(b: &[u8], be: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

#[inline(always)]
fn rd16(b: &[u8], be: bool) -> u16 {
    let a = [b[0], b[1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

struct PcapRecordHeader {
    secs: u32,
    frac: u32,
    caplen: u32,
    origlen: u32,
}

#[inline]
fn read_pcap_header(b: &[u8], be: bool) -> PcapRecordHeader {
    PcapRecordHeader {
        secs: rd32(b, be),
        frac: rd32(&b[4..], be),
        caplen: rd32(&b[8..], be),
        origlen: rd32(&b[12..], be),
    }
}

/// Where the last whole pcap record of `data[pos..]` ends, reading only record lengths (a
/// stream splitter cuts blocks there without decoding the records); `None` at a length the
/// record walker would not accept, which it must then handle.
pub fn pcap_records_end(data: &[u8], mut pos: usize, p: &PcapParams) -> Option<usize> {
    let hdr = if p.modified { 24 } else { 16 };
    let max = p.max_caplen() as usize;
    while let Some(h) = data.get(pos..pos + hdr) {
        let caplen = rd32(&h[8..], p.big_endian) as usize;
        if caplen > max {
            return None;
        }
        if pos + hdr + caplen > data.len() {
            break;
        }
        pos += hdr + caplen;
    }
    Some(pos)
}

/// Where the last whole pcapng block of `data[pos..]` ends, reading only block types and
/// lengths, for blocks that leave the reader state as it is (packets, statistics, name
/// resolution, ...); `None` at a block that changes it (section header, interface
/// description), in a section the walker skips, or at anything the record walker would
/// judge (a bad length, a trailer that differs, a packet block too short), which it must
/// then handle.
pub fn ng_blocks_end(data: &[u8], mut pos: usize, st: &NgState) -> Option<usize> {
    if st.unsupported {
        return None;
    }
    let be = st.big_endian;
    while let Some(h) = data.get(pos..pos + 8) {
        let btype = rd32(h, be);
        let blen = rd32(&h[4..], be);
        if matches!(btype, SHB_TYPE | IDB_TYPE)
            || blen < 12
            || !blen.is_multiple_of(4)
            || blen > MAX_BLOCK_LEN
            || (matches!(btype, EPB_TYPE | PB_TYPE) && blen < 32)
            || (btype == SPB_TYPE && blen < 16)
        {
            return None;
        }
        // A packet block's captured length must fit in it (read where the walker reads it).
        if matches!(btype, EPB_TYPE | PB_TYPE)
            && let Some(c) = data.get(pos + 20..pos + 24)
            && rd32(c, be) > blen - 32
        {
            return None;
        }
        let end = pos + blen as usize;
        let Some(trailer) = data.get(end - 4..end) else {
            break;
        };
        if rd32(trailer, be) != blen {
            return None;
        }
        pos = end;
    }
    Some(pos)
}

/// What one record header at a position looks like.
enum Plausible {
    /// A real one: its seconds, and where the record after it starts.
    Yes(u32, usize),
    /// Not a record.
    No,
    /// It, or the record it claims, runs past the end of the bytes at hand.
    Short,
}

/// What a chain of records from a candidate start shows.
enum Chain {
    /// [`RESYNC_CHAIN`] plausible records.
    Trusted,
    /// A record that is not one.
    Broken,
    /// Plausible records up to exactly the end of the bytes at hand.
    AtEnd,
    /// Plausible records, then one that runs past the end of the bytes at hand.
    PastEnd,
}

/// Where a search for a trusted record start got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// The first trusted start.
    At(usize),
    /// None in these bytes.
    Nowhere,
    /// Whether a start is trusted depends on bytes past these: the search must be made
    /// again with more. The first start not ruled out by these bytes.
    Undecided(usize),
}

/// True when a pcap record header at `pos` looks like a real one.
fn plausible_pcap(data: &[u8], pos: usize, p: &PcapParams) -> Plausible {
    let hdr = if p.modified { 24 } else { 16 };
    if data.len() - pos < hdr {
        return Plausible::Short;
    }
    let h = read_pcap_header(&data[pos..pos + 16], p.big_endian);
    let frac_limit = if p.nanos { 1_000_000_000 } else { 1_000_000 };
    if h.caplen > p.max_caplen()
        || h.frac >= frac_limit
        || h.origlen < h.caplen
        || h.origlen > MAX_BLOCK_LEN
        || h.secs == 0
    {
        return Plausible::No;
    }
    let next = pos + hdr + h.caplen as usize;
    if next <= data.len() {
        Plausible::Yes(h.secs, next)
    } else {
        Plausible::Short
    }
}

fn pcap_chain(data: &[u8], start: usize, p: &PcapParams) -> Chain {
    let mut pos = start;
    let mut first_secs = None;
    for _ in 0..RESYNC_CHAIN {
        if pos == data.len() {
            return Chain::AtEnd;
        }
        match plausible_pcap(data, pos, p) {
            Plausible::Yes(secs, next) => {
                let f = *first_secs.get_or_insert(secs);
                if secs.abs_diff(f) > 3 * 86_400 {
                    return Chain::Broken;
                }
                pos = next;
            }
            Plausible::No => return Chain::Broken,
            Plausible::Short => return Chain::PastEnd,
        }
    }
    Chain::Trusted
}

/// The first of the candidate starts `starts` (in order, the last before `len`) where a
/// chain of `chain`'s records is trusted. At the input's end (`at_end`) a chain may end
/// exactly at the bytes' end, and one running past it is broken; otherwise either makes
/// the search undecided, as any later start could be taken.
fn search(
    starts: impl Iterator<Item = usize>,
    (len, at_end): (usize, bool),
    chain: impl Fn(usize) -> Chain,
) -> Search {
    for start in starts {
        match chain(start) {
            Chain::Trusted => return Search::At(start),
            Chain::AtEnd if at_end => return Search::At(start),
            Chain::Broken => {}
            Chain::PastEnd if at_end => {}
            Chain::AtEnd | Chain::PastEnd => return Search::Undecided(start),
        }
    }
    if at_end {
        Search::Nowhere
    } else {
        Search::Undecided(len)
    }
}

/// The candidate starts `from`, `from + step`, ... before the end of `data`, less those
/// whose first four bytes are zero: no record starts there (a pcap record's seconds and a
/// pcapng block's type are never zero). A run of zeros (sectors an imaging tool could not
/// read and filled, a sparse file) is passed over eight bytes at a time, not tried at every
/// offset.
fn candidates(data: &[u8], from: usize, step: usize) -> impl Iterator<Item = usize> + '_ {
    let mut next = from;
    std::iter::from_fn(move || {
        while next < data.len() {
            let s = next;
            if data.get(s..s + 4) != Some(&[0; 4]) {
                next = s + step;
                return Some(s);
            }
            // The first start after `s` whose four bytes reach the next nonzero byte.
            let reach = first_nonzero(data, s + 4).saturating_sub(3).max(s + step);
            next = s + (reach - s).div_ceil(step) * step;
        }
        None
    })
}

/// The offset of the first nonzero byte of `data` at or after `from` (its length if none).
fn first_nonzero(data: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(w) = data.get(i..i + 8) {
        if w != [0; 8] {
            break;
        }
        i += 8;
    }
    while data.get(i) == Some(&0) {
        i += 1;
    }
    i
}

/// Finds the first offset at or after `from` where a chain of plausible pcap records starts
/// (`at_end`: `data` ends where the input ends).
pub fn search_pcap_record(data: &[u8], from: usize, p: &PcapParams, at_end: bool) -> Search {
    search(candidates(data, from, 1), (data.len(), at_end), |start| {
        pcap_chain(data, start, p)
    })
}

/// Finds the first offset at or after `from` where a chain of plausible pcap records starts
/// (the chain may end exactly at the end of the data).
pub fn find_pcap_record(data: &[u8], from: usize, p: &PcapParams) -> Option<usize> {
    match search_pcap_record(data, from, p, true) {
        Search::At(n) => Some(n),
        Search::Nowhere | Search::Undecided(_) => None,
    }
}

fn plausible_ng(data: &[u8], pos: usize, be: bool) -> Plausible {
    if data.len() - pos < 12 {
        return Plausible::Short;
    }
    let btype = rd32(&data[pos..], be);
    let known = matches!(btype, SHB_TYPE | 1..=10 | 0xBAD | 0x4000_0BAD);
    if !known {
        return Plausible::No;
    }
    let blen = rd32(&data[pos + 4..], be) as usize;
    if blen < 12 || !blen.is_multiple_of(4) || blen > MAX_BLOCK_LEN as usize {
        return Plausible::No;
    }
    if blen > data.len() - pos {
        return Plausible::Short;
    }
    if rd32(&data[pos + blen - 4..], be) as usize == blen {
        Plausible::Yes(0, pos + blen)
    } else {
        Plausible::No
    }
}

fn ng_chain(data: &[u8], start: usize, be: bool) -> Chain {
    let mut pos = start;
    for _ in 0..RESYNC_CHAIN {
        if pos == data.len() {
            return Chain::AtEnd;
        }
        match plausible_ng(data, pos, be) {
            Plausible::Yes(_, n) => pos = n,
            Plausible::No => return Chain::Broken,
            Plausible::Short => return Chain::PastEnd,
        }
    }
    Chain::Trusted
}

/// Finds the first of the offsets `from`, `from + 4`, ... (`from` lies where a block could
/// start) where a chain of plausible pcapng blocks starts (`at_end`: `data` ends where the
/// input ends). An undecided search names one of those offsets too.
pub fn search_ng_block(data: &[u8], from: usize, be: bool, at_end: bool) -> Search {
    let len = data.len();
    match search(candidates(data, from, 4), (len, at_end), |start| {
        ng_chain(data, start, be)
    }) {
        // Past every offset tried: the last of them (ruled out, tried again with more).
        Search::Undecided(n) if n == len && len > from => {
            Search::Undecided(from + (len - from) / 4 * 4)
        }
        s => s,
    }
}

/// Finds the first 4-aligned offset at or after `from` where a chain of plausible pcapng
/// blocks starts (alignment is relative to the data start, which is a block boundary; the
/// chain may end exactly at the end of the data).
pub fn find_ng_block(data: &[u8], from: usize, be: bool) -> Option<usize> {
    match search_ng_block(data, from.div_ceil(4) * 4, be, true) {
        Search::At(n) => Some(n),
        Search::Nowhere | Search::Undecided(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_timestamp_resolution_is_understood() {
        // 2^-10 seconds per unit: 1024 units are one second.
        let c = TsConv::from_tsresol(0x8a, 0).unwrap();
        assert_eq!(c.units_per_sec, 1024);
        assert_eq!(c.to_ts(1024 + 512), Timestamp(1_500_000_000));
        let c = TsConv::from_tsresol(9, 10).unwrap();
        assert_eq!(c.to_ts(5), Timestamp(10_000_000_005));
        assert!(TsConv::from_tsresol(20, 0).is_none());
    }

    #[test]
    fn passing_over_zeros_finds_what_trying_every_offset_finds() {
        // Runs of zeros of every length from 0 to 40 (some ending mid-word, some with a
        // lone nonzero byte), plausible pcap records and pcapng blocks, random bytes: the
        // search that passes over zeros decides as the search that tries every offset, from
        // every offset, with the input's end there or not.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let p = PcapParams {
            big_endian: false,
            nanos: false,
            modified: false,
            link: LinkType(1),
            snaplen: 65_535,
        };
        let mut data = Vec::new();
        for i in 0..400usize {
            match rnd() % 5 {
                0 => data.extend(std::iter::repeat_n(0u8, i % 41)),
                1 => {
                    // A pcap record of 0 to 7 bytes.
                    let n = (rnd() % 8) as u32;
                    for v in [1_600_000_000, 5, n, n] {
                        data.extend_from_slice(&u32::to_le_bytes(v));
                    }
                    data.extend(std::iter::repeat_n(0u8, n as usize));
                }
                2 => {
                    // A pcapng block of 12 or 16 bytes.
                    let n = 12 + 4 * (rnd() % 2) as u32;
                    data.extend_from_slice(&u32::to_le_bytes(4));
                    data.extend_from_slice(&u32::to_le_bytes(n));
                    data.extend(std::iter::repeat_n(0u8, n as usize - 12));
                    data.extend_from_slice(&u32::to_le_bytes(n));
                }
                3 => data.push(rnd() as u8 | 1),
                _ => data.extend((0..rnd() % 9).map(|_| rnd() as u8)),
            }
        }
        let every = |from: usize, step: usize| (from..data.len()).step_by(step);
        // Decided alike; undecided at the same start or, passing over zeros, a later one
        // with only zeros before it (a start the other search left open for want of the
        // bytes after the zeros it began with).
        let alike = |passed: Search, tried: Search, d: &[u8], what: &str| match (passed, tried) {
            (Search::Undecided(a), Search::Undecided(b)) => {
                assert!(a >= b && d[b..a].iter().all(|&v| v == 0), "{what}: {a} {b}");
            }
            (a, b) => assert_eq!(a, b, "{what}"),
        };
        for at_end in [false, true] {
            for cut in [data.len(), data.len() - 5, data.len() / 2 + 3] {
                let d = &data[..cut];
                for from in 0..d.len() {
                    let whole = (d.len(), at_end);
                    let what = format!("from {from} of {cut}, at end {at_end}");
                    let tried = search(every(from, 1).filter(|&s| s < cut), whole, |s| {
                        pcap_chain(d, s, &p)
                    });
                    alike(search_pcap_record(d, from, &p, at_end), tried, d, &what);
                    let tried = search(every(from, 4).filter(|&s| s < cut), whole, |s| {
                        ng_chain(d, s, false)
                    });
                    let passed = search(candidates(d, from, 4), whole, |s| ng_chain(d, s, false));
                    alike(passed, tried, d, &what);
                }
            }
        }
    }
}
