//! What `GET /metrics` exposes, in the Prometheus text format: every metric
//! the server keeps lives here, behind a small API the rest calls
//! ([`Metrics::request`], [`ModelMetrics`]'s `queued`, `generated`,
//! `instance_started`, `instance_failed`, and [`Metrics::render`]).
//!
//! Label sets are bounded: `model` is one of the ids loaded at start (or
//! empty when a request names no loaded model, never the client's text),
//! `endpoint` is a fixed set ([`Endpoint`], never the raw path), `status` is
//! the answer's code, `cause` and `state` are fixed sets. What can be read
//! from the live state at scrape time (requests waiting and running, GPU
//! memory, jobs by state) is read then rather than kept twice.

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry as Exposition, Unit};

use crate::jobs::JobCounts;
use crate::registry::Registry;
use crate::runtime::CallError;

/// The `Content-Type` of a scrape (the Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Request and generation times: from a few milliseconds (the null model,
/// a poll) to the longest a generation may run by default (120 s) and past it.
const DURATION_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Queue waits: most are zero (an instance was free) or short; a long one
/// is the sign to add replicas.
const QUEUE_BUCKETS: [f64; 13] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

fn queue_histogram() -> Histogram {
    Histogram::new(QUEUE_BUCKETS)
}

/// Which route a request took: a fixed set, so a client cannot mint series
/// by inventing paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /generate` with one request (or another method on it).
    Generate,
    /// `POST /generate` with a batch body.
    Batch,
    /// `/generate/jobs/{id}`: polls and deletes.
    Job,
    Capabilities,
    Health,
    Livez,
    Readyz,
    Metrics,
    /// The viewer's files.
    Viewer,
    /// Anything else (404s, redirects).
    Other,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Generate => "generate",
            Endpoint::Batch => "batch",
            Endpoint::Job => "job",
            Endpoint::Capabilities => "capabilities",
            Endpoint::Health => "health",
            Endpoint::Livez => "livez",
            Endpoint::Readyz => "readyz",
            Endpoint::Metrics => "metrics",
            Endpoint::Viewer => "viewer",
            Endpoint::Other => "other",
        }
    }
}

impl EncodeLabelValue for Endpoint {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        self.as_str().encode(encoder)
    }
}

/// Why an instance was dropped (or a replacement never became one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// Ran past its deadline, in wasm or waiting on the GPU.
    Timeout,
    /// Grew its linear memory past `--memory-mb`.
    Memory,
    /// Allocated GPU memory past `--gpu-memory-mb`.
    GpuMemory,
    /// Returned more than `--max-result-mb` (refused while copied out).
    ResultTooLarge,
    /// Trapped: a panic, an unreachable, a stack overflow, a failed host call.
    Trap,
    /// A replacement instance failed to start or in its `setup`.
    Setup,
    /// The host's own plumbing failed around the call.
    Host,
}

impl Cause {
    const ALL: [Cause; 7] = [
        Cause::Timeout,
        Cause::Memory,
        Cause::GpuMemory,
        Cause::ResultTooLarge,
        Cause::Trap,
        Cause::Setup,
        Cause::Host,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Timeout => "timeout",
            Cause::Memory => "memory",
            Cause::GpuMemory => "gpu_memory",
            Cause::ResultTooLarge => "result_too_large",
            Cause::Trap => "trap",
            Cause::Setup => "setup",
            Cause::Host => "host",
        }
    }

    /// The cause of a failed call that cost its instance; `None` for
    /// answers that leave the instance serving (the backbone's own protocol
    /// error, a full queue).
    pub fn of(error: &CallError) -> Option<Cause> {
        Some(match error {
            CallError::Timeout { .. } => Cause::Timeout,
            CallError::Memory { .. } => Cause::Memory,
            CallError::GpuQuota { .. } => Cause::GpuMemory,
            CallError::ResultTooLarge { .. } => Cause::ResultTooLarge,
            CallError::Trap { .. } => Cause::Trap,
            CallError::Unavailable { .. } => Cause::Setup,
            CallError::Host { .. } => Cause::Host,
            CallError::Guest(_) | CallError::Busy { .. } => return None,
        })
    }
}

