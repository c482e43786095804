//! The command line as a user runs it: output formats, standard input, summaries and
//! exit statuses.

use crate::support::{Dir, hoptrace, text};
use hoptrace::flow::tcp::{ACK, SYN};
use hoptrace::synth::pkt::Pkt;
use hoptrace::synth::{Capture, Format, gzip};
use std::io::Write;
use std::process::{Command, Stdio};

const A: ([u8; 4], u16) = ([192, 0, 2, 1], 40000);
const B: ([u8; 4], u16) = ([198, 51, 100, 2], 443);

fn capture() -> Vec<u8> {
    let mut c = Capture::new(Format::Pcap);
    c.push(1_000_000_000, &Pkt::tcp4(A, B, SYN, b""));
    c.push(1_100_000_000, &Pkt::tcp4(B, A, SYN | ACK, b""));
    c.push(1_200_000_000, &Pkt::udp4(A, ([198, 51, 100, 3], 53), b"q"));
    c.finish()
}

#[test]
fn flows_prints_a_csv_table_and_a_summary() {
    let d = Dir::new();
    let p = d.write("c.pcap", &capture());
    let out = hoptrace(&["flows", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("ts,duration,proto,src_ip,src_port,dst_ip,dst_port,"));
    assert_eq!(lines.len(), 3);
    assert!(lines[1].contains(",tcp,192.0.2.1,40000,198.51.100.2,443,1,40,1,40,"));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("1 input (1 read), 3 frames, 2 flows"),
        "{stderr}"
    );
    // One of a kind is written in the singular.
    let mut c = Capture::new(Format::Pcap);
    c.push(1_000_000_000, &Pkt::tcp4(A, B, SYN, b""));
    let one = d.write("one.pcap", &c.finish());
    let out = hoptrace(&["flows", "-o", "/dev/null", one.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("1 input (1 read), 1 frame, 1 flow\n"),
        "{stderr}"
    );
    assert!(stderr.contains("one.pcap: pcap, 1 frame, "), "{stderr}");
}

#[test]
fn a_directory_gives_its_files_in_numbered_order() {
    let d = Dir::new();
    let dir = d.path().join("rotated");
    std::fs::create_dir(&dir).unwrap();
    // The handshake in the second file, the query in the tenth.
    let mut c = Capture::new(Format::Pcap);
    c.push(1_000_000_000, &Pkt::tcp4(A, B, SYN, b""));
    c.push(1_100_000_000, &Pkt::tcp4(B, A, SYN | ACK, b""));
    std::fs::write(dir.join("cap.pcap2"), c.finish()).unwrap();
    let mut c = Capture::new(Format::Pcap);
    c.push(1_200_000_000, &Pkt::udp4(A, ([198, 51, 100, 3], 53), b"q"));
    std::fs::write(dir.join("cap.pcap10"), c.finish()).unwrap();
    let out = hoptrace(&["flows", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let one_by_one = hoptrace(&[
        "flows",
        dir.join("cap.pcap2").to_str().unwrap(),
        dir.join("cap.pcap10").to_str().unwrap(),
    ]);
    assert_eq!(out.stdout, one_by_one.stdout);
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("2 inputs (2 read), 3 frames, 2 flows"),
        "{stderr}"
    );
    let (two, ten) = (
        stderr.find("cap.pcap2:").unwrap(),
        stderr.find("cap.pcap10:").unwrap(),
    );
    assert!(two < ten, "{stderr}");
}

#[test]
fn a_hash_seed_is_a_number_or_a_usage_error() {
    let d = Dir::new();
    let p = d.write("c.pcap", &capture());
    let with_seed = |seed: &str| {
        Command::new(env!("CARGO_BIN_EXE_hoptrace"))
            .args(["flows", "-q", p.to_str().unwrap()])
            .env("HOPTRACE_HASH_SEED", seed)
            .output()
            .unwrap()
    };
    let (dec, hex) = (with_seed("42"), with_seed("0x2A"));
    assert_eq!(dec.status.code(), Some(0), "{}", text(&dec.stderr));
    assert_eq!(dec.stdout, hex.stdout);
    assert_eq!(
        dec.stdout,
        hoptrace(&["flows", "-q", p.to_str().unwrap()]).stdout
    );
    let bad = with_seed("forty-two");
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
    let stderr = text(&bad.stderr);
    assert!(
        stderr.contains("HOPTRACE_HASH_SEED must be a 64-bit number"),
        "{stderr}"
    );
    assert!(stderr.contains("forty-two"), "{stderr}");
}

#[test]
fn a_dash_for_the_output_is_standard_output() {
    // As `-` among the inputs is standard input: `-o -` wrote a file named `-`.
    let d = Dir::new();
    let p = d.write("c.pcap", &capture());
    let part = d.path().join("c.htp");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hoptrace"))
            .args(args)
            .current_dir(d.path())
            .output()
            .expect("running hoptrace")
    };
    let plain = run(&["flows", "-q", p.to_str().unwrap()]);
    let dash = run(&["flows", "-q", p.to_str().unwrap(), "-o", "-"]);
    assert_eq!(dash.status.code(), Some(0), "{}", text(&dash.stderr));
    assert!(dash.stdout.starts_with(b"ts,duration,"));
    assert_eq!(dash.stdout, plain.stdout);
    let saved = run(&[
        "flows",
        "-q",
        p.to_str().unwrap(),
        "--partial",
        part.to_str().unwrap(),
    ]);
    assert_eq!(saved.status.code(), Some(0), "{}", text(&saved.stderr));
    let merged = run(&["merge", "-q", part.to_str().unwrap(), "--output", "-"]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged.stderr));
    assert_eq!(merged.stdout, plain.stdout);
    let trace = run(&[
        "trace",
        "-q",
        "--party",
        "DE",
        p.to_str().unwrap(),
        "--ip",
        "198.51.100.2",
        "-o",
        "-",
    ]);
    assert!(
        text(&trace.stdout).contains("198.51.100.2"),
        "{}",
        text(&trace.stderr)
    );
    assert!(!d.path().join("-").exists(), "a file named - was written");
}

