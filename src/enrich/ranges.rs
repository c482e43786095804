//! hoptrace range tables (`.htdb`): sorted, non-overlapping address ranges with an ASN, an
//! organisation and a country, zstd-compressed. The bundled ASN data is one; `hoptrace db
//! build` makes them from the ip-location-db ASN CSVs (or newer files of the same kind) and
//! from an organisation's own prefix list.
//!
//! Layout (little-endian, inside one zstd frame): the magic `HOPTRACE-RANGES`, a format
//! version, the metadata, the organisation strings, then for IPv4 and for IPv6 the columns
//! start, end, ASN, organisation index and country, each a packed array (columns compress
//! far better than rows). Reading checks every length and index; a damaged file is an error.

use super::Fields;
use crate::model::{BinReader, BinWriter, Date};
use ipnetwork::IpNetwork;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const MAGIC: &[u8] = b"HOPTRACE-RANGES";
const VERSION: u16 = 1;
const NO_ORG: u32 = u32::MAX;

/// Whose knowledge a range table is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Public registry or routing data: consulted for globally reachable addresses only.
    Public,
    /// An operator's own address plan: consulted for every address, private ones included,
    /// since the operator who saw an address is the one who can attribute it.
    Operator,
}

impl Scope {
    /// `public` or `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Public => "public",
            Scope::Operator => "operator",
        }
    }
}

/// An input a table was built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltFrom {
    /// File name as given.
    pub name: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Data rows read from it.
    pub rows: u64,
}

/// What a range table says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeMeta {
    /// A short name, e.g. `ip-location-db asn 2.3.2026061719`.
    pub name: String,
    /// Public data or an operator's plan.
    pub scope: Scope,
    /// The date the data describes (the upstream build date), if known.
    pub date: Option<Date>,
    /// The inputs it was built from.
    pub built_from: Vec<BuiltFrom>,
    /// Attribution the data's licence asks for (empty if none).
    pub attribution: String,
}

/// An address width of a column: IPv4 (`u32`) or IPv6 (`u128`), little-endian in the file.
trait Word: Copy + Ord {
    /// Bytes per value.
    const WIDTH: usize;
    /// The value at the start of `b` (zero if `b` is short, which validation rules out).
    fn read(b: &[u8]) -> Self;
    /// Appends the value.
    fn put(self, out: &mut Vec<u8>);
}

/// The first `N` bytes of `b`, zeros if it is shorter.
fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    b.get(..N).and_then(|s| s.try_into().ok()).unwrap_or([0; N])
}

impl Word for u32 {
    const WIDTH: usize = 4;
    fn read(b: &[u8]) -> u32 {
        u32::from_le_bytes(array(b))
    }
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Word for u128 {
    const WIDTH: usize = 16;
    fn read(b: &[u8]) -> u128 {
        u128::from_le_bytes(array(b))
    }
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// One address family's columns, read in place from the table's bytes (the bundled table
/// is compiled in: loading it copies nothing and allocates nothing per row): `n` rows from
/// byte `at`, the packed arrays start and end (a [`Word`] each), ASN and organisation index
/// (4 bytes each) and country (2 bytes).
#[derive(Debug)]
struct Columns<T> {
    n: usize,
    at: usize,
    word: std::marker::PhantomData<T>,
}

impl<T: Word> Columns<T> {
    /// Bytes per row over the five columns.
    const ROW: usize = 2 * T::WIDTH + 10;

    fn new(n: usize, at: usize) -> Columns<T> {
        Columns {
            n,
            at,
            word: std::marker::PhantomData,
        }
    }

    /// The bytes from offset `off` of the columns on (empty past the end: lengths were
    /// checked when the table was read or written).
    fn bytes<'d>(&self, d: &'d [u8], off: usize) -> &'d [u8] {
        d.get(self.at + off..).unwrap_or(&[])
    }

    fn start(&self, d: &[u8], i: usize) -> T {
        T::read(self.bytes(d, i * T::WIDTH))
    }

    fn end(&self, d: &[u8], i: usize) -> T {
        T::read(self.bytes(d, (self.n + i) * T::WIDTH))
    }

    fn asn(&self, d: &[u8], i: usize) -> u32 {
        u32::read(self.bytes(d, 2 * self.n * T::WIDTH + 4 * i))
    }

