//! AWS VPC Flow Logs: the default (version 2) format and custom formats (versions 3 to 5
//! fields), space-separated, with the field names from the header line that S3 delivery
//! writes, or given separately for logs without one (CloudWatch Logs exports).
//!
//! Each record is one direction as one network interface saw it; `pkt-srcaddr` and
//! `pkt-dstaddr` (the packet's own addresses, which differ from `srcaddr`/`dstaddr` behind
//! a NAT gateway or a load balancer interface) are kept. `NODATA` records (no traffic in
//! the interval) are counted as notes; `SKIPDATA` records (the provider's own logging
//! skipped records in the interval) are counted as evidence that is missing at the source.

use super::{FlowRecord, LogRead, RecordKind, RecordLoc, TextPiece, TimeOriginal, bad, parse_addr};
use crate::model::{Proto, SkipReason, Timestamp};

/// The field names of the default format (version 2).
pub const DEFAULT_FIELDS: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// The fields of versions 3 to 5, after the default format's.
const LATER_FIELDS: [&str; 15] = [
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
];

/// True when a line is a VPC Flow Logs header: every token a known field name, with the
/// addresses and times among them.
pub fn is_header(line: &str) -> bool {
    let toks: Vec<&str> = line.split_ascii_whitespace().collect();
    toks.len() >= 4
        && toks.iter().all(|t| {
            DEFAULT_FIELDS.contains(t)
                || LATER_FIELDS.contains(t)
                || t.starts_with("ecs-")
                || t.starts_with("reject-")
        })
        && ["srcaddr", "dstaddr", "start", "end"]
            .iter()
            .all(|f| toks.contains(f))
}

/// True when a line looks like a default-format record without a header.
pub fn is_default_record(line: &str) -> bool {
    let t: Vec<&str> = line.split_ascii_whitespace().collect();
    t.len() == 14
        && t[0] == "2"
        && t[10].bytes().all(|b| b.is_ascii_digit())
        && t[11].bytes().all(|b| b.is_ascii_digit())
        && matches!(t[13], "OK" | "NODATA" | "SKIPDATA")
}

struct Cols {
    n: usize,
    idx: std::collections::HashMap<String, usize>,
}

impl Cols {
    fn new(names: &[&str]) -> Cols {
        Cols {
            n: names.len(),
            idx: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.to_string(), i))
                .collect(),
        }
    }

    fn get<'a>(&self, v: &[&'a str], name: &str) -> Option<&'a str> {
        self.idx
            .get(name)
            .and_then(|&i| v.get(i).copied())
            .filter(|s| *s != "-")
    }
}

