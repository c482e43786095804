//! Random and mutated input never panics, every problem is counted where it happened, and
//! the broken reference files give clear messages.

use crate::support::{run_bytes, run_files, shared};
use hoptrace::decode::{Decoded, decode};
use hoptrace::flow::tcp::{ACK, SYN};
use hoptrace::ingest::RawFrame;
use hoptrace::model::{LinkType, Locator, SkipReason, Timestamp};
use hoptrace::synth::pkt::{self, Pkt, num};
use hoptrace::synth::{BigCapture, Capture, Format};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// A runner with a fixed seed and case count: the same inputs on every run.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

const LINKS: [u32; 15] = [
    0, 1, 9, 12, 14, 50, 51, 101, 104, 108, 113, 228, 229, 239, 276,
];

#[test]
fn decoding_random_bytes_on_every_link_type_never_panics() {
    let mut r = runner(4000);
    let strategy = (
        proptest::sample::select(LINKS.to_vec()),
        proptest::collection::vec(proptest::num::u8::ANY, 0..200),
    );
    let mut dec = Decoded::default();
    for _ in 0..4000 {
        let (link, data) = strategy.new_tree(&mut r).unwrap().current();
        let f = RawFrame {
            ts: Timestamp(0),
            link: LinkType(link),
            orig_len: data.len() as u32,
            data: &data,
            loc: Locator::default(),
        };
        decode(&f, &mut dec);
        // A frame that gives no packet always says why.
        assert!(
            !dec.packets().is_empty() || dec.problem.is_some(),
            "link {link}: {data:?}"
        );
        for p in dec.packets() {
            assert!(usize::from(p.depth) <= dec.encap().len());
            assert!(p.payload.0 <= p.payload.1 && p.payload.1 as usize <= data.len());
        }
    }
}

/// Frames that are mostly valid (every tunnel kind), then cut and bit-flipped.
fn seed_frames() -> Vec<Vec<u8>> {
    let a = ([192, 0, 2, 1], 40000);
    let b = ([198, 51, 100, 2], 443);
    let inner = Pkt::tcp4_ip(a, b, SYN, b"payload");
    let o = ([203, 0, 113, 1], 50000);
    let p = ([203, 0, 113, 2], 4789);
    vec![
        Pkt::tcp4(a, b, SYN | ACK, b"x"),
        pkt::eth(num::VLAN, &pkt::vlan(5, num::IPV4, &inner)),
        pkt::eth(num::MPLS, &pkt::mpls(&[16, 17], &inner)),
        pkt::eth(num::PPPOE, &pkt::pppoe(1, 0x21, &inner)),
        pkt::eth(
            num::IPV4,
            &pkt::ipv4(
                o.0,
                p.0,
                num::GRE,
                &pkt::gre(0x0800, Some(1), Some(2), &inner),
            ),
        ),
        pkt::eth(
            num::IPV4,
            &Pkt::udp4_ip(o, p, &pkt::vxlan(9, &pkt::eth(num::IPV4, &inner))),
        ),
        pkt::eth(
            num::IPV4,
            &Pkt::udp4_ip(o, ([203, 0, 113, 2], 2152), &pkt::gtpu(7, &inner)),
        ),
        pkt::eth(num::IPV4, &pkt::ipv4(o.0, p.0, 4, &inner)),
        pkt::eth(
            num::IPV4,
            &Pkt::udp4_ip(
                o,
                ([203, 0, 113, 2], 6081),
                &pkt::geneve(3, 0x6558, &pkt::eth(num::IPV4, &inner)),
            ),
        ),
        pkt::eth(
            num::IPV4,
            &pkt::ipv4(o.0, p.0, num::GRE, &pkt::pptp(3, 1, 0x21, &inner)),
        ),
    ]
}

