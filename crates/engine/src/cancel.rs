//! Stopping a copy early (Ctrl-C): workers finish the batch they are
//! copying, record it, and take no more; the report says what was left.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why the messages a stopped copy did not reach were not copied.
pub const INTERRUPTED: &str = "interrupted before it was copied (run the same command again)";

/// Shared by whoever may stop a copy and the copy's workers.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
