//! Skips and problems as data: every frame or byte range that does not become a packet is
//! counted under a named reason, with the first place it happened.

use super::Locator;
use std::collections::HashMap;
use std::fmt;

/// Why a frame, record or byte range did not become a packet on a flow.
///
/// Reasons marked *informational* are normal traffic that has no IP flow (ARP, spanning tree,
/// PPP control); every other reason means evidence could not be read and makes a run end with
/// the "skipped input" exit status.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[non_exhaustive]
pub enum SkipReason {
    /// A record cut off by the end of the input.
    TruncatedRecord,
    /// A record header with an impossible length; the reader resynchronised after it.
    BadRecordLength,
    /// Bytes between a bad record and the next record the reader could trust.
    UnreadableBytes,
    /// A pcapng block whose trailing length does not match its leading length.
    BadBlockTrailer,
    /// A pcapng section with a version this reader does not know.
    UnsupportedSection,
    /// A pcapng packet block naming an interface that no Interface Description Block defined.
    UnknownInterface,
    /// A frame on a link type hoptrace cannot decode; detail = link type number.
    UnknownLinkType,
    /// A header cut off by the capture length (snaplen) or a short frame; detail = [`Layer`].
    TruncatedHeader,
    /// A header whose fields contradict each other or the frame; detail = [`Layer`].
    MalformedHeader,
    /// Tunnels nested deeper than the decoder follows.
    TunnelTooDeep,
    /// Informational: a frame without IP (ARP, STP, LLDP, ...); detail = ethertype or PPP protocol.
    NotIp,
    /// Informational: an IP fragment whose datagram's first fragment never arrived, counted on
    /// a flow without ports.
    FragmentWithoutFirst,
    /// Informational: fragments overlapping earlier fragments of the same datagram.
    FragmentOverlap,
    /// Informational: a fragmented datagram that never completed before it timed out.
    FragmentIncomplete,
    /// Informational: a packet whose timestamp is earlier than packets before it by more than
    /// the idle timeout; it cannot join a flow that was already written out.
    TimestampBackwards,
    /// A flow-log line that could not be read (wrong field count, bad address, number or
    /// timestamp); detail = the reader's code.
    BadLogLine,
    /// A NetFlow v9/IPFIX data set whose template was never seen (or was withdrawn) before
    /// it expired from the pending buffer.
    NoTemplate,
    /// A NetFlow/IPFIX export datagram or set that contradicts itself; detail = code.
    BadExport,
    /// Informational: a flow-log record saying there was no traffic in its interval
    /// (VPC `NODATA`).
    LogNoData,
    /// A flow-log record saying the provider's logging skipped records in its interval
    /// (VPC `SKIPDATA`): evidence missing at the source.
    LogSkipData,
    /// Informational: a NetFlow v9 header whose record count disagrees with the records
    /// the datagram holds (they are all read); detail = the count the header declared.
    ExportCountMismatch,
    /// Informational: an export datagram whose export time is more than 10 minutes from
    /// the time it was captured (the exporter's clock, and so its record times, are off);
    /// detail 1 = ahead, 2 = behind.
    ExportClockSkew,
    /// Informational: flow records whose end lies more than a day before, or over ten
    /// minutes after, their export time (the record is kept, its times as derived);
    /// detail 1 = before, 2 = after.
    RecordTimeFarFromExport,
    /// A fragmented datagram's record closed early because the fragment table was full
    /// (`--max-fragments`); its fragments are counted, those whose flow was not yet known
    /// on a flow without ports.
    FragmentLimit,
    /// A compressed input whose decompressed size passed the ratio bound
    /// (`--max-decompression-ratio`): the rest of it is not read; bytes = compressed bytes
    /// left.
    DecompressionLimit,
    /// A flow-log line longer than the line bound (`--max-line-bytes`), not read.
    LineTooLong,
    /// A pcapng Interface Description Block past the interfaces a section may define
    /// ([`MAX_INTERFACES`](crate::ingest::MAX_INTERFACES)); the packets naming it
    /// are counted as [`UnknownInterface`](Self::UnknownInterface).
    InterfaceLimit,
}

