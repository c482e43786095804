//! Flow records: evidence that arrives already summarised as flows (NetFlow v5/v9, IPFIX,
//! Zeek conn.log, cloud VPC flow logs) in one model, beside the flows rebuilt from packets.
//!
//! A record keeps where it came from ([`RecordLoc`]: input, frame or line, record index,
//! byte offset), whether it covers one direction or both, its sampling, the original time
//! value, and the routing and NAT fields that place hops on a path. Unidirectional records
//! of one communication (the two directions a NetFlow exporter or a VPC interface reports
//! separately) are paired into one bidirectional record by [`pair`].
//!
//! Readers: [`netflow`] (export datagrams, with template state scoped per exporter and
//! observation domain), [`zeek`] (conn.log as TSV or JSON lines), [`vpc`] (AWS VPC Flow
//! Logs). [`detect`] tells a log format from its first bytes.

pub mod cloud;
pub mod csvlog;
pub mod netflow;
pub mod vpc;
pub mod zeek;

use crate::flow::{FlowConfig, FlowKey};
use std::collections::HashMap;

/// Detail codes of [`SkipReason::BadLogLine`](crate::model::SkipReason::BadLogLine), shared
/// by every text-log reader.
pub mod bad {
    /// Another number of fields than the header or format says.
    pub const FIELD_COUNT: u32 = 1;
    /// A time that does not parse (Zeek's masked `XXXXXXXXXX.XXXXXX`; a time of day
    /// without a date, as Argus' default format writes it).
    pub const TIMESTAMP: u32 = 2;
    /// An address that is not an IP address.
    pub const ADDRESS: u32 = 3;
    /// A port, count or duration that is not a number.
    pub const NUMBER: u32 = 4;
    /// A data line before any header that says what its fields are.
    pub const NO_HEADER: u32 = 5;
    /// A line or document that is not JSON, or not the expected entry.
    pub const JSON: u32 = 6;
    /// A VPC log without a header and without `--vpc-fields`.
    pub const FORMAT: u32 = 7;
    /// The log's own summary counts other rows than it holds (nfdump's `Summary`).
    pub const SUMMARY: u32 = 8;
    /// A port written as a service name hoptrace does not know (`ra` without `-n`).
    pub const SERVICE_NAME: u32 = 9;
    /// An Azure flow tuple with the wrong number of fields.
    pub const TUPLE: u32 = 10;

    /// What a code means, for summaries.
    pub fn name(code: u32) -> &'static str {
        match code {
            FIELD_COUNT => "wrong number of fields",
            TIMESTAMP => "bad timestamp (for ra tables: a time without a date, use ra -u)",
            ADDRESS => "bad address",
            NUMBER => "bad number",
            NO_HEADER => "no header before the line says what its fields are",
            JSON => "not JSON, or not a flow log entry",
            FORMAT => "no format: give the field list of a log without a header line",
            SUMMARY => "the log's summary counts other rows than it holds",
            SERVICE_NAME => "port written as an unknown service name (run ra with -n)",
            TUPLE => "flow tuple with the wrong number of fields",
            _ => "unreadable line",
        }
    }
}
use crate::model::{Addr, BinReader, BinWriter, Locator, Proto, Timestamp};

/// Which kind of evidence a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// NetFlow version 5 export.
    NetflowV5,
    /// NetFlow version 9 export.
    NetflowV9,
    /// IPFIX (NetFlow version 10) export.
    Ipfix,
    /// Zeek conn.log (TSV or JSON lines).
    ZeekConn,
    /// AWS VPC Flow Logs.
    AwsVpc,
    /// Google Cloud VPC Flow Logs.
    GcpVpc,
    /// Azure NSG or VNet flow logs.
    Azure,
    /// nfdump `-o csv`.
    NfdumpCsv,
    /// Argus `ra` output.
    ArgusCsv,
}

impl RecordKind {
    /// The name written in the `source` column.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::NetflowV5 => "netflow-v5",
            RecordKind::NetflowV9 => "netflow-v9",
            RecordKind::Ipfix => "ipfix",
            RecordKind::ZeekConn => "zeek-conn",
            RecordKind::AwsVpc => "aws-vpc",
            RecordKind::GcpVpc => "gcp-vpc",
            RecordKind::Azure => "azure-flow",
            RecordKind::NfdumpCsv => "nfdump-csv",
            RecordKind::ArgusCsv => "argus-csv",
        }
    }

    /// True for the kinds that say which line of a text file a record is on.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            RecordKind::ZeekConn
                | RecordKind::AwsVpc
                | RecordKind::GcpVpc
                | RecordKind::NfdumpCsv
                | RecordKind::ArgusCsv
        )
    }
}

/// Where a record is: the input, the frame that carried it (captures) or its line (text
/// logs) or its datagram (files of raw export datagrams), its index within that frame or
/// datagram (from 1; 0 for one record per line), and the byte offset of the frame, line or
/// datagram in the (decompressed) input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RecordLoc {
    /// The frame, line or datagram, as a capture locator (`frame` holds the line number of
    /// a text log, the datagram number of a raw export file).
    pub at: Locator,
    /// Index of the record within its frame or datagram, from 1 (0: the line is the record).
    pub record: u32,
}

/// Packets, bytes and TCP flags one direction of a record counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counts {
    /// Packets (as reported; multiply by the sampling interval for an estimate).
    pub pkts: u64,
    /// Bytes (layer 3, as the exporter counts them).
    pub bytes: u64,
    /// OR of the TCP flags, when reported.
    pub tcp_flags: u8,
}

/// Routing and NAT fields of a record: what places routers, neighbour ASes and translating
/// addresses on a path.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Routing {
    /// The exporter (the address the export came from; for a raw export file, unknown).
    pub exporter: Option<Addr>,
    /// NetFlow v9 source ID or IPFIX observation domain ID.
    pub domain: Option<u32>,
    /// Input interface index (SNMP ifIndex), or a cloud interface id in `interface_id`.
    pub in_if: Option<u32>,
    /// Output interface index.
    pub out_if: Option<u32>,
    /// IPv4 or IPv6 next hop.
    pub next_hop: Option<Addr>,
    /// BGP next hop.
    pub bgp_next_hop: Option<Addr>,
    /// Source autonomous system (as the exporter's routing table gave it; 0 = unknown).
    pub src_as: Option<u32>,
    /// Destination autonomous system.
    pub dst_as: Option<u32>,
    /// Source prefix length.
    pub src_mask: Option<u8>,
    /// Destination prefix length.
    pub dst_mask: Option<u8>,
    /// VLAN id.
    pub vlan: Option<u16>,
    /// MPLS labels, top first (label values, without EXP/S bits).
    pub mpls: Vec<u32>,
    /// Source address and port after NAT (IPFIX 225/227, 281/227; NSEL).
    pub nat_src: Option<(Addr, u16)>,
    /// Destination address and port after NAT (IPFIX 226/228, 282/228).
    pub nat_dst: Option<(Addr, u16)>,
    /// NAT event (IPFIX natEvent, 230).
    pub nat_event: Option<u8>,
    /// A cloud network interface or similar named attachment point (VPC `interface-id`).
    pub interface_id: Option<String>,
    /// Flow direction as the exporter reported it (0 ingress, 1 egress; VPC `flow-direction`).
    pub direction: Option<u8>,
    /// The packet's own source address where it differs from the record's (VPC
    /// `pkt-srcaddr` behind a NAT gateway or load balancer interface).
    pub pkt_src: Option<Addr>,
    /// The packet's own destination address where it differs (VPC `pkt-dstaddr`).
    pub pkt_dst: Option<Addr>,
}

