//! Why a call into a backbone did not give an answer. The runtime says what
//! happened; `crate::error` turns it into the protocol's envelope, in one
//! place (`impl From<CallError> for ApiError`).

use std::time::Duration;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The call ran past its deadline (in wasm, or waiting on the GPU), or
    /// asked for GPU work that would; `cause` says which GPU wait or op.
    Timeout {
        deadline: Duration,
        cause: Option<String>,
    },
    /// The instance grew its linear memory past the cap.
    Memory { limit_bytes: usize },
    /// The model's GPU memory quota refused an allocation.
    GpuQuota { limit_bytes: u64 },
    /// The result was over the cap (`bytes` when it was measured whole,
    /// `None` when refused while being copied out).
    ResultTooLarge {
        limit_bytes: usize,
        bytes: Option<usize>,
    },
    /// A trap or a host call's failure, with its root cause and what the
    /// guest last said.
    Trap { cause: String },
    /// The backbone answered with its own protocol error.
    Guest(ApiError),
    /// Every instance is busy and the queue is full.
    Busy {
        model: String,
        instances: usize,
        queue: usize,
    },
    /// No instance can serve: `setup` keeps failing, or the model is
    /// shutting down.
    Unavailable { why: String },
    /// The host's own plumbing failed (a blocking task that did not
    /// complete, an answer of the wrong shape).
    Host { why: String },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&ApiError::from(self.clone()).message)
    }
}
