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
//! is the only module that runs several stages and the only user of rayon.
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

pub mod decode;
pub mod enrich;
pub mod flow;
pub mod hops;
pub mod ingest;
pub mod model;
pub mod pipeline;
pub mod records;
pub mod report;
pub mod synth;

pub use pipeline::{Error, FlowRun, FlowsConfig, InputSummary, PartialRun, flows, partial};
