//! The `hoptrace` command: parses flags once into the library's plain configuration, runs
//! the library, and maps the outcome to an exit status.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use hoptrace::flow::FlowConfig;
use hoptrace::report::{self, TableFormat};
use hoptrace::{FlowsConfig, flows};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// `eprint!` that cannot panic: what goes to standard error (summaries, warnings, error
/// messages) is lost when it is closed or full, and the run goes on to write its table or
/// report (`eprint!` panicked, so `flows -o FILE 2>/dev/full` wrote no table).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}

/// `eprintln!` that cannot panic (see `say!`).
macro_rules! sayln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

#[path = "cli/enrich.rs"]
mod enrich_cmd;

/// Exit statuses (documented in the README).
mod exit {
    /// Everything was read.
    pub const OK: u8 = 0;
    /// The run finished, but some input could not be read (see the summary).
    pub const SKIPPED: u8 = 1;
    /// Bad command line (clap also uses 2).
    pub const USAGE: u8 = 2;
    /// Nothing could be done: no input readable, or the output could not be written.
    pub const FATAL: u8 = 3;
    /// `trace`: several communications match the query; they are listed.
    pub const AMBIGUOUS: u8 = 4;
    /// `trace`: no communication matches the query.
    pub const NOT_FOUND: u8 = 5;
}

#[derive(Parser)]
#[command(
    name = "hoptrace",
    version,
    about = "Reconstructs the path of a communication from packet captures and flow logs",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process; boxing the larger variant would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Group the packets of captures into bidirectional flows, with the records of flow logs
    /// among them (a table close to Zeek's conn.log)
    Flows(FlowsArgs),
    /// Merge partial flow tables (written by `flows --partial`) of consecutive parts of one
    /// capture set into the table one run over all of it gives
    Merge(MergeArgs),
    /// Attribute addresses: class, embedded IPv4, ASN, organisation, country,
    /// jurisdiction and treaty status, with the sources of every answer
    Lookup(enrich_cmd::LookupArgs),
    /// Build, pack and describe the databases `lookup` and `flows --enrich` read
    #[command(subcommand)]
    Db(enrich_cmd::DbCommand),
    /// Find a specified communication in the evidence, reconstruct its path and write the
    /// Art. 30 disclosure (each input is its own vantage point)
    Trace(TraceArgs),
}

#[derive(Args)]
struct TraceArgs {
    /// Evidence files (captures, flow logs), one vantage point each; a directory is one
    /// vantage point, its files (a rotated capture) read in name order, numbers compared as
    /// numbers, as one capture set
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// The disclosing party: the State whose provider holds the evidence (ISO 3166-1 alpha-2)
    #[arg(long, value_name = "ISO2")]
    party: String,
    /// An address of the communication
    #[arg(long)]
    ip: std::net::IpAddr,
    /// The port at that address
    #[arg(long)]
    port: Option<u16>,
    /// The address at the other end
    #[arg(long)]
    peer: Option<std::net::IpAddr>,
    /// The transport protocol
    #[arg(long, value_parser = ["tcp", "udp", "icmp", "sctp"])]
    proto: Option<String>,
    /// When it happened, RFC 3339 with an offset (2026-03-01T11:15:07+01:00)
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// How far from --at it may lie (default 300s)
    #[arg(long, value_name = "DURATION", default_value = "300s")]
    window: String,
    /// Its Community ID
    #[arg(long, value_name = "ID")]
    community_id: Option<String>,
    /// The requesting party (ISO 3166-1 alpha-2): treaties between it and each provider's
    /// country are named
    #[arg(long, value_name = "ISO2")]
    requesting: Option<String>,
    /// Reference of the preservation request being executed
    #[arg(long, value_name = "TEXT")]
    request_ref: Option<String>,
    /// Report format
    #[arg(long, value_parser = ["json", "md", "html"], default_value = "json")]
    format: String,
    /// Add an Art. 29 preservation-request draft for each foreign provider on the path
    #[arg(long)]
    art29: bool,
    /// Write this time (RFC 3339) in the report as when it was generated; without it the
    /// report holds no time but the evidence's, so reruns are byte-identical
    #[arg(long, value_name = "RFC3339")]
    generated_at: Option<String>,
    /// Include what the report leaves out by default (comma-separated): `names` (host names
    /// in mail and proxy headers), `city`, `sizes` (packets, bytes, duration), `layer2` (VLAN
    /// tags), `urls` (HTTP start lines and hosts), `payload` (first 64 bytes each side),
    /// `other-communications` (between the same two addresses)
    #[arg(long, value_name = "WHAT")]
    include: Option<String>,
    /// Write the report here instead of standard output (`-`: standard output)
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Worker threads (0 = one per core)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Flows held in memory per vantage point before finished ones are spilled to disk;
    /// flow records and header evidence past as many are set aside too. The path is then
    /// searched in what shares an address with the flows and records the query matches
    /// (the same report)
    #[arg(long, value_name = "N", default_value_t = 2_000_000)]
    max_flows: usize,
    /// Directory for spilled flows, set-aside records and header evidence (default: the
    /// system's temporary directory)
    #[arg(long, value_name = "DIR")]
    spill_dir: Option<PathBuf>,
    /// Print no summary
    #[arg(short, long)]
    quiet: bool,
    /// Fail (exit status 3, nothing written) when any input, frame, record or line could
    /// not be read, instead of finishing with status 1
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    db: enrich_cmd::DbArgs,
    #[command(flatten)]
    logs: LogArgs,
    #[command(flatten)]
    bounds: BoundArgs,
}

