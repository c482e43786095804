//! NetFlow v5, v9 and IPFIX export datagrams, written for tests and benches.
//!
//! ```
//! use hoptrace::synth::netflow::{ExportWriter, V5Record, v5};
//! let d = v5(1_000, 1_700_000_000, &[V5Record::tcp([10, 0, 0, 1], 40000, [192, 0, 2, 9], 443)]);
//! assert_eq!(d.len(), 24 + 48);
//! let mut w = ExportWriter::ipfix(1_700_000_000, 7);
//! w.template(256, &[(8, 4, 0), (12, 4, 0)]);
//! w.data(256, &[[10, 0, 0, 1, 192, 0, 2, 9].as_slice()]);
//! assert_eq!(w.finish().len(), 16 + 4 + 12 + 4 + 8);
//! ```

/// One NetFlow v5 record.
#[derive(Clone, Copy, Debug)]
pub struct V5Record {
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Next hop.
    pub next_hop: [u8; 4],
    /// Input and output interface.
    pub ifs: (u16, u16),
    /// Packets and bytes.
    pub pkts: u32,
    /// Bytes.
    pub bytes: u32,
    /// sysUpTime (ms) of the first and last packet.
    pub first_last: (u32, u32),
    /// Ports (ICMP: destination port = type << 8 | code).
    pub ports: (u16, u16),
    /// TCP flags.
    pub flags: u8,
    /// Protocol.
    pub proto: u8,
    /// Source and destination AS.
    pub ases: (u16, u16),
    /// Source and destination mask.
    pub masks: (u8, u8),
}

impl V5Record {
    /// A TCP record with 10 packets of 1000 bytes, first/last at 500/900 ms of uptime.
    pub fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> V5Record {
        V5Record {
            src,
            dst,
            next_hop: [0; 4],
            ifs: (1, 2),
            pkts: 10,
            bytes: 1000,
            first_last: (500, 900),
            ports: (sport, dport),
            flags: 0x1b,
            proto: 6,
            ases: (0, 0),
            masks: (0, 0),
        }
    }
}