#[test]
fn decoding_mutated_frames_never_panics() {
    let seeds = seed_frames();
    let mut r = runner(1);
    let strategy = (
        0usize..seeds.len(),
        proptest::collection::vec((0usize..200, proptest::num::u8::ANY), 1..6),
        0usize..200,
    );
    let mut dec = Decoded::default();
    for _ in 0..20_000 {
        let (i, flips, cut) = strategy.new_tree(&mut r).unwrap().current();
        let mut data = seeds[i].clone();
        for (at, v) in flips {
            if at < data.len() {
                data[at] ^= v;
            }
        }
        data.truncate(cut.max(1).min(data.len()));
        let f = RawFrame {
            ts: Timestamp(0),
            link: LinkType::ETHERNET,
            orig_len: data.len() as u32,
            data: &data,
            loc: Locator::default(),
        };
        decode(&f, &mut dec);
        assert!(
            !dec.packets().is_empty() || dec.problem.is_some(),
            "{data:?}"
        );
    }
}

#[test]
fn reading_mutated_capture_files_never_panics_and_counts_every_frame() {
    let mut base = Vec::new();
    BigCapture {
        packets: 300,
        concurrency: 20,
        format: Format::Pcap,
        ..BigCapture::default()
    }
    .write_to(&mut base)
    .unwrap();
    let mut ng = Vec::new();
    BigCapture {
        packets: 300,
        concurrency: 20,
        format: Format::PcapNg,
        ..BigCapture::default()
    }
    .write_to(&mut ng)
    .unwrap();
    let mut r = runner(1);
    let strategy = (
        proptest::bool::ANY,
        proptest::collection::vec((0usize..200_000, proptest::num::u8::ANY), 1..8),
        proptest::option::of(0usize..200_000),
    );
    for _ in 0..150 {
        let (use_ng, flips, cut) = strategy.new_tree(&mut r).unwrap().current();
        let mut data = if use_ng { ng.clone() } else { base.clone() };
        let len = data.len();
        for (at, v) in flips {
            data[at % len] ^= v;
        }
        if let Some(c) = cut {
            data.truncate(c % len);
        }
        if data.is_empty() {
            continue;
        }
        let run = run_bytes(&data);
        // Every frame read reached the flow stage, and every frame that became no packet
        // is counted under a frame-level reason: nothing is dropped silently.
        hoptrace::fuzzing::check_accounting(&run);
    }
}

#[test]
fn random_bytes_after_a_valid_header_never_panic() {
    let mut r = runner(1);
    let strategy = proptest::collection::vec(proptest::num::u8::ANY, 0..3000);
    for i in 0..300 {
        let body = strategy.new_tree(&mut r).unwrap().current();
        let mut data = if i % 2 == 0 {
            Capture::new(Format::Pcap).finish()
        } else {
            Capture::new(Format::PcapNg).finish()
        };
        data.extend_from_slice(&body);
        let _ = run_bytes(&data);
    }
}

#[test]
fn broken_reference_files_give_clear_messages() {
    let Some(dir) = shared("captures") else {
        return;
    };
    let run = run_files(&[dir.join("libpcap-bad-headers/pcap-invalid-version-1.pcap")]);
    assert!(run.nothing_read());
    let e = run.inputs[0].error.clone().unwrap();
    assert!(
        e.contains("pcap version 1.") && e.contains("not supported"),
        "{e}"
    );
    let run = run_files(&[dir.join("libpcap-bad-headers/pcapng-invalid-vers-1.pcapng")]);
    let e = run.inputs[0].error.clone().unwrap();
    assert!(e.contains("pcapng section header version 0.1"), "{e}");
    let run = run_files(&[dir.join("pcap-parser-formats/err-eof.bin")]);
    let e = run.inputs[0].error.clone().unwrap();
    assert!(
        e.contains("nor a flow log hoptrace knows") && e.contains("(first bytes 06000000"),
        "{e}"
    );
    let run = run_files(&[dir.join("zeek-empty/empty.pcap")]);
    assert!(run.flows.flows.is_empty() && !run.skipped_input());
}