/// The routing fields of a record that has none.
static NO_ROUTING: Routing = Routing {
    exporter: None,
    domain: None,
    in_if: None,
    out_if: None,
    next_hop: None,
    bgp_next_hop: None,
    src_as: None,
    dst_as: None,
    src_mask: None,
    dst_mask: None,
    vlan: None,
    mpls: Vec::new(),
    nat_src: None,
    nat_dst: None,
    nat_event: None,
    interface_id: None,
    direction: None,
    pkt_src: None,
    pkt_dst: None,
};

impl Routing {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Routing::default()
    }
}

/// One flow record from a flow log or a flow export.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowRecord {
    /// What kind of evidence it came from.
    pub kind: RecordKind,
    /// Where it is.
    pub loc: RecordLoc,
    /// Where its reverse direction was, when two unidirectional records were paired.
    pub paired: Option<RecordLoc>,
    /// Covers both directions (Zeek, paired records) rather than one (NetFlow, VPC logs).
    pub bidirectional: bool,
    /// Transport protocol.
    pub proto: Proto,
    /// Originator (bidirectional) or sender (unidirectional) address.
    pub src: Addr,
    /// Its port (ICMP: type).
    pub sport: u16,
    /// Responder or receiver address.
    pub dst: Addr,
    /// Its port (ICMP: code).
    pub dport: u16,
    /// The record has transport ports (or ICMP type/code).
    pub has_ports: bool,
    /// Flow start, UTC.
    pub start: Timestamp,
    /// Flow end, UTC.
    pub end: Timestamp,
    /// The record's times as it wrote them, before conversion to UTC nanoseconds.
    pub time_original: TimeOriginal,
    /// What the originator/sender sent.
    pub fwd: Counts,
    /// What the responder sent (zero for unidirectional records).
    pub rev: Counts,
    /// 1-in-N packet sampling the exporter applied (1 or `None` when unsampled or unknown).
    pub sampling: Option<u32>,
    /// Routing and NAT fields, `None` when the record has none (a Zeek conn.log's): read
    /// them with [`FlowRecord::routing`], set them with [`FlowRecord::routing_mut`].
    pub routing: Option<Box<Routing>>,
    /// An identifier the source gave the record (Zeek `uid`, VPC `interface-id` +
    /// `account-id`, ...).
    pub source_id: Option<Box<str>>,
    /// Connection state and history as the source wrote them (Zeek).
    pub state: Option<(Box<str>, Box<str>)>,
    /// Zeek's `tunnel_parents`, as written.
    pub tunnel_parents: Option<Box<str>>,
    /// A Community ID the source wrote, kept to compare with the one hoptrace computes.
    pub community_id_given: Option<Box<str>>,
    /// Source-specific status (VPC `action`/`log-status`, NetFlow end reason), as written.
    pub status: Option<Box<str>>,
}

impl FlowRecord {
    /// A record with addresses and times, every count zero, no routing fields.
    pub fn new(kind: RecordKind, loc: RecordLoc) -> FlowRecord {
        FlowRecord {
            kind,
            loc,
            paired: None,
            bidirectional: false,
            proto: Proto(0),
            src: Addr::default(),
            sport: 0,
            dst: Addr::default(),
            dport: 0,
            has_ports: false,
            start: Timestamp(0),
            end: Timestamp(0),
            time_original: TimeOriginal::None,
            fwd: Counts::default(),
            rev: Counts::default(),
            sampling: None,
            routing: None,
            source_id: None,
            state: None,
            tunnel_parents: None,
            community_id_given: None,
            status: None,
        }
    }

    /// The record's routing and NAT fields (every one empty when it has none).
    pub fn routing(&self) -> &Routing {
        self.routing.as_deref().unwrap_or(&NO_ROUTING)
    }

    /// The record's routing and NAT fields, to set (made when it had none).
    pub fn routing_mut(&mut self) -> &mut Routing {
        self.routing.get_or_insert_with(Box::default)
    }

    /// The canonical flow key (no VLAN or tunnel context: flow logs rarely carry it).
    pub fn key(&self) -> FlowKey {
        FlowKey::new(
            self.src,
            self.sport,
            self.dst,
            self.dport,
            self.proto,
            false,
            Default::default(),
        )
        .0
    }

    /// The record has a 5-tuple (addresses, protocol, and ports where the protocol has
    /// them), so a Community ID can be computed.
    pub fn has_tuple(&self) -> bool {
        self.has_ports || !(self.proto.has_ports() || self.proto.is_icmp())
    }

    /// The Community ID v1 (seed 0), when the record has a 5-tuple.
    pub fn community_id(&self) -> Option<String> {
        self.has_tuple()
            .then(|| crate::flow::community_id(&self.key(), 0))
    }
}

impl RecordKind {
    const ALL: [RecordKind; 9] = [
        RecordKind::NetflowV5,
        RecordKind::NetflowV9,
        RecordKind::Ipfix,
        RecordKind::ZeekConn,
        RecordKind::AwsVpc,
        RecordKind::GcpVpc,
        RecordKind::Azure,
        RecordKind::NfdumpCsv,
        RecordKind::ArgusCsv,
    ];
}

impl RecordLoc {
    fn encode(&self, w: &mut BinWriter) {
        self.at.encode(w);
        w.u32(self.record);
    }

    fn decode(r: &mut BinReader<'_>) -> Option<RecordLoc> {
        Some(RecordLoc {
            at: Locator::decode(r)?,
            record: r.u32()?,
        })
    }
}

impl Counts {
    fn encode(&self, w: &mut BinWriter) {
        w.u64(self.pkts);
        w.u64(self.bytes);
        w.u8(self.tcp_flags);
    }

