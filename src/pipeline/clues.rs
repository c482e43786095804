//! Gathers header evidence ([`Clue`]s) beside the flow table in the same pass, for `trace`:
//! HTTP proxy headers and ICMP errors are read from the packet at once; the client side of
//! SMTP sessions is kept as segments (bounded) and read as mails when the run ends.

use crate::decode::PacketFacts;
use crate::decode::headers::{self, ProxyEntry};
use crate::hops::{Clue, ClueKind};
use crate::model::{Addr, Locator, Proto, Timestamp};
use std::collections::HashMap;

/// TCP ports whose client data is kept to read the mails sent (SMTP, submission).
pub const SMTP_PORTS: [u16; 3] = [25, 587, 2525];
/// Most SMTP client bytes kept over a run; segments past it are counted, not kept.
pub const MAX_SMTP_BYTES: usize = 256 * 1024 * 1024;

/// An SMTP session's client and server.
type Session = ((Addr, u16), (Addr, u16));

/// One segment of an SMTP client's data.
#[derive(Clone, Debug)]
pub struct SmtpSegment {
    at: Locator,
    ts: Timestamp,
    src: (Addr, u16),
    dst: (Addr, u16),
    seq: u32,
    bytes: Vec<u8>,
}

/// What one chunk (or a whole run) gathered.
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    /// Clues read from single packets.
    pub clues: Vec<Clue>,
    /// SMTP client segments, in capture order.
    pub smtp: Vec<SmtpSegment>,
    /// SMTP client bytes not kept (past [`MAX_SMTP_BYTES`]).
    pub smtp_dropped: u64,
}

impl Gathered {
    /// Reads what one packet carries. `pl` is its captured transport payload.
    #[inline]
    pub fn packet(&mut self, p: &PacketFacts, pl: &[u8], ts: Timestamp, at: Locator) {
        if !p.ports_known || p.frag.is_some_and(|f| f.offset != 0) {
            return;
        }
        match p.proto.0 {
            6 if !pl.is_empty() => {
                if SMTP_PORTS.contains(&p.dport) {
                    self.smtp.push(SmtpSegment {
                        at,
                        ts,
                        src: (p.src, p.sport),
                        dst: (p.dst, p.dport),
                        seq: p.tcp_seq,
                        bytes: pl.to_vec(),
                    });
                } else if let Some(h) = headers::http_proxy_headers(pl) {
                    let entries: Vec<ProxyEntry> = h
                        .fields
                        .iter()
                        .flat_map(|(k, v)| headers::proxy_entries(*k, v))
                        .collect();
                    self.clues.push(Clue {
                        at,
                        ts,
                        src: (p.src, p.sport),
                        dst: (p.dst, p.dport),
                        proto: p.proto,
                        what: ClueKind::Http {
                            request: h.request,
                            entries,
                        },
                    });
                }
            }
            1 | 58 if headers::is_icmp_error(p.proto, p.sport as u8) => {
                if let Some(quote) = headers::icmp_quote(pl) {
                    self.clues.push(Clue {
                        at,
                        ts,
                        src: (p.src, p.sport),
                        dst: (p.dst, p.dport),
                        proto: p.proto,
                        what: ClueKind::IcmpError {
                            ty: p.sport as u8,
                            code: p.dport as u8,
                            quote,
                        },
                    });
                }
            }
            _ => {}
        }
    }

    /// Gives frame numbers counted from the start of the input (chunks count from their
    /// own start).
    pub fn rebase(&mut self, input: u32, frames_before: u64) {
        let locs = self
            .clues
            .iter_mut()
            .map(|c| &mut c.at)
            .chain(self.smtp.iter_mut().map(|s| &mut s.at));
        for at in locs {
            if at.input == input {
                at.frame += frames_before;
            }
        }
    }

    /// Appends a later chunk's gatherings, keeping at most [`MAX_SMTP_BYTES`] of SMTP data.
    pub fn append(&mut self, later: Gathered, kept_smtp: &mut usize) {
        self.clues.extend(later.clues);
        self.smtp_dropped += later.smtp_dropped;
        for s in later.smtp {
            if *kept_smtp + s.bytes.len() > MAX_SMTP_BYTES {
                self.smtp_dropped += s.bytes.len() as u64;
            } else {
                *kept_smtp += s.bytes.len();
                self.smtp.push(s);
            }
        }
    }

    /// Reads the SMTP sessions kept into mail clues, and returns every clue.
    pub fn finish(mut self) -> Vec<Clue> {
        let mut sessions: HashMap<Session, Vec<SmtpSegment>> = HashMap::new();
        for s in std::mem::take(&mut self.smtp) {
            sessions.entry((s.src, s.dst)).or_default().push(s);
        }
        let mut keys: Vec<_> = sessions.keys().copied().collect();
        keys.sort();
        for k in keys {
            let segs = &sessions[&k];
            let Some(first) = segs.first() else { continue };
            let mut parts: Vec<(u32, &[u8])> =
                segs.iter().map(|s| (s.seq, s.bytes.as_slice())).collect();
            let (stream, stream_gaps) = headers::tcp_stream(&mut parts);
            for msg in headers::smtp_messages(&stream) {
                let received = headers::received_fields(headers::mail_header_block(msg));
                if received.is_empty() {
                    continue;
                }
                self.clues.push(Clue {
                    at: first.at,
                    ts: first.ts,
                    src: first.src,
                    dst: first.dst,
                    proto: Proto::TCP,
                    what: ClueKind::Mail {
                        received,
                        stream_gaps,
                    },
                });
            }
        }
        self.clues.sort_by_key(|c| (c.at.input, c.at.frame, c.ts));
        self.clues
    }
}