#[test]
fn truncated_headers_are_reported() {
    let Some(dir) = shared("captures/zeek-truncated") else {
        return;
    };
    let check = |name: &str, reason: SkipReason, layer: &str| {
        let run = run_files(&[dir.join(name)]);
        let e = run.flows.diag.entries();
        assert!(
            e.iter()
                .any(|(r, d, _)| *r == reason && r.detail_name(*d).as_deref() == Some(layer)),
            "{name}: {e:?}"
        );
        assert!(run.skipped_input(), "{name}");
    };
    check("ip4-trunc.pcap", SkipReason::TruncatedHeader, "IPv4");
    check("ip6-trunc.pcap", SkipReason::TruncatedHeader, "IPv6");
    check(
        "ip6-ext-trunc.pcap",
        SkipReason::TruncatedHeader,
        "IPv6 extension header",
    );
    // ICMP whose header is cut: ports (type, code) read, the rest reported.
    let run = run_files(&[dir.join("icmp-header-trunc.pcap")]);
    assert!(!run.flows.flows.is_empty());
}

#[test]
fn a_frame_with_a_cut_tcp_header_is_counted_and_reported() {
    let full = Pkt::tcp4(([10, 0, 0, 1], 1), ([10, 0, 0, 2], 2), ACK, b"");
    let mut c = Capture::new(Format::Pcap);
    c.push(0, &full[..14 + 20 + 8]);
    let run = run_bytes(&c.finish());
    assert_eq!(run.flows.flows.len(), 1);
    assert_eq!(run.flows.diag.count(SkipReason::TruncatedHeader), 1);
}

#[test]
fn header_evidence_parsers_take_any_bytes() {
    use hoptrace::decode::headers::{self, ProxyHeader};
    let mut r = runner(3000);
    // Bytes that look like the start of the formats, then anything: the parsers get past
    // their first check often.
    let heads = proptest::sample::select(vec![
        &b"GET / HTTP/1.1\r\n"[..],
        b"HTTP/1.1 200 OK\r\nVia: ",
        b"Received: from a (b [",
        b"X-Forwarded-For: ",
        b"\x45\x00\x00\x28",
        b"",
    ]);
    let strategy = (
        heads,
        proptest::collection::vec(
            proptest::sample::select(b" :,;[]()\"\r\n\t1.0aZ=_-".to_vec()),
            0..300,
        ),
        proptest::collection::vec(proptest::num::u8::ANY, 0..200),
    );
    for _ in 0..3000 {
        let (head, text, raw) = strategy.new_tree(&mut r).unwrap().current();
        for tail in [&text, &raw] {
            let mut b = head.to_vec();
            b.extend_from_slice(tail);
            let _ = headers::http_heads(&b);
            let _ = headers::received_fields(headers::mail_header_block(&b));
            let _ = headers::smtp_messages(&b);
            let _ = headers::looks_like_mail(&b);
            let _ = headers::icmp_quote(&b);
            let _ = headers::icmp_mpls(false, &b[..b.len().min(8)], &b);
            let _ = headers::icmp_mpls(true, &b[..b.len().min(8)], &b);
            let s = String::from_utf8_lossy(&b);
            for h in [
                ProxyHeader::XForwardedFor,
                ProxyHeader::Forwarded,
                ProxyHeader::Via,
            ] {
                assert!(headers::proxy_entries(h, &s).len() <= headers::MAX_CHAIN);
            }
            let _ = headers::parse_received(&s);
            let _ = headers::parse_mail_date(&s);
            let mut segs: Vec<(u32, &[u8])> = b
                .chunks(7)
                .enumerate()
                .map(|(i, c)| ((i as u32).wrapping_mul(0x9e37_79b9), c))
                .collect();
            let _ = headers::tcp_stream(&mut segs);
        }
    }
}
