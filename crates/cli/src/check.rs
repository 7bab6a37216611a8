//! Printing what `mailport check` found.

use std::fmt::Write as _;

use mailport_engine::inspect::Inspection;
use mailport_engine::Side;

use crate::summary::{count, human_bytes};

pub fn print(results: &[(Side, Inspection)], json: bool) {
    if json {
        let value: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|(side, i)| {
                (
                    side.to_string(),
                    serde_json::to_value(i).unwrap_or_default(),
                )
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return;
    }
    for (n, (side, i)) in results.iter().enumerate() {
        if n > 0 {
            println!();
        }
        print!("{}", text(*side, i));
    }
}

fn text(side: Side, i: &Inspection) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{side}: {}", i.endpoint);
    let _ = writeln!(o, "  greeting:      {}", i.greeting);
    let _ = writeln!(
        o,
        "  login:         ok ({} ms to connect and log in)",
        i.login_time.as_millis()
    );
    match &i.tls {
        None => {
            let _ = writeln!(o, "  TLS:           none (plain text)");
        }
        Some(t) => {
            let _ = writeln!(o, "  TLS:           {} {}", t.version, t.cipher);
            let field = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
            let _ = writeln!(o, "  certificate:   {}", field(&t.subject));
            let _ = writeln!(o, "    issuer:      {}", field(&t.issuer));
            let _ = writeln!(o, "    valid for:   {}", field(&t.names));
            let _ = writeln!(
                o,
                "    valid:       {} to {}",
                field(&t.not_before),
                field(&t.not_after)
            );
            let _ = writeln!(o, "    fingerprint: {}", field(&t.fingerprint));
        }
    }
    let _ = writeln!(o, "  capabilities:  {}", i.capabilities.join(" "));
    if i.namespaces.is_empty() {
        let _ = writeln!(o, "  namespaces:    (no NAMESPACE)");
    }
    for n in &i.namespaces {
        let _ = writeln!(o, "  namespace:     {n}");
    }
    let mailboxes = i.folders.iter().filter(|f| f.selectable).count() as u64;
    let _ = writeln!(
        o,
        "  folders:       {} with {}, {}",
        count(mailboxes, "folder"),
        count(i.messages, "message"),
        human_bytes(i.bytes)
    );
    let width = i.folders.iter().map(|f| width(&f.name)).max().unwrap_or(0);
    for f in &i.folders {
        let name = pad(&f.name, width);
        if f.selectable {
            let _ = writeln!(
                o,
                "    {name}  {:>7}  {:>10}",
                f.messages,
                human_bytes(f.bytes)
            );
        } else {
            let _ = writeln!(o, "    {name}  (a parent only: holds no messages)");
        }
    }
    o
}

/// Terminal columns `s` takes (CJK and emoji take two each).
fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// `s` padded with spaces to `columns` terminal columns.
fn pad(s: &str, columns: usize) -> String {
    format!("{s}{}", " ".repeat(columns.saturating_sub(width(s))))
}
