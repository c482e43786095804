//! The flow table: packets in, flow records out, and an associative merge of partial tables.

use super::key::FlowKey;
use super::stats::{DirStats, History, tcp};
use crate::decode::{Context, Encap, Fragment, PacketFacts};
use crate::model::{
    Addr, BinReader, BinWriter, Diagnostics, Locator, Proto, Seeded, Side, SkipReason, Timestamp,
};
use hashbrown::hash_table::Entry as TableEntry;
use std::collections::HashMap;

/// The tables hash with the process's random seed (see [`Seeded`]): nothing they hold
/// leaves them unsorted.
type Map<K, V> = HashMap<K, V, Seeded>;

fn new_map<K, V>() -> Map<K, V> {
    HashMap::default()
}

#[inline(always)]
fn key_hash(k: &FlowKey) -> u64 {
    use std::hash::BuildHasher;
    Seeded::default().hash_one(k)
}

/// The open segment of each key: indices into the table's segments, each with 32 bits of
/// its key's hash. A slot holds 8 bytes where a map from key to index held 56, so the
/// lookup every packet makes stays in cache, and the key it compares is the segment's,
/// which counting the packet reads next anyway. The stored hash lets the table grow, and
/// tables be appended, without reading every segment's key again (a cache miss each in a
/// table of many flows); the table hashes by those 32 bits (see `spread`).
#[derive(Clone, Debug, Default)]
struct Open(hashbrown::HashTable<Slot>);

/// A segment index and the low 32 bits of its key's hash.
#[derive(Clone, Copy, Debug)]
struct Slot {
    i: u32,
    h: u32,
}

/// The table's hash of a slot: its 32 bits, repeated so that the bucket (low bits) and the
/// tag (top 7 bits) both come from them.
#[inline(always)]
fn spread(h: u32) -> u64 {
    u64::from(h) << 32 | u64::from(h)
}

/// 32 bits of a key's hash.
#[inline(always)]
fn short_hash(k: &FlowKey) -> u32 {
    let h = key_hash(k);
    (h ^ h >> 32) as u32
}

impl Open {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    fn reserve(&mut self, n: usize) {
        self.0.reserve(n, |s| spread(s.h));
    }

    /// Takes the open segment of `key` out.
    fn remove(&mut self, flows: &[Flow], key: &FlowKey) -> Option<u32> {
        let h = short_hash(key);
        let same = |s: &Slot| s.h == h && flows[s.i as usize].key == *key;
        match self.0.find_entry(spread(h), same) {
            Ok(e) => Some(e.remove().0.i),
            Err(_) => None,
        }
    }

    /// The slot of `key` (whose `short_hash` is `h`): its open segment, or room for one.
    #[inline(always)]
    fn entry<'a>(&'a mut self, flows: &[Flow], key: &FlowKey, h: u32) -> TableEntry<'a, Slot> {
        let same = |s: &Slot| s.h == h && flows[s.i as usize].key == *key;
        self.0.entry(spread(h), same, |s| spread(s.h))
    }

    /// Makes segment `i` (whose key's `short_hash` is `h`) the open segment of its key.
    fn set(&mut self, flows: &[Flow], i: u32, h: u32) {
        match self.entry(flows, &flows[i as usize].key, h) {
            TableEntry::Occupied(mut e) => e.get_mut().i = i,
            TableEntry::Vacant(e) => {
                e.insert(Slot { i, h });
            }
        }
    }

    /// The open segments, in no particular order.
    fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().map(|s| s.i)
    }
}

const SEC: i64 = 1_000_000_000;

/// How packets are grouped into flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// A TCP flow ends after this long without a packet (ns). Default 300 s, as Zeek's
    /// `tcp_inactivity_timeout`.
    pub idle_tcp: i64,
    /// A UDP flow ends after this long without a packet (ns). Default 60 s, as Zeek.
    pub idle_udp: i64,
    /// An ICMP flow ends after this long without a packet (ns). Default 60 s, as Zeek.
    pub idle_icmp: i64,
    /// Any other flow ends after this long without a packet (ns). Default 60 s.
    pub idle_other: i64,
    /// When set, flows are cut at every multiple of this many nanoseconds since the epoch,
    /// so no record spans more than that; off by default.
    pub active: Option<i64>,
    /// Fragments of one datagram id more than this far apart (ns) are different datagrams;
    /// closer ones belong to one record even after it completed (a repeated fragment is an
    /// overlap, not a new datagram), so records depend only on time, never on where a
    /// capture was cut. Default 60 s (the Linux `ipfrag_time` is 30 s; captures may be
    /// slower than hosts).
    pub frag_timeout: i64,
    /// IP fragments held in open datagram records (fragments waiting for their datagram's
    /// first fragment, and the byte ranges received) before the least recently active
    /// records are closed early, each counted as `fragment_limit`: their fragments are still
    /// counted, those whose flow is unknown on a flow without ports. Checked every eighth of
    /// the bound, so a table may hold up to an eighth more. Default 262,144 (a few tens of
    /// MB); 0 = no bound. Not part of a table's encoding: it governs reading only.
    pub max_fragments: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            idle_tcp: 300 * SEC,
            idle_udp: 60 * SEC,
            idle_icmp: 60 * SEC,
            idle_other: 60 * SEC,
            active: None,
            frag_timeout: 60 * SEC,
            max_fragments: DEFAULT_MAX_FRAGMENTS,
        }
    }
}

/// Default of [`FlowConfig::max_fragments`].
pub const DEFAULT_MAX_FRAGMENTS: usize = 262_144;

impl FlowConfig {
    /// The idle timeout of a protocol.
    #[inline]
    pub fn idle(&self, p: Proto) -> i64 {
        match p.0 {
            6 => self.idle_tcp,
            17 => self.idle_udp,
            1 | 58 => self.idle_icmp,
            _ => self.idle_other,
        }
    }

    fn min_idle(&self) -> i64 {
        self.idle_tcp
            .min(self.idle_udp)
            .min(self.idle_icmp)
            .min(self.idle_other)
    }

    #[inline]
    fn slice(&self, ts: Timestamp) -> i64 {
        self.active.map_or(0, |a| ts.0.div_euclid(a.max(1)))
    }
}

/// Identifies an encapsulation chain interned in a [`FlowTable`] (0 = no encapsulation).
pub type ChainId = u32;

/// How many encapsulation chains a flow keeps (its first and 31 more): the same inner
/// connection seen through many tunnels (an outer source port or address that changes from
/// packet to packet, in hostile or odd traffic) would otherwise grow its list, and the
/// search in it, with every packet (quadratic: 40,000 such packets took 31 s).
pub const MAX_FLOW_CHAINS: usize = 32;

/// The encapsulation chains a flow was seen with: the first one, then others in order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Chains {
    /// The chain of the flow's first packet.
    pub first: ChainId,
    /// Other chains seen later, in order of first appearance (at most
    /// [`MAX_FLOW_CHAINS`] − 1).
    pub more: Vec<ChainId>,
    /// The flow was also seen through chains past [`MAX_FLOW_CHAINS`], not listed. The
    /// chains listed are the first in order of appearance, whatever the chunks or parts the
    /// flow was counted in.
    pub unlisted: bool,
}

impl Chains {
    #[inline]
    fn add(&mut self, c: ChainId) {
        if c != self.first && !self.more.contains(&c) {
            if self.more.len() + 1 < MAX_FLOW_CHAINS {
                self.more.push(c);
            } else {
                self.unlisted = true;
            }
        }
    }

    /// Adds the chains of a later segment of the flow (same table ids), in their order.
    fn join(&mut self, later: &Chains) {
        for c in later.all() {
            self.add(c);
        }
        // A chain the later segment did not list is past the first `MAX_FLOW_CHAINS` of
        // that segment, and so of the flow.
        self.unlisted |= later.unlisted;
    }

    /// All chain ids, first first.
    pub fn all(&self) -> impl Iterator<Item = ChainId> + '_ {
        std::iter::once(self.first).chain(self.more.iter().copied())
    }

    fn remap(&mut self, map: &[ChainId]) {
        self.remap_with(|c| map[c as usize]);
    }

    fn remap_with(&mut self, mut map: impl FnMut(ChainId) -> ChainId) {
        self.first = map(self.first);
        for c in &mut self.more {
            *c = map(*c);
        }
    }
}

/// One flow record (a flow between idle gaps): a partial aggregate that joins with the next
/// segment of the same key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Canonical key.
    pub key: FlowKey,
    /// What each side sent, indexed by [`Side::idx`].
    pub dir: [DirStats; 2],
    /// Time of the segment's first packet with a transport header (a whole packet or a
    /// first fragment), in capture order. With `last_ported`, what splits and joins
    /// segments: later fragments are counted on their datagram's segment but never decide
    /// where a segment ends, so segments do not depend on where a capture is cut.
    pub start_ts: Timestamp,
    /// Latest packet time.
    pub max_ts: Timestamp,
    /// Latest time of a packet with a transport header.
    pub last_ported: Timestamp,
    /// Where the first packet was.
    pub first_loc: Locator,
    /// Side that sent the first packet.
    pub first_side: Side,
    /// Side that sent the first SYN without ACK.
    pub syn_side: Option<Side>,
    /// Side that sent the first SYN+ACK.
    pub synack_side: Option<Side>,
    /// The first packet was a SYN without ACK.
    pub starts_with_syn: bool,
    /// TCP history.
    pub history: History,
    /// Encapsulation layers enclosing the packets (index into the table's chains).
    pub chains: Chains,
    /// Number of encapsulation layers around the first packet.
    pub depth: u8,
    /// Active-timeout slice.
    slice: i64,
    /// This is the first segment of its key in the table it was built in.
    table_first: bool,
    /// Joined into an earlier segment when tables were appended: no longer a flow.
    dead: bool,
}

