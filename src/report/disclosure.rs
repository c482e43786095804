//! The Art. 30 disclosure as data: the communication, its path of hops (each attributed),
//! the providers on it with the nearest foreign one marked, the vantage points, the gaps,
//! and the provenance of every input and database. JSON is its serialisation (schema
//! [`DISCLOSURE_SCHEMA`]); Markdown renders the same values.
//!
//! Minimised by construction: endpoints, ports, protocol, times and attribution only; no
//! payload, names, layer-2 identifiers, sizes or sub-country geography.

use super::lookup::{
    AddressOut, JurisdictionOut, LookupContext, ProviderOut as DirectoryOut, address_out,
};
use crate::enrich::{Attribution, Enricher};
use crate::hops::{Candidate, ClueKind, Hop, ProofKind, Role};
use crate::model::{Addr, Proto, Timestamp, counted};
use serde::Serialize;
use std::fmt::Write;

/// Name and version of the disclosure schema.
pub const DISCLOSURE_SCHEMA: &str = "hoptrace-art30-disclosure/0.6";

/// An address and port.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EndpointOut {
    /// Address (RFC 5952 text for IPv6).
    pub ip: String,
    /// Port (ICMP: type or code).
    pub port: u16,
}

impl EndpointOut {
    /// The address and port as text: `192.0.2.1:80`, `[2001:db8::1]:80`.
    pub fn text(&self) -> String {
        if self.ip.contains(':') {
            format!("[{}]:{}", self.ip, self.port)
        } else {
            format!("{}:{}", self.ip, self.port)
        }
    }
}

fn endpoint((a, p): (Addr, u16)) -> EndpointOut {
    EndpointOut {
        ip: a.to_string(),
        port: p,
    }
}

/// The communication the request named, as found.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CommunicationOut {
    /// Community ID v1.
    pub community_id: String,
    /// Transport protocol name.
    pub protocol: String,
    /// IANA protocol number.
    pub ip_proto: u8,
    /// IP version.
    pub ip_version: u8,
    /// Originator.
    pub origin: EndpointOut,
    /// Responder.
    pub destination: EndpointOut,
    /// First seen, UTC (by the first vantage point's clock).
    pub first_seen: String,
    /// Last seen, UTC.
    pub last_seen: String,
    /// Coarse service from protocol and port only (never from payload).
    pub service: String,
    /// For a traceroute run: how many probes (each its own 5-tuple; the fields above
    /// are the first probe's). Null for any other communication.
    pub traceroute_probes: Option<usize>,
    /// When the queried address is the end of no flow or record: the request sent to a
    /// forward proxy over this communication that named it as the node to reach (kind
    /// `proxy_request`), through which the communication was found. Null otherwise.
    pub found_through: Option<EvidenceOut>,
}

/// One piece of evidence for a hop.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EvidenceOut {
    /// `packets`, `tunnel`, `flow_record`, `nat_fields`, `routing_fields`.
    pub kind: &'static str,
    /// The input file.
    pub input: String,
    /// Frame (captures), line (logs) or datagram number in the input.
    pub frame: u64,
    /// Record within the frame or datagram (0: none).
    pub record: u32,
    /// Byte offset of the frame or line.
    pub offset: u64,
    /// What it showed.
    pub showed: String,
    /// Host names the evidence carried, only when the report was asked to include them
    /// (`--include names`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
}

/// One hop, attributed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HopOut {
    /// Position on the path, from 0 (origin).
    pub index: usize,
    /// Address (null for an AS known only from routing fields).
    pub ip: Option<String>,
    /// Port, where the evidence gives one.
    pub port: Option<u16>,
    /// `origin`, `tunnel_endpoint`, `nat`, `neighbor_as`, `router`, `destination`.
    pub role: &'static str,
    /// Autonomous system.
    pub asn: Option<u32>,
    /// AS organisation.
    pub as_org: Option<String>,
    /// Country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Address class (`global`, `private`, `shared`, ...); null for an AS-only hop.
    pub address_class: Option<&'static str>,
    /// For a NAT hop: the inside address and port it translates.
    pub maps: Option<EndpointOut>,
    /// First time the evidence places the communication here, UTC.
    pub first_seen: String,
    /// Last time.
    pub last_seen: String,
    /// The full attribution of the address (sources, jurisdiction, notes).
    pub attribution: Option<AddressOut>,
    /// Why the hop is on the path.
    pub evidence: Vec<EvidenceOut>,
    /// What to be wary of: `unverified` (named by a header that a node before the one the
    /// evidence saw wrote, or may have, in a header block read without its end: it may be
    /// forged), `repeated`, `date_out_of_order`, and
    /// `not_global` for a header-named address that is private, loopback or reserved.
    pub flags: Vec<&'static str>,
}

/// A provider on the path.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ProviderOut {
    /// Autonomous system.
    pub asn: u32,
    /// AS organisation, where the data names it.
    pub name: Option<String>,
    /// Country of its addresses on the path.
    pub country: Option<String>,
    /// The hops it operates.
    pub hop_indexes: Vec<usize>,
    /// Jurisdiction and treaty status, with sources and as-of date.
    pub jurisdiction: Option<JurisdictionOut>,
    /// The next preservation target: the foreign provider nearest the party's own hops.
    pub nearest_foreign: bool,
    /// The provider directory's entry for its AS (`--providers`): legal name, country of
    /// establishment, contacts, source.
    pub directory: Option<DirectoryOut>,
}

/// A vantage point that saw the communication.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VantageOut {
    /// Its number.
    pub vantage: u32,
    /// Its input files.
    pub inputs: Vec<String>,
    /// Clock offset against the first vantage point, seconds (estimated from when each
    /// saw the communication start).
    pub clock_offset_s: f64,
    /// What it counted (only with `--include sizes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sizes: Option<SizesOut>,
    /// The VLAN tags the packets carried there, outer first (only with `--include layer2`;
    /// empty: untagged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlans: Option<Vec<u16>>,
}

/// Packets, bytes and duration of the communication at one vantage point.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SizesOut {
    /// Packets from the originator.
    pub packets_out: u64,
    /// IP bytes from the originator.
    pub bytes_out: u64,
    /// Packets back.
    pub packets_back: u64,
    /// IP bytes back.
    pub bytes_back: u64,
    /// First to last packet, seconds.
    pub duration_s: f64,
}

/// Content of the communication (only what `--include urls` or `--include payload` asks).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ContentOut {
    /// HTTP messages: start line and host.
    pub http: Vec<HttpOut>,
    /// The first payload bytes each side sent, per vantage point.
    pub payload: Vec<PayloadOut>,
}

/// One HTTP message of the communication.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct HttpOut {
    /// The input file.
    pub input: String,
    /// Its frame.
    pub frame: u64,
    /// `origin` (a request) or `destination` (a response): the side that sent it.
    pub sent_by: &'static str,
    /// The start line.
    pub start_line: String,
    /// The request's `Host`.
    pub host: Option<String>,
}

/// The first payload bytes one side sent.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PayloadOut {
    /// The input file.
    pub input: String,
    /// The frame.
    pub frame: u64,
    /// `origin` or `destination`: the side that sent it.
    pub sent_by: &'static str,
    /// The bytes, hexadecimal.
    pub hex: String,
    /// The bytes as text (printable ASCII; others as `.`).
    pub text: String,
}

/// Another communication between the same two addresses.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OtherOut {
    /// Community ID v1.
    pub community_id: String,
    /// Transport protocol.
    pub protocol: String,
    /// Originator.
    pub origin: EndpointOut,
    /// Responder.
    pub destination: EndpointOut,
    /// First seen, UTC.
    pub first_seen: String,
    /// Last seen, UTC.
    pub last_seen: String,
    /// The vantage point that saw it.
    pub vantage: u32,
}

/// Where attribution stops, and what would continue it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GapOut {
    /// The hop (null for a gap of the path as a whole).
    pub hop_index: Option<usize>,
    /// Why attribution stops there.
    pub reason: String,
    /// The record that would close the gap, and who holds it.
    pub record_needed: String,
}

