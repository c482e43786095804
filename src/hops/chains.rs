//! Header chains on the path: the proxies an HTTP message names, the relays a mail's
//! `Received:` fields name, and the routers a traceroute's ICMP replies reveal. Each adds
//! hops before the TCP client (proxies, relays), beyond the TCP responder (a proxy that
//! answered), or among the routers (traceroute, in TTL order).
//!
//! Host names in headers are never put in a hop or its evidence: only addresses, the
//! header's name, the entry's position and dates (minimisation; a relay's name is a DNS
//! name).

use super::path::{ChainBuilder, ChainPlace, ep, hop};
use super::{
    Candidate, Clue, ClueKind, Evidence, HeaderCut, Hop, Observation, Proof, ProofKind, Role, Seen,
};
use crate::decode::headers::{ProxyEntry, ProxyHeader, ProxyTarget, Received};
use crate::decode::{PacketFacts, headers};
use crate::flow::FlowKey;
use crate::model::{Addr, Proto, Timestamp, counted};
use std::collections::HashMap;
use std::net::IpAddr;

fn addr(ip: IpAddr) -> Addr {
    super::addr(ip)
}

/// Places every chain the vantage point's clues give for the communication.
pub(super) fn place(b: &mut ChainBuilder<'_>, c: &Candidate, e: &Evidence<'_>) {
    let obs = Views::new(c, e.vantage);
    let replies = Replies::new(e.clues.iter().filter(|c| obs.of(c).is_some()));
    for clue in e.clues {
        if let ClueKind::Mail {
            received,
            file: true,
            ..
        } = &clue.what
        {
            saved_mail(b, c, e.vantage, clue, received);
            continue;
        }
        if obs.of(clue).is_none() {
            continue;
        }
        match &clue.what {
            ClueKind::Http {
                request: true,
                entries,
                cut,
                target,
                ..
            } => {
                http_request(b, e.vantage, clue, entries, *cut);
                if let Some(t) = target {
                    // Found through a request naming the queried address: what the
                    // connection's other requests named is other communications'.
                    let other = c
                        .requested
                        .is_some_and(|r| t.addr.map(addr) != Some(r.addr));
                    if !other {
                        let reply = t.connect.then(|| replies.to(clue)).flatten();
                        http_proxy_target(b, e.vantage, clue, t, reply);
                    }
                }
            }
            ClueKind::Http {
                request: false,
                entries,
                cut,
                ..
            } => http_response(b, e.vantage, clue, entries, *cut),
            ClueKind::Mail {
                received,
                stream_gaps,
                ..
            } => {
                let (order, how) = chronological(received);
                let m = Mail {
                    v: e.vantage,
                    clue,
                    client: clue.src.0,
                    received,
                    client_wrote: order.last().copied(),
                    order,
                    how,
                    gaps: *stream_gaps,
                };
                mail(b, &m);
            }
            ClueKind::IcmpError { .. } | ClueKind::Payload { .. } => {}
        }
    }
    traceroute(b, c, e);
}

/// The final responses (not an interim 1xx) with a status code read on the
/// communication's connections, by direction and time: what answered each `CONNECT`.
struct Replies<'a>(HashMap<Direction, Vec<(&'a Clue, u16)>>);

/// A connection's direction: source and destination, each an address and a port.
type Direction = ((Addr, u16), (Addr, u16));

