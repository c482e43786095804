//! Zeek conn.log, as TSV (with its `#fields`/`#types` header) and as JSON lines.
//!
//! Columns are found by name, so older logs without `ip_proto` and newer ones with
//! `community_id` read alike. Bytes are `orig_ip_bytes`/`resp_ip_bytes` (IP bytes, as
//! hoptrace counts them for packets and as NetFlow counts them).

use super::{
    FlowRecord, LogRead, RecordKind, RecordLoc, TextPiece, TimeOriginal, bad, parse_addr,
    parse_epoch,
};
use crate::model::Proto;

struct Cols {
    ts: usize,
    uid: Option<usize>,
    oh: usize,
    op: usize,
    rh: usize,
    rp: usize,
    proto: usize,
    duration: Option<usize>,
    conn_state: Option<usize>,
    history: Option<usize>,
    orig_pkts: Option<usize>,
    orig_ip_bytes: Option<usize>,
    resp_pkts: Option<usize>,
    resp_ip_bytes: Option<usize>,
    tunnel_parents: Option<usize>,
    ip_proto: Option<usize>,
    community_id: Option<usize>,
    n: usize,
}

impl Cols {
    fn new(names: &[&str]) -> Option<Cols> {
        let f = |n: &str| names.iter().position(|c| *c == n);
        Some(Cols {
            ts: f("ts")?,
            uid: f("uid"),
            oh: f("id.orig_h")?,
            op: f("id.orig_p")?,
            rh: f("id.resp_h")?,
            rp: f("id.resp_p")?,
            proto: f("proto")?,
            duration: f("duration"),
            conn_state: f("conn_state"),
            history: f("history"),
            orig_pkts: f("orig_pkts"),
            orig_ip_bytes: f("orig_ip_bytes"),
            resp_pkts: f("resp_pkts"),
            resp_ip_bytes: f("resp_ip_bytes"),
            tunnel_parents: f("tunnel_parents"),
            ip_proto: f("ip_proto"),
            community_id: f("community_id"),
            n: names.len(),
        })
    }
}

/// The values of one line, by column, `None` for unset (`-`) and empty fields.
trait Fields {
    fn get(&self, i: usize) -> Option<&str>;
}

impl Fields for Vec<&str> {
    fn get(&self, i: usize) -> Option<&str> {
        self.as_slice()
            .get(i)
            .copied()
            .filter(|v| *v != "-" && *v != "(empty)" && !v.is_empty())
    }
}

fn proto_of(name: &str, ip_proto: Option<&str>, v6: bool) -> Option<Proto> {
    if let Some(p) = ip_proto.and_then(|p| p.parse::<u8>().ok()) {
        return Some(Proto(p));
    }
    Some(match name {
        "tcp" => Proto::TCP,
        "udp" => Proto::UDP,
        "icmp" if v6 => Proto::ICMPV6,
        "icmp" => Proto::ICMP,
        _ => return None,
    })
}

/// Builds a record from one line's fields; `Err` names the bad-line detail.
fn record(v: &dyn Fields, c: &Cols, loc: RecordLoc, ts_text: &str) -> Result<FlowRecord, u32> {
    let start = parse_epoch(ts_text).ok_or(bad::TIMESTAMP)?;
    let src = v.get(c.oh).and_then(parse_addr).ok_or(bad::ADDRESS)?;
    let dst = v.get(c.rh).and_then(parse_addr).ok_or(bad::ADDRESS)?;
    let port = |i: usize| -> Result<u16, u32> {
        v.get(i)
            .map_or(Ok(0), |p| p.parse::<u16>().map_err(|_| bad::NUMBER))
    };
    let num = |i: Option<usize>| -> Result<u64, u32> {
        match i.and_then(|i| v.get(i)) {
            None => Ok(0),
            Some(s) => s.parse::<u64>().map_err(|_| bad::NUMBER),
        }
    };
    let proto_name = v.get(c.proto).unwrap_or("");
    let proto =
        proto_of(proto_name, c.ip_proto.and_then(|i| v.get(i)), !src.v4).unwrap_or(Proto(0));
    let mut r = FlowRecord::new(RecordKind::ZeekConn, loc);
    r.bidirectional = true;
    r.proto = proto;
    r.src = src;
    r.dst = dst;
    r.sport = port(c.op)?;
    r.dport = port(c.rp)?;
    r.has_ports = proto.has_ports() || proto.is_icmp();
    r.start = start;
    let dur = match c.duration.and_then(|i| v.get(i)) {
        Some(d) => parse_epoch(d).ok_or(bad::NUMBER)?.0,
        None => 0,
    };
    r.end = crate::model::Timestamp(start.0.saturating_add(dur));
    r.time_original = TimeOriginal::of(ts_text);
    r.fwd.pkts = num(c.orig_pkts)?;
    r.fwd.bytes = num(c.orig_ip_bytes)?;
    r.rev.pkts = num(c.resp_pkts)?;
    r.rev.bytes = num(c.resp_ip_bytes)?;
    r.source_id = c.uid.and_then(|i| v.get(i)).map(Into::into);
    if let Some(s) = c.conn_state.and_then(|i| v.get(i)) {
        let h = c.history.and_then(|i| v.get(i)).unwrap_or("");
        r.state = Some((s.into(), h.into()));
    }
    r.tunnel_parents = c.tunnel_parents.and_then(|i| v.get(i)).map(Into::into);
    r.community_id_given = c.community_id.and_then(|i| v.get(i)).map(Into::into);
    Ok(r)
}

