//! Enrich: every address gets its class (IANA special-purpose registries), then, if a
//! database may attribute it, its ASN, organisation and country, and through the country the
//! jurisdiction and the treaties that apply, each answer with the sources it came from.
//!
//! Sources are consulted in order; the first that has a field gives it, later ones that
//! disagree are recorded as conflicts. Public databases (MaxMind DBs, the bundled data,
//! public range tables) are only asked about globally reachable addresses; an operator's own
//! prefix list ([`Scope::Operator`]) is asked about every address, since internal address
//! plans are exactly what it describes. NAT64, 6to4, Teredo and IPv4-mapped addresses are
//! attributed through the IPv4 address they carry.
//!
//! The only user of maxminddb (in the private `mmdb` module) and ipnetwork.

pub mod bundled;
pub mod class;
pub mod jurisdiction;
mod mmdb;
pub mod providers;
pub mod ranges;

pub use class::{AddressClass, Classification, Embedded, Embedding, classify};
pub use jurisdiction::{Applies, Instrument, Jurisdiction, Jurisdictions, Substantiated};
pub use mmdb::MmdbMeta;
pub use providers::{Provider, ProviderDirectory};
pub use ranges::{BuildReport, RangeBuilder, RangeMeta, RangeTable, Scope};

use crate::model::Date;
use std::net::IpAddr;
use std::path::Path;

/// The fields a source can give about an address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// The AS's organisation name.
    pub as_org: Option<String>,
    /// ISP name (GeoIP2 ISP / Enterprise).
    pub isp: Option<String>,
    /// Organisation using the address (GeoIP2 ISP / Enterprise).
    pub organization: Option<String>,
    /// Connection type (GeoIP2 Connection-Type).
    pub connection_type: Option<String>,
    /// Country (ISO 3166-1 alpha-2): GeoIP2 `country.iso_code` or the flat `country_code`.
    pub country: Option<[u8; 2]>,
    /// The country the address block is registered to (GeoIP2 `registered_country`).
    pub registered_country: Option<[u8; 2]>,
    /// City name in English (GeoIP2 City).
    pub city: Option<String>,
    /// Anonymity flags set (GeoIP2 Anonymous-IP): `anonymous_vpn`, `tor_exit_node`, ...
    pub anonymous: Vec<&'static str>,
}

impl Fields {
    /// True if no field is set.
    pub fn is_empty(&self) -> bool {
        self.names().is_empty()
    }

    fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |present: bool, n| {
            if present {
                v.push(n)
            }
        };
        add(self.asn.is_some(), "asn");
        add(self.as_org.is_some(), "as_org");
        add(self.isp.is_some(), "isp");
        add(self.organization.is_some(), "organization");
        add(self.connection_type.is_some(), "connection_type");
        add(self.country.is_some(), "country");
        add(self.registered_country.is_some(), "registered_country");
        add(self.city.is_some(), "city");
        add(!self.anonymous.is_empty(), "anonymous");
        v
    }
}

/// A lookup that failed inside a database (damaged data), with the reader's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupFailure(pub String);

/// The text of a country code.
pub fn country_text(c: [u8; 2]) -> String {
    String::from_utf8_lossy(&c).into_owned()
}

/// SHA-256 of some bytes as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d.iter() {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// Problems opening a database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrichError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a database hoptrace reads, or it is damaged.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, as the reader says it.
        message: String,
    },
}

/// Where a source's data came from: what every answer cites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    /// The file as given, or `bundled:<name>`.
    pub name: String,
    /// SHA-256 of the file's bytes (as stored, i.e. compressed if it was).
    pub sha256: String,
    /// The database type: the MaxMind `database_type`, or `hoptrace-ranges`.
    pub kind: String,
    /// The date the data describes (MaxMind `build_epoch`; a range table's date).
    pub build_date: Option<Date>,
    /// Public data or an operator's own plan.
    pub scope: Scope,
    /// A version or description.
    pub version: String,
    /// Attribution the data's licence asks for.
    pub attribution: String,
}

enum Backend {
    Mmdb(mmdb::Mmdb),
    Ranges(RangeTable),
}

/// One database.
pub struct Source {
    /// Its provenance.
    pub info: SourceInfo,
    backend: Backend,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("info", &self.info).finish()
    }
}

