//! Address attributions as written: the JSON objects of `hoptrace lookup --json` (the same
//! field names the trace report uses for hops) and their text form.

use crate::enrich::{
    Attribution, Enricher, Jurisdiction, Jurisdictions, Provider, Substantiated, country_text,
};
use crate::model::Date;
use serde::Serialize;
use std::fmt::Write as _;

/// The registry block an address is in.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct BlockOut {
    /// The block (CIDR).
    pub network: String,
    /// The registry's name for it.
    pub name: &'static str,
    /// Defining documents.
    pub reference: &'static str,
    /// The registry's "Globally Reachable" column (null where it says N/A).
    pub globally_reachable: Option<bool>,
    /// The registries and their date.
    pub registry: &'static str,
}

/// One source that answered for an address.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SourceOut {
    /// File, or `bundled:<file>`.
    pub name: String,
    /// Database type.
    pub kind: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// The date the data describes.
    pub build_date: Option<String>,
    /// Version or description.
    pub version: String,
    /// `public` or `operator`.
    pub scope: &'static str,
    /// The network or range that matched.
    pub network: Option<String>,
    /// The fields it gave.
    pub fields: Vec<&'static str>,
    /// Attribution its licence asks for.
    pub attribution: String,
}

/// One instrument between the requesting and the requested country.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct InstrumentOut {
    /// Instrument.
    pub instrument: &'static str,
    /// `yes`, `conditional`, `no`, `not_substantiated`.
    pub applies: &'static str,
    /// Why.
    pub reason: String,
    /// The jurisdictions table's sources for both countries' rows.
    pub sources: String,
}

/// The jurisdiction of an address's country.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JurisdictionOut {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Country name.
    pub name: String,
    /// Budapest Convention status in one phrase.
    pub budapest_convention: String,
    /// The date it entered into force for the country.
    pub budapest_in_force: Option<String>,
    /// Second Additional Protocol status as the table writes it (empty: not substantiated).
    pub second_protocol: String,
    /// `yes`, `no` or `not_substantiated`.
    pub eu_member: &'static str,
    /// UN Convention against Cybercrime signature status as written.
    pub un_convention: String,
    /// Regional instruments as written.
    pub regional_instruments: String,
    /// Instruments between the requesting country and this one on the date asked about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub between: Option<Between>,
    /// The table's sources for the row.
    pub sources: String,
    /// The table's as-of date.
    pub as_of: String,
}

/// Instruments between two countries on a date.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Between {
    /// The requesting country.
    pub requesting: String,
    /// The date.
    pub date: String,
    /// Each instrument.
    pub instruments: Vec<InstrumentOut>,
    /// The jurisdictions table's as-of date.
    pub as_of: String,
}

/// A provider directory entry.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ProviderOut {
    /// Legal name.
    pub legal_name: String,
    /// Abuse contact.
    pub abuse_contact: String,
    /// Law-enforcement contact.
    pub law_enforcement_contact: String,
    /// 24/7 point of contact.
    pub contact_24x7: String,
    /// Country of establishment.
    pub country: String,
    /// The entry's own source note.
    pub source: String,
    /// The directory file.
    pub directory: String,
}

/// Everything about one address, as written.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AddressOut {
    /// The address.
    pub ip: String,
    /// `global`, `private`, `shared`, `documentation`, ...
    pub address_class: &'static str,
    /// The registry block, if the address is in one.
    pub address_block: Option<BlockOut>,
    /// Whether public databases may attribute the address itself.
    pub globally_reachable: bool,
    /// The IPv4 address carried inside (NAT64, 6to4, Teredo, IPv4-mapped).
    pub embedded_ipv4: Option<String>,
    /// How it is carried.
    pub embedding: Option<&'static str>,
    /// For Teredo, the Teredo server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teredo_server: Option<String>,
    /// The address the databases were asked about.
    pub attributed_ip: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// AS organisation.
    pub as_org: Option<String>,
    /// Country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Country the block is registered to, where a database says.
    pub registered_country: Option<String>,
    /// ISP.
    pub isp: Option<String>,
    /// Organisation using the address.
    pub organization: Option<String>,
    /// Connection type.
    pub connection_type: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Anonymity flags.
    pub anonymous: Vec<&'static str>,
    /// The provider directory's entry for the ASN.
    pub provider: Option<ProviderOut>,
    /// Jurisdiction of the country.
    pub jurisdiction: Option<JurisdictionOut>,
    /// Sources that answered.
    pub sources: Vec<SourceOut>,
    /// Sources that disagree.
    pub conflicts: Vec<String>,
    /// Failed lookups.
    pub errors: Vec<String>,
    /// Explanations.
    pub notes: Vec<String>,
}

