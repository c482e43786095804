//! `hoptrace lookup`, `hoptrace db ...` and the database flags `flows --enrich` shares.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hoptrace::enrich::{
    Enricher, Jurisdictions, ProviderDirectory, RangeBuilder, RangeMeta, Scope, Source, bundled,
};
use hoptrace::model::Date;
use hoptrace::report::{self, LookupContext};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

/// Databases and tables for enrichment.
#[derive(Args, Debug, Default)]
pub struct DbArgs {
    /// Database to consult: a MaxMind DB (GeoLite2/GeoIP2 ASN, Country, City, ISP, ...;
    /// may be zstd-compressed) or a range table from `hoptrace db build`. Repeatable;
    /// consulted in the order given. Without a public database the bundled data is used
    #[arg(long = "db", value_name = "FILE")]
    pub dbs: Vec<PathBuf>,
    /// Consult the bundled data too, after the --db files
    #[arg(long)]
    pub bundled: bool,
    /// Provider directory (CSV or JSON: asn, legal_name, abuse_contact,
    /// law_enforcement_contact, contact_24x7, country, source)
    #[arg(long, value_name = "FILE")]
    pub providers: Option<PathBuf>,
    /// Jurisdictions table to use instead of the bundled one (same columns)
    #[arg(long, value_name = "FILE")]
    pub jurisdictions: Option<PathBuf>,
}

impl DbArgs {
    /// True if any flag was given.
    pub fn any(&self) -> bool {
        !self.dbs.is_empty()
            || self.bundled
            || self.providers.is_some()
            || self.jurisdictions.is_some()
    }

    /// Opens everything; errors name the file.
    pub fn enricher(&self) -> Result<Enricher> {
        let mut sources = Vec::new();
        for p in &self.dbs {
            sources.push(Source::open(p)?);
        }
        let public = sources.iter().any(|s| s.info.scope == Scope::Public);
        if self.bundled || !public {
            sources.extend(bundled::sources().context("the bundled databases")?);
        }
        let mut e = Enricher::new(sources);
        if let Some(p) = &self.providers {
            let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            e.providers = Some(
                ProviderDirectory::parse(&bytes, &p.display().to_string())
                    .map_err(anyhow::Error::msg)?,
            );
        }
        if let Some(p) = &self.jurisdictions {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            e.jurisdictions = Jurisdictions::parse(&text, &p.display().to_string())
                .map_err(anyhow::Error::msg)?;
        }
        Ok(e)
    }
}

#[derive(Args)]
pub struct LookupArgs {
    /// IPv4 or IPv6 addresses; `-` alone reads them from standard input
    #[arg(required = true, value_name = "IP")]
    pub ips: Vec<String>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Date of the communication (YYYY-MM-DD): treaty status on that date, and a note when
    /// a database was built long before or after it. Without it, treaty status is given
    /// for today
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Requesting country (ISO 3166-1 alpha-2): list the instruments between it and each
    /// address's country on the date
    #[arg(long, value_name = "ISO2")]
    pub requesting: Option<String>,
    /// Write a JSON array, one object per address in input order
    #[arg(long)]
    pub json: bool,
    /// Worker threads (0 = one per core)
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

fn today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Date::from_unix_secs(secs)
}

fn parse_date(flag: &str, s: &str) -> Result<Date> {
    Date::parse(s).with_context(|| format!("{flag}: {s:?} is not a date; use YYYY-MM-DD"))
}