/// Makes a message about the database `name` an error naming it.
fn invalid_in(name: &str) -> impl Fn(String) -> EnrichError + '_ {
    move |message| EnrichError::Invalid {
        path: name.to_string(),
        message,
    }
}

const MMDB_MARKER: &[u8] = b"\xab\xcd\xefMaxMind.com";

impl Source {
    /// Opens a database file: a MaxMind DB (`.mmdb`, also zstd-compressed) or a hoptrace
    /// range table (`.htdb`); the kind is read from the bytes, not the name. The whole file
    /// is checked ([`Source::check`]), so damage is reported now, naming the file, rather
    /// than at whichever lookup reaches it.
    pub fn open(path: &Path) -> Result<Source, EnrichError> {
        let bytes = std::fs::read(path).map_err(|source| EnrichError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let s = Source::from_bytes(bytes, &path.display().to_string(), "")?;
        s.check()?;
        Ok(s)
    }

    /// Opens a database from its bytes without the whole-file check; `name` is how answers
    /// cite it.
    pub fn from_bytes(
        bytes: Vec<u8>,
        name: &str,
        attribution: &str,
    ) -> Result<Source, EnrichError> {
        let invalid = invalid_in(name);
        let sha256 = sha256_hex(&bytes);
        let raw = if crate::ingest::starts_zstd(&bytes) {
            // A single frame that states its size (as `db pack` writes them) is decompressed
            // in one call into a buffer of that size (a stream grows its buffer by doubling
            // and zeroes it first: half of loading the bundled data). Anything else streams.
            // Either way the decompressed size is capped: a hostile frame must not exhaust
            // memory.
            let size = zstd::zstd_safe::get_frame_content_size(&bytes)
                .ok()
                .flatten()
                .filter(|&n| n > 0 && n <= 1 << 30);
            let whole = size.and_then(|n| {
                zstd::bulk::Decompressor::new()
                    .and_then(|mut d| d.decompress(&bytes, n as usize))
                    .ok()
                    .filter(|v| v.len() as u64 == n)
            });
            match whole {
                Some(v) => v,
                None => {
                    let mut out = Vec::new();
                    let dec = zstd::stream::read::Decoder::new(&bytes[..])
                        .map_err(|e| invalid(format!("zstd: {e}")))?;
                    use std::io::Read;
                    dec.take(4 << 30)
                        .read_to_end(&mut out)
                        .map_err(|e| invalid(format!("damaged zstd data: {e}")))?;
                    out
                }
            }
        } else {
            bytes
        };
        Source::from_plain(std::borrow::Cow::Owned(raw), sha256, name, attribution)
    }

    /// Opens a database whose plain (decompressed) bytes are already in memory, compiled in
    /// say, without copying a MaxMind DB; `sha256` is the digest to report (of the file as
    /// shipped).
    pub fn from_static(
        raw: &'static [u8],
        sha256: &str,
        name: &str,
        attribution: &str,
    ) -> Result<Source, EnrichError> {
        Source::from_plain(
            std::borrow::Cow::Borrowed(raw),
            sha256.to_string(),
            name,
            attribution,
        )
    }

    fn from_plain(
        raw: std::borrow::Cow<'static, [u8]>,
        sha256: String,
        name: &str,
        attribution: &str,
    ) -> Result<Source, EnrichError> {
        let invalid = invalid_in(name);
        if RangeTable::sniff(&raw) {
            let t = RangeTable::from_decompressed(raw).map_err(invalid)?;
            let (n4, n6) = t.len();
            let info = SourceInfo {
                name: name.to_string(),
                sha256,
                kind: "hoptrace-ranges".to_string(),
                build_date: t.meta.date,
                scope: t.meta.scope,
                version: format!("{} ({n4} IPv4 + {n6} IPv6 ranges)", t.meta.name),
                attribution: if attribution.is_empty() {
                    t.meta.attribution.clone()
                } else {
                    attribution.to_string()
                },
            };
            return Ok(Source {
                info,
                backend: Backend::Ranges(t),
            });
        }
        // The metadata (and so its marker) lies in the last 128 KiB (MaxMind DB spec).
        let tail = &raw[raw.len().saturating_sub(128 * 1024 + MMDB_MARKER.len())..];
        if !tail.windows(MMDB_MARKER.len()).any(|w| w == MMDB_MARKER) {
            return Err(invalid(
                "neither a MaxMind DB (no metadata marker) nor a hoptrace range table".into(),
            ));
        }
        let db = mmdb::Mmdb::from_cow(raw).map_err(invalid)?;
        let m = db.meta();
        let build_date = i64::try_from(m.build_epoch)
            .ok()
            .filter(|&s| s < 253_402_300_800) // year 10000
            .map(Date::from_unix_secs);
        let info = SourceInfo {
            name: name.to_string(),
            sha256,
            kind: m.database_type.clone(),
            build_date,
            scope: Scope::Public,
            version: m.description.clone().unwrap_or_default(),
            attribution: attribution.to_string(),
        };
        Ok(Source {
            info,
            backend: Backend::Mmdb(db),
        })
    }

    /// Builds a source from a range table made in memory.
    pub fn from_table(table: RangeTable, name: &str) -> Source {
        let (n4, n6) = table.len();
        Source {
            info: SourceInfo {
                name: name.to_string(),
                sha256: String::new(),
                kind: "hoptrace-ranges".to_string(),
                build_date: table.meta.date,
                scope: table.meta.scope,
                version: format!("{} ({n4} IPv4 + {n6} IPv6 ranges)", table.meta.name),
                attribution: table.meta.attribution.clone(),
            },
            backend: Backend::Ranges(table),
        }
    }

    /// Checks the whole database (see [`Source::open`]): for MaxMind DBs, walks the search
    /// tree and decodes every record once; range tables are checked when read. Returns the
    /// number of networks.
    pub fn check(&self) -> Result<u64, EnrichError> {
        match &self.backend {
            Backend::Mmdb(m) => m.check().map_err(|message| EnrichError::Invalid {
                path: self.info.name.clone(),
                message,
            }),
            Backend::Ranges(t) => {
                let (a, b) = t.len();
                Ok((a + b) as u64)
            }
        }
    }

    /// The organisation of an AS known by its number, where this source can tell (range
    /// tables; MaxMind DBs are keyed by address only).
    pub fn as_org(&self, asn: u32) -> Option<String> {
        match &self.backend {
            Backend::Ranges(t) => t.as_org(asn).map(str::to_string),
            Backend::Mmdb(_) => None,
        }
    }

    /// MaxMind metadata, for MaxMind DBs.
    pub fn mmdb_meta(&self) -> Option<MmdbMeta> {
        match &self.backend {
            Backend::Mmdb(m) => Some(m.meta()),
            Backend::Ranges(_) => None,
        }
    }

    /// Looks an address up: the fields and the network (or range) that matched.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<(Fields, Option<String>)>, LookupFailure> {
        self.lookup_with(ip, true)
    }

