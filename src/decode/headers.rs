//! Header evidence in payload bytes: the proxies an HTTP message names (X-Forwarded-For,
//! RFC 7239 Forwarded, Via), the relays a mail names (`Received:` header fields), and the
//! packet an ICMP error message quotes (what a traceroute reply answers).
//!
//! Bytes in, facts out, never a panic: what cannot be read is left out and said so by the
//! caller. Nothing here knows flows, files or which communication is asked about; the
//! payload, URLs and host names of what is read here stay in this module's values unless the
//! report is asked to include them.

use crate::model::{Addr, Proto, Timestamp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest HTTP header block or mail header block read, in bytes.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// Most entries read from one proxy header chain or one mail's `Received:` fields.
pub const MAX_CHAIN: usize = 64;

/// A header that names the proxies an HTTP message went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProxyHeader {
    /// `X-Forwarded-For`: the client each proxy saw, origin first.
    XForwardedFor,
    /// `Forwarded` (RFC 7239): its `for=` parameters, origin first.
    Forwarded,
    /// `Via` (RFC 9110): the proxies themselves, in the order the message passed them.
    Via,
}

impl ProxyHeader {
    /// The field name as written in messages.
    pub fn name(self) -> &'static str {
        match self {
            ProxyHeader::XForwardedFor => "X-Forwarded-For",
            ProxyHeader::Forwarded => "Forwarded",
            ProxyHeader::Via => "Via",
        }
    }
}

/// The proxy headers of one HTTP message, with its start line and `Host` (kept for a report
/// that is asked to include them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpHeads {
    /// A request (false: a response).
    pub request: bool,
    /// Each proxy header field with its value, in message order.
    pub fields: Vec<(ProxyHeader, String)>,
    /// The start line (`GET /path HTTP/1.1`, `HTTP/1.1 200 OK`).
    pub start_line: String,
    /// The `Host` field of a request.
    pub host: Option<String>,
    /// The block's end (its empty line) was read. A block cut before it (by the capture's
    /// snap length, a segment not captured, or [`MAX_HEADER_BLOCK`]) is read to its last
    /// complete line, and a proxy field on the line the cut ended to its last whole list
    /// entry: an entry cut short could name another address (`8.8.8.8` of `8.8.8.88`).
    /// More entries, of that field or of fields after it, may have followed.
    pub complete: bool,
    /// The node a request asks the TCP responder, a forward proxy, to reach: the target of
    /// a `CONNECT`, or the authority of an absolute URL as request target.
    pub target: Option<ProxyTarget>,
}

/// The node a request sent to a forward proxy names: the target of a `CONNECT` (RFC 9110,
/// 9.3.6: `host:port`), or the authority of a request target in absolute form (RFC 9112,
/// 3.2.2: `GET http://host:port/path HTTP/1.1`, which clients send to proxies). The URL's
/// path is not kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyTarget {
    /// A `CONNECT` (a tunnel); false: a request in absolute form.
    pub connect: bool,
    /// Its address, when the host is an IP literal.
    pub addr: Option<IpAddr>,
    /// Its port (an absolute URL without one: its scheme's, 80 or 443).
    pub port: Option<u16>,
    /// The host as written (a name, or the literal).
    pub host: String,
}

/// The node a whole request line asks a forward proxy to reach ([`ProxyTarget`]); the
/// version after the target shows it was not cut short. An IPv6 address written without
/// brackets is kept as text only (where its port starts is not known).
pub fn proxy_target(start_line: &str) -> Option<ProxyTarget> {
    let mut words = start_line.split(' ');
    let method = words.next()?;
    let target = words.next()?;
    if !words.next()?.starts_with("HTTP/") || target.is_empty() || target.contains('\0') {
        return None;
    }
    let connect = method == "CONNECT";
    let (authority, default_port) = if connect {
        (target, None)
    } else {
        let scheme = target.split_once("://")?;
        let port = if scheme.0.eq_ignore_ascii_case("http") {
            80
        } else if scheme.0.eq_ignore_ascii_case("https") {
            443
        } else {
            return None;
        };
        let rest = scheme.1;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        // Without any user information before an `@`.
        let authority = &rest[..end];
        (
            authority.rsplit_once('@').map_or(authority, |a| a.1),
            Some(port),
        )
    };
    let (host, port, bracketed) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6.split_once(']')?;
            (h, p.strip_prefix(':'), true)
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p), false),
            None => (authority, None, false),
        },
    };
    if host.is_empty() {
        return None;
    }
    let addr = host
        .parse::<IpAddr>()
        .ok()
        .filter(|a| bracketed == a.is_ipv6());
    Some(ProxyTarget {
        connect,
        addr,
        port: match port {
            Some(p) => p.parse().ok(),
            None => default_port,
        },
        host: host.to_string(),
    })
}

const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// True when a TCP payload starts an HTTP/1 request or response (a cheap test on the first
/// bytes, made for every segment with data).
#[inline]
pub fn starts_http(p: &[u8]) -> bool {
    match p.first() {
        Some(b'G' | b'P' | b'H' | b'D' | b'O' | b'C' | b'T') => {
            p.starts_with(b"HTTP/1.") || METHODS.iter().any(|m| p.starts_with(m))
        }
        _ => false,
    }
}

/// True when a message begins with a start line that is HTTP's beyond its first token: a
/// status line, or a request line whose version is `HTTP/1.x` (cut before its end: whose
/// target is a path, an absolute URL or `*`, or a `CONNECT`). Other protocols' lines may
/// begin with `GET ` too.
pub fn http_start_line(p: &[u8]) -> bool {
    if p.starts_with(b"HTTP/1.") {
        return true;
    }
    match p.iter().position(|&b| b == b'\n') {
        Some(n) => {
            let line = p[..n].strip_suffix(b"\r").unwrap_or(&p[..n]);
            line.len() > 9 && line[line.len() - 9..line.len() - 1] == *b" HTTP/1."
        }
        None => {
            p.starts_with(b"CONNECT ")
                || p.iter()
                    .position(|&b| b == b' ')
                    .and_then(|sp| p.get(sp + 1))
                    .is_some_and(|b| matches!(b, b'/' | b'h' | b'*'))
        }
    }
}

/// True when a TCP payload shorter than [`HTTP_TELLS`] is the start of a method or of
/// `HTTP/1.` (`G`, `POS`, or a whole method): a block sent a few bytes at a time, or cut
/// before its method ends, may start with it.
#[inline]
pub fn may_start_http(p: &[u8]) -> bool {
    !p.is_empty()
        && p.len() < HTTP_TELLS
        && (b"HTTP/1.".starts_with(p) || METHODS.iter().any(|m| m.starts_with(p)))
}

/// Bytes enough to tell whether a payload starts HTTP (the longest token, `CONNECT ` or
/// `OPTIONS `).
pub const HTTP_TELLS: usize = 8;