impl Flow {
    fn new(key: FlowKey, side: Side, ts: Timestamp, loc: Locator, depth: u8, slice: i64) -> Flow {
        Flow {
            key,
            dir: [DirStats::default(); 2],
            start_ts: ts,
            max_ts: ts,
            last_ported: ts,
            first_loc: loc,
            first_side: side,
            syn_side: None,
            synack_side: None,
            starts_with_syn: false,
            history: History::default(),
            chains: Chains::default(),
            depth,
            slice,
            table_first: false,
            dead: false,
        }
    }

    /// The originator: the sender of the first SYN; failing that, the receiver of the first
    /// SYN+ACK; failing that, the sender of the first packet.
    pub fn orig_side(&self) -> Side {
        if self.key.one_way() {
            return Side::Lo;
        }
        self.syn_side
            .or(self.synack_side.map(Side::other))
            .unwrap_or(self.first_side)
    }

    /// Earliest packet time.
    pub fn first_ts(&self) -> Timestamp {
        self.dir[0].first.min(self.dir[1].first)
    }

    /// The order flows are written in: first packet time, input, frame, encapsulation depth,
    /// key.
    pub fn order_key(&self) -> (Timestamp, u32, u64, u8, FlowKey) {
        (
            self.first_ts(),
            self.first_loc.input,
            self.first_loc.frame,
            self.depth,
            self.key,
        )
    }

    fn write(&self, w: &mut BinWriter) {
        w.buf.extend_from_slice(&self.key.to_bytes());
        for d in &self.dir {
            w.u64(d.pkts);
            w.u64(d.bytes);
            w.u64(d.payload_bytes);
            w.i64(d.first.0);
            w.i64(d.last.0);
            w.u8(d.ttl_min);
            w.u8(d.ttl_max);
            w.u8(d.tcp_flags);
            w.u32(d.first_seq);
        }
        w.i64(self.start_ts.0);
        w.i64(self.max_ts.0);
        w.i64(self.last_ported.0);
        w.i64(self.slice);
        self.first_loc.encode(w);
        let side = |s: Option<Side>| match s {
            None => 0u8,
            Some(Side::Lo) => 1,
            Some(Side::Hi) => 2,
        };
        w.u8(side(Some(self.first_side)));
        w.u8(side(self.syn_side));
        w.u8(side(self.synack_side));
        w.u8(u8::from(self.starts_with_syn)
            | u8::from(self.table_first) << 1
            | u8::from(self.dead) << 2
            | u8::from(self.chains.unlisted) << 3);
        w.u8(self.depth);
        w.buf.extend_from_slice(&self.history.to_bytes());
        w.u32(self.chains.first);
        w.u32(self.chains.more.len() as u32);
        for c in &self.chains.more {
            w.u32(*c);
        }
    }

    /// Appends the flow's encoding followed by the layers of each of its chains (`chains`:
    /// its table's), so the record stands alone: a spilled flow takes its chains with it and
    /// the table can forget them.
    pub fn encode_with_chains(&self, chains: &[Box<[Encap]>], out: &mut Vec<u8>) {
        let mut w = BinWriter {
            buf: std::mem::take(out),
        };
        self.write(&mut w);
        for c in self.chains.all() {
            let chain: &[Encap] = chains.get(c as usize).map_or(&[], |c| c);
            w.u32(chain.len() as u32);
            for e in chain {
                e.encode(&mut w);
            }
        }
        *out = w.buf;
    }

    /// Decodes a flow written by [`encode_with_chains`](Self::encode_with_chains): its
    /// chains are pushed to `into`, and its chain ids renumbered to `base` plus their index
    /// there (an empty chain stays 0).
    pub fn decode_with_chains(b: &[u8], base: usize, into: &mut Vec<Box<[Encap]>>) -> Option<Flow> {
        let mut r = BinReader::new(b);
        let mut f = Flow::read(&mut r)?;
        let mut id = || -> Option<ChainId> {
            let n = r.count()?;
            if n == 0 {
                return Some(0);
            }
            let mut c = Vec::with_capacity(n);
            for _ in 0..n {
                c.push(Encap::decode(&mut r)?);
            }
            into.push(c.into_boxed_slice());
            ChainId::try_from(base + into.len() - 1).ok()
        };
        f.chains.first = id()?;
        for i in 0..f.chains.more.len() {
            f.chains.more[i] = id()?;
        }
        (r.at == b.len()).then_some(f)
    }

    fn read(r: &mut BinReader<'_>) -> Option<Flow> {
        let key = FlowKey::from_bytes(r.take(48)?.try_into().ok()?);
        let mut dir = [DirStats::default(); 2];
        for d in &mut dir {
            d.pkts = r.u64()?;
            d.bytes = r.u64()?;
            d.payload_bytes = r.u64()?;
            d.first = Timestamp(r.i64()?);
            d.last = Timestamp(r.i64()?);
            d.ttl_min = r.u8()?;
            d.ttl_max = r.u8()?;
            d.tcp_flags = r.u8()?;
            d.first_seq = r.u32()?;
        }
        let start_ts = Timestamp(r.i64()?);
        let max_ts = Timestamp(r.i64()?);
        let last_ported = Timestamp(r.i64()?);
        let slice = r.i64()?;
        let first_loc = Locator::decode(r)?;
        let side = |v: u8| match v {
            1 => Some(Side::Lo),
            2 => Some(Side::Hi),
            _ => None,
        };
        let m = r.take(5)?;
        let history = History::from_bytes(r.take(17)?.try_into().ok()?)?;
        let first = r.u32()?;
        let n = r.count()?;
        if n >= MAX_FLOW_CHAINS {
            return None;
        }
        let mut more = Vec::with_capacity(n);
        for _ in 0..n {
            more.push(r.u32()?);
        }
        Some(Flow {
            key,
            dir,
            start_ts,
            max_ts,
            last_ported,
            first_loc,
            first_side: side(m[0]).unwrap_or(Side::Lo),
            syn_side: side(m[1]),
            synack_side: side(m[2]),
            starts_with_syn: m[3] & 1 != 0,
            history,
            chains: Chains {
                first,
                more,
                unlisted: m[3] & 8 != 0,
            },
            depth: m[4],
            slice,
            table_first: m[3] & 2 != 0,
            dead: m[3] & 4 != 0,
        })
    }

    /// Packets in both directions.
    pub fn pkts(&self) -> u64 {
        self.dir[0].pkts + self.dir[1].pkts
    }

    #[inline]
    fn count(&mut self, side: Side, p: &PacketFacts, ts: Timestamp, chain: ChainId) {
        let flags = if p.proto == Proto::TCP {
            p.tcp_flags
        } else {
            0
        };
        let seq = (p.proto == Proto::TCP && p.ports_known && p.tcp_flags != 0).then_some(p.tcp_seq);
        self.dir[side.idx()].add(ts, p.ip_len, p.payload_len, p.ttl, flags, seq);
        if ts > self.max_ts {
            self.max_ts = ts;
        }
        if ts > self.last_ported {
            self.last_ported = ts;
        }
        if p.proto == Proto::TCP && p.ports_known {
            let syn = flags & tcp::SYN != 0;
            let ack = flags & tcp::ACK != 0;
            if syn && !ack && self.syn_side.is_none() {
                self.syn_side = Some(side);
            }
            if syn && ack && self.synack_side.is_none() {
                self.synack_side = Some(side);
            }
            self.history.tcp(side, flags, p.payload_len);
        }
        self.chains.add(chain);
    }

    /// Counts a packet that carries no transport header (a later fragment).
    fn count_bare(&mut self, side: Side, b: &Bare) {
        self.dir[side.idx()].add(b.ts, b.ip_len, 0, b.ttl, 0, None);
        if b.ts > self.max_ts {
            self.max_ts = b.ts;
        }
        if (b.loc.input, b.loc.frame) < (self.first_loc.input, self.first_loc.frame) {
            self.first_loc = b.loc;
        }
        self.chains.add(b.chain);
    }

    /// Appends a later segment of the same key. The later segment may hold an earlier
    /// frame (a fragment counted back onto it): the earliest frame is the flow's first.
    fn join(&mut self, later: &Flow) {
        for i in 0..2 {
            self.dir[i].merge(&later.dir[i]);
        }
        if (later.first_loc.input, later.first_loc.frame)
            < (self.first_loc.input, self.first_loc.frame)
        {
            self.first_loc = later.first_loc;
        }
        self.max_ts = self.max_ts.max(later.max_ts);
        self.last_ported = self.last_ported.max(later.last_ported);
        self.syn_side = self.syn_side.or(later.syn_side);
        self.synack_side = self.synack_side.or(later.synack_side);
        self.history.append(&later.history);
        self.chains.join(&later.chains);
    }
}

/// A packet without transport header waiting for its datagram's first fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bare {
    ts: Timestamp,
    ip_len: u32,
    ttl: u8,
    loc: Locator,
    chain: ChainId,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct FragId {
    src: Addr,
    dst: Addr,
    proto: Proto,
    id: u32,
    ctx: Context,
}

