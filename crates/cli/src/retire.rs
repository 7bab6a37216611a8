//! `mailport retire-report`: what still depends on the old server, and
//! whether it can be switched off (the proxy crate's [`retire`] builds it).

use anyhow::anyhow;
use comfy_table::Table;
use mailport_engine::ErrorKind;
use mailport_mail::date::{format_utc, now};
use mailport_proxy::retire;

use crate::project_args::Where;
use crate::projects::{open_project, write_report};
use crate::proxy_args::{RetireArgs, RetireFormat};
use crate::Failure;

/// Exit status 0 only when it is safe to retire the old server.
pub async fn retire_report(w: &Where, a: RetireArgs) -> Result<bool, Failure> {
    let p = open_project(w, &a.project).await?;
    let until = now();
    let since = a.since.at(until);
    if since > until {
        return Err(Failure::Usage(anyhow!(
            "--since {} is in the future: give a past date or a duration such as 30d",
            format_utc(since)
        )));
    }
    let r = retire::build(&p, since, until)
        .await
        .map_err(|e| Failure::Failed(ErrorKind::State, anyhow!(e)))?;
    let text = match a.format {
        RetireFormat::Table => table(&r),
        RetireFormat::Csv => retire::to_csv(&r),
        RetireFormat::Json => retire::to_json(&r),
        RetireFormat::Html => retire::to_html(&r),
    };
    write_report(&p.name, &text, a.output.as_deref())?;
    Ok(r.safe_to_retire())
}

fn table(r: &retire::RetireReport) -> String {
    let mut out = format!(
        "Retirement report of {} from {} to {}\n\n",
        r.project,
        format_utc(r.since),
        format_utc(r.until)
    );
    let rows = retire::rows(r);
    if !rows.is_empty() {
        let mut t = Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
        // Not a terminal (a pipe, a file): wrapped at a readable width.
        if t.width().is_none() {
            t.set_width(120);
        }
        t.set_header(retire::COLUMNS);
        for row in rows {
            t.add_row(row);
        }
        out.push_str(&t.to_string());
        out.push_str("\n\n");
    }
    out.push_str(&r.verdict());
    out.push('\n');
    out
}