/// What a lookup is for: the date of the communication and the requesting country.
#[derive(Clone, Debug, Default)]
pub struct LookupContext {
    /// The date of the communication (treaty status on that date; database age).
    pub date: Option<Date>,
    /// The requesting country (ISO 3166-1 alpha-2).
    pub requesting: Option<String>,
}

fn tri(s: Substantiated) -> &'static str {
    match s {
        Substantiated::Yes => "yes",
        Substantiated::No => "no",
        Substantiated::NotSubstantiated => "not_substantiated",
    }
}

fn jurisdiction_out(e: &Enricher, j: &Jurisdiction, ctx: &LookupContext) -> JurisdictionOut {
    let between = match (&ctx.requesting, ctx.date) {
        (Some(req), Some(date)) => Some(Between {
            requesting: req.to_ascii_uppercase(),
            date: date.to_string(),
            instruments: e
                .jurisdictions
                .between(req, &j.iso2, date)
                .into_iter()
                .map(|i| InstrumentOut {
                    instrument: i.name,
                    applies: i.applies.as_str(),
                    reason: i.reason,
                    sources: i.sources,
                })
                .collect(),
            as_of: e.jurisdictions.as_of(),
        }),
        _ => None,
    };
    JurisdictionOut {
        country: j.iso2.clone(),
        name: j.name.clone(),
        budapest_convention: j.budapest_text(),
        budapest_in_force: j.budapest_in_force.map(|d| d.to_string()),
        second_protocol: j.second_protocol.clone(),
        eu_member: tri(j.eu_member),
        un_convention: j.un_convention.clone(),
        regional_instruments: j.regional.clone(),
        between,
        sources: j.sources.clone(),
        as_of: e.jurisdictions.as_of(),
    }
}

fn provider_out(p: &Provider, directory: &str) -> ProviderOut {
    ProviderOut {
        legal_name: p.legal_name.clone(),
        abuse_contact: p.abuse_contact.clone(),
        law_enforcement_contact: p.law_enforcement_contact.clone(),
        contact_24x7: p.contact_24x7.clone(),
        country: p.country.clone(),
        source: p.source.clone(),
        directory: directory.to_string(),
    }
}

/// The written form of an attribution.
pub fn address_out(e: &Enricher, a: &Attribution, ctx: &LookupContext) -> AddressOut {
    let f = &a.fields;
    let cc = |c: Option<[u8; 2]>| c.map(country_text);
    let mut notes = a.notes.clone();
    if let Some(d) = ctx.date {
        notes.extend(e.staleness(d, d, 365));
    }
    let jurisdiction = f.country.map(country_text).and_then(|c| {
        let j = e.jurisdictions.get(&c);
        if j.is_none() {
            notes.push(format!(
                "{c} is not in the jurisdictions table ({}): treaty status not substantiated",
                e.jurisdictions.as_of()
            ));
        }
        j.map(|j| jurisdiction_out(e, j, ctx))
    });
    let provider = f.asn.and_then(|asn| {
        let d = e.providers.as_ref()?;
        d.get(asn).map(|p| provider_out(p, &d.origin))
    });
    AddressOut {
        ip: a.ip.to_string(),
        address_class: a.class.class.as_str(),
        address_block: a.class.block.map(|b| BlockOut {
            network: b.network.to_string(),
            name: b.name,
            reference: b.reference,
            globally_reachable: b.globally_reachable,
            registry: crate::enrich::class::REGISTRY_SOURCE,
        }),
        globally_reachable: a.class.globally_reachable,
        embedded_ipv4: a.class.embedded.as_ref().map(|x| x.ipv4.to_string()),
        embedding: a.class.embedded.as_ref().map(|x| x.how.as_str()),
        teredo_server: a
            .class
            .embedded
            .as_ref()
            .and_then(|x| x.teredo_server)
            .map(|s| s.to_string()),
        attributed_ip: a.attributed_ip.map(|i| i.to_string()),
        asn: f.asn,
        as_org: f.as_org.clone(),
        country: cc(f.country),
        registered_country: cc(f.registered_country),
        isp: f.isp.clone(),
        organization: f.organization.clone(),
        connection_type: f.connection_type.clone(),
        city: f.city.clone(),
        anonymous: f.anonymous.clone(),
        provider,
        jurisdiction,
        sources: a
            .hits
            .iter()
            .filter_map(|h| {
                let s = &e.sources.get(h.source)?.info;
                Some(SourceOut {
                    name: s.name.clone(),
                    kind: s.kind.clone(),
                    sha256: s.sha256.clone(),
                    build_date: s.build_date.map(|d| d.to_string()),
                    version: s.version.clone(),
                    scope: s.scope.as_str(),
                    network: h.network.clone(),
                    fields: h.fields.clone(),
                    attribution: s.attribution.clone(),
                })
            })
            .collect(),
        conflicts: a.conflicts.clone(),
        errors: a.errors.clone(),
        notes,
    }
}