    fn decode(r: &mut BinReader<'_>) -> Option<Counts> {
        Some(Counts {
            pkts: r.u64()?,
            bytes: r.u64()?,
            tcp_flags: r.u8()?,
        })
    }
}

fn put_str(w: &mut BinWriter, s: Option<&str>) {
    w.opt(s, |w, s| w.str(s));
}

fn get_str(r: &mut BinReader<'_>) -> Option<Option<Box<str>>> {
    r.opt(|r| r.str().map(String::into_boxed_str))
}

fn put_ep(w: &mut BinWriter, e: Option<(Addr, u16)>) {
    w.opt(e, |w, (a, p)| {
        a.encode(w);
        w.u16(p);
    });
}

fn get_ep(r: &mut BinReader<'_>) -> Option<Option<(Addr, u16)>> {
    r.opt(|r| Some((Addr::decode(r)?, r.u16()?)))
}

impl FlowRecord {
    /// Writes the record (for partial tables); [`decode`](Self::decode) reads it back and
    /// never panics on damaged bytes.
    pub fn encode(&self, w: &mut BinWriter) {
        w.u8(RecordKind::ALL
            .iter()
            .position(|k| *k == self.kind)
            .unwrap_or(0) as u8);
        self.loc.encode(w);
        w.opt(self.paired, |w, p| p.encode(w));
        w.u8(u8::from(self.bidirectional) | (u8::from(self.has_ports) << 1));
        w.u8(self.proto.0);
        self.src.encode(w);
        w.u16(self.sport);
        self.dst.encode(w);
        w.u16(self.dport);
        w.i64(self.start.0);
        w.i64(self.end.0);
        match &self.time_original {
            TimeOriginal::None => w.u8(0),
            TimeOriginal::Text(t) => {
                w.u8(1);
                w.str(t);
            }
            TimeOriginal::Export(e) => {
                w.u8(2);
                w.u16(e.start.0);
                w.u64(e.start.1);
                w.u16(e.end.0);
                w.u64(e.end.1);
                w.u8(e.rule as u8);
                w.opt(e.uptime_ms, |w, v| w.u32(v));
                w.i64(e.export_ns);
                w.opt(e.boot_ms, |w, v| w.i64(v));
            }
        }
        self.fwd.encode(w);
        self.rev.encode(w);
        w.opt(self.sampling, |w, s| w.u32(s));
        let rt = self.routing();
        w.opt(rt.exporter, |w, a| a.encode(w));
        w.opt(rt.domain, |w, v| w.u32(v));
        w.opt(rt.in_if, |w, v| w.u32(v));
        w.opt(rt.out_if, |w, v| w.u32(v));
        w.opt(rt.next_hop, |w, a| a.encode(w));
        w.opt(rt.bgp_next_hop, |w, a| a.encode(w));
        w.opt(rt.src_as, |w, v| w.u32(v));
        w.opt(rt.dst_as, |w, v| w.u32(v));
        w.opt(rt.src_mask, |w, v| w.u8(v));
        w.opt(rt.dst_mask, |w, v| w.u8(v));
        w.opt(rt.vlan, |w, v| w.u16(v));
        w.u32(rt.mpls.len() as u32);
        for l in &rt.mpls {
            w.u32(*l);
        }
        put_ep(w, rt.nat_src);
        put_ep(w, rt.nat_dst);
        w.opt(rt.nat_event, |w, v| w.u8(v));
        put_str(w, rt.interface_id.as_deref());
        w.opt(rt.direction, |w, v| w.u8(v));
        w.opt(rt.pkt_src, |w, a| a.encode(w));
        w.opt(rt.pkt_dst, |w, a| a.encode(w));
        put_str(w, self.source_id.as_deref());
        w.opt(self.state.as_ref(), |w, (a, b)| {
            w.str(a);
            w.str(b);
        });
        put_str(w, self.tunnel_parents.as_deref());
        put_str(w, self.community_id_given.as_deref());
        put_str(w, self.status.as_deref());
    }

    /// Reads a record written by [`encode`](Self::encode).
    pub fn decode(r: &mut BinReader<'_>) -> Option<FlowRecord> {
        let kind = *RecordKind::ALL.get(usize::from(r.u8()?))?;
        let loc = RecordLoc::decode(r)?;
        let mut f = FlowRecord::new(kind, loc);
        f.paired = r.opt(RecordLoc::decode)?;
        let bits = r.u8()?;
        f.bidirectional = bits & 1 != 0;
        f.has_ports = bits & 2 != 0;
        f.proto = Proto(r.u8()?);
        f.src = Addr::decode(r)?;
        f.sport = r.u16()?;
        f.dst = Addr::decode(r)?;
        f.dport = r.u16()?;
        f.start = Timestamp(r.i64()?);
        f.end = Timestamp(r.i64()?);
        f.time_original = match r.u8()? {
            0 => TimeOriginal::None,
            1 => TimeOriginal::of(r.str()?),
            2 => {
                use netflow::TimeRule as R;
                let start = (r.u16()?, r.u64()?);
                let end = (r.u16()?, r.u64()?);
                let rule = *[
                    R::Absolute,
                    R::Uptime,
                    R::Boot,
                    R::Observation,
                    R::ExportTime,
                ]
                .get(usize::from(r.u8()?))?;
                TimeOriginal::Export(netflow::ExportTime {
                    start,
                    end,
                    rule,
                    uptime_ms: r.opt(|r| r.u32())?,
                    export_ns: r.i64()?,
                    boot_ms: r.opt(|r| r.i64())?,
                })
            }
            _ => return None,
        };
        f.fwd = Counts::decode(r)?;
        f.rev = Counts::decode(r)?;
        f.sampling = r.opt(|r| r.u32())?;
        let rt = f.routing_mut();
        rt.exporter = r.opt(Addr::decode)?;
        rt.domain = r.opt(|r| r.u32())?;
        rt.in_if = r.opt(|r| r.u32())?;
        rt.out_if = r.opt(|r| r.u32())?;
        rt.next_hop = r.opt(Addr::decode)?;
        rt.bgp_next_hop = r.opt(Addr::decode)?;
        rt.src_as = r.opt(|r| r.u32())?;
        rt.dst_as = r.opt(|r| r.u32())?;
        rt.src_mask = r.opt(|r| r.u8())?;
        rt.dst_mask = r.opt(|r| r.u8())?;
        rt.vlan = r.opt(|r| r.u16())?;
        let n = r.count()?;
        for _ in 0..n {
            rt.mpls.push(r.u32()?);
        }
        rt.nat_src = get_ep(r)?;
        rt.nat_dst = get_ep(r)?;
        rt.nat_event = r.opt(|r| r.u8())?;
        rt.interface_id = get_str(r)?.map(String::from);
        rt.direction = r.opt(|r| r.u8())?;
        rt.pkt_src = r.opt(Addr::decode)?;
        rt.pkt_dst = r.opt(Addr::decode)?;
        if rt.is_empty() {
            f.routing = None;
        }
        f.source_id = get_str(r)?;
        f.state = r.opt(|r| Some((r.str()?.into_boxed_str(), r.str()?.into_boxed_str())))?;
        f.tunnel_parents = get_str(r)?;
        f.community_id_given = get_str(r)?;
        f.status = get_str(r)?;
        Some(f)
    }
}