/// A v5 datagram: header (uptime in ms, export time in seconds) and records.
pub fn v5(uptime_ms: u32, unix_secs: u32, records: &[V5Record]) -> Vec<u8> {
    let mut b = Vec::with_capacity(24 + 48 * records.len());
    b.extend_from_slice(&5u16.to_be_bytes());
    b.extend_from_slice(&(records.len() as u16).to_be_bytes());
    b.extend_from_slice(&uptime_ms.to_be_bytes());
    b.extend_from_slice(&unix_secs.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    for r in records {
        b.extend_from_slice(&r.src);
        b.extend_from_slice(&r.dst);
        b.extend_from_slice(&r.next_hop);
        b.extend_from_slice(&r.ifs.0.to_be_bytes());
        b.extend_from_slice(&r.ifs.1.to_be_bytes());
        b.extend_from_slice(&r.pkts.to_be_bytes());
        b.extend_from_slice(&r.bytes.to_be_bytes());
        b.extend_from_slice(&r.first_last.0.to_be_bytes());
        b.extend_from_slice(&r.first_last.1.to_be_bytes());
        b.extend_from_slice(&r.ports.0.to_be_bytes());
        b.extend_from_slice(&r.ports.1.to_be_bytes());
        b.extend_from_slice(&[0, r.flags, r.proto, 0]);
        b.extend_from_slice(&r.ases.0.to_be_bytes());
        b.extend_from_slice(&r.ases.1.to_be_bytes());
        b.extend_from_slice(&[r.masks.0, r.masks.1, 0, 0]);
    }
    b
}

/// Builds one NetFlow v9 or IPFIX message set by set.
#[derive(Clone, Debug)]
pub struct ExportWriter {
    version: u16,
    buf: Vec<u8>,
    records: u16,
}

impl ExportWriter {
    /// An IPFIX message exported at `export_secs` by observation domain `domain`.
    pub fn ipfix(export_secs: u32, domain: u32) -> ExportWriter {
        let mut buf = Vec::new();
        buf.extend_from_slice(&10u16.to_be_bytes());
        buf.extend_from_slice(&0u16.to_be_bytes());
        buf.extend_from_slice(&export_secs.to_be_bytes());
        buf.extend_from_slice(&0u32.to_be_bytes());
        buf.extend_from_slice(&domain.to_be_bytes());
        ExportWriter {
            version: 10,
            buf,
            records: 0,
        }
    }

    /// A NetFlow v9 packet with the exporter's uptime (ms), export time and source ID.
    pub fn v9(uptime_ms: u32, export_secs: u32, source_id: u32) -> ExportWriter {
        let mut buf = Vec::new();
        buf.extend_from_slice(&9u16.to_be_bytes());
        buf.extend_from_slice(&0u16.to_be_bytes());
        buf.extend_from_slice(&uptime_ms.to_be_bytes());
        buf.extend_from_slice(&export_secs.to_be_bytes());
        buf.extend_from_slice(&0u32.to_be_bytes());
        buf.extend_from_slice(&source_id.to_be_bytes());
        ExportWriter {
            version: 9,
            buf,
            records: 0,
        }
    }

    fn set(&mut self, id: u16, body: &[u8]) {
        self.buf.extend_from_slice(&id.to_be_bytes());
        self.buf
            .extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        self.buf.extend_from_slice(body);
    }

    /// A template set with one template: fields as (element id, length, enterprise number;
    /// 0 for IANA elements, length 65535 for variable length).
    pub fn template(&mut self, id: u16, fields: &[(u16, u16, u32)]) -> &mut Self {
        let mut b = Vec::new();
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        push_fields(&mut b, fields);
        self.records += 1;
        self.set(if self.version == 9 { 0 } else { 2 }, &b);
        self
    }

    /// A template withdrawal (IPFIX: field count 0).
    pub fn withdraw(&mut self, id: u16) -> &mut Self {
        let mut b = Vec::new();
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        self.set(if self.version == 9 { 0 } else { 2 }, &b);
        self
    }

    /// An options template with `scope` scope fields first, then the option fields.
    pub fn options_template(
        &mut self,
        id: u16,
        scope: &[(u16, u16, u32)],
        fields: &[(u16, u16, u32)],
    ) -> &mut Self {
        let mut b = Vec::new();
        b.extend_from_slice(&id.to_be_bytes());
        if self.version == 9 {
            b.extend_from_slice(&((scope.len() * 4) as u16).to_be_bytes());
            b.extend_from_slice(&((fields.len() * 4) as u16).to_be_bytes());
        } else {
            b.extend_from_slice(&((scope.len() + fields.len()) as u16).to_be_bytes());
            b.extend_from_slice(&(scope.len() as u16).to_be_bytes());
        }
        push_fields(&mut b, scope);
        push_fields(&mut b, fields);
        self.records += 1;
        self.set(if self.version == 9 { 1 } else { 3 }, &b);
        self
    }

    /// A data set of records already encoded by the template's layout.
    pub fn data(&mut self, template: u16, records: &[&[u8]]) -> &mut Self {
        let body: Vec<u8> = records.concat();
        self.records += records.len() as u16;
        self.set(template, &body);
        self
    }

    /// The finished message.
    pub fn finish(&self) -> Vec<u8> {
        let mut b = self.buf.clone();
        if self.version == 10 {
            let n = b.len() as u16;
            b[2..4].copy_from_slice(&n.to_be_bytes());
        } else {
            b[2..4].copy_from_slice(&self.records.to_be_bytes());
        }
        b
    }
}

fn push_fields(b: &mut Vec<u8>, fields: &[(u16, u16, u32)]) {
    for &(id, len, ent) in fields {
        let raw = if ent != 0 { id | 0x8000 } else { id };
        b.extend_from_slice(&raw.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        if ent != 0 {
            b.extend_from_slice(&ent.to_be_bytes());
        }
    }
}

/// Concatenates big-endian field values into one record.
pub fn record(values: &[&[u8]]) -> Vec<u8> {
    values.concat()
}

/// A deterministic stream of NetFlow v5, v9 or IPFIX export datagrams for benchmarks:
/// `records` TCP/UDP records from 2000 hosts to 500 servers over an hour, `per_datagram`
/// to a datagram (at most 30 for v5), templates sent every 20 datagrams (v9, IPFIX).
#[derive(Clone, Copy, Debug)]
pub struct BigExport {
    /// 5, 9 or 10.
    pub version: u16,
    /// Flow records in all.
    pub records: u64,
    /// Records per datagram.
    pub per_datagram: usize,
    /// Seed of the address and port choices.
    pub seed: u64,
}

impl Default for BigExport {
    fn default() -> Self {
        BigExport {
            version: 9,
            records: 1_000_000,
            per_datagram: 24,
            seed: 1,
        }
    }
}

impl BigExport {
    /// Calls `sink` with each datagram and its export time (seconds) in order.
    pub fn each(&self, mut sink: impl FnMut(u32, &[u8])) {
        const T0: u32 = 1_700_000_000;
        let mut x = self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let per = if self.version == 5 {
            self.per_datagram.clamp(1, 30)
        } else {
            self.per_datagram.max(1)
        };
        let template: [(u16, u16, u32); 12] = [
            (8, 4, 0),
            (12, 4, 0),
            (7, 2, 0),
            (11, 2, 0),
            (4, 1, 0),
            (6, 1, 0),
            (2, 4, 0),
            (1, 4, 0),
            (152, 8, 0),
            (153, 8, 0),
            (10, 4, 0),
            (14, 4, 0),
        ];
        let mut done = 0u64;
        let mut n = 0u64;
        while done < self.records {
            let k = (per as u64).min(self.records - done) as usize;
            let secs = T0 + (done * 3600 / self.records.max(1)) as u32;
            let mut recs = Vec::with_capacity(k);
            for _ in 0..k {
                let r = next();
                let host = (r % 2000) as u16;
                let server = ((r >> 16) % 500) as u16;
                let client = [10, 1, (host >> 8) as u8, host as u8];
                let srv = [192, 0, 2 + (server >> 8) as u8, server as u8];
                let sport = 32768 + ((r >> 32) % 28000) as u16;
                let (dport, proto) = if r & 0x10_0000_0000 == 0 {
                    (443, 6)
                } else {
                    (53, 17)
                };
                let out = r & 0x20_0000_0000 == 0;
                let (src, dst, sp, dp) = if out {
                    (client, srv, sport, dport)
                } else {
                    (srv, client, dport, sport)
                };
                recs.push((src, dst, sp, dp, proto, (r >> 40) as u32 % 50 + 1));
            }
            let d = match self.version {
                5 => {
                    let v: Vec<V5Record> = recs
                        .iter()
                        .map(|&(src, dst, sp, dp, proto, pkts)| V5Record {
                            proto,
                            pkts,
                            bytes: pkts * 120,
                            ..V5Record::tcp(src, sp, dst, dp)
                        })
                        .collect();
                    v5(3_600_000, secs, &v)
                }
                v => {
                    let mut w = if v == 9 {
                        ExportWriter::v9(3_600_000, secs, 1)
                    } else {
                        ExportWriter::ipfix(secs, 1)
                    };
                    if n.is_multiple_of(20) {
                        w.template(256, &template);
                    }
                    let ms = u64::from(secs) * 1000;
                    let bodies: Vec<Vec<u8>> = recs
                        .iter()
                        .map(|&(src, dst, sp, dp, proto, pkts)| {
                            [
                                &src[..],
                                &dst,
                                &sp.to_be_bytes(),
                                &dp.to_be_bytes(),
                                &[proto, 0x1b],
                                &pkts.to_be_bytes(),
                                &(pkts * 120).to_be_bytes(),
                                &(ms - 900).to_be_bytes(),
                                &ms.to_be_bytes(),
                                &1u32.to_be_bytes(),
                                &2u32.to_be_bytes(),
                            ]
                            .concat()
                        })
                        .collect();
                    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
                    w.data(256, &refs);
                    w.finish()
                }
            };
            sink(secs, &d);
            done += k as u64;
            n += 1;
        }
    }
}
