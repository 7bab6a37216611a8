//! The end-of-run summary: a table per folder (or JSON), reasons, totals.

use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, CellAlignment, Table};
use mailport_engine::verify::{Verdict, VerifyReport};
use mailport_engine::{FolderReport, Report};

/// `1 message`, `2 messages`.
pub fn count(n: u64, noun: &str) -> String {
    match (n, noun.ends_with('x') || noun.ends_with('s')) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
}

/// Sizes in SI units, written as the progress bars write them (`kB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn arrow(r: &FolderReport) -> String {
    if r.source == r.destination {
        r.source.clone()
    } else {
        format!("{} → {}", r.source, r.destination)
    }
}

/// One line per finished folder, for logs and above the progress bars.
pub fn outcome_line(r: &FolderReport, dry_run: bool) -> String {
    if let Some(e) = &r.error {
        return format!("FAILED {}: {e}", arrow(r));
    }
    if dry_run {
        return format!(
            "planned {}: {} to copy ({}), {} already present, {} skipped of {}",
            arrow(r),
            r.to_copy,
            human_bytes(r.bytes),
            r.already_present,
            r.skipped_total(),
            count(r.source_messages, "message")
        );
    }
    format!(
        "done {}: {} copied, {} present, {}{} skipped, {} failed of {} ({}, {:.1} s)",
        arrow(r),
        r.copied,
        r.already_present,
        match r.deleted_on_destination {
            0 => String::new(),
            n => format!("{n} deleted on the destination, "),
        },
        r.skipped_total(),
        r.failed_total(),
        count(r.source_messages, "message"),
        human_bytes(r.bytes),
        r.elapsed.as_secs_f64()
    )
}

fn rate(n: f64, secs: f64) -> String {
    if secs <= 0.0 || n == 0.0 {
        "-".into()
    } else {
        format!("{:.1}", n / secs)
    }
}