/// A record's times as its source wrote them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum TimeOriginal {
    /// Not kept (the source writes UTC nanoseconds).
    #[default]
    None,
    /// The text of a log (`1521911721.255387`, `start 1418530010 end 1418530070`).
    Text(Box<str>),
    /// The time elements of a NetFlow/IPFIX record.
    Export(netflow::ExportTime),
}

impl TimeOriginal {
    /// The text written in the `time_original` column.
    pub fn text(&self) -> Option<String> {
        match self {
            TimeOriginal::None => None,
            TimeOriginal::Text(t) => Some(t.to_string()),
            TimeOriginal::Export(e) => Some(e.to_string()),
        }
    }

    /// Text from a log.
    pub fn of(s: impl Into<Box<str>>) -> TimeOriginal {
        TimeOriginal::Text(s.into())
    }
}

/// Everything read from flow logs and exports, in output order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordSet {
    /// The records (paired where possible), sorted by start time, then locator.
    pub records: Vec<FlowRecord>,
}

/// Scope within which two unidirectional records may be the two directions of one
/// communication: the same exporter and observation domain (or the same VPC interface),
/// in the same input for text logs.
fn pair_scope(r: &FlowRecord) -> (u32, Option<Addr>, Option<u32>, Option<&str>) {
    let input = if r.routing().exporter.is_some() {
        u32::MAX
    } else {
        r.loc.at.input
    };
    (
        input,
        r.routing().exporter,
        r.routing().domain,
        r.routing().interface_id.as_deref(),
    )
}

/// The key a record pairs by: its canonical 5-tuple, for a one-way record that has one.
fn pair_key(r: &FlowRecord) -> Option<FlowKey> {
    (!r.bidirectional && r.has_tuple()).then(|| r.key())
}

/// The hash of the group a record with pairing key `k` may pair within (its scope and
/// key): records of different groups never pair.
fn group_hash(r: &FlowRecord, k: &FlowKey) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = crate::model::Seeded::default().build_hasher();
    pair_scope(r).hash(&mut h);
    k.hash(&mut h);
    h.finish()
}

/// Groups larger than this find partners through [`Directions`] rather than a scan.
const LARGE_GROUP: usize = 32;

/// `b` goes the other way between the same ends as `a`.
fn is_reverse(a: &FlowRecord, b: &FlowRecord) -> bool {
    b.src == a.dst
        && b.sport == a.dport
        && b.dst == a.src
        && b.dport == a.sport
        && b.proto == a.proto
}

/// A record's own direction within its group: ends, protocol, pairing key and scope.
type DirKey<'r> = (
    (Addr, u16, Addr, u16, Proto),
    Option<FlowKey>,
    (u32, Option<Addr>, Option<u32>, Option<&'r str>),
);

/// The positions of a pairing group's records by direction, in the group's order, each
/// list with a cursor at its first record that may still be a partner.
struct Directions<'r> {
    lists: HashMap<DirKey<'r>, (Vec<usize>, usize), crate::model::Seeded>,
}

impl<'r> Directions<'r> {
    /// `group`: candidates (group hash, start, record index) starting at position `base`.
    fn of(
        group: &[(u64, Timestamp, u32)],
        base: usize,
        records: &'r [FlowRecord],
        keys: &[Option<FlowKey>],
    ) -> Directions<'r> {
        let mut lists: HashMap<DirKey<'r>, (Vec<usize>, usize), _> = HashMap::default();
        for (k, c) in group.iter().enumerate() {
            let r = &records[c.2 as usize];
            let key = (
                (r.src, r.sport, r.dst, r.dport, r.proto),
                keys[c.2 as usize],
                pair_scope(r),
            );
            lists.entry(key).or_default().0.push(base + k);
        }
        Directions { lists }
    }

    /// The first record after position `n` going the other way from `a`, not yet taken
    /// (what the scan finds before it looks at times). Positions are asked for in
    /// increasing order, so each list's cursor only moves on.
    fn first_reverse(
        &mut self,
        a: &'r FlowRecord,
        key: &Option<FlowKey>,
        n: usize,
        index: impl Fn(usize) -> usize,
        taken: &[bool],
    ) -> Option<usize> {
        let rev = (
            (a.dst, a.dport, a.src, a.sport, a.proto),
            *key,
            pair_scope(a),
        );
        let (list, cur) = self.lists.get_mut(&rev)?;
        while *cur < list.len() && (list[*cur] <= n || taken[index(list[*cur])]) {
            *cur += 1;
        }
        list.get(*cur).map(|&m| index(m))
    }
}

/// A number that is the same for every record [`pair`] may pair with `r` (`None` for a
/// record that pairs with none): records can be paired in separate sets, each holding
/// whole groups, and give the same records as one pass over all of them.
pub fn pair_group(r: &FlowRecord) -> Option<u64> {
    pair_key(r).map(|k| group_hash(r, &k))
}

/// Pairs unidirectional records of one communication into bidirectional records and sorts
/// everything by start time, then locator.
///
/// Two records pair when they come from the same scope (exporter and observation domain,
/// VPC interface, or input), have opposite directions of the same addresses, ports and
/// protocol, and their time spans overlap or lie closer than the protocol's idle timeout.
/// The originator is the sender of a SYN without ACK, else the earlier record, else (same
/// start) the one sending to a well-known port (below 1024), else the first in the
/// export; each record pairs at most once, with the nearest eligible reverse record in time.
///
/// Cost: one hash per record and two sorts of small keys (n log n); records move twice. A
/// record's partner is found by a scan of its group while the group is small and through
/// the group's records listed by direction past that, so no group size makes it quadratic.
pub fn pair(records: Vec<FlowRecord>, cfg: &FlowConfig) -> RecordSet {
    pair_with(records, cfg, LARGE_GROUP)
}