    fn org(&self, d: &[u8], i: usize) -> u32 {
        u32::read(self.bytes(d, 2 * self.n * T::WIDTH + 4 * (self.n + i)))
    }

    fn country(&self, d: &[u8], i: usize) -> [u8; 2] {
        array(self.bytes(d, 2 * self.n * T::WIDTH + 8 * self.n + 2 * i))
    }

    /// The first row with this AS number (a scan of the ASN column).
    fn row_of_asn(&self, d: &[u8], asn: u32) -> Option<usize> {
        let col = self.bytes(d, 2 * self.n * T::WIDTH);
        col.get(..4 * self.n)?
            .chunks_exact(4)
            .position(|c| u32::read(c) == asn)
    }

    /// The row whose range holds `ip`.
    fn find(&self, d: &[u8], ip: T) -> Option<usize> {
        // The number of rows starting at or below `ip`.
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.start(d, mid) <= ip {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let i = lo.checked_sub(1)?;
        (self.end(d, i) >= ip).then_some(i)
    }

    /// Writes the rows' columns (after their count) and returns where they lie.
    fn write(w: &mut BinWriter, rows: &[(T, T, Value)]) -> Columns<T> {
        w.u32(rows.len() as u32);
        let c = Columns::new(rows.len(), w.buf.len());
        w.buf.reserve(rows.len() * Self::ROW);
        for r in rows {
            r.0.put(&mut w.buf);
        }
        for r in rows {
            r.1.put(&mut w.buf);
        }
        for r in rows {
            w.u32(r.2.asn);
        }
        for r in rows {
            w.u32(r.2.org);
        }
        for r in rows {
            w.buf.extend_from_slice(&r.2.country);
        }
        c
    }

    /// Reads the count and skips the columns, checking that every range is well formed
    /// and lies after the one before (so the rows are sorted and disjoint, as lookups
    /// assume) and that every organisation index is valid.
    fn read(r: &mut BinReader<'_>, norgs: usize) -> Option<Columns<T>> {
        let n = r.u32()? as usize;
        let c = Columns::new(n, r.at);
        let b = r.take(n.checked_mul(Self::ROW)?)?;
        let (starts, rest) = b.split_at(n * T::WIDTH);
        let (ends, rest) = rest.split_at(n * T::WIDTH);
        let orgs = &rest[4 * n..8 * n];
        let mut last_end: Option<T> = None;
        let rows = starts
            .chunks_exact(T::WIDTH)
            .zip(ends.chunks_exact(T::WIDTH))
            .zip(orgs.chunks_exact(4));
        for ((s, e), org) in rows {
            let (s, e, org) = (T::read(s), T::read(e), u32::read(org));
            if s > e || last_end.is_some_and(|l| l >= s) || (org != NO_ORG && org as usize >= norgs)
            {
                return None;
            }
            last_end = Some(e);
        }
        Some(c)
    }
}

/// A range table, ready for lookups.
pub struct RangeTable {
    /// Its metadata.
    pub meta: RangeMeta,
    /// The decompressed file: borrowed for the compiled-in table, owned otherwise.
    data: Cow<'static, [u8]>,
    /// Where the organisations begin (after the metadata): [`RangeTable::to_bytes`] writes
    /// the metadata afresh and the rest as it is.
    body: usize,
    /// Each organisation's place in `data` (offset, length); checked to be UTF-8.
    orgs: Vec<(usize, usize)>,
    v4: Columns<u32>,
    v6: Columns<u128>,
}

impl std::fmt::Debug for RangeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeTable")
            .field("meta", &self.meta)
            .field("organisations", &self.orgs.len())
            .field("v4", &self.v4.n)
            .field("v6", &self.v6.n)
            .finish()
    }
}

/// A range table row an address fell into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeHit {
    /// First address of the range.
    pub start: IpAddr,
    /// Last address of the range.
    pub end: IpAddr,
    /// What the row says.
    pub fields: Fields,
}

impl RangeHit {
    /// The range as text: a CIDR block when it is one, else `first-last`.
    pub fn range_text(&self) -> String {
        match range_as_cidr(self.start, self.end) {
            Some(n) => n.to_string(),
            None => format!("{}-{}", self.start, self.end),
        }
    }
}