    /// [`lookup`](Self::lookup), writing the network's text only when `network` (a table's
    /// enrichment needs the fields alone, and the text cost as much as the lookup).
    fn lookup_with(
        &self,
        ip: IpAddr,
        network: bool,
    ) -> Result<Option<(Fields, Option<String>)>, LookupFailure> {
        match &self.backend {
            Backend::Mmdb(m) => Ok(m
                .lookup(ip)?
                .map(|(f, net)| (f, net.filter(|_| network).map(|n| n.to_string())))),
            Backend::Ranges(t) => Ok(t.lookup(ip).map(|h| {
                let range = network.then(|| h.range_text());
                (h.fields, range)
            })),
        }
    }
}

/// Which source gave what for an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceHit {
    /// Index into [`Enricher::sources`].
    pub source: usize,
    /// The network or range that matched.
    pub network: Option<String>,
    /// The fields it had (including ones an earlier source already gave).
    pub fields: Vec<&'static str>,
}

/// Everything known about one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribution {
    /// The address asked about.
    pub ip: IpAddr,
    /// What the registries say.
    pub class: Classification,
    /// The address the databases were asked about: the address itself, the IPv4 address it
    /// carries, or none (not globally reachable and no operator data).
    pub attributed_ip: Option<IpAddr>,
    /// The merged fields.
    pub fields: Fields,
    /// The sources that had something.
    pub hits: Vec<SourceHit>,
    /// Sources that disagree with the one whose value was taken.
    pub conflicts: Vec<String>,
    /// Lookups that failed (damaged database), naming the file.
    pub errors: Vec<String>,
    /// Why something is missing or how it was found.
    pub notes: Vec<String>,
}

