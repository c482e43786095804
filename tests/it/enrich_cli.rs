//! `hoptrace lookup`, `hoptrace db` and `flows --enrich` as a user runs them.

use crate::support::{Dir, hoptrace, text};
use hoptrace::flow::tcp::{ACK, SYN};
use hoptrace::synth::mmdb::{MmdbWriter, asn_record, country_record};
use hoptrace::synth::pkt::Pkt;
use hoptrace::synth::{Capture, Format};
use std::process::{Command, Output};

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[test]
fn lookup_json_has_one_object_per_address_in_input_order() {
    let out = hoptrace(&[
        "lookup",
        "--json",
        "8.8.8.8",
        "192.168.1.1",
        "64:ff9b::808:808",
        "100.64.0.1",
        "2001:db8::1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), 5);
    let field = |i: usize, k: &str| a[i][k].clone();
    assert_eq!(field(0, "ip"), "8.8.8.8");
    assert_eq!(field(0, "address_class"), "global");
    assert_eq!(field(0, "asn"), 15169);
    assert_eq!(field(0, "as_org"), "Google LLC");
    assert_eq!(field(0, "country"), "US");
    assert_eq!(field(0, "embedded_ipv4"), serde_json::Value::Null);
    assert_eq!(field(0, "jurisdiction")["name"], "United States");
    assert_eq!(
        field(0, "jurisdiction")["as_of"],
        "jurisdictions table compiled 2026-11-28"
    );
    let src = field(0, "sources");
    assert_eq!(src.as_array().unwrap().len(), 2);
    assert_eq!(src[0]["name"], "bundled:data/asn.htdb");
    assert_eq!(src[0]["network"], "8.8.8.0/24");
    assert_eq!(src[0]["build_date"], "2026-06-17");
    assert_eq!(src[0]["sha256"].as_str().unwrap().len(), 64);
    assert!(
        src[0]["attribution"]
            .as_str()
            .unwrap()
            .contains("RouteViews")
    );
    assert_eq!(field(1, "address_class"), "private");
    assert_eq!(field(1, "country"), serde_json::Value::Null);
    assert_eq!(field(1, "jurisdiction"), serde_json::Value::Null);
    assert_eq!(field(2, "address_class"), "nat64");
    assert_eq!(field(2, "embedded_ipv4"), "8.8.8.8");
    assert_eq!(field(2, "asn"), 15169);
    assert_eq!(field(3, "address_class"), "shared");
    assert_eq!(field(3, "address_block")["network"], "100.64.0.0/10");
    assert!(
        field(3, "address_block")["registry"]
            .as_str()
            .unwrap()
            .contains("2025-10-09")
    );
    assert_eq!(field(4, "address_class"), "documentation");
    // Field order is the report's, not alphabetical.
    let raw = text(&out.stdout);
    assert!(raw.find("\"ip\"").unwrap() < raw.find("\"address_class\"").unwrap());
}

#[test]
fn lookup_text_names_sources_and_treaties_between_two_countries() {
    let out = hoptrace(&[
        "lookup",
        "2a00:1450:4001:80b::200e",
        "--requesting",
        "de",
        "--date",
        "2026-09-01",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("AS15169 Google LLC"), "{t}");
    assert!(t.contains("IE (Ireland)"), "{t}");
    assert!(
        t.contains("from DE to IE on 2026-09-01 (jurisdictions table compiled"),
        "{t}"
    );
    assert!(
        t.contains("EU e-Evidence Regulation (EU) 2023/1543: yes"),
        "{t}"
    );
    assert!(
        t.contains("Budapest Convention (ETS 185), Art. 29-30: no"),
        "{t}"
    );
    assert!(t.contains("IP to ASN data: RouteViews"), "{t}");
    assert!(t.contains("last updated 2025-10-09"), "{t}");
    // A provider in the requesting country's own territory: no treaty between States.
    let out = hoptrace(&[
        "lookup",
        "8.8.8.8",
        "--requesting",
        "us",
        "--date",
        "2026-09-01",
    ]);
    let t = text(&out.stdout);
    assert!(
        t.contains("the requesting and the requested country are the same (United States)"),
        "{t}"
    );
    assert!(!t.contains("Art. 29-30: yes"), "{t}");
    let out = hoptrace(&[
        "lookup",
        "--json",
        "2a00:1450:4001:80b::200e",
        "--requesting",
        "DE",
        "--date",
        "2026-09-01",
    ]);
    let v = json(&out);
    let b = &v[0]["jurisdiction"]["between"];
    assert_eq!(b["requesting"], "DE");
    assert_eq!(b["instruments"][2]["applies"], "yes");
    let src = b["instruments"][0]["sources"].as_str().unwrap();
    assert!(src.contains("BC:INV") && src.contains("BC:TRB07"), "{src}");
}

#[test]
fn lookup_reads_addresses_from_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hoptrace"))
        .args(["lookup", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"8.8.8.8\n10.0.0.1 1.1.1.1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[2]["asn"], 13335);
}

#[test]
fn lookup_reports_bad_arguments_and_goes_on() {
    let out = hoptrace(&["lookup", "--json", "8.8.8.8", "not-an-ip", "[2001:db8::1]"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("\"not-an-ip\" is not an IPv4 or IPv6 address"));
    let v = json(&out);
    assert_eq!(v[1]["ip"], "not-an-ip");
    assert!(v[1]["error"].as_str().is_some());
    assert_eq!(v[2]["address_class"], "documentation");
    let out = hoptrace(&["lookup", "8.8.8.8", "--date", "18.03.2011"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--date"));
}

#[test]
fn lookup_with_given_databases_and_a_provider_directory() {
    let d = Dir::new();
    let mut asn = MmdbWriter::new("GeoLite2-ASN", 1_300_000_000);
    asn.insert("81.2.69.0/24", asn_record(64496, "Example Transit Ltd"));
    let mut cc = MmdbWriter::new("GeoIP2-Country", 1_300_000_000);
    cc.insert("81.2.69.0/24", country_record("GB", "GB"));
    let a = d.write("asn.mmdb", &asn.finish());
    let c = d.write("country.mmdb", &cc.finish());
    let dir = d.write(
        "providers.csv",
        b"asn,legal_name,law_enforcement_contact\n64496,Example Transit Limited,le@transit.example.net\n",
    );
    let out = hoptrace(&[
        "lookup",
        "--json",
        "81.2.69.160",
        "--db",
        a.to_str().unwrap(),
        "--db",
        c.to_str().unwrap(),
        "--providers",
        dir.to_str().unwrap(),
        "--date",
        "2011-03-18",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(v[0]["asn"], 64496);
    assert_eq!(v[0]["country"], "GB");
    assert_eq!(v[0]["provider"]["legal_name"], "Example Transit Limited");
    assert_eq!(
        v[0]["provider"]["law_enforcement_contact"],
        "le@transit.example.net"
    );
    assert_eq!(
        v[0]["sources"].as_array().unwrap().len(),
        2,
        "no bundled data"
    );
    assert_eq!(v[0]["sources"][0]["kind"], "GeoLite2-ASN");
    // Built 2011-03-13: no age note for a communication five days later.
    assert!(
        v[0]["notes"].as_array().unwrap().is_empty(),
        "{}",
        v[0]["notes"]
    );
    // The same lookup against the bundled data (built 2026) notes the gap.
    let out = hoptrace(&["lookup", "--json", "81.2.69.160", "--date", "2011-03-18"]);
    let v = json(&out);
    assert!(
        v[0]["notes"][0]
            .as_str()
            .unwrap()
            .contains("days after the communication")
    );
}

#[test]
fn broken_database_fails_at_open_naming_the_file() {
    let d = Dir::new();
    let mut asn = MmdbWriter::new("GeoLite2-ASN", 1_300_000_000);
    asn.insert("81.2.69.0/24", asn_record(64496, "Example Transit Ltd"));
    let bytes = asn.finish();
    let p = d.write("broken.mmdb", &bytes[..bytes.len() - 30]);
    let out = hoptrace(&["lookup", "81.2.69.160", "--db", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let e = text(&out.stderr);
    assert!(e.contains("broken.mmdb"), "{e}");
    assert!(out.stdout.is_empty());
}

#[test]
fn db_build_makes_an_operator_table_lookup_uses_with_the_bundled_data() {
    let d = Dir::new();
    let plan = d.write(
        "plan.csv",
        b"prefix,asn,organisation,country\n10.1.0.0/16,,Example Corp HQ,SE\nnot-a-prefix,,x,\n",
    );
    let out_path = d.path().join("plan.htdb");
    let out = hoptrace(&[
        "db",
        "build",
        "--prefixes",
        plan.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a row was skipped: {}",
        text(&out.stderr)
    );
    let e = text(&out.stderr);
    assert!(
        e.contains("plan.csv: line 3") && e.contains("not-a-prefix"),
        "{e}"
    );
    assert!(e.contains("operator"), "{e}");
    let out = hoptrace(&[
        "lookup",
        "--json",
        "10.1.2.3",
        "8.8.8.8",
        "--db",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(v[0]["as_org"], "Example Corp HQ");
    assert_eq!(v[0]["country"], "SE");
    assert_eq!(v[0]["sources"][0]["scope"], "operator");
    // An operator table alone does not replace the public data.
    assert_eq!(v[1]["asn"], 15169);
    let info = hoptrace(&["db", "info", out_path.to_str().unwrap()]);
    assert_eq!(info.status.code(), Some(0));
    assert!(text(&info.stdout).contains("hoptrace-ranges"));
}

#[test]
fn flows_enrich_adds_provider_columns() {
    let mut c = Capture::new(Format::Pcap);
    let a = ([192, 168, 1, 10], 40000);
    let b = ([8, 8, 8, 8], 53);
    c.push(1_000_000_000, &Pkt::udp4(a, b, b"q"));
    c.push(1_010_000_000, &Pkt::udp4(b, a, b"r"));
    c.push(
        1_020_000_000,
        &Pkt::tcp4(([1, 1, 1, 1], 443), ([8, 8, 8, 8], 40001), SYN, b""),
    );
    c.push(
        1_030_000_000,
        &Pkt::tcp4(([8, 8, 8, 8], 40001), ([1, 1, 1, 1], 443), SYN | ACK, b""),
    );
    let d = Dir::new();
    let p = d.write("c.pcap", &c.finish());
    let out = hoptrace(&["flows", "--enrich", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[0].ends_with(
            ",first_frame,source,record,direction,sampling,exporter,obs_domain,in_if,out_if,next_hop,bgp_next_hop,src_as,dst_as,src_mask,dst_mask,mpls,nat_src,nat_dst,nat_event,pkt_src_ip,pkt_dst_ip,time_original,source_id,status,src_asn,src_as_org,src_country,dst_asn,dst_as_org,dst_country"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(",,,,15169,Google LLC,US"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with(",13335,\"Cloudflare, Inc.\",AU,15169,Google LLC,US"),
        "{}",
        lines[2]
    );
    let e = text(&out.stderr);
    assert!(
        e.contains("enrichment: 3 distinct addresses (2 global, 1 private)"),
        "{e}"
    );
    assert!(e.contains("IP to ASN data: RouteViews"), "{e}");
    // 1970 capture, 2026 data.
    assert!(
        e.contains("days after the communication (1970-01-01)"),
        "{e}"
    );
    // JSON lines carry the same fields.
    let out = hoptrace(&[
        "flows",
        "-q",
        "--enrich",
        "--format",
        "jsonl",
        p.to_str().unwrap(),
    ]);
    let first: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["dst_asn"], 15169);
    assert_eq!(first["src_asn"], serde_json::Value::Null);
    // Database flags without --enrich are a usage error.
    let out = hoptrace(&["flows", "--bundled", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}