#[derive(Args)]
struct MergeArgs {
    /// Partial tables, in capture order
    #[arg(required = true, value_name = "PARTIAL")]
    partials: Vec<PathBuf>,
    /// Write the table here instead of standard output (`-`: standard output)
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Table format; by default from the output file's extension, else csv
    #[arg(long, value_parser = ["csv", "jsonl", "parquet"])]
    format: Option<String>,
    /// Worker threads for encoding rows (0 = one per core)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Flows held in memory before finished ones are spilled to disk, checked after each
    /// partial table is appended; flow records past as many are set aside on disk too
    #[arg(long, value_name = "N", default_value_t = 2_000_000)]
    max_flows: usize,
    /// Directory for spilled flows and set-aside records (default: the system's temporary
    /// directory)
    #[arg(long, value_name = "DIR")]
    spill_dir: Option<PathBuf>,
    /// Print no summary
    #[arg(short, long)]
    quiet: bool,
    /// Fail (exit status 3, nothing written) when any input, frame, record or line could
    /// not be read, instead of finishing with status 1
    #[arg(long)]
    strict: bool,
    /// Add provider and country columns (src_asn, src_as_org, src_country, dst_asn,
    /// dst_as_org, dst_country)
    #[arg(long)]
    enrich: bool,
    #[command(flatten)]
    db: enrich_cmd::DbArgs,
}

#[derive(Args)]
struct FlowsArgs {
    /// Capture files (pcap, pcapng) and flow logs (Zeek, AWS/GCP/Azure VPC, nfdump and
    /// Argus tables, NetFlow/IPFIX exports), optionally gzip- or zstd-compressed and told
    /// apart by their content; captures are read as one capture set in the order given (a
    /// directory's files in name order, numbers compared as numbers); `-` reads a capture
    /// from standard input, and a pipe named as an input (`<(zcat x.pcap.gz)`) is read the
    /// same way: flow logs are read from regular files only
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Write the table here instead of standard output (`-`: standard output)
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Table format; by default from the output file's extension, else csv
    #[arg(long, value_parser = ["csv", "jsonl", "parquet"])]
    format: Option<String>,
    /// Write the unfinished flow table to FILE instead of a table, for `hoptrace merge`
    /// with the tables of the parts of the capture set that come before and after. Every
    /// flow of the part is held in memory whatever --max-flows says (the parts before it
    /// may still continue them): cut the set into parts whose flows fit
    #[arg(long, value_name = "FILE", conflicts_with_all = ["output", "format"])]
    partial: Option<PathBuf>,
    /// Worker threads (0 = one per core)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Idle timeout for every protocol (e.g. 90s, 5m); overrides the per-protocol defaults
    #[arg(long, value_name = "DURATION")]
    idle_timeout: Option<String>,
    /// Idle timeout for TCP flows
    #[arg(long, value_name = "DURATION", default_value = "300s")]
    idle_timeout_tcp: String,
    /// Idle timeout for UDP flows
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    idle_timeout_udp: String,
    /// Idle timeout for ICMP and ICMPv6 flows
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    idle_timeout_icmp: String,
    /// Idle timeout for flows of other protocols
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    idle_timeout_other: String,
    /// Cut long flows at every multiple of this duration since the epoch (off by default)
    #[arg(long, value_name = "DURATION")]
    active_timeout: Option<String>,
    /// How plain capture files are read: positional reads (default) or a memory map
    #[arg(long, value_parser = ["read", "mmap"], default_value = "read")]
    io: String,
    /// Flows held in memory before finished ones are spilled to disk (sorted runs merged
    /// back in order when the table is written); flow records past as many are set aside
    /// on disk too, and paired a group at a time
    #[arg(long, value_name = "N", default_value_t = 2_000_000)]
    max_flows: usize,
    /// Directory for spilled flows and set-aside records (default: the system's temporary
    /// directory)
    #[arg(long, value_name = "DIR")]
    spill_dir: Option<PathBuf>,
    /// Print no progress bar and no summary
    #[arg(short, long)]
    quiet: bool,
    /// Fail (exit status 3, nothing written) when any input, frame, record or line could
    /// not be read, instead of finishing with status 1
    #[arg(long)]
    strict: bool,
    /// Add provider and country columns (src_asn, src_as_org, src_country, dst_asn,
    /// dst_as_org, dst_country), looked up once per distinct address
    #[arg(long, conflicts_with = "partial")]
    enrich: bool,
    #[command(flatten)]
    db: enrich_cmd::DbArgs,
    #[command(flatten)]
    logs: LogArgs,
    #[command(flatten)]
    bounds: BoundArgs,
}