/// An input with its digest.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct InputOut {
    /// Path as given.
    pub path: String,
    /// Format read.
    pub format: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// What was read: frames (captures), lines (flow logs), datagrams (NetFlow/IPFIX
    /// exports) or flow tuples (Azure logs).
    pub unit: &'static str,
    /// How many of them were read.
    pub read: u64,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Captures: where those bytes went (they add up to `bytes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_split: Option<ByteSplitOut>,
    /// Why the input could not be read, or stopped being readable part way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What in it could not be read, by reason (empty: everything was read).
    pub not_read: Vec<NotReadOut>,
}

/// Where the bytes of a capture went.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ByteSplitOut {
    /// In records that became frames.
    pub frames: u64,
    /// In file headers and blocks that carry no packet.
    pub headers: u64,
    /// In records and ranges that could not be read (see `not_read`).
    pub skipped: u64,
}

/// Frames, lines or byte ranges of an input that could not be read, for one reason.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NotReadOut {
    /// The reason (a stable name: `truncated_record`, `bad_record_length`, ...).
    pub reason: &'static str,
    /// Its detail, when it has one (a link type, a version, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How many.
    pub count: u64,
    /// Input bytes they covered.
    pub bytes: u64,
    /// Number of the first (frame, line, datagram; counting from 1).
    pub first: u64,
    /// Byte offset of the first.
    pub first_offset: u64,
}

impl InputOut {
    /// One line on what was read: `frames, bytes` and, when something was not, what.
    fn read_text(&self) -> String {
        let mut s = format!(
            "{}, {}",
            counted(self.read, self.unit, &format!("{}s", self.unit)),
            counted(self.bytes, "byte", "bytes")
        );
        if let Some(b) = &self.byte_split
            && b.skipped > 0
        {
            let _ = write!(
                s,
                " ({} in frames, {} in headers and blocks without packets, {} skipped)",
                b.frames, b.headers, b.skipped
            );
        }
        s
    }

    /// One line per reason something could not be read, then the error.
    fn not_read_lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .not_read
            .iter()
            .map(|n| {
                let what = match &n.detail {
                    Some(d) => format!("{} ({d})", n.reason),
                    None => n.reason.to_string(),
                };
                format!(
                    "not read: {what}: {} ({}; first at {} {}, byte offset {})",
                    n.count,
                    counted(n.bytes, "byte", "bytes"),
                    self.unit,
                    n.first,
                    n.first_offset
                )
            })
            .collect();
        if let Some(e) = &self.error {
            v.push(format!("error: {e}"));
        }
        v
    }
}

/// The query, as given.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ParametersOut {
    /// The disclosing party (ISO 3166-1 alpha-2).
    pub party: String,
    /// The requesting party.
    pub requesting: Option<String>,
    /// Reference of the preservation request being executed.
    pub request_ref: Option<String>,
    /// The address named.
    pub ip: String,
    /// The port named.
    pub port: Option<u16>,
    /// The peer named.
    pub peer: Option<String>,
    /// The protocol named.
    pub proto: Option<String>,
    /// The time named, as given (with its offset).
    pub at: Option<String>,
    /// The same time in UTC.
    pub at_utc: Option<String>,
    /// The window around it, seconds.
    pub window_s: f64,
    /// The Community ID named.
    pub community_id: Option<String>,
}

/// The Art. 30 disclosure.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Disclosure {
    /// [`DISCLOSURE_SCHEMA`].
    pub schema: &'static str,
    /// `hoptrace <version>`.
    pub tool: String,
    /// When the report was generated, only when the caller gives it (`--generated-at`):
    /// otherwise the same inputs and parameters give byte-identical reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<String>,
    /// The query.
    pub parameters: ParametersOut,
    /// The communication.
    pub communication: CommunicationOut,
    /// The path, origin first.
    pub hops: Vec<HopOut>,
    /// The providers on it.
    pub providers: Vec<ProviderOut>,
    /// The vantage points.
    pub vantage_points: Vec<VantageOut>,
    /// Where attribution stops.
    pub gaps: Vec<GapOut>,
    /// The evidence files.
    pub inputs: Vec<InputOut>,
    /// The attribution data every hop was looked up in.
    pub databases: DatabasesOut,
    /// Each kind of data minimisation concerns: whether this report includes it.
    pub minimisation: Vec<MinimisationOut>,
    /// The kinds of hop evidence this version looks for (the rest come later).
    pub evidence_considered: Vec<&'static str>,
    /// Content of the communication, only when asked for (`--include urls`, `payload`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentOut>,
    /// Other communications between the same two addresses, only when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_communications: Option<Vec<OtherOut>>,
    /// Art. 29 preservation-request drafts, one per foreign provider, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub art29_drafts: Option<Vec<Art29Draft>>,
}

/// One attribution database.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DatabaseOut {
    /// File, or `bundled:<file>`.
    pub file: String,
    /// Database type.
    pub kind: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// The date the data describes.
    pub build_date: Option<String>,
    /// Version or description.
    pub version: String,
    /// `public` or `operator`.
    pub scope: &'static str,
    /// Attribution its licence asks for.
    pub attribution: String,
}

/// The data attribution used.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DatabasesOut {
    /// The address databases, in the order they were consulted.
    pub sources: Vec<DatabaseOut>,
    /// The jurisdictions table and its date.
    pub jurisdictions: String,
    /// The provider directory (file and SHA-256), if one was given.
    pub provider_directory: Option<String>,
    /// Databases built long before or after the communication: their answers may not hold
    /// for its date.
    pub notes: Vec<String>,
}

fn databases(e: &Enricher, c: &Candidate) -> DatabasesOut {
    DatabasesOut {
        sources: e
            .sources
            .iter()
            .map(|s| DatabaseOut {
                file: s.info.name.clone(),
                kind: s.info.kind.clone(),
                sha256: s.info.sha256.clone(),
                build_date: s.info.build_date.map(|d| d.to_string()),
                version: s.info.version.clone(),
                scope: s.info.scope.as_str(),
                attribution: s.info.attribution.clone(),
            })
            .collect(),
        jurisdictions: e.jurisdictions.as_of(),
        provider_directory: e
            .providers
            .as_ref()
            .map(|p| format!("{} (SHA-256 {})", p.origin, p.sha256)),
        notes: e.staleness(
            crate::model::Date::of(c.first),
            crate::model::Date::of(c.last),
            365,
        ),
    }
}

/// One kind of data the report leaves out by default, and whether this one includes it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MinimisationOut {
    /// `payload`, `names`, `urls`, `other_communications`, `layer2`, `sizes`, `city`.
    pub category: &'static str,
    /// This report includes it.
    pub included: bool,
    /// What it covers, and how to include it where that is possible.
    pub note: &'static str,
}

/// What a disclosure includes beyond the minimised default (each one a choice the
/// requesting party's legal basis must cover).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Include {
    /// Host names carried by header evidence (mail relays' names, `Via` names).
    pub names: bool,
    /// City-level geography of each address.
    pub city: bool,
    /// Packets, bytes and duration each vantage point counted.
    pub sizes: bool,
    /// The VLAN tags the communication's packets carried at each vantage point.
    pub layer2: bool,
    /// HTTP start lines (with the URL path) and hosts of the communication.
    pub urls: bool,
    /// The first payload bytes each side sent.
    pub payload: bool,
    /// Other communications between the same two addresses within the window.
    pub other_communications: bool,
}

/// The categories `--include` takes, as written.
pub const INCLUDE_CATEGORIES: [&str; 7] = [
    "names",
    "city",
    "sizes",
    "layer2",
    "urls",
    "payload",
    "other-communications",
];

impl Include {
    /// Reads `names`, `city` (comma-separated, as `--include` takes them).
    pub fn parse(s: &str) -> Result<Include, String> {
        let mut out = Include::default();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match w {
                "names" => out.names = true,
                "city" => out.city = true,
                "sizes" => out.sizes = true,
                "layer2" => out.layer2 = true,
                "urls" => out.urls = true,
                "payload" => out.payload = true,
                "other-communications" => out.other_communications = true,
                _ => {
                    return Err(format!(
                        "unknown category '{w}' (what can be included: {})",
                        INCLUDE_CATEGORIES.join(", ")
                    ));
                }
            }
        }
        Ok(out)
    }

    fn minimisation(self) -> Vec<MinimisationOut> {
        let m = |category, included, note| MinimisationOut {
            category,
            included,
            note,
        };
        vec![
            m(
                "payload",
                self.payload,
                "content: --include payload adds the first 64 bytes each side sent (content is not traffic data: the legal basis must cover it)",
            ),
            m(
                "names",
                self.names,
                "host names in header evidence (mail relays, Via, the hosts requests sent to a proxy named); --include names adds them to the evidence",
            ),
            m(
                "urls",
                self.urls,
                "HTTP start lines (with the URL path) and hosts; --include urls adds them (DNS names and TLS server names are not read)",
            ),
            m(
                "other_communications",
                self.other_communications,
                "other communications between the same two addresses within the window; --include other-communications lists them",
            ),
            m(
                "layer2",
                self.layer2,
                "VLAN tags at each vantage point; --include layer2 adds them (MAC addresses are not read)",
            ),
            m(
                "sizes",
                self.sizes,
                "packets, bytes and duration at each vantage point; --include sizes adds them",
            ),
            m(
                "city",
                self.city,
                "geography finer than the country; --include city adds the city where the database has one",
            ),
        ]
    }
}

/// Everything [`disclosure`] needs besides the path.
pub struct DisclosureInput<'a> {
    /// The query parameters, as given.
    pub parameters: ParametersOut,
    /// The communication found.
    pub candidate: &'a Candidate,
    /// Its path.
    pub hops: &'a [Hop],
    /// The attribution of each hop's address (`None` for AS-only hops), in hop order.
    pub attributions: &'a [Option<Attribution>],
    /// The enricher (jurisdictions, provider directory).
    pub enricher: &'a Enricher,
    /// Names of each vantage point's inputs, and (vantage, input) → file name.
    pub vantage_inputs: &'a [Vec<String>],
    /// The inputs with their digests.
    pub inputs: Vec<InputOut>,
    /// Add the Art. 29 drafts.
    pub art29: bool,
    /// When the report was generated (RFC 3339), if it should say.
    pub generated_at: Option<String>,
    /// What to include beyond the minimised default.
    pub include: Include,
    /// SMTP client bytes that were not kept for reading mails (past the run's bound).
    pub smtp_dropped: u64,
    /// The communication's HTTP header blocks read without their end
    /// (`hops::cut_headers`): each is named in a gap.
    pub cut_headers: Vec<crate::hops::Content<'a>>,
    /// The communication's content clues (`hops::content`), used as `include` says.
    pub content: Vec<crate::hops::Content<'a>>,
    /// Other communications between its two addresses (`hops::others`), used as `include`
    /// says.
    pub others: Vec<crate::hops::Observation>,
}

fn service(proto: Proto, port: u16) -> String {
    let name = match (proto.0, port) {
        (6, 80) | (6, 8080) => "HTTP",
        (6, 443) | (17, 443) => "HTTPS",
        (6, 22) => "SSH",
        (6, 25) | (6, 587) => "SMTP",
        (6, 465) => "SMTPS",
        (6, 993) => "IMAPS",
        (6, 143) => "IMAP",
        (17, 53) | (6, 53) => "DNS",
        (17, 123) => "NTP",
        (6, 3389) => "RDP",
        _ => "",
    };
    let p = proto_text(proto);
    if proto.is_icmp() {
        return p;
    }
    if name.is_empty() {
        format!("{p}/{port}")
    } else {
        format!("{p}/{port} ({name})")
    }
}

fn proto_text(p: Proto) -> String {
    match p.0 {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 => "ICMPv6".into(),
        132 => "SCTP".into(),
        n => format!("IP protocol {n}"),
    }
}

/// A hop known only as the node a request sent to a forward proxy named (and the proxy's
/// reply that it opened the tunnel, if read).
fn known_as_target(h: &HopOut) -> bool {
    !h.evidence.is_empty()
        && h.evidence
            .iter()
            .all(|e| e.kind == "proxy_request" || e.kind == "proxy_reply")
}

/// What the request a communication was found through showed ([`CommunicationOut::found_through`]).
fn found_through(r: &crate::hops::Requested, ip: &str) -> String {
    let port = r.port.map_or(String::new(), |p| format!(" port {p}"));
    let asked = if r.connect {
        "as the node the proxy at the communication's destination was to open a tunnel to (HTTP CONNECT)"
    } else {
        "as the server the proxy at the communication's destination was to fetch a URL from (an absolute URL as request target)"
    };
    format!(
        "named the queried address {ip}{port} {asked}. The queried address is the end of no flow or record in the evidence: the communication is the connection that carried this request to the proxy, and how far it went beyond is in the path's last hop and the gaps"
    )
}

fn t(ts: Timestamp) -> String {
    ts.rfc3339().to_string()
}

/// Builds the disclosure. `party` decides which providers are foreign; the nearest foreign
/// provider is found walking from the party's end of the path toward the other end.
pub fn disclosure(d: DisclosureInput<'_>) -> Disclosure {
    let c = d.candidate;
    let party = d.parameters.party.to_ascii_uppercase();
    let date = crate::model::Date::of(c.first);
    let ctx = LookupContext {
        date: Some(date),
        requesting: d.parameters.requesting.clone(),
    };
    let name_of = |v: u32, i: u32| {
        d.vantage_inputs
            .get(v as usize)
            .and_then(|n| n.get(i as usize))
            .cloned()
            .unwrap_or_else(|| format!("vantage {v} input {i}"))
    };
    let hops: Vec<HopOut> = d
        .hops
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let a = d.attributions.get(i).and_then(|a| a.as_ref());
            let out = a.map(|a| {
                let mut o = address_out(d.enricher, a, &ctx);
                // Country-level geography unless asked for more.
                if !d.include.city {
                    o.city = None;
                }
                o
            });
            let mut flags = h.flags.clone();
            let named = h
                .evidence
                .iter()
                .all(|p| matches!(p.kind, ProofKind::ProxyHeader | ProofKind::MailHeader));
            if named && out.as_ref().is_some_and(|o| o.address_class != "global") {
                flags.push("not_global");
            }
            HopOut {
                index: i,
                ip: h.ip.map(|a| a.to_string()),
                port: h.port,
                role: h.role.name(),
                asn: out.as_ref().and_then(|o| o.asn).or(h.asn),
                as_org: out.as_ref().and_then(|o| o.as_org.clone()).or_else(|| {
                    // An AS known only by its number: its name from the range data.
                    h.asn
                        .filter(|_| h.ip.is_none())
                        .and_then(|n| d.enricher.as_org(n))
                        .map(|(org, _)| org)
                }),
                country: out.as_ref().and_then(|o| o.country.clone()),
                address_class: out.as_ref().map(|o| o.address_class),
                maps: h.maps.map(endpoint),
                first_seen: t(h.first_seen),
                last_seen: t(h.last_seen),
                attribution: out,
                evidence: h
                    .evidence
                    .iter()
                    .map(|p| EvidenceOut {
                        kind: p.kind.name(),
                        input: name_of(p.vantage, p.at.input),
                        frame: p.at.frame,
                        record: p.record,
                        offset: p.at.offset,
                        showed: p.showed.clone(),
                        names: (d.include.names && !p.names.is_empty()).then(|| p.names.clone()),
                    })
                    .collect(),
                flags,
            }
        })
        .collect();
    let providers = providers(&hops, &party);
    let cuts: Vec<CutBlock> = d
        .cut_headers
        .iter()
        .filter_map(|x| match &x.clue.what {
            ClueKind::Http {
                request,
                cut: Some(cut),
                ..
            } => Some(CutBlock {
                located: format!(
                    "the {} the {} side sent at frame {} of {} (vantage point {}; {})",
                    if *request { "request" } else { "response" },
                    if x.from_origin {
                        "origin's"
                    } else {
                        "destination's"
                    },
                    x.clue.at.frame,
                    name_of(x.vantage, x.clue.at.input),
                    x.vantage,
                    cut.text()
                ),
                mail: false,
                request: *request,
                src: x.clue.src,
                dst: x.clue.dst,
            }),
            ClueKind::Mail { stream_gaps, .. } => Some(CutBlock {
                located: format!(
                    "the mail the {} side sent in the SMTP session at frame {} of {} (vantage point {}; its data has {} where bytes were not captured: a segment lost, or cut by the snap length)",
                    if x.from_origin { "origin's" } else { "destination's" },
                    x.clue.at.frame,
                    name_of(x.vantage, x.clue.at.input),
                    x.vantage,
                    counted(*stream_gaps, "gap", "gaps"),
                ),
                mail: true,
                request: true,
                src: x.clue.src,
                dst: x.clue.dst,
            }),
            _ => None,
        })
        .collect();
    let gaps = gaps(&hops, c, d.smtp_dropped, &cuts);
    let vantage_points = c
        .vantage_points()
        .into_iter()
        .map(|(v, off)| VantageOut {
            vantage: v,
            inputs: d
                .vantage_inputs
                .get(v as usize)
                .cloned()
                .unwrap_or_default(),
            clock_offset_s: off,
            sizes: c
                .observations
                .iter()
                .find(|o| o.vantage == v && d.include.sizes)
                .map(|o| SizesOut {
                    packets_out: o.sizes[0].0,
                    bytes_out: o.sizes[0].1,
                    packets_back: o.sizes[1].0,
                    bytes_back: o.sizes[1].1,
                    duration_s: (o.last.0 - o.first.0) as f64 / 1e9,
                }),
            vlans: c
                .observations
                .iter()
                .find(|o| o.vantage == v && d.include.layer2)
                .map(|o| o.vlan.iter().copied().filter(|v| *v != 0).collect()),
        })
        .collect();
    let side = |from_origin: bool| if from_origin { "origin" } else { "destination" };
    let content = (d.include.urls || d.include.payload).then(|| {
        let mut out = ContentOut {
            http: Vec::new(),
            payload: Vec::new(),
        };
        for x in &d.content {
            let input = name_of(x.vantage, x.clue.at.input);
            match &x.clue.what {
                ClueKind::Http {
                    start_line: Some((line, host)),
                    ..
                } if d.include.urls => out.http.push(HttpOut {
                    input,
                    frame: x.clue.at.frame,
                    sent_by: side(x.from_origin),
                    start_line: line.clone(),
                    host: host.clone(),
                }),
                ClueKind::Payload { bytes } if d.include.payload => out.payload.push(PayloadOut {
                    input,
                    frame: x.clue.at.frame,
                    sent_by: side(x.from_origin),
                    hex: bytes.iter().map(|b| format!("{b:02x}")).collect(),
                    text: bytes
                        .iter()
                        .map(|&b| {
                            if (0x20..0x7f).contains(&b) {
                                b as char
                            } else {
                                '.'
                            }
                        })
                        .collect(),
                }),
                _ => {}
            }
        }
        out
    });
    let other_communications = d.include.other_communications.then(|| {
        d.others
            .iter()
            .map(|o| OtherOut {
                community_id: o.community_id.clone(),
                protocol: proto_text(o.proto),
                origin: endpoint(o.orig),
                destination: endpoint(o.resp),
                first_seen: t(o.first),
                last_seen: t(o.last),
                vantage: o.vantage,
            })
            .collect()
    });
    let mut out = Disclosure {
        schema: DISCLOSURE_SCHEMA,
        tool: format!("hoptrace {}", env!("CARGO_PKG_VERSION")),
        generated_at: d.generated_at.clone(),
        communication: CommunicationOut {
            community_id: c.community_id.clone(),
            protocol: proto_text(c.proto),
            ip_proto: c.proto.0,
            ip_version: if c.orig.0.v4 { 4 } else { 6 },
            origin: endpoint(c.orig),
            destination: endpoint(c.resp),
            first_seen: t(c.first),
            last_seen: t(c.last),
            service: service(c.proto, c.resp.1),
            traceroute_probes: c.traceroute.then_some(c.observations.len()),
            found_through: c.requested.map(|r| EvidenceOut {
                kind: crate::hops::ProofKind::ProxyRequest.name(),
                input: name_of(r.vantage, r.at.input),
                frame: r.at.frame,
                record: 0,
                offset: r.at.offset,
                showed: found_through(&r, &d.parameters.ip),
                names: None,
            }),
        },
        parameters: d.parameters,
        hops,
        providers,
        vantage_points,
        gaps,
        inputs: d.inputs,
        databases: databases(d.enricher, c),
        minimisation: d.include.minimisation(),
        evidence_considered: vec![
            "endpoints at each vantage point, with the TTL each end's packets arrived with",
            "tunnel layers (GRE, ERSPAN, PPTP, IP-in-IP, VXLAN, Geneve, GTP-U, Teredo, AYIYA)",
            "flow-record routing fields (exporter, interfaces, source/destination AS)",
            "flow-record NAT fields",
            "HTTP proxy headers (X-Forwarded-For, Forwarded, Via) in requests and responses",
            "Received fields of mails sent over SMTP",
            "traceroute probes and the ICMP errors answering them",
        ],
        content,
        other_communications,
        art29_drafts: None,
    };
    if d.art29 {
        out.art29_drafts = Some(art29_drafts(&out));
    }
    out
}

const DISCLOSING: &str = "the disclosing party itself";

/// The provider directory's entry for a hop's AS, if the directory has one.
fn directory_entry(h: &HopOut) -> Option<DirectoryOut> {
    h.attribution.as_ref()?.provider.clone()
}

/// What the provider directory says about a provider, as one line: legal name, country of
/// establishment, contacts and the entry's source. `country` is the country of its
/// addresses on the path: a seat elsewhere is pointed out, since the data may be stored
/// where the addresses are while the provider is established, and may be ordered to
/// preserve, where its seat is; `own` is the writer's party and how to call it when the
/// seat is there.
fn directory_text(e: &DirectoryOut, country: Option<&str>, own: (&str, &str)) -> String {
    let or_not_given = |v: &str| {
        if v.trim().is_empty() {
            "not given".to_string()
        } else {
            v.to_string()
        }
    };
    let mut s = format!(
        "provider directory: {}, established in {}; law-enforcement contact: {}; 24/7 contact: {}; abuse contact: {} (entry's source: {}; {})",
        or_not_given(&e.legal_name),
        or_not_given(&e.country),
        or_not_given(&e.law_enforcement_contact),
        or_not_given(&e.contact_24x7),
        or_not_given(&e.abuse_contact),
        or_not_given(&e.source),
        e.directory
    );
    let seat = e.country.trim();
    if !seat.is_empty()
        && let Some(c) = country
        && !seat.eq_ignore_ascii_case(c)
    {
        let _ = write!(
            s,
            ". Its country of establishment ({seat}{}) is not the country of its addresses on the path ({c}): the data may be stored in {c} while the provider is established in {seat}; which of the two can order its preservation is to be checked",
            if seat.eq_ignore_ascii_case(own.0) {
                format!(", {}", own.1)
            } else {
                String::new()
            }
        );
    }
    s.push('.');
    s
}

/// Groups hops by AS and marks the nearest foreign provider.
fn providers(hops: &[HopOut], party: &str) -> Vec<ProviderOut> {
    let mut out: Vec<ProviderOut> = Vec::new();
    for h in hops {
        let Some(asn) = h.asn else {
            continue;
        };
        match out.iter_mut().find(|p| p.asn == asn) {
            Some(p) => {
                p.hop_indexes.push(h.index);
                if p.name.is_none() {
                    p.name = h.as_org.clone();
                }
                if p.country.is_none() {
                    p.country = h.country.clone();
                }
                if p.directory.is_none() {
                    p.directory = directory_entry(h);
                }
            }
            None => out.push(ProviderOut {
                asn,
                name: h.as_org.clone(),
                country: h.country.clone(),
                hop_indexes: vec![h.index],
                jurisdiction: None,
                nearest_foreign: false,
                directory: directory_entry(h),
            }),
        }
    }
    for p in &mut out {
        p.jurisdiction = hops
            .iter()
            .filter(|h| h.asn == Some(p.asn))
            .find_map(|h| h.attribution.as_ref()?.jurisdiction.clone());
    }
    // The party's end of the path: the destination end when the destination (or the hop
    // nearest it in the party's country) is there, else the origin end.
    let in_party = |h: &HopOut| h.country.as_deref() == Some(party);
    let from_destination = match (hops.first(), hops.last()) {
        (_, Some(last)) if in_party(last) => true,
        (Some(first), _) if in_party(first) => false,
        _ => {
            let idx: Vec<usize> = hops
                .iter()
                .filter(|h| in_party(h))
                .map(|h| h.index)
                .collect();
            match (idx.first(), idx.last()) {
                (Some(&lo), Some(&hi)) => hops.len() - 1 - hi <= lo,
                _ => true,
            }
        }
    };
    let walk: Box<dyn Iterator<Item = &HopOut>> = if from_destination {
        Box::new(hops.iter().rev())
    } else {
        Box::new(hops.iter())
    };
    let foreign = walk
        .filter(|h| h.country.as_deref().is_some_and(|c| c != party))
        .find_map(|h| h.asn);
    if let Some(asn) = foreign
        && let Some(p) = out.iter_mut().find(|p| p.asn == asn)
    {
        p.nearest_foreign = true;
    }
    out
}

/// Header evidence of the communication read incomplete (an HTTP header block without its
/// end, a mail whose session lacks data), for its gap.
struct CutBlock {
    /// Which message, where, and what cut it.
    located: String,
    /// A mail (else an HTTP message).
    mail: bool,
    /// A request (else a response); a mail is sent by the session's client.
    request: bool,
    src: (Addr, u16),
    dst: (Addr, u16),
}

/// How many pieces of header evidence read incomplete a gap names; the rest are counted.
const CUTS_LISTED: usize = 4;

/// The host names a piece of evidence carried, when the report includes them (`--include
/// names`), as the Markdown and HTML reports add them after what it showed.
fn names_text(e: &EvidenceOut) -> String {
    match &e.names {
        Some(n) if !n.is_empty() => format!(" (names: {})", n.join(", ")),
        _ => String::new(),
    }
}

/// Hops where attribution stops: addresses only their operator can attribute, NAT hops
/// whose translation log would give the inside address, AS-only hops, nodes named only by
/// headers (the node that wrote the header holds the log), ends of the path the evidence
/// does not reach (a request's origin behind proxies, a server behind a proxy), and header
/// evidence read incomplete (HTTP header blocks cut, SMTP sessions lacking data).
fn gaps(hops: &[HopOut], c: &Candidate, smtp_dropped: u64, cuts: &[CutBlock]) -> Vec<GapOut> {
    let window = format!(
        "{} to {} (± the stated clock offsets)",
        t(c.first),
        t(c.last)
    );
    let mut out = Vec::new();
    let ep_of = |h: &HopOut| match (&h.ip, h.port) {
        (Some(ip), Some(port)) => EndpointOut {
            ip: ip.clone(),
            port,
        }
        .text(),
        (Some(ip), None) => ip.clone(),
        _ => String::new(),
    };
    // For each hop, the nearest hop after it that wrote headers or was seen (the node
    // whose log names what a header said), found in one backward pass.
    let mut writer_after: Vec<Option<usize>> = vec![None; hops.len()];
    for i in (1..hops.len()).rev() {
        let n = &hops[i];
        let wrote = n
            .evidence
            .iter()
            .any(|x| x.kind == "packets" || x.kind == "flow_record")
            || n.role == "relay"
            || n.role == "proxy";
        writer_after[i - 1] = if wrote { Some(i) } else { writer_after[i] };
    }
    for h in hops {
        let ep = ep_of(h);
        let role = Role::from_name(h.role);
        // A node a request sent to a forward proxy named: the proxy holds its log.
        if known_as_target(h) {
            let reached = if h.evidence.iter().any(|e| e.kind == "proxy_reply") {
                "the proxy answered that it opened the tunnel, which only its log confirms"
            } else {
                "whether the proxy reached it is in its reply and its log"
            };
            let proxy = hops[..h.index].iter().rev().find(|x| {
                x.role == "proxy" && x.evidence.iter().any(|e| e.kind == "proxy_request")
            });
            let at = proxy.map_or("the proxy before it".to_string(), |p| {
                format!("the proxy at hop {} ({})", p.index, ep_of(p))
            });
            out.push(GapOut {
                hop_index: Some(h.index),
                reason: format!(
                    "{ep} is known only from a request sent to {at} naming it (an HTTP CONNECT, or an absolute URL); it is a {} address, and {reached}",
                    h.address_class.unwrap_or("unattributed")
                ),
                record_needed: format!(
                    "the access log of {at}, for its connection to {ep}, {window}"
                ),
            });
            continue;
        }
        let header = h
            .evidence
            .iter()
            .find(|e| e.kind == "proxy_header" || e.kind == "mail_header")
            .filter(|_| {
                h.evidence
                    .iter()
                    .all(|e| e.kind == "proxy_header" || e.kind == "mail_header")
            });
        if let Some(e) = header {
            let writer = writer_after
                .get(h.index)
                .copied()
                .flatten()
                .and_then(|w| hops.get(w))
                .map_or("the next hop".to_string(), |n| {
                    format!("hop {} ({})", n.index, ep_of(n))
                });
            let (what, log) = if e.kind == "mail_header" {
                (
                    "a Received field",
                    "mail log (by the message and queue identifiers of its Received field)",
                )
            } else {
                ("a proxy header", "access log")
            };
            out.push(GapOut {
                hop_index: Some(h.index),
                reason: format!(
                    "{ep} is known only from {what}; it is a {} address and may be forged",
                    h.address_class.unwrap_or("unattributed")
                ),
                record_needed: format!(
                    "the {log} of {writer}, for the connection from {ep}, {window}"
                ),
            });
            continue;
        }
        match (h.address_class, role) {
            (Some(class), _) if class != "global" => out.push(GapOut {
                hop_index: Some(h.index),
                reason: format!("{ep} is a {class} address: only the operator of the network where it was seen can attribute it"),
                record_needed: format!(
                    "the address allocation or NAT log of that network for {ep} {}, {window}",
                    proto_text(c.proto)
                ),
            }),
            // A NAT whose inside address the evidence gives (both views, or NAT fields)
            // needs no translation log.
            (_, Some(Role::Nat)) if h.maps.is_none() => out.push(GapOut {
                hop_index: Some(h.index),
                reason: format!("{ep} translates the address behind it"),
                record_needed: format!(
                    "the NAT translation log of the operator of {ep} for that public address and port, {window}"
                ),
            }),
            (Some("global"), _) if h.asn.is_none() && h.ip.is_some() => out.push(GapOut {
                hop_index: Some(h.index),
                reason: format!("no provider (AS) is known for {ep} in the attribution data"),
                record_needed: format!(
                    "the registry (WHOIS) record of {ep}, or the routing table of the neighbouring network, {window}"
                ),
            }),
            (None, Some(Role::NeighborAs)) => out.push(GapOut {
                hop_index: Some(h.index),
                reason: format!(
                    "AS{} is known from routing fields only; no address of it was seen",
                    h.asn.unwrap_or(0)
                ),
                record_needed: format!(
                    "flow or interface records of AS{} at its border with the exporter, {window}",
                    h.asn.unwrap_or(0)
                ),
            }),
            _ => {}
        }
    }
    if let Some(a) = &c.nat_ambiguous {
        // "2 connections there (a:1 (vantage point 1), b:2 (vantage point 1))".
        let list = |(v, more): &crate::hops::NatViews, side: &str| {
            let n = if *more {
                format!("more than {} connections", v.len())
            } else {
                counted(v.len() as u64, "connection", "connections")
            };
            let each: Vec<String> = v
                .iter()
                .map(|(vp, (ip, port))| format!("{} (vantage point {vp})", ip.with_port(*port)))
                .collect();
            format!("{n} {side} ({})", each.join(", "))
        };
        let there = if a.inside { "outside" } else { "inside" };
        let (unnamed, record_needed) = if a.inside {
            (
                "the public address and port it was translated to are not named",
                format!(
                    "the NAT translation log for {} to {} {}, {window}: the public address and port it was given",
                    c.orig.0.with_port(c.orig.1),
                    c.resp.0.with_port(c.resp.1),
                    proto_text(c.proto)
                ),
            )
        } else {
            (
                "the address behind the NAT is not named",
                format!(
                    "the NAT translation log of the operator of {} for that public address and port, {window}",
                    c.orig.0.with_port(c.orig.1)
                ),
            )
        };
        out.push(GapOut {
            hop_index: hops.iter().find(|h| h.role == "origin").map(|h| h.index),
            reason: format!(
                "the communication was also seen {there} a NAT, but which view there is its own cannot be told: {} and {} match each other equally (the same destination, packets and bytes each way, starting within the query's window); the views are not joined and {unnamed}",
                list(&a.there, "there"),
                list(&a.here, "here"),
            ),
            record_needed,
        });
    }
    let first = hops.first();
    if let Some(f) = first.filter(|f| f.role == "proxy") {
        out.push(GapOut {
            hop_index: None,
            reason: "the request's origin is not named: its proxy headers list proxies only".into(),
            record_needed: format!(
                "the access log of the proxy at hop {} ({}), {window}",
                f.index,
                ep_of(f)
            ),
        });
    }
    let refused = |h: &HopOut| {
        h.evidence.iter().any(|e| e.kind == "proxy_refused")
            && !h.evidence.iter().any(|e| e.kind == "proxy_reply")
    };
    if let Some(l) = hops.last().filter(|l| l.role == "proxy" && refused(l)) {
        // The proxy refused the CONNECT: by its reply the connection ended there.
        out.push(GapOut {
            hop_index: Some(l.index),
            reason: format!(
                "the proxy at hop {} refused the HTTP CONNECT it was sent (its reply is in the evidence): by that reply no tunnel was opened, and the path ends at the proxy",
                l.index
            ),
            record_needed: format!(
                "the access log of the operator of {} for the request from {}, {window}, to confirm it connected nowhere onward",
                ep_of(l),
                l.index
                    .checked_sub(1)
                    .and_then(|i| hops.get(i))
                    .map_or(String::new(), ep_of)
            ),
        });
    } else if let Some(l) = hops.last().filter(|l| l.role == "proxy") {
        // A request to a forward proxy named its target by host name only (an address
        // would be a hop).
        let named = l.evidence.iter().any(|e| e.kind == "proxy_request");
        out.push(GapOut {
            hop_index: None,
            reason: if named {
                format!(
                    "the server behind the proxy at hop {} is named only by the host name a request sent to the proxy gave (an HTTP CONNECT, or an absolute URL; withheld unless names are included): the evidence ends at the proxy",
                    l.index
                )
            } else {
                format!(
                    "the server behind the proxy at hop {} is not named: the evidence ends at the proxy",
                    l.index
                )
            },
            record_needed: format!(
                "the access or cache log of the operator of {} for the {} from {}, {window}",
                ep_of(l),
                if named {
                    "connection it made onward"
                } else {
                    "request"
                },
                l.index
                    .checked_sub(1)
                    .and_then(|i| hops.get(i))
                    .map_or(String::new(), ep_of)
            ),
        });
    }
    if let Some(first) = cuts.first() {
        let mut listed: Vec<&str> = cuts
            .iter()
            .take(CUTS_LISTED)
            .map(|b| b.located.as_str())
            .collect();
        let more = cuts.len().saturating_sub(CUTS_LISTED);
        let more_text = format!("and {more} more");
        if more > 0 {
            listed.push(&more_text);
        }
        let reason = match cuts {
            [one] if one.mail => format!(
                "a Received field in the data lost from {}, or cut by it, was not read",
                one.located
            ),
            [one] => format!(
                "the HTTP header block of {} was read without its end: what followed its last complete line or proxy-header entry, which may name proxies, was not read",
                one.located
            ),
            _ if cuts.iter().all(|b| !b.mail) => format!(
                "{} of the communication were read without their end, and what followed the last complete line or proxy-header entry of each, which may name proxies, was not read: {}",
                counted(cuts.len() as u64, "HTTP header block", "HTTP header blocks"),
                listed.join("; ")
            ),
            _ if cuts.iter().all(|b| b.mail) => format!(
                "Received fields in the data lost from {} of the communication, or cut by it, were not read: {}",
                counted(cuts.len() as u64, "mail", "mails"),
                listed.join("; ")
            ),
            _ => format!(
                "{} of the communication were read incomplete (an HTTP header block without its end: what followed its last complete line or proxy-header entry, which may name proxies, was not read; a mail whose session lacks data: a Received field in what was lost, or cut by it, was not read): {}",
                counted(
                    cuts.len() as u64,
                    "piece of header evidence",
                    "pieces of header evidence"
                ),
                listed.join("; ")
            ),
        };
        let ends = |(a, p): (Addr, u16)| a.with_port(p);
        let record_needed = if first.mail {
            format!(
                "the mail log of {} for the message from {}, {window}, or a capture of the session holding all its data",
                ends(first.dst),
                ends(first.src)
            )
        } else if first.request {
            format!(
                "the access log of {} for the request from {}, {window}, or a capture of the connection holding the whole header block",
                ends(first.dst),
                ends(first.src)
            )
        } else {
            format!(
                "the access log of {} for its response to {}, {window}, or a capture of the connection holding the whole header block",
                ends(first.src),
                ends(first.dst)
            )
        };
        out.push(GapOut {
            hop_index: None,
            reason,
            record_needed,
        });
    }
    if smtp_dropped > 0 {
        out.push(GapOut {
            hop_index: None,
            reason: format!(
                "{smtp_dropped} bytes of SMTP sessions past the bound on SMTP data kept were not read for Received fields"
            ),
            record_needed: "a run on fewer or smaller inputs".into(),
        });
    }
    out
}

/// The disclosure as Markdown: the same values, for reading and sending.
pub fn disclosure_markdown(d: &Disclosure) -> String {
    let mut s = String::new();
    let p = &d.parameters;
    let c = &d.communication;
    let _ = writeln!(
        s,
        "# Art. 30 disclosure: path of the specified communication\n"
    );
    let _ = writeln!(
        s,
        "Disclosing party: {}. Requesting party: {}. Preservation request: {}.\n",
        p.party,
        p.requesting.as_deref().unwrap_or("(not given)"),
        p.request_ref.as_deref().unwrap_or("(not given)")
    );
    let _ = writeln!(s, "## Communication\n");
    let _ = writeln!(
        s,
        "{} {} → {} ({}), first seen {}, last seen {} (UTC). Community ID {}.\n",
        c.protocol,
        c.origin.text(),
        c.destination.text(),
        c.service,
        c.first_seen,
        c.last_seen,
        c.community_id
    );
    if let Some(f) = &c.found_through {
        let _ = writeln!(
            s,
            "Found through a request to a proxy: the request in {} frame {} {}.\n",
            f.input, f.frame, f.showed
        );
    }
    let _ = writeln!(s, "## Path (origin first)\n");
    let _ = writeln!(
        s,
        "| # | role | address | port | AS | organisation | country | class | flags |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for h in &d.hops {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            h.index,
            h.role,
            h.ip.as_deref().unwrap_or("—"),
            h.port.map_or("—".into(), |p| p.to_string()),
            h.asn.map_or("—".into(), |a| format!("AS{a}")),
            h.as_org.as_deref().unwrap_or("—"),
            h.country.as_deref().unwrap_or("—"),
            h.address_class.unwrap_or("—"),
            if h.flags.is_empty() {
                "—".to_string()
            } else {
                h.flags.join(", ")
            },
        );
    }
    let _ = writeln!(s, "\n## Providers\n");
    if d.providers.is_empty() {
        let _ = writeln!(s, "- {NO_PROVIDER}");
    }
    for pr in &d.providers {
        let _ = writeln!(
            s,
            "- AS{} {} ({}), {}{}",
            pr.asn,
            pr.name.as_deref().unwrap_or("(name unknown)"),
            pr.country.as_deref().unwrap_or("country unknown"),
            hop_list(&pr.hop_indexes),
            if pr.nearest_foreign {
                " — **nearest foreign provider: the next preservation target**"
            } else {
                ""
            }
        );
        if let Some(e) = &pr.directory {
            let _ = writeln!(
                s,
                "  - {}",
                directory_text(e, pr.country.as_deref(), (&d.parameters.party, DISCLOSING))
            );
        }
    }
    if !d.gaps.is_empty() {
        let _ = writeln!(s, "\n## Where attribution stops\n");
        for g in &d.gaps {
            let _ = writeln!(
                s,
                "- {}: {}. Needed: {}.",
                gap_place(g),
                g.reason,
                g.record_needed
            );
        }
    }
    let _ = writeln!(s, "\n## Evidence\n");
    for h in &d.hops {
        for e in &h.evidence {
            let rec = if e.record > 0 {
                format!(" record {}", e.record)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "- hop {} ({}): {} {} {}{rec}: {}{}",
                h.index,
                e.kind,
                e.input,
                unit_of(d, &e.input),
                e.frame,
                e.showed,
                names_text(e)
            );
        }
    }
    let _ = writeln!(s, "\n## Inputs\n");
    for i in &d.inputs {
        let _ = writeln!(
            s,
            "- {} ({}), SHA-256 {}: {}",
            i.path,
            i.format,
            i.sha256,
            i.read_text()
        );
        for l in i.not_read_lines() {
            let _ = writeln!(s, "  - {l}");
        }
    }
    let extra = included_lines(d);
    if !extra.is_empty() {
        let _ = writeln!(s, "\n## Included on request\n");
        for l in &extra {
            let _ = writeln!(s, "- {l}");
        }
    }
    let _ = writeln!(s, "\n## Attribution data\n");
    for db in &d.databases.sources {
        let _ = writeln!(
            s,
            "- {} ({}, built {}), SHA-256 {}",
            db.file,
            db.kind,
            db.build_date.as_deref().unwrap_or("date unknown"),
            db.sha256
        );
    }
    let _ = writeln!(s, "- {}", d.databases.jurisdictions);
    if let Some(p) = &d.databases.provider_directory {
        let _ = writeln!(s, "- provider directory {p}");
    }
    for n in &d.databases.notes {
        let _ = writeln!(s, "- note: {n}");
    }
    let _ = writeln!(s, "\n## Minimisation\n");
    for m in &d.minimisation {
        let _ = writeln!(s, "- {}: {} ({})", m.category, inclusion(m), m.note);
    }
    let _ = writeln!(s, "\n{} ({}).", d.tool, d.schema);
    if let Some(a) = &d.art29_drafts {
        s.push_str(&art29_markdown(a));
        s.push_str(&domestic_note(d));
    }
    s
}

