//! Synthetic captures for tests, examples and benchmarks: a pcap/pcapng writer and packet
//! builders for every link type, shim and tunnel hoptrace reads.
//!
//! Headers are assembled byte by byte (with correct checksums) rather than through a packet
//! library so that tests can also build headers that are wrong on purpose. Nothing in the
//! analysis path depends on this module.

mod big;
mod capture;
mod demo;
pub mod mmdb;
pub mod netflow;
pub mod pkt;

pub use big::{BigCapture, BigStats};
pub use capture::{Capture, Format, gzip, pzstd, zstd};
pub use demo::{DEMO_T0, demo_capture, demo_case};
pub use pkt::Pkt;
