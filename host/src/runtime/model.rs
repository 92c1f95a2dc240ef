//! One loaded model: its id, the spec last read, and its pool of
//! instances. A request borrows an instance on a blocking thread; one whose
//! call broke (a trap, the deadline, a memory cap) is dropped rather than
//! returned, and a fresh one is started from the `InstancePre` when next
//! needed, with `setup` run again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::ComponentExportIndex;

use super::error::CallError;
use super::instance::{GuestState, Live, Outcome};
use super::pool::Pool;
use super::progress::Progress;
use super::tensor::ModelGpu;
use super::{Limits, LoadReport};
use crate::bindings::mmcp::backbone::types as wit;
use crate::bindings::{BackboneWorldPre, ModelSpec, MotionResult};
use crate::metrics::{Cause, ModelMetrics};

/// Something a generation keeps alive until its guest call has ended (a
/// client's generation slot): dropped on the blocking thread with the
/// instance's permit, not when the client leaves.
pub type Hold = Option<Arc<dyn std::any::Any + Send + Sync>>;

/// How long one instance's `teardown` may take at shutdown.
const TEARDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// One loaded model: its spec as last read and its pool of instances.
pub struct Backbone {
    pre: BackboneWorldPre<GuestState>,
    /// `generate-batch`, when the component has a real batch hook.
    batch: Option<ComponentExportIndex>,
    /// Shared by the instances of a model that imports `tensor`.
    gpu: Option<Arc<ModelGpu>>,
    /// The id read after `setup`: the model's key for as long as it is
    /// served, whatever later specs say.
    id: String,
    /// The spec last read (C31): after `setup`, then on every
    /// `/capabilities`. Requests are validated against it, never by a call
    /// into the guest (which would hold an instance per request); readers
    /// take the `Arc`, so a request sees one spec from validation to encoding.
    spec: Mutex<Arc<ModelSpec>>,
    /// `limits` with the short deadline and no result bytes, for re-reading
    /// the spec.
    spec_limits: Limits,
    limits: Limits,
    /// The idle instances and admission to run one.
    pool: Pool<Live>,
    report: LoadReport,
    /// Where its queue waits, call times, instances and failures are recorded.
    metrics: ModelMetrics,
    /// The component's `sha256:<hex>`.
    digest: String,
}

/// A model's requests now: waiting for an instance, and running on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occupancy {
    pub waiting: usize,
    pub running: usize,
}

/// How long a backbone may take to describe itself when `/capabilities` asks
/// again (C31): a spec is a small record, and a slow answer must not stall
/// the endpoint clients discover models with.
const SPEC_DEADLINE: Duration = Duration::from_secs(2);

/// What a model is made of once its first instance has run `setup`.
pub(super) struct Parts {
    pub pre: BackboneWorldPre<GuestState>,
    pub batch: Option<ComponentExportIndex>,
    pub gpu: Option<Arc<ModelGpu>>,
    pub spec: ModelSpec,
    pub first: Live,
    pub limits: Limits,
    pub report: LoadReport,
    pub metrics: ModelMetrics,
    pub digest: String,
}

impl Backbone {
    pub(super) fn new(parts: Parts) -> Backbone {
        let Parts {
            pre,
            batch,
            gpu,
            spec,
            first,
            limits,
            report,
            metrics,
            digest,
        } = parts;
        let spec_limits = Limits {
            deadline: SPEC_DEADLINE.min(limits.deadline),
            result_bytes: 0,
            ..limits.clone()
        };
        Backbone {
            pre,
            batch,
            gpu,
            id: spec.id.clone(),
            spec: Mutex::new(Arc::new(spec)),
            spec_limits,
            pool: Pool::new(first, limits.instances, limits.queue),
            limits,
            report,
            metrics,
            digest,
        }
    }

