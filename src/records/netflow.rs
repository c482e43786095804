//! NetFlow v5, v9 and IPFIX export datagrams → [`FlowRecord`]s.
//!
//! Templates live per scope: exporter address and port (or the input, for files of raw
//! datagrams), protocol version, and v9 source ID or IPFIX observation domain. Data sets
//! that arrive before their template wait (bounded in number, bytes and time) and are
//! decoded with their own locators when the template comes; the ones that never meet a
//! template are counted under [`SkipReason::NoTemplate`]. IPFIX template withdrawals
//! (field count 0) remove templates; a template with the same ID replaces the old one.
//! Variable-length fields are read, enterprise-specific fields skipped (except the RFC 5103
//! reverse counters), options data read for sampling intervals and the exporter's boot time.
//!
//! hoptrace walks the element IDs itself rather than through a general NetFlow crate:
//! evidence needs every decoded record to keep its own frame (a crate that replays waiting
//! data when the template arrives attributes it to the template's packet) and the exact
//! values of time fields (which typed decoders turn into durations).

use super::{FlowRecord, RecordKind, RecordLoc, TimeOriginal};
use crate::model::{Addr, Diagnostics, Locator, Proto, SkipReason, Timestamp};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

/// Detail codes of [`SkipReason::BadExport`].
pub mod bad {
    /// A version number that is not 5, 9 or 10.
    pub const VERSION: u32 = 1;
    /// The header's length or count disagrees with the datagram.
    pub const LENGTH: u32 = 2;
    /// A set (flowset) whose length runs past the datagram or is shorter than its header.
    pub const SET_LENGTH: u32 = 3;
    /// A template whose fields cannot be (zero-length fixed fields past the first, a length
    /// that overruns the set).
    pub const TEMPLATE: u32 = 4;
    /// A record shorter than its template says.
    pub const RECORD: u32 = 5;
    /// A datagram shorter than its header.
    pub const SHORT: u32 = 6;
    /// The exporter's template table is full.
    pub const TEMPLATES_FULL: u32 = 7;
    /// The table of exporters is full.
    pub const SCOPES_FULL: u32 = 8;
    /// The exporter's table of sampling intervals is full.
    pub const SAMPLERS_FULL: u32 = 9;
    /// The templates held (of every exporter) have as many fields as they may.
    pub const TEMPLATE_FIELDS_FULL: u32 = 10;
}

/// Most sampling intervals (by sampler ID) kept per exporter scope, from options data:
/// one per sampler an exporter runs, so a handful; past it new IDs are counted
/// (`bad::SAMPLERS_FULL`), not kept, so options data cannot grow the state without end.
pub const MAX_SAMPLERS: usize = 4096;

/// Bounds on what a collector keeps; defaults suit thousands of exporters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Exporter scopes (exporter, version, domain) with templates.
    pub max_scopes: usize,
    /// Templates per scope.
    pub max_templates: usize,
    /// Fields of all templates held, every scope's together (8 bytes each): a template may
    /// have 16,383 fields, so the counts above alone let a flood of large templates hold
    /// memory in proportion to the input.
    pub max_template_fields: usize,
    /// Data sets waiting for their template.
    pub max_pending: usize,
    /// Bytes of data sets waiting for their template.
    pub max_pending_bytes: usize,
    /// How long (export time) a data set waits for its template, in nanoseconds.
    pub pending_timeout: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_scopes: 65_536,
            max_templates: 4096,
            max_template_fields: 8 << 20,
            max_pending: 65_536,
            max_pending_bytes: 64 << 20,
            pending_timeout: 600 * 1_000_000_000,
        }
    }
}

/// Export times further than this from the capture time of their datagram are noted.
pub const CLOCK_SKEW_NOTE_S: i64 = 600;

/// One export datagram as found: where, when it was captured, and who sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The frame (capture) or datagram (raw file) that carried it.
    pub at: Locator,
    /// Capture time (raw files: none).
    pub captured: Option<Timestamp>,
    /// Exporter address and source port (capture), or none (raw file).
    pub exporter: Option<(Addr, u16)>,
    /// The datagram.
    pub bytes: Vec<u8>,
}

/// Checks a whole UDP payload for a NetFlow v5/v9 or IPFIX export: the version, and the
/// header's count or length and every set's length agreeing exactly with the payload.
/// Returns the version.
pub fn looks_like_export(b: &[u8]) -> Option<u16> {
    if b.len() < 16 {
        return None;
    }
    match be16(b, 0) {
        5 => {
            // Some exporters pad the datagram after the records.
            let count = usize::from(be16(b, 2));
            ((1..=30).contains(&count) && b.len() >= 24 + 48 * count).then_some(5)
        }
        9 => (b.len() >= 24 && sets_fit(&b[20..], true)).then_some(9),
        10 => {
            // One or more whole IPFIX messages.
            let mut rest = b;
            while !rest.is_empty() {
                let n = usize::from(be16(rest, 2));
                if rest.len() < 20
                    || be16(rest, 0) != 10
                    || n < 20
                    || n > rest.len()
                    || !sets_fit(&rest[16..n], false)
                {
                    return None;
                }
                rest = &rest[n..];
            }
            Some(10)
        }
        _ => None,
    }
}

/// True when `b` is a sequence of sets with valid IDs whose lengths end exactly at its end.
fn sets_fit(mut b: &[u8], v9: bool) -> bool {
    if b.is_empty() {
        return false;
    }
    while !b.is_empty() {
        if b.len() < 4 {
            return false;
        }
        let (id, len) = (be16(b, 0), usize::from(be16(b, 2)));
        let id_ok = if v9 {
            id <= 1 || id >= 256
        } else {
            id == 2 || id == 3 || id >= 256
        };
        if !id_ok || len < 4 || len > b.len() {
            return false;
        }
        b = &b[len..];
    }
    true
}

/// The length of the datagram at the start of `b` in a file of raw datagrams, when its
/// header is plausible.
pub fn datagram_len(b: &[u8]) -> Option<usize> {
    if b.len() < 16 {
        return None;
    }
    match be16(b, 0) {
        5 => {
            let count = usize::from(be16(b, 2));
            let n = 24 + 48 * count;
            ((1..=30).contains(&count) && b.len() >= n).then_some(n)
        }
        9 => {
            // No length in a v9 header: walk the flowsets to the next header or the end.
            if b.len() < 24 {
                return None;
            }
            let mut p = 20;
            while p < b.len() {
                if b.len() - p < 4 {
                    return None;
                }
                let (id, len) = (be16(b, p), usize::from(be16(b, p + 2)));
                if id == 9 && p > 20 {
                    break;
                }
                if !(id <= 1 || id >= 256) || len < 4 || p + len > b.len() {
                    return None;
                }
                p += len;
            }
            Some(p)
        }
        10 => {
            let n = usize::from(be16(b, 2));
            (n >= 20 && n <= b.len()).then_some(n)
        }
        _ => None,
    }
}

