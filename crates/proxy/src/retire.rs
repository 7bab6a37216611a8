//! The retirement report (`mailport retire-report`): what still depends on
//! the old server, so that it can be switched off knowing nothing is lost.
//!
//! Three lists over a window of time, read from the store (any proxy's
//! records count):
//! - mailboxes of the project not moved yet, with the mail that still
//!   arrives for them through the proxy, and what to do about each;
//! - addresses of the organisation's domains that receive mail but have no
//!   mailbox (aliases, forwards, lists, catch-all traffic), relayed to the
//!   old server, with counts per day: each to be created as an alias on the
//!   new server — how a catch-all becomes explicit aliases;
//! - moved accounts whose mail still reaches the old server: relayed there
//!   after the move (a bug), or arrived there by another route and carried
//!   over by the following passes (the MX, or a sender, still points at it).
//!
//! The verdict is "safe to retire" only when all three are empty.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mailport_mail::date::format_utc;
use mailport_project::report::{csv_field, html_escape, html_head};
use mailport_project::{Project, ProjectError};
use mailport_store::{MailboxState, ServedBy};

/// A mailbox of the project still served by the old server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotMoved {
    pub login: String,
    /// `never logged in`, `source` (logged in, not moved) or `moving`.
    pub served_by: String,
    pub first_login_at: Option<i64>,
    /// Mail for it that passed through the proxy in the window.
    pub messages: i64,
    pub last_mail_at: Option<i64>,
    pub suggestion: String,
}

/// An address without a mailbox that receives mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unboxed {
    pub address: String,
    pub messages: i64,
    pub bytes: i64,
    /// (YYYY-MM-DD, messages) for each day with mail.
    pub per_day: Vec<(String, i64)>,
    pub last_at: i64,
    pub suggestion: String,
}

/// A moved account whose mail still reaches the old server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleRoute {
    pub login: String,
    pub moved_at: i64,
    /// Relayed to the old server by the proxy after the move.
    pub relayed: i64,
    /// Arrived at the old server by another route after the move, carried
    /// over by following passes.
    pub arrived_directly: i64,
    pub last_at: i64,
    pub suggestion: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetireReport {
    pub project: String,
    pub since: i64,
    pub until: i64,
    pub not_moved: Vec<NotMoved>,
    pub no_mailbox: Vec<Unboxed>,
    pub stale_routes: Vec<StaleRoute>,
}

impl RetireReport {
    pub fn safe_to_retire(&self) -> bool {
        self.not_moved.is_empty() && self.no_mailbox.is_empty() && self.stale_routes.is_empty()
    }

    /// One line for the operator.
    pub fn verdict(&self) -> String {
        if self.safe_to_retire() {
            return format!(
                "safe to retire: every mailbox is moved, and since {} no mail was relayed to the old server nor found arriving there",
                format_utc(self.since)
            );
        }
        let mut left = Vec::new();
        let count = |n: usize, one: &str, many: &str| match n {
            1 => format!("1 {one}"),
            n => format!("{n} {many}"),
        };
        if !self.not_moved.is_empty() {
            left.push(count(
                self.not_moved.len(),
                "mailbox not moved",
                "mailboxes not moved",
            ));
        }
        if !self.no_mailbox.is_empty() {
            left.push(count(
                self.no_mailbox.len(),
                "address without a mailbox still receiving mail",
                "addresses without a mailbox still receiving mail",
            ));
        }
        if !self.stale_routes.is_empty() {
            left.push(count(
                self.stale_routes.len(),
                "moved account whose mail still reaches the old server",
                "moved accounts whose mail still reaches the old server",
            ));
        }
        format!("NOT safe to retire: {}", left.join("; "))
    }
}

