//! Flow records: NetFlow v5/v9/IPFIX in captures and in raw files, Zeek conn.log, AWS VPC
//! flow logs, pairing, bounds, and a table mixing packets and records.

use crate::support::{Dir, hoptrace, text};
use hoptrace::model::{Addr, SkipReason, Timestamp};
use hoptrace::pipeline::LogOptions;
use hoptrace::records::netflow::{Collector, Export, Limits};
use hoptrace::records::{FlowRecord, RecordKind};
use hoptrace::synth::netflow::{ExportWriter, V5Record, v5};
use hoptrace::synth::{Capture, Format, Pkt, gzip};
use hoptrace::{FlowsConfig, flows, partial};
use std::path::PathBuf;

const EXPORTER: [u8; 4] = [198, 51, 100, 1];
const COLLECTOR: [u8; 4] = [198, 51, 100, 200];
const T0: u32 = 1_700_000_000;

fn capture_of(datagrams: &[(u32, [u8; 4], &[u8])]) -> Vec<u8> {
    let mut c = Capture::new(Format::Pcap);
    for (i, (secs, from, d)) in datagrams.iter().enumerate() {
        c.push(
            i64::from(*secs) * 1_000_000_000 + i as i64,
            &Pkt::udp4((*from, 50000), (COLLECTOR, 2055), d),
        );
    }
    c.finish()
}

fn records_of(path: PathBuf) -> (Vec<FlowRecord>, hoptrace::model::Diagnostics) {
    let p = partial(&FlowsConfig::new(vec![path])).expect("run");
    (p.records, p.table.diag)
}

fn ip(a: [u8; 4]) -> Addr {
    Addr::v4(a)
}

fn be(v: u64, n: usize) -> Vec<u8> {
    v.to_be_bytes()[8 - n..].to_vec()
}

#[test]
fn netflow_v5_in_a_capture_keeps_every_field_and_its_frame() {
    let mut r = V5Record::tcp([10, 0, 0, 1], 40000, [192, 0, 2, 9], 443);
    r.next_hop = [192, 0, 2, 254];
    r.ases = (64500, 15169);
    r.masks = (24, 16);
    let mut icmp = V5Record::tcp([10, 0, 0, 1], 0, [192, 0, 2, 9], 8 << 8);
    icmp.proto = 1;
    let d = Dir::new();
    let p = d.write(
        "nf5.pcap",
        &capture_of(&[(T0, EXPORTER, &v5(10_000, T0, &[r, icmp]))]),
    );
    let (recs, diag) = records_of(p);
    assert!(diag.is_empty(), "{:?}", diag.entries());
    assert_eq!(recs.len(), 2);
    let a = &recs[0];
    assert_eq!(a.kind, RecordKind::NetflowV5);
    assert_eq!((a.loc.at.frame, a.loc.record), (1, 1));
    assert_eq!(
        (a.src, a.sport, a.dst, a.dport),
        (ip([10, 0, 0, 1]), 40000, ip([192, 0, 2, 9]), 443)
    );
    // First packet 500 ms of uptime, export at uptime 10 000 ms = T0: 9.5 s before T0.
    assert_eq!(
        a.start,
        Timestamp(i64::from(T0) * 1_000_000_000 - 9_500_000_000)
    );
    assert_eq!(a.end.since(a.start), 400_000_000);
    assert_eq!(a.routing().next_hop, Some(ip([192, 0, 2, 254])));
    assert_eq!(
        (a.routing().src_as, a.routing().dst_as),
        (Some(64500), Some(15169))
    );
    assert_eq!(
        (a.routing().src_mask, a.routing().dst_mask),
        (Some(24), Some(16))
    );
    assert_eq!(a.routing().exporter, Some(ip(EXPORTER)));
    assert!(
        a.time_original
            .text()
            .unwrap()
            .contains("sysUpTime 10000 ms")
    );
    assert!(a.community_id().is_some());
    let b = &recs[1];
    assert_eq!(
        (b.sport, b.dport),
        (8, 0),
        "ICMP type and code from the v5 port field"
    );
}

/// The IPFIX template used by several tests: addresses, ports, protocol, counters,
/// millisecond times, a variable-length field and an enterprise field.
fn ipfix_template(w: &mut ExportWriter, id: u16) {
    w.template(
        id,
        &[
            (8, 4, 0),
            (12, 4, 0),
            (7, 2, 0),
            (11, 2, 0),
            (4, 1, 0),
            (2, 8, 0),
            (1, 8, 0),
            (152, 8, 0),
            (153, 8, 0),
            (96, 65535, 0),
            (1, 4, 29305),
            (2, 4, 29305),
            (99, 4, 9),
        ],
    );
}

fn ipfix_record(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, start_ms: u64) -> Vec<u8> {
    let name = b"eth0";
    [
        src.to_vec(),
        dst.to_vec(),
        be(u64::from(sport), 2),
        be(u64::from(dport), 2),
        vec![6],
        be(12, 8),
        be(3400, 8),
        be(start_ms, 8),
        be(start_ms + 250, 8),
        vec![name.len() as u8],
        name.to_vec(),
        be(5000, 4),
        be(9, 4),
        vec![0xde, 0xad, 0xbe, 0xef],
    ]
    .concat()
}

