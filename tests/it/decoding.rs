//! Every link type, layer-2 shim and tunnel, from frames the tests build themselves.

use crate::support::{described, run_bytes};
use hoptrace::flow::tcp::{ACK, SYN};
use hoptrace::model::SkipReason;
use hoptrace::report::flow_rows;
use hoptrace::synth::pkt::{self, Ip4, Pkt, Pseudo, num, v6};
use hoptrace::synth::{Capture, Format};

const A: [u8; 4] = [192, 0, 2, 10];
const B: [u8; 4] = [198, 51, 100, 20];
const OUT_A: [u8; 4] = [203, 0, 113, 1];
const OUT_B: [u8; 4] = [203, 0, 113, 2];

fn cap(link: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut c = Capture::with_link(Format::Pcap, link);
    for (i, f) in frames.iter().enumerate() {
        c.push(1_700_000_000_000_000_000 + i as i64 * 1_000_000, f);
    }
    c.finish()
}

/// A SYN from A:40000 to B:443 and the SYN+ACK back, as raw IPv4 packets.
fn handshake_ip() -> Vec<Vec<u8>> {
    vec![
        Pkt::tcp4_ip((A, 40000), (B, 443), SYN, b""),
        Pkt::tcp4_ip((B, 443), (A, 40000), SYN | ACK, b""),
    ]
}

fn check(link: u32, frames: Vec<Vec<u8>>, expect: &[&str]) {
    let run = run_bytes(&cap(link, &frames));
    assert_eq!(described(&run), expect, "{:?}", run.flows.diag.entries());
    assert!(!run.skipped_input(), "{:?}", run.flows.diag.entries());
}

const HANDSHAKE: &str = "tcp 192.0.2.10:40000 > 198.51.100.20:443 1/1";

#[test]
fn ethernet_ipv4_tcp() {
    let f: Vec<Vec<u8>> = handshake_ip()
        .iter()
        .map(|p| pkt::eth(num::IPV4, p))
        .collect();
    check(1, f, &[HANDSHAKE]);
}

#[test]
fn raw_ip_link_types_101_228_229_and_bsd_raw() {
    check(101, handshake_ip(), &[HANDSHAKE]);
    check(228, handshake_ip(), &[HANDSHAKE]);
    check(12, handshake_ip(), &[HANDSHAKE]);
    check(14, handshake_ip(), &[HANDSHAKE]);
    let a6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    let b6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2]);
    check(
        229,
        vec![Pkt::udp6_ip((a6, 5000), (b6, 53), b"q")],
        &["udp [2001:db8::1]:5000 > [2001:db8::2]:53 1/0"],
    );
}

#[test]
fn raw_ipv6_link_type_rejects_ipv4_packets() {
    let run = run_bytes(&cap(229, &handshake_ip()));
    assert!(run.flows.flows.is_empty());
    assert_eq!(run.flows.diag.count(SkipReason::MalformedHeader), 2);
}

#[test]
fn linux_cooked_v1_and_v2() {
    let sll = handshake_ip()
        .iter()
        .map(|p| pkt::sll(num::IPV4, p))
        .collect();
    check(113, sll, &[HANDSHAKE]);
    let sll2 = handshake_ip()
        .iter()
        .map(|p| pkt::sll2(num::IPV4, p))
        .collect();
    check(276, sll2, &[HANDSHAKE]);
}

#[test]
fn bsd_null_in_either_byte_order_and_loop() {
    let le = handshake_ip()
        .iter()
        .map(|p| pkt::null(2, false, p))
        .collect();
    check(0, le, &[HANDSHAKE]);
    let be = handshake_ip()
        .iter()
        .map(|p| pkt::null(2, true, p))
        .collect();
    check(0, be, &[HANDSHAKE]);
    let lo = handshake_ip()
        .iter()
        .map(|p| pkt::null(2, true, p))
        .collect();
    check(108, lo, &[HANDSHAKE]);
    // IPv6 families of several systems.
    let a6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    let b6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2]);
    for af in [10, 24, 28, 30] {
        let f = vec![pkt::null(af, false, &Pkt::udp6_ip((a6, 1), (b6, 2), b""))];
        check(0, f, &["udp [2001:db8::1]:1 > [2001:db8::2]:2 1/0"]);
    }
}

