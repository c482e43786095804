//! MaxMind DB files (GeoLite2/GeoIP2 ASN, Country, City, ISP, Enterprise, Connection-Type,
//! Anonymous-IP, and the flat `{"country_code": ..}` shape of the bundled country data).
//! The only user of the maxminddb crate.

use super::{Fields, LookupFailure};
use ipnetwork::IpNetwork;
use maxminddb::Reader;
use serde::Deserialize;
use std::net::IpAddr;

/// An open MaxMind DB.
pub struct Mmdb {
    reader: Reader<std::borrow::Cow<'static, [u8]>>,
}

/// What a database's metadata says about it.
#[derive(Clone, Debug)]
pub struct MmdbMeta {
    /// `database_type`, e.g. `GeoLite2-ASN`.
    pub database_type: String,
    /// Build time, seconds since the epoch.
    pub build_epoch: u64,
    /// 4 or 6.
    pub ip_version: u16,
    /// The English description, if any.
    pub description: Option<String>,
    /// Search tree nodes.
    pub node_count: u32,
}

impl std::fmt::Debug for Mmdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mmdb")
            .field("database_type", &self.reader.metadata().database_type)
            .finish()
    }
}

impl Mmdb {
    /// Opens a database from its bytes, owned or borrowed for the whole run (compiled in,
    /// say: not copied). The error text is the reader's.
    pub fn from_cow(bytes: std::borrow::Cow<'static, [u8]>) -> Result<Mmdb, String> {
        let reader = Reader::from_source(bytes).map_err(|e| e.to_string())?;
        Ok(Mmdb { reader })
    }

    /// The database's metadata.
    pub fn meta(&self) -> MmdbMeta {
        let m = self.reader.metadata();
        MmdbMeta {
            database_type: m.database_type.clone(),
            build_epoch: m.build_epoch,
            ip_version: m.ip_version,
            description: m.description.get("en").cloned(),
            node_count: m.node_count,
        }
    }

    /// Walks the whole search tree and decodes every record once: damage anywhere is found
    /// now, naming where, instead of at the lookup that happens to reach it. The walk is
    /// bounded (three times the node count) so a cyclic tree cannot hang it. A database none
    /// of whose records carries a field hoptrace reads is of the wrong type, and an error.
    pub fn check(&self) -> Result<u64, String> {
        use maxminddb::WithinOptions;
        let limit = u64::from(self.reader.metadata().node_count).saturating_mul(3) + 16;
        let mut seen = std::collections::HashSet::new();
        let (mut networks, mut useful) = (0u64, 0u64);
        let opts = WithinOptions::default().include_networks_without_data();
        for r in self.reader.networks(opts).map_err(|e| e.to_string())? {
            let l = r.map_err(|e| format!("search tree: {e}"))?;
            networks += 1;
            if networks > limit {
                return Err("search tree: more networks than nodes allow (a cycle?)".into());
            }
            if let Some(off) = l.offset()
                && seen.insert(off)
            {
                let bad = |e: maxminddb::MaxMindDbError| {
                    let net = l
                        .network()
                        .map_or_else(|_| "?".to_string(), |n| n.to_string());
                    format!("record for {net}: {e}")
                };
                match l.decode::<Record<'_>>() {
                    Ok(Some(rec)) => useful += u64::from(!rec.into_fields().is_empty()),
                    Ok(None) => {}
                    Err(_) => {
                        l.decode::<serde::de::IgnoredAny>().map_err(bad)?;
                    }
                }
            }
        }
        if useful == 0 {
            return Err(format!(
                "none of its {} records carries a field hoptrace reads (ASN, organisation, \
                 ISP, country, city, connection type, anonymity flags): wrong database type \
                 ({:?})?",
                seen.len(),
                self.reader.metadata().database_type
            ));
        }
        Ok(networks)
    }

    /// Looks an address up. `Ok(None)` when the database holds nothing for it.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<(Fields, Option<IpNetwork>)>, LookupFailure> {
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return Ok(None);
        }
        let fail = |e: maxminddb::MaxMindDbError| LookupFailure(e.to_string());
        let res = self.reader.lookup(ip).map_err(fail)?;
        if !res.has_data() {
            return Ok(None);
        }
        let network = res.network().ok();
        let rec = match res.decode::<Record<'_>>() {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(e) => {
                // A record that is not a map (a bare string, say) is a valid database whose
                // records carry none of the fields we know; a record that does not decode
                // at all is damage.
                return match res.decode::<serde::de::IgnoredAny>() {
                    Ok(_) => Ok(Some((Fields::default(), network))),
                    Err(_) => Err(fail(e)),
                };
            }
        };
        Ok(Some((rec.into_fields(), network)))
    }
}

