//! `hoptrace-generate`: writes a deterministic large capture for benchmarks and tests:
//!
//! ```text
//! hoptrace-generate OUT [--packets N] [--format pcap|pcapng] [--seed S]
//! hoptrace-generate OUT --netflow 5|9|10 [--records N] [--raw] [--seed S]
//! ```
//!
//! (`cargo run --release --bin hoptrace-generate -- ...` from a checkout.)
//!
//! Prints what it wrote (packets, bytes, the flows hoptrace must find) as one JSON line.
//! With `--netflow`, writes NetFlow/IPFIX export datagrams (a pcap of UDP packets from
//! 198.51.100.1 to 198.51.100.200:2055, or with `--raw` the datagrams back to back).

use hoptrace::synth::netflow::BigExport;
use hoptrace::synth::{BigCapture, Capture, Format, Pkt};
use std::io::BufWriter;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut out = None;
    let mut big = BigCapture::default();
    let mut export: Option<BigExport> = None;
    let mut raw = false;
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--packets" => {
                big.packets = value().parse().expect("--packets: a number");
                i += 1;
            }
            "--seed" => {
                big.seed = value().parse().expect("--seed: a number");
                if let Some(e) = &mut export {
                    e.seed = big.seed;
                }
                i += 1;
            }
            "--netflow" => {
                let version: u16 = value().parse().expect("--netflow: 5, 9 or 10");
                assert!([5, 9, 10].contains(&version), "--netflow: 5, 9 or 10");
                export = Some(BigExport {
                    version,
                    per_datagram: if version == 5 { 30 } else { 24 },
                    seed: big.seed,
                    ..export.unwrap_or_default()
                });
                i += 1;
            }
            "--records" => {
                let n = value().parse().expect("--records: a number");
                export = Some(BigExport {
                    records: n,
                    ..export.unwrap_or_default()
                });
                i += 1;
            }
            "--raw" => raw = true,
            "--format" => {
                big.format = match value().as_str() {
                    "pcap" => Format::Pcap,
                    "pcapng" => Format::PcapNg,
                    f => panic!("--format: pcap or pcapng, not {f}"),
                };
                i += 1;
            }
            a if !a.starts_with('-') => out = Some(a.to_string()),
            a => panic!("unknown argument {a}"),
        }
        i += 1;
    }
    let Some(out) = out else {
        eprintln!(
            "usage: hoptrace-generate OUT [--packets N] [--format pcap|pcapng] [--seed S] | OUT --netflow 5|9|10 [--records N] [--raw]"
        );
        std::process::exit(2);
    };
    let file = std::fs::File::create(&out).expect("creating the output file");
    let mut w = BufWriter::with_capacity(1 << 20, file);
    if let Some(e) = export {
        let (mut datagrams, mut bytes) = (0u64, 0u64);
        let mut cap = Capture::new(Format::Pcap);
        e.each(|secs, d| {
            datagrams += 1;
            if raw {
                bytes += d.len() as u64;
                w.write_all(d).expect("writing the datagrams");
            } else {
                let frame = Pkt::udp4(([198, 51, 100, 1], 50000), ([198, 51, 100, 200], 2055), d);
                cap.push(i64::from(secs) * 1_000_000_000 + datagrams as i64, &frame);
                if cap.len() > 1 << 20 {
                    let b = cap.drain();
                    bytes += b.len() as u64;
                    w.write_all(&b).expect("writing the capture");
                }
            }
        });
        if !raw {
            let b = cap.finish();
            bytes += b.len() as u64;
            w.write_all(&b).expect("writing the capture");
        }
        drop(w);
        println!(
            "{{\"file\":\"{out}\",\"netflow_version\":{},\"records\":{},\"datagrams\":{datagrams},\"bytes\":{bytes}}}",
            e.version, e.records
        );
        return;
    }
    let stats = big.write_to(&mut w).expect("writing the capture");
    drop(w);
    println!(
        "{{\"file\":\"{out}\",\"packets\":{},\"bytes\":{},\"flows\":{},\"inner_flows\":{}}}",
        stats.packets, stats.bytes, stats.flows, stats.inner_flows
    );
}