impl<'a> Replies<'a> {
    fn new(clues: impl Iterator<Item = &'a Clue>) -> Replies<'a> {
        let mut by_dir: HashMap<_, Vec<(&Clue, u16)>> = HashMap::new();
        for c in clues {
            if let ClueKind::Http {
                request: false,
                status: Some(s),
                ..
            } = c.what
                && s >= 200
            {
                by_dir.entry((c.src, c.dst)).or_default().push((c, s));
            }
        }
        for v in by_dir.values_mut() {
            v.sort_by_key(|(c, _)| (c.ts, c.at.input, c.at.frame, c.at.offset));
        }
        Replies(by_dir)
    }

    /// The first response back on the request's connection at or after it (a `CONNECT`
    /// is answered before anything else comes back: the tunnel opens after the reply),
    /// within [`CONNECT_REPLY_WITHIN`](super::CONNECT_REPLY_WITHIN) of it.
    fn to(&self, request: &Clue) -> Option<(&'a Clue, u16)> {
        let v = self.0.get(&(request.dst, request.src))?;
        v.get(v.partition_point(|(c, _)| c.ts < request.ts))
            .copied()
            .filter(|(c, _)| c.ts.since(request.ts) <= super::CONNECT_REPLY_WITHIN)
    }
}

/// A clue of the observed flow: the same two endpoints and protocol, within its span.
pub(super) fn belongs(clue: &Clue, o: &Observation) -> bool {
    let ends = (clue.src, clue.dst);
    (ends == (o.orig, o.resp) || ends == (o.resp, o.orig))
        && clue.proto == o.proto
        && clue.ts >= o.first
        && clue.ts <= o.last
}

fn proof(kind: ProofKind, vantage: u32, clue: &Clue, showed: String) -> Proof {
    Proof {
        kind,
        vantage,
        at: clue.at,
        record: 0,
        showed,
        names: Vec::new(),
    }
}

/// The same proof, with the host names it carried.
fn with_names(mut p: Proof, names: impl IntoIterator<Item = String>) -> Proof {
    p.names.extend(names);
    p
}

/// A request's `X-Forwarded-For` (else `Forwarded`) names the origin and the proxies before
/// the TCP client; `Via` alone names only proxies (the origin stays unknown).
fn http_request(
    b: &mut ChainBuilder<'_>,
    v: u32,
    clue: &Clue,
    entries: &[ProxyEntry],
    cut: Option<HeaderCut>,
) {
    let of =
        |h: ProxyHeader| -> Vec<&ProxyEntry> { entries.iter().filter(|e| e.header == h).collect() };
    let (xff, fwd, via) = (
        of(ProxyHeader::XForwardedFor),
        of(ProxyHeader::Forwarded),
        of(ProxyHeader::Via),
    );
    let (chain, header) = if !xff.is_empty() {
        (xff, ProxyHeader::XForwardedFor)
    } else if !fwd.is_empty() {
        (fwd, ProxyHeader::Forwarded)
    } else {
        (via, ProxyHeader::Via)
    };
    if chain.is_empty() {
        return;
    }
    let client = clue.src.0;
    let ts = (clue.ts, clue.ts);
    let unaddressed = chain.iter().filter(|e| e.addr.is_none()).count();
    let withheld = if unaddressed > 0 {
        format!(
            "; {} not an address (withheld)",
            counted(unaddressed as u64, "entry", "entries")
        )
    } else {
        String::new()
    };
    let n = chain.len();
    let tokens = chain
        .iter()
        .filter(|e| e.addr.is_none())
        .map(|e| e.text.clone());
    b.client_forwards(
        client,
        Role::Proxy,
        with_names(
            proof(
                ProofKind::ProxyHeader,
                v,
                clue,
                format!(
                    "sent a request carrying {} with {}: a proxy forwarding it{withheld}{}",
                    header.name(),
                    counted(n as u64, "entry", "entries"),
                    cut_text(cut)
                ),
            ),
            tokens,
        ),
    );
    // Via lists the proxies themselves, the TCP client last: the others come before it.
    // In a block read without its end, more entries may have followed the last one read.
    let named: &[&ProxyEntry] = if header == ProxyHeader::Via && cut.is_none() {
        &chain[..n - 1]
    } else {
        &chain
    };
    let of_n = of_entries(n, cut);
    let mut seen: Vec<Addr> = vec![client, clue.dst.0];
    let mut first = header != ProxyHeader::Via;
    for (i, e) in named.iter().enumerate() {
        let Some(ip) = e.addr else {
            continue;
        };
        let a = addr(ip);
        let what = match (header, first) {
            (ProxyHeader::Via, _) => "a proxy the request passed",
            (_, true) => "the client the first proxy served: the request's origin",
            (_, false) => "a proxy's client: a proxy on the way",
        };
        let mut h = hop(
            if first { Role::Origin } else { Role::Proxy },
            Some(a),
            e.port,
            ts,
            proof(
                ProofKind::ProxyHeader,
                v,
                clue,
                format!("{} entry {} of {of_n}: {what}", header.name(), i + 1),
            ),
        );
        // Only the last entry was written by the node the evidence saw send the request
        // (unknown when more may have followed it).
        if i + 1 < named.len() || header == ProxyHeader::Via || cut.is_some() {
            h.flags.push("unverified");
        }
        put_named(b, h, first, i as u32, &mut seen);
        first = false;
    }
}

/// Places a node a header chain names: the first as the origin, the others before the TCP
/// client in chain order; a node named twice (or that is an end of the connection) is
/// flagged `repeated`.
fn put_named(b: &mut ChainBuilder<'_>, mut h: Hop, first: bool, sub: u32, seen: &mut Vec<Addr>) {
    if let Some(a) = h.ip {
        if seen.contains(&a) {
            h.flags.push("repeated");
        }
        seen.push(a);
    }
    let at = if first {
        ChainPlace::Origin
    } else {
        ChainPlace::Upstream
    };
    b.put(at, sub, h);
}

/// The flows (not records) of the communication one vantage point saw.
pub(super) fn flow_views(c: &Candidate, vantage: u32) -> Vec<&Observation> {
    c.observations
        .iter()
        .filter(|o| o.vantage == vantage && matches!(o.seen, Seen::Flow(_)))
        .collect()
}

/// Two endpoints, either way round.
type Ends = ((Addr, u16), (Addr, u16));

fn both_ways(a: (Addr, u16), b: (Addr, u16)) -> Ends {
    (a.min(b), a.max(b))
}

/// A candidate's flow observations at one vantage point ([`flow_views`]) by protocol and
/// ends, so that finding the one a clue belongs to is a lookup (a traceroute of thousands
/// of probes is one candidate with an observation per probe: scanning them for each clue
/// was quadratic).
pub(super) struct Views<'a>(HashMap<(Proto, Ends), Vec<&'a Observation>>);

