//! Capture file writer: classic pcap (both byte orders, µs/ns, "modified") and pcapng
//! (both byte orders, several sections and interfaces, Enhanced, Simple and obsolete Packet
//! Blocks, any timestamp resolution).

use std::io::Write;

/// The container and variant to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// pcap, little-endian, microseconds (magic a1b2c3d4).
    Pcap,
    /// pcap, big-endian, microseconds.
    PcapBe,
    /// pcap, little-endian, nanoseconds (magic a1b23c4d).
    PcapNs,
    /// pcap, big-endian, nanoseconds.
    PcapNsBe,
    /// Kuznetzov's "modified" pcap (magic a1b2cd34, 24-byte record headers).
    PcapModified,
    /// pcapng, little-endian.
    PcapNg,
    /// pcapng, big-endian.
    PcapNgBe,
}

/// A capture being written in memory.
pub struct Capture {
    format: Format,
    buf: Vec<u8>,
    be: bool,
    /// pcapng interfaces of the current section: (link type, units per second).
    ifaces: Vec<(u32, u64)>,
    frames: u64,
}

impl Capture {
    /// A new Ethernet capture.
    pub fn new(format: Format) -> Capture {
        Capture::with_link(format, 1)
    }

    /// A new capture whose (first) interface has link type `link`.
    pub fn with_link(format: Format, link: u32) -> Capture {
        let be = matches!(format, Format::PcapBe | Format::PcapNsBe | Format::PcapNgBe);
        let mut c = Capture {
            format,
            buf: Vec::new(),
            be,
            ifaces: Vec::new(),
            frames: 0,
        };
        match format {
            Format::PcapNg | Format::PcapNgBe => {
                c.section(be);
                c.add_interface(link, 6, 0);
            }
            _ => {
                let magic: u32 = match format {
                    Format::PcapNs | Format::PcapNsBe => 0xa1b2_3c4d,
                    Format::PcapModified => 0xa1b2_cd34,
                    _ => 0xa1b2_c3d4,
                };
                c.u32(magic);
                c.u16(2);
                c.u16(4);
                c.u32(0);
                c.u32(0);
                c.u32(262_144);
                c.u32(link);
            }
        }
        c
    }

