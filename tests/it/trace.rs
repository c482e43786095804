//! `hoptrace trace` end to end on captures the tests write: proxy chains, mail relays,
//! traceroutes, NAT seen from two vantage points. Each checks the path's roles and
//! addresses in order, the flags, the gaps and the schema.

use crate::hops::check_schema;
use crate::support::{Dir, hoptrace, text};
use hoptrace::flow::tcp::{ACK, PSH, SYN};
use hoptrace::synth::pkt::{self, Ip4, Pseudo, num};
use hoptrace::synth::{Capture, Format, Pkt};
use serde_json::Value;
use std::path::PathBuf;

const T0: i64 = 1_700_000_000 * 1_000_000_000;
const MS: i64 = 1_000_000;

/// One TCP segment with its sequence number, over IPv4 and Ethernet.
fn seg(src: ([u8; 4], u16), dst: ([u8; 4], u16), seq: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let t = pkt::tcp(Pseudo::V4(src.0, dst.0), src.1, dst.1, seq, flags, data);
    pkt::eth(num::IPV4, &pkt::ipv4(src.0, dst.0, 6, &t))
}

/// Runs `trace` on the files with the arguments; returns the exit code and the JSON (or the
/// error text).
fn trace(files: &[PathBuf], args: &[&str]) -> (i32, Value, String) {
    let mut v: Vec<String> = vec!["trace".into()];
    v.extend(files.iter().map(|p| p.display().to_string()));
    v.extend(args.iter().map(|s| s.to_string()));
    v.push("-q".into());
    let out = hoptrace(&v.iter().map(String::as_str).collect::<Vec<_>>());
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, text(&out.stderr))
}

