//! The folder plan: which source folder goes to which destination folder.
//!
//! [`build`] is pure: it takes both sides' LIST/LSUB results and the user's
//! rules and decides, so every mapping rule is unit-tested without a server.
//! Precedence: `--folder-map` rules, then special folders by role, then the
//! same path translated to the destination's prefix and separator. Names the
//! destination cannot hold are renamed predictably and the plan says why.

use std::collections::{BTreeMap, HashMap, HashSet};

use mailport_imap::ListEntry;
use regex::Regex;
use serde::Serialize;

use crate::connector::ImapSession;
use crate::hierarchy::{display, parse_display, Hierarchy};
use crate::roles::Role;

/// One side's folder listing.
#[derive(Debug, Clone)]
pub struct Listing {
    pub hierarchy: Hierarchy,
    pub folders: Vec<ListEntry>,
    /// Wire names from LSUB.
    pub subscribed: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Only folders whose `/`-joined name matches.
    pub include: Option<Regex>,
    /// Leave out folders whose `/`-joined name matches.
    pub exclude: Option<Regex>,
    /// `SRC=DST` rules on `/`-joined names; a rule also moves SRC's subfolders.
    pub folder_map: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderPlan {
    pub source: String,
    #[serde(skip)]
    pub source_wire: Vec<u8>,
    pub destination: String,
    #[serde(skip)]
    pub destination_wire: Vec<u8>,
    pub role: Option<Role>,
    pub exists_on_destination: bool,
    /// Why the destination name differs from the source name, if it does.
    pub note: Option<String>,
    /// The destination cannot hold the name as mapped: another was made up.
    #[serde(skip)]
    pub renamed: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub folders: Vec<FolderPlan>,
    /// Folders left out by --include/--exclude.
    pub excluded: Vec<String>,
    /// `\Noselect` parents: hierarchy only, recreated implicitly by their children.
    pub parents_only: Vec<String>,
    /// Names that could not be placed (outside the personal namespace, undecodable).
    pub unplaced: Vec<String>,
    /// Destination subscriptions to add: (display, wire).
    #[serde(skip)]
    pub subscribe: Vec<(String, Vec<u8>)>,
}

fn role_of(entry: &ListEntry) -> Option<Role> {
    entry
        .attributes
        .iter()
        .find_map(|a| Role::from_attribute(a))
}

/// For each role, the index of the folder that holds it: the one with the
/// SPECIAL-USE attribute, else the top-level folder whose well-known name
/// ranks first.
fn assign_roles(paths: &[(Vec<String>, &ListEntry)]) -> HashMap<Role, usize> {
    let mut out = HashMap::new();
    for role in Role::ALL {
        if let Some(i) = paths.iter().position(|(_, e)| role_of(e) == Some(role)) {
            out.insert(role, i);
            continue;
        }
        let best = paths
            .iter()
            .enumerate()
            .filter(|(_, (p, e))| p.len() == 1 && role_of(e).is_none())
            .filter_map(|(i, (p, _))| {
                let lower = p[0].to_lowercase();
                role.names()
                    .iter()
                    .position(|n| *n == lower)
                    .map(|rank| (rank, i))
            })
            .min();
        if let Some((_, i)) = best {
            out.insert(role, i);
        }
    }
    out
}

fn selectable(e: &ListEntry) -> bool {
    !(e.has_attribute("\\Noselect") || e.has_attribute("\\NonExistent"))
}

fn user_rule(name: &str, rules: &[(String, String)]) -> Option<Vec<String>> {
    for (from, to) in rules {
        // An empty source puts every folder under `to` (a project's
        // per-mailbox destination prefix).
        if from.is_empty() {
            return Some(parse_display(&format!("{to}/{name}")));
        }
        if name == from
            || (from.eq_ignore_ascii_case("INBOX") && name.eq_ignore_ascii_case("INBOX"))
        {
            return Some(parse_display(to));
        }
        if let Some(rest) = name.strip_prefix(&format!("{from}/")) {
            return Some(parse_display(&format!("{to}/{rest}")));
        }
    }
    None
}

pub fn build(source: &Listing, destination: &Listing, opts: &PlanOptions) -> Plan {
    let mut plan = Plan::default();

    let mut src: Vec<(Vec<String>, &ListEntry)> = Vec::new();
    for e in &source.folders {
        match source.hierarchy.decode(&e.name) {
            Err(outside) => plan.unplaced.push(outside.0),
            Ok(path) if !selectable(e) => plan.parents_only.push(display(&path)),
            Ok(path) => {
                let name = display(&path);
                let included = opts.include.as_ref().is_none_or(|r| r.is_match(&name));
                let excluded = opts.exclude.as_ref().is_some_and(|r| r.is_match(&name));
                if included && !excluded {
                    src.push((path, e));
                } else {
                    plan.excluded.push(name);
                }
            }
        }
    }
    // INBOX first, then by name: deterministic plans and collision winners.
    src.sort_by(|a, b| (a.0 != ["INBOX"], &a.0).cmp(&(b.0 != ["INBOX"], &b.0)));

    let dst: Vec<(Vec<String>, &ListEntry)> = destination
        .folders
        .iter()
        .filter_map(|e| destination.hierarchy.decode(&e.name).ok().map(|p| (p, e)))
        .collect();
    let src_roles = assign_roles(&src);
    let dst_roles: HashMap<Role, Vec<String>> = assign_roles(&dst)
        .into_iter()
        .map(|(r, i)| (r, dst[i].0.clone()))
        .collect();
    let dst_existing: HashMap<String, Vec<String>> = dst
        .iter()
        .filter(|(_, e)| selectable(e))
        .map(|(p, _)| (display(p).to_lowercase(), p.clone()))
        .collect();
    let role_by_index: HashMap<usize, Role> = src_roles.iter().map(|(r, i)| (*i, *r)).collect();

    let mut taken: HashMap<String, String> = HashMap::new(); // lower-case dest -> source that took it
    for (i, (path, _)) in src.iter().enumerate() {
        let name = display(path);
        let role = role_by_index.get(&i).copied();
        let mut note = None;
        let mut renamed = false;
        let mut merge_ok = false;
        let target = if let Some(p) = user_rule(&name, &opts.folder_map) {
            note = Some("mapped by --folder-map".to_string());
            merge_ok = true;
            p
        } else if let Some(p) = role.and_then(|r| dst_roles.get(&r)) {
            if *p != *path {
                note = Some(format!("special folder ({:?})", role.unwrap_or(Role::Sent)));
            }
            merge_ok = true;
            p.clone()
        } else {
            path.clone()
        };
        let (mut target, changed) = destination.hierarchy.sanitize(&target);
        if changed {
            renamed = true;
            note = Some(format!(
                "renamed: a level contained the destination's separator {:?}",
                destination
                    .hierarchy
                    .delimiter
                    .map(String::from)
                    .unwrap_or_default()
            ));
        }
        // Prefer an existing destination folder that differs only in case.
        if let Some(existing) = dst_existing.get(&display(&target).to_lowercase()) {
            if *existing != target {
                note = Some(format!(
                    "matched existing destination folder {:?}",
                    display(existing)
                ));
                target = existing.clone();
            }
        }
        let mut key = display(&target).to_lowercase();
        if let Some(owner) = taken.get(&key) {
            if !merge_ok {
                let base = target.last().cloned().unwrap_or_default();
                let mut n = 2;
                loop {
                    let last = target.len() - 1;
                    target[last] = format!("{base} ({n})");
                    key = display(&target).to_lowercase();
                    if !taken.contains_key(&key) && !dst_existing.contains_key(&key) {
                        break;
                    }
                    n += 1;
                }
                renamed = true;
                note = Some(format!(
                    "renamed: collides case-insensitively with {owner:?}"
                ));
            }
        }
        taken.entry(key).or_insert_with(|| name.clone());
        let destination_wire = destination.hierarchy.encode(&target);
        let exists = dst
            .iter()
            .any(|(_, e)| e.name == destination_wire && selectable(e));
        plan.folders.push(FolderPlan {
            source: name,
            source_wire: src[i].1.name.clone(),
            destination: display(&target),
            destination_wire,
            role,
            exists_on_destination: exists,
            note,
            renamed,
        });
    }

    // Subscriptions follow their folders; subscribed names without a folder
    // are translated the plain way.
    let by_source: BTreeMap<&[u8], &FolderPlan> = plan
        .folders
        .iter()
        .map(|f| (f.source_wire.as_slice(), f))
        .collect();
    let already: HashSet<&[u8]> = destination.subscribed.iter().map(Vec::as_slice).collect();
    let excluded: HashSet<&str> = plan.excluded.iter().map(String::as_str).collect();
    // A \Noselect parent in LSUB is not a subscription of a mailbox (RFC
    // 3501 lists parents of subscribed folders so); servers refuse to
    // subscribe what does not exist (Courier), so it is left out.
    let parents: HashSet<&str> = plan.parents_only.iter().map(String::as_str).collect();
    let mut seen = HashSet::new();
    for wire in &source.subscribed {
        let (name, dwire) = match by_source.get(wire.as_slice()) {
            Some(f) => (f.destination.clone(), f.destination_wire.clone()),
            None => {
                let Ok(path) = source.hierarchy.decode(wire) else {
                    continue;
                };
                let shown = display(&path);
                if excluded.contains(shown.as_str()) || parents.contains(shown.as_str()) {
                    continue;
                }
                let (p, _) = destination.hierarchy.sanitize(&path);
                (display(&p), destination.hierarchy.encode(&p))
            }
        };
        if !already.contains(dwire.as_slice()) && seen.insert(dwire.clone()) {
            plan.subscribe.push((name, dwire));
        }
    }
    plan
}

pub(crate) async fn read_listing(
    s: &mut ImapSession,
    utf8: bool,
) -> Result<Listing, mailport_imap::Error> {
    let ns = s.namespaces().await?.unwrap_or_default();
    let folders = s.list_all().await?;
    let subscribed = s.lsub_all().await?.into_iter().map(|e| e.name).collect();
    let text = |prefix: &[u8]| {
        if utf8 {
            String::from_utf8_lossy(prefix).into_owned()
        } else {
            mailport_mail::utf7::decode(prefix).unwrap_or_default()
        }
    };
    let (prefix, delimiter) = match ns.personal.first() {
        Some(p) => (text(&p.prefix), p.delimiter),
        None => (String::new(), folders.iter().find_map(|f| f.delimiter)),
    };
    let foreign = ns
        .other_users
        .iter()
        .chain(&ns.shared)
        .map(|n| text(&n.prefix))
        .collect();
    Ok(Listing {
        hierarchy: Hierarchy {
            prefix,
            delimiter: delimiter.map(char::from),
            utf8,
            foreign,
        },
        folders,
        subscribed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, attrs: &[&str]) -> ListEntry {
        ListEntry {
            name: name.as_bytes().to_vec(),
            delimiter: None,
            attributes: attrs.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn listing(prefix: &str, d: char, folders: Vec<ListEntry>, subs: &[&str]) -> Listing {
        Listing {
            hierarchy: Hierarchy {
                prefix: prefix.into(),
                delimiter: Some(d),
                utf8: false,
                foreign: Vec::new(),
            },
            folders,
            subscribed: subs.iter().map(|s| s.as_bytes().to_vec()).collect(),
        }
    }

    fn find<'a>(p: &'a Plan, source: &str) -> &'a FolderPlan {
        p.folders
            .iter()
            .find(|f| f.source == source)
            .unwrap_or_else(|| panic!("{source} not in plan: {:#?}", p.folders))
    }

    #[test]
    fn translates_namespace_and_maps_roles() {
        let src = listing(
            "INBOX.",
            '.',
            vec![
                entry("INBOX", &[]),
                entry("INBOX.Gesendete Objekte", &["\\Sent"]),
                entry("INBOX.Entw&APw-rfe", &[]),
                entry("INBOX.Work", &[]),
                entry("INBOX.Work.Projects", &[]),
                entry("INBOX.Old", &["\\Noselect"]),
                entry("INBOX.Old.Letters", &[]),
                entry("INBOX.v1/2", &[]),
            ],
            &[
                "INBOX.Work",
                "INBOX.Gesendete Objekte",
                "INBOX.Gone",
                "INBOX.Old",
            ],
        );
        let dst = listing(
            "",
            '/',
            vec![
                entry("INBOX", &[]),
                entry("Sent", &["\\Sent"]),
                entry("Drafts", &["\\Drafts"]),
            ],
            &["Sent"],
        );
        let p = build(&src, &dst, &PlanOptions::default());
        assert_eq!(p.folders[0].source, "INBOX");
        assert_eq!(find(&p, "Gesendete Objekte").destination, "Sent");
        assert!(find(&p, "Gesendete Objekte").exists_on_destination);
        assert_eq!(find(&p, "Entwürfe").destination, "Drafts");
        assert_eq!(find(&p, "Entwürfe").role, Some(Role::Drafts));
        assert_eq!(find(&p, "Work/Projects").destination_wire, b"Work/Projects");
        assert_eq!(find(&p, "v1/2").destination, "v1_2");
        assert!(find(&p, "v1/2")
            .note
            .as_deref()
            .unwrap()
            .contains("separator"));
        assert_eq!(p.parents_only, vec!["Old"]);
        let subs: Vec<&str> = p.subscribe.iter().map(|(n, _)| n.as_str()).collect();
        // Sent is already subscribed on the destination; Gone has no folder
        // but is kept; Old is a \Noselect parent, not a mailbox.
        assert_eq!(subs, vec!["Work", "Gone"]);
    }

    #[test]
    fn collisions_and_rules() {
        let src = listing(
            "",
            '/',
            vec![
                entry("INBOX", &[]),
                entry("Work", &[]),
                entry("work", &[]),
                entry("Archive", &[]),
                entry("Archive/2020", &[]),
                entry("Spam", &[]),
            ],
            &[],
        );
        let dst = listing("", '/', vec![entry("INBOX", &[]), entry("spam", &[])], &[]);
        let opts = PlanOptions {
            folder_map: vec![("Archive".into(), "Old Mail".into())],
            exclude: Some(Regex::new("^Nothing$").unwrap()),
            ..Default::default()
        };
        let p = build(&src, &dst, &opts);
        assert_eq!(find(&p, "Work").destination, "Work");
        assert_eq!(find(&p, "work").destination, "work (2)");
        assert!(find(&p, "work")
            .note
            .as_deref()
            .unwrap()
            .contains("collides"));
        assert!(find(&p, "work").renamed && !find(&p, "Work").renamed);
        // Mapped or matched to an existing folder is not a rename.
        assert!(!find(&p, "Archive").renamed && !find(&p, "Spam").renamed);
        assert_eq!(find(&p, "Archive").destination, "Old Mail");
        assert_eq!(find(&p, "Archive/2020").destination, "Old Mail/2020");
        let prefixed = PlanOptions {
            folder_map: vec![(String::new(), "Imported".into())],
            ..Default::default()
        };
        let p2 = build(&src, &dst, &prefixed);
        assert_eq!(
            find(&p2, "Archive/2020").destination,
            "Imported/Archive/2020"
        );
        assert_eq!(find(&p2, "INBOX").destination, "Imported/INBOX");
        // Junk by name on both sides, and an existing name in another case.
        assert_eq!(find(&p, "Spam").destination, "spam");
    }

    #[test]
    fn include_exclude() {
        let src = listing(
            "",
            '/',
            vec![
                entry("INBOX", &[]),
                entry("Work", &[]),
                entry("Work/A", &[]),
                entry("Private", &[]),
            ],
            &["Private"],
        );
        let dst = listing("", '/', vec![entry("INBOX", &[])], &[]);
        let opts = PlanOptions {
            exclude: Some(Regex::new("^Private").unwrap()),
            ..Default::default()
        };
        let p = build(&src, &dst, &opts);
        assert_eq!(p.folders.len(), 3);
        assert_eq!(p.excluded, vec!["Private"]);
        assert!(p.subscribe.is_empty());
        let opts = PlanOptions {
            include: Some(Regex::new("^Work").unwrap()),
            ..Default::default()
        };
        let p = build(&src, &dst, &opts);
        assert_eq!(
            p.folders
                .iter()
                .map(|f| f.source.as_str())
                .collect::<Vec<_>>(),
            vec!["Work", "Work/A"]
        );
    }
}
