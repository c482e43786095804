//! Gathers header evidence ([`Clue`]s) beside the flow table in the same pass, for `trace`:
//! HTTP proxy headers and ICMP errors are read from the packet at once; the client side of
//! SMTP sessions is kept as segments (bounded) and read as mails when the run ends.

use crate::decode::PacketFacts;
use crate::decode::headers::{self, ProxyEntry};
use crate::hops::{CONNECT_REPLY_WITHIN, Clue, ClueKind, HeaderCut};
use crate::model::{Addr, Locator, Proto, Timestamp};

/// The chunk's maps and sets are keyed by what the traffic holds: they hash with the
/// process's random seed, as the flow table does.
type HashMap<K, V> = std::collections::HashMap<K, V, crate::model::Seeded>;
type HashSet<K> = std::collections::HashSet<K, crate::model::Seeded>;

/// TCP ports whose client data is kept to read the mails sent (SMTP, submission).
pub const SMTP_PORTS: [u16; 3] = [25, 587, 2525];
/// Most memory SMTP client data holds over a run (its bytes and each segment's record,
/// [`SEGMENT_COST`]); segments past it are counted, not kept.
pub const MAX_SMTP_BYTES: usize = 256 * 1024 * 1024;
/// What a kept SMTP segment costs beside its bytes.
pub const SEGMENT_COST: usize = std::mem::size_of::<SmtpSegment>();
/// Most bytes one kept segment grows to by joining the segments that continue it (so the
/// bound on SMTP data drops segments of a modest size, not a whole session at once).
const MAX_JOINED: usize = 64 * 1024;

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
    /// Flow directions whose first payload was kept (this chunk's; content gathering only).
    payload_seen: HashSet<Session>,
    /// Clues read from single packets.
    pub clues: Vec<Clue>,
    /// SMTP client segments, in capture order.
    pub smtp: Vec<SmtpSegment>,
    /// SMTP client bytes not kept (past [`MAX_SMTP_BYTES`]).
    pub smtp_dropped: u64,
    /// HTTP messages whose header block continues in the next segments, by flow direction.
    http_pending: HashMap<Session, PendingHttp>,
    /// Flow directions (client to proxy) whose `CONNECT` was read and whose reply was not
    /// yet, with the `CONNECT`'s time: the reply (within [`CONNECT_REPLY_WITHIN`]) is
    /// kept, for whether the proxy opened the tunnel (this chunk's; in a run, those still
    /// open after the last chunk appended, which the next chunk's first replies answer).
    connects: HashMap<Session, Timestamp>,
    /// The latest capture time of a packet read (in this chunk, or the run so far).
    latest: Timestamp,
    /// Each flow direction's (server to client) first final HTTP response in this chunk:
    /// the reply to a `CONNECT` the chunk before left open. `None` when it was kept as a
    /// clue anyway (or answered this chunk's own `CONNECT`); at most [`FIRST_REPLIES`].
    first_replies: HashMap<Session, Option<FirstReply>>,
    /// The requests each connection (client to server) sent in this chunk that were not
    /// answered yet, for whether a response answers a `HEAD` (its body is then empty,
    /// whatever its fields say); at most [`FIRST_REPLIES`] connections with requests in
    /// flight (past it, a response on another is read by its head alone).
    unanswered: HashMap<Session, Unanswered>,
    /// TCP segments no header block took when they came.
    recent: Recent,
    /// The chunk's first such segments, for the blocks the chunk before it left open.
    head: Recent,
    /// Bytes charged to `head`.
    head_bytes: usize,
}

/// Where a segment was captured: its packet's locator and time.
type Located = (Locator, Timestamp);

/// A chunk's first final response on a connection, not kept as a clue: where it was
/// captured, its transport protocol and status code.
#[derive(Clone, Copy, Debug)]
struct FirstReply {
    at: Located,
    proto: Proto,
    status: Option<u16>,
}

/// The requests a connection sent that were not answered yet, oldest first: whether each
/// was a `HEAD`, as bits.
#[derive(Clone, Copy, Debug, Default)]
struct Unanswered {
    heads: u64,
    /// How many (`u8::MAX`: more than 64 were, and the count was lost).
    len: u8,
}

