//! Conformance of the flow-record readers on real data in `../shared/data/captures`
//! (through `HOPTRACE_SHARED_DATA`; skipped with one line when it is not set): NetFlow and
//! IPFIX captures against tshark's decode and pmacct's collector output, the AWS VPC
//! samples, and Zeek conn.logs as TSV and JSON.

use crate::support::{peer, run_files, shared};

const NFDUMP: &str = "apt-get install nfdump argus-server argus-client";
use hoptrace::model::SkipReason;
use hoptrace::pipeline::LogOptions;
use hoptrace::records::{FlowRecord, RecordKind};
use hoptrace::{FlowsConfig, flows, partial};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// (src, dst, sport, dport, proto) → (records, packets, bytes).
type Tuples = BTreeMap<(IpAddr, IpAddr, u16, u16, u8), (u64, u64, u64)>;

fn tshark_flows(v: &Value, out: &mut Vec<serde_json::Map<String, Value>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if (k.starts_with("Flow ") || k.starts_with("pdu "))
                    && let Value::Object(f) = x
                {
                    out.push(f.clone());
                } else {
                    tshark_flows(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| tshark_flows(x, out)),
        _ => {}
    }
}

fn tshark_tuples(path: &Path) -> Tuples {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut flows = Vec::new();
    tshark_flows(&v, &mut flows);
    let mut t = Tuples::new();
    for f in flows {
        let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(src), Some(dst)) = (
            s("cflow.srcaddr").or_else(|| s("cflow.srcaddrv6")),
            s("cflow.dstaddr").or_else(|| s("cflow.dstaddrv6")),
        ) else {
            continue;
        };
        let n = |k: &str| s(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let proto = n("cflow.protocol") as u8;
        let (sport, dport) = if proto == 1 || proto == 58 {
            (0, 0)
        } else {
            (n("cflow.srcport") as u16, n("cflow.dstport") as u16)
        };
        let e = t
            .entry((
                src.parse().unwrap(),
                dst.parse().unwrap(),
                sport,
                dport,
                proto,
            ))
            .or_default();
        e.0 += 1;
        e.1 += n("cflow.packets");
        e.2 += n("cflow.octets").max(n("cflow.permanent_octets"));
    }
    t
}

fn our_tuples(recs: &[FlowRecord]) -> Tuples {
    let mut t = Tuples::new();
    for r in recs {
        let icmp = r.proto.is_icmp();
        let e = t
            .entry((
                r.src.to_ip(),
                r.dst.to_ip(),
                if icmp { 0 } else { r.sport },
                if icmp { 0 } else { r.dport },
                r.proto.0,
            ))
            .or_default();
        e.0 += 1;
        e.1 += r.fwd.pkts;
        e.2 += r.fwd.bytes;
    }
    t
}

fn records(path: &Path) -> (Vec<FlowRecord>, hoptrace::model::Diagnostics) {
    let p = partial(&FlowsConfig::new(vec![path.to_path_buf()])).unwrap();
    (p.records, p.table.diag)
}

#[test]
fn netflow_and_ipfix_captures_decode_to_tsharks_records() {
    let Some(dir) = shared("captures") else {
        return;
    };
    let d = dir.join("netflow-export-payloads/derived-pcap");
    // netflow5.pcap wraps fifteen v5 exports written back to back in one UDP payload;
    // tshark reads the first export (2 records), hoptrace reads them all.
    let (recs, diag) = records(&d.join("netflow5.pcap"));
    assert!(!diag.has_problems(), "{:?}", diag.entries());
    assert_eq!(recs.len(), 30);
    assert_eq!(recs[29].loc.record, 30);
    assert_eq!(
        our_tuples(&recs[..2]),
        tshark_tuples(&d.join("netflow5.tshark.json"))
    );
    for (pcap, json, kind, n) in [
        (
            "netflow9_valid01.pcap",
            "netflow9_valid01.tshark.json",
            RecordKind::NetflowV9,
            7,
        ),
        (
            "netflow9_cisco_asa_1.pcap",
            "netflow9_cisco_asa_1.tshark.json",
            RecordKind::NetflowV9,
            14,
        ),
        (
            "ipfix_openbsd_pflow.pcap",
            "ipfix_openbsd_pflow.tshark.json",
            RecordKind::Ipfix,
            26,
        ),
    ] {
        let (recs, _) = records(&d.join(pcap));
        assert_eq!(recs.len(), n, "{pcap}");
        assert!(recs.iter().all(|r| r.kind == kind), "{pcap}");
        let ours = our_tuples(&recs);
        let theirs = tshark_tuples(&d.join(json));
        // tshark skips the one IPv6 record of netflow9_valid01 (ICMPv6 without ports) in
        // the fields it names srcaddr: compare what it decoded.
        for (k, v) in &theirs {
            assert_eq!(ours.get(k), Some(v), "{pcap}: {k:?}");
        }
        if pcap != "netflow9_valid01.pcap" {
            assert_eq!(ours.len(), theirs.len(), "{pcap}");
        }
    }
    // ipfix.pcap wraps three IPFIX messages in one UDP payload; tshark reads the first
    // message (and misreads the next two as sets), hoptrace reads all three.
    let (recs, diag) = records(&d.join("ipfix.pcap"));
    assert!(!diag.has_problems(), "{:?}", diag.entries());
    assert_eq!(recs.len(), 12);
    let ours = our_tuples(&recs[..6]);
    let theirs = tshark_tuples(&d.join("ipfix.tshark.json"));
    assert_eq!(ours, theirs);
}