/// The path as (role, address) pairs.
fn path(v: &Value) -> Vec<(String, String)> {
    v["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["role"].as_str().unwrap().to_string(),
                h["ip"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn flags(h: &Value) -> Vec<&str> {
    h["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// A capture that starts with a TCP handshake at T0 (the client's first sequence number
/// 100, the server's 900).
fn opened(client: ([u8; 4], u16), server: ([u8; 4], u16)) -> Capture {
    let mut c = Capture::new(Format::Pcap);
    c.push(T0, &seg(client, server, 100, SYN, b""));
    c.push(T0 + MS, &seg(server, client, 900, SYN | ACK, b""));
    c
}

/// A request through proxies, seen at the server: the last proxy connects.
fn proxied(headers: &str) -> Vec<u8> {
    let proxy = ([203, 0, 113, 5], 51000);
    let server = ([192, 0, 2, 9], 80);
    let mut c = opened(proxy, server);
    let req = format!("GET /private/path HTTP/1.1\r\nHost: secret.example\r\n{headers}\r\n");
    c.push(
        T0 + 2 * MS,
        &seg(proxy, server, 101, PSH | ACK, req.as_bytes()),
    );
    c.push(
        T0 + 3 * MS,
        &seg(
            server,
            proxy,
            901,
            PSH | ACK,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
    );
    c.finish()
}

#[test]
fn x_forwarded_for_puts_the_origin_and_proxies_before_the_connecting_proxy() {
    let d = Dir::new();
    let p = d.write(
        "proxied.pcap",
        &proxied("X-Forwarded-For: 8.8.8.8, 10.1.1.1\r\nVia: 1.1 edge-a, 1.1 edge-b\r\n"),
    );
    let (code, v, err) = trace(
        std::slice::from_ref(&p),
        &["--party", "AU", "--ip", "192.0.2.9"],
    );
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    assert_eq!(
        path(&v),
        pairs(&[
            ("origin", "8.8.8.8"),
            ("proxy", "10.1.1.1"),
            ("proxy", "203.0.113.5"),
            ("destination", "192.0.2.9"),
        ])
    );
    let hops = v["hops"].as_array().unwrap();
    // The first entry was written before the last proxy: it may be forged.
    assert_eq!(flags(&hops[0]), ["unverified"]);
    // The last entry was written by the proxy the capture saw; it is private.
    assert_eq!(flags(&hops[1]), ["not_global"]);
    assert!(flags(&hops[2]).is_empty());
    assert_eq!(hops[0]["evidence"][0]["kind"], "proxy_header");
    assert_eq!(hops[0]["evidence"][0]["frame"], 3);
    // The connecting proxy carries both its packets and the header that makes it a proxy.
    let kinds: Vec<&str> = hops[2]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["packets", "proxy_header"]);
    // Sentences an investigator sends as they are: counts with their nouns in number.
    let said = hops[2]["evidence"][1]["showed"]
        .as_str()
        .unwrap_or_default();
    assert!(
        said.contains("X-Forwarded-For with 2 entries: a proxy forwarding it"),
        "{said}"
    );
    let text = v.to_string();
    assert!(!text.contains("(s)") && !text.contains("(y/ies)"), "{text}");
    // The origin's attribution gap names the proxy that holds the log.
    let gap = v["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["hop_index"] == 0)
        .unwrap();
    assert!(
        gap["record_needed"]
            .as_str()
            .unwrap()
            .contains("access log of hop 1 (10.1.1.1)"),
        "{gap}"
    );
    // Minimisation: no URL, host or proxy name anywhere in the report.
    let all = v.to_string();
    for secret in ["secret.example", "/private/path", "edge-a"] {
        assert!(!all.contains(secret), "{secret} leaked");
    }
    let names = v["minimisation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["category"] == "names")
        .unwrap();
    assert_eq!(names["included"], false);
}

#[test]
fn forwarded_reads_ipv6_with_ports_and_via_alone_leaves_the_origin_unknown() {
    let d = Dir::new();
    let p = d.write(
        "fwd.pcap",
        &proxied("Forwarded: for=\"[2001:db8:cafe::17]:4711\";proto=https, for=198.51.100.60\r\n"),
    );
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    assert_eq!(
        path(&v),
        pairs(&[
            ("origin", "2001:db8:cafe::17"),
            ("proxy", "198.51.100.60"),
            ("proxy", "203.0.113.5"),
            ("destination", "192.0.2.9"),
        ])
    );
    assert_eq!(v["hops"][0]["port"], 4711);

    let p = d.write(
        "via.pcap",
        &proxied("Via: 1.1 198.51.100.7:3128, 1.1 edge-b\r\n"),
    );
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    assert_eq!(
        path(&v),
        pairs(&[
            ("proxy", "198.51.100.7"),
            ("proxy", "203.0.113.5"),
            ("destination", "192.0.2.9"),
        ])
    );
    let gaps = v["gaps"].to_string();
    assert!(gaps.contains("the request's origin is not named"), "{gaps}");
}

#[test]
fn a_response_via_makes_the_responder_a_proxy_and_names_the_gap_behind_it() {
    let client = ([198, 51, 100, 1], 40000);
    let edge = ([192, 0, 2, 80], 80);
    let mut c = Capture::new(Format::Pcap);
    c.push(T0, &seg(client, edge, 1, SYN, b""));
    c.push(T0 + MS, &seg(edge, client, 1, SYN | ACK, b""));
    c.push(
        T0 + 2 * MS,
        &seg(
            client,
            edge,
            2,
            PSH | ACK,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
    );
    c.push(
        T0 + 3 * MS,
        &seg(
            edge,
            client,
            2,
            PSH | ACK,
            b"HTTP/1.1 200 OK\r\nVia: 1.1 203.0.113.44, 1.1 cache-7 (Varnish)\r\n\r\n",
        ),
    );
    let d = Dir::new();
    let p = d.write("cdn.pcap", &c.finish());
    let (code, v, err) = trace(
        std::slice::from_ref(&p),
        &[
            "--party",
            "AU",
            "--ip",
            "198.51.100.1",
            "--include",
            "names",
        ],
    );
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    assert_eq!(
        path(&v),
        pairs(&[
            ("origin", "198.51.100.1"),
            ("proxy", "192.0.2.80"),
            ("proxy", "203.0.113.44"),
        ])
    );
    let gaps = v["gaps"].to_string();
    assert!(
        gaps.contains("the server behind the proxy at hop 2"),
        "{gaps}"
    );
    // With --include names, the proxy's name is in its evidence, and the report says so.
    let ev = v["hops"][1]["evidence"].to_string();
    assert!(ev.contains("cache-7"), "{ev}");
    assert!(
        v["minimisation"]
            .to_string()
            .contains("\"category\":\"names\",\"included\":true")
    );
    let (code, _, err) = trace(
        &[p],
        &["--party", "AU", "--ip", "198.51.100.1", "--include", "mac"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--include mac"), "{err}");
    assert!(
        err.contains("other-communications"),
        "the categories are listed: {err}"
    );
}

#[test]
fn a_response_via_cut_short_places_every_whole_entry_nearer_the_server() {
    // The snap length cut the response inside its Via line's third entry. The last entry
    // read is not known to be the responder's own (more may have followed), so each whole
    // entry is a proxy nearer the server; the cut one is not read.
    let client = ([198, 51, 100, 1], 40000);
    let edge = ([192, 0, 2, 80], 80);
    let resp: &[u8] =
        b"HTTP/1.1 200 OK\r\nVia: 1.1 203.0.113.44, 1.1 198.51.100.77, 1.1 198.51.100.78\r\n\r\n";
    let mut c = Capture::new(Format::Pcap);
    c.push(T0, &seg(client, edge, 1, SYN, b""));
    c.push(T0 + MS, &seg(edge, client, 1, SYN | ACK, b""));
    let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    c.push(T0 + 2 * MS, &seg(client, edge, 2, PSH | ACK, req));
    let whole = seg(edge, client, 2, PSH | ACK, resp);
    let keep = resp
        .windows(13)
        .position(|w| w == b"198.51.100.78")
        .unwrap()
        + 9;
    let cut = whole.len() - (resp.len() - keep);
    c.push_on(0, T0 + 3 * MS, &whole[..cut], whole.len() as u32);
    let d = Dir::new();
    let p = d.write("cdn-cut.pcap", &c.finish());
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "198.51.100.1"]);
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    assert_eq!(
        path(&v),
        pairs(&[
            ("origin", "198.51.100.1"),
            ("proxy", "192.0.2.80"),
            ("proxy", "198.51.100.77"),
            ("proxy", "203.0.113.44"),
        ])
    );
    let showed = v["hops"][2]["evidence"][0]["showed"].as_str().unwrap();
    assert!(
        showed.starts_with("Via entry 2 of the 2 read in the response"),
        "{showed}"
    );
    assert_eq!(cut_gaps(&v).len(), 1);
}

/// A client's connection to a forward proxy that it asks to open a tunnel with `connect`
/// (the proxy answers 200 and TLS bytes follow).
fn connect_capture(connect: &[u8]) -> Capture {
    connect_exchange(&[(connect, b"HTTP/1.1 200 Connection established\r\n\r\n")])
}

/// A client's connection to a forward proxy: each request and the proxy's reply to it in
/// turn (frames 3 and 4, 5 and 6...), then a TLS record from the client.
fn connect_exchange(turns: &[(&[u8], &[u8])]) -> Capture {
    let client = ([198, 51, 100, 1], 40000);
    let proxy = ([192, 0, 2, 80], 3128);
    let mut c = Capture::new(Format::Pcap);
    c.push(T0, &seg(client, proxy, 1, SYN, b""));
    c.push(T0 + MS, &seg(proxy, client, 1, SYN | ACK, b""));
    let (mut sent, mut back, mut t) = (2u32, 2u32, T0 + 2 * MS);
    for (request, reply) in turns {
        c.push(t, &seg(client, proxy, sent, PSH | ACK, request));
        c.push(t + MS, &seg(proxy, client, back, PSH | ACK, reply));
        sent += request.len() as u32;
        back += reply.len() as u32;
        t += 2 * MS;
    }
    let hello = b"\x16\x03\x01\x00\x05hello";
    c.push(t, &seg(client, proxy, sent, PSH | ACK, hello));
    c
}

#[test]
fn a_proxys_reply_to_a_connect_says_whether_it_opened_the_tunnel() {
    let d = Dir::new();
    let connect: &[u8] = b"CONNECT 203.0.113.7:443 HTTP/1.1\r\n\r\n";
    let refused: &[u8] = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n";
    let ok: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";
    let run = |name: &str, turns: &[(&[u8], &[u8])], ip: &str| {
        let p = d.write(name, &connect_exchange(turns).finish());
        let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", ip]);
        assert_eq!(code, 0, "{name}: {err}");
        check_schema(&v);
        v
    };
    let kinds = |h: &Value| -> Vec<String> {
        h["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {}", e["kind"].as_str().unwrap(), e["frame"]))
            .collect()
    };
    // Opened: the proxy's 200 is evidence on the node beyond, still unverified (an interim
    // 100 before it answers nothing).
    let interim: &[u8] =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection established\r\n\r\n";
    let v = run("interim.pcap", &[(connect, interim)], "192.0.2.80");
    assert_eq!(kinds(&v["hops"][2]), ["proxy_request 3", "proxy_reply 4"]);
    // Also where every start line is kept (--include urls keeps the interim one too).
    let p = d.path().join("interim.pcap");
    let args = ["--party", "AU", "--ip", "192.0.2.80", "--include", "urls"];
    let (code, v, err) = trace(&[p], &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(kinds(&v["hops"][2]), ["proxy_request 3", "proxy_reply 4"]);
    assert!(v["hops"][2].to_string().contains("with status 200"));
    let v = run("ok.pcap", &[(connect, ok)], "192.0.2.80");
    let target = &v["hops"][2];
    assert_eq!(kinds(target), ["proxy_request 3", "proxy_reply 4"]);
    assert_eq!(target["flags"], serde_json::json!(["unverified"]));
    assert!(target["evidence"][1]["showed"].as_str().unwrap().contains(
        "answered the HTTP CONNECT with status 200: by its own account it opened the tunnel"
    ));
    assert!(
        v["gaps"]
            .to_string()
            .contains("the proxy answered that it opened the tunnel, which only its log confirms")
    );
    // Refused: the path ends at the proxy, and a gap says why.
    for ip in ["192.0.2.80", "203.0.113.7"] {
        let v = run("refused.pcap", &[(connect, refused)], ip);
        assert_eq!(
            path(&v),
            pairs(&[("origin", "198.51.100.1"), ("proxy", "192.0.2.80")]),
            "{ip}"
        );
        assert_eq!(
            kinds(&v["hops"][1]),
            ["packets 1", "proxy_request 3", "proxy_refused 4"]
        );
        let gaps = v["gaps"].to_string();
        assert!(
            gaps.contains("the proxy at hop 1 refused the HTTP CONNECT it was sent"),
            "{gaps}"
        );
        assert!(!gaps.contains("the server behind the proxy"), "{gaps}");
        assert!(
            v["hops"]
                .to_string()
                .contains("with status 407: by its reply it opened no tunnel")
        );
    }
    // Asked for credentials, then opened: the node beyond is on the path.
    let p = d.write(
        "again.pcap",
        &connect_exchange(&[(connect, refused), (connect, ok)]).finish(),
    );
    let v = traced_through_the_proxy(&p, &["--party", "AU", "--ip", "192.0.2.80"]);
    assert_eq!(kinds(&v["hops"][2]), ["proxy_request 5", "proxy_reply 6"]);
    assert!(!v["gaps"].to_string().contains("refused"));
    // By host name and opened: the reply is on the proxy.
    let named: &[u8] = b"CONNECT shop.example:443 HTTP/1.1\r\n\r\n";
    let v = run("named.pcap", &[(named, ok)], "192.0.2.80");
    assert_eq!(
        kinds(&v["hops"][1]),
        ["packets 1", "proxy_request 3", "proxy_reply 4"]
    );
    assert!(
        v["gaps"]
            .to_string()
            .contains("is named only by the host name")
    );
}

#[test]
fn a_response_long_after_a_connect_is_not_taken_for_its_reply() {
    // The proxy's first response comes 301 s after the CONNECT (past the 300 s within which
    // a proxy answers): not its reply, though every response is kept (--include urls). The
    // client's keep-alive segments keep the flow open meanwhile.
    let ok: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";
    let (client, proxy) = (([198, 51, 100, 1], 40000), ([192, 0, 2, 80], 3128));
    let connect: &[u8] = b"CONNECT 203.0.113.7:443 HTTP/1.1\r\n\r\n";
    let d = Dir::new();
    for (wait, reply) in [(300_000, Some("proxy_reply 6")), (301_000, None)] {
        let mut c = Capture::new(Format::Pcap);
        c.push(T0, &seg(client, proxy, 1, SYN, b""));
        c.push(T0 + MS, &seg(proxy, client, 1, SYN | ACK, b""));
        c.push(T0 + 2 * MS, &seg(client, proxy, 2, PSH | ACK, connect));
        let next = 2 + connect.len() as u32;
        for s in [100_000, 200_000] {
            c.push(T0 + s * MS, &seg(client, proxy, next - 1, ACK, b""));
        }
        c.push(T0 + (2 + wait) * MS, &seg(proxy, client, 2, PSH | ACK, ok));
        let p = d.write(&format!("late{wait}.pcap"), &c.finish());
        let args = ["--party", "AU", "--ip", "192.0.2.80", "--include", "urls"];
        let v = traced_through_the_proxy(&p, &args);
        let kinds: Vec<String> = v["hops"][2]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {}", e["kind"].as_str().unwrap(), e["frame"]))
            .collect();
        let mut want = vec!["proxy_request 3"];
        want.extend(reply);
        assert_eq!(kinds, want, "{wait} ms");
    }
}

/// The client's connection to the proxy of [`connect_capture`] on which the proxy, not the
/// client, sent a `CONNECT` line (frame 3).
fn connect_from_the_responder() -> Capture {
    let mut c = Capture::new(Format::Pcap);
    let (client, proxy) = (([198, 51, 100, 1], 40000), ([192, 0, 2, 80], 3128));
    c.push(T0, &seg(client, proxy, 1, SYN, b""));
    c.push(T0 + MS, &seg(proxy, client, 1, SYN | ACK, b""));
    let line = b"CONNECT 203.0.113.7:443 HTTP/1.1\r\n\r\n";
    c.push(T0 + 2 * MS, &seg(proxy, client, 2, PSH | ACK, line));
    c
}

/// Traces the client's connection to the proxy of [`connect_capture`] sending `request`,
/// written as `name` in `d`: the path through the proxy to 203.0.113.7, the report valid.
fn through_the_forward_proxy(d: &Dir, name: &str, request: &[u8]) -> Value {
    let p = d.write(name, &connect_capture(request).finish());
    traced_through_the_proxy(&p, &["--party", "AU", "--ip", "192.0.2.80"])
}

/// Traces `p` with `args`: the path from the client through the proxy of
/// [`connect_capture`] to 203.0.113.7, the report valid.
fn traced_through_the_proxy(p: &std::path::Path, args: &[&str]) -> Value {
    let (code, v, err) = trace(&[p.to_path_buf()], args);
    assert_eq!(code, 0, "{p:?} {args:?}: {err}");
    check_schema(&v);
    assert_eq!(
        path(&v),
        pairs(&[
            ("origin", "198.51.100.1"),
            ("proxy", "192.0.2.80"),
            ("destination", "203.0.113.7"),
        ]),
        "{p:?} {args:?}"
    );
    v
}

#[test]
fn a_query_for_the_node_behind_a_forward_proxy_finds_the_connection_whose_request_named_it() {
    // On the client's side of a proxy the server is the end of no flow: the client's
    // connection to the proxy is found through the request that named the server.
    let d = Dir::new();
    let spill = d.path().join("spill");
    std::fs::create_dir(&spill).unwrap();
    let spill = spill.display().to_string();
    let cases: [(&str, &[u8], &str, &[&str]); 2] = [
        (
            "connect.pcap",
            b"CONNECT 203.0.113.7:443 HTTP/1.1\r\nHost: 203.0.113.7:443\r\n\r\n",
            "as the node the proxy at the communication's destination was to open a tunnel to (HTTP CONNECT)",
            &["--port", "443"],
        ),
        (
            "absolute.pcap",
            b"GET http://203.0.113.7:8080/x HTTP/1.1\r\nHost: 203.0.113.7:8080\r\n\r\n",
            "as the server the proxy at the communication's destination was to fetch a URL from",
            &["--port", "8080"],
        ),
    ];
    for (name, request, asked, port) in cases {
        let p = d.write(name, &connect_capture(request).finish());
        let base = ["--party", "AU", "--ip", "203.0.113.7"];
        // With a port and either end of the connection as the peer; and through the
        // road a run that sets evidence aside on disk takes (the same report).
        let spilled = ["--spill-dir", spill.as_str(), "--max-flows", "1"];
        let mut reports = Vec::new();
        for extra in [
            &[][..],
            port,
            &["--peer", "198.51.100.1"],
            &["--peer", "192.0.2.80"],
            &spilled,
        ] {
            let v = traced_through_the_proxy(&p, &[&base[..], extra].concat());
            let c = &v["communication"];
            assert_eq!(c["destination"]["ip"], "192.0.2.80", "{name}");
            let found = &c["found_through"];
            assert_eq!(found["kind"], "proxy_request", "{name}");
            assert_eq!(found["frame"], 3, "{name}");
            let showed = found["showed"].as_str().unwrap();
            assert!(
                showed.starts_with("named the queried address 203.0.113.7 port "),
                "{showed}"
            );
            assert!(showed.contains(asked), "{showed}");
            reports.push(v["hops"].to_string());
        }
        assert!(reports.iter().all(|r| *r == reports[0]), "{name}");
        // Another port, another peer: nothing.
        for extra in [&["--port", "22"][..], &["--peer", "198.51.100.99"]] {
            let (code, _, err) = trace(std::slice::from_ref(&p), &[&base[..], extra].concat());
            assert_eq!(code, 5, "{name} {extra:?}");
            assert!(
                err.contains("no communication in the evidence matches the query"),
                "{err}"
            );
        }
        // The Markdown says how the communication was found.
        let mut a: Vec<String> = vec!["trace".into(), p.display().to_string()];
        a.extend(base.iter().map(|s| s.to_string()));
        a.extend(["--format".into(), "md".into(), "-q".into()]);
        let page = text(&hoptrace(&a.iter().map(String::as_str).collect::<Vec<_>>()).stdout);
        assert!(
            page.contains("Found through a request to a proxy: the request in "),
            "{page}"
        );
        assert!(
            page.contains(&format!(
                "{name} frame 3 named the queried address 203.0.113.7"
            )),
            "{page}"
        );
    }
    // A connection whose requests named two servers: each query's path reaches only the
    // server it names (the other is another communication's).
    let first: &[u8] = b"GET http://203.0.113.7/a HTTP/1.1\r\nHost: 203.0.113.7\r\n\r\n";
    let second: &[u8] = b"GET http://198.51.100.9/b HTTP/1.1\r\nHost: 198.51.100.9\r\n\r\n";
    let ok: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";
    let p = d.write(
        "two.pcap",
        &connect_exchange(&[(first, ok), (second, ok)]).finish(),
    );
    for (ip, frame) in [("203.0.113.7", 3), ("198.51.100.9", 5)] {
        let (code, v, err) = trace(std::slice::from_ref(&p), &["--party", "AU", "--ip", ip]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            path(&v),
            pairs(&[
                ("origin", "198.51.100.1"),
                ("proxy", "192.0.2.80"),
                ("destination", ip)
            ]),
            "{ip}"
        );
        assert_eq!(v["communication"]["found_through"]["frame"], frame);
    }
    // Asked for the proxy, the connection's path names both.
    let (code, v, err) = trace(
        std::slice::from_ref(&p),
        &["--party", "AU", "--ip", "192.0.2.80"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(path(&v).len(), 4, "{:?}", path(&v));
    // Two clients asked the proxy for the same server: both connections are listed, each
    // marked as one to a proxy.
    let mut c = Capture::new(Format::Pcap);
    let proxy = ([192, 0, 2, 80], 3128);
    let line = b"CONNECT 203.0.113.7:443 HTTP/1.1\r\n\r\n";
    for (k, client) in [([198, 51, 100, 1], 40000), ([198, 51, 100, 2], 40001)]
        .into_iter()
        .enumerate()
    {
        let t = T0 + k as i64 * 10 * MS;
        c.push(t, &seg(client, proxy, 1, SYN, b""));
        c.push(t + MS, &seg(proxy, client, 1, SYN | ACK, b""));
        c.push(t + 2 * MS, &seg(client, proxy, 2, PSH | ACK, line));
    }
    let p = d.write("two-clients.pcap", &c.finish());
    let (code, _, err) = trace(
        std::slice::from_ref(&p),
        &["--party", "AU", "--ip", "203.0.113.7"],
    );
    assert_eq!(code, 4, "{err}");
    let marked: Vec<&str> = err
        .lines()
        .filter(|l| l.ends_with("(to a proxy: a request it carried named the queried address)"))
        .collect();
    assert_eq!(marked.len(), 2, "{err}");
    assert!(
        marked[0].contains("198.51.100.1:40000 → 192.0.2.80:3128"),
        "{err}"
    );
    assert!(
        marked[1].contains("198.51.100.2:40001 → 192.0.2.80:3128"),
        "{err}"
    );
    // Named by its Community ID, as the listing asks: that connection, through its request.
    let id = marked[1].split_whitespace().next().unwrap();
    let args = ["--party", "AU", "--ip", "203.0.113.7", "--community-id", id];
    let (code, v, err) = trace(std::slice::from_ref(&p), &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["communication"]["origin"]["ip"], "198.51.100.2");
    assert_eq!(v["communication"]["found_through"]["frame"], 6);
    // A request the proxy sent the client names nothing the client's connection reached.
    let p = d.write("reversed.pcap", &connect_from_the_responder().finish());
    let (code, _, err) = trace(&[p], &["--party", "AU", "--ip", "203.0.113.7"]);
    assert_eq!(code, 5, "{err}");
    // Where the address is an end of a flow, that flow is the communication.
    let v = through_the_forward_proxy(
        &d,
        "direct.pcap",
        b"CONNECT 203.0.113.7:443 HTTP/1.1\r\n\r\n",
    );
    assert_eq!(v["communication"]["found_through"], Value::Null);
}

#[test]
fn an_http_connect_makes_the_responder_a_proxy_and_its_target_the_destination() {
    let d = Dir::new();
    let v = through_the_forward_proxy(
        &d,
        "connect.pcap",
        b"CONNECT 203.0.113.7:443 HTTP/1.1\r\nHost: 203.0.113.7:443\r\n\r\n",
    );
    let target = &v["hops"][2];
    assert_eq!(target["port"], 443);
    assert_eq!(target["flags"], serde_json::json!(["unverified"]));
    assert_eq!(target["evidence"][0]["kind"], "proxy_request");
    assert_eq!(target["evidence"][0]["frame"], 3);
    let proxy = v["hops"][1]["evidence"].to_string();
    assert!(
        proxy.contains("was asked to open a tunnel to 203.0.113.7 port 443 (HTTP CONNECT)"),
        "{proxy}"
    );
    let gaps = v["gaps"].to_string();
    assert!(
        gaps.contains("203.0.113.7:443 is known only from a request sent to the proxy at hop 1 (192.0.2.80:3128) naming it"),
        "{gaps}"
    );
    assert!(!gaps.contains("the server behind the proxy"), "{gaps}");
    // Named by host name: the path ends at the proxy, the name withheld unless asked for.
    let p = d.write(
        "named.pcap",
        &connect_capture(b"CONNECT shop.example:443 HTTP/1.1\r\n\r\n").finish(),
    );
    for (include, shown) in [(&[][..], false), (&["--include", "names"][..], true)] {
        let args = [&["--party", "AU", "--ip", "192.0.2.80"][..], include].concat();
        let (code, v, err) = trace(std::slice::from_ref(&p), &args);
        assert_eq!(code, 0, "{err}");
        check_schema(&v);
        assert_eq!(
            path(&v),
            pairs(&[("origin", "198.51.100.1"), ("proxy", "192.0.2.80")])
        );
        assert!(
            v["gaps"]
                .to_string()
                .contains("the server behind the proxy at hop 1 is named only by the host name a request sent to the proxy gave")
        );
        assert_eq!(v.to_string().contains("shop.example"), shown);
        // The Markdown and HTML reports carry the names too when asked to.
        for format in ["md", "html"] {
            let mut a: Vec<String> = vec!["trace".into(), p.display().to_string()];
            a.extend(args.iter().map(|s| s.to_string()));
            a.extend(["--format".into(), format.into(), "-q".into()]);
            let out = hoptrace(&a.iter().map(String::as_str).collect::<Vec<_>>());
            let page = text(&out.stdout);
            assert!(page.contains("a host given by name, port 443 (HTTP CONNECT)"));
            assert_eq!(
                page.contains("(names: shop.example)"),
                shown,
                "{format}: {page}"
            );
        }
    }
    // Sent by the responder, not to it: no proxy, no node beyond.
    let p = d.write("reversed.pcap", &connect_from_the_responder().finish());
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.80"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[("origin", "198.51.100.1"), ("destination", "192.0.2.80")])
    );
    assert!(!v.to_string().contains("proxy_request"));
    // A foreign provider known only as the target: its draft says what named it.
    let p = d.write(
        "google.pcap",
        &connect_capture(b"CONNECT 8.8.8.8:443 HTTP/1.1\r\n\r\n").finish(),
    );
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.80", "--art29"]);
    assert_eq!(code, 0, "{err}");
    let drafts = v["art29_drafts"].as_array().unwrap();
    assert_eq!(drafts.len(), 1, "{drafts:?}");
    assert_eq!(drafts[0]["requested_party"], "US");
    let rel = drafts[0]["relationship"].as_str().unwrap();
    assert!(
        rel.contains("was named by a request sent to a proxy on the path as the node to reach"),
        "{rel}"
    );
}

#[test]
fn a_request_naming_an_absolute_url_makes_the_responder_a_forward_proxy() {
    // Plain HTTP through a forward proxy: the request target is the whole URL. Its path
    // stays out of the report; the host, an address here, is the node beyond the proxy.
    let d = Dir::new();
    let v = through_the_forward_proxy(
        &d,
        "absolute.pcap",
        b"GET http://203.0.113.7:8080/secret/path?q=1 HTTP/1.1\r\nHost: 203.0.113.7:8080\r\n\r\n",
    );
    assert_eq!(v["hops"][2]["port"], 8080);
    let proxy = v["hops"][1]["evidence"].to_string();
    assert!(
        proxy.contains("was sent a request for a URL on 203.0.113.7 port 8080 (an absolute URL as request target"),
        "{proxy}"
    );
    assert!(!v.to_string().contains("secret"));
    // A request in origin form, or an absolute URL naming the responder itself, names no
    // node beyond it; one naming a host by name only (a server may be sent that form too)
    // is evidence on the responder, which stays the destination.
    for (name, req, said) in [
        (
            "origin-form.pcap",
            &b"GET /secret HTTP/1.1\r\nHost: 203.0.113.7\r\n\r\n"[..],
            false,
        ),
        (
            "itself.pcap",
            b"GET http://192.0.2.80:3128/ HTTP/1.1\r\nHost: 192.0.2.80:3128\r\n\r\n",
            false,
        ),
        (
            "name.pcap",
            b"GET http://shop.example/secret HTTP/1.1\r\nHost: shop.example\r\n\r\n",
            true,
        ),
    ] {
        let p = d.write(name, &connect_capture(req).finish());
        let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.80"]);
        assert_eq!(code, 0, "{err}");
        check_schema(&v);
        assert_eq!(
            path(&v),
            pairs(&[("origin", "198.51.100.1"), ("destination", "192.0.2.80")]),
            "{name}"
        );
        let ev = v["hops"][1]["evidence"].to_string();
        assert_eq!(ev.contains("proxy_request"), said, "{name}: {ev}");
        assert_eq!(
            ev.contains("a server may be sent that form too"),
            said,
            "{name}: {ev}"
        );
        assert!(!v.to_string().contains("secret"), "{name}");
    }
}

/// An SMTP session from `client` to `server` carrying a mail with these header lines,
/// its data cut in two segments sent out of order, one of them twice.
fn smtp(client: ([u8; 4], u16), server: ([u8; 4], u16), headers: &str) -> Vec<u8> {
    let data = smtp_data(headers);
    let commands = data.find("DATA\r\n").unwrap() + 6;
    let half = commands + (data.len() - commands) / 2;
    let order = [
        (0, commands),
        (half, data.len()),
        (commands, half),
        (half, data.len()),
    ];
    smtp_session(client, server, &data, &order)
}

/// What an SMTP client sends for one mail with these header lines.
fn smtp_data(headers: &str) -> String {
    format!(
        "EHLO relay.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n{headers}Subject: hello\r\n\r\nbody\r\n.\r\nQUIT\r\n"
    )
}

/// An SMTP session (handshake, banner) whose client sends these byte ranges of `data`,
/// in this order, each a segment.
fn smtp_session(
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    data: &str,
    order: &[(usize, usize)],
) -> Vec<u8> {
    let mut c = Capture::new(Format::Pcap);
    let mut t = T0;
    let mut push = |c: &mut Capture, f: Vec<u8>| {
        t += MS;
        c.push(t, &f);
    };
    push(&mut c, seg(client, server, 1000, SYN, b""));
    push(&mut c, seg(server, client, 5000, SYN | ACK, b""));
    push(
        &mut c,
        seg(server, client, 5001, PSH | ACK, b"220 mx ESMTP\r\n"),
    );
    for &(a, b) in order {
        let bytes = &data.as_bytes()[a..b];
        push(
            &mut c,
            seg(client, server, 1001 + a as u32, PSH | ACK, bytes),
        );
    }
    c.finish()
}

/// The path [`RECEIVED`]'s mail takes to 1.1.1.1 from the SMTP client 203.0.113.7.
fn relayed() -> Vec<(String, String)> {
    pairs(&[
        ("origin", "8.8.4.4"),
        ("relay", "9.9.9.9"),
        ("relay", "203.0.113.7"),
        ("destination", "1.1.1.1"),
    ])
}

const RECEIVED: &str = "Received: from mail.relay2.example (mail.relay2.example [9.9.9.9])\r\n\tby relay.example with ESMTP id B2; Tue, 14 Nov 2023 23:10:05 +0100\r\nReceived: from laptop (dsl.example [8.8.4.4])\r\n\tby mail.relay2.example with ESMTPSA id A1;\r\n\tTue, 14 Nov 2023 17:10:00 -0500\r\n";

#[test]
fn received_fields_put_the_sender_and_relays_before_the_smtp_client() {
    let d = Dir::new();
    let p = d.write(
        "mx.pcap",
        &smtp(([203, 0, 113, 7], 40000), ([1, 1, 1, 1], 25), RECEIVED),
    );
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "1.1.1.1", "--port", "25"]);
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    assert_eq!(path(&v), relayed());
    let hops = v["hops"].as_array().unwrap();
    // Each relay's own time, in UTC, with the date as written (its offset) in the evidence.
    assert_eq!(hops[0]["first_seen"], "2023-11-14T22:10:00.000000000Z");
    assert_eq!(hops[1]["first_seen"], "2023-11-14T22:10:05.000000000Z");
    let ev = hops[0]["evidence"][0]["showed"].as_str().unwrap();
    assert!(ev.contains("Tue, 14 Nov 2023 17:10:00 -0500"), "{ev}");
    assert!(ev.contains("field 2 of 2"), "{ev}");
    // The oldest field was written by a relay before the client: it may be forged.
    assert_eq!(flags(&hops[0]), ["unverified"]);
    assert!(flags(&hops[1]).is_empty());
    // The SMTP client is listed once, as a relay with its packets and the mail.
    assert_eq!(hops.iter().filter(|h| h["ip"] == "203.0.113.7").count(), 1);
    // The nearest foreign provider from the destination's (AU) end: the client is in
    // documentation space (no AS), so the relay before it (Quad9, US), not the origin.
    let next: Vec<&Value> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["nearest_foreign"] == true)
        .collect();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0]["asn"], 19281);
    // No relay names without --include names.
    assert!(!v.to_string().contains("relay2.example"));
}

#[test]
fn a_mail_sent_a_byte_per_segment_is_read_whole() {
    // The client's data one byte per segment (kept as runs of joined segments), one byte
    // sent again out of order in the middle: the same path as the mail sent whole.
    let data = smtp_data(RECEIVED);
    let mut order: Vec<(usize, usize)> = (0..data.len()).map(|i| (i, i + 1)).collect();
    let mid = data.len() / 2;
    order.insert(mid + 1, (mid - 40, mid - 39));
    let d = Dir::new();
    let p = d.write(
        "bytes.pcap",
        &smtp_session(([203, 0, 113, 7], 40000), ([1, 1, 1, 1], 25), &data, &order),
    );
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "1.1.1.1", "--port", "25"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(path(&v), relayed());
    // No segment counted lost: the sent-again byte is read once.
    assert!(!v.to_string().contains("not captured"), "{v}");
}

#[test]
fn a_received_field_cut_by_a_lost_segment_names_no_address() {
    // The segment from inside the first field's "[9.9.9.9]" to inside the second's
    // "[8.8.4.4]" was not captured: the bytes around it, closed up, read "[9.9.4.4]", a
    // relay that does not exist. Lines a lost segment cuts are not read; the report says
    // the session lost a segment.
    let data = smtp_data(RECEIVED);
    let commands = data.find("DATA\r\n").unwrap() + 6;
    let lost_from = data.find("9.9.9.9").unwrap() + 4;
    let lost_to = data.find("8.8.4.4").unwrap() + 4;
    let order = [(0, commands), (commands, lost_from), (lost_to, data.len())];
    let d = Dir::new();
    let p = d.write(
        "lost.pcap",
        &smtp_session(([203, 0, 113, 7], 40000), ([1, 1, 1, 1], 25), &data, &order),
    );
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "1.1.1.1", "--port", "25"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[("origin", "203.0.113.7"), ("destination", "1.1.1.1")])
    );
    let gaps: Vec<&str> = v["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["reason"].as_str().unwrap())
        .filter(|r| r.contains("not captured"))
        .collect();
    assert_eq!(gaps.len(), 1, "{v}");
    assert!(
        gaps[0].contains("the mail the origin's side sent in the SMTP session at frame 4 of ")
            && gaps[0].contains("its data has 1 gap where bytes were not captured"),
        "{gaps:?}"
    );
    // A segment lost between whole fields: the fields around it are read.
    let lost_from = data.find("Received: from laptop").unwrap();
    let lost_to = lost_from + data[lost_from..].find("\r\n\t").unwrap() + 2;
    let order = [(0, commands), (commands, lost_from), (lost_to, data.len())];
    let p = d.write(
        "between.pcap",
        &smtp_session(([203, 0, 113, 7], 40000), ([1, 1, 1, 1], 25), &data, &order),
    );
    let (_, v, _) = trace(&[p], &["--party", "AU", "--ip", "1.1.1.1", "--port", "25"]);
    assert_eq!(
        path(&v),
        pairs(&[
            ("origin", "9.9.9.9"),
            ("relay", "203.0.113.7"),
            ("destination", "1.1.1.1")
        ])
    );
}

#[test]
fn a_mail_without_addresses_in_its_received_fields_leaves_the_path_as_seen() {
    let d = Dir::new();
    let p = d.write(
        "local.pcap",
        &smtp(
            ([203, 0, 113, 7], 40000),
            ([1, 1, 1, 1], 25),
            "Received: (from root@localhost) by host id 1; 1 Jan 2024 00:00:00 +0000\r\n",
        ),
    );
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "1.1.1.1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[("origin", "203.0.113.7"), ("destination", "1.1.1.1")])
    );
}

/// A UDP traceroute from `v` to `dst`: three probes per TTL 1..=3, answered by two routers
/// and then the destination; replies to TTL 2 arrive before those to TTL 1, and the first
/// probe and one of TTL 2 get no reply (`* * *`).
fn traceroute(c: &mut Capture, t0: i64, v: [u8; 4], dst: [u8; 4], routers: [[u8; 4]; 2]) {
    let mut probes = Vec::new();
    let mut port = 33434u16;
    for ttl in 1..=3u8 {
        for _ in 0..3 {
            let mut ip = Ip4::new(v, dst, 17);
            ip.ttl = ttl;
            ip.id = port;
            let udp = pkt::udp(Pseudo::V4(v, dst), 45000, port, &[0; 12]);
            probes.push((ttl, ip.build(&udp)));
            port += 1;
        }
    }
    let mut t = t0;
    let mut replies = Vec::new();
    for (i, (ttl, probe)) in probes.iter().enumerate() {
        t += MS;
        c.push(t, &pkt::eth(num::IPV4, probe));
        if i == 0 || i == 4 {
            continue;
        }
        let quote = &probe[..28];
        let (from, ty, code) = match ttl {
            1 => (routers[0], 11, 0),
            2 => (routers[1], 11, 0),
            _ => (dst, 3, 3),
        };
        let icmp = pkt::icmp4(ty, code, [0; 4], quote);
        replies.push((*ttl, pkt::eth(num::IPV4, &pkt::ipv4(from, v, 1, &icmp))));
    }
    replies.sort_by_key(|(ttl, _)| if *ttl == 2 { 0 } else { *ttl });
    for (_, r) in replies {
        t += MS;
        c.push(t, &r);
    }
}

#[test]
fn a_traceroute_is_one_communication_with_its_routers_in_ttl_order() {
    let v = [8, 8, 8, 8];
    let dst = [1, 1, 1, 1];
    let routers = [[203, 0, 113, 1], [198, 51, 100, 2]];
    let mut c = Capture::new(Format::Pcap);
    traceroute(&mut c, T0, v, dst, routers);
    // A connection from the same host to the same destination a minute later.
    let conn = T0 + 60_000 * MS;
    c.push(conn, &Pkt::tcp4((v, 40000), (dst, 443), SYN, b""));
    c.push(
        conn + MS,
        &Pkt::tcp4((dst, 443), (v, 40000), SYN | ACK, b""),
    );
    let d = Dir::new();
    let p = d.write("tr.pcap", &c.finish());
    let (code, v1, err) = trace(
        std::slice::from_ref(&p),
        &["--party", "US", "--ip", "1.1.1.1", "--proto", "udp"],
    );
    assert_eq!(code, 0, "{err}");
    check_schema(&v1);
    assert_eq!(
        path(&v1),
        pairs(&[
            ("vantage", "8.8.8.8"),
            ("router", "203.0.113.1"),
            ("router", "198.51.100.2"),
            ("destination", "1.1.1.1"),
        ])
    );
    // Every probe, the two nothing answered included.
    assert_eq!(v1["communication"]["traceroute_probes"], 9);
    let ev = v1["hops"][2]["evidence"].to_string();
    assert!(
        ev.contains("sent with TTL 2 with ICMP time exceeded"),
        "{ev}"
    );
    // The party is at the sender's end (US): the nearest foreign provider is the first
    // foreign one from the origin.
    let next: Vec<&Value> = v1["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["nearest_foreign"] == true)
        .collect();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0]["asn"], 13335);

    // The connection: its path gets the traceroute's routers, in the same order.
    let (code, v2, err) = trace(
        std::slice::from_ref(&p),
        &["--party", "US", "--ip", "1.1.1.1", "--port", "443"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v2),
        pairs(&[
            ("origin", "8.8.8.8"),
            ("router", "203.0.113.1"),
            ("router", "198.51.100.2"),
            ("destination", "1.1.1.1"),
        ])
    );
    assert_eq!(v2["communication"]["traceroute_probes"], Value::Null);
    // Without a protocol: the traceroute and the connection, not the ICMP replies.
    let (code, _, err) = trace(&[p], &["--party", "US", "--ip", "1.1.1.1"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("2 communications match"), "{err}");
}

/// A TCP connection from `client` to `server`: handshake with the given initial sequence
/// numbers, then `data` bytes from the client.
fn connection(
    c: &mut Capture,
    t: i64,
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    isn: (u32, u32),
    data: &[u8],
) {
    c.push(t, &seg(client, server, isn.0, SYN, b""));
    c.push(t + MS, &seg(server, client, isn.1, SYN | ACK, b""));
    c.push(t + 2 * MS, &seg(client, server, isn.0 + 1, PSH | ACK, data));
}

#[test]
fn nat_seen_from_two_vantage_points_maps_the_public_address_to_the_inside_one() {
    // A carrier-grade NAT: the subscriber 100.64.7.9 inside, 8.8.8.8:61000 outside; the
    // outside sensor's clock runs 2.5 s ahead. A decoy outside has the same destination and
    // time but other sizes.
    let server = ([1, 1, 1, 1], 443);
    let mut inside = Capture::new(Format::Pcap);
    connection(
        &mut inside,
        T0,
        ([100, 64, 7, 9], 5000),
        server,
        (1000, 7000),
        b"hello",
    );
    let mut outside = Capture::new(Format::Pcap);
    let skew = 2_500 * MS;
    connection(
        &mut outside,
        T0 + skew,
        ([8, 8, 8, 8], 61000),
        server,
        (1000, 7000),
        b"hello",
    );
    connection(
        &mut outside,
        T0 + skew,
        ([8, 8, 4, 4], 62000),
        server,
        (1000, 7000),
        b"other size",
    );
    let d = Dir::new();
    let files = [
        d.write("inside.pcap", &inside.finish()),
        d.write("outside.pcap", &outside.finish()),
    ];
    let want = pairs(&[
        ("origin", "100.64.7.9"),
        ("nat", "8.8.8.8"),
        ("destination", "1.1.1.1"),
    ]);
    // The request names the public address and port, as a foreign request would.
    let (code, v, err) = trace(
        &files,
        &["--party", "AU", "--ip", "8.8.8.8", "--port", "61000"],
    );
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    assert_eq!(path(&v), want);
    let nat = &v["hops"][1];
    assert_eq!(nat["port"], 61000);
    assert_eq!(nat["maps"]["ip"], "100.64.7.9");
    assert_eq!(nat["maps"]["port"], 5000);
    let why = nat["evidence"][0]["showed"].as_str().unwrap();
    assert!(
        why.contains("the same TCP sequence numbers (1000 and 7000)"),
        "{why}"
    );
    assert_eq!(nat["evidence"][0]["kind"], "nat_match");
    // The clock offset between the two sensors, against the inside one.
    let vp = v["vantage_points"].as_array().unwrap();
    assert_eq!(vp.len(), 2);
    assert!(
        (vp[1]["clock_offset_s"].as_f64().unwrap() - 2.5).abs() < 1e-6,
        "{vp:?}"
    );
    // The inside address and port are known: no NAT log is asked for.
    assert!(!v["gaps"].to_string().contains("NAT translation log"));
    // Named from the inside, the same path.
    let (code, v, err) = trace(&files, &["--party", "AU", "--ip", "100.64.7.9"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(path(&v), want);
    // Beyond the window, the two views are not joined.
    let (code, v, err) = trace(
        &files,
        &["--party", "AU", "--ip", "8.8.8.8", "--window", "1s"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[("origin", "8.8.8.8"), ("destination", "1.1.1.1")])
    );
}

#[test]
fn nat_views_that_cannot_be_told_apart_are_not_joined_and_the_report_says_so() {
    // One connection inside, two outside with the same destination, sizes and time (the
    // NAT rewrote the sequence numbers of one): either could be its translation.
    let server = ([1, 1, 1, 1], 443);
    let mut inside = Capture::new(Format::Pcap);
    let sub = ([100, 64, 7, 9], 5000);
    connection(&mut inside, T0, sub, server, (1000, 7000), b"hello");
    let mut outside = Capture::new(Format::Pcap);
    for (port, isn) in [(61000, (1000, 7000)), (61001, (3000, 9000))] {
        connection(
            &mut outside,
            T0,
            ([8, 8, 8, 8], port),
            server,
            isn,
            b"hello",
        );
    }
    let d = Dir::new();
    let files = [
        d.write("inside.pcap", &inside.finish()),
        d.write("outside.pcap", &outside.finish()),
    ];
    let gaps = |v: &Value| v["gaps"].to_string();
    let (code, v, err) = trace(&files, &["--party", "AU", "--ip", "100.64.7.9"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[("origin", "100.64.7.9"), ("destination", "1.1.1.1")])
    );
    let g = gaps(&v);
    assert!(
        g.contains(
            "also seen outside a NAT, but which view there is its own cannot be told: \
             2 connections there (8.8.8.8:61000 (vantage point 1), 8.8.8.8:61001 (vantage point 1)) \
             and 1 connection here (100.64.7.9:5000 (vantage point 0))"
        ),
        "{g}"
    );
    assert!(
        g.contains("the NAT translation log for 100.64.7.9:5000 to 1.1.1.1:443 TCP"),
        "{g}"
    );
    // Named by one public port: the inside connection matches it, and its twin too, so
    // the two are not joined (they were: a guess between two translations).
    let (code, v, err) = trace(
        &files,
        &["--party", "AU", "--ip", "8.8.8.8", "--port", "61000"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[("origin", "8.8.8.8"), ("destination", "1.1.1.1")])
    );
    let g = gaps(&v);
    assert!(
        g.contains(
            "1 connection there (100.64.7.9:5000 (vantage point 0)) and 2 connections here \
             (8.8.8.8:61000 (vantage point 1), 8.8.8.8:61001 (vantage point 1))"
        ),
        "{g}"
    );
    assert!(g.contains("the address behind the NAT is not named"), "{g}");
}

#[test]
fn a_nat_view_is_joined_when_the_inside_connection_was_seen_by_two_sensors() {
    // Two sensors inside saw the same connection (its own 5-tuple at each), one outside
    // its translation: the view outside matches both inside views, which are one
    // communication, so it is joined.
    let server = ([1, 1, 1, 1], 443);
    let sub = ([100, 64, 7, 9], 5000);
    let mut inside = Capture::new(Format::Pcap);
    connection(&mut inside, T0, sub, server, (1000, 7000), b"hello");
    let inside = inside.finish();
    let mut outside = Capture::new(Format::Pcap);
    let public = ([8, 8, 8, 8], 61000);
    connection(&mut outside, T0, public, server, (1000, 7000), b"hello");
    let d = Dir::new();
    let files = [
        d.write("inside-a.pcap", &inside),
        d.write("inside-b.pcap", &inside),
        d.write("outside.pcap", &outside.finish()),
    ];
    let (code, v, err) = trace(
        &files,
        &["--party", "AU", "--ip", "8.8.8.8", "--port", "61000"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[
            ("origin", "100.64.7.9"),
            ("nat", "8.8.8.8"),
            ("destination", "1.1.1.1"),
        ])
    );
    assert!(!v["gaps"].to_string().contains("cannot be told"));
}

/// The README's query on the bundled case (`testdata/case/frontend.pcapng`).
pub(crate) const DEMO_QUERY: [&str; 10] = [
    "--party",
    "DE",
    "--ip",
    "85.214.132.117",
    "--port",
    "80",
    "--peer",
    "195.154.1.1",
    "--at",
    "2026-03-01T11:15:07+01:00",
];

#[test]
fn the_readme_demo_case_gives_its_path() {
    // The README's main command, on the bundled case.
    let case =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/case/frontend.pcapng");
    let mut args = DEMO_QUERY.to_vec();
    args.extend(["--requesting", "FR", "--art29"]);
    let (code, v, err) = trace(&[case], &args);
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    assert_eq!(
        path(&v),
        pairs(&[
            ("origin", "200.160.2.3"),
            ("proxy", "195.154.1.1"),
            ("router", "195.154.0.1"),
            ("router", "80.81.192.1"),
            ("router", "85.214.0.1"),
            ("tunnel_endpoint", "85.214.0.10"),
            ("tunnel_endpoint", "85.214.0.20"),
            ("destination", "85.214.132.117"),
        ])
    );
    let next: Vec<&Value> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["nearest_foreign"] == true)
        .collect();
    assert_eq!(next[0]["name"], "Scaleway SAS");
    // The French provider is the requesting party's own: the one draft is for Brazil.
    let drafts = v["art29_drafts"].as_array().unwrap();
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0]["requested_party"], "BR");
}

#[test]
fn the_report_says_what_of_each_input_was_read_and_what_was_not() {
    let case =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/case/frontend.pcapng");
    let whole = std::fs::read(&case).unwrap();
    let args = DEMO_QUERY;
    // Whole: every byte in a frame or a header, nothing not read.
    let (code, v, err) = trace(std::slice::from_ref(&case), &args);
    assert_eq!(code, 0, "{err}");
    let i = &v["inputs"][0];
    assert_eq!(i["unit"], "frame");
    assert_eq!(i["bytes"], whole.len() as u64);
    let split = &i["byte_split"];
    assert_eq!(split["skipped"], 0);
    assert_eq!(
        split["frames"].as_u64().unwrap() + split["headers"].as_u64().unwrap(),
        whole.len() as u64
    );
    assert_eq!(i["not_read"], serde_json::json!([]));
    let frames = i["read"].as_u64().unwrap();
    // The last block cut short: the path is still found (exit status 1, input skipped), and
    // the report names what was not read, how much and where.
    let d = Dir::new();
    let cut = d.write("cut.pcapng", &whole[..whole.len() - 10]);
    let (code, v, err) = trace(std::slice::from_ref(&cut), &args);
    assert_eq!(code, 1, "{err}");
    check_schema(&v);
    assert_eq!(path(&v).len(), 8);
    let i = &v["inputs"][0];
    assert_eq!(i["read"], frames - 1);
    assert_eq!(i["bytes"], whole.len() as u64 - 10);
    let split = &i["byte_split"];
    let skipped = split["skipped"].as_u64().unwrap();
    assert!(skipped > 0);
    assert_eq!(
        split["frames"].as_u64().unwrap() + split["headers"].as_u64().unwrap() + skipped,
        whole.len() as u64 - 10
    );
    let n = &i["not_read"][0];
    assert_eq!(n["reason"], "truncated_record");
    assert_eq!(
        (n["count"].as_u64(), n["bytes"].as_u64()),
        (Some(1), Some(skipped))
    );
    assert_eq!(n["first"], frames);
    assert_eq!(n["first_offset"], whole.len() as u64 - 10 - skipped);
    // The Markdown and the page say the same.
    for (format, said) in [
        ("md", "not read: truncated_record: 1"),
        ("html", "<li>not read: truncated_record: 1"),
    ] {
        let mut a: Vec<String> = vec!["trace".into(), cut.display().to_string()];
        a.extend(args.iter().map(|s| s.to_string()));
        a.extend(["-q".into(), "--format".into(), format.into()]);
        let out = hoptrace(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let page = text(&out.stdout);
        assert!(page.contains(said), "{format}: {page}");
        assert!(page.contains(&format!("{skipped} skipped")), "{format}");
        // Evidence names its input's unit: frames of a capture.
        assert!(page.contains("cut.pcapng frame "), "{format}: {page}");
        assert!(!page.contains("frame/line"), "{format}: {page}");
    }
}

#[test]
fn a_saved_mail_extends_the_path_of_an_encrypted_smtp_session() {
    // The party's MX captured the session from 203.0.113.7, encrypted after STARTTLS: the
    // capture has no Received fields. The mail as the mailbox saved it has them, the MX's
    // own on top.
    let client = ([203, 0, 113, 7], 40000);
    let mx = ([1, 1, 1, 1], 25);
    let mut c = Capture::new(Format::Pcap);
    connection(&mut c, T0, client, mx, (1000, 5000), b"STARTTLS\r\n");
    c.push(
        T0 + 5 * MS,
        &seg(
            client,
            mx,
            1011,
            PSH | ACK,
            &[0x17, 0x03, 0x03, 0, 4, 1, 2, 3, 4],
        ),
    );
    let d = Dir::new();
    let cap = d.write("mx.pcap", &c.finish());
    let eml = format!(
        "Return-Path: <a@example.org>\r\nReceived: from relay.example (relay.example [203.0.113.7])\r\n\tby mx.party with ESMTPS id Z9; Tue, 14 Nov 2023 23:13:20 +0100\r\n{RECEIVED}Subject: hello\r\n\r\nbody\r\n"
    );
    let mail = d.write("message.eml", eml.as_bytes());
    let args = ["--party", "AU", "--ip", "1.1.1.1", "--port", "25"];
    let (code, v, err) = trace(std::slice::from_ref(&cap), &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[("origin", "203.0.113.7"), ("destination", "1.1.1.1")])
    );
    let (code, v, err) = trace(&[cap, mail], &args);
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    assert_eq!(path(&v), relayed());
    let hops = v["hops"].as_array().unwrap();
    // Located by line in the saved mail: the client's own field (line 4) names 9.9.9.9, an
    // older one (line 6) the origin.
    let at = |h: &Value| {
        let e = &h["evidence"][0];
        (
            e["input"].as_str().unwrap().to_string(),
            e["frame"].as_u64().unwrap(),
        )
    };
    assert!(at(&hops[1]).0.ends_with("message.eml"));
    assert_eq!(at(&hops[1]).1, 4);
    assert_eq!(at(&hops[0]).1, 6);
    assert!(flags(&hops[1]).is_empty());
    assert_eq!(flags(&hops[0]), ["unverified"]);
    assert_eq!(v["inputs"][1]["format"], "eml");
    // A saved mail that never names the communication's client adds nothing.
    let other = d.write("other.eml", RECEIVED.as_bytes());
    let cap = d.path().join("mx.pcap");
    let (code, v, err) = trace(&[cap, other], &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[("origin", "203.0.113.7"), ("destination", "1.1.1.1")])
    );
}