fn range_as_cidr(start: IpAddr, end: IpAddr) -> Option<IpNetwork> {
    let (s, e, bits) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (u128::from(u32::from(s)), u128::from(u32::from(e)), 32),
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128),
        _ => return None,
    };
    let size = e.checked_sub(s)?.checked_add(1);
    let host_bits = match size {
        Some(n) if n.is_power_of_two() && s & (n - 1) == 0 => n.trailing_zeros(),
        None if s == 0 => 128,
        _ => return None,
    };
    IpNetwork::new(start, (bits - host_bits) as u8).ok()
}

impl RangeTable {
    /// Looks an address up.
    pub fn lookup(&self, ip: IpAddr) -> Option<RangeHit> {
        match ip {
            IpAddr::V4(a) => self.hit(&self.v4, u32::from(a), |x| IpAddr::from(x.to_be_bytes())),
            IpAddr::V6(a) => self.hit(&self.v6, u128::from(a), |x| IpAddr::from(x.to_be_bytes())),
        }
    }

    /// The row of `c` holding `ip`, with its range as addresses (`addr`).
    fn hit<T: Word>(&self, c: &Columns<T>, ip: T, addr: impl Fn(T) -> IpAddr) -> Option<RangeHit> {
        let d = &self.data[..];
        let i = c.find(d, ip)?;
        let asn = c.asn(d, i);
        let cc = c.country(d, i);
        Some(RangeHit {
            start: addr(c.start(d, i)),
            end: addr(c.end(d, i)),
            fields: Fields {
                asn: (asn != 0).then_some(asn),
                as_org: self.org_name(c.org(d, i)).map(str::to_string),
                country: (cc != [0, 0]).then_some(cc),
                ..Fields::default()
            },
        })
    }

    /// The organisation with index `i` (none for [`NO_ORG`]).
    fn org_name(&self, i: u32) -> Option<&str> {
        let &(at, len) = self.orgs.get(i as usize)?;
        std::str::from_utf8(self.data.get(at..at + len)?).ok()
    }

    /// The organisation a row with this AS number names (the first such row): for an AS
    /// known only by its number, from routing fields.
    pub fn as_org(&self, asn: u32) -> Option<&str> {
        if asn == 0 {
            return None;
        }
        let d = &self.data[..];
        let (v4, v6) = (&self.v4, &self.v6);
        let org = match v4.row_of_asn(d, asn) {
            Some(i) => v4.org(d, i),
            None => v6.org(d, v6.row_of_asn(d, asn)?),
        };
        self.org_name(org)
    }

    /// Number of IPv4 and IPv6 ranges.
    pub fn len(&self) -> (usize, usize) {
        (self.v4.n, self.v6.n)
    }

    /// True if the table has no ranges.
    pub fn is_empty(&self) -> bool {
        self.v4.n == 0 && self.v6.n == 0
    }

    /// The table as file bytes (zstd-compressed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = BinWriter::default();
        write_head(&mut w, &self.meta);
        w.buf
            .extend_from_slice(self.data.get(self.body..).unwrap_or(&[]));
        // Level 19: the bundled table is built once and read many times.
        zstd::bulk::compress(&w.buf, 19).unwrap_or_default()
    }

    /// True if `bytes` look like a range table (a zstd frame holding the magic).
    pub fn sniff(decompressed: &[u8]) -> bool {
        decompressed.starts_with(MAGIC)
    }

    /// Reads a table from its decompressed bytes, checking every length, order and index;
    /// the table reads its columns in place (compiled-in bytes are not copied).
    pub fn from_decompressed(bytes: impl Into<Cow<'static, [u8]>>) -> Result<RangeTable, String> {
        let data = bytes.into();
        let b = &data[..];
        let damaged = |what: &str| format!("damaged hoptrace range table ({what})");
        let mut r = BinReader::new(b);
        if r.take(MAGIC.len()) != Some(MAGIC) {
            return Err("not a hoptrace range table".into());
        }
        match r.u16() {
            Some(VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "hoptrace range table format {v}; this build reads format {VERSION}"
                ));
            }
            None => return Err(damaged("header")),
        }
        let meta = (|| {
            let name = r.str()?;
            let scope = match r.u8()? {
                0 => Scope::Public,
                1 => Scope::Operator,
                _ => return None,
            };
            let date = r.opt(|r| r.i64().map(Date))?;
            let n = r.count()?;
            let mut built_from = Vec::with_capacity(n);
            for _ in 0..n {
                built_from.push(BuiltFrom {
                    name: r.str()?,
                    sha256: r.str()?,
                    rows: r.u64()?,
                });
            }
            let attribution = r.str()?;
            Some(RangeMeta {
                name,
                scope,
                date,
                built_from,
                attribution,
            })
        })()
        .ok_or_else(|| damaged("metadata"))?;
        let body = r.at;
        let n = r.count().ok_or_else(|| damaged("organisations"))?;
        let mut orgs = Vec::with_capacity(n);
        for _ in 0..n {
            let s = r
                .bytes()
                .filter(|s| s.is_ascii() || std::str::from_utf8(s).is_ok())
                .ok_or_else(|| damaged("organisations"))?;
            orgs.push((r.at - s.len(), s.len()));
        }
        let v4 = Columns::read(&mut r, orgs.len()).ok_or_else(|| damaged("IPv4 ranges"))?;
        let v6 = Columns::read(&mut r, orgs.len()).ok_or_else(|| damaged("IPv6 ranges"))?;
        if !r.is_done() {
            return Err(damaged("trailing bytes"));
        }
        Ok(RangeTable {
            meta,
            data,
            body,
            orgs,
            v4,
            v6,
        })
    }
}