/// Foreign providers in the requesting party's own territory: no Art. 29 draft for them.
fn domestic_note(d: &Disclosure) -> String {
    let Some(req) = d.parameters.requesting.as_deref() else {
        return String::new();
    };
    d.providers
        .iter()
        .filter(|p| p.country.as_deref() == Some(req) && req != d.parameters.party)
        .map(|p| {
            format!(
                "\nAS{} {} is in the requesting party's territory ({req}): its records are preserved under {req}'s own law (Convention Art. 16), so no Art. 29 draft is written for it.\n",
                p.asn,
                p.name.as_deref().unwrap_or("(name unknown)")
            )
        })
        .collect()
}

/// The Providers section when no hop's address is attributed to an AS.
const NO_PROVIDER: &str = "none known: no address on the path is attributed to an AS (see \
    where attribution stops)";

/// `hop 3` or `hops 1, 2`.
fn hop_list(hops: &[usize]) -> String {
    let list = hops.iter().map(|h| h.to_string()).collect::<Vec<_>>();
    format!(
        "{} {}",
        if hops.len() == 1 { "hop" } else { "hops" },
        list.join(", ")
    )
}

/// What an evidence item's number counts in its input (`frame`, `line`, `datagram`, `flow
/// tuple`), as the report's list of inputs says.
fn unit_of(d: &Disclosure, input: &str) -> &'static str {
    d.inputs
        .iter()
        .find(|i| i.path == input)
        .map_or("frame/line", |i| i.unit)
}