impl<'a> Views<'a> {
    pub(super) fn new(c: &'a Candidate, vantage: u32) -> Views<'a> {
        let mut m: HashMap<(Proto, Ends), Vec<&'a Observation>> = HashMap::new();
        for o in flow_views(c, vantage) {
            m.entry((o.proto, both_ways(o.orig, o.resp)))
                .or_default()
                .push(o);
        }
        Views(m)
    }

    /// The first observation (in the candidate's order) the clue [`belongs`] to.
    pub(super) fn of(&self, clue: &Clue) -> Option<&'a Observation> {
        self.0
            .get(&(clue.proto, both_ways(clue.src, clue.dst)))?
            .iter()
            .copied()
            .find(|o| belongs(clue, o))
    }
}

/// What a proof adds about a header block read without its end: the lines it read are
/// whole, but what followed them (more headers, or a folded continuation of the last) was
/// not read.
fn cut_text(cut: Option<HeaderCut>) -> String {
    cut.map_or(String::new(), |c| {
        format!(
            "; its header block was read without its end ({}): what followed its last complete line or proxy-header entry, which may hold more entries, was not read",
            c.text()
        )
    })
}

/// A request sent to a forward proxy names the node it is to reach: a `CONNECT` asks the
/// TCP responder to open a tunnel onward (RFC 9110, 9.3.6), a request target in absolute
/// form to fetch from the server it names (RFC 9112, 3.2.2; clients send that form to
/// proxies). The responder is a proxy, and a target named by address is the node beyond
/// it. Whether the proxy reached it is in its reply and its log. A server may be sent the
/// absolute form too (RFC 9112 has servers accept it): naming the responder's own address
/// it shows nothing, and naming a host by name only it is evidence on the responder, which
/// keeps its role.
fn http_proxy_target(
    b: &mut ChainBuilder<'_>,
    v: u32,
    clue: &Clue,
    t: &ProxyTarget,
    reply: Option<(&Clue, u16)>,
) {
    let to_itself = t.addr.map(addr) == Some(clue.dst.0);
    // Sent to the communication's responder (not, say, by it).
    if (to_itself && !t.connect) || !b.is_responder(clue.dst.0) {
        return;
    }
    let port = t.port.map_or(String::new(), |p| format!(" port {p}"));
    let target = match t.addr {
        Some(ip) => format!("{ip}{port}"),
        None => format!(
            "a host given by name{}",
            t.port.map_or(String::new(), |p| format!(", port {p}"))
        ),
    };
    let names = t.addr.is_none().then(|| t.host.clone());
    if !t.connect && t.addr.is_none() {
        let showed = format!(
            "was sent a request for a URL on {target} as an absolute URL, the form clients send to a proxy: if it is one, the server is behind it (a server may be sent that form too)"
        );
        let h = hop(
            Role::Destination,
            Some(clue.dst.0),
            Some(clue.dst.1),
            (clue.ts, clue.ts),
            with_names(proof(ProofKind::ProxyRequest, v, clue, showed), names),
        );
        b.at_end(false, h);
        return;
    }
    let (asked, what) = if t.connect {
        (
            format!(
                "was asked to open a tunnel to {target} (HTTP CONNECT): a proxy relaying the connection onward"
            ),
            "named by the HTTP CONNECT request as the node the proxy was to open a tunnel to",
        )
    } else {
        (
            format!(
                "was sent a request for a URL on {target} (an absolute URL as request target, the form clients send to a proxy): a proxy forwarding it onward"
            ),
            "named by the absolute URL of a request sent to the proxy as the server it was to fetch from",
        )
    };
    b.responder_proxies(
        clue.dst.0,
        with_names(
            proof(ProofKind::ProxyRequest, v, clue, asked),
            names.clone(),
        ),
    );
    // A CONNECT's reply: a refusal ends the path at the proxy; a 2xx is the proxy's
    // account that it opened the tunnel (still its own word: the target stays unverified).
    let opened = match reply {
        Some((r, code)) if !(200..300).contains(&code) => {
            let refused = format!(
                "answered the HTTP CONNECT to {target} with status {code}: by its reply it opened no tunnel, and the connection went no further than the proxy"
            );
            b.responder_proxies(
                clue.dst.0,
                with_names(proof(ProofKind::ProxyRefused, v, r, refused), names),
            );
            return;
        }
        Some((r, code)) => Some((r, code)),
        None => None,
    };
    if let Some(ip) = t.addr.filter(|_| !to_itself) {
        let mut h = hop(
            Role::Destination,
            Some(addr(ip)),
            t.port,
            (clue.ts, clue.ts),
            proof(ProofKind::ProxyRequest, v, clue, what.to_string()),
        );
        if let Some((r, code)) = opened {
            h.last_seen = h.last_seen.max(r.ts);
            h.evidence.push(proof(
                ProofKind::ProxyReply,
                v,
                r,
                format!(
                    "the proxy answered the HTTP CONNECT with status {code}: by its own account it opened the tunnel to this node"
                ),
            ));
        }
        h.flags.push("unverified");
        b.put(ChainPlace::Beyond, 0, h);
    } else if let Some((r, code)) = opened {
        let answered = format!(
            "answered the HTTP CONNECT to {target} with status {code}: by its own account it opened the tunnel"
        );
        b.responder_proxies(
            clue.dst.0,
            with_names(proof(ProofKind::ProxyReply, v, r, answered), names),
        );
    }
}

