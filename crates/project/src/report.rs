//! A project's report: per mailbox and in total, what the source held, what
//! was copied, found already there, skipped and failed (by reason), whether
//! verify passed, how long it took — as CSV for spreadsheets, JSON for
//! scripts, or one self-contained HTML page (no external assets) with the
//! failures grouped by reason. Never a secret: the store rows it reads
//! carry only sealed ones, and it does not read them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mailport_store::{MailboxRow, PassRow};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct MailboxReport {
    pub login: String,
    pub destination_login: String,
    pub state: String,
    pub error: Option<String>,
    /// Messages on the source at the last copy pass.
    pub source_messages: u64,
    /// Copied over all passes.
    pub copied: u64,
    /// Already on the destination at the last copy pass.
    pub already_present: u64,
    /// At the last copy pass, by reason.
    pub skipped: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
    /// Bytes copied over all passes.
    pub bytes: u64,
    /// `ok`, `failed` or empty (never verified).
    pub verified: String,
    pub passes: u64,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ProjectReport {
    pub project: String,
    pub mailboxes: Vec<MailboxReport>,
    pub total: MailboxReport,
    /// Failed messages over all mailboxes, by reason.
    pub failures: BTreeMap<String, u64>,
}

/// The report of `rows` from their `passes` (any order).
pub fn build(project: &str, rows: &[MailboxRow], passes: &[PassRow]) -> ProjectReport {
    let mut by_login: BTreeMap<&str, Vec<&PassRow>> = BTreeMap::new();
    for p in passes {
        by_login.entry(p.login.as_str()).or_default().push(p);
    }
    let mut report = ProjectReport {
        project: project.into(),
        ..Default::default()
    };
    report.total.login = "total".into();
    for m in rows {
        let mut passes = by_login.remove(m.login.as_str()).unwrap_or_default();
        passes.sort_by_key(|p| p.started_at);
        let mut r = MailboxReport {
            login: m.login.clone(),
            destination_login: m.destination_login.clone(),
            state: m.state.clone(),
            error: m.error.clone(),
            passes: passes.len() as u64,
            ..Default::default()
        };
        for p in &passes {
            r.copied += p.copied.max(0) as u64;
            r.bytes += p.bytes.max(0) as u64;
            r.duration_ms += p.duration_ms.max(0) as u64;
            if let Some(v) = &p.verified {
                r.verified = v.clone();
            }
        }
        let copy_kinds = ["full", "delta", "prestage"];
        if let Some(last) = passes
            .iter()
            .rev()
            .find(|p| copy_kinds.contains(&p.kind.as_str()))
        {
            r.source_messages = last.source_messages.max(0) as u64;
            r.already_present = last.already_present.max(0) as u64;
            let reasons: serde_json::Value =
                serde_json::from_str(&last.reasons).unwrap_or_default();
            r.skipped = counts(&reasons["skipped"]);
            r.failed = counts(&reasons["failed"]);
        }
        add(&mut report.total, &r);
        for (why, n) in &r.failed {
            *report.failures.entry(why.clone()).or_default() += n;
        }
        report.mailboxes.push(r);
    }
    report
}

fn counts(v: &serde_json::Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

fn add(total: &mut MailboxReport, r: &MailboxReport) {
    total.source_messages += r.source_messages;
    total.copied += r.copied;
    total.already_present += r.already_present;
    total.bytes += r.bytes;
    total.passes += r.passes;
    total.duration_ms += r.duration_ms;
    for (why, n) in &r.skipped {
        *total.skipped.entry(why.clone()).or_default() += n;
    }
    for (why, n) in &r.failed {
        *total.failed.entry(why.clone()).or_default() += n;
    }
}

fn sum(m: &BTreeMap<String, u64>) -> u64 {
    m.values().sum()
}

/// Reasons as one cell: `reason (n); reason (n)`.
fn cell(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(why, n)| format!("{why} ({n})"))
        .collect::<Vec<_>>()
        .join("; ")
}

const COLUMNS: [&str; 12] = [
    "mailbox",
    "destination",
    "state",
    "source messages",
    "copied",
    "already present",
    "skipped",
    "failed",
    "bytes copied",
    "verified",
    "seconds",
    "reasons",
];

fn fields(r: &MailboxReport) -> [String; 12] {
    let mut reasons = cell(&r.failed);
    if !r.skipped.is_empty() {
        if !reasons.is_empty() {
            reasons.push_str("; ");
        }
        reasons.push_str(&format!("skipped: {}", cell(&r.skipped)));
    }
    if let Some(e) = &r.error {
        if !reasons.contains(e.as_str()) {
            if !reasons.is_empty() {
                reasons.push_str("; ");
            }
            reasons.push_str(e);
        }
    }
    [
        r.login.clone(),
        r.destination_login.clone(),
        r.state.clone(),
        r.source_messages.to_string(),
        r.copied.to_string(),
        r.already_present.to_string(),
        sum(&r.skipped).to_string(),
        sum(&r.failed).to_string(),
        r.bytes.to_string(),
        r.verified.clone(),
        format!("{:.1}", r.duration_ms as f64 / 1000.0),
        reasons,
    ]
}