/// The databases, the provider directory and the jurisdictions table.
#[derive(Debug)]
pub struct Enricher {
    /// Databases in the order they are consulted.
    pub sources: Vec<Source>,
    /// The provider directory, if one was given.
    pub providers: Option<ProviderDirectory>,
    /// The jurisdictions table.
    pub jurisdictions: Jurisdictions,
}

impl Enricher {
    /// An enricher over the given sources with the bundled jurisdictions table.
    pub fn new(sources: Vec<Source>) -> Enricher {
        Enricher {
            sources,
            providers: None,
            jurisdictions: Jurisdictions::bundled(),
        }
    }

    /// An enricher over the bundled data.
    pub fn bundled() -> Result<Enricher, EnrichError> {
        Ok(Enricher::new(bundled::sources()?))
    }

    /// The organisation of an AS known only by its number, and the source that named it.
    pub fn as_org(&self, asn: u32) -> Option<(String, String)> {
        self.sources
            .iter()
            .find_map(|s| Some((s.as_org(asn)?, s.info.name.clone())))
    }

    /// Everything about one address.
    pub fn lookup(&self, ip: IpAddr) -> Attribution {
        self.lookup_as(ip, true)
    }

    /// [`lookup`](Self::lookup), with the notes and the per-source hits (which only
    /// answers for a reader need) when `full`.
    fn lookup_as(&self, ip: IpAddr, full: bool) -> Attribution {
        self.lookup_classified(ip, classify(ip), full)
    }

    /// True if some source would be asked about an address of this class: it is globally
    /// reachable or carries an IPv4 address, or an operator's plan is loaded (asked about
    /// every address). Otherwise [`lookup`](Self::lookup) answers with the class alone.
    fn asks_sources(&self, class: &Classification) -> bool {
        class.globally_reachable
            || class.embedded.is_some()
            || self.sources.iter().any(|s| s.info.scope == Scope::Operator)
    }

    fn lookup_classified(&self, ip: IpAddr, class: Classification, full: bool) -> Attribution {
        let mut a = Attribution {
            ip,
            attributed_ip: None,
            fields: Fields::default(),
            hits: Vec::new(),
            conflicts: Vec::new(),
            errors: Vec::new(),
            notes: Vec::new(),
            class,
        };
        // The address public data may attribute: the address, or the IPv4 one it carries
        // (itself classified: a NAT64 address of a private IPv4 host stays private).
        if full {
            a.notes.extend(a.class.note());
        }
        let public_ip = if a.class.globally_reachable {
            Some(ip)
        } else if let Some(e) = &a.class.embedded {
            let inner = classify(IpAddr::V4(e.ipv4));
            if full {
                a.notes.extend(inner.note());
            }
            inner.globally_reachable.then_some(IpAddr::V4(e.ipv4))
        } else {
            None
        };
        // An operator's plan is asked about the address as seen (or the IPv4 it carries).
        let seen_ip = match &a.class.embedded {
            Some(e) => IpAddr::V4(e.ipv4),
            None => ip,
        };
        for (i, s) in self.sources.iter().enumerate() {
            let target = match s.info.scope {
                Scope::Public => public_ip,
                Scope::Operator => public_ip.or(Some(seen_ip)),
            };
            let Some(target) = target else { continue };
            a.attributed_ip = a.attributed_ip.or(Some(target));
            match s.lookup_with(target, full) {
                Ok(Some((f, network))) => {
                    let names = if full { f.names() } else { Vec::new() };
                    if full && names.is_empty() {
                        continue;
                    }
                    merge(&mut a, &f, &s.info.name);
                    if !full {
                        continue;
                    }
                    a.hits.push(SourceHit {
                        source: i,
                        network,
                        fields: names,
                    });
                }
                Ok(None) => {}
                Err(LookupFailure(e)) => a
                    .errors
                    .push(format!("{}: lookup of {target} failed: {e}", s.info.name)),
            }
        }
        a
    }

    /// Notes for sources whose data is far from the date of the communication: ASN
    /// assignments and geolocation change, so a database built years later may name a
    /// provider that did not hold the address then.
    pub fn staleness(&self, first: Date, last: Date, max_days: i64) -> Vec<String> {
        self.sources
            .iter()
            .filter_map(|s| {
                let b = s.info.build_date?;
                let gap = if b < first {
                    first.days_since(b)
                } else if b > last {
                    b.days_since(last)
                } else {
                    0
                };
                (gap > max_days).then(|| {
                    let when = if first == last {
                        format!("the communication ({first})")
                    } else {
                        format!("the communication ({first} to {last})")
                    };
                    format!(
                        "{} was built {b}, {gap} days {} {when}: address assignments and \
                         locations change; confirm with the registry's or provider's records \
                         for that date",
                        s.info.name,
                        if b < first { "before" } else { "after" },
                    )
                })
            })
            .collect()
    }

