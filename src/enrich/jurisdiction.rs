//! Jurisdictions and the instruments of international cooperation between two of them.
//!
//! The table (`data/jurisdictions.csv`, a copy of the shared jurisdictions table) records
//! per country its status under the Budapest Convention (ETS 185), its Second Additional
//! Protocol (CETS 224), EU membership and the UN Convention against Cybercrime, each with
//! the source it was read from; its comment header names the sources and their as-of dates.
//! A blank cell means the status was not substantiated, never "no": answers say so.

use crate::model::Date;

/// The shipped table.
pub const BUNDLED_CSV: &str = include_str!("../../data/jurisdictions.csv");

/// The date the EU e-Evidence Regulation (EU) 2023/1543 applies from (its Art. 34).
pub const E_EVIDENCE_FROM: (i64, u32, u32) = (2026, 8, 18);

/// A yes/no cell where blank means "not substantiated".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Substantiated {
    /// The source says yes.
    Yes,
    /// The source says no.
    No,
    /// Blank: no source substantiates either answer.
    NotSubstantiated,
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jurisdiction {
    /// ISO 3166-1 alpha-2.
    pub iso2: String,
    /// Country name.
    pub name: String,
    /// Party to the Budapest Convention.
    pub budapest_party: Substantiated,
    /// The cell as written (e.g. `yes (territorial extension)`).
    pub budapest_party_text: String,
    /// The date the Convention entered into force for it.
    pub budapest_in_force: Option<Date>,
    /// Signed but not ratified.
    pub budapest_signed_only: bool,
    /// Second Additional Protocol status as written (`signed 2022-05-12`, `ratified ...`).
    pub second_protocol: String,
    /// EU member state.
    pub eu_member: Substantiated,
    /// UN Convention against Cybercrime signature status as written.
    pub un_convention: String,
    /// Regional instruments as written.
    pub regional: String,
    /// The sources of the row (keys explained in the table's header).
    pub sources: String,
}

impl Jurisdiction {
    /// Party to the Budapest Convention, in force for it on `date`.
    pub fn budapest_in_force_on(&self, date: Date) -> Substantiated {
        match (self.budapest_party, self.budapest_in_force) {
            (Substantiated::Yes, Some(d)) if d <= date => Substantiated::Yes,
            (Substantiated::Yes, Some(_)) => Substantiated::No,
            (Substantiated::Yes, None) => Substantiated::NotSubstantiated,
            (Substantiated::No, _) => Substantiated::No,
            (Substantiated::NotSubstantiated, _) => Substantiated::NotSubstantiated,
        }
    }

    /// One line on the Budapest Convention for this country.
    pub fn budapest_text(&self) -> String {
        match (self.budapest_party, self.budapest_in_force) {
            (Substantiated::Yes, Some(d)) => format!("party, in force since {d}"),
            (Substantiated::Yes, None) => {
                "party; date of entry into force not substantiated".to_string()
            }
            (Substantiated::No, _) if self.budapest_signed_only => {
                "signed, not ratified (not a party)".to_string()
            }
            (Substantiated::No, _) => "not a party".to_string(),
            (Substantiated::NotSubstantiated, _) => "not substantiated".to_string(),
        }
    }

    /// True for EU members bound by the e-Evidence Regulation (all but Denmark).
    pub fn bound_by_e_evidence(&self) -> Substantiated {
        match self.eu_member {
            Substantiated::Yes if self.iso2 == "DK" => Substantiated::No,
            other => other,
        }
    }
}

/// Whether an instrument applies between two countries on a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applies {
    /// It applies.
    Yes,
    /// It applies if a condition holds (stated in the reason).
    Conditional,
    /// It does not apply.
    No,
    /// The table cannot say: a status is not substantiated.
    NotSubstantiated,
}

impl Applies {
    /// `yes`, `conditional`, `no` or `not_substantiated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Applies::Yes => "yes",
            Applies::Conditional => "conditional",
            Applies::No => "no",
            Applies::NotSubstantiated => "not_substantiated",
        }
    }
}

/// One instrument's status between a requesting and a requested country.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    /// The instrument's name.
    pub name: &'static str,
    /// Whether it applies.
    pub applies: Applies,
    /// Why, in one sentence.
    pub reason: String,
    /// The table's sources for the rows used.
    pub sources: String,
}

