//! Flow semantics: who originates, when a flow ends, fragments, ICMP, Community ID, and
//! the associative merge of partial tables.

use crate::support::{Dir, described, run_bytes};
use hoptrace::flow::tcp::{ACK, FIN, PSH, RST, SYN};
use hoptrace::model::SkipReason;
use hoptrace::report::{FlowRow, flow_rows};
use hoptrace::synth::pkt::{self, Ip4, Pkt, Pseudo, num, v6};
use hoptrace::synth::{Capture, Format};
use hoptrace::{FlowsConfig, flows, partial};
use proptest::prelude::*;

const C: ([u8; 4], u16) = ([192, 0, 2, 1], 40000);
const S: ([u8; 4], u16) = ([198, 51, 100, 2], 443);
const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SEC;

/// A capture of `(time offset in ns, frame)` pairs.
fn capture(frames: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut c = Capture::new(Format::Pcap);
    for (t, f) in frames {
        c.push(T0 + t, f);
    }
    c.finish()
}

fn rows(frames: &[(i64, Vec<u8>)]) -> Vec<FlowRow> {
    flow_rows(&run_bytes(&capture(frames)))
}

#[test]
fn the_syn_sender_originates_even_when_the_syn_ack_was_captured_first() {
    let f = vec![
        (0, Pkt::tcp4(S, C, SYN | ACK, b"")),
        (10, Pkt::tcp4(C, S, SYN, b"")),
        (20, Pkt::tcp4(C, S, ACK, b"")),
    ];
    let r = &rows(&f)[0];
    assert_eq!((r.src_ip.as_str(), r.src_port), ("192.0.2.1", 40000));
    assert_eq!(r.history, "hSA");
    assert_eq!(r.conn_state, "S1");
}

#[test]
fn without_a_syn_the_syn_ack_receiver_or_else_the_first_sender_originates() {
    let r = &rows(&[(0, Pkt::tcp4(S, C, SYN | ACK, b""))])[0];
    assert_eq!(r.src_port, 40000);
    assert_eq!(r.conn_state, "OTH");
    let r = &rows(&[
        (0, Pkt::tcp4(S, C, ACK, b"x")),
        (5, Pkt::tcp4(C, S, ACK, b"")),
    ])[0];
    assert_eq!(r.src_port, 443);
    assert_eq!(r.history, "Da");
    let r = &rows(&[(0, Pkt::udp4(S, C, b"a")), (5, Pkt::udp4(C, S, b"b"))])[0];
    assert_eq!((r.src_port, r.conn_state), (443, "SF"));
}

#[test]
fn connection_states_follow_zeek() {
    let state = |f: Vec<(i64, Vec<u8>)>| rows(&f)[0].conn_state;
    let syn = (0, Pkt::tcp4(C, S, SYN, b""));
    let synack = (1, Pkt::tcp4(S, C, SYN | ACK, b""));
    let ack = (2, Pkt::tcp4(C, S, ACK, b""));
    assert_eq!(state(vec![syn.clone()]), "S0");
    assert_eq!(
        state(vec![syn.clone(), (1, Pkt::tcp4(S, C, RST | ACK, b""))]),
        "REJ"
    );
    let fin_c = (3, Pkt::tcp4(C, S, FIN | ACK, b""));
    let fin_s = (4, Pkt::tcp4(S, C, FIN | ACK, b""));
    assert_eq!(
        state(vec![
            syn.clone(),
            synack.clone(),
            ack.clone(),
            fin_c.clone(),
            fin_s
        ]),
        "SF"
    );
    assert_eq!(
        state(vec![syn.clone(), synack.clone(), ack.clone(), fin_c]),
        "S2"
    );
    assert_eq!(
        state(vec![syn, synack, ack, (3, Pkt::tcp4(C, S, RST, b""))]),
        "RSTO"
    );
}

