//! Resource bounds: what passes each one is counted under its reason, the rest of the
//! evidence is still read, and the run says it skipped input.

use crate::support::{Dir, hoptrace, run_files, text};
use hoptrace::model::SkipReason;
use hoptrace::synth::pkt::{self, Ip4, Pkt, num};
use hoptrace::synth::{Capture, Format};
use hoptrace::{FlowsConfig, flows};

const C: [u8; 4] = [192, 0, 2, 1];
const S: [u8; 4] = [198, 51, 100, 2];
const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SEC;

fn capture(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut c = Capture::new(Format::Pcap);
    for (i, f) in frames.iter().enumerate() {
        c.push(T0 + i as i64 * 1000, f);
    }
    c.finish()
}

/// A later fragment (offset 1480) of datagram `id`: its first fragment never comes.
fn orphan(id: u16) -> Vec<u8> {
    let mut ip = Ip4::new(C, S, num::UDP);
    ip.id = id;
    ip.frag_offset = 1480;
    ip.more = false;
    pkt::eth(num::IPV4, &ip.build(&[0x42; 64]))
}

fn run_with(path: &std::path::Path, set: impl FnOnce(&mut FlowsConfig)) -> hoptrace::FlowRun {
    let mut cfg = FlowsConfig::new(vec![path.to_path_buf()]);
    set(&mut cfg);
    flows(&cfg).expect("run starts")
}

fn packets(run: &hoptrace::FlowRun) -> u64 {
    run.flows.flows.iter().map(hoptrace::flow::Flow::pkts).sum()
}

#[test]
fn fragments_past_the_bound_close_records_early_and_every_fragment_is_still_counted() {
    let frames: Vec<Vec<u8>> = (0..2000).map(orphan).collect();
    let d = Dir::new();
    let p = d.write("frags.pcap", &capture(&frames));
    let free = run_files(std::slice::from_ref(&p));
    assert_eq!(free.flows.diag.count(SkipReason::FragmentLimit), 0);
    assert_eq!(
        free.flows.diag.count(SkipReason::FragmentWithoutFirst),
        2000
    );
    assert!(!free.skipped_input());
    let bounded = run_with(&p, |c| c.flow.max_fragments = 64);
    let limited = bounded.flows.diag.count(SkipReason::FragmentLimit);
    assert!(limited >= 1000, "{limited} records closed early");
    // Nothing is lost: every fragment is on a flow, as without the bound.
    assert_eq!(packets(&bounded), 2000);
    assert_eq!(packets(&free), 2000);
    assert_eq!(
        bounded.flows.diag.count(SkipReason::FragmentWithoutFirst),
        2000
    );
    assert!(bounded.skipped_input());
}

#[test]
fn a_flood_of_fragments_of_one_datagram_stays_small_and_linear() {
    // 30,000 overlapping fragments of one id: each costs a binary search in the merged
    // ranges, and the waiting packets are bounded by the fragment bound.
    let frames: Vec<Vec<u8>> = (0..30_000u32)
        .map(|i| {
            let mut ip = Ip4::new(C, S, num::UDP);
            ip.id = 77;
            ip.frag_offset = 8 + (i % 4000) as u16 * 8;
            ip.more = true;
            pkt::eth(num::IPV4, &ip.build(&[1; 16]))
        })
        .collect();
    let d = Dir::new();
    let p = d.write("flood.pcap", &capture(&frames));
    let run = run_with(&p, |c| c.flow.max_fragments = 10_000);
    assert_eq!(packets(&run), 30_000);
    assert!(run.flows.diag.count(SkipReason::FragmentLimit) >= 2);
    assert!(run.flows.diag.count(SkipReason::FragmentOverlap) >= 1);
}

#[test]
fn orphan_fragments_open_across_chunk_edges_are_all_counted() {
    // 60,000 later fragments of distinct datagrams, none completed: every chunk's records
    // are still open when its table is appended (a scan per record made this quadratic:
    // 100,000 took 12 s). Every fragment is counted, whatever the chunks.
    let frames: Vec<Vec<u8>> = (0..60_000u32)
        .map(|i| {
            let mut ip = Ip4::new(
                [10, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8],
                S,
                num::UDP,
            );
            ip.id = i as u16;
            ip.frag_offset = 1480;
            ip.more = false;
            pkt::eth(num::IPV4, &ip.build(&[0x42; 16]))
        })
        .collect();
    let d = Dir::new();
    let p = d.write("orphans.pcap", &capture(&frames));
    for (threads, chunk) in [(1, 1 << 30), (2, 256 * 1024)] {
        let run = run_with(&p, |c| {
            c.threads = threads;
            c.chunk_bytes = chunk;
        });
        assert_eq!(
            packets(&run),
            60_000,
            "{threads} threads, {chunk}-byte chunks"
        );
        assert_eq!(
            run.flows.diag.count(SkipReason::FragmentWithoutFirst),
            60_000
        );
    }
}