impl SkipReason {
    const ALL: [SkipReason; 27] = [
        SkipReason::TruncatedRecord,
        SkipReason::BadRecordLength,
        SkipReason::UnreadableBytes,
        SkipReason::BadBlockTrailer,
        SkipReason::UnsupportedSection,
        SkipReason::UnknownInterface,
        SkipReason::UnknownLinkType,
        SkipReason::TruncatedHeader,
        SkipReason::MalformedHeader,
        SkipReason::TunnelTooDeep,
        SkipReason::NotIp,
        SkipReason::FragmentWithoutFirst,
        SkipReason::FragmentOverlap,
        SkipReason::FragmentIncomplete,
        SkipReason::TimestampBackwards,
        SkipReason::BadLogLine,
        SkipReason::NoTemplate,
        SkipReason::BadExport,
        SkipReason::LogNoData,
        SkipReason::LogSkipData,
        SkipReason::ExportCountMismatch,
        SkipReason::ExportClockSkew,
        SkipReason::RecordTimeFarFromExport,
        SkipReason::FragmentLimit,
        SkipReason::DecompressionLimit,
        SkipReason::LineTooLong,
        SkipReason::InterfaceLimit,
    ];

    /// A stable number for files (the position in the list above; new reasons go last).
    pub fn code(self) -> u8 {
        SkipReason::ALL.iter().position(|r| *r == self).unwrap_or(0) as u8
    }

    /// The inverse of [`code`](Self::code).
    pub fn from_code(c: u8) -> Option<SkipReason> {
        SkipReason::ALL.get(usize::from(c)).copied()
    }

    /// True when the reason means evidence could not be read (exit status "skipped input").
    pub fn is_problem(self) -> bool {
        !matches!(
            self,
            SkipReason::NotIp
                | SkipReason::FragmentWithoutFirst
                | SkipReason::FragmentOverlap
                | SkipReason::FragmentIncomplete
                | SkipReason::TimestampBackwards
                | SkipReason::LogNoData
                | SkipReason::ExportCountMismatch
                | SkipReason::ExportClockSkew
                | SkipReason::RecordTimeFarFromExport
        )
    }

    /// Stable snake_case name used in summaries and JSON.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::TruncatedRecord => "truncated_record",
            SkipReason::BadRecordLength => "bad_record_length",
            SkipReason::UnreadableBytes => "unreadable_bytes",
            SkipReason::BadBlockTrailer => "bad_block_trailer",
            SkipReason::UnsupportedSection => "unsupported_section",
            SkipReason::UnknownInterface => "unknown_interface",
            SkipReason::UnknownLinkType => "unknown_link_type",
            SkipReason::TruncatedHeader => "truncated_header",
            SkipReason::MalformedHeader => "malformed_header",
            SkipReason::TunnelTooDeep => "tunnel_too_deep",
            SkipReason::NotIp => "not_ip",
            SkipReason::FragmentWithoutFirst => "fragment_without_first",
            SkipReason::FragmentOverlap => "fragment_overlap",
            SkipReason::FragmentIncomplete => "fragment_incomplete",
            SkipReason::TimestampBackwards => "timestamp_backwards",
            SkipReason::BadLogLine => "bad_log_line",
            SkipReason::NoTemplate => "no_template",
            SkipReason::BadExport => "bad_export",
            SkipReason::LogNoData => "log_nodata",
            SkipReason::LogSkipData => "log_skipdata",
            SkipReason::ExportCountMismatch => "export_count_mismatch",
            SkipReason::ExportClockSkew => "export_clock_skew",
            SkipReason::RecordTimeFarFromExport => "record_time_far_from_export",
            SkipReason::FragmentLimit => "fragment_limit",
            SkipReason::DecompressionLimit => "decompression_limit",
            SkipReason::LineTooLong => "line_too_long",
            SkipReason::InterfaceLimit => "interface_limit",
        }
    }

    /// Human-readable name of a reason's detail value.
    pub fn detail_name(self, detail: u32) -> Option<String> {
        match self {
            SkipReason::UnknownLinkType => Some(format!("link type {detail}")),
            SkipReason::TruncatedHeader | SkipReason::MalformedHeader => {
                Layer::from_u32(detail).map(|l| l.name().to_string())
            }
            SkipReason::NotIp => Some(not_ip_name(detail)),
            SkipReason::BadLogLine => Some(crate::records::bad::name(detail).to_string()),
            SkipReason::BadExport => Some(bad_export_name(detail).to_string()),
            SkipReason::NoTemplate => Some(format!("template {detail}")),
            SkipReason::ExportCountMismatch => Some(format!("header says {detail} records")),
            SkipReason::RecordTimeFarFromExport => Some(
                if detail == 1 {
                    "ends over a day before its export"
                } else {
                    "ends after its export"
                }
                .to_string(),
            ),
            SkipReason::ExportClockSkew => Some(
                if detail == 1 {
                    "exporter clock over 10 minutes ahead of the capture"
                } else {
                    "exporter clock over 10 minutes behind the capture"
                }
                .to_string(),
            ),
            _ => None,
        }
    }
}