/// True when the bytes hold a whole HTTP header block (its empty line), or as much of one
/// as is read ([`MAX_HEADER_BLOCK`]). The first `seen` bytes were already found not to hold
/// the empty line (a block growing segment by segment is searched once, not once per
/// segment).
pub fn header_block_done(b: &[u8], seen: usize) -> bool {
    let from = seen.saturating_sub(3).min(b.len());
    b.len() >= MAX_HEADER_BLOCK || block_end(&b[from..]).is_some()
}

/// Where a header block's empty line begins (its last field line ends there), if the bytes
/// hold one: a CRLF line after a CRLF line, or with a bare LF in either (RFC 9112, 2.2: a
/// recipient may take a bare LF for a line's end; hand-typed and some automated clients
/// send them).
fn block_end(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&c| c == b'\n') {
        let i = from + i;
        match b.get(i + 1..) {
            Some([b'\n', ..] | [b'\r', b'\n', ..]) => return Some(i),
            _ => from = i + 1,
        }
    }
    None
}

/// Where the next message starts in bytes that begin with a whole HTTP header block (more
/// requests sent without waiting for the answers, pipelined, or a response and the next):
/// after the block's empty line and its body, when the body's end is known (RFC 9112, 6.3:
/// none for a 1xx, 204 or 304 response, or for a response the caller knows has none,
/// `bodiless`: one to a `HEAD` request or a 2xx to a `CONNECT`, whatever its fields say;
/// the chunks of a chunked body, when it ends within `b`; else `Content-Length`; none for
/// a request without either). `None` when the block has not ended, or the body's end is
/// not known (a response that runs to the connection's close, a chunked body that goes on
/// past `b` or is malformed, lengths that disagree).
pub fn next_message(b: &[u8], bodiless: bool) -> Option<usize> {
    let head = &b[..b.len().min(MAX_HEADER_BLOCK)];
    let end = block_end(head)?;
    let body = end
        + if head.get(end + 1) == Some(&b'\n') {
            2
        } else {
            3
        };
    let mut fields = located_fields(&head[..end]).into_iter();
    let start = fields.next()?.value;
    let mut length: Option<usize> = None;
    // Whether `chunked` is the last transfer coding (of the last such field: fields of one
    // name read as one list).
    let mut chunked: Option<bool> = None;
    for f in fields {
        if f.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = f.value.rsplit(',').next().unwrap_or("").trim();
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
            continue;
        }
        if f.name.eq_ignore_ascii_case("content-length") {
            let n = f.value.parse().ok()?;
            if length.is_some_and(|l| l != n) {
                return None;
            }
            length = Some(n);
        }
    }
    let response = start.starts_with("HTTP/");
    let status = start.split(' ').nth(1).unwrap_or("");
    if response && (bodiless || status.starts_with('1') || status == "204" || status == "304") {
        return Some(body);
    }
    // A transfer coding decides over Content-Length (RFC 9112, 6.3): chunked last, the
    // chunks say where the body ends; any other last, it runs to the connection's close.
    match chunked {
        Some(true) => return body.checked_add(chunked_end(b.get(body..)?)?),
        Some(false) => return None,
        None => {}
    }
    match length {
        Some(n) => body.checked_add(n),
        None if !response => Some(body),
        None => None,
    }
}

/// Longest chunk-size line read (size, extensions and line end).
const MAX_CHUNK_LINE: usize = 4096;

/// Where a chunked body (RFC 9112, 7.1) that starts `b` ends: after its last chunk
/// (size 0), its trailer fields and the empty line after them. `None` when it does not end
/// within `b`, or a size line is not one (a bare LF is accepted for CRLF, as in header
/// blocks).
fn chunked_end(b: &[u8]) -> Option<usize> {
    let line_at = |at: usize, max: usize| -> Option<(usize, usize)> {
        // (end of the line's text without CR, start of the next line)
        let rest = b.get(at..)?;
        let lf = rest.iter().take(max).position(|&c| c == b'\n')?;
        let text = if lf > 0 && rest[lf - 1] == b'\r' {
            lf - 1
        } else {
            lf
        };
        Some((at + text, at + lf + 1))
    };
    let mut at = 0usize;
    loop {
        let (text_end, next) = line_at(at, MAX_CHUNK_LINE)?;
        let line = &b[at..text_end];
        let digits = line.iter().take_while(|c| c.is_ascii_hexdigit()).count();
        // At most 15 digits (under 2^60), then nothing or extensions after `;`.
        let after = line[digits..].iter().find(|c| !matches!(c, b' ' | b'\t'));
        if digits == 0 || digits > 15 || after.is_some_and(|&c| c != b';') {
            return None;
        }
        let size = line[..digits].iter().fold(0u64, |n, &c| {
            n << 4 | u64::from((c as char).to_digit(16).unwrap_or(0))
        });
        let size = usize::try_from(size).ok()?;
        at = next;
        if size == 0 {
            // The trailer section: field lines, then an empty line.
            let trailers = at;
            loop {
                let (text_end, next) = line_at(at, MAX_HEADER_BLOCK)?;
                if text_end == at {
                    return Some(next);
                }
                if next - trailers > MAX_HEADER_BLOCK {
                    return None;
                }
                at = next;
            }
        }
        at = at.checked_add(size)?;
        match b.get(at..)? {
            [b'\r', b'\n', ..] => at += 2,
            [b'\n', ..] => at += 1,
            _ => return None,
        }
    }
}

/// The status code of a response's start line (`HTTP/1.1 403 Forbidden`: 403), if it is
/// one: three digits after an `HTTP/` version.
pub fn status_code(start_line: &str) -> Option<u16> {
    let mut words = start_line.split(' ');
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    code.parse().ok()
}

/// The proxy headers of the HTTP message a TCP payload starts, if it starts one and names
/// any. Only the header block in this payload is read (at most [`MAX_HEADER_BLOCK`]).
pub fn http_proxy_headers(p: &[u8]) -> Option<HttpHeads> {
    http_heads(p).filter(|h| !h.fields.is_empty())
}

/// The HTTP message a TCP payload starts, if it starts one: its proxy headers, start line
/// and `Host`, from the header block in this payload (at most [`MAX_HEADER_BLOCK`]).
pub fn http_heads(p: &[u8]) -> Option<HttpHeads> {
    if !starts_http(p) {
        return None;
    }
    let request = !p.starts_with(b"HTTP/");
    let p = &p[..p.len().min(MAX_HEADER_BLOCK)];
    let (end, complete) = match block_end(p) {
        Some(end) => (end, true),
        // Cut before its end: its complete lines only (a start line cut short is kept as
        // far as it goes; it names no node).
        None => (
            p.iter().rposition(|&b| b == b'\n').unwrap_or(p.len()),
            false,
        ),
    };
    let mut fields = Vec::new();
    let mut all = fields_of(&p[..end]);
    let start_line = all.next().map(|(_, v)| v).unwrap_or_default();
    let mut host = None;
    for (name, value) in all {
        if request && host.is_none() && name.eq_ignore_ascii_case("host") {
            host = Some(value);
            continue;
        }
        if let Some(h) = proxy_header(&name) {
            fields.push((h, value));
        }
    }
    // A proxy field on the line the cut ended: its entries before the line's last list
    // comma are whole; the one after it may be cut short.
    if !complete && let Some(f) = p.get(end + 1..).and_then(cut_proxy_field) {
        fields.push(f);
    }
    let target = if request {
        proxy_target(&start_line)
    } else {
        None
    };
    Some(HttpHeads {
        request,
        fields,
        start_line,
        host,
        complete,
        target,
    })
}