#[test]
fn ppp_with_and_without_address_and_compressed_protocol() {
    let f = handshake_ip().iter().map(|p| pkt::ppp(0x0021, p)).collect();
    check(9, f, &[HANDSHAKE]);
    // No address/control bytes, protocol field compressed to one byte (0x21).
    let f = handshake_ip()
        .iter()
        .map(|p| [&[0x21u8][..], p].concat())
        .collect();
    check(9, f, &[HANDSHAKE]);
    let f = handshake_ip().iter().map(|p| pkt::ppp(0x0021, p)).collect();
    check(50, f, &[HANDSHAKE]);
}

#[test]
fn cisco_hdlc() {
    let f = handshake_ip()
        .iter()
        .map(|p| pkt::chdlc(num::IPV4, p))
        .collect();
    check(104, f, &[HANDSHAKE]);
}

#[test]
fn nflog_ipv4_and_ipv6() {
    let f = handshake_ip().iter().map(|p| pkt::nflog(2, p)).collect();
    check(239, f, &[HANDSHAKE]);
    let a6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    let b6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2]);
    let f = vec![pkt::nflog(10, &Pkt::udp6_ip((a6, 7), (b6, 8), b"x"))];
    check(239, f, &["udp [2001:db8::1]:7 > [2001:db8::2]:8 1/0"]);
}

#[test]
fn unknown_link_types_are_counted_not_fatal() {
    let run = run_bytes(&cap(147, &handshake_ip()));
    assert!(run.flows.flows.is_empty());
    let e = run.flows.diag.entries();
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].0, e[0].1, e[0].2.count),
        (SkipReason::UnknownLinkType, 147, 2)
    );
    assert!(run.skipped_input());
}

#[test]
fn vlan_qinq_and_vntag_shims() {
    let vlan = handshake_ip()
        .iter()
        .map(|p| pkt::eth(num::VLAN, &pkt::vlan(10, num::IPV4, p)))
        .collect();
    check(1, vlan, &[HANDSHAKE]);
    let qinq: Vec<Vec<u8>> = handshake_ip()
        .iter()
        .map(|p| {
            let inner = pkt::vlan(20, num::IPV4, p);
            pkt::eth(num::QINQ, &pkt::vlan(10, num::VLAN, &inner))
        })
        .collect();
    let run = run_bytes(&cap(1, &qinq));
    let rows = flow_rows(&run);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].vlan, "10.20");
    assert_eq!(rows[0].encap, "vlan:10 / vlan:20");
    let vntag = handshake_ip()
        .iter()
        .map(|p| pkt::eth(num::VNTAG, &pkt::vntag(num::IPV4, p)))
        .collect();
    check(1, vntag, &[HANDSHAKE]);
}

#[test]
fn the_same_five_tuple_on_two_vlans_is_two_flows() {
    let p = Pkt::tcp4_ip((A, 40000), (B, 443), SYN, b"");
    let f = vec![
        pkt::eth(num::VLAN, &pkt::vlan(10, num::IPV4, &p)),
        pkt::eth(num::VLAN, &pkt::vlan(20, num::IPV4, &p)),
    ];
    let rows = flow_rows(&run_bytes(&cap(1, &f)));
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].vlan.as_str(), rows[1].vlan.as_str()), ("10", "20"));
    assert_eq!(rows[0].community_id, rows[1].community_id);
}

#[test]
fn pbb_mpls_and_mpls_pseudowire() {
    let pbb = handshake_ip()
        .iter()
        .map(|p| pkt::eth(num::PBB, &pkt::pbb(0x1234, &pkt::eth(num::IPV4, p))))
        .collect();
    check(1, pbb, &[HANDSHAKE]);
    let mpls: Vec<Vec<u8>> = handshake_ip()
        .iter()
        .map(|p| pkt::eth(num::MPLS, &pkt::mpls(&[100, 200], p)))
        .collect();
    let rows = flow_rows(&run_bytes(&cap(1, &mpls)));
    assert_eq!(rows[0].encap, "mpls:100 / mpls:200");
    // Ethernet over MPLS with a control word.
    let pw: Vec<Vec<u8>> = handshake_ip()
        .iter()
        .map(|p| {
            let cw_eth = [&[0u8, 0, 0, 0][..], &pkt::eth(num::IPV4, p)].concat();
            pkt::eth(num::MPLS, &pkt::mpls(&[300], &cw_eth))
        })
        .collect();
    check(1, pw, &[HANDSHAKE]);
}

