//! Clues: header evidence about hops that the packets of a capture carry beyond their
//! addresses: proxy headers of HTTP messages, the `Received:` chain of a mail sent over
//! SMTP (or given as a `.eml` file), and ICMP errors quoting the packet they answer
//! (traceroute replies). The pipeline gathers them in the same pass that builds flows;
//! [`path`](super::path) places them.

use crate::decode::headers::{ProxyEntry, ProxyHeader, ProxyTarget, Quote, Received};
use crate::model::{Addr, BinReader, BinWriter, Locator, Proto, Timestamp};
use std::net::IpAddr;

/// How many payload bytes a [`ClueKind::Payload`] keeps.
pub const PAYLOAD_KEPT: usize = 64;

/// Longest a proxy's reply is taken to answer a `CONNECT` after it, in nanoseconds (300
/// s, the default idle timeout of a TCP flow: a proxy gives up its attempt to connect well
/// within it). A response later than that is not read as the reply.
pub const CONNECT_REPLY_WITHIN: i64 = 300 * 1_000_000_000;

/// One piece of header evidence, with the packet (or file) it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clue {
    /// Where: input, frame, byte offset (for a mail: of the segment that opened it).
    pub at: Locator,
    /// Capture time of that packet.
    pub ts: Timestamp,
    /// The packet's source address and port (ICMP: the answering node, type).
    pub src: (Addr, u16),
    /// Its destination.
    pub dst: (Addr, u16),
    /// Its transport protocol.
    pub proto: Proto,
    /// What it says.
    pub what: ClueKind,
}

/// What a clue says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClueKind {
    /// An HTTP message's proxy headers, each entry with the header it came from.
    Http {
        /// A request (false: a response).
        request: bool,
        /// The entries, per header in message order.
        entries: Vec<ProxyEntry>,
        /// The start line and the request's `Host`, kept only when a report may include
        /// URLs (`FlowsConfig::clue_content`).
        start_line: Option<(String, Option<String>)>,
        /// Read without its end (its complete lines only), and why. A cut block is kept
        /// even when it names no proxy: a header after the cut was not read, and the
        /// report says so.
        cut: Option<HeaderCut>,
        /// The node a request asked the responder, a forward proxy, to reach (a `CONNECT`
        /// target, or an absolute URL's authority).
        target: Option<ProxyTarget>,
        /// A response's status code (a response answering a `CONNECT` is kept for it:
        /// whether the proxy opened the tunnel).
        status: Option<u16>,
    },
    /// The first payload bytes one side of a flow sent (at most [`PAYLOAD_KEPT`]), kept only
    /// when a report may include payload.
    Payload {
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A mail's `Received:` fields, top first, as the mail carried them.
    Mail {
        /// The fields read.
        received: Vec<Received>,
        /// Holes in the client's byte stream (lost segments) before the mail's end.
        stream_gaps: u32,
        /// Read from a saved mail (`.eml`) rather than an SMTP session: it has no
        /// endpoints of its own, and its fields are located by line.
        file: bool,
    },
    /// An ICMP error answering a packet.
    IcmpError {
        /// ICMP type.
        ty: u8,
        /// ICMP code.
        code: u8,
        /// The packet it answers.
        quote: Quote,
        /// The MPLS label stack the reply carried (RFC 4950), top first.
        mpls: Vec<u32>,
    },
}

/// Why an HTTP header block was read without its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderCut {
    /// The capture's snap length cut the segment that carried it.
    SnapLength,
    /// The segment that continues it was not captured (or not within what is searched: a
    /// block open at a chunk's edge looks at the next chunk's first segments).
    RestMissing,
    /// Longer than a header block is read
    /// ([`MAX_HEADER_BLOCK`](crate::decode::headers::MAX_HEADER_BLOCK)).
    TooLong,
}

// The report's text names the bound: a change of it must change the text.
const _: () = assert!(crate::decode::headers::MAX_HEADER_BLOCK == 64 * 1024);