/// [`pair`], with groups larger than `large` searched through [`Directions`].
fn pair_with(mut records: Vec<FlowRecord>, cfg: &FlowConfig, large: usize) -> RecordSet {
    let keys: Vec<Option<FlowKey>> = records.iter().map(pair_key).collect();
    // Candidates sorted by (group hash, start, locator).
    let mut cand: Vec<(u64, Timestamp, u32)> = records
        .iter()
        .zip(&keys)
        .enumerate()
        .filter_map(|(i, (r, k))| Some((group_hash(r, k.as_ref()?), r.start, i as u32)))
        .collect();
    cand.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| records[a.2 as usize].loc.cmp(&records[b.2 as usize].loc))
    });
    let mut partner: Vec<u32> = vec![u32::MAX; records.len()];
    let mut taken = vec![false; records.len()];
    let mut run = 0;
    while run < cand.len() {
        let end = cand[run..]
            .iter()
            .position(|c| c.0 != cand[run].0)
            .map_or(cand.len(), |p| run + p);
        // A large group (the same one-way record many times over: duplicated exports, a
        // log collected twice) finds each record's partner through lists of the group by
        // direction; a scan of the group per record was quadratic (40,000 copies of one
        // VPC line: 9 s).
        let mut by_dir =
            (end - run > large).then(|| Directions::of(&cand[run..end], run, &records, &keys));
        for n in run..end {
            let i = cand[n].2 as usize;
            if taken[i] {
                continue;
            }
            let a = &records[i];
            let gap = idle(cfg, a.proto);
            let best = match &mut by_dir {
                Some(d) => d
                    .first_reverse(a, &keys[i], n, |m| cand[m].2 as usize, &taken)
                    .filter(|&j| records[j].start.since(a.end) <= gap),
                None => {
                    let scope = pair_scope(a);
                    cand[n + 1..end]
                        .iter()
                        .map(|c| c.2 as usize)
                        .take_while(|&j| records[j].start.since(a.end) <= gap)
                        .find(|&j| {
                            let b = &records[j];
                            !taken[j]
                                && is_reverse(a, b)
                                && keys[j] == keys[i]
                                && pair_scope(b) == scope
                        })
                }
            };
            if let Some(j) = best {
                taken[i] = true;
                taken[j] = true;
                let (x, y) = (&records[i], &records[j]);
                let syn = |r: &FlowRecord| r.fwd.tcp_flags & 0x12 == 0x02;
                // On the same start, the one sending to a well-known service port.
                let swap = if syn(x) != syn(y) {
                    syn(y)
                } else {
                    x.start == y.start && y.dport < 1024 && y.dport < y.sport && x.dport > x.sport
                };
                if swap {
                    partner[j] = i as u32;
                } else {
                    partner[i] = j as u32;
                }
            }
        }
        run = end;
    }
    // Fold each partner into its originator in place, then put what remains in output
    // order with an in-place permutation (no second copy of the records).
    let mut absorbed = vec![false; records.len()];
    for i in 0..records.len() {
        let p = partner[i];
        if p == u32::MAX {
            continue;
        }
        let p = p as usize;
        absorbed[p] = true;
        let (b_loc, b_fwd, b_start, b_end) = {
            let b = &records[p];
            (b.loc, b.fwd, b.start, b.end)
        };
        let b_status = records[p].status.take();
        let b_time = std::mem::take(&mut records[p].time_original);
        let a = &mut records[i];
        a.bidirectional = true;
        a.paired = Some(b_loc);
        a.rev = b_fwd;
        a.start = a.start.min(b_start);
        a.end = a.end.max(b_end);
        if a.status != b_status {
            a.status = Some(
                format!(
                    "{}; reverse: {}",
                    a.status.as_deref().unwrap_or("-"),
                    b_status.as_deref().unwrap_or("-")
                )
                .into(),
            );
        }
        if let (TimeOriginal::Text(x), TimeOriginal::Text(y)) = (&a.time_original, &b_time)
            && x != y
        {
            a.time_original = TimeOriginal::of(format!("{x}; reverse: {y}"));
        }
    }
    let mut order: Vec<(Timestamp, RecordLoc, u32)> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| !absorbed[*i])
        .map(|(i, r)| (r.start, r.loc, i as u32))
        .collect();
    order.sort_unstable();
    // Slot k of the output takes record order[k]: follow the permutation's cycles.
    let keep = order.len();
    let mut src: Vec<u32> = (0..records.len() as u32).collect();
    let mut pos: Vec<u32> = (0..records.len() as u32).collect();
    for (k, &(_, _, i)) in order.iter().enumerate() {
        // Where record i is now, and swap it into slot k.
        let at = pos[i as usize] as usize;
        if at != k {
            records.swap(k, at);
            let moved = src[k];
            src.swap(k, at);
            pos[moved as usize] = at as u32;
            pos[i as usize] = k as u32;
        }
    }
    records.truncate(keep);
    RecordSet { records }
}

fn idle(cfg: &FlowConfig, p: Proto) -> i64 {
    match p {
        Proto::TCP => cfg.idle_tcp,
        Proto::UDP => cfg.idle_udp,
        p if p.is_icmp() => cfg.idle_icmp,
        _ => cfg.idle_other,
    }
}

/// A flow-log format, told from the first bytes of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Raw NetFlow v5/v9 or IPFIX export datagrams, one after another.
    NetflowDatagrams,
    /// Zeek conn.log, TSV with `#fields` header.
    ZeekTsv,
    /// Zeek conn.log, JSON lines.
    ZeekJson,
    /// AWS VPC Flow Logs, space-separated with a header line.
    AwsVpc,
    /// Google Cloud VPC Flow Logs, JSON lines.
    GcpJson,
    /// Azure NSG/VNet flow logs, one JSON document.
    AzureJson,
    /// nfdump `-o csv`.
    NfdumpCsv,
    /// Argus `ra` output with a header line.
    ArgusCsv,
}

impl LogFormat {
    /// The name written in summaries (the input's "container").
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::NetflowDatagrams => "netflow export datagrams",
            LogFormat::ZeekTsv => "zeek conn.log (tsv)",
            LogFormat::ZeekJson => "zeek conn.log (json)",
            LogFormat::AwsVpc => "aws vpc flow log",
            LogFormat::GcpJson => "gcp vpc flow log (json)",
            LogFormat::AzureJson => "azure flow log (json)",
            LogFormat::NfdumpCsv => "nfdump csv",
            LogFormat::ArgusCsv => "argus ra csv",
        }
    }

    /// Every format name, for decoding stored summaries.
    pub const NAMES: [&'static str; 8] = [
        "netflow export datagrams",
        "zeek conn.log (tsv)",
        "zeek conn.log (json)",
        "aws vpc flow log",
        "gcp vpc flow log (json)",
        "azure flow log (json)",
        "nfdump csv",
        "argus ra csv",
    ];

    /// Parses a `--input-format` value.
    pub fn parse(s: &str) -> Option<LogFormat> {
        Some(match s {
            "netflow" | "ipfix" => LogFormat::NetflowDatagrams,
            "zeek" | "zeek-tsv" => LogFormat::ZeekTsv,
            "zeek-json" => LogFormat::ZeekJson,
            "aws-vpc" | "vpc" => LogFormat::AwsVpc,
            "gcp-vpc" | "gcp" => LogFormat::GcpJson,
            "azure" => LogFormat::AzureJson,
            "nfdump-csv" | "nfdump" => LogFormat::NfdumpCsv,
            "argus" | "argus-csv" | "ra" => LogFormat::ArgusCsv,
            _ => return None,
        })
    }
}

