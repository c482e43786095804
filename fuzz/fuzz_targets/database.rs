//! MaxMind DB (and compressed or range-table) open and lookup.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hoptrace::fuzzing::database(data);
});
