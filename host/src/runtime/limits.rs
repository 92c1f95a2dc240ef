//! What one backbone request may consume, and the store-side enforcement:
//! a linear-memory cap (a `ResourceLimiter`), a wall-clock deadline (epoch
//! interruption), a result-size cap, and per-model concurrency.

use std::time::Duration;

/// Per-model limits, from `serve` flags.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest linear memory one instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget of one `generate` call (and of `setup`).
    pub deadline: Duration,
    /// Largest motion result, in bytes of its float arrays.
    pub result_bytes: usize,
    /// Instances per model: requests that run at once.
    pub instances: usize,
    /// Requests that may wait for an instance before more are refused.
    pub queue: usize,
    /// The one filesystem grant: a directory the backbone may read, mounted
    /// at `/weights` (`serve --weights DIR`).
    pub weights: Option<std::path::PathBuf>,
    /// GPU memory one model may hold (its tensors, pooled buffers and
    /// weights, all instances together): `serve --gpu-memory`.
    pub gpu_memory_bytes: u64,
    /// Longest estimated GPU time of one dispatch (`serve
    /// --gpu-max-dispatch-ms`): bounds how long one request's queued work
    /// can hold the GPU queue every model shares.
    pub gpu_max_dispatch: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            memory_bytes: 1 << 30,
            deadline: Duration::from_secs(120),
            result_bytes: 256 << 20,
            instances: cores,
            queue: default_queue(cores),
            weights: None,
            gpu_memory_bytes: 4 << 30,
            gpu_max_dispatch: Duration::from_secs(10),
        }
    }
}

/// Waiting requests hold only their parsed body, so a burst of clients
/// should wait rather than be refused: at least 64, or 4 per instance.
pub fn default_queue(instances: usize) -> usize {
    (4 * instances).max(64)
}

/// How often the epoch advances; the deadline's resolution.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Epoch ticks for a deadline (at least one).
pub fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

/// Refuses memory growth past the cap and remembers that it did, so a trap
/// that follows can be reported as exhaustion rather than a bug.
pub struct MemoryCap {
    pub cap: usize,
    pub exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any
        // real backbone and keeps a table bomb small.
        Ok(desired <= 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn deadlines_are_counted_in_ticks_of_at_least_one() {
        assert_eq!(deadline_ticks(Duration::from_secs(120)), 12_000);
        assert_eq!(deadline_ticks(Duration::from_millis(15)), 1);
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
    }

    #[test]
    fn the_default_queue_is_four_per_instance_and_at_least_64() {
        assert_eq!(default_queue(1), 64);
        assert_eq!(default_queue(16), 64);
        assert_eq!(default_queue(32), 128);
    }

    #[test]
    fn the_memory_cap_refuses_growth_past_it_and_remembers() {
        let mut cap = MemoryCap {
            cap: 1 << 20,
            exceeded: false,
        };
        assert!(cap.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!cap.exceeded);
        assert!(!cap
            .memory_growing(1 << 20, (1 << 20) + 65536, None)
            .unwrap());
        assert!(cap.exceeded);
        assert!(cap.table_growing(0, 1_000_000, None).unwrap());
        assert!(!cap.table_growing(0, 1_000_001, None).unwrap());
    }
}
