//! Flow tables as Parquet, through polars. The only user of polars.

use super::ReportError;
use super::flows::FlowRow;
use polars::prelude::*;
use std::io::Write;

fn col<T, P>(name: &str, rows: &[FlowRow], f: impl Fn(&FlowRow) -> T) -> Column
where
    Series: NamedFrom<Vec<T>, P>,
    P: ?Sized,
{
    Column::new(name.into(), rows.iter().map(f).collect::<Vec<T>>())
}

fn err(e: PolarsError) -> ReportError {
    ReportError::Parquet(e.to_string())
}

/// Writes rows as one Parquet file: `ts` as a UTC nanosecond timestamp, `duration` in
/// seconds, empty optional values as nulls.
pub fn write_parquet(rows: &[FlowRow], out: &mut dyn Write) -> Result<(), ReportError> {
    let mut df = frame(rows, rows.first().is_some_and(|r| r.enrich.is_some()))?;
    ParquetWriter::new(out).finish(&mut df).map_err(err)?;
    Ok(())
}

/// Writes batches of rows as one Parquet file, a row group per batch, so the whole table
/// never has to be in memory; `enriched` adds the `--enrich` columns.
pub fn write_parquet_batches(
    mut batches: impl Iterator<Item = Result<Vec<FlowRow>, ReportError>>,
    enriched: bool,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let first = batches.next().transpose()?.unwrap_or_default();
    let df = frame(&first, enriched)?;
    let mut w = ParquetWriter::new(out).batched(df.schema()).map_err(err)?;
    w.write_batch(&df).map_err(err)?;
    for b in batches {
        w.write_batch(&frame(&b?, enriched)?).map_err(err)?;
    }
    w.finish().map_err(err)?;
    Ok(())
}

fn frame(rows: &[FlowRow], enriched: bool) -> Result<DataFrame, ReportError> {
    let ts = Int64Chunked::from_vec("ts".into(), rows.iter().map(|r| r.ts_ns).collect())
        .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
        .into_column();
    let mut columns = vec![
        ts,
        col("duration", rows, |r| r.duration),
        col("proto", rows, |r| r.proto.clone()),
        col("src_ip", rows, |r| r.src_ip.clone()),
        col("src_port", rows, |r| u32::from(r.src_port)),
        col("dst_ip", rows, |r| r.dst_ip.clone()),
        col("dst_port", rows, |r| u32::from(r.dst_port)),
        col("orig_pkts", rows, |r| r.orig_pkts),
        col("orig_bytes", rows, |r| r.orig_bytes),
        col("resp_pkts", rows, |r| r.resp_pkts),
        col("resp_bytes", rows, |r| r.resp_bytes),
        col("conn_state", rows, |r| r.conn_state.to_string()),
        col("history", rows, |r| r.history.clone()),
        col("community_id", rows, |r| r.community_id.clone()),
        col("encap", rows, |r| r.encap.clone()),
        col("tunnel_parent", rows, |r| r.tunnel_parent.clone()),
        col("vlan", rows, |r| r.vlan.clone()),
        col("ttl_orig_min", rows, |r| r.ttl_orig_min.map(u32::from)),
        col("ttl_orig_max", rows, |r| r.ttl_orig_max.map(u32::from)),
        col("ttl_resp_min", rows, |r| r.ttl_resp_min.map(u32::from)),
        col("ttl_resp_max", rows, |r| r.ttl_resp_max.map(u32::from)),
        col("orig_flags", rows, |r| r.orig_flags.clone()),
        col("resp_flags", rows, |r| r.resp_flags.clone()),
        col("ip_proto", rows, |r| u32::from(r.ip_proto)),
        col("input", rows, |r| r.input.clone()),
        col("interface", rows, |r| r.interface),
        col("first_frame", rows, |r| r.first_frame),
        col("source", rows, |r| r.evidence.source.to_string()),
        col("record", rows, |r| r.evidence.record.clone()),
        col("direction", rows, |r| r.evidence.direction.to_string()),
        col("sampling", rows, |r| r.evidence.sampling),
        col("exporter", rows, |r| r.evidence.exporter.clone()),
        col("obs_domain", rows, |r| r.evidence.obs_domain),
        col("in_if", rows, |r| r.evidence.in_if),
        col("out_if", rows, |r| r.evidence.out_if),
        col("next_hop", rows, |r| r.evidence.next_hop.clone()),
        col("bgp_next_hop", rows, |r| r.evidence.bgp_next_hop.clone()),
        col("src_as", rows, |r| r.evidence.src_as),
        col("dst_as", rows, |r| r.evidence.dst_as),
        col("src_mask", rows, |r| r.evidence.src_mask.map(u32::from)),
        col("dst_mask", rows, |r| r.evidence.dst_mask.map(u32::from)),
        col("mpls", rows, |r| r.evidence.mpls.clone()),
        col("nat_src", rows, |r| r.evidence.nat_src.clone()),
        col("nat_dst", rows, |r| r.evidence.nat_dst.clone()),
        col("nat_event", rows, |r| r.evidence.nat_event.map(u32::from)),
        col("pkt_src_ip", rows, |r| r.evidence.pkt_src_ip.clone()),
        col("pkt_dst_ip", rows, |r| r.evidence.pkt_dst_ip.clone()),
        col("time_original", rows, |r| r.evidence.time_original.clone()),
        col("source_id", rows, |r| r.evidence.source_id.clone()),
        col("status", rows, |r| r.evidence.status.clone()),
    ];
    if enriched {
        let e = |r: &FlowRow| r.enrich.clone().unwrap_or_default();
        columns.extend([
            col("src_asn", rows, |r| e(r).src_asn),
            col("src_as_org", rows, |r| e(r).src_as_org),
            col("src_country", rows, |r| e(r).src_country),
            col("dst_asn", rows, |r| e(r).dst_asn),
            col("dst_as_org", rows, |r| e(r).dst_as_org),
            col("dst_country", rows, |r| e(r).dst_country),
        ]);
    }
    DataFrame::new(rows.len(), columns).map_err(err)
}