/// How many entries a header chain has: `n`, or "the n read" when its block was read
/// without its end.
fn of_entries(n: usize, cut: Option<HeaderCut>) -> String {
    if cut.is_some() {
        format!("the {n} read")
    } else {
        n.to_string()
    }
}

/// A response's `Via` says the TCP responder is a proxy (a CDN edge, a reverse proxy); its
/// address-literal entries before the responder's own lie toward the server.
fn http_response(
    b: &mut ChainBuilder<'_>,
    v: u32,
    clue: &Clue,
    entries: &[ProxyEntry],
    cut: Option<HeaderCut>,
) {
    let via: Vec<&ProxyEntry> = entries
        .iter()
        .filter(|e| e.header == ProxyHeader::Via)
        .collect();
    let n = via.len();
    if n == 0 {
        return;
    }
    let server = clue.src.0;
    let names = via
        .iter()
        .filter(|e| e.addr.is_none())
        .map(|e| e.text.clone());
    b.responder_proxies(
        server,
        with_names(
            proof(
                ProofKind::ProxyHeader,
                v,
                clue,
                format!(
                    "answered with Via naming {}: a proxy or CDN edge in front of the server{}",
                    counted(n as u64, "proxy", "proxies"),
                    cut_text(cut)
                ),
            ),
            names,
        ),
    );
    // The responder's own entry is the last: the last read, when the block was read whole.
    let nearer = if cut.is_some() { n } else { n - 1 };
    let of_n = of_entries(n, cut);
    for (i, e) in via[..nearer].iter().enumerate() {
        let Some(ip) = e.addr else { continue };
        let mut h = hop(
            Role::Proxy,
            Some(addr(ip)),
            e.port,
            (clue.ts, clue.ts),
            proof(
                ProofKind::ProxyHeader,
                v,
                clue,
                format!(
                    "Via entry {} of {of_n} in the response: a proxy nearer the server",
                    i + 1
                ),
            ),
        );
        h.flags.push("unverified");
        b.put(ChainPlace::Downstream, (n - i) as u32, h);
    }
}

