//! Flow table rows and their CSV and JSON-lines writers.

use crate::decode::Encap;
use crate::enrich::AddrCache;
use crate::flow::{Flow, FlowKey, conn_state, flags_text, push_flags_text};
use crate::model::{Proto, Seconds};
use crate::pipeline::FlowRun;
use crate::records::FlowRecord;
use serde::Serialize;
use std::io::{self, Write};

/// The columns of a flow table, in order.
pub const FLOW_COLUMNS: [&str; 27] = [
    "ts",
    "duration",
    "proto",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "orig_pkts",
    "orig_bytes",
    "resp_pkts",
    "resp_bytes",
    "conn_state",
    "history",
    "community_id",
    "encap",
    "tunnel_parent",
    "vlan",
    "ttl_orig_min",
    "ttl_orig_max",
    "ttl_resp_min",
    "ttl_resp_max",
    "orig_flags",
    "resp_flags",
    "ip_proto",
    "input",
    "interface",
    "first_frame",
];

/// Where each row's evidence came from and the routing and NAT fields flow records carry,
/// after [`FLOW_COLUMNS`] (empty for flows rebuilt from packets, except `source`,
/// `record` and `direction`).
pub const EVIDENCE_COLUMNS: [&str; 23] = [
    "source",
    "record",
    "direction",
    "sampling",
    "exporter",
    "obs_domain",
    "in_if",
    "out_if",
    "next_hop",
    "bgp_next_hop",
    "src_as",
    "dst_as",
    "src_mask",
    "dst_mask",
    "mpls",
    "nat_src",
    "nat_dst",
    "nat_event",
    "pkt_src_ip",
    "pkt_dst_ip",
    "time_original",
    "source_id",
    "status",
];

/// Where a row's evidence came from, and the routing and NAT fields of flow records.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, Default)]
pub struct RowEvidence {
    /// `capture` for flows rebuilt from packets; the record kind otherwise (`netflow-v5`,
    /// `netflow-v9`, `ipfix`, `zeek-conn`, `aws-vpc`).
    pub source: &'static str,
    /// Where the record is: `frame 12 record 3`, `line 40`, `datagram 2 record 1`, with
    /// `+ ...` for the reverse record it was paired with.
    pub record: String,
    /// `bi` (both directions in one record or flow), `uni` (one direction), `paired` (two
    /// unidirectional records joined).
    pub direction: &'static str,
    /// 1-in-N packet sampling the exporter applied (empty: none or unknown).
    pub sampling: Option<u32>,
    /// Exporter address (NetFlow/IPFIX in a capture).
    pub exporter: Option<String>,
    /// NetFlow v9 source ID or IPFIX observation domain.
    pub obs_domain: Option<u32>,
    /// Input interface index.
    pub in_if: Option<u32>,
    /// Output interface index.
    pub out_if: Option<u32>,
    /// IP next hop.
    pub next_hop: Option<String>,
    /// BGP next hop.
    pub bgp_next_hop: Option<String>,
    /// Source AS as the exporter's routing table gave it.
    pub src_as: Option<u32>,
    /// Destination AS as the exporter's routing table gave it.
    pub dst_as: Option<u32>,
    /// Source prefix length.
    pub src_mask: Option<u8>,
    /// Destination prefix length.
    pub dst_mask: Option<u8>,
    /// MPLS labels, top first, `/`-separated.
    pub mpls: Option<String>,
    /// Source address:port after NAT.
    pub nat_src: Option<String>,
    /// Destination address:port after NAT.
    pub nat_dst: Option<String>,
    /// NAT event code.
    pub nat_event: Option<u8>,
    /// The packet's own source address where the record's differs (VPC `pkt-srcaddr`).
    pub pkt_src_ip: Option<String>,
    /// The packet's own destination address where the record's differs.
    pub pkt_dst_ip: Option<String>,
    /// The record's time fields as written, before conversion to UTC.
    pub time_original: Option<String>,
    /// The source's own identifier (Zeek `uid`; VPC `account-id/interface-id`).
    pub source_id: Option<String>,
    /// Source-specific status (VPC action and log status, NetFlow end reason), and a
    /// Community ID the source wrote when it differs from the computed one.
    pub status: Option<String>,
}