/// RFC 4180 CSV with a header line; the last line is the total.
pub fn to_csv(report: &ProjectReport) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for r in report.mailboxes.iter().chain([&report.total]) {
        let line: Vec<String> = fields(r).iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

pub fn to_json(report: &ProjectReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// One RFC 4180 field, quoted when it must be; never a formula to a
/// spreadsheet (a leading = + - @ gets a quote mark).
pub fn csv_field(s: &str) -> String {
    let s = match s.starts_with(['=', '+', '-', '@']) {
        true => format!("'{s}"),
        false => s.to_string(),
    };
    match s.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", s.replace('"', "\"\"")),
        false => s,
    }
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The start of a report page up to `<body>`, its style inline: opens
/// anywhere, mailed as an attachment.
pub fn html_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}\
         th,td{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}\
         th:first-child,td:first-child,td.text{{text-align:left}}\
         tr.failed td{{background:#fde8e8}} tr.total td{{font-weight:bold}}\
         p.verdict{{font-size:1.2em;font-weight:bold}}\
         </style></head><body>\n",
        html_escape(title)
    )
}

/// One page, its style inline.
pub fn to_html(report: &ProjectReport) -> String {
    let t = &report.total;
    let mut h = String::new();
    h.push_str(&html_head(&format!("mailport report: {}", report.project)));
    let _ = write!(
        h,
        "<h1>Migration report: {p}</h1>\n\
         <p>{n} mailboxes; {c} messages copied ({b} bytes), {a} already there, {f} failed, {s} skipped.</p>\n",
        p = html_escape(&report.project),
        n = report.mailboxes.len(),
        c = t.copied,
        b = t.bytes,
        a = t.already_present,
        f = sum(&t.failed),
        s = sum(&t.skipped),
    );
    h.push_str("<table><thead><tr>");
    for c in COLUMNS {
        let _ = write!(h, "<th>{}</th>", html_escape(c));
    }
    h.push_str("</tr></thead><tbody>\n");
    for r in &report.mailboxes {
        let class = if r.state == "failed" || sum(&r.failed) > 0 {
            " class=\"failed\""
        } else {
            ""
        };
        row(&mut h, class, r);
    }
    row(&mut h, " class=\"total\"", t);
    h.push_str("</tbody></table>\n");
    if !report.failures.is_empty() {
        h.push_str("<h2>Failures by reason</h2>\n<table><thead><tr><th>reason</th><th>messages</th></tr></thead><tbody>\n");
        let mut by_count: Vec<_> = report.failures.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1));
        for (why, n) in by_count {
            let _ = writeln!(
                h,
                "<tr><td class=\"text\">{}</td><td>{n}</td></tr>",
                html_escape(why)
            );
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</body></html>\n");
    h
}

fn row(h: &mut String, class: &str, r: &MailboxReport) {
    let _ = write!(h, "<tr{class}>");
    for (i, f) in fields(r).iter().enumerate() {
        let text = matches!(i, 0..=2 | 9 | 11);
        let _ = write!(
            h,
            "<td{}>{}</td>",
            if text { " class=\"text\"" } else { "" },
            html_escape(f)
        );
    }
    h.push_str("</tr>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(login: &str, at: i64, kind: &str, copied: i64, failed: &str) -> PassRow {
        PassRow {
            project: "acme".into(),
            login: login.into(),
            started_at: at,
            kind: kind.into(),
            duration_ms: 1500,
            source_messages: 10,
            copied,
            already_present: 10 - copied,
            bytes: copied * 1000,
            outcome: "ok".into(),
            reasons: format!("{{\"skipped\":{{}},\"failed\":{failed}}}"),
            verified: Some("ok".into()),
            ..Default::default()
        }
    }

    fn mailbox(login: &str, state: &str) -> MailboxRow {
        MailboxRow {
            login: login.into(),
            destination_login: login.into(),
            state: state.into(),
            ..Default::default()
        }
    }

    #[test]
    fn totals_add_up_and_every_format_carries_them() {
        let rows = [
            mailbox("ann", "completed"),
            mailbox("b<o>b,\"x\"", "failed"),
        ];
        let passes = [
            pass("ann", 1, "full", 8, "{}"),
            pass("ann", 2, "delta", 2, "{}"),
            pass(
                "b<o>b,\"x\"",
                1,
                "full",
                7,
                "{\"destination refused it: too big\":3}",
            ),
        ];
        let r = build("acme", &rows, &passes);
        assert_eq!(r.mailboxes[0].copied, 10);
        assert_eq!(r.mailboxes[0].already_present, 8, "the last copy pass's");
        assert_eq!(r.total.copied, 17);
        assert_eq!(r.failures["destination refused it: too big"], 3);

        let csv = to_csv(&r);
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.contains("\"b<o>b,\"\"x\"\"\""), "{csv}");
        assert!(csv.lines().last().unwrap().starts_with("total,"));

        let html = to_html(&r);
        assert!(html.contains("b&lt;o&gt;b"), "not escaped");
        assert!(
            !html.contains("<script") && !html.contains("http"),
            "external assets"
        );
        assert!(html.contains("Failures by reason"));

        let json: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
        assert_eq!(json["total"]["copied"], 17);
    }

    #[test]
    fn a_spreadsheet_formula_in_a_login_stays_text() {
        let rows = [mailbox("=cmd()", "completed")];
        let csv = to_csv(&build("acme", &rows, &[]));
        assert!(csv.contains("'=cmd()"), "{csv}");
    }
}
