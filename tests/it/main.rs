//! The integration tests: one crate, one module per area.

// Helpers shared by the modules below.
mod support;

// Reading every container variant and damaged files.
mod formats;
// Every link type, shim and tunnel, from captures the tests write themselves.
mod decoding;
// Flow semantics: keys, directions, timeouts, fragments, merges.
mod flows;
// The command line as a user runs it.
mod cli;
// Address classes, databases, provenance and jurisdictions.
mod enrich;
// `lookup`, `db` and `flows --enrich` as a user runs them.
mod enrich_cli;
// Same input, same bytes out, whatever the thread count or chunk size.
mod determinism;
// Random and mutated input never panics.
mod robustness;
// Resource bounds: fragments, tunnel depth, decompression ratio, line length.
mod bounds;

// The fuzz targets' entry points on mutated seeds (libFuzzer runs them in fuzz/).
mod fuzz;
// Finding the communication a request names (hops::find).
mod hops;
// `trace` end to end: proxy chains, mail relays, traceroutes, NAT between vantage points.
mod trace;
// Flow logs and flow exports: NetFlow v5/v9/IPFIX, Zeek conn.log, VPC flow logs.
mod records;
// The benchmark suite script on its tiny size.
mod suite;
// Real captures and reference outputs from ../shared/data (HOPTRACE_SHARED_DATA).
mod conformance;
// Flow logs and exports from ../shared/data against tshark, pmacct and the formats' own samples.
mod conformance_records;
// `trace` on ../shared/data: mail relays, proxy chains, traceroutes, ICMP quotes.
mod conformance_trace;