/// How flow logs and flow exports are read (`flows` and `trace`).
#[derive(Args)]
struct LogArgs {
    /// Read every input as this flow-log format instead of telling it from the content
    #[arg(long, value_name = "FORMAT", value_parser = ["netflow", "zeek", "zeek-json", "aws-vpc", "gcp-vpc", "azure", "nfdump-csv", "argus-csv"])]
    input_format: Option<String>,
    /// UTC offset of times that flow logs write without one (nfdump and Argus tables print
    /// the local time of the machine that ran them), e.g. +01:00; default +00:00
    #[arg(long, value_name = "+HH:MM", allow_hyphen_values = true)]
    log_utc_offset: Option<String>,
    /// Field list of AWS VPC flow logs without a header line (as in the flow log's format,
    /// e.g. "version account-id interface-id srcaddr ..."), or a file holding it
    #[arg(long, value_name = "FIELDS|FILE")]
    vpc_fields: Option<String>,
    /// UDP destination port whose datagrams are read as NetFlow/IPFIX exports even when
    /// they fail the content check (every port is checked by content anyway)
    #[arg(long, value_name = "PORT")]
    netflow_port: Option<u16>,
    /// NetFlow v9/IPFIX templates kept per exporter scope (exporter, version, domain); a new
    /// template past it is refused and counted (bad_export)
    #[arg(long, value_name = "N", default_value_t = 4096)]
    netflow_max_templates: usize,
    /// NetFlow v9/IPFIX template fields held, all exporters together (8 bytes each); a
    /// template past it is refused and counted (bad_export), and a redefined one dropped
    #[arg(long, value_name = "N", default_value_t = 8 << 20)]
    netflow_max_template_fields: usize,
    /// NetFlow v9/IPFIX exporter scopes with templates; past it a new scope is refused and
    /// counted
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    netflow_max_scopes: usize,
    /// NetFlow v9/IPFIX data sets held while waiting for their template; past it (or past
    /// 64 MiB of them) the oldest is dropped and counted (no_template)
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    netflow_max_pending: usize,
}

/// Resource bounds against hostile or broken evidence (`flows` and `trace`). What passes
/// a bound is counted under a named reason and the run ends with status 1.
#[derive(Args)]
struct BoundArgs {
    /// IP fragments held in open datagram records per reading thread; past it the least
    /// recently active records are closed early and counted (fragment_limit), their
    /// fragments still counted (0 = no bound)
    #[arg(long, value_name = "N", default_value_t = hoptrace::flow::DEFAULT_MAX_FRAGMENTS)]
    max_fragments: usize,
    /// IP layers followed per frame: the outer packet and the tunnels inside it (1-16);
    /// deeper frames are counted (tunnel_too_deep)
    #[arg(long, value_name = "N", default_value_t = hoptrace::decode::DEFAULT_IP_LAYERS as u8,
          value_parser = clap::value_parser!(u8).range(1..=hoptrace::decode::MAX_IP_LAYERS as i64))]
    max_ip_layers: u8,
    /// A compressed input stops being read when it has given this many times its compressed
    /// bytes (and at least 64 MiB): a decompression-bomb guard; the rest is counted
    /// (decompression_limit) (0 = no bound)
    #[arg(long, value_name = "RATIO", default_value_t = hoptrace::ingest::DEFAULT_MAX_RATIO)]
    max_decompression_ratio: u64,
    /// Flow-log lines longer than this are not read and are counted (line_too_long)
    /// (0 = no bound)
    #[arg(long, value_name = "BYTES", default_value_t = hoptrace::records::DEFAULT_MAX_LINE_BYTES)]
    max_line_bytes: usize,
}