/// The columns `--enrich` adds, after [`FLOW_COLUMNS`].
pub const ENRICH_COLUMNS: [&str; 6] = [
    "src_asn",
    "src_as_org",
    "src_country",
    "dst_asn",
    "dst_as_org",
    "dst_country",
];

/// Provider and country of a flow's two addresses (`--enrich`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq, Default)]
pub struct RowEnrichment {
    /// Originator's autonomous system.
    pub src_asn: Option<u32>,
    /// Originator's AS organisation.
    pub src_as_org: Option<String>,
    /// Originator's country (ISO 3166-1 alpha-2).
    pub src_country: Option<String>,
    /// Responder's autonomous system.
    pub dst_asn: Option<u32>,
    /// Responder's AS organisation.
    pub dst_as_org: Option<String>,
    /// Responder's country.
    pub dst_country: Option<String>,
}

/// One flow as written: `src` is the originator (SYN sender for TCP, else first sender).
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct FlowRow {
    /// First packet, RFC 3339 UTC with nanoseconds.
    pub ts: String,
    /// Nanoseconds since the epoch of `ts` (not written to CSV/JSON; used by Parquet).
    #[serde(skip)]
    pub ts_ns: i64,
    /// Seconds from first to last packet.
    pub duration: f64,
    /// Duration in nanoseconds (not written to CSV/JSON; used by CSV text and Parquet).
    #[serde(skip)]
    pub duration_ns: i64,
    /// Transport protocol name.
    pub proto: String,
    /// Originator address.
    pub src_ip: String,
    /// Originator port (ICMP: type).
    pub src_port: u16,
    /// Responder address.
    pub dst_ip: String,
    /// Responder port (ICMP: counterpart type or code).
    pub dst_port: u16,
    /// Packets from the originator.
    pub orig_pkts: u64,
    /// IP bytes from the originator.
    pub orig_bytes: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// IP bytes from the responder.
    pub resp_bytes: u64,
    /// Zeek-style connection state.
    pub conn_state: &'static str,
    /// Zeek-style TCP history.
    pub history: String,
    /// Community ID v1.
    pub community_id: String,
    /// Encapsulation layers, outermost first (` / ` between layers, ` | ` between chains).
    pub encap: String,
    /// Community IDs of the carrier flows (innermost tunnel of each chain), comma-separated.
    pub tunnel_parent: String,
    /// VLAN ids (`outer.inner`).
    pub vlan: String,
    /// Smallest TTL the originator sent.
    pub ttl_orig_min: Option<u8>,
    /// Largest TTL the originator sent.
    pub ttl_orig_max: Option<u8>,
    /// Smallest TTL the responder sent.
    pub ttl_resp_min: Option<u8>,
    /// Largest TTL the responder sent.
    pub ttl_resp_max: Option<u8>,
    /// TCP flags the originator sent (`FSRPAUEC` letters).
    pub orig_flags: String,
    /// TCP flags the responder sent.
    pub resp_flags: String,
    /// IP protocol number.
    pub ip_proto: u8,
    /// Input file of the first packet.
    pub input: String,
    /// Capture interface of the first packet.
    pub interface: u32,
    /// Frame number of the first packet in its input (from 1).
    pub first_frame: u64,
    /// Where the evidence came from; routing and NAT fields of flow records.
    #[serde(flatten)]
    pub evidence: RowEvidence,
    /// Provider and country of both addresses, when the table is enriched.
    #[serde(flatten)]
    pub enrich: Option<RowEnrichment>,
}

