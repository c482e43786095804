//! A deterministic generator of large captures for benchmarks: many concurrent flows with
//! heavy-tailed sizes, IPv4 and IPv6, TCP, UDP and ICMP, some on VLANs, some inside VXLAN
//! or GRE tunnels. The same seed always gives the same bytes.

use super::capture::{Capture, Format};
use super::pkt::{self, Pseudo, num};
use crate::flow::tcp::{ACK, FIN, PSH, SYN};
use std::io::{self, Write};

/// What to generate.
#[derive(Clone, Debug)]
pub struct BigCapture {
    /// PRNG seed.
    pub seed: u64,
    /// Stop starting new flows once this many packets were written (flows in progress
    /// finish, so the total is slightly higher).
    pub packets: u64,
    /// Flows in progress at any time.
    pub concurrency: usize,
    /// Container.
    pub format: Format,
}

impl Default for BigCapture {
    fn default() -> Self {
        BigCapture {
            seed: 0x5eed,
            packets: 2_000_000,
            concurrency: 2000,
            format: Format::Pcap,
        }
    }
}

/// What was generated, for benchmarks to assert against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BigStats {
    /// Frames written.
    pub packets: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Flows hoptrace must find: every communication plus every tunnel carrier flow.
    pub flows: u64,
    /// Communications (innermost flows).
    pub inner_flows: u64,
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wrap {
    Plain,
    Vlan,
    Vxlan,
    Gre,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Icmp,
}

struct Flow {
    id: u64,
    kind: Kind,
    v6: bool,
    wrap: Wrap,
    total: u32,
    sent: u32,
}

impl Flow {
    fn client4(&self) -> [u8; 4] {
        [
            10,
            (self.id >> 16) as u8,
            (self.id >> 8) as u8,
            self.id as u8,
        ]
    }

    fn server4(&self) -> [u8; 4] {
        [
            198,
            18,
            (self.id >> 8) as u8 & 0x7f,
            (self.id % 251) as u8 + 1,
        ]
    }

    fn client6(&self) -> [u8; 16] {
        pkt::v6([
            0x2001,
            0xdb8,
            1,
            0,
            0,
            (self.id >> 32) as u16,
            (self.id >> 16) as u16,
            self.id as u16,
        ])
    }

    fn server6(&self) -> [u8; 16] {
        pkt::v6([0x2001, 0xdb8, 2, 0, 0, 0, 0, (self.id % 997) as u16 + 1])
    }

    fn cport(&self) -> u16 {
        1024 + (self.id % 60000) as u16
    }

    fn sport(&self) -> u16 {
        [443, 80, 53, 22, 8080, 25][(self.id % 6) as usize]
    }
}

impl BigCapture {
    /// Writes the capture to `w`.
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<BigStats> {
        let mut rng = Rng(self.seed);
        let mut cap = Capture::new(self.format);
        let mut stats = BigStats::default();
        let mut active: Vec<Flow> = Vec::with_capacity(self.concurrency);
        let mut next_id: u64 = 1;
        // 2026-01-01T00:00:00Z.
        let mut ts: i64 = 1_767_225_600 * 1_000_000_000;
        loop {
            while active.len() < self.concurrency && stats.packets < self.packets {
                active.push(self.new_flow(&mut rng, next_id, &mut stats));
                next_id += 1;
            }
            if active.is_empty() {
                break;
            }
            let i = rng.below(active.len() as u64) as usize;
            let frame = frame(&active[i], &mut rng);
            cap.push(ts, &frame);
            stats.packets += 1;
            ts += 5_000 + rng.below(50_000) as i64;
            let f = &mut active[i];
            f.sent += 1;
            if f.sent >= f.total {
                active.swap_remove(i);
            }
            if cap.len() > 8 << 20 {
                let b = cap.drain();
                stats.bytes += b.len() as u64;
                w.write_all(&b)?;
            }
        }
        let b = cap.finish();
        stats.bytes += b.len() as u64;
        w.write_all(&b)?;
        Ok(stats)
    }

    fn new_flow(&self, rng: &mut Rng, id: u64, stats: &mut BigStats) -> Flow {
        let kind = match rng.below(100) {
            0..=69 => Kind::Tcp,
            70..=94 => Kind::Udp,
            _ => Kind::Icmp,
        };
        let wrap = match rng.below(100) {
            0..=69 => Wrap::Plain,
            70..=84 => Wrap::Vlan,
            85..=94 => Wrap::Vxlan,
            _ => Wrap::Gre,
        };
        // Pareto(alpha 1.2) sizes: most flows are a handful of packets, a few are huge.
        let pareto = 3.0 / rng.unit().max(1e-9).powf(1.0 / 1.2);
        let total = match kind {
            Kind::Tcp => (pareto as u32).clamp(6, 20_000),
            Kind::Udp => (pareto as u32 / 2).clamp(1, 5_000),
            Kind::Icmp => 2 * (1 + rng.below(4) as u32),
        };
        stats.inner_flows += 1;
        // VXLAN uses one carrier flow per direction; a one-packet flow has one direction.
        stats.flows += match wrap {
            Wrap::Vxlan if total == 1 => 2,
            Wrap::Vxlan => 3,
            Wrap::Gre => 2,
            _ => 1,
        };
        Flow {
            id,
            kind,
            v6: rng.below(4) == 0,
            wrap,
            total,
            sent: 0,
        }
    }
}