impl Unanswered {
    fn push(&mut self, head: bool) {
        if self.len < 64 {
            self.heads |= u64::from(head) << self.len;
            self.len += 1;
        } else {
            self.len = u8::MAX;
        }
    }

    /// Whether the request the next response answers was a `HEAD`; `None` when not known
    /// (no request seen for it: sent in an earlier chunk, or not captured).
    fn pop(&mut self) -> Option<bool> {
        if self.len == 0 || self.len == u8::MAX {
            return None;
        }
        let head = self.heads & 1 == 1;
        self.heads >>= 1;
        self.len -= 1;
        Some(head)
    }
}

/// Most connections whose first response a chunk notes for the chunk before (104 bytes an
/// entry; the same bound holds the requests in flight and the `CONNECT`s carried over an
/// edge, 80 and 72 bytes an entry). Past it, a `CONNECT` the chunk before left open is not
/// paired with a reply in this one: no reply is better than a later one taken for it.
const FIRST_REPLIES: usize = 65_536;
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<(Session, Option<FirstReply>)>() == 104);
    assert!(size_of::<(Session, Unanswered)>() == 80);
    assert!(size_of::<(Session, Timestamp)>() == 72);
};

/// Positions of kept segments by session and sequence number.
type SegmentIndex = HashMap<(Session, u32), Vec<usize>>;

/// Segments kept in [`Recent`], and the largest kept.
const RECENT: usize = 64;
const RECENT_SEGMENT: usize = 16 * 1024;
/// Bytes of a chunk's first unclaimed segments kept for the chunk before it, and how many
/// segments at most: each block left open at the edge searches them linearly, so tiny
/// segments must not make the list long (each is also charged 64 bytes for its entry).
const HEAD_BYTES: usize = 1 << 20;
const HEAD_SEGMENTS: usize = 1024;

/// The last [`RECENT`] TCP segments (of at most [`RECENT_SEGMENT`] bytes) that no header
/// block took when they were read, so that a block whose segments were captured out of
/// order (a later one before the start, or before the one it follows, as reordering on
/// the way or across a capture's links gives) is still read whole: a block's start, and
/// each segment it grows by, takes from here the segment that continues it. Entries are
/// overwritten in turn, their buffers reused.
#[derive(Clone, Debug, Default)]
struct Recent {
    segs: Vec<(Option<Session>, u32, Vec<u8>, Located)>,
    next: usize,
}

impl Recent {
    #[inline]
    fn keep(&mut self, s: Session, seq: u32, pl: &[u8], loc: Located) {
        if pl.len() > RECENT_SEGMENT {
            return;
        }
        if self.segs.len() < RECENT {
            self.segs.push((Some(s), seq, pl.to_vec(), loc));
            return;
        }
        let e = &mut self.segs[self.next];
        (e.0, e.1, e.3) = (Some(s), seq, loc);
        e.2.clear();
        e.2.extend_from_slice(pl);
        self.next = (self.next + 1) % RECENT;
    }

    /// Keeps a segment without ever overwriting one.
    fn push(&mut self, s: Session, seq: u32, pl: &[u8], loc: Located) {
        self.segs.push((Some(s), seq, pl.to_vec(), loc));
    }

    /// Appends to `w` the kept segments of `s` that continue it, in sequence order, until
    /// its block ends or none does; true if the block ended.
    fn extend(&mut self, s: &Session, w: &mut PendingHttp) -> bool {
        self.extend_found(w, |segs, seq| {
            segs.iter()
                .position(|e| e.0.as_ref() == Some(s) && e.1 == seq && !e.2.is_empty())
        })
    }

    /// An index of the kept segments by session and sequence number, for [`Recent::extend`]
    /// over a long list (a chunk's head: every block left open at the edge searches it).
    fn index(&self) -> SegmentIndex {
        let mut ix = SegmentIndex::default();
        for (i, e) in self.segs.iter().enumerate() {
            if let Some(s) = e.0 {
                ix.entry((s, e.1)).or_default().push(i);
            }
        }
        ix
    }

    /// As [`Recent::extend`], finding the segments through `ix` (this list's index).
    fn extend_indexed(&mut self, ix: &SegmentIndex, s: &Session, w: &mut PendingHttp) -> bool {
        self.extend_found(w, |segs, seq| {
            let at = ix.get(&(*s, seq))?;
            at.iter()
                .copied()
                .find(|&i| segs[i].0.is_some() && !segs[i].2.is_empty())
        })
    }