/// What a row is made from: a flow rebuilt from packets, or a flow record.
#[derive(Clone, Copy, Debug)]
pub enum RowSource<'a> {
    /// A flow from packets.
    Flow(&'a Flow),
    /// A record from a flow log or export.
    Record(&'a FlowRecord),
}

/// The rows of a run's flow table held in memory (flows from packets and flow records), in
/// output order; a run that spilled flows or set records aside is written by
/// [`pipeline::write_flows`](crate::pipeline::write_flows).
pub fn flow_rows(run: &FlowRun) -> Vec<FlowRow> {
    let items = interleave(run.flows.flows.iter(), &run.records.records);
    source_rows(items, &run.flows.chains, &input_names(run), None)
}

/// The output order of flows and records: by first time, then input and frame (or line),
/// flows before records on a tie.
pub fn row_order(item: &RowSource<'_>) -> (crate::model::Timestamp, u32, u64, u8) {
    match item {
        RowSource::Flow(f) => (f.first_ts(), f.first_loc.input, f.first_loc.frame, 0),
        RowSource::Record(r) => (r.start, r.loc.at.input, r.loc.at.frame, 1),
    }
}

/// Merges flows (in output order) and records (sorted by start) into one output order.
pub fn interleave<'a>(
    flows: impl Iterator<Item = &'a Flow>,
    records: &'a [FlowRecord],
) -> Vec<RowSource<'a>> {
    let mut out = Vec::with_capacity(records.len());
    let mut recs = records.iter().peekable();
    for f in flows {
        let item = RowSource::Flow(f);
        while let Some(r) = recs.peek() {
            if row_order(&RowSource::Record(r)) < row_order(&item) {
                out.push(RowSource::Record(r));
                recs.next();
            } else {
                break;
            }
        }
        out.push(item);
    }
    out.extend(recs.map(RowSource::Record));
    out
}

/// The rows of the flows `range` of a run's in-memory flow table.
pub fn flow_rows_range(run: &FlowRun, range: std::ops::Range<usize>) -> Vec<FlowRow> {
    rows_of(
        &run.flows.flows[range],
        &run.flows.chains,
        &input_names(run),
        None,
    )
}

/// The names of a run's inputs, as written in the `input` column.
pub fn input_names(run: &FlowRun) -> Vec<String> {
    run.inputs
        .iter()
        .map(|i| i.name.display().to_string())
        .collect()
}

/// The encapsulation chains rows name: a run's table, then the chains that came back from
/// disk with spilled flows (numbered after the table's).
#[derive(Clone, Copy, Debug, Default)]
pub struct ChainTable<'a> {
    main: &'a [Box<[Encap]>],
    extra: &'a [Box<[Encap]>],
}

impl<'a> ChainTable<'a> {
    /// The chains `main`, then `extra` numbered from `main.len()`.
    pub fn new(main: &'a [Box<[Encap]>], extra: &'a [Box<[Encap]>]) -> ChainTable<'a> {
        ChainTable { main, extra }
    }

    /// The chain of an id (none for an id neither table has).
    #[inline]
    pub fn get(self, id: crate::flow::ChainId) -> &'a [Encap] {
        let i = id as usize;
        match self.main.get(i) {
            Some(c) => c,
            None => self.extra.get(i - self.main.len()).map_or(&[], |c| c),
        }
    }
}

impl<'a> From<&'a [Box<[Encap]>]> for ChainTable<'a> {
    fn from(main: &'a [Box<[Encap]>]) -> ChainTable<'a> {
        ChainTable { main, extra: &[] }
    }
}

impl<'a> From<&'a Vec<Box<[Encap]>>> for ChainTable<'a> {
    fn from(main: &'a Vec<Box<[Encap]>>) -> ChainTable<'a> {
        ChainTable { main, extra: &[] }
    }
}

/// The rows of some flows, given the encapsulation chains and input names of their run,
/// enriched through `enrich` if given.
pub fn rows_of<'a, 'c>(
    flows: impl IntoIterator<Item = &'a Flow>,
    chains: impl Into<ChainTable<'c>>,
    names: &[String],
    enrich: Option<&AddrCache<'_>>,
) -> Vec<FlowRow> {
    source_rows(
        flows.into_iter().map(RowSource::Flow),
        chains,
        names,
        enrich,
    )
}

/// The rows of flows and flow records, in the order given.
pub fn source_rows<'a, 'c>(
    items: impl IntoIterator<Item = RowSource<'a>>,
    chains: impl Into<ChainTable<'c>>,
    names: &[String],
    enrich: Option<&AddrCache<'_>>,
) -> Vec<FlowRow> {
    let chains = chains.into();
    let mut scratch = Scratch::default();
    items
        .into_iter()
        .map(|item| {
            let mut row = FlowRow::default();
            fill_row(&mut row, item, chains, &mut scratch, names, enrich);
            row
        })
        .collect()
}