impl HeaderCut {
    /// What cut it, as the report says it.
    pub fn text(self) -> &'static str {
        match self {
            HeaderCut::SnapLength => "the capture's snap length cut the segment carrying it",
            HeaderCut::RestMissing => "the segment continuing it was not captured",
            HeaderCut::TooLong => "it is longer than the 64 KiB of a header block read",
        }
    }

    fn code(cut: Option<HeaderCut>) -> u8 {
        match cut {
            None => 0,
            Some(HeaderCut::SnapLength) => 1,
            Some(HeaderCut::RestMissing) => 2,
            Some(HeaderCut::TooLong) => 3,
        }
    }

    fn of_code(c: u8) -> Option<Option<HeaderCut>> {
        Some(match c {
            0 => None,
            1 => Some(HeaderCut::SnapLength),
            2 => Some(HeaderCut::RestMissing),
            3 => Some(HeaderCut::TooLong),
            _ => return None,
        })
    }
}

/// A clue's kind, as written in hoptrace's own files.
const HTTP: u8 = 0;
const PAYLOAD: u8 = 1;
const MAIL: u8 = 2;
const ICMP_ERROR: u8 = 3;

fn put_ip(w: &mut BinWriter, ip: IpAddr) {
    Addr::from(ip).encode(w);
}

fn get_ip(r: &mut BinReader<'_>) -> Option<IpAddr> {
    Addr::decode(r).map(|a| a.to_ip())
}

impl Clue {
    /// Writes the clue (for header evidence set aside on disk while a run reads);
    /// [`decode`](Self::decode) reads it back and never panics on damaged bytes.
    pub fn encode(&self, w: &mut BinWriter) {
        self.at.encode(w);
        w.i64(self.ts.0);
        for (a, port) in [self.src, self.dst] {
            a.encode(w);
            w.u16(port);
        }
        w.u8(self.proto.0);
        match &self.what {
            ClueKind::Http {
                request,
                entries,
                start_line,
                cut,
                target,
                status,
            } => {
                w.u8(HTTP);
                w.u8(u8::from(*request));
                w.u8(HeaderCut::code(*cut));
                w.u32(entries.len() as u32);
                for e in entries {
                    w.u8(match e.header {
                        ProxyHeader::XForwardedFor => 0,
                        ProxyHeader::Forwarded => 1,
                        ProxyHeader::Via => 2,
                    });
                    w.opt(e.addr, put_ip);
                    w.opt(e.port, |w, p| w.u16(p));
                    w.str(&e.text);
                }
                w.opt(start_line.as_ref(), |w, (line, host)| {
                    w.str(line);
                    w.opt(host.as_deref(), |w, h| w.str(h));
                });
                w.opt(target.as_ref(), |w, t| {
                    w.u8(u8::from(t.connect));
                    w.opt(t.addr, put_ip);
                    w.opt(t.port, |w, p| w.u16(p));
                    w.str(&t.host);
                });
                w.opt(*status, |w, s| w.u16(s));
            }
            ClueKind::Payload { bytes } => {
                w.u8(PAYLOAD);
                w.bytes(bytes);
            }
            ClueKind::Mail {
                received,
                stream_gaps,
                file,
            } => {
                w.u8(MAIL);
                w.u32(*stream_gaps);
                w.u8(u8::from(*file));
                w.u32(received.len() as u32);
                for f in received {
                    w.opt(f.from_name.as_deref(), |w, s| w.str(s));
                    w.opt(f.from_ip, put_ip);
                    w.opt(f.by_name.as_deref(), |w, s| w.str(s));
                    w.opt(f.date.as_ref(), |w, (t, text)| {
                        w.i64(t.0);
                        w.str(text);
                    });
                    w.u32(f.line);
                    w.u32(f.offset);
                }
            }
            ClueKind::IcmpError {
                ty,
                code,
                quote,
                mpls,
            } => {
                w.u8(ICMP_ERROR);
                w.u8(*ty);
                w.u8(*code);
                quote.src.encode(w);
                quote.dst.encode(w);
                w.u8(quote.proto.0);
                w.u16(quote.sport);
                w.u16(quote.dport);
                w.u16(quote.ip_id);
                w.u8(quote.ttl);
                w.u32(mpls.len() as u32);
                for l in mpls {
                    w.u32(*l);
                }
            }
        }
    }