#[test]
fn an_idle_gap_longer_than_the_timeout_starts_a_new_flow() {
    let udp = |t| (t, Pkt::udp4(C, ([198, 51, 100, 2], 53), b"q"));
    assert_eq!(rows(&[udp(0), udp(59 * SEC)]).len(), 1);
    assert_eq!(rows(&[udp(0), udp(61 * SEC)]).len(), 2);
    // TCP waits five minutes.
    let tcp = |t| (t, Pkt::tcp4(C, S, ACK, b"x"));
    assert_eq!(rows(&[tcp(0), tcp(299 * SEC)]).len(), 1);
    assert_eq!(rows(&[tcp(0), tcp(301 * SEC)]).len(), 2);
    // Timestamps that go backwards do not split a flow.
    assert_eq!(rows(&[tcp(10 * SEC), tcp(0)]).len(), 1);
}

#[test]
fn idle_timeouts_are_configurable() {
    let d = Dir::new();
    let udp = |t| (t, Pkt::udp4(C, ([198, 51, 100, 2], 53), b"q"));
    let p = d.write("c.pcap", &capture(&[udp(0), udp(20 * SEC)]));
    let mut cfg = FlowsConfig::new(vec![p]);
    cfg.flow.idle_udp = 10 * SEC;
    assert_eq!(flows(&cfg).unwrap().flows.flows.len(), 2);
}

#[test]
fn a_new_syn_after_a_closed_connection_starts_a_new_flow() {
    let open_close = |t0: i64| {
        vec![
            (t0, Pkt::tcp4(C, S, SYN, b"")),
            (t0 + 1, Pkt::tcp4(S, C, SYN | ACK, b"")),
            (t0 + 2, Pkt::tcp4(C, S, FIN | ACK, b"")),
            (t0 + 3, Pkt::tcp4(S, C, FIN | ACK, b"")),
        ]
    };
    let mut f = open_close(0);
    f.extend(open_close(SEC));
    let r = rows(&f);
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|r| r.conn_state == "SF"));
    // A retransmitted SYN of an open connection stays on it.
    let r = rows(&[
        (0, Pkt::tcp4(C, S, SYN, b"")),
        (SEC, Pkt::tcp4(C, S, SYN, b"")),
    ]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].orig_pkts, 2);
}

#[test]
fn an_active_timeout_cuts_flows_at_multiples_of_it() {
    let d = Dir::new();
    let f: Vec<_> = (0..10)
        .map(|i| (i * 30 * SEC, Pkt::tcp4(C, S, ACK | PSH, b"x")))
        .collect();
    let p = d.write("c.pcap", &capture(&f));
    let mut cfg = FlowsConfig::new(vec![p]);
    cfg.flow.active = Some(120 * SEC);
    let run = flows(&cfg).unwrap();
    let r = flow_rows(&run);
    // T0 is 1_700_000_000 s = 14_166_666 * 120 + 80 s: the first slice ends 40 s in.
    let counts: Vec<u64> = r.iter().map(|r| r.orig_pkts).collect();
    assert_eq!(counts, [2, 4, 4]);
    assert!(r.iter().all(|r| r.duration <= 120.0));
}

fn frag4(id: u16, off: u16, more: bool, data: &[u8]) -> Vec<u8> {
    let mut ip = Ip4::new(C.0, S.0, num::UDP);
    ip.id = id;
    ip.frag_offset = off;
    ip.more = more;
    pkt::eth(num::IPV4, &ip.build(data))
}

fn udp_datagram(len: usize) -> Vec<u8> {
    pkt::udp(Pseudo::V4(C.0, S.0), C.1, S.1, &vec![0x42; len])
}

fn frag4_from_s(id: u16, off: u16, more: bool, data: &[u8]) -> Vec<u8> {
    let mut ip = Ip4::new(S.0, C.0, num::UDP);
    ip.id = id;
    ip.frag_offset = off;
    ip.more = more;
    pkt::eth(num::IPV4, &ip.build(data))
}

fn udp_datagram_from_s(len: usize) -> Vec<u8> {
    pkt::udp(Pseudo::V4(S.0, C.0), S.1, C.1, &vec![0x43; len])
}

