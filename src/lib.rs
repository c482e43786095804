//! hoptrace reads packet captures and flow logs, reconstructs the path a
//! specified communication took, attributes every hop to a provider and a jurisdiction, and
//! writes the disclosure Article 30 of the Budapest Convention asks for.
//!
//! The work is a pipeline of stages, each in its own module and each owning one foreign
//! crate: [`ingest`] turns files (pcap, pcapng, gzip/zstd, standard input) into frames with
//! locators; [`decode`] turns frame bytes into [`PacketFacts`](decode::PacketFacts), one per
//! IP layer, with every tunnel and shim kept; [`flow`] groups packets into bidirectional
//! flows with a merge that is associative, so tables built in parallel or in separate runs
//! combine exactly; [`records`] reads flow logs and flow exports (NetFlow v5/v9/IPFIX,
//! Zeek conn.log, cloud flow logs, nfdump and Argus tables) into one record model;
//! [`enrich`] attributes addresses; [`report`] writes flow tables (CSV, JSON lines, Parquet). [`pipeline`]
//! is the only module that runs several stages for the command and the only user of rayon;
//! [`fuzzing`] drives each reader on arbitrary bytes for the fuzz targets and the tests.
//!
//! ```
//! use hoptrace::{FlowsConfig, flows};
//! use hoptrace::synth::{Capture, Format, Pkt};
//!
//! // Write a tiny capture: one TCP handshake.
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("demo.pcap");
//! let mut cap = Capture::new(Format::Pcap);
//! let a = ([192, 0, 2, 1], 40000);
//! let b = ([198, 51, 100, 7], 443);
//! cap.push(1_000_000_000, &Pkt::tcp4(a, b, hoptrace::flow::tcp::SYN, b""));
//! cap.push(1_010_000_000, &Pkt::tcp4(b, a, hoptrace::flow::tcp::SYN | hoptrace::flow::tcp::ACK, b""));
//! std::fs::write(&path, cap.finish()).unwrap();
//!
//! let run = flows(&FlowsConfig::new(vec![path])).unwrap();
//! assert_eq!(run.flows.flows.len(), 1);
//! let f = &run.flows.flows[0];
//! assert_eq!(f.pkts(), 2);
//! assert_eq!(f.key.endpoint(f.orig_side()).port, 40000);
//! ```

//!
//! To look at packets one at a time instead, stream them:
//!
//! ```
//! use hoptrace::pipeline::{PacketEvent, packets};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("demo.pcapng");
//! # std::fs::write(&path, hoptrace::synth::demo_capture()).unwrap();
//! let mut tunnelled = 0;
//! for event in packets(&path)? {
//!     if let PacketEvent::Packet(p) = event? {
//!         // One PacketFacts per IP header: a VXLAN frame has the carrier and the inner.
//!         if p.packets.len() > 1 {
//!             tunnelled += 1;
//!         }
//!     }
//! }
//! assert_eq!(tunnelled, 11);
//! # Ok::<(), hoptrace::ingest::IngestError>(())
//! ```
//!
//! The Art. 30 disclosure of one communication, as typed values (their JSON is what
//! `hoptrace trace` writes):
//!
//! ```
//! use hoptrace::hops::{Query, QueryTime};
//! use hoptrace::pipeline::{TraceConfig, TraceOutcome, trace};
//! use hoptrace::synth::{Capture, Format, Pkt};
//! use hoptrace::flow::tcp::{ACK, SYN};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("evidence.pcap");
//! # let mut cap = Capture::new(Format::Pcap);
//! # cap.push(1_700_000_000_000_000_000, &Pkt::tcp4(([8, 8, 8, 8], 40000), ([1, 1, 1, 1], 443), SYN, b""));
//! # cap.push(1_700_000_000_010_000_000, &Pkt::tcp4(([1, 1, 1, 1], 443), ([8, 8, 8, 8], 40000), SYN | ACK, b""));
//! # std::fs::write(&path, cap.finish()).unwrap();
//! let mut query = Query::new("1.1.1.1".parse()?);
//! query.port = Some(443);
//! query.at = QueryTime::parse("2023-11-14T23:13:20+01:00");
//! let cfg = TraceConfig {
//!     inputs: vec![path],
//!     read: hoptrace::FlowsConfig::new(Vec::new()),
//!     query,
//!     party: "AU".into(),
//!     requesting: Some("DE".into()),
//!     request_ref: Some("case 2026/17".into()),
//!     art29: true,
//!     generated_at: None,
//!     include: Default::default(),
//! };
//! let enricher = hoptrace::enrich::Enricher::bundled()?;
//! let (outcome, _runs) = trace(&cfg, &enricher)?;
//! let TraceOutcome::Found(disclosure) = outcome else {
//!     panic!("one communication matches");
//! };
//! assert_eq!(disclosure.hops[0].role, "origin");
//! assert_eq!(disclosure.hops[0].asn, Some(15169));
//! let next = disclosure.providers.iter().find(|p| p.nearest_foreign).unwrap();
//! assert_eq!(next.asn, 15169);
//! let json = serde_json::to_string(&disclosure)?;
//! assert!(json.contains("\"nearest_foreign\":true"));
//! // One Art. 29 draft per foreign provider, the next target first.
//! let drafts = disclosure.art29_drafts.as_ref().unwrap();
//! assert_eq!(drafts[0].custodian.asn, 15169);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod decode;
pub mod enrich;
pub mod flow;
pub mod fuzzing;
pub mod hops;
pub mod ingest;
pub mod model;
pub mod pipeline;
pub mod records;
pub mod report;
pub mod synth;

pub use pipeline::{Error, FlowRun, FlowsConfig, InputSummary, PartialRun, flows, partial};