/// The order a mail's `Received:` fields were written in, oldest first. Relays add theirs on
/// top, so the fields read bottom-up, unless the names link them the other way (each
/// relay's `by` name is the next field's `from` name) or only the top-down dates rise.
pub(super) fn chronological(received: &[Received]) -> (Vec<usize>, &'static str) {
    let n = received.len();
    let up: Vec<usize> = (0..n).rev().collect();
    let down: Vec<usize> = (0..n).collect();
    let links = |order: &[usize]| {
        order
            .windows(2)
            .filter(|w| {
                let (a, b) = (&received[w[0]], &received[w[1]]);
                a.by_name
                    .as_ref()
                    .zip(b.from_name.as_ref())
                    .is_some_and(|(x, y)| x.eq_ignore_ascii_case(y))
            })
            .count()
    };
    let rising = |order: &[usize]| {
        let d: Vec<Timestamp> = order
            .iter()
            .filter_map(|&i| received[i].date.as_ref().map(|d| d.0))
            .collect();
        d.len() >= 2 && d.windows(2).all(|w| w[0] <= w[1]) && d.first() != d.last()
    };
    let (lu, ld) = (links(&up), links(&down));
    if ld > lu || (ld == lu && rising(&down) && !rising(&up)) {
        (down, "top first, as the relays' names and dates link them")
    } else {
        (up, "bottom first")
    }
}

/// A saved mail given as an input: when one of its fields says a relay received it from
/// the communication's client, the fields before that one name the hops before the client.
fn saved_mail(b: &mut ChainBuilder<'_>, c: &Candidate, v: u32, clue: &Clue, received: &[Received]) {
    let client = c.orig.0;
    let (order, how) = chronological(received);
    let Some(p) = order
        .iter()
        .rposition(|&i| received[i].from_ip.map(addr) == Some(client))
    else {
        return;
    };
    let m = Mail {
        v,
        clue,
        client,
        received,
        order: order[..=p].to_vec(),
        how,
        gaps: 0,
        client_wrote: p.checked_sub(1).map(|q| order[q]),
    };
    mail(b, &m);
}

/// One mail's fields, as [`mail`] places them.
struct Mail<'a> {
    /// The vantage point (input) they came from.
    v: u32,
    clue: &'a Clue,
    /// The SMTP client: the last relay, whose hop the path already has.
    client: Addr,
    received: &'a [Received],
    /// The fields to place, oldest first.
    order: Vec<usize>,
    /// How that order was found.
    how: &'static str,
    /// Holes in the captured session.
    gaps: u32,
    /// The field the client wrote itself (naming the hop before it); the older ones were
    /// written by relays the evidence did not see.
    client_wrote: Option<usize>,
}

impl Mail<'_> {
    /// Where a field is: the SMTP session's first segment, or its line in a saved mail.
    fn at(&self, r: &Received) -> crate::model::Locator {
        match self.clue.what {
            ClueKind::Mail { file: true, .. } => crate::model::Locator {
                frame: u64::from(r.line),
                offset: u64::from(r.offset),
                ..self.clue.at
            },
            _ => self.clue.at,
        }
    }

    fn proof(&self, r: &Received, showed: String) -> Proof {
        let mut p = proof(ProofKind::MailHeader, self.v, self.clue, showed);
        p.at = self.at(r);
        p
    }
}

