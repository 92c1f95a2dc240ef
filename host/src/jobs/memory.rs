//! The default job store: one table in this process. Jobs run here and are
//! known only here; a restart forgets them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::task::AbortHandle;

use super::{client_full, table_full, JobCounts, JobLimits, Poll};
use crate::error::ApiError;
use crate::generate;
use crate::gltf;
use crate::runtime::Progress;
use crate::validate::Validated;

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

pub struct Table {
    table: Mutex<HashMap<String, Job>>,
    limits: JobLimits,
}

impl Table {
    pub fn new(limits: JobLimits) -> Self {
        Table {
            table: Mutex::new(HashMap::new()),
            limits,
        }
    }

    /// Starts `valid` in the background as job `id`, or refuses when the
    /// table (or the client's share of it) is full.
    pub fn submit(
        self: &Arc<Self>,
        id: &str,
        mut valid: Validated,
        owner: Option<String>,
    ) -> Result<(), ApiError> {
        let mut table = self.lock();
        self.sweep(&mut table);
        if table.len() >= self.limits.capacity {
            return Err(table_full(self.limits.capacity));
        }
        if let Some(client) = &owner {
            let held = table
                .values()
                .filter(|job| job.owner.as_ref() == Some(client))
                .count();
            if held >= self.limits.per_client {
                return Err(client_full(client, held, self.limits.per_client));
            }
        }
        let progress = Progress::new();
        valid.progress = Some(Arc::clone(&progress));
        let jobs = Arc::clone(self);
        let job_id = id.to_owned();
        // The table lock is held until the entry exists, so the task's
        // completion always finds it (unless the job was deleted).
        let task = tokio::spawn(async move {
            let outcome = generate::run(&valid).await;
            jobs.finish(&job_id, outcome);
        });
        table.insert(
            id.to_owned(),
            Job {
                state: State::Running(task.abort_handle(), progress),
                finished: None,
                owner,
            },
        );
        Ok(())
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