/// The resource bounds as library options.
fn apply_bounds(b: &BoundArgs, cfg: &mut FlowsConfig) {
    cfg.flow.max_fragments = b.max_fragments;
    cfg.max_ip_layers = usize::from(b.max_ip_layers);
    cfg.max_decompression_ratio = b.max_decompression_ratio;
    cfg.logs.max_line_bytes = b.max_line_bytes;
}

/// `+01:00`, `-05:30`, `Z` → seconds east of UTC.
fn utc_offset(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "Z" || s == "z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

/// The flow-log flags as library options.
fn log_options(a: &LogArgs) -> Result<hoptrace::pipeline::LogOptions> {
    let mut o = hoptrace::pipeline::LogOptions {
        format: a
            .input_format
            .as_deref()
            .and_then(hoptrace::records::LogFormat::parse),
        netflow_port: a.netflow_port,
        netflow_limits: hoptrace::records::netflow::Limits {
            max_templates: a.netflow_max_templates.max(1),
            max_template_fields: a.netflow_max_template_fields,
            max_scopes: a.netflow_max_scopes.max(1),
            max_pending: a.netflow_max_pending,
            ..Default::default()
        },
        ..Default::default()
    };
    if let Some(off) = &a.log_utc_offset {
        o.utc_offset_s = utc_offset(off)
            .with_context(|| format!("--log-utc-offset {off}: write it as +HH:MM or -HH:MM"))?;
    }
    if let Some(v) = &a.vpc_fields {
        let text = if std::path::Path::new(v).is_file() {
            std::fs::read_to_string(v).with_context(|| format!("--vpc-fields: cannot read {v}"))?
        } else {
            v.clone()
        };
        let text = text.replace(['$', '{', '}'], " ");
        let fields: Vec<String> = text.split_ascii_whitespace().map(str::to_string).collect();
        if !fields.iter().any(|f| f == "srcaddr") {
            bail!(
                "--vpc-fields: the field list names no srcaddr: {}",
                text.trim()
            );
        }
        o.vpc_fields = Some(fields);
    }
    Ok(o)
}

/// Parses `90`, `90s`, `250ms`, `5m`, `1h` into nanoseconds.
fn duration(flag: &str, s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let mult: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => bail!("{flag}: unknown unit in {s:?}; use ns, us, ms, s, m or h (e.g. 90s)"),
    };
    let v: f64 = num
        .parse()
        .with_context(|| format!("{flag}: {s:?} is not a duration (e.g. 90s, 5m)"))?;
    if v <= 0.0 || !v.is_finite() {
        bail!("{flag}: the duration must be greater than zero, got {s:?}");
    }
    Ok((v * mult) as i64)
}

fn flow_config(a: &FlowsArgs) -> Result<FlowConfig> {
    let mut c = FlowConfig {
        idle_tcp: duration("--idle-timeout-tcp", &a.idle_timeout_tcp)?,
        idle_udp: duration("--idle-timeout-udp", &a.idle_timeout_udp)?,
        idle_icmp: duration("--idle-timeout-icmp", &a.idle_timeout_icmp)?,
        idle_other: duration("--idle-timeout-other", &a.idle_timeout_other)?,
        ..FlowConfig::default()
    };
    if let Some(all) = &a.idle_timeout {
        let v = duration("--idle-timeout", all)?;
        c.idle_tcp = v;
        c.idle_udp = v;
        c.idle_icmp = v;
        c.idle_other = v;
    }
    if let Some(act) = &a.active_timeout {
        c.active = Some(duration("--active-timeout", act)?);
    }
    Ok(c)
}