    /// [`Recent::extend`] with `find` giving the position of the kept segment of the
    /// session at a sequence number.
    fn extend_found(
        &mut self,
        w: &mut PendingHttp,
        find: impl Fn(&[(Option<Session>, u32, Vec<u8>, Located)], u32) -> Option<usize>,
    ) -> bool {
        loop {
            let seen = w.bytes.len();
            if w.not_http() || headers::header_block_done(&w.bytes, w.searched) {
                return true;
            }
            w.searched = seen;
            let Some(i) = find(&self.segs, w.next_seq) else {
                return false;
            };
            let e = &mut self.segs[i];
            e.0 = None;
            w.parts.push((w.bytes.len(), e.3));
            w.bytes.extend_from_slice(&e.2);
            w.next_seq = w.next_seq.wrapping_add(e.2.len() as u32);
        }
    }
}

/// The start of an HTTP header block, waiting for its next segments.
#[derive(Clone, Debug)]
struct PendingHttp {
    proto: crate::model::Proto,
    next_seq: u32,
    bytes: Vec<u8>,
    /// Bytes of `bytes` already searched for the block's end.
    searched: usize,
    /// Keep the start line and host too (see [`Gathered::packet`]).
    content: bool,
    /// A segment of it was cut by the capture's snap length (nothing after it is read).
    snapped: bool,
    /// Where each of its segments starts in `bytes`, and where it was captured, the first
    /// at 0 (the block is located there; a message that starts after this one in the same
    /// bytes is located at its own segment). Never empty.
    parts: Vec<(usize, Located)>,
}

impl PendingHttp {
    /// Where the byte at `n` of its bytes was captured: the segment it is in.
    fn located(&self, n: usize) -> Located {
        self.parts
            .iter()
            .rev()
            .find(|p| p.0 <= n)
            .map_or(self.parts[0].1, |p| p.1)
    }

    /// The message that starts at `n` of its bytes, as a block of its own.
    fn split_off(&self, n: usize) -> PendingHttp {
        let first = self.parts.iter().rposition(|p| p.0 <= n).unwrap_or(0);
        PendingHttp {
            proto: self.proto,
            next_seq: self.next_seq,
            bytes: self.bytes[n..].to_vec(),
            searched: 0,
            content: self.content,
            snapped: self.snapped,
            parts: self.parts[first..]
                .iter()
                .map(|&(o, loc)| (o.saturating_sub(n), loc))
                .collect(),
        }
    }

    /// True when a block started by a segment too short to tell (see
    /// [`headers::may_start_http`]) has grown into something that is not HTTP.
    fn not_http(&self) -> bool {
        self.bytes.len() >= headers::HTTP_TELLS && !headers::starts_http(&self.bytes)
    }
}

