//! Flow table rows and their CSV and JSON-lines writers.

use crate::decode::Encap;
use crate::enrich::{AddrCache, country_text};
use crate::flow::{Flow, FlowKey, community_id, conn_state, flags_text};
use crate::model::{Proto, Seconds};
use crate::pipeline::FlowRun;
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
#[derive(Clone, Debug, Serialize, PartialEq)]
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
    /// Provider and country of both addresses, when the table is enriched.
    #[serde(flatten)]
    pub enrich: Option<RowEnrichment>,
}

/// The rows of a run's flow table, in output order.
pub fn flow_rows(run: &FlowRun) -> Vec<FlowRow> {
    flow_rows_range(run, 0..run.flows.flows.len())
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

/// The rows of some flows, given the encapsulation chains and input names of their run,
/// enriched through `enrich` if given.
pub fn rows_of<'a>(
    flows: impl IntoIterator<Item = &'a Flow>,
    chains: &[Box<[Encap]>],
    names: &[String],
    enrich: Option<&AddrCache<'_>>,
) -> Vec<FlowRow> {
    flows
        .into_iter()
        .map(|f| {
            let mut row = flow_row(f, chains, names);
            if let Some(cache) = enrich {
                let (s, d) = (
                    f.key.endpoint(f.orig_side()),
                    f.key.endpoint(f.orig_side().other()),
                );
                let (s, d) = (cache.brief(s.addr.to_ip()), cache.brief(d.addr.to_ip()));
                let cc = |c: Option<[u8; 2]>| c.map(country_text);
                row.enrich = Some(RowEnrichment {
                    src_asn: s.asn,
                    src_as_org: s.as_org.map(|o| o.to_string()),
                    src_country: cc(s.country),
                    dst_asn: d.asn,
                    dst_as_org: d.as_org.map(|o| o.to_string()),
                    dst_country: cc(d.country),
                });
            }
            row
        })
        .collect()
}

/// The CSV header line.
pub fn csv_header() -> Vec<u8> {
    csv_header_for(false)
}

/// The CSV header line, with the `--enrich` columns if `enriched`.
pub fn csv_header_for(enriched: bool) -> Vec<u8> {
    let mut cols: Vec<&str> = FLOW_COLUMNS.to_vec();
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

fn flow_row(f: &Flow, chains: &[Box<[Encap]>], names: &[String]) -> FlowRow {
    let orig = f.orig_side();
    let resp = orig.other();
    let (o, r) = (&f.dir[orig.idx()], &f.dir[resp.idx()]);
    let first = f.first_ts();
    let last = o.last.max(r.last);
    let (src, dst) = (f.key.endpoint(orig), f.key.endpoint(resp));
    let mut encap = String::new();
    let mut parents: Vec<String> = Vec::new();
    let mut shown: Vec<&[Encap]> = Vec::new();
    for c in f.chains.all() {
        let chain: &[Encap] = chains.get(c as usize).map_or(&[], |c| c);
        // The return direction of a tunnel (endpoints swapped) is the same path.
        if chain.is_empty() || shown.iter().any(|s| mirrors(s, chain)) {
            continue;
        }
        shown.push(chain);
        if !encap.is_empty() {
            encap.push_str(" | ");
        }
        for (i, e) in chain.iter().enumerate() {
            if i > 0 {
                encap.push_str(" / ");
            }
            encap.push_str(&e.to_string());
        }
        if let Some(Encap::Tunnel(t)) = chain.iter().rev().find(|e| matches!(e, Encap::Tunnel(_))) {
            let id = community_id(&carrier_key(t), 0);
            if !parents.contains(&id) {
                parents.push(id);
            }
        }
    }
    let ttl = |d: &crate::flow::DirStats, min: bool| {
        (d.pkts > 0).then_some(if min { d.ttl_min } else { d.ttl_max })
    };
    let tcp = f.key.proto == Proto::TCP;
    FlowRow {
        ts: first.rfc3339().to_string(),
        ts_ns: first.0,
        duration: last.since(first) as f64 / 1e9,
        duration_ns: last.since(first),
        proto: proto_name(f.key.proto),
        src_ip: src.addr.to_string(),
        src_port: src.port,
        dst_ip: dst.addr.to_string(),
        dst_port: dst.port,
        orig_pkts: o.pkts,
        orig_bytes: o.bytes,
        resp_pkts: r.pkts,
        resp_bytes: r.bytes,
        conn_state: conn_state(f.key.proto, &f.history, orig, r.pkts),
        history: f.history.text(orig),
        community_id: community_id(&f.key, 0),
        encap,
        tunnel_parent: parents.join(","),
        vlan: f.key.ctx().vlan_text(),
        ttl_orig_min: ttl(o, true),
        ttl_orig_max: ttl(o, false),
        ttl_resp_min: ttl(r, true),
        ttl_resp_max: ttl(r, false),
        orig_flags: if tcp {
            flags_text(o.tcp_flags)
        } else {
            String::new()
        },
        resp_flags: if tcp {
            flags_text(r.tcp_flags)
        } else {
            String::new()
        },
        ip_proto: f.key.proto.0,
        input: names
            .get(f.first_loc.input as usize)
            .cloned()
            .unwrap_or_default(),
        interface: f.first_loc.interface,
        first_frame: f.first_loc.frame,
        enrich: None,
    }
}

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
    match p.0 {
        6 | 17 | 132 => p.name().to_string(),
        1 | 58 => "icmp".into(),
        _ => p.name().to_string(),
    }
}

