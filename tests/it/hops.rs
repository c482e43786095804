//! Finding the communication a request names: matching, grouping across vantage points,
//! clock offsets, ambiguity.

use crate::support::Dir;
use hoptrace::flow::tcp::{ACK, SYN};
use hoptrace::hops::{Evidence, Query, QueryTime, find};
use hoptrace::model::Proto;
use hoptrace::synth::netflow::{V5Record, v5};
use hoptrace::synth::{Capture, Format, Pkt};
use hoptrace::{FlowRun, FlowsConfig, flows};

const T0: i64 = 1_700_000_000;
const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [192, 0, 2, 9];

fn handshake(c: &mut Capture, t: i64, client: ([u8; 4], u16), server: ([u8; 4], u16)) {
    c.push(t, &Pkt::tcp4(client, server, SYN, b""));
    c.push(t + 10_000_000, &Pkt::tcp4(server, client, SYN | ACK, b""));
    c.push(t + 20_000_000, &Pkt::tcp4(client, server, ACK, b"hello"));
}

/// One run per file: each file is its own vantage point.
fn runs(d: &Dir, files: &[(&str, Vec<u8>)]) -> Vec<FlowRun> {
    files
        .iter()
        .map(|(n, b)| flows(&FlowsConfig::new(vec![d.write(n, b)])).unwrap())
        .collect()
}

fn evidence(runs: &[FlowRun]) -> Vec<Evidence<'_>> {
    runs.iter()
        .enumerate()
        .map(|(i, r)| r.evidence(i as u32))
        .collect()
}

fn query(ip: [u8; 4]) -> Query {
    Query::new(std::net::IpAddr::from(ip))
}

#[test]
fn the_same_communication_in_two_captures_is_one_candidate_with_their_clock_offset() {
    let d = Dir::new();
    let mut inside = Capture::new(Format::Pcap);
    handshake(
        &mut inside,
        T0 * 1_000_000_000,
        (CLIENT, 40000),
        (SERVER, 443),
    );
    // The second vantage point's clock runs 2.5 s ahead.
    let mut outside = Capture::new(Format::Pcap);
    handshake(
        &mut outside,
        T0 * 1_000_000_000 + 2_500_000_000,
        (CLIENT, 40000),
        (SERVER, 443),
    );
    let r = runs(
        &d,
        &[
            ("inside.pcap", inside.finish()),
            ("outside.pcap", outside.finish()),
        ],
    );
    let mut q = query(SERVER);
    q.port = Some(443);
    q.proto = Some(Proto::TCP);
    q.at = QueryTime::parse("2023-11-14T23:13:21+01:00");
    let c = find(&evidence(&r), &q);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].observations.len(), 2);
    assert_eq!(c[0].orig.1, 40000, "the SYN sender originates");
    assert_eq!(c[0].vantage_points(), vec![(0, 0.0), (1, 2.5)]);
    assert_eq!(
        q.at.as_ref().unwrap().utc.0,
        (T0 + 1) * 1_000_000_000,
        "offset converted to UTC"
    );
}

#[test]
fn two_peers_at_the_same_time_are_an_ambiguous_query() {
    let d = Dir::new();
    let mut c = Capture::new(Format::Pcap);
    handshake(&mut c, T0 * 1_000_000_000, (CLIENT, 40000), (SERVER, 443));
    handshake(
        &mut c,
        T0 * 1_000_000_000 + 1,
        (CLIENT, 40001),
        ([198, 51, 100, 7], 443),
    );
    let r = runs(&d, &[("c.pcap", c.finish())]);
    let mut q = query(CLIENT);
    q.at = QueryTime::parse("2023-11-14T22:13:20Z");
    let found = find(&evidence(&r), &q);
    assert_eq!(found.len(), 2);
    assert_ne!(found[0].community_id, found[1].community_id);
    // Naming the peer, or the Community ID, settles it.
    q.peer = Some(std::net::IpAddr::from(SERVER));
    assert_eq!(find(&evidence(&r), &q).len(), 1);
    let mut by_id = query(CLIENT);
    by_id.community_id = Some(found[1].community_id.clone());
    let one = find(&evidence(&r), &by_id);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].resp.1, 443);
}