impl Gathered {
    /// Reads what one packet carries. `pl` is its captured transport payload; `content`
    /// also keeps HTTP start lines and hosts and each flow direction's first payload bytes.
    #[inline]
    pub fn packet(
        &mut self,
        p: &PacketFacts,
        frame: &[u8],
        ts: Timestamp,
        at: Locator,
        content: bool,
    ) {
        self.latest = self.latest.max(ts);
        let (a, b) = (p.payload.0 as usize, p.payload.1 as usize);
        let Some(pl) = frame.get(a..b) else { return };
        if !p.ports_known || p.frag.is_some_and(|f| f.offset != 0) {
            return;
        }
        if content
            && !pl.is_empty()
            && p.proto.has_ports()
            && self
                .payload_seen
                .insert(((p.src, p.sport), (p.dst, p.dport)))
        {
            let bytes = pl[..pl.len().min(crate::hops::PAYLOAD_KEPT)].to_vec();
            self.put(at, ts, p, ClueKind::Payload { bytes });
        }
        match p.proto.0 {
            6 if !pl.is_empty() => {
                if SMTP_PORTS.contains(&p.dport) {
                    let (src, dst) = ((p.src, p.sport), (p.dst, p.dport));
                    // A segment that continues the one before it (the same session, the next
                    // sequence number) joins it: a client sending a byte per segment costs
                    // its bytes, not a record per byte.
                    if let Some(last) = self.smtp.last_mut()
                        && (last.src, last.dst) == (src, dst)
                        && last.seq.wrapping_add(last.bytes.len() as u32) == p.tcp_seq
                        && last.bytes.len() < MAX_JOINED
                    {
                        last.bytes.extend_from_slice(pl);
                        return;
                    }
                    self.smtp.push(SmtpSegment {
                        at,
                        ts,
                        src,
                        dst,
                        seq: p.tcp_seq,
                        bytes: pl.to_vec(),
                    });
                } else {
                    let key = ((p.src, p.sport), (p.dst, p.dport));
                    // Most segments start nothing and continue nothing: no lookup then.
                    let waiting = if self.http_pending.is_empty() {
                        None
                    } else {
                        self.http_pending.get_mut(&key)
                    };
                    if let Some(w) = waiting {
                        // The next segment of a header block that did not fit in one, and
                        // those that came before it; unless the block is a segment too
                        // short to tell (a body's last byte, "P") and this one starts a
                        // message of its own.
                        let tentative = w.bytes.len() < headers::HTTP_TELLS;
                        if p.tcp_seq == w.next_seq && !(tentative && headers::starts_http(pl)) {
                            w.parts.push((w.bytes.len(), (at, ts)));
                            w.bytes.extend_from_slice(pl);
                            w.next_seq = w.next_seq.wrapping_add(pl.len() as u32);
                            // Cut by the snap length: what follows it is not in the capture.
                            w.snapped = p.payload_len as usize > pl.len();
                            if (w.snapped || self.recent.extend(&key, w))
                                && let Some(w) = self.http_pending.remove(&key)
                            {
                                self.http_finished(key, w);
                            }
                            return;
                        }
                        // Past the gap (a retransmitted start lies before it).
                        let beyond = (p.tcp_seq.wrapping_sub(w.next_seq) as i32) > 0;
                        if !(beyond || tentative) || !headers::starts_http(pl) {
                            self.unclaimed(key, p.tcp_seq, pl, (at, ts));
                            return;
                        }
                        // A new message starts beyond the segment the block before waits
                        // for (not captured, or not yet): the block is read as far as it
                        // got, and the new one is not missed.
                        if let Some(w) = self.http_pending.remove(&key) {
                            self.http(key, &w, 0);
                        }
                    }
                    let starts = headers::starts_http(pl);
                    // A segment too short to tell ("G", "POS") may start a block whose rest
                    // follows, or came before it: it is held as a start, and dropped (read
                    // as nothing) once what continues it is not HTTP.
                    if starts || (p.payload_len as usize == pl.len() && headers::may_start_http(pl))
                    {
                        let mut w = PendingHttp {
                            proto: p.proto,
                            next_seq: p.tcp_seq.wrapping_add(pl.len() as u32),
                            bytes: pl.to_vec(),
                            searched: 0,
                            content,
                            snapped: p.payload_len as usize > pl.len(),
                            parts: vec![(0, (at, ts))],
                        };
                        if w.snapped || self.recent.extend(&key, &mut w) {
                            // Whole, or cut by the snap length: nothing more will come.
                            self.http_finished(key, w);
                        } else {
                            self.http_pending.insert(key, w);
                        }
                    } else {
                        self.unclaimed(key, p.tcp_seq, pl, (at, ts));
                    }
                }
            }
            1 | 58 if headers::is_icmp_error(p.proto, p.sport as u8) => {
                if let Some(quote) = headers::icmp_quote(pl) {
                    let header = a
                        .checked_sub(8)
                        .and_then(|h| frame.get(h..a))
                        .unwrap_or(&[]);
                    let mpls = headers::icmp_mpls(p.proto.0 == 58, header, pl);
                    let what = ClueKind::IcmpError {
                        ty: p.sport as u8,
                        code: p.dport as u8,
                        quote,
                        mpls,
                    };
                    self.put(at, ts, p, what);
                }
            }
            _ => {}
        }
    }

    /// Keeps a TCP segment no header block took.
    #[inline]
    fn unclaimed(&mut self, key: Session, seq: u32, pl: &[u8], loc: Located) {
        let cost = pl.len() + 64;
        if self.head_bytes + cost <= HEAD_BYTES
            && self.head.segs.len() < HEAD_SEGMENTS
            && pl.len() <= RECENT_SEGMENT
        {
            self.head_bytes += cost;
            self.head.push(key, seq, pl, loc);
        }
        self.recent.keep(key, seq, pl, loc);
    }

