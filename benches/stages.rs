//! One benchmark per stage over the same deterministic capture (200k packets, tunnels,
//! VLANs, IPv4 and IPv6), each asserting the counts it must produce so a fast but wrong
//! stage fails. Whole-binary speed is measured with hyperfine against the peers (README).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hoptrace::decode::{Decoded, decode};
use hoptrace::flow::{FlowConfig, FlowTable};
use hoptrace::ingest::{Container, Event, Records, Span};
use hoptrace::synth::{BigCapture, BigStats, Format};
use hoptrace::{FlowsConfig, flows};
use std::hint::black_box;

const PACKETS: u64 = 200_000;

fn capture() -> (Vec<u8>, BigStats) {
    let mut out = Vec::new();
    let stats = BigCapture {
        packets: PACKETS,
        concurrency: 1000,
        format: Format::Pcap,
        ..BigCapture::default()
    }
    .write_to(&mut out)
    .expect("generating in memory");
    (out, stats)
}

fn walker(data: &[u8]) -> Records<'_> {
    let Ok(hoptrace::ingest::Input {
        container: Container::Pcap(p),
        ..
    }) = hoptrace::ingest::open_bytes(std::path::Path::new("bench"), data[..64].to_vec())
    else {
        panic!("the generator writes pcap");
    };
    Records::new(
        data,
        Span {
            base: 0,
            pos: 24,
            end: data.len(),
            at_input_end: true,
        },
        hoptrace::ingest::ReaderState::Pcap(p),
        0,
        1,
    )
}