#[derive(Clone, Debug)]
struct Field {
    id: u16,
    /// 65535: variable length.
    len: u16,
    enterprise: u32,
}

#[derive(Clone, Debug)]
struct Template {
    fields: Vec<Field>,
    /// Options template: scope fields first, no flow.
    options: bool,
}

#[derive(Default, Debug)]
struct Scope {
    templates: HashMap<u16, std::sync::Arc<Template>>,
    /// Sampling interval from options data (per sampler id; 0 = any).
    sampling: HashMap<u64, u32>,
    /// Exporter boot time in ms since the epoch (IPFIX systemInitTimeMilliseconds).
    boot_ms: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ScopeKey {
    exporter: Option<(Addr, u16)>,
    input: u32,
    version: u16,
    domain: u32,
}

/// Who sent a data set, for sharing the bound on sets waiting: the exporter's address (of
/// any port, version and domain), or the input of a raw export file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Source(Option<Addr>, u32);

impl ScopeKey {
    fn source(&self) -> Source {
        Source(self.exporter.map(|e| e.0), self.input)
    }
}

/// What every record of a datagram shares.
#[derive(Clone, Copy, Debug)]
struct Header {
    version: u16,
    /// Export time, ms since the epoch (v9, IPFIX: seconds × 1000; v5 with nanoseconds).
    export_ns: i64,
    /// v5/v9: the exporter's uptime at export, ms.
    uptime_ms: Option<u32>,
    domain: u32,
}

struct Waiting {
    key: ScopeKey,
    template: u16,
    header: Header,
    at: Locator,
    exporter: Option<(Addr, u16)>,
    first_record: u32,
    body: Vec<u8>,
}

/// Data sets waiting for their template, in arrival order, with indexes by template and by
/// export time: a template's arrival and each datagram's check for sets waited too long
/// cost what they take out (and a logarithm), not a walk over everything waiting (which
/// made a flood of data sets for templates that never come quadratic up to the bound).
#[derive(Default)]
struct Pending {
    /// Arrival number of the next set.
    next: u64,
    sets: BTreeMap<u64, Waiting>,
    bytes: usize,
    /// Arrival numbers by scope and template, each list in arrival order. Numbers of sets
    /// taken out another way stay until the list is taken or the index rebuilt.
    by_template: HashMap<(ScopeKey, u16), Vec<u64>>,
    by_template_len: usize,
    /// (export time, arrival number), earliest first; stale entries as above.
    by_time: BinaryHeap<Reverse<(i64, u64)>>,
    /// Each source's sets (arrival numbers) and bytes, and the sources ordered by sets and
    /// by bytes waiting: past a bound, the source holding the most gives up its oldest, so
    /// one exporter whose templates never come cannot push out the sets of the others.
    by_source: HashMap<Source, (BTreeSet<u64>, usize)>,
    most_sets: BTreeSet<(usize, Source)>,
    most_bytes: BTreeSet<(usize, Source)>,
}

impl Pending {
    fn len(&self) -> usize {
        self.sets.len()
    }

    fn push(&mut self, w: Waiting) {
        let n = self.next;
        self.next += 1;
        self.bytes += w.body.len();
        self.by_template
            .entry((w.key, w.template))
            .or_default()
            .push(n);
        self.by_template_len += 1;
        self.by_time.push(Reverse((w.header.export_ns, n)));
        self.account(w.key.source(), n, w.body.len(), true);
        self.sets.insert(n, w);
        self.compact();
    }

    fn remove(&mut self, n: u64) -> Option<Waiting> {
        let w = self.sets.remove(&n)?;
        self.bytes -= w.body.len();
        self.account(w.key.source(), n, w.body.len(), false);
        Some(w)
    }

    /// Adds set `n` (of `bytes`) to its source's share, or takes it out.
    fn account(&mut self, src: Source, n: u64, bytes: usize, add: bool) {
        let e = self.by_source.entry(src).or_default();
        self.most_sets.remove(&(e.0.len(), src));
        self.most_bytes.remove(&(e.1, src));
        if add {
            e.0.insert(n);
            e.1 += bytes;
        } else {
            e.0.remove(&n);
            e.1 -= bytes;
        }
        if e.0.is_empty() {
            self.by_source.remove(&src);
        } else {
            self.most_sets.insert((e.0.len(), src));
            self.most_bytes.insert((e.1, src));
        }
    }

    /// The oldest set of the source with the most sets waiting (`by_bytes`: the most bytes;
    /// ties go to the greater source).
    fn pop_from_most(&mut self, by_bytes: bool) -> Option<Waiting> {
        let most = if by_bytes {
            &self.most_bytes
        } else {
            &self.most_sets
        };
        let &(_, src) = most.last()?;
        let &n = self.by_source.get(&src)?.0.first()?;
        self.remove(n)
    }

    /// The sets waiting for this scope's template, in arrival order.
    fn take_template(&mut self, key: ScopeKey, tid: u16) -> Vec<Waiting> {
        let Some(numbers) = self.by_template.remove(&(key, tid)) else {
            return Vec::new();
        };
        self.by_template_len -= numbers.len();
        numbers.into_iter().filter_map(|n| self.remove(n)).collect()
    }

    /// The sets exported more than `limit` before `now_ns` (earliest first).
    fn take_expired(&mut self, now_ns: i64, limit: i64) -> Vec<Waiting> {
        let mut out = Vec::new();
        while let Some(&Reverse((t, n))) = self.by_time.peek() {
            if now_ns.saturating_sub(t) <= limit {
                break;
            }
            self.by_time.pop();
            out.extend(self.remove(n));
        }
        out
    }

    /// Every set, in arrival order.
    fn take_all(&mut self) -> Vec<Waiting> {
        self.by_template.clear();
        self.by_template_len = 0;
        self.by_time.clear();
        self.bytes = 0;
        self.by_source.clear();
        self.most_sets.clear();
        self.most_bytes.clear();
        std::mem::take(&mut self.sets).into_values().collect()
    }