/// The proxy header a field name names, if any (names compared without case).
fn proxy_header(name: &str) -> Option<ProxyHeader> {
    if name.eq_ignore_ascii_case("x-forwarded-for") {
        Some(ProxyHeader::XForwardedFor)
    } else if name.eq_ignore_ascii_case("forwarded") {
        Some(ProxyHeader::Forwarded)
    } else if name.eq_ignore_ascii_case("via") {
        Some(ProxyHeader::Via)
    } else {
        None
    }
}

/// A proxy header field from a line a cut ended (its bytes to the cut), with its value up
/// to the last comma between list entries (a comma inside a quoted string is not one).
/// A CR read before the cut does not show the line ended: a bare CR may be inside it.
/// `None` when the line is not a proxy field, continues another line, holds a gap's mark,
/// or has no whole entry.
fn cut_proxy_field(line: &[u8]) -> Option<(ProxyHeader, String)> {
    if line.first().is_none_or(|b| matches!(b, b' ' | b'\t')) || line.contains(&GAP) {
        return None;
    }
    let colon = line.iter().position(|&b| b == b':')?;
    let header = proxy_header(String::from_utf8_lossy(&line[..colon]).trim())?;
    let value = &line[colon + 1..];
    let mut quoted = false;
    let mut last = None;
    for (i, &c) in value.iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b',' if !quoted => last = Some(i),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(&value[..last?]).trim().to_string();
    (!text.is_empty()).then_some((header, text))
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// One header field: name, value (folded lines joined), and where its first line is (line
/// index in the block from 0, byte offset).
struct Field {
    name: String,
    value: String,
    line: u32,
    offset: u32,
}

/// The header fields of a block (start line first, as a field with an empty name), folded
/// lines joined, names and values trimmed, text read lossily.
fn fields_of(block: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    located_fields(block).into_iter().map(|f| (f.name, f.value))
}

fn located_fields(block: &[u8]) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    let mut offset = 0usize;
    for (i, raw) in block.split(|&b| b == b'\n').enumerate() {
        let at = offset;
        offset += raw.len() + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = String::from_utf8_lossy(line);
        let field = |name: &str, value: &str| Field {
            name: name.trim().to_string(),
            value: value.trim().to_string(),
            line: i as u32,
            offset: at as u32,
        };
        // A line holding a gap's mark (see [`tcp_stream`]) is not read, nor is the field
        // it continues or the lines that continue it.
        let cut = line.contains(&GAP);
        if i == 0 {
            out.push(field("", &text));
        } else if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if let Some(last) = out.last_mut() {
                if cut {
                    last.name = CUT_FIELD.into();
                }
                last.value.push(' ');
                last.value.push_str(text.trim());
            }
        } else if cut {
            out.push(field(CUT_FIELD, ""));
        } else if let Some((n, v)) = text.split_once(':') {
            out.push(field(n, v));
        }
    }
    out.retain(|f| f.name != CUT_FIELD);
    out
}

/// True when the bytes (of a stream [`tcp_stream`] put together) hold a gap's mark.
pub fn has_gap(b: &[u8]) -> bool {
    b.contains(&GAP)
}

/// The byte [`tcp_stream`] puts where a segment is missing: NUL, which no header line
/// holds (RFC 5322 and RFC 9110 text).
const GAP: u8 = 0;
/// The name a field cut by a gap takes until it is dropped (no field is named so).
const CUT_FIELD: &str = "\0";

/// One entry of a proxy chain: a node as a header names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyEntry {
    /// The header it came from.
    pub header: ProxyHeader,
    /// Its address, when the entry is an IP literal.
    pub addr: Option<IpAddr>,
    /// Its port, when given.
    pub port: Option<u16>,
    /// The entry as written (a host name, a pseudonym, `unknown`, an obfuscated id).
    pub text: String,
}

/// Reads one node: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]:443`, or a
/// name. Quotes around RFC 7239 values are removed first.
fn node(header: ProxyHeader, raw: &str) -> ProxyEntry {
    let s = raw.trim().trim_matches('"').trim();
    let (addr, port) = if let Ok(a) = s.parse::<IpAddr>() {
        (Some(a), None)
    } else if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((a, p)) => (
                a.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
                p.strip_prefix(':').and_then(|p| p.parse().ok()),
            ),
            None => (None, None),
        }
    } else if let Some((a, p)) = s.rsplit_once(':') {
        match a.parse::<Ipv4Addr>() {
            Ok(a) => (Some(IpAddr::V4(a)), p.parse().ok()),
            Err(_) => (None, None),
        }
    } else {
        (None, None)
    };
    ProxyEntry {
        header,
        addr,
        port,
        text: s.to_string(),
    }
}

/// Splits on commas outside double quotes.
fn split_list(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The entries one proxy header field lists, in the field's order (origin side first for
/// every kind; for `Via` in a response, server side first, as the proxies added them).
pub fn proxy_entries(header: ProxyHeader, value: &str) -> Vec<ProxyEntry> {
    let items = split_list(value);
    let mut out = Vec::new();
    for item in items.into_iter().take(MAX_CHAIN) {
        match header {
            ProxyHeader::XForwardedFor => out.push(node(header, item)),
            ProxyHeader::Forwarded => {
                // `for=` names the client of the proxy that added the element.
                if let Some(v) = item.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then_some(v)
                }) {
                    out.push(node(header, v));
                }
            }
            ProxyHeader::Via => {
                // `1.1 proxy.example:8080 (comment)`: protocol, then who received it.
                let mut words = item.split_whitespace();
                let _protocol = words.next();
                if let Some(by) = words.next() {
                    out.push(node(header, by));
                }
            }
        }
    }
    out
}

/// One `Received:` field of a mail, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The name the sending host gave (`from` clause, first word).
    pub from_name: Option<String>,
    /// The sending host's address as the receiving relay recorded it (`[192.0.2.1]`).
    pub from_ip: Option<IpAddr>,
    /// The receiving relay's name (`by` clause).
    pub by_name: Option<String>,
    /// When the relay received it: the instant (UTC) and the date as written, offset kept.
    pub date: Option<(Timestamp, String)>,
    /// Line of the field's first line in the header block, from 1.
    pub line: u32,
    /// Byte offset of that line in the header block.
    pub offset: u32,
}

