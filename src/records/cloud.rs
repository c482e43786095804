//! Cloud flow logs in JSON: Google Cloud VPC Flow Logs (log entries as JSON lines, the
//! shape Cloud Logging exports) and Azure network flow logs (NSG flow logs version 1/2 and
//! VNet flow logs, `{"records": [...]}` documents).
//!
//! A GCP entry is one direction as the reporting VM saw it; an Azure flow tuple carries
//! both directions' counters (version 2 and VNet logs) for one interval of one flow.

use super::{
    FlowRecord, LogRead, RecordKind, RecordLoc, TextPiece, TimeOriginal, bad, parse_addr,
    parse_epoch,
};
use crate::model::{Locator, Proto, Timestamp};
use serde_json::Value;

/// True when a JSON line is a GCP VPC flow log entry.
pub fn is_gcp(line: &str) -> bool {
    line.starts_with('{') && line.contains("\"jsonPayload\"") && line.contains("\"connection\"")
}

/// True when a document starts like an Azure flow log (`{"records":[` with flow tuples).
pub fn is_azure(head: &str) -> bool {
    let h: String = head
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(4096)
        .collect();
    h.starts_with("{\"records\":[")
        && (h.contains("NetworkSecurityGroupFlowEvent")
            || h.contains("FlowLogFlowEvent")
            || h.contains("flowTuples"))
}