#[test]
fn ipfix_biflows_variable_length_and_enterprise_fields_read_exactly() {
    let ms = u64::from(T0) * 1000 + 123;
    let mut w = ExportWriter::ipfix(T0, 42);
    ipfix_template(&mut w, 300);
    let rec = ipfix_record([10, 1, 1, 1], [203, 0, 113, 5], 51000, 25, ms);
    w.data(300, &[&rec]);
    let d = Dir::new();
    let p = d.write("ipfix.pcap", &capture_of(&[(T0, EXPORTER, &w.finish())]));
    let (recs, diag) = records_of(p);
    assert!(diag.is_empty(), "{:?}", diag.entries());
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.kind, RecordKind::Ipfix);
    assert_eq!((r.fwd.pkts, r.fwd.bytes), (12, 3400));
    assert_eq!(
        (r.rev.bytes, r.rev.pkts),
        (5000, 9),
        "RFC 5103 reverse counters"
    );
    assert!(r.bidirectional);
    assert_eq!(r.start, Timestamp(ms as i64 * 1_000_000));
    assert_eq!(r.end.since(r.start), 250_000_000);
    assert_eq!(r.routing().domain, Some(42));
    assert_eq!(r.loc.record, 1);
}

#[test]
fn data_before_its_template_waits_and_keeps_its_own_frame() {
    let ms = u64::from(T0) * 1000;
    let mut data = ExportWriter::ipfix(T0, 1);
    data.data(
        256,
        &[&ipfix_record([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, ms)],
    );
    let mut tpl = ExportWriter::ipfix(T0 + 5, 1);
    ipfix_template(&mut tpl, 256);
    // Another template id that never comes.
    let mut lost = ExportWriter::ipfix(T0 + 6, 1);
    lost.data(999, &[&[0u8; 8]]);
    let d = Dir::new();
    let p = d.write(
        "late.pcap",
        &capture_of(&[
            (T0, EXPORTER, &data.finish()),
            (T0 + 5, EXPORTER, &tpl.finish()),
            (T0 + 6, EXPORTER, &lost.finish()),
        ]),
    );
    let (recs, diag) = records_of(p);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].loc.at.frame, 1,
        "decoded when the template came, located where it was"
    );
    let e = diag.entries();
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].0, e[0].1, e[0].2.first.frame),
        (SkipReason::NoTemplate, 999, 3)
    );
}

#[test]
fn templates_are_scoped_per_exporter_and_domain_and_can_be_withdrawn() {
    let ms = u64::from(T0) * 1000;
    // Exporter A: template 256 = addresses first. Exporter B: template 256 = counters first.
    let mut a = ExportWriter::ipfix(T0, 1);
    ipfix_template(&mut a, 256);
    a.data(
        256,
        &[&ipfix_record([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, ms)],
    );
    let mut b = ExportWriter::ipfix(T0, 1);
    b.template(256, &[(2, 4, 0), (8, 4, 0), (12, 4, 0), (4, 1, 0)]);
    b.data(
        256,
        &[&[be(77, 4), vec![10, 9, 9, 9], vec![10, 8, 8, 8], vec![17]].concat()],
    );
    // A withdraws 256; its next data waits and is counted.
    let mut wd = ExportWriter::ipfix(T0 + 1, 1);
    wd.withdraw(256);
    wd.data(
        256,
        &[&ipfix_record([10, 0, 0, 3], [10, 0, 0, 4], 1, 2, ms)],
    );
    let d = Dir::new();
    let p = d.write(
        "scoped.pcap",
        &capture_of(&[
            (T0, EXPORTER, &a.finish()),
            (T0, [198, 51, 100, 2], &b.finish()),
            (T0 + 1, EXPORTER, &wd.finish()),
        ]),
    );
    let (recs, diag) = records_of(p);
    assert_eq!(recs.len(), 2);
    let from_b = recs
        .iter()
        .find(|r| r.routing().exporter == Some(ip([198, 51, 100, 2])))
        .unwrap();
    assert_eq!((from_b.src, from_b.fwd.pkts), (ip([10, 9, 9, 9]), 77));
    assert_eq!(diag.count(SkipReason::NoTemplate), 1);
}

#[test]
fn netflow_v9_times_options_sampling_and_nat_fields() {
    // Options: sampler 3 samples 1 in 100.
    let mut w = ExportWriter::v9(60_000, T0, 5);
    w.options_template(400, &[(1, 4, 0)], &[(48, 1, 0), (34, 4, 0)]);
    w.data(400, &[&[be(0, 4), vec![3], be(100, 4)].concat()]);
    w.template(
        260,
        &[
            (8, 4, 0),
            (12, 4, 0),
            (7, 2, 0),
            (11, 2, 0),
            (4, 1, 0),
            (2, 4, 0),
            (1, 4, 0),
            (22, 4, 0),
            (21, 4, 0),
            (48, 1, 0),
            (225, 4, 0),
            (227, 2, 0),
            (15, 4, 0),
            (18, 4, 0),
            (16, 4, 0),
            (17, 4, 0),
            (70, 3, 0),
            (71, 3, 0),
        ],
    );
    let rec = [
        vec![10, 0, 0, 7],
        vec![203, 0, 113, 80],
        be(33000, 2),
        be(80, 2),
        vec![6],
        be(4, 4),
        be(640, 4),
        be(59_000, 4),
        be(59_500, 4),
        vec![3],
        vec![192, 0, 2, 33],
        be(61000, 2),
        vec![192, 0, 2, 1],
        vec![192, 0, 2, 2],
        be(64501, 4),
        be(13335, 4),
        // Label 1000 (not bottom), label 2000 (bottom of stack).
        be(1000 << 4, 3),
        be((2000 << 4) | 1, 3),
    ]
    .concat();
    w.data(260, &[&rec]);
    let d = Dir::new();
    let p = d.write("v9.pcap", &capture_of(&[(T0, EXPORTER, &w.finish())]));
    let (recs, diag) = records_of(p);
    assert!(diag.is_empty(), "{:?}", diag.entries());
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.kind, RecordKind::NetflowV9);
    assert_eq!(
        r.start,
        Timestamp(i64::from(T0) * 1_000_000_000 - 1_000_000_000)
    );
    assert_eq!(r.end.since(r.start), 500_000_000);
    assert_eq!(r.sampling, Some(100));
    assert_eq!(r.routing().nat_src, Some((ip([192, 0, 2, 33]), 61000)));
    assert_eq!(r.routing().next_hop, Some(ip([192, 0, 2, 1])));
    assert_eq!(r.routing().bgp_next_hop, Some(ip([192, 0, 2, 2])));
    assert_eq!(
        (r.routing().src_as, r.routing().dst_as),
        (Some(64501), Some(13335))
    );
    assert_eq!(r.routing().mpls, vec![1000, 2000]);
    assert_eq!(r.routing().domain, Some(5));
    assert_eq!(
        r.loc.record, 2,
        "the options record is record 1 of the datagram"
    );
}