/// Where a datagram's fragments are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resolved {
    key: FlowKey,
    side: Side,
    /// The segment, once one of the datagram's packets was counted.
    seg: Option<u32>,
}

/// What is known of one fragmented datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FragEntry {
    first_ts: Timestamp,
    last_ts: Timestamp,
    /// The datagram's flow, the side that sent it, and the flow segment (index into the
    /// table's flows) its packets are counted on, once known.
    flow: Option<Resolved>,
    /// Fragments seen before the flow was known.
    pending: Vec<Bare>,
    /// Byte ranges received, sorted and merged (disjoint, touching ranges joined), so a
    /// datagram's record stays small and each fragment costs a binary search however many
    /// fragments a hostile capture sends.
    ranges: Vec<(u32, u32)>,
    /// Datagram length, once the last fragment arrived.
    total: Option<u32>,
    /// The first bytes of the transport header, gathered from fragments.
    head: [u8; 16],
    head_have: u16,
    overlap: bool,
    first_loc: Locator,
}

impl FragEntry {
    fn new(ts: Timestamp, loc: Locator) -> FragEntry {
        FragEntry {
            first_ts: ts,
            last_ts: ts,
            flow: None,
            pending: Vec::new(),
            ranges: Vec::new(),
            total: None,
            head: [0; 16],
            head_have: 0,
            overlap: false,
            first_loc: loc,
        }
    }

    /// Records a fragment's byte range; true when it overlaps an earlier one.
    fn add_range(&mut self, f: &Fragment) -> bool {
        let (s, e) = (f.offset, f.offset.saturating_add(f.len));
        if !f.more {
            self.total = Some(e);
        }
        self.insert_range(s, e)
    }

    /// Adds the byte range `s..e` to the merged ranges; true when it overlaps one received
    /// before (touching is not overlapping).
    fn insert_range(&mut self, s: u32, e: u32) -> bool {
        let i = self.ranges.partition_point(|&(_, b)| b < s);
        let (mut lo, mut hi, mut overlaps) = (s, e, false);
        let mut j = i;
        while let Some(&(a, b)) = self.ranges.get(j)
            && a <= e
        {
            overlaps |= s < b && a < e;
            lo = lo.min(a);
            hi = hi.max(b);
            j += 1;
        }
        self.ranges.splice(i..j, [(lo, hi)]);
        overlaps
    }

    /// True when the ranges received cover the whole datagram without a gap.
    fn complete(&self) -> bool {
        let Some(total) = self.total else {
            return false;
        };
        match self.ranges[..] {
            [] => total == 0,
            [(0, b)] => b >= total,
            _ => false,
        }
    }

    /// What the record holds in memory, in fragments (waiting packets and ranges).
    fn held(&self) -> usize {
        self.pending.len() + self.ranges.len()
    }

    /// Absorbs a later entry for the same datagram id.
    fn absorb(&mut self, later: FragEntry) {
        self.last_ts = self.last_ts.max(later.last_ts);
        if self.flow.is_none() {
            self.flow = later.flow;
        }
        self.pending.extend(later.pending);
        for (a, b) in later.ranges {
            self.overlap |= self.insert_range(a, b);
        }
        self.total = self.total.or(later.total);
        for i in 0..16 {
            if later.head_have & (1 << i) != 0 && self.head_have & (1 << i) == 0 {
                self.head[i] = later.head[i];
                self.head_have |= 1 << i;
            }
        }
        self.overlap |= later.overlap;
    }
}

impl FragId {
    fn encode(&self, w: &mut BinWriter) {
        self.src.encode(w);
        self.dst.encode(w);
        w.u8(self.proto.0);
        w.u32(self.id);
        self.ctx.encode(w);
    }

    fn decode(r: &mut BinReader<'_>) -> Option<FragId> {
        Some(FragId {
            src: Addr::decode(r)?,
            dst: Addr::decode(r)?,
            proto: Proto(r.u8()?),
            id: r.u32()?,
            ctx: Context::decode(r)?,
        })
    }
}

impl FragEntry {
    fn encode(&self, w: &mut BinWriter) {
        w.i64(self.first_ts.0);
        w.i64(self.last_ts.0);
        w.opt(self.flow, |w, f| {
            w.buf.extend_from_slice(&f.key.to_bytes());
            w.u8(f.side.idx() as u8);
            w.opt(f.seg, |w, s| w.u32(s));
        });
        w.u32(self.pending.len() as u32);
        for b in &self.pending {
            w.i64(b.ts.0);
            w.u32(b.ip_len);
            w.u8(b.ttl);
            b.loc.encode(w);
            w.u32(b.chain);
        }
        w.u32(self.ranges.len() as u32);
        for (a, b) in &self.ranges {
            w.u32(*a);
            w.u32(*b);
        }
        w.opt(self.total, |w, t| w.u32(t));
        w.buf.extend_from_slice(&self.head);
        w.u16(self.head_have);
        w.u8(u8::from(self.overlap));
        self.first_loc.encode(w);
    }

    fn decode(r: &mut BinReader<'_>) -> Option<FragEntry> {
        let first_ts = Timestamp(r.i64()?);
        let last_ts = Timestamp(r.i64()?);
        let flow = r.opt(|r| {
            Some(Resolved {
                key: FlowKey::from_bytes(r.take(48)?.try_into().ok()?),
                side: if r.u8()? == 0 { Side::Lo } else { Side::Hi },
                seg: r.opt(|r| r.u32())?,
            })
        })?;
        let mut pending = Vec::new();
        for _ in 0..r.count()? {
            pending.push(Bare {
                ts: Timestamp(r.i64()?),
                ip_len: r.u32()?,
                ttl: r.u8()?,
                loc: Locator::decode(r)?,
                chain: r.u32()?,
            });
        }
        let mut ranges = Vec::new();
        for _ in 0..r.count()? {
            ranges.push((r.u32()?, r.u32()?));
        }
        let total = r.opt(|r| r.u32())?;
        let head: [u8; 16] = r.take(16)?.try_into().ok()?;
        let mut e = FragEntry {
            first_ts,
            last_ts,
            flow,
            pending,
            ranges: Vec::with_capacity(ranges.len()),
            total,
            head,
            head_have: r.u16()?,
            overlap: r.u8()? != 0,
            first_loc: Locator::decode(r)?,
        };
        // Written merged; merged again in case the bytes were not.
        for (a, b) in ranges {
            e.insert_range(a, b);
        }
        Some(e)
    }
}

/// The flow a datagram's gathered header bytes name, once they hold the ports (or ICMP type
/// and code).
fn flow_from_head(id: &FragId, e: &FragEntry) -> Option<Resolved> {
    let need: u16 = if id.proto.is_icmp() {
        0b11
    } else if id.proto.has_ports() {
        0b1111
    } else {
        return None;
    };
    if e.head_have & need != need {
        return None;
    }
    let h = &e.head;
    let mut s = PacketFacts {
        src: id.src,
        dst: id.dst,
        proto: id.proto,
        ctx: id.ctx,
        ports_known: true,
        ..PacketFacts::default()
    };
    if id.proto.is_icmp() {
        s.sport = u16::from(h[0]);
        s.dport = u16::from(h[1]);
    } else {
        s.sport = u16::from_be_bytes([h[0], h[1]]);
        s.dport = u16::from_be_bytes([h[2], h[3]]);
    }
    let (key, side) = FlowKey::of(&s);
    Some(Resolved {
        key,
        side,
        seg: None,
    })
}

/// Interned encapsulation chains; id 0 is the empty chain.
#[derive(Clone, Debug)]
struct Interner {
    chains: Vec<Box<[Encap]>>,
    /// Ids of the chains, hashed by [`chain_hash`] of the chain they name (each chain is
    /// held once, in `chains`).
    ids: hashbrown::HashTable<ChainId>,
    /// The chain interned last: consecutive packets mostly share one (a trunk's VLAN, a
    /// tunnel's stream), and comparing costs less than hashing.
    last: ChainId,
}

impl Default for Interner {
    fn default() -> Self {
        // The empty chain is never looked up (`intern` answers 0 first).
        Interner {
            chains: vec![Box::from([])],
            ids: hashbrown::HashTable::new(),
            last: 0,
        }
    }
}

/// A chain's hash: a word or three a layer (the derived `Hash` writes each field apart).
/// Equal chains hash equal, which is all the table needs.
fn chain_hash(chain: &[Encap]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = Seeded::default().build_hasher();
    for e in chain {
        match *e {
            Encap::Vlan(v) => h.write_u64(1 << 56 | u64::from(v)),
            Encap::VnTag => h.write_u64(2 << 56),
            Encap::Pbb(i) => h.write_u64(3 << 56 | u64::from(i)),
            Encap::Mpls(l) => h.write_u64(4 << 56 | u64::from(l)),
            Encap::Pppoe(s) => h.write_u64(5 << 56 | u64::from(s)),
            Encap::Tunnel(t) => {
                h.write_u64(
                    6 << 56
                        | (t.kind as u64) << 48
                        | u64::from(t.proto.0) << 40
                        | u64::from(t.sport) << 16
                        | u64::from(t.dport),
                );
                h.write_u64(t.src.hi ^ t.src.lo.rotate_left(32));
                h.write_u64(t.dst.hi ^ t.dst.lo.rotate_left(32));
                h.write_u64(t.id.map_or(1 << 32, u64::from));
            }
        }
    }
    h.finish()
}

