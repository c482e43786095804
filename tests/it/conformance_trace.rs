//! `trace` on the shared captures against what other tools read from them: the SMTP
//! captures' relay chains against Zeek's `smtp.log` path (Zeek's rule applied to the
//! Received fields tshark decodes), the proxy chains against tshark's HTTP fields, the
//! traceroute's routers against tcpdump's decode, and the ICMP quotes against Zeek's ICMP
//! events.

use crate::conformance::read_zeek_log;
use crate::support::{peer, shared};
use hoptrace::enrich::Enricher;
use hoptrace::hops::{ClueKind, Query, QueryTime};
use hoptrace::pipeline::{TraceConfig, TraceOutcome, trace};
use hoptrace::report::Disclosure;
use hoptrace::{FlowsConfig, flows};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

const TSHARK: &str = "apt-get install tshark";

/// The one communication `q` names in the file, traced with the bundled data; traced
/// again with spilling on (as the command line reads, the hop search then reads only the
/// evidence that shares an address with what the query matches), the same report.
fn traced(file: &Path, q: Query) -> Disclosure {
    let mut cfg = TraceConfig {
        inputs: vec![file.to_path_buf()],
        read: FlowsConfig::new(Vec::new()),
        query: q,
        party: "US".into(),
        requesting: None,
        request_ref: None,
        art29: false,
        generated_at: None,
        include: hoptrace::report::Include::parse("sizes,other-communications").unwrap(),
    };
    let enricher = Enricher::bundled().unwrap();
    let d = match trace(&cfg, &enricher).unwrap().0 {
        TraceOutcome::Found(d) => *d,
        other => panic!("{}: {other:?}", file.display()),
    };
    let spill = crate::support::Dir::new();
    cfg.read.spill = Some(hoptrace::pipeline::SpillConfig {
        dir: spill.path().to_path_buf(),
        max_flows: 1,
    });
    match trace(&cfg, &enricher).unwrap().0 {
        TraceOutcome::Found(b) => assert_eq!(
            serde_json::to_string(&*b).unwrap(),
            serde_json::to_string(&d).unwrap(),
            "{}",
            file.display()
        ),
        other => panic!("{} with spilling on: {other:?}", file.display()),
    }
    d
}

fn ips(d: &Disclosure) -> Vec<String> {
    d.hops.iter().filter_map(|h| h.ip.clone()).collect()
}

fn roles(d: &Disclosure) -> Vec<(&str, String)> {
    d.hops
        .iter()
        .map(|h| (h.role, h.ip.clone().unwrap_or_default()))
        .collect()
}

/// tshark's fields of the frames a display filter selects, one row per frame.
fn tshark(file: &Path, filter: &str, fields: &[&str]) -> Option<Vec<Vec<String>>> {
    let mut args = vec!["-r", file.to_str().unwrap(), "-Y", filter, "-T", "fields"];
    for f in fields {
        args.extend(["-e", f]);
    }
    args.extend(["-E", "occurrence=a", "-E", "aggregator=|"]);
    let out = peer("tshark", TSHARK, &args)?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect(),
    )
}

/// Zeek's `smtp.log` path for one mail: the server, the client, then the first bracketed
/// address of each Received field in header order (Zeek's `smtp/main.zeek` splits the
/// field on `[` and `]` and keeps the piece that is a valid address).
fn zeek_path(server: &str, client: &str, received: &str) -> Vec<String> {
    let mut path = vec![server.to_string(), client.to_string()];
    for field in received.split('|') {
        let parts: Vec<&str> = field.split(['[', ']']).collect();
        if let Some(ip) = parts.get(1).filter(|p| p.parse::<IpAddr>().is_ok()) {
            path.push(ip.to_string());
        }
    }
    path
}

fn smtp_case(rel: &str) -> Option<(PathBuf, Vec<String>)> {
    let file = shared(rel)?;
    let rows = tshark(&file, "imf", &["ip.src", "ip.dst", "imf.received"])?;
    assert_eq!(rows.len(), 1, "one mail in {rel}");
    let r = &rows[0];
    Some((file.clone(), zeek_path(&r[1], &r[0], &r[2])))
}

fn query_to(server: &str, port: u16) -> Query {
    let mut q = Query::new(server.parse().unwrap());
    q.port = Some(port);
    q
}