#[test]
fn later_fragments_are_counted_on_their_flow_in_either_order() {
    let d = udp_datagram(2000);
    let (a, rest) = d.split_at(1480);
    let (b, c) = rest.split_at(400);
    for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2]] {
        let parts = [
            frag4(7, 0, true, a),
            frag4(7, 1480, true, b),
            frag4(7, 1880, false, c),
        ];
        let f: Vec<_> = order
            .iter()
            .enumerate()
            .map(|(i, &k)| (i as i64 * 1000, parts[k].clone()))
            .collect();
        let run = run_bytes(&capture(&f));
        assert_eq!(
            described(&run),
            ["udp 192.0.2.1:40000 > 198.51.100.2:443 3/0"],
            "order {order:?}"
        );
        assert_eq!(flow_rows(&run)[0].orig_bytes, 3 * 20 + 2008);
        assert!(run.flows.diag.is_empty(), "{:?}", run.flows.diag.entries());
    }
}

#[test]
fn a_tiny_first_fragment_gets_its_ports_from_the_fragments_after_it() {
    let seg = pkt::tcp(Pseudo::V4(C.0, S.0), C.1, S.1, 1, SYN, b"");
    let mut f = Vec::new();
    // 8 bytes in the first fragment: ports and sequence number, no flags.
    let mut ip = Ip4::new(C.0, S.0, num::TCP);
    ip.id = 9;
    ip.more = true;
    f.push((0, pkt::eth(num::IPV4, &ip.build(&seg[..8]))));
    ip.frag_offset = 8;
    ip.more = false;
    f.push((10, pkt::eth(num::IPV4, &ip.build(&seg[8..]))));
    let run = run_bytes(&capture(&f));
    assert_eq!(
        described(&run),
        ["tcp 192.0.2.1:40000 > 198.51.100.2:443 2/0"]
    );
}

#[test]
fn overlapping_incomplete_and_orphan_fragments_are_counted() {
    let d = udp_datagram(2000);
    let f = vec![
        (0, frag4(1, 0, true, &d[..1480])),
        (1, frag4(1, 1472, false, &d[1472..])),
        // Datagram 2 never completes.
        (2, frag4(2, 0, true, &d[..1480])),
        // Datagram 3 never shows its first fragment.
        (3, frag4(3, 1480, false, &d[1480..])),
    ];
    let run = run_bytes(&capture(&f));
    let diag = &run.flows.diag;
    assert_eq!(diag.count(SkipReason::FragmentOverlap), 1);
    assert_eq!(diag.count(SkipReason::FragmentIncomplete), 2);
    assert_eq!(diag.count(SkipReason::FragmentWithoutFirst), 1);
    assert!(!run.skipped_input());
    assert_eq!(
        described(&run),
        [
            "udp 192.0.2.1:40000 > 198.51.100.2:443 3/0",
            "udp 192.0.2.1:0 > 198.51.100.2:0 1/0"
        ]
    );
}

#[test]
fn ipv6_fragments_are_attributed_too() {
    let a = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    let b = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2]);
    let u = pkt::udp(Pseudo::V6(a, b), 5000, 53, &[7u8; 100]);
    let f = vec![
        (
            0,
            pkt::eth(
                num::IPV6,
                &pkt::ipv6_ext(a, b, &[pkt::ipv6_frag(56, false, 77)], num::UDP, &u[56..]),
            ),
        ),
        (
            1,
            pkt::eth(
                num::IPV6,
                &pkt::ipv6_ext(a, b, &[pkt::ipv6_frag(0, true, 77)], num::UDP, &u[..56]),
            ),
        ),
    ];
    let run = run_bytes(&capture(&f));
    assert_eq!(
        described(&run),
        ["udp [2001:db8::1]:5000 > [2001:db8::2]:53 2/0"]
    );
    assert!(run.flows.diag.is_empty(), "{:?}", run.flows.diag.entries());
}