#[test]
fn the_two_directions_from_one_exporter_pair_into_one_row() {
    let fwd = V5Record::tcp([10, 0, 0, 1], 40000, [192, 0, 2, 9], 443);
    let mut rev = V5Record::tcp([192, 0, 2, 9], 443, [10, 0, 0, 1], 40000);
    rev.pkts = 8;
    rev.bytes = 9000;
    let d = Dir::new();
    let p = d.write(
        "pair.pcap",
        &capture_of(&[(T0, EXPORTER, &v5(10_000, T0, &[fwd, rev]))]),
    );
    let run = flows(&FlowsConfig::new(vec![p])).unwrap();
    assert_eq!(run.records.records.len(), 1);
    let r = &run.records.records[0];
    assert!(r.bidirectional && r.paired.is_some());
    assert_eq!((r.fwd.bytes, r.rev.bytes), (1000, 9000));
    assert_eq!(r.src, ip([10, 0, 0, 1]));
}

#[test]
fn raw_export_files_read_datagram_by_datagram_and_bad_bytes_are_counted() {
    let mut w = ExportWriter::ipfix(T0, 1);
    ipfix_template(&mut w, 256);
    w.data(
        256,
        &[&ipfix_record(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            1,
            2,
            u64::from(T0) * 1000,
        )],
    );
    let mut file = w.finish();
    file.extend(v5(
        1000,
        T0,
        &[V5Record::tcp([10, 0, 0, 5], 1, [10, 0, 0, 6], 2)],
    ));
    file.extend_from_slice(b"garbage!");
    let d = Dir::new();
    let p = d.write("exports.bin", &gzip(&file));
    let (recs, diag) = records_of(p);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].kind, RecordKind::NetflowV5);
    assert_eq!(recs[1].loc.at.frame, 2, "second datagram of the file");
    let e = diag.entries();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, SkipReason::BadExport);
    assert_eq!(e[0].2.first.frame, 3);
    assert_eq!(e[0].2.bytes, 8);
}

#[test]
fn template_and_exporter_floods_stay_bounded() {
    let limits = Limits {
        max_scopes: 4,
        max_templates: 8,
        ..Limits::default()
    };
    let mut c = Collector::new(limits);
    let mut out = Vec::new();
    let mut diag = hoptrace::model::Diagnostics::default();
    for i in 0..100u16 {
        let mut w = ExportWriter::ipfix(T0, u32::from(i % 10));
        w.template(256 + i, &[(8, 4, 0), (12, 4, 0)]);
        let e = Export {
            at: hoptrace::model::Locator {
                frame: u64::from(i) + 1,
                ..Default::default()
            },
            captured: None,
            exporter: Some((ip([10, 0, 0, (i % 7) as u8]), 9995)),
            bytes: w.finish(),
        };
        c.datagram(&e, &mut out, &mut diag);
    }
    assert!(diag.count(SkipReason::BadExport) > 0);
    let names: Vec<u32> = diag.entries().iter().map(|e| e.1).collect();
    assert!(names.contains(&hoptrace::records::netflow::bad::SCOPES_FULL));
}