/// The next frame of a flow: client first, handshake and teardown for TCP.
fn frame(f: &Flow, rng: &mut Rng) -> Vec<u8> {
    let n = f.sent;
    let from_client = match f.kind {
        Kind::Tcp => match n {
            0 | 2 => true,
            1 => false,
            _ if n + 3 >= f.total => (f.total - n) % 2 == 1,
            _ => rng.below(3) != 0,
        },
        _ => n.is_multiple_of(2),
    };
    let flags = match f.kind {
        Kind::Tcp if n == 0 => SYN,
        Kind::Tcp if n == 1 => SYN | ACK,
        Kind::Tcp if n + 3 == f.total || n + 2 == f.total => FIN | ACK,
        _ => ACK,
    };
    let payload_len = match f.kind {
        Kind::Tcp if flags == ACK && n > 2 => {
            if rng.below(3) == 0 {
                0
            } else {
                200 + rng.below(1260) as usize
            }
        }
        Kind::Tcp if flags == ACK && n == 2 => 0,
        Kind::Tcp => 0,
        Kind::Udp => 40 + rng.below(1100) as usize,
        Kind::Icmp => 56,
    };
    let payload = vec![0x61u8; payload_len];
    let ip = if f.v6 {
        let (c, s) = ((f.client6(), f.cport()), (f.server6(), f.sport()));
        let (a, b) = if from_client { (c, s) } else { (s, c) };
        match f.kind {
            Kind::Tcp => {
                let seg = pkt::tcp(
                    Pseudo::V6(a.0, b.0),
                    a.1,
                    b.1,
                    n,
                    flags | (PSH * u8::from(payload_len > 0)),
                    &payload,
                );
                pkt::ipv6(a.0, b.0, num::TCP, &seg)
            }
            Kind::Udp => pkt::Pkt::udp6_ip(a, b, &payload),
            Kind::Icmp => {
                let ty = if from_client { 128 } else { 129 };
                let m = pkt::icmp6(Pseudo::V6(a.0, b.0), ty, 0, [0, 1, 0, n as u8], &payload);
                pkt::ipv6(a.0, b.0, num::ICMP6, &m)
            }
        }
    } else {
        let (c, s) = ((f.client4(), f.cport()), (f.server4(), f.sport()));
        let (a, b) = if from_client { (c, s) } else { (s, c) };
        match f.kind {
            Kind::Tcp => {
                let seg = pkt::tcp(
                    Pseudo::V4(a.0, b.0),
                    a.1,
                    b.1,
                    n,
                    flags | (PSH * u8::from(payload_len > 0)),
                    &payload,
                );
                pkt::ipv4(a.0, b.0, num::TCP, &seg)
            }
            Kind::Udp => {
                let d = pkt::udp(Pseudo::V4(a.0, b.0), a.1, b.1, &payload);
                pkt::ipv4(a.0, b.0, num::UDP, &d)
            }
            Kind::Icmp => {
                let ty = if from_client { 8 } else { 0 };
                pkt::ipv4(
                    a.0,
                    b.0,
                    num::ICMP,
                    &pkt::icmp4(ty, 0, [0, 1, 0, n as u8], &payload),
                )
            }
        }
    };
    let et = if f.v6 { num::IPV6 } else { num::IPV4 };
    match f.wrap {
        Wrap::Plain => pkt::eth(et, &ip),
        Wrap::Vlan => pkt::eth(num::VLAN, &pkt::vlan(100 + (f.id % 50) as u16, et, &ip)),
        Wrap::Vxlan => {
            // One VTEP pair per flow, one source port per direction.
            // 20 bits of flow id in the VTEP addresses: unique per flow.
            let hi = 16 + ((f.id >> 16) & 0x0f) as u8;
            let a = [172, hi, (f.id >> 8) as u8, f.id as u8];
            let b = [
                100,
                64 + ((f.id >> 16) & 0x3f) as u8,
                (f.id >> 8) as u8,
                f.id as u8,
            ];
            let (src, dst, sp) = if from_client {
                (a, b, 50_000)
            } else {
                (b, a, 50_001)
            };
            let inner = pkt::eth(et, &ip);
            let vx = pkt::vxlan(f.id as u32 & 0xff_ffff, &inner);
            pkt::eth(num::IPV4, &pkt::Pkt::udp4_ip((src, sp), (dst, 4789), &vx))
        }
        Wrap::Gre => {
            let a = [
                192,
                168 + ((f.id >> 16) & 0x07) as u8,
                (f.id >> 8) as u8,
                f.id as u8,
            ];
            let b = [
                100,
                100 + ((f.id >> 16) & 0x1f) as u8,
                (f.id >> 8) as u8,
                f.id as u8,
            ];
            let (src, dst) = if from_client { (a, b) } else { (b, a) };
            let g = pkt::gre(et, None, None, &ip);
            pkt::eth(num::IPV4, &pkt::ipv4(src, dst, num::GRE, &g))
        }
    }
}