/// Calls `each` with the row of every item in order, reusing one row's buffers (the table
/// writers' path: no allocation per flow once the buffers have grown).
pub fn each_row<'a, 'c, E>(
    items: impl IntoIterator<Item = RowSource<'a>>,
    chains: impl Into<ChainTable<'c>>,
    names: &[String],
    enrich: Option<&AddrCache<'_>>,
    mut each: impl FnMut(&FlowRow) -> Result<(), E>,
) -> Result<(), E> {
    let chains = chains.into();
    let mut scratch = Scratch::default();
    let mut row = FlowRow::default();
    for item in items {
        fill_row(&mut row, item, chains, &mut scratch, names, enrich);
        each(&row)?;
    }
    Ok(())
}

/// What filling a row needs besides the row, reused from row to row (a tunnelled flow's
/// row allocated the list of its chains and its carrier's Community ID).
#[derive(Default)]
struct Scratch {
    /// The chains of the row being filled that are shown.
    shown: Vec<crate::flow::ChainId>,
    /// A carrier's Community ID.
    carrier: String,
}

/// Fills `row` with the row of one item, enriched through `enrich` if given.
fn fill_row(
    row: &mut FlowRow,
    item: RowSource<'_>,
    chains: ChainTable<'_>,
    scratch: &mut Scratch,
    names: &[String],
    enrich: Option<&AddrCache<'_>>,
) {
    let (s, d) = match item {
        RowSource::Flow(f) => {
            fill_flow_row(row, f, chains, scratch, names);
            (
                f.key.endpoint(f.orig_side()).addr,
                f.key.endpoint(f.orig_side().other()).addr,
            )
        }
        RowSource::Record(r) => {
            *row = record_row(r, names);
            (r.src, r.dst)
        }
    };
    let Some(cache) = enrich else {
        row.enrich = None;
        return;
    };
    // Reuse the previous row's strings: no allocation per row once they have grown.
    fn set(slot: &mut Option<String>, v: Option<&str>) {
        match v {
            Some(v) => {
                let t = slot.get_or_insert_with(String::new);
                t.clear();
                t.push_str(v);
            }
            None => *slot = None,
        }
    }
    fn cc(c: &Option<[u8; 2]>) -> Option<&str> {
        c.as_ref().and_then(|c| std::str::from_utf8(c).ok())
    }
    let e = row.enrich.get_or_insert_with(RowEnrichment::default);
    cache.with_brief(s.to_ip(), |b| {
        e.src_asn = b.asn;
        set(&mut e.src_as_org, b.as_org.as_deref());
        set(&mut e.src_country, cc(&b.country));
    });
    cache.with_brief(d.to_ip(), |b| {
        e.dst_asn = b.asn;
        set(&mut e.dst_as_org, b.as_org.as_deref());
        set(&mut e.dst_country, cc(&b.country));
    });
}

/// The CSV header line.
pub fn csv_header() -> Vec<u8> {
    csv_header_for(false)
}

/// The CSV header line, with the `--enrich` columns if `enriched`.
pub fn csv_header_for(enriched: bool) -> Vec<u8> {
    let mut cols: Vec<&str> = FLOW_COLUMNS.to_vec();
    cols.extend(EVIDENCE_COLUMNS);
    if enriched {
        cols.extend(ENRICH_COLUMNS);
    }
    let mut h = cols.join(",").into_bytes();
    h.push(b'\n');
    h
}

fn carrier_key(t: &crate::decode::Tunnel) -> FlowKey {
    FlowKey::new(
        t.src,
        t.sport,
        t.dst,
        t.dport,
        t.proto,
        false,
        Default::default(),
    )
    .0
}

/// The last part of a row's `encap` when its flow was seen through more encapsulation
/// chains than a flow keeps ([`MAX_FLOW_CHAINS`](crate::flow::MAX_FLOW_CHAINS)): the
/// chains before it are the first the flow was seen through.
pub const UNLISTED_CHAINS: &str = "(more chains, not listed)";

