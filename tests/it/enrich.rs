//! Enrichment with databases the tests write themselves (the synth MaxMind DB writer and
//! range tables) and with the bundled data.

use crate::support::Dir;
use hoptrace::enrich::{AddressClass, Enricher, RangeBuilder, RangeMeta, Scope, Source};
use hoptrace::model::Date;
use hoptrace::synth::mmdb::{MmdbWriter, Value, asn_record, country_record, flat_country_record};
use std::net::IpAddr;
use std::sync::OnceLock;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn asn_db() -> Vec<u8> {
    let mut w = MmdbWriter::new("GeoLite2-ASN", 1_780_000_000);
    w.insert("198.51.100.0/24", asn_record(64496, "Example Transit Ltd"))
        .insert("203.0.113.0/25", asn_record(64497, "Example Hosting GmbH"))
        .insert("8.8.8.0/24", asn_record(15169, "Google LLC"))
        .insert("2001:db8:1::/48", asn_record(64498, "Example Mobile Inc."));
    w.finish()
}

fn country_db() -> Vec<u8> {
    let mut w = MmdbWriter::new("GeoIP2-Country", 1_780_000_000);
    w.insert("198.51.100.0/24", country_record("GB", "GB"))
        .insert("203.0.113.0/24", country_record("DE", "FR"))
        .insert("8.8.8.0/24", country_record("US", "US"));
    w.finish()
}

fn source(bytes: Vec<u8>, name: &str) -> Source {
    let s = Source::from_bytes(bytes, name, "").unwrap();
    s.check().unwrap();
    s
}

fn bundled() -> &'static Enricher {
    static E: OnceLock<Enricher> = OnceLock::new();
    E.get_or_init(|| Enricher::bundled().expect("bundled data opens"))
}

#[test]
fn written_databases_answer_with_their_sources() {
    let e = Enricher::new(vec![
        source(asn_db(), "asn.mmdb"),
        source(country_db(), "country.mmdb"),
    ]);
    let a = e.lookup(ip("203.0.113.9"));
    // 203.0.113.0/24 is TEST-NET-3: documentation, never looked up.
    assert_eq!(a.class.class, AddressClass::Documentation);
    assert!(a.hits.is_empty() && a.fields.asn.is_none());
    let a = e.lookup(ip("8.8.8.8"));
    assert_eq!(a.fields.asn, Some(15169));
    assert_eq!(a.fields.as_org.as_deref(), Some("Google LLC"));
    assert_eq!(a.fields.country, Some(*b"US"));
    assert_eq!(a.hits.len(), 2);
    assert_eq!(a.hits[0].network.as_deref(), Some("8.8.8.0/24"));
    assert_eq!(a.hits[0].fields, ["asn", "as_org"]);
    assert_eq!(a.hits[1].fields, ["country", "registered_country"]);
    assert_eq!(e.sources[0].info.kind, "GeoLite2-ASN");
    assert_eq!(
        e.sources[0].info.build_date,
        Some(Date::from_unix_secs(1_780_000_000))
    );
    assert_eq!(e.sources[0].info.sha256.len(), 64);
    // Missing from every database: unknown, not an error.
    let a = e.lookup(ip("9.9.9.9"));
    assert!(a.fields.is_empty() && a.errors.is_empty());
    assert_eq!(a.attributed_ip, Some(ip("9.9.9.9")));
}

#[test]
fn compressed_databases_open_as_zstd_or_pzstd_writes_them() {
    for packed in [
        hoptrace::synth::zstd(&asn_db()),
        hoptrace::synth::pzstd(&asn_db(), 100),
    ] {
        let e = Enricher::new(vec![source(packed, "asn.mmdb.zst")]);
        let a = e.lookup(ip("8.8.8.8"));
        assert_eq!(a.fields.asn, Some(15169));
        assert_eq!(e.sources[0].info.kind, "GeoLite2-ASN");
    }
}

