//! Helpers shared by the CLI test binaries.

/// source = copied + already present + skipped + failed (+ to copy, in a dry run), per folder.
pub fn assert_totals_add_up(j: &serde_json::Value) {
    let sum = |v: &serde_json::Value| {
        v.as_object()
            .map(|o| o.values().filter_map(|n| n.as_u64()).sum::<u64>())
            .unwrap_or(0)
    };
    for f in j["folders"].as_array().unwrap() {
        let parts = f["copied"].as_u64().unwrap()
            + f["already_present"].as_u64().unwrap()
            + f["to_copy"].as_u64().unwrap()
            + sum(&f["skipped"])
            + sum(&f["failed"]);
        assert_eq!(
            f["source_messages"].as_u64().unwrap(),
            parts,
            "totals of {} do not add up: {f}",
            f["source"]
        );
    }
}
