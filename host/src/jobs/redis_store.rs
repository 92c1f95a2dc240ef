//! Jobs shared by replicas through Redis (`--job-store redis://...`; Valkey
//! works the same). A job runs on the replica that accepted it; its state and
//! answer live in Redis, so any replica answers its polls and deletes.
//!
//! Keys, under the prefix (`mmcp:` by default):
//! - `job:{id}`: a hash (`state` running|done|failed, `owner`, `replica`,
//!   `submitted_at`, progress `done`/`total`, then `gltf` and `bin` or
//!   `error`). It expires the retention time after the job finished; while
//!   running, its expiry is pushed forward with the lease.
//! - `lease:{id}`: exists while the replica running the job renews it (every
//!   third of the lease). A poll that finds a running job without its lease
//!   fails the job: its replica is gone and nobody else can finish it.
//! - `jobs` and `owner:{client}`: sorted sets of ids, scored by the time
//!   (Redis's clock, ms) they stop counting toward `--max-jobs` and the
//!   client's share; so the bound holds across replicas.
//!
//! Every change is one Lua script, so no replica sees half of one, and every
//! time is the Redis server's, so the replicas' clocks need not agree.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use serde_json::{json, Value};
use tokio::task::AbortHandle;

use super::{client_full, table_full, JobCounts, JobLimits, Poll};
use crate::error::{ApiError, ErrorCode};
use crate::generate;
use crate::gltf;
use crate::runtime::Progress;
use crate::validate::Validated;

/// How long one Redis command may take before the request it serves gets a
/// retryable `503` (the connection manager reconnects meanwhile).
const COMMAND_DEADLINE: Duration = Duration::from_secs(2);

/// Where the store is and how jobs hold it.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: String,
    /// How long a running job stays alive in the store without its replica
    /// renewing it: after a replica dies, its jobs fail within this.
    pub lease: Duration,
    /// Put before every key, so several services can share one Redis.
    pub prefix: String,
}

/// A job running on this replica.
struct Local {
    abort: AbortHandle,
    progress: Arc<Progress>,
    owner: Option<String>,
}

pub struct Remote {
    conn: ConnectionManager,
    options: RedisOptions,
    limits: JobLimits,
    /// Names this replica in leases and in the failure of its lost jobs.
    replica: String,
    local: Mutex<HashMap<String, Local>>,
    /// Jobs this replica finished (when, and whether they succeeded) within
    /// the retention time, for `/metrics`; at most `capacity` kept.
    finished: Mutex<VecDeque<(Instant, bool)>>,
}

/// `now_ms()`: the Redis server's clock; `stretch(key, ms)`: makes `key`
/// live at least `ms` more.
const LUA_PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function stretch(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
-- A job's entries in the bounds (KEYS[1], and KEYS[2] when it has an
-- owner) now count until until_ms.
local function count_until(id, has_owner, until_ms, ttl)
  redis.call('ZADD', KEYS[1], 'XX', until_ms, id)
  if has_owner == '1' then
    redis.call('ZADD', KEYS[2], 'XX', until_ms, id)
    stretch(KEYS[2], ttl)
  end
end
"#;

/// KEYS: jobs, owner set, job, lease. ARGV: id, capacity, per-client,
/// lease ms, retention ms, owner, has owner, replica, submitted at.
static SUBMIT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
local lease, retention = tonumber(ARGV[4]), tonumber(ARGV[5])
local until_ms = now + lease + retention
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[2]) then return {'full', tostring(n)} end
if ARGV[7] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local held = redis.call('ZCARD', KEYS[2])
  if held >= tonumber(ARGV[3]) then return {'client', tostring(held)} end
  redis.call('ZADD', KEYS[2], until_ms, ARGV[1])
  stretch(KEYS[2], lease + retention)
end
redis.call('ZADD', KEYS[1], until_ms, ARGV[1])
redis.call('HSET', KEYS[3], 'state', 'running', 'owner', ARGV[6], 'replica', ARGV[8],
  'submitted_at', ARGV[9], 'done', '0', 'total', '0')