fn table_format(format: &Option<String>, output: &Option<PathBuf>) -> Result<TableFormat> {
    let f = match (format, output) {
        (Some(f), _) => TableFormat::parse(f).context("--format: use csv, jsonl or parquet")?,
        (None, Some(p)) => TableFormat::from_path(p).unwrap_or(TableFormat::Csv),
        (None, None) => TableFormat::Csv,
    };
    #[cfg(not(feature = "parquet"))]
    if f == TableFormat::Parquet {
        bail!(report::ReportError::NoParquet);
    }
    Ok(f)
}

/// With `--strict`, what makes a run fail: every input that could not be read and every
/// kind of frame, record or line that was skipped, with where the first one was.
fn strict_failure<'a>(runs: impl IntoIterator<Item = &'a hoptrace::FlowRun>) -> Option<String> {
    let mut what = Vec::new();
    for run in runs {
        for i in &run.inputs {
            if let Some(e) = &i.error {
                what.push(format!("{}: {e}", i.name.display()));
            }
        }
        for (reason, _, stat) in run.flows.diag.entries() {
            if reason.is_problem() {
                what.push(format!(
                    "{} × {} (first: {})",
                    stat.count,
                    reason.name(),
                    hoptrace::pipeline::locator_text(&run.inputs, &stat.first)
                ));
            }
        }
    }
    (!what.is_empty()).then(|| what.join("; "))
}

/// Refuses a run with skipped input when `--strict` asks it to.
fn check_strict<'a>(
    strict: bool,
    runs: impl IntoIterator<Item = &'a hoptrace::FlowRun>,
) -> Result<()> {
    match strict.then(|| strict_failure(runs)).flatten() {
        Some(w) => Err(anyhow::anyhow!(StrictFailure(w))),
        None => Ok(()),
    }
}

/// `--strict` and something was skipped.
#[derive(Debug)]
struct StrictFailure(String);

impl std::fmt::Display for StrictFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "input was skipped and --strict is set, so nothing was written: {}",
            self.0
        )
    }
}

impl std::error::Error for StrictFailure {}

/// The exit status of a finished run.
fn run_status(run: &hoptrace::FlowRun) -> u8 {
    if run.skipped_input() {
        exit::SKIPPED
    } else {
        exit::OK
    }
}

/// Opens the databases for `--enrich`, or says that the database flags need it.
fn enricher(enrich: bool, db: &enrich_cmd::DbArgs) -> Result<Option<hoptrace::enrich::Enricher>> {
    if !enrich {
        if db.any() {
            bail!("--db, --bundled, --providers and --jurisdictions need --enrich");
        }
        return Ok(None);
    }
    db.enricher().map(Some)
}

/// Writes a finished run's table where the flags say; with an enricher, adds the provider
/// columns and prints what enrichment found.
fn write_table(
    run: &hoptrace::FlowRun,
    format: TableFormat,
    output: &Option<PathBuf>,
    threads: usize,
    enricher: Option<&hoptrace::enrich::Enricher>,
    quiet: bool,
) -> Result<()> {
    let cache = enricher.map(hoptrace::enrich::AddrCache::new);
    let cache = cache.as_ref();
    match output {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut file);
            hoptrace::pipeline::write_flows_enriched(run, format, &mut w, threads, cache)
                .with_context(|| format!("writing {}", path.display()))?;
            w.flush()
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            hoptrace::pipeline::write_flows_enriched(run, format, &mut lock, threads, cache)
                .context("writing standard output")?;
        }
    }
    if let Some(cache) = cache
        && !quiet
    {
        let dates = run
            .inputs
            .iter()
            .filter_map(|i| i.time_range)
            .fold(
                None,
                |acc: Option<(hoptrace::model::Timestamp, hoptrace::model::Timestamp)>, (a, b)| {
                    Some(acc.map_or((a, b), |(x, y)| (x.min(a), y.max(b))))
                },
            )
            .map(|(a, b)| (hoptrace::model::Date::of(a), hoptrace::model::Date::of(b)));
        say!("{}", report::enrich_summary_text(cache, dates));
    }
    Ok(())
}

fn iso2(flag: &str, s: &str) -> Result<String> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(s.to_ascii_uppercase())
    } else {
        bail!("{flag} {s}: write the country as two letters (ISO 3166-1 alpha-2), e.g. DE")
    }
}

/// `-o -` is standard output, as `-` is standard input among the inputs (it created a
/// file named `-`).
fn dash_is_stdout(output: &mut Option<PathBuf>) {
    if output.as_deref().is_some_and(|p| p.as_os_str() == "-") {
        *output = None;
    }
}