#[test]
fn netflow_v9_nsel_fields_and_ipfix_routing_fields_are_kept() {
    let Some(dir) = shared("captures") else {
        return;
    };
    let (recs, _) =
        records(&dir.join("netflow-export-payloads/derived-pcap/netflow9_cisco_asa_1.pcap"));
    // tshark: post NAT source 192.168.14.1:0, destination 2.2.2.11:17549, 56 octets, start
    // Oct  9, 2015 09:47:47.569 UTC (abstimestart).
    let r = recs
        .iter()
        .find(|r| r.src.to_string() == "192.168.14.1" && r.dst.to_string() == "2.2.2.11")
        .unwrap();
    assert_eq!(r.fwd.bytes, 56);
    assert_eq!(
        r.start.rfc3339().to_string(),
        "2015-10-09T09:47:47.569000000Z"
    );
    let nat = r.routing().nat_dst.unwrap();
    assert_eq!((nat.0.to_string().as_str(), nat.1), ("2.2.2.11", 17549));

    let (recs, diag) = records(&dir.join("pmacct-ipfix-cisco/traffic-00.pcap"));
    assert!(!diag.has_problems(), "{:?}", diag.entries());
    let with_bgp = recs
        .iter()
        .filter(|r| r.routing().bgp_next_hop.is_some() && r.routing().src_as.is_some())
        .count();
    assert!(with_bgp > 0);
}

/// pmacct's nfacctd output (`output-flow-00.json`): aggregated per 5-tuple and interfaces;
/// the same tuples, packets and bytes must come out of hoptrace's records.
fn pmacct_tuples(path: &Path) -> Tuples {
    let mut t = Tuples::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let proto = match v["ip_proto"].as_str().unwrap() {
            "tcp" => 6,
            "udp" => 17,
            "icmp" => 1,
            "ipv6-icmp" | "icmpv6" => 58,
            p => p.parse().unwrap_or(0),
        };
        let icmp = proto == 1 || proto == 58;
        let port = |k: &str| {
            if icmp {
                0
            } else {
                v[k].as_u64().unwrap_or(0) as u16
            }
        };
        let e = t
            .entry((
                v["ip_src"].as_str().unwrap().parse().unwrap(),
                v["ip_dst"].as_str().unwrap().parse().unwrap(),
                port("port_src"),
                port("port_dst"),
                proto,
            ))
            .or_default();
        e.1 += v["packets"].as_u64().unwrap();
        e.2 += v["bytes"].as_u64().unwrap();
    }
    t
}

#[test]
fn pmacct_groups_yield_the_collectors_flows() {
    let Some(dir) = shared("captures") else {
        return;
    };
    for group in ["pmacct-ipfix-cisco", "pmacct-nfv9-cisco"] {
        let (recs, diag) = records(&dir.join(group).join("traffic-00.pcap"));
        assert!(!diag.has_problems(), "{group}: {:?}", diag.entries());
        let mut ours = our_tuples(&recs);
        ours.values_mut().for_each(|v| v.0 = 0);
        let theirs = pmacct_tuples(&dir.join(group).join("output-flow-00.json"));
        assert_eq!(ours, theirs, "{group}");
    }
}