impl Interner {
    #[inline]
    fn intern(&mut self, chain: &[Encap]) -> ChainId {
        if chain.is_empty() {
            return 0;
        }
        if self
            .chains
            .get(self.last as usize)
            .is_some_and(|c| **c == *chain)
        {
            return self.last;
        }
        let chains = &self.chains;
        let same = |&i: &ChainId| *chains[i as usize] == *chain;
        let rehash = |&i: &ChainId| chain_hash(&chains[i as usize]);
        let id = match self.ids.entry(chain_hash(chain), same, rehash) {
            TableEntry::Occupied(e) => *e.get(),
            TableEntry::Vacant(e) => {
                let id = chains.len() as ChainId;
                e.insert(id);
                self.chains.push(Box::from(chain));
                id
            }
        };
        self.last = id;
        id
    }
}

/// A packet's encapsulation chain: interned already, or its layers.
#[derive(Clone, Copy)]
enum Chain<'a> {
    Id(ChainId),
    Layers(&'a [Encap]),
}

impl Chain<'_> {
    /// The chain's id: `likely` when the layers are that chain's, else interned.
    #[inline]
    fn id(self, interner: &mut Interner, likely: Option<ChainId>) -> ChainId {
        match self {
            Chain::Id(id) => id,
            Chain::Layers([]) => 0,
            Chain::Layers(layers) => match likely {
                Some(id)
                    if interner
                        .chains
                        .get(id as usize)
                        .is_some_and(|c| **c == *layers) =>
                {
                    id
                }
                _ => interner.intern(layers),
            },
        }
    }
}

/// Packets grouped into flows.
///
/// A table is a partial aggregate of a contiguous stretch of capture: [`FlowTable::append`]
/// joins a table built from the stretch that follows, so tables built in parallel over the
/// chunks of a capture, or in separate runs over the files of one capture set, combine into
/// exactly what one pass over everything gives (sums, minima, maxima, unions, and the TCP
/// history in order). The operation is associative.
#[derive(Clone, Debug)]
pub struct FlowTable {
    cfg: FlowConfig,
    /// Every segment, in creation order (joined ones marked dead).
    flows: Vec<Flow>,
    /// The latest segment of each key that a later packet may still continue.
    open: Open,
    chains: Interner,
    frags: Map<FragId, FragEntry>,
    /// Datagram records that timed out before their flow was known: an earlier table,
    /// appended later, may still hold their first fragment, so they stay open until then.
    expired: Vec<(FragId, FragEntry)>,
    /// Fragments held by datagram records when they were last counted, plus those recorded
    /// since (see [`FlowConfig::max_fragments`]).
    frag_held: usize,
    /// What could not be used.
    pub diag: Diagnostics,
    max_ts: Timestamp,
    /// Earliest packet time in the table.
    min_ts: Timestamp,
    last_sweep: Timestamp,
    /// Frames counted, and how many of them became packets on flows.
    pub frames: u64,
    /// Frames that became at least one packet on a flow.
    pub frames_decoded: u64,
}

/// Flows (or records) encoded between two drains of a streamed encoding (see
/// [`FlowTable::encode_streamed`]).
pub(crate) const ENCODE_BATCH: usize = 4096;

impl FlowTable {
    /// An empty table.
    pub fn new(cfg: FlowConfig) -> FlowTable {
        FlowTable {
            cfg,
            flows: Vec::new(),
            open: Open::default(),
            chains: Interner::default(),
            frags: new_map(),
            expired: Vec::new(),
            frag_held: 0,
            diag: Diagnostics::default(),
            max_ts: Timestamp::MIN,
            min_ts: Timestamp::MAX,
            last_sweep: Timestamp::MIN,
            frames: 0,
            frames_decoded: 0,
        }
    }

    /// Empties the table, keeping its allocations.
    pub fn clear(&mut self) {
        self.flows.clear();
        self.open.clear();
        self.chains = Interner::default();
        self.frags.clear();
        self.expired.clear();
        self.frag_held = 0;
        self.diag = Diagnostics::default();
        self.max_ts = Timestamp::MIN;
        self.min_ts = Timestamp::MAX;
        self.last_sweep = Timestamp::MIN;
        self.frames = 0;
        self.frames_decoded = 0;
    }

    /// The grouping rules.
    pub fn config(&self) -> &FlowConfig {
        &self.cfg
    }

    /// An empty table with room for `flows` flows before it grows.
    pub fn with_capacity(cfg: FlowConfig, flows: usize) -> FlowTable {
        let mut t = FlowTable::new(cfg);
        t.flows.reserve(flows);
        t.open.reserve(flows);
        t
    }

    /// Number of flows so far.
    pub fn len(&self) -> usize {
        self.flows.iter().filter(|f| !f.dead).count()
    }

    /// True when no flow was seen.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts one frame's packets. `encap` is the frame's encapsulation layers; each
    /// packet is enclosed by `encap[..depth]`.
    #[inline]
    pub fn add_frame(
        &mut self,
        packets: &[PacketFacts],
        encap: &[Encap],
        ts: Timestamp,
        loc: Locator,
    ) {
        self.frames += 1;
        if packets.is_empty() {
            return;
        }
        self.frames_decoded += 1;
        if ts < self.min_ts {
            self.min_ts = ts;
        }
        if ts < self.max_ts {
            if ts.since(self.max_ts) < -self.cfg.min_idle() {
                self.diag.add(SkipReason::TimestampBackwards, 0, 0, loc);
            }
        } else {
            self.max_ts = ts;
        }
        for p in packets {
            let layers = &encap[..usize::from(p.depth).min(encap.len())];
            match p.frag {
                Some(f) => {
                    let chain = self.chains.intern(layers);
                    self.fragment(p, f, chain, ts, loc);
                }
                None => {
                    let (key, side) = FlowKey::of(p);
                    // Hashed here, where the key is still in registers: read back from
                    // memory, its narrow fields stalled the wide loads of the hash.
                    let h = short_hash(&key);
                    self.count(key, h, side, p, Chain::Layers(layers), ts, loc);
                }
            }
        }
        if ts.since(self.last_sweep) > self.cfg.frag_timeout && !self.frags.is_empty() {
            self.sweep_frags(ts);
        }
        if self.cfg.max_fragments > 0 && self.frag_held > self.cfg.max_fragments {
            self.bound_frags();
        }
    }

    /// Holds datagram records to [`FlowConfig::max_fragments`]: counts what they hold and,
    /// past the bound, closes the least recently active records until half of it is left,
    /// each counted as `fragment_limit`. Between counts, fragments recorded are added up
    /// (an overestimate, since records shrink unseen); a count below the bound leaves an
    /// eighth of it before the next, so counting costs O(1) per fragment amortised.
    fn bound_frags(&mut self) {
        let max = self.cfg.max_fragments;
        let held: usize = self
            .frags
            .values()
            .chain(self.expired.iter().map(|(_, e)| e))
            .map(FragEntry::held)
            .sum();
        if held <= max {
            self.frag_held = held.max(max - max / 8);
            return;
        }
        let mut order: Vec<(Timestamp, Locator, FragId, bool)> = self
            .frags
            .iter()
            .map(|(id, e)| (e.last_ts, e.first_loc, *id, false))
            .chain(
                self.expired
                    .iter()
                    .map(|(id, e)| (e.last_ts, e.first_loc, *id, true)),
            )
            .collect();
        order.sort_unstable_by_key(|(t, l, ..)| (*t, l.input, l.frame, l.offset));
        let mut left = held;
        let mut closed: std::collections::HashSet<FragId> = std::collections::HashSet::new();
        for (_, _, id, in_expired) in order {
            if left <= max / 2 {
                break;
            }
            if in_expired {
                closed.insert(id);
                continue;
            }
            if let Some(e) = self.frags.remove(&id) {
                left -= e.held();
                self.diag.add(SkipReason::FragmentLimit, 0, 0, e.first_loc);
                self.finish_frag(id, e);
            }
        }
        if !closed.is_empty() {
            let expired = std::mem::take(&mut self.expired);
            for (id, e) in expired {
                if closed.contains(&id) {
                    left -= e.held();
                    self.diag.add(SkipReason::FragmentLimit, 0, 0, e.first_loc);
                    self.finish_frag(id, e);
                } else {
                    self.expired.push((id, e));
                }
            }
        }
        self.frag_held = left;
    }

