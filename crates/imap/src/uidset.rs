//! UID sets (`sequence-set`, RFC 3501 section 9): compress and expand.

/// Compresses sorted-or-not UIDs into `1:3,7,9:10`.
pub fn compress(uids: &[u32]) -> String {
    let mut v = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Expands a set without `*`, in the order written (APPENDUID order matters).
/// None on syntax errors or absurd ranges.
pub fn expand(set: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                let (lo, hi) = (a.min(b), a.max(b));
                if hi - lo > 10_000_000 {
                    return None;
                }
                out.extend(lo..=hi);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known() {
        assert_eq!(compress(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(expand("3955:3957").unwrap(), vec![3955, 3956, 3957]);
        assert_eq!(expand("5,1:2").unwrap(), vec![5, 1, 2]);
        assert!(expand("1:*").is_none());
        assert!(expand("").is_none());
    }

    proptest! {
        #[test]
        fn round_trip(mut v in proptest::collection::vec(1u32..5000, 1..200)) {
            let s = compress(&v);
            v.sort_unstable();
            v.dedup();
            prop_assert_eq!(expand(&s).unwrap(), v);
        }
    }
}
