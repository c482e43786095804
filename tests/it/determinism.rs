//! Same input, same bytes out: whatever the thread count, chunk size, read mode,
//! compression, or whether rows are encoded in parallel.

use crate::support::Dir;
use hoptrace::ingest::ReadMode;
use hoptrace::report::TableFormat;
use hoptrace::synth::{BigCapture, Format, gzip, pzstd, zstd};
use hoptrace::{FlowRun, FlowsConfig, flows};

fn big(format: Format) -> (Vec<u8>, hoptrace::synth::BigStats) {
    let mut out = Vec::new();
    let g = BigCapture {
        packets: 40_000,
        concurrency: 300,
        format,
        ..BigCapture::default()
    };
    let stats = g.write_to(&mut out).unwrap();
    (out, stats)
}

fn table(run: &FlowRun, format: TableFormat) -> Vec<u8> {
    let mut out = Vec::new();
    hoptrace::report::write_flows(run, format, &mut out).unwrap();
    out
}

fn run(path: &std::path::Path, threads: usize, chunk: usize, mode: ReadMode) -> FlowRun {
    let mut cfg = FlowsConfig::new(vec![path.to_path_buf()]);
    cfg.threads = threads;
    cfg.chunk_bytes = chunk;
    cfg.read_mode = mode;
    flows(&cfg).unwrap()
}

#[test]
fn the_table_is_the_same_for_any_thread_count_chunk_size_and_read_mode() {
    let (bytes, stats) = big(Format::Pcap);
    let d = Dir::new();
    let p = d.write("big.pcap", &bytes);
    let reference = run(&p, 1, 1 << 30, ReadMode::Read);
    assert_eq!(reference.flows.flows.len() as u64, stats.flows);
    assert_eq!(reference.inputs[0].frames, stats.packets);
    let expect = table(&reference, TableFormat::Csv);
    for (threads, chunk, mode) in [
        (2, 64 * 1024, ReadMode::Read),
        (4, 200 * 1024, ReadMode::Read),
        (3, 64 * 1024, ReadMode::Mmap),
        (1, 1 << 20, ReadMode::Mmap),
        // Hundreds of chunks on more threads than cores: they finish in whatever order the
        // scheduler gives and are appended in input order.
        (8, 16 * 1024, ReadMode::Read),
        (7, 12 * 1024, ReadMode::Mmap),
        // Chunks smaller than a record: most hold no record's start.
        (3, 700, ReadMode::Read),
        (2, 97, ReadMode::Mmap),
    ] {
        let got = table(&run(&p, threads, chunk, mode), TableFormat::Csv);
        assert!(
            got == expect,
            "{threads} threads, {chunk}-byte chunks, {mode:?}: the table differs"
        );
    }
}

#[test]
fn compressed_copies_give_the_same_table() {
    let (bytes, _) = big(Format::Pcap);
    let d = Dir::new();
    let plain = d.write("big.pcap", &bytes);
    let gz = d.write("big.pcap.gz", &gzip(&bytes));
    let zs = d.write("big.pcap.zst", &zstd(&bytes));
    let strip = |t: Vec<u8>, name: &str| String::from_utf8(t).unwrap().replace(name, "INPUT");
    let p = plain.to_string_lossy().to_string();
    let expect = strip(
        table(&run(&plain, 2, 1 << 20, ReadMode::Read), TableFormat::Csv),
        &p,
    );
    for (f, threads, chunk) in [
        (&gz, 2, 256 * 1024),
        (&zs, 2, 256 * 1024),
        (&gz, 8, 16 * 1024),
        (&zs, 6, 24 * 1024),
        (&gz, 3, 900),
    ] {
        let n = f.to_string_lossy().to_string();
        let got = strip(
            table(&run(f, threads, chunk, ReadMode::Read), TableFormat::Csv),
            &n,
        );
        assert!(
            got == expect,
            "{n} ({threads} threads, {chunk}-byte chunks) differs from the plain file"
        );
    }
}

