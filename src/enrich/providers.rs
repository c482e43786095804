//! The provider directory: ASN → legal name and the contacts a preservation request goes to.
//! The analyst supplies it (CSV or JSON); `data/providers.example.csv` shows the shape.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Provider {
    /// Autonomous system number.
    pub asn: u32,
    /// Legal name of the company operating the network.
    #[serde(default)]
    pub legal_name: String,
    /// Abuse contact (e-mail or URL).
    #[serde(default)]
    pub abuse_contact: String,
    /// Law-enforcement request contact or portal.
    #[serde(default)]
    pub law_enforcement_contact: String,
    /// 24/7 point of contact (e.g. the country's Budapest Convention Art. 35 network).
    #[serde(default)]
    pub contact_24x7: String,
    /// Country of establishment (ISO 3166-1 alpha-2), if known.
    #[serde(default)]
    pub country: String,
    /// Where the entry comes from and when it was checked.
    #[serde(default)]
    pub source: String,
}

/// Providers by ASN.
#[derive(Clone, Debug, Default)]
pub struct ProviderDirectory {
    by_asn: BTreeMap<u32, Provider>,
    /// The file it was read from.
    pub origin: String,
    /// SHA-256 of the file.
    pub sha256: String,
}

impl ProviderDirectory {
    /// Reads a directory: JSON (an array of objects) if the text starts with `[`, else CSV
    /// with a header line naming the fields (`asn` required; lines starting with `#` are
    /// comments). Later entries for the same ASN replace earlier ones.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<ProviderDirectory, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("{origin}: not UTF-8: {e}"))?;
        let list: Vec<Provider> = if text.trim_start().starts_with('[') {
            serde_json::from_str(text)
                .map_err(|e| format!("{origin}: line {}, column {}: {e}", e.line(), e.column()))?
        } else {
            let mut rdr = csv::ReaderBuilder::new()
                .comment(Some(b'#'))
                .trim(csv::Trim::All)
                .from_reader(bytes);
            let mut v = Vec::new();
            for rec in rdr.deserialize::<Provider>() {
                v.push(rec.map_err(|e| {
                    let line = e.position().map_or(0, |p| p.line());
                    format!("{origin}: line {line}: {e}")
                })?);
            }
            v
        };
        let mut by_asn = BTreeMap::new();
        for p in list {
            by_asn.insert(p.asn, p);
        }
        Ok(ProviderDirectory {
            by_asn,
            origin: origin.to_string(),
            sha256: super::sha256_hex(bytes),
        })
    }

    /// The entry for an ASN.
    pub fn get(&self, asn: u32) -> Option<&Provider> {
        self.by_asn.get(&asn)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_asn.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.by_asn.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_and_json_and_names_bad_lines() {
        let csv = "# example\nasn,legal_name,abuse_contact\nAS64496,Example Transit Ltd,abuse@example.net\n";
        // "AS64496" is not a number: the error names the line.
        let e = ProviderDirectory::parse(csv.as_bytes(), "p.csv").unwrap_err();
        assert!(e.contains("p.csv: line 3"), "{e}");
        let csv = "asn,legal_name,abuse_contact\n64496,Example Transit Ltd,abuse@example.net\n";
        let d = ProviderDirectory::parse(csv.as_bytes(), "p.csv").unwrap();
        assert_eq!(d.get(64496).unwrap().legal_name, "Example Transit Ltd");
        let json = r#"[{"asn": 64497, "legal_name": "Example Hosting GmbH", "country": "DE"}]"#;
        let d = ProviderDirectory::parse(json.as_bytes(), "p.json").unwrap();
        assert_eq!(d.get(64497).unwrap().country, "DE");
        let e = ProviderDirectory::parse(b"[{\"asn\": \"x\"}]", "p.json").unwrap_err();
        assert!(e.starts_with("p.json: line 1"), "{e}");
    }

    #[test]
    fn shipped_example_parses() {
        let d = ProviderDirectory::parse(
            include_bytes!("../../data/providers.example.csv"),
            "providers.example.csv",
        )
        .unwrap();
        assert!(d.len() >= 3);
    }
}