    /// Keeps a clue about packet `p`.
    fn put(&mut self, at: Locator, ts: Timestamp, p: &PacketFacts, what: ClueKind) {
        self.clues.push(Clue {
            at,
            ts,
            src: (p.src, p.sport),
            dst: (p.dst, p.dport),
            proto: p.proto,
            what,
        });
    }

    /// Reads a header block that ended (or was cut by the snap length), then each message
    /// that starts after it in the same bytes (requests sent without waiting for their
    /// answers, pipelined; a response and the next): after a body of known length, the next
    /// block is read, or waits for its next segments. The bytes are read in place: a
    /// segment of thousands of pipelined requests is not copied once per request.
    fn http_finished(&mut self, key: Session, w: PendingHttp) {
        if let Some(rest) = self.http_messages(key, w, None) {
            self.http_pending.insert(key, rest);
        }
    }

    /// Reads the messages in `w`, as [`Gathered::http_finished`] says. A block that goes on
    /// past `w`'s bytes is continued from this chunk's recent segments and returned when it
    /// still waits; or, at a chunk's edge, continued from the chunk after's first segments
    /// (`next`, with its index) and read as far as it got.
    fn http_messages(
        &mut self,
        key: Session,
        mut w: PendingHttp,
        mut next: Option<(&mut Recent, &SegmentIndex)>,
    ) -> Option<PendingHttp> {
        let mut from = 0;
        loop {
            let bodiless = self.http(key, &w, from);
            let n = headers::next_message(&w.bytes[from..], bodiless)
                .map(|n| from + n)
                .filter(|&n| n < w.bytes.len())?;
            let rest = &w.bytes[n..];
            if !(headers::starts_http(rest) || (!w.snapped && headers::may_start_http(rest))) {
                return None;
            }
            from = n;
            if w.snapped || headers::header_block_done(rest, 0) {
                continue;
            }
            // The next block goes on in later segments: it waits, holding its own bytes.
            let mut rest = w.split_off(n);
            match next.as_mut() {
                Some((head, ix)) => {
                    head.extend_indexed(ix, &key, &mut rest);
                }
                None if !self.recent.extend(&key, &mut rest) => return Some(rest),
                None => {}
            }
            (w, from) = (rest, 0);
        }
    }

    /// Reads the HTTP message whose header block starts at `from` in `w`'s bytes into a
    /// clue (only when it names proxies or was read without its end, unless the block's
    /// `content` keeps every start line). True when it is a response without a body
    /// whatever its fields say: to a `HEAD` request, or a 2xx to a `CONNECT`.
    fn http(&mut self, (src, dst): Session, w: &PendingHttp, from: usize) -> bool {
        let content = w.content;
        let bytes = &w.bytes[from..];
        let Some(h) = headers::http_heads(bytes) else {
            return false;
        };
        let status = (!h.request)
            .then(|| headers::status_code(&h.start_line))
            .flatten();
        // The first final response back on a connection that sent a CONNECT answers it (an
        // interim 1xx does not).
        let interim = status.is_some_and(|s| (100..200).contains(&s));
        let (at, ts) = w.located(from);
        let answers_connect = !h.request
            && !interim
            && self
                .connects
                .remove(&(dst, src))
                .is_some_and(|t| ts.since(t) <= CONNECT_REPLY_WITHIN);
        // The connection's first final response in the chunk answers a CONNECT the chunk
        // before left open, if any: noted for when the chunks are appended.
        let first_reply = !h.request
            && !interim
            && self.first_replies.len() < FIRST_REPLIES
            && !self.first_replies.contains_key(&(src, dst));
        let bodiless = if h.request {
            self.requested((src, dst), bytes.starts_with(b"HEAD "));
            false
        } else {
            !interim
                && (self.answered((dst, src)) == Some(true)
                    || (answers_connect && status.is_some_and(|s| s / 100 == 2)))
        };
        if h.target.as_ref().is_some_and(|t| t.connect) {
            self.connects.insert((src, dst), ts);
        }
        let cut = (!h.complete).then_some(if bytes.len() >= headers::MAX_HEADER_BLOCK {
            HeaderCut::TooLong
        } else if w.snapped {
            HeaderCut::SnapLength
        } else {
            HeaderCut::RestMissing
        });
        // A block cut before its end is kept though it names no proxy (one after the cut
        // was not read: the report says so), if its start line is HTTP's.
        let cut_named = cut.is_some() && headers::http_start_line(bytes);
        if h.fields.is_empty() && !content && !cut_named && h.target.is_none() && !answers_connect {
            if first_reply {
                let reply = FirstReply {
                    at: (at, ts),
                    proto: w.proto,
                    status,
                };
                self.first_replies.insert((src, dst), Some(reply));
            }
            return bodiless;
        }
        if first_reply {
            self.first_replies.insert((src, dst), None);
        }
        let entries: Vec<ProxyEntry> = h
            .fields
            .iter()
            .flat_map(|(k, v)| headers::proxy_entries(*k, v))
            .collect();
        self.clues.push(Clue {
            at,
            ts,
            src,
            dst,
            proto: w.proto,
            what: ClueKind::Http {
                request: h.request,
                entries,
                start_line: content.then_some((h.start_line, h.host)),
                cut,
                status,
                target: h.target,
            },
        });
        bodiless
    }

