//! Capture link types: from the first byte of a frame to its first ethertype or IP header.

use super::Cx;
use crate::model::{Layer, LinkType, SkipReason};

pub(super) fn dispatch(cx: &mut Cx<'_, '_>, link: LinkType) {
    match link {
        LinkType::ETHERNET => cx.ethernet(0),
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => raw(cx, None),
        LinkType::IPV4 => raw(cx, Some(4)),
        LinkType::IPV6 => raw(cx, Some(6)),
        LinkType::LINUX_SLL => sll(cx),
        LinkType::LINUX_SLL2 => sll2(cx),
        LinkType::NULL => null(cx, false),
        LinkType::LOOP => null(cx, true),
        LinkType::PPP | LinkType::PPP_HDLC => cx.ppp(0),
        LinkType::PPP_ETHER => {
            // The frame starts with a PPPoE header.
            if !cx.has(0, 8) {
                return cx.truncated(Layer::Pppoe);
            }
            let session = cx.be16(2);
            if !cx.push_encap(super::Encap::Pppoe(session)) {
                return;
            }
            cx.ppp_fields(6)
        }
        LinkType::C_HDLC => {
            // Address, control, then an ethertype.
            if !cx.has(0, 4) {
                return cx.truncated(Layer::Link);
            }
            let et = cx.be16(2);
            if et < 0x0600 {
                return cx.not_ip(0);
            }
            cx.ethertype(4, et)
        }
        LinkType::NFLOG => nflog(cx),
        other => cx.fail(SkipReason::UnknownLinkType, other.0),
    }
}

/// Raw IP: the version nibble picks IPv4 or IPv6 unless the link type fixes it.
fn raw(cx: &mut Cx<'_, '_>, want: Option<u8>) {
    let Some(b) = cx.d.first() else {
        return cx.truncated(Layer::Link);
    };
    let v = b >> 4;
    match (v, want) {
        (4 | 6, None) => cx.ip(0),
        (v, Some(w)) if v == w => cx.ip(0),
        (_, Some(6)) => cx.malformed(Layer::Ipv6),
        _ => cx.malformed(Layer::Ipv4),
    }
}

/// Linux cooked capture v1: 16-byte header, protocol (ethertype) last.
fn sll(cx: &mut Cx<'_, '_>) {
    if !cx.has(0, 16) {
        return cx.truncated(Layer::Link);
    }
    let hatype = cx.be16(2);
    let proto = cx.be16(14);
    sll_payload(cx, 16, hatype, proto)
}

/// Linux cooked capture v2: 20-byte header, protocol (ethertype) first.
fn sll2(cx: &mut Cx<'_, '_>) {
    if !cx.has(0, 20) {
        return cx.truncated(Layer::Link);
    }
    let proto = cx.be16(0);
    let hatype = cx.be16(8);
    sll_payload(cx, 20, hatype, proto)
}

fn sll_payload(cx: &mut Cx<'_, '_>, off: usize, hatype: u16, proto: u16) {
    match hatype {
        // ARPHRD_IPGRE: the protocol field is GRE's; the payload has no GRE header.
        778 if proto >= 0x0600 => cx.ethertype(off, proto),
        // ARPHRD_NETLINK and friends carry no IP.
        824 => cx.not_ip(u32::from(proto)),
        _ if proto < 0x0600 => cx.not_ip(0),
        _ => cx.ethertype(off, proto),
    }
}

/// BSD loopback: a 4-byte address family, in the capturing host's byte order (`NULL`) or
/// big-endian (`LOOP`).
fn null(cx: &mut Cx<'_, '_>, big_endian: bool) {
    if !cx.has(0, 4) {
        return cx.truncated(Layer::Link);
    }
    let b = [cx.d[0], cx.d[1], cx.d[2], cx.d[3]];
    let af = if big_endian {
        u32::from_be_bytes(b)
    } else {
        // The writer's byte order is unknown: families are small numbers, so the order
        // that gives one is the right one.
        let le = u32::from_le_bytes(b);
        if le > 0xffff {
            u32::from_be_bytes(b)
        } else {
            le
        }
    };
    match af {
        2 => cx.ip(4),
        // AF_INET6 on Linux (10), Windows (23), NetBSD/OpenBSD (24), FreeBSD (28),
        // macOS (30).
        10 | 23 | 24 | 28 | 30 => cx.ip(4),
        other => cx.not_ip(0x2_0000 | other),
    }
}

/// Linux NFLOG: 4-byte header, then TLVs in host byte order; type 9 holds the packet.
fn nflog(cx: &mut Cx<'_, '_>) {
    if !cx.has(0, 4) {
        return cx.truncated(Layer::Nflog);
    }
    let family = cx.d[0];
    let mut off = 4;
    while cx.has(off, 4) {
        let le_len = u16::from_le_bytes([cx.d[off], cx.d[off + 1]]) as usize;
        let be_len = cx.be16(off) as usize;
        // Prefer the host order of the capturing machine (little-endian nearly always);
        // fall back to big-endian when that length cannot be right.
        let (len, ty) = if le_len >= 4 && cx.has(off, le_len) {
            (le_len, u16::from_le_bytes([cx.d[off + 2], cx.d[off + 3]]))
        } else if be_len >= 4 && cx.has(off, be_len) {
            (be_len, cx.be16(off + 2))
        } else {
            return cx.truncated(Layer::Nflog);
        };
        if ty & 0x7fff == 9 {
            let start = off + 4;
            let end = off + len;
            let inner = &cx.d[start..end];
            if inner.is_empty() {
                return cx.truncated(Layer::Nflog);
            }
            return match (family, inner[0] >> 4) {
                (2, 4) | (10, 6) | (0, 4 | 6) => ip_in(cx, start, end),
                _ => cx.malformed(Layer::Nflog),
            };
        }
        off += len.div_ceil(4) * 4;
    }
    cx.not_ip(0x3_0000)
}

/// Decodes an IP packet that occupies `d[start..end]` exactly (bytes after it belong to
/// the enclosing TLV, not to the packet).
fn ip_in(cx: &mut Cx<'_, '_>, start: usize, end: usize) {
    let d = cx.d;
    cx.d = &d[..end];
    cx.ip(start);
    cx.d = d;
}