#[test]
fn data_sets_wait_for_their_template_bounded_in_number_and_time() {
    let limits = Limits {
        max_pending: 3,
        pending_timeout: 600 * 1_000_000_000,
        ..Limits::default()
    };
    let mut c = Collector::new(limits);
    let mut out = Vec::new();
    let mut diag = hoptrace::model::Diagnostics::default();
    let ms = u64::from(T0) * 1000;
    let mut frame = 0u64;
    let mut send = |c: &mut Collector, out: &mut Vec<_>, diag: &mut _, w: ExportWriter| {
        frame += 1;
        c.datagram(&export_at(frame, EXPORTER, w), out, diag);
    };
    // Frames 1-4: data for template 300, one more than may wait: the first is counted.
    for i in 1..=4u8 {
        let mut w = ExportWriter::ipfix(T0, 1);
        w.data(
            300,
            &[&ipfix_record([10, 0, 0, i], [192, 0, 2, 9], 1, 2, ms)],
        );
        send(&mut c, &mut out, &mut diag, w);
    }
    // Frame 5: the template; the three waiting are decoded, in arrival order.
    let mut w = ExportWriter::ipfix(T0 + 10, 1);
    ipfix_template(&mut w, 300);
    send(&mut c, &mut out, &mut diag, w);
    // Frame 6: data for 301, then frame 7 exported 680 s later: 301's data waited past
    // the timeout and is counted; frame 7's own (for 302) waits.
    let mut w = ExportWriter::ipfix(T0 + 20, 1);
    w.data(
        301,
        &[&ipfix_record([10, 0, 0, 6], [192, 0, 2, 9], 1, 2, ms)],
    );
    send(&mut c, &mut out, &mut diag, w);
    let mut w = ExportWriter::ipfix(T0 + 700, 1);
    w.data(
        302,
        &[&ipfix_record([10, 0, 0, 7], [192, 0, 2, 9], 1, 2, ms)],
    );
    send(&mut c, &mut out, &mut diag, w);
    // Frame 8: templates 301 (nothing waits for it now) and 302.
    let mut w = ExportWriter::ipfix(T0 + 700, 1);
    ipfix_template(&mut w, 301);
    ipfix_template(&mut w, 302);
    send(&mut c, &mut out, &mut diag, w);
    c.finish(&mut diag);
    let got: Vec<(u64, Addr)> = out.iter().map(|r| (r.loc.at.frame, r.src)).collect();
    assert_eq!(
        got,
        [
            (2, ip([10, 0, 0, 2])),
            (3, ip([10, 0, 0, 3])),
            (4, ip([10, 0, 0, 4])),
            (7, ip([10, 0, 0, 7])),
        ]
    );
    let e = diag.entries();
    let lost: Vec<(u32, u64, u64)> = e
        .iter()
        .filter(|e| e.0 == SkipReason::NoTemplate)
        .map(|e| (e.1, e.2.count, e.2.first.frame))
        .collect();
    assert_eq!(lost, [(300, 1, 1), (301, 1, 6)]);
}

#[test]
fn sampling_intervals_are_kept_for_a_bounded_number_of_samplers() {
    use hoptrace::records::netflow::{MAX_SAMPLERS, bad};
    // IPFIX options data naming 5,000 selectors (8-byte IDs), 1,000 records a message.
    let mut c = Collector::new(Limits::default());
    let (mut out, mut diag) = (Vec::new(), hoptrace::model::Diagnostics::default());
    for m in 0..5u64 {
        let mut w = ExportWriter::ipfix(T0, 1);
        w.options_template(400, &[(149, 4, 0)], &[(302, 8, 0), (305, 4, 0)]);
        let recs: Vec<Vec<u8>> = (0..1000)
            .map(|i| [be(1, 4), be(m * 1000 + i, 8), be(100, 4)].concat())
            .collect();
        let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
        w.data(400, &refs);
        let e = Export {
            at: hoptrace::model::Locator {
                frame: m + 1,
                ..Default::default()
            },
            captured: None,
            exporter: Some((ip(EXPORTER), 4739)),
            bytes: w.finish(),
        };
        c.datagram(&e, &mut out, &mut diag);
    }
    let full: Vec<_> = diag
        .entries()
        .into_iter()
        .filter(|e| e.0 == SkipReason::BadExport)
        .collect();
    assert_eq!(full.len(), 1, "{full:?}");
    assert_eq!(full[0].1, bad::SAMPLERS_FULL);
    assert_eq!(full[0].2.count, (5000 - MAX_SAMPLERS) as u64);
    assert_eq!(full[0].2.bytes, 16 * (5000 - MAX_SAMPLERS) as u64);
    assert_eq!(full[0].2.first.frame, (MAX_SAMPLERS / 1000 + 1) as u64);
}

#[test]
fn random_bytes_never_panic_the_collector() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    runner
        .run(
            &proptest::collection::vec(any::<u8>(), 0..600),
            |mut bytes| {
                let mut c = Collector::new(Limits::default());
                let mut out = Vec::new();
                let mut diag = hoptrace::model::Diagnostics::default();
                for v in [5u8, 9, 10] {
                    if bytes.len() >= 2 {
                        bytes[0] = 0;
                        bytes[1] = v;
                    }
                    let e = Export {
                        at: Default::default(),
                        captured: None,
                        exporter: None,
                        bytes: bytes.clone(),
                    };
                    c.datagram(&e, &mut out, &mut diag);
                }
                c.finish(&mut diag);
                Ok(())
            },
        )
        .unwrap();
}

const ZEEK_TSV: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tcommunity_id\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tstring\n\
1700000000.250000\tCabc\t10.0.0.1\t40000\t192.0.2.9\t443\ttcp\tssl\t1.500000\t100\t2000\tSF\t-\t-\t0\tShADadFf\t6\t420\t5\t2260\t-\t1:wrong=\n\
1700000001.000000\tCdef\t10.0.0.1\t5353\t224.0.0.251\t5353\tudp\tdns\t-\t-\t-\tS0\t-\t-\t0\tD\t1\t73\t0\t0\t-\t-\n\
short line\n";