/// What the report includes beyond the minimised default, one line each.
fn included_lines(d: &Disclosure) -> Vec<String> {
    let mut out = Vec::new();
    for v in &d.vantage_points {
        if let Some(z) = &v.sizes {
            out.push(format!(
                "vantage point {}: {}, {} from the origin; {}, {} back; {:.6} s",
                v.vantage,
                counted(z.packets_out, "packet", "packets"),
                counted(z.bytes_out, "byte", "bytes"),
                counted(z.packets_back, "packet", "packets"),
                counted(z.bytes_back, "byte", "bytes"),
                z.duration_s
            ));
        }
        if let Some(tags) = &v.vlans {
            let t = if tags.is_empty() {
                "untagged".to_string()
            } else {
                tags.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" / ")
            };
            out.push(format!("vantage point {}: VLAN {t}", v.vantage));
        }
    }
    if let Some(c) = &d.content {
        for h in &c.http {
            out.push(format!(
                "{} frame {}: {} sent `{}`{}",
                h.input,
                h.frame,
                h.sent_by,
                h.start_line,
                h.host
                    .as_deref()
                    .map(|x| format!(" to host {x}"))
                    .unwrap_or_default()
            ));
        }
        for p in &c.payload {
            out.push(format!(
                "{} frame {}: {} sent first `{}` (hex {})",
                p.input, p.frame, p.sent_by, p.text, p.hex
            ));
        }
    }
    if let Some(o) = &d.other_communications {
        if o.is_empty() {
            out.push("no other communication between the two addresses in the window".into());
        }
        for x in o {
            out.push(format!(
                "other communication {} {} → {} ({} to {}, vantage point {}), Community ID {}",
                x.protocol,
                x.origin.text(),
                x.destination.text(),
                x.first_seen,
                x.last_seen,
                x.vantage,
                x.community_id
            ));
        }
    }
    out
}

