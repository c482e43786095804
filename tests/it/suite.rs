//! The benchmark suite script keeps working: `benches/suite.sh` on its tiny size, with the
//! test build's binaries, prints its table (every peer that is installed runs too).

use crate::support::text;

#[test]
fn the_benchmark_suite_runs_on_its_tiny_size_and_prints_its_table() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .arg(format!("{root}/benches/suite.sh"))
        .args(["--size", "tiny", "--runs", "1", "--dir"])
        .arg(dir.path())
        .args(["--hoptrace", env!("CARGO_BIN_EXE_hoptrace")])
        .args(["--generate", env!("CARGO_BIN_EXE_hoptrace-generate")])
        .output()
        .expect("running bash");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("hoptrace benchmark suite: tiny sets"),
        "{stdout}"
    );
    // One row per input hoptrace reads, each with a time and a packet rate.
    for input in ["set.pcap ", "set.pcapng ", "set16 ", "netflow9.pcap "] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with("hoptrace flows") && l.contains(input))
            .unwrap_or_else(|| panic!("no row for {input}: {stdout}"));
        assert!(row.contains(" M "), "{row}");
    }
    assert!(stdout.contains("hoptrace trace"), "{stdout}");
    assert!(stdout.contains("cat (page-cache floor)"), "{stdout}");
    assert!(stdout.contains("thread scaling"), "{stdout}");
    assert!(stdout.contains("1 thread(s)"), "{stdout}");
}
