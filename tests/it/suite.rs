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
    assert!(stdout.contains("  1 thread: "), "{stdout}");
}

#[test]
fn the_generator_explains_its_usage_and_names_the_file_it_cannot_write() {
    let generator = || std::process::Command::new(env!("CARGO_BIN_EXE_hoptrace-generate"));
    let out = generator().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--packets"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("x.pcap");
    let out = generator()
        .arg(&bad)
        .args(["--netflow", "7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!bad.exists(), "a usage error writes nothing");
    let missing = dir.path().join("no/such/dir/x.pcap");
    let out = generator().arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no/such/dir/x.pcap"));
    // Small and deterministic: the same seed gives the same bytes.
    let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    for p in [&a, &b] {
        let out = generator()
            .arg(p)
            .args(["--packets", "2000", "--seed", "3"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(text(&out.stdout).starts_with("{\"file\":"));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}
