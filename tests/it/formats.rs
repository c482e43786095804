//! Reading every container variant, compressed and damaged files, in every read mode.

use crate::support::{Dir, broke_at, described, run_bytes, zstd_cut};
use hoptrace::flow::tcp::{ACK, SYN};
use hoptrace::ingest::ReadMode;
use hoptrace::model::SkipReason;
use hoptrace::report::flow_rows;
use hoptrace::synth::pkt::{self, Pkt, num};
use hoptrace::synth::{Capture, Format, gzip, pzstd, zstd};
use hoptrace::{FlowRun, FlowsConfig, flows};

const A: ([u8; 4], u16) = ([192, 0, 2, 1], 40000);
const B: ([u8; 4], u16) = ([198, 51, 100, 2], 443);
/// 2021-06-01T00:00:00.123456789Z
const T0: i64 = 1_622_505_600_123_456_789;

fn three_packets(format: Format) -> Vec<u8> {
    let mut c = Capture::new(format);
    c.push(T0, &Pkt::tcp4(A, B, SYN, b""));
    c.push(T0 + 1_000, &Pkt::tcp4(B, A, SYN | ACK, b""));
    c.push(T0 + 2_000_000_001, &Pkt::tcp4(A, B, ACK, b"hello"));
    c.finish()
}

fn expect_three(run: &FlowRun, ns: bool) {
    assert_eq!(
        described(run),
        ["tcp 192.0.2.1:40000 > 198.51.100.2:443 2/1"]
    );
    let r = &flow_rows(run)[0];
    if ns {
        assert_eq!(r.ts, "2021-06-01T00:00:00.123456789Z");
        assert_eq!(r.duration, 2.000000001);
    } else {
        assert_eq!(r.ts, "2021-06-01T00:00:00.123456000Z");
        assert_eq!(r.duration, 2.000000000);
    }
    // The third packet is an ACK carrying data: D, not A (as Zeek writes it).
    assert_eq!(r.history, "ShD");
    assert!(!run.skipped_input(), "{:?}", run.flows.diag.entries());
}

#[test]
fn pcap_in_both_byte_orders_and_both_resolutions() {
    expect_three(&run_bytes(&three_packets(Format::Pcap)), false);
    expect_three(&run_bytes(&three_packets(Format::PcapBe)), false);
    expect_three(&run_bytes(&three_packets(Format::PcapNs)), true);
    expect_three(&run_bytes(&three_packets(Format::PcapNsBe)), true);
}

#[test]
fn modified_pcap_has_longer_record_headers() {
    expect_three(&run_bytes(&three_packets(Format::PcapModified)), false);
}

#[test]
fn pcapng_in_both_byte_orders() {
    expect_three(&run_bytes(&three_packets(Format::PcapNg)), false);
    expect_three(&run_bytes(&three_packets(Format::PcapNgBe)), false);
}

#[test]
fn pcapng_interfaces_keep_their_own_link_type_and_resolution() {
    let mut c = Capture::new(Format::PcapNg);
    let raw_ns = c.add_interface(101, 9, 0);
    let bin = c.add_interface(1, 0x80 | 10, 0);
    let shifted = c.add_interface(1, 6, 1_000);
    c.push_on(0, T0, &Pkt::tcp4(A, B, SYN, b""), 54);
    let ip = Pkt::tcp4_ip(B, A, SYN | ACK, b"");
    c.push_on(raw_ns, T0 + 7, &ip, ip.len() as u32);
    let f = Pkt::tcp4(A, B, ACK, b"");
    c.push_on(bin, 1_024_000_000_000, &f, f.len() as u32);
    c.push_on(shifted, 0, &f, f.len() as u32);
    let run = run_bytes(&c.finish());
    assert_eq!(
        described(&run),
        ["tcp 192.0.2.1:40000 > 198.51.100.2:443 3/1"]
    );
    let r = &flow_rows(&run)[0];
    // The binary-resolution packet is at 1000 s (2^-10 s units), the offset one at 1000 s:
    // the earliest time; the first frame in the file is still the one on interface 0.
    assert_eq!(r.ts, "1970-01-01T00:16:40.000000000Z");
    assert_eq!((r.interface, r.first_frame), (0, 1));
    let times: Vec<_> = run.flows.flows[0].dir.iter().map(|d| d.last.0).collect();
    assert!(
        times.contains(&(T0 + 7)),
        "nanosecond interface keeps nanoseconds"
    );
}

#[test]
fn pcapng_sections_may_change_byte_order_and_interfaces() {
    let mut c = Capture::new(Format::PcapNg);
    c.push(T0, &Pkt::tcp4(A, B, SYN, b""));
    c.section(true);
    c.add_interface(101, 6, 0);
    c.push(T0 + 1_000, &Pkt::tcp4_ip(B, A, SYN | ACK, b""));
    let run = run_bytes(&c.finish());
    assert_eq!(
        described(&run),
        ["tcp 192.0.2.1:40000 > 198.51.100.2:443 1/1"]
    );
}