#[test]
fn pppoe_session_and_discovery() {
    let s: Vec<Vec<u8>> = handshake_ip()
        .iter()
        .map(|p| pkt::eth(num::PPPOE, &pkt::pppoe(0x2a, 0x0021, p)))
        .collect();
    let rows = flow_rows(&run_bytes(&cap(1, &s)));
    assert_eq!(rows[0].encap, "pppoe:0x002a");
    // Discovery and LCP are not IP: counted as such, not as problems.
    let f = vec![
        pkt::eth(0x8863, &[0x11, 0x09, 0, 0, 0, 0]),
        pkt::eth(num::PPPOE, &pkt::pppoe(0x2a, 0xc021, &[1, 1, 0, 4])),
    ];
    let run = run_bytes(&cap(1, &f));
    assert!(run.flows.flows.is_empty());
    assert_eq!(run.flows.diag.count(SkipReason::NotIp), 2);
    assert!(!run.skipped_input());
    // The PPPoE link type (51) starts with the PPPoE header.
    let f = handshake_ip()
        .iter()
        .map(|p| pkt::pppoe(0x2a, 0x0021, p))
        .collect();
    check(51, f, &[HANDSHAKE]);
}

#[test]
fn llc_snap_carries_an_ethertype() {
    let f: Vec<Vec<u8>> = handshake_ip()
        .iter()
        .map(|p| {
            let snap = [&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00][..], p].concat();
            pkt::eth(snap.len() as u16, &snap)
        })
        .collect();
    check(1, f, &[HANDSHAKE]);
}

#[test]
fn ipv4_options_and_ipv6_extension_headers() {
    let seg = pkt::tcp(Pseudo::V4(A, B), 40000, 443, 1, SYN, b"");
    let mut ip = Ip4::new(A, B, num::TCP);
    ip.options = vec![0x94, 0x04, 0, 0]; // router alert
    check(
        101,
        vec![ip.build(&seg)],
        &["tcp 192.0.2.10:40000 > 198.51.100.20:443 1/0"],
    );
    let a6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    let b6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2]);
    let u = pkt::udp(Pseudo::V6(a6, b6), 1000, 2000, b"data");
    let exts = vec![
        (0u8, vec![1, 4, 0, 0, 0, 0]),
        (60u8, vec![1, 4, 0, 0, 0, 0]),
    ];
    let p = pkt::ipv6_ext(a6, b6, &exts, num::UDP, &u);
    check(
        229,
        vec![p],
        &["udp [2001:db8::1]:1000 > [2001:db8::2]:2000 1/0"],
    );
}

#[test]
fn icmp_icmpv6_sctp_and_other_protocols() {
    let a6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    let b6 = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2]);
    let f = vec![
        Pkt::icmp4(A, B, 8, 0),
        Pkt::icmp4(B, A, 0, 0),
        Pkt::icmp6(a6, b6, 128, 0),
        Pkt::icmp6(b6, a6, 129, 0),
        pkt::eth(
            num::IPV4,
            &pkt::ipv4(A, B, num::SCTP, &pkt::sctp(2905, 2905, &[0; 16])),
        ),
        pkt::eth(num::IPV4, &pkt::ipv4(A, B, 89, &[0; 20])),
    ];
    check(
        1,
        f,
        &[
            "icmp 192.0.2.10:8 > 198.51.100.20:0 1/1",
            "icmp6 [2001:db8::1]:128 > [2001:db8::2]:129 1/1",
            "sctp 192.0.2.10:2905 > 198.51.100.20:2905 1/0",
            "ospf 192.0.2.10:0 > 198.51.100.20:0 1/0",
        ],
    );
}