#[test]
fn a_mail_with_conventional_received_fields_gives_zeeks_path_reversed() {
    let Some((file, zeek)) = smtp_case("captures/zeek-smtp-multi-addr/smtp-multi-addr.pcap") else {
        return;
    };
    // Zeek: server, client, then 127.0.0.1 (the submit host relaying to itself).
    assert_eq!(zeek, ["188.184.36.24", "188.184.129.157", "127.0.0.1"]);
    let d = traced(&file, query_to(&zeek[0], 25));
    let mut ours = ips(&d);
    ours.reverse();
    assert_eq!(ours, zeek);
    assert_eq!(
        roles(&d),
        [
            ("origin", "127.0.0.1".into()),
            ("relay", "188.184.129.157".into()),
            ("destination", "188.184.36.24".into()),
        ]
    );
    // The field without an address (a local submission) adds no hop; the one with an
    // address keeps its date with its offset.
    let ev = &d.hops[0].evidence[0].showed;
    assert!(ev.contains("Tue, 8 Dec 2015 22:30:01 +0100"), "{ev}");
    assert_eq!(d.hops[0].first_seen, "2015-12-08T21:30:01.000000000Z");
}

#[test]
fn a_mail_whose_fields_read_top_down_gives_zeeks_addresses_in_relay_order() {
    let Some((file, zeek)) = smtp_case("captures/suricata-smtp-received/smtp-received.pcap") else {
        return;
    };
    assert_eq!(
        zeek,
        ["2.2.2.2", "1.1.1.1", "10.0.0.1", "10.0.0.10", "10.0.0.20"]
    );
    let d = traced(&file, query_to(&zeek[0], 25));
    // The same addresses as Zeek's path. Zeek lists the fields in header order; this
    // generated mail writes them oldest first (each relay's name is the next field's
    // sender, the dates rise downwards), so relay order is header order here.
    let ours = ips(&d);
    let mut a = ours.clone();
    let mut b = zeek.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(
        ours,
        [&zeek[2], &zeek[3], &zeek[4], &zeek[1], &zeek[0]].map(String::as_str)
    );
    assert_eq!(d.hops[3].role, "relay");
    assert!(
        d.hops[0].evidence[0]
            .showed
            .contains("as the relays' names and dates link them")
    );
}

#[test]
fn the_x_forwarded_for_capture_gives_tsharks_chain_before_the_connecting_proxy() {
    let Some(file) = shared("captures/suricata-http-xff/http-xff.pcap") else {
        return;
    };
    let Some(rows) = tshark(
        &file,
        "http.x_forwarded_for",
        &["ip.src", "ip.dst", "http.x_forwarded_for"],
    ) else {
        return;
    };
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    let mut want: Vec<String> = r[2].split(',').map(|s| s.trim().to_string()).collect();
    assert_eq!(want, ["10.2.2.2", "10.3.3.3"]);
    want.push(r[0].clone());
    want.push(r[1].clone());
    let d = traced(&file, query_to(&r[1], 80));
    assert_eq!(ips(&d), want);
    let got: Vec<&str> = d.hops.iter().map(|h| h.role).collect();
    assert_eq!(got, ["origin", "proxy", "proxy", "destination"]);
    // Suricata's reverse mode reports the last entry as the client: the proxy that the
    // connecting proxy served, here hop 1 (written by the node seen, so not unverified).
    assert_eq!(d.hops[1].ip.as_deref(), Some("10.3.3.3"));
    assert!(!d.hops[1].flags.contains(&"unverified"));
    assert!(d.hops[0].flags.contains(&"unverified"));
}

#[test]
fn the_wikipedia_capture_response_via_makes_the_server_a_proxy() {
    let Some(file) = shared("captures/zeek-wikipedia/wikipedia.pcap") else {
        return;
    };
    let Some(rows) = tshark(
        &file,
        "http.response.line contains \"Via:\"",
        &["ip.src", "ip.dst", "tcp.dstport", "http.response.line"],
    ) else {
        return;
    };
    // tshark: one response carries `Via: 1.1 varnish`.
    assert_eq!(rows.len(), 1);
    let (server, client) = (&rows[0][0], &rows[0][1]);
    let port: u16 = rows[0][2].parse().unwrap();
    assert!(rows[0][3].contains("Via: 1.1 varnish"), "{:?}", rows[0]);
    // Named by the server's address, and by the client's address and port.
    let mut q = Query::new(server.parse().unwrap());
    q.peer = Some(client.parse().unwrap());
    q.port = Some(80);
    let mut q2 = Query::new(client.parse().unwrap());
    q2.peer = Some(server.parse().unwrap());
    q2.port = Some(port);
    for q in [q, q2] {
        let d = traced(&file, q);
        assert_eq!(
            roles(&d),
            [("origin", client.clone()), ("proxy", server.clone())]
        );
        assert!(
            d.gaps
                .iter()
                .any(|g| g.hop_index.is_none() && g.reason.contains("the server behind the proxy"))
        );
        // The proxy's name stays out without --include names.
        assert!(!serde_json::to_string(&d).unwrap().contains("varnish"));
    }
}