    /// Reads a clue written by [`encode`](Self::encode); `None` when the bytes are short or
    /// damaged.
    pub fn decode(r: &mut BinReader<'_>) -> Option<Clue> {
        let at = Locator::decode(r)?;
        let ts = Timestamp(r.i64()?);
        let src = (Addr::decode(r)?, r.u16()?);
        let dst = (Addr::decode(r)?, r.u16()?);
        let proto = Proto(r.u8()?);
        let what = match r.u8()? {
            HTTP => {
                let request = r.u8()? != 0;
                let cut = HeaderCut::of_code(r.u8()?)?;
                let n = r.count()?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let header = match r.u8()? {
                        0 => ProxyHeader::XForwardedFor,
                        1 => ProxyHeader::Forwarded,
                        2 => ProxyHeader::Via,
                        _ => return None,
                    };
                    entries.push(ProxyEntry {
                        header,
                        addr: r.opt(get_ip)?,
                        port: r.opt(|r| r.u16())?,
                        text: r.str()?,
                    });
                }
                let start_line = r.opt(|r| Some((r.str()?, r.opt(|r| r.str())?)))?;
                let target = r.opt(|r| {
                    Some(ProxyTarget {
                        connect: r.u8()? != 0,
                        addr: r.opt(get_ip)?,
                        port: r.opt(|r| r.u16())?,
                        host: r.str()?,
                    })
                })?;
                let status = r.opt(|r| r.u16())?;
                ClueKind::Http {
                    request,
                    entries,
                    start_line,
                    cut,
                    target,
                    status,
                }
            }
            PAYLOAD => ClueKind::Payload {
                bytes: r.bytes()?.to_vec(),
            },
            MAIL => {
                let stream_gaps = r.u32()?;
                let file = r.u8()? != 0;
                let n = r.count()?;
                let mut received = Vec::with_capacity(n);
                for _ in 0..n {
                    received.push(Received {
                        from_name: r.opt(|r| r.str())?,
                        from_ip: r.opt(get_ip)?,
                        by_name: r.opt(|r| r.str())?,
                        date: r.opt(|r| Some((Timestamp(r.i64()?), r.str()?)))?,
                        line: r.u32()?,
                        offset: r.u32()?,
                    });
                }
                ClueKind::Mail {
                    received,
                    stream_gaps,
                    file,
                }
            }
            ICMP_ERROR => {
                let ty = r.u8()?;
                let code = r.u8()?;
                let quote = Quote {
                    src: Addr::decode(r)?,
                    dst: Addr::decode(r)?,
                    proto: Proto(r.u8()?),
                    sport: r.u16()?,
                    dport: r.u16()?,
                    ip_id: r.u16()?,
                    ttl: r.u8()?,
                };
                let n = r.count()?;
                let mut mpls = Vec::with_capacity(n);
                for _ in 0..n {
                    mpls.push(r.u32()?);
                }
                ClueKind::IcmpError {
                    ty,
                    code,
                    quote,
                    mpls,
                }
            }
            _ => return None,
        };
        Some(Clue {
            at,
            ts,
            src,
            dst,
            proto,
            what,
        })
    }

    /// The addresses that tie the clue to a communication: its packet's ends and, for an
    /// ICMP error, the ends of the packet it quotes. A saved mail's clue has no packet (its
    /// ends are the zero address): it is tied to a communication by the relays it names.
    pub fn ends(&self) -> impl Iterator<Item = Addr> + '_ {
        let quoted = match &self.what {
            ClueKind::IcmpError { quote, .. } => Some([quote.src, quote.dst]),
            _ => None,
        };
        [self.src.0, self.dst.0]
            .into_iter()
            .chain(quoted.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clue(what: ClueKind) -> Clue {
        Clue {
            at: Locator {
                input: 2,
                interface: 1,
                frame: 77,
                offset: 4096,
            },
            ts: Timestamp(1_700_000_000_123_456_789),
            src: (Addr::v4([192, 0, 2, 1]), 41822),
            dst: (
                Addr::v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]),
                80,
            ),
            proto: Proto::TCP,
            what,
        }
    }

    #[test]
    fn every_kind_of_clue_round_trips_and_cut_bytes_never_decode() {
        let quote = Quote {
            src: Addr::v4([198, 51, 100, 7]),
            dst: Addr::v4([203, 0, 113, 9]),
            proto: Proto::UDP,
            sport: 45000,
            dport: 33434,
            ip_id: 33434,
            ttl: 1,
        };
        let clues = [
            clue(ClueKind::Http {
                request: true,
                entries: vec![
                    ProxyEntry {
                        header: ProxyHeader::Forwarded,
                        addr: Some("2001:db8::7".parse().unwrap()),
                        port: Some(4711),
                        text: "[2001:db8::7]:4711".into(),
                    },
                    ProxyEntry {
                        header: ProxyHeader::Via,
                        addr: None,
                        port: None,
                        text: "edge-par-3".into(),
                    },
                    ProxyEntry {
                        header: ProxyHeader::XForwardedFor,
                        addr: Some("8.8.8.8".parse().unwrap()),
                        port: None,
                        text: "8.8.8.8".into(),
                    },
                ],
                start_line: Some(("GET / HTTP/1.1".into(), Some("shop.example".into()))),
                cut: None,
                target: None,
                status: None,
            }),
            clue(ClueKind::Http {
                request: false,
                entries: Vec::new(),
                start_line: Some(("HTTP/1.1 200 OK".into(), None)),
                cut: Some(HeaderCut::SnapLength),
                target: None,
                status: Some(200),
            }),
            clue(ClueKind::Http {
                request: true,
                entries: Vec::new(),
                start_line: None,
                cut: Some(HeaderCut::RestMissing),
                target: Some(ProxyTarget {
                    connect: true,
                    addr: Some("2001:db8::443".parse().unwrap()),
                    port: Some(443),
                    host: "2001:db8::443".into(),
                }),
                status: None,
            }),
            clue(ClueKind::Http {
                request: true,
                entries: Vec::new(),
                start_line: None,
                cut: Some(HeaderCut::TooLong),
                target: Some(ProxyTarget {
                    connect: false,
                    addr: None,
                    port: None,
                    host: "shop.example".into(),
                }),
                status: None,
            }),
            clue(ClueKind::Payload {
                bytes: b"\x00EHLO \xff".to_vec(),
            }),
            clue(ClueKind::Mail {
                received: vec![
                    Received {
                        from_name: Some("laptop".into()),
                        from_ip: Some("8.8.4.4".parse().unwrap()),
                        by_name: Some("mail.relay2.example".into()),
                        date: Some((
                            Timestamp(1_700_000_000_000_000_000),
                            "Tue, 14 Nov 2023 17:10:00 -0500".into(),
                        )),
                        line: 3,
                        offset: 120,
                    },
                    Received {
                        from_name: None,
                        from_ip: None,
                        by_name: None,
                        date: None,
                        line: 1,
                        offset: 0,
                    },
                ],
                stream_gaps: 2,
                file: false,
            }),
            clue(ClueKind::IcmpError {
                ty: 11,
                code: 0,
                quote,
                mpls: vec![16, 1_048_575],
            }),
        ];
        for c in &clues {
            let mut w = BinWriter::default();
            c.encode(&mut w);
            let mut r = BinReader::new(&w.buf);
            assert_eq!(Clue::decode(&mut r).as_ref(), Some(c));
            assert!(r.is_done());
            for cut in 0..w.buf.len() {
                assert_eq!(Clue::decode(&mut BinReader::new(&w.buf[..cut])), None);
            }
        }
        // An ICMP error is tied to the ends of the probe it quotes too.
        let ends: Vec<Addr> = clues[6].ends().collect();
        assert_eq!(ends[2..], [quote.src, quote.dst]);
        assert_eq!(clues[0].ends().count(), 2);
    }
}