/// The inner handshake wrapped by `wrap` gives the carrier flow(s) and the inner flow, and
/// the inner flow names its carrier.
fn check_tunnel(frames: Vec<Vec<u8>>, expect: &[&str], encap_prefix: &str) {
    let run = run_bytes(&cap(1, &frames));
    assert_eq!(described(&run), expect, "{:?}", run.flows.diag.entries());
    assert!(!run.skipped_input(), "{:?}", run.flows.diag.entries());
    let rows = flow_rows(&run);
    let inner = rows
        .iter()
        .find(|r| r.src_port == 40000)
        .expect("the inner flow");
    assert!(
        inner.encap.starts_with(encap_prefix),
        "encap {:?} should start with {encap_prefix:?}",
        inner.encap
    );
    let parents: Vec<&str> = inner.tunnel_parent.split(',').collect();
    for p in parents {
        assert!(
            rows.iter().any(|r| r.community_id == p),
            "tunnel parent {p} is not a flow"
        );
    }
}

fn gre_frame(src: [u8; 4], dst: [u8; 4], gre: Vec<u8>) -> Vec<u8> {
    pkt::eth(num::IPV4, &pkt::ipv4(src, dst, num::GRE, &gre))
}

#[test]
fn gre_with_key_and_sequence() {
    let [s, r] = <[Vec<u8>; 2]>::try_from(handshake_ip()).unwrap();
    let f = vec![
        gre_frame(OUT_A, OUT_B, pkt::gre(num::IPV4, Some(7), Some(1), &s)),
        gre_frame(OUT_B, OUT_A, pkt::gre(num::IPV4, Some(7), Some(1), &r)),
    ];
    check_tunnel(
        f,
        &["gre 203.0.113.1:0 > 203.0.113.2:0 1/1", HANDSHAKE],
        "gre:203.0.113.1-203.0.113.2;key=7",
    );
}

#[test]
fn gre_transparent_ethernet_bridging() {
    let f = handshake_ip()
        .into_iter()
        .map(|p| {
            gre_frame(
                OUT_A,
                OUT_B,
                pkt::gre(num::TEB, None, None, &pkt::eth(num::IPV4, &p)),
            )
        })
        .collect();
    check_tunnel(
        f,
        &["gre 203.0.113.1:0 > 203.0.113.2:0 2/0", HANDSHAKE],
        "gre:203.0.113.1-203.0.113.2",
    );
}

#[test]
fn erspan_type_i_ii_and_iii() {
    let inner: Vec<Vec<u8>> = handshake_ip()
        .into_iter()
        .map(|p| pkt::eth(num::IPV4, &p))
        .collect();
    // Type II: GRE with a sequence number, 8-byte header.
    let f = inner
        .iter()
        .map(|e| {
            gre_frame(
                OUT_A,
                OUT_B,
                pkt::gre(0x88be, None, Some(1), &pkt::erspan2(5, e)),
            )
        })
        .collect();
    check_tunnel(
        f,
        &["gre 203.0.113.1:0 > 203.0.113.2:0 2/0", HANDSHAKE],
        "erspan2:203.0.113.1-203.0.113.2;session=5",
    );
    // Type III: 12-byte header.
    let f = inner
        .iter()
        .map(|e| {
            gre_frame(
                OUT_A,
                OUT_B,
                pkt::gre(0x22eb, None, Some(1), &pkt::erspan3(6, e)),
            )
        })
        .collect();
    check_tunnel(
        f,
        &["gre 203.0.113.1:0 > 203.0.113.2:0 2/0", HANDSHAKE],
        "erspan3:203.0.113.1-203.0.113.2;session=6",
    );
    // Type I: no sequence number, no ERSPAN header.
    let f = inner
        .iter()
        .map(|e| gre_frame(OUT_A, OUT_B, pkt::gre(0x88be, None, None, e)))
        .collect();
    check_tunnel(
        f,
        &["gre 203.0.113.1:0 > 203.0.113.2:0 2/0", HANDSHAKE],
        "erspan1:203.0.113.1-203.0.113.2",
    );
}