#[test]
fn echo_requests_and_replies_pair_while_errors_stay_one_way() {
    let r = rows(&[
        (0, Pkt::icmp4(C.0, S.0, 8, 0)),
        (1, Pkt::icmp4(S.0, C.0, 0, 0)),
        (2, Pkt::icmp4(S.0, C.0, 3, 3)),
        (3, Pkt::icmp4(C.0, S.0, 3, 3)),
    ]);
    let d: Vec<_> = r
        .iter()
        .map(|r| {
            (
                r.src_ip.as_str(),
                r.src_port,
                r.dst_port,
                r.orig_pkts,
                r.resp_pkts,
            )
        })
        .collect();
    assert_eq!(
        d,
        [
            ("192.0.2.1", 8, 0, 1, 1),
            ("198.51.100.2", 3, 3, 1, 0),
            ("192.0.2.1", 3, 3, 1, 0)
        ]
    );
}

#[test]
fn every_flow_carries_its_community_id() {
    // The reference implementation's TCP vector.
    let a = ([128, 232, 110, 120], 34855);
    let b = ([66, 35, 250, 204], 80);
    let r = rows(&[(0, Pkt::tcp4(a, b, SYN, b""))]);
    assert_eq!(r[0].community_id, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
}

/// A capture set split into files at the given frame indexes.
fn split_files(d: &Dir, frames: &[(i64, Vec<u8>)], cuts: &[usize]) -> Vec<std::path::PathBuf> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(frames.len());
    bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| d.write(&format!("part{i}.pcap"), &capture(&frames[w[0]..w[1]])))
        .collect()
}

