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

use clap::Parser;
use clap::builder::TypedValueParser;
use hoptrace::synth::netflow::BigExport;
use hoptrace::synth::{BigCapture, Capture, Format, Pkt};
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// Writes a deterministic large capture (or NetFlow/IPFIX export) for benchmarks and tests,
/// and prints what it wrote as one JSON line.
#[derive(Parser)]
#[command(name = "hoptrace-generate", version)]
struct Args {
    /// The file to write.
    out: std::path::PathBuf,
    /// Packets to write (captures).
    #[arg(long)]
    packets: Option<u64>,
    /// Container of the capture.
    #[arg(long, value_parser = ["pcap", "pcapng"], default_value = "pcap")]
    format: String,
    /// Seed of the generator: the same seed and options give the same bytes.
    #[arg(long)]
    seed: Option<u64>,
    /// Write NetFlow/IPFIX export datagrams of this version instead (5, 9 or 10): a pcap of
    /// UDP packets from 198.51.100.1 to 198.51.100.200:2055.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["5", "9", "10"])
        .map(|v| match v.as_str() { "5" => 5u16, "9" => 9, _ => 10 }))]
    netflow: Option<u16>,
    /// Flow records to export (with --netflow).
    #[arg(long, requires = "netflow")]
    records: Option<u64>,
    /// The datagrams back to back, without a capture around them (with --netflow).
    #[arg(long, requires = "netflow")]
    raw: bool,
    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Not `eprintln!`, which panics when standard error cannot be written.
            let _ = writeln!(
                std::io::stderr(),
                "hoptrace-generate: {}: {e}",
                a.out.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn run(a: &Args) -> std::io::Result<()> {
    let out = a.out.display();
    let file = std::fs::File::create(&a.out)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    if let Some(version) = a.netflow {
        let mut e = BigExport {
            version,
            per_datagram: if version == 5 { 30 } else { 24 },
            ..BigExport::default()
        };
        if let Some(n) = a.records {
            e.records = n;
        }
        // The capture generator's seed unless one is given (as it always was).
        e.seed = a.seed.unwrap_or(BigCapture::default().seed);
        let (mut datagrams, mut bytes) = (0u64, 0u64);
        let mut cap = Capture::new(Format::Pcap);
        let mut failed = None;
        e.each(|secs, d| {
            if failed.is_some() {
                return;
            }
            datagrams += 1;
            let written = if a.raw {
                bytes += d.len() as u64;
                w.write_all(d)
            } else {
                let frame = Pkt::udp4(([198, 51, 100, 1], 50000), ([198, 51, 100, 200], 2055), d);
                cap.push(i64::from(secs) * 1_000_000_000 + datagrams as i64, &frame);
                if cap.len() > 1 << 20 {
                    let b = cap.drain();
                    bytes += b.len() as u64;
                    w.write_all(&b)
                } else {
                    Ok(())
                }
            };
            if let Err(err) = written {
                failed = Some(err);
            }
        });
        if let Some(err) = failed {
            return Err(err);
        }
        if !a.raw {
            let b = cap.finish();
            bytes += b.len() as u64;
            w.write_all(&b)?;
        }
        w.flush()?;
        writeln!(
            std::io::stdout(),
            "{{\"file\":\"{out}\",\"netflow_version\":{},\"records\":{},\"datagrams\":{datagrams},\"bytes\":{bytes}}}",
            e.version,
            e.records
        )?;
        return Ok(());
    }
    let mut big = BigCapture::default();
    if let Some(n) = a.packets {
        big.packets = n;
    }
    if let Some(s) = a.seed {
        big.seed = s;
    }
    if a.format == "pcapng" {
        big.format = Format::PcapNg;
    }
    let stats = big.write_to(&mut w)?;
    w.flush()?;
    writeln!(
        std::io::stdout(),
        "{{\"file\":\"{out}\",\"packets\":{},\"bytes\":{},\"flows\":{},\"inner_flows\":{}}}",
        stats.packets,
        stats.bytes,
        stats.flows,
        stats.inner_flows
    )?;
    Ok(())
}