#[test]
fn raw_export_files_decode_and_the_invalid_ones_are_reported() {
    let Some(dir) = shared("captures/netflow-export-payloads") else {
        return;
    };
    for (file, n) in [
        ("netflow5.dat", 30),
        ("netflow9_test_valid01.dat", 7),
        ("ipfix.dat", 12),
    ] {
        let (recs, _) = records(&dir.join(file));
        assert_eq!(recs.len(), n, "{file}");
    }
    // Templates in one file, data in the next: read as one capture set, in order.
    let run = partial(&FlowsConfig::new(vec![
        dir.join("netflow9_test_cisco_asa_1_tpl.dat"),
        dir.join("netflow9_test_cisco_asa_1_data.dat"),
    ]))
    .unwrap();
    // Raw files have no exporter address: templates are scoped per input, so the data
    // file's sets wait for a template that never comes in their own scope and are counted.
    assert_eq!(run.records.len(), 0);
    assert!(run.table.diag.count(SkipReason::NoTemplate) > 0);
    let run = run_files(&[dir.join("netflow5_test_invalid01.dat")]);
    assert!(run.skipped_input() || run.nothing_read());
    // Its v9 header counts 2 records where the datagram holds 6 (two templates, an options
    // template, an options record, two flows): read, and the contradiction noted.
    let run = run_files(&[dir.join("netflow9_test_invalid01.dat")]);
    assert_eq!(run.records.records.len(), 2);
    assert_eq!(run.flows.diag.count(SkipReason::ExportCountMismatch), 1);
    assert_eq!(run.records.records[0].sampling, Some(100));
}

#[test]
fn aws_vpc_samples_load_with_their_row_counts_and_fields() {
    let Some(dir) = shared("captures/aws-vpc-flow-logs") else {
        return;
    };
    for f in [
        "vpc-flow-v2-default.s3.log",
        "vpc-flow-v2-default.s3.log.gz",
    ] {
        let p = partial(&FlowsConfig::new(vec![dir.join(f)])).unwrap();
        assert_eq!(p.records.len(), 5, "{f}");
        assert_eq!(p.inputs[0].frames, 7, "{f}: seven records after the header");
        assert_eq!(p.table.diag.count(SkipReason::LogNoData), 1);
        assert_eq!(p.table.diag.count(SkipReason::LogSkipData), 1);
        let v6 = p.records.iter().find(|r| !r.src.v4).unwrap();
        assert_eq!((v6.dport, v6.fwd.pkts, v6.fwd.bytes), (22, 54, 8855));
    }
    let fields = std::fs::read_to_string(dir.join("vpc-flow-v3-tcp-flags.format.txt")).unwrap();
    let mut cfg = FlowsConfig::new(vec![dir.join("vpc-flow-v3-tcp-flags.cwl.log")]);
    cfg.logs = LogOptions {
        vpc_fields: Some(
            fields
                .split_ascii_whitespace()
                .map(str::to_string)
                .collect(),
        ),
        ..LogOptions::default()
    };
    let run = flows(&cfg).unwrap();
    assert!(!run.skipped_input());
    // Eight one-way records, the two directions of four intervals.
    assert_eq!(run.records.records.len(), 4);
    let flags: Vec<(u8, u8)> = run
        .records
        .records
        .iter()
        .map(|r| (r.fwd.tcp_flags, r.rev.tcp_flags))
        .collect();
    assert_eq!(flags, vec![(2, 18), (2, 18), (1, 1), (3, 19)]);
}

#[test]
fn zeek_conn_logs_load_as_tsv_and_json_with_the_same_rows() {
    let Some(dir) = shared("captures/zeek-logs") else {
        return;
    };
    let (tsv, d1) = records(&dir.join("brim-sample-conn.log"));
    let (json, d2) = records(&dir.join("brim-sample-conn.derived.json.log"));
    assert!(
        d1.is_empty() && d2.is_empty(),
        "{:?} {:?}",
        d1.entries(),
        d2.entries()
    );
    assert_eq!(tsv.len(), 92);
    assert_eq!(json.len(), 92);
    for (a, b) in tsv.iter().zip(&json) {
        assert_eq!(
            (
                a.src, a.sport, a.dst, a.dport, a.proto, a.fwd, a.rev, a.start, a.end
            ),
            (
                b.src, b.sport, b.dst, b.dport, b.proto, b.fwd, b.rev, b.start, b.end
            )
        );
        assert_eq!(a.source_id, b.source_id);
        assert_eq!(a.state, b.state);
    }
    let first = &tsv[0];
    assert_eq!(first.source_id.as_deref(), Some("C8Tful1TvM3Zf5x8fl"));
    assert_eq!(
        first.start.rfc3339().to_string(),
        "2018-03-24T17:15:21.255387000Z"
    );
    assert_eq!((first.fwd.bytes, first.rev.bytes), (730, 342));
}

