//! Entry points that take arbitrary bytes, one per reader and decoder of evidence.
//!
//! The libFuzzer targets in `fuzz/` call them, and `tests/it/fuzz.rs` runs each on mutated
//! seeds (the project's own fixtures) in every `cargo test`. Each must return without
//! panicking or hanging, and the readers of evidence check their own accounting: every
//! frame, datagram or line read is either used or counted under a named reason. A broken
//! invariant panics, which is what a fuzzer reports.

use crate::decode::{Decoded, decode};
use crate::flow::{FlowConfig, FlowTable};
use crate::ingest::RawFrame;
use crate::model::{Diagnostics, LinkType, Locator, SkipReason, Timestamp};
use crate::records::{LogFormat, TextOptions, netflow};
use std::net::IpAddr;

/// Link types a fuzzed frame may claim: every one the decoder knows, and one it does not.
pub const LINKS: [u32; 16] = [
    0, 1, 9, 12, 14, 50, 51, 101, 104, 108, 113, 228, 229, 239, 276, 147,
];

/// Reads `data` as an input file (written to `dir` as `fuzz-NAME-PID`, removed after) on
/// one thread with header evidence and content gathered, in `chunks` chunks of equal size
/// (one: whole): the run, and how it was read.
fn read_input(
    data: &[u8],
    dir: &std::path::Path,
    name: &str,
    chunks: usize,
) -> Option<(crate::FlowRun, crate::FlowsConfig)> {
    let path = dir.join(format!("fuzz-{name}-{}", std::process::id()));
    std::fs::write(&path, data).ok()?;
    let mut cfg = crate::FlowsConfig::new(vec![path.clone()]);
    cfg.threads = 1;
    cfg.clues = true;
    cfg.clue_content = true;
    cfg.chunk_bytes = data.len().div_ceil(chunks.max(1)).max(1);
    let run = crate::flows(&cfg);
    let _ = std::fs::remove_file(&path);
    Some((run.ok()?, cfg))
}

/// How many chunks a fuzz input is read in (1 to 8, from its last byte): fuzz inputs are
/// smaller than a chunk of a real run, and chunk edges are where evidence spanning two
/// chunks is joined.
fn chunks_for(data: &[u8]) -> usize {
    1 + usize::from(data.last().copied().unwrap_or(0) % 8)
}

/// A whole input file (any container, compressed or not, capture or flow log), through the
/// pipeline as `flows` reads it, from a file in `dir`. Checks that every frame read reached
/// the flow stage and that a frame that gave no packet was counted under a reason, and
/// that a capture read again in 2 to 8 chunks (by its last byte; none when it says 1) reads
/// the same frames and bytes, counted under the same reasons; then writes the table (CSV)
/// and the summary.
pub fn input_file(data: &[u8], dir: &std::path::Path) {
    let Some((run, _)) = read_input(data, dir, "input", 1) else {
        return;
    };
    check_accounting(&run);
    // Read again in chunks: whatever the edges, the same frames, bytes and reasons.
    let n = chunks_for(data);
    if n > 1
        && let Some((cut, _)) = read_input(data, dir, "input", n)
    {
        check_accounting(&cut);
        let read = |r: &crate::FlowRun| {
            let i = &r.inputs[0];
            format!(
                "{:?}",
                (
                    i.frames,
                    i.bytes,
                    &i.counts,
                    &i.error,
                    i.time_range,
                    i.records
                )
            )
        };
        assert_eq!(read(&run), read(&cut), "read whole, then in {n} chunks");
        assert_eq!(
            (run.flows.frames, run.flows.frames_decoded),
            (cut.flows.frames, cut.flows.frames_decoded),
            "frames decoded, whole and in {n} chunks"
        );
    }
    // The table's rows and the summary, as `flows` writes them, from whatever was read.
    let _ = crate::pipeline::write_flows(
        &run,
        crate::report::TableFormat::Csv,
        &mut std::io::sink(),
        1,
    );
    let _ = crate::report::summary_text(&run);
}

