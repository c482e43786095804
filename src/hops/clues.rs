//! Clues: header evidence about hops that the packets of a capture carry beyond their
//! addresses: proxy headers of HTTP messages, the `Received:` chain of a mail sent over
//! SMTP (or given as a `.eml` file), and ICMP errors quoting the packet they answer
//! (traceroute replies). The pipeline gathers them in the same pass that builds flows;
//! [`path`](super::path) places them.

use crate::decode::headers::{ProxyEntry, Quote, Received};
use crate::model::{Addr, Locator, Proto, Timestamp};

/// How many payload bytes a [`ClueKind::Payload`] keeps.
pub const PAYLOAD_KEPT: usize = 64;

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