/// A mail's `Received:` fields name the relays before the SMTP client that sent it; the
/// oldest field's sender is the origin.
fn mail(b: &mut ChainBuilder<'_>, m: &Mail<'_>) {
    let (client, received, order, how) = (m.client, m.received, &m.order, m.how);
    let n = received.len();
    let named: Vec<(usize, Addr)> = order
        .iter()
        .filter_map(|&i| received[i].from_ip.map(|ip| (i, addr(ip))))
        .filter(|(_, a)| *a != client)
        .collect();
    let Some(&newest) = order.last() else { return };
    if named.is_empty() {
        return;
    }
    let gaps = if m.gaps > 0 {
        format!(
            "; {} of the session {} not captured",
            counted(m.gaps as u64, "segment", "segments"),
            if m.gaps == 1 { "was" } else { "were" }
        )
    } else {
        String::new()
    };
    let what = if matches!(m.clue.what, ClueKind::Mail { file: true, .. }) {
        format!(
            "a saved mail whose Received field {} says a relay received it from this address; {} named: an SMTP relay",
            newest + 1,
            counted(named.len() as u64, "earlier hop", "earlier hops")
        )
    } else {
        format!(
            "sent a mail whose {} {} {}: an SMTP relay{gaps}",
            counted(n as u64, "Received field", "Received fields"),
            if n == 1 { "names" } else { "name" },
            counted(named.len() as u64, "earlier hop", "earlier hops")
        )
    };
    b.client_forwards(client, Role::Relay, m.proof(&received[newest], what));
    // The newest field was written by the node that received from the client; the others
    // by relays before it.
    let mut seen = vec![client, m.clue.dst.0];
    let mut last_date: Option<Timestamp> = None;
    for (k, &(i, a)) in named.iter().enumerate() {
        let r = &received[i];
        let date = r
            .date
            .as_ref()
            .map(|(_, text)| format!(", dated {text}"))
            .unwrap_or_default();
        let when = r.date.as_ref().map_or(m.clue.ts, |d| d.0);
        let first = k == 0;
        let mut h = hop(
            if first { Role::Origin } else { Role::Relay },
            Some(a),
            None,
            (when, when),
            with_names(
                m.proof(
                    r,
                    format!(
                        "Received field {} of {n} counted from the top (chain read {how}): the relay that wrote it received the mail from this address{date}",
                        i + 1
                    ),
                ),
                r.from_name.iter().chain(r.by_name.iter()).cloned(),
            ),
        );
        if Some(i) != m.client_wrote {
            h.flags.push("unverified");
        }
        if let (Some(prev), Some((d, _))) = (last_date, &r.date)
            && *d < prev
        {
            h.flags.push("date_out_of_order");
        }
        if let Some((d, _)) = &r.date {
            last_date = Some(*d);
        }
        put_named(b, h, first, k as u32, &mut seen);
    }
}