#[test]
fn the_http_connect_capture_makes_the_responder_the_proxy_zeeks_tunnel_log_names() {
    let dir = "captures/zeek-null-http-connect";
    let (Some(file), Some(tunnel)) = (
        shared(&format!("{dir}/connect-with-header.pcap")),
        shared(&format!("{dir}/tunnel.log")),
    ) else {
        return;
    };
    // Zeek's tunnel.log: an HTTP tunnel (CONNECT) from the client to the proxy.
    let rows = read_zeek_log(&tunnel);
    let row = &rows[0];
    assert_eq!(row.get("tunnel_type"), "Tunnel::HTTP");
    let (client, proxy) = (row.get("id.orig_h"), row.get("id.resp_h"));
    let port = row.get("id.resp_p").parse::<u16>().unwrap();
    let mut q = Query::new(proxy.parse().unwrap());
    q.port = Some(port);
    let d = traced(&file, q);
    assert_eq!(
        roles(&d),
        [("origin", client.to_string()), ("proxy", proxy.to_string())]
    );
    assert!(
        d.hops[1].evidence.iter().any(|e| e.kind == "proxy_request"
            && e.showed
                .contains("a host given by name, port 443 (HTTP CONNECT)")),
        "{:?}",
        d.hops[1].evidence
    );
    assert!(d.gaps.iter().any(|g| {
        g.hop_index.is_none()
            && g.reason
                .contains("is named only by the host name a request sent to the proxy gave")
    }));
    // The host it named (Zeek's http.log: secure.newegg.com:443) stays out without
    // --include names.
    assert!(!serde_json::to_string(&d).unwrap().contains("newegg"));
    // Zeek's http.log: the CONNECT's status code, the proxy's reply.
    let http = read_zeek_log(&tunnel.with_file_name("http.log"));
    assert_eq!(http[0].get("method"), "CONNECT");
    let replied = format!(
        "with status {}: by its own account it opened the tunnel",
        http[0].get("status_code")
    );
    assert!(
        d.hops[1]
            .evidence
            .iter()
            .any(|e| e.kind == "proxy_reply" && e.showed.contains(&replied)),
        "{replied}: {:?}",
        d.hops[1].evidence
    );
    // IPv6 ends with their ports, in brackets (`::1:80` could be read as an address).
    let md = hoptrace::report::disclosure_markdown(&d);
    let line = format!(
        "TCP [{client}]:{} → [{proxy}]:{port} (",
        d.communication.origin.port
    );
    assert!(md.contains(&line), "{line} in {md}");
    assert!(
        md.contains(&format!("- hop 1: [{proxy}]:{port} is a loopback address")),
        "{md}"
    );
}

/// tcpdump's decode of the traceroute: the TTL each probe was sent with (by IP id), and
/// which node answered each probe (by the quoted IP id), in file order.
fn tcpdump_traceroute(out: &str) -> Vec<(u8, String)> {
    let mut sent: Vec<(u32, u8)> = Vec::new();
    let mut answers: Vec<(String, u32)> = Vec::new();
    let lines: Vec<&str> = out.lines().collect();
    let field = |l: &str, key: &str| -> Option<u32> {
        let i = l.find(key)? + key.len();
        l[i..].split([',', ')']).next()?.trim().parse().ok()
    };
    for (i, l) in lines.iter().enumerate() {
        let next = lines.get(i + 1).copied().unwrap_or("");
        if l.contains("MPLS (label") && next.contains("IP (tos") {
            // A probe: its IP header is on the next line.
            sent.push((
                field(next, "id ").unwrap(),
                field(next, "ttl ").unwrap() as u8,
            ));
        } else if l.contains("ICMP") && !l.contains("IP (tos") {
            // An answer: `A > B: ICMP ...`, the quoted header on the next line.
            let from = l.split_whitespace().next().unwrap().to_string();
            if let Some(id) = field(next, "id ") {
                answers.push((from, id));
            }
        }
    }
    answers
        .into_iter()
        .filter_map(|(from, id)| {
            let ttl = sent.iter().find(|(i, _)| *i == id)?.1;
            Some((ttl, from))
        })
        .collect()
}

