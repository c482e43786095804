//! Writes a deterministic large capture for benchmarks:
//!
//! ```text
//! cargo bench --bench generate -- OUT [--packets N] [--format pcap|pcapng] [--seed S]
//! ```
//!
//! Prints what it wrote (packets, bytes, the flows hoptrace must find) as one JSON line.

use hoptrace::synth::{BigCapture, Format};
use std::io::BufWriter;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut out = None;
    let mut big = BigCapture::default();
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
                i += 1;
            }
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
            "usage: cargo bench --bench generate -- OUT [--packets N] [--format pcap|pcapng] [--seed S]"
        );
        std::process::exit(2);
    };
    let file = std::fs::File::create(&out).expect("creating the output file");
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let stats = big.write_to(&mut w).expect("writing the capture");
    drop(w);
    println!(
        "{{\"file\":\"{out}\",\"packets\":{},\"bytes\":{},\"flows\":{},\"inner_flows\":{}}}",
        stats.packets, stats.bytes, stats.flows, stats.inner_flows
    );
}