/// Fills `row` with the row of a flow, reusing its buffers: writing a table allocates
/// nothing per flow once the buffers have grown.
fn fill_flow_row(
    row: &mut FlowRow,
    f: &Flow,
    chains: ChainTable<'_>,
    scratch: &mut Scratch,
    names: &[String],
) {
    let orig = f.orig_side();
    let resp = orig.other();
    let (o, r) = (&f.dir[orig.idx()], &f.dir[resp.idx()]);
    let first = f.first_ts();
    let last = o.last.max(r.last);
    let (src, dst) = (f.key.endpoint(orig), f.key.endpoint(resp));
    row.encap.clear();
    row.tunnel_parent.clear();
    scratch.shown.clear();
    for c in f.chains.all() {
        let chain = chains.get(c);
        // The return direction of a tunnel (endpoints swapped) is the same path.
        if chain.is_empty() || scratch.shown.iter().any(|&s| mirrors(chains.get(s), chain)) {
            continue;
        }
        scratch.shown.push(c);
        if !row.encap.is_empty() {
            row.encap.push_str(" | ");
        }
        for (i, e) in chain.iter().enumerate() {
            if i > 0 {
                row.encap.push_str(" / ");
            }
            // Writing into a String cannot fail.
            let _ = e.write_text(&mut row.encap);
        }
        if let Some(Encap::Tunnel(t)) = chain.iter().rev().find(|e| matches!(e, Encap::Tunnel(_))) {
            let id = &mut scratch.carrier;
            id.clear();
            crate::flow::community_id_into(&carrier_key(t), 0, id);
            if !row.tunnel_parent.split(',').any(|p| p == id) {
                if !row.tunnel_parent.is_empty() {
                    row.tunnel_parent.push(',');
                }
                row.tunnel_parent.push_str(id);
            }
        }
    }
    if f.chains.unlisted {
        // Seen through more chains than a flow keeps (`flow::MAX_FLOW_CHAINS`).
        if !row.encap.is_empty() {
            row.encap.push_str(" | ");
        }
        row.encap.push_str(UNLISTED_CHAINS);
    }
    let ttl = |d: &crate::flow::DirStats, min: bool| {
        (d.pkts > 0).then_some(if min { d.ttl_min } else { d.ttl_max })
    };
    let tcp = f.key.proto == Proto::TCP;
    row.ts.clear();
    first.rfc3339().push_to(&mut row.ts);
    row.ts_ns = first.0;
    row.duration = last.since(first) as f64 / 1e9;
    row.duration_ns = last.since(first);
    row.proto.clear();
    push_proto(f.key.proto, &mut row.proto);
    row.src_ip.clear();
    src.addr.push_text(&mut row.src_ip);
    row.src_port = src.port;
    row.dst_ip.clear();
    dst.addr.push_text(&mut row.dst_ip);
    row.dst_port = dst.port;
    row.orig_pkts = o.pkts;
    row.orig_bytes = o.bytes;
    row.resp_pkts = r.pkts;
    row.resp_bytes = r.bytes;
    row.conn_state = conn_state(f.key.proto, &f.history, orig, r.pkts);
    row.history.clear();
    f.history.push_text(orig, &mut row.history);
    row.community_id.clear();
    crate::flow::community_id_into(&f.key, 0, &mut row.community_id);
    row.vlan.clear();
    f.key.ctx().push_vlan_text(&mut row.vlan);
    row.ttl_orig_min = ttl(o, true);
    row.ttl_orig_max = ttl(o, false);
    row.ttl_resp_min = ttl(r, true);
    row.ttl_resp_max = ttl(r, false);
    row.orig_flags.clear();
    row.resp_flags.clear();
    if tcp {
        push_flags_text(o.tcp_flags, &mut row.orig_flags);
        push_flags_text(r.tcp_flags, &mut row.resp_flags);
    }
    row.ip_proto = f.key.proto.0;
    row.input.clear();
    if let Some(n) = names.get(f.first_loc.input as usize) {
        row.input.push_str(n);
    }
    row.interface = f.first_loc.interface;
    row.first_frame = f.first_loc.frame;
    let mut record = std::mem::take(&mut row.evidence.record);
    record.clear();
    record.push_str("frame ");
    record.push_str(itoa::Buffer::new().format(f.first_loc.frame));
    row.evidence = RowEvidence {
        source: "capture",
        record,
        direction: "bi",
        ..RowEvidence::default()
    };
}

/// Appends the protocol column's text: `icmp` for ICMP and ICMPv6, else the protocol's
/// name.
fn push_proto(p: Proto, out: &mut String) {
    match p.0 {
        1 | 58 => out.push_str("icmp"),
        _ => p.push_name(out),
    }
}

