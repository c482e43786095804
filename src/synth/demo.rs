//! The demo capture shipped in `testdata/demo.pcapng`: a small two-interface pcapng with the
//! kinds of evidence hoptrace reads (VLAN, VXLAN, GRE, 6in4, fragments, non-IP frames).

use super::capture::{Capture, Format};
use super::pkt::{self, Ip4, Pkt, Pseudo, num, v6};
use crate::flow::tcp::{ACK, FIN, PSH, SYN};

/// 2026-03-01T10:15:07Z, the time of the demo communication.
pub const DEMO_T0: i64 = 1_772_360_107 * 1_000_000_000;

/// The bytes of `testdata/demo.pcapng`.
pub fn demo_capture() -> Vec<u8> {
    let mut c = Capture::new(Format::PcapNg);
    // Interface 1: a sensor inside a data centre overlay, nanosecond timestamps.
    let dc = c.add_interface(1, 9, 0);
    let ms = 1_000_000;
    let client = ([192, 0, 2, 10], 40123);
    let server = ([203, 0, 113, 80], 443);
    let tag = |ip: &[u8]| pkt::eth(num::VLAN, &pkt::vlan(100, num::IPV4, ip));
    let mut t = DEMO_T0;
    let mut push = |c: &mut Capture, iface: u32, dt: i64, f: Vec<u8>| {
        t += dt;
        c.push_on(iface, t, &f, f.len() as u32);
    };
    // ARP and a DNS lookup on the access VLAN.
    push(&mut c, 0, 0, pkt::eth(num::ARP, &[0, 1, 8, 0, 6, 4, 0, 1]));
    let resolver = ([198, 51, 100, 53], 53);
    push(
        &mut c,
        0,
        ms,
        tag(&Pkt::udp4_ip((client.0, 53001), resolver, b"demo query")),
    );
    push(
        &mut c,
        0,
        9 * ms,
        tag(&Pkt::udp4_ip(resolver, (client.0, 53001), b"demo answer")),
    );
    // The communication: a TLS connection, seen on the access VLAN...
    let conv = [
        (client, server, SYN, &b""[..]),
        (server, client, SYN | ACK, b""),
        (client, server, ACK, b""),
        (client, server, ACK | PSH, b"client hello"),
        (server, client, ACK | PSH, b"server hello"),
        (client, server, FIN | ACK, b""),
        (server, client, FIN | ACK, b""),
        (client, server, ACK, b""),
    ];
    for (a, b, flags, data) in conv {
        push(&mut c, 0, 12 * ms, tag(&Pkt::tcp4_ip(a, b, flags, data)));
        // ...and again inside the data centre's VXLAN overlay (VNI 4001).
        let (src, dst, sport) = if a == client {
            ([10, 0, 0, 1], [10, 0, 0, 2], 49152)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], 49153)
        };
        let inner = pkt::eth(num::IPV4, &Pkt::tcp4_ip(a, b, flags, data));
        let vx = pkt::vxlan(4001, &inner);
        push(
            &mut c,
            dc,
            150_000,
            pkt::eth(num::IPV4, &Pkt::udp4_ip((src, sport), (dst, 4789), &vx)),
        );
    }
    // An ICMP echo through a GRE tunnel between two routers.
    for (a, b, ty) in [(client.0, server.0, 8), (server.0, client.0, 0)] {
        let icmp = Pkt::icmp4_ip(a, b, ty, 0);
        let gre = pkt::gre(num::IPV4, Some(7), None, &icmp);
        let (ra, rb) = if ty == 8 {
            ([198, 18, 0, 1], [198, 18, 0, 2])
        } else {
            ([198, 18, 0, 2], [198, 18, 0, 1])
        };
        push(
            &mut c,
            0,
            20 * ms,
            pkt::eth(num::IPV4, &pkt::ipv4(ra, rb, num::GRE, &gre)),
        );
    }
    // IPv6 over IPv4 (6in4) to a tunnel broker.
    let c6 = v6([0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10]);
    let s6 = v6([0x2001, 0xdb8, 0x80, 0, 0, 0, 0, 0x80]);
    let seg = pkt::tcp(Pseudo::V6(c6, s6), 40200, 443, 1, SYN, b"");
    let six = pkt::ipv6(c6, s6, num::TCP, &seg);
    push(
        &mut c,
        0,
        5 * ms,
        pkt::eth(
            num::IPV4,
            &pkt::ipv4([192, 0, 2, 10], [198, 18, 6, 4], 41, &six),
        ),
    );
    // A UDP datagram in two fragments.
    let big = pkt::udp(
        Pseudo::V4(client.0, [203, 0, 113, 99]),
        5004,
        5004,
        &[0x5a; 1600],
    );
    for (off, more, part) in [(0u16, true, &big[..1480]), (1480, false, &big[1480..])] {
        let mut ip = Ip4::new(client.0, [203, 0, 113, 99], num::UDP);
        ip.id = 0x2a;
        ip.frag_offset = off;
        ip.more = more;
        push(&mut c, 0, ms, tag(&ip.build(part)));
    }
    c.finish()
}
