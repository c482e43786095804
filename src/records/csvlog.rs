//! Flow tables exported by peers as delimited text: nfdump's `-o csv` and Argus `ra`
//! output with a header line (`-L0`, any `-c` delimiter), both read by column name.
//!
//! Neither writes a UTC offset: nfdump prints local time, `ra` prints what its time format
//! says. Times are read as UTC plus the offset given (`--log-utc-offset`, default +00:00),
//! and the record keeps the text as written together with the offset used.

use super::{
    FlowRecord, LogRead, RecordKind, RecordLoc, TextPiece, TimeOriginal, bad, parse_addr,
    parse_epoch,
};
use crate::model::{Proto, SkipReason, Timestamp};

/// True when a line is nfdump's CSV header.
pub fn is_nfdump_header(line: &str) -> bool {
    line.starts_with("ts,te,td,sa,da,sp,dp,pr")
}

/// True when a (trimmed) line starts the summary nfdump writes after its records.
pub fn starts_summary(line: &str) -> bool {
    line == "Summary" || line.starts_with("flows,bytes,packets")
}

/// True when a line is an `ra` header: Argus' column titles, the times and addresses among
/// them.
pub fn is_argus_header(line: &str) -> bool {
    let Some(d) = argus_delimiter(line) else {
        return false;
    };
    let t: Vec<&str> = line.split(d).map(str::trim).collect();
    t.contains(&"StartTime") && t.contains(&"SrcAddr") && t.contains(&"DstAddr")
}