/// The text form of one address (for the terminal).
pub fn address_text(o: &AddressOut) -> String {
    let mut t = String::new();
    let mut line = |k: &str, v: &str| {
        if !v.is_empty() {
            let _ = writeln!(t, "  {k:<14}{v}");
        }
    };
    let class = match &o.address_block {
        Some(b) if o.address_class != "global" || b.name != "Global Unicast" => {
            format!(
                "{} ({}: {}, {})",
                o.address_class, b.network, b.name, b.reference
            )
        }
        _ => o.address_class.to_string(),
    };
    line("class", &class);
    if let Some(v4) = &o.embedded_ipv4 {
        let mut s = format!("{v4} ({})", o.embedding.unwrap_or(""));
        if let Some(srv) = &o.teredo_server {
            let _ = write!(s, ", Teredo server {srv}");
        }
        line("embedded IPv4", &s);
    }
    let asn = match (o.asn, &o.as_org) {
        (Some(n), Some(org)) => format!("AS{n} {org}"),
        (Some(n), None) => format!("AS{n}"),
        (None, Some(org)) => org.clone(),
        (None, None) if o.attributed_ip.is_some() => "unknown".to_string(),
        (None, None) => String::new(),
    };
    line("provider", &asn);
    if let Some(isp) = &o.isp {
        line("isp", isp);
    }
    if let Some(org) = &o.organization {
        line("organization", org);
    }
    if let Some(ct) = &o.connection_type {
        line("connection", ct);
    }
    if !o.anonymous.is_empty() {
        line("anonymity", &o.anonymous.join(", "));
    }
    let country = match (&o.country, &o.jurisdiction) {
        (Some(c), Some(j)) => format!("{c} ({})", j.name),
        (Some(c), None) => c.clone(),
        (None, _) if o.attributed_ip.is_some() => "unknown".to_string(),
        _ => String::new(),
    };
    line("country", &country);
    if let (Some(r), Some(c)) = (&o.registered_country, &o.country)
        && r != c
    {
        line("registered in", r);
    }
    if let Some(city) = &o.city {
        line("city", city);
    }
    if let Some(p) = &o.provider {
        line("legal name", &p.legal_name);
        line("abuse", &p.abuse_contact);
        line("LE contact", &p.law_enforcement_contact);
        line("24/7 contact", &p.contact_24x7);
    }
    if let Some(j) = &o.jurisdiction {
        let mut s = format!("Budapest Convention: {}", j.budapest_convention);
        let _ = write!(
            s,
            "; Second Protocol: {}",
            if j.second_protocol.is_empty() {
                "not substantiated"
            } else {
                &j.second_protocol
            }
        );
        let _ = write!(s, "; EU member: {}", j.eu_member.replace('_', " "));
        let _ = write!(
            s,
            "; UN Convention: {}",
            if j.un_convention.is_empty() {
                "not substantiated"
            } else {
                &j.un_convention
            }
        );
        if !j.regional_instruments.is_empty() {
            let _ = write!(s, "; {}", j.regional_instruments);
        }
        let _ = write!(s, " [{}; {}]", j.sources, j.as_of);
        line("jurisdiction", &s);
        if let Some(b) = &j.between {
            line(
                "requests",
                &format!(
                    "from {} to {} on {} ({}):",
                    b.requesting, j.country, b.date, b.as_of
                ),
            );
            if b.requesting.eq_ignore_ascii_case(&j.country) {
                line("", &Jurisdictions::same_country(&j.name));
            } else {
                for i in &b.instruments {
                    line(
                        "",
                        &format!("{}: {} ({})", i.instrument, i.applies, i.reason),
                    );
                }
            }
        }
    }
    for s in &o.sources {
        line(
            "source",
            &format!(
                "{} {} ({}, built {}) gave {}",
                s.name,
                s.network.as_deref().unwrap_or(""),
                s.kind,
                s.build_date.as_deref().unwrap_or("?"),
                s.fields.join(", ")
            ),
        );
    }
    for c in &o.conflicts {
        line("conflict", c);
    }
    for e in &o.errors {
        line("error", e);
    }
    for n in &o.notes {
        line("note", n);
    }
    format!("{}\n{t}", o.ip)
}