fn stages(c: &mut Criterion) {
    let (data, stats) = capture();
    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Elements(stats.packets));
    g.sample_size(20);

    g.bench_function("ingest: walk records", |b| {
        b.iter(|| {
            let n = walker(&data)
                .filter(|e| matches!(e, Event::Frame(_)))
                .count() as u64;
            assert_eq!(n, stats.packets);
        })
    });

    g.bench_function("decode: frames to packet facts", |b| {
        let frames: Vec<_> = walker(&data)
            .filter_map(|e| match e {
                Event::Frame(f) => Some(f),
                Event::Skip(_) => None,
            })
            .collect();
        let mut dec = Decoded::default();
        b.iter(|| {
            let mut packets = 0u64;
            for f in &frames {
                decode(f, &mut dec);
                packets += dec.packets().len() as u64;
            }
            // Tunnelled frames give two packets (carrier and inner).
            assert!(packets > stats.packets);
            black_box(packets)
        })
    });

    g.bench_function("flow: count packets into a table", |b| {
        let mut decoded = Vec::new();
        let mut dec = Decoded::default();
        for e in walker(&data) {
            if let Event::Frame(f) = e {
                decode(&f, &mut dec);
                decoded.push((dec.packets().to_vec(), dec.encap().to_vec(), f.ts, f.loc));
            }
        }
        b.iter(|| {
            let mut t = FlowTable::with_capacity(FlowConfig::default(), 1 << 16);
            for (p, e, ts, loc) in &decoded {
                t.add_frame(p, e, *ts, *loc);
            }
            assert_eq!(t.len() as u64, stats.flows);
        })
    });
    g.finish();

    // Appending chunk tables (the sequential step of a parallel run).
    let mut g = c.benchmark_group("merge");
    g.sample_size(20);
    for parts in [8usize, 64] {
        let mut tables = Vec::new();
        let all: Vec<_> = walker(&data).collect();
        let per = all.len().div_ceil(parts);
        let mut dec = Decoded::default();
        for (i, chunk) in all.chunks(per).enumerate() {
            let mut t = FlowTable::new(FlowConfig::default());
            for e in chunk {
                if let Event::Frame(f) = e {
                    let mut f = *f;
                    f.loc.frame -= (i * per) as u64;
                    decode(&f, &mut dec);
                    t.add_frame(dec.packets(), dec.encap(), f.ts, f.loc);
                }
            }
            tables.push(t);
        }
        g.throughput(Throughput::Elements(stats.flows));
        g.bench_with_input(
            BenchmarkId::new("append chunk tables", parts),
            &tables,
            |b, tables| {
                b.iter(|| {
                    let mut acc = FlowTable::new(FlowConfig::default());
                    for t in tables {
                        acc.append(t.clone());
                    }
                    assert_eq!(acc.finish().flows.len() as u64, stats.flows);
                })
            },
        );
    }
    g.finish();

    // Report: rows and CSV encoding.
    let dir = std::env::temp_dir().join(format!("hoptrace-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("bench.pcap");
    std::fs::write(&path, &data).expect("writing the bench capture");
    let run = flows(&FlowsConfig::new(vec![path.clone()])).expect("a run");
    let mut g = c.benchmark_group("report");
    g.throughput(Throughput::Elements(stats.flows));
    g.sample_size(20);
    g.bench_function("csv table", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(64 << 20);
            hoptrace::report::write_flows(&run, hoptrace::report::TableFormat::Csv, &mut out)
                .expect("writing to memory");
            assert_eq!(
                out.iter().filter(|&&c| c == b'\n').count() as u64,
                stats.flows + 1
            );
        })
    });
    let enricher = hoptrace::enrich::Enricher::bundled().expect("bundled data");
    g.bench_function("csv table, enriched", |b| {
        b.iter(|| {
            let cache = hoptrace::enrich::AddrCache::new(&enricher);
            let mut out = Vec::with_capacity(64 << 20);
            hoptrace::pipeline::write_flows_enriched(
                &run,
                hoptrace::report::TableFormat::Csv,
                &mut out,
                0,
                Some(&cache),
            )
            .expect("writing to memory");
            assert_eq!(
                out.iter().filter(|&&c| c == b'\n').count() as u64,
                stats.flows + 1
            );
        })
    });
    g.finish();

    enrich(c, &enricher);

    // End to end through the pipeline, by thread count.
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    for threads in [1usize, 2] {
        g.bench_with_input(
            BenchmarkId::new("flows", threads),
            &threads,
            |b, &threads| {
                b.iter(|| {
                    let mut cfg = FlowsConfig::new(vec![path.clone()]);
                    cfg.threads = threads;
                    cfg.chunk_bytes = 4 << 20;
                    let run = flows(&cfg).expect("a run");
                    assert_eq!(run.flows.flows.len() as u64, stats.flows);
                })
            },
        );
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Addresses spread over the whole space (an LCG, as maxminddb's own benches do), so the
/// lookups are not all cache hits; about a tenth are IPv6.
fn addresses(n: usize) -> Vec<std::net::IpAddr> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|i| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            if i % 10 == 0 {
                // Global unicast IPv6 (2000::/3), where the bundled data has its ranges.
                let hi = (0x2000u128 | ((x >> 48) as u128 & 0x0fff)) << 112;
                std::net::IpAddr::V6(std::net::Ipv6Addr::from(hi | u128::from(x) << 32))
            } else {
                std::net::IpAddr::V4(std::net::Ipv4Addr::from((x >> 32) as u32))
            }
        })
        .collect()
}

fn enrich(c: &mut Criterion, e: &hoptrace::enrich::Enricher) {
    const N: usize = 100_000;
    let ips = addresses(N);
    let mut g = c.benchmark_group("enrich");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("classify", |b| {
        b.iter(|| {
            let global = ips
                .iter()
                .filter(|&&ip| hoptrace::enrich::classify(ip).globally_reachable)
                .count();
            assert!(global > N / 2, "{global}");
        })
    });
    for threads in [1usize, 2] {
        g.bench_with_input(
            BenchmarkId::new("lookup, bundled data", threads),
            &threads,
            |b, &threads| {
                b.iter(|| {
                    let a = hoptrace::pipeline::attribute(e, &ips, threads).expect("a pool");
                    let with_asn = a.iter().filter(|a| a.fields.asn.is_some()).count();
                    // Most of the routed IPv4 space has an ASN.
                    assert!(with_asn > N / 3, "{with_asn}");
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