/// Names the detail of [`SkipReason::BadExport`] (codes of the NetFlow/IPFIX reader).
fn bad_export_name(detail: u32) -> &'static str {
    match detail {
        1 => "unknown export version",
        2 => "length field disagrees with the datagram",
        3 => "set or flowset length out of bounds",
        4 => "template with impossible fields",
        5 => "record shorter than its template",
        6 => "datagram too short for its header",
        7 => "too many templates for one exporter (template table full)",
        8 => "too many exporters (exporter table full)",
        9 => "too many samplers for one exporter (sampler table full)",
        10 => "too many template fields held (template memory full)",
        _ => "malformed export",
    }
}

/// Names the non-IP payload recorded as the detail of [`SkipReason::NotIp`]: an ethertype
/// (values >= 0x0600), an 802.3 length frame (LLC), or a PPP protocol (tagged 0x1_0000).
fn not_ip_name(detail: u32) -> String {
    if detail & 0x1_0000 != 0 {
        let p = detail & 0xffff;
        let n = match p {
            0xc021 => "ppp lcp",
            0xc023 => "ppp pap",
            0xc223 => "ppp chap",
            0x8021 => "ppp ipcp",
            0x8057 => "ppp ipv6cp",
            0x80fd => "ppp ccp",
            _ => return format!("ppp protocol 0x{p:04x}"),
        };
        return n.to_string();
    }
    match detail {
        0x0806 => "arp".into(),
        0x8035 => "rarp".into(),
        0x88cc => "lldp".into(),
        0x8863 => "pppoe discovery".into(),
        0x888e => "eapol".into(),
        0x88e5 => "macsec".into(),
        0x8809 => "slow protocols (lacp)".into(),
        0x9000 => "loopback".into(),
        0x0 => "llc (stp, cdp, ...)".into(),
        d => format!("ethertype 0x{d:04x}"),
    }
}

/// The header layer a decoding problem was found in (detail of truncation/malformation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum Layer {
    Link = 1,
    Vlan,
    Mpls,
    Pppoe,
    Ppp,
    Ipv4,
    Ipv6,
    Ipv6Ext,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Sctp,
    Gre,
    Erspan,
    Vxlan,
    Geneve,
    GtpU,
    Teredo,
    Ayiya,
    Nflog,
    VnTag,
    Pbb,
}