/// Where a record is, in words: `frame 12 record 3`, `line 40`, `datagram 2 record 1`.
pub fn record_locator(
    r: &crate::records::RecordLoc,
    kind: crate::records::RecordKind,
    from_capture: bool,
) -> String {
    if kind == crate::records::RecordKind::Azure {
        return format!("flow tuple {}", r.record);
    }
    let unit = if kind.is_text() {
        "line"
    } else if from_capture {
        "frame"
    } else {
        "datagram"
    };
    if r.record == 0 {
        format!("{unit} {}", r.at.frame)
    } else {
        format!("{unit} {} record {}", r.at.frame, r.record)
    }
}

fn record_row(r: &FlowRecord, names: &[String]) -> FlowRow {
    let first = r.start;
    let dur = r.end.since(r.start).max(0);
    let from_capture = r.routing().exporter.is_some();
    let mut record = record_locator(&r.loc, r.kind, from_capture);
    if let Some(p) = &r.paired {
        record.push_str(" + ");
        record.push_str(&record_locator(p, r.kind, from_capture));
    }
    let addr_port = |(a, p): (crate::model::Addr, u16)| a.with_port(p);
    let cid = r.community_id();
    let mut status: Vec<String> = r.status.iter().map(|s| s.to_string()).collect();
    if let Some(given) = &r.community_id_given
        && cid.as_deref() != Some(given.as_ref())
    {
        status.push(format!("community_id in log: {given}"));
    }
    let tcp = r.proto == Proto::TCP;
    let rt = r.routing();
    let (conn_state, history) = match &r.state {
        Some((s, h)) => (
            ZEEK_STATES
                .iter()
                .find(|z| **z == s.as_ref())
                .copied()
                .unwrap_or("OTH"),
            h.to_string(),
        ),
        None => ("", String::new()),
    };
    FlowRow {
        ts: first.rfc3339().to_string(),
        ts_ns: first.0,
        duration: dur as f64 / 1e9,
        duration_ns: dur,
        proto: proto_name(r.proto),
        src_ip: r.src.to_string(),
        src_port: r.sport,
        dst_ip: r.dst.to_string(),
        dst_port: r.dport,
        orig_pkts: r.fwd.pkts,
        orig_bytes: r.fwd.bytes,
        resp_pkts: r.rev.pkts,
        resp_bytes: r.rev.bytes,
        conn_state,
        history,
        community_id: cid.unwrap_or_default(),
        encap: String::new(),
        tunnel_parent: r.tunnel_parents.as_deref().unwrap_or("").to_string(),
        vlan: rt.vlan.map_or_else(String::new, |v| v.to_string()),
        ttl_orig_min: None,
        ttl_orig_max: None,
        ttl_resp_min: None,
        ttl_resp_max: None,
        orig_flags: if tcp {
            flags_text(r.fwd.tcp_flags)
        } else {
            String::new()
        },
        resp_flags: if tcp {
            flags_text(r.rev.tcp_flags)
        } else {
            String::new()
        },
        ip_proto: r.proto.0,
        input: names
            .get(r.loc.at.input as usize)
            .cloned()
            .unwrap_or_default(),
        interface: 0,
        first_frame: r.loc.at.frame,
        evidence: RowEvidence {
            source: r.kind.name(),
            record,
            direction: match (r.bidirectional, r.paired.is_some()) {
                (_, true) => "paired",
                (true, false) => "bi",
                (false, false) => "uni",
            },
            sampling: r.sampling,
            exporter: rt.exporter.map(|a| a.to_string()),
            obs_domain: rt.domain,
            in_if: rt.in_if,
            out_if: rt.out_if,
            next_hop: rt.next_hop.map(|a| a.to_string()),
            bgp_next_hop: rt.bgp_next_hop.map(|a| a.to_string()),
            src_as: rt.src_as,
            dst_as: rt.dst_as,
            src_mask: rt.src_mask,
            dst_mask: rt.dst_mask,
            mpls: (!rt.mpls.is_empty()).then(|| {
                rt.mpls
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            }),
            nat_src: rt.nat_src.map(addr_port),
            nat_dst: rt.nat_dst.map(addr_port),
            nat_event: rt.nat_event,
            pkt_src_ip: rt.pkt_src.map(|a| a.to_string()),
            pkt_dst_ip: rt.pkt_dst.map(|a| a.to_string()),
            time_original: r.time_original.text(),
            source_id: r.source_id.as_deref().map(str::to_string),
            status: (!status.is_empty()).then(|| status.join("; ")),
        },
        enrich: None,
    }
}