#[test]
fn the_output_format_follows_the_file_name_or_the_flag() {
    let d = Dir::new();
    let p = d.write("c.pcap", &capture());
    let jsonl = d.path().join("flows.jsonl");
    let out = hoptrace(&[
        "flows",
        "-q",
        p.to_str().unwrap(),
        "-o",
        jsonl.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "--quiet prints nothing");
    let body = std::fs::read_to_string(&jsonl).unwrap();
    let first: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(first["proto"], "tcp");
    assert_eq!(first["community_id"].as_str().unwrap().len(), 30);
    let out = hoptrace(&["flows", "-q", "--format", "jsonl", p.to_str().unwrap()]);
    assert!(text(&out.stdout).starts_with('{'));
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_output_holds_the_same_rows() {
    let d = Dir::new();
    let p = d.write("c.pcap", &capture());
    let pq = d.path().join("flows.parquet");
    let out = hoptrace(&[
        "flows",
        "-q",
        p.to_str().unwrap(),
        "-o",
        pq.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bytes = std::fs::read(&pq).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
}

#[cfg(not(feature = "parquet"))]
#[test]
fn parquet_without_the_feature_says_how_to_get_it() {
    let d = Dir::new();
    let p = d.write("c.pcap", &capture());
    let out = hoptrace(&["flows", p.to_str().unwrap(), "--format", "parquet"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("rebuild with default features"));
}

#[test]
fn standard_input_is_read_with_a_dash_even_compressed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hoptrace"))
        .args(["flows", "-q", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&gzip(&capture()))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 3);
}

#[test]
fn a_flow_log_on_standard_input_is_refused_with_the_reason() {
    // Standard input is read once, as a capture; a conn.log there was said to be "nor a
    // flow log hoptrace knows", with --input-format too.
    let log = b"#separator \\x09\n#fields\tts\tuid\n1.0\tC1\n";
    for extra in [&[][..], &["--input-format", "zeek"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hoptrace"))
            .args(["flows", "-", "-o", "/dev/null"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(log).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{extra:?}: {err}");
        assert!(
            err.contains("-: not a capture")
                && err.contains("read from regular files only, not from standard input"),
            "{extra:?}: {err}"
        );
    }
}

#[test]
fn a_pipe_named_as_a_file_is_read_as_a_stream_by_flows_and_refused_by_trace() {
    // A shell's `<(zcat capture.pcap.gz)` names a pipe: its length is 0, it cannot be
    // mapped, and it is read once. `flows` refused it as an empty input; `trace` read it
    // with three readers at once (the digest, the mail check and the flows), each taking
    // part of it. Skipped where there is no bash.
    let d = Dir::new();
    let p = d.write("c.pcap", &capture());
    let log = d.write("conn.log", b"#separator \\x09\n#fields\tts\n1.0\n");
    let bin = env!("CARGO_BIN_EXE_hoptrace");
    let sh = |cmd: String| Command::new("bash").arg("-c").arg(cmd).output().ok();
    let quoted = |p: &std::path::Path| format!("'{}'", p.display());
    let Some(out) = sh(format!("{bin} flows -q <(gzip -c {})", quoted(&p))) else {
        println!("bash not found: pipes not tried");
        return;
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let whole = hoptrace(&["flows", "-q", p.to_str().unwrap()]);
    // The same table but for the input's name (the pipe's, /dev/fd/N).
    let rows = |b: &[u8]| -> Vec<Vec<String>> {
        let t = text(b);
        let at = t
            .lines()
            .next()
            .unwrap()
            .split(',')
            .position(|c| c == "input");
        t.lines()
            .map(|l| {
                let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
                f.remove(at.unwrap());
                f
            })
            .collect()
    };
    assert_eq!(rows(&out.stdout), rows(&whole.stdout));
    assert_eq!(rows(&out.stdout).len(), 3);
    let out = sh(format!("{bin} flows <(cat {}) -o /dev/null", quoted(&log))).unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("read from regular files only"),
        "{}",
        text(&out.stderr)
    );
    for input in [
        format!("<(cat {})", quoted(&p)),
        "- <".to_string() + &quoted(&p),
    ] {
        let out = sh(format!(
            "{bin} trace {input} --party US --ip 192.0.2.1 --format json -o /dev/null"
        ))
        .unwrap();
        assert_eq!(out.status.code(), Some(3), "{input}");
        assert!(
            text(&out.stderr).contains("trace reads its evidence from files"),
            "{input}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn skipped_input_gives_exit_status_1_with_file_and_offset() {
    let d = Dir::new();
    let mut bytes = capture();
    bytes.truncate(bytes.len() - 5);
    let p = d.write("cut.pcap", &bytes);
    let out = hoptrace(&["flows", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("warning:"), "{stderr}");
    assert!(
        stderr.contains("cut.pcap: truncated_record: 1 (first at frame 3, byte offset 164)"),
        "{stderr}"
    );
    // The readable part is still in the table.
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

#[test]
fn unreadable_only_input_is_fatal_with_status_3() {
    let d = Dir::new();
    let p = d.write("notes.txt", b"hello, this is text");
    let out = hoptrace(&["flows", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "notes.txt: not a pcap or pcapng capture (gzip/zstd-compressed or not), nor a flow log"
        ),
        "{stderr}"
    );
}

#[test]
fn usage_errors_give_status_2_and_name_the_flag() {
    let out = hoptrace(&["flows"]);
    assert_eq!(out.status.code(), Some(2));
    let d = Dir::new();
    let p = d.write("c.pcap", &capture());
    let out = hoptrace(&["flows", p.to_str().unwrap(), "--idle-timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--idle-timeout"),
        "{}",
        text(&out.stderr)
    );
    let out = hoptrace(&["flows", p.to_str().unwrap(), "--idle-timeout", "0s"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn timeouts_from_the_command_line_change_the_grouping() {
    let mut c = Capture::new(Format::Pcap);
    c.push(0, &Pkt::udp4(A, B, b"1"));
    c.push(30_000_000_000, &Pkt::udp4(A, B, b"2"));
    let d = Dir::new();
    let p = d.write("c.pcap", &c.finish());
    let n = |extra: &[&str]| {
        let mut args = vec!["flows", "-q", p.to_str().unwrap()];
        args.extend_from_slice(extra);
        text(&hoptrace(&args).stdout).lines().count() - 1
    };
    assert_eq!(n(&[]), 1);
    assert_eq!(n(&["--idle-timeout-udp", "10s"]), 2);
    assert_eq!(n(&["--idle-timeout", "20s"]), 2);
    assert_eq!(n(&["--active-timeout", "1m"]), 1);
}

#[test]
fn thread_count_and_read_mode_do_not_change_the_output() {
    let d = Dir::new();
    let p = d.write("c.pcap", &capture());
    let base = hoptrace(&["flows", "-q", p.to_str().unwrap()]).stdout;
    for args in [["--threads", "1"], ["--threads", "3"], ["--io", "mmap"]] {
        let mut a = vec!["flows", "-q", p.to_str().unwrap()];
        a.extend_from_slice(&args);
        assert_eq!(hoptrace(&a).stdout, base, "{args:?}");
    }
}

#[test]
fn partial_tables_of_separate_runs_merge_on_the_command_line() {
    let mut c1 = Capture::new(Format::Pcap);
    c1.push(1_000_000_000, &Pkt::tcp4(A, B, SYN, b""));
    let mut c2 = Capture::new(Format::Pcap);
    c2.push(1_100_000_000, &Pkt::tcp4(B, A, SYN | ACK, b""));
    c2.push(1_200_000_000, &Pkt::udp4(A, ([198, 51, 100, 3], 53), b"q"));
    let d = Dir::new();
    let f1 = d.write("1.pcap", &c1.finish());
    let f2 = d.write("2.pcap", &c2.finish());
    let p1 = d.path().join("1.htp");
    let p2 = d.path().join("2.htp");
    for (f, p) in [(&f1, &p1), (&f2, &p2)] {
        // A part's flows cannot be spilled: past --max-flows the run says so, and the
        // table it writes is whole (the merge below is the one-run table).
        let out = hoptrace(&[
            "flows",
            "-q",
            f.to_str().unwrap(),
            "--partial",
            p.to_str().unwrap(),
            "--max-flows",
            "1",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let warned = text(&out.stderr).contains("more than --max-flows 1");
        assert_eq!(warned, f == &f2, "{}", text(&out.stderr));
    }
    let merged = hoptrace(&["merge", "-q", p1.to_str().unwrap(), p2.to_str().unwrap()]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged.stderr));
    let one = hoptrace(&["flows", "-q", f1.to_str().unwrap(), f2.to_str().unwrap()]);
    assert_eq!(text(&merged.stdout), text(&one.stdout));
    assert!(text(&merged.stdout).contains(",tcp,192.0.2.1,40000,198.51.100.2,443,1,40,1,40,"));
    // With a bound of one flow, checked after each part (the flags are there, the table
    // the same; the library test in determinism.rs spills).
    let spill = d.path().join("spill");
    std::fs::create_dir(&spill).unwrap();
    let bounded = hoptrace(&[
        "merge",
        "-q",
        p1.to_str().unwrap(),
        p2.to_str().unwrap(),
        "--max-flows",
        "1",
        "--spill-dir",
        spill.to_str().unwrap(),
    ]);
    assert_eq!(bounded.status.code(), Some(0), "{}", text(&bounded.stderr));
    assert_eq!(text(&bounded.stdout), text(&one.stdout));
    let bad = hoptrace(&["merge", f1.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(text(&bad.stderr).contains("not a hoptrace partial flow table"));
}

#[test]
fn a_standard_error_that_cannot_be_written_costs_neither_the_table_nor_the_status() {
    // Summaries, warnings and messages went through `eprint!`, which panics when the write
    // fails: `flows -o FILE 2>/dev/full` ended with status 101 and no table.
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        println!("skipped: no /dev/full here");
        return;
    };
    let mut c = Capture::new(Format::Pcap);
    c.push(1_000_000_000, &Pkt::tcp4(A, B, SYN, b""));
    c.push(1_100_000_000, &Pkt::tcp4(B, A, SYN | ACK, b""));
    let d = Dir::new();
    let f = d.write("c.pcap", &c.finish());
    let table = d.path().join("t.csv");
    let part = d.path().join("p.htp");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hoptrace"))
            .args(args)
            .stderr(full.try_clone().unwrap())
            .output()
            .expect("running hoptrace")
    };
    // With its summary, and with the warning a partial table past --max-flows gives.
    let out = run(&["flows", f.to_str().unwrap(), "-o", table.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let one = hoptrace(&["flows", "-q", f.to_str().unwrap()]);
    assert_eq!(std::fs::read(&table).unwrap(), one.stdout);
    let out = run(&[
        "flows",
        f.to_str().unwrap(),
        "--partial",
        part.to_str().unwrap(),
        "--max-flows",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(part.exists());
    // An error still gives its status.
    let out = run(&["flows", d.path().join("none.pcap").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    // A table that cannot be written is a fatal error, its cause said once (it was said
    // twice: the library's message includes its cause, which it also gives as its source).
    let out = hoptrace(&["flows", "-q", f.to_str().unwrap(), "-o", "/dev/full"]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert_eq!(err.matches("os error 28").count(), 1, "{err}");
    assert!(err.starts_with("error: writing /dev/full: "), "{err}");
}

#[test]
fn strict_turns_skipped_input_into_a_failure_with_nothing_written() {
    use hoptrace::flow::tcp::{ACK, SYN};
    use hoptrace::synth::{Capture, Format, Pkt};
    let d = crate::support::Dir::new();
    let mut c = Capture::new(Format::Pcap);
    let client = ([10, 0, 0, 1], 40000);
    let server = ([192, 0, 2, 9], 443);
    c.push(1_000_000_000, &Pkt::tcp4(client, server, SYN, b""));
    c.push(2_000_000_000, &Pkt::tcp4(server, client, SYN | ACK, b""));
    // A frame cut inside its IPv4 header.
    c.push(3_000_000_000, &Pkt::tcp4(client, server, ACK, b"")[..20]);
    let p = d.write("cut.pcap", &c.finish());
    let p = p.to_str().unwrap();
    let table = d.path().join("t.csv");
    let t = table.to_str().unwrap();
    let out = crate::support::hoptrace(&["flows", p, "-q", "-o", t]);
    assert_eq!(out.status.code(), Some(1));
    assert!(table.exists());
    std::fs::remove_file(&table).unwrap();
    let out = crate::support::hoptrace(&["flows", p, "-q", "-o", t, "--strict"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(!table.exists(), "nothing is written under --strict");
    let err = crate::support::text(&out.stderr);
    assert!(
        err.contains("--strict") && err.contains("cut.pcap: frame 3"),
        "{err}"
    );
    // The same for trace: no report.
    let out = crate::support::hoptrace(&[
        "trace",
        p,
        "--party",
        "AU",
        "--ip",
        "192.0.2.9",
        "-q",
        "--strict",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let out = crate::support::hoptrace(&["trace", p, "--party", "AU", "--ip", "192.0.2.9", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stdout.is_empty());
}

/// Every broken reference file of the shared data, as a user meets it on the command line:
/// a message naming the file (and where, for captures) and the documented exit status.
#[test]
fn every_broken_reference_file_gives_a_message_and_its_exit_status() {
    let Some(root) = crate::support::shared("") else {
        return;
    };
    let files = |dir: &str| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.to_string_lossy();
                n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".mmdb")
            })
            .collect();
        v.sort();
        v
    };
    let d = Dir::new();
    let out_csv = d.path().join("out.csv");
    let out_s = out_csv.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = hoptrace(args);
        (out.status.code(), text(&out.stderr))
    };
    // Headers no reader accepts: nothing read, status 3, the file and the byte named.
    let bad = files("captures/libpcap-bad-headers");
    assert_eq!(bad.len(), 2);
    for f in &bad {
        let p = f.to_str().unwrap();
        let (code, err) = run(&["flows", p, "-o", out_s]);
        assert_eq!(code, Some(3), "{p}: {err}");
        assert!(
            err.contains(&format!("error: {p}: ")) && err.contains("at byte offset"),
            "{err}"
        );
    }
    // Truncated packets: the rest is read, status 1 with each cut frame's reason and place,
    // or 0 when what was cut is nothing a flow needs (ICMP past its type and code, payload);
    // --strict makes 1 a failure.
    let trunc = files("captures/zeek-truncated");
    assert_eq!(trunc.len(), 5);
    for f in &trunc {
        let p = f.to_str().unwrap();
        let (code, err) = run(&["flows", p, "-o", out_s]);
        let payload_only =
            p.ends_with("icmp-payload-trunc.pcap") || p.ends_with("icmp-header-trunc.pcap");
        assert_eq!(code, Some(if payload_only { 0 } else { 1 }), "{p}: {err}");
        if !payload_only {
            assert!(
                err.contains(&format!("warning: {p}: truncated_header"))
                    && err.contains("(first at frame "),
                "{err}"
            );
            let (code, err) = run(&["flows", "--strict", p, "-o", out_s]);
            assert_eq!(code, Some(3), "{p}: {err}");
        }
    }
    // An empty capture (a header, no frames) is not an error.
    for f in files("captures/zeek-empty") {
        let p = f.to_str().unwrap();
        let (code, err) = run(&["flows", p, "-o", out_s]);
        assert_eq!(code, Some(0), "{err}");
        assert!(err.contains("0 frames, 0 flows"), "{err}");
    }
    // Broken databases: refused before anything is read, status 3, the file named.
    let cap = d.write("c.pcap", &capture());
    let dbs = crate::support::broken_maxmind_databases(&root.join("maxmind-test"));
    assert_eq!(dbs.len(), 25);
    for db in &dbs {
        let p = db.to_str().unwrap();
        let args = [
            "flows",
            cap.to_str().unwrap(),
            "--enrich",
            "--db",
            p,
            "-o",
            out_s,
        ];
        let (code, err) = run(&args);
        assert_eq!(code, Some(3), "{p}: {err}");
        assert!(err.contains(&format!("error: {p}")), "{err}");
    }
}

#[test]
fn netflow_table_bounds_come_from_the_command_line_and_what_they_refuse_is_counted() {
    use hoptrace::synth::netflow::{ExportWriter, record};
    let mut v9 = ExportWriter::v9(1000, 1_700_000_000, 7);
    for id in [256u16, 257, 258] {
        v9.template(id, &[(8, 4, 0), (12, 4, 0), (4, 1, 0), (1, 4, 0)]);
    }
    for (id, last) in [(256u16, 1u8), (257, 2), (258, 3)] {
        let r = record(&[
            &[10, 0, 0, last],
            &[10, 0, 1, 1],
            &[17],
            &100u32.to_be_bytes(),
        ]);
        v9.data(id, &[&r]);
    }
    let d = Dir::new();
    let p = d.write("export.nf", &v9.finish());
    let p = p.to_str().unwrap();
    let out = hoptrace(&["flows", p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 4);
    let out = hoptrace(&["flows", "--netflow-max-templates", "2", p]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(text(&out.stdout).lines().count(), 3, "{err}");
    assert!(err.contains("warning: ") && err.contains(p), "{err}");
}