/// Writes the magic, the format version and the metadata.
fn write_head(w: &mut BinWriter, m: &RangeMeta) {
    w.buf.extend_from_slice(MAGIC);
    w.u16(VERSION);
    w.str(&m.name);
    w.u8(match m.scope {
        Scope::Public => 0,
        Scope::Operator => 1,
    });
    w.opt(m.date, |w, d| w.i64(d.0));
    w.u32(m.built_from.len() as u32);
    for b in &m.built_from {
        w.str(&b.name);
        w.str(&b.sha256);
        w.u64(b.rows);
    }
    w.str(&m.attribution);
}

/// Builds a range table from CSV files.
#[derive(Debug, Default)]
pub struct RangeBuilder {
    rows: Vec<Entry>,
    orgs: Vec<Box<str>>,
    org_index: HashMap<Box<str>, u32>,
    built_from: Vec<BuiltFrom>,
    /// Rows that could not be read, with file and line.
    pub problems: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Value {
    asn: u32,
    org: u32,
    country: [u8; 2],
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    v6: bool,
    start: u128,
    end: u128,
    value: Value,
    /// Input order, so that of two equally wide overlapping rows the later one wins.
    seq: u32,
}

/// What building a table found.
#[derive(Debug, Default)]
pub struct BuildReport {
    /// Rows read.
    pub rows: u64,
    /// Overlapping rows; in an overlap the narrower row wins (for equal widths, the later).
    pub overlaps: Vec<String>,
}

fn parse_asn(s: &str) -> Option<u32> {
    let t = s.trim();
    let t = t
        .strip_prefix("AS")
        .or_else(|| t.strip_prefix("as"))
        .unwrap_or(t);
    if t.is_empty() {
        return Some(0);
    }
    t.parse().ok()
}

fn parse_country(s: &str) -> Option<[u8; 2]> {
    let t = s.trim().as_bytes();
    match t.len() {
        0 => Some([0, 0]),
        2 if t.iter().all(u8::is_ascii_alphabetic) => {
            Some([t[0].to_ascii_uppercase(), t[1].to_ascii_uppercase()])
        }
        _ => None,
    }
}

fn bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

impl RangeBuilder {
    fn org(&mut self, s: &str) -> u32 {
        let s = s.trim();
        if s.is_empty() {
            return NO_ORG;
        }
        if let Some(&i) = self.org_index.get(s) {
            return i;
        }
        let i = self.orgs.len() as u32;
        self.orgs.push(s.into());
        self.org_index.insert(s.into(), i);
        i
    }

    fn push(&mut self, start: IpAddr, end: IpAddr, value: Value) -> Result<(), String> {
        let (v6s, s) = bits(start);
        let (v6e, e) = bits(end);
        if v6s != v6e {
            return Err("start and end are of different IP versions".into());
        }
        if s > e {
            return Err(format!("start {start} is after end {end}"));
        }
        let seq = self.rows.len() as u32;
        self.rows.push(Entry {
            v6: v6s,
            start: s,
            end: e,
            value,
            seq,
        });
        Ok(())
    }

    fn record(&mut self, name: &str, bytes: &[u8], rows: u64) {
        self.built_from.push(BuiltFrom {
            name: name.to_string(),
            sha256: super::sha256_hex(bytes),
            rows,
        });
    }