impl Layer {
    const ALL: [Layer; 23] = [
        Layer::Link,
        Layer::Vlan,
        Layer::Mpls,
        Layer::Pppoe,
        Layer::Ppp,
        Layer::Ipv4,
        Layer::Ipv6,
        Layer::Ipv6Ext,
        Layer::Tcp,
        Layer::Udp,
        Layer::Icmp,
        Layer::Icmpv6,
        Layer::Sctp,
        Layer::Gre,
        Layer::Erspan,
        Layer::Vxlan,
        Layer::Geneve,
        Layer::GtpU,
        Layer::Teredo,
        Layer::Ayiya,
        Layer::Nflog,
        Layer::VnTag,
        Layer::Pbb,
    ];

    /// Inverse of `as u32`.
    pub fn from_u32(v: u32) -> Option<Layer> {
        Layer::ALL.iter().copied().find(|l| *l as u32 == v)
    }

    /// Lower-case protocol name.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Link => "link layer",
            Layer::Vlan => "802.1Q/802.1ad",
            Layer::Mpls => "MPLS",
            Layer::Pppoe => "PPPoE",
            Layer::Ppp => "PPP",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Ipv6Ext => "IPv6 extension header",
            Layer::Tcp => "TCP",
            Layer::Udp => "UDP",
            Layer::Icmp => "ICMP",
            Layer::Icmpv6 => "ICMPv6",
            Layer::Sctp => "SCTP",
            Layer::Gre => "GRE",
            Layer::Erspan => "ERSPAN",
            Layer::Vxlan => "VXLAN",
            Layer::Geneve => "Geneve",
            Layer::GtpU => "GTP-U",
            Layer::Teredo => "Teredo",
            Layer::Ayiya => "AYIYA",
            Layer::Nflog => "NFLOG",
            Layer::VnTag => "VN-Tag",
            Layer::Pbb => "802.1ah",
        }
    }
}

/// Most details of one reason listed one by one for an input (see
/// [`Diagnostics::listing`]).
pub const LISTED_DETAILS: usize = 10;

/// One line of what a run could not use: a reason with one detail (named), or the details
/// of a reason past [`LISTED_DETAILS`] folded together.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Listed {
    /// The reason.
    pub reason: SkipReason,
    /// Its detail's name, or how many details the line folds.
    pub detail: Option<String>,
    /// Count, bytes and the first occurrence (of all the folded details, for a folded line).
    pub stat: SkipStat,
}

/// Count, bytes and first occurrence of one (input, reason, detail).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SkipStat {
    /// How many frames, records or byte ranges.
    pub count: u64,
    /// How many input bytes they covered.
    pub bytes: u64,
    /// Where the first one was (smallest locator).
    pub first: Locator,
}

/// What a run could not use, by input, reason and detail; an associative, commutative merge.
#[derive(Clone, Default, Debug, PartialEq)]
pub struct Diagnostics {
    map: HashMap<(u32, SkipReason, u32), SkipStat>,
}

impl Diagnostics {
    /// Records one occurrence.
    #[inline]
    pub fn add(&mut self, reason: SkipReason, detail: u32, bytes: u64, at: Locator) {
        self.add_n(reason, detail, 1, bytes, at);
    }

    /// Records `count` occurrences first seen at `at`.
    pub fn add_n(&mut self, reason: SkipReason, detail: u32, count: u64, bytes: u64, at: Locator) {
        let e = self
            .map
            .entry((at.input, reason, detail))
            .or_insert(SkipStat {
                count: 0,
                bytes: 0,
                first: at,
            });
        e.count += count;
        e.bytes += bytes;
        if (at.frame, at.offset) < (e.first.frame, e.first.offset) {
            e.first = at;
        }
    }

    /// Adds everything from `other`.
    pub fn merge(&mut self, other: Diagnostics) {
        for ((_, reason, detail), s) in other.map {
            self.add_n(reason, detail, s.count, s.bytes, s.first);
        }
    }