/// Routers a traceroute between the communication's two ends revealed: ICMP errors at this
/// vantage point quoting a probe from one end to the other, in the window around it, placed
/// in the order of the TTL the probe was sent with.
fn traceroute(b: &mut ChainBuilder<'_>, c: &Candidate, e: &Evidence<'_>) {
    let (a, z) = (c.orig.0, c.resp.0);
    let lo = c.first.0.saturating_sub(c.window);
    let hi = c.last.0.saturating_add(c.window);
    let replies: Vec<(&Clue, u8, u8, headers::Quote)> = e
        .clues
        .iter()
        .filter_map(|clue| match clue.what {
            ClueKind::IcmpError {
                ty, code, quote, ..
            } => Some((clue, ty, code, quote)),
            _ => None,
        })
        .filter(|(clue, _, _, q)| {
            clue.ts.0 >= lo
                && clue.ts.0 <= hi
                && ((q.src == a && q.dst == z) || (q.src == z && q.dst == a))
        })
        .collect();
    if replies.is_empty() {
        return;
    }
    // The probes' flows at this vantage point, for the TTL each was sent with, by protocol
    // and ends in any overlay context (quotes carry no VLAN or tunnel), in output order (of
    // start). A reply is matched with the last of them started by its time (the first if
    // none was): a lookup, where each reply scanned a hash map of the probes' flows and
    // took whichever it met first.
    let mut probes: HashMap<(Proto, Ends), Vec<usize>> = HashMap::new();
    for (i, f) in e.flows.iter().enumerate() {
        let (x, y) = (f.key.lo(), f.key.hi());
        if (x.addr == a && y.addr == z) || (x.addr == z && y.addr == a) {
            probes
                .entry((f.key.proto, ((x.addr, x.port), (y.addr, y.port))))
                .or_default()
                .push(i);
        }
    }
    for (clue, ty, code, q) in replies {
        let facts = PacketFacts {
            src: q.src,
            dst: q.dst,
            sport: q.sport,
            dport: q.dport,
            proto: q.proto,
            ports_known: true,
            ..PacketFacts::default()
        };
        let (key, side) = FlowKey::of(&facts);
        let (x, y) = (key.lo(), key.hi());
        let sent_ttl = probes
            .get(&(key.proto, ((x.addr, x.port), (y.addr, y.port))))
            .and_then(|flows| {
                let started = flows.partition_point(|&i| e.flows[i].first_ts() <= clue.ts);
                flows.get(started.saturating_sub(1))
            })
            .and_then(|&i| e.flows.get(i))
            .and_then(|f| {
                let d = &f.dir[side.idx()];
                (d.pkts > 0 && d.ttl_min == d.ttl_max).then_some(d.ttl_min)
            });
        let forward = q.src == a;
        let node = clue.src.0;
        let probe = format!(
            "{} {} → {}",
            proto_word(q.proto),
            ep((q.src, q.sport)),
            ep((q.dst, q.dport))
        );
        let ttl_text = sent_ttl.map_or("a TTL not seen here".to_string(), |t| format!("TTL {t}"));
        let answer = if headers::is_time_exceeded(clue.proto, ty) {
            "time exceeded".to_string()
        } else {
            format!("destination unreachable (code {code})")
        };
        let labels = match &clue.what {
            ClueKind::IcmpError { mpls, .. } if !mpls.is_empty() => format!(
                "; the reply carried the MPLS label stack {} (RFC 4950)",
                mpls.iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        };
        let showed =
            format!("answered the probe {probe} sent with {ttl_text} with ICMP {answer}{labels}");
        let p = proof(ProofKind::Traceroute, e.vantage, clue, showed);
        let span = (clue.ts, clue.ts);
        if node == q.dst {
            // The far end answered: the probe reached it.
            let role = if forward {
                Role::Destination
            } else {
                ChainBuilder::first_role(c)
            };
            let port = if c.proto.is_icmp() {
                None
            } else if forward {
                Some(c.resp.1)
            } else {
                Some(c.orig.1)
            };
            b.at_end(!forward, hop(role, Some(node), port, span, p));
        } else if node != q.src {
            let (at, sub) = match sent_ttl {
                Some(t) if forward => (ChainPlace::Router, u32::from(t)),
                Some(t) => (ChainPlace::RouterFromDestination, 256 - u32::from(t)),
                None if forward => (ChainPlace::Router, 1000),
                None => (ChainPlace::RouterFromDestination, 1000),
            };
            b.put(at, sub, hop(Role::Router, Some(node), None, span, p));
        }
    }
}

fn proto_word(p: Proto) -> String {
    p.name().to_string().to_uppercase()
}

/// Folds a traceroute run into one candidate, and drops the ICMP errors that answered a
/// candidate's packets (they are evidence of its path, not communications of their own).
pub(super) fn fold_traceroutes(evidence: &[Evidence<'_>], found: Vec<Candidate>) -> Vec<Candidate> {
    let errors: Vec<(u32, &Clue, u8, headers::Quote)> = evidence
        .iter()
        .flat_map(|e| {
            e.clues.iter().filter_map(move |c| match c.what {
                ClueKind::IcmpError { ty, quote, .. } => Some((e.vantage, c, ty, quote)),
                _ => None,
            })
        })
        .collect();
    if errors.is_empty() {
        return found;
    }
    // Indexes, so that each candidate costs a lookup however many errors and candidates
    // there are (scanning every error for each observation, and every candidate for each
    // error, was quadratic when a query matches many communications).
    // The packets an error answered, either way round, at its vantage point: whether any
    // error answered them and whether a router did.
    let mut answers: HashMap<(u32, Proto, Ends), bool> = HashMap::new();
    // The address pairs each error's sender and receiver quoted, either way round.
    let mut quoted: HashMap<(Addr, Addr), std::collections::HashSet<(Addr, Addr)>> = HashMap::new();
    for (v, clue, ty, q) in &errors {
        let ends = both_ways((q.src, q.sport), (q.dst, q.dport));
        *answers.entry((*v, q.proto, ends)).or_default() |=
            headers::is_time_exceeded(clue.proto, *ty);
        quoted
            .entry((clue.src.0, clue.dst.0))
            .or_default()
            .insert((q.src.min(q.dst), q.src.max(q.dst)));
    }
    // Who an observation's packets were answered by, and whether a router answered.
    let answered = |o: &Observation| -> (bool, bool) {
        match answers.get(&(o.vantage, o.proto, both_ways(o.orig, o.resp))) {
            Some(&exceeded) => (true, exceeded),
            None => (false, false),
        }
    };
    // The candidates between each two addresses, either way round.
    let mut pairs: HashMap<(Addr, Addr), usize> = HashMap::new();
    for c in &found {
        *pairs
            .entry((c.orig.0.min(c.resp.0), c.orig.0.max(c.resp.0)))
            .or_default() += 1;
    }
    // An ICMP error flow that answers another candidate of the same query: an error from
    // its sender to its receiver quoted a packet between two addresses some other
    // candidate is between.
    let answers_other = |c: &Candidate| -> bool {
        let own = (c.orig.0.min(c.resp.0), c.orig.0.max(c.resp.0));
        c.proto.is_icmp()
            && headers::is_icmp_error(c.proto, c.orig.1 as u8)
            && quoted.get(&(c.orig.0, c.resp.0)).is_some_and(|qs| {
                qs.iter().any(|p| {
                    let others = pairs.get(p).copied().unwrap_or(0);
                    others > usize::from(*p == own)
                })
            })
    };
    let keep: Vec<bool> = found.iter().map(|c| !answers_other(c)).collect();
    let mut sorted: Vec<Candidate> = found
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect();
    sorted.sort_by(|a, b| (a.first, &a.community_id).cmp(&(b.first, &b.community_id)));
    // A probe nothing answered (a `* * *` line of a traceroute): one way only, sent with a
    // TTL a traceroute uses.
    let lone = |c: &Candidate| {
        c.observations.iter().all(|o| {
            let Seen::Flow(i) = o.seen else { return false };
            let Some(f) = evidence
                .iter()
                .find(|e| e.vantage == o.vantage)
                .and_then(|e| e.flows.get(i))
            else {
                return false;
            };
            let (s, r) = (f.orig_side(), f.orig_side().other());
            f.dir[r.idx()].pkts == 0 && f.dir[s.idx()].ttl_max <= 32
        })
    };
    // Probe groups: the same ends and protocol within the window; a group is a traceroute
    // when a router answered one of its probes, else its candidates stay apart.
    struct Group {
        merged: Candidate,
        parts: Vec<Candidate>,
        exceeded: bool,
    }
    let mut groups: Vec<Group> = Vec::new();
    // The groups a later probe may still join, by ends and protocol, oldest first: the
    // candidates come in order of start, so a group a probe started too late for can take
    // no later one.
    let mut open: HashMap<(Addr, Addr, Proto), Vec<usize>> = HashMap::new();
    let mut out: Vec<Option<usize>> = Vec::new();
    let mut plain: Vec<Candidate> = Vec::new();
    for c in sorted {
        let (all_answered, exceeded) = c
            .observations
            .iter()
            .map(answered)
            .fold((true, false), |acc, (any, ex)| (acc.0 && any, acc.1 || ex));
        let is_error = c.proto.is_icmp() && headers::is_icmp_error(c.proto, c.orig.1 as u8);
        if is_error || !(all_answered || lone(&c)) {
            out.push(None);
            plain.push(c);
            continue;
        }
        let ends = open.entry((c.orig.0, c.resp.0, c.proto)).or_default();
        ends.retain(|&k| {
            let t = &groups[k].merged;
            c.first.0 <= t.last.0.saturating_add(t.window)
        });
        match ends.first().copied() {
            Some(k) => {
                let g = &mut groups[k];
                g.merged.first = g.merged.first.min(c.first);
                g.merged.last = g.merged.last.max(c.last);
                g.merged.observations.extend(c.observations.iter().cloned());
                g.exceeded |= exceeded;
                g.parts.push(c);
            }
            None => {
                ends.push(groups.len());
                out.push(Some(groups.len()));
                groups.push(Group {
                    merged: c.clone(),
                    parts: vec![c],
                    exceeded,
                });
            }
        }
    }
    // Sorted once each group is whole (the same order as sorting after each part joined:
    // the sort is stable).
    for g in &mut groups {
        g.merged
            .observations
            .sort_by_key(|o| (o.first, o.vantage, o.input, o.seen));
    }
    let mut plain = plain.into_iter();
    let mut result = Vec::new();
    for slot in out {
        match slot {
            None => result.extend(plain.next()),
            Some(k) => {
                let g = &mut groups[k];
                if g.exceeded {
                    let mut t = g.merged.clone();
                    t.traceroute = true;
                    result.push(t);
                } else {
                    result.append(&mut g.parts);
                }
            }
        }
    }
    result
}