#[test]
fn pptp_enhanced_gre_carries_ppp() {
    let f = handshake_ip()
        .into_iter()
        .map(|p| gre_frame(OUT_A, OUT_B, pkt::pptp(0x55, 1, 0x0021, &p)))
        .collect();
    check_tunnel(
        f,
        &["gre 203.0.113.1:0 > 203.0.113.2:0 2/0", HANDSHAKE],
        "pptp:203.0.113.1-203.0.113.2;call=85",
    );
}

#[test]
fn ip_in_ip_in_all_four_combinations_and_nested() {
    let o6a = v6([0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1]);
    let o6b = v6([0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2]);
    let i6a = v6([0x2001, 0xdb8, 0xaa, 0, 0, 0, 0, 1]);
    let i6b = v6([0x2001, 0xdb8, 0xaa, 0, 0, 0, 0, 2]);
    let inner4 = Pkt::tcp4_ip((A, 40000), (B, 443), SYN, b"");
    let inner6 = Pkt::tcp6_ip((i6a, 40000), (i6b, 443), SYN, b"");
    let in4 = "tcp 192.0.2.10:40000 > 198.51.100.20:443 1/0";
    let in6 = "tcp [2001:db8:aa::1]:40000 > [2001:db8:aa::2]:443 1/0";
    // 4in4
    let f = vec![pkt::eth(num::IPV4, &pkt::ipv4(OUT_A, OUT_B, 4, &inner4))];
    check_tunnel(f, &["ipip 203.0.113.1:0 > 203.0.113.2:0 1/0", in4], "ipip:");
    // 6in4
    let f = vec![pkt::eth(num::IPV4, &pkt::ipv4(OUT_A, OUT_B, 41, &inner6))];
    check_tunnel(f, &["ipv6 203.0.113.1:0 > 203.0.113.2:0 1/0", in6], "ipip:");
    // 4in6
    let f = vec![pkt::eth(num::IPV6, &pkt::ipv6(o6a, o6b, 4, &inner4))];
    check_tunnel(
        f,
        &["ipip [2001:db8:ff::1]:0 > [2001:db8:ff::2]:0 1/0", in4],
        "ipip:2001:db8:ff::1-2001:db8:ff::2",
    );
    // 6in6 in 6in4: nested.
    let mid = pkt::ipv6(o6a, o6b, 41, &inner6);
    let f = vec![pkt::eth(num::IPV4, &pkt::ipv4(OUT_A, OUT_B, 41, &mid))];
    let run = run_bytes(&cap(1, &f));
    assert_eq!(
        described(&run),
        [
            "ipv6 203.0.113.1:0 > 203.0.113.2:0 1/0",
            "ipv6 [2001:db8:ff::1]:0 > [2001:db8:ff::2]:0 1/0",
            in6
        ]
    );
    let rows = flow_rows(&run);
    assert_eq!(
        rows[2].encap,
        "ipip:203.0.113.1-203.0.113.2 / ipip:2001:db8:ff::1-2001:db8:ff::2"
    );
    // The innermost flow names its immediate carrier, the middle flow names the outer one.
    assert_eq!(rows[2].tunnel_parent, rows[1].community_id);
    assert_eq!(rows[1].tunnel_parent, rows[0].community_id);
}

#[test]
fn vxlan_geneve_and_their_inner_flows() {
    let [s, r] = <[Vec<u8>; 2]>::try_from(handshake_ip()).unwrap();
    let vx = |src, dst, sport, p: &Vec<u8>| {
        let inner = pkt::eth(num::IPV4, p);
        pkt::eth(
            num::IPV4,
            &Pkt::udp4_ip((src, sport), (dst, 4789), &pkt::vxlan(42, &inner)),
        )
    };
    check_tunnel(
        vec![vx(OUT_A, OUT_B, 50000, &s), vx(OUT_B, OUT_A, 50001, &r)],
        &[
            "udp 203.0.113.1:50000 > 203.0.113.2:4789 1/0",
            HANDSHAKE,
            "udp 203.0.113.2:50001 > 203.0.113.1:4789 1/0",
        ],
        "vxlan:203.0.113.1:50000-203.0.113.2:4789;vni=42",
    );
    let gn = |p: &Vec<u8>| {
        let g = pkt::geneve(77, num::TEB, &pkt::eth(num::IPV4, p));
        pkt::eth(num::IPV4, &Pkt::udp4_ip((OUT_A, 6081), (OUT_B, 6081), &g))
    };
    check_tunnel(
        vec![gn(&s), gn(&r)],
        &["udp 203.0.113.1:6081 > 203.0.113.2:6081 2/0", HANDSHAKE],
        "geneve:203.0.113.1:6081-203.0.113.2:6081;vni=77",
    );
}

