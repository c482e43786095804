//! Community ID v1 (corelight/community-id-spec): a tool-independent flow identifier.

use super::FlowKey;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// Computes the Community ID v1 string (`1:` + base64 of a SHA-1) of a flow key.
///
/// The key's endpoint order is already the spec's (lower address:port first; sender first
/// for one-way ICMP), ICMP ports are already the port equivalents, and protocols without
/// ports hash no port bytes, as the spec says.
pub fn community_id(key: &FlowKey, seed: u16) -> String {
    let mut s = String::with_capacity(30);
    community_id_into(key, seed, &mut s);
    s
}

/// Appends the Community ID v1 string of a flow key to `out` (no allocation).
pub fn community_id_into(key: &FlowKey, seed: u16, out: &mut String) {
    let mut input = [0u8; 40];
    let mut n = 0;
    let mut put = |b: &[u8]| {
        input[n..n + b.len()].copy_from_slice(b);
        n += b.len();
    };
    put(&seed.to_be_bytes());
    for a in [key.lo().addr, key.hi().addr] {
        let b = a.octets();
        put(if a.v4 { &b[12..] } else { &b[..] });
    }
    put(&[key.proto.0, 0]);
    if key.proto.has_ports() || key.proto.is_icmp() {
        put(&key.lo().port.to_be_bytes());
        put(&key.hi().port.to_be_bytes());
    }
    let digest = Sha1::digest(&input[..n]);
    out.push_str("1:");
    // 20 bytes are 28 base64 characters; a stack buffer skips the chunked string encoder.
    let mut b = [0u8; 28];
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(digest, &mut b)
        .unwrap_or(0);
    out.push_str(std::str::from_utf8(&b[..n]).unwrap_or_default());
}

/// Community ID of a 5-tuple given in sender order (applies ICMP port equivalents).
pub fn community_id_of(
    src: std::net::IpAddr,
    sport: u16,
    dst: std::net::IpAddr,
    dport: u16,
    proto: crate::model::Proto,
    seed: u16,
) -> String {
    let (sport, dport, one_way) = if proto.is_icmp() {
        super::key::icmp_port_equivalents(proto, sport as u8, dport as u8)
    } else {
        (sport, dport, false)
    };
    let (key, _) = FlowKey::new(
        src.into(),
        sport,
        dst.into(),
        dport,
        proto,
        one_way,
        Default::default(),
    );
    community_id(&key, seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Proto;

    /// The published test vectors of the reference implementation (pycommunityid's
    /// tests/communityid_test.py): default seed and seed 1.
    fn check(src: &str, dst: &str, sp: u16, dp: u16, proto: u8, seed0: &str, seed1: &str) {
        let (s, d) = (src.parse().unwrap(), dst.parse().unwrap());
        assert_eq!(community_id_of(s, sp, d, dp, Proto(proto), 0), seed0);
        assert_eq!(community_id_of(s, sp, d, dp, Proto(proto), 1), seed1);
    }

    #[test]
    fn matches_the_published_tcp_udp_sctp_vectors() {
        let tcp = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
        let tcp1 = "1:3V71V58M3Ksw/yuFALMcW0LAHvc=";
        check("128.232.110.120", "66.35.250.204", 34855, 80, 6, tcp, tcp1);
        check("66.35.250.204", "128.232.110.120", 80, 34855, 6, tcp, tcp1);
        let (p, p1) = (
            "1:SXBGMX1lBOwhhoDrZynfROxnhnM=",
            "1:HmBRGR+fUyXF4t8WEtal7Y0gEAo=",
        );
        check("10.0.0.1", "10.0.0.2", 10, 11569, 6, p, p1);
        let (u, u1) = (
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
            "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=",
        );
        check("192.168.1.52", "8.8.8.8", 54585, 53, 17, u, u1);
        check("8.8.8.8", "192.168.1.52", 53, 54585, 17, u, u1);
        let (s, s1) = (
            "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ=",
            "1:Y1/0jQg6e+I3ZwZZ9LP65DNbTXU=",
        );
        check("192.168.170.8", "192.168.170.56", 7, 80, 132, s, s1);
        check("192.168.170.56", "192.168.170.8", 80, 7, 132, s, s1);
    }

    #[test]
    fn matches_the_published_icmp_vectors() {
        let (e, e1) = (
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
            "1:03g6IloqVBdcZlPyX8r0hgoE7kA=",
        );
        check("192.168.0.89", "192.168.0.1", 8, 0, 1, e, e1);
        check("192.168.0.1", "192.168.0.89", 0, 8, 1, e, e1);
        // Type 0 ignores the code.
        check("192.168.0.1", "192.168.0.89", 0, 20, 1, e, e1);
        check(
            "192.168.0.89",
            "192.168.0.1",
            20,
            0,
            1,
            "1:3o2RFccXzUgjl7zDpqmY7yJi8rI=",
            "1:lCXHHxavE1Vq3oX9NH5ladQg02o=",
        );
        check(
            "192.168.0.89",
            "192.168.0.1",
            20,
            1,
            1,
            "1:tz/fHIDUHs19NkixVVoOZywde+I=",
            "1:Ie3wmFyxiEyikbsbcO03d2nh+PM=",
        );
    }

    #[test]
    fn matches_the_published_icmpv6_and_ip_vectors() {
        let (n, n1) = (
            "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
            "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=",
        );
        check(
            "fe80::200:86ff:fe05:80da",
            "fe80::260:97ff:fe07:69ea",
            135,
            0,
            58,
            n,
            n1,
        );
        check(
            "fe80::260:97ff:fe07:69ea",
            "fe80::200:86ff:fe05:80da",
            136,
            0,
            58,
            n,
            n1,
        );
        check(
            "3ffe:507:0:1:260:97ff:fe07:69ea",
            "3ffe:507:0:1:200:86ff:fe05:80da",
            3,
            0,
            58,
            "1:NdobDX8PQNJbAyfkWxhtL2Pqp5w=",
            "1:OlOWx9psIbBFi7lOCw/4MhlKR9M=",
        );
        check(
            "3ffe:507:0:1:200:86ff:fe05:80da",
            "3ffe:507:0:1:260:97ff:fe07:69ea",
            3,
            0,
            58,
            "1:/OGBt9BN1ofenrmSPWYicpij2Vc=",
            "1:Ij4ZxnC87/MXzhOjvH2vHu7LRmE=",
        );
        let (ip, ip1) = (
            "1:/nQI4Rh/TtY3mf0R2gJFBkVlgS4=",
            "1:BK3BVW3U2eemuwVQVN3zd/GULno=",
        );
        check("10.1.24.4", "10.1.12.1", 0, 0, 46, ip, ip1);
        check("10.1.12.1", "10.1.24.4", 0, 0, 46, ip, ip1);
    }
}
