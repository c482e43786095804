//! Helpers: running the library on in-memory captures and looking flows up.

use hoptrace::flow::Flow;
use hoptrace::{FlowRun, FlowsConfig, flows};
use std::path::{Path, PathBuf};

/// A temporary directory that lives as long as the value.
pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temporary directory"))
    }

    /// Writes a file and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, bytes).expect("writing a test file");
        p
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Generated traffic in which flows end quickly: 60,000 packets of the benchmark generator
/// (tunnels, VLANs, about 10,000 flows, 200 at a time), and a configuration with idle and
/// fragment timeouts of 20 ms and chunks of 64 KiB, so most flows finish while the
/// capture is read (idle flows leave the lookup table once it holds 4,096) and spilling
/// (checked as each chunk is appended) has flows to write.
pub fn short_lived_traffic() -> (Vec<u8>, FlowsConfig) {
    let mut cap = Vec::new();
    hoptrace::synth::BigCapture {
        packets: 60_000,
        concurrency: 200,
        ..Default::default()
    }
    .write_to(&mut cap)
    .expect("generating a capture");
    let mut cfg = FlowsConfig::new(Vec::new());
    cfg.chunk_bytes = 64 * 1024;
    let short = 20_000_000;
    (cfg.flow.idle_tcp, cfg.flow.idle_udp) = (short, short);
    (cfg.flow.idle_icmp, cfg.flow.idle_other) = (short, short);
    // A flow is finished once no fragment can reach it either.
    cfg.flow.frag_timeout = short;
    (cap, cfg)
}

/// Runs the flow stage over files with default settings.
pub fn run_files(paths: &[PathBuf]) -> FlowRun {
    flows(&FlowsConfig::new(paths.to_vec())).expect("run starts")
}

/// Writes `bytes` to a temporary file and runs the flow stage on it.
pub fn run_bytes(bytes: &[u8]) -> FlowRun {
    let d = Dir::new();
    let p = d.write("capture", bytes);
    run_files(&[p])
}

/// A flow as `proto src:port > dst:port orig/resp` (src = originator), for compact asserts.
pub fn describe(f: &Flow) -> String {
    let o = f.orig_side();
    let r = o.other();
    format!(
        "{} {} > {} {}/{}",
        f.key.proto.name(),
        f.key.endpoint(o),
        f.key.endpoint(r),
        f.dir[o.idx()].pkts,
        f.dir[r.idx()].pkts
    )
}

/// All flows of a run, described.
pub fn described(run: &FlowRun) -> Vec<String> {
    run.flows.flows.iter().map(describe).collect()
}

/// The path to a file of the shared reference data, or None (after saying so once) when
/// `HOPTRACE_SHARED_DATA` is not set.
pub fn shared(rel: &str) -> Option<PathBuf> {
    static SAID: std::sync::Once = std::sync::Once::new();
    match std::env::var_os("HOPTRACE_SHARED_DATA") {
        Some(root) => Some(Path::new(&root).join(rel)),
        None => {
            SAID.call_once(|| {
                // Straight to the standard error stream: the test harness captures
                // `println!` of passing tests, and this line must be seen.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "conformance suite skipped: HOPTRACE_SHARED_DATA is not set \
                     (point it at ../shared/data to run it)"
                );
            });
            None
        }
    }
}

/// Runs the `hoptrace` binary.
pub fn hoptrace(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hoptrace"))
        .args(args)
        .output()
        .expect("running hoptrace")
}

/// Bytes as text, for messages and asserts.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a peer tool; `None` (with one line saying so, and how to install it) when it is not
/// installed.
pub fn peer(cmd: &str, install: &str, args: &[&str]) -> Option<std::process::Output> {
    match std::process::Command::new(cmd).args(args).output() {
        Ok(o) if o.status.success() => Some(o),
        Ok(o) => panic!(
            "{cmd} {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "peer check skipped: {cmd} is not installed ({install})"
            );
            None
        }
    }
}

/// The broken databases of MaxMind's test data under `root` (`.../maxmind-test`): every
/// file of `bad-data/*/` and the four broken ones of `test-data/`.
pub fn broken_maxmind_databases(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in ["libmaxminddb", "maxminddb-golang", "maxminddb-python"] {
        for e in std::fs::read_dir(root.join("bad-data").join(sub)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    files.sort();
    for f in [
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
        "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
        "MaxMind-DB-test-broken-pointers-24.mmdb",
        "MaxMind-DB-test-broken-search-tree-24.mmdb",
    ] {
        files.push(root.join("test-data").join(f));
    }
    files
}

/// Where block `n` (from 0) of the zstd frame `packed` starts.
fn zstd_block(packed: &[u8], n: usize) -> usize {
    let fhd = packed[4];
    let single = fhd & 0x20 != 0;
    let dictionary = [0, 1, 2, 4][usize::from(fhd & 3)];
    let size = match fhd >> 6 {
        0 => usize::from(single),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let mut at = 5 + usize::from(!single) + dictionary + size;
    for _ in 0..n {
        let h = u32::from_le_bytes([packed[at], packed[at + 1], packed[at + 2], 0]);
        assert_eq!(h & 1, 0, "block {n} is past the frame's last");
        // An RLE block holds one byte; raw and compressed ones their size.
        at += 3 + if (h >> 1) & 3 == 1 {
            1
        } else {
            (h >> 3) as usize
        };
    }
    at
}

/// Where block `n` (from 0) of the zstd frame `packed` (of `plain`) starts, and how many
/// bytes the blocks before it decompress to.
pub fn zstd_cut(packed: &[u8], plain: &[u8], n: usize) -> (usize, usize) {
    let at = zstd_block(packed, n);
    let mut dec = zstd::stream::raw::Decoder::new().unwrap();
    let mut out = vec![0u8; plain.len()];
    let mut input = zstd::stream::raw::InBuffer::around(&packed[..at]);
    let mut output = zstd::stream::raw::OutBuffer::around(&mut out[..]);
    zstd::stream::raw::Operation::run(&mut dec, &mut input, &mut output).unwrap();
    let before = output.pos();
    assert!(before > n * 100_000 && before < plain.len(), "{before}");
    assert_eq!(out[..before], plain[..before]);
    (at, before)
}

/// Checks that input `i` says its stream broke at decompressed byte `offset`.
pub fn broke_at(i: &hoptrace::InputSummary, offset: usize, what: &str) {
    let error = i.error.as_deref().unwrap_or_default();
    assert!(
        error.contains(&format!(
            "stream broken at decompressed byte offset {offset}:"
        )),
        "{what}: {error}"
    );
}