/// Tells a flow-log format from the first bytes of a (decompressed) file.
pub fn detect(head: &[u8]) -> Option<LogFormat> {
    // A file of raw export datagrams: its first datagram passes the whole-datagram check.
    if netflow::datagram_len(head)
        .and_then(|n| netflow::looks_like_export(&head[..n]))
        .is_some()
    {
        return Some(LogFormat::NetflowDatagrams);
    }
    let text = std::str::from_utf8(&head[..head.len().min(4096)])
        .or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
        .ok()?;
    let mut heads = text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty())
        .take(20);
    if heads
        .clone()
        .any(|l| l.starts_with("#separator") || l.starts_with("#fields"))
    {
        return Some(LogFormat::ZeekTsv);
    }
    if cloud::is_azure(text) {
        return Some(LogFormat::AzureJson);
    }
    let first = heads.find(|l| !l.starts_with('#'))?;
    if cloud::is_gcp(first) {
        return Some(LogFormat::GcpJson);
    }
    if csvlog::is_nfdump_header(first) {
        return Some(LogFormat::NfdumpCsv);
    }
    if csvlog::is_argus_header(first) {
        return Some(LogFormat::ArgusCsv);
    }
    if first.starts_with('{') && (first.contains("\"id.orig_h\"") || first.contains("\"uid\"")) {
        return Some(LogFormat::ZeekJson);
    }
    if vpc::is_header(first) || vpc::is_default_record(first) {
        return Some(LogFormat::AwsVpc);
    }
    None
}

/// What reading one flow-log file gave: its records, and what could not be read.
#[derive(Debug, Default)]
pub struct LogRead {
    /// Records, in file order.
    pub records: Vec<FlowRecord>,
    /// Lines or datagrams that could not be used, by reason.
    pub diag: crate::model::Diagnostics,
    /// Lines or datagrams read.
    pub units: u64,
    /// Earliest start and latest end.
    pub time_range: Option<(Timestamp, Timestamp)>,
    /// How many rows the log's own summary says it has (nfdump's `Summary`), to check.
    pub declared_rows: Option<u64>,
}

impl LogRead {
    /// Keeps a record read from a line, or counts the line under the reader's code.
    pub fn keep(&mut self, r: Result<FlowRecord, u32>, line_len: usize, at: Locator) {
        match r {
            Ok(mut r) => {
                self.note_time(r.start, r.end);
                // Routing fields are kept only when there are some.
                if r.routing.as_deref().is_some_and(Routing::is_empty) {
                    r.routing = None;
                }
                self.records.push(r);
            }
            Err(code) => self.bad(code, line_len, at),
        }
    }

    /// Counts a line that could not be read.
    pub fn bad(&mut self, code: u32, line_len: usize, at: Locator) {
        self.diag.add(
            crate::model::SkipReason::BadLogLine,
            code,
            line_len as u64,
            at,
        );
    }

    /// Appends what the next piece of the same input gave.
    pub fn append(&mut self, later: LogRead) {
        self.records.extend(later.records);
        self.diag.merge(later.diag);
        self.units += later.units;
        if let Some((a, b)) = later.time_range {
            self.note_time(a, b);
        }
        self.declared_rows = later.declared_rows.or(self.declared_rows);
    }

    /// Counts a disagreement between the rows read and the rows the log's summary
    /// declares, located at the input's start.
    pub fn check_declared(&mut self, input: u32) {
        if let Some(n) = self.declared_rows
            && n != self.units
        {
            let at = Locator {
                input,
                ..Locator::default()
            };
            self.diag
                .add(crate::model::SkipReason::BadLogLine, bad::SUMMARY, 0, at);
        }
    }

    /// Widens the time range to a record's span.
    pub fn note_time(&mut self, a: Timestamp, b: Timestamp) {
        self.time_range = Some(match self.time_range {
            Some((x, y)) => (x.min(a), y.max(b)),
            None => (a.min(b), a.max(b)),
        });
    }
}

/// How text logs are read: the options that the content cannot tell.
#[derive(Clone, Debug)]
pub struct TextOptions {
    /// Field list of VPC flow logs without a header line.
    pub vpc_fields: Option<Vec<String>>,
    /// UTC offset (seconds) of times written without one (nfdump and Argus tables).
    pub utc_offset_s: i64,
    /// Lines longer than this many bytes are not read, each counted as `line_too_long`
    /// (a JSON line is parsed into memory several times its size); 0 = no bound.
    pub max_line_bytes: usize,
}

/// Default of [`TextOptions::max_line_bytes`]: 1 MiB, hundreds of times the longest flow
/// record of any format read.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            vpc_fields: None,
            utc_offset_s: 0,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// Where a piece of a text log starts (lines and bytes before it) and the header lines
/// before it that its reader needs (Zeek's `#separator` and `#fields`, a table's header).
#[derive(Clone, Debug, Default)]
pub struct TextPiece<'a> {
    /// Lines before the piece.
    pub line0: u64,
    /// Bytes before the piece.
    pub off0: u64,
    /// Header lines from before the piece, read first and never counted as records.
    pub preamble: Vec<&'a [u8]>,
    /// Longest line read, in bytes (0 = no bound; see [`TextOptions::max_line_bytes`]).
    pub max_line: usize,
}

impl<'a> TextPiece<'a> {
    /// True when `line` is longer than the piece's bound: it is counted in `read` as
    /// `line_too_long` and must not be read.
    pub fn too_long(&self, read: &mut LogRead, line: &[u8], at: Locator) -> bool {
        let long = self.max_line > 0 && line.len() > self.max_line;
        if long {
            read.diag.add(
                crate::model::SkipReason::LineTooLong,
                0,
                line.len() as u64,
                at,
            );
        }
        long
    }

