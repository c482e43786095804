//! Per-direction counters, TCP history and connection state of one flow.

use crate::model::{Proto, Side, Timestamp};

/// What one side of a flow sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirStats {
    /// Packets.
    pub pkts: u64,
    /// IP bytes (IPv4 total length, IPv6 40 + payload length), as on the wire.
    pub bytes: u64,
    /// Transport payload bytes (TCP/UDP data).
    pub payload_bytes: u64,
    /// Earliest packet time ([`Timestamp::MAX`] when no packet).
    pub first: Timestamp,
    /// Latest packet time ([`Timestamp::MIN`] when no packet).
    pub last: Timestamp,
    /// Smallest TTL / hop limit seen (255 when no packet).
    pub ttl_min: u8,
    /// Largest TTL / hop limit seen (0 when no packet).
    pub ttl_max: u8,
    /// OR of the TCP flags bytes sent.
    pub tcp_flags: u8,
    /// TCP sequence number of the earliest segment sent (the initial sequence number when
    /// the capture has the SYN); 0 when unknown or not TCP. A NAT seen from both sides
    /// usually leaves it as it is, which ties the two views of a connection together.
    pub first_seq: u32,
}

impl Default for DirStats {
    fn default() -> Self {
        DirStats {
            pkts: 0,
            bytes: 0,
            payload_bytes: 0,
            first: Timestamp::MAX,
            last: Timestamp::MIN,
            ttl_min: 255,
            ttl_max: 0,
            tcp_flags: 0,
            first_seq: 0,
        }
    }
}

impl DirStats {
    /// Counts one packet (`seq`: its TCP sequence number, when it has a TCP header).
    #[inline]
    pub fn add(
        &mut self,
        ts: Timestamp,
        ip_len: u32,
        payload: u32,
        ttl: u8,
        flags: u8,
        seq: Option<u32>,
    ) {
        if let Some(q) = seq
            && (ts < self.first || (ts == self.first && q < self.first_seq))
        {
            self.first_seq = q;
        }
        self.pkts += 1;
        self.bytes += u64::from(ip_len);
        self.payload_bytes += u64::from(payload);
        self.first = self.first.min(ts);
        self.last = self.last.max(ts);
        self.ttl_min = self.ttl_min.min(ttl);
        self.ttl_max = self.ttl_max.max(ttl);
        self.tcp_flags |= flags;
    }

    /// Adds another side's counts (sums, minima, maxima, unions).
    pub fn merge(&mut self, o: &DirStats) {
        if o.first < self.first || (o.first == self.first && o.first_seq < self.first_seq) {
            self.first_seq = o.first_seq;
        }
        self.pkts += o.pkts;
        self.bytes += o.bytes;
        self.payload_bytes += o.payload_bytes;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.ttl_min = self.ttl_min.min(o.ttl_min);
        self.ttl_max = self.ttl_max.max(o.ttl_max);
        self.tcp_flags |= o.tcp_flags;
    }
}

/// TCP flag bits.
pub mod tcp {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

/// The letters of Zeek's connection history that hoptrace records: SYN without ACK (S),
/// SYN+ACK (H), pure ACK (A), data (D), FIN (F), RST (R), SYN together with FIN or RST (Q).
const LETTERS: [u8; 7] = *b"SHADFRQ";

/// The order in which each (side, letter) first happened: an associative record that
/// concatenates when an earlier flow segment is joined with a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct History {
    seen: u16,
    len: u8,
    events: [u8; 14],
}

impl History {
    /// Records the letters a TCP packet with these flags and payload adds.
    #[inline]
    pub fn tcp(&mut self, side: Side, flags: u8, payload: u32) {
        let syn = flags & tcp::SYN != 0;
        let ack = flags & tcp::ACK != 0;
        let fin = flags & tcp::FIN != 0;
        let rst = flags & tcp::RST != 0;
        if syn {
            self.push(side, if ack { 1 } else { 0 });
            if fin || rst {
                self.push(side, 6);
            }
        }
        if fin {
            self.push(side, 4);
        }
        if rst {
            self.push(side, 5);
        }
        if payload > 0 {
            self.push(side, 3);
        } else if ack && !syn && !fin && !rst {
            self.push(side, 2);
        }
    }

    #[inline]
    fn push(&mut self, side: Side, letter: u8) {
        let code = letter | ((side.idx() as u8) << 3);
        let bit = 1u16 << (letter + 7 * side.idx() as u8);
        if self.seen & bit == 0 {
            self.seen |= bit;
            self.events[self.len as usize] = code;
            self.len += 1;
        }
    }

