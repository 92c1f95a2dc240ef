//! One instance of a backbone: its store (WASI granting nothing, the
//! memory cap, the GPU session) and the calls into its exports, each armed
//! with the request's deadline and result budget. What a failed call means
//! is decided here, once, as a [`CallError`].

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use wasmtime::component::{ComponentExportIndex, ResourceTable};
use wasmtime::{Store, Trap};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::error::CallError;
use super::limits::{self, Limits, MemoryCap};
use super::progress::Progress;
use super::stderr::TailPipe;
use super::tensor::{GpuDeadline, GpuState, ModelGpu};
use super::{hook, WEIGHTS_MOUNT};
use crate::bindings::mmcp::backbone::types as wit;
use crate::bindings::{BackboneWorld, BackboneWorldPre, ModelSpec, MotionResult, WitErrorCode};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::InstanceCount;

/// Bytes a result may carry beyond its float arrays (names, contacts, notes).
const RESULT_SLACK: usize = 16 << 20;

/// Most bytes of a guest's stderr kept, to name what a panic said.
const STDERR_TAIL: usize = 16 * 1024;

/// What a guest can reach: WASI with no environment, arguments, sockets or
/// stdin, and no files but the `--weights` directory, read-only, when granted
/// (random and clocks are what WASI must give); stderr goes to a bounded
/// in-memory tail. Plus the store's memory cap.
pub struct GuestState {
    wasi: WasiCtx,
    pub(super) table: ResourceTable,
    memory: MemoryCap,
    /// The instance's GPU session, for models that import `tensor`.
    pub(super) gpu: Option<GpuState>,
    /// Where the call under way reports its progress, when someone watches.
    pub(super) progress: Option<Arc<Progress>>,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// `types` declares only types; its host side is empty.
impl wit::Host for GuestState {}

/// An instantiated component and its store.
pub(super) struct Live {
    store: Store<GuestState>,
    world: BackboneWorld,
    /// `generate-batch`, when the component exports it.
    batch: Option<hook::BatchFunc>,
    stderr: TailPipe,
    /// Counts this instance in `/metrics` while it lives (once set up).
    counted: Option<InstanceCount>,
}

impl Live {
    pub(super) async fn start(
        pre: &BackboneWorldPre<GuestState>,
        batch: Option<&ComponentExportIndex>,
        limits: &Limits,
        gpu: Option<&Arc<ModelGpu>>,
    ) -> Result<Live> {
        let stderr = TailPipe::new(STDERR_TAIL);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone());
        if let Some(dir) = &limits.weights {
            wasi.preopened_dir(dir, WEIGHTS_MOUNT, FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot grant {}", dir.display()))?;
        }
        let wasi = wasi.build();
        let state = GuestState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                cap: limits.memory_bytes,
                exceeded: false,
            },
            gpu: gpu.map(|g| GpuState::new(Arc::clone(g))),
            progress: None,
        };
        let mut store = Store::new(pre.engine(), state);
        store.limiter(|s| &mut s.memory);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(limits::deadline_ticks(limits.deadline));
        let instance = pre.instance_pre().instantiate_async(&mut store).await?;
        let world = BackboneWorld::new(&mut store, &instance)?;
        let batch = batch
            .map(|index| hook::load(&mut store, &instance, index))
            .transpose()?;
        Ok(Live {
            store,
            world,
            batch,
            stderr,
            counted: None,
        })
    }

    /// Counts the instance as alive until it is dropped.
    pub(super) fn count(&mut self, counted: InstanceCount) {
        self.counted = Some(counted);
    }

    /// Arms the deadline and the result budget, and clears the failure
    /// state before a call.
    fn arm(&mut self, limits: &Limits) {
        self.store
            .set_epoch_deadline(limits::deadline_ticks(limits.deadline));
        // Bounds what the host allocates while lifting a result, so an
        // oversized one is refused before it is copied (slack for the
        // smaller fields next to the float arrays).
        self.store
            .set_hostcall_fuel(limits.result_bytes.saturating_add(RESULT_SLACK));
        self.store.data_mut().memory.exceeded = false;
        self.store.data_mut().progress = None;
        if let Some(gpu) = &mut self.store.data_mut().gpu {
            gpu.arm(Instant::now() + limits.deadline, limits.gpu_max_dispatch);
            gpu.quota().take_refused();
        }
        self.stderr.clear();
    }

    /// After a call that returned: the instance's pooled GPU buffers go back
    /// to the model's quota, so memory is held only while a request runs.
    fn disarm(&mut self) {
        // An idle instance holds no one's progress.
        self.store.data_mut().progress = None;
        if let Some(gpu) = &mut self.store.data_mut().gpu {
            gpu.trim();
        }
    }

    pub(super) async fn setup(&mut self, limits: &Limits) -> Result<(), CallError> {
        self.arm(limits);
        let api = self.world.mmcp_backbone_backbone();
        match api.call_setup(&mut self.store).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(CallError::Unavailable { why: msg }),
            Err(trap) => Err(self.failure(&trap, limits)),
        }
    }

    /// `capabilities` under `limits` (the spec's strings and lists count
    /// against the result slack, so a huge spec is refused while lifted).
    pub(super) async fn capabilities(&mut self, limits: &Limits) -> Result<ModelSpec, CallError> {
        self.arm(limits);
        let api = self.world.mmcp_backbone_backbone();
        match api.call_capabilities(&mut self.store).await {
            Ok(spec) => Ok(spec),
            Err(trap) => Err(self.failure(&trap, limits)),
        }
    }

    pub(super) async fn generate(
        &mut self,
        request: &wit::GenerateRequest,
        limits: &Limits,
        progress: Option<Arc<Progress>>,
    ) -> Outcome<Result<MotionResult, CallError>> {
        self.arm(limits);
        self.store.data_mut().progress = progress;
        let api = self.world.mmcp_backbone_backbone();
        match api.call_generate(&mut self.store, request).await {
            Ok(answer) => {
                self.disarm();
                Outcome::Done(checked(answer, limits))
            }
            Err(trap) => Outcome::Broken(self.failure(&trap, limits)),
        }
    }

    /// `generate-batch` with `requests` (`None`: no hook). The call gets
    /// the time and result bytes of as many single calls.
    pub(super) async fn generate_batch(
        &mut self,
        requests: Vec<wit::GenerateRequest>,
        limits: &Limits,
    ) -> Outcome<Option<Vec<Result<MotionResult, CallError>>>> {
        let Some(func) = self.batch else {
            return Outcome::Done(None);
        };
        let n = requests.len().max(1);
        let group = Limits {
            deadline: limits.deadline.saturating_mul(n as u32),
            result_bytes: limits.result_bytes.saturating_mul(n),
            ..limits.clone()
        };
        self.arm(&group);
        match func.call_async(&mut self.store, (requests,)).await {
            Ok((answer,)) => {
                self.disarm();
                Outcome::Done(
                    answer.map(|results| results.into_iter().map(|r| checked(r, limits)).collect()),
                )
            }
            Err(trap) => Outcome::Broken(self.failure(&trap, &group)),
        }
    }

    /// What a trap means: out of time, out of memory (linear or GPU), a
    /// result over the cap refused while copied out, or a failure named by
    /// its cause (D9).
    fn failure(&self, trap: &wasmtime::Error, limits: &Limits) -> CallError {
        if trap.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return CallError::Timeout {
                deadline: limits.deadline,
                cause: None,
            };
        }
        if let Some(GpuDeadline(why)) = trap.downcast_ref::<GpuDeadline>() {
            return CallError::Timeout {
                deadline: limits.deadline,
                cause: Some(why.clone()),
            };
        }
        if self.store.data().memory.exceeded {
            return CallError::Memory {
                limit_bytes: limits.memory_bytes,
            };
        }
        if let Some(gpu) = &self.store.data().gpu {
            if gpu.quota().take_refused() {
                return CallError::GpuQuota {
                    limit_bytes: gpu.quota().limit(),
                };
            }
        }
        if format!("{trap:#}").contains("fuel allocated for hostcalls") {
            return CallError::ResultTooLarge {
                limit_bytes: limits.result_bytes,
                bytes: None,
            };
        }
        CallError::Trap {
            cause: self.describe(trap),
        }
    }

    /// A one-line account of a trap, with what the guest last said on stderr
    /// (a Rust panic message lands there).
    fn describe(&self, trap: &wasmtime::Error) -> String {
        let cause = match trap.downcast_ref::<Trap>() {
            Some(Trap::StackOverflow) => "stack overflow".to_string(),
            Some(t) => t.to_string(),
            None => root_cause(trap),
        };
        match last_words(&self.stderr.contents()) {
            Some(said) => format!("{cause}; the backbone said: {said}"),
            None => cause,
        }
    }

    pub(super) async fn teardown(&mut self, limits: &Limits) {
        self.arm(limits);
        let api = self.world.mmcp_backbone_backbone();
        if let Err(trap) = api.call_teardown(&mut self.store).await {
            tracing::warn!(error = %self.describe(&trap), "teardown trapped");
        }
    }
}