fn num(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Reads GCP VPC flow log entries, one JSON object per line.
pub fn read_gcp(input: u32, data: &[u8], piece: &TextPiece<'_>) -> LogRead {
    let mut out = LogRead::default();
    for (at, line) in piece.located(input, data) {
        if piece.too_long(&mut out, line, at) {
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.units += 1;
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            out.bad(bad::JSON, line.len(), at);
            continue;
        };
        out.keep(gcp_record(&v, RecordLoc { at, record: 0 }), line.len(), at)
    }
    out
}

fn gcp_record(v: &Value, loc: RecordLoc) -> Result<FlowRecord, u32> {
    let p = v.get("jsonPayload").ok_or(bad::JSON)?;
    let c = p.get("connection").ok_or(bad::JSON)?;
    let s = |x: &Value, k: &str| x.get(k).and_then(Value::as_str).map(str::to_string);
    let src = s(c, "src_ip")
        .and_then(|a| parse_addr(&a))
        .ok_or(bad::ADDRESS)?;
    let dst = s(c, "dest_ip")
        .and_then(|a| parse_addr(&a))
        .ok_or(bad::ADDRESS)?;
    let st = s(p, "start_time").ok_or(bad::TIMESTAMP)?;
    let et = s(p, "end_time").unwrap_or_else(|| st.clone());
    let start = Timestamp::parse_rfc3339(&st).ok_or(bad::TIMESTAMP)?;
    let end = Timestamp::parse_rfc3339(&et).ok_or(bad::TIMESTAMP)?;
    let mut r = FlowRecord::new(RecordKind::GcpVpc, loc);
    r.src = src;
    r.dst = dst;
    r.proto = Proto(c.get("protocol").and_then(num).unwrap_or(0).min(255) as u8);
    let (sp, dp) = (
        c.get("src_port").and_then(num),
        c.get("dest_port").and_then(num),
    );
    r.sport = sp.unwrap_or(0) as u16;
    r.dport = dp.unwrap_or(0) as u16;
    r.has_ports = sp.is_some() && dp.is_some() && r.proto.has_ports();
    r.start = start;
    r.end = end.max(start);
    r.time_original = TimeOriginal::of(format!("start_time {st}, end_time {et}"));
    r.fwd.pkts = p.get("packets_sent").and_then(num).unwrap_or(0);
    r.fwd.bytes = p.get("bytes_sent").and_then(num).unwrap_or(0);
    let reporter = s(p, "reporter");
    // The reporting VM is the attachment point, as a VPC interface is for AWS.
    let vm = |side: &str| {
        p.get(side).map(|i| {
            format!(
                "{}/{}/{}",
                s(i, "project_id").unwrap_or_default(),
                s(i, "zone").unwrap_or_default(),
                s(i, "vm_name").unwrap_or_default()
            )
        })
    };
    let reporting = match reporter.as_deref() {
        Some("DEST") => vm("dest_instance"),
        _ => vm("src_instance"),
    };
    r.routing_mut().interface_id = reporting.clone();
    r.routing_mut().direction = match reporter.as_deref() {
        Some("DEST") => Some(0),
        Some("SRC") => Some(1),
        _ => None,
    };
    r.source_id = v
        .get("insertId")
        .and_then(Value::as_str)
        .map(Into::into)
        .or(reporting.map(Into::into));
    r.status = reporter.map(|x| format!("reporter {x}").into());
    Ok(r)
}

/// Reads an Azure flow log document (NSG flow logs v1/v2, VNet flow logs) whole: every
/// batch of [`read_azure_batches`] in one.
pub fn read_azure(input: u32, data: &[u8]) -> LogRead {
    let mut all = LogRead::default();
    read_azure_batches(input, data, usize::MAX, |read, _| {
        all.append(read);
        true
    });
    all
}

/// Flow tuples given to the run at a time from an Azure document: what is held of a
/// document besides the record being read (a document is not cut into pieces as a text log
/// is, so without batches a large one was held whole, as JSON values and as flow records,
/// past `--max-flows`).
pub const AZURE_BATCH: usize = 4096;

/// Reads an Azure flow log document one element of its `records` array at a time (the
/// document is never held as JSON values whole), giving `sink` its flow records in
/// batches of at most `batch` tuples, the last one flagged. The tuples are numbered in
/// document order: record n is the n-th flow tuple. A document that stops being JSON
/// keeps the tuples before the fault, and the rest is counted where it stopped. `sink`
/// returns false to stop reading.
pub fn read_azure_batches(
    input: u32,
    data: &[u8],
    batch: usize,
    mut sink: impl FnMut(LogRead, bool) -> bool,
) {
    use serde::de::DeserializeSeed;
    let mut st = AzureStream {
        input,
        batch: batch.max(1),
        out: LogRead::default(),
        n: 0,
        sink: &mut sink,
        stopped: false,
        saw_records: false,
    };
    let mut de = serde_json::Deserializer::from_slice(data);
    let read = AzureDoc { st: &mut st }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if st.stopped {
        return;
    }
    let at = |frame: u64, offset: usize| Locator {
        input,
        interface: 0,
        frame,
        offset: offset as u64,
    };
    match read {
        Err(e) => {
            // Counted at the tuple that would have come next and the byte where the
            // document stopped being JSON, with the bytes from there.
            let offset = byte_offset(data, e.line(), e.column());
            st.out.units += 1;
            st.out.bad(
                bad::JSON,
                data.len() - offset,
                at(u64::from(st.n) + 1, offset),
            );
        }
        Ok(()) if !st.saw_records => {
            st.out.units += 1;
            st.out.bad(bad::JSON, data.len(), at(1, 0));
        }
        Ok(()) => {}
    }
    let last = std::mem::take(&mut st.out);
    sink(last, true);
}

/// The byte offset of a 1-based line and column (serde_json's error position).
fn byte_offset(data: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        data.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(data.len(), |(i, _)| i + 1)
    };
    (line_start + column.saturating_sub(1)).min(data.len())
}

/// What reading an Azure document carries from one element of `records` to the next.
struct AzureStream<'s, F> {
    input: u32,
    batch: usize,
    out: LogRead,
    /// Tuples so far.
    n: u32,
    sink: &'s mut F,
    stopped: bool,
    saw_records: bool,
}