#[test]
fn zeek_reference_logs_with_masked_times_are_accounted_line_by_line() {
    let Some(dir) = shared("captures") else {
        return;
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let log = entry.unwrap().path().join("conn.log");
        if !log.is_file() {
            continue;
        }
        let body = std::fs::read_to_string(&log).unwrap();
        if !body.contains("#fields") {
            // A `cut` of some columns (zeek-rawip-syslog): not a conn.log; the run says so.
            let run = run_files(std::slice::from_ref(&log));
            let e = run.inputs[0].error.clone().unwrap_or_default();
            assert!(e.contains("nor a flow log hoptrace knows"), "{e}");
            continue;
        }
        let data_lines = body
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count() as u64;
        let p = partial(&FlowsConfig::new(vec![log.clone()])).unwrap();
        // btest masks every timestamp (XXXXXXXXXX.XXXXXX): each line is counted, none lost.
        let bad = p.table.diag.count(SkipReason::BadLogLine);
        assert_eq!(
            p.records.len() as u64 + bad,
            data_lines,
            "{}",
            log.display()
        );
        assert_eq!(p.inputs[0].frames, data_lines, "{}", log.display());
        checked += 1;
    }
    assert!(checked >= 15, "{checked} conn.logs");
}

#[test]
fn nfdump_and_argus_tables_of_a_real_capture_read_back_to_its_flows() {
    let Some(dir) = shared("captures/zeek-ssh-many-conns") else {
        return;
    };
    let pcap = dir.join("ssh.pcap");
    let ours = run_files(std::slice::from_ref(&pcap));
    let ids: std::collections::BTreeSet<String> = hoptrace::report::flow_rows(&ours)
        .into_iter()
        .map(|r| r.community_id)
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let nfdir = tmp.path().join("nf");
    std::fs::create_dir(&nfdir).unwrap();
    let p = pcap.to_str().unwrap();
    if peer("nfpcapd", NFDUMP, &["-r", p, "-w", nfdir.to_str().unwrap()]).is_some()
        && let Some(out) = peer(
            "nfdump",
            NFDUMP,
            &["-R", nfdir.to_str().unwrap(), "-o", "csv"],
        )
    {
        let csv = tmp.path().join("ssh.nfdump.csv");
        std::fs::write(&csv, &out.stdout).unwrap();
        let run = flows(&FlowsConfig::new(vec![csv.clone()])).unwrap();
        assert!(!run.skipped_input(), "{:?}", run.flows.diag.entries());
        // nfdump's own summary line: 48 flows, 1 266 271 bytes, 1797 packets.
        let text = String::from_utf8_lossy(&out.stdout);
        let summary: Vec<u64> = text
            .lines()
            .last()
            .unwrap()
            .split(',')
            .take(3)
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(run.inputs[0].records, summary[0]);
        let recs = &run.records.records;
        let bytes: u64 = recs.iter().map(|r| r.fwd.bytes + r.rev.bytes).sum();
        let pkts: u64 = recs.iter().map(|r| r.fwd.pkts + r.rev.pkts).sum();
        assert_eq!((bytes, pkts), (summary[1], summary[2]));
        assert_eq!(pkts, 1797, "every packet of the capture");
        // Paired, nfdump's one-way records are hoptrace's connections.
        for r in recs {
            let id = r.community_id().unwrap();
            assert!(
                ids.contains(&id),
                "{id} from nfdump is not a flow of the capture"
            );
        }
    }
    let argus_file = tmp.path().join("ssh.argus");
    if peer(
        "argus",
        NFDUMP,
        &["-r", p, "-w", argus_file.to_str().unwrap()],
    )
    .is_some()
        && let Some(out) = peer(
            "ra",
            NFDUMP,
            &[
                "-n",
                "-u",
                "-c",
                ",",
                "-L0",
                "-r",
                argus_file.to_str().unwrap(),
                "-s",
                "stime",
                "ltime",
                "saddr",
                "sport",
                "daddr",
                "dport",
                "proto",
                "spkts",
                "dpkts",
                "sbytes",
                "dbytes",
                "state",
            ],
        )
    {
        let csv = tmp.path().join("ssh.ra.csv");
        std::fs::write(&csv, &out.stdout).unwrap();
        let run = flows(&FlowsConfig::new(vec![csv])).unwrap();
        assert!(!run.skipped_input(), "{:?}", run.flows.diag.entries());
        let recs = &run.records.records;
        let pkts: u64 = recs.iter().map(|r| r.fwd.pkts + r.rev.pkts).sum();
        assert_eq!(pkts, 1797, "argus saw every packet of the capture");
        assert!(
            recs.iter()
                .all(|r| r.kind == RecordKind::ArgusCsv && r.bidirectional)
        );
        for r in recs.iter().filter(|r| r.has_ports) {
            let id = r.community_id().unwrap();
            assert!(
                ids.contains(&id),
                "{id} from argus is not a flow of the capture"
            );
        }
    }
}