/// Reads a VPC flow log. `fields` gives the format for a log without a header line (the
/// field names, in order, as in the flow log's format string); without it, a header line
/// is expected, or the default format is assumed when the first record matches it.
pub fn read(input: u32, data: &[u8], piece: &TextPiece<'_>, fields: Option<&[String]>) -> LogRead {
    let mut out = LogRead::default();
    let mut cols: Option<Cols> =
        fields.map(|f| Cols::new(&f.iter().map(String::as_str).collect::<Vec<_>>()));
    for (at, line) in piece.located(input, data) {
        if piece.too_long(&mut out, line, at) {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if is_header(text) {
            cols = Some(Cols::new(
                &text.split_ascii_whitespace().collect::<Vec<_>>(),
            ));
            continue;
        }
        out.units += 1;
        if cols.is_none() && is_default_record(text) {
            cols = Some(Cols::new(&DEFAULT_FIELDS));
        }
        let Some(c) = &cols else {
            out.bad(bad::FORMAT, line.len(), at);
            continue;
        };
        let v: Vec<&str> = text.split_ascii_whitespace().collect();
        if v.len() != c.n {
            out.bad(bad::FIELD_COUNT, line.len(), at);
            continue;
        }
        match c.get(&v, "log-status") {
            Some("NODATA") => {
                out.diag
                    .add(SkipReason::LogNoData, 0, line.len() as u64, at);
                continue;
            }
            Some("SKIPDATA") => {
                out.diag
                    .add(SkipReason::LogSkipData, 0, line.len() as u64, at);
                continue;
            }
            _ => {}
        }
        out.keep(record(&v, c, RecordLoc { at, record: 0 }), line.len(), at)
    }
    out
}

fn record(v: &[&str], c: &Cols, loc: RecordLoc) -> Result<FlowRecord, u32> {
    let addr = |n: &str| {
        c.get(v, n)
            .map(|s| parse_addr(s).ok_or(bad::ADDRESS))
            .transpose()
    };
    let num = |n: &str| -> Result<Option<u64>, u32> {
        c.get(v, n)
            .map(|s| s.parse::<u64>().map_err(|_| bad::NUMBER))
            .transpose()
    };
    let secs = |n: &str| -> Result<Timestamp, u32> {
        let s = c.get(v, n).ok_or(bad::TIMESTAMP)?;
        let x: i64 = s.parse().map_err(|_| bad::TIMESTAMP)?;
        Ok(Timestamp(
            x.checked_mul(1_000_000_000).ok_or(bad::TIMESTAMP)?,
        ))
    };
    let (Some(src), Some(dst)) = (addr("srcaddr")?, addr("dstaddr")?) else {
        return Err(bad::ADDRESS);
    };
    let mut r = FlowRecord::new(RecordKind::AwsVpc, loc);
    r.src = src;
    r.dst = dst;
    let proto = num("protocol")?.map_or(0, |p| p.min(255) as u8);
    r.proto = Proto(proto);
    let port = |n: &str| -> Result<Option<u16>, u32> {
        num(n)?
            .map(|p| u16::try_from(p).map_err(|_| bad::NUMBER))
            .transpose()
    };
    let (sp, dp) = (port("srcport")?, port("dstport")?);
    r.sport = sp.unwrap_or(0);
    r.dport = dp.unwrap_or(0);
    // VPC logs write 0/0 for ICMP: no type or code, so no 5-tuple.
    r.has_ports = sp.is_some() && dp.is_some() && r.proto.has_ports();
    r.start = secs("start")?;
    r.end = secs("end")?;
    r.time_original = TimeOriginal::of(format!(
        "start {} end {}",
        c.get(v, "start").unwrap_or(""),
        c.get(v, "end").unwrap_or("")
    ));
    r.fwd.pkts = num("packets")?.unwrap_or(0);
    r.fwd.bytes = num("bytes")?.unwrap_or(0);
    r.fwd.tcp_flags = num("tcp-flags")?.map_or(0, |f| (f & 0xff) as u8);
    let ifid = c.get(v, "interface-id");
    r.routing_mut().interface_id = ifid.map(str::to_string);
    r.routing_mut().direction = match c.get(v, "flow-direction") {
        Some("ingress") => Some(0),
        Some("egress") => Some(1),
        _ => None,
    };
    let (ps, pd) = (addr("pkt-srcaddr")?, addr("pkt-dstaddr")?);
    r.routing_mut().pkt_src = ps.filter(|a| *a != src);
    r.routing_mut().pkt_dst = pd.filter(|a| *a != dst);
    r.source_id = c
        .get(v, "account-id")
        .map(|a| format!("{a}/{}", ifid.unwrap_or("-")).into());
    let status: Vec<&str> = ["action", "log-status", "traffic-path"]
        .iter()
        .filter_map(|n| c.get(v, n))
        .collect();
    r.status = (!status.is_empty()).then(|| status.join(" ").into());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_format_with_header_and_status_records() {
        let log = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n\
2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA\n\
2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA\n\
2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK\n\
2 1 2 3\n";
        let r = read(0, log.as_bytes(), &TextPiece::default(), None);
        assert_eq!(r.units, 5);
        assert_eq!(r.records.len(), 2);
        let a = &r.records[0];
        assert_eq!((a.sport, a.dport, a.proto), (20641, 22, Proto::TCP));
        assert_eq!((a.fwd.pkts, a.fwd.bytes), (20, 4249));
        assert_eq!(a.start.0, 1_418_530_010_000_000_000);
        assert_eq!(a.status.as_deref(), Some("ACCEPT OK"));
        assert_eq!(
            a.routing().interface_id.as_deref(),
            Some("eni-1235b8ca123456789")
        );
        assert!(
            !r.records[1].has_ports,
            "VPC logs give no ICMP type or code"
        );
        assert_eq!(r.diag.count(SkipReason::LogNoData), 1);
        assert_eq!(r.diag.count(SkipReason::LogSkipData), 1);
        assert_eq!(r.diag.count(SkipReason::BadLogLine), 1);
    }

    #[test]
    fn custom_format_without_header_and_a_double_space() {
        let fields: Vec<String> = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status"
            .split(' ')
            .map(str::to_string)
            .collect();
        let log = "3 vpc-a subnet-a i-0 eni-1 123 IPv4 10.0.0.62 52.213.180.42 5001 43638  10.0.0.62 52.213.180.42 6 967 14 1566933133 1566933193 ACCEPT 19 OK\n";
        let r = read(0, log.as_bytes(), &TextPiece::default(), Some(&fields));
        assert_eq!(r.records.len(), 1);
        let a = &r.records[0];
        assert_eq!((a.fwd.bytes, a.fwd.pkts, a.fwd.tcp_flags), (967, 14, 19));
        assert_eq!(a.routing().pkt_src, None);
    }
}