impl<F: FnMut(LogRead, bool) -> bool> AzureStream<'_, F> {
    /// Reads one element of `records`: its flow tuples, each a record or counted.
    fn record(&mut self, rec: &Value) {
        let at0 = Locator {
            input: self.input,
            interface: 0,
            frame: 1,
            offset: 0,
        };
        let nsg = rec.get("properties").and_then(|p| p.get("flows"));
        let vnet = rec.get("flowRecords").and_then(|p| p.get("flows"));
        let resource = rec
            .get("resourceId")
            .or_else(|| rec.get("targetResourceID"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let version = rec
            .get("properties")
            .and_then(|p| p.get("Version"))
            .and_then(num)
            .or_else(|| rec.get("flowLogVersion").and_then(num))
            .unwrap_or(2);
        let groups: Vec<(&str, &Value, &str)> = match (nsg, vnet) {
            (Some(Value::Array(flows)), _) => flows
                .iter()
                .flat_map(|f| {
                    let rule = f.get("rule").and_then(Value::as_str).unwrap_or("");
                    f.get("flows")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(move |g| (rule, g, g.get("mac").and_then(Value::as_str).unwrap_or("")))
                })
                .collect(),
            (_, Some(Value::Array(flows))) => flows
                .iter()
                .flat_map(|f| {
                    f.get("flowGroups")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|g| (g.get("rule").and_then(Value::as_str).unwrap_or(""), g, ""))
                })
                .collect(),
            _ => Vec::new(),
        };
        let vnet_log = vnet.is_some();
        for (rule, g, mac) in groups {
            for t in g
                .get("flowTuples")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if self.stopped {
                    return;
                }
                self.n += 1;
                self.out.units += 1;
                let loc = RecordLoc {
                    at: at0,
                    record: self.n,
                };
                let Some(text) = t.as_str() else {
                    self.out.bad(
                        bad::TUPLE,
                        0,
                        Locator {
                            frame: u64::from(self.n),
                            ..at0
                        },
                    );
                    continue;
                };
                let r = azure_tuple(text, vnet_log, version, loc).map(|mut r| {
                    r.routing_mut().interface_id = Some(if mac.is_empty() {
                        resource.to_string()
                    } else {
                        format!("{resource} mac {mac}")
                    });
                    r.status =
                        Some(format!("{}; rule {rule}", r.status.as_deref().unwrap_or("")).into());
                    r
                });
                let at = Locator {
                    frame: u64::from(self.n),
                    ..at0
                };
                self.out.keep(r, text.len(), at);
                if self.out.units >= self.batch as u64 {
                    let full = std::mem::take(&mut self.out);
                    self.stopped = !(self.sink)(full, false);
                }
            }
        }
    }
}

/// The document: its `records` array read element by element, anything else skipped.
struct AzureDoc<'a, 's, F> {
    st: &'a mut AzureStream<'s, F>,
}