redis.call('PEXPIRE', KEYS[3], lease + retention)
redis.call('SET', KEYS[4], ARGV[8], 'PX', lease)
return {'ok'}
"#,
    )
});

/// KEYS: jobs, owner set, job, lease. ARGV: id, lease ms, retention ms,
/// has owner, done, total, replica. 0 when the job is no longer this
/// replica's to run (deleted, or failed as lost).
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local f = redis.call('HMGET', KEYS[3], 'state', 'replica')
if f[1] ~= 'running' or f[2] ~= ARGV[7] then return 0 end
local lease, retention = tonumber(ARGV[2]), tonumber(ARGV[3])
local until_ms = now_ms() + lease + retention
redis.call('SET', KEYS[4], ARGV[7], 'PX', lease)
redis.call('HSET', KEYS[3], 'done', ARGV[5], 'total', ARGV[6])
redis.call('PEXPIRE', KEYS[3], lease + retention)
count_until(ARGV[1], ARGV[4], until_ms, lease + retention)
return 1
"#,
    )
});

/// KEYS: jobs, owner set, job, lease. ARGV: id, retention ms, has owner,
/// replica, outcome (done|failed), payload (glTF JSON or error envelope),
/// buffer. 0 when the job was deleted or failed as lost meanwhile.
static FINISH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local f = redis.call('HMGET', KEYS[3], 'state', 'replica')
if f[1] ~= 'running' or f[2] ~= ARGV[4] then return 0 end
local retention = tonumber(ARGV[2])
if ARGV[5] == 'done' then
  redis.call('HSET', KEYS[3], 'state', 'done', 'gltf', ARGV[6], 'bin', ARGV[7])
else
  redis.call('HSET', KEYS[3], 'state', 'failed', 'error', ARGV[6])
end
redis.call('HDEL', KEYS[3], 'done', 'total')
redis.call('PEXPIRE', KEYS[3], retention)
redis.call('DEL', KEYS[4])
count_until(ARGV[1], ARGV[3], now_ms() + retention, retention)
return 1
"#,
    )
});

/// KEYS: jobs, owner set, job, lease. ARGV: id, owner, has owner,
/// retention ms. A running job whose lease is gone becomes failed here.
static POLL: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local f = redis.call('HMGET', KEYS[3], 'state', 'owner', 'replica')
if not f[1] or f[2] ~= ARGV[2] then return {'none'} end
local state = f[1]
if state == 'running' and redis.call('EXISTS', KEYS[4]) == 0 then
  local replica = f[3] or '?'
  local envelope = cjson.encode({error = {code = 'internal_error',
    message = 'the replica running job ' .. ARGV[1] .. ' (' .. replica ..
      ') was lost before the job finished: submit the request again',
    details = {job_id = ARGV[1], replica = replica}}})
  local retention = tonumber(ARGV[4])
  redis.call('HSET', KEYS[3], 'state', 'failed', 'error', envelope)
  redis.call('HDEL', KEYS[3], 'done', 'total')
  redis.call('PEXPIRE', KEYS[3], retention)
  count_until(ARGV[1], ARGV[3], now_ms() + retention, retention)
  state = 'failed'
end
if state == 'running' then
  local p = redis.call('HMGET', KEYS[3], 'done', 'total')
  return {'running', p[1] or '0', p[2] or '0'}
elseif state == 'done' then
  local p = redis.call('HMGET', KEYS[3], 'gltf', 'bin')
  return {'done', p[1] or '', p[2] or ''}
end
return {'failed', redis.call('HGET', KEYS[3], 'error') or ''}
"#,
    )
});

/// KEYS: jobs, owner set, job, lease. ARGV: id, owner, has owner.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local owner = redis.call('HGET', KEYS[3], 'owner')
if not owner or owner ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[3] == '1' then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1
"#,
    )
});

fn script(body: &str) -> Script {
    Script::new(&format!("{LUA_PRELUDE}{body}"))
}

