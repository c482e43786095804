//! HTTP proxy headers, mail headers and Received fields, SMTP streams, ICMP quotes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hoptrace::fuzzing::headers(data);
});