#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Place<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct City<'a> {
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

/// A record of any of the shapes read: the trait fields at the top level (ASN, ISP,
/// Anonymous-IP, Connection-Type databases) or in a nested `traits` map (Enterprise, City),
/// plus the country and city fields.
#[derive(Deserialize, Default)]
struct Record<'a> {
    autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
    #[serde(borrow)]
    isp: Option<&'a str>,
    #[serde(borrow)]
    organization: Option<&'a str>,
    #[serde(borrow)]
    connection_type: Option<&'a str>,
    is_anonymous: Option<bool>,
    is_anonymous_vpn: Option<bool>,
    is_hosting_provider: Option<bool>,
    is_public_proxy: Option<bool>,
    is_residential_proxy: Option<bool>,
    is_tor_exit_node: Option<bool>,
    is_anonymous_proxy: Option<bool>,
    #[serde(borrow)]
    country_code: Option<&'a str>,
    #[serde(borrow)]
    country: Option<Place<'a>>,
    #[serde(borrow)]
    registered_country: Option<Place<'a>>,
    #[serde(borrow)]
    city: Option<City<'a>>,
    #[serde(borrow)]
    traits: Option<Box<Record<'a>>>,
}

fn country(code: Option<&str>) -> Option<[u8; 2]> {
    let b = code?.as_bytes();
    (b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic))
        .then(|| [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()])
}

impl Record<'_> {
    fn into_fields(mut self) -> Fields {
        let t = self.traits.take().map(|b| *b).unwrap_or_default();
        let top = &self;
        let s = |a: Option<&str>, b: Option<&str>| a.or(b).map(str::to_string);
        let mut anonymous = Vec::new();
        for (flag, name) in [
            (top.is_anonymous.or(t.is_anonymous), "anonymous"),
            (top.is_anonymous_vpn.or(t.is_anonymous_vpn), "anonymous_vpn"),
            (top.is_public_proxy.or(t.is_public_proxy), "public_proxy"),
            (
                top.is_residential_proxy.or(t.is_residential_proxy),
                "residential_proxy",
            ),
            (top.is_tor_exit_node.or(t.is_tor_exit_node), "tor_exit_node"),
            (
                top.is_hosting_provider.or(t.is_hosting_provider),
                "hosting_provider",
            ),
            (
                top.is_anonymous_proxy.or(t.is_anonymous_proxy),
                "anonymous_proxy",
            ),
        ] {
            if flag == Some(true) {
                anonymous.push(name);
            }
        }
        Fields {
            asn: top.autonomous_system_number.or(t.autonomous_system_number),
            as_org: s(
                top.autonomous_system_organization,
                t.autonomous_system_organization,
            ),
            isp: s(top.isp, t.isp),
            organization: s(top.organization, t.organization),
            connection_type: s(top.connection_type, t.connection_type),
            country: country(self.country_code)
                .or_else(|| country(self.country.and_then(|c| c.iso_code))),
            registered_country: country(self.registered_country.and_then(|c| c.iso_code)),
            city: self
                .city
                .and_then(|c| c.names)
                .and_then(|n| n.en)
                .map(str::to_string),
            anonymous,
        }
    }
}
