//! What a copy tells its caller while it runs.

use crate::plan::Plan;
use crate::report::FolderReport;

/// Receives progress; called from several workers at once.
pub trait Progress: Send + Sync {
    fn planned(&self, _plan: &Plan) {}
    /// Folder `index` of the plan starts: messages and bytes it will copy.
    fn folder_started(&self, _index: usize, _messages: u64, _bytes: u64) {}
    /// Body bytes streamed for folder `index`.
    fn bytes(&self, _index: usize, _n: u64) {}
    /// Messages confirmed by the destination for folder `index`.
    fn messages(&self, _index: usize, _n: u64) {}
    fn folder_finished(&self, _index: usize, _report: &FolderReport) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {}
