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

/// One TCP segment of the demo case: from, to, sequence number, flags, data.
type Segment<'a> = (([u8; 4], u16), ([u8; 4], u16), u32, u8, &'a [u8]);

/// The bundled demo case, `testdata/case/frontend.pcapng`: what a German hosting provider
/// captured on the uplink of the hypervisor that runs the web server 85.214.132.117, for a
/// request that arrived at 2026-03-01T11:15:07+01:00 (DEMO_T0).
///
/// The request came in a VXLAN overlay between two of the provider's hosts, from a proxy in
/// France (195.154.1.1) whose `X-Forwarded-For` names a client in Brazil (200.160.2.3);
/// the provider's staff ran a traceroute from the server back to the proxy a minute later
/// (routers 85.214.0.1, 80.81.192.1, 195.154.0.1). The capture also holds unrelated
/// traffic a trace must leave out. Addresses are real allocations (attributed from the
/// bundled data); the traffic is made up.
pub fn demo_case() -> Vec<u8> {
    let mut c = Capture::new(Format::PcapNg);
    let ms = 1_000_000;
    let server = ([85, 214, 132, 117], 80);
    let proxy = ([195, 154, 1, 1], 41822);
    let hosts = ([85, 214, 0, 10], [85, 214, 0, 20]);
    let mut t = DEMO_T0 - 40 * ms;
    let mut push = |c: &mut Capture, dt: i64, f: Vec<u8>| {
        // A zero step jumps to the traceroute, a minute after the request.
        t = if dt == 0 {
            DEMO_T0 + 60_000 * ms
        } else {
            t + dt
        };
        c.push(t, &f);
    };
    // Unrelated: another visitor, and a DNS lookup by the server.
    let other = ([151, 101, 1, 1], 50500);
    for (a, b, flags) in [(other, server, SYN), (server, other, SYN | ACK)] {
        push(
            &mut c,
            5 * ms,
            pkt::eth(num::IPV4, &Pkt::tcp4_ip(a, b, flags, b"")),
        );
    }
    let dns = ([193, 0, 6, 139], 53);
    push(
        &mut c,
        5 * ms,
        Pkt::udp4((server.0, 40001), dns, b"demo query"),
    );
    // The request, in the overlay: proxy-side packets enter at the first host.
    let request = b"GET /account/login HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 200.160.2.3\r\nVia: 1.1 edge-par-3\r\n\r\n";
    let conv: [Segment<'_>; 5] = [
        (proxy, server, 7_000, SYN, b""),
        (server, proxy, 90_000, SYN | ACK, b""),
        (proxy, server, 7_001, ACK, b""),
        (proxy, server, 7_001, ACK | PSH, request),
        (
            server,
            proxy,
            90_001,
            ACK | PSH,
            b"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n",
        ),
    ];
    for (i, (a, b, seq, flags, data)) in conv.into_iter().enumerate() {
        let seg = pkt::tcp(Pseudo::V4(a.0, b.0), a.1, b.1, seq, flags, data);
        let inner = pkt::eth(num::IPV4, &pkt::ipv4(a.0, b.0, num::TCP, &seg));
        let (src, dst) = if a == proxy {
            hosts
        } else {
            (hosts.1, hosts.0)
        };
        let vx = pkt::vxlan(7100, &inner);
        let dt = if i == 0 { 25 * ms } else { 30 * ms };
        push(
            &mut c,
            dt,
            pkt::eth(num::IPV4, &Pkt::udp4_ip((src, 4789), (dst, 4789), &vx)),
        );
    }
    // A minute later: a traceroute from the server back to the proxy.
    let mut first = true;
    let routers = [[85, 214, 0, 1], [80, 81, 192, 1], [195, 154, 0, 1]];
    let mut port = 33434u16;
    for ttl in 1..=4u8 {
        for _ in 0..2 {
            let mut ip = Ip4::new(server.0, proxy.0, num::UDP);
            ip.ttl = ttl;
            ip.id = port;
            let probe = ip.build(&pkt::udp(
                Pseudo::V4(server.0, proxy.0),
                47000,
                port,
                &[0; 24],
            ));
            push(
                &mut c,
                if std::mem::take(&mut first) {
                    0
                } else {
                    2 * ms
                },
                pkt::eth(num::IPV4, &probe),
            );
            let (from, ty, code) = match routers.get(usize::from(ttl) - 1) {
                Some(r) => (*r, 11, 0),
                None => (proxy.0, 3, 3),
            };
            let icmp = pkt::icmp4(ty, code, [0; 4], &probe[..28]);
            let reply = pkt::ipv4(from, server.0, num::ICMP, &icmp);
            push(
                &mut c,
                (4 + i64::from(ttl) * 7) * ms,
                pkt::eth(num::IPV4, &reply),
            );
            port += 1;
        }
    }
    c.finish()
}
