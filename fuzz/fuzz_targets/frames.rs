//! Frames of every link type through the decoders (tunnels included) into one flow table
//! (fragments, TCP state).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hoptrace::fuzzing::frames(data);
});