fn argus_delimiter(line: &str) -> Option<char> {
    [',', '\t', ';', '|']
        .into_iter()
        .find(|d| line.contains(*d))
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f]` or `YYYY/MM/DD HH:MM:SS[.f]` (no offset) as UTC.
fn date_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.len() < 19 {
        return None;
    }
    // `get`: the text is anything a log holds, and byte 10 or 11 may fall inside a character.
    let iso = format!("{}T{}", s.get(..10)?.replace('/', "-"), s.get(11..)?);
    Timestamp::parse_rfc3339(&format!("{iso}Z"))
}

fn time(s: &str, offset_s: i64) -> Option<Timestamp> {
    let t = if s.contains([' ', 'T']) && s.len() >= 19 {
        date_time(s)?
    } else if s.contains(':') {
        // A time of day without a date.
        return None;
    } else {
        // Epoch seconds carry no zone.
        return parse_epoch(s);
    };
    Some(Timestamp(t.0 - offset_s * 1_000_000_000))
}

fn proto(s: &str) -> Option<Proto> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u8>() {
        return Some(Proto(n));
    }
    Some(match s.to_ascii_lowercase().as_str() {
        "tcp" => Proto::TCP,
        "udp" => Proto::UDP,
        "icmp" => Proto::ICMP,
        "ipv6-icmp" | "icmp6" | "icmpv6" => Proto::ICMPV6,
        "gre" => Proto::GRE,
        "esp" => Proto::ESP,
        "sctp" => Proto::SCTP,
        "ipv6" => Proto::IPV6,
        "ipip" | "ipnip" | "ipencap" => Proto::IPIP,
        _ => return None,
    })
}

/// nfdump's flag string (`...AP.SF`, positions CEUAPRSF) → the TCP flags byte.
fn nfdump_flags(s: &str) -> u8 {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        return u8::from_str_radix(h, 16).unwrap_or(0);
    }
    let mut f = 0u8;
    for c in s.chars() {
        f |= match c {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' => 0x40,
            'C' => 0x80,
            _ => 0,
        };
    }
    f
}

struct Header {
    idx: std::collections::HashMap<String, usize>,
    n: usize,
}

impl Header {
    fn new(names: Vec<&str>) -> Header {
        Header {
            n: names.len(),
            idx: names
                .into_iter()
                .enumerate()
                .map(|(i, n)| (n.trim().to_string(), i))
                .collect(),
        }
    }

    fn get<'a>(&self, v: &[&'a str], k: &str) -> Option<&'a str> {
        self.idx
            .get(k)
            .and_then(|&i| v.get(i))
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}

fn offset_text(offset_s: i64) -> String {
    let sign = if offset_s < 0 { '-' } else { '+' };
    let a = offset_s.abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// Reads an nfdump `-o csv` table. `offset_s` is the UTC offset of the times as written.
pub fn read_nfdump(input: u32, data: &[u8], piece: &TextPiece<'_>, offset_s: i64) -> LogRead {
    let mut out = LogRead::default();
    let mut head: Option<Header> = None;
    let mut in_summary = false;
    for (at, line) in piece.located(input, data) {
        if piece.too_long(&mut out, line, at) {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if is_nfdump_header(text) {
            head = Some(Header::new(text.split(',').collect()));
            continue;
        }
        if starts_summary(text) {
            in_summary = true;
            continue;
        }
        if in_summary {
            // `flows,bytes,...` then the values.
            if let Some(v) = text.split(',').next().and_then(|v| v.parse::<u64>().ok()) {
                out.declared_rows = Some(v);
            }
            continue;
        }
        out.units += 1;
        let Some(h) = &head else {
            out.bad(bad::FIELD_COUNT, line.len(), at);
            continue;
        };
        let v: Vec<&str> = text.split(',').collect();
        if v.len() != h.n {
            out.bad(bad::FIELD_COUNT, line.len(), at);
            continue;
        }
        out.keep(
            nfdump_record(&v, h, RecordLoc { at, record: 0 }, offset_s),
            line.len(),
            at,
        )
    }
    out
}

fn nfdump_record(v: &[&str], h: &Header, loc: RecordLoc, offset_s: i64) -> Result<FlowRecord, u32> {
    let num = |k: &str| -> Result<u64, u32> {
        h.get(v, k)
            .map_or(Ok(0), |s| s.parse::<u64>().map_err(|_| bad::NUMBER))
    };
    let addr = |k: &str| h.get(v, k).and_then(parse_addr).ok_or(bad::ADDRESS);
    let ts = h.get(v, "ts").ok_or(bad::TIMESTAMP)?;
    let start = time(ts, offset_s).ok_or(bad::TIMESTAMP)?;
    let td = h
        .get(v, "td")
        .map_or(Ok(0), |d| parse_epoch(d).map(|t| t.0).ok_or(bad::NUMBER))?;
    let mut r = FlowRecord::new(RecordKind::NfdumpCsv, loc);
    r.src = addr("sa")?;
    r.dst = addr("da")?;
    r.proto = h.get(v, "pr").and_then(proto).unwrap_or(Proto(0));
    let (sp, dp) = (num("sp")?, num("dp")?);
    if r.proto.is_icmp() {
        r.sport = (dp >> 8) as u16;
        r.dport = (dp & 0xff) as u16;
    } else {
        r.sport = sp as u16;
        r.dport = dp as u16;
    }
    r.has_ports = r.proto.has_ports() || r.proto.is_icmp();
    r.start = start;
    r.end = Timestamp(start.0 + td);
    r.time_original = TimeOriginal::of(format!(
        "ts {ts}, td {} (no offset written; read as UTC{})",
        h.get(v, "td").unwrap_or("-"),
        offset_text(offset_s)
    ));
    r.fwd.pkts = num("ipkt")?;
    r.fwd.bytes = num("ibyt")?;
    r.fwd.tcp_flags = h.get(v, "flg").map_or(0, nfdump_flags);
    // nfdump's out counters are the reverse direction of bidirectional (NSEL) records.
    r.rev.pkts = num("opkt")?;
    r.rev.bytes = num("obyt")?;
    r.bidirectional = r.rev.pkts > 0 || r.rev.bytes > 0;
    let nonzero = |x: u64| (x != 0).then_some(x);
    let rt = r.routing_mut();
    rt.in_if = nonzero(num("in")?).map(|x| x as u32);
    rt.out_if = nonzero(num("out")?).map(|x| x as u32);
    rt.src_as = nonzero(num("sas")?).map(|x| x as u32);
    rt.dst_as = nonzero(num("das")?).map(|x| x as u32);
    rt.src_mask = nonzero(num("smk")?).map(|x| x as u8);
    rt.dst_mask = nonzero(num("dmk")?).map(|x| x as u8);
    let unspecified = |a: &crate::model::Addr| a.bits() & !0xffff_0000_0000 == 0;
    rt.next_hop = h
        .get(v, "nh")
        .and_then(parse_addr)
        .filter(|a| !unspecified(a));
    rt.bgp_next_hop = h
        .get(v, "nhb")
        .and_then(parse_addr)
        .filter(|a| !unspecified(a));
    rt.exporter = h
        .get(v, "ra")
        .and_then(parse_addr)
        .filter(|a| !unspecified(a));
    rt.vlan = nonzero(num("svln")?).map(|x| x as u16);
    for i in 1..=10 {
        // `label-exp-S`
        let Some(m) = h.get(v, &format!("mpls{i}")) else {
            break;
        };
        let mut parts = m.split('-');
        let label: u32 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let _exp = parts.next();
        let bottom = parts.next() == Some("1");
        if label == 0 && !bottom {
            break;
        }
        rt.mpls.push(label);
        if bottom {
            break;
        }
    }
    if let Some(exid) = h.get(v, "exid").filter(|x| *x != "0") {
        r.source_id = Some(format!("exporter id {exid}").into());
    }
    Ok(r)
}

/// Reads `ra` output with a header line. `offset_s` is the UTC offset of date-time values
/// written without one (epoch seconds, `-u`, need none).
pub fn read_argus(input: u32, data: &[u8], piece: &TextPiece<'_>, offset_s: i64) -> LogRead {
    let mut out = LogRead::default();
    let mut head: Option<(Header, char)> = None;
    for (at, line) in piece.located(input, data) {
        if piece.too_long(&mut out, line, at) {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            continue;
        }
        if is_argus_header(&text) {
            let d = argus_delimiter(&text).unwrap_or(',');
            head = Some((Header::new(text.split(d).collect()), d));
            continue;
        }
        out.units += 1;
        let Some((h, d)) = &head else {
            out.bad(bad::FIELD_COUNT, line.len(), at);
            continue;
        };
        let v: Vec<&str> = text.split(*d).collect();
        if v.len() != h.n {
            out.bad(bad::FIELD_COUNT, line.len(), at);
            continue;
        }
        if h.get(&v, "Proto") == Some("man") {
            // Argus' own management (status) records: not traffic.
            out.diag
                .add(SkipReason::LogNoData, 1, line.len() as u64, at);
            continue;
        }
        out.keep(
            argus_record(&v, h, RecordLoc { at, record: 0 }, offset_s),
            line.len(),
            at,
        )
    }
    out
}

fn argus_port(s: &str) -> Result<u16, u32> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        return u16::from_str_radix(h, 16).map_err(|_| bad::NUMBER);
    }
    if let Ok(p) = s.parse() {
        return Ok(p);
    }
    // Without `-n`, ra writes service names; the common ones are read back.
    SERVICES
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, p)| *p)
        .ok_or(bad::SERVICE_NAME)
}

/// Service names `ra` prints for well-known ports (IANA service names).
const SERVICES: [(&str, u16); 32] = [
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("ntp", 123),
    ("netbios-ns", 137),
    ("netbios-dgm", 138),
    ("netbios-ssn", 139),
    ("imap", 143),
    ("snmp", 161),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("isakmp", 500),
    ("syslog", 514),
    ("submission", 587),
    ("imaps", 993),
    ("pop3s", 995),
    ("ms-wbt-server", 3389),
    ("sip", 5060),
    ("mdns", 5353),
    ("http-alt", 8080),
];

fn argus_record(v: &[&str], h: &Header, loc: RecordLoc, offset_s: i64) -> Result<FlowRecord, u32> {
    let num = |k: &str| -> Result<u64, u32> {
        h.get(v, k)
            .map_or(Ok(0), |s| s.parse::<u64>().map_err(|_| bad::NUMBER))
    };
    let st = h.get(v, "StartTime").ok_or(bad::TIMESTAMP)?;
    let start = time(st, offset_s).ok_or(bad::TIMESTAMP)?;
    let end = match h.get(v, "LastTime") {
        Some(lt) => time(lt, offset_s).ok_or(bad::TIMESTAMP)?,
        None => start,
    };
    let mut r = FlowRecord::new(RecordKind::ArgusCsv, loc);
    r.bidirectional = true;
    r.src = h
        .get(v, "SrcAddr")
        .and_then(parse_addr)
        .ok_or(bad::ADDRESS)?;
    r.dst = h
        .get(v, "DstAddr")
        .and_then(parse_addr)
        .ok_or(bad::ADDRESS)?;
    r.proto = h.get(v, "Proto").and_then(proto).unwrap_or(Proto(0));
    let sp = h.get(v, "Sport").map(argus_port).transpose()?;
    let dp = h.get(v, "Dport").map(argus_port).transpose()?;
    if r.proto.is_icmp() {
        // ra writes the ICMP type as the source port and the id (not the code) as the
        // destination port.
        r.sport = sp.unwrap_or(0);
        r.dport = 0;
        r.has_ports = false;
    } else {
        r.sport = sp.unwrap_or(0);
        r.dport = dp.unwrap_or(0);
        r.has_ports = sp.is_some() && dp.is_some() && r.proto.has_ports();
    }
    r.start = start;
    r.end = end.max(start);
    let zone = if st.contains(':') {
        format!(" (no offset written; read as UTC{})", offset_text(offset_s))
    } else {
        String::new()
    };
    r.time_original = TimeOriginal::of(format!(
        "StartTime {st}, LastTime {}{zone}",
        h.get(v, "LastTime").unwrap_or("-")
    ));
    r.fwd.pkts = num("SrcPkts")?;
    r.rev.pkts = num("DstPkts")?;
    r.fwd.bytes = num("SrcBytes")?;
    r.rev.bytes = num("DstBytes")?;
    if r.fwd.pkts + r.rev.pkts == 0 {
        r.fwd.pkts = num("TotPkts")?;
        r.fwd.bytes = num("TotBytes")?;
    }
    let state: Vec<&str> = ["State", "Flgs", "Dir"]
        .iter()
        .filter_map(|k| h.get(v, k).map(|x| (k, x)))
        .map(|(_, x)| x)
        .collect();
    r.status = (!state.is_empty()).then(|| state.join(" ").into());
    if let Some(id) = h.get(v, "SrcId") {
        r.source_id = Some(id.into());
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzz-style run (tests/it/fuzz.rs): a character across byte 10 or 11
    /// of a time field made the parser slice inside it and panic.
    #[test]
    fn a_time_with_a_character_across_the_date_boundary_is_refused() {
        assert_eq!(date_time("2024-05-01\u{e9}10:00:00"), None);
        assert_eq!(date_time("2024-05-0\u{e9}10:00:00.5"), None);
        assert_eq!(time("2024-05-01\u{e9}0:00:00 x", 0), None);
        assert!(date_time("2024-05-01 10:00:00").is_some());
    }

    fn r_total(mut r: LogRead) -> LogRead {
        r.check_declared(0);
        r
    }

    #[test]
    fn nfdump_csv_reads_by_column_and_checks_its_summary() {
        let t = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr\n\
2011-03-18 19:06:08,2011-03-18 19:06:09,1.250,141.142.220.118,141.142.2.2,43927,53,UDP,........,0,0,1,66,0,0,3,4,64500,15169,24,16,0,0,192.0.2.1,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,16065-0-0,16033-0-1,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,198.51.100.1,17/1,0,2026-11-28 18:20:52.907\n\
2003-06-11 00:06:08,2003-06-11 00:06:08,0.000,66.59.111.190,172.28.2.3,0,2048,ICMP,...A..S.,0,0,1,84,0,0,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,0.0.0.0,17/1,0,2026-11-28 18:20:52.907\n\
Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n3,150,2,0,0,75\n";
        let r = r_total(read_nfdump(0, t.as_bytes(), &TextPiece::default(), 3600));
        assert_eq!(r.records.len(), 2);
        let a = &r.records[0];
        // 19:06:08 at +01:00 is 18:06:08 UTC.
        assert_eq!(
            a.start.rfc3339().to_string(),
            "2011-03-18T18:06:08.000000000Z"
        );
        assert_eq!(a.end.since(a.start), 1_250_000_000);
        assert_eq!(
            (a.routing().src_as, a.routing().dst_as),
            (Some(64500), Some(15169))
        );
        assert_eq!(a.routing().mpls, vec![16065, 16033]);
        assert_eq!(a.routing().exporter.unwrap().to_string(), "198.51.100.1");
        assert!(a.time_original.text().unwrap().contains("UTC+01:00"));
        let b = &r.records[1];
        assert_eq!((b.sport, b.dport), (8, 0));
        assert_eq!(b.fwd.tcp_flags, 0x12);
        // The summary says 3 flows, the table holds 2.
        assert_eq!(r.diag.count(SkipReason::BadLogLine), 1);
    }

    #[test]
    fn argus_tables_read_by_column_with_epoch_or_dated_times() {
        let t = "StartTime,LastTime,SrcAddr,Sport,DstAddr,Dport,Proto,SrcPkts,DstPkts,SrcBytes,DstBytes,State,Flgs,Dir\n\
1795890059.095285,1795890059.094012,0,0,0,0,man,0,0,0,0,STA,          ,\n\
1055289968.793044,1055289968.936366,66.59.111.190,0x0008,172.28.2.3,0x68cb,icmp,1,1,122,122,ECO, *        ,  <->\n\
1055289970.000000,1055289971.500000,10.0.0.1,40000,10.0.0.2,443,tcp,5,4,500,4000,FIN, e        ,   ->\n";
        let r = read_argus(0, t.as_bytes(), &TextPiece::default(), 0);
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.diag.count(SkipReason::LogNoData), 1);
        let t2 = &r.records[1];
        assert_eq!(
            (t2.fwd.pkts, t2.rev.pkts, t2.fwd.bytes, t2.rev.bytes),
            (5, 4, 500, 4000)
        );
        assert_eq!(t2.status.as_deref(), Some("FIN e ->"));
        let dated = "StartTime\tSrcAddr\tSport\tDstAddr\tDport\tProto\n2003/06/11 00:06:08.5\t10.0.0.1\t1\t10.0.0.2\t2\tudp\n00:06:08.5\t10.0.0.1\t1\t10.0.0.2\t2\tudp\n";
        let r = read_argus(0, dated.as_bytes(), &TextPiece::default(), -7200);
        assert_eq!(r.records.len(), 1);
        assert_eq!(
            r.records[0].start.rfc3339().to_string(),
            "2003-06-11T02:06:08.500000000Z"
        );
        assert_eq!(
            r.diag.count(SkipReason::BadLogLine),
            1,
            "a time of day without a date"
        );
    }
}