fn csv_field(w: &mut dyn Write, s: &str) -> io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        w.write_all(b"\"")?;
        w.write_all(s.replace('"', "\"\"").as_bytes())?;
        w.write_all(b"\"")
    } else {
        w.write_all(s.as_bytes())
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(String::new, |x| x.to_string())
}

/// Writes rows as CSV with a header line.
pub fn write_csv(rows: &[FlowRow], out: &mut dyn Write) -> io::Result<()> {
    out.write_all(&csv_header())?;
    write_csv_rows(rows, out)
}

/// Writes rows as CSV lines, without the header.
pub fn write_csv_rows(rows: &[FlowRow], out: &mut dyn Write) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 16, out);
    for r in rows {
        write!(
            w,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},",
            r.ts,
            Seconds(r.duration_ns),
            r.proto,
            r.src_ip,
            r.src_port,
            r.dst_ip,
            r.dst_port,
            r.orig_pkts,
            r.orig_bytes,
            r.resp_pkts,
            r.resp_bytes,
            r.conn_state,
            r.history,
            r.community_id,
        )?;
        csv_field(&mut w, &r.encap)?;
        w.write_all(b",")?;
        csv_field(&mut w, &r.tunnel_parent)?;
        write!(
            w,
            ",{},{},{},{},{},{},{},{},",
            r.vlan,
            opt(r.ttl_orig_min),
            opt(r.ttl_orig_max),
            opt(r.ttl_resp_min),
            opt(r.ttl_resp_max),
            r.orig_flags,
            r.resp_flags,
            r.ip_proto,
        )?;
        csv_field(&mut w, &r.input)?;
        write!(w, ",{},{}", r.interface, r.first_frame)?;
        if let Some(e) = &r.enrich {
            write!(w, ",{},", opt(e.src_asn))?;
            csv_field(&mut w, e.src_as_org.as_deref().unwrap_or(""))?;
            write!(
                w,
                ",{},{},",
                e.src_country.as_deref().unwrap_or(""),
                opt(e.dst_asn)
            )?;
            csv_field(&mut w, e.dst_as_org.as_deref().unwrap_or(""))?;
            write!(w, ",{}", e.dst_country.as_deref().unwrap_or(""))?;
        }
        w.write_all(b"\n")?;
    }
    w.flush()
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
