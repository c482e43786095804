//! Report: the external schema. Flow tables as CSV, JSON lines and Parquet (polars, behind
//! the `parquet` feature), and the run summary.
//!
//! Everything written here is a pure function of the run's result: no clock, no thread
//! count, no hash order. Column names follow Zeek's conn.log where a column means the same.

mod disclosure;
mod flows;
mod lookup;
#[cfg(feature = "parquet")]
mod parquet;
mod summary;

pub use disclosure::{
    Art29Draft, ByteSplitOut, CommunicationOut, ContentOut, DISCLOSURE_SCHEMA, DatabaseOut,
    DatabasesOut, Disclosure, DisclosureInput, EndpointOut, EvidenceOut, GapOut, HopOut, HttpOut,
    INCLUDE_CATEGORIES, IdentifierOut, Include, InputOut, MinimisationOut, NotReadOut, OtherOut,
    ParametersOut, PathProviderRef, PayloadOut, ProviderOut as PathProviderOut, SizesOut, TO_FILL,
    VantageOut, art29_drafts, art29_markdown, disclosure, disclosure_html, disclosure_markdown,
};
pub(crate) use flows::csv_filled_row_into;
pub use flows::{
    ChainTable, ENRICH_COLUMNS, EVIDENCE_COLUMNS, FLOW_COLUMNS, FlowRow, RowEnrichment,
    RowEvidence, RowSource, UNLISTED_CHAINS, csv_header, csv_header_for, csv_rows_into, each_row,
    flow_rows, flow_rows_range, input_names, interleave, record_locator, row_order, rows_of,
    source_rows, write_csv, write_csv_rows, write_jsonl,
};
pub use lookup::{
    AddressOut, Between, BlockOut, InstrumentOut, JurisdictionOut, LookupContext, ProviderOut,
    SourceOut, address_out, address_text, enrich_summary_text, sources_text,
};
#[cfg(feature = "parquet")]
pub use parquet::{write_parquet, write_parquet_batches};
pub use summary::summary_text;

use crate::pipeline::FlowRun;
use std::io::Write;
use std::path::Path;

/// A flow table file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated values with a header line (RFC 4180 quoting).
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (needs the `parquet` feature).
    Parquet,
}

impl TableFormat {
    /// The format a file name's extension implies.
    pub fn from_path(p: &Path) -> Option<TableFormat> {
        match p.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(TableFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(TableFormat::Jsonl),
            "parquet" | "pq" => Some(TableFormat::Parquet),
            _ => None,
        }
    }

    /// Parses `csv`, `jsonl` or `parquet`.
    pub fn parse(s: &str) -> Option<TableFormat> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(TableFormat::Csv),
            "jsonl" | "ndjson" => Some(TableFormat::Jsonl),
            "parquet" => Some(TableFormat::Parquet),
            _ => None,
        }
    }
}

/// Problems writing a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Writing failed.
    #[error("writing the flow table: {0}")]
    Io(#[from] std::io::Error),
    /// Parquet output was asked for but is not compiled in.
    #[error(
        "Parquet output is not available in this build (built without the `parquet` feature); \
         use --format csv or jsonl, or rebuild with default features"
    )]
    NoParquet,
    /// The Parquet writer failed.
    #[error("writing Parquet: {0}")]
    Parquet(String),
    /// The run set flows or records aside on disk, which this writer does not read.
    #[error(
        "the run set flows or records aside on disk: write its table with pipeline::write_flows, which merges them back"
    )]
    SetAside,
}

/// Writes a run's in-memory flows as a table in `format`. A run that set flows or records
/// aside on disk is refused ([`ReportError::SetAside`]) rather than written in part:
/// [`pipeline::write_flows`](crate::pipeline::write_flows) writes those.
pub fn write_flows(
    run: &FlowRun,
    format: TableFormat,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    if !run.spilled.is_empty() || !run.spilled.records().is_empty() {
        return Err(ReportError::SetAside);
    }
    let rows = flow_rows(run);
    match format {
        TableFormat::Csv => write_csv(&rows, out)?,
        TableFormat::Jsonl => write_jsonl(&rows, out)?,
        TableFormat::Parquet => {
            #[cfg(feature = "parquet")]
            {
                write_parquet(&rows, out)?;
            }
            #[cfg(not(feature = "parquet"))]
            {
                return Err(ReportError::NoParquet);
            }
        }
    }
    Ok(())
}