/// Reads the report of `project` for deliveries and passes in
/// `since..=until` (Unix seconds).
pub async fn build(
    project: &Project,
    since: i64,
    until: i64,
) -> Result<RetireReport, ProjectError> {
    let store = &project.store;
    let name = &project.name;
    let mailboxes = store.mailboxes(name).await?;
    let accounts: BTreeMap<String, _> = store
        .accounts(name)
        .await?
        .into_iter()
        .map(|a| (a.login.clone(), a))
        .collect();
    let counts = store.delivery_counts(name, since).await?;
    let admin = project.settings.from_admin.is_some();

    // Mail arriving for each mailbox, and for each address without one.
    let mut for_login: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut unboxed: BTreeMap<&str, Unboxed> = BTreeMap::new();
    for c in counts.iter().filter(|c| c.last_at <= until) {
        if let Some(login) = &c.login {
            let e = for_login.entry(login).or_default();
            e.0 += c.messages;
            e.1 = e.1.max(c.last_at);
        }
        if c.why == "no mailbox" {
            let u = unboxed.entry(&c.recipient).or_insert_with(|| Unboxed {
                address: c.recipient.clone(),
                messages: 0,
                bytes: 0,
                per_day: Vec::new(),
                last_at: 0,
                suggestion: "create it on the new server (an alias of the mailbox, forward or list the old server delivers it to)".into(),
            });
            u.messages += c.messages;
            u.bytes += c.bytes;
            u.last_at = u.last_at.max(c.last_at);
            let day = format_utc(c.day * 86_400)[..10].to_string();
            match u.per_day.last_mut() {
                Some((d, n)) if *d == day => *n += c.messages,
                _ => u.per_day.push((day, c.messages)),
            }
        }
    }

    let mut not_moved = Vec::new();
    for m in &mailboxes {
        let account = accounts.get(&m.login);
        if account.is_some_and(|a| a.served_by == ServedBy::Destination) {
            continue;
        }
        let (messages, last) = for_login.get(m.login.as_str()).copied().unwrap_or((0, 0));
        let copied = m.last_good_at.is_some();
        let suggestion = match account.map(|a| a.served_by) {
            Some(ServedBy::Moving) => "being moved right now: run the report again in a minute".to_string(),
            Some(_) if copied => format!("cut it over: mailport accounts cutover {name} {}", m.login),
            Some(_) if m.state == MailboxState::Failed.as_str() => format!(
                "its copy failed ({}): fix that, then cut it over",
                m.error.as_deref().unwrap_or("see mailport project status")
            ),
            Some(_) => "its copy is under way: cut it over when it completes".to_string(),
            None if messages == 0 => "no mail for it in the window: drop it, or migrate it with admin credentials if its mail matters".to_string(),
            None if admin => format!(
                "mail still arrives: migrate it now with the admin credentials (mailport project run {name}); its password on the new server is set by hand"
            ),
            None => "mail still arrives: ask the user to log in once through the proxy (any mail client; the mailbox then moves), or add admin credentials to the project and migrate it".to_string(),
        };
        not_moved.push(NotMoved {
            login: m.login.clone(),
            served_by: match account {
                None => "never logged in".into(),
                Some(a) => a.served_by.as_str().into(),
            },
            first_login_at: account.map(|a| a.first_login_at),
            messages,
            last_mail_at: (messages > 0).then_some(last),
            suggestion,
        });
    }

    // Moved accounts: relayed to the old server after the move, or mail
    // that following passes found there after it.
    let relayed: BTreeMap<String, (i64, i64)> = store
        .relayed_after_move(name, since)
        .await?
        .into_iter()
        .map(|(login, n, last)| (login, (n, last)))
        .collect();
    // One read of the passes that carried mail (not one per account).
    let mut carried: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for p in store.passes(name, None).await? {
        if p.kind == "delta" && p.copied > 0 {
            let at = p.started_at / 1000;
            carried.entry(p.login).or_default().push((at, p.copied));
        }
    }
    let mut stale_routes = Vec::new();
    for a in accounts.values() {
        let (Some(moved_at), ServedBy::Destination) = (a.moved_at, a.served_by) else {
            continue;
        };
        let (relayed, relayed_last) = relayed.get(&a.login).copied().unwrap_or((0, 0));
        let from = since.max(moved_at);
        let late: Vec<(i64, i64)> = carried
            .get(&a.login)
            .into_iter()
            .flatten()
            .filter(|(at, _)| *at >= from && *at <= until)
            .copied()
            .collect();
        let arrived_directly: i64 = late.iter().map(|(_, n)| n).sum();
        if relayed == 0 && arrived_directly == 0 {
            continue;
        }
        let last_pass = late.iter().map(|(at, _)| *at).max().unwrap_or(0);
        let suggestion = match relayed {
            0 => "mail reaches the old server by another route: point the MX (and any sender or forward naming the old server) at the proxy or the new server; keep following until it stops".to_string(),
            _ => "the proxy relayed its mail to the old server after the move: a bug or a stale route; report it".to_string(),
        };
        stale_routes.push(StaleRoute {
            login: a.login.clone(),
            moved_at,
            relayed,
            arrived_directly,
            last_at: relayed_last.max(last_pass),
            suggestion,
        });
    }
    Ok(RetireReport {
        project: name.clone(),
        since,
        until,
        not_moved,
        no_mailbox: unboxed.into_values().collect(),
        stale_routes,
    })
}

fn when(t: Option<i64>) -> String {
    t.map(format_utc).unwrap_or_default()
}

