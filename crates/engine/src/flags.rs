//! Flag changes of destination copies, grouped into as few `STORE`s as
//! possible (protocol-free: the destination session applies them).

use std::collections::BTreeMap;

/// Flags of one destination copy: as last carried, and as the source has them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    pub uid: u32,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

impl FlagChange {
    /// Flags the source gained and lost.
    pub fn delta(&self) -> (Vec<String>, Vec<String>) {
        let missing_from = |a: &[String], b: &[String]| {
            let mut v: Vec<String> = a.iter().filter(|f| !b.contains(f)).cloned().collect();
            v.sort();
            v
        };
        (
            missing_from(&self.after, &self.before),
            missing_from(&self.before, &self.after),
        )
    }
}

/// `changes` as few `+FLAGS`/`-FLAGS` groups as possible: UIDs (sorted) per
/// distinct set of flags to add, then per distinct set to remove. A delta pass
/// changes flags on many messages the same way, and each STORE is a round trip
/// and a transaction on the destination.
pub fn flag_groups(changes: &[FlagChange]) -> Vec<(bool, Vec<String>, Vec<u32>)> {
    let mut add: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
    let mut remove: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
    for c in changes {
        let (plus, minus) = c.delta();
        if !plus.is_empty() {
            add.entry(plus).or_default().push(c.uid);
        }
        if !minus.is_empty() {
            remove.entry(minus).or_default().push(c.uid);
        }
    }
    let group = |adding: bool, m: BTreeMap<Vec<String>, Vec<u32>>| {
        m.into_iter().map(move |(flags, mut uids)| {
            uids.sort_unstable();
            (adding, flags, uids)
        })
    };
    group(true, add).chain(group(false, remove)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(uid: u32, before: &[&str], after: &[&str]) -> FlagChange {
        let v = |s: &[&str]| s.iter().map(|f| f.to_string()).collect();
        FlagChange {
            uid,
            before: v(before),
            after: v(after),
        }
    }

    #[test]
    fn same_changes_on_different_flag_sets_make_one_store() {
        // Three messages with different flags all gain the same keyword.
        let changes = [
            change(7, &["\\Seen"], &["$Changed", "\\Seen"]),
            change(3, &[], &["$Changed"]),
            change(
                5,
                &["$Forwarded", "\\Answered"],
                &["$Changed", "$Forwarded", "\\Answered"],
            ),
        ];
        assert_eq!(
            flag_groups(&changes),
            vec![(true, vec!["$Changed".to_string()], vec![3, 5, 7])]
        );
    }

    #[test]
    fn additions_and_removals_are_grouped_apart() {
        let changes = [
            change(1, &["\\Seen"], &["\\Flagged"]),
            change(2, &["\\Seen", "\\Draft"], &["\\Draft"]),
            change(3, &[], &["\\Flagged"]),
            change(4, &["\\Seen"], &["\\Seen"]),
        ];
        assert_eq!(
            flag_groups(&changes),
            vec![
                (true, vec!["\\Flagged".to_string()], vec![1, 3]),
                (false, vec!["\\Seen".to_string()], vec![1, 2]),
            ]
        );
    }
}