/// Zeek's connection states, to keep the column's values from a fixed set.
const ZEEK_STATES: [&str; 13] = [
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
];

/// True when two chains are the same layers with every tunnel's endpoints swapped.
fn mirrors(a: &[Encap], b: &[Encap]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Encap::Tunnel(s), Encap::Tunnel(t)) => {
                s.kind == t.kind
                    && s.proto == t.proto
                    && s.id == t.id
                    && (s.src, s.sport, s.dst, s.dport) == (t.dst, t.dport, t.src, t.sport)
            }
            _ => x == y,
        })
}

/// Zeek's protocol names: `icmp` for both ICMP versions, `unknown_transport` otherwise.
fn proto_name(p: Proto) -> String {
    let mut s = String::new();
    push_proto(p, &mut s);
    s
}

/// A CSV line being built in a byte buffer, without the formatting machinery (the flow
/// table writes about sixty fields per row). The flag says the row was filled by this
/// module (`fill_row`), so the fields it writes from a fixed alphabet need no scan.
struct Csv<'a>(&'a mut Vec<u8>, bool);

/// True when a CSV field must be quoted: it holds a comma, quote or line break.
fn needs_quotes(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

impl Csv<'_> {
    /// A text field, quoted when it holds a comma, quote or line break.
    fn s(&mut self, s: &str) -> &mut Self {
        if needs_quotes(s) {
            self.0.push(b'"');
            self.0.extend_from_slice(s.replace('"', "\"\"").as_bytes());
            self.0.push(b'"');
        } else {
            self.0.extend_from_slice(s.as_bytes());
        }
        self
    }

    /// A text field that `fill_row` writes from a fixed alphabet needing no quoting (times,
    /// addresses, protocol and state names, Community IDs, flag letters, record locators):
    /// copied without the scan when the row came from `fill_row` (the scan is about a
    /// twentieth of writing a table), scanned like any field otherwise (a row built by a
    /// caller of [`csv_rows_into`] may hold anything).
    fn r(&mut self, s: &str) -> &mut Self {
        if !self.1 {
            return self.s(s);
        }
        debug_assert!(!needs_quotes(s), "unquoted CSV field needs quotes: {s:?}");
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    /// A text field from [`r`](Self::r)'s alphabet that is empty when absent.
    fn or(&mut self, s: Option<&str>) -> &mut Self {
        self.r(s.unwrap_or(""))
    }

    /// A text field that is empty when absent.
    fn os(&mut self, s: Option<&str>) -> &mut Self {
        self.s(s.unwrap_or(""))
    }

    /// An integer field.
    fn n<T: itoa::Integer>(&mut self, v: T) -> &mut Self {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self
    }

    /// An integer field that is empty when absent.
    fn on<T: itoa::Integer>(&mut self, v: Option<T>) -> &mut Self {
        if let Some(v) = v {
            self.n(v);
        }
        self
    }

    /// The separator.
    fn c(&mut self) -> &mut Self {
        self.0.push(b',');
        self
    }
}

/// Writes rows as CSV with a header line.
pub fn write_csv(rows: &[FlowRow], out: &mut dyn Write) -> io::Result<()> {
    out.write_all(&csv_header())?;
    write_csv_rows(rows, out)
}

/// Writes rows as CSV lines, without the header.
pub fn write_csv_rows(rows: &[FlowRow], out: &mut dyn Write) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1 << 16);
    for chunk in rows.chunks(128) {
        buf.clear();
        csv_rows_into(chunk, &mut buf);
        out.write_all(&buf)?;
    }
    out.flush()
}

/// Appends rows as CSV lines (no header) to `buf`.
pub fn csv_rows_into(rows: &[FlowRow], buf: &mut Vec<u8>) {
    for r in rows {
        csv_row_into(r, buf, false);
    }
}

/// Appends a row that [`each_row`] filled as a CSV line to `buf`.
pub(crate) fn csv_filled_row_into(row: &FlowRow, buf: &mut Vec<u8>) {
    csv_row_into(row, buf, true);
}