    /// Adds an ASN file of the ip-location-db kind: no header; `first,last,asn,organisation`
    /// with inclusive address ranges, IPv4 or IPv6 (RFC 4180 quoting).
    pub fn add_asn_csv(&mut self, name: &str, bytes: &[u8]) -> u64 {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut rows = 0;
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 1;
            let res = rec.map_err(|e| e.to_string()).and_then(|r| {
                if r.len() != 4 {
                    return Err(format!("expected 4 fields, found {}", r.len()));
                }
                let ip = |k: usize| {
                    r[k].trim()
                        .parse::<IpAddr>()
                        .map_err(|_| format!("{:?} is not an IP address", &r[k]))
                };
                let asn = parse_asn(&r[2]).ok_or_else(|| format!("{:?} is not an ASN", &r[2]))?;
                let org = self.org(&r[3]);
                self.push(
                    ip(0)?,
                    ip(1)?,
                    Value {
                        asn,
                        org,
                        country: [0, 0],
                    },
                )
            });
            match res {
                Ok(()) => rows += 1,
                Err(e) => self.problems.push(format!("{name}: line {line}: {e}")),
            }
        }
        self.record(name, bytes, rows);
        rows
    }

    /// Adds an organisation's prefix list: a CSV with a header naming the columns `prefix`
    /// (a CIDR block or a single address; also `network`, `cidr`), `asn`, `organisation`
    /// (also `organization`, `org`, `as_org`) and `country` (ISO 3166 alpha-2). Only
    /// `prefix` is required; lines starting with `#` are comments.
    pub fn add_prefix_csv(&mut self, name: &str, bytes: &[u8]) -> Result<u64, String> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers = rdr
            .headers()
            .map_err(|e| format!("{name}: header line: {e}"))?
            .clone();
        let col = |names: &[&str]| {
            headers
                .iter()
                .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
        };
        let prefix = col(&["prefix", "network", "cidr"]).ok_or_else(|| {
            format!(
                "{name}: no `prefix` column in the header line (found: {})",
                headers.iter().collect::<Vec<_>>().join(",")
            )
        })?;
        let asn_c = col(&["asn", "as", "autonomous_system_number"]);
        let org_c = col(&[
            "organisation",
            "organization",
            "org",
            "as_org",
            "autonomous_system_organization",
        ]);
        let cc_c = col(&["country", "country_code", "cc"]);
        let mut rows = 0;
        for rec in rdr.records() {
            let (line, res) = match rec {
                Err(e) => (e.position().map_or(0, |p| p.line()), Err(e.to_string())),
                Ok(r) => {
                    let line = r.position().map_or(0, |p| p.line());
                    let get = |c: Option<usize>| c.and_then(|c| r.get(c)).unwrap_or("");
                    let res = (|| {
                        let p = get(Some(prefix));
                        let net: IpNetwork = p
                            .parse()
                            .map_err(|_| format!("{p:?} is not a prefix or address"))?;
                        if net.network() != net.ip() {
                            return Err(format!(
                                "{p:?} has host bits set (the block is {}/{})",
                                net.network(),
                                net.prefix()
                            ));
                        }
                        let asn = parse_asn(get(asn_c))
                            .ok_or_else(|| format!("{:?} is not an ASN", get(asn_c)))?;
                        let country = parse_country(get(cc_c)).ok_or_else(|| {
                            format!("{:?} is not a two-letter country code", get(cc_c))
                        })?;
                        let org = self.org(get(org_c));
                        self.push(net.network(), net.broadcast(), Value { asn, org, country })
                    })();
                    (line, res)
                }
            };
            match res {
                Ok(()) => rows += 1,
                Err(e) => self.problems.push(format!("{name}: line {line}: {e}")),
            }
        }
        self.record(name, bytes, rows);
        Ok(rows)
    }

    /// Resolves overlaps and builds the table.
    pub fn finish(self, meta: RangeMeta) -> (RangeTable, BuildReport) {
        let mut report = BuildReport {
            rows: self.rows.len() as u64,
            ..BuildReport::default()
        };
        let mut v4: Vec<(u32, u32, Value)> = Vec::new();
        let mut v6: Vec<(u128, u128, Value)> = Vec::new();
        for want_v6 in [false, true] {
            let mut entries: Vec<Entry> = self
                .rows
                .iter()
                .filter(|e| e.v6 == want_v6)
                .copied()
                .collect();
            let painted = paint(&mut entries, &mut report.overlaps, &self.orgs);
            for (start, (end, v)) in painted {
                if want_v6 {
                    v6.push((start, end, v));
                } else {
                    v4.push((start as u32, end as u32, v));
                }
            }
        }
        // The table's bytes as the file holds them (decompressed), read in place like a
        // loaded table's.
        let meta = RangeMeta {
            built_from: self.built_from,
            ..meta
        };
        let mut w = BinWriter::default();
        write_head(&mut w, &meta);
        let body = w.buf.len();
        w.u32(self.orgs.len() as u32);
        let orgs = self
            .orgs
            .iter()
            .map(|o| {
                w.str(o);
                (w.buf.len() - o.len(), o.len())
            })
            .collect();
        let v4 = Columns::write(&mut w, &v4);
        let v6 = Columns::write(&mut w, &v6);
        (
            RangeTable {
                meta,
                data: Cow::Owned(w.buf),
                body,
                orgs,
                v4,
                v6,
            },
            report,
        )
    }
}