    /// Rebuilds an index once it holds more than twice the sets waiting (the entries of
    /// sets taken out another way): each rebuild follows as many removals as it costs.
    fn compact(&mut self) {
        let room = 2 * self.sets.len() + 64;
        if self.by_time.len() > room {
            self.by_time = self
                .sets
                .iter()
                .map(|(&n, w)| Reverse((w.header.export_ns, n)))
                .collect();
        }
        if self.by_template_len > room {
            self.by_template.clear();
            for (&n, w) in &self.sets {
                self.by_template
                    .entry((w.key, w.template))
                    .or_default()
                    .push(n);
            }
            self.by_template_len = self.sets.len();
        }
    }
}

/// Decodes export datagrams in the order they were captured, keeping template state.
#[derive(Default)]
pub struct Collector {
    limits: Limits,
    scopes: HashMap<ScopeKey, Scope>,
    /// Fields of the templates in `scopes`.
    template_fields: usize,
    pending: Pending,
    /// Datagrams decoded.
    pub datagrams: u64,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("scopes", &self.scopes.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Collector {
    /// A collector with the given bounds.
    pub fn new(limits: Limits) -> Collector {
        Collector {
            limits,
            ..Collector::default()
        }
    }

    /// Decodes one datagram, appending its flow records to `out` and what it could not use
    /// to `diag`.
    pub fn datagram(&mut self, e: &Export, out: &mut Vec<FlowRecord>, diag: &mut Diagnostics) {
        let b = &e.bytes[..];
        self.datagrams += 1;
        let size = b.len() as u64;
        if b.len() < 4 {
            diag.add(SkipReason::BadExport, bad::SHORT, size, e.at);
            return;
        }
        // An exporter whose clock is far from the capture's: its record times (derived
        // from the export time) are off by as much; note it once per datagram.
        let export_secs = match be16(b, 0) {
            5 | 9 => Some(i64::from(be32(b, 8))),
            10 => Some(i64::from(be32(b, 4))),
            _ => None,
        };
        if let (Some(x), Some(c)) = (export_secs, e.captured) {
            let skew = x - c.0.div_euclid(1_000_000_000);
            if skew.abs() > CLOCK_SKEW_NOTE_S {
                diag.add(
                    SkipReason::ExportClockSkew,
                    u32::from(skew < 0) + 1,
                    0,
                    e.at,
                );
            }
        }
        match be16(b, 0) {
            5 => {
                // A datagram may hold several v5 exports one after another (a collector that
                // wrote datagrams back to back); anything else after the records is counted.
                let mut rest = b;
                let mut base = 0u32;
                loop {
                    let n = 24 + 48 * usize::from(be16(rest, 2));
                    let next = rest.get(n..).unwrap_or(&[]);
                    let more =
                        next.len() >= 24 && datagram_len(next).is_some() && be16(next, 0) == 5;
                    base += self.v5(e, if more { &rest[..n] } else { rest }, base, out, diag);
                    if !more {
                        break;
                    }
                    rest = next;
                }
            }
            9 => self.templated(e, b, out, diag),
            10 => {
                // A datagram may hold several IPFIX messages.
                let mut rest = b;
                loop {
                    let n = usize::from(be16(rest, 2));
                    if n < 16 || n >= rest.len() || be16(rest, 0) != 10 {
                        self.templated(e, rest, out, diag);
                        break;
                    }
                    self.templated(e, &rest[..n], out, diag);
                    rest = &rest[n..];
                }
            }
            _ => diag.add(SkipReason::BadExport, bad::VERSION, size, e.at),
        }
    }

    /// Decodes one v5 export whose records are numbered from `base + 1`; returns how many.
    fn v5(
        &mut self,
        e: &Export,
        b: &[u8],
        base: u32,
        out: &mut Vec<FlowRecord>,
        diag: &mut Diagnostics,
    ) -> u32 {
        if b.len() < 24 {
            diag.add(SkipReason::BadExport, bad::SHORT, b.len() as u64, e.at);
            return 0;
        }
        let count = usize::from(be16(b, 2));
        let uptime = be32(b, 4);
        let secs = i64::from(be32(b, 8));
        let nsecs = i64::from(be32(b, 12));
        let sampling = be16(b, 22) & 0x3fff;
        let export_ns = secs * 1_000_000_000 + nsecs;
        let need = 24 + 48 * count;
        if b.len() != need {
            // Short: records lost; long: bytes after the records that mean nothing.
            diag.add(
                SkipReason::BadExport,
                bad::LENGTH,
                b.len().abs_diff(need) as u64,
                e.at,
            );
        }
        for i in 0..count {
            let o = 24 + 48 * i;
            if o + 48 > b.len() {
                break;
            }
            let r = &b[o..o + 48];
            let mut f = FlowRecord::new(
                RecordKind::NetflowV5,
                RecordLoc {
                    at: e.at,
                    record: base + i as u32 + 1,
                },
            );
            f.src = Addr::v4([r[0], r[1], r[2], r[3]]);
            f.dst = Addr::v4([r[4], r[5], r[6], r[7]]);
            f.routing_mut().next_hop =
                Some(Addr::v4([r[8], r[9], r[10], r[11]])).filter(|a| a.lo & 0xffff_ffff != 0);
            f.routing_mut().in_if = Some(u32::from(be16(r, 12)));
            f.routing_mut().out_if = Some(u32::from(be16(r, 14)));
            f.fwd.pkts = u64::from(be32(r, 16));
            f.fwd.bytes = u64::from(be32(r, 20));
            let (first, last) = (be32(r, 24), be32(r, 28));
            f.start = Timestamp(export_ns - uptime_delta_ns(uptime, first));
            f.end = Timestamp(export_ns - uptime_delta_ns(uptime, last));
            f.time_original = TimeOriginal::Export(ExportTime {
                start: (22, u64::from(first)),
                end: (21, u64::from(last)),
                rule: TimeRule::Uptime,
                uptime_ms: Some(uptime),
                export_ns,
                boot_ms: None,
            });
            f.proto = Proto(r[38]);
            let (sp, dp) = (be16(r, 32), be16(r, 34));
            if f.proto.is_icmp() {
                // v5 exporters put ICMP type and code in the destination port.
                f.sport = dp >> 8;
                f.dport = dp & 0xff;
            } else {
                f.sport = sp;
                f.dport = dp;
            }
            f.has_ports = true;
            f.fwd.tcp_flags = r[37];
            f.routing_mut().src_as = Some(u32::from(be16(r, 40)));
            f.routing_mut().dst_as = Some(u32::from(be16(r, 42)));
            f.routing_mut().src_mask = Some(r[44]);
            f.routing_mut().dst_mask = Some(r[45]);
            f.routing_mut().exporter = e.exporter.map(|x| x.0);
            f.sampling = (sampling > 1).then_some(u32::from(sampling));
            note_far_times(&f, export_ns, diag);
            out.push(f);
        }
        count as u32
    }

    fn templated(
        &mut self,
        e: &Export,
        b: &[u8],
        out: &mut Vec<FlowRecord>,
        diag: &mut Diagnostics,
    ) {
        let size = b.len() as u64;
        let version = be16(b, 0);
        let (hdr_len, header) = if version == 9 {
            if b.len() < 20 {
                diag.add(SkipReason::BadExport, bad::SHORT, size, e.at);
                return;
            }
            (
                20,
                Header {
                    version,
                    export_ns: i64::from(be32(b, 8)) * 1_000_000_000,
                    uptime_ms: Some(be32(b, 4)),
                    domain: be32(b, 16),
                },
            )
        } else {
            if b.len() < 16 {
                diag.add(SkipReason::BadExport, bad::SHORT, size, e.at);
                return;
            }
            if usize::from(be16(b, 2)) != b.len() {
                diag.add(SkipReason::BadExport, bad::LENGTH, size, e.at);
                if usize::from(be16(b, 2)) > b.len() {
                    return;
                }
            }
            (
                16,
                Header {
                    version,
                    export_ns: i64::from(be32(b, 4)) * 1_000_000_000,
                    uptime_ms: None,
                    domain: be32(b, 12),
                },
            )
        };
        let end = if version == 10 {
            usize::from(be16(b, 2)).min(b.len())
        } else {
            b.len()
        };
        self.expire(header.export_ns, diag);
        let key = ScopeKey {
            exporter: e.exporter,
            input: if e.exporter.is_some() {
                u32::MAX
            } else {
                e.at.input
            },
            version,
            domain: header.domain,
        };
        if !self.scopes.contains_key(&key) && self.scopes.len() >= self.limits.max_scopes {
            diag.add(SkipReason::BadExport, bad::SCOPES_FULL, size, e.at);
            return;
        }
        let mut p = hdr_len;
        let mut record_no = 0u32;
        let mut template_records = 0u32;
        let mut waited = false;
        while p < end {
            if end - p < 4 {
                // Trailing padding shorter than a set header.
                break;
            }
            let (id, len) = (be16(b, p), usize::from(be16(b, p + 2)));
            if len < 4 || p + len > end {
                diag.add(
                    SkipReason::BadExport,
                    bad::SET_LENGTH,
                    (end - p) as u64,
                    e.at,
                );
                break;
            }
            let body = &b[p + 4..p + len];
            match (version, id) {
                (9, 0) | (10, 2) => {
                    template_records += self.templates(key, body, false, version, e.at, out, diag)
                }
                (9, 1) | (10, 3) => {
                    template_records += self.templates(key, body, true, version, e.at, out, diag)
                }
                (_, id) if id >= 256 => {
                    let has = self
                        .scopes
                        .get(&key)
                        .is_some_and(|s| s.templates.contains_key(&id));
                    if has {
                        record_no = self.data(
                            key, id, header, e.at, e.exporter, record_no, body, out, diag,
                        );
                    } else {
                        waited = true;
                        self.wait(
                            Waiting {
                                key,
                                template: id,
                                header,
                                at: e.at,
                                exporter: e.exporter,
                                first_record: record_no,
                                body: body.to_vec(),
                            },
                            diag,
                        );
                    }
                }
                _ => diag.add(SkipReason::BadExport, bad::SET_LENGTH, len as u64, e.at),
            }
            p += len;
        }
        // A v9 header counts every template and data record; a count that disagrees with
        // what the datagram holds is noted (the records are still read).
        let declared = u32::from(be16(b, 2));
        if version == 9 && !waited && declared != template_records + record_no {
            diag.add(SkipReason::ExportCountMismatch, declared, 0, e.at);
        }
    }

    fn wait(&mut self, w: Waiting, diag: &mut Diagnostics) {
        self.pending.push(w);
        loop {
            let by_bytes = self.pending.bytes > self.limits.max_pending_bytes;
            if !by_bytes && self.pending.len() <= self.limits.max_pending {
                break;
            }
            let Some(old) = self.pending.pop_from_most(by_bytes) else {
                break;
            };
            diag.add(
                SkipReason::NoTemplate,
                u32::from(old.template),
                old.body.len() as u64,
                old.at,
            );
        }
    }

    /// Counts the data sets that waited longer than the timeout.
    fn expire(&mut self, now_ns: i64, diag: &mut Diagnostics) {
        for w in self
            .pending
            .take_expired(now_ns, self.limits.pending_timeout)
        {
            diag.add(
                SkipReason::NoTemplate,
                u32::from(w.template),
                w.body.len() as u64,
                w.at,
            );
        }
    }

    /// Counts every data set still waiting: call at the end of the evidence.
    pub fn finish(&mut self, diag: &mut Diagnostics) {
        for w in self.pending.take_all() {
            diag.add(
                SkipReason::NoTemplate,
                u32::from(w.template),
                w.body.len() as u64,
                w.at,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn templates(
        &mut self,
        key: ScopeKey,
        mut b: &[u8],
        options: bool,
        version: u16,
        at: Locator,
        out: &mut Vec<FlowRecord>,
        diag: &mut Diagnostics,
    ) -> u32 {
        let mut n = 0u32;
        let max_templates = self.limits.max_templates;
        while b.len() >= 4 {
            let tid = be16(b, 0);
            let mut fields = Vec::new();
            let consumed;
            if version == 9 && options {
                // template id, scope length (bytes), option length (bytes), fields.
                if b.len() < 6 {
                    break;
                }
                let (sl, ol) = (usize::from(be16(b, 2)), usize::from(be16(b, 4)));
                let nf = (sl + ol) / 4;
                if sl % 4 != 0 || ol % 4 != 0 || 6 + 4 * nf > b.len() {
                    diag.add(SkipReason::BadExport, bad::TEMPLATE, b.len() as u64, at);
                    return n;
                }
                for i in 0..nf {
                    fields.push(Field {
                        // v9 scope field types (1 system, 2 interface, ...) are not IPFIX
                        // elements: keep them out of the element space.
                        id: if i < sl / 4 { 0 } else { be16(b, 6 + 4 * i) },
                        len: be16(b, 8 + 4 * i),
                        enterprise: 0,
                    });
                }
                consumed = 6 + 4 * nf;
            } else {
                let count = usize::from(be16(b, 2));
                let mut p = if version == 10 && options { 6 } else { 4 };
                if count == 0 {
                    // IPFIX withdrawal (v9 has none; treat the same).
                    if let Some(s) = self.scopes.get_mut(&key) {
                        let held = &mut self.template_fields;
                        if tid == 2 || tid == 3 {
                            s.templates.retain(|_, t| {
                                let keep = t.options != (tid == 3);
                                if !keep {
                                    *held -= t.fields.len();
                                }
                                keep
                            });
                        } else if let Some(t) = s.templates.remove(&tid) {
                            *held -= t.fields.len();
                        }
                    }
                    b = &b[4.min(b.len())..];
                    n += 1;
                    continue;
                }
                if p > b.len() {
                    diag.add(SkipReason::BadExport, bad::TEMPLATE, b.len() as u64, at);
                    return n;
                }
                for _ in 0..count {
                    if p + 4 > b.len() {
                        diag.add(SkipReason::BadExport, bad::TEMPLATE, b.len() as u64, at);
                        return n;
                    }
                    let raw = be16(b, p);
                    let len = be16(b, p + 2);
                    p += 4;
                    let mut enterprise = 0;
                    if version == 10 && raw & 0x8000 != 0 {
                        if p + 4 > b.len() {
                            diag.add(SkipReason::BadExport, bad::TEMPLATE, b.len() as u64, at);
                            return n;
                        }
                        enterprise = be32(b, p);
                        p += 4;
                    }
                    fields.push(Field {
                        // Only IPFIX uses the top bit for the enterprise flag; v9 field
                        // types above 32767 (Cisco NSEL: 33000-40005) are plain numbers.
                        id: if version == 10 { raw & 0x7fff } else { raw },
                        len,
                        enterprise,
                    });
                }
                consumed = p;
            }
            if tid < 256 {
                diag.add(SkipReason::BadExport, bad::TEMPLATE, consumed as u64, at);
            } else {
                let scope = self.scopes.entry(key).or_default();
                let old = scope.templates.get(&tid).map(|t| t.fields.len());
                let held = self.template_fields - old.unwrap_or(0);
                if old.is_none() && scope.templates.len() >= max_templates {
                    diag.add(
                        SkipReason::BadExport,
                        bad::TEMPLATES_FULL,
                        consumed as u64,
                        at,
                    );
                } else if held + fields.len() > self.limits.max_template_fields {
                    // A template redefined past the bound goes too: data for the new
                    // layout must not be read with the old one.
                    scope.templates.remove(&tid);
                    self.template_fields = held;
                    diag.add(
                        SkipReason::BadExport,
                        bad::TEMPLATE_FIELDS_FULL,
                        consumed as u64,
                        at,
                    );
                } else {
                    self.template_fields = held + fields.len();
                    scope
                        .templates
                        .insert(tid, std::sync::Arc::new(Template { fields, options }));
                    self.release(key, tid, out, diag);
                }
            }
            b = &b[consumed.min(b.len())..];
            n += 1;
            if version == 9 && b.len() < 4 {
                break;
            }
        }
        n
    }

    /// Decodes the data sets that were waiting for a template that just arrived.
    fn release(
        &mut self,
        key: ScopeKey,
        tid: u16,
        out: &mut Vec<FlowRecord>,
        diag: &mut Diagnostics,
    ) {
        for w in self.pending.take_template(key, tid) {
            self.data(
                w.key,
                tid,
                w.header,
                w.at,
                w.exporter,
                w.first_record,
                &w.body,
                out,
                diag,
            );
        }
    }

    /// Decodes a data set; returns the number of the last record in its datagram.
    #[allow(clippy::too_many_arguments)]
    fn data(
        &mut self,
        key: ScopeKey,
        tid: u16,
        h: Header,
        at: Locator,
        exporter: Option<(Addr, u16)>,
        mut record_no: u32,
        body: &[u8],
        out: &mut Vec<FlowRecord>,
        diag: &mut Diagnostics,
    ) -> u32 {
        let Some(scope) = self.scopes.get_mut(&key) else {
            return record_no;
        };
        let Some(t) = scope.templates.get(&tid).map(std::sync::Arc::clone) else {
            return record_no;
        };
        let min: usize = t
            .fields
            .iter()
            .map(|f| {
                if f.len == 0xffff {
                    1
                } else {
                    usize::from(f.len)
                }
            })
            .sum();
        if min == 0 {
            diag.add(SkipReason::BadExport, bad::TEMPLATE, body.len() as u64, at);
            return record_no;
        }
        let mut p = 0;
        // One buffer for the fields of every record of the set.
        let mut vals: Vec<(u16, u32, &[u8])> = Vec::with_capacity(t.fields.len());
        while body.len() - p >= min {
            vals.clear();
            let mut q = p;
            let mut ok = true;
            for f in &t.fields {
                let len = if f.len == 0xffff {
                    let Some(&l0) = body.get(q) else {
                        ok = false;
                        break;
                    };
                    q += 1;
                    if l0 == 255 {
                        if q + 2 > body.len() {
                            ok = false;
                            break;
                        }
                        let l = usize::from(be16(body, q));
                        q += 2;
                        l
                    } else {
                        usize::from(l0)
                    }
                } else {
                    usize::from(f.len)
                };
                if q + len > body.len() {
                    ok = false;
                    break;
                }
                vals.push((f.id, f.enterprise, &body[q..q + len]));
                q += len;
            }
            if !ok {
                diag.add(
                    SkipReason::BadExport,
                    bad::RECORD,
                    (body.len() - p) as u64,
                    at,
                );
                break;
            }
            let record_len = q - p;
            p = q;
            record_no += 1;
            if t.options {
                if !options_record(scope, &vals) {
                    diag.add(
                        SkipReason::BadExport,
                        bad::SAMPLERS_FULL,
                        record_len as u64,
                        at,
                    );
                }
                continue;
            }
            if let Some(r) = flow_record(scope, &vals, h, at, exporter, record_no) {
                note_far_times(&r, h.export_ns, diag);
                out.push(r);
            }
        }
        record_no
    }
}

/// Notes a record whose end is more than a day before, or over ten minutes after, the time
/// it was exported: exporters send a flow soon after it ends, so such times (or the
/// exporter's clock) cannot be taken at face value.
fn note_far_times(r: &FlowRecord, export_ns: i64, diag: &mut Diagnostics) {
    const DAY: i64 = 86_400 * 1_000_000_000;
    const TEN_MIN: i64 = 600 * 1_000_000_000;
    let d = r.end.0.saturating_sub(export_ns);
    if !(-DAY..=TEN_MIN).contains(&d) {
        diag.add(
            SkipReason::RecordTimeFarFromExport,
            if d > 0 { 2 } else { 1 },
            0,
            r.loc.at,
        );
    }
}

/// Learns sampling intervals and the exporter's boot time from an options record.
/// Reads an options record into the scope; false when it names a sampler past
/// [`MAX_SAMPLERS`] (not kept).
fn options_record(scope: &mut Scope, vals: &[(u16, u32, &[u8])]) -> bool {
    let mut sampler = 0u64;
    let mut interval = None;
    for &(id, ent, v) in vals {
        if ent != 0 {
            continue;
        }
        match id {
            48 | 302 => sampler = uint(v),
            34 | 50 | 305 => interval = Some(uint(v).min(u64::from(u32::MAX)) as u32),
            160 => scope.boot_ms = Some(uint(v) as i64),
            _ => {}
        }
    }
    if let Some(i) = interval {
        if scope.sampling.len() >= MAX_SAMPLERS && !scope.sampling.contains_key(&sampler) {
            return false;
        }
        scope.sampling.insert(sampler, i);
    }
    true
}

#[allow(clippy::too_many_lines)]
fn flow_record(
    scope: &Scope,
    vals: &[(u16, u32, &[u8])],
    h: Header,
    at: Locator,
    exporter: Option<(Addr, u16)>,
    record_no: u32,
) -> Option<FlowRecord> {
    let kind = if h.version == 9 {
        RecordKind::NetflowV9
    } else {
        RecordKind::Ipfix
    };
    let mut r = FlowRecord::new(
        kind,
        RecordLoc {
            at,
            record: record_no,
        },
    );
    let (mut src, mut dst) = (None, None);
    let (mut sport, mut dport) = (None, None);
    let mut icmp_tc: Option<u16> = None;
    let (mut icmp_t, mut icmp_c) = (None, None);
    // Time elements (at most 8 kept; a record has two or three).
    let mut times = [(0u16, 0u64); 8];
    let mut n_times = 0usize;
    let mut sampler = None;
    let mut sampling = None;
    let mut nat_src = None;
    let mut nat_dst = None;
    let (mut nat_sp, mut nat_dp) = (0u16, 0u16);
    let mut labels: Vec<(u16, u32)> = Vec::new();
    for &(id, ent, v) in vals {
        if v.len() > 8 && !matches!(id, 27 | 28 | 62 | 63 | 281 | 282) {
            // No numeric element is longer than 8 bytes: a field this long is not the
            // element hoptrace knows by this number (e.g. a vendor's ACL id).
            continue;
        }
        if ent == 29305 {
            // RFC 5103 reverse elements: the responder's counters of a biflow.
            match id {
                1 | 85 => {
                    r.rev.bytes = uint(v);
                    r.bidirectional = true;
                }
                2 | 86 => {
                    r.rev.pkts = uint(v);
                    r.bidirectional = true;
                }
                6 => r.rev.tcp_flags = uint(v) as u8,
                _ => {}
            }
            continue;
        }
        if ent != 0 {
            continue;
        }
        match id {
            1 | 85 => r.fwd.bytes = uint(v),
            2 | 86 => r.fwd.pkts = uint(v),
            4 => r.proto = Proto(uint(v) as u8),
            6 => r.fwd.tcp_flags = uint(v) as u8,
            7 => sport = Some(uint(v) as u16),
            11 => dport = Some(uint(v) as u16),
            8 | 27 => src = addr(v),
            12 | 28 => dst = addr(v),
            9 | 29 => r.routing_mut().src_mask = Some(uint(v) as u8),
            13 | 30 => r.routing_mut().dst_mask = Some(uint(v) as u8),
            10 => r.routing_mut().in_if = Some(uint(v) as u32),
            14 => r.routing_mut().out_if = Some(uint(v) as u32),
            15 | 62 => {
                r.routing_mut().next_hop = addr(v).filter(|a| a.bits() & !0xffff_0000_0000 != 0)
            }
            18 | 63 => {
                r.routing_mut().bgp_next_hop = addr(v).filter(|a| a.bits() & !0xffff_0000_0000 != 0)
            }
            16 => r.routing_mut().src_as = Some(uint(v) as u32),
            17 => r.routing_mut().dst_as = Some(uint(v) as u32),
            32 | 139 => icmp_tc = Some(uint(v) as u16),
            176 | 178 => icmp_t = Some(uint(v) as u16),
            177 | 179 => icmp_c = Some(uint(v) as u16),
            58 => r.routing_mut().vlan = Some(uint(v) as u16),
            61 => r.routing_mut().direction = Some(uint(v) as u8),
            34 | 305 => sampling = Some(uint(v).min(u64::from(u32::MAX)) as u32),
            48 | 302 => sampler = Some(uint(v)),
            70..=79 if v.len() == 3 => labels.push((id, uint(v) as u32)),
            225 | 281 => nat_src = addr(v),
            226 | 282 => nat_dst = addr(v),
            227 => nat_sp = uint(v) as u16,
            228 => nat_dp = uint(v) as u16,
            230 => r.routing_mut().nat_event = Some(uint(v) as u8),
            // Cisco NSEL (ASA) in v9: translated addresses and ports, and the two
            // directions' counters.
            40001 if h.version == 9 => nat_src = addr(v),
            40002 if h.version == 9 => nat_dst = addr(v),
            40003 if h.version == 9 => nat_sp = uint(v) as u16,
            40004 if h.version == 9 => nat_dp = uint(v) as u16,
            231 => r.fwd.bytes = uint(v),
            232 => {
                r.rev.bytes = uint(v);
                r.bidirectional = true;
            }
            298 => r.fwd.pkts = uint(v),
            299 => {
                r.rev.pkts = uint(v);
                r.bidirectional = true;
            }
            21 | 22 | 150..=159 | 323 if n_times < times.len() => {
                times[n_times] = (id, uint(v));
                n_times += 1;
            }
            136 => r.status = Some(format!("end reason {}", uint(v)).into()),
            _ => {}
        }
    }
    let (src, dst) = (src?, dst?);
    r.src = src;
    r.dst = dst;
    if r.proto.is_icmp() {
        let tc = icmp_tc
            .or_else(|| icmp_t.map(|t| (t << 8) | icmp_c.unwrap_or(0)))
            .or(dport);
        if let Some(tc) = tc {
            r.sport = tc >> 8;
            r.dport = tc & 0xff;
            r.has_ports = true;
        }
    } else if let (Some(s), Some(d)) = (sport, dport) {
        r.sport = s;
        r.dport = d;
        r.has_ports = true;
    }
    labels.sort_unstable();
    // Label stack entries (label, EXP, bottom-of-stack bit), top first; exporters fill
    // unused positions with zeros.
    for (_, entry) in labels {
        if entry == 0 {
            break;
        }
        r.routing_mut().mpls.push(entry >> 4);
        if entry & 1 != 0 {
            break;
        }
    }
    r.routing_mut().nat_src = nat_src.map(|a| (a, nat_sp));
    r.routing_mut().nat_dst = nat_dst.map(|a| (a, nat_dp));
    r.routing_mut().exporter = exporter.map(|e| e.0);
    r.routing_mut().domain = Some(h.domain);
    r.sampling = sampling
        .or_else(|| scope.sampling.get(&sampler.unwrap_or(0)).copied())
        .or_else(|| {
            (scope.sampling.len() == 1)
                .then(|| scope.sampling.values().copied().next())
                .flatten()
        })
        .filter(|&s| s > 1);
    let (start, end, orig) = flow_times(&times[..n_times], h, scope.boot_ms);
    r.start = start;
    r.end = end.max(start);
    r.time_original = TimeOriginal::Export(orig);
    Some(r)
}

/// Start, end and the original time fields of a record, from whichever time elements it
/// has (absolute seconds/ms/µs/ns, deltas to the export time, or sysUpTime with the
/// header's uptime or the exporter's boot time).
fn flow_times(
    times: &[(u16, u64)],
    h: Header,
    boot_ms: Option<i64>,
) -> (Timestamp, Timestamp, ExportTime) {
    let get = |id: u16| times.iter().find(|t| t.0 == id).map(|t| t.1);
    let ntp = |v: u64| -> i64 {
        // NTP 64-bit: seconds since 1900 and a binary fraction.
        let secs = (v >> 32) as i64 - 2_208_988_800;
        let frac = ((v & 0xffff_ffff) * 1_000_000_000) >> 32;
        secs * 1_000_000_000 + frac as i64
    };
    let mut et = ExportTime {
        export_ns: h.export_ns,
        uptime_ms: h.uptime_ms,
        boot_ms,
        ..ExportTime::default()
    };
    // Times are whatever the exporter wrote: one that does not fit the nanosecond range
    // (found by fuzzing: an overflow) is not used, and the next rule applies.
    let scaled = |v: u64, unit: i64| i64::try_from(v).ok()?.checked_mul(unit);
    let found = |s_id: u16, e_id: u16, f: &dyn Fn(u64) -> Option<i64>, et: &mut ExportTime| {
        let (s, e) = (get(s_id), get(e_id));
        let sv = s.or(e)?;
        let ev = e.or(s)?;
        let times = (f(sv)?, f(ev)?);
        et.start = (if s.is_some() { s_id } else { e_id }, sv);
        et.end = (if e.is_some() { e_id } else { s_id }, ev);
        Some(times)
    };
    let abs = found(156, 157, &|v| Some(ntp(v)), &mut et)
        .or_else(|| found(154, 155, &|v| Some(ntp(v)), &mut et))
        .or_else(|| found(152, 153, &|v| scaled(v, 1_000_000), &mut et))
        .or_else(|| found(150, 151, &|v| scaled(v, 1_000_000_000), &mut et))
        .or_else(|| {
            let delta = |d: u64| h.export_ns.checked_sub(scaled(d, 1000)?);
            found(158, 159, &delta, &mut et)
        });
    if let Some((s, e)) = abs {
        et.rule = TimeRule::Absolute;
        return (Timestamp(s), Timestamp(e), et);
    }
    if let (Some(first), last) = (get(22), get(21)) {
        let last = last.unwrap_or(first);
        et.start = (22, first);
        et.end = (21, last);
        if let Some(up) = h.uptime_ms {
            et.rule = TimeRule::Uptime;
            let s = h.export_ns - uptime_delta_ns(up, first as u32);
            let e = h.export_ns - uptime_delta_ns(up, last as u32);
            return (Timestamp(s), Timestamp(e), et);
        }
        let at_boot = |up: u64| {
            boot_ms?
                .checked_add(i64::try_from(up).ok()?)?
                .checked_mul(1_000_000)
        };
        if let (Some(s), Some(e)) = (at_boot(first), at_boot(last)) {
            et.rule = TimeRule::Boot;
            return (Timestamp(s), Timestamp(e), et);
        }
    }
    if let Some((ms, t)) = get(323).and_then(|ms| Some((ms, scaled(ms, 1_000_000)?))) {
        et.rule = TimeRule::Observation;
        et.start = (323, ms);
        return (Timestamp(t), Timestamp(t), et);
    }
    et.rule = TimeRule::ExportTime;
    (Timestamp(h.export_ns), Timestamp(h.export_ns), et)
}

/// How a NetFlow/IPFIX record's times were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimeRule {
    /// Absolute time elements (seconds, milli-, micro-, nanoseconds, or deltas to the
    /// export time).
    #[default]
    Absolute,
    /// sysUpTime elements with the header's uptime and export time (v5, v9).
    Uptime,
    /// sysUpTime elements with the exporter's boot time from options data (IPFIX).
    Boot,
    /// Only an observation time (Cisco NSEL event time).
    Observation,
    /// No time element at all: the export time stands for both.
    ExportTime,
}

/// The time elements of a NetFlow/IPFIX record as exported, kept to be written as the
/// record's original time (formatted only when a table is written).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ExportTime {
    /// Element id and raw value that gave the start.
    pub start: (u16, u64),
    /// Element id and raw value that gave the end.
    pub end: (u16, u64),
    /// How the times were found.
    pub rule: TimeRule,
    /// The header's sysUpTime (ms).
    pub uptime_ms: Option<u32>,
    /// The header's export time (ns since the epoch).
    pub export_ns: i64,
    /// The exporter's boot time from options data (ms since the epoch).
    pub boot_ms: Option<i64>,
}

impl std::fmt::Display for ExportTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.export_ns.div_euclid(1_000_000_000);
        let nanos = self.export_ns.rem_euclid(1_000_000_000);
        match self.rule {
            TimeRule::ExportTime => {
                return write!(f, "no usable flow time: export time {secs} used");
            }
            TimeRule::Observation => {
                return write!(f, "{}={}", time_name(self.start.0), self.start.1);
            }
            _ => {}
        }
        write!(
            f,
            "{}={} {}={}",
            time_name(self.start.0),
            self.start.1,
            time_name(self.end.0),
            self.end.1
        )?;
        match (self.rule, self.uptime_ms, self.boot_ms) {
            (TimeRule::Uptime, Some(up), _) => {
                write!(f, "; sysUpTime {up} ms at export {secs}.{nanos:09}")
            }
            (TimeRule::Boot, _, Some(b)) => write!(f, "; systemInitTimeMilliseconds {b}"),
            _ => Ok(()),
        }
    }
}

fn time_name(id: u16) -> &'static str {
    match id {
        21 => "flowEndSysUpTime",
        22 => "flowStartSysUpTime",
        150 => "flowStartSeconds",
        151 => "flowEndSeconds",
        152 => "flowStartMilliseconds",
        153 => "flowEndMilliseconds",
        154 => "flowStartMicroseconds",
        155 => "flowEndMicroseconds",
        156 => "flowStartNanoseconds",
        157 => "flowEndNanoseconds",
        158 => "flowStartDeltaMicroseconds",
        159 => "flowEndDeltaMicroseconds",
        323 => "observationTimeMilliseconds",
        _ => "time",
    }
}

/// How long before the export (ns) a sysUpTime value was, allowing for a 32-bit wrap.
fn uptime_delta_ns(uptime: u32, at: u32) -> i64 {
    i64::from(uptime.wrapping_sub(at)) * 1_000_000
}

fn addr(v: &[u8]) -> Option<Addr> {
    match v.len() {
        4 => Some(Addr::v4([v[0], v[1], v[2], v[3]])),
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(v);
            Some(Addr::v6(b))
        }
        _ => None,
    }
}