pub(super) enum Outcome<T> {
    /// The call returned; the instance can serve again.
    Done(T),
    /// The call trapped; the instance must be dropped.
    Broken(CallError),
}

/// A returned result under the size cap, or the backbone's own error.
fn checked(
    answer: Result<MotionResult, wit::ProtocolError>,
    limits: &Limits,
) -> Result<MotionResult, CallError> {
    let result = answer.map_err(|e| CallError::Guest(protocol_error(e)))?;
    result_size(&result, limits)?;
    Ok(result)
}

/// Refuses results over the size cap (their float arrays, in bytes).
fn result_size(result: &MotionResult, limits: &Limits) -> Result<(), CallError> {
    let floats = result.rotations.len()
        + result.root_translations.len()
        + result.translations.as_ref().map_or(0, Vec::len);
    let bytes = floats * 4;
    if bytes > limits.result_bytes {
        return Err(CallError::ResultTooLarge {
            limit_bytes: limits.result_bytes,
            bytes: Some(bytes),
        });
    }
    Ok(())
}

/// What went wrong, from an error chain whose outer layers may be only
/// context (wasmtime wraps a host call's error in the wasm backtrace): the
/// root cause, after the outermost message when that says more than a
/// backtrace.
fn root_cause(error: &wasmtime::Error) -> String {
    let root = error.root_cause().to_string();
    let top = error.to_string();
    if top == root || top.contains("wasm backtrace") || top.contains("error while executing") {
        root
    } else {
        format!("{top}: {root}")
    }
}