    /// Counts a packet on the flow of `key` (whose `short_hash` is `h`) and returns the index
    /// of the segment used.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn count(
        &mut self,
        key: FlowKey,
        h: u32,
        side: Side,
        p: &PacketFacts,
        chain: Chain<'_>,
        ts: Timestamp,
        loc: Locator,
    ) -> u32 {
        let slice = self.cfg.slice(ts);
        let pure_syn = p.proto == Proto::TCP
            && p.ports_known
            && p.tcp_flags & (tcp::SYN | tcp::ACK) == tcp::SYN;
        let idle = self.cfg.idle(key.proto);
        match self.open.entry(&self.flows, &key, h) {
            TableEntry::Occupied(mut e) => {
                let f = &mut self.flows[e.get().i as usize];
                let split = ts.since(f.last_ported) > idle
                    || f.slice != slice
                    || (pure_syn && f.history.finished());
                if split {
                    let chain = chain.id(&mut self.chains, None);
                    let mut n = Flow::new(key, side, ts, loc, p.depth, slice);
                    n.starts_with_syn = pure_syn;
                    n.chains.first = chain;
                    n.count(side, p, ts, chain);
                    let i = self.flows.len() as u32;
                    e.get_mut().i = i;
                    self.flows.push(n);
                    i
                } else {
                    // Most packets travel the way their flow's first did: a comparison
                    // with that chain instead of a hash of the layers. A tunnel's two
                    // directions differ in the outer header, so a packet going the other
                    // way is compared with the flow's first other chain.
                    let likely = match f.chains.more.first() {
                        Some(&c) if side != f.first_side => c,
                        _ => f.chains.first,
                    };
                    let chain = chain.id(&mut self.chains, Some(likely));
                    f.count(side, p, ts, chain);
                    e.get().i
                }
            }
            TableEntry::Vacant(e) => {
                let chain = chain.id(&mut self.chains, None);
                let mut n = Flow::new(key, side, ts, loc, p.depth, slice);
                n.starts_with_syn = pure_syn;
                n.table_first = true;
                n.chains.first = chain;
                n.count(side, p, ts, chain);
                let i = self.flows.len() as u32;
                e.insert(Slot { i, h });
                self.flows.push(n);
                i
            }
        }
    }

    /// Counts a packet without transport header on the current flow of `key` and returns
    /// the segment used.
    fn count_bare(&mut self, key: FlowKey, side: Side, b: &Bare) -> u32 {
        let slice = self.cfg.slice(b.ts);
        let h = short_hash(&key);
        match self.open.entry(&self.flows, &key, h) {
            TableEntry::Occupied(e) => {
                let i = e.get().i;
                self.flows[i as usize].count_bare(side, b);
                i
            }
            TableEntry::Vacant(e) => {
                let mut n = Flow::new(key, side, b.ts, b.loc, 0, slice);
                n.table_first = true;
                n.chains.first = b.chain;
                n.count_bare(side, b);
                let i = self.flows.len() as u32;
                e.insert(Slot { i, h });
                self.flows.push(n);
                i
            }
        }
    }

    /// Counts a datagram's packet on the segment the datagram was resolved to.
    fn count_resolved(&mut self, id: FragId, r: Resolved, b: &Bare) {
        match r.seg {
            Some(seg) => self.flows[seg as usize].count_bare(r.side, b),
            None => {
                let seg = self.count_bare(r.key, r.side, b);
                if let Some(e) = self.frags.get_mut(&id)
                    && let Some(f) = &mut e.flow
                {
                    f.seg = Some(seg);
                }
            }
        }
    }

    /// True while an earlier table (appended before this one) may still hold fragments of
    /// the datagram, among them an earlier first fragment: the record starts within the
    /// fragment timeout of this table's first packet. Such a record's later fragments wait
    /// (uncounted) until it is settled, so that they go to the segment of the datagram's
    /// earliest first fragment however the capture was cut.
    fn head_open(&self, e: &FragEntry) -> bool {
        e.first_ts.since(self.min_ts) <= self.cfg.frag_timeout
    }

    /// One IP fragment. A first fragment (with ports) is counted like any packet, on its
    /// own flow; the datagram's record takes the flow of its earliest first fragment, and
    /// its other fragments are counted there. A record lasts while fragments of its id keep
    /// arriving within the fragment timeout, complete or not.
    fn fragment(
        &mut self,
        p: &PacketFacts,
        f: Fragment,
        chain: ChainId,
        ts: Timestamp,
        loc: Locator,
    ) {
        let id = FragId {
            src: p.src,
            dst: p.dst,
            proto: p.proto,
            id: f.id,
            ctx: p.ctx,
        };
        let timeout = self.cfg.frag_timeout;
        let expired = self
            .frags
            .get(&id)
            .is_some_and(|e| ts.since(e.last_ts) > timeout);
        if expired && let Some(old) = self.frags.remove(&id) {
            self.retire_frag(id, old);
        }
        let e = self
            .frags
            .entry(id)
            .or_insert_with(|| FragEntry::new(ts, loc));
        e.last_ts = e.last_ts.max(ts);
        if e.add_range(&f) && !e.overlap {
            e.overlap = true;
        }
        // One range and perhaps one waiting packet more (counted high on purpose).
        self.frag_held += 2;
        if f.offset == 0 && p.ports_known {
            // A first fragment: a packet with ports, counted (and splitting its flow) like
            // any other. The earliest one names the datagram's flow.
            let (key, side) = FlowKey::of(p);
            let h = short_hash(&key);
            let seg = self.count(key, h, side, p, Chain::Id(chain), ts, loc);
            if let Some(e) = self.frags.get_mut(&id) {
                match &mut e.flow {
                    None => {
                        e.flow = Some(Resolved {
                            key,
                            side,
                            seg: Some(seg),
                        })
                    }
                    Some(r) if r.seg.is_none() && r.key == key => r.seg = Some(seg),
                    Some(_) => {}
                }
            }
        } else {
            if e.flow.is_none() {
                // Gather the transport header's first bytes from whatever fragments hold
                // them; once the ports are known the datagram's flow is known.
                for i in 0..usize::from(f.head_len) {
                    let pos = f.offset as usize + i;
                    if pos < 16 && e.head_have & (1 << pos) == 0 {
                        e.head[pos] = f.head[i];
                        e.head_have |= 1 << pos;
                    }
                }
            }
            e.pending.push(Bare {
                ts,
                ip_len: p.ip_len,
                ttl: p.ttl,
                loc,
                chain,
            });
            if e.flow.is_none() {
                e.flow = flow_from_head(&id, e);
            }
        }
        if let Some(e) = self.frags.get(&id)
            && e.flow.is_some()
            && !e.pending.is_empty()
            && !self.head_open(e)
        {
            self.flush_pending(id);
        }
    }

    /// Counts a resolved datagram's waiting fragments on its segment.
    fn flush_pending(&mut self, id: FragId) {
        let (pending, r) = match self.frags.get_mut(&id) {
            Some(e) => match e.flow {
                Some(r) => (std::mem::take(&mut e.pending), r),
                None => return,
            },
            None => return,
        };
        let mut r = r;
        for b in &pending {
            self.count_resolved(id, r, b);
            if r.seg.is_none() {
                r.seg = self.frags.get(&id).and_then(|e| e.flow).and_then(|f| f.seg);
            }
        }
    }

    /// Retires a timed-out datagram record. A record that starts within the fragment
    /// timeout of this table's first packet may still meet a record of the table before
    /// this one (appended later), so it stays open until then; any other is closed.
    fn retire_frag(&mut self, id: FragId, e: FragEntry) {
        if e.first_ts.since(self.min_ts) <= self.cfg.frag_timeout {
            self.expired.push((id, e));
        } else {
            self.finish_frag(id, e);
        }
    }

    /// Closes a datagram's record: counts what never found its flow and what never
    /// completed.
    fn finish_frag(&mut self, id: FragId, e: FragEntry) {
        if e.overlap {
            self.diag
                .add(SkipReason::FragmentOverlap, 0, 0, e.first_loc);
        }
        if !e.pending.is_empty() {
            match e.flow {
                Some(Resolved {
                    seg: Some(seg),
                    side,
                    ..
                }) => {
                    for b in &e.pending {
                        self.flows[seg as usize].count_bare(side, b);
                    }
                }
                Some(Resolved { key, side, .. }) => {
                    let seg = self.count_bare(key, side, &e.pending[0]);
                    for b in &e.pending[1..] {
                        self.flows[seg as usize].count_bare(side, b);
                    }
                }
                None => {
                    // Nothing shows which communication the datagram belongs to: it is a
                    // record of its own, with ports unknown, never merged with another.
                    let n = e.pending.len() as u64;
                    let bytes = e.pending.iter().map(|b| u64::from(b.ip_len)).sum();
                    self.diag
                        .add_n(SkipReason::FragmentWithoutFirst, 0, n, bytes, e.first_loc);
                    let (k, side) = FlowKey::new(id.src, 0, id.dst, 0, id.proto, false, id.ctx);
                    let first = &e.pending[0];
                    let slice = self.cfg.slice(first.ts);
                    let mut f = Flow::new(k.without_ports(), side, first.ts, first.loc, 0, slice);
                    f.chains.first = first.chain;
                    for b in &e.pending {
                        f.count_bare(side, b);
                    }
                    self.flows.push(f);
                }
            }
        }
        if !e.complete() {
            self.diag
                .add(SkipReason::FragmentIncomplete, 0, 0, e.first_loc);
        }
    }

    /// Drops datagram records that can no longer grow and whose flow is known; records
    /// still waiting for their first fragment stay, because an earlier part of the capture
    /// (another chunk) may hold it.
    fn sweep_frags(&mut self, now: Timestamp) {
        self.last_sweep = now;
        let timeout = self.cfg.frag_timeout;
        let mut expired: Vec<(FragId, Locator)> = self
            .frags
            .iter()
            .filter(|(_, e)| now.since(e.last_ts) > timeout)
            .map(|(k, e)| (*k, e.first_loc))
            .collect();
        expired.sort_by_key(|(_, l)| (l.input, l.frame, l.offset));
        for (id, _) in expired {
            if let Some(e) = self.frags.remove(&id) {
                self.retire_frag(id, e);
            }
        }
    }

    /// Shifts the frame numbers of one input (a chunk numbered from 1 becomes part of the
    /// input's numbering).
    pub fn rebase_frames(&mut self, input: u32, base: u64) {
        if base == 0 {
            return;
        }
        let fix = |l: &mut Locator| {
            if l.input == input {
                l.frame += base;
            }
        };
        for f in &mut self.flows {
            fix(&mut f.first_loc);
        }
        for e in self
            .frags
            .values_mut()
            .chain(self.expired.iter_mut().map(|(_, e)| e))
        {
            fix(&mut e.first_loc);
            for b in &mut e.pending {
                fix(&mut b.loc);
            }
        }
        self.diag.rebase(input, input, base);
    }

    /// Adds `offset` to every input index (for a table built in a separate run whose inputs
    /// come after another run's inputs).
    pub fn renumber_inputs(&mut self, offset: u32) {
        if offset == 0 {
            return;
        }
        for f in &mut self.flows {
            f.first_loc.input += offset;
        }
        for e in self
            .frags
            .values_mut()
            .chain(self.expired.iter_mut().map(|(_, e)| e))
        {
            e.first_loc.input += offset;
            for b in &mut e.pending {
                b.loc.input += offset;
            }
        }
        self.diag.shift_inputs(offset);
    }

    /// Joins a table built from the stretch of capture that directly follows this one.
    pub fn append(&mut self, mut later: FlowTable) {
        self.append_from(&mut later);
    }

    /// Like [`append`](Self::append), but leaves `later` empty with its allocations kept,
    /// ready to be filled again (the pipeline recycles its per-chunk tables this way).
    pub fn append_from(&mut self, later: &mut FlowTable) {
        let later_chains = std::mem::take(&mut later.chains);
        let later_diag = std::mem::take(&mut later.diag);
        let (later_frames, later_decoded, later_max, later_min) = (
            later.frames,
            later.frames_decoded,
            later.max_ts,
            later.min_ts,
        );
        later.min_ts = Timestamp::MAX;
        let later_held = std::mem::take(&mut later.frag_held);
        // Settling datagram records below asks whether an earlier table may still matter.
        self.min_ts = self.min_ts.min(later_min);
        later.frames = 0;
        later.frames_decoded = 0;
        later.max_ts = Timestamp::MIN;
        later.last_sweep = Timestamp::MIN;
        // Chain ids of `later` become ids of this table. Only the chains its flows and
        // fragments name are interned here: a packet's chain is interned in its chunk's
        // table before its flow decides whether to list it (see `MAX_FLOW_CHAINS`).
        let mut map: Vec<ChainId> = vec![ChainId::MAX; later_chains.chains.len()];
        let mut to_main = |c: ChainId| {
            let m = &mut map[c as usize];
            if *m == ChainId::MAX {
                *m = self.chains.intern(&later_chains.chains[c as usize]);
            }
            *m
        };
        for f in &mut later.flows {
            f.chains.remap_with(&mut to_main);
        }
        for e in later
            .frags
            .values_mut()
            .chain(later.expired.iter_mut().map(|(_, e)| e))
        {
            for b in &mut e.pending {
                b.chain = to_main(b.chain);
            }
        }
        let cfg = self.cfg;
        // Datagram records continue across the boundary, replayed in time order (for one
        // datagram id, the records that expired inside `later` come before its current
        // one). Fragments that belong to a flow of this table are counted on it first;
        // records whose flow lives in `later` are settled after the joins (fragments never
        // decide joins: only packets with a transport header do).
        let mut later_frags: Vec<(FragId, FragEntry)> = std::mem::take(&mut later.expired);
        later_frags.extend(later.frags.drain());
        later_frags
            .sort_by_key(|(_, e)| (e.first_loc.input, e.first_loc.frame, e.first_loc.offset));
        let mut deferred: Vec<(FragId, FragEntry)> = Vec::new();
        // The ids in `deferred`: a record of an id already deferred waits behind it. (It
        // was a scan of `deferred` per record: quadratic in the datagrams open at a chunk's
        // edge, 12 s for 100,000 orphan fragments.)
        let mut deferred_ids: std::collections::HashSet<FragId, Seeded> = Default::default();
        for (id, mut b) in later_frags {
            if deferred_ids.contains(&id) {
                deferred.push((id, b));
                continue;
            }
            match self.frags.remove(&id) {
                Some(mut a) if b.first_ts.since(a.last_ts) <= cfg.frag_timeout => {
                    match a.flow {
                        // `a` holds the datagram's earliest first fragment and no earlier
                        // table can hold one: `b`'s fragments are counted on its segment.
                        Some(Resolved {
                            seg: Some(seg),
                            side,
                            ..
                        }) if !self.head_open(&a) => {
                            for p in std::mem::take(&mut b.pending) {
                                self.flows[seg as usize].count_bare(side, &p);
                            }
                            // `b`'s first fragments were counted on their own flows.
                            b.flow = None;
                            a.absorb(b);
                            self.frags.insert(id, a);
                        }
                        _ => {
                            self.frags.insert(id, a);
                            deferred_ids.insert(id);
                            deferred.push((id, b));
                        }
                    }
                }
                Some(a) => {
                    self.retire_frag(id, a);
                    deferred_ids.insert(id);
                    deferred.push((id, b));
                }
                None => {
                    deferred_ids.insert(id);
                    deferred.push((id, b));
                }
            }
        }
        // The first segment of each key in `later` may continue this table's open flow.
        let base = self.flows.len();
        self.flows.append(&mut later.flows);
        // Where each of `later`'s segments went: itself, or the segment it joined.
        let mut moved: Vec<u32> = (base..self.flows.len()).map(|i| i as u32).collect();
        for i in base..self.flows.len() {
            if !self.flows[i].table_first {
                continue;
            }
            let key = self.flows[i].key;
            let Some(a) = self.open.remove(&self.flows, &key) else {
                continue;
            };
            let (head, tail) = self.flows.split_at_mut(i);
            let (a_flow, b) = (&mut head[a as usize], &tail[0]);
            let joinable = b.start_ts.since(a_flow.last_ported) <= cfg.idle(key.proto)
                && a_flow.slice == b.slice
                && !(b.starts_with_syn && a_flow.history.finished());
            if joinable {
                a_flow.join(b);
                tail[0].dead = true;
                moved[i - base] = a;
            } else {
                // An earlier segment of the key exists now: this one no longer starts it.
                tail[0].table_first = false;
            }
        }
        // Nothing depends on the map's order (writing a table sorts its entries).
        self.open.reserve(later.open.len());
        for Slot { i, h } in later.open.0.drain() {
            self.open.set(&self.flows, moved[i as usize], h);
        }
        for (id, mut b) in deferred {
            if let Some(r) = &mut b.flow
                && let Some(seg) = &mut r.seg
            {
                *seg = moved[*seg as usize];
            }
            let mut merged = match self.frags.remove(&id) {
                Some(mut a) if b.first_ts.since(a.last_ts) <= cfg.frag_timeout => {
                    a.absorb(b);
                    a
                }
                Some(a) => {
                    self.retire_frag(id, a);
                    b
                }
                None => b,
            };
            if merged.flow.is_none() {
                merged.flow = flow_from_head(&id, &merged);
            }
            let flush =
                merged.flow.is_some() && !merged.pending.is_empty() && !self.head_open(&merged);
            self.frags.insert(id, merged);
            if flush {
                self.flush_pending(id);
            }
            if let Some(e) = self.frags.remove(&id) {
                self.frags.insert(id, e);
            }
        }
        self.diag.merge(later_diag);
        self.frames += later_frames;
        self.frames_decoded += later_decoded;
        self.max_ts = self.max_ts.max(later_max);
        self.evict_idle();
        self.frag_held = self.frag_held.saturating_add(later_held);
        if self.cfg.max_fragments > 0 && self.frag_held > self.cfg.max_fragments {
            self.bound_frags();
        }
    }

    /// Moves open flows that no later packet can continue (idle for longer than their
    /// timeout before the latest packet seen) out of the lookup map, so the map holds only
    /// live flows.
    fn evict_idle(&mut self) {
        let now = self.max_ts;
        if now.since(self.last_sweep) < self.cfg.min_idle() || self.open.len() < 4096 {
            return;
        }
        self.last_sweep = now;
        let cfg = self.cfg;
        let flows = &self.flows;
        self.open.0.retain(|s| {
            let f = &flows[s.i as usize];
            now.since(f.max_ts) <= cfg.idle(f.key.proto)
        });
    }

    /// Writes the whole table, unfinished, so that it can be appended to or finished by
    /// another process (see `hoptrace::pipeline::PartialRun::save`).
    pub fn encode(&self, w: &mut BinWriter) {
        let mut keep = |_: &mut BinWriter| Ok(());
        // Nothing is drained, so nothing can fail.
        let _ = self.encode_streamed(w, &mut keep);
    }

    /// Like [`encode`](Self::encode), handing `w` to `drain` after every few thousand
    /// flows so that the table is never encoded whole in memory (a partial table of
    /// millions of flows doubled its run's peak while it was saved). `drain` writes out
    /// and clears `w.buf`; its error ends the encoding.
    pub fn encode_streamed(
        &self,
        w: &mut BinWriter,
        drain: &mut dyn FnMut(&mut BinWriter) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let c = &self.cfg;
        for v in [
            c.idle_tcp,
            c.idle_udp,
            c.idle_icmp,
            c.idle_other,
            c.frag_timeout,
        ] {
            w.i64(v);
        }
        w.opt(c.active, |w, v| w.i64(v));
        w.u32(self.flows.len() as u32);
        for batch in self.flows.chunks(ENCODE_BATCH) {
            for f in batch {
                f.write(w);
            }
            drain(w)?;
        }
        let mut open: Vec<u32> = self.open.indices().collect();
        open.sort_unstable();
        w.u32(open.len() as u32);
        for i in open {
            w.buf
                .extend_from_slice(&self.flows[i as usize].key.to_bytes());
            w.u32(i);
        }
        w.u32(self.chains.chains.len() as u32);
        for chain in &self.chains.chains {
            w.u32(chain.len() as u32);
            for e in chain.iter() {
                e.encode(w);
            }
        }
        let mut frags: Vec<(&FragId, &FragEntry)> = self.frags.iter().collect();
        frags.sort_by_key(|(_, e)| (e.first_loc.input, e.first_loc.frame, e.first_loc.offset));
        for list in [frags, self.expired.iter().map(|(k, e)| (k, e)).collect()] {
            w.u32(list.len() as u32);
            for (id, e) in list {
                id.encode(w);
                e.encode(w);
            }
        }
        self.diag.encode(w);
        for t in [self.max_ts, self.min_ts, self.last_sweep] {
            w.i64(t.0);
        }
        w.u64(self.frames);
        w.u64(self.frames_decoded);
        drain(w)
    }

    /// Reads a table written by [`encode`](Self::encode); `None` when the bytes are damaged.
    pub fn decode(r: &mut BinReader<'_>) -> Option<FlowTable> {
        FlowTable::decode_releasing(r, &mut |_| {})
    }

    /// Like [`decode`](Self::decode), calling `release` with the reader's position after
    /// every few thousand flows: the bytes before it are no longer read, so a caller that
    /// reads from a memory map can drop their pages (a partial table is then never held
    /// whole beside the flows decoded from it).
    pub fn decode_releasing(
        r: &mut BinReader<'_>,
        release: &mut dyn FnMut(usize),
    ) -> Option<FlowTable> {
        let cfg = FlowConfig {
            idle_tcp: r.i64()?,
            idle_udp: r.i64()?,
            idle_icmp: r.i64()?,
            idle_other: r.i64()?,
            frag_timeout: r.i64()?,
            active: r.opt(|r| r.i64())?,
            max_fragments: DEFAULT_MAX_FRAGMENTS,
        };
        let mut t = FlowTable::new(cfg);
        for i in 0..r.count()? {
            t.flows.push(Flow::read(r)?);
            if (i + 1) % ENCODE_BATCH == 0 {
                release(r.at);
            }
        }
        for _ in 0..r.count()? {
            let k = FlowKey::from_bytes(r.take(48)?.try_into().ok()?);
            let i = r.u32()?;
            // The open segment must be one of the key's.
            if t.flows.get(i as usize).is_none_or(|f| f.key != k) {
                return None;
            }
            t.open.set(&t.flows, i, short_hash(&k));
        }
        let mut chains = Vec::new();
        for _ in 0..r.count()? {
            let n = r.count()?;
            let mut c = Vec::with_capacity(n);
            for _ in 0..n {
                c.push(Encap::decode(r)?);
            }
            chains.push(c.into_boxed_slice());
        }
        let n_chains = chains.len();
        for chain in chains.into_iter().skip(1) {
            t.chains.intern(&chain);
        }
        // Every chain id must name a chain (distinct chains keep their ids when interned).
        if t.chains.chains.len() != n_chains.max(1)
            || t.flows
                .iter()
                .any(|f| f.chains.all().any(|c| c as usize >= n_chains.max(1)))
        {
            return None;
        }
        let n = t.flows.len() as u32;
        let chains_n = t.chains.chains.len() as u32;
        let valid = |e: &FragEntry| {
            e.pending.iter().all(|b| b.chain < chains_n)
                && match e.flow {
                    Some(Resolved { seg: Some(s), .. }) => s < n,
                    _ => true,
                }
        };
        for _ in 0..r.count()? {
            let id = FragId::decode(r)?;
            let e = FragEntry::decode(r)?;
            if !valid(&e) {
                return None;
            }
            t.frags.insert(id, e);
        }
        for _ in 0..r.count()? {
            let id = FragId::decode(r)?;
            let e = FragEntry::decode(r)?;
            if !valid(&e) {
                return None;
            }
            t.expired.push((id, e));
        }
        t.diag = Diagnostics::decode(r)?;
        t.max_ts = Timestamp(r.i64()?);
        t.min_ts = Timestamp(r.i64()?);
        t.last_sweep = Timestamp(r.i64()?);
        t.frames = r.u64()?;
        t.frames_decoded = r.u64()?;
        t.frag_held = t
            .frags
            .values()
            .chain(t.expired.iter().map(|(_, e)| e))
            .map(FragEntry::held)
            .sum();
        Some(t)
    }

    /// Number of flow segments held (for deciding when to spill).
    pub fn held(&self) -> usize {
        self.flows.len()
    }

    /// Number of flow segments held that no later packet can continue (out of the lookup
    /// table of open flows): at most what [`take_finished`](Self::take_finished) would take
    /// (a closed segment may still wait for fragments).
    pub fn closed(&self) -> usize {
        self.flows.len().saturating_sub(self.open.len())
    }

    /// Removes and returns, in output order, the flows no later packet or fragment can
    /// change: not open, not waiting for fragments. Only for a table nothing will be
    /// appended to the left of (a run's own table), because a closed segment may still
    /// join the open segment of a table before it.
    pub fn take_finished(&mut self) -> Vec<Flow> {
        let n = self.flows.len();
        let mut keep = vec![false; n];
        for i in self.open.indices() {
            keep[i as usize] = true;
        }
        for e in self
            .frags
            .values()
            .chain(self.expired.iter().map(|(_, e)| e))
        {
            if let Some(Resolved { seg: Some(seg), .. }) = e.flow {
                keep[seg as usize] = true;
            }
        }
        let mut remap = vec![u32::MAX; n];
        // In place: the flows kept move down in the same arena (a second arena for them
        // doubled the arena's memory at every spill while most flows were live).
        let (mut i, mut w) = (0usize, 0u32);
        let mut done: Vec<Flow> = self
            .flows
            .extract_if(.., |f| {
                let k = keep[i] && !f.dead;
                if k {
                    remap[i] = w;
                    w += 1;
                }
                i += 1;
                !k
            })
            .filter(|f| !f.dead)
            .collect();
        // Keys stay as they were, so the slots keep their hashes.
        for s in self.open.0.iter_mut() {
            s.i = remap[s.i as usize];
        }
        for e in self
            .frags
            .values_mut()
            .chain(self.expired.iter_mut().map(|(_, e)| e))
        {
            if let Some(Resolved { seg: Some(seg), .. }) = &mut e.flow {
                *seg = remap[*seg as usize];
            }
        }
        done.sort_unstable_by_key(Flow::order_key);
        done
    }

    /// Forgets the encapsulation chains no flow or waiting fragment of the table names any
    /// more (after [`take_finished`](Self::take_finished) took flows out, their chains
    /// written with them), renumbering the rest: the chain table then grows with the live
    /// flows, not with every tunnel the run has seen (one per VXLAN flow: its outer source
    /// port follows the inner flow).
    pub fn compact_chains(&mut self) {
        let n = self.chains.chains.len();
        let mut used = vec![false; n];
        let mut mark = |c: ChainId| {
            if let Some(u) = used.get_mut(c as usize) {
                *u = true;
            }
        };
        for f in &self.flows {
            f.chains.all().for_each(&mut mark);
        }
        for e in self
            .frags
            .values()
            .chain(self.expired.iter().map(|(_, e)| e))
        {
            e.pending.iter().for_each(|b| mark(b.chain));
        }
        if used.iter().skip(1).all(|&u| u) {
            return;
        }
        let mut kept = Interner::default();
        let mut map = vec![0 as ChainId; n];
        for (i, c) in std::mem::take(&mut self.chains.chains).iter().enumerate() {
            if used[i] {
                map[i] = kept.intern(c);
            }
        }
        self.chains = kept;
        for f in &mut self.flows {
            f.chains.remap(&map);
        }
        for e in self
            .frags
            .values_mut()
            .chain(self.expired.iter_mut().map(|(_, e)| e))
        {
            for b in &mut e.pending {
                b.chain = map[b.chain as usize];
            }
        }
    }

    /// The encapsulation chains interned so far, by [`ChainId`].
    pub fn chains(&self) -> &[Box<[Encap]>] {
        &self.chains.chains
    }

    /// Ends the table: closes datagram records and returns every flow in output order
    /// (first packet time, then input and frame, then encapsulation depth and key).
    pub fn finish(mut self) -> FlowSet {
        let mut frags: Vec<(FragId, FragEntry)> = std::mem::take(&mut self.expired);
        frags.extend(self.frags.drain());
        frags.sort_by_key(|(_, e)| (e.first_loc.input, e.first_loc.frame, e.first_loc.offset));
        for (id, e) in frags {
            self.finish_frag(id, e);
        }
        // Drop joined segments in place, sort small keys, then put each flow in its place
        // by following the permutation's cycles: no second copy of the flows (each about
        // 300 bytes) and no fresh pages to fault in, which made this the longest step of a
        // run that had only one thread busy.
        self.flows.retain(|f| !f.dead);
        let mut order: Vec<(Timestamp, u32, u64, u8, u32)> = self
            .flows
            .iter()
            .enumerate()
            .map(|(i, f)| {
                (
                    f.first_ts(),
                    f.first_loc.input,
                    f.first_loc.frame,
                    f.depth,
                    i as u32,
                )
            })
            .collect();
        let all = &self.flows;
        order.sort_unstable_by(|a, b| {
            (a.0, a.1, a.2, a.3)
                .cmp(&(b.0, b.1, b.2, b.3))
                .then_with(|| all[a.4 as usize].key.cmp(&all[b.4 as usize].key))
        });
        let perm: Vec<u32> = order.into_iter().map(|o| o.4).collect();
        permute_in_place(&mut self.flows, &perm);
        FlowSet {
            flows: self.flows,
            chains: self.chains.chains,
            diag: self.diag,
            frames: self.frames,
            frames_decoded: self.frames_decoded,
        }
    }
}