/// The store's failure as the answer to the request it was serving:
/// retryable, since Redis is reconnected in the background.
fn unavailable(what: &str, cause: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::ModelUnavailable,
        format!("the job store did not answer ({what}): {cause}"),
    )
    .with_details(json!({"job_store": "redis"}))
}

impl Remote {
    /// Connects (failing when Redis does not answer within a few seconds)
    /// and starts renewing the leases of this replica's jobs.
    pub async fn connect(limits: JobLimits, options: RedisOptions) -> anyhow::Result<Arc<Self>> {
        let shown = redacted(&options.url);
        let client = redis::Client::open(options.url.as_str())
            .with_context(|| format!("--job-store {shown} is not a Redis URL"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_DEADLINE))
            .set_response_timeout(Some(COMMAND_DEADLINE))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = tokio::time::timeout(
            COMMAND_DEADLINE * 2,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| anyhow::anyhow!("timed out"))
        .and_then(|c| c.map_err(anyhow::Error::from))
        .with_context(|| format!("cannot reach the job store at {shown}"))?;
        let remote = Arc::new(Remote {
            conn,
            replica: replica_name(),
            options,
            limits,
            local: Mutex::new(HashMap::new()),
            finished: Mutex::new(VecDeque::new()),
        });
        tokio::spawn(renew_leases(Arc::downgrade(&remote)));
        tracing::info!(store = %shown, replica = %remote.replica, "async jobs shared through Redis");
        Ok(remote)
    }

    /// Records job `id` as running on this replica (or refuses when the
    /// shared table or the client's share is full), then starts it.
    pub async fn submit(
        self: &Arc<Self>,
        id: &str,
        submitted_at: &str,
        mut valid: Validated,
        owner: Option<String>,
    ) -> Result<(), ApiError> {
        let mut call = SUBMIT.prepare_invoke();
        self.keys(&mut call, id, owner.as_deref());
        call.arg(id)
            .arg(self.limits.capacity)
            .arg(self.limits.per_client)
            .arg(ms(self.options.lease))
            .arg(ms(self.limits.retention))
            .arg(owner.as_deref().unwrap_or(""))
            .arg(flag(owner.is_some()))
            .arg(&self.replica)
            .arg(submitted_at);
        let answer: Vec<String> = self.run(&call, "submitting a job").await?;
        match answer.first().map(String::as_str) {
            Some("ok") => {}
            Some("full") => return Err(table_full(self.limits.capacity)),
            Some("client") => {
                let held = answer.get(1).and_then(|n| n.parse().ok()).unwrap_or(0);
                let client = owner.as_deref().unwrap_or_default();
                return Err(client_full(client, held, self.limits.per_client));
            }
            other => {
                return Err(ApiError::internal(format!(
                    "the job store answered a submission with {other:?}"
                )))
            }
        }
        let progress = Progress::new();
        valid.progress = Some(Arc::clone(&progress));
        let remote = Arc::clone(self);
        let job_id = id.to_owned();
        // The entry goes in under the lock the task's end also takes, so the
        // end always finds it.
        let mut local = self.lock_local();
        let task = tokio::spawn(async move {
            let outcome = generate::run(&valid).await;
            remote.finish(&job_id, outcome).await;
        });
        local.insert(
            id.to_owned(),
            Local {
                abort: task.abort_handle(),
                progress,
                owner,
            },
        );
        Ok(())
    }

    /// Stores the job's outcome, retrying while its lease would still hold
    /// (past that, polls report the job lost anyway).
    async fn finish(&self, id: &str, outcome: Result<gltf::Document, ApiError>) {
        let Some(local) = self.lock_local().remove(id) else {
            return;
        };
        self.store_outcome(id, local.owner.as_deref(), outcome)
            .await;
    }