/// A whole input file as `trace` reads it, in 1 to 8 chunks (by its last byte): the flows
/// and header evidence, joined across the chunks' edges, then queries for
/// addresses the evidence holds (the nodes requests to proxies named, the ends of header
/// evidence and of the first flows), each communication found placed on its path and
/// written as every report (JSON, Markdown, HTML, Art. 29 drafts) with everything
/// included. Checks that each report's hops are numbered in order and that a path has at
/// least its two ends, as the report's schema says.
pub fn trace_input(data: &[u8], dir: &std::path::Path) {
    use crate::hops::{ClueKind, Query};
    static ENRICHER: std::sync::OnceLock<Option<crate::enrich::Enricher>> =
        std::sync::OnceLock::new();
    let Some(enricher) = ENRICHER
        .get_or_init(|| crate::enrich::Enricher::bundled().ok())
        .as_ref()
    else {
        return;
    };
    let Some((run, read)) = read_input(data, dir, "trace", chunks_for(data)) else {
        return;
    };
    let runs = [run];
    let run = &runs[0];
    let evidence = [run.evidence(0)];
    // The addresses to ask for, each once, at most eight.
    let mut asked: Vec<IpAddr> = Vec::new();
    let mut ask = |a: IpAddr| {
        if asked.len() < 8 && !asked.contains(&a) {
            asked.push(a);
        }
    };
    for c in run.clues.iter().take(16) {
        if let ClueKind::Http {
            target: Some(t), ..
        } = &c.what
            && let Some(a) = t.addr
        {
            ask(a);
        }
        ask(c.src.0.to_ip());
        ask(c.dst.0.to_ip());
    }
    for f in run.flows.flows.iter().take(4) {
        ask(f.key.lo().addr.to_ip());
        ask(f.key.hi().addr.to_ip());
    }
    let include = crate::report::Include {
        names: true,
        city: true,
        sizes: true,
        layer2: true,
        urls: true,
        payload: true,
        other_communications: true,
    };
    for ip in asked {
        let cfg = crate::pipeline::TraceConfig {
            inputs: Vec::new(),
            read: read.clone(),
            query: Query::new(ip),
            party: "AU".into(),
            requesting: Some("DE".into()),
            request_ref: None,
            art29: true,
            generated_at: None,
            include,
        };
        let _ = crate::hops::untraceable(&evidence, &cfg.query);
        let found = crate::hops::find(&evidence, &cfg.query);
        for c in found.iter().take(2) {
            let digests = [String::new()];
            let d = crate::pipeline::disclose(&cfg, &runs, &evidence, c, &digests, enricher);
            for (i, h) in d.hops.iter().enumerate() {
                assert_eq!(h.index, i, "hop numbers: {:?}", d.hops);
            }
            assert!(
                d.hops.len() >= 2,
                "a path without its two ends: {:?}",
                d.hops
            );
            let _ = serde_json::to_vec(&d);
            let _ = crate::report::disclosure_markdown(&d);
            let _ = crate::report::disclosure_html(&d);
            if let Some(drafts) = &d.art29_drafts {
                let _ = crate::report::art29_markdown(drafts);
            }
        }
    }
}

/// Checks that a run accounted for its input: every input was read or has an error; every
/// frame of a capture reached the flow stage; every frame that gave no packet was counted
/// under a frame-level reason; every byte of a capture read is in a frame's record, a
/// header or packetless block, or a skipped range; every plain capture that was read was
/// read to its end.
/// Panics (naming what differs) otherwise.
pub fn check_accounting(run: &crate::FlowRun) {
    for i in &run.inputs {
        assert!(i.error.is_some() || i.container.is_some(), "{i:?}");
    }
    assert_eq!(
        run.capture_frames(),
        run.flows.frames,
        "frames read and counted differ: {:?}",
        run.inputs
    );
    let undecoded = run.flows.frames - run.flows.frames_decoded;
    let counted: u64 = run
        .flows
        .diag
        .entries()
        .iter()
        .filter(|(r, _, _)| {
            matches!(
                r,
                SkipReason::UnknownLinkType
                    | SkipReason::UnknownInterface
                    | SkipReason::TruncatedHeader
                    | SkipReason::MalformedHeader
                    | SkipReason::TunnelTooDeep
                    | SkipReason::NotIp
            )
        })
        .map(|(_, _, s)| s.count)
        .sum();
    assert!(
        counted >= undecoded,
        "{undecoded} frames gave no packet, {counted} counted"
    );
    for i in &run.inputs {
        let capture = i.unit() == "frame" && i.container.is_some_and(|c| c.starts_with("pcap"));
        if capture && i.error.is_none() {
            // Every byte read is in a frame's record, a header or packetless block, or a
            // skipped range.
            assert_eq!(
                i.counts.total(),
                i.bytes,
                "{}: bytes not accounted: {:?}",
                i.name.display(),
                i.counts
            );
        }
        if capture && i.error.is_none() && i.compression == Some(crate::ingest::Compression::None) {
            assert_eq!(
                Some(i.bytes),
                i.file_size,
                "{} not read to its end",
                i.name.display()
            );
        }
    }
}

