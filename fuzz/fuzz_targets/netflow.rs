//! NetFlow v5/v9/IPFIX datagrams with template state.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hoptrace::fuzzing::netflow_datagrams(data);
});