#[test]
fn flat_country_shape_and_disagreements_are_recorded() {
    let mut flat = MmdbWriter::new("country ipvAll", 1_780_000_000).without_description();
    flat.insert("8.8.8.0/24", flat_country_record("IE"));
    let e = Enricher::new(vec![
        source(country_db(), "geoip2.mmdb"),
        source(flat.finish(), "flat.mmdb"),
    ]);
    let a = e.lookup(ip("8.8.8.8"));
    assert_eq!(a.fields.country, Some(*b"US"), "the first source wins");
    assert_eq!(
        a.conflicts,
        ["country: flat.mmdb says IE, an earlier source says US"]
    );
}

#[test]
fn isp_enterprise_and_anonymous_ip_shapes() {
    let mut isp = MmdbWriter::new("GeoIP2-ISP", 1_780_000_000);
    isp.insert(
        "8.8.8.0/24",
        Value::map([
            ("autonomous_system_number", Value::U32(15169)),
            ("autonomous_system_organization", Value::s("Google LLC")),
            ("isp", Value::s("Google")),
            ("organization", Value::s("Google Public DNS")),
        ]),
    );
    let mut ent = MmdbWriter::new("GeoIP2-Enterprise", 1_780_000_000);
    ent.insert(
        "1.2.3.0/24",
        Value::map([
            ("country", Value::map([("iso_code", Value::s("FR"))])),
            (
                "city",
                Value::map([("names", Value::map([("en", Value::s("Paris"))]))]),
            ),
            (
                "traits",
                Value::map([
                    ("autonomous_system_number", Value::U32(3215)),
                    ("isp", Value::s("Orange")),
                    ("connection_type", Value::s("Cable/DSL")),
                ]),
            ),
        ]),
    );
    let mut anon = MmdbWriter::new("GeoIP2-Anonymous-IP", 1_780_000_000);
    anon.insert(
        "1.2.3.4",
        Value::map([
            ("is_anonymous", Value::Bool(true)),
            ("is_tor_exit_node", Value::Bool(true)),
            ("is_public_proxy", Value::Bool(false)),
        ]),
    );
    let e = Enricher::new(vec![
        source(isp.finish(), "isp"),
        source(ent.finish(), "ent"),
        source(anon.finish(), "anon"),
    ]);
    let g = e.lookup(ip("8.8.8.8"));
    assert_eq!(g.fields.isp.as_deref(), Some("Google"));
    assert_eq!(g.fields.organization.as_deref(), Some("Google Public DNS"));
    let o = e.lookup(ip("1.2.3.4"));
    assert_eq!(o.fields.asn, Some(3215));
    assert_eq!(o.fields.country, Some(*b"FR"));
    assert_eq!(o.fields.city.as_deref(), Some("Paris"));
    assert_eq!(o.fields.connection_type.as_deref(), Some("Cable/DSL"));
    assert_eq!(o.fields.anonymous, ["anonymous", "tor_exit_node"]);
}

#[test]
fn embedded_ipv4_is_attributed_and_private_never_looked_up() {
    // A public database that (wrongly) maps private space, like the bundled country data.
    let mut w = MmdbWriter::new("country ipvAll", 1_780_000_000);
    w.insert("192.168.0.0/16", flat_country_record("AU"))
        .insert("8.8.8.0/24", flat_country_record("US"));
    let e = Enricher::new(vec![source(w.finish(), "c")]);
    let p = e.lookup(ip("192.168.1.1"));
    assert_eq!(p.class.class, AddressClass::Private);
    assert_eq!(p.fields.country, None);
    assert!(p.notes[0].contains("only the operator"), "{:?}", p.notes);
    for (v6, how) in [
        ("64:ff9b::808:808", "nat64"),
        ("2002:808:808::1", "6to4"),
        ("::ffff:8.8.8.8", "ipv4_mapped"),
        // Teredo client 8.8.8.8: the last 32 bits inverted.
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "teredo"),
    ] {
        let a = e.lookup(ip(v6));
        assert_eq!(a.class.embedded.as_ref().unwrap().how.as_str(), how);
        assert_eq!(a.attributed_ip, Some(ip("8.8.8.8")), "{v6}");
        assert_eq!(a.fields.country, Some(*b"US"), "{v6}");
        assert!(
            a.notes[0].contains("attributed through the IPv4 address"),
            "{v6}"
        );
    }
    // A NAT64 address of a private host stays unattributed.
    let a = e.lookup(ip("64:ff9b::c0a8:101"));
    assert_eq!(a.attributed_ip, None);
    assert_eq!(a.fields.country, None);
}