    fn u16(&mut self, v: u16) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }

    fn u32(&mut self, v: u32) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }

    fn block(&mut self, btype: u32, body: &[u8]) {
        let len = 12 + body.len().div_ceil(4) * 4;
        self.u32(btype);
        self.u32(len as u32);
        self.buf.extend_from_slice(body);
        self.buf.resize(self.buf.len() + (len - 12 - body.len()), 0);
        self.u32(len as u32);
    }

    fn ne16(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn ne32(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// Starts a new pcapng section (with its own byte order); interfaces start over.
    pub fn section(&mut self, be: bool) {
        self.be = be;
        self.ifaces.clear();
        let mut body = Vec::new();
        body.extend_from_slice(&self.ne32(0x1a2b_3c4d));
        body.extend_from_slice(&self.ne16(1));
        body.extend_from_slice(&self.ne16(0));
        body.extend_from_slice(&(-1i64).to_le_bytes());
        self.block(0x0A0D_0D0A, &body);
    }

    /// Adds a pcapng interface with link type `link`, `if_tsresol` byte `tsresol`
    /// (6 = µs, 9 = ns, 0x80|n = 2^-n) and `if_tsoffset` seconds; returns its id.
    pub fn add_interface(&mut self, link: u32, tsresol: u8, tsoffset: i64) -> u32 {
        let mut body = Vec::new();
        body.extend_from_slice(&self.ne16(link as u16));
        body.extend_from_slice(&self.ne16(0));
        body.extend_from_slice(&self.ne32(262_144));
        // if_tsresol (code 9, length 1, padded).
        body.extend_from_slice(&self.ne16(9));
        body.extend_from_slice(&self.ne16(1));
        body.extend_from_slice(&[tsresol, 0, 0, 0]);
        if tsoffset != 0 {
            body.extend_from_slice(&self.ne16(14));
            body.extend_from_slice(&self.ne16(8));
            let b = if self.be {
                tsoffset.to_be_bytes()
            } else {
                tsoffset.to_le_bytes()
            };
            body.extend_from_slice(&b);
        }
        body.extend_from_slice(&[0, 0, 0, 0]);
        self.block(1, &body);
        let ups = if tsresol & 0x80 == 0 {
            10u64.pow(u32::from(tsresol))
        } else {
            1u64 << (tsresol & 0x7f)
        };
        self.ifaces.push((link, ups));
        (self.ifaces.len() - 1) as u32
    }

    /// Appends a frame captured at `ts_ns` (nanoseconds since the epoch) on interface 0.
    pub fn push(&mut self, ts_ns: i64, frame: &[u8]) {
        self.push_on(0, ts_ns, frame, frame.len() as u32);
    }

    /// Appends a frame whose wire length was `orig_len` (snaplen cut when larger).
    pub fn push_on(&mut self, iface: u32, ts_ns: i64, frame: &[u8], orig_len: u32) {
        self.frames += 1;
        match self.format {
            Format::PcapNg | Format::PcapNgBe => {
                let ups = self.ifaces.get(iface as usize).map_or(1_000_000, |i| i.1);
                let units = (i128::from(ts_ns) * i128::from(ups) / 1_000_000_000) as u64;
                let mut body = Vec::with_capacity(20 + frame.len());
                body.extend_from_slice(&self.ne32(iface));
                body.extend_from_slice(&self.ne32((units >> 32) as u32));
                body.extend_from_slice(&self.ne32(units as u32));
                body.extend_from_slice(&self.ne32(frame.len() as u32));
                body.extend_from_slice(&self.ne32(orig_len));
                body.extend_from_slice(frame);
                self.block(6, &body);
            }
            _ => {
                let secs = ts_ns.div_euclid(1_000_000_000) as u32;
                let ns = ts_ns.rem_euclid(1_000_000_000) as u32;
                let frac = match self.format {
                    Format::PcapNs | Format::PcapNsBe => ns,
                    _ => ns / 1000,
                };
                self.u32(secs);
                self.u32(frac);
                self.u32(frame.len() as u32);
                self.u32(orig_len);
                if self.format == Format::PcapModified {
                    // ifindex, protocol, pkt_type, padding.
                    self.buf.extend_from_slice(&[0; 8]);
                }
                self.buf.extend_from_slice(frame);
            }
        }
    }

    /// Appends a pcapng Simple Packet Block (no timestamp, interface 0).
    pub fn push_simple(&mut self, frame: &[u8]) {
        self.frames += 1;
        let mut body = Vec::new();
        body.extend_from_slice(&self.ne32(frame.len() as u32));
        body.extend_from_slice(frame);
        self.block(3, &body);
    }

    /// Appends an obsolete pcapng Packet Block (type 2).
    pub fn push_obsolete(&mut self, iface: u16, ts_ns: i64, frame: &[u8]) {
        self.frames += 1;
        let ups = self
            .ifaces
            .get(usize::from(iface))
            .map_or(1_000_000, |i| i.1);
        let units = (i128::from(ts_ns) * i128::from(ups) / 1_000_000_000) as u64;
        let mut body = Vec::new();
        body.extend_from_slice(&self.ne16(iface));
        body.extend_from_slice(&self.ne16(0));
        body.extend_from_slice(&self.ne32((units >> 32) as u32));
        body.extend_from_slice(&self.ne32(units as u32));
        body.extend_from_slice(&self.ne32(frame.len() as u32));
        body.extend_from_slice(&self.ne32(frame.len() as u32));
        body.extend_from_slice(frame);
        self.block(2, &body);
    }

    /// Appends a block of another type (name resolution, statistics, custom ...).
    pub fn push_block(&mut self, btype: u32, body: &[u8]) {
        self.block(btype, body);
    }

    /// Appends raw bytes (to build damaged files).
    pub fn push_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was written (never: the file header is written at creation).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the bytes written so far, leaving the writer ready for more (to stream large
    /// captures to disk).
    pub fn drain(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// gzip-compresses bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// zstd-compresses bytes.
pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).expect("compressing in memory")
}

/// zstd-compresses bytes as `pzstd` does: cut into frames of at most `part` bytes, each
/// after a skippable frame holding the compressed frame's size.
pub fn pzstd(data: &[u8], part: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(part.max(1)) {
        let frame = zstd(piece);
        out.extend_from_slice(&0x184d_2a50_u32.to_le_bytes());
        out.extend_from_slice(&4_u32.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}