fn describe(e: &Entry, orgs: &[Box<str>]) -> String {
    let ip = |x: u128| {
        if e.v6 {
            IpAddr::V6(Ipv6Addr::from(x))
        } else {
            IpAddr::V4(Ipv4Addr::from(x as u32))
        }
    };
    let org = orgs.get(e.value.org as usize).map_or("", |s| s);
    format!("{}-{} (AS{} {org})", ip(e.start), ip(e.end), e.value.asn)
}

/// Lays the rows down widest first, so a narrower row overwrites the part of a wider one it
/// covers; returns disjoint ranges in address order. Records every overlap.
fn paint(
    entries: &mut [Entry],
    overlaps: &mut Vec<String>,
    orgs: &[Box<str>],
) -> BTreeMap<u128, (u128, Value)> {
    entries.sort_by(|a, b| {
        (b.end - b.start)
            .cmp(&(a.end - a.start))
            .then(a.seq.cmp(&b.seq))
    });
    let mut map: BTreeMap<u128, (u128, Value)> = BTreeMap::new();
    let mut owner: BTreeMap<u128, usize> = BTreeMap::new();
    for (idx, e) in entries.iter().enumerate() {
        // Existing pieces that intersect [e.start, e.end].
        let hit: Vec<(u128, u128, Value)> = map
            .range(..=e.end)
            .rev()
            .take_while(|(_, (end, _))| *end >= e.start)
            .map(|(&s, &(end, v))| (s, end, v))
            .collect();
        let mut seen = Vec::new();
        for (s, end, v) in hit {
            map.remove(&s);
            let o = owner.remove(&s).unwrap_or(idx);
            if !seen.contains(&o) {
                seen.push(o);
                if v != e.value {
                    overlaps.push(format!(
                        "{} overlaps {}; the narrower wins where they overlap",
                        describe(&entries[o], orgs),
                        describe(e, orgs)
                    ));
                }
            }
            if s < e.start {
                map.insert(s, (e.start - 1, v));
                owner.insert(s, o);
            }
            if end > e.end {
                map.insert(e.end + 1, (end, v));
                owner.insert(e.end + 1, o);
            }
        }
        map.insert(e.start, (e.end, e.value));
        owner.insert(e.start, idx);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> RangeMeta {
        RangeMeta {
            name: "test".into(),
            scope: Scope::Public,
            date: Date::parse("2026-06-17"),
            built_from: vec![],
            attribution: "test data".into(),
        }
    }

    #[test]
    fn builds_looks_up_and_round_trips() {
        let mut b = RangeBuilder::default();
        let csv = "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
                   8.8.8.0,8.8.8.255,15169,Google LLC\n\
                   2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n\
                   2001:db9::,2001:db9::ff,64512,Only IPv6\n\
                   bad,row\n";
        assert_eq!(b.add_asn_csv("asn.csv", csv.as_bytes()), 4);
        assert_eq!(
            b.problems,
            vec!["asn.csv: line 5: expected 4 fields, found 2"]
        );
        let (t, rep) = b.finish(meta());
        assert!(rep.overlaps.is_empty());
        let back =
            RangeTable::from_decompressed(zstd::decode_all(&t.to_bytes()[..]).unwrap()).unwrap();
        for table in [&t, &back] {
            let h = table.lookup("1.0.0.7".parse().unwrap()).unwrap();
            assert_eq!(h.fields.asn, Some(13335));
            assert_eq!(h.fields.as_org.as_deref(), Some("Cloudflare, Inc."));
            assert_eq!(h.range_text(), "1.0.0.0/24");
            let g = table
                .lookup("2001:4860:4860::8888".parse().unwrap())
                .unwrap();
            assert_eq!(g.fields.asn, Some(15169));
            assert_eq!(g.range_text(), "2001:4860::/32");
            assert!(table.lookup("1.0.1.0".parse().unwrap()).is_none());
            assert!(table.lookup("0.0.0.1".parse().unwrap()).is_none());
            assert!(table.lookup("255.255.255.255".parse().unwrap()).is_none());
            assert_eq!(table.as_org(15169), Some("Google LLC"));
            assert_eq!(table.as_org(64512), Some("Only IPv6"));
            assert_eq!(table.as_org(64513), None);
            assert_eq!(table.len(), (2, 2));
        }
        assert_eq!(back.meta.built_from[0].rows, 4);
        assert_eq!(back.meta, t.meta);
    }

    #[test]
    fn narrower_rows_win_overlaps_and_are_reported() {
        let mut b = RangeBuilder::default();
        let csv = "prefix,asn,organisation,country\n\
                   10.0.0.0/8,64496,Example Corp,DE\n\
                   10.1.0.0/16,64497,Example Corp Lab,FR\n\
                   # a comment\n\
                   10.1.2.3,,Jump host,\n\
                   10.1.2.4/16,1,x,DE\n\
                   10.2.0.0/16,1,x,DEU\n";
        assert_eq!(b.add_prefix_csv("plan.csv", csv.as_bytes()).unwrap(), 3);
        assert_eq!(b.problems.len(), 2, "{:?}", b.problems);
        assert!(b.problems[0].contains("line 6") && b.problems[0].contains("host bits"));
        let (t, rep) = b.finish(meta());
        assert_eq!(rep.overlaps.len(), 2, "{:?}", rep.overlaps);
        let f = |ip: &str| t.lookup(ip.parse().unwrap()).unwrap().fields;
        assert_eq!(f("10.0.0.1").asn, Some(64496));
        assert_eq!(f("10.1.0.1").asn, Some(64497));
        assert_eq!(f("10.1.0.1").country, Some(*b"FR"));
        assert_eq!(f("10.1.2.3").as_org.as_deref(), Some("Jump host"));
        assert_eq!(f("10.1.2.3").asn, None);
        assert_eq!(f("10.1.2.4").asn, Some(64497));
        assert_eq!(f("10.255.0.0").asn, Some(64496));
        assert_eq!(t.len(), (5, 0));
    }

    #[test]
    fn damaged_tables_are_errors() {
        let mut b = RangeBuilder::default();
        b.add_asn_csv("a", b"1.0.0.0,1.0.0.255,13335,x\n2.0.0.0,2.0.0.255,1,y\n");
        let raw = zstd::decode_all(&b.finish(meta()).0.to_bytes()[..]).unwrap();
        for cut in 0..raw.len() {
            assert!(
                RangeTable::from_decompressed(raw[..cut].to_vec()).is_err(),
                "cut {cut}"
            );
        }
        // Any damaged byte: an error or a table that still holds its invariants, never a
        // panic.
        for i in 0..raw.len() {
            let mut d = raw.clone();
            d[i] ^= 0xff;
            if let Ok(t) = RangeTable::from_decompressed(d) {
                let _ = t.lookup("1.0.0.1".parse().unwrap());
            }
        }
    }

    #[test]
    fn cidr_text_only_for_aligned_blocks() {
        let r = |a: &str, b: &str| range_as_cidr(a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(
            r("10.0.0.0", "10.255.255.255").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            r("10.0.0.1", "10.0.0.1").unwrap().to_string(),
            "10.0.0.1/32"
        );
        assert_eq!(
            r("0.0.0.0", "255.255.255.255").unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            r("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
                .unwrap()
                .prefix(),
            0
        );
        assert!(r("10.0.0.1", "10.0.0.2").is_none());
        assert!(r("214.95.0.0", "215.0.255.255").is_none());
    }
}