#[test]
fn simple_and_obsolete_packet_blocks_and_other_blocks() {
    // A Simple Packet Block has no timestamp: its packet is at time 0, as libpcap reads
    // it, so the packet after it is written close to that.
    let mut c = Capture::new(Format::PcapNg);
    c.push_simple(&Pkt::tcp4(A, B, SYN, b""));
    c.push_block(4, &[0, 0, 0, 0]); // name resolution, empty
    c.push_block(5, &[0; 12]); // interface statistics
    c.push_block(0x0BAD, &[1, 2, 3, 4, 5, 6, 7, 8]); // custom
    c.push_obsolete(0, 1_000_000, &Pkt::tcp4(B, A, SYN | ACK, b""));
    let run = run_bytes(&c.finish());
    assert_eq!(
        described(&run),
        ["tcp 192.0.2.1:40000 > 198.51.100.2:443 1/1"]
    );
    assert!(!run.skipped_input());
}

#[test]
fn packet_blocks_naming_an_undefined_interface_are_skipped_and_counted() {
    let mut c = Capture::new(Format::PcapNg);
    c.push(T0, &Pkt::tcp4(A, B, SYN, b""));
    let f = Pkt::tcp4(B, A, SYN | ACK, b"");
    c.push_on(7, T0, &f, f.len() as u32);
    let run = run_bytes(&c.finish());
    assert_eq!(run.flows.diag.count(SkipReason::UnknownInterface), 1);
    assert_eq!(run.inputs[0].frames, 2);
    assert!(run.skipped_input());
}

#[test]
fn a_pcapng_section_defines_at_most_max_interfaces() {
    use hoptrace::ingest::MAX_INTERFACES;
    // One interface from the writer, then as many more as the bound allows and two past it.
    let mut c = Capture::new(Format::PcapNg);
    for _ in 0..MAX_INTERFACES + 1 {
        c.add_interface(1, 6, 0);
    }
    let idb = 32; // the writer's Interface Description Block (its if_tsresol option)
    let f = Pkt::tcp4(A, B, SYN, b"");
    let last = (MAX_INTERFACES - 1) as u32;
    c.push_on(0, T0, &f, f.len() as u32);
    let r = Pkt::tcp4(B, A, SYN | ACK, b"");
    c.push_on(last, T0 + 1_000, &r, r.len() as u32);
    c.push_on(last + 1, T0 + 2_000, &r, r.len() as u32);
    let bytes = c.finish();
    let d = Dir::new();
    let path = d.write("many-interfaces.pcapng", &bytes);
    let zst = d.write("many-interfaces.pcapng.zst", &zstd(&bytes));
    for (input, chunk) in [(&path, 1 << 30), (&path, 64 * 1024), (&zst, 64 * 1024)] {
        let mut cfg = FlowsConfig::new(vec![input.clone()]);
        cfg.chunk_bytes = chunk;
        cfg.threads = 2;
        let run = flows(&cfg).unwrap();
        hoptrace::fuzzing::check_accounting(&run);
        assert_eq!(
            described(&run),
            ["tcp 192.0.2.1:40000 > 198.51.100.2:443 1/1"],
            "{input:?} in chunks of {chunk}"
        );
        let over: Vec<_> = run
            .flows
            .diag
            .entries()
            .into_iter()
            .filter(|(r, _, _)| *r == SkipReason::InterfaceLimit)
            .collect();
        assert_eq!(over.len(), 1, "{:?}", run.flows.diag.entries());
        assert_eq!((over[0].2.count, over[0].2.bytes), (2, 2 * idb));
        assert_eq!(run.flows.diag.count(SkipReason::UnknownInterface), 1);
        assert_eq!(run.inputs[0].frames, 3);
        assert!(run.skipped_input());
    }
}

#[test]
fn a_pcapng_whose_first_packet_lies_past_its_first_mebibyte_is_still_cut_into_chunks() {
    // A large block before the first packet (decryption secrets, name resolution records):
    // the chunk planner reads on until it meets a packet, to learn the interfaces the
    // later chunks start with. It gave up after 1 MiB, and read the whole file on one thread.
    let mut c = Capture::new(Format::PcapNg);
    c.push_block(0x0A, &vec![b'k'; 3 << 20]);
    for i in 0..30_000u32 {
        let f = Pkt::tcp4(([10, 0, (i >> 8) as u8, i as u8], 40000), B, SYN, &[0; 64]);
        c.push(T0 + i64::from(i) * 1_000, &f);
    }
    let bytes = c.finish();
    let d = Dir::new();
    let path = d.write("secrets-first.pcapng", &bytes);
    let input = hoptrace::ingest::open(&path).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let chunk = 1 << 20;
    let plans =
        hoptrace::ingest::plan_file_chunks(&file, bytes.len() as u64, &input.container, chunk)
            .unwrap();
    assert_eq!(plans.len(), bytes.len().div_ceil(chunk), "{}", bytes.len());
    match &plans[1].state.layout {
        hoptrace::ingest::Layout::Ng(st) => assert_eq!(st.ifaces.len(), 1),
        other => panic!("{other:?}"),
    }
    let run = |chunk: usize| {
        let mut cfg = FlowsConfig::new(vec![path.clone()]);
        cfg.chunk_bytes = chunk;
        cfg.threads = 2;
        let run = flows(&cfg).unwrap();
        hoptrace::fuzzing::check_accounting(&run);
        assert!(!run.skipped_input());
        described(&run)
    };
    let whole = run(1 << 30);
    assert_eq!(whole.len(), 30_000);
    assert_eq!(run(chunk), whole);
}