pub fn table(report: &Report) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    let mut out = String::new();
    if report.dry_run {
        out.push_str("Dry run: nothing was changed. Plan:\n");
        t.set_header(vec![
            "Folder",
            "Messages",
            "To copy",
            "Size to copy",
            "Present",
            "Skipped",
            "Note",
        ]);
        for (f, p) in report.folders.iter().zip(&report.plan.folders) {
            t.add_row(vec![
                Cell::new(arrow(f)),
                num(f.source_messages),
                num(f.to_copy),
                Cell::new(human_bytes(f.bytes)).set_alignment(CellAlignment::Right),
                num(f.already_present),
                num(f.skipped_total()),
                Cell::new(p.note.clone().unwrap_or_else(|| {
                    if p.exists_on_destination {
                        String::new()
                    } else {
                        "will be created".into()
                    }
                })),
            ]);
        }
    } else {
        t.set_header(vec![
            "Folder",
            "SourceSession",
            "Copied",
            "Present",
            "Skipped",
            "Failed",
            "Size",
            "Time s",
            "msg/s",
            "MB/s",
        ]);
        for f in &report.folders {
            let secs = f.elapsed.as_secs_f64();
            t.add_row(vec![
                Cell::new(arrow(f)),
                num(f.source_messages),
                num(f.copied),
                num(f.already_present),
                num(f.skipped_total()),
                num(f.failed_total() + u64::from(f.error.is_some())),
                Cell::new(human_bytes(f.bytes)).set_alignment(CellAlignment::Right),
                Cell::new(format!("{secs:.1}")).set_alignment(CellAlignment::Right),
                Cell::new(rate(f.copied as f64, secs)).set_alignment(CellAlignment::Right),
                Cell::new(rate(f.bytes as f64 / 1e6, secs)).set_alignment(CellAlignment::Right),
            ]);
        }
        let tt = &report.totals;
        let secs = report.elapsed.as_secs_f64();
        t.add_row(vec![
            Cell::new("TOTAL"),
            num(tt.source_messages),
            num(tt.copied),
            num(tt.already_present),
            num(tt.skipped),
            num(tt.failed + tt.failed_folders),
            Cell::new(human_bytes(tt.bytes)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{secs:.1}")).set_alignment(CellAlignment::Right),
            Cell::new(rate(tt.copied as f64, secs)).set_alignment(CellAlignment::Right),
            Cell::new(rate(tt.bytes as f64 / 1e6, secs)).set_alignment(CellAlignment::Right),
        ]);
    }
    out.push_str(&t.to_string());
    out.push('\n');

    let notes: Vec<String> = report
        .plan
        .folders
        .iter()
        .filter_map(|p| {
            p.note
                .as_ref()
                .map(|n| format!("  {} → {}: {n}", p.source, p.destination))
        })
        .collect();
    if !notes.is_empty() {
        out.push_str("Folder mapping:\n");
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    if !report.plan.excluded.is_empty() {
        out.push_str(&format!(
            "Excluded folders: {}\n",
            report.plan.excluded.join(", ")
        ));
    }
    if !report.plan.unplaced.is_empty() {
        out.push_str(&format!(
            "Not copied (outside the personal namespace): {}\n",
            report.plan.unplaced.join(", ")
        ));
    }
    for f in &report.folders {
        for (reason, n) in &f.skipped {
            out.push_str(&format!("Skipped {n} in {}: {reason}\n", f.source));
        }
        for (reason, n) in &f.failed {
            out.push_str(&format!("FAILED {n} in {}: {reason}\n", f.source));
        }
        if let Some(e) = &f.error {
            out.push_str(&format!("FAILED folder {}: {e}\n", f.source));
        }
    }
    let tt = &report.totals;
    if report.dry_run {
        out.push_str(&format!(
            "{}: {} to copy ({}), {} already present, {}{} skipped.\n",
            count(tt.source_messages, "source message"),
            tt.to_copy,
            human_bytes(tt.bytes),
            tt.already_present,
            match tt.deleted_on_destination {
                0 => String::new(),
                n => format!("{n} deleted on the destination, "),
            },
            tt.skipped
        ));
    } else {
        let deleted_there = match tt.deleted_on_destination {
            0 => String::new(),
            n => format!(" + {n} deleted on the destination"),
        };
        out.push_str(&format!(
            "{} = {} copied + {} already present{deleted_there} + {} skipped + {} failed; {} added.\n",
            count(tt.source_messages, "source message"), tt.copied, tt.already_present, tt.skipped, tt.failed,
            count(report.subscriptions_added, "subscription")
        ));
        if tt.changed_by_destination > 0 {
            out.push_str(&format!(
                "{} messages are stored by the destination server with other bytes than the source's (it rewrote them on APPEND, e.g. line endings); `mailport verify` names each change.\n",
                tt.changed_by_destination
            ));
        }
        if tt.deleted_on_destination > 0 {
            out.push_str(&format!(
                "{} messages mailport copied earlier were deleted on the destination since; they stay deleted (--recopy-deleted copies them again).\n",
                tt.deleted_on_destination
            ));
        }
        let flags: u64 = report.folders.iter().map(|f| f.flags_updated).sum();
        let deleted: u64 = report.folders.iter().map(|f| f.deleted).sum();
        if flags + deleted > 0 {
            out.push_str(&format!("Changes since the last pass: flags updated on {flags} messages, {deleted} deleted on the destination.\n"));
        }
    }
    out
}

/// The verify result: a row per folder, then what is missing, different,
/// duplicated or extra.
pub fn verify_table(v: &VerifyReport) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(vec![
        "Folder",
        "SourceSession",
        "Present",
        "Missing",
        "Flags differ",
        "Date differs",
        "Changed",
        "Skipped",
        "Duplicates",
        "Extra",
    ]);
    for f in &v.folders {
        let name = if f.source == f.destination {
            f.source.clone()
        } else {
            format!("{} → {}", f.source, f.destination)
        };
        t.add_row(vec![
            Cell::new(name),
            num(f.source_messages),
            num(f.present),
            num(f.missing),
            num(f.flags_differ),
            num(f.date_differs),
            num(f.changed),
            num(f.skipped),
            num(f.duplicates),
            num(f.extra),
        ]);
    }
    let mut out = format!(
        "Verify ({}):\n{t}\n",
        if v.quick {
            "quick: identities, flags, dates"
        } else {
            "full: SHA-256 of every message, flags, dates"
        }
    );
    for f in &v.folders {
        if let Some(e) = &f.error {
            out.push_str(&format!("FAILED folder {}: {e}\n", f.source));
        }
        if f.line_endings_changed > 0 {
            out.push_str(&format!(
                "{}: {} messages are present with their line endings changed by the destination server (CR/LF only; their content is the same)\n",
                f.source, f.line_endings_changed
            ));
        }
    }
    for m in &v.manifest {
        let what = match m.verdict {
            Verdict::Present | Verdict::Skipped | Verdict::Arrived => continue,
            Verdict::Missing => "missing",
            Verdict::FlagsDiffer => "flags differ",
            Verdict::DateDiffers => "date differs",
            Verdict::Changed => match m.change {
                Some(c) => c.describe(),
                None => "size differs (verify without --quick names the change)",
            },
            Verdict::Duplicate => "duplicate on the destination",
            Verdict::Extra => "only on the destination",
        };
        let at = match (m.uid, m.destination_uid) {
            (Some(uid), _) => format!("{} UID {uid}", m.folder),
            (None, Some(uid)) => format!("{} UID {uid} (destination)", m.destination_folder),
            (None, None) => m.destination_folder.clone(),
        };
        out.push_str(&format!(
            "{what}: {at} ({} bytes, {})\n",
            m.size, m.identity
        ));
    }
    let extra: u64 = v.folders.iter().map(|f| f.extra).sum();
    let arrived: u64 = v.folders.iter().map(|f| f.arrived).sum();
    out.push_str(match (v.is_ok(), arrived) {
        (true, 0) => "Every source message is on the destination, once.\n",
        (true, _) => "Every source message the copy saw is on the destination, once.\n",
        (false, _) => "NOT everything is on the destination exactly once: see above.\n",
    });
    if arrived > 0 {
        out.push_str(&format!(
            "{arrived} messages arrived on the source after the copy read their folder: not copied yet; the next pass copies them.\n"
        ));
    }
    if extra > 0 {
        out.push_str(&format!(
            "The destination also holds {extra} messages the source does not have (listed above; not an error: mail can arrive there during a migration).\n"
        ));
    }
    out
}

fn num(n: u64) -> Cell {
    Cell::new(n).set_alignment(CellAlignment::Right)
}
