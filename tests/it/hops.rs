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
        .map(|(i, r)| Evidence {
            vantage: i as u32,
            flows: &r.flows.flows,
            records: &r.records.records,
        })
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
