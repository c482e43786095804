//! The jurisdictions table and the provider directory.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hoptrace::fuzzing::tables(data);
});