#[test]
fn pcapng_and_pcap_of_the_same_packets_give_the_same_flows() {
    let (a, _) = big(Format::Pcap);
    let (b, _) = big(Format::PcapNg);
    let d = Dir::new();
    let pa = d.write("a", &a);
    let pb = d.write("b", &b);
    let ra = run(&pa, 2, 128 * 1024, ReadMode::Read);
    let rb = run(&pb, 2, 128 * 1024, ReadMode::Read);
    // Only the byte offsets differ (pcapng records are longer).
    let key = |r: &FlowRun| -> Vec<String> {
        hoptrace::report::flow_rows(r)
            .into_iter()
            .map(|x| {
                format!(
                    "{} {} {} {} {}",
                    x.ts, x.community_id, x.orig_pkts, x.resp_pkts, x.first_frame
                )
            })
            .collect()
    };
    assert_eq!(key(&ra), key(&rb));
}

#[test]
fn parallel_row_encoding_writes_what_sequential_encoding_writes() {
    let (bytes, _) = big(Format::Pcap);
    let d = Dir::new();
    let p = d.write("big.pcap", &bytes);
    let r = run(&p, 2, 1 << 20, ReadMode::Read);
    for format in [TableFormat::Csv, TableFormat::Jsonl] {
        let mut par = Vec::new();
        hoptrace::pipeline::write_flows(&r, format, &mut par, 3).unwrap();
        assert!(par == table(&r, format), "{format:?}");
    }
}

/// 20,000 short flows spread over 200 s: most finish long before the capture ends.
fn long_capture() -> Vec<u8> {
    long_capture_part(0..20_000)
}