/// The header block of a mail (up to the first empty line, at most [`MAX_HEADER_BLOCK`]).
pub fn mail_header_block(msg: &[u8]) -> &[u8] {
    let msg = &msg[..msg.len().min(MAX_HEADER_BLOCK)];
    let end = find(msg, b"\r\n\r\n")
        .or_else(|| find(msg, b"\n\n"))
        .unwrap_or(msg.len());
    &msg[..end]
}

/// The `Received:` fields of a mail header block, top (newest, by convention) first.
pub fn received_fields(block: &[u8]) -> Vec<Received> {
    // A block read from the start of a message has no start line: read it after one.
    let mut with_start = Vec::with_capacity(block.len() + 1);
    with_start.push(b'\n');
    with_start.extend_from_slice(block);
    located_fields(&with_start)
        .into_iter()
        .skip(1)
        .filter(|f| f.name.eq_ignore_ascii_case("received"))
        .take(MAX_CHAIN)
        .map(|f| Received {
            line: f.line,
            // The added first line is one byte long.
            offset: f.offset.saturating_sub(1),
            ..parse_received(&f.value)
        })
        .collect()
}

/// Reads one `Received:` value: `from NAME (NAME [IP]) by NAME with ... ; DATE`.
pub fn parse_received(v: &str) -> Received {
    let (clauses, date) = match v.rsplit_once(';') {
        Some((c, d)) => (
            c,
            parse_mail_date(d.trim()).map(|t| (t, d.trim().to_string())),
        ),
        None => (v, None),
    };
    let words: Vec<&str> = clauses.split_whitespace().collect();
    let at = |kw: &str| words.iter().position(|w| w.eq_ignore_ascii_case(kw));
    let by = at("by");
    let from = at("from").filter(|f| by.is_none_or(|b| *f < b));
    let from_clause = match (from, by) {
        (Some(f), Some(b)) => words[f + 1..b].join(" "),
        (Some(f), None) => words[f + 1..].join(" "),
        _ => String::new(),
    };
    let from_name = from.and_then(|f| words.get(f + 1)).map(|s| s.to_string());
    let by_name = by
        .and_then(|b| words.get(b + 1))
        .map(|s| s.trim_end_matches(';').to_string());
    Received {
        from_ip: received_ip(&from_clause),
        from_name,
        by_name,
        date,
        line: 0,
        offset: 0,
    }
}

/// The sending host's address in a `from` clause: the first bracketed literal
/// (`[192.0.2.1]`, `[IPv6:2001:db8::1]`), else a bare address in the comment or the name.
fn received_ip(clause: &str) -> Option<IpAddr> {
    let mut rest = clause;
    while let Some(i) = rest.find('[') {
        let tail = &rest[i + 1..];
        let Some(j) = tail.find(']') else { break };
        let lit = &tail[..j];
        let lit = lit
            .strip_prefix("IPv6:")
            .or_else(|| lit.strip_prefix("ipv6:"))
            .unwrap_or(lit);
        if let Ok(a) = lit.parse() {
            return Some(a);
        }
        rest = &tail[j..];
    }
    clause
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .find_map(|w| w.parse().ok())
}

/// Reads an RFC 5322 date (`Thu, 10 Apr 2025 12:00:00 -0000`, zone names of RFC 822
/// included) into UTC. Written here: a date crate would bring time zones the project
/// otherwise does not need, and mail dates are this one shape.
pub fn parse_mail_date(s: &str) -> Option<Timestamp> {
    let s = s.split('(').next()?.trim();
    let s = match s.split_once(',') {
        Some((_, rest)) => rest.trim(),
        None => s,
    };
    let w: Vec<&str> = s.split_whitespace().collect();
    if w.len() < 4 {
        return None;
    }
    let day: u32 = w[0].parse().ok()?;
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let mon = MONTHS
        .iter()
        .position(|m| w[1].get(..3).is_some_and(|x| x.eq_ignore_ascii_case(m)))?
        as u32
        + 1;
    let mut year: i64 = i64::from(w[2].parse::<u16>().ok()?);
    if year < 50 {
        year += 2000;
    } else if year < 1000 {
        year += 1900;
    }
    // Unsigned fields: a negative minute once passed the range check and overflowed
    // (found by fuzzing).
    let hms: Vec<&str> = w[3].split(':').collect();
    let h = i64::from(hms.first()?.parse::<u8>().ok()?);
    let m = i64::from(hms.get(1)?.parse::<u8>().ok()?);
    let sec = i64::from(hms.get(2).map_or(Some(0), |x| x.parse::<u8>().ok())?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let zone = w.get(4).copied().unwrap_or("-0000");
    let offset_min: i64 = match zone.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" => 0,
        "EST" => -300,
        "EDT" => -240,
        "CST" => -360,
        "CDT" => -300,
        "MST" => -420,
        "MDT" => -360,
        "PST" => -480,
        "PDT" => -420,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let n = i64::from(z[1..].parse::<u16>().ok()?);
            let v = (n / 100) * 60 + n % 100;
            if z.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    let date = crate::model::Date::from_ymd(year, mon, day)?;
    let secs = date.0 * 86_400 + h * 3600 + m * 60 + sec - offset_min * 60;
    Some(Timestamp::from_secs_nanos(secs, 0))
}

/// True when the first line of a file is a mail header field (`Received:`, `Return-Path:`,
/// `Delivered-To:`, `From:`, ...): a message saved as it was delivered (`.eml`).
pub fn looks_like_mail(head: &[u8]) -> bool {
    const FIRST: [&str; 12] = [
        "received:",
        "return-path:",
        "delivered-to:",
        "x-received:",
        "arc-seal:",
        "arc-message-signature:",
        "arc-authentication-results:",
        "dkim-signature:",
        "authentication-results:",
        "message-id:",
        "from:",
        "mime-version:",
    ];
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let lower = String::from_utf8_lossy(&line[..line.len().min(64)]).to_ascii_lowercase();
    FIRST.iter().any(|f| lower.starts_with(f))
}

/// The messages a client sent in an SMTP session: its stream (in order), cut after each
/// `DATA` command up to the lone `.` line that ends the message.
pub fn smtp_messages(stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let line_end = stream[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(stream.len(), |i| pos + i + 1);
        let line = &stream[pos..line_end];
        let cmd = line.strip_suffix(b"\n").unwrap_or(line);
        let cmd = cmd.strip_suffix(b"\r").unwrap_or(cmd);
        pos = line_end;
        if cmd.eq_ignore_ascii_case(b"DATA") {
            let rest = &stream[pos..];
            let end = find(rest, b"\r\n.\r\n").map_or(rest.len(), |i| i + 2);
            out.push(&rest[..end]);
            pos += (end + 3).min(rest.len());
        }
    }
    out
}

/// Puts one direction of a TCP connection back in order from its segments (sequence number,
/// bytes), dropping what was sent twice. Gaps are closed up: the bytes around a lost
/// segment are kept, a NUL byte between them, and the gap counted in the second value. The
/// header readers do not read a line holding the NUL: the bytes around a gap, closed up,
/// could read as another address (`[9.9.` and `4.4]` as `[9.9.4.4]`).
pub fn tcp_stream(segments: &mut [(u32, &[u8])]) -> (Vec<u8>, u32) {
    let Some(first) = segments.first().map(|s| s.0) else {
        return (Vec::new(), 0);
    };
    // The earliest sequence number, read around the first one (numbers wrap).
    let back = segments
        .iter()
        .map(|s| s.0.wrapping_sub(first) as i32)
        .min()
        .unwrap_or(0);
    let base = first.wrapping_add(back as u32);
    segments.sort_by_key(|s| s.0.wrapping_sub(base));
    let mut out = Vec::new();
    let mut next: u32 = 0;
    let mut gaps = 0;
    for (seq, data) in segments.iter() {
        let rel = seq.wrapping_sub(base);
        let end = rel.wrapping_add(data.len() as u32);
        if end <= next {
            continue;
        }
        if rel > next {
            gaps += 1;
            // Between whole lines (the bytes before it end one, those after it start a
            // field, not a folded continuation): the mark is a line of its own, and the
            // lines around it are read.
            let between = out.last() == Some(&b'\n')
                && data.first().is_some_and(|b| !matches!(b, b' ' | b'\t'));
            out.push(GAP);
            if between {
                out.push(b'\n');
            }
            out.extend_from_slice(data);
        } else {
            out.extend_from_slice(&data[(next - rel) as usize..]);
        }
        next = end;
    }
    (out, gaps)
}

/// What an ICMP error message quotes of the packet it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Source of the quoted packet (the probe's sender).
    pub src: Addr,
    /// Its destination.
    pub dst: Addr,
    /// Its transport protocol.
    pub proto: Proto,
    /// Its source port (ICMP: type).
    pub sport: u16,
    /// Its destination port (ICMP: code).
    pub dport: u16,
    /// IPv4 identification (0 for IPv6).
    pub ip_id: u16,
    /// The TTL it had left where it was answered.
    pub ttl: u8,
}

