//! Async jobs (mmcp.md §10.1, D10): a `/generate` for a model that
//! advertises `supports_async` is validated at once, then run in the
//! background; the client polls `GET /generate/jobs/{id}` and may cancel with
//! `DELETE`. Finished jobs are kept for the retention time (at least five
//! minutes by default), and the table is bounded so a client that never polls
//! cannot grow it without limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::task::AbortHandle;

use crate::error::{ApiError, ErrorCode};
use crate::generate;
use crate::gltf;
use crate::runtime::Progress;
use crate::validate::Validated;

/// Seconds a client is asked to wait between polls.
pub const POLL_AFTER_SECONDS: u64 = 1;

/// How many jobs may be known at once, and how long finished ones are kept.
#[derive(Debug, Clone, Copy)]
pub struct JobLimits {
    pub capacity: usize,
    /// Jobs one token's client may hold (with `--auth-tokens`), so that one
    /// client cannot fill the table for everyone.
    pub per_client: usize,
    pub retention: Duration,
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits {
            capacity: 1024,
            per_client: 256,
            retention: Duration::from_secs(300),
        }
    }
}

/// What a poll finds.
pub enum Poll {
    /// Still running, with the backbone's latest progress report (D13).
    Running(Option<(u32, u32)>),
    Done(gltf::Document),
    Failed(ApiError),
}

enum State {
    Running(AbortHandle, Arc<Progress>),
    Done(gltf::Document),
    Failed(ApiError),
}

struct Job {
    state: State,
    /// When the job finished; running jobs never expire.
    finished: Option<Instant>,
    /// The client that submitted it (with `--auth-tokens`): only it may
    /// poll or delete the job; to anyone else the id is unknown.
    owner: Option<String>,
}

/// How many jobs the table holds, by state (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub running: usize,
    pub done: usize,
    pub failed: usize,
}

impl JobCounts {
    /// The states, as `/metrics` names them.
    pub const STATES: [&'static str; 3] = ["running", "done", "failed"];

    /// (state, count) in the order of [`JobCounts::STATES`].
    pub fn by_state(self) -> [(&'static str, usize); 3] {
        let [running, done, failed] = Self::STATES;
        [
            (running, self.running),
            (done, self.done),
            (failed, self.failed),
        ]
    }
}

/// A submitted job: its id and when it was accepted (RFC 3339).
pub struct Submitted {
    pub id: String,
    pub submitted_at: String,
}

pub struct Jobs {
    table: Mutex<HashMap<String, Job>>,
    limits: JobLimits,
}

impl Jobs {
    pub fn new(limits: JobLimits) -> Self {
        Jobs {
            table: Mutex::new(HashMap::new()),
            limits,
        }
    }

    /// Starts `valid` in the background for `owner`, or refuses when the
    /// table is full.
    pub fn submit(
        self: &Arc<Self>,
        mut valid: Validated,
        owner: Option<String>,
    ) -> Result<Submitted, ApiError> {
        let id = new_id();
        let mut table = self.lock();
        self.sweep(&mut table);
        if table.len() >= self.limits.capacity {
            return Err(ApiError::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "the job table is full ({} jobs): fetch or delete finished jobs, or retry later",
                    self.limits.capacity
                ),
            )
            .with_details(json!({"max_jobs": self.limits.capacity})));
        }
        if let Some(client) = &owner {
            let held = table
                .values()
                .filter(|job| job.owner.as_ref() == Some(client))
                .count();
            if held >= self.limits.per_client {
                return Err(ApiError::new(
                    ErrorCode::ResourceExhausted,
                    format!(
                        "client {client} holds {held} jobs, its most: fetch or delete finished jobs, or retry later"
                    ),
                )
                .with_details(json!({"max_jobs_per_client": self.limits.per_client})));
            }
        }
        let progress = Progress::new();
        valid.progress = Some(Arc::clone(&progress));
        let jobs = Arc::clone(self);
        let job_id = id.clone();
        // The table lock is held until the entry exists, so the task's
        // completion always finds it (unless the job was deleted).
        let task = tokio::spawn(async move {
            let outcome = generate::run(&valid).await;
            jobs.finish(&job_id, outcome);
        });
        table.insert(
            id.clone(),
            Job {
                state: State::Running(task.abort_handle(), progress),
                finished: None,
                owner,
            },
        );
        tracing::info!(job = %id, "job submitted");
        Ok(Submitted {
            id,
            submitted_at: rfc3339(SystemTime::now()),
        })
    }

    fn finish(&self, id: &str, outcome: Result<gltf::Document, ApiError>) {
        let mut table = self.lock();
        if let Some(job) = table.get_mut(id) {
            job.state = match outcome {
                Ok(doc) => State::Done(doc),
                Err(e) => State::Failed(e),
            };
            job.finished = Some(Instant::now());
            tracing::info!(job = %id, "job finished");
        }
    }

    /// The job's state, or `None` for an unknown or expired id, or one
    /// another client submitted.
    pub fn poll(&self, id: &str, client: Option<&str>) -> Option<Poll> {
        let mut table = self.lock();
        self.sweep(&mut table);
        let job = table.get(id).filter(|job| job.owner.as_deref() == client)?;
        Some(match &job.state {
            State::Running(_, progress) => Poll::Running(progress.get()),
            State::Done(doc) => Poll::Done(doc.clone()),
            State::Failed(e) => Poll::Failed(e.clone()),
        })
    }

    /// Forgets the job, stopping it if it is still running; false when unknown.
    /// A backbone call already under way runs to its end (its instance goes
    /// back to the pool) but its result is dropped.
    pub fn cancel(&self, id: &str, client: Option<&str>) -> bool {
        let mut table = self.lock();
        self.sweep(&mut table);
        if table
            .get(id)
            .is_some_and(|job| job.owner.as_deref() != client)
        {
            return false;
        }
        match table.remove(id) {
            Some(job) => {
                if let State::Running(task, _) = job.state {
                    task.abort();
                }
                tracing::info!(job = %id, "job deleted");
                true
            }
            None => false,
        }
    }

    /// The jobs known now (expired ones swept first), by state.
    pub fn counts(&self) -> JobCounts {
        let mut table = self.lock();
        self.sweep(&mut table);
        let mut counts = JobCounts::default();
        for job in table.values() {
            match job.state {
                State::Running(..) => counts.running += 1,
                State::Done(_) => counts.done += 1,
                State::Failed(_) => counts.failed += 1,
            }
        }
        counts
    }

    /// Drops finished jobs older than the retention time.
    fn sweep(&self, table: &mut HashMap<String, Job>) {
        let retention = self.limits.retention;
        table.retain(|_, job| job.finished.is_none_or(|t| t.elapsed() < retention));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// 128 random bits: knowing an id is what lets a client read or delete the
/// job, so ids must not be guessable.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `2026-11-22T13:38:29Z` (UTC, whole seconds).
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // 2000-02-29 (a leap day in a century year) 12:34:56.
        let t = UNIX_EPOCH + Duration::from_secs(951_827_696);
        assert_eq!(rfc3339(t), "2000-02-29T12:34:56Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_354_709);
        assert_eq!(rfc3339(t), "2026-11-22T13:38:29Z");
    }

    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
