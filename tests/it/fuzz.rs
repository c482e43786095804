//! The fuzz targets' entry points (`hoptrace::fuzzing`, the same functions `fuzz/` hands to
//! libFuzzer) on a fixed set of mutated seeds: a short, deterministic fuzz-style run in every
//! `cargo test`. Seeds are the project's own fixtures; mutations are bit flips, byte
//! overwrites, insertions, deletions, cuts and splices from a seeded generator.

use hoptrace::fuzzing;
use hoptrace::synth::netflow::{self as nf, ExportWriter};
use hoptrace::synth::{BigCapture, Format};

/// A seeded generator (xorshift64*): the same mutants on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..hi` (`hi > lo`).
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Mutates `seed` with a few random edits.
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = seed.to_vec();
    for _ in 0..rng.range(1, 6) {
        let len = d.len().max(1);
        match rng.range(0, 7) {
            0 if !d.is_empty() => {
                let i = rng.range(0, d.len());
                d[i] ^= 1 << rng.range(0, 8);
            }
            1 if !d.is_empty() => {
                let i = rng.range(0, d.len());
                d[i] = [0, 0xff, 0x7f, 0x80, 1][rng.range(0, 5)];
            }
            2 => {
                let i = rng.range(0, d.len() + 1);
                let n = rng.range(1, 64);
                let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                d.splice(i..i, bytes);
            }
            3 if !d.is_empty() => {
                let i = rng.range(0, d.len());
                let n = rng.range(1, 64).min(d.len() - i);
                d.drain(i..i + n);
            }
            4 => d.truncate(rng.range(0, len)),
            5 if !other.is_empty() => {
                // Splice a piece of another seed in.
                let a = rng.range(0, other.len());
                let b = (a + rng.range(1, 256)).min(other.len());
                let i = rng.range(0, d.len() + 1);
                d.splice(i..i, other[a..b].iter().copied());
            }
            _ => {
                // A length-like field set to something large.
                if d.len() >= 4 {
                    let i = rng.range(0, d.len() - 3);
                    d[i..i + 4].copy_from_slice(&(rng.next() as u32).to_le_bytes());
                }
            }
        }
    }
    d
}

/// Runs `target` on each seed and on `rounds` mutants of the seeds.
fn fuzz(name: &str, seeds: &[Vec<u8>], rounds: usize, target: impl Fn(&[u8])) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for s in seeds {
        target(s);
    }
    for i in 0..rounds {
        let seed = &seeds[i % seeds.len()];
        let other = &seeds[(i * 7 + 3) % seeds.len()];
        let input = mutate(&mut rng, seed, other);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&input)));
        if r.is_err() {
            let path = std::env::temp_dir().join(format!("hoptrace-fuzz-{name}-{i}"));
            let _ = std::fs::write(&path, &input);
            panic!(
                "{name}: mutant {i} failed; input saved to {}",
                path.display()
            );
        }
    }
}

fn captures() -> Vec<Vec<u8>> {
    let mut out = vec![
        hoptrace::synth::demo_case(),
        hoptrace::synth::demo_capture(),
    ];
    for format in [Format::Pcap, Format::PcapNg] {
        let mut b = Vec::new();
        BigCapture {
            packets: 120,
            concurrency: 12,
            format,
            ..BigCapture::default()
        }
        .write_to(&mut b)
        .unwrap();
        out.push(b);
    }
    out
}

#[test]
fn whole_inputs_survive_mutation_and_account_for_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let mut seeds = captures();
    seeds.push(hoptrace::synth::zstd(&seeds[2]));
    seeds.push(netflow_file());
    seeds.push(ZEEK.as_bytes().to_vec());
    fuzz("capture", &seeds, 400, |d| {
        fuzzing::input_file(d, dir.path())
    });
}