/// How many of the communications an ambiguous query matches `trace` lists.
const LISTED_CANDIDATES: usize = 50;

fn run_trace(mut a: TraceArgs) -> Result<u8> {
    dash_is_stdout(&mut a.output);
    use hoptrace::hops::{Query, QueryTime};
    let mut q = Query::new(a.ip);
    q.port = a.port;
    q.peer = a.peer;
    q.proto = a.proto.as_deref().and_then(hoptrace::model::Proto::parse);
    q.window = duration("--window", &a.window)?;
    q.community_id = a.community_id.clone();
    if let Some(at) = &a.at {
        q.at = Some(QueryTime::parse(at).with_context(|| {
            format!(
                "--at {at}: write an RFC 3339 time with its offset, e.g. 2026-03-01T11:15:07+01:00"
            )
        })?);
    }
    let party = iso2("--party", &a.party)?;
    let requesting = a
        .requesting
        .as_deref()
        .map(|r| iso2("--requesting", r))
        .transpose()?;
    let enricher = a.db.enricher()?;
    let mut read = FlowsConfig::new(Vec::new());
    read.threads = a.threads;
    read.logs = log_options(&a.logs)?;
    apply_bounds(&a.bounds, &mut read);
    read.spill = Some(hoptrace::pipeline::SpillConfig {
        dir: a.spill_dir.clone().unwrap_or_else(std::env::temp_dir),
        max_flows: a.max_flows.max(1),
    });
    let cfg = hoptrace::pipeline::TraceConfig {
        inputs: a.inputs.clone(),
        read,
        query: q,
        party,
        requesting,
        request_ref: a.request_ref.clone(),
        art29: a.art29,
        generated_at: a
            .generated_at
            .as_deref()
            .map(|g| {
                QueryTime::parse(g).with_context(|| {
                    format!("--generated-at {g}: write an RFC 3339 time with its offset")
                })
            })
            .transpose()?,
        include: match a.include.as_deref() {
            Some(w) => {
                report::Include::parse(w).map_err(|e| anyhow::anyhow!("--include {w}: {e}"))?
            }
            None => report::Include::default(),
        },
    };
    let (outcome, runs) = hoptrace::pipeline::trace(&cfg, &enricher)?;
    if !a.quiet {
        for r in &runs {
            say!("{}", report::summary_text(r));
        }
    }
    if runs.iter().all(|r| r.nothing_read()) {
        bail!("none of the inputs could be read");
    }
    let skipped = runs.iter().any(|r| r.skipped_input());
    check_strict(a.strict, &runs)?;
    match outcome {
        hoptrace::pipeline::TraceOutcome::Found(d) => {
            // Created only for a report: an ambiguous or unmatched query leaves no file.
            let out: Box<dyn Write> = match &a.output {
                Some(p) => Box::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            // serde_json writes a token at a time: unbuffered, a large report was a system
            // call per token (20 s of system time for a 71 MB report).
            let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
            if a.format == "md" {
                out.write_all(report::disclosure_markdown(&d).as_bytes())?;
            } else if a.format == "html" {
                out.write_all(report::disclosure_html(&d).as_bytes())?;
            } else {
                serde_json::to_writer_pretty(&mut out, &*d)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(if skipped { exit::SKIPPED } else { exit::OK })
        }
        hoptrace::pipeline::TraceOutcome::Ambiguous(cands) => {
            sayln!(
                "{} communications match the query; name one with --community-id (or --peer, --port, --at):",
                cands.len()
            );
            // The first few, in time order: a query naming a busy server can match hundreds
            // of thousands (each was a line of standard error).
            for c in cands.iter().take(LISTED_CANDIDATES) {
                let ep = |(a, p): (hoptrace::model::Addr, u16)| a.with_port(p);
                let seen: Vec<String> =
                    c.vantage_points().iter().map(|v| v.0.to_string()).collect();
                sayln!(
                    "  {}  {} {} → {}  {} to {}  seen by vantage point{} {}{}",
                    c.community_id,
                    c.proto.name(),
                    ep(c.orig),
                    ep(c.resp),
                    c.first.rfc3339(),
                    c.last.rfc3339(),
                    if seen.len() == 1 { "" } else { "s" },
                    seen.join(", "),
                    if c.requested.is_some() {
                        "  (to a proxy: a request it carried named the queried address)"
                    } else {
                        ""
                    }
                );
            }
            if cands.len() > LISTED_CANDIDATES {
                sayln!(
                    "  ... and {} more (`hoptrace flows` on the same inputs lists every flow)",
                    cands.len() - LISTED_CANDIDATES
                );
            }
            Ok(exit::AMBIGUOUS)
        }
        hoptrace::pipeline::TraceOutcome::NotFound { untraceable } => {
            sayln!("no communication in the evidence matches the query");
            if !untraceable.is_empty() {
                sayln!(
                    "{} match it but carry no ports (or ICMP type and code), so no Community ID \
                     can be formed and no path traced from them; look them up by address:",
                    hoptrace::model::counted(
                        untraceable.len() as u64,
                        "flow record",
                        "flow records"
                    )
                );
                for at in &untraceable {
                    sayln!("  {at}");
                }
            }
            Ok(exit::NOT_FOUND)
        }
    }
}

fn run_flows(mut a: FlowsArgs) -> Result<u8> {
    dash_is_stdout(&mut a.output);
    let format = table_format(&a.format, &a.output)?;
    if !a.enrich {
        // Database flags without --enrich are a usage error, said before any reading.
        enricher(false, &a.db)?;
    }
    let progress = Arc::new(AtomicU64::new(0));
    let inputs: Vec<PathBuf> = a
        .inputs
        .iter()
        .flat_map(|p| hoptrace::pipeline::input_files(p))
        .collect();
    let mut cfg = FlowsConfig::new(inputs.clone());
    cfg.threads = a.threads;
    cfg.flow = flow_config(&a)?;
    cfg.logs = log_options(&a.logs)?;
    apply_bounds(&a.bounds, &mut cfg);
    cfg.progress = Some(Arc::clone(&progress));
    cfg.spill = Some(hoptrace::pipeline::SpillConfig {
        dir: a.spill_dir.clone().unwrap_or_else(std::env::temp_dir),
        max_flows: a.max_flows.max(1),
    });
    cfg.read_mode = if a.io == "mmap" {
        hoptrace::ingest::ReadMode::Mmap
    } else {
        hoptrace::ingest::ReadMode::Read
    };
    let done = Arc::new(AtomicBool::new(false));
    let bar = (!a.quiet && std::io::stderr().is_terminal())
        .then(|| spawn_progress(&inputs, &progress, &done));
    if let Some(path) = &a.partial {
        let part = hoptrace::partial(&cfg);
        done.store(true, Ordering::Relaxed);
        if let Some(h) = bar {
            let _ = h.join();
        }
        let part = part?;
        if part.table.len() > a.max_flows {
            // Not an error: the table is whole. The bound the analyst set was not kept.
            sayln!(
                "warning: the partial table holds {} flows in memory, more than --max-flows {} \
                 (a part's flows cannot be spilled: the parts before it may still continue \
                 them); cut the capture set into smaller parts to stay within the bound",
                part.table.len(),
                a.max_flows
            );
        }
        let mut file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        part.save(&mut w)
            .and_then(|()| w.flush())
            .with_context(|| format!("writing {}", path.display()))?;
        let problems =
            part.table.diag.has_problems() || part.inputs.iter().any(|i| i.error.is_some());
        let nothing = part.inputs.iter().all(|i| i.container.is_none());
        if !a.quiet {
            sayln!(
                "partial flow table of {} input{} written to {}",
                part.inputs.len(),
                if part.inputs.len() == 1 { "" } else { "s" },
                path.display()
            );
        }
        return Ok(if nothing {
            exit::FATAL
        } else if problems {
            exit::SKIPPED
        } else {
            exit::OK
        });
    }
    // The databases load (decompress, index, checksum: about 0.1 s for the bundled ones)
    // while the packets are read; they are needed only when the table is written.
    let (run, loaded) = std::thread::scope(|s| {
        let loading = s.spawn(|| enricher(a.enrich, &a.db));
        let run = flows(&cfg);
        let loaded = loading
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("loading the databases failed")));
        (run, loaded)
    });
    done.store(true, Ordering::Relaxed);
    if let Some(h) = bar {
        let _ = h.join();
    }
    let enricher = loaded?;
    let run = run?;
    if !a.quiet {
        say!("{}", report::summary_text(&run));
    }
    if run.nothing_read() {
        sayln!("error: none of the inputs could be read");
        return Ok(exit::FATAL);
    }
    check_strict(a.strict, [&run])?;
    write_table(
        &run,
        format,
        &a.output,
        a.threads,
        enricher.as_ref(),
        a.quiet,
    )?;
    let status = run_status(&run);
    // The process ends here: freeing the in-memory flows one allocation at a time would
    // only delay the exit (about a twentieth of a run on a 1 GB capture). The rest of the
    // run is dropped as usual (spilled runs delete their files).
    std::mem::forget(run.flows);
    Ok(status)
}