#[test]
fn zeek_and_vpc_logs_read_through_the_command_line_with_their_locators() {
    let d = Dir::new();
    let zeek = d.write("conn.log", ZEEK_TSV.as_bytes());
    let out = hoptrace(&["flows", zeek.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad line makes the run 'skipped input'"
    );
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["source"], "zeek-conn");
    assert_eq!(rows[0]["record"], "line 8");
    assert_eq!(rows[0]["history"], "ShADadFf");
    assert_eq!(rows[0]["conn_state"], "SF");
    assert_eq!(rows[0]["orig_bytes"], 420);
    assert_eq!(rows[0]["source_id"], "Cabc");
    assert!(
        rows[0]["status"]
            .as_str()
            .unwrap()
            .contains("community_id in log: 1:wrong=")
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("bad_log_line (wrong number of fields): 1 (first at line 10"),
        "{err}"
    );
    assert!(err.contains("zeek conn.log (tsv), 3 lines"), "{err}");

    let vpc = d.write(
        "vpc.log",
        b"2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n\
2 123456789010 eni-1 172.31.16.21 172.31.16.139 22 20641 6 18 5000 1418530010 1418530070 ACCEPT OK\n",
    );
    let out = hoptrace(&["flows", vpc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 2, "{t}");
    assert!(lines[1].contains(",aws-vpc,line 1 + line 2,paired,"), "{t}");
}

#[test]
fn one_table_holds_packet_flows_and_netflow_records_in_time_order() {
    let d = Dir::new();
    let mut c = Capture::new(Format::Pcap);
    let t = i64::from(T0) * 1_000_000_000;
    c.push(
        t - 9_000_000_000,
        &Pkt::tcp4(([10, 0, 0, 1], 40000), ([192, 0, 2, 9], 443), 0x02, b""),
    );
    c.push(
        t - 8_900_000_000,
        &Pkt::tcp4(([192, 0, 2, 9], 443), ([10, 0, 0, 1], 40000), 0x12, b""),
    );
    let pcap = d.write("traffic.pcap", &c.finish());
    let nf = d.write(
        "netflow.pcap",
        &capture_of(&[(
            T0,
            EXPORTER,
            &v5(
                10_000,
                T0,
                &[V5Record::tcp([10, 0, 0, 1], 40000, [192, 0, 2, 9], 443)],
            ),
        )]),
    );
    let run = flows(&FlowsConfig::new(vec![pcap, nf])).unwrap();
    let rows = hoptrace::report::flow_rows(&run);
    let sources: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.evidence.source, r.community_id.as_str()))
        .collect();
    // The packet flow (T0-9 s), the v5 record of the same connection (T0-9.5 s, earlier
    // by the exporter's clock) and the export datagram's own UDP flow (T0).
    assert_eq!(sources.len(), 3, "{sources:?}");
    assert_eq!(sources[0].0, "netflow-v5");
    assert_eq!(sources[1].0, "capture");
    assert_eq!(
        sources[0].1, sources[1].1,
        "same Community ID from both kinds of evidence"
    );
    assert_eq!(rows[2].dst_port, 2055);
    assert_eq!(rows[0].input, rows[2].input);
}

#[test]
fn forced_formats_and_vpc_field_lists_from_the_library() {
    let d = Dir::new();
    let log = d.write(
        "cwl.txt",
        b"3 eni-9 10.0.0.62 52.213.180.42 5001 43638 6 967 14 1566933133 1566933193 ACCEPT 19 OK\n",
    );
    let mut cfg = FlowsConfig::new(vec![log]);
    cfg.logs = LogOptions {
        vpc_fields: Some(
            "version interface-id srcaddr dstaddr srcport dstport protocol bytes packets start end action tcp-flags log-status"
                .split(' ')
                .map(str::to_string)
                .collect(),
        ),
        ..LogOptions::default()
    };
    let run = flows(&cfg).unwrap();
    assert_eq!(run.records.records.len(), 1);
    let r = &run.records.records[0];
    assert_eq!((r.fwd.bytes, r.fwd.pkts, r.fwd.tcp_flags), (967, 14, 19));
    assert_eq!(run.inputs[0].container, Some("aws vpc flow log"));
}

#[test]
fn every_log_format_is_told_by_its_content() {
    let d = Dir::new();
    let nfdump = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr\n\
2024-05-01 10:00:00,2024-05-01 10:00:01,1.000,10.0.0.1,10.0.0.2,40000,443,TCP,...AP.S.,0,0,5,500,0,0,1,2,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,192.0.2.1,0/0,0,2024-05-01 10:00:02.000\n\
Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n1,500,5,0,0,100\n";
    let argus = "StartTime,LastTime,SrcAddr,Sport,DstAddr,Dport,Proto,SrcPkts,DstPkts,SrcBytes,DstBytes,State\n\
1714557600.000000,1714557601.000000,10.0.0.1,40000,10.0.0.2,443,tcp,5,4,500,4000,FIN\n";
    let gcp = r#"{"insertId":"1","jsonPayload":{"bytes_sent":"500","connection":{"dest_ip":"10.0.0.2","dest_port":443,"protocol":6,"src_ip":"10.0.0.1","src_port":40000},"end_time":"2024-05-01T10:00:01Z","packets_sent":"5","reporter":"SRC","start_time":"2024-05-01T10:00:00Z"}}
"#;
    let azure = r#"{"records":[{"time":"2024-05-01T10:00:00Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"/x","properties":{"Version":2,"flows":[{"rule":"r","flows":[{"mac":"00","flowTuples":["1714557600,10.0.0.1,10.0.0.2,40000,443,T,O,A,E,5,500,4,4000"]}]}]}}]}"#;
    let zeek_json = "{\"ts\":1714557600.0,\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":40000,\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":443,\"proto\":\"tcp\",\"duration\":1.0,\"orig_pkts\":5,\"orig_ip_bytes\":500,\"resp_pkts\":4,\"resp_ip_bytes\":4000}\n";
    let files = [
        (
            "a.csv",
            nfdump.as_bytes().to_vec(),
            "nfdump-csv",
            "nfdump csv",
        ),
        (
            "b.csv",
            argus.as_bytes().to_vec(),
            "argus-csv",
            "argus ra csv",
        ),
        (
            "c.json",
            gcp.as_bytes().to_vec(),
            "gcp-vpc",
            "gcp vpc flow log (json)",
        ),
        (
            "d.json",
            azure.as_bytes().to_vec(),
            "azure-flow",
            "azure flow log (json)",
        ),
        (
            "e.json.gz",
            gzip(zeek_json.as_bytes()),
            "zeek-conn",
            "zeek conn.log (json)",
        ),
    ];
    for (name, bytes, source, container) in files {
        let p = d.write(name, &bytes);
        let run = flows(&FlowsConfig::new(vec![p])).unwrap();
        assert!(
            !run.skipped_input(),
            "{name}: {:?}",
            run.flows.diag.entries()
        );
        assert_eq!(run.inputs[0].container, Some(container), "{name}");
        let rows = hoptrace::report::flow_rows(&run);
        assert_eq!(rows.len(), 1, "{name}");
        let r = &rows[0];
        assert_eq!(r.evidence.source, source, "{name}");
        // The same connection from every format: the same Community ID.
        // (computed independently from the Community ID v1 definition)
        assert_eq!(r.community_id, "1:UWHKJ/x6OQ1YiVv4rIl0t3yhjg8=", "{name}");
        assert_eq!((r.src_ip.as_str(), r.dst_port), ("10.0.0.1", 443), "{name}");
    }
}