fn table_text(run: &hoptrace::FlowRun) -> String {
    let mut out = Vec::new();
    hoptrace::report::write_flows(run, hoptrace::report::TableFormat::Jsonl, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Runs each file separately, appends the partial tables in the given grouping, and
/// compares with one run over all files.
fn check_merge(frames: &[(i64, Vec<u8>)], cuts: &[usize]) {
    let d = Dir::new();
    let files = split_files(&d, frames, cuts);
    let one = flows(&FlowsConfig::new(files.clone())).unwrap();
    let part = |i: usize| partial(&FlowsConfig::new(vec![files[i].clone()])).unwrap();
    // Through the file format, as separate processes would hand them over.
    let saved = |i: usize| {
        let mut buf = Vec::new();
        part(i).save(&mut buf).unwrap();
        let p = d.write(&format!("part{i}.htp"), &buf);
        hoptrace::PartialRun::load(&p).unwrap()
    };
    // (a . b) . c
    let mut left = saved(0);
    for i in 1..files.len() {
        left.append(saved(i)).unwrap();
    }
    // a . (b . c)
    let mut right = part(files.len() - 1);
    for i in (0..files.len() - 1).rev() {
        let mut p = part(i);
        p.append(right).unwrap();
        right = p;
    }
    let expect = table_text(&one);
    assert_eq!(
        table_text(&left.finish()),
        expect,
        "left fold, cuts {cuts:?}"
    );
    assert_eq!(
        table_text(&right.finish()),
        expect,
        "right fold, cuts {cuts:?}"
    );
}

fn conversation() -> Vec<(i64, Vec<u8>)> {
    let d = udp_datagram(2000);
    vec![
        (0, Pkt::tcp4(C, S, SYN, b"")),
        (1, Pkt::tcp4(S, C, SYN | ACK, b"")),
        (2, Pkt::tcp4(C, S, ACK, b"")),
        (3, frag4(5, 0, true, &d[..1480])),
        (4, Pkt::tcp4(S, C, ACK | PSH, b"data")),
        (5, frag4(5, 1480, false, &d[1480..])),
        (6, Pkt::tcp4(C, S, FIN | ACK, b"")),
        (7, Pkt::tcp4(S, C, FIN | ACK, b"")),
        (8, Pkt::tcp4(C, S, SYN, b"")),
        (70 * SEC, Pkt::udp4(C, S, b"later")),
        (71 * SEC, Pkt::icmp4(C.0, S.0, 8, 0)),
    ]
}

#[test]
fn partial_tables_of_separate_runs_merge_into_the_one_run_result() {
    let f = conversation();
    for cuts in [vec![1], vec![3], vec![4, 6], vec![2, 5, 9]] {
        check_merge(&f, &cuts);
    }
}

/// Builds a capture from (kind, gap in seconds) picks and checks the merge at two cuts.
fn check_picks(picks: &[(usize, i64)], cut_a: usize, cut_b: usize) {
    let kinds = [
        Pkt::tcp4(C, S, SYN, b""),
        Pkt::tcp4(S, C, SYN | ACK, b""),
        Pkt::tcp4(C, S, ACK, b"x"),
        Pkt::tcp4(C, S, FIN | ACK, b""),
        Pkt::udp4(C, S, b"u"),
        Pkt::icmp4(C.0, S.0, 8, 0),
        // Two fragments of one UDP datagram of the same 5-tuple as the UDP packets.
        frag4(5, 0, true, &udp_datagram(2000)[..1480]),
        frag4(5, 1480, false, &udp_datagram(2000)[1480..]),
        // Another datagram (id 9) with a tiny first fragment: just the UDP header.
        frag4(9, 0, true, &udp_datagram(100)[..8]),
        frag4(9, 8, false, &udp_datagram(100)[8..]),
        // A datagram from the responder (same id 5, other direction: another record).
        frag4_from_s(5, 0, true, &udp_datagram_from_s(2000)[..1480]),
        frag4_from_s(5, 1480, false, &udp_datagram_from_s(2000)[1480..]),
    ];
    let mut t = 0;
    let frames: Vec<(i64, Vec<u8>)> = picks
        .iter()
        .map(|&(k, gap)| {
            // Gaps from 0 to 89 s cross the UDP, ICMP and fragment timeouts.
            t += gap * SEC;
            (t, kinds[k].clone())
        })
        .collect();
    let n = frames.len();
    let mut cuts = vec![cut_a % n, cut_b % n];
    cuts.sort_unstable();
    cuts.dedup();
    cuts.retain(|&c| c > 0 && c < n);
    check_merge(&frames, &cuts);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn merging_is_associative_for_any_cut(
        picks in proptest::collection::vec((0usize..12, 0i64..90), 3..40),
        cut_a in 1usize..40,
        cut_b in 1usize..40,
    ) {
        check_picks(&picks, cut_a, cut_b);
    }
}

#[test]
fn regression_3_a_repeated_last_fragment_after_a_completed_datagram() {
    // Last fragment, first fragment (the datagram completes), the last fragment again, a
    // TCP packet; cut into three files. When completion closed a record, the repeat became
    // an orphan row or joined the first fragment depending on the cut.
    check_picks(&[(7, 0), (6, 0), (7, 0), (0, 0)], 2, 5);
    let frames: Vec<(i64, Vec<u8>)> = [7, 6, 7]
        .iter()
        .map(|&k| {
            let d = udp_datagram(2000);
            let f = if k == 6 {
                frag4(5, 0, true, &d[..1480])
            } else {
                frag4(5, 1480, false, &d[1480..])
            };
            (0, f)
        })
        .collect();
    let run = run_bytes(&capture(&frames));
    let r = flow_rows(&run);
    assert_eq!(r.len(), 1, "the repeat is counted on the datagram's flow");
    assert_eq!((r[0].src_port, r[0].orig_pkts), (40000, 3));
    assert!(
        run.flows
            .diag
            .entries()
            .iter()
            .any(|(r, _, _)| *r == SkipReason::FragmentOverlap)
    );
}

#[test]
fn regression_4_later_fragments_never_decide_where_a_flow_splits() {
    // A UDP packet, the datagram's last fragment 5 s later, its first fragment 56 s after
    // that (61 s after the UDP packet, past the 60 s UDP idle timeout), then TCP. Only
    // packets with ports decide segments: the datagram opens a second segment, which also
    // holds its earlier last fragment, however the capture is cut.
    for g in [0, 30, 89] {
        check_picks(&[(4, 0), (7, 5), (6, 56), (0, g)], 1, 2);
        check_picks(&[(4, 0), (7, 5), (6, 56), (0, g)], 2, 3);
    }
    let frames = [(4, 0), (7, 5), (6, 61)].map(|(k, t)| {
        let d = udp_datagram(2000);
        let f = match k {
            4 => Pkt::udp4(C, S, b"u"),
            6 => frag4(5, 0, true, &d[..1480]),
            _ => frag4(5, 1480, false, &d[1480..]),
        };
        (t * SEC, f)
    });
    let r = rows(&frames);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!((r[0].orig_pkts, r[1].orig_pkts), (1, 2));
    assert_eq!(
        r[1].first_frame, 2,
        "the waiting fragment is the segment's first frame"
    );
    // A fragment between two packets 61 s apart does not bridge them either.
    check_picks(
        &[
            (0, 0),
            (0, 0),
            (6, 0),
            (4, 0),
            (0, 0),
            (7, 23),
            (4, 38),
            (0, 0),
            (0, 0),
            (0, 0),
            (0, 0),
            (0, 0),
        ],
        39,
        4,
    );
}

#[test]
fn regression_5_a_joined_segment_keeps_the_earliest_frame() {
    // The last fragment waits in the first part, the UDP packet is in the second, the first
    // fragment in the third: the flow's first frame is the waiting fragment's.
    let syn = (0, 0);
    check_picks(
        &[syn, syn, syn, syn, syn, (7, 0), (4, 0), syn, (6, 0), syn],
        27,
        16,
    );
}

#[test]
fn regression_2_fragment_records_that_expire_near_a_table_start_stay_open() {
    let picks = [
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (7, 61),
        (0, 7),
        (0, 16),
        (0, 20),
        (6, 18),
        (7, 61),
        (0, 0),
        (0, 61),
    ];
    check_picks(&picks, 31, 19);
}

#[test]
fn damaged_and_incompatible_partial_tables_are_refused() {
    let d = Dir::new();
    let f = conversation();
    let files = split_files(&d, &f, &[4]);
    let mut buf = Vec::new();
    partial(&FlowsConfig::new(vec![files[0].clone()]))
        .unwrap()
        .save(&mut buf)
        .unwrap();
    for cut in [10, buf.len() / 2, buf.len() - 1] {
        let p = d.write("cut.htp", &buf[..cut]);
        let e = hoptrace::PartialRun::load(&p).unwrap_err().to_string();
        assert!(e.contains("partial flow table"), "{e}");
    }
    // One bit flipped anywhere: refused. Without the digest that ends the file, about a
    // quarter of the flips tried on a small table were read as other counts, times or
    // addresses, and a flip in a flow's connection history made writing its row panic.
    let mut refused_by_digest = 0;
    for i in 0..buf.len() {
        let mut b = buf.clone();
        b[i] ^= 1 << (i % 8);
        let p = d.write("flipped.htp", &b);
        let e = hoptrace::PartialRun::load(&p).unwrap_err().to_string();
        assert!(e.contains("partial flow table"), "byte {i}: {e}");
        refused_by_digest += usize::from(e.contains("SHA-256"));
    }
    assert!(refused_by_digest > buf.len() / 4, "{refused_by_digest}");
    // Too short to be mapped or to hold the magic, and a text file.
    for (name, bytes) in [("empty.htp", &b""[..]), ("text.htp", b"hello")] {
        let p = d.write(name, bytes);
        let e = hoptrace::PartialRun::load(&p).unwrap_err().to_string();
        assert!(e.contains("not a hoptrace partial flow table"), "{e}");
    }
    let mut a = partial(&FlowsConfig::new(vec![files[0].clone()])).unwrap();
    let mut cfg = FlowsConfig::new(vec![files[1].clone()]);
    cfg.flow.idle_udp = 5 * SEC;
    let e = a.append(partial(&cfg).unwrap()).unwrap_err().to_string();
    assert!(e.contains("different timeouts"), "{e}");
}