fn run_merge(mut a: MergeArgs) -> Result<u8> {
    dash_is_stdout(&mut a.output);
    let format = table_format(&a.format, &a.output)?;
    let enricher = enricher(a.enrich, &a.db)?;
    let spill = hoptrace::pipeline::SpillConfig {
        dir: a.spill_dir.clone().unwrap_or_else(std::env::temp_dir),
        max_flows: a.max_flows.max(1),
    };
    let mut spilled = hoptrace::pipeline::Spilled::default();
    let mut acc: Option<hoptrace::PartialRun> = None;
    for p in &a.partials {
        let part = hoptrace::PartialRun::load(p)?;
        let acc = match &mut acc {
            None => acc.insert(part),
            Some(acc) => {
                acc.append(part)
                    .with_context(|| format!("merging {}", p.display()))?;
                acc
            }
        };
        // Each part holds every flow of its inputs: past the bound, what no later part can
        // change goes to disk.
        acc.bound(&mut spilled, &spill)?;
    }
    let Some(acc) = acc else {
        bail!("no partial tables given");
    };
    let run = acc.finish_spilled(spilled, Some(&spill))?;
    if !a.quiet {
        say!("{}", report::summary_text(&run));
    }
    check_strict(a.strict, [&run])?;
    write_table(
        &run,
        format,
        &a.output,
        a.threads,
        enricher.as_ref(),
        a.quiet,
    )?;
    Ok(run_status(&run))
}