impl EncodeLabelValue for Cause {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        self.as_str().encode(encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    model: String,
    endpoint: Endpoint,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    model: String,
    endpoint: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FailureLabels {
    model: String,
    cause: Cause,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct JobLabels {
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ModelInfoLabels {
    model: String,
    digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The server's metrics: one per server (the runtime makes it), so tests
/// that build several servers in one process do not share counts.
pub struct Metrics {
    exposition: Exposition,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<RouteLabels>,
    generation_seconds: Histograms<ModelLabel>,
    queue_wait_seconds: Histograms<ModelLabel>,
    waiting: Family<ModelLabel, Gauge>,
    running: Family<ModelLabel, Gauge>,
    instances: Family<ModelLabel, Gauge>,
    failures: Family<FailureLabels, Counter>,
    jobs: Family<JobLabels, Gauge>,
    gpu_used: Family<ModelLabel, Gauge>,
    gpu_quota: Family<ModelLabel, Gauge>,
    model_info: Family<ModelInfoLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            exposition: Exposition::with_prefix("motionmcp"),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(duration_histogram),
            generation_seconds: Family::new_with_constructor(duration_histogram),
            queue_wait_seconds: Family::new_with_constructor(queue_histogram),
            waiting: Family::default(),
            running: Family::default(),
            instances: Family::default(),
            failures: Family::default(),
            jobs: Family::default(),
            gpu_used: Family::default(),
            gpu_quota: Family::default(),
            model_info: Family::default(),
        };
        let exposition = &mut m.exposition;
        // Counters are registered without `_total`: the encoder adds it.
        exposition.register(
            "requests",
            "HTTP requests answered, by model (empty when the request named no loaded model), endpoint and status code",
            m.requests.clone(),
        );
        exposition.register_with_unit(
            "request_duration",
            "Time from a request's arrival to its answer, by model and endpoint",
            Unit::Seconds,
            m.request_seconds.clone(),
        );
        exposition.register_with_unit(
            "generation_duration",
            "Time a backbone call held an instance (one generate call, or one batch-hook call), by model",
            Unit::Seconds,
            m.generation_seconds.clone(),
        );
        exposition.register_with_unit(
            "queue_wait",
            "Time a request waited for an instance of its model (zero when one was free)",
            Unit::Seconds,
            m.queue_wait_seconds.clone(),
        );
        exposition.register(
            "requests_waiting",
            "Requests waiting for an instance of the model now (the number to autoscale on)",
            m.waiting.clone(),
        );
        exposition.register(
            "requests_running",
            "Calls holding an instance of the model now",
            m.running.clone(),
        );
        exposition.register(
            "instances_alive",
            "Instances of the model that are set up and not dropped",
            m.instances.clone(),
        );
        exposition.register(
            "instance_failures",
            "Instances dropped after a failed call, or replacements that failed to start, by model and cause",
            m.failures.clone(),
        );
        exposition.register(
            "jobs",
            "Async jobs known now, by state (finished ones until their retention ends)",
            m.jobs.clone(),
        );
        exposition.register_with_unit(
            "gpu_memory_used",
            "GPU memory the model holds now (tensors, pooled buffers, weights)",
            Unit::Bytes,
            m.gpu_used.clone(),
        );
        exposition.register_with_unit(
            "gpu_memory_quota",
            "GPU memory the model may hold (--gpu-memory-mb)",
            Unit::Bytes,
            m.gpu_quota.clone(),
        );
        exposition.register(
            "model_info",
            "A loaded model: its id and its component's SHA-256 digest (value 1)",
            m.model_info.clone(),
        );
        exposition.register(
            "build",
            "The server's version (value 1)",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        for state in JobCounts::STATES {
            m.jobs.get_or_create_owned(&JobLabels { state });
        }
        m
    }

    /// The handles one model's runtime records into, its series created
    /// (at zero) so that dashboards see the model before its first request.
    pub fn model(&self, id: &str, digest: &str) -> ModelMetrics {
        let model = ModelLabel {
            model: id.to_owned(),
        };
        self.model_info
            .get_or_create(&ModelInfoLabels {
                model: id.to_owned(),
                digest: digest.to_owned(),
            })
            .set(1);
        self.waiting.get_or_create_owned(&model);
        self.running.get_or_create_owned(&model);
        ModelMetrics {
            queue_wait: self.queue_wait_seconds.get_or_create_owned(&model),
            generation: self.generation_seconds.get_or_create_owned(&model),
            instances: self.instances.get_or_create_owned(&model),
            failures: Cause::ALL.map(|cause| {
                self.failures.get_or_create_owned(&FailureLabels {
                    model: id.to_owned(),
                    cause,
                })
            }),
        }
    }

    /// One answered request. `model` must be a loaded model's id (or
    /// `None`): the caller never passes what a client wrote.
    pub fn request(&self, model: Option<&str>, endpoint: Endpoint, status: u16, took: Duration) {
        let model = model.unwrap_or_default().to_owned();
        self.request_seconds
            .get_or_create(&RouteLabels {
                model: model.clone(),
                endpoint,
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                model,
                endpoint,
                status,
            })
            .inc();
    }

    /// The exposition, with the gauges read from the live state first:
    /// the models' queues and GPU memory (once they are loaded) and the
    /// job table.
    pub fn render(&self, models: Option<&Registry>, jobs: JobCounts) -> Result<String, fmt::Error> {
        for model in models.into_iter().flat_map(Registry::iter) {
            let label = ModelLabel {
                model: model.id().to_owned(),
            };
            let load = model.occupancy();
            self.waiting.get_or_create(&label).set(gauge(load.waiting));
            self.running.get_or_create(&label).set(gauge(load.running));
            if let Some((_, used, limit)) = model.gpu_status() {
                self.gpu_used.get_or_create(&label).set(gauge(used));
                self.gpu_quota.get_or_create(&label).set(gauge(limit));
            }
        }
        for (state, count) in jobs.by_state() {
            self.jobs
                .get_or_create(&JobLabels { state })
                .set(gauge(count));
        }
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.exposition)?;
        Ok(text)
    }
}

/// A count as a gauge's value (saturating: counts never come near it).
fn gauge(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// Where one model's runtime records: clones of its series' handles, so
/// recording takes no lock.
#[derive(Clone, Debug)]
pub struct ModelMetrics {
    queue_wait: Histogram,
    generation: Histogram,
    instances: Gauge,
    /// Indexed like [`Cause::ALL`].
    failures: [Counter; Cause::ALL.len()],
}

impl ModelMetrics {
    /// A request got an instance after waiting this long.
    pub fn queued(&self, waited: Duration) {
        self.queue_wait.observe(waited.as_secs_f64());
    }

    /// A backbone call held an instance this long.
    pub fn generated(&self, took: Duration) {
        self.generation.observe(took.as_secs_f64());
    }

    /// Counts an instance alive until the returned guard is dropped (with
    /// the instance it belongs to).
    pub fn instance_started(&self) -> InstanceCount {
        self.instances.inc();
        InstanceCount(self.instances.clone())
    }

    /// An instance was dropped after `error` (or a replacement failed to
    /// start); errors that leave the instance serving are not counted.
    pub fn instance_failed(&self, error: &CallError) {
        if let Some(cause) = Cause::of(error) {
            self.failed(cause);
        }
    }

    pub fn failed(&self, cause: Cause) {
        if let Some(i) = Cause::ALL.iter().position(|c| *c == cause) {
            self.failures[i].inc();
        }
    }
}

/// One instance counted in `instances_alive`, for as long as it lives.
#[derive(Debug)]
pub struct InstanceCount(Gauge);

impl Drop for InstanceCount {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(m: &Metrics) -> String {
        m.render(None, JobCounts::default()).unwrap()
    }

    #[test]
    fn names_follow_the_conventions() {
        let m = Metrics::new();
        let model = m.model("null", "sha256:00");
        model.queued(Duration::from_millis(2));
        model.generated(Duration::from_millis(30));
        m.request(
            Some("null"),
            Endpoint::Generate,
            200,
            Duration::from_millis(40),
        );
        let text = render(&m);
        for line in [
            "# TYPE motionmcp_requests_total counter",
            "motionmcp_requests_total{model=\"null\",endpoint=\"generate\",status=\"200\"} 1",
            "# TYPE motionmcp_request_duration_seconds histogram",
            "motionmcp_generation_duration_seconds_count{model=\"null\"} 1",
            "motionmcp_queue_wait_seconds_bucket{model=\"null\",le=\"0.005\"} 1",
            "motionmcp_instance_failures_total{model=\"null\",cause=\"timeout\"} 0",
            "motionmcp_jobs{state=\"running\"} 0",
            "motionmcp_model_info{model=\"null\",digest=\"sha256:00\"} 1",
            &format!(
                "motionmcp_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
    }

    #[test]
    fn instances_count_while_their_guard_lives_and_failures_by_cause() {
        let m = Metrics::new();
        let model = m.model("p", "sha256:00");
        let a = model.instance_started();
        let b = model.instance_started();
        drop(a);
        model.instance_failed(&CallError::Trap { cause: "x".into() });
        model.instance_failed(&CallError::Busy {
            model: "p".into(),
            instances: 1,
            queue: 1,
        });
        let text = render(&m);
        assert!(
            text.contains("motionmcp_instances_alive{model=\"p\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("motionmcp_instance_failures_total{model=\"p\",cause=\"trap\"} 1\n"),
            "{text}"
        );
        // A full queue costs no instance.
        assert_eq!(
            text.matches("_failures_total{model=\"p\"").count(),
            Cause::ALL.len()
        );
        drop(b);
        assert!(render(&m).contains("motionmcp_instances_alive{model=\"p\"} 0\n"));
    }

    #[test]
    fn jobs_are_counted_by_state() {
        let m = Metrics::new();
        let text = m
            .render(
                None,
                JobCounts {
                    running: 2,
                    done: 3,
                    failed: 1,
                },
            )
            .unwrap();
        for line in [
            "motionmcp_jobs{state=\"running\"} 2",
            "motionmcp_jobs{state=\"done\"} 3",
            "motionmcp_jobs{state=\"failed\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
    }
}
