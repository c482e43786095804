//! A whole input file (pcap, pcapng, gzip, zstd, flow logs, NetFlow exports) through the pipeline.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hoptrace::fuzzing::input_file(data, &std::env::temp_dir());
});
