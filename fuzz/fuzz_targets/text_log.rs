//! Zeek TSV/JSON, VPC (AWS, GCP, Azure), nfdump and Argus flow logs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hoptrace::fuzzing::text_log(data);
});