#[test]
fn frames_of_every_link_type_survive_mutation() {
    // Seeds: the frames of the generated captures, each as [link][len][bytes].
    let mut seeds = Vec::new();
    for c in captures()
        .iter()
        .filter(|c| c.starts_with(&[0xd4, 0xc3, 0xb2, 0xa1]))
    {
        let link = u32::from_le_bytes(c[20..24].try_into().unwrap());
        let li = fuzzing::LINKS.iter().position(|&l| l == link).unwrap_or(1) as u8;
        let (mut s, mut at, mut n) = (Vec::new(), 24, 0);
        while at + 16 <= c.len() {
            let len = u32::from_le_bytes(c[at + 8..at + 12].try_into().unwrap()) as usize;
            let frame = &c[at + 16..(at + 16 + len).min(c.len())];
            at += 16 + len;
            s.push(li);
            s.extend_from_slice(&(frame.len() as u16).to_le_bytes());
            s.extend_from_slice(frame);
            n += 1;
            if n % 16 == 0 {
                seeds.push(std::mem::take(&mut s));
            }
        }
    }
    assert!(seeds.len() > 10);
    fuzz("frames", &seeds, 3000, fuzzing::frames);
}

fn netflow_file() -> Vec<u8> {
    let mut v9 = ExportWriter::v9(1000, 1_700_000_000, 7);
    v9.template(
        256,
        &[
            (8, 4, 0),
            (12, 4, 0),
            (7, 2, 0),
            (11, 2, 0),
            (4, 1, 0),
            (1, 4, 0),
        ],
    );
    let rec = nf::record(&[
        &[10, 0, 0, 1],
        &[10, 0, 0, 2],
        &1234u16.to_be_bytes(),
        &80u16.to_be_bytes(),
        &[6],
        &500u32.to_be_bytes(),
    ]);
    v9.data(256, &[&rec, &rec]);
    let mut ipfix = ExportWriter::ipfix(1_700_000_000, 3);
    ipfix.template(300, &[(8, 4, 0), (12, 4, 0), (4, 1, 0), (2, 8, 0)]);
    let r2 = nf::record(&[
        &[192, 0, 2, 1],
        &[198, 51, 100, 2],
        &[17],
        &9u64.to_be_bytes(),
    ]);
    ipfix.data(300, &[&r2]);
    let v5 = nf::v5(
        1000,
        1_700_000_000,
        &[nf::V5Record::tcp([10, 0, 0, 3], 5, [10, 0, 0, 4], 6)],
    );
    [v9.finish(), ipfix.finish(), v5].concat()
}

#[test]
fn netflow_datagrams_survive_mutation() {
    let f = netflow_file();
    fuzz(
        "netflow",
        &[f.clone(), f[..f.len() / 2].to_vec()],
        3000,
        fuzzing::netflow_datagrams,
    );
}

const ZEEK: &str = "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tinterval\tcount\tcount\tcount\tcount\n\
1300475167.096535\tC1\t141.142.220.202\t5353\t224.0.0.251\t5353\tudp\t0.1\t1\t73\t0\t0\n";

#[test]
fn flow_logs_survive_mutation() {
    let texts = [
        ZEEK.to_string(),
        r#"{"ts":1300475167.09,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":2,"proto":"tcp","orig_pkts":3}"#.to_string(),
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 5 500 1714557600 1714557660 ACCEPT OK\n".to_string(),
        r#"{"insertId":"1","jsonPayload":{"bytes_sent":"500","connection":{"dest_ip":"10.0.0.2","dest_port":443,"protocol":6,"src_ip":"10.0.0.1","src_port":40000},"end_time":"2024-05-01T10:00:01Z","packets_sent":"5","start_time":"2024-05-01T10:00:00Z"}}"#.to_string(),
        r#"{"records":[{"time":"2024-05-01T10:00:00Z","properties":{"Version":2,"flows":[{"rule":"r","flows":[{"mac":"00","flowTuples":["1714557600,10.0.0.1,10.0.0.2,40000,443,T,O,A,E,5,500,4,4000"]}]}]}}]}"#.to_string(),
        "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt\n2024-05-01 10:00:00.000,2024-05-01 10:00:01.000,1.0,10.0.0.1,10.0.0.2,40000,443,TCP,.AP.SF,0,0,5,500\n".to_string(),
        "StartTime,LastTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,TotPkts,TotBytes,State\n10:00:00.000000,10:00:01.000000,tcp,10.0.0.1,40000,->,10.0.0.2,443,5,500,FIN\n".to_string(),
    ];
    let seeds: Vec<Vec<u8>> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| [&[i as u8][..], t.as_bytes()].concat())
        .collect();
    fuzz("text_log", &seeds, 3000, fuzzing::text_log);
}