fn per_day(u: &Unboxed) -> String {
    u.per_day
        .iter()
        .map(|(d, n)| format!("{d}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report's rows as (section, item, messages, last seen, detail,
/// suggestion): one shape for CSV and the table.
pub fn rows(r: &RetireReport) -> Vec<[String; 6]> {
    let mut out = Vec::new();
    for m in &r.not_moved {
        let detail = match m.first_login_at {
            Some(t) => format!("{}; first login {}", m.served_by, format_utc(t)),
            None => m.served_by.clone(),
        };
        out.push([
            "not moved".into(),
            m.login.clone(),
            m.messages.to_string(),
            when(m.last_mail_at),
            detail,
            m.suggestion.clone(),
        ]);
    }
    for u in &r.no_mailbox {
        out.push([
            "no mailbox".into(),
            u.address.clone(),
            u.messages.to_string(),
            format_utc(u.last_at),
            per_day(u),
            u.suggestion.clone(),
        ]);
    }
    for s in &r.stale_routes {
        out.push([
            "stale route".into(),
            s.login.clone(),
            (s.relayed + s.arrived_directly).to_string(),
            format_utc(s.last_at),
            format!(
                "moved {}; relayed to the old server after: {}; arrived there directly: {}",
                format_utc(s.moved_at),
                s.relayed,
                s.arrived_directly
            ),
            s.suggestion.clone(),
        ]);
    }
    out
}

pub const COLUMNS: [&str; 6] = [
    "section",
    "account or address",
    "messages",
    "last seen",
    "detail",
    "suggestion",
];

/// RFC 4180 CSV, a header line, then one line per item; the verdict is
/// the last line's `verdict` section.
pub fn to_csv(r: &RetireReport) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    let verdict = [
        "verdict".to_string(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        r.verdict(),
    ];
    for row in rows(r).iter().chain([&verdict]) {
        let line: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

pub fn to_json(r: &RetireReport) -> String {
    let not_moved: Vec<_> = r
        .not_moved
        .iter()
        .map(|m| {
            serde_json::json!({
                "login": m.login, "served_by": m.served_by, "first_login_at": m.first_login_at,
                "messages": m.messages, "last_mail_at": m.last_mail_at, "suggestion": m.suggestion,
            })
        })
        .collect();
    let no_mailbox: Vec<_> = r
        .no_mailbox
        .iter()
        .map(|u| {
            let days: serde_json::Map<String, serde_json::Value> = u
                .per_day
                .iter()
                .map(|(d, n)| (d.clone(), (*n).into()))
                .collect();
            serde_json::json!({
                "address": u.address, "messages": u.messages, "bytes": u.bytes,
                "per_day": days, "last_at": u.last_at, "suggestion": u.suggestion,
            })
        })
        .collect();
    let stale: Vec<_> = r
        .stale_routes
        .iter()
        .map(|s| {
            serde_json::json!({
                "login": s.login, "moved_at": s.moved_at, "relayed": s.relayed,
                "arrived_directly": s.arrived_directly, "last_at": s.last_at,
                "suggestion": s.suggestion,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "project": r.project, "since": r.since, "until": r.until,
        "not_moved": not_moved, "no_mailbox": no_mailbox, "stale_routes": stale,
        "safe_to_retire": r.safe_to_retire(), "verdict": r.verdict(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// One self-contained page: the verdict first, then each list.
pub fn to_html(r: &RetireReport) -> String {
    let mut h = html_head(&format!("mailport retirement report: {}", r.project));
    let _ = write!(
        h,
        "<h1>Retirement report: {}</h1>\n<p>From {} to {}.</p>\n<p class=\"verdict\">{}</p>\n",
        html_escape(&r.project),
        format_utc(r.since),
        format_utc(r.until),
        html_escape(&r.verdict())
    );
    let all = rows(r);
    for (section, title) in [
        ("not moved", "Mailboxes not moved"),
        (
            "no mailbox",
            "Addresses without a mailbox (relayed to the old server)",
        ),
        (
            "stale route",
            "Moved accounts whose mail still reaches the old server",
        ),
    ] {
        let items: Vec<_> = all.iter().filter(|row| row[0] == section).collect();
        let _ = writeln!(h, "<h2>{} ({})</h2>", html_escape(title), items.len());
        if items.is_empty() {
            h.push_str("<p>None.</p>\n");
            continue;
        }
        h.push_str("<table><thead><tr>");
        for c in &COLUMNS[1..] {
            let _ = write!(h, "<th>{}</th>", html_escape(c));
        }
        h.push_str("</tr></thead><tbody>\n");
        for row in items {
            h.push_str("<tr>");
            for (i, f) in row[1..].iter().enumerate() {
                let class = if i == 1 { "" } else { " class=\"text\"" };
                let _ = write!(h, "<td{class}>{}</td>", html_escape(f));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_only_when_every_list_is_empty() {
        let mut r = RetireReport {
            project: "acme".into(),
            since: 0,
            until: 86_400,
            not_moved: Vec::new(),
            no_mailbox: Vec::new(),
            stale_routes: Vec::new(),
        };
        assert!(r.safe_to_retire());
        assert!(r.verdict().starts_with("safe to retire"), "{}", r.verdict());
        assert_eq!(to_csv(&r).lines().count(), 2);
        r.no_mailbox.push(Unboxed {
            address: "=cmd@example.org".into(),
            messages: 1,
            bytes: 10,
            per_day: vec![("1970-01-01".into(), 1)],
            last_at: 5,
            suggestion: "create it".into(),
        });
        assert!(!r.safe_to_retire());
        assert_eq!(
            r.verdict(),
            "NOT safe to retire: 1 address without a mailbox still receiving mail"
        );
        // An address a spreadsheet would run as a formula is not one.
        assert!(to_csv(&r).contains(",'=cmd@example.org,"), "{}", to_csv(&r));
    }
}