/// True for the ICMP (v4) and ICMPv6 types that quote the packet they answer.
pub fn is_icmp_error(proto: Proto, ty: u8) -> bool {
    match proto.0 {
        1 => matches!(ty, 3 | 4 | 5 | 11 | 12),
        58 => matches!(ty, 1..=4),
        _ => false,
    }
}

/// True for "time exceeded in transit" (what a router on a traceroute answers).
pub fn is_time_exceeded(proto: Proto, ty: u8) -> bool {
    (proto.0 == 1 && ty == 11) || (proto.0 == 58 && ty == 3)
}

/// The MPLS label stack an ICMP error's extension carries (RFC 4950 in the RFC 4884
/// extension structure): label values, top first. `header` is the ICMP header (8 bytes),
/// `body` what follows it. The extension starts where the header's length field says (in
/// 32-bit words for ICMP, 64-bit for ICMPv6), or at byte 128 for the older
/// implementations that leave the length at 0.
pub fn icmp_mpls(v6: bool, header: &[u8], body: &[u8]) -> Vec<u32> {
    let words = if v6 {
        header.get(4).map(|l| usize::from(*l) * 8)
    } else {
        header.get(5).map(|l| usize::from(*l) * 4)
    };
    let start = match words {
        Some(n) if n > 0 => n,
        _ => 128,
    };
    let Some(ext) = body.get(start..) else {
        return Vec::new();
    };
    // Version 2 in the top four bits, then a checksum; objects follow.
    if ext.len() < 8 || ext[0] >> 4 != 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut rest = &ext[4..];
    while rest.len() >= 4 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let (class, ctype) = (rest[2], rest[3]);
        if len < 4 || len > rest.len() {
            break;
        }
        if class == 1 && ctype == 1 {
            for e in rest[4..len].chunks_exact(4) {
                out.push(u32::from_be_bytes([0, e[0], e[1], e[2]]) >> 4);
            }
        }
        rest = &rest[len..];
    }
    out
}

