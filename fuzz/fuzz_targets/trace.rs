//! A whole input file as `trace` reads it: queries for the addresses its evidence holds,
//! each communication found placed on its path and written as every report.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hoptrace::fuzzing::trace_input(data, &std::env::temp_dir());
});