    /// The provider directory's entry for an ASN.
    pub fn provider(&self, asn: u32) -> Option<&Provider> {
        self.providers.as_ref()?.get(asn)
    }
}

fn merge(a: &mut Attribution, f: &Fields, source: &str) {
    fn take<T: Clone + PartialEq + std::fmt::Debug>(
        slot: &mut Option<T>,
        new: &Option<T>,
        what: &str,
        source: &str,
        conflicts: &mut Vec<String>,
        show: impl Fn(&T) -> String,
    ) {
        match (slot.as_ref(), new) {
            (None, Some(v)) => *slot = Some(v.clone()),
            (Some(old), Some(v)) if old != v => conflicts.push(format!(
                "{what}: {source} says {}, an earlier source says {}",
                show(v),
                show(old)
            )),
            _ => {}
        }
    }
    let c = &mut a.conflicts;
    let t = &mut a.fields;
    take(&mut t.asn, &f.asn, "asn", source, c, |v| format!("AS{v}"));
    // Organisation spellings differ between databases for the same AS; only ASN, country
    // and registered country are compared.
    if t.as_org.is_none() {
        t.as_org.clone_from(&f.as_org);
    }
    if t.isp.is_none() {
        t.isp.clone_from(&f.isp);
    }
    if t.organization.is_none() {
        t.organization.clone_from(&f.organization);
    }
    if t.connection_type.is_none() {
        t.connection_type.clone_from(&f.connection_type);
    }
    take(&mut t.country, &f.country, "country", source, c, |v| {
        country_text(*v)
    });
    take(
        &mut t.registered_country,
        &f.registered_country,
        "registered_country",
        source,
        c,
        |v| country_text(*v),
    );
    if t.city.is_none() {
        t.city.clone_from(&f.city);
    }
    for x in &f.anonymous {
        if !t.anonymous.contains(x) {
            t.anonymous.push(x);
        }
    }
}

/// What a flow table row shows about one address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Brief {
    /// Its class.
    pub class: Option<AddressClass>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// The AS's organisation.
    pub as_org: Option<std::sync::Arc<str>>,
    /// Country code.
    pub country: Option<[u8; 2]>,
}

/// A cache of lookups per distinct address, safe to share between threads: tables with
/// millions of flows have far fewer distinct addresses, and each is looked up once per
/// thread.
///
/// Each thread of a pool has a slot of its own (its lock is never contended and its
/// memory stays in that core's cache), mapping an address to a small index into the slot's
/// distinct answers: most addresses share an answer (every private address has the same
/// one), so the maps stay a few bytes per address and mostly in cache.
pub struct AddrCache<'a> {
    enricher: &'a Enricher,
    slots: Box<[std::sync::Mutex<Slot>]>,
    errors: std::sync::Mutex<Vec<String>>,
}

type Hasher = crate::model::Seeded;

/// One thread's part of an [`AddrCache`].
#[derive(Default)]
struct Slot {
    v4: std::collections::HashMap<u32, u32, Hasher>,
    v6: std::collections::HashMap<u128, u32, Hasher>,
    briefs: Vec<Brief>,
    ids: std::collections::HashMap<Brief, u32, Hasher>,
    /// The ids of answers that are a class alone (private and other local addresses: most
    /// of a capture's distinct addresses), found without hashing an answer.
    class_ids: Vec<(AddressClass, u32)>,
}

impl Slot {
    fn get(&self, ip: IpAddr) -> Option<&Brief> {
        let id = match ip {
            IpAddr::V4(a) => self.v4.get(&u32::from(a)),
            IpAddr::V6(a) => self.v6.get(&u128::from(a)),
        }?;
        self.briefs.get(*id as usize)
    }

    fn insert(&mut self, ip: IpAddr, b: Brief) -> &Brief {
        let id = match self.ids.get(&b) {
            Some(id) => *id,
            None => self.add(b),
        };
        self.map(ip, id)
    }