/// A sequence of frames, each `[link index][length: 2 bytes LE][bytes]`, decoded and
/// counted into one flow table (tunnels, fragments and their reassembly, TCP state).
pub fn frames(data: &[u8]) {
    let mut table = FlowTable::new(FlowConfig::default());
    let mut dec = Decoded::default();
    let mut rest = data;
    let mut frame = 0u64;
    while rest.len() >= 3 {
        let link = LINKS[usize::from(rest[0]) % LINKS.len()];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let bytes = &rest[3..3 + len];
        rest = &rest[3 + len..];
        frame += 1;
        let f = RawFrame {
            ts: Timestamp(frame as i64 * 1_000_000),
            link: LinkType(link),
            orig_len: bytes.len() as u32,
            data: bytes,
            loc: Locator {
                frame,
                ..Locator::default()
            },
        };
        decode(&f, &mut dec);
        assert!(
            !dec.packets().is_empty() || dec.problem.is_some(),
            "frame {frame} gave no packet and no reason"
        );
        for p in dec.packets() {
            assert!(usize::from(p.depth) <= dec.encap().len());
            assert!(p.payload.0 <= p.payload.1 && p.payload.1 as usize <= bytes.len());
        }
        table.add_frame(dec.packets(), dec.encap(), f.ts, f.loc);
    }
    let _ = table.finish();
}

/// NetFlow v5/v9/IPFIX datagrams back to back (as a file of exports), read with template
/// state across datagrams.
pub fn netflow_datagrams(data: &[u8]) {
    let mut diag = Diagnostics::default();
    let exports = netflow::split_datagrams(0, data, &mut diag);
    let mut c = netflow::Collector::new(netflow::Limits::default());
    let mut out = Vec::new();
    for e in &exports {
        c.datagram(e, &mut out, &mut diag);
    }
    c.finish(&mut diag);
}

/// A flow log in the format picked by the first byte (Zeek TSV or JSON, AWS VPC, GCP,
/// Azure, nfdump or Argus CSV); checks that every line is a record, a header or counted,
/// and that reading it in pieces gives what one pass gives.
pub fn text_log(data: &[u8]) {
    const FORMATS: [LogFormat; 7] = [
        LogFormat::ZeekTsv,
        LogFormat::ZeekJson,
        LogFormat::AwsVpc,
        LogFormat::GcpJson,
        LogFormat::AzureJson,
        LogFormat::NfdumpCsv,
        LogFormat::ArgusCsv,
    ];
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(pick) % FORMATS.len()];
    let o = TextOptions::default();
    let read = crate::records::read_text(0, text, format, &o);
    let lines = crate::records::lines(text).count() as u64;
    assert!(read.records.len() as u64 <= lines.max(read.units));
    // Cut into pieces as the pipeline cuts large logs (here of 1 to 1,296 bytes, from the
    // same byte): the same records, reasons and lines.
    let piece = 1 + usize::from(pick / 7) * 36;
    let cut = crate::records::read_text_in_pieces(0, text, format, &o, piece);
    assert_eq!(cut.records, read.records, "{format:?} in pieces of {piece}");
    assert_eq!(cut.diag, read.diag, "{format:?} in pieces of {piece}");
    assert_eq!(cut.units, read.units, "{format:?} in pieces of {piece}");
}

/// Header evidence: HTTP request/response heads and proxy headers, mail header blocks and
/// `Received:` fields, SMTP client streams, saved mails, ICMP quotes and label stacks.
pub fn headers(data: &[u8]) {
    use crate::decode::headers as h;
    if let Some(heads) = h::http_heads(data) {
        for (header, value) in &heads.fields {
            let _ = h::proxy_entries(*header, value);
        }
    }
    let _ = h::http_proxy_headers(data);
    cut_block_reads_first_entries(data);
    let _ = h::http_start_line(data);
    let _ = h::header_block_done(data, 0);
    if let Some(&n) = data.first() {
        // Searching on from any point agrees with searching the whole (bytes before the
        // point that hold no empty line).
        let seen = (n as usize).min(data.len());
        if !h::header_block_done(&data[..seen], 0) {
            assert_eq!(
                h::header_block_done(data, seen),
                h::header_block_done(data, 0)
            );
        }
    }
    let _ = h::looks_like_mail(data);
    for msg in h::smtp_messages(data) {
        let _ = h::received_fields(h::mail_header_block(msg));
    }
    let _ = h::received_fields(h::mail_header_block(data));
    let _ = h::icmp_quote(data);
    let (a, b) = data.split_at(data.len() / 2);
    let _ = h::icmp_mpls(data.first().is_some_and(|x| x & 1 == 1), a, b);
    // Messages sent one after another (pipelined), read as trace reads them: each after
    // the body of the one before (responses to HEAD requests when the first byte is odd).
    let mut at = 0usize;
    let bodiless = data.first().is_some_and(|x| x & 1 == 1);
    while let Some(n) = h::next_message(&data[at..], bodiless) {
        assert!(n > 0, "next_message must move on");
        at = at.saturating_add(n);
        if at >= data.len() {
            break;
        }
        let _ = h::http_heads(&data[at..]);
    }
    // A stream put together with gaps marked: no field read from it holds a gap's mark
    // (bytes around a lost segment, closed up, could name another address).
    let mut segs: Vec<(u32, &[u8])> = data.chunks(7).map(|c| (u32::from(c[0]) * 5, c)).collect();
    let (stream, gaps) = h::tcp_stream(&mut segs);
    assert!(gaps == 0 || h::has_gap(&stream), "a gap left no mark");
    for msg in h::smtp_messages(&stream) {
        let block = h::mail_header_block(msg);
        for r in h::received_fields(block) {
            assert!(!field_lines(block, r.offset as usize).contains(&0));
        }
    }
    if let Some(heads) = h::http_heads(&stream) {
        assert!(heads.fields.iter().all(|(_, v)| !v.contains('\0')));
        assert!(heads.host.is_none_or(|v| !v.contains('\0')));
    }
}

