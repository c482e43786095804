//! The run summary printed on standard error.

use crate::pipeline::FlowRun;
use std::fmt::Write;

/// A short, human summary: inputs, frames, flows, and everything skipped by reason with
/// its first locator.
pub fn summary_text(run: &FlowRun) -> String {
    let mut s = String::new();
    let frames: u64 = run.inputs.iter().map(|i| i.frames).sum();
    let read = run.inputs.iter().filter(|i| i.container.is_some()).count();
    let _ = writeln!(
        s,
        "{} input{} ({} read), {} frames, {} flows",
        run.inputs.len(),
        if run.inputs.len() == 1 { "" } else { "s" },
        read,
        frames,
        run.flow_count()
    );
    for i in &run.inputs {
        match (&i.container, &i.error) {
            (Some(c), err) => {
                let comp = match i.compression {
                    Some(crate::ingest::Compression::None) | None => String::new(),
                    Some(c) => format!(", {}", c.name()),
                };
                let _ = writeln!(
                    s,
                    "  {}: {c}{comp}, {} frames, {} bytes",
                    i.name.display(),
                    i.frames,
                    i.bytes
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
    let entries = run.flows.diag.entries();
    if !entries.is_empty() {
        let _ = writeln!(s, "not on a flow or not fully read:");
    }
    for (reason, detail, stat) in entries {
        let name = run
            .inputs
            .get(stat.first.input as usize)
            .map_or_else(String::new, |i| i.name.display().to_string());
        let what = match reason.detail_name(detail) {
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
            "  {kind}: {name}: {what}: {} (first at frame {}, byte offset {})",
            stat.count, stat.first.frame, stat.first.offset
        );
    }
    s
}