/// `n` packets of one inner UDP conversation, each in VXLAN from its own outer source
/// port: one chain per packet.
fn many_chains(n: u16) -> Vec<Vec<u8>> {
    let inner = Pkt::udp4(([10, 0, 0, 1], 1000), ([10, 0, 0, 2], 2000), b"data");
    (0..n)
        .map(|i| Pkt::udp4((C, 20_000 + i), (S, 4789), &pkt::vxlan(7, &inner)))
        .collect()
}

#[test]
fn a_flow_seen_through_many_chains_lists_the_first_and_says_there_were_more() {
    let d = Dir::new();
    let p = d.write("chains.pcap", &capture(&many_chains(3000)));
    let one = run_with(&p, |c| {
        c.threads = 1;
        c.chunk_bytes = 1 << 30;
    });
    let inner = one
        .flows
        .flows
        .iter()
        .find(|f| f.pkts() == 3000)
        .expect("the inner flow");
    assert!(inner.chains.unlisted);
    assert_eq!(inner.chains.more.len() + 1, hoptrace::flow::MAX_FLOW_CHAINS);
    // Every packet is counted, and each carrier is a flow of its own.
    assert_eq!(packets(&one), 6000);
    assert_eq!(one.flows.flows.len(), 3001);
    let mut csv = Vec::new();
    hoptrace::report::write_flows(&one, hoptrace::report::TableFormat::Csv, &mut csv).unwrap();
    let csv = text(&csv);
    let row = csv
        .lines()
        .find(|l| l.contains(",3000,"))
        .expect("the inner row");
    assert!(
        row.contains("vxlan:192.0.2.1:20000-198.51.100.2:4789;vni=7 | "),
        "{row}"
    );
    assert!(
        row.contains(";vni=7 | (more chains, not listed)\""),
        "{row}"
    );
    assert!(!row.contains(":20032-"), "{row}");
    assert_eq!(
        row.matches("vxlan:").count(),
        hoptrace::flow::MAX_FLOW_CHAINS
    );
    // The chains listed are the first in capture order whatever the chunks and threads.
    for (threads, chunk) in [(2, 4096), (3, 20_000), (2, 64 * 1024)] {
        let run = run_with(&p, |c| {
            c.threads = threads;
            c.chunk_bytes = chunk;
        });
        let mut got = Vec::new();
        hoptrace::report::write_flows(&run, hoptrace::report::TableFormat::Csv, &mut got).unwrap();
        assert!(text(&got) == csv, "{threads} threads, {chunk}-byte chunks");
    }
}

/// A raw-IP capture of one TCP SYN inside `tunnels` IP-in-IP layers, each with its own
/// addresses.
fn nested(d: &Dir, name: &str, tunnels: u8) -> std::path::PathBuf {
    let mut p = Pkt::tcp4_ip((C, 40000), (S, 443), hoptrace::flow::tcp::SYN, b"");
    for i in 0..tunnels {
        p = pkt::ipv4([10, 0, i, 1], [10, 0, i, 2], 4, &p);
    }
    let mut c = Capture::with_link(Format::Pcap, 101);
    c.push(T0, &p);
    d.write(name, &c.finish())
}

#[test]
fn tunnel_depth_follows_the_bound() {
    let d = Dir::new();
    let path = nested(&d, "deep.pcap", 3);
    // Four IP layers: within the default.
    let run = run_files(std::slice::from_ref(&path));
    assert_eq!(run.flows.diag.count(SkipReason::TunnelTooDeep), 0);
    assert_eq!(run.flows.flows.len(), 4);
    let run = run_with(&path, |c| c.max_ip_layers = 2);
    assert_eq!(run.flows.diag.count(SkipReason::TunnelTooDeep), 1);
    assert_eq!(
        run.flows.flows.len(),
        2,
        "the outer two layers are still flows"
    );
    assert!(run.skipped_input());
    // Deeper than the default, within the largest bound.
    let path = nested(&d, "deeper.pcap", 11);
    let run = run_files(std::slice::from_ref(&path));
    assert_eq!(run.flows.diag.count(SkipReason::TunnelTooDeep), 1);
    let run = run_with(&path, |c| c.max_ip_layers = 16);
    assert_eq!(run.flows.diag.count(SkipReason::TunnelTooDeep), 0);
    assert_eq!(run.flows.flows.len(), 12);
}

/// A pcap of `n` records of 65,535 zero bytes: compresses thousands of times.
fn zero_capture(n: usize) -> Vec<u8> {
    let mut c = Capture::new(Format::Pcap);
    let frame = vec![0u8; 65_535];
    for i in 0..n {
        c.push(T0 + i as i64, &frame);
    }
    c.finish()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(b, 19).expect("zstd")
}