    /// Notes a request sent on connection `conn` (client to server), and whether it was a
    /// `HEAD`.
    fn requested(&mut self, conn: Session, head: bool) {
        if self.unanswered.len() < FIRST_REPLIES || self.unanswered.contains_key(&conn) {
            self.unanswered.entry(conn).or_default().push(head);
        }
    }

    /// Takes the oldest request in flight on connection `conn` (client to server) as
    /// answered by a final response: whether it was a `HEAD`, if known. A connection whose
    /// requests were all answered leaves the map (it holds those with requests in flight).
    fn answered(&mut self, conn: Session) -> Option<bool> {
        let q = self.unanswered.get_mut(&conn)?;
        let head = q.pop();
        if q.len == 0 {
            self.unanswered.remove(&conn);
        }
        head
    }

    /// Reads the header blocks still waiting for segments, each first continued from the
    /// first unclaimed segments of the chunk after (`next`, if any), then as far as they
    /// got, with the messages pipelined after them in the same bytes: a block is carried
    /// over one chunk's edge, not further.
    fn close(&mut self, mut next: Option<&mut Recent>) {
        let mut waiting: Vec<(Session, PendingHttp)> = self.http_pending.drain().collect();
        waiting.sort_by_key(|(_, w)| {
            let at = w.located(0).0;
            (at.input, at.frame, at.offset)
        });
        // Each open block finds its continuation through an index of the next chunk's
        // first unclaimed segments (a search of all 1,024 per block made an edge with many
        // open blocks cost their product: 25% of a 137 MB capture of open blocks).
        let ix = match &next {
            Some(head) if !waiting.is_empty() => head.index(),
            _ => SegmentIndex::default(),
        };
        for (k, mut w) in waiting {
            let rest = match next.as_deref_mut() {
                Some(head) => {
                    head.extend_indexed(&ix, &k, &mut w);
                    self.http_messages(k, w, Some((head, &ix)))
                }
                None => self.http_messages(k, w, None),
            };
            // At the capture's end: a block that waits is read as far as it got.
            if let Some(rest) = rest {
                self.http(k, &rest, 0);
            }
        }
    }

    /// Gives frame numbers counted from the start of the input (chunks count from their
    /// own start).
    pub fn rebase(&mut self, input: u32, frames_before: u64) {
        let locs = self
            .clues
            .iter_mut()
            .map(|c| &mut c.at)
            .chain(self.smtp.iter_mut().map(|s| &mut s.at))
            .chain(
                self.http_pending
                    .values_mut()
                    .flat_map(|w| w.parts.iter_mut().map(|p| &mut p.1.0)),
            )
            .chain(self.head.segs.iter_mut().map(|e| &mut e.3.0))
            .chain(
                self.first_replies
                    .values_mut()
                    .flatten()
                    .map(|r| &mut r.at.0),
            )
            .chain(self.recent.segs.iter_mut().map(|e| &mut e.3.0));
        for at in locs {
            if at.input == input {
                at.frame += frames_before;
            }
        }
    }