/// Draws a progress bar over the bytes of the (uncompressed, on-disk) inputs.
fn spawn_progress(
    inputs: &[PathBuf],
    progress: &Arc<AtomicU64>,
    done: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let total: u64 = inputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let progress = Arc::clone(progress);
    let done = Arc::clone(done);
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        // Drawn only after 700 ms, so short runs print nothing; created now so that its
        // rate estimate has the whole run behind it.
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total.max(1)),
            indicatif::ProgressDrawTarget::hidden(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut shown = false;
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(100));
            bar.set_position(progress.load(Ordering::Relaxed).min(total));
            if !shown && start.elapsed().as_millis() > 700 {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                shown = true;
            }
        }
        bar.finish_and_clear();
    })
}

/// An error and its causes on one line, each cause once: several of the library's errors
/// show their cause in their own message and also give it as their source, which
/// `{:#}` printed twice ("cannot read X: No such file or directory (os error 2): No such
/// file or directory (os error 2)").
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.is_empty() {
            text = c;
        } else if !text.ends_with(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

/// The environment variable that fixes the seed of the evidence tables' hashes (random per
/// process otherwise; see `hoptrace::model::Seeded`): to reproduce a run's memory layout.
const HASH_SEED_VAR: &str = "HOPTRACE_HASH_SEED";

fn fix_hash_seed() -> Result<(), String> {
    let Some(v) = std::env::var_os(HASH_SEED_VAR) else {
        return Ok(());
    };
    let seed = v.to_str().and_then(parse_seed).ok_or_else(|| {
        format!(
            "{HASH_SEED_VAR} must be a 64-bit number, decimal or 0x hexadecimal (got {:?})",
            v.to_string_lossy()
        )
    })?;
    let _ = hoptrace::model::set_hash_seed(seed);
    Ok(())
}

/// A seed written in decimal or as `0x` hexadecimal.
fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Err(e) = fix_hash_seed() {
        sayln!("error: {e}");
        return ExitCode::from(exit::USAGE);
    }
    let res = match cli.command {
        Command::Flows(a) => run_flows(a),
        Command::Merge(a) => run_merge(a),
        Command::Lookup(a) => enrich_cmd::run_lookup(a),
        Command::Db(c) => enrich_cmd::run_db(c),
        Command::Trace(a) => run_trace(a),
    };
    match res {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::from(exit::OK);
            }
            sayln!("error: {}", error_text(&e));
            let usage = e.chain().any(|c| c.to_string().starts_with("--"));
            ExitCode::from(if usage { exit::USAGE } else { exit::FATAL })
        }
    }
}