    /// The piece's lines with their locators in `input` (frame = line number), after the
    /// preamble (numbered 0).
    pub fn located<'d>(
        &self,
        input: u32,
        data: &'d [u8],
    ) -> impl Iterator<Item = (Locator, &'d [u8])> + use<'a, 'd>
    where
        'a: 'd,
    {
        self.lines(data).map(move |(n, off, line)| {
            (
                Locator {
                    input,
                    interface: 0,
                    frame: n,
                    offset: off,
                },
                line,
            )
        })
    }

    /// The piece's lines with input-wide numbers and offsets, after the preamble (numbered 0).
    pub fn lines<'d>(
        &self,
        data: &'d [u8],
    ) -> impl Iterator<Item = (u64, u64, &'d [u8])> + use<'a, 'd>
    where
        'a: 'd,
    {
        let (line0, off0) = (self.line0, self.off0);
        self.preamble
            .clone()
            .into_iter()
            .map(|l| (0, 0, l))
            .chain(lines(data).map(move |(n, o, l)| (n + line0, o + off0, l)))
    }
}

/// Size of the pieces a large text log is cut into for parallel reading.
pub const TEXT_PIECE_BYTES: usize = 1 << 20;

/// Reads one piece of a text log.
pub fn read_piece(
    input: u32,
    data: &[u8],
    piece: &TextPiece<'_>,
    format: LogFormat,
    o: &TextOptions,
) -> LogRead {
    match format {
        LogFormat::ZeekTsv => zeek::read_tsv(input, data, piece),
        LogFormat::ZeekJson => zeek::read_json(input, data, piece),
        LogFormat::AwsVpc => vpc::read(input, data, piece, o.vpc_fields.as_deref()),
        LogFormat::GcpJson => cloud::read_gcp(input, data, piece),
        LogFormat::AzureJson => cloud::read_azure(input, data),
        LogFormat::NfdumpCsv => csvlog::read_nfdump(input, data, piece, o.utc_offset_s),
        LogFormat::ArgusCsv => csvlog::read_argus(input, data, piece, o.utc_offset_s),
        LogFormat::NetflowDatagrams => LogRead::default(),
    }
}

/// Where to cut a text log into pieces of about `piece_bytes`, at line boundaries: the
/// byte ranges, in order (one range for small logs and for formats that cannot be cut).
pub fn piece_ranges(data: &[u8], format: LogFormat, piece_bytes: usize) -> Vec<(usize, usize)> {
    if format == LogFormat::AzureJson {
        return vec![(0, data.len())];
    }
    let mut ranges = Vec::new();
    let mut start = 0;
    loop {
        match next_cut(&data[start..], piece_bytes, 0) {
            Some(c) if start + c < data.len() => {
                ranges.push((start, start + c));
                start += c;
            }
            _ => {
                ranges.push((start, data.len()));
                return ranges;
            }
        }
    }
}

/// One piece of a text log as planned, owning the header lines before it.
#[derive(Clone, Debug)]
pub struct PlannedPiece {
    line0: u64,
    off0: u64,
    preamble: Vec<Vec<u8>>,
}

impl PlannedPiece {
    /// The piece to read, with lines longer than `max_line` bytes not read (0 = no bound).
    pub fn piece(&self, max_line: usize) -> TextPiece<'_> {
        TextPiece {
            line0: self.line0,
            off0: self.off0,
            preamble: self.preamble.iter().map(Vec::as_slice).collect(),
            max_line,
        }
    }
}

/// Plans a text log's pieces in order: each piece's first line number and the header
/// lines that put its reader in the state one pass over the log would be in there, known
/// once the pieces before it were scanned (a pass that counts lines and follows header
/// lines as the format's reader does). The pipeline hands each piece to a worker before
/// scanning it for the next.
#[derive(Clone, Debug)]
pub struct PiecePlanner {
    format: LogFormat,
    /// Lines longer than this are not read (0 = no bound), so never headers.
    max_line: usize,
    /// A VPC log read with a given field list (no guessing the default format).
    vpc_fields: bool,
    line0: u64,
    /// The lines to replay before the next piece, in this order. Zeek TSV: the separator
    /// line in force when the field list was read, the field list, the separator line in
    /// force now. VPC: the header (or the default format's, once a record of it was seen
    /// without one). nfdump: the header, and the line that started the summary. Argus: the
    /// header.
    held: [Option<Vec<u8>>; 3],
}

impl PiecePlanner {
    /// A planner for a log of `format` read with the options `o`.
    pub fn new(format: LogFormat, o: &TextOptions) -> PiecePlanner {
        PiecePlanner {
            format,
            max_line: o.max_line_bytes,
            vpc_fields: o.vpc_fields.is_some(),
            line0: 0,
            held: [None, None, None],
        }
    }

    /// The next piece, which starts `off0` bytes into the log, where the piece before it
    /// ended.
    pub fn next(&self, off0: u64) -> PlannedPiece {
        PlannedPiece {
            line0: self.line0,
            off0,
            preamble: self.held.iter().flatten().cloned().collect(),
        }
    }

    /// Scans a piece's bytes (after [`PiecePlanner::next`] gave it) for the pieces after it.
    pub fn pass(&mut self, piece: &[u8]) {
        for (_, _, line) in lines(piece) {
            self.line0 += 1;
            if self.max_line > 0 && line.len() > self.max_line {
                continue;
            }
            self.follow(line);
        }
    }

    /// Follows one line (not too long) as the format's reader would.
    fn follow(&mut self, line: &[u8]) {
        let [a, b, c] = &mut self.held;
        match self.format {
            LogFormat::ZeekTsv => {
                if line.starts_with(b"#separator ") {
                    *c = Some(line.to_vec());
                } else if line.starts_with(b"#fields") {
                    *a = c.clone();
                    *b = Some(line.to_vec());
                }
            }
            LogFormat::AwsVpc => {
                // Records start with a digit; a header's first token never does.
                if line.first().is_some_and(u8::is_ascii_digit) && (a.is_some() || self.vpc_fields)
                {
                    return;
                }
                let text = String::from_utf8_lossy(line);
                let text = text.trim();
                if vpc::is_header(text) {
                    *a = Some(line.to_vec());
                } else if a.is_none() && !self.vpc_fields && vpc::is_default_record(text) {
                    *a = Some(vpc::DEFAULT_FIELDS.join(" ").into_bytes());
                }
            }
            LogFormat::NfdumpCsv => {
                let text = String::from_utf8_lossy(line);
                let text = text.trim();
                if csvlog::is_nfdump_header(text) {
                    *a = Some(line.to_vec());
                } else if b.is_none() && csvlog::starts_summary(text) {
                    *b = Some(line.to_vec());
                }
            }
            LogFormat::ArgusCsv => {
                let text = String::from_utf8_lossy(line);
                if text.contains("StartTime")
                    && !text.trim().is_empty()
                    && csvlog::is_argus_header(&text)
                {
                    *a = Some(line.to_vec());
                }
            }
            _ => {}
        }
    }
}