    /// Inserts an address whose answer is its class alone.
    fn insert_class(&mut self, ip: IpAddr, class: AddressClass) -> &Brief {
        let id = match self.class_ids.iter().find(|c| c.0 == class) {
            Some(c) => c.1,
            None => {
                let b = Brief {
                    class: Some(class),
                    ..Brief::default()
                };
                // A full lookup may have given the same answer already: one id per answer.
                let id = match self.ids.get(&b) {
                    Some(id) => *id,
                    None => self.add(b),
                };
                self.class_ids.push((class, id));
                id
            }
        };
        self.map(ip, id)
    }

    /// Adds a new distinct answer and returns its id.
    fn add(&mut self, b: Brief) -> u32 {
        // More distinct answers than u32 indexes cannot happen: there are fewer providers
        // and countries than that.
        let id = u32::try_from(self.briefs.len()).unwrap_or(u32::MAX);
        self.briefs.push(b.clone());
        self.ids.insert(b, id);
        id
    }

    /// Maps an address to an answer.
    fn map(&mut self, ip: IpAddr, id: u32) -> &Brief {
        match ip {
            IpAddr::V4(a) => self.v4.insert(u32::from(a), id),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), id),
        };
        &self.briefs[id as usize]
    }
}

/// Slots per cache: threads of one pool beyond this share slots (correct, only contended).
const SLOTS: usize = 64;

impl<'a> AddrCache<'a> {
    /// An empty cache over an enricher.
    pub fn new(enricher: &'a Enricher) -> AddrCache<'a> {
        AddrCache {
            enricher,
            slots: (0..SLOTS)
                .map(|_| std::sync::Mutex::new(Slot::default()))
                .collect(),
            errors: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The enricher behind the cache.
    pub fn enricher(&self) -> &'a Enricher {
        self.enricher
    }

    /// The calling thread's slot: its index in its rayon pool, or the last slot for a
    /// thread outside any pool.
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        let i = rayon::current_thread_index().map_or(SLOTS - 1, |i| i % (SLOTS - 1));
        self.slots[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The brief answer for an address, looked up on first use.
    pub fn brief(&self, ip: IpAddr) -> Brief {
        self.with_brief(ip, Brief::clone)
    }

    /// Calls `f` with the brief answer for an address (looked up on first use) without
    /// copying it: table rows copy the strings they need into their own, and no shared
    /// reference count moves between the threads writing rows.
    pub fn with_brief<R>(&self, ip: IpAddr, f: impl FnOnce(&Brief) -> R) -> R {
        let mut slot = self.slot();
        if let Some(b) = slot.get(ip) {
            return f(b);
        }
        let class = classify(ip);
        if !self.enricher.asks_sources(&class) {
            // No source is asked about a private (or otherwise local) address: its answer
            // is its class, as a full lookup would give it.
            return f(slot.insert_class(ip, class.class));
        }
        let a = self.enricher.lookup_classified(ip, class, false);
        if !a.errors.is_empty() {
            self.errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(a.errors.iter().cloned());
        }
        let b = Brief {
            class: Some(a.class.class),
            asn: a.fields.asn,
            as_org: a.fields.as_org.map(std::sync::Arc::from),
            country: a.fields.country,
        };
        f(slot.insert(ip, b))
    }

    /// Every distinct address looked up, with its answer, in address order.
    pub fn entries(&self) -> Vec<(IpAddr, Brief)> {
        let mut v: Vec<(IpAddr, Brief)> = Vec::new();
        for s in self.slots.iter() {
            let s = s.lock().unwrap_or_else(|p| p.into_inner());
            let brief = |id: &u32| s.briefs[*id as usize].clone();
            v.extend(
                s.v4.iter()
                    .map(|(a, id)| (IpAddr::from(a.to_be_bytes()), brief(id))),
            );
            v.extend(
                s.v6.iter()
                    .map(|(a, id)| (IpAddr::from(a.to_be_bytes()), brief(id))),
            );
        }
        // An address looked up by two threads is in both slots, with the same answer.
        v.sort_by_key(|e| e.0);
        v.dedup_by_key(|e| e.0);
        v
    }

    /// Lookup failures (damaged databases), in the order they happened, deduplicated.
    pub fn errors(&self) -> Vec<String> {
        let mut v = self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        v.sort();
        v.dedup();
        v
    }
}