#[test]
fn the_window_keeps_a_later_reuse_of_the_same_ports_out() {
    let d = Dir::new();
    let mut c = Capture::new(Format::Pcap);
    handshake(&mut c, T0 * 1_000_000_000, (CLIENT, 40000), (SERVER, 443));
    // The same ports an hour later: another communication.
    handshake(
        &mut c,
        (T0 + 3600) * 1_000_000_000,
        (CLIENT, 40000),
        (SERVER, 443),
    );
    let r = runs(&d, &[("c.pcap", c.finish())]);
    let mut q = query(CLIENT);
    q.port = Some(40000);
    let all = find(&evidence(&r), &q);
    assert_eq!(all.len(), 2, "without a time, both");
    q.at = QueryTime::parse("2023-11-14T23:13:25Z");
    q.window = 60 * 1_000_000_000;
    let found = find(&evidence(&r), &q);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].first.0, (T0 + 3600) * 1_000_000_000);
}

#[test]
fn a_capture_and_a_flow_export_of_one_communication_are_two_vantage_points() {
    let d = Dir::new();
    let mut c = Capture::new(Format::Pcap);
    handshake(&mut c, T0 * 1_000_000_000, (CLIENT, 40000), (SERVER, 443));
    let mut nf = Capture::new(Format::Pcap);
    // Exported 9.5 s after the flow started (first packet at 500 ms of a 10 s uptime).
    let d5 = v5(
        10_000,
        (T0 + 9) as u32,
        &[V5Record::tcp(CLIENT, 40000, SERVER, 443)],
    );
    nf.push(
        (T0 + 9) * 1_000_000_000,
        &Pkt::udp4(([198, 51, 100, 1], 50000), ([198, 51, 100, 200], 2055), &d5),
    );
    let r = runs(&d, &[("c.pcap", c.finish()), ("nf.pcap", nf.finish())]);
    let mut q = query(SERVER);
    q.port = Some(443);
    let found = find(&evidence(&r), &q);
    assert_eq!(found.len(), 1, "{found:?}");
    // The exporter's record starts at T0 - 0.5 s by its own reckoning, half a second
    // before the capture's first packet: it comes first, and the capture is 0.5 s later.
    let vantages: Vec<u32> = found[0].observations.iter().map(|o| o.vantage).collect();
    assert_eq!(vantages, vec![1, 0]);
    assert_eq!(found[0].vantage_points(), vec![(1, 0.0), (0, 0.5)]);
}

use hoptrace::hops::{Role, path};
use hoptrace::synth::netflow::ExportWriter;
use hoptrace::synth::pkt::{self, num};

fn one(r: &[FlowRun], q: &Query) -> Vec<hoptrace::hops::Hop> {
    let ev = evidence(r);
    let c = find(&ev, q);
    assert_eq!(c.len(), 1, "{c:?}");
    path(&c[0], &ev)
}

fn roles(hops: &[hoptrace::hops::Hop]) -> Vec<(Role, String)> {
    hops.iter()
        .map(|h| {
            let what = match (h.ip, h.asn) {
                (Some(a), _) => a.to_string(),
                (None, Some(n)) => format!("AS{n}"),
                (None, None) => String::new(),
            };
            (h.role, what)
        })
        .collect()
}

#[test]
fn a_direct_connection_is_origin_then_destination() {
    let d = Dir::new();
    let mut c = Capture::new(Format::Pcap);
    handshake(&mut c, T0 * 1_000_000_000, (CLIENT, 40000), (SERVER, 443));
    let r = runs(&d, &[("c.pcap", c.finish())]);
    let hops = one(&r, &query(SERVER));
    assert_eq!(
        roles(&hops),
        vec![
            (Role::Origin, "10.0.0.1".into()),
            (Role::Destination, "192.0.2.9".into())
        ]
    );
    assert_eq!(hops[0].port, Some(40000));
    assert_eq!(hops[0].evidence[0].at.frame, 1);
    // The synthetic hosts send with TTL 64 and the capture sits next to them.
    assert!(
        hops[0].evidence[0]
            .showed
            .contains("TTL 64 on arrival: about 0 routers"),
        "{}",
        hops[0].evidence[0].showed
    );
}