/// Reads a TSV conn.log. Several logs concatenated (each with its own header) read too.
pub fn read_tsv(input: u32, data: &[u8], piece: &TextPiece<'_>) -> LogRead {
    let mut out = LogRead::default();
    let mut cols: Option<Cols> = None;
    let mut sep = b'\t';
    for (at, line) in piece.located(input, data) {
        if piece.too_long(&mut out, line, at) {
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if line[0] == b'#' {
            let text = String::from_utf8_lossy(line);
            if let Some(s) = text.strip_prefix("#separator ") {
                sep = parse_separator(s).unwrap_or(b'\t');
            } else if let Some(f) = text.strip_prefix("#fields") {
                let names: Vec<&str> = f
                    .trim_start_matches(sep as char)
                    .split(sep as char)
                    .collect();
                cols = Cols::new(&names);
            }
            continue;
        }
        out.units += 1;
        let Some(c) = &cols else {
            out.bad(bad::NO_HEADER, line.len(), at);
            continue;
        };
        let text = String::from_utf8_lossy(line);
        let v: Vec<&str> = text.split(sep as char).collect();
        if v.len() != c.n {
            out.bad(bad::FIELD_COUNT, line.len(), at);
            continue;
        }
        let loc = RecordLoc { at, record: 0 };
        out.keep(record(&v, c, loc, v[c.ts]), line.len(), at);
    }
    out
}

/// `\x09` → tab; a single character → itself.
fn parse_separator(s: &str) -> Option<u8> {
    let s = s.trim_end();
    if let Some(h) = s.strip_prefix("\\x") {
        return u8::from_str_radix(h, 16).ok();
    }
    (s.len() == 1).then(|| s.as_bytes()[0])
}

struct JsonFields(Vec<Option<String>>);

impl Fields for JsonFields {
    fn get(&self, i: usize) -> Option<&str> {
        self.0
            .get(i)
            .and_then(|v| v.as_deref())
            .filter(|v| !v.is_empty())
    }
}

const JSON_COLS: [&str; 17] = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "duration",
    "conn_state",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
    "ip_proto",
    "community_id",
];

/// Reads a JSON-lines conn.log (Zeek's `LogAscii::use_json`: flat `id.orig_h` keys, unset
/// fields left out, `ts` as epoch seconds or an ISO 8601 string).
pub fn read_json(input: u32, data: &[u8], piece: &TextPiece<'_>) -> LogRead {
    let mut out = LogRead::default();
    let Some(cols) = Cols::new(&JSON_COLS) else {
        return out;
    };
    for (at, line) in piece.located(input, data) {
        if piece.too_long(&mut out, line, at) {
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.units += 1;
        let obj: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(line) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                out.bad(bad::NO_HEADER, line.len(), at);
                continue;
            }
            Err(_) => {
                out.bad(bad::JSON, line.len(), at);
                continue;
            }
        };
        let fields = JsonFields(
            JSON_COLS
                .iter()
                .map(|k| match obj.get(*k) {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Array(a)) => Some(
                        a.iter()
                            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    Some(serde_json::Value::Number(n)) => Some(number_text(n)),
                    Some(v) => Some(v.to_string()),
                })
                .collect(),
        );
        let ts_text = fields.get(cols.ts).unwrap_or("").to_string();
        let ts_epoch = if ts_text.contains('T') {
            iso_to_epoch(&ts_text)
        } else {
            Some(ts_text.clone())
        };
        let Some(ts_epoch) = ts_epoch else {
            out.bad(bad::TIMESTAMP, line.len(), at);
            continue;
        };
        let r = record(&fields, &cols, RecordLoc { at, record: 0 }, &ts_epoch).map(|mut r| {
            r.time_original = TimeOriginal::of(ts_text);
            r
        });
        out.keep(r, line.len(), at);
    }
    out
}