/// Reorders `items` so that position `k` holds what was at `perm[k]`, where `perm` is a
/// permutation of `0..items.len()`: one swap per element at most (each cycle of the
/// permutation is followed once), no copy of the slice.
fn permute_in_place<T>(items: &mut [T], perm: &[u32]) {
    debug_assert_eq!(items.len(), perm.len());
    let mut done = vec![false; perm.len()];
    for start in 0..perm.len() {
        if done[start] {
            continue;
        }
        // Position `k` holds what belonged at `start` until the cycle closes.
        let mut k = start;
        loop {
            done[k] = true;
            let j = perm[k] as usize;
            if j == start {
                break;
            }
            items.swap(k, j);
            k = j;
        }
    }
}

/// The flows of a finished table, in output order, with the encapsulation chains they
/// refer to.
#[derive(Clone, Debug)]
pub struct FlowSet {
    /// Flows in output order.
    pub flows: Vec<Flow>,
    /// Encapsulation chains by [`ChainId`].
    pub chains: Vec<Box<[Encap]>>,
    /// What could not be used.
    pub diag: Diagnostics,
    /// Frames read.
    pub frames: u64,
    /// Frames that became packets on flows.
    pub frames_decoded: u64,
}

impl FlowSet {
    /// The encapsulation layers of a chain.
    pub fn chain(&self, id: ChainId) -> &[Encap] {
        self.chains.get(id as usize).map_or(&[], |c| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permuting_in_place_matches_indexing_for_every_permutation_of_five() {
        fn perms(n: u32) -> Vec<Vec<u32>> {
            if n == 0 {
                return vec![vec![]];
            }
            let mut out = Vec::new();
            for p in perms(n - 1) {
                for at in 0..=p.len() {
                    let mut q = p.clone();
                    q.insert(at, n - 1);
                    out.push(q);
                }
            }
            out
        }
        for n in 0..=5 {
            let all = perms(n);
            assert_eq!(all.len(), (1..=n as usize).product::<usize>());
            for perm in all {
                let items: Vec<String> = (0..n).map(|i| format!("flow {i}")).collect();
                let want: Vec<String> = perm.iter().map(|&i| items[i as usize].clone()).collect();
                let mut got = items;
                permute_in_place(&mut got, &perm);
                assert_eq!(got, want, "permutation {perm:?}");
            }
        }
    }

    #[test]
    fn the_interner_gives_one_id_per_distinct_chain() {
        use crate::decode::{Tunnel, TunnelKind};
        let tunnel = |sport: u16, id: Option<u32>, v4: bool| {
            let a = |x: u8| {
                if v4 {
                    Addr::v4([10, 0, 0, x])
                } else {
                    Addr::v6([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, x])
                }
            };
            Encap::Tunnel(Tunnel {
                kind: TunnelKind::Vxlan,
                src: a(1),
                dst: a(2),
                proto: Proto::UDP,
                sport,
                dport: 4789,
                id,
            })
        };
        let mut chains: Vec<Vec<Encap>> = vec![
            vec![Encap::Vlan(7)],
            vec![Encap::Vlan(8)],
            vec![Encap::Mpls(7)],
            vec![Encap::Pbb(7)],
            vec![Encap::Pppoe(7)],
            vec![Encap::VnTag],
            vec![Encap::Vlan(7), Encap::Vlan(8)],
            vec![Encap::Vlan(8), Encap::Vlan(7)],
        ];
        for sport in [1, 2, 3000] {
            for id in [None, Some(0), Some(1 << 31)] {
                for v4 in [true, false] {
                    chains.push(vec![tunnel(sport, id, v4)]);
                    chains.push(vec![Encap::Vlan(7), tunnel(sport, id, v4)]);
                }
            }
        }
        let mut t = Interner::default();
        let ids: Vec<ChainId> = chains.iter().map(|c| t.intern(c)).collect();
        assert_eq!(ids, (1..=chains.len() as ChainId).collect::<Vec<_>>());
        // Again, in another order and with repeats: the same ids, nothing new.
        for (i, c) in chains
            .iter()
            .enumerate()
            .rev()
            .chain(chains.iter().enumerate())
        {
            assert_eq!(t.intern(c), ids[i], "{c:?}");
            assert_eq!(t.intern(c), ids[i], "{c:?}");
        }
        assert_eq!(t.chains.len(), chains.len() + 1);
        assert_eq!(t.intern(&[]), 0);
    }

    #[test]
    fn a_decoded_table_finds_its_open_flows_and_refuses_an_open_entry_of_another_key() {
        let mut t = FlowTable::new(FlowConfig::default());
        let packet = |sport: u16| PacketFacts {
            src: Addr::v4([10, 0, 0, 1]),
            dst: Addr::v4([192, 0, 2, 7]),
            sport,
            dport: 53,
            proto: Proto::UDP,
            ip_len: 60,
            ttl: 64,
            ports_known: true,
            ..PacketFacts::default()
        };
        for (i, sport) in [1000u16, 2000, 1000].into_iter().enumerate() {
            t.add_frame(
                &[packet(sport)],
                &[],
                Timestamp(i as i64),
                Locator::default(),
            );
        }
        assert_eq!(t.flows.len(), 2);
        let mut w = BinWriter::default();
        t.encode(&mut w);
        let mut d = FlowTable::decode(&mut BinReader::new(&w.buf)).expect("decodes");
        // Packets after the round trip land on the flows they continue.
        d.add_frame(&[packet(2000)], &[], Timestamp(3), Locator::default());
        d.add_frame(&[packet(1000)], &[], Timestamp(4), Locator::default());
        let pkts: Vec<u64> = d
            .flows
            .iter()
            .map(|f| f.dir[0].pkts + f.dir[1].pkts)
            .collect();
        assert_eq!(pkts, [3, 2]);
        // The open entries are (key, index) in index order: point the first key at the
        // second flow.
        let key = t.flows[0].key.to_bytes();
        let at = w
            .buf
            .windows(52)
            .rposition(|x| x[..48] == key && x[48..] == [0; 4]);
        let at = at.expect("the open entry of the first flow") + 48;
        w.buf[at] = 1;
        assert!(FlowTable::decode(&mut BinReader::new(&w.buf)).is_none());
    }

    #[test]
    fn flows_survive_their_binary_encoding() {
        let mut t = FlowTable::new(FlowConfig::default());
        let p = PacketFacts {
            src: Addr::v4([10, 0, 0, 1]),
            dst: Addr::v6([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            sport: 1234,
            dport: 443,
            proto: Proto::TCP,
            ip_len: 60,
            ttl: 61,
            tcp_flags: tcp::SYN,
            ports_known: true,
            ..PacketFacts::default()
        };
        let loc = Locator {
            input: 2,
            interface: 1,
            frame: 77,
            offset: 9000,
        };
        t.add_frame(&[p], &[], Timestamp(5), loc);
        let mut f = t.flows[0].clone();
        f.chains = Chains {
            first: 1,
            more: vec![3, 0],
            unlisted: true,
        };
        let chains: Vec<Box<[Encap]>> = vec![
            Box::from([]),
            Box::from([Encap::Vlan(5)]),
            Box::from([Encap::Vlan(6)]),
            Box::from([Encap::Vlan(7), Encap::Mpls(9)]),
        ];
        let mut buf = Vec::new();
        f.encode_with_chains(&chains, &mut buf);
        // The chains come back after the table's `base` chains; an empty one stays 0.
        let mut into = Vec::new();
        let g = Flow::decode_with_chains(&buf, 10, &mut into).expect("decodes");
        assert_eq!(into, [chains[1].clone(), chains[3].clone()]);
        assert_eq!(
            g.chains,
            Chains {
                first: 10,
                more: vec![11, 0],
                unlisted: true,
            }
        );
        assert_eq!(
            Flow {
                chains: f.chains.clone(),
                ..g
            },
            f
        );
        assert!(Flow::decode_with_chains(&buf[..buf.len() - 1], 10, &mut Vec::new()).is_none());
        buf.extend_from_slice(b"trailing");
        assert!(Flow::decode_with_chains(&buf, 10, &mut Vec::new()).is_none());
    }
}