#[test]
fn text_logs_read_in_pieces_give_the_same_records_and_locators() {
    use hoptrace::records::{LogFormat, TextOptions, read_text_in_pieces};
    // Two concatenated Zeek logs (the second with another column order), bad lines, and
    // nfdump and VPC tables with headers, cut at every piece size.
    let second = "#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n\
1700000002.5\t10.0.0.9\t1\t10.0.0.8\t2\tudp\n\
1700000003.5\t10.0.0.9\t1\t10.0.0.8\t2\tudp\n";
    let zeek = format!("{ZEEK_TSV}{second}{ZEEK_TSV}");
    let vpc = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 60 1418530010 1418530070 ACCEPT OK\n\
2 1 eni-1 - - - - - - - 1431280876 1431280934 - NODATA\n\
oops\n\
2 1 eni-1 10.0.0.2 10.0.0.1 2 1 6 1 60 1418530010 1418530070 ACCEPT OK\n"
        .repeat(5);
    let o = TextOptions::default();
    for (format, data) in [
        (LogFormat::ZeekTsv, zeek.as_bytes()),
        (LogFormat::AwsVpc, vpc.as_bytes()),
    ] {
        let whole = read_text_in_pieces(0, data, format, &o, usize::MAX);
        let expect = if format == LogFormat::ZeekTsv { 6 } else { 10 };
        assert_eq!(whole.records.len(), expect, "{format:?}");
        for size in [1, 7, 50, 200, 333, 1000] {
            let cut = read_text_in_pieces(0, data, format, &o, size);
            assert_eq!(cut.records, whole.records, "{format:?} in pieces of {size}");
            assert_eq!(cut.diag, whole.diag, "{format:?} in pieces of {size}");
            assert_eq!(cut.units, whole.units);
        }
    }
}

#[test]
fn partial_tables_carry_flow_records_through_merge() {
    let d = Dir::new();
    let nf = d.write(
        "nf.pcap",
        &capture_of(&[(
            T0,
            EXPORTER,
            &v5(
                10_000,
                T0,
                &[
                    V5Record::tcp([10, 0, 0, 1], 40000, [192, 0, 2, 9], 443),
                    V5Record::tcp([192, 0, 2, 9], 443, [10, 0, 0, 1], 40000),
                ],
            ),
        )]),
    );
    let zeek = d.write("conn.log", ZEEK_TSV.as_bytes());
    let whole = hoptrace(&["flows", nf.to_str().unwrap(), zeek.to_str().unwrap(), "-q"]);
    let (pa, pb) = (d.path().join("a.htp"), d.path().join("b.htp"));
    for (input, part) in [(&nf, &pa), (&zeek, &pb)] {
        let out = hoptrace(&[
            "flows",
            input.to_str().unwrap(),
            "--partial",
            part.to_str().unwrap(),
            "-q",
        ]);
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{}",
            text(&out.stderr)
        );
    }
    let merged = hoptrace(&["merge", pa.to_str().unwrap(), pb.to_str().unwrap(), "-q"]);
    assert_eq!(text(&merged.stdout), text(&whole.stdout));
    assert!(
        text(&merged.stdout).contains(",netflow-v5,frame 1 record 1 + frame 1 record 2,paired,")
    );
    assert!(text(&merged.stdout).contains(",zeek-conn,line 8,bi,"));
}