/// The text block naming every source (file, SHA-256, type, build date, attribution).
pub fn sources_text(e: &Enricher) -> String {
    let mut t = String::from("sources:\n");
    for s in &e.sources {
        let i = &s.info;
        let version = if i.version.is_empty() {
            String::new()
        } else {
            format!(" [{}]", i.version)
        };
        let _ = writeln!(
            t,
            "  {}: {}{version}, built {}, {} data, sha256 {}",
            i.name,
            i.kind,
            i.build_date.map_or("?".to_string(), |d| d.to_string()),
            i.scope.as_str(),
            i.sha256
        );
        if !i.attribution.is_empty() {
            let _ = writeln!(t, "    {}", i.attribution);
        }
    }
    let _ = writeln!(
        t,
        "  address classes: {}",
        crate::enrich::class::REGISTRY_SOURCE
    );
    let _ = writeln!(
        t,
        "  jurisdictions: {} ({}, sha256 {}); a blank cell there means not substantiated",
        e.jurisdictions.origin,
        e.jurisdictions.as_of(),
        e.jurisdictions.sha256
    );
    if let Some(p) = &e.providers {
        let _ = writeln!(
            t,
            "  providers: {} ({} entries, sha256 {})",
            p.origin,
            p.len(),
            p.sha256
        );
    }
    t
}

/// What `flows --enrich` prints after the table: distinct addresses by class, how many a
/// source attributed, failed lookups, database age against the capture's dates, and the
/// sources with their attribution.
pub fn enrich_summary_text(
    cache: &crate::enrich::AddrCache<'_>,
    capture_dates: Option<(Date, Date)>,
) -> String {
    let e = cache.enricher();
    let entries = cache.entries();
    let mut by_class: std::collections::BTreeMap<&str, usize> = Default::default();
    let (mut with_asn, mut with_country) = (0, 0);
    for (_, b) in &entries {
        *by_class
            .entry(b.class.map_or("?", |c| c.as_str()))
            .or_default() += 1;
        with_asn += usize::from(b.asn.is_some());
        with_country += usize::from(b.country.is_some());
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "enrichment: {} distinct addresses ({}); {with_asn} with an ASN, {with_country} with a country",
        entries.len(),
        by_class
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let private: usize = by_class
        .iter()
        .filter(|(c, _)| **c != "global")
        .map(|(_, n)| n)
        .sum();
    if private > 0 {
        let _ = writeln!(
            t,
            "  note: {private} addresses are not globally reachable (or carry an IPv4 address): \
             public databases were not asked about them (see `hoptrace lookup`)"
        );
    }
    for err in cache.errors() {
        let _ = writeln!(t, "  error: {err}");
    }
    if let Some((first, last)) = capture_dates {
        for n in e.staleness(first, last, 365) {
            let _ = writeln!(t, "  note: {n}");
        }
    }
    t.push_str(&sources_text(e));
    t
}