#[test]
fn each_minimised_category_is_included_only_when_asked_and_the_report_says_so() {
    let d = Dir::new();
    let mut bytes = proxied("X-Forwarded-For: 8.8.8.8\r\n");
    // A second connection between the same two addresses, a second later.
    let mut c = Capture::new(Format::Pcap);
    connection(
        &mut c,
        T0 + 1_000 * MS,
        ([203, 0, 113, 5], 51001),
        ([192, 0, 2, 9], 80),
        (1, 2),
        b"x",
    );
    let second = c.finish();
    // Append its records to the first capture (both are pcap with the same header).
    bytes.extend_from_slice(&second[24..]);
    let p = d.write("both.pcap", &bytes);
    let q = [
        "--party",
        "AU",
        "--ip",
        "192.0.2.9",
        "--port",
        "80",
        "--peer",
        "203.0.113.5",
    ];
    let mut all = q.to_vec();
    all.extend(["--community-id"]);
    // Name the first connection by its Community ID (the second shares its ends).
    let (code, _, err) = trace(std::slice::from_ref(&p), &q);
    assert_eq!(code, 4, "{err}");
    let id = err
        .lines()
        .find(|l| l.contains("203.0.113.5:51000"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    all.push(&id);
    let (code, plain, err) = trace(std::slice::from_ref(&p), &all);
    assert_eq!(code, 0, "{err}");
    for key in ["content", "other_communications"] {
        assert!(plain.get(key).is_none(), "{key} without --include");
    }
    assert!(plain["vantage_points"][0].get("sizes").is_none());
    all.extend([
        "--include",
        "urls,payload,sizes,layer2,other-communications,names,city",
    ]);
    let (code, v, err) = trace(std::slice::from_ref(&p), &all);
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    let http = &v["content"]["http"];
    assert_eq!(http[0]["start_line"], "GET /private/path HTTP/1.1");
    assert_eq!(http[0]["host"], "secret.example");
    assert_eq!(http[0]["sent_by"], "origin");
    assert_eq!(http[1]["start_line"], "HTTP/1.1 200 OK");
    assert_eq!(http[1]["sent_by"], "destination");
    let pl = &v["content"]["payload"];
    assert_eq!(pl[0]["sent_by"], "origin");
    assert!(
        pl[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("GET /private/path")
    );
    assert_eq!(&pl[0]["hex"].as_str().unwrap()[..6], "474554");
    let sizes = &v["vantage_points"][0]["sizes"];
    assert_eq!(
        (
            sizes["packets_out"].as_u64(),
            sizes["packets_back"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(v["vantage_points"][0]["vlans"], serde_json::json!([]));
    let others = v["other_communications"].as_array().unwrap();
    assert_eq!(others.len(), 1);
    assert_eq!(others[0]["origin"]["port"], 51001);
    let included: Vec<&str> = v["minimisation"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["included"] == true)
        .map(|m| m["category"].as_str().unwrap())
        .collect();
    assert_eq!(
        included,
        [
            "payload",
            "names",
            "urls",
            "other_communications",
            "layer2",
            "sizes",
            "city"
        ]
    );
}

#[test]
fn a_header_block_split_across_segments_is_read_whole() {
    let proxy = ([203, 0, 113, 5], 51000);
    let server = ([192, 0, 2, 9], 80);
    let cookie = "a".repeat(1400);
    let req = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nX-Forwarded-For: 8.8.8.8\r\n\r\n"
    );
    let (a, b) = req.as_bytes().split_at(1000);
    let mut c = opened(proxy, server);
    c.push(T0 + 2 * MS, &seg(proxy, server, 101, PSH | ACK, a));
    // The server's acknowledgement in between, then the rest of the block.
    c.push(T0 + 3 * MS, &seg(server, proxy, 901, ACK, b""));
    c.push(
        T0 + 4 * MS,
        &seg(proxy, server, 101 + a.len() as u32, PSH | ACK, b),
    );
    the_request_names_its_origin_from_frame_3(c);
}

/// The proxy and server of the traces of header blocks in several segments, and a request
/// naming its origin, 8.8.8.8, in `X-Forwarded-For`.
const PROXY: ([u8; 4], u16) = ([203, 0, 113, 5], 51000);
const SERVER: ([u8; 4], u16) = ([192, 0, 2, 9], 80);
const REQUEST: &str = "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 8.8.8.8\r\n\r\n";

/// The report's path is the request's origin, the proxy and the server.
fn through_the_proxy(v: &Value) {
    assert_eq!(
        path(v),
        pairs(&[
            ("origin", "8.8.8.8"),
            ("proxy", "203.0.113.5"),
            ("destination", "192.0.2.9"),
        ])
    );
}

#[test]
fn a_header_block_sent_a_byte_at_a_time_is_read_whole() {
    // Each segment after the start line carries one byte, so the empty line that ends the
    // block arrives over four segments; the block is searched once as it grows.
    let (proxy, server) = (PROXY, SERVER);
    let (start, rest) = REQUEST.as_bytes().split_at(16);
    let mut c = opened(proxy, server);
    c.push(T0 + 2 * MS, &seg(proxy, server, 101, PSH | ACK, start));
    for (i, byte) in rest.chunks(1).enumerate() {
        let seq = 101 + (start.len() + i) as u32;
        c.push(
            T0 + (3 + i as i64) * MS,
            &seg(proxy, server, seq, PSH | ACK, byte),
        );
    }
    the_request_names_its_origin_from_frame_3(c);
}

#[test]
fn a_header_block_captured_out_of_order_is_read_whole() {
    // The rest of the block captured before its start (reordered on the way, or merged
    // from two links): it was dropped, and the block read without its X-Forwarded-For.
    let (proxy, server, req) = (PROXY, SERVER, REQUEST);
    let (a, b) = req.as_bytes().split_at(20);
    let mut c = opened(proxy, server);
    c.push(
        T0 + 2 * MS,
        &seg(proxy, server, 101 + a.len() as u32, PSH | ACK, b),
    );
    c.push(T0 + 3 * MS, &seg(proxy, server, 101, PSH | ACK, a));
    the_request_names_its_origin_from_frame(c, 4);
    // The start line first, then the rest in 3-byte segments, last first.
    let (start, rest) = req.as_bytes().split_at(16);
    let mut c = opened(proxy, server);
    c.push(T0 + 2 * MS, &seg(proxy, server, 101, PSH | ACK, start));
    let parts: Vec<(usize, &[u8])> = rest.chunks(3).enumerate().collect();
    for (k, (i, part)) in parts.iter().rev().enumerate() {
        let seq = 101 + (start.len() + 3 * i) as u32;
        c.push(
            T0 + (3 + k as i64) * MS,
            &seg(proxy, server, seq, PSH | ACK, part),
        );
    }
    the_request_names_its_origin_from_frame(c, 3);
}

#[test]
fn a_header_block_whose_first_segment_is_one_byte_is_read_whole() {
    // "G", then "ET / HTTP/1.1..." (a client writing its method a byte first, or a sender
    // splitting it to hide the block): the start did not look like HTTP and was passed by.
    let (proxy, server) = (PROXY, SERVER);
    let (g, rest) = REQUEST.as_bytes().split_at(1);
    let mut c = opened(proxy, server);
    c.push(T0 + 2 * MS, &seg(proxy, server, 101, PSH | ACK, g));
    c.push(T0 + 3 * MS, &seg(proxy, server, 102, PSH | ACK, rest));
    the_request_names_its_origin_from_frame_3(c);
    // The same, the "G" captured last.
    let mut c = opened(proxy, server);
    c.push(T0 + 2 * MS, &seg(proxy, server, 102, PSH | ACK, rest));
    c.push(T0 + 3 * MS, &seg(proxy, server, 101, PSH | ACK, g));
    the_request_names_its_origin_from_frame(c, 4);
    // A one-byte segment ("P", a body's last byte) just before a request of its own: the
    // request is read, not taken as the rest of a "P..." block.
    let mut c = opened(proxy, server);
    c.push(T0 + 2 * MS, &seg(proxy, server, 101, PSH | ACK, b"P"));
    c.push(
        T0 + 3 * MS,
        &seg(proxy, server, 102, PSH | ACK, REQUEST.as_bytes()),
    );
    the_request_names_its_origin_from_frame(c, 4);
    // A "G" that goes on as something else is read as nothing.
    let mut c = opened(proxy, server);
    c.push(T0 + 2 * MS, &seg(proxy, server, 101, PSH | ACK, g));
    let other = b"\x00\x01X-Forwarded-For: 8.8.8.8\r\n\r\n";
    c.push(T0 + 3 * MS, &seg(proxy, server, 102, PSH | ACK, other));
    let d = Dir::new();
    let p = d.write("notg.pcap", &c.finish());
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[("origin", "203.0.113.5"), ("destination", "192.0.2.9")])
    );
}

#[test]
fn a_request_after_a_block_whose_rest_was_not_captured_is_read() {
    // A keep-alive connection whose first header block lost its second segment (the
    // capture dropped it): the block waited for it, and the connection's next requests,
    // one naming the origin, were passed by.
    let (proxy, server) = (PROXY, SERVER);
    let first = "GET /first HTTP/1.1\r\nHost: x\r\nX-Padding: yyyy\r\n\r\n";
    let mut c = opened(proxy, server);
    c.push(
        T0 + 2 * MS,
        &seg(proxy, server, 101, PSH | ACK, &first.as_bytes()[..24]),
    );
    let next = 101 + first.len() as u32;
    c.push(
        T0 + 3 * MS,
        &seg(proxy, server, next, PSH | ACK, REQUEST.as_bytes()),
    );
    the_request_names_its_origin_from_frame(c, 4);
    // A retransmitted start while the block waits for its rest is the same block, located
    // at its first copy.
    let (a, b) = REQUEST.as_bytes().split_at(20);
    let mut c = opened(proxy, server);
    c.push(T0 + 2 * MS, &seg(proxy, server, 101, PSH | ACK, a));
    c.push(T0 + 3 * MS, &seg(proxy, server, 101, PSH | ACK, a));
    c.push(T0 + 4 * MS, &seg(proxy, server, 121, PSH | ACK, b));
    the_request_names_its_origin_from_frame_3(c);
}

/// The gaps that name HTTP header blocks read without their end.
fn cut_gaps(v: &Value) -> Vec<String> {
    v["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["reason"].as_str().unwrap().to_string())
        .filter(|r| r.contains("without its end") || r.contains("without their end"))
        .collect()
}

/// A capture of the proxy's request `req`, its frame cut by a snap length after `keep`
/// bytes of the request.
fn snapped(req: &str, keep: usize) -> Capture {
    let mut c = opened(PROXY, SERVER);
    let whole = seg(PROXY, SERVER, 101, PSH | ACK, req.as_bytes());
    let cut = whole.len() - (req.len() - keep);
    c.push_on(0, T0 + 2 * MS, &whole[..cut], whole.len() as u32);
    c
}

#[test]
fn a_header_block_cut_before_its_end_names_no_address_from_a_line_cut_short() {
    // The snap length cut the request inside its X-Forwarded-For address: "8.8.8.8" of
    // "8.8.8.88" was read as the origin, a wrong hop. The cut line is not read, and the
    // report says the block was read without its end.
    let req = "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 8.8.8.88\r\n\r\n";
    let keep = req.find("8.8.8.88").unwrap() + "8.8.8.8".len();
    let d = Dir::new();
    let p = d.write("snapped.pcap", &snapped(req, keep).finish());
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        path(&v),
        pairs(&[("origin", "203.0.113.5"), ("destination", "192.0.2.9")])
    );
    let gaps = cut_gaps(&v);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(
        gaps[0].contains("the request the origin's side sent at frame 3 of ")
            && gaps[0].contains("snapped.pcap (vantage point 0; the capture's snap length"),
        "{gaps:?}"
    );
    // Cut inside the line's second address: the first, whole, is read; the cut one is not.
    // More entries may have followed the first, so no entry is taken as the proxy's own.
    let req = "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 8.8.8.8, 10.3.3.3\r\n\r\n";
    let keep = req.find("10.3.3.3").unwrap() + "10.3.3".len();
    let p = d.write("second.pcap", &snapped(req, keep).finish());
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    through_the_proxy(&v);
    let origin = &v["hops"][0];
    assert_eq!(
        origin["flags"],
        serde_json::json!(["unverified"]),
        "{origin}"
    );
    let showed = origin["evidence"][0]["showed"].as_str().unwrap();
    assert!(
        showed.starts_with("X-Forwarded-For entry 1 of the 1 read: "),
        "{showed}"
    );
    assert_eq!(cut_gaps(&v).len(), 1);
    // Cut after the whole X-Forwarded-For line: its origin is read, and its evidence says
    // a header after it was not.
    let req = "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 8.8.8.8\r\nVia: 1.1 p\r\n\r\n";
    let keep = req.find("Via").unwrap() + 2;
    let p = d.write("after.pcap", &snapped(req, keep).finish());
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    through_the_proxy(&v);
    let proxy = &v["hops"][1]["evidence"][1]["showed"];
    assert!(
        proxy
            .as_str()
            .unwrap()
            .contains("its header block was read without its end (the capture's snap length"),
        "{proxy}"
    );
    assert_eq!(cut_gaps(&v).len(), 1);
    // The whole block: no such gap.
    let p = d.write("whole.pcap", &snapped(req, req.len()).finish());
    let (_, v, _) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    through_the_proxy(&v);
    assert!(cut_gaps(&v).is_empty());
    // Six requests of one connection, each cut: one gap, the first four named.
    let mut c = opened(PROXY, SERVER);
    for i in 0..6u32 {
        let whole = seg(
            PROXY,
            SERVER,
            101 + i * req.len() as u32,
            PSH | ACK,
            req.as_bytes(),
        );
        let at = T0 + (2 + i64::from(i)) * MS;
        c.push_on(0, at, &whole[..whole.len() - 10], whole.len() as u32);
    }
    let p = d.write("six.pcap", &c.finish());
    let (_, v, _) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    let gaps = cut_gaps(&v);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(
        gaps[0].starts_with("6 HTTP header blocks of the communication were read without")
            && gaps[0].contains("at frame 6 of ")
            && !gaps[0].contains("at frame 7 of ")
            && gaps[0].ends_with("; and 2 more"),
        "{gaps:?}"
    );
}

#[test]
fn a_header_block_whose_rest_was_not_captured_is_named_in_a_gap() {
    // The block's second segment never came: the request is read as far as it got.
    let (a, _) = REQUEST.as_bytes().split_at(20);
    let mut c = opened(PROXY, SERVER);
    c.push(T0 + 2 * MS, &seg(PROXY, SERVER, 101, PSH | ACK, a));
    let d = Dir::new();
    let p = d.write("lost.pcap", &c.finish());
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    let gaps = cut_gaps(&v);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0].contains("was not captured"), "{gaps:?}");
    // Another protocol's "GET key" line is not an HTTP block.
    let mut c = opened(PROXY, SERVER);
    c.push(
        T0 + 2 * MS,
        &seg(PROXY, SERVER, 101, PSH | ACK, b"GET key\r\n"),
    );
    let p = d.write("other.pcap", &c.finish());
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    assert!(cut_gaps(&v).is_empty());
}

#[test]
fn requests_sent_without_waiting_for_answers_are_each_read() {
    // Pipelined: a request without a body, then the request naming its origin, in one
    // segment. Only the first block of a segment was read.
    let first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    let both = format!("{first}{REQUEST}");
    let mut c = opened(PROXY, SERVER);
    c.push(
        T0 + 2 * MS,
        &seg(PROXY, SERVER, 101, PSH | ACK, both.as_bytes()),
    );
    the_request_names_its_origin_from_frame_3(c);
    // After a body of known length, the second request cut across two segments.
    let post = "POST /f HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world";
    let both = format!("{post}{REQUEST}");
    let (a, b) = both.as_bytes().split_at(post.len() + 20);
    let mut c = opened(PROXY, SERVER);
    c.push(T0 + 2 * MS, &seg(PROXY, SERVER, 101, PSH | ACK, a));
    c.push(
        T0 + 3 * MS,
        &seg(PROXY, SERVER, 101 + a.len() as u32, PSH | ACK, b),
    );
    the_request_names_its_origin_from_frame_3(c);
    // After a chunked body in the same segment.
    let post =
        "POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n";
    let both = format!("{post}{REQUEST}");
    let mut c = opened(PROXY, SERVER);
    c.push(
        T0 + 2 * MS,
        &seg(PROXY, SERVER, 101, PSH | ACK, both.as_bytes()),
    );
    the_request_names_its_origin_from_frame_3(c);
    // The first block itself in two segments, the second carrying the next request whole:
    // located at the segment it starts in.
    let both = format!("{first}{REQUEST}");
    let (a, b) = both.as_bytes().split_at(10);
    let mut c = opened(PROXY, SERVER);
    c.push(T0 + 2 * MS, &seg(PROXY, SERVER, 101, PSH | ACK, a));
    c.push(T0 + 3 * MS, &seg(PROXY, SERVER, 111, PSH | ACK, b));
    the_request_names_its_origin_from_frame(c, 4);
    // The same, the second segment captured first (taken from the segments kept).
    let mut c = opened(PROXY, SERVER);
    c.push(T0 + 2 * MS, &seg(PROXY, SERVER, 111, PSH | ACK, b));
    c.push(T0 + 3 * MS, &seg(PROXY, SERVER, 101, PSH | ACK, a));
    the_request_names_its_origin_from_frame_3(c);
}

#[test]
fn a_response_to_head_has_no_body_and_the_response_after_it_is_read() {
    // A response to HEAD carries the Content-Length a GET would have got, and no body: the
    // response after it in the same segment (naming a proxy) was skipped over as its body.
    // In turn: HEAD then GET; GET (with a body) then HEAD then GET; a CONNECT whose 200
    // says Content-Length (a 2xx to CONNECT has no body either) and the same connection's
    // reply after it.
    let (client, server) = (([198, 51, 100, 1], 40000), ([192, 0, 2, 9], 80));
    let via = "HTTP/1.1 200 OK\r\nVia: 1.1 192.0.2.77\r\nContent-Length: 0\r\n\r\n";
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n";
    let get = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let cases = [
        (
            "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            format!("{head}{via}"),
        ),
        (
            "GET /b HTTP/1.1\r\n\r\nHEAD /a HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n".to_string(),
            format!("{get}{head}{via}"),
        ),
        (
            "CONNECT 203.0.113.7:443 HTTP/1.1\r\n\r\n".to_string(),
            format!("HTTP/1.1 200 Connection established\r\nContent-Length: 40\r\n\r\n{via}"),
        ),
    ];
    let d = Dir::new();
    for (i, (requests, responses)) in cases.iter().enumerate() {
        let mut c = Capture::new(Format::Pcap);
        c.push(T0, &seg(client, server, 1, PSH | ACK, requests.as_bytes()));
        c.push(
            T0 + MS,
            &seg(server, client, 1, PSH | ACK, responses.as_bytes()),
        );
        let p = d.write(&format!("head{i}.pcap"), &c.finish());
        let named: Vec<(u64, String)> = gathered(&p, 1 << 30, 1)
            .iter()
            .filter_map(|c| match &c.what {
                hoptrace::hops::ClueKind::Http {
                    request: false,
                    entries,
                    ..
                } if !entries.is_empty() => Some((c.at.frame, entries[0].text.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(named, [(2, "192.0.2.77".to_string())], "case {i}");
    }
}

#[test]
fn a_header_block_of_bare_line_feeds_ends_at_its_empty_line() {
    // A client that ends lines with LF alone: the block's end was not seen, so it waited
    // for more and was read as cut.
    let req = "GET / HTTP/1.0\nHost: x\nX-Forwarded-For: 8.8.8.8\n\n";
    let (a, b) = req.as_bytes().split_at(20);
    let mut c = opened(PROXY, SERVER);
    c.push(T0 + 2 * MS, &seg(PROXY, SERVER, 101, PSH | ACK, a));
    c.push(T0 + 3 * MS, &seg(PROXY, SERVER, 121, PSH | ACK, b));
    let d = Dir::new();
    let p = d.write("lf.pcap", &c.finish());
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    through_the_proxy(&v);
    assert!(cut_gaps(&v).is_empty(), "{:?}", cut_gaps(&v));
}

/// Traces a proxy's request to 192.0.2.9 whose header block (naming 8.8.8.8 in
/// `X-Forwarded-For`) starts at frame 3: the path through the proxy, located there.
fn the_request_names_its_origin_from_frame_3(c: Capture) {
    the_request_names_its_origin_from_frame(c, 3)
}

/// As [`the_request_names_its_origin_from_frame_3`], the block starting at frame `n`.
fn the_request_names_its_origin_from_frame(c: Capture, n: u64) {
    let d = Dir::new();
    let p = d.write("split.pcap", &c.finish());
    let (code, v, err) = trace(&[p], &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    through_the_proxy(&v);
    // Located at the segment that started the block.
    assert_eq!(v["hops"][0]["evidence"][0]["frame"], n);
}

#[test]
fn records_without_a_tuple_are_named_when_nothing_else_matches() {
    // An AWS VPC flow log writes ICMP without type and code (ports 0): no Community ID can
    // be formed, so no communication is traced from it, but the records are named.
    let d = Dir::new();
    let log = d.write(
        "vpc.log",
        b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
          2 123456789010 eni-1 192.0.2.7 198.51.100.9 40000 443 6 10 840 1700000000 1700000060 ACCEPT OK\n\
          2 123456789010 eni-1 203.0.113.12 198.51.100.9 0 0 1 4 336 1700000000 1700000060 ACCEPT OK\n\
          2 123456789010 eni-1 198.51.100.9 203.0.113.12 0 0 1 4 336 1700000001 1700000060 REJECT OK\n",
    );
    let (code, _, err) = trace(
        std::slice::from_ref(&log),
        &["--party", "US", "--ip", "203.0.113.12"],
    );
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("no communication in the evidence matches the query"),
        "{err}"
    );
    assert!(
        err.contains("2 flow records match it but carry no ports"),
        "{err}"
    );
    assert!(
        err.contains("vpc.log line 3\n") && err.contains("vpc.log line 4\n"),
        "{err}"
    );
    // The TCP record has its tuple: traced as usual, nothing named.
    let (code, v, err) = trace(
        std::slice::from_ref(&log),
        &["--party", "US", "--ip", "192.0.2.7"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(path(&v).len(), 2, "{v}");
    // Nothing at all: the plain message.
    let (code, _, err) = trace(&[log], &["--party", "US", "--ip", "203.0.113.99"]);
    assert_eq!(code, 5);
    assert!(!err.contains("flow record"), "{err}");
}

#[test]
fn a_path_of_private_addresses_says_no_provider_is_known() {
    let mut c = Capture::new(Format::Pcap);
    connection(
        &mut c,
        T0,
        ([10, 0, 0, 7], 40000),
        ([10, 0, 0, 9], 443),
        (1, 1),
        b"x",
    );
    let d = Dir::new();
    let p = d.write("lan.pcap", &c.finish());
    for (format, said) in [
        (
            "md",
            "## Providers\n\n- none known: no address on the path is attributed to an AS",
        ),
        (
            "html",
            "<h2>Providers</h2><ul>\n<li>none known: no address on the path",
        ),
    ] {
        let out = hoptrace(&[
            "trace",
            "-q",
            p.to_str().unwrap(),
            "--party",
            "DE",
            "--ip",
            "10.0.0.9",
            "--format",
            format,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let page = text(&out.stdout);
        assert!(page.contains(said), "{format}: {page}");
    }
}

#[test]
fn the_provider_directory_names_each_providers_seat_and_contacts_in_the_report() {
    let d = Dir::new();
    let p = d.write(
        "mx.pcap",
        &smtp(([203, 0, 113, 7], 40000), ([1, 1, 1, 1], 25), RECEIVED),
    );
    // A directory entry whose country of establishment (CH) is not the country the address
    // data gives its addresses (US).
    let dir = d.write(
        "providers.csv",
        b"asn,legal_name,abuse_contact,law_enforcement_contact,contact_24x7,country,source\n\
          19281,Quad9 Foundation,abuse@quad9.example,le@quad9.example,,CH,test entry\n",
    );
    let args = [
        "--party",
        "AU",
        "--requesting",
        "AU",
        "--ip",
        "1.1.1.1",
        "--port",
        "25",
        "--providers",
        dir.to_str().unwrap(),
        "--art29",
    ];
    let (code, v, err) = trace(std::slice::from_ref(&p), &args);
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    let quad9 = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["asn"] == 19281)
        .unwrap();
    assert_eq!(quad9["country"], "US");
    assert_eq!(quad9["directory"]["legal_name"], "Quad9 Foundation");
    assert_eq!(quad9["directory"]["country"], "CH");
    // A provider the directory does not list has no entry.
    assert!(
        v["providers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["asn"] != 19281)
            .all(|p| p["directory"].is_null())
    );
    let said = "provider directory: Quad9 Foundation, established in CH; law-enforcement contact: \
                le@quad9.example; 24/7 contact: not given; abuse contact: abuse@quad9.example \
                (entry's source: test entry; ";
    let seat = "Its country of establishment (CH) is not the country of its addresses on the \
                path (US): the data may be stored in US while the provider is established in \
                CH; which of the two can order its preservation is to be checked.";
    for format in ["md", "html"] {
        let mut a: Vec<&str> = vec!["trace", "-q", p.to_str().unwrap(), "--format", format];
        a.extend(args);
        let out = hoptrace(&a);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let page = text(&out.stdout);
        // In the providers section, and with the custodian of the Art. 29 draft.
        assert_eq!(page.matches(said).count(), 2, "{format}: {page}");
        assert_eq!(page.matches(seat).count(), 2, "{format}: {page}");
    }
}

/// A VPC flow log of `n` conversations, each as two one-way records (pairing is exercised
/// when records are set aside and read back).
fn vpc_conversations(n: u32) -> Vec<u8> {
    let mut s = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    for j in 0..n {
        let (a, ap) = (format!("10.1.{}.{}", j >> 8, j & 255), 40_000 + j % 1000);
        let (b, bp) = (format!("203.0.113.{}", j % 200), 443);
        let t = 1_767_225_600 + j / 30;
        s.push_str(&format!(
            "2 123456789010 eni-0a1 {a} {b} {ap} {bp} 6 3 180 {t} {} ACCEPT OK\n",
            t + 1
        ));
        s.push_str(&format!(
            "2 123456789010 eni-0a1 {b} {a} {bp} {ap} 6 2 120 {t} {} ACCEPT OK\n",
            t + 1
        ));
    }
    s.into_bytes()
}

/// The disclosure (JSON) `trace` gives for `q` in `inputs` read as `read` says (party DE,
/// requesting FR, with Art. 29 drafts, `include` included); one communication must match.
fn disclosure(
    inputs: &[PathBuf],
    read: &hoptrace::FlowsConfig,
    q: &hoptrace::hops::Query,
    include: &str,
) -> Value {
    use hoptrace::pipeline::{TraceConfig, TraceOutcome};
    let cfg = TraceConfig {
        inputs: inputs.to_vec(),
        read: read.clone(),
        query: q.clone(),
        party: "DE".into(),
        requesting: Some("FR".into()),
        request_ref: None,
        art29: true,
        generated_at: None,
        include: hoptrace::report::Include::parse(include).unwrap(),
    };
    let enricher = hoptrace::enrich::Enricher::bundled().unwrap();
    match hoptrace::pipeline::trace(&cfg, &enricher).unwrap().0 {
        TraceOutcome::Found(d) => serde_json::to_value(&d).unwrap(),
        other => panic!("{q:?}: {other:?}"),
    }
}

#[test]
fn a_trace_that_spills_flows_and_records_to_disk_gives_the_report_of_one_held_whole() {
    use hoptrace::hops::{Candidate, Evidence, Query};
    use hoptrace::pipeline::SpillConfig;
    // Short-lived traffic (support::short_lived_traffic: most flows finish while the
    // capture is read) and a flow log as a second vantage point, spilled past a bound of
    // 1,000.
    let d = Dir::new();
    let (cap, mut read) = crate::support::short_lived_traffic();
    let inputs = vec![
        d.write("big.pcap", &cap),
        d.write("vpc.log", &vpc_conversations(2000)),
    ];
    let spill = d.path().join("spill");
    std::fs::create_dir(&spill).unwrap();
    read.clues = true;
    let mut bounded = read.clone();
    bounded.spill = Some(SpillConfig {
        dir: spill.clone(),
        max_flows: 1000,
    });
    // Each input its own vantage point, as trace reads them: held whole and bounded.
    let runs = |cfg: &hoptrace::FlowsConfig| -> Vec<hoptrace::FlowRun> {
        inputs
            .iter()
            .map(|p| {
                let mut c = cfg.clone();
                c.inputs = vec![p.clone()];
                hoptrace::flows(&c).unwrap()
            })
            .collect()
    };
    let (whole, spilled) = (runs(&read), runs(&bounded));
    let held = spilled[0].flows.flows.len() as u64;
    let total = whole[0].flow_count();
    assert_eq!(spilled[0].flow_count(), total);
    assert!(held * 2 < total, "{held} of {total} flows held");
    assert!(spilled[1].records.records.is_empty());
    assert_eq!(spilled[1].spilled.records().len(), 2000);
    let whole_ev: Vec<Evidence<'_>> = whole
        .iter()
        .enumerate()
        .map(|(i, r)| r.evidence(i as u32))
        .collect();
    // What a candidate is, without the positions of its flows in either evidence.
    let seen = |c: &[Candidate]| -> Vec<String> {
        c.iter()
            .map(|c| {
                let obs: Vec<_> = c
                    .observations
                    .iter()
                    .map(|o| (o.vantage, o.input, o.orig, o.resp, o.first, o.last, o.sizes))
                    .collect();
                format!(
                    "{} {:?} {:?} {:?} {:?} {obs:?}",
                    c.community_id, c.orig, c.resp, c.first, c.last
                )
            })
            .collect()
    };
    // Queries for flows spread over the capture (by originator, port and responder, and
    // by the originator alone), and for a conversation of the log.
    let flows = &whole[0].flows.flows;
    let mut queries = Vec::new();
    for f in flows.iter().step_by(flows.len() / 4) {
        let o = f.orig_side();
        let (a, b) = (f.key.endpoint(o), f.key.endpoint(o.other()));
        let mut q = Query::new(a.addr.to_ip());
        queries.push(q.clone());
        q.port = Some(a.port);
        q.peer = Some(b.addr.to_ip());
        queries.push(q);
    }
    let mut q = Query::new("10.1.3.7".parse().unwrap());
    // Conversation 775 (3 * 256 + 7) of the log: port 40,000 + 775.
    q.port = Some(40_775);
    queries.push(q);
    let mut found = 0;
    for q in &queries {
        let kept = hoptrace::pipeline::focus(&spilled, q, &spill).unwrap();
        assert_eq!(kept[0].flows.len() as u64 + kept[0].flows_left, total);
        assert!(
            kept[0].flows.len() * 20 < flows.len(),
            "{} of {} flows kept",
            kept[0].flows.len(),
            flows.len()
        );
        let focus_ev: Vec<Evidence<'_>> = kept
            .iter()
            .enumerate()
            .map(|(i, k)| k.evidence(i as u32))
            .collect();
        let (a, b) = (
            hoptrace::hops::find(&whole_ev, q),
            hoptrace::hops::find(&focus_ev, q),
        );
        assert_eq!(seen(&a), seen(&b), "{q:?}");
        if let ([a], [b]) = (a.as_slice(), b.as_slice()) {
            found += 1;
            let path = |c, e| format!("{:?}", hoptrace::hops::path(c, e));
            assert_eq!(path(a, &whole_ev), path(b, &focus_ev), "{q:?}");
            let others = |c, e| {
                hoptrace::hops::others(c, e)
                    .iter()
                    .map(|o| (o.vantage, o.orig, o.resp, o.first, o.community_id.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(others(a, &whole_ev), others(b, &focus_ev), "{q:?}");
        }
    }
    assert!(
        found >= 9,
        "{found} of {} queries found one communication",
        queries.len()
    );

    // End to end, two of the queries: the same report (JSON) whole and bounded.
    let include = "sizes,layer2,other-communications";
    for q in [&queries[1], queries.last().unwrap()] {
        let report = |read| disclosure(&inputs, read, q, include);
        assert_eq!(report(&read), report(&bounded), "{q:?}");
    }
    drop(spilled);
    assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0);
}

#[test]
fn a_trace_that_sets_header_evidence_aside_gives_the_report_of_one_held_whole() {
    use hoptrace::hops::Query;
    use hoptrace::pipeline::SpillConfig;
    // Many HTTP messages with proxy headers and many traceroutes between other hosts, and
    // in the middle a proxied request whose server ran a traceroute back to the proxy:
    // read in small chunks with a bound of 10, so header evidence is set aside many times
    // before and after the clues the report is built from.
    let mut c = Capture::new(Format::Pcap);
    let mut t = T0;
    let exchange = |c: &mut Capture, t: &mut i64, proxy, server, xff: &str| {
        let req = format!("GET /p HTTP/1.1\r\nHost: h.example\r\nX-Forwarded-For: {xff}\r\n\r\n");
        let resp = "HTTP/1.1 200 OK\r\nVia: 1.1 edge\r\nContent-Length: 0\r\n\r\n";
        for (a, b, seq, flags, data) in [
            (proxy, server, 100, SYN, &b""[..]),
            (server, proxy, 900, SYN | ACK, b""),
            (proxy, server, 101, PSH | ACK, req.as_bytes()),
            (server, proxy, 901, PSH | ACK, resp.as_bytes()),
        ] {
            *t += MS;
            c.push(*t, &seg(a, b, seq, flags, data));
        }
    };
    let others = |c: &mut Capture, t: &mut i64, from: u8| {
        for i in from..from + 100 {
            let proxy = ([203, 0, 113, i], 50_000 + u16::from(i));
            let server = ([192, 0, 2, i % 50 + 1], 80);
            exchange(c, t, proxy, server, &format!("8.8.{i}.{i}"));
            if i % 10 == 0 {
                let routers = [[100, 64, 0, i], [100, 64, 1, i]];
                traceroute(c, *t, [198, 51, 100, i], [203, 0, 113, i], routers);
                *t += 20 * MS;
            }
        }
    };
    others(&mut c, &mut t, 0);
    let (proxy, server) = (([195, 154, 1, 1], 41822), ([85, 214, 132, 117], 80));
    exchange(&mut c, &mut t, proxy, server, "200.160.2.3");
    traceroute(
        &mut c,
        t + 1000 * MS,
        server.0,
        proxy.0,
        [[85, 214, 0, 1], [80, 81, 192, 1]],
    );
    t += 2000 * MS;
    others(&mut c, &mut t, 100);
    let d = Dir::new();
    let input = d.write("proxied.pcap", &c.finish());
    let spill = d.path().join("spill");
    std::fs::create_dir(&spill).unwrap();
    let mut read = hoptrace::FlowsConfig::new(vec![input.clone()]);
    read.chunk_bytes = 16 * 1024;
    read.clues = true;
    read.clue_content = true;
    let mut bounded = read.clone();
    bounded.spill = Some(SpillConfig {
        dir: spill.clone(),
        max_flows: 10,
    });
    let whole = hoptrace::flows(&read).unwrap();
    let run = hoptrace::flows(&bounded).unwrap();
    let total = whole.clues.len() as u64;
    assert!(total > 400, "{total} clues");
    let aside = run.spilled.clue_count();
    assert!(aside * 2 > total, "{aside} of {total} clues set aside");
    assert_eq!(aside + run.clues.len() as u64, total);

    let mut by_server = Query::new("85.214.132.117".parse().unwrap());
    by_server.port = Some(80);
    let mut by_proxy = Query::new("195.154.1.1".parse().unwrap());
    by_proxy.proto = Some(hoptrace::model::Proto::UDP);
    for q in [&by_server, &by_proxy] {
        let kept = hoptrace::pipeline::focus(std::slice::from_ref(&run), q, &spill).unwrap();
        let k = &kept[0];
        assert_eq!(k.clues.len() as u64 + k.clues_left, total, "{q:?}");
        assert!(k.clues.len() < 40, "{} clues kept for {q:?}", k.clues.len());
    }
    let input = [input];
    let report = |read, q| disclosure(&input, read, q, "names,urls,payload,sizes");
    // The request: its origin from X-Forwarded-For, the traceroute's routers, the
    // responder a proxy by its response's Via, the URL.
    let v = report(&bounded, &by_server);
    assert_eq!(
        path(&v),
        pairs(&[
            ("origin", "200.160.2.3"),
            ("proxy", "195.154.1.1"),
            ("router", "80.81.192.1"),
            ("router", "85.214.0.1"),
            ("proxy", "85.214.132.117"),
        ])
    );
    assert!(v.to_string().contains("GET /p HTTP/1.1"));
    assert_eq!(v, report(&read, &by_server));
    // The traceroute itself, asked about by its destination.
    let v = report(&bounded, &by_proxy);
    assert_eq!(v["communication"]["traceroute_probes"], 9);
    assert_eq!(v, report(&read, &by_proxy));
    drop(run);
    assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0);
}

#[test]
fn a_keep_alive_connection_of_many_proxied_requests_names_every_origin_once() {
    // One connection from a proxy carrying 300 requests, each naming its own client (a
    // reverse proxy's keep-alive connection to the server), one of them twice.
    let proxy = ([203, 0, 113, 5], 51000);
    let server = ([192, 0, 2, 9], 80);
    let mut c = opened(proxy, server);
    let mut seq = 101u32;
    for i in 0..301u32 {
        let client = if i == 300 { 7 } else { i };
        let req = format!(
            "GET /{i} HTTP/1.1\r\nHost: h.example\r\nX-Forwarded-For: 8.8.{}.{}\r\n\r\n",
            client / 256,
            client % 256
        );
        let t = T0 + (2 + i64::from(i)) * MS;
        c.push(t, &seg(proxy, server, seq, PSH | ACK, req.as_bytes()));
        seq += req.len() as u32;
    }
    let d = Dir::new();
    let p = d.write("keepalive.pcap", &c.finish());
    let (code, v, err) = trace(
        std::slice::from_ref(&p),
        &["--party", "AU", "--ip", "192.0.2.9"],
    );
    assert_eq!(code, 0, "{err}");
    check_schema(&v);
    let hops = path(&v);
    assert_eq!(hops.len(), 302);
    assert!(hops[..300].iter().all(|(role, _)| role == "origin"));
    let mut origins: Vec<&str> = hops[..300].iter().map(|(_, ip)| ip.as_str()).collect();
    origins.sort_unstable();
    origins.dedup();
    assert_eq!(origins.len(), 300, "each origin once");
    assert_eq!(
        hops[300..],
        pairs(&[("proxy", "203.0.113.5"), ("destination", "192.0.2.9")])
    );
    // The origin named twice has both requests' headers as its evidence.
    let twice = v["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["ip"] == "8.8.0.7")
        .unwrap();
    assert_eq!(twice["evidence"].as_array().unwrap().len(), 2);
    // The proxy: its packets and one header per request.
    assert_eq!(v["hops"][300]["evidence"].as_array().unwrap().len(), 302);
    // Each origin's gap names the proxy's access log (the next hop that wrote headers).
    let gaps = v["gaps"].as_array().unwrap();
    let named: Vec<&Value> = gaps
        .iter()
        .filter(|g| g["hop_index"].as_u64().is_some_and(|i| i < 300))
        .collect();
    assert_eq!(named.len(), 300);
    for g in named {
        let need = g["record_needed"].as_str().unwrap();
        assert!(
            need.starts_with("the access log of hop 300 (203.0.113.5:51000)"),
            "{need}"
        );
    }
}

#[test]
fn a_query_matching_thousands_of_communications_joins_each_nat_view_and_folds_each_error() {
    use hoptrace::hops::{Evidence, Query};
    // A DNS server seen inside a NAT (3,000 clients, each its own query size) and outside
    // it (the NAT's one address, a port per client), with a port-unreachable error for
    // every third client inside: each client's two views are one communication, and the
    // errors answer them rather than being communications of their own.
    let server = ([192, 0, 2, 1], 53);
    let (mut inside, mut outside) = (Capture::new(Format::Pcap), Capture::new(Format::Pcap));
    for i in 0..3000u16 {
        let t = T0 + i64::from(i) * MS;
        let client = ([10, 0, (i / 256) as u8, (i % 256) as u8], 40_000 + i);
        let query = vec![b'q'; usize::from(i) + 1];
        let probe = Pkt::udp4_ip(client, server, &query);
        inside.push(t, &pkt::eth(num::IPV4, &probe));
        outside.push(
            t + 3_000,
            &Pkt::udp4(([198, 51, 100, 7], 1024 + i), server, &query),
        );
        if i % 3 == 0 {
            let icmp = pkt::icmp4(3, 3, [0; 4], &probe[..28]);
            let error = pkt::ipv4(server.0, client.0, 1, &icmp);
            inside.push(t + 1_000, &pkt::eth(num::IPV4, &error));
        }
    }
    let d = Dir::new();
    let paths = [
        d.write("inside.pcap", &inside.finish()),
        d.write("outside.pcap", &outside.finish()),
    ];
    let mut cfg = hoptrace::FlowsConfig::new(Vec::new());
    cfg.clues = true;
    let runs: Vec<hoptrace::FlowRun> = paths
        .iter()
        .map(|p| {
            cfg.inputs = vec![p.clone()];
            hoptrace::flows(&cfg).unwrap()
        })
        .collect();
    let evidence: Vec<Evidence<'_>> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| r.evidence(i as u32))
        .collect();
    let found = hoptrace::hops::find(&evidence, &Query::new("192.0.2.1".parse().unwrap()));
    assert_eq!(found.len(), 3000);
    for (i, c) in found.iter().enumerate() {
        assert_eq!(
            c.orig.0.to_string(),
            format!("10.0.{}.{}", i / 256, i % 256)
        );
        let nat = c.nat.as_ref().expect("each client's outside view joined");
        assert_eq!(nat.outside.1, 1024 + i as u16);
        assert_eq!(c.vantage_points().len(), 2);
        assert!(!c.traceroute);
    }
}

#[test]
fn header_evidence_is_the_same_wherever_the_capture_is_cut_into_chunks() {
    // 300 requests, each on its own connection with its header block in two segments (the
    // second naming the request's origin): chunk edges fall between the two segments of
    // some block whatever the chunk size, and the block used to be read as far as its own
    // chunk went, without its X-Forwarded-For.
    // Then the same with a second request pipelined after each block, in its second
    // segment: located at that segment's frame wherever the chunks' edges fall. Then with
    // each block's second segment captured before its first: a chunk edge between the two
    // left the block waiting in the later chunk for a segment the chunk before had kept,
    // and it was read without its X-Forwarded-For.
    let server = ([192, 0, 2, 9], 80);
    for (pipelined, swapped) in [(false, false), (true, false), (false, true)] {
        let mut c = Capture::new(Format::Pcap);
        let pad = "a".repeat(300);
        for i in 0..300u32 {
            let client = ([203, 0, 113, 5], 20_000 + i as u16);
            let mut req = format!(
                "GET /{i} HTTP/1.1\r\nHost: x\r\nCookie: {pad}\r\nX-Forwarded-For: 8.8.{}.{}\r\n\r\n",
                i / 250,
                i % 250
            );
            if pipelined {
                req.push_str(&format!(
                    "GET /b HTTP/1.1\r\nX-Forwarded-For: 9.9.{}.{}\r\n\r\n",
                    i / 250,
                    i % 250
                ));
            }
            let (a, b) = req.as_bytes().split_at(200);
            let t = T0 + i64::from(i) * MS;
            let (a, b) = (
                seg(client, server, 101, PSH | ACK, a),
                seg(client, server, 101 + a.len() as u32, PSH | ACK, b),
            );
            let (first, second) = if swapped { (b, a) } else { (a, b) };
            c.push(t, &first);
            c.push(t + 1, &second);
        }
        let d = Dir::new();
        let p = d.write("requests.pcap", &c.finish());
        let whole = the_same_in_any_chunks(&p);
        assert_eq!(whole.len(), if pipelined { 600 } else { 300 });
        assert!(
            whole.iter().all(|c| matches!(
                &c.what,
                hoptrace::hops::ClueKind::Http { entries, .. } if entries.len() == 1
            )),
            "every request names its origin"
        );
        if pipelined {
            // Request i's second message is in frame 2i + 2.
            let frames: Vec<u64> = whole
                .iter()
                .skip(1)
                .step_by(2)
                .map(|c| c.at.frame)
                .collect();
            assert_eq!(frames, (1..=300).map(|i| 2 * i).collect::<Vec<u64>>());
        }
    }
}

/// The header evidence `flows` gathers from `p`, read in chunks of `chunk` bytes by
/// `threads` threads.
fn gathered(p: &std::path::Path, chunk: usize, threads: usize) -> Vec<hoptrace::hops::Clue> {
    let mut cfg = hoptrace::FlowsConfig::new(vec![p.to_path_buf()]);
    cfg.clues = true;
    cfg.chunk_bytes = chunk;
    cfg.threads = threads;
    hoptrace::flows(&cfg).unwrap().clues
}

/// The header evidence of `p` read whole, after checking that reading it in chunks of
/// several sizes (their edges in other places) by several threads gives the same.
fn the_same_in_any_chunks(p: &std::path::Path) -> Vec<hoptrace::hops::Clue> {
    let whole = gathered(p, 1 << 30, 1);
    for (chunk, threads) in [
        (64 * 1024, 2),
        (70_000, 1),
        (100_000, 2),
        (131_072, 3),
        (1_500, 2),
        (333, 1),
    ] {
        let got = gathered(p, chunk, threads);
        assert!(
            got == whole,
            "{p:?} in {chunk}-byte chunks: the header evidence differs ({} clues, not {})",
            got.len(),
            whole.len()
        );
    }
    whole
}

#[test]
fn a_connect_is_paired_with_its_reply_wherever_the_capture_is_cut_into_chunks() {
    // 600 connections to a forward proxy, each a CONNECT and the proxy's reply in the next
    // frame (200 and 407 in turn, naming no proxy): chunk edges fall between a CONNECT and
    // its reply whatever the chunk size, and the reply was then not kept (nothing in it
    // but the status, and the chunk that read it had not seen the CONNECT). Around them, a
    // CONNECT in the first frame whose reply is the last, several chunks later; and one
    // whose reply came 301 s after it, too late to be taken for it (whole or in chunks).
    let proxy = ([192, 0, 2, 80], 3128);
    let mut c = Capture::new(Format::Pcap);
    let pad = "a".repeat(400);
    let (slow, late) = (([198, 51, 100, 2], 19_999), ([198, 51, 100, 3], 19_998));
    let connect = b"CONNECT 203.0.113.250:443 HTTP/1.1\r\n\r\n";
    c.push(T0 - 2 * MS, &seg(late, proxy, 1, PSH | ACK, connect));
    c.push(T0 - MS, &seg(slow, proxy, 1, PSH | ACK, connect));
    for i in 0..600u32 {
        let client = ([198, 51, 100, 1], 20_000 + i as u16);
        let connect = format!(
            "CONNECT 203.0.113.{}:443 HTTP/1.1\r\nUser-Agent: {pad}\r\n\r\n",
            i % 250
        );
        let reply: &[u8] = if i % 2 == 0 {
            b"HTTP/1.1 200 Connection established\r\n\r\n"
        } else {
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
        };
        let t = T0 + i64::from(i) * MS;
        c.push(t, &seg(client, proxy, 1, PSH | ACK, connect.as_bytes()));
        c.push(t + 1, &seg(proxy, client, 1, PSH | ACK, reply));
    }
    let refused = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    c.push(T0 + 600 * MS, &seg(proxy, slow, 1, PSH | ACK, refused));
    c.push(T0 + 301_000 * MS, &seg(proxy, late, 1, PSH | ACK, refused));
    let d = Dir::new();
    let p = d.write("connects.pcap", &c.finish());
    let whole = the_same_in_any_chunks(&p);
    let statuses: Vec<Option<u16>> = whole
        .iter()
        .filter_map(|c| match c.what {
            hoptrace::hops::ClueKind::Http {
                request: false,
                status,
                ..
            } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(whole.len(), 1203);
    assert_eq!(
        statuses,
        (0..601)
            .map(|i| Some(if i == 600 {
                403
            } else if i % 2 == 0 {
                200
            } else {
                407
            }))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        whole[1202].dst,
        (hoptrace::model::Addr::v4([198, 51, 100, 2]), 19_999)
    );
}

#[test]
fn a_directory_is_one_vantage_point_its_files_read_in_numbered_order() {
    // A rotated capture: the connection opens in the second file and its request, header
    // block across the two segments, ends in the tenth.
    let (proxy, server) = (PROXY, SERVER);
    let (a, b) = REQUEST.as_bytes().split_at(20);
    let mut first = opened(proxy, server);
    first.push(T0 + 2 * MS, &seg(proxy, server, 101, PSH | ACK, a));
    let mut second = Capture::new(Format::Pcap);
    second.push(
        T0 + 3 * MS,
        &seg(proxy, server, 101 + a.len() as u32, PSH | ACK, b),
    );
    let d = Dir::new();
    let dir = d.path().join("rotated");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("cap.pcap2"), first.finish()).unwrap();
    std::fs::write(dir.join("cap.pcap10"), second.finish()).unwrap();
    std::fs::write(dir.join(".notes"), b"not evidence").unwrap();
    let (code, v, err) = trace(
        std::slice::from_ref(&dir),
        &["--party", "AU", "--ip", "192.0.2.9"],
    );
    assert_eq!(code, 0, "{err}");
    through_the_proxy(&v);
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().rsplit('/').next().unwrap().to_string())
            .collect()
    };
    let vps = v["vantage_points"].as_array().unwrap();
    assert_eq!(vps.len(), 1);
    assert_eq!(names(&vps[0]["inputs"]), ["cap.pcap2", "cap.pcap10"]);
    let inputs = v["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[1]["sha256"].as_str().unwrap().len(), 64);
    // The same files given one by one are two vantage points.
    let files = [dir.join("cap.pcap2"), dir.join("cap.pcap10")];
    let (code, v, err) = trace(&files, &["--party", "AU", "--ip", "192.0.2.9"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["vantage_points"].as_array().unwrap().len(), 2);
}