#[test]
fn a_decompression_bomb_stops_at_the_ratio_bound_and_is_counted() {
    let raw = zero_capture(1100); // 72 MB
    let packed = zstd(&raw);
    assert!(raw.len() as u64 > 1000 * packed.len() as u64 + (64 << 20) / 2);
    let d = Dir::new();
    let p = d.write("bomb.pcap.zst", &packed);
    let run = run_files(std::slice::from_ref(&p));
    assert_eq!(run.flows.diag.count(SkipReason::DecompressionLimit), 1);
    let input = &run.inputs[0];
    let err = input
        .error
        .as_deref()
        .expect("the input says why it stopped");
    assert!(err.contains("--max-decompression-ratio"), "{err}");
    assert!(err.contains("bomb.pcap.zst"), "{err}");
    assert!(
        input.bytes <= (64 << 20) + (16 << 20),
        "{} bytes read",
        input.bytes
    );
    assert!(
        input.frames < 1100 && input.frames > 900,
        "{}",
        input.frames
    );
    assert!(run.skipped_input());
    // Without the bound, every record.
    let run = run_with(&p, |c| c.max_decompression_ratio = 0);
    assert_eq!(run.inputs[0].frames, 1100);
    assert!(run.inputs[0].error.is_none());
    assert_eq!(run.flows.diag.count(SkipReason::DecompressionLimit), 0);
}

const ZEEK_HEAD: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n\
#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\t\
proto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\t\
missed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\t\
bool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n";

const ZEEK_LINE: &str = "1700000000.000000\tCabc\t192.0.2.1\t40000\t198.51.100.2\t443\ttcp\t-\t\
1.0\t10\t20\tSF\t-\t-\t0\tShADadFf\t5\t210\t4\t180\t-\n";

#[test]
fn a_compressed_flow_log_bomb_keeps_what_came_before_the_bound() {
    let mut log = String::from(ZEEK_HEAD);
    log.push_str(ZEEK_LINE);
    // Then 70 MB of 64 KiB comment lines: read quickly, compress thousands of times.
    let blank = format!("#{}\n", " ".repeat(65_534));
    let mut bytes = log.into_bytes();
    for _ in 0..1100 {
        bytes.extend_from_slice(blank.as_bytes());
    }
    bytes.extend_from_slice(ZEEK_LINE.as_bytes());
    let d = Dir::new();
    let p = d.write("conn.log.zst", &zstd(&bytes));
    let run = run_files(std::slice::from_ref(&p));
    assert_eq!(
        run.records.records.len(),
        1,
        "the line before the bound is read"
    );
    assert_eq!(run.flows.diag.count(SkipReason::DecompressionLimit), 1);
    let err = run.inputs[0]
        .error
        .as_deref()
        .expect("the input says why it stopped");
    assert!(err.contains("--max-decompression-ratio"), "{err}");
    assert!(run.skipped_input());
    let run = run_with(&p, |c| c.max_decompression_ratio = 0);
    assert_eq!(run.records.records.len(), 2);
    assert!(!run.skipped_input());
}

#[test]
fn flow_log_lines_past_the_line_bound_are_counted_and_the_rest_read() {
    let mut log = String::from(ZEEK_HEAD);
    log.push_str(ZEEK_LINE);
    log.push_str(&format!("{}\t{}\n", ZEEK_LINE.trim_end(), "x".repeat(5000)));
    log.push_str(ZEEK_LINE);
    let d = Dir::new();
    let p = d.write("conn.log", log.as_bytes());
    let run = run_with(&p, |c| c.logs.max_line_bytes = 4096);
    assert_eq!(run.flows.diag.count(SkipReason::LineTooLong), 1);
    assert_eq!(run.records.records.len(), 2);
    assert!(run.skipped_input());
    // The default bound (1 MiB) lets it through, to be judged on its fields.
    let run = run_files(std::slice::from_ref(&p));
    assert_eq!(run.flows.diag.count(SkipReason::LineTooLong), 0);
}

#[test]
fn the_bounds_are_flags_of_flows_and_trace() {
    let frames: Vec<Vec<u8>> = (0..300).map(orphan).collect();
    let d = Dir::new();
    let p = d.write("frags.pcap", &capture(&frames));
    let out = d.path().join("f.csv");
    let o = hoptrace(&[
        "flows",
        p.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--max-fragments",
        "16",
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("fragment_limit"), "{err}");
    let o = hoptrace(&["flows", p.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for bad in [["--max-ip-layers", "0"], ["--max-ip-layers", "17"]] {
        let o = hoptrace(&["flows", p.to_str().unwrap(), bad[0], bad[1]]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
    let o = hoptrace(&[
        "trace",
        p.to_str().unwrap(),
        "--party",
        "DE",
        "--ip",
        "192.0.2.1",
        "--max-fragments",
        "16",
        "--max-line-bytes",
        "100",
        "--max-decompression-ratio",
        "50",
        "--max-ip-layers",
        "4",
    ]);
    assert_ne!(o.status.code(), Some(2), "{}", text(&o.stderr));
}