/// The jurisdictions table.
#[derive(Clone, Debug)]
pub struct Jurisdictions {
    rows: Vec<Jurisdiction>,
    /// The comment header: sources, as-of dates, known gaps.
    pub header: Vec<String>,
    /// The date the table was compiled (from its header), if stated.
    pub compiled: Option<Date>,
    /// SHA-256 of the table's bytes.
    pub sha256: String,
    /// Where it came from (`bundled` or a path).
    pub origin: String,
}

impl Jurisdictions {
    /// The shipped table.
    pub fn bundled() -> Jurisdictions {
        // The shipped file is checked by the tests; parse errors cannot happen at run time.
        Jurisdictions::parse(BUNDLED_CSV, "bundled data/jurisdictions.csv")
            .unwrap_or_else(|e| panic!("the bundled jurisdictions table does not parse: {e}"))
    }

    /// Parses a table of the shipped kind.
    pub fn parse(text: &str, origin: &str) -> Result<Jurisdictions, String> {
        let header: Vec<String> = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim().to_string())
            .collect();
        let compiled = header.first().and_then(|l| {
            let i = l.find("compiled ")? + "compiled ".len();
            Date::parse(l.get(i..i + 10)?)
        });
        let mut rdr = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let heads = rdr
            .headers()
            .map_err(|e| format!("{origin}: header line: {e}"))?
            .clone();
        let col = |n: &str| {
            heads
                .iter()
                .position(|h| h == n)
                .ok_or_else(|| format!("{origin}: no column {n:?}"))
        };
        let c = [
            col("iso2")?,
            col("name")?,
            col("budapest_party")?,
            col("budapest_in_force_date")?,
            col("budapest_signed_only")?,
            col("second_protocol_party")?,
            col("eu_member")?,
            col("un_cybercrime_signatory")?,
            col("regional_instruments")?,
            col("source_note")?,
        ];
        let yn = |s: &str| {
            let s = s.trim().to_ascii_lowercase();
            if s.starts_with("yes") {
                Substantiated::Yes
            } else if s.starts_with("no") {
                Substantiated::No
            } else {
                Substantiated::NotSubstantiated
            }
        };
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let r = rec.map_err(|e| format!("{origin}: {e}"))?;
            let line = r.position().map_or(0, |p| p.line());
            let get = |i: usize| r.get(c[i]).unwrap_or("").trim().to_string();
            let date = get(3);
            let budapest_in_force = if date.is_empty() {
                None
            } else {
                Some(Date::parse(&date).ok_or_else(|| {
                    format!("{origin}: line {line}: {date:?} is not a date (YYYY-MM-DD)")
                })?)
            };
            let iso2 = get(0).to_ascii_uppercase();
            if iso2.len() != 2 {
                return Err(format!(
                    "{origin}: line {line}: {iso2:?} is not an ISO 3166 code"
                ));
            }
            rows.push(Jurisdiction {
                iso2,
                name: get(1),
                budapest_party: yn(&get(2)),
                budapest_party_text: get(2),
                budapest_in_force,
                budapest_signed_only: yn(&get(4)) == Substantiated::Yes,
                second_protocol: get(5),
                eu_member: yn(&get(6)),
                un_convention: get(7),
                regional: get(8),
                sources: get(9),
            });
        }
        rows.sort_by(|a, b| a.iso2.cmp(&b.iso2));
        Ok(Jurisdictions {
            rows,
            header,
            compiled,
            sha256: super::sha256_hex(text.as_bytes()),
            origin: origin.to_string(),
        })
    }

    /// The row of a country (ISO 3166-1 alpha-2, any case).
    pub fn get(&self, iso2: &str) -> Option<&Jurisdiction> {
        let k = iso2.to_ascii_uppercase();
        self.rows
            .binary_search_by(|r| r.iso2.as_str().cmp(&k))
            .ok()
            .map(|i| &self.rows[i])
    }

    /// All rows, by code.
    pub fn rows(&self) -> &[Jurisdiction] {
        &self.rows
    }

    /// The as-of text answers carry.
    pub fn as_of(&self) -> String {
        match self.compiled {
            Some(d) => format!("jurisdictions table compiled {d}"),
            None => "jurisdictions table (compilation date not stated)".to_string(),
        }
    }

    /// Parties that have ratified the Second Protocol, per the table.
    pub fn second_protocol_ratifications(&self) -> Vec<(&str, Option<Date>)> {
        self.rows
            .iter()
            .filter(|r| {
                r.second_protocol
                    .to_ascii_lowercase()
                    .starts_with("ratified")
            })
            .map(|r| {
                let d = r.second_protocol.get(9..19).and_then(Date::parse);
                (r.iso2.as_str(), d)
            })
            .collect()
    }

    /// The date the Second Protocol entered into force per the table: the first day of the
    /// month after three months from the fifth ratification (CETS 224 Art. 16(3)); `None`
    /// while fewer than five ratifications are recorded.
    pub fn second_protocol_in_force(&self) -> Option<Date> {
        let mut dates: Vec<Date> = self
            .second_protocol_ratifications()
            .into_iter()
            .filter_map(|(_, d)| d)
            .collect();
        dates.sort();
        let fifth = *dates.get(4)?;
        let (y, m, _) = fifth.ymd();
        let months = y * 12 + i64::from(m) - 1 + 4;
        Date::from_ymd(months.div_euclid(12), (months.rem_euclid(12) + 1) as u32, 1)
    }

    /// The instruments between a requesting and a requested country on a date.
    pub fn between(&self, requesting: &str, requested: &str, date: Date) -> Vec<Instrument> {
        let a = self.get(requesting);
        let b = self.get(requested);
        let src = |j: Option<&Jurisdiction>| j.map_or(String::new(), |j| j.sources.clone());
        let mut sources = [src(a), src(b)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>();
        sources.dedup();
        let sources = sources.join(" | ");
        let name = |j: Option<&Jurisdiction>, code: &str| {
            j.map_or_else(|| format!("{code} (not in the table)"), |j| j.name.clone())
        };
        let (na, nb) = (name(a, requesting), name(b, requested));
        let mut out = Vec::new();

        // Budapest Convention: Art. 29/30 (preservation, expedited disclosure) between Parties.
        let ba = a.map_or(Substantiated::NotSubstantiated, |j| {
            j.budapest_in_force_on(date)
        });
        let bb = b.map_or(Substantiated::NotSubstantiated, |j| {
            j.budapest_in_force_on(date)
        });
        let (applies, reason) = match (ba, bb) {
            (Substantiated::Yes, Substantiated::Yes) => (
                Applies::Yes,
                format!("in force for both {na} and {nb} on {date}"),
            ),
            (Substantiated::No, _) | (_, Substantiated::No) => {
                let who = if ba == Substantiated::No { &na } else { &nb };
                let j = if ba == Substantiated::No { a } else { b };
                (
                    Applies::No,
                    format!(
                        "not in force for {who} on {date} ({})",
                        j.map_or_else(String::new, Jurisdiction::budapest_text)
                    ),
                )
            }
            _ => {
                let who = if ba == Substantiated::NotSubstantiated {
                    &na
                } else {
                    &nb
                };
                (
                    Applies::NotSubstantiated,
                    format!("status for {who} on {date} not substantiated by the table's sources"),
                )
            }
        };
        out.push(Instrument {
            name: "Budapest Convention (ETS 185), Art. 29-30",
            applies,
            reason,
            sources: sources.clone(),
        });

        // Second Additional Protocol (CETS 224).
        let ratified = self.second_protocol_ratifications();
        let in_force = self.second_protocol_in_force();
        let has = |c: &str| ratified.iter().any(|(r, _)| *r == c.to_ascii_uppercase());
        let (applies, reason) = match in_force {
            Some(d) if d <= date && has(requesting) && has(requested) => (
                Applies::Yes,
                format!("in force since {d}; ratified by both"),
            ),
            Some(d) if d <= date => (
                Applies::No,
                format!("in force since {d}, but not ratified by both per the table"),
            ),
            _ => (
                Applies::No,
                format!(
                    "not in force: {} of the 5 ratifications it needs are recorded ({})",
                    ratified.len(),
                    ratified
                        .iter()
                        .map(|(c, _)| *c)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        };
        out.push(Instrument {
            name: "Second Additional Protocol (CETS 224)",
            applies,
            reason,
            sources: sources.clone(),
        });

        // EU e-Evidence Regulation: orders from a bound Member State to any provider offering
        // services in the Union, wherever it is established.
        let from = Date::from_ymd(E_EVIDENCE_FROM.0, E_EVIDENCE_FROM.1, E_EVIDENCE_FROM.2)
            .unwrap_or(Date(i64::MAX));
        let ea = a.map_or(
            Substantiated::NotSubstantiated,
            Jurisdiction::bound_by_e_evidence,
        );
        let eb = b.map_or(Substantiated::NotSubstantiated, |j| j.eu_member);
        let (applies, reason) = if date < from {
            (Applies::No, format!("applies from {from}, after {date}"))
        } else {
            match ea {
                Substantiated::Yes if eb == Substantiated::Yes => (
                    Applies::Yes,
                    format!(
                        "{na} is bound; {nb} is a Member State: European Production and \
                         Preservation Orders go to the provider's designated establishment"
                    ),
                ),
                Substantiated::Yes => (
                    Applies::Conditional,
                    format!(
                        "{na} is bound; applies if the provider offers services in the Union \
                         (orders go to its legal representative there)"
                    ),
                ),
                Substantiated::No if a.is_some_and(|j| j.iso2 == "DK") => (
                    Applies::No,
                    "Denmark is not bound (Protocol No 22)".to_string(),
                ),
                Substantiated::No => (Applies::No, format!("{na} is not an EU Member State")),
                Substantiated::NotSubstantiated => (
                    Applies::NotSubstantiated,
                    format!("EU membership of {na} not substantiated"),
                ),
            }
        };
        out.push(Instrument {
            name: "EU e-Evidence Regulation (EU) 2023/1543",
            applies,
            reason,
            sources: sources.clone(),
        });

        // UN Convention against Cybercrime: signatures only per the table.
        let sig = |j: Option<&Jurisdiction>, n: &str| {
            let s = j.map_or("", |j| j.un_convention.as_str());
            if s.is_empty() {
                format!("{n}: not substantiated")
            } else {
                format!("{n}: {s}")
            }
        };
        out.push(Instrument {
            name: "UN Convention against Cybercrime (A/RES/79/243)",
            applies: Applies::No,
            reason: format!(
                "not in force per the table's sources (signatures only; no ratification \
                 recorded); {}; {}",
                sig(a, &na),
                sig(b, &nb)
            ),
            sources,
        });
        // A request to a provider in the requesting country's own territory is a domestic
        // matter: no instrument between States applies to it.
        if requesting.eq_ignore_ascii_case(requested) {
            for i in &mut out {
                i.applies = Applies::No;
                i.reason = Self::same_country(&na);
            }
        }
        out
    }

    /// Why no instrument applies when the requesting and the requested country (`name`)
    /// are one.
    pub fn same_country(name: &str) -> String {
        format!(
            "the requesting and the requested country are the same ({name}): a domestic matter \
             under its own law (Convention Art. 16-17 for preservation), not a request between \
             States"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn bundled_table_parses_with_its_header() {
        let j = Jurisdictions::bundled();
        assert!(j.rows().len() >= 130);
        assert_eq!(j.compiled, Some(d("2026-11-28")));
        assert!(
            j.header
                .iter()
                .any(|l| l.contains("Blank cell = NOT substantiated"))
        );
        let de = j.get("de").unwrap();
        assert_eq!(de.name, "Germany");
        assert_eq!(de.budapest_in_force, Some(d("2009-07-01")));
        assert_eq!(de.eu_member, Substantiated::Yes);
        assert_eq!(
            j.get("CN").unwrap().budapest_party,
            Substantiated::NotSubstantiated
        );
        assert!(j.get("XX").is_none());
    }

    #[test]
    fn budapest_needs_both_parties_in_force_on_the_date() {
        let j = Jurisdictions::bundled();
        let bc = |a, b, date| j.between(a, b, d(date))[0].clone();
        assert_eq!(bc("DE", "US", "2020-01-01").applies, Applies::Yes);
        // France in force 2006-05-01, the United States 2007-01-01.
        assert_eq!(bc("FR", "US", "2007-01-01").applies, Applies::Yes);
        let early = bc("FR", "US", "2006-12-31");
        assert_eq!(early.applies, Applies::No);
        assert!(early.reason.contains("United States"), "{}", early.reason);
        // Blank for China: never "no".
        assert_eq!(
            bc("DE", "CN", "2026-01-01").applies,
            Applies::NotSubstantiated
        );
        // Ireland signed only.
        let ie = bc("DE", "IE", "2026-01-01");
        assert_eq!(ie.applies, Applies::No);
        assert!(ie.reason.contains("signed, not ratified"), "{}", ie.reason);
        // Norway: party, date unknown.
        assert_eq!(
            bc("DE", "NO", "2026-01-01").applies,
            Applies::NotSubstantiated
        );
    }

    #[test]
    fn no_instrument_between_a_country_and_itself() {
        let j = Jurisdictions::bundled();
        let all = j.between("fr", "FR", d("2026-09-01"));
        assert_eq!(all.len(), 4);
        for i in &all {
            assert_eq!(i.applies, Applies::No, "{}", i.name);
            assert!(
                i.reason.contains("same (France): a domestic matter"),
                "{}",
                i.reason
            );
            assert!(!i.sources.contains(" | "), "{}", i.sources);
        }
        // Two countries still get their instruments (and both rows' sources).
        let two = j.between("DE", "FR", d("2026-09-01"));
        assert_eq!(two[0].applies, Applies::Yes);
        assert!(two[0].sources.contains(" | "), "{}", two[0].sources);
    }

    #[test]
    fn e_evidence_from_18_august_2026_not_for_denmark() {
        let j = Jurisdictions::bundled();
        let ee = |a, b, date| j.between(a, b, d(date))[2].clone();
        assert_eq!(ee("DE", "FR", "2026-08-17").applies, Applies::No);
        assert_eq!(ee("DE", "FR", "2026-08-18").applies, Applies::Yes);
        assert_eq!(ee("DK", "FR", "2026-09-01").applies, Applies::No);
        assert_eq!(ee("DE", "US", "2026-09-01").applies, Applies::Conditional);
        assert_eq!(ee("US", "DE", "2026-09-01").applies, Applies::No);
    }

    #[test]
    fn second_protocol_follows_the_recorded_ratifications() {
        let j = Jurisdictions::bundled();
        let p = j.between("JP", "RS", d("2026-11-28"))[1].clone();
        assert_eq!(p.applies, Applies::No);
        assert!(
            p.reason.starts_with("not in force: 3 of the 5"),
            "{}",
            p.reason
        );
        // With five ratifications the date is computed from the fifth.
        let text = "# compiled 2026-11-28\n\
            iso2,name,budapest_party,budapest_in_force_date,budapest_signed_only,second_protocol_party,eu_member,un_cybercrime_signatory,regional_instruments,source_note\n\
            AA,A,yes,2001-01-01,,ratified 2023-01-10,no,,,s\n\
            BB,B,yes,2001-01-01,,ratified 2023-02-10,no,,,s\n\
            CC,C,yes,2001-01-01,,ratified 2023-03-10,no,,,s\n\
            DD,D,yes,2001-01-01,,ratified 2023-04-10,no,,,s\n\
            EE,E,yes,2001-01-01,,ratified 2023-10-31,no,,,s\n\
            FF,F,yes,2001-01-01,,signed 2023-01-01,no,,,s\n";
        let t = Jurisdictions::parse(text, "t").unwrap();
        assert_eq!(t.second_protocol_in_force(), Some(d("2024-02-01")));
        assert_eq!(
            t.between("AA", "EE", d("2024-02-01"))[1].applies,
            Applies::Yes
        );
        assert_eq!(
            t.between("AA", "EE", d("2024-01-31"))[1].applies,
            Applies::No
        );
        assert_eq!(
            t.between("AA", "FF", d("2024-03-01"))[1].applies,
            Applies::No
        );
    }

    #[test]
    fn malformed_tables_are_errors_naming_the_line() {
        let e = Jurisdictions::parse("iso2,name\nDE,Germany\n", "x.csv").unwrap_err();
        assert!(e.contains("x.csv") && e.contains("budapest_party"), "{e}");
        let text = "iso2,name,budapest_party,budapest_in_force_date,budapest_signed_only,second_protocol_party,eu_member,un_cybercrime_signatory,regional_instruments,source_note\n\
            DE,Germany,yes,1.7.2009,,,yes,,,s\n";
        let e = Jurisdictions::parse(text, "x.csv").unwrap_err();
        assert!(e.contains("line 2") && e.contains("1.7.2009"), "{e}");
    }
}