#[test]
fn operator_prefix_lists_attribute_private_space() {
    let mut b = RangeBuilder::default();
    b.add_prefix_csv(
        "plan.csv",
        b"prefix,asn,organisation,country\n10.20.0.0/16,64500,Example Corp branch office,NL\n",
    )
    .unwrap();
    let (table, _) = b.finish(RangeMeta {
        name: "address plan".into(),
        scope: Scope::Operator,
        date: None,
        built_from: vec![],
        attribution: String::new(),
    });
    let bytes = table.to_bytes();
    let d = Dir::new();
    let path = d.write("plan.htdb", &bytes);
    let plan = Source::open(&path).unwrap();
    assert_eq!(plan.info.scope, Scope::Operator);
    let mut w = MmdbWriter::new("country ipvAll", 1_780_000_000);
    w.insert("10.0.0.0/8", flat_country_record("AU"));
    let e = Enricher::new(vec![plan, source(w.finish(), "public")]);
    let a = e.lookup(ip("10.20.1.2"));
    assert_eq!(a.class.class, AddressClass::Private);
    assert_eq!(a.fields.asn, Some(64500));
    assert_eq!(
        a.fields.country,
        Some(*b"NL"),
        "the public database is not asked"
    );
    assert_eq!(a.hits.len(), 1);
    assert_eq!(a.hits[0].network.as_deref(), Some("10.20.0.0/16"));
    // The flow table's cache asks the plan about private addresses too (without a plan it
    // answers them with their class alone), and then answers the next one from the plan.
    let cache = hoptrace::enrich::AddrCache::new(&e);
    for (addr, asn) in [
        ("10.20.1.2", Some(64500)),
        ("10.21.0.1", None),
        ("10.20.9.9", Some(64500)),
    ] {
        let b = cache.brief(ip(addr));
        assert_eq!(
            (b.class, b.asn),
            (Some(AddressClass::Private), asn),
            "{addr}"
        );
    }
    assert_eq!(
        cache.brief(ip("10.20.9.9")).as_org.as_deref(),
        Some("Example Corp branch office")
    );
}