    /// Moves every entry of `input` to another input index and shifts frame numbers and
    /// offsets, used when a chunk's local numbering becomes the input's numbering.
    pub fn rebase(&mut self, from_input: u32, to_input: u32, frame_base: u64) {
        let moved: Vec<_> = self
            .map
            .iter()
            .filter(|((i, _, _), _)| *i == from_input)
            .map(|(k, v)| (*k, *v))
            .collect();
        for (k, mut v) in moved {
            self.map.remove(&k);
            v.first.input = to_input;
            v.first.frame += frame_base;
            self.add_n(k.1, k.2, v.count, v.bytes, v.first);
        }
    }

    /// Adds `offset` to every input index.
    pub fn shift_inputs(&mut self, offset: u32) {
        let old = std::mem::take(&mut self.map);
        for ((i, r, d), mut v) in old {
            v.first.input += offset;
            self.map.insert((i + offset, r, d), v);
        }
    }

    /// Entries sorted by input, reason and detail.
    pub fn entries(&self) -> Vec<(SkipReason, u32, SkipStat)> {
        let mut v: Vec<_> = self.map.iter().map(|(k, s)| (*k, *s)).collect();
        v.sort_by_key(|(k, _)| *k);
        v.into_iter().map(|((_, r, d), s)| (r, d, s)).collect()
    }

