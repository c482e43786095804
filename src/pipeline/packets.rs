//! A streaming iterator over the decoded packets of one input, for case tools that want
//! packets rather than flows.

use crate::decode::{Decoded, Encap, PacketFacts, decode};
use crate::ingest::{
    self, Body, Bytes, Event, IngestError, ReaderState, Records, Skip, Span, StreamBlock,
    StreamSplitter,
};
use crate::model::{LinkType, Locator, SkipReason, Timestamp};
use std::path::Path;

/// One frame of an input, decoded, with its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Where the frame is.
    pub loc: Locator,
    /// Capture time.
    pub ts: Timestamp,
    /// Link type of the frame.
    pub link: LinkType,
    /// Length on the wire.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
    /// One entry per IP header, outermost first.
    pub packets: Vec<PacketFacts>,
    /// The frame's encapsulation layers; packet `p` is enclosed by `encap[..p.depth]`.
    pub encap: Vec<Encap>,
    /// The first decoding problem, if any.
    pub problem: Option<(SkipReason, u32)>,
}

/// What [`Packets`] yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacketEvent {
    /// A frame.
    Packet(Packet),
    /// A record or byte range that was not a frame.
    Skipped(Skip),
}

enum Source {
    Bytes(Bytes),
    Stream {
        splitter: Box<StreamSplitter>,
        block: Option<StreamBlock>,
    },
}

/// Decoded frames of one input, one at a time, in file order. Memory stays constant for
/// streamed inputs (compressed files, standard input): one block of records at a time.
pub struct Packets {
    source: Source,
    pos: usize,
    state: ReaderState,
    frame: u64,
    dec: Decoded,
    done: bool,
}

/// Opens an input for streaming decoded frames (`-` reads standard input).
pub fn packets(path: &Path) -> Result<Packets, IngestError> {
    let input = ingest::open_with(path, ingest::ReadMode::Mmap)?;
    let state = input.container.initial_state();
    let pos = input.container.data_start();
    let source = match input.body {
        Body::Bytes(b) => Source::Bytes(b),
        Body::File { .. } => unreachable_file(path)?,
        Body::Stream { .. } => {
            match StreamSplitter::new(input, crate::pipeline::DEFAULT_CHUNK_BYTES) {
                Ok(splitter) => Source::Stream {
                    splitter: Box::new(splitter),
                    block: None,
                },
                Err(_) => return unreachable_file(path),
            }
        }
    };
    Ok(Packets {
        source,
        pos,
        state,
        frame: 1,
        dec: Decoded::default(),
        done: false,
    })
}

/// Opening with [`ingest::ReadMode::Mmap`] never gives a chunked file body.
fn unreachable_file<T>(path: &Path) -> Result<T, IngestError> {
    Err(IngestError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other("the input could not be mapped"),
    })
}

impl Packets {
    /// The next event of the records in `data` (from `base` in the input) that start
    /// before `end`.
    fn event(
        &mut self,
        data: &[u8],
        (base, end): (u64, usize),
        at_end: bool,
    ) -> Option<PacketEvent> {
        let mut r = Records::new(
            data,
            Span {
                base,
                pos: self.pos,
                end,
                at_input_end: at_end,
            },
            self.state.clone(),
            0,
            self.frame,
        );
        let ev = r.next();
        self.pos = r.pos();
        self.frame = r.next_frame();
        self.state = r.state().clone();
        match ev? {
            Event::Frame(f) => {
                decode(&f, &mut self.dec);
                Some(PacketEvent::Packet(Packet {
                    loc: f.loc,
                    ts: f.ts,
                    link: f.link,
                    orig_len: f.orig_len,
                    data: f.data.to_vec(),
                    packets: self.dec.packets().to_vec(),
                    encap: self.dec.encap().to_vec(),
                    problem: self.dec.problem,
                }))
            }
            Event::Skip(s) => Some(PacketEvent::Skipped(s)),
        }
    }
}

impl Iterator for Packets {
    type Item = Result<PacketEvent, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match &mut self.source {
                Source::Bytes(b) => {
                    let b = std::mem::replace(b, Bytes::Owned(Vec::new()));
                    let ev = self.event(&b, (0, b.len()), true);
                    self.source = Source::Bytes(b);
                    if ev.is_none() {
                        self.done = true;
                    }
                    return ev.map(Ok);
                }
                Source::Stream { splitter, block } => {
                    if block.is_none() {
                        match splitter.next() {
                            None => {
                                self.done = true;
                                return None;
                            }
                            Some(Err(e)) => {
                                self.done = true;
                                return Some(Err(e));
                            }
                            Some(Ok(b)) => {
                                self.pos = b.start;
                                self.state = b.state.clone();
                                *block = Some(b);
                            }
                        }
                    }
                    let Some(b) = block.take() else { continue };
                    let ev = self.event(&b.data, (b.base, b.end), b.last);
                    match ev {
                        Some(ev) => {
                            if let Source::Stream { block, .. } = &mut self.source {
                                *block = Some(b);
                            }
                            return Some(Ok(ev));
                        }
                        // This block is done; the next one carries on.
                        None => continue,
                    }
                }
            }
        }
    }
}
