//! The default databases, compiled into the library so that enrichment works with no
//! download: IP → ASN and organisation, and IP → country, from the ip-location-db snapshot
//! in `data/` (see `data/README.md` for provenance and licences; `hoptrace db build` and
//! `hoptrace db pack` remake the files from newer upstream files of the same kind).

use super::{EnrichError, Source};

/// The ASN range table (`hoptrace db build` from ip-location-db's `asn-ipv4.csv` and
/// `asn-ipv6.csv`).
pub const ASN_TABLE: &[u8] = include_bytes!("../../data/asn.htdb");

/// The country database (ip-location-db's `geo-whois-asn-country.mmdb`, zstd-compressed by
/// `hoptrace db pack`).
pub const COUNTRY_MMDB: &[u8] = include_bytes!("../../data/country.mmdb.zst");

/// [`ASN_TABLE`] decompressed (by `build.rs`, at build time).
const ASN_TABLE_PLAIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/asn.htdb.raw"));

/// [`COUNTRY_MMDB`] decompressed (by `build.rs`, at build time).
const COUNTRY_MMDB_PLAIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/country.mmdb"));

// ASN_SHA256 and COUNTRY_SHA256: the digests of the shipped files (by `build.rs`).
include!(concat!(env!("OUT_DIR"), "/bundled_digests.rs"));

/// The upstream snapshot both files come from.
pub const VERSION: &str = "ip-location-db 2.3.2026061719";

/// The name recorded in the ASN table (`db build --name`).
pub const ASN_NAME: &str = "ip-location-db asn 2.3.2026061719";

/// The date recorded in both files: the upstream snapshot's build date (`db build --date`;
/// the country database's own `build_epoch` says the same day).
pub const DATE: &str = "2026-06-17";

/// Attribution the ASN data's licence (CC BY 4.0) asks for (`db build --attribution`).
pub const ASN_ATTRIBUTION: &str = "IP to ASN data: RouteViews (routeviews.org), DB-IP.com \
     (IP to ASN Lite), NRO (nro.net) via sapics/ip-location-db, CC BY 4.0; converted to \
     hoptrace's range table format";

/// Attribution for the country data (CC0 1.0 package, built from NRO data under CC BY 4.0).
pub const COUNTRY_ATTRIBUTION: &str = "IP to country data: geo-whois-asn-country by \
     sapics/ip-location-db (CC0 1.0), from RIR WHOIS and statistics data by NRO (nro.net, \
     CC BY 4.0) and published geofeeds";

/// The bundled sources: ASN first, then country.
pub fn sources() -> Result<Vec<Source>, EnrichError> {
    // Decompressed at build time: loading reads the tables as they are (the country
    // database in place), and names the digests of the files as shipped.
    let asn = Source::from_static(
        ASN_TABLE_PLAIN,
        ASN_SHA256,
        "bundled:data/asn.htdb",
        ASN_ATTRIBUTION,
    )?;
    let mut country = Source::from_static(
        COUNTRY_MMDB_PLAIN,
        COUNTRY_SHA256,
        "bundled:data/country.mmdb.zst",
        COUNTRY_ATTRIBUTION,
    )?;
    // The country database's metadata has no description: name the snapshot.
    country.info.version = format!("{VERSION} geo-whois-asn-country");
    Ok(vec![asn, country])
}

/// The attribution lines every report that used the bundled data carries.
pub fn attribution() -> [&'static str; 2] {
    [ASN_ATTRIBUTION, COUNTRY_ATTRIBUTION]
}
