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

/// Reads an Azure flow log document (NSG flow logs v1/v2, VNet flow logs).
pub fn read_azure(input: u32, data: &[u8]) -> LogRead {
    let mut out = LogRead::default();
    let at0 = Locator {
        input,
        interface: 0,
        frame: 1,
        offset: 0,
    };
    let doc: Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(e) => {
            let at = Locator {
                frame: e.line() as u64,
                ..at0
            };
            out.units = 1;
            out.bad(bad::JSON, data.len(), at);
            return out;
        }
    };
    let Some(records) = doc.get("records").and_then(Value::as_array) else {
        out.units = 1;
        out.bad(bad::JSON, data.len(), at0);
        return out;
    };
    // Tuples are numbered in document order: record n is the n-th flow tuple.
    let mut n = 0u32;
    for rec in records {
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
                n += 1;
                out.units += 1;
                let at = Locator { ..at0 };
                let loc = RecordLoc { at, record: n };
                let Some(text) = t.as_str() else {
                    out.bad(bad::TUPLE, 0, at);
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
                out.keep(r, text.len(), at);
            }
        }
    }
    out
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