#[test]
fn the_same_inner_flow_in_two_vnis_is_two_flows() {
    let p = Pkt::tcp4_ip((A, 40000), (B, 443), SYN, b"");
    let vx = |vni| {
        let inner = pkt::eth(num::IPV4, &p);
        pkt::eth(
            num::IPV4,
            &Pkt::udp4_ip((OUT_A, 50000), (OUT_B, 4789), &pkt::vxlan(vni, &inner)),
        )
    };
    let run = run_bytes(&cap(1, &[vx(1), vx(2)]));
    let inner: Vec<_> = run
        .flows
        .flows
        .iter()
        .filter(|f| f.key.proto.0 == 6)
        .collect();
    assert_eq!(inner.len(), 2);
}

#[test]
fn gtp_u_teredo_and_ayiya() {
    let [s, r] = <[Vec<u8>; 2]>::try_from(handshake_ip()).unwrap();
    let gtp = |p: &Vec<u8>| {
        pkt::eth(
            num::IPV4,
            &Pkt::udp4_ip((OUT_A, 2152), (OUT_B, 2152), &pkt::gtpu(0xabcd, p)),
        )
    };
    check_tunnel(
        vec![gtp(&s), gtp(&r)],
        &["udp 203.0.113.1:2152 > 203.0.113.2:2152 2/0", HANDSHAKE],
        "gtpu:203.0.113.1:2152-203.0.113.2:2152;teid=43981",
    );
    // Teredo on a port other than 3544: found by content (a Teredo address inside).
    let t_client = v6([0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf, 0x3fff, 0xfdd2]);
    let peer = v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x80]);
    let i6 = Pkt::tcp6_ip((t_client, 40000), (peer, 80), SYN, b"");
    let t = pkt::eth(
        num::IPV4,
        &Pkt::udp4_ip((OUT_A, 3797), (OUT_B, 32900), &pkt::teredo(&i6)),
    );
    check_tunnel(
        vec![t],
        &[
            "udp 203.0.113.1:3797 > 203.0.113.2:32900 1/0",
            "tcp [2001:0:4136:e378:8000:63bf:3fff:fdd2]:40000 > [2001:db8::80]:80 1/0",
        ],
        "teredo:203.0.113.1:3797-203.0.113.2:32900",
    );
    let ay = |p: &Vec<u8>| {
        pkt::eth(
            num::IPV4,
            &Pkt::udp4_ip((OUT_A, 5072), (OUT_B, 5072), &pkt::ayiya(4, p)),
        )
    };
    check_tunnel(
        vec![ay(&s), ay(&r)],
        &["udp 203.0.113.1:5072 > 203.0.113.2:5072 2/0", HANDSHAKE],
        "ayiya:203.0.113.1:5072-203.0.113.2:5072",
    );
}

#[test]
fn udp_on_a_tunnel_port_that_is_not_a_tunnel_stays_plain_udp() {
    let f = vec![Pkt::udp4(
        (A, 4789),
        (B, 9999),
        b"not vxlan at all, no I flag",
    )];
    check(1, f, &["udp 192.0.2.10:4789 > 198.51.100.20:9999 1/0"]);
}

#[test]
fn tunnels_nested_too_deep_are_reported() {
    let mut p = Pkt::tcp4_ip((A, 40000), (B, 443), SYN, b"");
    for _ in 0..12 {
        p = pkt::ipv4(OUT_A, OUT_B, 4, &p);
    }
    let run = run_bytes(&cap(101, &[p]));
    assert_eq!(run.flows.diag.count(SkipReason::TunnelTooDeep), 1);
    // The outer layers are still flows.
    assert!(!run.flows.flows.is_empty());
}