/// Reads the packet quoted in an ICMP error's body (the bytes after its 8-byte header).
pub fn icmp_quote(body: &[u8]) -> Option<Quote> {
    let v = body.first()? >> 4;
    let (src, dst, proto, ip_id, ttl, l4) = match v {
        4 => {
            let ihl = usize::from(body[0] & 0x0f) * 4;
            if ihl < 20 || body.len() < 20 {
                return None;
            }
            let a = |i: usize| [body[i], body[i + 1], body[i + 2], body[i + 3]];
            (
                Addr::v4(a(12)),
                Addr::v4(a(16)),
                Proto(body[9]),
                u16::from_be_bytes([body[4], body[5]]),
                body[8],
                body.get(ihl..),
            )
        }
        6 => {
            if body.len() < 40 {
                return None;
            }
            let a = |i: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&body[i..i + 16]);
                o
            };
            (
                Addr::v6(a(8)),
                Addr::v6(a(24)),
                Proto(body[6]),
                0,
                body[7],
                body.get(40..),
            )
        }
        _ => return None,
    };
    let (sport, dport) = match (proto.0, l4) {
        (6 | 17 | 132 | 136, Some(l)) if l.len() >= 4 => (
            u16::from_be_bytes([l[0], l[1]]),
            u16::from_be_bytes([l[2], l[3]]),
        ),
        (1 | 58, Some(l)) if l.len() >= 2 => (u16::from(l[0]), u16::from(l[1])),
        _ => (0, 0),
    };
    Some(Quote {
        src,
        dst,
        proto,
        sport,
        dport,
        ip_id,
        ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_too_short_to_tell_may_start_http_only_as_a_token_s_start() {
        for p in [
            &b"G"[..],
            b"GE",
            b"GET",
            b"POS",
            b"HTTP/",
            b"CONNECT",
            b"OPTIONS",
            b"GET ",
        ] {
            assert!(may_start_http(p), "{p:?}");
        }
        for p in [&b""[..], b"X", b"GETX", b"get", b"HTTP/2", b"OPTIONS "] {
            assert!(!may_start_http(p), "{p:?}");
        }
    }

    #[test]
    fn a_block_searched_on_from_where_it_was_left_finds_an_empty_line_cut_anywhere() {
        let block = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for cut in 0..block.len() {
            let (head, _) = block.split_at(cut);
            assert!(!header_block_done(head, 0), "{cut}");
            // Every point short of the cut was searched already: the last 3 bytes are
            // searched again, so an empty line split across segments is found.
            for seen in 0..=cut {
                assert!(header_block_done(block, seen), "{cut} {seen}");
            }
        }
        assert!(!header_block_done(b"GET / HTTP/1.1\r\n", 99));
        // Bare LFs end a block too, and its lines are read.
        for block in [
            &b"GET / HTTP/1.0\nX-Forwarded-For: 8.8.8.8\n\n"[..],
            b"GET / HTTP/1.0\r\nX-Forwarded-For: 8.8.8.8\n\r\n",
            b"GET / HTTP/1.0\nX-Forwarded-For: 8.8.8.8\r\n\n",
        ] {
            assert!(header_block_done(block, 0));
            let h = http_heads(block).unwrap();
            assert!(h.complete);
            assert_eq!(h.start_line, "GET / HTTP/1.0");
            assert_eq!(h.fields, [(ProxyHeader::XForwardedFor, "8.8.8.8".into())]);
        }
        assert!(!header_block_done(b"GET / HTTP/1.0\n\rX", 0));
        assert!(header_block_done(
            &[b'a'; MAX_HEADER_BLOCK],
            MAX_HEADER_BLOCK
        ));
    }

    #[test]
    fn a_block_cut_before_its_end_reads_its_complete_lines_only() {
        let whole: &[u8] =
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 8.8.8.88, 10.1.1.1\r\nVia: 1.1 p\r\n\r\n";
        let all = http_heads(whole).unwrap();
        assert!(all.complete);
        assert_eq!(all.fields.len(), 2);
        // Cut anywhere before its end: every entry read is whole, the field's first ones.
        for n in 4..whole.len() {
            let h = http_heads(&whole[..n]).unwrap();
            assert!(!h.complete, "cut at {n}");
            for (header, value) in &h.fields {
                let (_, all_value) = all.fields.iter().find(|f| f.0 == *header).unwrap();
                let read = proxy_entries(*header, value);
                assert!(!read.is_empty(), "cut at {n}: {value}");
                assert_eq!(
                    read,
                    proxy_entries(*header, all_value)[..read.len()],
                    "cut at {n}"
                );
            }
        }
        // Cut inside the first address: nothing read; inside the second, or after it and
        // its CR: the first entry (a bare CR may be inside a line); after the line's LF:
        // the whole line.
        let at = whole.windows(5).position(|w| w == b"8.88,").unwrap() + 3;
        assert!(http_heads(&whole[..at]).unwrap().fields.is_empty());
        let second = whole.windows(8).position(|w| w == b"10.1.1.1").unwrap();
        for at in [second + 6, second + 8, second + 9] {
            let h = http_heads(&whole[..at]).unwrap();
            assert_eq!(
                h.fields,
                [(ProxyHeader::XForwardedFor, "8.8.8.88".to_string())]
            );
        }
        let h = http_heads(&whole[..second + 10]).unwrap();
        assert_eq!(h.fields, all.fields[..1]);
        // A comma inside a quoted string does not end an entry; a line continuing another,
        // or holding a gap's mark, is not read.
        let fwd: &[u8] =
            b"GET / HTTP/1.1\r\nForwarded: for=\"[2001:db8::1]:80,x\";by=z, for=192.0.2.43\r\n\r\n";
        let at = fwd.windows(2).position(|w| w == b",x").unwrap() + 2;
        assert!(http_heads(&fwd[..at]).unwrap().fields.is_empty());
        let at = fwd.windows(6).position(|w| w == b"192.0.").unwrap() + 4;
        let h = http_heads(&fwd[..at]).unwrap();
        assert_eq!(
            proxy_entries(h.fields[0].0, &h.fields[0].1)[0].text,
            "[2001:db8::1]:80,x"
        );
        assert_eq!(h.fields.len(), 1);
        let h = http_heads(b"GET / HTTP/1.1\r\nVia: 1.1 a\r\n\t1.1 b, 1.1 c").unwrap();
        assert_eq!(h.fields, [(ProxyHeader::Via, "1.1 a".to_string())]);
        let h = http_heads(b"GET / HTTP/1.1\r\nVia: 1.1 a, 1.1 b\0, 1.1 c").unwrap();
        assert!(h.fields.is_empty());
        let line_end = whole
            .windows(10)
            .position(|w| w == b"10.1.1.1\r\n")
            .unwrap()
            + 10;
        let h = http_heads(&whole[..line_end]).unwrap();
        assert_eq!(h.fields, all.fields[..1]);
        assert!(!h.complete);
    }

    #[test]
    fn a_request_to_a_forward_proxy_names_its_target_when_its_line_is_whole() {
        let t = |line: &str| proxy_target(line).map(|t| (t.connect, t.addr, t.port, t.host));
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            t("CONNECT 203.0.113.7:443 HTTP/1.1"),
            Some((true, ip("203.0.113.7"), Some(443), "203.0.113.7".into()))
        );
        assert_eq!(
            t("CONNECT [2001:db8::7]:8443 HTTP/1.1"),
            Some((true, ip("2001:db8::7"), Some(8443), "2001:db8::7".into()))
        );
        assert_eq!(
            t("CONNECT secure.example:443 HTTP/1.0"),
            Some((true, None, Some(443), "secure.example".into()))
        );
        // An absolute URL: its authority (user information left out), its scheme's port
        // when it gives none; the path is not kept.
        assert_eq!(
            t("GET http://user:pw@203.0.113.7:8080/a?b HTTP/1.1"),
            Some((false, ip("203.0.113.7"), Some(8080), "203.0.113.7".into()))
        );
        assert_eq!(
            t("POST HTTPS://[2001:db8::9]/x HTTP/1.1"),
            Some((false, ip("2001:db8::9"), Some(443), "2001:db8::9".into()))
        );
        assert_eq!(
            t("GET http://shop.example HTTP/1.0"),
            Some((false, None, Some(80), "shop.example".into()))
        );
        assert_eq!(t("GET http://a:x/ HTTP/1.1").unwrap().2, None);
        // No address where the port starts is not known, or the brackets say IPv6 and the
        // host is not.
        assert_eq!(t("CONNECT 2001:db8::7:443 HTTP/1.1").unwrap().1, None);
        assert_eq!(t("CONNECT [203.0.113.7]:443 HTTP/1.1").unwrap().1, None);
        // Cut before the version (the target may be cut short), an origin-form target,
        // another scheme, no host.
        for line in [
            "CONNECT 203.0.113.77",
            "CONNECT 203.0.113.7:443",
            "GET http://203.0.113.7/",
            "CONNECT  HTTP/1.1",
            "GET /index.html HTTP/1.1",
            "GET ftp://203.0.113.7/ HTTP/1.1",
            "GET http:///x HTTP/1.1",
            "CONNECT 203.0.113.7:443 FOO",
        ] {
            assert_eq!(t(line), None, "{line}");
        }
        let h = http_heads(b"CONNECT 203.0.113.7:443 HTTP/1.1\r\nHost: 203.0.113.7:443\r\n\r\n")
            .unwrap();
        assert_eq!(h.target.unwrap().port, Some(443));
        // A start line cut short by a snap length names nothing; a response names none.
        assert!(http_heads(b"CONNECT 203.0.113.7").unwrap().target.is_none());
        assert!(
            http_heads(b"HTTP/1.1 200 http://203.0.113.7/ HTTP/1.1\r\n\r\n")
                .unwrap()
                .target
                .is_none()
        );
    }

    #[test]
    fn the_next_message_starts_after_a_chunked_body_that_ends_in_the_bytes() {
        let next = b"GET /b HTTP/1.1\r\n";
        let with = |msg: &[u8]| [msg, next].concat();
        // Chunks with an extension, a trailer field, a bare LF.
        for msg in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n4;n=\"x\"\r\nwxyz\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
            b"POST / HTTP/1.1\nTransfer-Encoding: chunked\nContent-Length: 3\n\n3\nabc\n0\n\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ] {
            let b = with(msg);
            assert_eq!(next_message(&b, false), Some(msg.len()), "{msg:?}");
        }
        // Not known: chunked not last (runs to the close), chunks past the bytes, a size
        // line that is not one.
        for msg in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n50\r\nhello\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
        ] {
            assert_eq!(next_message(msg, false), None, "{msg:?}");
        }
        // A 304 (or 204, 1xx) has no body whatever its Content-Length says.
        let not_modified = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 120\r\n\r\n";
        assert_eq!(
            next_message(&with(not_modified), false),
            Some(not_modified.len())
        );
    }

    #[test]
    fn the_next_message_starts_after_a_body_of_known_length() {
        let get = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(next_message(get, false), Some(get.len()));
        let mut two = get.to_vec();
        two.extend_from_slice(b"GET /b HTTP/1.1\r\n");
        assert_eq!(next_message(&two, false), Some(get.len()));
        let post = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET";
        assert_eq!(next_message(post, false), Some(post.len() - 3));
        let lf = b"GET / HTTP/1.0\nHost: x\n\nGET";
        assert_eq!(next_message(lf, false), Some(lf.len() - 3));
        let not_modified = b"HTTP/1.1 304 Not Modified\r\nVia: 1.1 a\r\n\r\nHTTP/1.1";
        assert_eq!(
            next_message(not_modified, false),
            Some(not_modified.len() - 8)
        );
        // A response to HEAD has no body, whatever its Content-Length says (the length of
        // what a GET would have got); a request's body is its own.
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nHTTP/1.1";
        assert_eq!(next_message(head, true), Some(head.len() - 8));
        assert_eq!(next_message(head, false), Some(head.len() - 8 + 5000));
        assert_eq!(next_message(post, true), Some(post.len() - 3));
        for none in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n"[..],
            b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n",
        ] {
            assert_eq!(
                next_message(none, false),
                None,
                "{}",
                String::from_utf8_lossy(none)
            );
        }
    }

    #[test]
    fn only_http_start_lines_count_as_http() {
        for yes in [
            &b"GET / HTTP/1.1\r\nHost"[..],
            b"GET /a HTTP/1.0\n",
            b"HTTP/1.1 200 OK",
            b"GET /very/long/url/cut",
            b"POST http://a.example/",
            b"OPTIONS *",
            b"CONNECT a.example:443",
        ] {
            assert!(http_start_line(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"GET key\r\n"[..],
            b"GET key",
            b"GET / FTP/1.1\r\n",
            b"GET ",
            b"PUT x HTTP/1.1x\r\n",
        ] {
            assert!(!http_start_line(no), "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn xff_lists_origin_then_proxies_and_flags_nothing_itself() {
        let h = http_proxy_headers(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.2.2.2, 10.3.3.3\r\n\r\n",
        )
        .unwrap();
        assert!(h.request);
        let e = proxy_entries(h.fields[0].0, &h.fields[0].1);
        let addrs: Vec<String> = e.iter().map(|e| e.addr.unwrap().to_string()).collect();
        assert_eq!(addrs, ["10.2.2.2", "10.3.3.3"]);
    }

    #[test]
    fn forwarded_reads_quoted_ipv6_with_port_and_obfuscated_nodes() {
        let e = proxy_entries(
            ProxyHeader::Forwarded,
            "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\", for=_hidden, for=unknown",
        );
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].addr, Some("192.0.2.60".parse().unwrap()));
        assert_eq!(e[1].addr, Some("2001:db8:cafe::17".parse().unwrap()));
        assert_eq!(e[1].port, Some(4711));
        assert_eq!((e[2].addr, e[2].text.as_str()), (None, "_hidden"));
        assert_eq!(e[3].addr, None);
    }

    #[test]
    fn via_reads_the_receiving_node_of_each_entry() {
        let e = proxy_entries(
            ProxyHeader::Via,
            "1.0 fred, 1.1 198.51.100.7:8080 (squid), HTTP/1.1 [2001:db8::9]:3128",
        );
        assert_eq!(e[0].text, "fred");
        assert_eq!(e[0].addr, None);
        assert_eq!(e[1].addr, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(e[1].port, Some(8080));
        assert_eq!(e[2].port, Some(3128));
    }

    #[test]
    fn responses_and_folded_lines_are_read_and_other_payloads_are_not() {
        let h =
            http_proxy_headers(b"HTTP/1.1 200 OK\r\nVia: 1.1\r\n varnish\r\nServer: x\r\n\r\nbody")
                .unwrap();
        assert!(!h.request);
        assert_eq!(h.fields, vec![(ProxyHeader::Via, "1.1 varnish".into())]);
        assert_eq!(h.start_line, "HTTP/1.1 200 OK");
        let g = http_heads(b"GET /a?b HTTP/1.1\r\nHost: example.org\r\n\r\n").unwrap();
        assert_eq!(
            (g.start_line.as_str(), g.host.as_deref()),
            ("GET /a?b HTTP/1.1", Some("example.org"))
        );
        assert!(g.fields.is_empty());
        assert_eq!(
            http_proxy_headers(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            None
        );
        assert_eq!(http_proxy_headers(b"\x16\x03\x01 tls"), None);
        assert_eq!(http_proxy_headers(b""), None);
    }

    #[test]
    fn received_fields_give_sender_address_receiver_and_date_with_offset() {
        let block = b"Received: from gras-os-desk.cern.ch (localhost [127.0.0.1])\r\n\tby gras-os-desk.cern.ch (8.14.7/8.14.7) with ESMTP id tB8LU1sU014630;\r\n\tTue, 8 Dec 2015 22:30:01 +0100\r\nReceived: (from root@localhost)\r\n\tby gras-os-desk.cern.ch (8.14.7/8.14.7/Submit) id tB8LU0vs014629;\r\n\tTue, 8 Dec 2015 22:30:00 +0100\r\nSubject: x\r\n";
        let r = received_fields(block);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].from_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(r[0].by_name.as_deref(), Some("gras-os-desk.cern.ch"));
        let (t, text) = r[0].date.clone().unwrap();
        assert_eq!(t.rfc3339().to_string(), "2015-12-08T21:30:01.000000000Z");
        assert_eq!(text, "Tue, 8 Dec 2015 22:30:01 +0100");
        assert_eq!(r[1].from_ip, None);
        assert_eq!((r[0].line, r[0].offset), (1, 0));
        assert_eq!(r[1].line, 4);
        assert_eq!(&block[r[1].offset as usize..][..9], b"Received:");
        let v6 = parse_received("from a (b [IPv6:2001:db8::1]) by c; 1 Jan 2020 00:00 GMT");
        assert_eq!(v6.from_ip, Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn mail_dates_with_zone_names_and_bad_dates() {
        let t = parse_mail_date("Thu, 10 Apr 2025 12:00:00 EST").unwrap();
        assert_eq!(t.rfc3339().to_string(), "2025-04-10T17:00:00.000000000Z");
        assert_eq!(parse_mail_date("yesterday"), None);
        assert_eq!(parse_mail_date("10 Foo 2025 12:00:00 +0000"), None);
        assert_eq!(parse_mail_date("10 Apr 2025 25:00:00 +0000"), None);
    }

    #[test]
    fn smtp_messages_are_cut_after_data_and_streams_put_in_order() {
        let s = b"EHLO a\r\nMAIL FROM:<a@b>\r\nDATA\r\nReceived: from x\r\n\r\nhi\r\n.\r\nQUIT\r\n";
        let m = smtp_messages(s);
        assert_eq!(m, vec![&b"Received: from x\r\n\r\nhi\r\n"[..]]);
        let (a, b, c) = (&b"EHLO"[..], &b" a\r\n"[..], &b"\r\n"[..]);
        let mut segs = [(100u32, b), (96, a), (100, b), (104, c)];
        assert_eq!(tcp_stream(&mut segs), (b"EHLO a\r\n\r\n".to_vec(), 0));
        let mut wrap = [(u32::MAX - 1, &b"ab"[..]), (0, &b"cd"[..])];
        assert_eq!(tcp_stream(&mut wrap).0, b"abcd");
    }

    #[test]
    fn a_line_a_lost_segment_cut_is_not_read() {
        let block = b"Received: from a ([198.51.100.9]) by b; 1 Jan 2024 00:00:00 +0000\r\nReceived: from c ([192.0.2.44])\r\n\tby d; 1 Jan 2024 00:00:00 +0000\r\n";
        let whole = received_fields(block);
        assert_eq!(whole.len(), 2);
        // Lose bytes from inside the first address to inside the second: closed up, they
        // read "[198.51.100.44]".
        let from = find(block, b"100.9").unwrap() + 4;
        let to = find(block, b"2.44").unwrap() + 2;
        let mut segs = [(0u32, &block[..from]), (to as u32, &block[to..])];
        let (stream, gaps) = tcp_stream(&mut segs);
        assert_eq!(gaps, 1);
        assert!(has_gap(&stream));
        // The cut line and the line continuing it are not read: no field is left.
        assert_eq!(received_fields(&stream), []);
        // A gap between whole fields: both sides are read, the continuation after the gap
        // is not joined to the field before it.
        let second = find(block, b"Received: from c").unwrap();
        let cont = find(block, b"\tby d").unwrap();
        let mut segs = [(0u32, &block[..second]), (cont as u32, &block[cont..])];
        let (stream, _) = tcp_stream(&mut segs);
        let r = received_fields(&stream);
        assert_eq!(r, whole[..1]);
        // A gap inside a line: where the bytes after it start a line is not known, so the
        // line they start is not read either.
        let first_end = find(block, b"\r\nReceived").unwrap() + 2;
        let mut segs = [
            (0u32, &block[..first_end - 10]),
            (first_end as u32, &block[first_end..]),
        ];
        assert_eq!(received_fields(&tcp_stream(&mut segs).0), []);
        // A lost segment of whole lines: the fields before and after it are read.
        let lines = block.to_vec();
        let mut three = lines.clone();
        three.extend_from_slice(
            b"Received: from e ([203.0.113.1]) by f; 1 Jan 2024 00:00:00 +0000\r\n",
        );
        let (a, rest) = three.split_at(first_end);
        let lost = find(rest, b"\r\nReceived").unwrap() + 2;
        let b = &rest[lost..];
        let mut segs = [(0u32, a), ((first_end + lost) as u32, b)];
        let (stream, gaps) = tcp_stream(&mut segs);
        assert_eq!(gaps, 1);
        let r = received_fields(&stream);
        let ips: Vec<String> = r.iter().map(|f| f.from_ip.unwrap().to_string()).collect();
        assert_eq!(ips, ["198.51.100.9", "203.0.113.1"]);
    }

    #[test]
    fn icmp_quotes_give_the_probe_five_tuple() {
        let mut q = vec![0x45, 0, 0, 40, 0x12, 0x34, 0, 0, 1, 17, 0, 0];
        q.extend([12, 4, 4, 4, 12, 1, 1, 1]);
        q.extend([0xa5, 0x4b, 0x82, 0x9b]);
        let x = icmp_quote(&q).unwrap();
        assert_eq!(
            (x.sport, x.dport, x.ip_id, x.ttl),
            (42315, 33435, 0x1234, 1)
        );
        assert_eq!(x.dst, Addr::v4([12, 1, 1, 1]));
        assert_eq!(icmp_quote(&q[..10]), None);
        assert_eq!(icmp_quote(&[]), None);
        assert!(is_icmp_error(Proto(1), 11) && !is_icmp_error(Proto(1), 8));
        // An MPLS label stack extension after a 128-byte quote (length field 0).
        let mut body = q.clone();
        body.resize(128, 0);
        body.extend([0x20, 0, 0, 0, 0, 8, 1, 1]);
        body.extend([0x18, 0x96, 0x01, 0x01]);
        assert_eq!(
            icmp_mpls(false, &[11, 0, 0, 0, 0, 0, 0, 0], &body),
            [100704]
        );
        assert!(icmp_mpls(false, &[11, 0, 0, 0, 0, 0, 0, 0], &q).is_empty());
    }

    #[test]
    fn a_status_code_is_three_digits_after_an_http_version() {
        for (line, code) in [
            ("HTTP/1.1 200 Connection established", Some(200)),
            ("HTTP/1.0 407 Proxy Authentication Required", Some(407)),
            ("HTTP/1.1 502", Some(502)),
            ("HTTP/1.1 20 OK", None),
            ("HTTP/1.1 2000 OK", None),
            ("HTTP/1.1 +20 OK", None),
            ("GET / HTTP/1.1", None),
            ("", None),
        ] {
            assert_eq!(status_code(line), code, "{line:?}");
        }
    }
}