/// The DNS exchanges `range` of [`long_capture`].
fn long_capture_part(range: std::ops::Range<u32>) -> Vec<u8> {
    use hoptrace::synth::Capture;
    use hoptrace::synth::pkt::Pkt;
    let mut c = Capture::new(Format::Pcap);
    for i in range {
        let a = ([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 5000);
        let t = i64::from(i) * 10_000_000;
        c.push(t, &Pkt::udp4(a, ([192, 0, 2, 53], 53), b"query"));
        c.push(t + 1000, &Pkt::udp4(([192, 0, 2, 53], 53), a, b"answer"));
    }
    c.finish()
}

#[test]
fn spilling_finished_flows_to_disk_gives_the_same_table() {
    let d = Dir::new();
    let p = d.write("long.pcap", &long_capture());
    let spill_dir = d.path().join("spill");
    std::fs::create_dir(&spill_dir).unwrap();
    let mut cfg = FlowsConfig::new(vec![p]);
    cfg.chunk_bytes = 64 * 1024;
    let in_memory = flows(&cfg).unwrap();
    cfg.spill = Some(hoptrace::pipeline::SpillConfig {
        dir: spill_dir.clone(),
        max_flows: 500,
    });
    let spilled = flows(&cfg).unwrap();
    assert!(spilled.spilled.runs() > 1, "nothing was spilled");
    assert!(spilled.flows.flows.len() < 10_000);
    assert_eq!(spilled.flow_count(), 20_000);
    for format in [TableFormat::Csv, TableFormat::Jsonl] {
        let mut a = Vec::new();
        let mut b = Vec::new();
        hoptrace::pipeline::write_flows(&in_memory, format, &mut a, 2).unwrap();
        hoptrace::pipeline::write_flows(&spilled, format, &mut b, 2).unwrap();
        assert!(a == b, "{format:?}: spilled output differs");
    }
    drop(spilled);
    assert_eq!(
        std::fs::read_dir(&spill_dir).unwrap().count(),
        0,
        "run files are removed"
    );
}

/// 40,000 short flows over 400 s, every other one inside VXLAN with an outer source port
/// of its own each way (VXLAN derives it from the inner flow): one encapsulation chain per
/// direction of each tunnelled flow.
fn long_tunnelled_capture() -> Vec<u8> {
    use hoptrace::synth::Capture;
    use hoptrace::synth::pkt::{Pkt, vxlan};
    let (vtep_a, vtep_b) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let server = ([198, 51, 100, 53], 53);
    let mut c = Capture::new(Format::Pcap);
    for i in 0..40_000u32 {
        let a = ([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 5000);
        let t = i64::from(i) * 10_000_000;
        let query = Pkt::udp4(a, server, b"query");
        let answer = Pkt::udp4(server, a, b"answer");
        if i % 2 == 0 {
            c.push(t, &query);
            c.push(t + 1000, &answer);
        } else {
            let port = 10_000 + (i % 50_000) as u16;
            c.push(
                t,
                &Pkt::udp4((vtep_a, port), (vtep_b, 4789), &vxlan(7, &query)),
            );
            c.push(
                t + 1000,
                &Pkt::udp4((vtep_b, port + 1), (vtep_a, 4789), &vxlan(7, &answer)),
            );
        }
    }
    c.finish()
}

#[test]
fn spilled_flows_take_their_tunnels_with_them_and_the_table_forgets_them() {
    let d = Dir::new();
    let p = d.write("long.pcap", &long_tunnelled_capture());
    let spill_dir = d.path().join("spill");
    std::fs::create_dir(&spill_dir).unwrap();
    let mut cfg = FlowsConfig::new(vec![p]);
    cfg.chunk_bytes = 256 * 1024;
    let in_memory = flows(&cfg).unwrap();
    cfg.spill = Some(hoptrace::pipeline::SpillConfig {
        dir: spill_dir,
        max_flows: 2000,
    });
    let spilled = flows(&cfg).unwrap();
    assert!(spilled.spilled.runs() > 1, "nothing was spilled");
    // One chain per direction of each tunnelled flow when everything stays in memory; only
    // those of the flows still held after spilling (about 6,000 flows are live at a time,
    // above the bound: spilling waits until a quarter of those held are closed).
    assert!(in_memory.flows.chains.len() > 40_000);
    let (chains, held) = (spilled.flows.chains.len(), spilled.flows.flows.len());
    assert!(
        chains <= 2 * held + 1 && chains < 20_000,
        "{chains} chains held for {held} flows"
    );
    assert_eq!(spilled.flow_count(), in_memory.flow_count());
    // One thread writes windows of 32,768 rows: the 60,000 flows (40,000 inner, 20,000
    // outer) take two, and the runs' next flows carry their chains from one to the next.
    for table in same_tables(&in_memory, &spilled) {
        let text = String::from_utf8(table).unwrap();
        assert!(text.contains("vxlan"), "the tunnels are in the table");
    }
}

/// Writes both runs' tables with one and two threads, as CSV and JSON lines, checks they
/// are the same and returns the first run's.
fn same_tables(a: &FlowRun, b: &FlowRun) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for threads in [1, 2] {
        for format in [TableFormat::Csv, TableFormat::Jsonl] {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            hoptrace::pipeline::write_flows(a, format, &mut x, threads).unwrap();
            hoptrace::pipeline::write_flows(b, format, &mut y, threads).unwrap();
            assert!(x == y, "{format:?}, {threads} threads: the tables differ");
            out.push(x);
        }
    }
    out
}

#[test]
fn a_bound_below_the_live_flows_spills_in_few_runs_not_one_per_chunk() {
    // Short-lived traffic (support::short_lived_traffic): most flows finish while the
    // capture is read, but more than the bound of 100 are live at any time. Spilling after
    // every chunk, as it was, wrote a run file per chunk (398) and went through every flow
    // held each time; spilling now waits until a quarter of the flows held are closed.
    let d = Dir::new();
    let (cap, mut cfg) = crate::support::short_lived_traffic();
    cfg.inputs = vec![d.write("big.pcap", &cap)];
    let spill_dir = d.path().join("spill");
    std::fs::create_dir(&spill_dir).unwrap();
    let in_memory = flows(&cfg).unwrap();
    cfg.spill = Some(hoptrace::pipeline::SpillConfig {
        dir: spill_dir.clone(),
        max_flows: 100,
    });
    let spilled = flows(&cfg).unwrap();
    let (runs, held, total) = (
        spilled.spilled.runs_written(),
        spilled.flows.flows.len() as u64,
        spilled.flow_count(),
    );
    // 398 runs before; 77 now.
    assert!((2..100).contains(&runs), "{runs} runs written");
    // Runs of one level are merged 64 at a time: 77 are one merged run and 13.
    let files = spilled.spilled.runs();
    assert!(
        runs > 64 && files < 20,
        "{runs} runs written, {files} files"
    );
    assert_eq!(std::fs::read_dir(&spill_dir).unwrap().count(), files);
    assert!(held * 2 < total, "{held} of {total} flows held at the end");
    let mut a = Vec::new();
    let mut b = Vec::new();
    hoptrace::pipeline::write_flows(&in_memory, TableFormat::Csv, &mut a, 2).unwrap();
    hoptrace::pipeline::write_flows(&spilled, TableFormat::Csv, &mut b, 2).unwrap();
    assert!(a == b, "spilled output differs");
}

#[test]
fn merging_partial_tables_past_the_bound_spills_and_gives_the_one_run_table() {
    // The long capture in three parts and the VPC log, each read by its own run into a
    // partial table and saved, then merged with a bound of 500 flows and records: about
    // 6,000 flows are live at a time (UDP's 60 s idle timeout, one exchange every 10 ms),
    // so flows are spilled as parts are appended, and the log's records set aside.
    let d = Dir::new();
    let files = vec![
        d.write("a.pcap", &long_capture_part(0..7000)),
        d.write("b.pcap", &long_capture_part(7000..14_000)),
        d.write("c.pcap", &long_capture_part(14_000..20_000)),
        d.write("vpc.log", &vpc_log()),
    ];
    let one = flows(&FlowsConfig::new(files.clone())).unwrap();
    let spill_dir = d.path().join("spill");
    std::fs::create_dir(&spill_dir).unwrap();
    let sp = hoptrace::pipeline::SpillConfig {
        dir: spill_dir.clone(),
        max_flows: 500,
    };
    let mut spilled = hoptrace::pipeline::Spilled::default();
    let mut acc: Option<hoptrace::PartialRun> = None;
    for (i, f) in files.iter().enumerate() {
        let mut buf = Vec::new();
        hoptrace::partial(&FlowsConfig::new(vec![f.clone()]))
            .unwrap()
            .save(&mut buf)
            .unwrap();
        let part = hoptrace::PartialRun::load(&d.write(&format!("{i}.htp"), &buf)).unwrap();
        let acc = match &mut acc {
            None => acc.insert(part),
            Some(acc) => {
                acc.append(part).unwrap();
                acc
            }
        };
        acc.bound(&mut spilled, &sp).unwrap();
    }
    let merged = acc.unwrap().finish_spilled(spilled, Some(&sp)).unwrap();
    assert!(merged.spilled.runs() > 0, "nothing was spilled");
    assert!(
        merged.flows.flows.len() < 15_000,
        "{}",
        merged.flows.flows.len()
    );
    // 6,000 conversations, 4,000 of them two one-way records paired from the files.
    assert_eq!(merged.spilled.records().len(), 6000);
    assert_eq!(merged.spilled.records().paired(), 4000);
    assert_eq!(merged.flow_count(), one.flow_count());
    same_tables(&one, &merged);
    assert_eq!(
        hoptrace::report::summary_text(&merged),
        hoptrace::report::summary_text(&one)
    );
    drop(merged);
    assert_eq!(std::fs::read_dir(&spill_dir).unwrap().count(), 0);
}

/// A VPC flow log of 6,000 conversations over 200 s: every conversation's first direction
/// in time order, then the other direction of two in three of them, last first (so that a
/// record and the one it pairs with are read far apart), and a NODATA line.
fn vpc_log() -> Vec<u8> {
    let mut s = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    let line = |s: &mut String, a: &str, ap: u32, b: &str, bp: u32, t: u32| {
        s.push_str(&format!(
            "2 123456789010 eni-0a1 {a} {b} {ap} {bp} 6 3 180 {t} {} ACCEPT OK\n",
            t + 1
        ));
    };
    let conv = |j: u32| {
        (
            format!("10.1.{}.{}", j >> 8, j & 255),
            40_000 + j % 1000,
            format!("203.0.113.{}", j % 200),
            443,
            j / 30,
        )
    };
    for j in 0..6000 {
        let (a, ap, b, bp, t) = conv(j);
        line(&mut s, &a, ap, &b, bp, t);
    }
    for j in (0..6000).rev().filter(|j| j % 3 != 0) {
        let (a, ap, b, bp, t) = conv(j);
        line(&mut s, &b, bp, &a, ap, t);
    }
    s.push_str("2 123456789010 eni-0a1 - - - - - - - 10 70 - NODATA\n");
    s.into_bytes()
}

#[test]
fn flow_records_past_the_bound_are_set_aside_and_written_as_one_pass_pairs_them() {
    let d = Dir::new();
    let pcap = d.write("long.pcap", &long_capture());
    let log = d.write("vpc.log", &vpc_log());
    // 4,000 NetFlow v9 records in raw datagrams: set aside datagram by datagram.
    let mut raw = Vec::new();
    hoptrace::synth::netflow::BigExport {
        records: 4000,
        ..Default::default()
    }
    .each(|_, b| raw.extend_from_slice(b));
    let nf = d.write("export.bin", &raw);
    let spill_dir = d.path().join("spill");
    std::fs::create_dir(&spill_dir).unwrap();
    let mut cfg = FlowsConfig::new(vec![pcap, log, nf]);
    let in_memory = flows(&cfg).unwrap();
    cfg.spill = Some(hoptrace::pipeline::SpillConfig {
        dir: spill_dir.clone(),
        max_flows: 500,
    });
    // The 10,000-line log (about 900 KB) read 4 KiB at a time, four pieces at once: the
    // bound is checked after each piece, so the log is never held whole.
    cfg.threads = 2;
    cfg.logs.piece_bytes = 4096;
    let spilled = flows(&cfg).unwrap();
    let most = spilled.spilled.records().most_held();
    assert!((500..1000).contains(&most), "{most} records held at once");
    // The writer of in-memory runs refuses a run with records on disk, never writes part.
    let partial = hoptrace::report::write_flows(&spilled, TableFormat::Csv, &mut Vec::new());
    assert!(
        matches!(partial, Err(hoptrace::report::ReportError::SetAside)),
        "{partial:?}"
    );
    // 6,000 conversations (4,000 of them two one-way records paired) and 4,000 NetFlow
    // records; the NODATA line is a note, not a record.
    assert_eq!(in_memory.record_count(), 6000 + 4000);
    assert_eq!(spilled.record_count(), in_memory.record_count());
    assert!(
        spilled.records.records.is_empty(),
        "records stayed in memory"
    );
    assert_eq!(spilled.spilled.records().len(), 10_000);
    assert_eq!(spilled.spilled.records().paired(), 4000);
    assert_eq!(
        hoptrace::report::summary_text(&spilled),
        hoptrace::report::summary_text(&in_memory)
    );
    assert!(
        hoptrace::report::summary_text(&in_memory)
            .contains("(4000 of them two one-way records paired)"),
        "{}",
        hoptrace::report::summary_text(&in_memory)
    );
    for table in same_tables(&in_memory, &spilled) {
        // 20,000 flows and 10,000 records (and the CSV header).
        let rows = table.iter().filter(|&&c| c == b'\n').count();
        assert!(rows >= 30_000, "{rows} rows");
    }
    drop(spilled);
    assert_eq!(
        std::fs::read_dir(&spill_dir).unwrap().count(),
        0,
        "set-aside files are removed"
    );
}

/// An Azure document (which cannot be cut into pieces) is read a record at a time and its
/// tuples handed on in batches: with a bound of 500 records, at most a batch's worth more
/// are held, where the whole document's were before, and the table is the same.
#[test]
fn an_azure_document_is_held_a_batch_at_a_time() {
    let batch = hoptrace::records::cloud::AZURE_BATCH;
    let (records, tuples) = (20, 600);
    let recs: Vec<String> = (0..records)
        .map(|r| {
            let t: Vec<String> = (0..tuples)
                .map(|i| {
                    format!(
                        "\"{},10.{r}.{}.{},192.0.2.9,{},443,T,O,A,E,5,500,4,4000\"",
                        1_700_000_000 + i,
                        i / 250,
                        i % 250,
                        40000 + i % 1000
                    )
                })
                .collect();
            format!(
                r#"{{"time":"t","resourceId":"/NSG{r}","properties":{{"Version":2,"flows":[{{"rule":"R","flows":[{{"mac":"00","flowTuples":[{}]}}]}}]}}}}"#,
                t.join(",")
            )
        })
        .collect();
    let doc = format!("{{\"records\":[{}]}}", recs.join(","));
    let d = Dir::new();
    let path = d.write("nsg.json", doc.as_bytes());
    let spill_dir = d.path().join("spill");
    std::fs::create_dir(&spill_dir).unwrap();
    let mut cfg = FlowsConfig::new(vec![path]);
    let in_memory = flows(&cfg).unwrap();
    assert_eq!(in_memory.record_count(), (records * tuples) as u64);
    cfg.spill = Some(hoptrace::pipeline::SpillConfig {
        dir: spill_dir,
        max_flows: 500,
    });
    let spilled = flows(&cfg).unwrap();
    let most = spilled.spilled.records().most_held();
    assert!(
        most < 500 + batch && records * tuples > 2 * batch,
        "{most} records held at once"
    );
    assert_eq!(spilled.record_count(), in_memory.record_count());
    assert_eq!(
        hoptrace::report::summary_text(&spilled),
        hoptrace::report::summary_text(&in_memory)
    );
    same_tables(&in_memory, &spilled);
}

/// A compressed text log is decompressed a piece at a time, never whole: gzip and zstd
/// copies of a log (one zstd copy in frames with skippable frames between, as pzstd writes), cut into 4 KiB pieces as they are read, give the plain log's table,
/// lines and bytes, and with a bound of 500 records at most a piece's worth more are held.
#[test]
fn a_compressed_log_is_read_as_a_stream_of_pieces() {
    let d = Dir::new();
    let log = vpc_log();
    let plain = d.write("vpc.log", &log);
    let whole = flows(&FlowsConfig::new(vec![plain.clone()])).unwrap();
    let csv = |run: &FlowRun, path: &std::path::Path| {
        let name = path.to_string_lossy().to_string();
        let mut out = Vec::new();
        hoptrace::pipeline::write_flows(run, TableFormat::Csv, &mut out, 2).unwrap();
        String::from_utf8(out).unwrap().replace(&name, "INPUT")
    };
    let expect = csv(&whole, &plain);
    assert_eq!(whole.inputs[0].bytes, log.len() as u64);
    let spill_dir = d.path().join("spill");
    std::fs::create_dir(&spill_dir).unwrap();
    for (name, bytes) in [
        ("vpc.log.gz", gzip(&log)),
        ("vpc.log.zst", zstd(&log)),
        // As pzstd writes it: frames of 100 kB, each after a skippable frame.
        ("vpc-p.log.zst", pzstd(&log, 100_000)),
    ] {
        let p = d.write(name, &bytes);
        let mut cfg = FlowsConfig::new(vec![p.clone()]);
        cfg.threads = 2;
        cfg.logs.piece_bytes = 4096;
        let run = flows(&cfg).unwrap();
        assert!(csv(&run, &p) == expect, "{name}: the table differs");
        cfg.spill = Some(hoptrace::pipeline::SpillConfig {
            dir: spill_dir.clone(),
            max_flows: 500,
        });
        let run = flows(&cfg).unwrap();
        assert!(
            csv(&run, &p) == expect,
            "{name}: the table differs when bounded"
        );
        let most = run.spilled.records().most_held();
        assert!((500..1000).contains(&most), "{name}: {most} records held");
        let (a, b) = (&run.inputs[0], &whole.inputs[0]);
        assert_eq!((a.bytes, a.frames), (b.bytes, b.frames), "{name}");
        assert!(a.error.is_none() && !run.skipped_input(), "{name}");
    }
}

/// A zstd-compressed log whose fifth block is damaged: the lines the blocks before it
/// hold are read, whatever size of piece the log is cut into; the input says where the
/// stream broke. What a break kept depended on how much was asked of the decompressor at
/// once (zstd hands out nothing of a read it breaks in).
#[test]
fn a_broken_compressed_log_is_read_up_to_its_break_in_any_piece_size() {
    let log = vpc_log();
    let mut packed = zstd(&log);
    let (at, before) = crate::support::zstd_cut(&packed, &log, 4);
    packed[at] |= 0b110;
    // The lines wholly before the break, but the header.
    let lines = log[..before].iter().filter(|&&b| b == b'\n').count() as u64 - 1;
    let d = Dir::new();
    let p = d.write("vpc.log.zst", &packed);
    for piece in [4096, 100_000, 1 << 20, 64 << 20] {
        let mut cfg = FlowsConfig::new(vec![p.clone()]);
        cfg.threads = 2;
        cfg.logs.piece_bytes = piece;
        let run = flows(&cfg).unwrap();
        let i = &run.inputs[0];
        crate::support::broke_at(i, before, &format!("{piece}-byte pieces"));
        assert_eq!(i.records, lines, "{piece}-byte pieces: {i:?}");
    }
}

/// 3,000 UDP datagrams over IPv6, each in two fragments over 120 s (past the fragment
/// timeout): a third in order, a third last fragment first, a third whose last fragment
/// never comes.
fn fragmented_capture() -> Vec<u8> {
    use hoptrace::synth::Capture;
    use hoptrace::synth::pkt::{self, Pseudo, num, v6};
    let b = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53]);
    let mut c = Capture::new(Format::Pcap);
    for i in 0..3000u32 {
        let a = v6([0x2001, 0xdb8, 1, 0, 0, 0, (i >> 8) as u16, i as u16]);
        let u = pkt::udp(Pseudo::V6(a, b), 5000 + (i % 100) as u16, 53, &[7u8; 100]);
        let part = |off: u16, more: bool, data: &[u8]| {
            let frag = pkt::ipv6_frag(off, more, i);
            pkt::eth(num::IPV6, &pkt::ipv6_ext(a, b, &[frag], num::UDP, data))
        };
        let (first, last) = (part(0, true, &u[..56]), part(56, false, &u[56..]));
        let t = i64::from(i) * 40_000_000;
        match i % 3 {
            0 => {
                c.push(t, &first);
                c.push(t + 1000, &last);
            }
            1 => {
                c.push(t, &last);
                c.push(t + 1000, &first);
            }
            _ => c.push(t, &first),
        }
    }
    c.finish()
}