#[test]
fn a_huge_snapshot_length_does_not_let_one_record_claim_the_rest_of_the_file() {
    // A pcap header saying frames may be 4 GiB long, then a record claiming 3.75 GiB: it
    // was taken at its word (the bound was the larger of the snapshot length and 256 KiB),
    // so the reader held the rest of the file to find its end (a 210 MB file took 534 MB),
    // and read the rest as one truncated record. Records are now at most 16 MiB (the
    // largest pcapng block), so this one is corrupt and reading resumes after it.
    let mut c = Capture::new(Format::Pcap);
    c.push(T0, &Pkt::tcp4(A, B, SYN, b""));
    let mut bad = Vec::new();
    for v in [1_622_505_600u32, 0, 0xF000_0000, 0xF000_0000] {
        bad.extend_from_slice(&v.to_le_bytes());
    }
    c.push_raw(&bad);
    c.push_raw(&[0; 100]);
    for i in 1..=8 {
        c.push(T0 + i * 1_000, &Pkt::tcp4(B, A, SYN | ACK, b""));
    }
    let mut bytes = c.finish();
    bytes[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    let d = Dir::new();
    for (name, data) in [
        ("snap.pcap", bytes.clone()),
        ("snap.pcap.zst", zstd(&bytes)),
    ] {
        let mut cfg = FlowsConfig::new(vec![d.write(name, &data)]);
        cfg.chunk_bytes = 64;
        let run = flows(&cfg).unwrap();
        hoptrace::fuzzing::check_accounting(&run);
        assert_eq!(
            described(&run),
            ["tcp 192.0.2.1:40000 > 198.51.100.2:443 1/8"],
            "{name}"
        );
        assert_eq!(run.flows.diag.count(SkipReason::BadRecordLength), 1);
        assert_eq!(run.flows.diag.count(SkipReason::TruncatedRecord), 0);
    }
}

#[test]
fn compressed_inputs_are_recognised_by_magic_not_name() {
    let plain = three_packets(Format::Pcap);
    let d = Dir::new();
    let gz = d.write("capture.pcap", &gzip(&plain));
    let zs = d.write("capture.bin", &zstd(&plain));
    let run = flows(&FlowsConfig::new(vec![gz, zs])).unwrap();
    // Two files of one capture set: the same flow, seen twice, counted twice.
    assert_eq!(
        described(&run),
        ["tcp 192.0.2.1:40000 > 198.51.100.2:443 4/2"]
    );
    let names: Vec<_> = run.inputs.iter().map(|i| i.compression).collect();
    use hoptrace::ingest::Compression;
    assert_eq!(names, [Some(Compression::Gzip), Some(Compression::Zstd)]);
}

#[test]
fn zstd_frames_after_skippable_frames_are_one_stream() {
    // pzstd (the zstd package's parallel compressor) writes a skippable frame before each
    // frame; such a file was not recognised as zstd at all.
    let plain = three_packets(Format::Pcap);
    let packed = pzstd(&plain, 50);
    assert_eq!(&packed[..4], b"\x50\x2a\x4d\x18");
    let run = run_bytes(&packed);
    expect_three(&run, false);
    assert_eq!(
        run.inputs[0].compression,
        Some(hoptrace::ingest::Compression::Zstd)
    );
    assert!(!run.skipped_input());
    let d = Dir::new();
    for mode in [ReadMode::Read, ReadMode::Mmap] {
        let mut cfg = FlowsConfig::new(vec![d.write("capture.pcap.zst", &packed)]);
        cfg.read_mode = mode;
        expect_three(&flows(&cfg).unwrap(), false);
    }
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    let plain = three_packets(Format::Pcap);
    let (head, tail) = plain.split_at(24 + 16 + 54 + 7);
    let mut gz = gzip(head);
    gz.extend(gzip(tail));
    expect_three(&run_bytes(&gz), false);
}

/// How many records of the pcap `plain` end within its first `n` bytes.
fn records_within(plain: &[u8], n: usize) -> u64 {
    let (mut at, mut count) = (24, 0);
    while at + 16 <= n {
        let caplen = u32::from_le_bytes(plain[at + 8..at + 12].try_into().unwrap()) as usize;
        if at + 16 + caplen > n {
            break;
        }
        at += 16 + caplen;
        count += 1;
    }
    count
}

#[test]
fn a_broken_compressed_stream_is_read_up_to_its_break_whatever_the_chunk_size() {
    // A zstd stream whose fifth block is damaged (its type made the reserved one) or cut
    // off, and a gzip stream cut in the middle: what decompressed before the break is
    // read, record by record, whatever the chunk size; the input says where it broke, and
    // its bytes read end there. A read that broke used to lose all it had read since the
    // block before (up to 16 MiB, in the command line's chunks), and a read that zstd broke
    // in part way (it decodes on into the next block) lost a block's worth, so what was
    // kept depended on the chunk size.
    use std::io::Read;
    let plain = many_flows(Format::Pcap, 2000);
    let packed = zstd(&plain);
    // Where the fifth block starts, and what the blocks before it decompress to.
    let (at, before) = zstd_cut(&packed, &plain, 4);
    let mut damaged = packed.clone();
    damaged[at] |= 0b110;
    let cut_gz = gzip(&plain)[..gzip(&plain).len() / 2].to_vec();
    let mut gz_before = Vec::new();
    let _ = flate2::read::GzDecoder::new(&cut_gz[..]).read_to_end(&mut gz_before);
    assert!(gz_before.len() > 100_000, "{}", gz_before.len());
    for (name, bytes, expect) in [
        ("damaged.pcap.zst", damaged, before),
        ("cut.pcap.zst", packed[..at].to_vec(), before),
        ("cut.pcap.gz", cut_gz, gz_before.len()),
    ] {
        let d = Dir::new();
        let p = d.write(name, &bytes);
        for (chunk, threads) in [(32 << 20, 1), (1 << 20, 2), (100_000, 1), (3_000, 2)] {
            let mut cfg = FlowsConfig::new(vec![p.clone()]);
            cfg.chunk_bytes = chunk;
            cfg.threads = threads;
            let run = flows(&cfg).unwrap();
            let i = &run.inputs[0];
            broke_at(i, expect, &format!("{name} in {chunk}-byte chunks"));
            assert_eq!(i.bytes, expect as u64, "{name} in {chunk}-byte chunks");
            assert_eq!(i.counts.total(), i.bytes, "{name}: {:?}", i.counts);
            assert_eq!(
                i.frames,
                records_within(&plain, expect),
                "{name} in {chunk}-byte chunks"
            );
            assert!(run.skipped_input());
        }
        // The library's packet stream: the same records, then the break.
        let events: Vec<_> = hoptrace::pipeline::packets(&p).unwrap().collect();
        let frames = events
            .iter()
            .filter(|e| matches!(e, Ok(hoptrace::pipeline::PacketEvent::Packet(_))))
            .count() as u64;
        assert_eq!(frames, records_within(&plain, expect), "{name} as packets");
        let last = events.last().unwrap().as_ref().err().map(|e| e.to_string());
        assert!(
            last.as_deref()
                .unwrap_or_default()
                .contains(&format!("offset {expect}:")),
            "{name}: {last:?}"
        );
    }
}

/// A capture big enough to be cut into many chunks.
fn many_flows(format: Format, n: u32) -> Vec<u8> {
    let mut c = Capture::new(format);
    for i in 0..n {
        let a = ([10, 0, (i >> 8) as u8, i as u8], 1000 + (i % 50) as u16);
        let b = ([10, 1, 0, 1], 80);
        let t = T0 + i64::from(i) * 1_000_000;
        c.push(t, &Pkt::tcp4(a, b, SYN, &[0; 300]));
        c.push(t + 10, &Pkt::tcp4(b, a, SYN | ACK, &[0; 300]));
    }
    c.finish()
}

fn run_cfg(bytes: &[u8], chunk: usize, threads: usize, mode: ReadMode) -> Vec<String> {
    let d = Dir::new();
    let p = d.write("c", bytes);
    let dir = format!("{}/", d.path().display());
    let mut cfg = FlowsConfig::new(vec![p]);
    cfg.chunk_bytes = chunk;
    cfg.threads = threads;
    cfg.read_mode = mode;
    let run = flows(&cfg).unwrap();
    let mut out = Vec::new();
    hoptrace::report::write_flows(&run, hoptrace::report::TableFormat::Csv, &mut out).unwrap();
    // Every run has its own temporary directory: leave it out of the input column.
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| l.replace(&dir, ""))
        .collect()
}