/// Where the piece of a log that starts `buf` ends: after the first line end at or past
/// `piece_bytes`, looked for from `from` on (bytes before it were looked at already). The
/// one cutting rule: [`piece_ranges`] cuts a whole log with it, the pipeline a stream.
pub fn next_cut(buf: &[u8], piece_bytes: usize, from: usize) -> Option<usize> {
    let from = from.max(piece_bytes.max(1));
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i + 1)
}

/// Joins the pieces' results, in order, and checks the log's own summary.
pub fn join_pieces(input: u32, reads: impl IntoIterator<Item = LogRead>) -> LogRead {
    let mut all = LogRead::default();
    for r in reads {
        all.append(r);
    }
    all.check_declared(input);
    all
}

/// Reads a text flow log of a known format in one thread, cut into pieces of about
/// `piece_bytes` exactly as the pipeline cuts it for parallel reading (the pipeline runs
/// the same steps: [`PiecePlanner`] as it hands out the pieces, [`read_piece`] on its
/// workers). The result does not depend on the piece size.
pub fn read_text_in_pieces(
    input: u32,
    data: &[u8],
    format: LogFormat,
    o: &TextOptions,
    piece_bytes: usize,
) -> LogRead {
    let mut planner = PiecePlanner::new(format, o);
    let mut reads = Vec::new();
    for range in piece_ranges(data, format, piece_bytes) {
        let planned = planner.next(range.0 as u64);
        let bytes = &data[range.0..range.1];
        reads.push(read_piece(
            input,
            bytes,
            &planned.piece(o.max_line_bytes),
            format,
            o,
        ));
        planner.pass(bytes);
    }
    join_pieces(input, reads)
}

/// [`read_text_in_pieces`] with one piece.
pub fn read_text(input: u32, data: &[u8], format: LogFormat, o: &TextOptions) -> LogRead {
    read_text_in_pieces(input, data, format, o, usize::MAX)
}

/// Splits `data` into lines with their 1-based numbers and byte offsets (a final line
/// without a newline counts; `\r\n` endings lose the `\r`).
pub fn lines(data: &[u8]) -> impl Iterator<Item = (u64, u64, &[u8])> {
    let mut pos = 0usize;
    let mut n = 0u64;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let start = pos;
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| pos + i);
        pos = end + 1;
        n += 1;
        let mut line = &data[start..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        Some((n, start as u64, line))
    })
}

/// Parses an address written as text.
pub fn parse_addr(s: &str) -> Option<Addr> {
    match s.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => Some(Addr::v4(a.octets())),
        std::net::IpAddr::V6(a) => Some(Addr::v6(a.octets())),
    }
}

/// Parses `seconds[.fraction]` since the epoch (up to nanoseconds) into a timestamp.
pub fn parse_epoch(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || int.len() > 12 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    let t = secs.checked_mul(1_000_000_000)?.checked_add(nanos)?;
    Some(Timestamp(if neg { -t } else { t }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_groups_pair_through_the_direction_lists_as_the_scan_does() {
        // Many copies of one conversation's two directions, at a few starts, on two
        // interfaces: groups of hundreds, paired through the lists and by the scan alone.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut records = Vec::new();
        for line in 0..3000 {
            let (a, b) = ([10, 0, 0, 1 + next(2) as u8], [10, 0, 0, 9]);
            let mut r = if next(2) == 0 {
                rec(a, 1000, b, 2000, next(400) as i64, line)
            } else {
                rec(b, 2000, a, 1000, next(400) as i64, line)
            };
            if next(3) == 0 {
                r.routing_mut().interface_id = Some("eni-2".into());
            }
            records.push(r);
        }
        let cfg = FlowConfig::default();
        let lists = pair_with(records.clone(), &cfg, 32);
        let scan = pair_with(records, &cfg, usize::MAX);
        assert!(lists.records.iter().filter(|r| r.paired.is_some()).count() > 500);
        assert!(lists == scan);
    }

    fn rec(
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        start: i64,
        line: u64,
    ) -> FlowRecord {
        let mut r = FlowRecord::new(
            RecordKind::AwsVpc,
            RecordLoc {
                at: Locator {
                    frame: line,
                    ..Locator::default()
                },
                record: 0,
            },
        );
        r.proto = Proto::TCP;
        r.src = Addr::v4(src);
        r.sport = sport;
        r.dst = Addr::v4(dst);
        r.dport = dport;
        r.has_ports = true;
        r.start = Timestamp(start * 1_000_000_000);
        r.end = Timestamp((start + 10) * 1_000_000_000);
        r.fwd.pkts = line;
        r
    }

    #[test]
    fn the_two_directions_pair_once_and_the_earlier_is_the_originator() {
        let a = rec([10, 0, 0, 1], 40000, [8, 8, 8, 8], 443, 100, 1);
        let b = rec([8, 8, 8, 8], 443, [10, 0, 0, 1], 40000, 101, 2);
        // The same reverse direction much later is another communication.
        let c = rec([8, 8, 8, 8], 443, [10, 0, 0, 1], 40000, 2000, 3);
        let set = pair(vec![c, b, a], &FlowConfig::default());
        assert_eq!(set.records.len(), 2);
        let p = &set.records[0];
        assert!(p.bidirectional);
        assert_eq!(p.src, Addr::v4([10, 0, 0, 1]));
        assert_eq!((p.fwd.pkts, p.rev.pkts), (1, 2));
        assert_eq!(p.paired.unwrap().at.frame, 2);
        assert_eq!(p.end, Timestamp(111 * 1_000_000_000));
        assert!(!set.records[1].bidirectional);
    }

    #[test]
    fn epoch_seconds_keep_every_digit() {
        assert_eq!(
            parse_epoch("1573732443.231"),
            Some(Timestamp(1_573_732_443_231_000_000))
        );
        assert_eq!(parse_epoch("1.000000001"), Some(Timestamp(1_000_000_001)));
        assert_eq!(parse_epoch("x"), None);
        assert_eq!(parse_epoch("1e9"), None);
    }

    #[test]
    fn formats_are_told_by_content() {
        assert_eq!(
            detect(b"#separator \\x09\n#fields\tts\n"),
            Some(LogFormat::ZeekTsv)
        );
        assert_eq!(
            detect(b"{\"ts\":1.0,\"uid\":\"C1\",\"id.orig_h\":\"1.2.3.4\"}\n"),
            Some(LogFormat::ZeekJson)
        );
        assert_eq!(
            detect(b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"),
            Some(LogFormat::AwsVpc)
        );
        assert_eq!(detect(b"hello world\n"), None);
    }
}