fn gap_place(g: &GapOut) -> String {
    g.hop_index
        .map_or("the path".into(), |i| format!("hop {i}"))
}

fn inclusion(m: &MinimisationOut) -> &'static str {
    if m.included { "included" } else { "left out" }
}

/// Marks a field a person must fill in.
pub const TO_FILL: &str = "(to be filled in)";

/// An identifier of the communication at one provider.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct IdentifierOut {
    /// The hop it comes from.
    pub hop_index: usize,
    /// Its role on the path.
    pub role: &'static str,
    /// Address.
    pub ip: Option<String>,
    /// Port.
    pub port: Option<u16>,
}

/// One Art. 29 preservation-request draft, for one foreign provider on the path, pre-filled
/// from the same hop records as the disclosure; fields a person must complete say
/// [`TO_FILL`] and are listed in `fields_to_fill`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Art29Draft {
    /// Legal basis.
    pub legal_basis: &'static str,
    /// `new` or an extension (a person confirms).
    pub request_status: String,
    /// The case reference.
    pub reference_case_number: String,
    /// The preservation request this one follows from.
    pub preceding_request: Option<String>,
    /// The requesting party.
    pub requesting_party: String,
    /// The requested party: the provider's country.
    pub requested_party: Option<String>,
    /// The 24/7 point of contact of the requested party.
    pub requested_authority: String,
    /// (a) The authority seeking preservation.
    pub requesting_authority: String,
    /// (b) Offence and summary of facts.
    pub offence_and_facts: String,
    /// (c) The data to preserve: the communication's identifiers at this provider.
    pub identifiers: Vec<IdentifierOut>,
    /// The other end of the communication.
    pub counterpart: EndpointOut,
    /// Transport protocol and IP version.
    pub protocol: String,
    /// The time window, UTC.
    pub window_utc: (String, String),
    /// The time the request named, as given.
    pub time_as_given: Option<String>,
    /// Categories of data to preserve.
    pub data_categories: Vec<&'static str>,
    /// Relationship to the offence (suggested text).
    pub relationship: String,
    /// (d) Custodian: the provider.
    pub custodian: PathProviderRef,
    /// (e) Necessity of preservation (suggested text, a person confirms).
    pub necessity: String,
    /// (f) Intent to submit a request for mutual assistance (a person decides).
    pub intent_to_submit_mla: String,
    /// Requested duration.
    pub requested_duration: &'static str,
    /// Treaties between the parties on the communication's date, with sources.
    pub treaty_check: Option<JurisdictionOut>,
    /// Fields a person must fill in or confirm.
    pub fields_to_fill: Vec<&'static str>,
}