#[test]
fn the_mpls_traceroute_gives_tcpdumps_routers_in_ttl_order() {
    let Some(file) = shared("captures/tcpdump-mpls-traceroute/mpls-traceroute.pcap") else {
        return;
    };
    let out =
        std::fs::read_to_string(file.with_file_name("mpls-traceroute.tcpdump-v.out")).unwrap();
    let mut answered = tcpdump_traceroute(&out);
    assert_eq!(answered.len(), 9, "{answered:?}");
    answered.sort();
    answered.dedup();
    // tcpdump: TTL 1 → 10.5.0.1, TTL 2 → 10.4.0.2, TTL 3 → 12.1.1.1 (port unreachable).
    let want: Vec<String> = answered.iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(want, ["10.5.0.1", "10.4.0.2", "12.1.1.1"]);
    let mut q = Query::new("12.1.1.1".parse().unwrap());
    q.at = QueryTime::parse("2004-06-14T12:13:29+02:00");
    let d = traced(&file, q);
    assert_eq!(
        roles(&d),
        [
            ("vantage", "12.4.4.4".into()),
            ("router", want[0].clone()),
            ("router", want[1].clone()),
            ("destination", want[2].clone()),
        ]
    );
    assert_eq!(d.communication.traceroute_probes, Some(9));
    // Each router's evidence is the three replies to its TTL's probes.
    assert_eq!(d.hops[1].evidence.len(), 3);
    assert!(
        d.hops[1]
            .evidence
            .iter()
            .all(|e| e.kind == "traceroute" && e.showed.contains("sent with TTL 1"))
    );
    // tcpdump: each router's reply carries an MPLS Stack Entry Object (RFC 4950) with the
    // label the probe was switched on; by frame number.
    let mut frame = 0u64;
    let mut labels: Vec<(u64, String)> = Vec::new();
    let lines: Vec<&str> = out.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let mut words = l.split_whitespace();
        if let (Some(n), Some(date)) = (words.next(), words.next())
            && date.starts_with("2004-")
        {
            frame = n.parse().unwrap();
        }
        if l.contains("MPLS Stack Entry Object")
            && let Some(label) = lines
                .get(i + 1)
                .and_then(|n| n.trim().strip_prefix("label "))
                .and_then(|n| n.split(',').next())
        {
            labels.push((frame, label.to_string()));
        }
    }
    assert_eq!(labels.len(), 6, "{labels:?}");
    for (f, label) in &labels {
        let e = d.hops[1..3]
            .iter()
            .flat_map(|h| &h.evidence)
            .find(|e| e.frame == *f)
            .unwrap();
        let want = format!("MPLS label stack {label} (RFC 4950)");
        assert!(e.showed.contains(&want), "frame {f}: {}", e.showed);
    }
}

#[test]
fn icmp_quotes_match_zeeks_icmp_context() {
    for (pcap, events) in [
        ("icmp-timeexceeded.pcap", "icmp-events.output"),
        ("icmp6-timeexceeded.pcap", "icmp6-events.output"),
    ] {
        let Some(dir) = shared("captures/zeek-icmp-time-exceeded") else {
            return;
        };
        let mut cfg = FlowsConfig::new(vec![dir.join(pcap)]);
        cfg.clues = true;
        let run = flows(&cfg).unwrap();
        let zeek = std::fs::read_to_string(dir.join(events)).unwrap();
        let errors: Vec<_> = run
            .clues
            .iter()
            .filter_map(|c| match c.what {
                ClueKind::IcmpError { quote, .. } => Some((c, quote)),
                _ => None,
            })
            .collect();
        assert_eq!(errors.len(), 1, "{pcap}");
        for (c, q) in errors {
            // Zeek: `conn_id: [orig_h=A, ...` then `icmp_context: [id=[orig_h=X,
            // orig_p=N/udp, resp_h=Y, resp_p=M/udp`.
            let want = format!(
                "icmp_context: [id=[orig_h={}, orig_p={}/udp, resp_h={}, resp_p={}/udp",
                q.src, q.sport, q.dst, q.dport
            );
            let conn = format!("conn_id: [orig_h={}, ", c.src.0);
            let lines: Vec<&str> = zeek.lines().collect();
            assert!(
                lines
                    .windows(3)
                    .any(|w| w[0].contains(&conn) && w[2].contains(&want)),
                "{pcap}: {want} after {conn} not in Zeek's events"
            );
        }
    }
}