/// A VPC flow log of 40 conversations each seen 80 times in both directions on one 5-tuple
/// (pairing groups larger than a scan pairs), records of each direction written apart.
fn repeated_conversations_log() -> Vec<u8> {
    let mut s = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    for back in [false, true] {
        for k in 0..80 {
            for j in 0..40 {
                let (a, b) = (format!("10.9.0.{j}"), format!("198.51.100.{}", j % 7));
                let (src, dst, sp, dp) = if back {
                    (b, a, 443, 50_000 + j)
                } else {
                    (a, b, 50_000 + j, 443)
                };
                let t = 1_700_000_000 + k * 90 + j;
                s.push_str(&format!(
                    "2 123456789010 eni-0a1 {src} {dst} {sp} {dp} 6 3 180 {t} {} ACCEPT OK\n",
                    t + 60
                ));
            }
        }
    }
    s.into_bytes()
}

#[test]
fn no_output_depends_on_the_hash_seed() {
    // The tables hash with a seed drawn at random per process (crafted traffic cannot
    // collide on purpose); every output must be the same whatever it is.
    let d = Dir::new();
    let (big, _) = big(Format::Pcap);
    let mut files = vec![
        d.write("big.pcap", &big),
        d.write("tunnels.pcap", &long_tunnelled_capture()),
        d.write("frags.pcap", &fragmented_capture()),
        d.write("vpc.log", &vpc_log()),
        d.write("repeated.log", &repeated_conversations_log()),
    ];
    // A capture set in twenty files: a chunk each, so that tables merge and, past the
    // bound, finished flows spill between them.
    for k in 0..20 {
        let part = long_capture_part(k * 1000..(k + 1) * 1000);
        files.push(d.write(&format!("long-{k}.pcap"), &part));
    }
    let frontend =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/case/frontend.pcapng");
    let outputs = |seed: &str| -> Vec<Vec<u8>> {
        let run = |args: Vec<String>| {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoptrace"))
                .args(&args)
                .env("HOPTRACE_HASH_SEED", seed)
                .output()
                .expect("running hoptrace");
            assert!(
                out.status.code() == Some(0) || out.status.code() == Some(1),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            [out.stdout, out.stderr].concat()
        };
        let mut common: Vec<String> = vec!["flows".into(), "--enrich".into()];
        common.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
        let spill = d.path().join(format!("spill-{seed}"));
        std::fs::create_dir_all(&spill).unwrap();
        let with = |extra: &[&str]| {
            let mut a = common.clone();
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        };
        vec![
            run(with(&["--threads", "1"])),
            run(with(&["--threads", "2", "--format", "jsonl"])),
            run(with(&[
                "--threads",
                "2",
                "--max-flows",
                "700",
                "--idle-timeout",
                "1s",
                "--spill-dir",
                &spill.to_string_lossy(),
            ])),
            run(["trace", &frontend.to_string_lossy()]
                .into_iter()
                .chain(crate::trace::DEMO_QUERY)
                .chain(["--requesting", "FR", "--format", "json"])
                .map(String::from)
                .collect()),
        ]
    };
    let first = outputs("1");
    assert!(first.iter().all(|o| o.len() > 1000));
    for seed in ["2", "0xfeedfacecafebeef"] {
        let again = outputs(seed);
        for (i, (a, b)) in first.iter().zip(&again).enumerate() {
            assert!(a == b, "output {i} differs with hash seed {seed}");
        }
    }
}