/// One CSV line; `filled`: the row came from `fill_row`.
fn csv_row_into(r: &FlowRow, buf: &mut Vec<u8>, filled: bool) {
    // `r`: fields `fill_row` writes from an alphabet without separators; `s`: text
    // that comes from the evidence (file names, log fields) or holds commas.
    let mut w = Csv(buf, filled);
    w.r(&r.ts).c();
    Seconds(r.duration_ns).push_to(w.0);
    w.c().r(&r.proto).c().r(&r.src_ip).c().n(r.src_port).c();
    w.r(&r.dst_ip).c().n(r.dst_port).c();
    w.n(r.orig_pkts).c().n(r.orig_bytes).c();
    w.n(r.resp_pkts).c().n(r.resp_bytes).c();
    w.r(r.conn_state)
        .c()
        .s(&r.history)
        .c()
        .r(&r.community_id)
        .c();
    w.s(&r.encap).c().s(&r.tunnel_parent).c().r(&r.vlan).c();
    w.on(r.ttl_orig_min).c().on(r.ttl_orig_max).c();
    w.on(r.ttl_resp_min).c().on(r.ttl_resp_max).c();
    w.r(&r.orig_flags)
        .c()
        .r(&r.resp_flags)
        .c()
        .n(r.ip_proto)
        .c();
    w.s(&r.input).c().n(r.interface).c().n(r.first_frame).c();
    let ev = &r.evidence;
    w.r(ev.source).c().r(&ev.record).c().r(ev.direction).c();
    w.on(ev.sampling).c().or(ev.exporter.as_deref()).c();
    w.on(ev.obs_domain).c().on(ev.in_if).c().on(ev.out_if).c();
    w.or(ev.next_hop.as_deref())
        .c()
        .or(ev.bgp_next_hop.as_deref())
        .c();
    w.on(ev.src_as).c().on(ev.dst_as).c();
    w.on(ev.src_mask).c().on(ev.dst_mask).c();
    w.or(ev.mpls.as_deref()).c();
    w.or(ev.nat_src.as_deref())
        .c()
        .or(ev.nat_dst.as_deref())
        .c();
    w.on(ev.nat_event).c();
    w.or(ev.pkt_src_ip.as_deref())
        .c()
        .or(ev.pkt_dst_ip.as_deref())
        .c();
    w.os(ev.time_original.as_deref()).c();
    w.os(ev.source_id.as_deref()).c().os(ev.status.as_deref());
    if let Some(e) = &r.enrich {
        w.c().on(e.src_asn).c().os(e.src_as_org.as_deref()).c();
        w.os(e.src_country.as_deref()).c();
        w.on(e.dst_asn).c().os(e.dst_as_org.as_deref()).c();
        w.os(e.dst_country.as_deref());
    }
    w.0.push(b'\n');
}

/// Writes rows as JSON lines.
pub fn write_jsonl(rows: &[FlowRow], out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 16, out);
    for r in rows {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows built by a library caller may hold anything in any field: every text field is
    /// quoted when it needs to be (only rows `fill_row` made skip the scan of the fields it
    /// writes itself).
    #[test]
    fn a_callers_row_is_quoted_wherever_it_needs_to_be() {
        let row = FlowRow {
            ts: "2026-01-01, noon".into(),
            proto: "t\"cp".into(),
            src_ip: "10.0.0.1,10.0.0.2".into(),
            community_id: "1:a\nb".into(),
            vlan: "1\r2".into(),
            evidence: RowEvidence {
                record: "frame 1, record 2".into(),
                next_hop: Some("a,b".into()),
                ..RowEvidence::default()
            },
            ..FlowRow::default()
        };
        let mut buf = Vec::new();
        csv_rows_into(std::slice::from_ref(&row), &mut buf);
        let line = String::from_utf8(buf).unwrap();
        for quoted in [
            "\"2026-01-01, noon\"",
            "\"t\"\"cp\"",
            "\"10.0.0.1,10.0.0.2\"",
            "\"1:a\nb\"",
            "\"1\r2\"",
            "\"frame 1, record 2\"",
            "\"a,b\"",
        ] {
            assert!(line.contains(quoted), "{quoted:?} not in {line:?}");
        }
        // Unquoted, the line would have more fields than the header.
        let header = csv_header();
        let fields = |s: &str| {
            let mut n = 1;
            let mut quoted = false;
            for c in s.trim_end_matches('\n').chars() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => n += 1,
                    _ => {}
                }
            }
            n
        };
        assert_eq!(fields(&line), fields(std::str::from_utf8(&header).unwrap()));
    }
}