#[test]
fn damaged_logs_never_panic_and_every_line_is_accounted_for() {
    use hoptrace::records::{LogFormat, TextOptions, read_text_in_pieces};
    use proptest::prelude::*;
    let seeds: [(LogFormat, &str); 3] = [
        (LogFormat::ZeekTsv, ZEEK_TSV),
        (
            LogFormat::AwsVpc,
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 60 1418530010 1418530070 ACCEPT OK\n",
        ),
        (
            LogFormat::ArgusCsv,
            "StartTime,LastTime,SrcAddr,Sport,DstAddr,Dport,Proto,SrcPkts,DstPkts,SrcBytes,DstBytes\n1.5,2.5,10.0.0.1,1,10.0.0.2,2,udp,1,1,60,60\n",
        ),
    ];
    let formats = [
        LogFormat::ZeekTsv,
        LogFormat::ZeekJson,
        LogFormat::AwsVpc,
        LogFormat::GcpJson,
        LogFormat::AzureJson,
        LogFormat::NfdumpCsv,
        LogFormat::ArgusCsv,
    ];
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    runner
        .run(
            &(
                0usize..3,
                proptest::collection::vec((any::<usize>(), any::<u8>()), 0..12),
                1usize..64,
            ),
            |(seed, edits, piece)| {
                let mut bytes = seeds[seed].1.as_bytes().to_vec();
                for (at, b) in edits {
                    let i = at % bytes.len();
                    bytes[i] = b;
                }
                for f in formats {
                    let r = read_text_in_pieces(0, &bytes, f, &TextOptions::default(), piece);
                    // Any reader on any damaged log: no panic, no record from nothing.
                    prop_assert!(r.records.len() as u64 <= r.units);
                }
                // Its own reader: every line that is not a header becomes a record or a
                // counted problem, however the log is cut into pieces.
                let r =
                    read_text_in_pieces(0, &bytes, seeds[seed].0, &TextOptions::default(), piece);
                let problems: u64 = r.diag.entries().iter().map(|e| e.2.count).sum();
                prop_assert_eq!(r.records.len() as u64 + problems, r.units);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn exporter_clocks_and_record_times_far_from_the_export_are_noted() {
    // Captured an hour after its export time, with a record that ended two days earlier
    // by the exporter's uptime.
    let mut old = V5Record::tcp([10, 0, 0, 1], 40000, [192, 0, 2, 9], 443);
    old.first_last = (1_000, 2_000);
    let d = Dir::new();
    let p = d.write(
        "skew.pcap",
        &capture_of(&[(T0 + 3600, EXPORTER, &v5(2 * 86_400_000 + 5_000, T0, &[old]))]),
    );
    let (recs, diag) = records_of(p);
    assert_eq!(recs.len(), 1, "the record is kept");
    assert!(!diag.has_problems(), "notes, not warnings");
    assert_eq!(diag.count(SkipReason::ExportClockSkew), 1);
    assert_eq!(diag.count(SkipReason::RecordTimeFarFromExport), 1);
    let e = diag.entries();
    assert!(
        e.iter()
            .any(|x| x.0 == SkipReason::ExportClockSkew && x.1 == 2),
        "behind"
    );
}

#[test]
fn every_cut_of_a_log_reads_as_one_pass_whatever_its_header_lines_do() {
    use hoptrace::records::{LogFormat, TextOptions, read_text_in_pieces};
    let zeek_row = "1700000002.5;10.0.0.9;1;10.0.0.8;2;udp\n";
    let cases: Vec<(LogFormat, Vec<u8>)> = vec![
        // The separator changes after the field list (which keeps the first one), and a
        // comment that only starts like a separator line.
        (
            LogFormat::ZeekTsv,
            format!(
                "#separator ;\n#fields;ts;id.orig_h;id.orig_p;id.resp_h;id.resp_p;proto\n{zeek_row}\
                 #separatorX\n{zeek_row}#separator ,\n{zeek_row}{zeek_row}"
            )
            .into_bytes(),
        ),
        // A default-format record with no header fixes the format for the lines after it.
        (
            LogFormat::AwsVpc,
            b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 60 1418530010 1418530070 ACCEPT OK\n\
              oops\n2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 60 1418530010 1418530070 ACCEPT OK\n\
              one two three\n"
                .to_vec(),
        ),
        // A header with leading blanks, then the summary, which lasts to the end.
        (
            LogFormat::NfdumpCsv,
            b"  ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt\n\
              2024-01-01 10:00:00,2024-01-01 10:00:01,1.000,10.0.0.1,10.0.0.2,1,2,TCP,......,0,0,1,60\n\
              Summary\nflows,bytes,packets\n7,420,7\n12,34,56\n"
                .to_vec(),
        ),
        // A header with bytes that are not UTF-8 in it, and one with a leading blank.
        (LogFormat::ArgusCsv, {
            let mut v = b"StartTime,LastTime,Proto,SrcAddr,Sport\xf9\x0c,Dir,DstAddr,Dport,TotPkts,TotBytes,State\n".to_vec();
            v.extend_from_slice(b"2024/01/01 10:00:00.000000,2024/01/01 10:00:01.000000,tcp,10.0.0.1,40000,->,10.0.0.2,443,5,500,FIN\n");
            v.extend_from_slice(b" StartTime,SrcAddr,DstAddr,Proto\n2024/01/01 10:00:00.5,10.0.0.1,10.0.0.2,udp\n");
            v
        }),
    ];
    let o = TextOptions::default();
    for (format, data) in &cases {
        let whole = read_text_in_pieces(0, data, *format, &o, usize::MAX);
        assert!(!whole.records.is_empty(), "{format:?}");
        for size in 1..=data.len() {
            let cut = read_text_in_pieces(0, data, *format, &o, size);
            assert_eq!(cut.records, whole.records, "{format:?} in pieces of {size}");
            assert_eq!(cut.diag, whole.diag, "{format:?} in pieces of {size}");
            assert_eq!(cut.units, whole.units, "{format:?} in pieces of {size}");
            assert_eq!(cut.declared_rows, whole.declared_rows, "{format:?}");
        }
    }
}

/// The datagram `w` wrote, as IPFIX from `exporter` read at frame `frame` of no capture.
fn export_at(frame: u64, exporter: [u8; 4], w: ExportWriter) -> Export {
    Export {
        at: hoptrace::model::Locator {
            frame,
            ..Default::default()
        },
        captured: None,
        exporter: Some((ip(exporter), 4739)),
        bytes: w.finish(),
    }
}

#[test]
fn an_exporter_whose_templates_never_come_gives_up_its_own_waiting_sets_first() {
    // At most 10 data sets wait for their templates. Exporter 2's one set waits; exporter 1
    // then sends 50 for a template it never defines: past the bound its own oldest go (it
    // was the oldest set of all that went: exporter 2's, whose template came next).
    let mut c = Collector::new(Limits {
        max_pending: 10,
        ..Limits::default()
    });
    let (mut out, mut diag) = (Vec::new(), hoptrace::model::Diagnostics::default());
    let rec = ipfix_record([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 1_000);
    let mut w = ExportWriter::ipfix(T0, 1);
    w.data(256, &[&rec]);
    c.datagram(&export_at(1, [10, 0, 9, 2], w), &mut out, &mut diag);
    for frame in 2..52 {
        let mut w = ExportWriter::ipfix(T0, 1);
        w.data(300, &[&rec]);
        c.datagram(&export_at(frame, [10, 0, 9, 1], w), &mut out, &mut diag);
    }
    let mut w = ExportWriter::ipfix(T0, 1);
    ipfix_template(&mut w, 256);
    c.datagram(&export_at(52, [10, 0, 9, 2], w), &mut out, &mut diag);
    assert_eq!(out.len(), 1, "exporter 2's waiting set is read");
    c.finish(&mut diag);
    // Every one of exporter 1's 50 sets is counted, the first at frame 2.
    let no_template: Vec<_> = diag
        .entries()
        .iter()
        .filter(|e| e.0 == SkipReason::NoTemplate)
        .map(|e| (e.1, e.2.count, e.2.first.frame))
        .collect();
    assert_eq!(no_template, [(300, 50, 2)]);
}

#[test]
fn template_fields_are_bounded_across_exporters() {
    use hoptrace::records::netflow::bad;
    // Templates of 5 fields and `pad` padding fields; at most 100 fields held in all.
    let fields = |pad: usize| {
        let mut f = vec![(8, 4, 0), (12, 4, 0), (7, 2, 0), (11, 2, 0), (4, 1, 0)];
        f.extend(std::iter::repeat_n((210, 1, 0), pad));
        f
    };
    let record = |pad: usize| {
        [
            &[10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2, 6][..],
            &vec![0; pad],
        ]
        .concat()
    };
    let mut c = Collector::new(Limits {
        max_template_fields: 100,
        ..Limits::default()
    });
    let (mut out, mut diag) = (Vec::new(), hoptrace::model::Diagnostics::default());
    let mut frame = 0;
    let mut send =
        |c: &mut Collector, out: &mut Vec<_>, diag: &mut _, exporter: u8, w: ExportWriter| {
            frame += 1;
            c.datagram(&export_at(frame, [10, 0, 9, exporter], w), out, diag);
        };
    let full = |diag: &hoptrace::model::Diagnostics| {
        diag.entries()
            .iter()
            .filter(|e| e.0 == SkipReason::BadExport && e.1 == bad::TEMPLATE_FIELDS_FULL)
            .map(|e| (e.2.count, e.2.first.frame))
            .collect::<Vec<_>>()
    };
    // Two exporters' templates of 40 fields: 80 held. A third (frame 3) would pass 100.
    for (exporter, id) in [(1, 256), (2, 256), (1, 257)] {
        let mut w = ExportWriter::ipfix(T0, 1);
        w.template(id, &fields(35));
        send(&mut c, &mut out, &mut diag, exporter, w);
    }
    assert_eq!(full(&diag), [(1, 3)]);
    let mut w = ExportWriter::ipfix(T0, 1);
    w.data(257, &[&record(35)]).data(256, &[&record(35)]);
    send(&mut c, &mut out, &mut diag, 1, w);
    assert_eq!(out.len(), 1, "template 257 was refused: its data waits");
    // Exporter 2 withdraws its template: 257 fits now, and its waiting data is read.
    let mut w = ExportWriter::ipfix(T0, 1);
    w.withdraw(256);
    send(&mut c, &mut out, &mut diag, 2, w);
    let mut w = ExportWriter::ipfix(T0, 1);
    w.template(257, &fields(35));
    send(&mut c, &mut out, &mut diag, 1, w);
    assert_eq!(out.len(), 2);
    // Exporter 1 redefines 256 with 61 fields (101 held): refused, and the old definition
    // goes, so data in the new layout is not read with the old one.
    let mut w = ExportWriter::ipfix(T0, 1);
    w.template(256, &fields(56));
    send(&mut c, &mut out, &mut diag, 1, w);
    assert_eq!(full(&diag), [(2, 3)]);
    let mut w = ExportWriter::ipfix(T0, 1);
    w.data(256, &[&record(56)]);
    send(&mut c, &mut out, &mut diag, 1, w);
    assert_eq!(out.len(), 2, "the data waits for a template");
    // 60 fields fit beside 257's 40: the waiting data is read, then the next.
    let mut w = ExportWriter::ipfix(T0, 1);
    w.template(256, &fields(55));
    send(&mut c, &mut out, &mut diag, 1, w);
    assert_eq!(full(&diag), [(2, 3)]);
    assert_eq!(out.len(), 3);
    let mut w = ExportWriter::ipfix(T0, 1);
    w.data(256, &[&record(55)]);
    send(&mut c, &mut out, &mut diag, 1, w);
    assert_eq!(out.len(), 4);
}
