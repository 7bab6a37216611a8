//! Progress on stderr: bars on a terminal, plain log lines otherwise.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mailport_engine::plan::Plan;
use mailport_engine::Event;
use mailport_engine::{FolderReport, Progress};

use crate::summary::{count, human_bytes, outcome_line};

pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    folders: Mutex<HashMap<usize, ProgressBar>>,
    names: Mutex<Vec<String>>,
    /// Folders read so far (their sizes are in the total).
    started: Mutex<usize>,
    dry_run: bool,
}

impl Bars {
    pub fn new(dry_run: bool) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let overall = multi.add(ProgressBar::new(0));
        // No bar until something is to be copied: an empty total draws as full.
        overall.set_style(
            ProgressStyle::with_template("{prefix:<24.bold} {msg}").expect("valid template"),
        );
        overall.set_prefix("total");
        overall.set_message("reading folders...");
        overall.enable_steady_tick(Duration::from_millis(250));
        Bars {
            multi,
            overall,
            folders: Mutex::new(HashMap::new()),
            names: Mutex::new(Vec::new()),
            started: Mutex::new(0),
            dry_run,
        }
    }

    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl Progress for Bars {
    fn planned(&self, plan: &Plan) {
        *self.names.lock().expect("lock") = plan.folders.iter().map(|f| f.source.clone()).collect();
    }
    fn folder_started(&self, index: usize, messages: u64, bytes: u64) {
        if self.overall.length() == Some(0) && bytes > 0 {
            self.overall.set_style(
                ProgressStyle::with_template("{prefix:<24.bold} [{bar:30.cyan/blue}] {decimal_bytes}/{decimal_total_bytes} {msg} {decimal_bytes_per_sec} ETA {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
        }
        self.overall.inc_length(bytes);
        // The total grows as folders are read: say how far that is.
        let folders = self.names.lock().expect("lock").len();
        let mut started = self.started.lock().expect("lock");
        *started += 1;
        self.overall.set_message(if *started < folders {
            format!("({started} of {folders} folders read)")
        } else {
            String::new()
        });
        drop(started);
        if messages == 0 {
            return;
        }
        let name = self
            .names
            .lock()
            .expect("lock")
            .get(index)
            .cloned()
            .unwrap_or_default();
        let bar = self.multi.add(ProgressBar::new(bytes));
        bar.set_style(
            ProgressStyle::with_template("{prefix:<24.dim} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} {msg} {decimal_bytes_per_sec} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(truncate(&name, 24));
        bar.set_message(format!("0/{messages} msgs"));
        bar.set_length(bytes);
        self.folders.lock().expect("lock").insert(index, bar);
    }
    fn bytes(&self, index: usize, n: u64) {
        self.overall.inc(n);
        if let Some(b) = self.folders.lock().expect("lock").get(&index) {
            b.inc(n);
        }
    }
    fn messages(&self, index: usize, n: u64) {
        if let Some(b) = self.folders.lock().expect("lock").get(&index) {
            let done: u64 = b
                .message()
                .split('/')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
                + n;
            let total = b
                .message()
                .split('/')
                .nth(1)
                .map(|s| s.trim_end_matches(" msgs").to_string())
                .unwrap_or_default();
            b.set_message(format!("{done}/{total} msgs"));
        }
    }
    fn folder_finished(&self, index: usize, report: &FolderReport) {
        if let Some(b) = self.folders.lock().expect("lock").remove(&index) {
            b.finish_and_clear();
        }
        let _ = self.multi.println(outcome_line(report, self.dry_run));
    }
    fn event(&self, event: &Event) {
        let _ = self.multi.println(said(event));
    }
}

/// Plain lines for logs and pipes.
pub struct Lines {
    names: Mutex<Vec<String>>,
    dry_run: bool,
}

impl Lines {
    pub fn new(dry_run: bool) -> Self {
        Lines {
            names: Mutex::new(Vec::new()),
            dry_run,
        }
    }
}

impl Progress for Lines {
    fn planned(&self, plan: &Plan) {
        *self.names.lock().expect("lock") = plan.folders.iter().map(|f| f.source.clone()).collect();
        eprintln!("planned {}", count(plan.folders.len() as u64, "folder"));
    }
    fn folder_started(&self, index: usize, messages: u64, bytes: u64) {
        let name = self
            .names
            .lock()
            .expect("lock")
            .get(index)
            .cloned()
            .unwrap_or_default();
        eprintln!(
            "folder {name}: {} to copy, {}",
            count(messages, "message"),
            human_bytes(bytes)
        );
    }
    fn folder_finished(&self, _index: usize, report: &FolderReport) {
        eprintln!("{}", outcome_line(report, self.dry_run));
    }
    fn event(&self, event: &Event) {
        eprintln!("{}", said(event));
    }
}

/// An event as mailport says everything: `mailport: warning: ...`.
pub fn said(event: &Event) -> String {
    let level = if event.kind.is_note() {
        "note"
    } else {
        "warning"
    };
    format!("mailport: {level}: {}", event.kind)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