/// The provider a draft is addressed to.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PathProviderRef {
    /// Autonomous system.
    pub asn: u32,
    /// Organisation, where the data names it.
    pub name: Option<String>,
    /// Country of its addresses on the path.
    pub country: Option<String>,
    /// The next preservation target.
    pub nearest_foreign: bool,
    /// The provider directory's entry for its AS (`--providers`).
    pub directory: Option<DirectoryOut>,
}

/// One Art. 29 draft per foreign provider on the path (the nearest foreign one first),
/// from the disclosure's own values, so the identifiers in both match exactly.
pub fn art29_drafts(d: &Disclosure) -> Vec<Art29Draft> {
    let party = d.parameters.party.as_str();
    let requesting = d.parameters.requesting.as_deref();
    // A provider in the requesting party's own territory is preserved under that party's
    // own law (Convention Art. 16), not by an Art. 29 request.
    let mut foreign: Vec<&ProviderOut> = d
        .providers
        .iter()
        .filter(|p| {
            p.country
                .as_deref()
                .is_some_and(|c| c != party && Some(c) != requesting)
        })
        .collect();
    foreign.sort_by_key(|p| !p.nearest_foreign);
    let c = &d.communication;
    foreign
        .into_iter()
        .map(|p| {
            let identifiers: Vec<IdentifierOut> = p
                .hop_indexes
                .iter()
                .filter_map(|&i| d.hops.get(i))
                .map(|h| IdentifierOut {
                    hop_index: h.index,
                    role: h.role,
                    ip: h.ip.clone(),
                    port: h.port,
                })
                .collect();
            let at_origin = p.hop_indexes.first() == Some(&0);
            let counterpart = if at_origin {
                c.destination.clone()
            } else {
                c.origin.clone()
            };
            let hops_text = hop_list(&p.hop_indexes);
            // A provider known only from headers: what the draft may claim is what the
            // header says, and who wrote it.
            let named_only = p.hop_indexes.iter().filter_map(|&i| d.hops.get(i)).all(|h| {
                h.evidence
                    .iter()
                    .all(|e| e.kind == "proxy_header" || e.kind == "mail_header")
            });
            let target_only = p
                .hop_indexes
                .iter()
                .filter_map(|&i| d.hops.get(i))
                .all(known_as_target);
            let through = if target_only {
                "was named by a request sent to a proxy on the path as the node to reach (an HTTP CONNECT, or an absolute URL; whether the proxy reached it is in its log),".to_string()
            } else if named_only {
                let writer = p
                    .hop_indexes
                    .last()
                    .and_then(|&i| d.hops.get(i + 1))
                    .map_or("the next hop".to_string(), |h| {
                        format!(
                            "hop {} ({})",
                            h.index,
                            h.ip.as_deref().unwrap_or("no address")
                        )
                    });
                format!(
                    "was sent on behalf of an address in your network, as a proxy or mail header written by {writer} names it (the header may be forged),"
                )
            } else {
                "passed through your network".to_string()
            };
            Art29Draft {
                legal_basis: "Council of Europe Convention on Cybercrime (ETS 185), Art. 29; disclosure under Art. 30",
                request_status: format!("new {TO_FILL}"),
                reference_case_number: TO_FILL.into(),
                preceding_request: d.parameters.request_ref.clone(),
                requesting_party: d
                    .parameters
                    .requesting
                    .clone()
                    .unwrap_or_else(|| TO_FILL.into()),
                requested_party: p.country.clone(),
                requested_authority: format!(
                    "the 24/7 point of contact of {} {TO_FILL}",
                    p.country.as_deref().unwrap_or("the requested party")
                ),
                requesting_authority: TO_FILL.into(),
                offence_and_facts: TO_FILL.into(),
                identifiers,
                counterpart,
                protocol: format!("{} (IP protocol {}), IPv{}", c.protocol, c.ip_proto, c.ip_version),
                window_utc: (c.first_seen.clone(), c.last_seen.clone()),
                time_as_given: d.parameters.at.clone(),
                data_categories: vec![
                    "traffic data / flow records of the communication",
                    "NAT or CGN translation (or port-block) records for the addresses and ports above",
                    "session or authentication logs linking the addresses to an account",
                    "subscriber information for that allocation",
                ],
                relationship: format!(
                    "the specified communication ({} {} → {}, Community ID {}) {through} between {} and {} UTC, per {hops_text} of the Art. 30 disclosure{}",
                    c.protocol,
                    c.origin.text(),
                    c.destination.text(),
                    c.community_id,
                    c.first_seen,
                    c.last_seen,
                    d.parameters
                        .request_ref
                        .as_deref()
                        .map(|r| format!(" made in executing request {r}"))
                        .unwrap_or_default()
                ),
                custodian: PathProviderRef {
                    asn: p.asn,
                    name: p.name.clone(),
                    country: p.country.clone(),
                    nearest_foreign: p.nearest_foreign,
                    directory: p.directory.clone(),
                },
                necessity: format!(
                    "traffic and NAT logs are kept for short periods and overwritten; without preservation the records above may be lost {TO_FILL}"
                ),
                intent_to_submit_mla: TO_FILL.into(),
                requested_duration: "at least 60 days (Art. 29(7))",
                treaty_check: p.jurisdiction.clone(),
                fields_to_fill: vec![
                    "request_status",
                    "reference_case_number",
                    "requested_authority",
                    "requesting_authority",
                    "offence_and_facts",
                    "necessity",
                    "intent_to_submit_mla",
                ],
            }
        })
        .collect()
}