    /// The record as 17 bytes (for spilling flows to disk).
    pub fn to_bytes(&self) -> [u8; 17] {
        let mut b = [0u8; 17];
        b[..2].copy_from_slice(&self.seen.to_le_bytes());
        b[2] = self.len;
        b[3..].copy_from_slice(&self.events);
        b
    }

    /// The inverse of [`to_bytes`](Self::to_bytes); `None` for bytes no history gives
    /// (damaged: an event code past the letters, an event listed twice or not in `seen`,
    /// unused bytes not zero).
    pub fn from_bytes(b: [u8; 17]) -> Option<History> {
        let mut events = [0u8; 14];
        events.copy_from_slice(&b[3..]);
        let seen = u16::from_le_bytes([b[0], b[1]]);
        let len = b[2];
        if usize::from(len) > events.len() || events[usize::from(len)..].iter().any(|&e| e != 0) {
            return None;
        }
        let mut rebuilt = 0u16;
        for &code in &events[..usize::from(len)] {
            let letter = code & 7;
            if code & !0x0f != 0 || usize::from(letter) >= LETTERS.len() {
                return None;
            }
            let bit = 1u16 << (letter + 7 * ((code >> 3) & 1));
            if rebuilt & bit != 0 {
                return None;
            }
            rebuilt |= bit;
        }
        (rebuilt == seen).then_some(History { seen, len, events })
    }

    /// Appends the first occurrences of `later` that this history does not have.
    pub fn append(&mut self, later: &History) {
        for &code in &later.events[..later.len as usize] {
            let side = if code & 8 != 0 { Side::Hi } else { Side::Lo };
            self.push(side, code & 7);
        }
    }

    /// True when `side` sent the letter (`b'S'`, `b'F'`, ...).
    pub fn has(&self, side: Side, letter: u8) -> bool {
        LETTERS
            .iter()
            .position(|&l| l == letter)
            .is_some_and(|i| self.seen & (1 << (i + 7 * side.idx())) != 0)
    }

    /// Zeek-style text: upper case for the originator's letters, lower case for the
    /// responder's, in the order they first happened.
    pub fn text(&self, orig: Side) -> String {
        let mut s = String::with_capacity(self.len as usize);
        self.push_text(orig, &mut s);
        s
    }

    /// Appends the text of [`text`](Self::text) to `out`.
    pub fn push_text(&self, orig: Side, out: &mut String) {
        out.extend(self.events[..self.len as usize].iter().map(|&code| {
            let side = if code & 8 != 0 { Side::Hi } else { Side::Lo };
            let l = LETTERS[usize::from(code & 7)] as char;
            if side == orig {
                l
            } else {
                l.to_ascii_lowercase()
            }
        }));
    }

    /// Both sides closed (FIN each way) or one side reset: a new SYN starts a new flow.
    pub fn finished(&self) -> bool {
        (self.has(Side::Lo, b'F') && self.has(Side::Hi, b'F'))
            || self.has(Side::Lo, b'R')
            || self.has(Side::Hi, b'R')
    }
}

/// Zeek's `conn_state` from what each side sent (see Zeek's conn.log documentation).
pub fn conn_state(proto: Proto, h: &History, orig: Side, resp_pkts: u64) -> &'static str {
    let resp = orig.other();
    match proto.0 {
        6 => {
            let s = h.has(orig, b'S');
            let sa = h.has(resp, b'H');
            let (fo, fr) = (h.has(orig, b'F'), h.has(resp, b'F'));
            let (ro, rr) = (h.has(orig, b'R'), h.has(resp, b'R'));
            match (s, sa) {
                (true, true) => {
                    if ro {
                        "RSTO"
                    } else if rr {
                        "RSTR"
                    } else if fo && fr {
                        "SF"
                    } else if fo {
                        "S2"
                    } else if fr {
                        "S3"
                    } else {
                        "S1"
                    }
                }
                (true, false) => {
                    if rr {
                        "REJ"
                    } else if ro {
                        "RSTOS0"
                    } else if fo {
                        "SH"
                    } else if resp_pkts == 0 {
                        "S0"
                    } else {
                        "OTH"
                    }
                }
                (false, true) => {
                    if rr {
                        "RSTRH"
                    } else if fr {
                        "SHR"
                    } else {
                        "OTH"
                    }
                }
                (false, false) => "OTH",
            }
        }
        17 => {
            if resp_pkts == 0 {
                "S0"
            } else {
                "SF"
            }
        }
        _ => "OTH",
    }
}