/// An unsigned big-endian number of up to 8 bytes (reduced-size encoding).
fn uint(v: &[u8]) -> u64 {
    v.iter().take(8).fold(0u64, |a, &b| (a << 8) | u64::from(b))
}

fn be16(b: &[u8], o: usize) -> u16 {
    match b.get(o..o + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

fn be32(b: &[u8], o: usize) -> u32 {
    match b.get(o..o + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// Reads a file of raw export datagrams, one after another, into exports located by
/// datagram number and byte offset. Bytes that are not a datagram end the walk and are
/// counted.
pub fn split_datagrams(input: u32, data: &[u8], diag: &mut Diagnostics) -> Vec<Export> {
    let mut out = Vec::new();
    let mut p = 0usize;
    let mut n = 0u64;
    while p < data.len() {
        n += 1;
        let at = Locator {
            input,
            interface: 0,
            frame: n,
            offset: p as u64,
        };
        let Some(len) = datagram_len(&data[p..]) else {
            let code = match data.get(p..p + 2) {
                Some([0, 5 | 9 | 10]) => bad::LENGTH,
                Some(_) => bad::VERSION,
                None => bad::SHORT,
            };
            diag.add(SkipReason::BadExport, code, (data.len() - p) as u64, at);
            break;
        };
        out.push(Export {
            at,
            captured: None,
            exporter: None,
            bytes: data[p..p + len].to_vec(),
        });
        p += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A waiting set named by `id` (its first record number).
    fn set(id: u32, domain: u32, template: u16, export_ns: i64, len: usize) -> Waiting {
        Waiting {
            key: ScopeKey {
                exporter: None,
                input: domain % 2,
                version: 10,
                domain,
            },
            template,
            header: Header {
                version: 10,
                export_ns,
                uptime_ms: None,
                domain,
            },
            at: Locator::default(),
            exporter: None,
            first_record: id,
            body: vec![0; len],
        }
    }

    #[test]
    fn waiting_sets_leave_as_a_walk_over_all_of_them_would_take_them() {
        // The reference: the sets in arrival order, each operation a walk over all.
        let mut model: VecDeque<Waiting> = VecDeque::new();
        let mut p = Pending::default();
        let ids = |v: &[Waiting]| v.iter().map(|w| w.first_record).collect::<Vec<_>>();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let (mut now, limit) = (0i64, 20i64);
        let mut most = 0;
        for id in 0..20_000u32 {
            match rand(10) {
                0..=4 => {
                    // Export times wander around the clock (exporters disagree).
                    let t = now + rand(11) as i64 - 5;
                    let w = set(
                        id,
                        rand(3) as u32,
                        256 + rand(5) as u16,
                        t,
                        rand(100) as usize,
                    );
                    model.push_back(set(id, w.key.domain, w.template, t, w.body.len()));
                    p.push(w);
                    most = 2 * p.len() + 64;
                }
                5 => {
                    // The oldest set of the source (input) with the most sets or bytes,
                    // the greater input on a tie.
                    let by_bytes = rand(2) == 0;
                    let share = |i: u32| {
                        let of = model.iter().filter(|w| w.key.input == i);
                        if by_bytes {
                            of.map(|w| w.body.len()).sum::<usize>()
                        } else {
                            of.count()
                        }
                    };
                    let most = model
                        .iter()
                        .map(|w| w.key.input)
                        .max_by_key(|&i| (share(i), i));
                    let pos = most.and_then(|i| model.iter().position(|w| w.key.input == i));
                    assert_eq!(
                        p.pop_from_most(by_bytes).map(|w| w.first_record),
                        pos.and_then(|i| model.remove(i)).map(|w| w.first_record)
                    );
                }
                6 => {
                    let (d, t) = (rand(3) as u32, 256 + rand(5) as u16);
                    let key = set(0, d, t, 0, 0).key;
                    let (taken, kept): (Vec<_>, Vec<_>) = model
                        .drain(..)
                        .partition(|w| w.key == key && w.template == t);
                    model = kept.into();
                    assert_eq!(ids(&p.take_template(key, t)), ids(&taken));
                }
                7 => {
                    now += rand(8) as i64;
                    let (taken, kept): (Vec<_>, Vec<_>) = model
                        .drain(..)
                        .partition(|w| now.saturating_sub(w.header.export_ns) > limit);
                    model = kept.into();
                    let mut got = ids(&p.take_expired(now, limit));
                    got.sort_unstable();
                    assert_eq!(got, ids(&taken));
                }
                _ => now += 1,
            }
            assert_eq!(p.len(), model.len());
            assert_eq!(p.bytes, model.iter().map(|w| w.body.len()).sum::<usize>());
            // Each push leaves the indexes within twice the sets waiting (and 64); other
            // operations only take entries out of them.
            most = most.max(2 * p.len() + 64);
            assert!(p.by_time.len() <= most && p.by_template_len <= most);
        }
        let rest: Vec<Waiting> = model.into();
        assert_eq!(ids(&p.take_all()), ids(&rest));
        assert_eq!((p.len(), p.bytes), (0, 0));
    }
}