#[test]
fn damaged_and_wrong_databases_are_errors_naming_the_file() {
    let d = Dir::new();
    let good = asn_db();
    for cut in [0, 10, good.len() / 2, good.len() - 20] {
        let p = d.write("cut.mmdb", &good[..cut]);
        let e = Source::open(&p).unwrap_err().to_string();
        assert!(e.contains("cut.mmdb"), "{e}");
    }
    let p = d.write("notes.txt", b"just text\n");
    let e = Source::open(&p).unwrap_err().to_string();
    assert!(
        e.contains("notes.txt") && e.contains("neither a MaxMind DB"),
        "{e}"
    );
    let e = Source::open(&d.path().join("missing.mmdb"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.mmdb"), "{e}");
    // Every single damaged byte: an error or an answer, never a panic or a hang.
    for i in (0..good.len()).step_by(3) {
        let mut b = good.clone();
        b[i] ^= 0x5a;
        if let Ok(s) = Source::from_bytes(b, "x", "") {
            let _ = s.check();
            for a in ["8.8.8.8", "198.51.100.1", "2001:db8:1::1", "1.1.1.1"] {
                let _ = s.lookup(ip(a));
            }
        }
    }
    // A database without a single field hoptrace reads.
    let mut w = MmdbWriter::new("GeoIP2-Domain", 1_780_000_000);
    w.insert(
        "8.8.8.0/24",
        Value::map([("domain", Value::s("example.com"))]),
    );
    let p = d.write("domain.mmdb", &w.finish());
    let e = Source::open(&p).unwrap_err().to_string();
    assert!(
        e.contains("domain.mmdb") && e.contains("wrong database type"),
        "{e}"
    );
}

#[test]
fn database_age_is_noted_against_the_communication_date() {
    let e = Enricher::new(vec![source(asn_db(), "asn.mmdb")]);
    let built = Date::from_unix_secs(1_780_000_000);
    assert!(e.staleness(built, built, 365).is_empty());
    let old = Date::parse("2011-03-18").unwrap();
    let n = e.staleness(old, old, 365);
    assert_eq!(n.len(), 1);
    assert!(
        n[0].contains("asn.mmdb was built")
            && n[0].contains("after the communication (2011-03-18)"),
        "{}",
        n[0]
    );
}

#[test]
fn bundled_data_answers_the_issue_examples() {
    let e = bundled();
    let g = e.lookup(ip("8.8.8.8"));
    assert_eq!(g.fields.asn, Some(15169));
    assert_eq!(g.fields.as_org.as_deref(), Some("Google LLC"));
    assert_eq!(g.fields.country, Some(*b"US"));
    let p = e.lookup(ip("192.168.1.1"));
    assert_eq!(p.class.class, AddressClass::Private);
    assert_eq!(
        p.fields.country, None,
        "the bundled country data maps 192.168/16 to AU"
    );
    let n = e.lookup(ip("64:ff9b::808:808"));
    assert_eq!(
        n.class.embedded.as_ref().unwrap().ipv4.to_string(),
        "8.8.8.8"
    );
    assert_eq!(n.fields.asn, Some(15169));
    let c = e.lookup(ip("1.1.1.1"));
    assert_eq!(c.fields.as_org.as_deref(), Some("Cloudflare, Inc."));
    let v6 = e.lookup(ip("2001:4860:4860::8888"));
    assert_eq!(
        (v6.fields.asn, v6.fields.country),
        (Some(15169), Some(*b"US"))
    );
    // Provenance: both bundled files, their hashes and the snapshot date.
    for s in &e.sources {
        assert_eq!(
            s.info.build_date,
            Date::parse("2026-06-17"),
            "{}",
            s.info.name
        );
        assert!(!s.info.attribution.is_empty());
    }
}

#[test]
fn bundled_data_stays_small() {
    let total = hoptrace::enrich::bundled::ASN_TABLE.len()
        + hoptrace::enrich::bundled::COUNTRY_MMDB.len()
        + hoptrace::enrich::jurisdiction::BUNDLED_CSV.len();
    assert!(total < 15_000_000, "{total} bytes");
}

#[test]
fn cache_gives_each_address_once_and_the_full_answer_whatever_the_thread() {
    use rayon::prelude::*;
    let e = bundled();
    let cache = hoptrace::enrich::AddrCache::new(e);
    let addrs: Vec<IpAddr> = [
        "8.8.8.8",
        "1.1.1.1",
        "10.0.0.1",
        "2001:4860:4860::8888",
        "fe80::1",
        "192.0.2.7",
        "::ffff:8.8.8.8",
    ]
    .map(ip)
    .to_vec();
    // Each pool thread answers from a slot of its own; a thread outside a pool from another.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    pool.install(|| {
        (0..200).into_par_iter().for_each(|i| {
            let a = addrs[i % addrs.len()];
            let b = cache.brief(a);
            let full = e.lookup(a);
            assert_eq!(b.class, Some(full.class.class), "{a}");
            assert_eq!(b.asn, full.fields.asn, "{a}");
            assert_eq!(b.as_org.as_deref(), full.fields.as_org.as_deref(), "{a}");
            assert_eq!(b.country, full.fields.country, "{a}");
        })
    });
    for a in &addrs {
        assert_eq!(cache.brief(*a), pool.install(|| cache.brief(*a)), "{a}");
    }
    let entries = cache.entries();
    let mut want = addrs.clone();
    want.sort();
    assert_eq!(entries.iter().map(|x| x.0).collect::<Vec<_>>(), want);
    let google = |a: &str| entries.iter().find(|x| x.0 == ip(a)).unwrap().1.clone();
    assert_eq!(google("8.8.8.8").asn, Some(15169));
    assert_eq!(google("10.0.0.1").class, Some(AddressClass::Private));
    // An IPv4-mapped address is its own entry, answered for the IPv4 address it carries.
    assert_eq!(google("::ffff:8.8.8.8").asn, Some(15169));
}