    /// What to show of the entries (of one input, or of all): by input, reason and detail,
    /// each reason of an input with at most [`LISTED_DETAILS`] details (those seen most,
    /// in detail order) and the rest folded into one line, so that data sets for 40,000
    /// distinct missing templates read as eleven lines, not 40,000.
    pub fn listing(&self, input: Option<u32>) -> Vec<Listed> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .filter(|(k, _)| input.is_none_or(|i| k.0 == i))
            .map(|(k, s)| (*k, *s))
            .collect();
        v.sort_by_key(|(k, _)| *k);
        let mut out = Vec::new();
        for group in v.chunk_by(|a, b| (a.0.0, a.0.1) == (b.0.0, b.0.1)) {
            let reason = group[0].0.1;
            let line = |d: u32, stat: SkipStat| Listed {
                reason,
                detail: reason.detail_name(d),
                stat,
            };
            if group.len() <= LISTED_DETAILS {
                out.extend(group.iter().map(|&((_, _, d), s)| line(d, s)));
                continue;
            }
            let mut most: Vec<usize> = (0..group.len()).collect();
            most.sort_by_key(|&i| (std::cmp::Reverse(group[i].1.count), i));
            let (shown, folded) = most.split_at(LISTED_DETAILS);
            let mut shown = shown.to_vec();
            shown.sort_unstable();
            out.extend(shown.iter().map(|&i| line(group[i].0.2, group[i].1)));
            let mut rest = group[folded[0]].1;
            for &i in &folded[1..] {
                let s = group[i].1;
                rest.count += s.count;
                rest.bytes += s.bytes;
                if (s.first.frame, s.first.offset) < (rest.first.frame, rest.first.offset) {
                    rest.first = s.first;
                }
            }
            out.push(Listed {
                reason,
                detail: Some(format!("{} more, not listed one by one", folded.len())),
                stat: rest,
            });
        }
        out
    }

    /// Writes every entry.
    pub fn encode(&self, w: &mut super::BinWriter) {
        let mut v: Vec<_> = self.map.iter().collect();
        v.sort_by_key(|(k, _)| **k);
        w.u32(v.len() as u32);
        for ((input, reason, detail), s) in v {
            w.u32(*input);
            w.u8(reason.code());
            w.u32(*detail);
            w.u64(s.count);
            w.u64(s.bytes);
            s.first.encode(w);
        }
    }

    /// Reads entries written by [`encode`](Self::encode).
    pub fn decode(r: &mut super::BinReader<'_>) -> Option<Diagnostics> {
        let mut d = Diagnostics::default();
        for _ in 0..r.count()? {
            let input = r.u32()?;
            let reason = SkipReason::from_code(r.u8()?)?;
            let detail = r.u32()?;
            let stat = SkipStat {
                count: r.u64()?,
                bytes: r.u64()?,
                first: Locator::decode(r)?,
            };
            d.map.insert((input, reason, detail), stat);
        }
        Some(d)
    }

    /// True when some evidence could not be read.
    pub fn has_problems(&self) -> bool {
        self.map.keys().any(|(_, r, _)| r.is_problem())
    }

    /// Total count for a reason over all inputs and details.
    pub fn count(&self, reason: SkipReason) -> u64 {
        self.map
            .iter()
            .filter(|((_, r, _), _)| *r == reason)
            .map(|(_, s)| s.count)
            .sum()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(frame: u64) -> Locator {
        Locator {
            input: 0,
            interface: 0,
            frame,
            offset: frame * 100,
        }
    }

    #[test]
    fn merging_keeps_the_earliest_locator_and_sums() {
        let mut a = Diagnostics::default();
        a.add(SkipReason::TruncatedHeader, Layer::Tcp as u32, 60, at(9));
        let mut b = Diagnostics::default();
        b.add(SkipReason::TruncatedHeader, Layer::Tcp as u32, 40, at(3));
        b.add(SkipReason::NotIp, 0x0806, 60, at(1));
        a.merge(b);
        let e = a.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0, SkipReason::TruncatedHeader);
        assert_eq!(e[0].2.count, 2);
        assert_eq!(e[0].2.bytes, 100);
        assert_eq!(e[0].2.first.frame, 3);
        assert!(a.has_problems());
        assert_eq!(SkipReason::NotIp.detail_name(0x0806).unwrap(), "arp");
    }

    #[test]
    fn a_reason_with_many_details_lists_those_seen_most_and_folds_the_rest() {
        let mut a = Diagnostics::default();
        // Template 300 + i seen i + 1 times, first at frame 100 - i: 25 details.
        for i in 0..25u32 {
            for k in 0..=u64::from(i) {
                a.add(
                    SkipReason::NoTemplate,
                    300 + i,
                    10,
                    at(100 - u64::from(i) + k),
                );
            }
        }
        a.add(SkipReason::NotIp, 0x0806, 60, at(7));
        let mut other = at(3);
        other.input = 1;
        a.add(SkipReason::NoTemplate, 999, 10, other);
        let l = a.listing(None);
        let names: Vec<String> = l
            .iter()
            .map(|l| {
                format!(
                    "{} {}",
                    l.reason.name(),
                    l.detail.clone().unwrap_or_default()
                )
            })
            .collect();
        // Input 0: not_ip alone; no_template's ten seen most (315-324, in detail order)
        // and one line for the fifteen others; input 1 apart.
        let mut want = vec!["not_ip arp".to_string()];
        want.extend((315..325).map(|t| format!("no_template template {t}")));
        want.push("no_template 15 more, not listed one by one".into());
        want.push("no_template template 999".into());
        assert_eq!(names, want);
        let folded = &l[11].stat;
        // Templates 300-314: 1 + 2 + ... + 15 times; the earliest is 314's, at frame 86.
        assert_eq!(folded.count, 120);
        assert_eq!(folded.bytes, 1200);
        assert_eq!(folded.first.frame, 86);
        // One input's listing; a reason with few details is listed whole.
        assert_eq!(a.listing(Some(1)).len(), 1);
        assert_eq!(a.listing(Some(0)).len(), 12);
        let total: u64 = a.listing(None).iter().map(|l| l.stat.count).sum();
        assert_eq!(total, a.entries().iter().map(|e| e.2.count).sum::<u64>());
    }

    #[test]
    fn informational_reasons_are_not_problems() {
        let mut a = Diagnostics::default();
        a.add(SkipReason::NotIp, 0x0806, 60, at(1));
        a.add(SkipReason::FragmentOverlap, 0, 60, at(2));
        assert!(!a.has_problems());
    }
}