#[test]
fn chunked_reading_gives_the_same_table_in_every_mode() {
    for format in [
        Format::Pcap,
        Format::PcapNg,
        Format::PcapNsBe,
        Format::PcapNgBe,
    ] {
        let bytes = many_flows(format, 3000);
        let whole = run_cfg(&bytes, 1 << 30, 1, ReadMode::Read);
        assert_eq!(whole.len(), 3001);
        for mode in [ReadMode::Read, ReadMode::Mmap] {
            for threads in [1, 3] {
                assert_eq!(
                    run_cfg(&bytes, 64 * 1024, threads, mode),
                    whole,
                    "{format:?} {mode:?} {threads} threads"
                );
            }
        }
        assert_eq!(run_cfg(&gzip(&bytes), 64 * 1024, 2, ReadMode::Read), whole);
    }
}

#[test]
fn streamed_blocks_read_state_changes_and_damage_as_the_whole_file_does() {
    // A compressed pcapng is cut into blocks by block lengths alone while only packets and
    // other stateless blocks follow; an interface added part way, a second section (other
    // byte order), a block whose trailer differs and one whose packet overruns it must be
    // handed to the record walker. Blocks of 64 KiB put many cuts around each of them.
    let mut c = Capture::new(Format::PcapNg);
    let pkt = |i: u32, c: &mut Capture, iface: u32| {
        let a = ([10, 0, (i >> 8) as u8, i as u8], 1000 + (i % 50) as u16);
        let f = Pkt::tcp4(a, ([10, 1, 0, 1], 80), SYN, &[0; 300]);
        c.push_on(iface, T0 + i64::from(i) * 1_000_000, &f, f.len() as u32);
    };
    for i in 0..600 {
        pkt(i, &mut c, 0);
    }
    c.push_block(5, &[0; 20]);
    let second = c.add_interface(1, 9, 0);
    for i in 600..1200 {
        pkt(i, &mut c, second);
    }
    // A packet block whose trailer says another length, then one whose captured length
    // runs past its end.
    let mut bad = Vec::new();
    for v in [6u32, 40, 0, 0, 0, 0, 0, 0, 44] {
        bad.extend_from_slice(&v.to_le_bytes());
    }
    c.push_raw(&bad);
    let mut overrun = Vec::new();
    for v in [6u32, 36, 0, 0, 0, 400, 400, 0, 36] {
        overrun.extend_from_slice(&v.to_le_bytes());
    }
    c.push_raw(&overrun);
    for i in 1200..1800 {
        pkt(i, &mut c, 0);
    }
    c.section(true);
    c.add_interface(1, 6, 0);
    for i in 1800..2400 {
        pkt(i, &mut c, 0);
    }
    let bytes = c.finish();
    let run = |data: &[u8], chunk: usize| {
        let d = Dir::new();
        let dir = format!("{}/", d.path().display());
        let mut cfg = FlowsConfig::new(vec![d.write("c", data)]);
        cfg.chunk_bytes = chunk;
        cfg.threads = 2;
        let run = flows(&cfg).unwrap();
        hoptrace::fuzzing::check_accounting(&run);
        let mut out = Vec::new();
        hoptrace::report::write_flows(&run, hoptrace::report::TableFormat::Csv, &mut out).unwrap();
        let table: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| l.replace(&dir, ""))
            .collect();
        (table, run.flows.diag.entries(), run.inputs[0].counts)
    };
    let whole = run(&bytes, 1 << 30);
    assert_eq!(whole.0.len(), 2401);
    let problems: Vec<&str> = whole.1.iter().map(|(r, _, _)| r.name()).collect();
    assert!(problems.contains(&"bad_record_length"), "{problems:?}");
    assert_eq!(run(&zstd(&bytes), 64 * 1024), whole);
    assert_eq!(run(&gzip(&bytes), 64 * 1024), whole);
}