#[test]
fn header_evidence_survives_mutation() {
    let seeds = vec![
        b"GET /a HTTP/1.1\r\nHost: example.org\r\nX-Forwarded-For: 203.0.113.9, 198.51.100.2\r\nForwarded: for=\"[2001:db8::1]:4711\";by=_hidden, for=unknown\r\nVia: 1.1 proxy.example (squid)\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nVia: 1.1 varnish, 1.0 fred\r\n\r\n".to_vec(),
        b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nReceived: from mx.example.org (mx.example.org [192.0.2.5]) by relay.example.net with ESMTP id 1; Tue, 1 Nov 2022 10:00:00 +0100\r\nReceived: from [10.0.0.1] by mx.example.org; Tue, 1 Nov 2022 09:59:58 +0100\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n".to_vec(),
        vec![0x45, 0, 0, 40, 0, 0, 0, 0, 1, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x82, 0x9a, 0, 53, 0, 20, 0, 0],
    ];
    fuzz("headers", &seeds, 3000, fuzzing::headers);
}

#[test]
fn databases_survive_mutation() {
    use hoptrace::synth::mmdb::{MmdbWriter, asn_record, country_record};
    let mut asn = MmdbWriter::new("GeoLite2-ASN", 1_700_000_000);
    asn.insert("192.0.2.0/24", asn_record(64500, "Example Net"));
    asn.insert("2001:db8::/32", asn_record(64501, "Example Six"));
    let mut country = MmdbWriter::new("GeoIP2-Country", 1_700_000_000);
    country.insert("1.2.3.0/24", country_record("SE", "SE"));
    let seeds = vec![asn.finish(), country.finish()];
    fuzz("database", &seeds, 800, fuzzing::database);
}

#[test]
fn jurisdiction_and_provider_tables_survive_mutation() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let seeds = vec![
        std::fs::read(root.join("jurisdictions.csv")).unwrap(),
        std::fs::read(root.join("providers.example.csv")).unwrap(),
    ];
    fuzz("tables", &seeds, 300, fuzzing::tables);
}

/// Inputs the libFuzzer runs found (`fuzz/run.sh`), kept so they stay fixed.
/// Both: an IPv6 extension chain cut after a header that names another extension;
/// etherparse 0.21's extension iterator read past the end of it (undefined behaviour that
/// debug builds catch). The decoder now walks only chains that parsed whole.
const FOUND_FRAMES_IPV6_EXT: [u8; 52] = [
    0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x00, 0x00, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c, 0x6c,
    0x6c, 0x6c, 0x6c, 0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x5d, 0x00, 0x00, 0x00, 0x00, 0xf5, 0xcc, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xab, 0xfe, 0x44, 0x44,
];

const FOUND_CAPTURE_IPV6_EXT: [u8; 172] = [
    0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x40, 0x06, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xc3, 0xc6, 0x85, 0x4f, 0x24, 0xdc, 0x0e, 0x00,
    0x72, 0x00, 0x00, 0x00, 0x72, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x20, 0x00, 0x3c,
    0x3a, 0x40, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xde, 0xad, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xbe, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xef, 0x03, 0x00, 0xf0, 0xba, 0x00, 0x48,
    0x54, 0x54, 0x50, 0x2f, 0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x11, 0x40, 0xfe,
    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xde, 0xad,
    0x75, 0x30, 0x33, 0xc8, 0x00, 0x0c, 0x0c, 0x8e, 0x58, 0x58, 0x58, 0x58,
];

#[test]
fn findings_of_the_fuzz_runs_stay_fixed() {
    fuzzing::frames(&FOUND_FRAMES_IPV6_EXT);
    let dir = tempfile::tempdir().unwrap();
    fuzzing::input_file(&FOUND_CAPTURE_IPV6_EXT, dir.path());
    let run = crate::support::run_bytes(&FOUND_CAPTURE_IPV6_EXT);
    // The frame is counted, its cut chain reported (the record cut after it too).
    assert_eq!(run.flows.frames, 1);
    assert!(run.skipped_input());
}