/// TCP flags as tcpdump letters in a fixed order (`FSRPAUEC`).
pub fn flags_text(flags: u8) -> String {
    let mut s = String::with_capacity(8);
    push_flags_text(flags, &mut s);
    s
}

/// Appends the letters of [`flags_text`] to `out`.
pub fn push_flags_text(flags: u8, out: &mut String) {
    const L: [(u8, char); 8] = [
        (tcp::FIN, 'F'),
        (tcp::SYN, 'S'),
        (tcp::RST, 'R'),
        (tcp::PSH, 'P'),
        (tcp::ACK, 'A'),
        (tcp::URG, 'U'),
        (tcp::ECE, 'E'),
        (tcp::CWR, 'C'),
    ];
    out.extend(L.iter().filter(|(b, _)| flags & b != 0).map(|(_, c)| *c));
}

#[cfg(test)]
mod tests {
    use super::tcp::*;
    use super::*;

    fn handshake() -> History {
        let mut h = History::default();
        h.tcp(Side::Hi, SYN, 0);
        h.tcp(Side::Lo, SYN | ACK, 0);
        h.tcp(Side::Hi, ACK, 0);
        h.tcp(Side::Hi, ACK | PSH, 100);
        h.tcp(Side::Lo, ACK | PSH, 1000);
        h
    }

    #[test]
    fn history_reads_like_zeek() {
        let mut h = handshake();
        h.tcp(Side::Hi, FIN | ACK, 0);
        h.tcp(Side::Lo, FIN | ACK, 0);
        assert_eq!(h.text(Side::Hi), "ShADdFf");
        assert_eq!(conn_state(Proto::TCP, &h, Side::Hi, 3), "SF");
        assert!(h.finished());
    }

    #[test]
    fn history_bytes_round_trip_and_damaged_ones_are_refused() {
        let mut full = handshake();
        for (side, flags) in [(Side::Hi, FIN), (Side::Lo, FIN), (Side::Hi, RST)] {
            full.tcp(side, flags, 0);
        }
        full.tcp(Side::Lo, RST | SYN, 0);
        for h in [History::default(), handshake(), full] {
            assert_eq!(History::from_bytes(h.to_bytes()), Some(h));
        }
        let good = handshake().to_bytes();
        let len = usize::from(good[2]);
        let damaged = |f: &dyn Fn(&mut [u8; 17])| {
            let mut b = good;
            f(&mut b);
            History::from_bytes(b)
        };
        // A letter past the seven (it indexed past the letters when the row was written).
        assert_eq!(damaged(&|b| b[3] |= 7), None);
        assert_eq!(damaged(&|b| b[3] |= 0x40), None);
        assert_eq!(damaged(&|b| b[4] = b[3]), None); // an event twice
        assert_eq!(damaged(&|b| b[0] ^= 1 << 2), None); // `seen` without its event
        assert_eq!(damaged(&|b| b[2] = 15), None);
        assert_eq!(damaged(&|b| b[2] -= 1), None); // an event past the length
        assert_eq!(damaged(&|b| b[3 + len] = 1), None);
    }

    #[test]
    fn joined_histories_keep_first_occurrence_order() {
        let mut a = History::default();
        a.tcp(Side::Hi, SYN, 0);
        let mut b = History::default();
        b.tcp(Side::Lo, SYN | ACK, 0);
        b.tcp(Side::Hi, SYN, 0);
        b.tcp(Side::Hi, RST, 0);
        a.append(&b);
        assert_eq!(a.text(Side::Hi), "ShR");
        assert_eq!(conn_state(Proto::TCP, &a, Side::Hi, 1), "RSTO");
    }

    #[test]
    fn states_cover_rejections_and_half_open() {
        let mut h = History::default();
        h.tcp(Side::Lo, SYN, 0);
        assert_eq!(conn_state(Proto::TCP, &h, Side::Lo, 0), "S0");
        h.tcp(Side::Hi, RST | ACK, 0);
        assert_eq!(conn_state(Proto::TCP, &h, Side::Lo, 1), "REJ");
        assert_eq!(conn_state(Proto::UDP, &h, Side::Lo, 0), "S0");
        assert_eq!(conn_state(Proto::UDP, &h, Side::Lo, 2), "SF");
        assert_eq!(conn_state(Proto::ICMP, &h, Side::Lo, 2), "OTH");
        assert_eq!(flags_text(SYN | ACK), "SA");
    }
}