#[test]
fn a_chunk_that_guesses_its_start_wrong_is_read_again() {
    // Packet payloads made of plausible pcap record headers (each a zero-length record)
    // fool the resynchronisation of any chunk boundary that falls inside them; the check
    // against the previous chunk's real end must catch it.
    let mut c = Capture::new(Format::Pcap);
    let mut fake = Vec::new();
    for _ in 0..200 {
        fake.extend_from_slice(&1_600_000_000u32.to_le_bytes());
        fake.extend_from_slice(&0u32.to_le_bytes());
        fake.extend_from_slice(&0u32.to_le_bytes());
        fake.extend_from_slice(&0u32.to_le_bytes());
    }
    for i in 0..400u32 {
        let a = ([10, 0, (i >> 8) as u8, i as u8], 1000);
        c.push(T0 + i64::from(i), &Pkt::udp4(a, ([10, 1, 0, 1], 53), &fake));
    }
    let bytes = c.finish();
    let whole = run_cfg(&bytes, 1 << 30, 1, ReadMode::Read);
    assert_eq!(whole.len(), 401);
    assert_eq!(run_cfg(&bytes, 64 * 1024, 2, ReadMode::Read), whole);
    assert_eq!(run_cfg(&bytes, 64 * 1024, 2, ReadMode::Mmap), whole);
}

#[test]
fn a_truncated_last_record_is_reported_and_the_rest_read() {
    let mut bytes = three_packets(Format::Pcap);
    bytes.truncate(bytes.len() - 10);
    let run = run_bytes(&bytes);
    assert_eq!(
        described(&run),
        ["tcp 192.0.2.1:40000 > 198.51.100.2:443 1/1"]
    );
    let e = run.flows.diag.entries();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, SkipReason::TruncatedRecord);
    assert_eq!(e[0].2.first.frame, 3);
    assert!(run.skipped_input());
}