    /// Appends a later chunk's gatherings, keeping at most [`MAX_SMTP_BYTES`] of SMTP data.
    /// Header blocks this one left open are continued from the later chunk's first
    /// segments (a block cut by the chunks' edge is read whole), then read; those the later
    /// chunk left open, from this one's last (see [`Gathered::reopen`]).
    pub fn append(&mut self, mut later: Gathered, kept_smtp: &mut usize) {
        later.payload_seen = Default::default();
        self.close(Some(&mut later.head));
        self.reopen(&mut later);
        self.unanswered = std::mem::take(&mut later.unanswered);
        self.latest = self.latest.max(later.latest);
        self.pair_connects(&mut later);
        self.clues.extend(later.clues);
        self.smtp_dropped += later.smtp_dropped;
        for s in later.smtp {
            let cost = s.bytes.len() + SEGMENT_COST;
            if *kept_smtp + cost > MAX_SMTP_BYTES {
                self.smtp_dropped += s.bytes.len() as u64;
            } else {
                *kept_smtp += cost;
                self.smtp.push(s);
            }
        }
    }

    /// Takes the header blocks the later chunk left open, each first continued from the
    /// segments no block took at the end of this run's last chunk (captured before it, out
    /// of order, as a block's start takes them within a chunk) together with the later
    /// chunk's own, and read if that ends it; then keeps the later chunk's segments as the
    /// run's recent ones, for the chunk after it.
    fn reopen(&mut self, later: &mut Gathered) {
        let mut before = std::mem::replace(&mut self.recent, std::mem::take(&mut later.recent));
        self.http_pending = std::mem::take(&mut later.http_pending);
        // Only blocks of the sessions those segments are on can take them: at most 64
        // lookups, however many blocks are open (a chunk may leave hundreds of thousands).
        let mut keys: Vec<Session> = before
            .segs
            .iter()
            .filter(|e| !e.2.is_empty())
            .filter_map(|e| e.0)
            .filter(|k| self.http_pending.contains_key(k))
            .collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let Some(mut w) = self.http_pending.remove(&k) else {
                continue;
            };
            let done = loop {
                let seen = w.bytes.len();
                if before.extend(&k, &mut w) || self.recent.extend(&k, &mut w) {
                    break true;
                }
                if w.bytes.len() == seen {
                    break false;
                }
            };
            if done {
                self.http_finished(k, w);
            } else {
                self.http_pending.insert(k, w);
            }
        }
    }

    /// Answers the `CONNECT`s this run left open with the later chunk's first response on
    /// each connection (a reply it did not keep as a clue becomes one); those it has no
    /// response for stay open, with the later chunk's own, unless it noted as many first
    /// responses as it may (one past the bound could have been the reply).
    fn pair_connects(&mut self, later: &mut Gathered) {
        let full = later.first_replies.len() >= FIRST_REPLIES;
        for ((client, server), t) in std::mem::take(&mut self.connects) {
            match later.first_replies.get(&(server, client)) {
                Some(Some(r)) if r.at.1.since(t) <= CONNECT_REPLY_WITHIN => self.clues.push(Clue {
                    at: r.at.0,
                    ts: r.at.1,
                    src: server,
                    dst: client,
                    proto: r.proto,
                    what: ClueKind::Http {
                        request: false,
                        entries: Vec::new(),
                        start_line: None,
                        cut: None,
                        status: r.status,
                        target: None,
                    },
                }),
                // Kept there as a clue (the builder pairs it), answered a CONNECT of
                // its own, or too late.
                Some(_) => {}
                // Still open while the capture's time is within reach of a reply, and
                // while as many are open at the edge as the chunk notes replies.
                None if !full
                    && later.latest.since(t) <= CONNECT_REPLY_WITHIN
                    && later.connects.len() < FIRST_REPLIES =>
                {
                    later.connects.entry((client, server)).or_insert(t);
                }
                None => {}
            }
        }
        self.connects = std::mem::take(&mut later.connects);
        // What the run's own reading noted (blocks the chunk before left open) has no
        // chunk before it to answer.
        self.first_replies = HashMap::default();
        later.first_replies = HashMap::default();
    }

    /// Reads the SMTP sessions kept into mail clues, and returns every clue.
    pub fn finish(mut self) -> Vec<Clue> {
        self.close(None);
        let mut sessions: HashMap<Session, Vec<SmtpSegment>> = HashMap::default();
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
                let block = headers::mail_header_block(msg);
                let received = headers::received_fields(block);
                // A block a lost segment cut is kept though no field was read: the report
                // says the session lacks data.
                if received.is_empty() && !headers::has_gap(block) {
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
                        file: false,
                    },
                });
            }
        }
        self.clues.sort_by_key(|c| (c.at.input, c.at.frame, c.ts));
        self.clues
    }
}

