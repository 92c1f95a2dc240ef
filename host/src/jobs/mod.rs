//! Async jobs (mmcp.md §10.1, D10): a `/generate` for a model that
//! advertises `supports_async` is validated at once, then run in the
//! background; the client polls `GET /generate/jobs/{id}` and may cancel with
//! `DELETE`. Finished jobs are kept for the retention time (at least five
//! minutes by default), and the table is bounded so a client that never polls
//! cannot grow it without limit.
//!
//! Where jobs are recorded is the store's business: this process's memory
//! (the default, `memory`), or Redis shared by replicas (`redis_store`). A
//! job always runs on the replica that accepted it.

mod memory;
mod redis_store;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::error::{ApiError, ErrorCode};
use crate::gltf;
use crate::validate::Validated;

pub use redis_store::RedisOptions;

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

/// The jobs of this server, in whichever store it was given.
pub struct Jobs {
    store: Store,
}

enum Store {
    Memory(Arc<memory::Table>),
    Redis(Arc<redis_store::Remote>),
}

impl Jobs {
    /// Jobs in this process's memory.
    pub fn in_memory(limits: JobLimits) -> Self {
        Jobs {
            store: Store::Memory(Arc::new(memory::Table::new(limits))),
        }
    }

    /// Jobs shared through Redis with every replica given the same store;
    /// fails when Redis cannot be reached now.
    pub async fn on_redis(limits: JobLimits, options: RedisOptions) -> anyhow::Result<Self> {
        Ok(Jobs {
            store: Store::Redis(redis_store::Remote::connect(limits, options).await?),
        })
    }

    /// Starts `valid` in the background for `owner`, or refuses when the
    /// table is full.
    pub async fn submit(
        &self,
        valid: Validated,
        owner: Option<String>,
    ) -> Result<Submitted, ApiError> {
        let id = new_id();
        let submitted_at = rfc3339(SystemTime::now());
        match &self.store {
            Store::Memory(table) => table.submit(&id, valid, owner)?,
            Store::Redis(remote) => remote.submit(&id, &submitted_at, valid, owner).await?,
        }
        tracing::info!(job = %id, "job submitted");
        Ok(Submitted { id, submitted_at })
    }

    /// The job's state, or `None` for an unknown or expired id, or one
    /// another client submitted.
    pub async fn poll(&self, id: &str, client: Option<&str>) -> Result<Option<Poll>, ApiError> {
        match &self.store {
            Store::Memory(table) => Ok(table.poll(id, client)),
            Store::Redis(remote) => remote.poll(id, client).await,
        }
    }

    /// Forgets the job, stopping it if it is still running; false when unknown.
    /// A backbone call already under way runs to its end (its instance goes
    /// back to the pool) but its result is dropped.
    pub async fn cancel(&self, id: &str, client: Option<&str>) -> Result<bool, ApiError> {
        let gone = match &self.store {
            Store::Memory(table) => table.cancel(id, client),
            Store::Redis(remote) => remote.cancel(id, client).await?,
        };
        if gone {
            tracing::info!(job = %id, "job deleted");
        }
        Ok(gone)
    }

    /// On shutdown: with a shared store, waits (at most `within`) for this
    /// replica's running jobs, then fails the rest at once in the store, so
    /// their clients need not wait for the lease to lapse. In memory, jobs
    /// end with the process: nothing to wait for.
    pub async fn drain(&self, within: Duration) {
        if let Store::Redis(remote) = &self.store {
            remote.drain(within).await;
        }
    }

    /// The jobs by state, for `/metrics`: all of them in memory; with Redis,
    /// those this replica runs or finished within the retention time.
    pub fn counts(&self) -> JobCounts {
        match &self.store {
            Store::Memory(table) => table.counts(),
            Store::Redis(remote) => remote.counts(),
        }
    }
}

/// The refusal when the table holds `capacity` jobs.
fn table_full(capacity: usize) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceExhausted,
        format!(
            "the job table is full ({capacity} jobs): fetch or delete finished jobs, or retry later"
        ),
    )
    .with_details(json!({"max_jobs": capacity}))
}

/// The refusal when `client` holds its most jobs.
fn client_full(client: &str, held: usize, per_client: usize) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceExhausted,
        format!("client {client} holds {held} jobs, its most: fetch or delete finished jobs, or retry later"),
    )
    .with_details(json!({"max_jobs_per_client": per_client}))
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