/// A whole HTTP header block cut anywhere (as a snap length cuts it) reads, of each proxy
/// header, the entries the whole block lists first, never another entry (`8.8.8.8` of
/// `8.8.8.88`). Blocks with folded lines or NUL are left out: a folded line after the cut
/// changes the entry before it, and a NUL after it drops its line (invalid there, RFC 9110,
/// 5.5); the report says what followed the cut was not read.
fn cut_block_reads_first_entries(data: &[u8]) {
    use crate::decode::headers::{self as h, HttpHeads, ProxyHeader};
    let Some(whole) = h::http_heads(data).filter(|w| w.complete) else {
        return;
    };
    if data.contains(&0)
        || data
            .windows(2)
            .any(|w| w[0] == b'\n' && matches!(w[1], b' ' | b'\t'))
    {
        return;
    }
    let entries = |heads: &HttpHeads, kind: ProxyHeader| -> Vec<h::ProxyEntry> {
        heads
            .fields
            .iter()
            .filter(|f| f.0 == kind)
            .flat_map(|(k, v)| h::proxy_entries(*k, v))
            .collect()
    };
    // Cut points spread over the block, from its last bytes' values.
    let n = data.len();
    let seed = data[n - 1] as usize | (data[n / 2] as usize) << 8;
    for at in [
        seed % n,
        (seed * 7 + 13) % n,
        n.saturating_sub(1 + seed % 64),
    ] {
        let Some(cut) = h::http_heads(&data[..at]) else {
            continue;
        };
        for kind in [
            ProxyHeader::XForwardedFor,
            ProxyHeader::Forwarded,
            ProxyHeader::Via,
        ] {
            let (read, all) = (entries(&cut, kind), entries(&whole, kind));
            let differ = read.iter().zip(&all).position(|(a, b)| a != b);
            assert!(
                read.len() <= all.len() && differ.is_none(),
                "cut at {at}: {} entries read, {} in the whole block; entry {differ:?} differs: {:?}",
                read.len(),
                all.len(),
                differ.map(|i| (&read[i].text, &all[i].text)),
            );
        }
    }
}

/// The lines of the header field that starts at `at` in a block: its first line and the
/// folded lines that continue it.
fn field_lines(block: &[u8], at: usize) -> &[u8] {
    let rest = &block[at.min(block.len())..];
    let mut end = 0;
    for (i, line) in rest.split(|&b| b == b'\n').enumerate() {
        if i > 0 && !line.first().is_some_and(|b| matches!(b, b' ' | b'\t')) {
            break;
        }
        end += line.len() + 1;
    }
    &rest[..end.min(rest.len())]
}

/// A MaxMind DB (or zstd-compressed one, or a hoptrace range table) opened from bytes and
/// asked about a few addresses.
pub fn database(data: &[u8]) {
    if let Ok(s) = crate::enrich::Source::from_bytes(data.to_vec(), "fuzz", "") {
        for ip in [
            "1.2.3.4",
            "89.160.20.112",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            let ip: IpAddr = ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
            let _ = s.lookup(ip);
        }
    }
}

/// The jurisdictions table and the provider directory, parsed from bytes.
pub fn tables(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::enrich::Jurisdictions::parse(&text, "fuzz");
    let _ = crate::enrich::ProviderDirectory::parse(data, "fuzz");
}