    /// The model's id, fixed at load.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The spec the server last advertised (or read after `setup`).
    pub fn spec(&self) -> Arc<ModelSpec> {
        Arc::clone(&self.spec.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The backbone's spec as it stands now (C31), asked of an idle
    /// instance when one is free at once; `None` when none is (or it failed
    /// answering, and was dropped). Never waits for an instance and never
    /// starts one, so `/capabilities` stays quick under load and while a
    /// model restarts. Whether the answer is adopted is the registry's call.
    pub async fn read_spec(self: &Arc<Self>) -> Option<ModelSpec> {
        let permit = self.pool.try_admit()?;
        let mut live = self.pool.take()?;
        let asked = self
            .on_blocking_thread(permit, None, move |this| async move {
                match live.capabilities(&this.spec_limits).await {
                    Ok(spec) => {
                        this.pool.put(live);
                        Ok(Some(spec))
                    }
                    Err(e) => {
                        tracing::error!(model = %this.id, error = %e, "capabilities failed; dropping the instance, keeping the last spec");
                        this.metrics.instance_failed(&e);
                        Ok(None)
                    }
                }
            })
            .await;
        asked.unwrap_or_else(|e| {
            tracing::error!(model = %self.id, error = %e, "re-reading the spec did not complete");
            None
        })
    }

    /// Makes `spec` the one requests are validated against.
    pub fn set_spec(&self, spec: ModelSpec) {
        *self.spec.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(spec);
    }

    /// The component's SHA-256 digest, as `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Requests waiting for an instance and calls running now.
    pub fn occupancy(&self) -> Occupancy {
        Occupancy {
            waiting: self.pool.waiting(),
            running: self.pool.running(),
        }
    }

    /// How long loading took, by phase.
    pub fn load_report(&self) -> LoadReport {
        self.report
    }

    /// For a GPU model: the adapter, and its GPU memory in use and quota.
    pub fn gpu_status(&self) -> Option<(crate::gpu::AdapterInfo, u64, u64)> {
        self.gpu
            .as_ref()
            .map(|g| (g.gpu.describe(), g.quota.used(), g.quota.limit()))
    }

    /// Runs `generate` on a blocking thread under the model's limits, its
    /// progress reports going to `progress`. A trap costs this request only:
    /// its instance is dropped, and a fresh one is set up when next needed.
    pub async fn generate(
        self: &Arc<Self>,
        request: wit::GenerateRequest,
        hold: Hold,
        progress: Option<Arc<Progress>>,
    ) -> Result<MotionResult, CallError> {
        self.off_workers(hold, move |this| async move {
            this.generate_here(request, progress).await
        })
        .await
    }

    /// Admits a call, then runs it on a blocking thread.
    async fn off_workers<T, F>(
        self: &Arc<Self>,
        hold: Hold,
        call: impl FnOnce(Arc<Self>) -> F + Send + 'static,
    ) -> Result<T, CallError>
    where
        F: std::future::Future<Output = Result<T, CallError>>,
        T: Send + 'static,
    {
        let asked = Instant::now();
        let permit = self.pool.admit(&self.id).await?;
        self.metrics.queued(asked.elapsed());
        self.on_blocking_thread(permit, hold, call).await
    }

    /// Runs an admitted call on a blocking thread. The permit (and `hold`)
    /// move into the call: they are released when the guest is done, even
    /// if the client has gone away meanwhile.
    async fn on_blocking_thread<T, F>(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        hold: Hold,
        call: impl FnOnce(Arc<Self>) -> F + Send + 'static,
    ) -> Result<T, CallError>
    where
        F: std::future::Future<Output = Result<T, CallError>>,
        T: Send + 'static,
    {
        let this = Arc::clone(self);
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let _held = (permit, hold);
            handle.block_on(call(this))
        })
        .await
        .map_err(|e| {
            // The call panicked in the host (or was cancelled): whatever
            // instance it held is gone.
            self.metrics.failed(Cause::Host);
            CallError::Host {
                why: format!("backbone call did not complete: {e}"),
            }
        })?
    }

