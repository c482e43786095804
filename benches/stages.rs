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
        hoptrace::ingest::ReaderState::from(p),
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
    hops(c, &run);

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
    // The whole of `trace`: the flow run with header evidence, the search, the path, the
    // attribution and the disclosure.
    let first = &run.flows.flows[0];
    let end = first.key.endpoint(first.orig_side());
    g.bench_function("trace", |b| {
        b.iter(|| {
            let mut query = hoptrace::hops::Query::new(end.addr.to_ip());
            query.port = Some(end.port);
            let cfg = hoptrace::pipeline::TraceConfig {
                inputs: vec![path.clone()],
                read: FlowsConfig::new(Vec::new()),
                query,
                party: "US".into(),
                requesting: None,
                request_ref: None,
                art29: true,
                generated_at: None,
                include: Default::default(),
            };
            let (outcome, _) = hoptrace::pipeline::trace(&cfg, &enricher).expect("a trace");
            assert!(!matches!(
                outcome,
                hoptrace::pipeline::TraceOutcome::NotFound { .. }
            ));
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hops: finding a communication among every flow of the run, and ordering its path.
fn hops(c: &mut Criterion, run: &hoptrace::FlowRun) {
    use hoptrace::hops::{Query, find, path};
    let ev = [run.evidence(0)];
    let f = &run.flows.flows[0];
    let end = f.key.endpoint(f.orig_side());
    let mut q = Query::new(end.addr.to_ip());
    q.port = Some(end.port);
    let mut g = c.benchmark_group("hops");
    g.throughput(Throughput::Elements(run.flows.flows.len() as u64));
    g.bench_function("find the communication among all flows", |b| {
        b.iter(|| {
            let found = find(black_box(&ev), &q);
            assert!(!found.is_empty());
        })
    });
    let cand = find(&ev, &q).remove(0);
    g.throughput(Throughput::Elements(1));
    g.bench_function("order its path", |b| {
        b.iter(|| {
            let hops = path(black_box(&cand), &ev);
            assert!(hops.len() >= 2);
        })
    });
    g.finish();
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

/// Text lines of every log format for `n` connections (the same tuples in each).
fn log_texts(n: usize) -> Vec<(hoptrace::records::LogFormat, String)> {
    use hoptrace::records::LogFormat as F;
    use std::fmt::Write;
    let mut zeek = String::from(
        "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n",
    );
    let mut zjson = String::new();
    let mut vpc = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    let mut nfd = String::from(
        "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr\n",
    );
    let mut argus = String::from(
        "StartTime,LastTime,SrcAddr,Sport,DstAddr,Dport,Proto,SrcPkts,DstPkts,SrcBytes,DstBytes,State\n",
    );
    let mut gcp = String::new();
    for i in 0..n {
        let (h, s, p) = (i % 2000, i % 500, 32768 + (i % 28000));
        let (src, dst) = (
            format!("10.1.{}.{}", h / 256, h % 256),
            format!("192.0.2.{}", s % 256),
        );
        let t = 1_700_000_000 + i / 100;
        let _ = writeln!(
            zeek,
            "{t}.250000\tC{i}\t{src}\t{p}\t{dst}\t443\ttcp\t-\t1.500000\t100\t2000\tSF\t-\t-\t0\tShADadFf\t6\t420\t5\t2260\t-"
        );
        let _ = writeln!(
            zjson,
            "{{\"ts\":{t}.25,\"uid\":\"C{i}\",\"id.orig_h\":\"{src}\",\"id.orig_p\":{p},\"id.resp_h\":\"{dst}\",\"id.resp_p\":443,\"proto\":\"tcp\",\"duration\":1.5,\"orig_pkts\":6,\"orig_ip_bytes\":420,\"resp_pkts\":5,\"resp_ip_bytes\":2260}}"
        );
        let _ = writeln!(
            vpc,
            "2 123456789010 eni-1 {src} {dst} {p} 443 6 6 420 {t} {} ACCEPT OK",
            t + 60
        );
        let _ = writeln!(
            nfd,
            "2023-11-14 22:13:19,2023-11-14 22:13:20,0.900,{src},{dst},{p},443,TCP,...AP.SF,0,0,6,420,0,0,1,2,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,127.0.0.1,0/1,1,2026-11-28 18:45:46.366"
        );
        let _ = writeln!(
            argus,
            "{t}.250000,{t}.750000,{src},{p},{dst},443,tcp,6,5,420,2260,FIN"
        );
        let _ = writeln!(
            gcp,
            "{{\"insertId\":\"{i}\",\"jsonPayload\":{{\"bytes_sent\":\"420\",\"connection\":{{\"dest_ip\":\"{dst}\",\"dest_port\":443,\"protocol\":6,\"src_ip\":\"{src}\",\"src_port\":{p}}},\"end_time\":\"2023-11-14T22:13:20Z\",\"packets_sent\":\"6\",\"reporter\":\"SRC\",\"start_time\":\"2023-11-14T22:13:19Z\"}}}}"
        );
    }
    vec![
        (F::ZeekTsv, zeek),
        (F::ZeekJson, zjson),
        (F::AwsVpc, vpc),
        (F::NfdumpCsv, nfd),
        (F::ArgusCsv, argus),
        (F::GcpJson, gcp),
    ]
}

/// Reading flow records, per format: export datagrams through the template-keeping
/// collector, text logs through their readers (in parallel pieces).
fn records(c: &mut Criterion) {
    use hoptrace::records::netflow::{Collector, Export, Limits};
    const N: u64 = 200_000;
    let mut g = c.benchmark_group("records");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    for version in [5u16, 9, 10] {
        let mut datagrams = Vec::new();
        hoptrace::synth::netflow::BigExport {
            version,
            records: N,
            per_datagram: if version == 5 { 30 } else { 24 },
            seed: 1,
        }
        .each(|_, d| datagrams.push(d.to_vec()));
        let exports: Vec<Export> = datagrams
            .into_iter()
            .map(|bytes| Export {
                at: Default::default(),
                captured: None,
                exporter: Some((hoptrace::model::Addr::v4([198, 51, 100, 1]), 50000)),
                bytes,
            })
            .collect();
        g.bench_function(BenchmarkId::new("netflow", version), |b| {
            b.iter(|| {
                let mut col = Collector::new(Limits::default());
                let mut out = Vec::with_capacity(N as usize);
                let mut diag = hoptrace::model::Diagnostics::default();
                for e in &exports {
                    col.datagram(e, &mut out, &mut diag);
                }
                assert_eq!(out.len() as u64, N);
                assert!(diag.is_empty());
                black_box(out)
            })
        });
    }
    let o = hoptrace::records::TextOptions::default();
    for (format, text) in log_texts(N as usize) {
        g.bench_function(BenchmarkId::new("log", format.name()), |b| {
            b.iter(|| {
                let r = hoptrace::records::read_text(0, text.as_bytes(), format, &o);
                assert_eq!(r.records.len() as u64, N, "{format:?}");
                black_box(r)
            })
        });
    }
    g.bench_function("pair one-way records", |b| {
        let mut datagrams = Vec::new();
        hoptrace::synth::netflow::BigExport {
            version: 9,
            records: N,
            per_datagram: 24,
            seed: 2,
        }
        .each(|_, d| datagrams.push(d.to_vec()));
        let mut col = Collector::new(Limits::default());
        let mut recs = Vec::new();
        let mut diag = hoptrace::model::Diagnostics::default();
        for bytes in datagrams {
            let e = Export {
                at: Default::default(),
                captured: None,
                exporter: Some((hoptrace::model::Addr::v4([198, 51, 100, 1]), 50000)),
                bytes,
            };
            col.datagram(&e, &mut recs, &mut diag);
        }
        b.iter(|| {
            let set = hoptrace::records::pair(recs.clone(), &FlowConfig::default());
            assert!(set.records.len() as u64 <= N);
            black_box(set)
        })
    });
    g.finish();
}

criterion_group!(benches, stages, records);
criterion_main!(benches);