#[test]
fn tunnel_ends_sit_between_origin_and_destination_ingress_first() {
    const A: [u8; 4] = [203, 0, 113, 1];
    const B: [u8; 4] = [203, 0, 113, 2];
    let vxlan = |src: [u8; 4], dst: [u8; 4], inner: Vec<u8>| {
        pkt::eth(
            num::IPV4,
            &Pkt::udp4_ip(
                (src, 50000),
                (dst, 4789),
                &pkt::vxlan(42, &pkt::eth(num::IPV4, &inner)),
            ),
        )
    };
    let gre = |src: [u8; 4], dst: [u8; 4], inner: Vec<u8>| {
        pkt::eth(
            num::IPV4,
            &pkt::ipv4(
                src,
                dst,
                num::GRE,
                &pkt::gre(num::IPV4, Some(7), None, &inner),
            ),
        )
    };
    // Seen from the responder's side first (the capture missed the SYN): the tunnel's
    // direction is still read right. VXLAN and GRE alike.
    type Wrap<'a> = &'a dyn Fn([u8; 4], [u8; 4], Vec<u8>) -> Vec<u8>;
    let kinds: [(&str, Wrap<'_>); 2] = [("vxlan", &vxlan), ("gre", &gre)];
    for ((kind, vx), responder_first) in kinds.into_iter().flat_map(|k| [(k, false), (k, true)]) {
        let d = Dir::new();
        let mut c = Capture::new(Format::Pcap);
        let t = T0 * 1_000_000_000;
        let syn = vx(A, B, Pkt::tcp4_ip((CLIENT, 40000), (SERVER, 443), SYN, b""));
        let synack = vx(
            B,
            A,
            Pkt::tcp4_ip((SERVER, 443), (CLIENT, 40000), SYN | ACK, b""),
        );
        if responder_first {
            c.push(t, &synack);
            c.push(
                t + 1_000_000,
                &vx(
                    A,
                    B,
                    Pkt::tcp4_ip((CLIENT, 40000), (SERVER, 443), ACK, b"x"),
                ),
            );
        } else {
            c.push(t, &syn);
            c.push(t + 1_000_000, &synack);
        }
        let r = runs(&d, &[("vx.pcap", c.finish())]);
        let mut q = query(SERVER);
        q.port = Some(443);
        let hops = one(&r, &q);
        // The SYN+ACK's receiver originates even when the SYN was missed, and the tunnel
        // seen on the responder's packet first is still read in the origin's direction.
        assert_eq!(
            roles(&hops),
            vec![
                (Role::Origin, "10.0.0.1".into()),
                (Role::TunnelEndpoint, "203.0.113.1".into()),
                (Role::TunnelEndpoint, "203.0.113.2".into()),
                (Role::Destination, "192.0.2.9".into()),
            ],
            "{kind}, responder first: {responder_first}"
        );
        let tunnel = &hops[1].evidence[0].showed;
        assert!(tunnel.to_lowercase().starts_with(kind), "{kind}: {tunnel}");
    }
}

#[test]
fn a_flow_record_places_nat_neighbour_ases_and_its_exporter() {
    let d = Dir::new();
    let ms = T0 as u64 * 1000;
    let mut w = ExportWriter::ipfix(T0 as u32 + 5, 3);
    w.template(
        300,
        &[
            (8, 4, 0),
            (12, 4, 0),
            (7, 2, 0),
            (11, 2, 0),
            (4, 1, 0),
            (152, 8, 0),
            (153, 8, 0),
            (225, 4, 0),
            (227, 2, 0),
            (16, 4, 0),
            (17, 4, 0),
            (10, 4, 0),
            (14, 4, 0),
            (15, 4, 0),
            (18, 4, 0),
        ],
    );
    let rec = [
        CLIENT.to_vec(),
        SERVER.to_vec(),
        40000u16.to_be_bytes().to_vec(),
        443u16.to_be_bytes().to_vec(),
        vec![6],
        ms.to_be_bytes().to_vec(),
        (ms + 900).to_be_bytes().to_vec(),
        vec![198, 51, 100, 77],
        61000u16.to_be_bytes().to_vec(),
        64500u32.to_be_bytes().to_vec(),
        15169u32.to_be_bytes().to_vec(),
        1u32.to_be_bytes().to_vec(),
        2u32.to_be_bytes().to_vec(),
        vec![198, 51, 100, 254],
        vec![203, 0, 113, 254],
    ]
    .concat();
    w.data(300, &[&rec]);
    let mut c = Capture::new(Format::Pcap);
    c.push(
        (T0 + 5) * 1_000_000_000,
        &Pkt::udp4(
            ([198, 51, 100, 1], 50000),
            ([198, 51, 100, 200], 4739),
            &w.finish(),
        ),
    );
    let r = runs(&d, &[("ipfix.pcap", c.finish())]);
    let mut q = query(SERVER);
    q.proto = Some(Proto::TCP);
    let hops = one(&r, &q);
    assert_eq!(
        roles(&hops),
        vec![
            (Role::Origin, "10.0.0.1".into()),
            (Role::Nat, "198.51.100.77".into()),
            (Role::NeighborAs, "AS64500".into()),
            (Role::Router, "198.51.100.1".into()),
            (Role::Router, "198.51.100.254".into()),
            (Role::Router, "203.0.113.254".into()),
            (Role::NeighborAs, "AS15169".into()),
            (Role::Destination, "192.0.2.9".into()),
        ]
    );
    let nat = &hops[1];
    assert_eq!(nat.port, Some(61000));
    assert_eq!(nat.maps.map(|m| m.1), Some(40000));
    assert_eq!(nat.evidence[0].record, 1);
    assert!(hops[3].evidence[0].showed.contains("interfaces 1 → 2"));
    assert!(hops[4].evidence[0].showed.contains("next hop"));
    assert!(hops[5].evidence[0].showed.contains("BGP route"));
}

use crate::support::{hoptrace, text};

#[test]
fn an_ambiguous_query_lists_the_first_fifty_and_counts_the_rest() {
    // 60 clients of one server: the first 50 in time order, then how many more.
    let d = Dir::new();
    let mut c = Capture::new(Format::Pcap);
    for i in 0..60u16 {
        handshake(
            &mut c,
            T0 * 1_000_000_000 + i64::from(i) * 1_000_000,
            ([10, 0, 1, i as u8], 40000 + i),
            ([1, 1, 1, 1], 443),
        );
    }
    let p = d.write("many.pcap", &c.finish());
    let out = hoptrace(&[
        "trace",
        p.to_str().unwrap(),
        "--party",
        "au",
        "--ip",
        "1.1.1.1",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.starts_with("60 communications match"), "{err}");
    let listed: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(" → 1.1.1.1:443"))
        .collect();
    assert_eq!(listed.len(), 50, "{err}");
    assert!(listed[0].contains("10.0.1.0:40000"), "{err}");
    assert!(listed[49].contains("10.0.1.49:40049"), "{err}");
    assert!(err.contains("  ... and 10 more"), "{err}");
}

#[test]
fn trace_writes_the_disclosure_and_marks_the_nearest_foreign_provider() {
    // A client in Google's space (US in the bundled data) reaching 1.1.1.1 (AU in the
    // bundled data); the party holding the capture is AU, at the destination end.
    let d = Dir::new();
    let mut c = Capture::new(Format::Pcap);
    handshake(
        &mut c,
        T0 * 1_000_000_000,
        ([8, 8, 8, 8], 40000),
        ([1, 1, 1, 1], 443),
    );
    handshake(
        &mut c,
        T0 * 1_000_000_000,
        ([8, 8, 4, 4], 40001),
        ([1, 1, 1, 1], 443),
    );
    let p = d.write("c.pcap", &c.finish());
    let args = |extra: &[&str]| {
        let mut v = vec![
            "trace",
            p.to_str().unwrap(),
            "--party",
            "au",
            "--ip",
            "1.1.1.1",
            "-q",
        ];
        v.extend_from_slice(extra);
        hoptrace(
            &v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
    };
    // Two clients at the same time: ambiguous, both listed with their Community IDs.
    let out = args(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("2 communications match"), "{err}");
    assert!(
        err.contains("8.8.8.8:40000") && err.contains("8.8.4.4:40001"),
        "{err}"
    );
    assert!(err.contains("seen by vantage point 0\n"), "{err}");
    // Nor is a report file left: it is created only for a report.
    let report = p.with_extension("json");
    let out = args(&["-o", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(!report.exists(), "an empty report file was left");

    let out = args(&[
        "--peer",
        "8.8.8.8",
        "--at",
        "2023-11-14T22:13:20Z",
        "--requesting",
        "de",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check_schema(&v);
    assert_eq!(v["schema"], hoptrace::report::DISCLOSURE_SCHEMA);
    let hops = v["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 2);
    assert_eq!(
        (hops[0]["role"].as_str(), hops[0]["ip"].as_str()),
        (Some("origin"), Some("8.8.8.8"))
    );
    assert_eq!(hops[0]["asn"], 15169);
    assert_eq!(hops[0]["country"], "US");
    assert_eq!(hops[1]["role"], "destination");
    let providers = v["providers"].as_array().unwrap();
    let google = providers.iter().find(|p| p["asn"] == 15169).unwrap();
    assert_eq!(google["nearest_foreign"], true);
    assert_eq!(
        providers
            .iter()
            .filter(|p| p["nearest_foreign"] == true)
            .count(),
        1,
        "exactly one"
    );
    assert!(google["jurisdiction"]["between"]["instruments"].is_array());
    assert_eq!(v["parameters"]["party"], "AU");
    assert_eq!(v["inputs"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(v["communication"]["service"], "TCP/443 (HTTPS)");
    // Byte-identical when run again.
    let again = args(&[
        "--peer",
        "8.8.8.8",
        "--at",
        "2023-11-14T22:13:20Z",
        "--requesting",
        "de",
    ]);
    assert_eq!(again.stdout, out.stdout);
    assert!(v.get("generated_at").is_none(), "no clock unless asked");
    let stamped = args(&[
        "--peer",
        "8.8.8.8",
        "--generated-at",
        "2026-11-28T20:00:00+01:00",
    ]);
    let sv: serde_json::Value = serde_json::from_slice(&stamped.stdout).unwrap();
    check_schema(&sv);
    assert_eq!(sv["generated_at"], "2026-11-28T19:00:00.000000000Z");
    // Nothing at another time.
    let none = args(&["--at", "2020-01-01T00:00:00Z"]);
    assert_eq!(none.status.code(), Some(5));
    // The Markdown says the same.
    let md = args(&["--peer", "8.8.8.8", "--format", "md"]);
    let md = text(&md.stdout);
    assert!(
        md.contains("| 0 | origin | 8.8.8.8 | 40000 | AS15169 |"),
        "{md}"
    );
    assert!(md.contains("nearest foreign provider"), "{md}");
    assert!(md.contains("AS15169 Google LLC (US), hop 0 — "), "{md}");
    // The HTML draws the path without anything from the network.
    let html = text(&args(&["--peer", "8.8.8.8", "--format", "html"]).stdout);
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<svg"),
        "{html}"
    );
    assert_eq!(
        html.matches("http://").count(),
        1,
        "only the SVG namespace name"
    );
    assert!(!html.contains("<script") && !html.contains("src="));
    assert!(html.contains("AS15169") && html.contains("next preservation target"));
    // Art. 29 drafts from the same hop records: identifiers match the disclosure's.
    let out = args(&[
        "--peer",
        "8.8.8.8",
        "--art29",
        "--request-ref",
        "AU-2026-17",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check_schema(&v);
    let drafts = v["art29_drafts"].as_array().unwrap();
    assert_eq!(drafts.len(), 1, "one foreign provider");
    let a = &drafts[0];
    assert_eq!(a["custodian"]["asn"], 15169);
    assert_eq!(a["identifiers"][0]["ip"], v["hops"][0]["ip"]);
    assert_eq!(a["identifiers"][0]["port"], 40000);
    assert_eq!(a["counterpart"]["ip"], "1.1.1.1");
    assert_eq!(a["window_utc"][0], v["communication"]["first_seen"]);
    assert_eq!(a["preceding_request"], "AU-2026-17");
    assert_eq!(a["offence_and_facts"], hoptrace::report::TO_FILL);
    assert!(a["fields_to_fill"].as_array().unwrap().len() >= 5);
}

/// Validates a disclosure against the JSON Schema in `schema/`.
pub(crate) fn check_schema(v: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/art30-disclosure.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_schema_refuses_a_disclosure_that_breaks_it() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/art30-disclosure.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(!validator.is_valid(&serde_json::json!({"schema": "hoptrace-art30-disclosure/0.1"})));
}

#[test]
fn trace_reads_flow_logs_with_the_flow_log_flags() {
    // A CloudWatch-style VPC log without its header: the format comes from --vpc-fields.
    let d = Dir::new();
    let log = d.write(
        "cwl.log",
        b"2 123456789010 eni-1 8.8.8.8 1.1.1.1 40000 443 6 10 1000 1700000000 1700000060 ACCEPT OK\n\
2 123456789010 eni-1 1.1.1.1 8.8.8.8 443 40000 6 8 9000 1700000000 1700000060 ACCEPT OK\n",
    );
    let out = hoptrace(&[
        "trace",
        log.to_str().unwrap(),
        "--party",
        "AU",
        "--ip",
        "1.1.1.1",
        "--port",
        "443",
        "-q",
        "--input-format",
        "aws-vpc",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check_schema(&v);
    assert_eq!(v["hops"][0]["ip"], "8.8.8.8");
    assert_eq!(v["hops"][0]["evidence"][0]["kind"], "flow_record");
    assert_eq!(v["inputs"][0]["format"], "aws vpc flow log");
}

#[test]
fn an_as_known_only_by_its_number_is_named_from_the_range_data() {
    let e = hoptrace::enrich::Enricher::bundled().unwrap();
    let (org, source) = e.as_org(15169).unwrap();
    assert_eq!(org, "Google LLC");
    assert!(source.contains("asn.htdb"), "{source}");
    assert!(e.as_org(0).is_none());
}