/// A JSON number as plain decimal text: serde_json writes small floats with an exponent
/// (`1e-5`), which the epoch and count parsers do not read.
fn number_text(n: &serde_json::Number) -> String {
    let t = n.to_string();
    if t.contains(['e', 'E'])
        && let Some(f) = n.as_f64()
    {
        let s = format!("{f:.9}");
        let s = s.trim_end_matches('0');
        return s.strip_suffix('.').unwrap_or(s).to_string();
    }
    t
}

/// `2018-03-24T17:15:21.255387Z` → `1521911721.255387` (UTC, `Z` or `+00:00` only).
fn iso_to_epoch(s: &str) -> Option<String> {
    let t = crate::model::Timestamp::parse_rfc3339(s)?;
    Some(format!(
        "{}.{:09}",
        t.0.div_euclid(1_000_000_000),
        t.0.rem_euclid(1_000_000_000)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SkipReason;

    const TSV: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n\
1521911721.255387\tC8Tful1TvM3Zf5x8fl\t10.164.94.120\t39681\t10.47.3.155\t3389\ttcp\t-\t0.004266\t97\t19\tRSTR\t-\t-\t0\tShADTdtr\t10\t730\t6\t342\t-\n\
XXXXXXXXXX.XXXXXX\tC2\t10.0.0.1\t1\t10.0.0.2\t2\tudp\t-\t-\t-\t-\tS0\t-\t-\t0\tD\t1\t73\t0\t0\t-\n\
1521911721.5\tC3\t10.0.0.1\t1\n\
1521911722.000001\tC4\t2001:db8::1\t128\t2001:db8::2\t129\ticmp\t-\t-\t-\t-\tOTH\t-\t-\t0\t-\t1\t48\t0\t0\tCabc,Cdef\n";

    #[test]
    fn tsv_rows_become_bidirectional_records_and_bad_lines_are_counted() {
        let r = read_tsv(0, TSV.as_bytes(), &TextPiece::default());
        assert_eq!(r.units, 4);
        assert_eq!(r.records.len(), 2);
        let a = &r.records[0];
        assert_eq!(a.start.0, 1_521_911_721_255_387_000);
        assert_eq!(a.end.since(a.start), 4_266_000);
        assert_eq!(
            (a.fwd.pkts, a.fwd.bytes, a.rev.pkts, a.rev.bytes),
            (10, 730, 6, 342)
        );
        assert_eq!(a.source_id.as_deref(), Some("C8Tful1TvM3Zf5x8fl"));
        assert_eq!(a.state.as_ref().unwrap().1.as_ref(), "ShADTdtr");
        assert_eq!(a.loc.at.frame, 8);
        let b = &r.records[1];
        assert_eq!(b.proto, Proto::ICMPV6);
        assert_eq!(b.tunnel_parents.as_deref(), Some("Cabc,Cdef"));
        assert_eq!(
            r.diag.count(SkipReason::BadLogLine),
            2,
            "{:?}",
            r.diag.entries()
        );
        let e = r.diag.entries();
        assert_eq!((e[0].1, e[0].2.first.frame), (bad::FIELD_COUNT, 10));
        assert_eq!((e[1].1, e[1].2.first.frame), (bad::TIMESTAMP, 9));
    }

    #[test]
    fn json_lines_read_like_tsv() {
        let j = "{\"ts\":1521911721.255387,\"uid\":\"C8\",\"id.orig_h\":\"10.164.94.120\",\"id.orig_p\":39681,\"id.resp_h\":\"10.47.3.155\",\"id.resp_p\":3389,\"proto\":\"tcp\",\"duration\":0.004266,\"orig_pkts\":10,\"orig_ip_bytes\":730,\"resp_pkts\":6,\"resp_ip_bytes\":342,\"community_id\":\"1:abc\"}\n\
{\"ts\":\"2018-03-24T17:15:21.5Z\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":5,\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":53,\"proto\":\"udp\"}\n\
not json\n";
        let r = read_json(3, j.as_bytes(), &TextPiece::default());
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records[0].start.0, 1_521_911_721_255_387_000);
        assert_eq!(r.records[0].community_id_given.as_deref(), Some("1:abc"));
        assert_eq!(r.records[1].start.0, 1_521_911_721_500_000_000);
        assert_eq!(
            r.records[1].time_original.text().as_deref(),
            Some("2018-03-24T17:15:21.5Z")
        );
        assert_eq!(r.diag.entries()[0].2.first.frame, 3);
        assert_eq!(r.diag.entries()[0].2.first.input, 3);
    }
}