/// How much of a saved mail is read: its header block is at the start.
const MAIL_READ: u64 = 1 << 20;

/// Reads a saved mail (`.eml`, or a file whose first line is a mail header field) given as
/// a `trace` input: one clue with its `Received:` fields, in a run with no flows. `None`
/// when the file is not a mail (or cannot be read: the flow stage then says why).
pub fn mail_file(path: &std::path::Path, input: u32) -> Option<super::FlowRun> {
    use std::io::Read;
    // Every trace input comes through here: only the first line is read to tell, so a
    // capture is not read twice.
    let mut file = std::fs::File::open(path).ok()?;
    let mut head = Vec::new();
    (&mut file).take(128).read_to_end(&mut head).ok()?;
    let named = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("eml"));
    if !named && !headers::looks_like_mail(&head) {
        return None;
    }
    file.take(MAIL_READ - head.len() as u64)
        .read_to_end(&mut head)
        .ok()?;
    let block = headers::mail_header_block(&head);
    let received = headers::received_fields(block);
    let newest = received.iter().find_map(|r| r.date.as_ref().map(|d| d.0));
    let oldest = received
        .iter()
        .rev()
        .find_map(|r| r.date.as_ref().map(|d| d.0));
    let summary = super::InputSummary {
        name: path.to_path_buf(),
        compression: Some(crate::ingest::Compression::None),
        container: Some(MAIL_CONTAINER),
        file_size: std::fs::metadata(path).ok().map(|m| m.len()),
        bytes: block.len() as u64,
        frames: block.split(|&b| b == b'\n').count() as u64,
        error: None,
        time_range: oldest.zip(newest),
        records: 0,
        counts: Default::default(),
    };
    let clues = if received.is_empty() {
        Vec::new()
    } else {
        vec![Clue {
            at: Locator {
                input,
                interface: 0,
                frame: u64::from(received[0].line),
                offset: u64::from(received[0].offset),
            },
            ts: newest.unwrap_or(Timestamp(0)),
            src: (Addr::default(), 0),
            dst: (Addr::default(), 0),
            proto: Proto::TCP,
            what: ClueKind::Mail {
                received,
                stream_gaps: 0,
                file: true,
            },
        }]
    };
    Some(super::FlowRun {
        flows: crate::flow::FlowTable::new(crate::flow::FlowConfig::default()).finish(),
        inputs: vec![summary],
        spilled: super::Spilled::default(),
        records: crate::records::RecordSet::default(),
        clues,
        smtp_dropped: 0,
    })
}

/// The container name of a saved mail in input summaries.
pub const MAIL_CONTAINER: &str = "eml";

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn segment(frame: u64, seq: u32, len: usize) -> SmtpSegment {
        let end = |a: [u8; 4], port| (Addr::from(std::net::IpAddr::from(Ipv4Addr::from(a))), port);
        SmtpSegment {
            at: Locator {
                frame,
                ..Locator::default()
            },
            ts: Timestamp(frame as i64),
            src: end([192, 0, 2, 1], 40000),
            dst: end([192, 0, 2, 2], 25),
            seq,
            bytes: vec![b'a'; len],
        }
    }

    #[test]
    fn the_bound_on_smtp_data_counts_each_kept_segment_beside_its_bytes() {
        let mut run = Gathered::default();
        // Room for two 10-byte segments and their records, not three.
        let mut kept = MAX_SMTP_BYTES - 2 * (10 + SEGMENT_COST) - SEGMENT_COST / 2;
        let later = Gathered {
            smtp: vec![segment(1, 0, 10), segment(2, 10, 10), segment(3, 20, 10)],
            ..Gathered::default()
        };
        run.append(later, &mut kept);
        assert_eq!(run.smtp.len(), 2);
        assert_eq!(run.smtp_dropped, 10);
        assert_eq!(kept, MAX_SMTP_BYTES - SEGMENT_COST / 2);
    }
}