#[test]
fn a_corrupt_record_length_is_skipped_and_reading_resumes() {
    let mut c = Capture::new(Format::Pcap);
    for i in 0..20u32 {
        let a = ([10, 0, 0, i as u8], 1000);
        c.push(
            T0 + i64::from(i) * 1000,
            &Pkt::udp4(a, ([10, 1, 0, 1], 53), b"x"),
        );
    }
    let mut bytes = c.finish();
    // Frame 5's captured length becomes impossible.
    let rec = 16 + bytes[24 + 8] as usize;
    let at = 24 + 4 * rec + 8;
    bytes[at..at + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let run = run_bytes(&bytes);
    assert_eq!(run.flows.flows.len(), 19);
    assert_eq!(run.flows.diag.count(SkipReason::BadRecordLength), 1);
    assert_eq!(run.flows.diag.count(SkipReason::UnreadableBytes), 1);
    let bad = run
        .flows
        .diag
        .entries()
        .into_iter()
        .find(|e| e.0 == SkipReason::BadRecordLength)
        .unwrap();
    assert_eq!(bad.2.first.offset, (24 + 4 * rec) as u64);
}

#[test]
fn reading_resumes_after_a_corrupt_record_at_the_same_place_whatever_the_reader_holds() {
    // A corrupt record (its captured length made impossible) so close before the end of
    // the first 1 MiB window that the records after it, which show where reading resumes,
    // run past the window; then the same in a pcapng file (a block's trailer broken). The
    // window reader took the rest of its window for unreadable and lost the records in it,
    // where the file read whole (mapped) lost only the corrupt one: read either way, in
    // chunks or whole, as a compressed stream in blocks of any size, the same records now.
    for format in [Format::Pcap, Format::PcapNg] {
        let mut c = Capture::new(format);
        for i in 0..1300u32 {
            let a = ([10, 0, (i >> 8) as u8, i as u8], 1000);
            c.push(
                T0 + i64::from(i) * 1000,
                &Pkt::udp4(a, ([10, 1, 0, 1], 53), &[7; 950]),
            );
        }
        let mut bytes = c.finish();
        // The record that starts in the last 2,500 bytes of the first MiB.
        let mut at = if format == Format::Pcap { 24 } else { 0 };
        while at + record_len(format, &bytes, at) < (1 << 20) - 2500 {
            at += record_len(format, &bytes, at);
        }
        let bad = break_record(format, &mut bytes, at);
        let d = Dir::new();
        let plain = d.write("c", &bytes);
        let zs = d.write("c.zst", &zstd(&bytes));
        let mut seen = Vec::new();
        for (p, chunk, mode) in [
            (&plain, 1 << 30, ReadMode::Mmap),
            (&plain, 1 << 30, ReadMode::Read),
            (&plain, 300_000, ReadMode::Read),
            (&plain, 5_000, ReadMode::Read),
            (&zs, 1 << 30, ReadMode::Read),
            (&zs, 70_000, ReadMode::Read),
            (&zs, 2_000, ReadMode::Read),
        ] {
            let run = read_as(p, chunk, mode);
            let i = &run.inputs[0];
            assert_eq!(
                (i.frames, i.counts.skipped),
                (1299, bad as u64),
                "{format:?} {p:?} in {chunk}-byte chunks, {mode:?}: {:?}",
                run.flows.diag.entries()
            );
            seen.push(run.flows.diag.entries());
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
        // The library's packet stream reads the same, plain and compressed.
        for p in [&plain, &zs] {
            assert_eq!(packet_stream(p).0, 1299, "{format:?} {p:?} as packets");
        }
    }
}

/// The length of the record (pcap) or block (pcapng) at `at`.
fn record_len(format: Format, b: &[u8], at: usize) -> usize {
    let w = |o: usize| u32::from_le_bytes(b[at + o..at + o + 4].try_into().unwrap());
    if format == Format::Pcap {
        16 + w(8) as usize
    } else {
        w(4) as usize
    }
}

/// Makes the record at `at` corrupt (a pcap record's captured length impossible, a pcapng
/// block's trailer different from its length); its length.
fn break_record(format: Format, b: &mut [u8], at: usize) -> usize {
    let len = record_len(format, b, at);
    if format == Format::Pcap {
        b[at + 8..at + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    } else {
        b[at + len - 4] ^= 0xff;
    }
    len
}

/// `flows` over `p` on two threads in `chunk`-byte chunks, read by `mode`, decompression
/// unbounded.
fn read_as(p: &std::path::Path, chunk: usize, mode: ReadMode) -> FlowRun {
    let mut cfg = FlowsConfig::new(vec![p.to_path_buf()]);
    cfg.chunk_bytes = chunk;
    cfg.read_mode = mode;
    cfg.threads = 2;
    cfg.max_decompression_ratio = 0;
    flows(&cfg).unwrap()
}

/// Frames and events of the library's packet stream over `p`.
fn packet_stream(p: &std::path::Path) -> (usize, usize) {
    let events: Vec<_> = hoptrace::pipeline::packets(p)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    let frames = events
        .iter()
        .filter(|e| matches!(e, hoptrace::pipeline::PacketEvent::Packet(_)))
        .count();
    (frames, events.len())
}

#[test]
fn a_search_for_where_records_resume_goes_as_far_as_it_must_whatever_the_reader_holds() {
    // A corrupt record, then more bytes where no record starts than a reader's buffer grew
    // to (RESYNC_BUFFER), then records. The window reader searched that far, then read on
    // from the first start those bytes did not rule out as if it were a record: the zeros
    // became millions of empty records (truncated link headers) where the file read whole
    // (mapped) counted them unreadable, and a compressed stream read them the same wrong
    // way, counted differently again. Read any way now: the one corrupt record, one
    // unreadable range to the records after it, and those records.
    let zeros = hoptrace::ingest::RESYNC_BUFFER + (1 << 20);
    for format in [Format::Pcap, Format::PcapNg] {
        let mut c = Capture::new(format);
        for i in 0..6u32 {
            let a = ([10, 0, 0, 1], 1000);
            c.push(
                T0 + i64::from(i) * 1000,
                &Pkt::udp4(a, ([10, 1, 0, 1], 53), &[7; 20]),
            );
        }
        let mut bytes = c.finish();
        // The second record (after the file header, and the section and interface blocks).
        let mut at = if format == Format::Pcap { 24 } else { 0 };
        let mut records = 0;
        while records < 2 {
            let ty = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            if format == Format::Pcap || ty == 6 {
                records += 1;
            }
            if records < 2 {
                at += record_len(format, &bytes, at);
            }
        }
        let bad = break_record(format, &mut bytes, at);
        bytes.splice(at + bad..at + bad, std::iter::repeat_n(0u8, zeros));
        let d = Dir::new();
        let plain = d.write("c", &bytes);
        let zs = d.write("c.zst", &zstd(&bytes));
        let mut seen = Vec::new();
        for (p, chunk, mode) in [
            (&plain, 1 << 30, ReadMode::Mmap),
            (&plain, 1 << 30, ReadMode::Read),
            (&plain, 48 << 20, ReadMode::Read),
            (&zs, 1 << 30, ReadMode::Read),
        ] {
            let run = read_as(p, chunk, mode);
            let i = &run.inputs[0];
            let e = run.flows.diag.entries();
            assert_eq!(
                (i.frames, i.counts.skipped, e.len()),
                (5, (bad + zeros) as u64, 2),
                "{format:?} {p:?} in {chunk}-byte chunks, {mode:?}: {e:?}"
            );
            assert_eq!(run.flows.flows.len(), 1);
            assert_eq!(
                run.flows.flows[0].dir[0].pkts, 5,
                "{format:?} {p:?} {mode:?}"
            );
            seen.push(e);
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
        let unreadable = seen[0].iter().find(|e| e.0 == SkipReason::UnreadableBytes);
        assert_eq!(unreadable.map(|e| e.2.first.offset), Some(at as u64));
        // The library's packet stream reads the same (its decompression ratio is bounded).
        assert_eq!(packet_stream(&plain), (5, 7), "{format:?} as packets");
    }
}

#[test]
fn a_corrupt_pcapng_block_trailer_is_skipped_and_reading_resumes() {
    let mut c = Capture::new(Format::PcapNg);
    for i in 0..20u32 {
        let a = ([10, 0, 0, i as u8], 1000);
        c.push(
            T0 + i64::from(i) * 1000,
            &Pkt::udp4(a, ([10, 1, 0, 1], 53), b"x"),
        );
    }
    let mut bytes = c.finish();
    // Find the third EPB and break its trailing length.
    let mut pos = 0;
    let mut epb = 0;
    while pos < bytes.len() {
        let t = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
        let l = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        if t == 6 {
            epb += 1;
            if epb == 3 {
                bytes[pos + l - 4] ^= 0xff;
                break;
            }
        }
        pos += l;
    }
    let run = run_bytes(&bytes);
    assert_eq!(run.flows.flows.len(), 19);
    assert_eq!(run.flows.diag.count(SkipReason::BadBlockTrailer), 1);
}

#[test]
fn a_file_with_only_a_header_has_no_flows_and_no_problems() {
    let run = run_bytes(&Capture::new(Format::Pcap).finish());
    assert!(run.flows.flows.is_empty());
    assert!(!run.skipped_input());
    assert_eq!(run.inputs[0].container, Some("pcap"));
}

#[test]
fn unreadable_inputs_are_listed_and_the_others_read() {
    let d = Dir::new();
    let empty = d.write("empty.pcap", b"");
    let text = d.write("notes.txt", b"this is not a capture at all");
    let old = d.write("v1.pcap", &{
        let mut b = three_packets(Format::Pcap);
        b[4] = 1;
        b
    });
    let good = d.write("good.pcap", &three_packets(Format::Pcap));
    let missing = d.path().join("missing.pcap");
    let run = flows(&FlowsConfig::new(vec![empty, text, old, good, missing])).unwrap();
    assert_eq!(run.flows.flows.len(), 1);
    let errors: Vec<String> = run
        .inputs
        .iter()
        .map(|i| i.error.clone().unwrap_or_default())
        .collect();
    assert!(errors[0].contains("empty input"), "{}", errors[0]);
    assert!(
        errors[1].contains("not a pcap or pcapng capture"),
        "{}",
        errors[1]
    );
    assert!(errors[1].contains("74686973"), "{}", errors[1]);
    assert!(
        errors[2].contains("pcap version 1.4 is not supported"),
        "{}",
        errors[2]
    );
    assert!(errors[3].is_empty());
    assert!(errors[4].contains("cannot read"), "{}", errors[4]);
    assert!(run.skipped_input());
    assert!(!run.nothing_read());
}

#[test]
fn frames_are_numbered_across_chunks_like_wireshark() {
    let bytes = many_flows(Format::Pcap, 2000);
    let d = Dir::new();
    let p = d.write("c", &bytes);
    let mut cfg = FlowsConfig::new(vec![p]);
    cfg.chunk_bytes = 64 * 1024;
    let run = flows(&cfg).unwrap();
    // Flow i starts at frame 2i+1.
    for (i, f) in run.flows.flows.iter().enumerate() {
        assert_eq!(f.first_loc.frame, 2 * i as u64 + 1);
    }
    let last = run.flows.flows.last().unwrap();
    let rec = 16 + 14 + 20 + 20 + 300;
    assert_eq!(last.first_loc.offset, 24 + (2 * 1999) * rec as u64);
}

#[test]
fn vlan_frames_through_the_whole_path() {
    let p = Pkt::tcp4_ip(A, B, SYN, b"");
    let frame = pkt::eth(num::VLAN, &pkt::vlan(7, num::IPV4, &p));
    let mut c = Capture::new(Format::PcapNg);
    c.push(T0, &frame);
    let r = &flow_rows(&run_bytes(&c.finish()))[0];
    assert_eq!((r.vlan.as_str(), r.encap.as_str()), ("7", "vlan:7"));
}

#[test]
fn the_bundled_demo_capture_is_what_the_generator_writes() {
    // Regenerate with UPDATE_TESTDATA=1 after changing the generator.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/demo.pcapng");
    let fresh = hoptrace::synth::demo_capture();
    if std::env::var_os("UPDATE_TESTDATA").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let shipped = std::fs::read(&path).expect("testdata/demo.pcapng");
    assert!(
        shipped == fresh,
        "testdata/demo.pcapng is stale: run with UPDATE_TESTDATA=1"
    );
    let run = crate::support::run_files(&[path]);
    assert!(!run.skipped_input(), "{:?}", run.flows.diag.entries());
    assert_eq!(run.flows.flows.len(), 10);
}

#[test]
fn the_bundled_demo_case_is_what_the_generator_writes() {
    // Regenerate with UPDATE_TESTDATA=1 after changing the generator.
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/case/frontend.pcapng");
    let fresh = hoptrace::synth::demo_case();
    if std::env::var_os("UPDATE_TESTDATA").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
    }
    let shipped = std::fs::read(&path).expect("testdata/case/frontend.pcapng");
    assert!(
        shipped == fresh,
        "testdata/case/frontend.pcapng is stale: run with UPDATE_TESTDATA=1"
    );
    let run = crate::support::run_files(&[path]);
    assert!(!run.skipped_input(), "{:?}", run.flows.diag.entries());
}

#[test]
fn packets_streams_decoded_frames_from_plain_and_compressed_inputs() {
    use hoptrace::pipeline::{PacketEvent, packets};
    let demo = hoptrace::synth::demo_capture();
    let d = Dir::new();
    let plain = d.write("demo.pcapng", &demo);
    let gz = d.write("demo.pcapng.gz", &gzip(&demo));
    let collect = |p: &std::path::Path| -> Vec<PacketEvent> {
        packets(p).unwrap().map(|e| e.unwrap()).collect()
    };
    let a = collect(&plain);
    assert_eq!(a.len(), 24);
    assert_eq!(a, collect(&gz));
    let PacketEvent::Packet(first) = &a[0] else {
        panic!("a frame")
    };
    assert_eq!(first.loc.frame, 1);
    assert!(first.packets.is_empty(), "the first frame is ARP");
    assert_eq!(first.problem.map(|p| p.0), Some(SkipReason::NotIp));
    let tunnelled = a
        .iter()
        .filter_map(|e| match e {
            PacketEvent::Packet(p) if p.packets.len() == 2 => Some(p),
            _ => None,
        })
        .count();
    assert_eq!(
        tunnelled,
        8 + 2 + 1,
        "VXLAN, GRE and 6in4 frames carry two IP headers"
    );
}