/// The message of the guest's last panic (the lines after "panicked at",
/// without the backtrace hint), else its last line of stderr.
fn last_words(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with"))
        .collect();
    let start = lines.iter().rposition(|l| l.contains("panicked at"));
    let words = match start {
        Some(i) if i + 1 < lines.len() => lines[i + 1..].join(" "),
        _ => lines.last()?.to_string(),
    };
    Some(words.chars().take(500).collect())
}

/// A backbone's protocol error, as the envelope it asked for.
fn protocol_error(e: wit::ProtocolError) -> ApiError {
    let code = match e.code {
        WitErrorCode::SchemaValidation => ErrorCode::SchemaValidation,
        WitErrorCode::UnknownModel => ErrorCode::UnknownModel,
        WitErrorCode::RetargetingUnsupported => ErrorCode::RetargetingUnsupported,
        WitErrorCode::UnsupportedConstraint => ErrorCode::UnsupportedConstraint,
        WitErrorCode::UnsupportedSegment => ErrorCode::UnsupportedSegment,
        WitErrorCode::UnknownJoint => ErrorCode::UnknownJoint,
        WitErrorCode::InvalidSkeleton => ErrorCode::InvalidSkeleton,
        WitErrorCode::FrameOutOfRange => ErrorCode::FrameOutOfRange,
        WitErrorCode::InvalidOptions => ErrorCode::InvalidOptions,
        WitErrorCode::InvalidRequest => ErrorCode::InvalidRequest,
        WitErrorCode::VersionUnsupported => ErrorCode::VersionUnsupported,
        WitErrorCode::Unauthorized => ErrorCode::Unauthorized,
        WitErrorCode::Forbidden => ErrorCode::Forbidden,
        WitErrorCode::PayloadTooLarge => ErrorCode::PayloadTooLarge,
        WitErrorCode::RateLimited => ErrorCode::RateLimited,
        WitErrorCode::InternalError => ErrorCode::InternalError,
        WitErrorCode::ResourceExhausted => ErrorCode::ResourceExhausted,
        WitErrorCode::ModelUnavailable => ErrorCode::ModelUnavailable,
        WitErrorCode::Timeout => ErrorCode::Timeout,
    };
    let details = match serde_json::from_str::<Value>(&e.details) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    ApiError {
        code,
        message: e.message,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_cause_is_named_not_the_backtrace() {
        let e = wasmtime::Error::msg("concat takes 4096 tensors at most")
            .context("error while executing at wasm backtrace:\n    0: 0x1234 - <unknown>!concat");
        assert_eq!(root_cause(&e), "concat takes 4096 tensors at most");
        let e = wasmtime::Error::msg("device lost").context("reading a tensor back");
        assert_eq!(root_cause(&e), "reading a tensor back: device lost");
        let e = wasmtime::Error::msg("plain");
        assert_eq!(root_cause(&e), "plain");
    }

    #[test]
    fn last_words_are_the_panic_message() {
        let stderr = "thread '<unnamed>' panicked at src/lib.rs:3:5:\nindex out of bounds\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(last_words(stderr).as_deref(), Some("index out of bounds"));
        assert_eq!(last_words("one\ntwo\n").as_deref(), Some("two"));
        assert_eq!(last_words(""), None);
    }

    #[test]
    fn a_guest_error_keeps_its_code_and_object_details() {
        let e = protocol_error(wit::ProtocolError {
            code: WitErrorCode::InvalidOptions,
            message: "steps".into(),
            details: r#"{"max": 200}"#.into(),
        });
        assert_eq!(e.code, ErrorCode::InvalidOptions);
        assert_eq!(e.details["max"], 200);
        let e = protocol_error(wit::ProtocolError {
            code: WitErrorCode::Timeout,
            message: "m".into(),
            details: "[1]".into(),
        });
        assert!(e.details.is_empty());
    }
}