#[test]
fn truncated_headers_are_reported_with_their_layer() {
    let full = Pkt::tcp4((A, 40000), (B, 443), SYN, b"");
    // Cut inside the IPv4 header, and inside the TCP ports.
    let f = vec![full[..20].to_vec(), full[..14 + 20 + 2].to_vec()];
    let run = run_bytes(&cap(1, &f));
    let e = run.flows.diag.entries();
    let names: Vec<String> = e
        .iter()
        .map(|(r, d, _)| format!("{} {}", r, r.detail_name(*d).unwrap_or_default()))
        .collect();
    assert_eq!(names, ["truncated_header IPv4", "truncated_header TCP"]);
    // The second frame still counts on a flow without ports: its IP header is whole.
    assert_eq!(described(&run), ["tcp 192.0.2.10:0 > 198.51.100.20:0 1/0"]);
}

#[test]
fn snaplen_cut_payloads_keep_their_wire_lengths() {
    let full = Pkt::tcp4((A, 40000), (B, 443), ACK, &[7u8; 1000]);
    let mut c = Capture::new(Format::Pcap);
    c.push_on(0, 1_000, &full[..14 + 20 + 20], full.len() as u32);
    let run = run_bytes(&c.finish());
    let r = &flow_rows(&run)[0];
    assert_eq!(r.orig_bytes, 1040);
    assert_eq!(r.history, "D");
    assert!(!run.skipped_input());
}

/// Each kind of encapsulation layer writes the text the `encap` column shows, the same
/// through `write_text` (the table writers' path) as through `Display`.
#[test]
fn every_encapsulation_layer_writes_the_same_text_both_ways() {
    use hoptrace::decode::{Encap, Tunnel, TunnelKind};
    use hoptrace::model::{Addr, Proto};
    let a = |s: &str| Addr::from(s.parse::<std::net::IpAddr>().unwrap());
    let tunnel = |kind, src, dst, proto, ports: (u16, u16), id| {
        Encap::Tunnel(Tunnel {
            kind,
            src: a(src),
            dst: a(dst),
            proto,
            sport: ports.0,
            dport: ports.1,
            id,
        })
    };
    let cases = [
        (Encap::Vlan(4094), "vlan:4094"),
        (Encap::VnTag, "vntag"),
        (Encap::Pbb(16_777_215), "pbb:16777215"),
        (Encap::Mpls(0), "mpls:0"),
        (Encap::Pppoe(0x2a), "pppoe:0x002a"),
        (
            tunnel(
                TunnelKind::Vxlan,
                "2001:db8::1",
                "2001:db8:0:1::2",
                Proto::UDP,
                (50000, 4789),
                Some(u32::MAX),
            ),
            "vxlan:[2001:db8::1]:50000-[2001:db8:0:1::2]:4789;vni=4294967295",
        ),
        (
            tunnel(
                TunnelKind::GtpU,
                "10.0.0.1",
                "10.0.0.2",
                Proto::UDP,
                (2152, 2152),
                Some(7),
            ),
            "gtpu:10.0.0.1:2152-10.0.0.2:2152;teid=7",
        ),
        (
            tunnel(
                TunnelKind::Gre,
                "203.0.113.1",
                "::ffff:203.0.113.2",
                Proto(47),
                (0, 0),
                None,
            ),
            "gre:203.0.113.1-::ffff:203.0.113.2",
        ),
        (
            tunnel(
                TunnelKind::Erspan2,
                "192.0.2.1",
                "192.0.2.2",
                Proto(47),
                (0, 0),
                Some(0),
            ),
            "erspan2:192.0.2.1-192.0.2.2;session=0",
        ),
    ];
    for (e, want) in cases {
        let mut s = String::new();
        e.write_text(&mut s).unwrap();
        assert_eq!(s, want);
        assert_eq!(e.to_string(), want);
    }
}
