//! Progress reports from a guest (`wit/progress.wit`): the latest
//! `done`/`total` of the call under way, read by whoever waits on it (an
//! async job's polls, the command line's progress bar).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::instance::GuestState;
use crate::bindings::mmcp::backbone::progress;

/// The latest report of one generation. Both numbers live in one atomic, so
/// a reader never sees the `done` of one report with the `total` of another.
#[derive(Debug, Default)]
pub struct Progress {
    /// `total << 32 | done`; 0 until the first report (a report's total is
    /// never 0).
    packed: AtomicU64,
}

impl Progress {
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress::default())
    }

    /// Records `done` of `total`; a `total` of 0 is ignored and `done` is
    /// clamped to `total`, so readers always see `0 <= done <= total > 0`.
    pub fn report(&self, done: u32, total: u32) {
        if total == 0 {
            return;
        }
        let packed = (u64::from(total) << 32) | u64::from(done.min(total));
        self.packed.store(packed, Ordering::Relaxed);
    }

    /// `(done, total)` of the latest report, if any.
    pub fn get(&self) -> Option<(u32, u32)> {
        match self.packed.load(Ordering::Relaxed) {
            0 => None,
            packed => Some((packed as u32, (packed >> 32) as u32)),
        }
    }
}

/// A report outside a watched call (`setup`, a batch) goes nowhere.
impl progress::Host for GuestState {
    fn report(&mut self, done: u32, total: u32) -> wasmtime::Result<()> {
        if let Some(progress) = &self.progress {
            progress.report(done, total);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_read_whole_and_clamped() {
        let p = Progress::default();
        assert_eq!(p.get(), None);
        p.report(3, 10);
        assert_eq!(p.get(), Some((3, 10)));
        p.report(12, 10);
        assert_eq!(p.get(), Some((10, 10)));
        p.report(5, 0);
        assert_eq!(p.get(), Some((10, 10)), "a zero total is ignored");
        p.report(u32::MAX, u32::MAX);
        assert_eq!(p.get(), Some((u32::MAX, u32::MAX)));
    }
}