    async fn store_outcome(
        &self,
        id: &str,
        owner: Option<&str>,
        outcome: Result<gltf::Document, ApiError>,
    ) {
        let ok = outcome.is_ok();
        let (state, payload, buffer) = match outcome {
            Ok(doc) => {
                let (json, bin) = doc.into_parts();
                ("done", serde_json::to_vec(&json).unwrap_or_default(), bin)
            }
            Err(e) => (
                "failed",
                serde_json::to_vec(&e.envelope()).unwrap_or_default(),
                Vec::new(),
            ),
        };
        let mut call = FINISH.prepare_invoke();
        self.keys(&mut call, id, owner);
        call.arg(id)
            .arg(ms(self.limits.retention))
            .arg(flag(owner.is_some()))
            .arg(&self.replica)
            .arg(state)
            .arg(payload)
            .arg(buffer);
        let give_up = Instant::now() + self.options.lease;
        loop {
            match self.run::<i64>(&call, "storing a job's answer").await {
                Ok(1) => {
                    self.record_finished(ok);
                    tracing::info!(job = %id, "job finished");
                    return;
                }
                Ok(_) => {
                    tracing::info!(job = %id, "job finished after it was deleted; answer dropped");
                    return;
                }
                Err(e) if Instant::now() >= give_up => {
                    tracing::error!(job = %id, error = %e.message, "job's answer lost: the store did not take it");
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    pub async fn poll(&self, id: &str, client: Option<&str>) -> Result<Option<Poll>, ApiError> {
        let mut call = POLL.prepare_invoke();
        self.keys(&mut call, id, client);
        call.arg(id)
            .arg(client.unwrap_or(""))
            .arg(flag(client.is_some()))
            .arg(ms(self.limits.retention));
        let mut answer: Vec<Vec<u8>> = self.run(&call, "polling a job").await?;
        let corrupt = |why: &str| {
            ApiError::internal(format!("the job store holds a damaged job {id}: {why}"))
        };
        let tag = answer.first().map(Vec::as_slice);
        Ok(match tag {
            Some(b"none") => None,
            Some(b"running") => {
                let number = |i: usize| -> u32 {
                    answer
                        .get(i)
                        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                        .unwrap_or(0)
                };
                // This replica's own jobs report their latest progress; the
                // others', what their replica last stored.
                let here = self.lock_local().get(id).map(|l| l.progress.get());
                let stored = (number(2) > 0).then(|| (number(1), number(2)));
                Some(Poll::Running(here.unwrap_or(stored)))
            }
            Some(b"done") if answer.len() == 3 => {
                let bin = answer.pop().unwrap_or_default();
                let json: Value = serde_json::from_slice(&answer[1])
                    .map_err(|e| corrupt(&format!("its glTF does not parse: {e}")))?;
                Some(Poll::Done(gltf::Document::from_parts(json, bin)))
            }
            Some(b"failed") => {
                let envelope: Value = serde_json::from_slice(&answer[1])
                    .map_err(|e| corrupt(&format!("its error does not parse: {e}")))?;
                let error = ApiError::from_envelope(&envelope)
                    .ok_or_else(|| corrupt("its error is not an MMCP envelope"))?;
                Some(Poll::Failed(error))
            }
            _ => return Err(corrupt("an answer of an unknown shape")),
        })
    }

    /// Deletes the job for every replica; the one running it stops it at its
    /// next renewal (at once when that is this one).
    pub async fn cancel(&self, id: &str, client: Option<&str>) -> Result<bool, ApiError> {
        let mut call = DELETE.prepare_invoke();
        self.keys(&mut call, id, client);
        call.arg(id)
            .arg(client.unwrap_or(""))
            .arg(flag(client.is_some()));
        let deleted: i64 = self.run(&call, "deleting a job").await?;
        if deleted == 1 {
            if let Some(local) = self.lock_local().remove(id) {
                local.abort.abort();
            }
        }
        Ok(deleted == 1)
    }

    pub async fn drain(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.lock_local().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left: Vec<(String, Local)> = self.lock_local().drain().collect();
        for (id, local) in left {
            local.abort.abort();
            let cut = ApiError::new(
                ErrorCode::ModelUnavailable,
                format!(
                    "the replica running job {id} ({}) shut down before the job finished: submit the request again",
                    self.replica
                ),
            )
            .with_details(json!({"job_id": id, "replica": self.replica}));
            self.store_outcome(&id, local.owner.as_deref(), Err(cut))
                .await;
        }
    }

    pub fn counts(&self) -> JobCounts {
        let running = self.lock_local().len();
        let mut finished = self.lock_finished();
        let retention = self.limits.retention;
        while finished
            .front()
            .is_some_and(|(t, _)| t.elapsed() >= retention)
        {
            finished.pop_front();
        }
        let done = finished.iter().filter(|(_, ok)| *ok).count();
        JobCounts {
            running,
            done,
            failed: finished.len() - done,
        }
    }

    fn record_finished(&self, ok: bool) {
        let mut finished = self.lock_finished();
        if finished.len() >= self.limits.capacity {
            finished.pop_front();
        }
        finished.push_back((Instant::now(), ok));
    }

    /// Renews the leases of this replica's running jobs; stops the ones that
    /// were deleted (or declared lost) elsewhere.
    async fn renew(&self) {
        let jobs: Vec<_> = self
            .lock_local()
            .iter()
            .map(|(id, l)| (id.clone(), l.owner.clone(), l.progress.get()))
            .collect();
        for (id, owner, progress) in jobs {
            let (done, total) = progress.unwrap_or((0, 0));
            let mut call = RENEW.prepare_invoke();
            self.keys(&mut call, &id, owner.as_deref());
            call.arg(&id)
                .arg(ms(self.options.lease))
                .arg(ms(self.limits.retention))
                .arg(flag(owner.is_some()))
                .arg(done)
                .arg(total)
                .arg(&self.replica);
            match self.run::<i64>(&call, "renewing a job's lease").await {
                Ok(1) => {}
                Ok(_) => {
                    if let Some(local) = self.lock_local().remove(&id) {
                        local.abort.abort();
                        tracing::info!(job = %id, "job deleted through another replica; stopped");
                    }
                }
                Err(e) => {
                    tracing::warn!(job = %id, error = %e.message, "cannot renew the job's lease");
                }
            }
        }
    }

    /// The keys every script takes, in their order.
    fn keys(&self, call: &mut redis::ScriptInvocation<'_>, id: &str, owner: Option<&str>) {
        let p = &self.options.prefix;
        call.key(format!("{p}jobs"))
            .key(format!("{p}owner:{}", owner.unwrap_or("")))
            .key(format!("{p}job:{id}"))
            .key(format!("{p}lease:{id}"));
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        call: &redis::ScriptInvocation<'_>,
        what: &str,
    ) -> Result<T, ApiError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(COMMAND_DEADLINE, call.invoke_async(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(unavailable(what, e)),
            Err(_) => Err(unavailable(
                what,
                format!("no answer within {}s", COMMAND_DEADLINE.as_secs()),
            )),
        }
    }

    fn lock_local(&self) -> std::sync::MutexGuard<'_, HashMap<String, Local>> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_finished(&self) -> std::sync::MutexGuard<'_, VecDeque<(Instant, bool)>> {
        self.finished.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every third of the lease, until the store is dropped.
async fn renew_leases(remote: Weak<Remote>) {
    let Some(period) = remote.upgrade().map(|r| r.options.lease / 3) else {
        return;
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(remote) = remote.upgrade() else {
            return;
        };
        remote.renew().await;
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().max(1) as u64
}

fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}

/// The pod's name on Kubernetes (`HOSTNAME`), or the host's, with the
/// process id and a random suffix: two replicas never share one.
fn replica_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let mut bytes = [0u8; 3];
    let _ = getrandom::fill(&mut bytes);
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}-{}-{suffix}", std::process::id())
}

/// The URL without its password, for logs and messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redacted("redis://app:s3cret@db:6379/2"),
            "redis://app:***@db:6379/2"
        );
        assert_eq!(redacted("redis://db:6379"), "redis://db:6379");
    }
}