/// The drafts as Markdown.
pub fn art29_markdown(drafts: &[Art29Draft]) -> String {
    let mut s = String::new();
    for (i, a) in drafts.iter().enumerate() {
        let _ = writeln!(
            s,
            "\n# Art. 29 preservation request draft {} — AS{} {} ({}){}\n",
            i + 1,
            a.custodian.asn,
            a.custodian.name.as_deref().unwrap_or("(name unknown)"),
            a.custodian.country.as_deref().unwrap_or("?"),
            if a.custodian.nearest_foreign {
                ", the next preservation target"
            } else {
                ""
            }
        );
        let _ = writeln!(s, "- Legal basis: {}", a.legal_basis);
        let _ = writeln!(s, "- Request status: {}", a.request_status);
        let _ = writeln!(s, "- Case reference: {}", a.reference_case_number);
        let _ = writeln!(
            s,
            "- Requesting party: {}; requested party: {}",
            a.requesting_party,
            a.requested_party.as_deref().unwrap_or("?")
        );
        let _ = writeln!(s, "- Requested authority: {}", a.requested_authority);
        let _ = writeln!(s, "- (a) Requesting authority: {}", a.requesting_authority);
        let _ = writeln!(s, "- (b) Offence and facts: {}", a.offence_and_facts);
        let _ = writeln!(s, "- (c) Data to preserve:");
        for id in &a.identifiers {
            let _ = writeln!(
                s,
                "  - {} {}{}",
                id.role,
                id.ip.as_deref().unwrap_or("(AS only)"),
                id.port.map(|p| format!(" port {p}")).unwrap_or_default()
            );
        }
        let _ = writeln!(
            s,
            "  - counterpart {}, {}",
            a.counterpart.text(),
            a.protocol
        );
        let _ = writeln!(
            s,
            "  - window (UTC) {} to {}",
            a.window_utc.0, a.window_utc.1
        );
        for cat in &a.data_categories {
            let _ = writeln!(s, "  - {cat}");
        }
        let _ = writeln!(s, "  - relationship: {}", a.relationship);
        let _ = writeln!(
            s,
            "- (d) Custodian: AS{} {}",
            a.custodian.asn,
            a.custodian.name.as_deref().unwrap_or(TO_FILL)
        );
        if let Some(e) = &a.custodian.directory {
            let _ = writeln!(
                s,
                "  - {}",
                directory_text(
                    e,
                    a.custodian.country.as_deref(),
                    (&a.requesting_party, "the requesting party itself")
                )
            );
        }
        let _ = writeln!(s, "- (e) Necessity: {}", a.necessity);
        let _ = writeln!(
            s,
            "- (f) Intent to submit a mutual assistance request: {}",
            a.intent_to_submit_mla
        );
        let _ = writeln!(s, "- Requested duration: {}", a.requested_duration);
        let _ = writeln!(s, "- To fill in: {}", a.fields_to_fill.join(", "));
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The disclosure as one self-contained HTML page (no scripts, fonts or images from
/// elsewhere): the path drawn as a row of hops, providers and countries, tunnels and NAT
/// marked, then the same tables as the Markdown.
pub fn disclosure_html(d: &Disclosure) -> String {
    let mut s = String::new();
    let c = &d.communication;
    let p = &d.parameters;
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Art. 30 disclosure {}</title>\n\
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}}table{{border-collapse:collapse}}\
td,th{{border:1px solid #999;padding:.2em .5em;text-align:left}}.foreign{{font-weight:bold}}\
.note{{color:#555}}</style></head><body>\n",
        esc(&c.community_id)
    );
    let _ = writeln!(
        s,
        "<h1>Art. 30 disclosure: path of the specified communication</h1>"
    );
    let _ = writeln!(
        s,
        "<p>Disclosing party: {}. Requesting party: {}. Preservation request: {}.</p>",
        esc(&p.party),
        esc(p.requesting.as_deref().unwrap_or("(not given)")),
        esc(p.request_ref.as_deref().unwrap_or("(not given)"))
    );
    let _ = writeln!(
        s,
        "<p>{} {} → {} ({}), first seen {}, last seen {} (UTC). Community ID {}.</p>",
        esc(&c.protocol),
        esc(&c.origin.text()),
        esc(&c.destination.text()),
        esc(&c.service),
        esc(&c.first_seen),
        esc(&c.last_seen),
        esc(&c.community_id)
    );
    if let Some(f) = &c.found_through {
        let _ = writeln!(
            s,
            "<p>Found through a request to a proxy: the request in {} frame {} {}.</p>",
            esc(&f.input),
            f.frame,
            esc(&f.showed)
        );
    }
    // The picture: one box per hop, origin on the left.
    let (w, gap, h) = (170, 40, 120);
    let width = d.hops.len() * (w + gap) + gap;
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\" aria-label=\"path of the communication\">",
        h + 60
    );
    let _ = writeln!(
        s,
        "<defs><marker id=\"arrow\" markerWidth=\"10\" markerHeight=\"8\" refX=\"9\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L10,4 L0,8 z\" fill=\"#333\"/></marker></defs>"
    );
    for (i, hop) in d.hops.iter().enumerate() {
        let x = gap + i * (w + gap);
        let nearest = hop
            .asn
            .is_some_and(|a| d.providers.iter().any(|p| p.asn == a && p.nearest_foreign));
        let foreign = hop.country.as_deref().is_some_and(|cc| cc != p.party);
        let fill = match (nearest, foreign, hop.role) {
            (true, _, _) => "#f4b183",
            (_, true, _) => "#fbe5d6",
            (_, _, "tunnel_endpoint") => "#deebf7",
            (_, _, "nat") => "#e2f0d9",
            _ => "#f2f2f2",
        };
        let stroke = if nearest { 3 } else { 1 };
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"20\" width=\"{w}\" height=\"{h}\" rx=\"8\" fill=\"{fill}\" stroke=\"#333\" stroke-width=\"{stroke}\"/>"
        );
        let lines = [
            format!("{} {}", hop.index, hop.role),
            hop.ip.clone().unwrap_or_else(|| "(no address)".into()),
            hop.port.map_or(String::new(), |p| format!("port {p}")),
            hop.asn.map_or("AS ?".into(), |a| format!("AS{a}")),
            hop.country.clone().unwrap_or_else(|| {
                hop.address_class
                    .map_or("country ?".into(), |c| c.to_string())
            }),
        ];
        for (k, t) in lines.iter().enumerate() {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
                x + w / 2,
                42 + k * 20,
                esc(t)
            );
        }
        if i + 1 < d.hops.len() {
            let _ = writeln!(
                s,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\" marker-end=\"url(#arrow)\"/>",
                x + w,
                20 + h / 2,
                x + w + gap - 2,
                20 + h / 2
            );
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{gap}\" y=\"{}\" font-size=\"11\" fill=\"#555\">origin → destination; orange: the nearest foreign provider (next preservation target); light orange: other foreign hops; blue: tunnel ends; green: NAT</text></svg>",
        h + 45
    );
    let _ = writeln!(
        s,
        "<h2>Path</h2><table><tr><th>#</th><th>role</th><th>address</th><th>port</th><th>AS</th><th>organisation</th><th>country</th><th>class</th><th>flags</th></tr>"
    );
    for hop in &d.hops {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            hop.index,
            hop.role,
            esc(hop.ip.as_deref().unwrap_or("—")),
            hop.port.map_or("—".into(), |p| p.to_string()),
            hop.asn.map_or("—".into(), |a| format!("AS{a}")),
            esc(hop.as_org.as_deref().unwrap_or("—")),
            esc(hop.country.as_deref().unwrap_or("—")),
            hop.address_class.unwrap_or("—"),
            hop.flags.join(", ")
        );
    }
    let _ = writeln!(s, "</table><h2>Providers</h2><ul>");
    if d.providers.is_empty() {
        let _ = writeln!(s, "<li>{}</li>", esc(NO_PROVIDER));
    }
    for pr in &d.providers {
        let _ = writeln!(
            s,
            "<li{}>AS{} {} ({}), {}{}",
            if pr.nearest_foreign {
                " class=\"foreign\""
            } else {
                ""
            },
            pr.asn,
            esc(pr.name.as_deref().unwrap_or("(name unknown)")),
            esc(pr.country.as_deref().unwrap_or("country unknown")),
            hop_list(&pr.hop_indexes),
            if pr.nearest_foreign {
                " — nearest foreign provider: the next preservation target"
            } else {
                ""
            }
        );
        if let Some(e) = &pr.directory {
            let _ = write!(
                s,
                "<ul><li>{}</li></ul>",
                esc(&directory_text(
                    e,
                    pr.country.as_deref(),
                    (&d.parameters.party, DISCLOSING)
                ))
            );
        }
        let _ = writeln!(s, "</li>");
    }
    let _ = writeln!(s, "</ul>");
    if !d.gaps.is_empty() {
        let _ = writeln!(s, "<h2>Where attribution stops</h2><ul>");
        for g in &d.gaps {
            let _ = writeln!(
                s,
                "<li>{}: {}. Needed: {}.</li>",
                gap_place(g),
                esc(&g.reason),
                esc(&g.record_needed)
            );
        }
        let _ = writeln!(s, "</ul>");
    }
    let _ = writeln!(s, "<h2>Evidence</h2><ul>");
    for hop in &d.hops {
        for e in &hop.evidence {
            let _ = writeln!(
                s,
                "<li>hop {} ({}): {} {} {}{}: {}{}</li>",
                hop.index,
                e.kind,
                esc(&e.input),
                unit_of(d, &e.input),
                e.frame,
                if e.record > 0 {
                    format!(" record {}", e.record)
                } else {
                    String::new()
                },
                esc(&e.showed),
                esc(&names_text(e))
            );
        }
    }
    let _ = writeln!(s, "</ul><h2>Inputs</h2><ul>");
    for i in &d.inputs {
        let _ = write!(
            s,
            "<li>{} ({}), SHA-256 <code>{}</code>: {}",
            esc(&i.path),
            esc(&i.format),
            esc(&i.sha256),
            esc(&i.read_text())
        );
        let lines = i.not_read_lines();
        if !lines.is_empty() {
            let _ = write!(s, "<ul>");
            for l in &lines {
                let _ = write!(s, "<li>{}</li>", esc(l));
            }
            let _ = write!(s, "</ul>");
        }
        let _ = writeln!(s, "</li>");
    }
    let extra = included_lines(d);
    if !extra.is_empty() {
        let _ = writeln!(s, "</ul><h2>Included on request</h2><ul>");
        for l in &extra {
            let _ = writeln!(s, "<li>{}</li>", esc(l));
        }
    }
    let _ = writeln!(s, "</ul><h2>Attribution data</h2><ul>");
    for db in &d.databases.sources {
        let _ = writeln!(
            s,
            "<li>{} ({}, built {}), SHA-256 <code>{}</code></li>",
            esc(&db.file),
            esc(&db.kind),
            esc(db.build_date.as_deref().unwrap_or("date unknown")),
            esc(&db.sha256)
        );
    }
    let _ = writeln!(s, "<li>{}</li>", esc(&d.databases.jurisdictions));
    if let Some(p) = &d.databases.provider_directory {
        let _ = writeln!(s, "<li>provider directory {}</li>", esc(p));
    }
    for n in &d.databases.notes {
        let _ = writeln!(s, "<li>note: {}</li>", esc(n));
    }
    let _ = writeln!(s, "</ul><h2>Minimisation</h2><ul>");
    for m in &d.minimisation {
        let _ = writeln!(
            s,
            "<li>{}: {} ({})</li>",
            m.category,
            inclusion(m),
            esc(m.note)
        );
    }
    let _ = writeln!(
        s,
        "</ul><p class=\"note\">{} ({}).</p>",
        esc(&d.tool),
        d.schema
    );
    if let Some(a) = &d.art29_drafts {
        let _ = writeln!(
            s,
            "<pre>{}{}</pre>",
            esc(&art29_markdown(a)),
            esc(&domestic_note(d))
        );
    }
    s.push_str("</body></html>\n");
    s
}