impl<'de, F: FnMut(LogRead, bool) -> bool> serde::de::DeserializeSeed<'de> for AzureDoc<'_, '_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(LogRead, bool) -> bool> serde::de::Visitor<'de> for AzureDoc<'_, '_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an Azure flow log document")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == "records" && !self.st.saw_records {
                m.next_value_seed(AzureRecords { st: &mut *self.st })?;
            } else {
                m.next_value::<serde::de::IgnoredAny>()?;
            }
            if self.st.stopped {
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// The `records` array, an element at a time.
struct AzureRecords<'a, 's, F> {
    st: &'a mut AzureStream<'s, F>,
}

impl<'de, F: FnMut(LogRead, bool) -> bool> serde::de::DeserializeSeed<'de>
    for AzureRecords<'_, '_, F>
{
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(LogRead, bool) -> bool> serde::de::Visitor<'de> for AzureRecords<'_, '_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of flow log records")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.st.saw_records = true;
        while let Some(rec) = seq.next_element::<Value>()? {
            self.st.record(&rec);
            if self.st.stopped {
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// One flow tuple. NSG: `time(s),src,dst,sport,dport,T|U,I|O,A|D[,B|C|E,pkts s2d,bytes s2d,
/// pkts d2s,bytes d2s]`. VNet: `time(ms),src,dst,sport,dport,protocol number,I|O,B|C|E|D,
/// encryption,pkts s2d,bytes s2d,pkts d2s,bytes d2s`.
fn azure_tuple(text: &str, vnet: bool, version: u64, loc: RecordLoc) -> Result<FlowRecord, u32> {
    let f: Vec<&str> = text.split(',').collect();
    let want = if vnet || version >= 2 { 13 } else { 8 };
    if f.len() != want {
        return Err(bad::TUPLE);
    }
    let t = if vnet {
        let ms: i64 = f[0].parse().map_err(|_| bad::TIMESTAMP)?;
        Timestamp(ms.checked_mul(1_000_000).ok_or(bad::TIMESTAMP)?)
    } else {
        parse_epoch(f[0]).ok_or(bad::TIMESTAMP)?
    };
    let mut r = FlowRecord::new(RecordKind::Azure, loc);
    r.src = parse_addr(f[1]).ok_or(bad::ADDRESS)?;
    r.dst = parse_addr(f[2]).ok_or(bad::ADDRESS)?;
    let port = |s: &str| s.parse::<u16>().map_err(|_| bad::NUMBER);
    r.sport = port(f[3])?;
    r.dport = port(f[4])?;
    r.proto = match f[5] {
        "T" => Proto::TCP,
        "U" => Proto::UDP,
        p => Proto(p.parse().map_err(|_| bad::NUMBER)?),
    };
    r.has_ports = r.proto.has_ports();
    r.routing_mut().direction = match f[6] {
        "I" => Some(0),
        "O" => Some(1),
        _ => None,
    };
    r.start = t;
    r.end = t;
    r.time_original = TimeOriginal::of(format!("{} ({})", f[0], if vnet { "ms" } else { "s" }));
    let mut status = vec![format!("direction {}", f[6])];
    if vnet {
        status.push(format!("state {}", f[7]));
        status.push(format!("encryption {}", f[8]));
    } else {
        status.push(format!("decision {}", f[7]));
        if want == 13 {
            status.push(format!("state {}", f[8]));
        }
    }
    r.status = Some(status.join(", ").into());
    if want == 13 {
        let n = |s: &str| -> Result<u64, u32> {
            if s.is_empty() {
                Ok(0)
            } else {
                s.parse().map_err(|_| bad::NUMBER)
            }
        };
        r.fwd.pkts = n(f[9])?;
        r.fwd.bytes = n(f[10])?;
        r.rev.pkts = n(f[11])?;
        r.rev.bytes = n(f[12])?;
        r.bidirectional = true;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SkipReason;

    #[test]
    fn gcp_entries_are_one_direction_as_the_reporter_saw_it() {
        let l = r#"{"insertId":"abc","jsonPayload":{"bytes_sent":"1460","connection":{"dest_ip":"10.128.0.5","dest_port":443,"protocol":6,"src_ip":"203.0.113.7","src_port":51000},"end_time":"2024-05-01T10:00:05.000000001Z","packets_sent":"3","reporter":"DEST","start_time":"2024-05-01T10:00:00Z","dest_instance":{"project_id":"p","vm_name":"web-1","zone":"europe-west1-b"}},"logName":"projects/p/logs/compute.googleapis.com%2Fvpc_flows"}
not json
"#;
        let r = read_gcp(0, l.as_bytes(), &TextPiece::default());
        assert_eq!(r.records.len(), 1);
        let a = &r.records[0];
        assert_eq!((a.fwd.pkts, a.fwd.bytes, a.dport), (3, 1460, 443));
        assert_eq!(a.end.since(a.start), 5_000_000_001);
        assert_eq!(
            a.routing().interface_id.as_deref(),
            Some("p/europe-west1-b/web-1")
        );
        assert_eq!(r.diag.count(SkipReason::BadLogLine), 1);
        assert!(is_gcp(l.lines().next().unwrap()));
    }

    /// An NSG document of `records` elements with `tuples` flow tuples each.
    fn nsg_doc(records: usize, tuples: usize) -> String {
        let recs: Vec<String> = (0..records)
            .map(|r| {
                let t: Vec<String> = (0..tuples)
                    .map(|i| format!("\"1542110424,10.5.{r}.{i},13.67.143.118,59831,443,T,O,A,E,17,4011,22,12341\""))
                    .collect();
                format!(
                    r#"{{"time":"t","resourceId":"/NSG{r}","properties":{{"Version":2,"flows":[{{"rule":"R","flows":[{{"mac":"00","flowTuples":[{}]}}]}}]}}}}"#,
                    t.join(",")
                )
            })
            .collect();
        format!(
            "{{\"other\":[1,{{\"records\":2}}],\n\"records\":[{}]}}",
            recs.join(",\n")
        )
    }

    #[test]
    fn an_azure_document_is_read_a_record_at_a_time_in_batches() {
        let doc = nsg_doc(3, 5);
        let whole = read_azure(0, doc.as_bytes());
        assert_eq!(whole.records.len(), 15);
        assert!(whole.diag.is_empty());
        let mut batches = Vec::new();
        read_azure_batches(0, doc.as_bytes(), 4, |read, last| {
            batches.push((read, last));
            true
        });
        // Batches of four tuples across the records' edges, then the rest, flagged last.
        let sizes: Vec<(usize, bool)> =
            batches.iter().map(|(r, l)| (r.records.len(), *l)).collect();
        assert_eq!(sizes, [(4, false), (4, false), (4, false), (3, true)]);
        let numbers: Vec<u32> = batches
            .iter()
            .flat_map(|(r, _)| r.records.iter().map(|r| r.loc.record))
            .collect();
        assert_eq!(numbers, (1..=15).collect::<Vec<_>>());
        let ids: Vec<_> = batches
            .iter()
            .flat_map(|(r, _)| r.records.iter().map(|r| r.routing().interface_id.clone()))
            .collect();
        assert_eq!(ids[4].as_deref(), Some("/NSG0 mac 00"));
        assert_eq!(ids[5].as_deref(), Some("/NSG1 mac 00"));
        // The reader stops when told to.
        let mut calls = 0;
        read_azure_batches(0, doc.as_bytes(), 4, |_, _| {
            calls += 1;
            false
        });
        assert_eq!(calls, 1);
    }

    #[test]
    fn an_azure_document_that_stops_being_json_keeps_the_tuples_before() {
        let doc = nsg_doc(3, 5);
        // Cut inside the third record (on its second line).
        let cut = doc.rfind("NSG2").unwrap() + 40;
        let r = read_azure(0, &doc.as_bytes()[..cut]);
        assert_eq!(r.records.len(), 10);
        let e = r.diag.entries();
        assert_eq!(e.len(), 1);
        let (reason, code, stat) = &e[0];
        assert_eq!((*reason, *code), (SkipReason::BadLogLine, bad::JSON));
        // At the tuple that would have come next and the last byte read.
        assert_eq!(stat.first.frame, 11);
        assert_eq!(stat.first.offset, cut as u64 - 1);
        assert_eq!(r.units, 11);
        // A stray byte in the second record (on the document's third line): the first
        // record's tuples are kept, the fault located at that byte, the rest counted.
        let at = doc.find("NSG1").unwrap() + 30;
        let mut broken = doc.clone().into_bytes();
        broken[at] = b'#';
        let r = read_azure(0, &broken);
        assert_eq!(r.records.len(), 5);
        let e = r.diag.entries();
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].2.first.frame, e[0].2.first.offset, e[0].2.bytes),
            (6, at as u64, (broken.len() - at) as u64)
        );
        // Not a document of records at all: counted whole, as before.
        for bad_doc in [&b"[1,2]"[..], b"{\"records\":3}", b"{\"other\":[]}"] {
            let r = read_azure(0, bad_doc);
            assert!(r.records.is_empty());
            assert_eq!(r.diag.count(SkipReason::BadLogLine), 1, "{bad_doc:?}");
        }
    }

    #[test]
    fn azure_nsg_v2_and_vnet_tuples() {
        let nsg = r#"{"records":[{"time":"2018-11-13T12:00:35.3899262Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/X/NSG","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":"DefaultRule_DenyAllInBound","flows":[{"mac":"000D3AF87856","flowTuples":["1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,","1542110424,10.5.16.4,13.67.143.118,59831,443,T,O,A,E,17,4011,22,12341","bad"]}]}]}}]}"#;
        assert!(is_azure(nsg));
        let r = read_azure(0, nsg.as_bytes());
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records[1].rev.bytes, 12341);
        assert!(r.records[1].bidirectional);
        assert_eq!(r.records[1].loc.record, 2);
        assert!(
            r.records[0]
                .status
                .as_deref()
                .unwrap()
                .contains("decision D")
        );
        assert_eq!(r.diag.count(SkipReason::BadLogLine), 1);
        let vnet = r#"{"records":[{"time":"2022-09-14T09:00:52.5625085Z","flowLogVersion":4,"category":"FlowLogFlowEvent","targetResourceID":"/subscriptions/x/vnet","flowRecords":{"flows":[{"aclID":"a","flowGroups":[{"rule":"DefaultRule_AllowInternetOutBound","flowTuples":["1663146003599,10.0.0.6,192.0.2.180,23956,443,6,O,E,NX,3,767,2,1580"]}]}]}}]}"#;
        let r = read_azure(0, vnet.as_bytes());
        assert_eq!(r.records.len(), 1);
        let a = &r.records[0];
        assert_eq!(a.start.0, 1_663_146_003_599_000_000);
        assert_eq!((a.fwd.pkts, a.rev.bytes, a.proto), (3, 1580, Proto::TCP));
    }
}