pub fn run_lookup(mut a: LookupArgs) -> Result<u8> {
    if a.ips == ["-"] {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading addresses from standard input")?;
        a.ips = text.split_whitespace().map(str::to_string).collect();
    }
    let date = match &a.date {
        Some(d) => Some(parse_date("--date", d)?),
        None => None,
    };
    if let Some(r) = &a.requesting
        && (r.len() != 2 || !r.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        bail!("--requesting: {r:?} is not a two-letter country code (e.g. DE)");
    }
    let e = a.db.enricher()?;
    let ctx = LookupContext {
        // Treaty status needs a date: the communication's, else today's.
        date: date.or(a.requesting.as_ref().map(|_| today())),
        requesting: a.requesting.clone(),
    };
    let mut bad = false;
    let parsed: Vec<Result<IpAddr, String>> = a
        .ips
        .iter()
        .map(|s| {
            // Accept `[v6]` and zone suffixes the way analysts paste them; the zone is
            // local to the host and means nothing to a database.
            let t = s.trim().trim_start_matches('[').trim_end_matches(']');
            let t = t.split('%').next().unwrap_or(t);
            t.parse::<IpAddr>()
                .map_err(|_| format!("{s:?} is not an IPv4 or IPv6 address"))
        })
        .collect();
    let ips: Vec<IpAddr> = parsed.iter().filter_map(|r| r.clone().ok()).collect();
    let answers = hoptrace::pipeline::attribute(&e, &ips, a.threads)?;
    let mut answers = answers.into_iter();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // Struct order in the JSON (a serde_json::Value would sort the keys).
    #[derive(serde::Serialize)]
    #[serde(untagged)]
    enum Item {
        Address(Box<report::AddressOut>),
        Bad { ip: String, error: String },
    }
    let mut objects = Vec::new();
    for (text, p) in a.ips.iter().zip(&parsed) {
        match p {
            Ok(_) => {
                let Some(att) = answers.next() else { break };
                let o = report::address_out(&e, &att, &ctx);
                bad |= !o.errors.is_empty();
                if a.json {
                    objects.push(Item::Address(Box::new(o)));
                } else {
                    write!(out, "{}", report::address_text(&o))?;
                }
            }
            Err(msg) => {
                bad = true;
                sayln!("error: {msg}");
                if a.json {
                    objects.push(Item::Bad {
                        ip: text.clone(),
                        error: msg.clone(),
                    });
                }
            }
        }
    }
    if a.json {
        serde_json::to_writer_pretty(&mut out, &objects)?;
        writeln!(out)?;
    } else {
        if ctx.date.is_some() && date.is_none() {
            writeln!(
                out,
                "(treaty status as of today, {}; give --date for the communication's date)",
                today()
            )?;
        }
        write!(out, "{}", report::sources_text(&e))?;
    }
    out.flush()?;
    Ok(if bad { 1 } else { 0 })
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Build a range table (.htdb) from ASN files of the ip-location-db kind (first,last,
    /// asn,organisation) and/or an organisation's prefix list (CSV: prefix,asn,
    /// organisation,country)
    Build(DbBuildArgs),
    /// Check a MaxMind DB and write it zstd-compressed (how data/country.mmdb.zst is made)
    Pack(DbPackArgs),
    /// Describe databases: type, build date, size, SHA-256; without files, the bundled ones
    Info(DbInfoArgs),
}

#[derive(Args)]
pub struct DbBuildArgs {
    /// ASN file of the ip-location-db kind (asn-ipv4.csv, asn-ipv6.csv); repeatable
    #[arg(long = "asn-csv", value_name = "FILE")]
    pub asn_csv: Vec<PathBuf>,
    /// Prefix list with a header line: prefix,asn,organisation,country; repeatable
    #[arg(long = "prefixes", value_name = "FILE")]
    pub prefixes: Vec<PathBuf>,
    /// Output file
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Name recorded in the table (e.g. the upstream version)
    #[arg(long)]
    pub name: Option<String>,
    /// Date the data describes (YYYY-MM-DD), recorded and compared with capture dates
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Attribution the data's licence asks for, printed with every answer
    #[arg(long)]
    pub attribution: Option<String>,
    /// `public` (registry/routing data: only globally reachable addresses are looked up) or
    /// `operator` (an address plan: consulted for private addresses too). Default: operator
    /// when only prefix lists are given, else public
    #[arg(long, value_parser = ["public", "operator"])]
    pub scope: Option<String>,
}

#[derive(Args)]
pub struct DbPackArgs {
    /// MaxMind DB to check and compress
    #[arg(value_name = "MMDB")]
    pub input: PathBuf,
    /// Output file (conventionally .mmdb.zst)
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Args)]
pub struct DbInfoArgs {
    /// Database files (default: the bundled ones)
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run_db(c: DbCommand) -> Result<u8> {
    match c {
        DbCommand::Build(a) => db_build(a),
        DbCommand::Pack(a) => db_pack(a),
        DbCommand::Info(a) => db_info(a),
    }
}

fn db_build(a: DbBuildArgs) -> Result<u8> {
    if a.asn_csv.is_empty() && a.prefixes.is_empty() {
        bail!("--asn-csv or --prefixes: give at least one input");
    }
    let date = match &a.date {
        Some(d) => Some(parse_date("--date", d)?),
        None => None,
    };
    let mut b = RangeBuilder::default();
    for p in &a.asn_csv {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        let n = b.add_asn_csv(&file_name(p), &bytes);
        sayln!("{}: {n} ranges", p.display());
    }
    for p in &a.prefixes {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        let n = b
            .add_prefix_csv(&file_name(p), &bytes)
            .map_err(anyhow::Error::msg)?;
        sayln!("{}: {n} prefixes", p.display());
    }
    let problems = std::mem::take(&mut b.problems);
    for p in problems.iter().take(20) {
        sayln!("warning: skipped {p}");
    }
    if problems.len() > 20 {
        sayln!("warning: ... and {} more rows skipped", problems.len() - 20);
    }
    let scope = match a.scope.as_deref() {
        Some("operator") => Scope::Operator,
        Some(_) => Scope::Public,
        None if a.asn_csv.is_empty() => Scope::Operator,
        None => Scope::Public,
    };
    let name = a.name.clone().unwrap_or_else(|| file_name(&a.output));
    let (table, rep) = b.finish(RangeMeta {
        name,
        scope,
        date,
        built_from: Vec::new(),
        attribution: a.attribution.clone().unwrap_or_default(),
    });
    for o in rep.overlaps.iter().take(20) {
        sayln!("note: {o}");
    }
    if rep.overlaps.len() > 20 {
        sayln!("note: ... and {} more overlaps", rep.overlaps.len() - 20);
    }
    let bytes = table.to_bytes();
    std::fs::write(&a.output, &bytes)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    let (n4, n6) = table.len();
    sayln!(
        "{}: {n4} IPv4 + {n6} IPv6 ranges from {} rows ({} overlaps resolved), {} {} data, {} bytes",
        a.output.display(),
        rep.rows,
        rep.overlaps.len(),
        scope.as_str(),
        date.map_or_else(|| "undated".to_string(), |d| d.to_string()),
        bytes.len()
    );
    Ok(if problems.is_empty() { 0 } else { 1 })
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn db_pack(a: DbPackArgs) -> Result<u8> {
    let src = Source::open(&a.input)?;
    if src.mmdb_meta().is_none() {
        bail!("{}: not a MaxMind DB", a.input.display());
    }
    let bytes =
        std::fs::read(&a.input).with_context(|| format!("cannot read {}", a.input.display()))?;
    let packed = zstd::bulk::compress(&bytes, 19).context("compressing")?;
    // The packed file must open to the same database.
    Source::from_bytes(packed.clone(), &a.output.display().to_string(), "")?;
    std::fs::write(&a.output, &packed)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    sayln!(
        "{}: {} ({} bytes, built {}) → {} ({} bytes)",
        a.input.display(),
        src.info.kind,
        bytes.len(),
        src.info.build_date.map_or("?".into(), |d| d.to_string()),
        a.output.display(),
        packed.len()
    );
    Ok(0)
}

fn db_info(a: DbInfoArgs) -> Result<u8> {
    let sources = if a.files.is_empty() {
        bundled::sources()?
    } else {
        a.files
            .iter()
            .map(|p| Source::open(p).map_err(anyhow::Error::from))
            .collect::<Result<Vec<_>>>()?
    };
    let e = Enricher::new(sources);
    // Written, not printed: `print!` panics when standard output is closed (`| head`).
    let mut out = std::io::stdout().lock();
    write!(out, "{}", report::sources_text(&e))?;
    for s in &e.sources {
        if let Some(m) = s.mmdb_meta() {
            writeln!(
                out,
                "  {}: MaxMind DB, IPv{} tree, {} nodes, build_epoch {}",
                s.info.name, m.ip_version, m.node_count, m.build_epoch
            )?;
        }
    }
    out.flush()?;
    Ok(0)
}
