//! The run summary printed on standard error.

use crate::model::counted;
use crate::pipeline::FlowRun;
use std::fmt::Write;

/// A short, human summary: inputs, frames, flows, and everything skipped by reason with
/// its first locator.
pub fn summary_text(run: &FlowRun) -> String {
    let mut s = String::new();
    let frames = run.capture_frames();
    let read = run.inputs.iter().filter(|i| i.container.is_some()).count();
    let records = run.record_count();
    let _ = write!(
        s,
        "{} ({read} read), {}, {}",
        counted(run.inputs.len() as u64, "input", "inputs"),
        counted(frames, "frame", "frames"),
        counted(run.flow_count(), "flow", "flows")
    );
    if records > 0 {
        let paired = run
            .records
            .records
            .iter()
            .filter(|r| r.paired.is_some())
            .count() as u64
            + run.spilled.records().paired();
        let _ = write!(s, ", {}", counted(records, "flow record", "flow records"));
        if paired > 0 {
            let _ = write!(s, " ({paired} of them two one-way records paired)");
        }
    }
    let _ = writeln!(s);
    for i in &run.inputs {
        match (&i.container, &i.error) {
            (Some(c), err) => {
                let comp = match i.compression {
                    Some(crate::ingest::Compression::None) | None => String::new(),
                    Some(c) => format!(", {}", c.name()),
                };
                let recs = if i.records > 0 {
                    format!(", {}", counted(i.records, "flow record", "flow records"))
                } else {
                    String::new()
                };
                // Where the bytes went, when some were skipped.
                let split = if i.counts.skipped > 0 {
                    format!(
                        " ({} in frames, {} in headers and blocks without packets, {} skipped)",
                        i.counts.frames, i.counts.meta, i.counts.skipped
                    )
                } else {
                    String::new()
                };
                let unit = i.unit();
                let _ = writeln!(
                    s,
                    "  {}: {c}{comp}, {}, {}{split}{recs}",
                    i.name.display(),
                    counted(i.frames, unit, &format!("{unit}s")),
                    counted(i.bytes, "byte", "bytes")
                );
                if let Some(e) = err {
                    let _ = writeln!(s, "    error: {e}");
                }
            }
            (None, Some(e)) => {
                let _ = writeln!(s, "  error: {e}");
            }
            (None, None) => {}
        }
    }
    let entries = run.flows.diag.listing(None);
    if !entries.is_empty() {
        let _ = writeln!(s, "not on a flow or not fully read:");
    }
    for crate::model::Listed {
        reason,
        detail,
        stat,
    } in entries
    {
        let input = run.inputs.get(stat.first.input as usize);
        let name = input.map_or_else(String::new, |i| i.name.display().to_string());
        let unit = input.map_or("frame", |i| i.unit());
        let what = match detail {
            Some(d) => format!("{} ({d})", reason.name()),
            None => reason.name().to_string(),
        };
        let kind = if reason.is_problem() {
            "warning"
        } else {
            "note"
        };
        let _ = writeln!(
            s,
            "  {kind}: {name}: {what}: {} (first at {unit} {}, byte offset {})",
            stat.count, stat.first.frame, stat.first.offset
        );
    }
    s
}