    async fn generate_here(
        &self,
        request: wit::GenerateRequest,
        progress: Option<Arc<Progress>>,
    ) -> Result<MotionResult, CallError> {
        let mut live = self.borrow().await?;
        let started = Instant::now();
        let outcome = live.generate(&request, &self.limits, progress).await;
        self.metrics.generated(started.elapsed());
        self.give_back(live, outcome)?
    }

    /// Whether the backbone runs a batch body's items for it in one call.
    pub fn has_batch_hook(&self) -> bool {
        self.batch.is_some()
    }

    /// Runs `requests` (one batch body's valid items for this model) through
    /// the backbone's batch hook on one instance, under one admission: one
    /// answer per request, or the error every item of the group gets (the
    /// call trapped, or returned the wrong number of results).
    pub async fn generate_batch(
        self: &Arc<Self>,
        requests: Vec<wit::GenerateRequest>,
        hold: Hold,
    ) -> Result<Vec<Result<MotionResult, CallError>>, CallError> {
        self.off_workers(hold, move |this| async move {
            let asked = requests.len();
            let mut live = this.borrow().await?;
            let started = Instant::now();
            let outcome = live.generate_batch(requests, &this.limits).await;
            this.metrics.generated(started.elapsed());
            match this.give_back(live, outcome)? {
                Some(results) if results.len() == asked => Ok(results),
                answer => Err(CallError::Host {
                    why: format!(
                        "generate_batch returned {} results for {asked} requests",
                        answer.map_or(0, |r| r.len())
                    ),
                }),
            }
        })
        .await
    }

    /// An idle instance, or a fresh one.
    async fn borrow(&self) -> Result<Live, CallError> {
        let idle = self.pool.take();
        match idle {
            Some(live) => Ok(live),
            None => self.fresh().await,
        }
    }

    /// Returns an instance whose call returned to the pool; one that
    /// trapped is dropped.
    fn give_back<T>(&self, live: Live, outcome: Outcome<T>) -> Result<T, CallError> {
        match outcome {
            Outcome::Done(answer) => {
                self.pool.put(live);
                Ok(answer)
            }
            Outcome::Broken(error) => {
                tracing::error!(model = %self.id, error = %error, "backbone instance failed; dropping it");
                self.metrics.instance_failed(&error);
                Err(error)
            }
        }
    }

    /// A new instance with `setup` run; the model is unavailable while that fails.
    async fn fresh(&self) -> Result<Live, CallError> {
        let started = async {
            let mut live = Live::start(
                &self.pre,
                self.batch.as_ref(),
                &self.limits,
                self.gpu.as_ref(),
            )
            .await
            .map_err(|e| unavailable(&self.id, &e))?;
            live.setup(&self.limits)
                .await
                .map_err(|e| unavailable(&self.id, &e))?;
            Ok(live)
        };
        match started.await {
            Ok(mut live) => {
                live.count(self.metrics.instance_started());
                Ok(live)
            }
            Err(e) => {
                self.metrics.failed(Cause::Setup);
                Err(e)
            }
        }
    }

    /// Calls `teardown` on every idle instance, each under a short deadline
    /// (shutdown must not wait on guest code); failures are logged, never fatal.
    pub async fn teardown(&self) {
        let instances = self.pool.drain();
        let count = instances.len();
        let limits = Limits {
            deadline: self.limits.deadline.min(TEARDOWN_DEADLINE),
            ..self.limits.clone()
        };
        for mut live in instances {
            live.teardown(&limits).await;
        }
        // With "model ready" at load, the log shows the lifecycle order.
        tracing::info!(model = %self.id, instances = count, "model torn down");
    }
}

fn unavailable(model: &str, why: &dyn std::fmt::Display) -> CallError {
    CallError::Unavailable {
        why: format!("model {model} could not be restarted after a failure: {why:#}"),
    }
}
