//! The connection side of HTTP: what a client may hold and for how long.
//!
//! Every limit here protects the server from clients that connect and then
//! do little: each connection costs a descriptor and a task, so they are
//! capped, and every phase of a request has a deadline. Refusals are not
//! logged one by one (an attacker would control the log's size): a
//! [`RateLimitedLog`] says how many happened.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The HTTP limits, from `serve` flags.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// A request's headers must arrive within this from when the connection
    /// is ready for them: after it opens, and after each answer on a
    /// keep-alive connection (so it is also the idle keep-alive deadline).
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this once its headers have.
    pub body_timeout: Duration,
    /// Connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// How long in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Descriptors kept back from connections for the rest of the process
/// (component cache, weights, the GPU driver, logs).
const RESERVED_DESCRIPTORS: u64 = 128;

/// Most connections by default: three quarters of what the descriptor limit
/// leaves, so the cap bites before `accept` starts failing; at most 10,000.
pub fn default_max_connections() -> usize {
    let limit = descriptor_limit().unwrap_or(1024);
    (limit.saturating_sub(RESERVED_DESCRIPTORS) * 3 / 4).clamp(16, 10_000) as usize
}

/// The process's soft limit on open descriptors.
pub fn descriptor_limit() -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    // rlim_t is u64 on Linux, not on every platform.
    #[allow(clippy::unnecessary_cast)]
    (rc == 0).then_some(rl.rlim_cur as u64)
}

/// Whether an `accept` error means the process (or system) is out of
/// something — descriptors, buffers, memory — so that retrying at once
/// would spin; other errors concern one connection only.
pub fn exhausted(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// One permit per open connection.
#[derive(Clone)]
pub struct ConnectionCap {
    permits: Arc<Semaphore>,
    max: usize,
}

impl ConnectionCap {
    pub fn new(max: usize) -> Self {
        ConnectionCap {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A permit held for as long as the connection is open, or `None` when
    /// the cap is reached (the caller closes the connection at once).
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

/// A warning that is written at most once per period, saying how many
/// times its event happened since it was last written.
pub struct RateLimitedLog {
    period: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    pub fn new(period: Duration) -> Self {
        RateLimitedLog {
            period,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Counts one event; returns how many to report (this one included)
    /// when it is time to write, else `None`.
    pub fn hit(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some(at) if now.duration_since(at) < self.period => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed) + 1)
            }
        }
    }
}

/// Growing pauses after consecutive `accept` failures (descriptor
/// exhaustion fails every call at once: retrying immediately is a hot loop).
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MOST: Duration = Duration::from_secs(1);

    pub fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    /// The pause before the next try; each failure doubles it, up to 1 s.
    pub fn fail(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(Self::MOST);
        pause
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = Backoff::new();
        let pauses: Vec<u128> = (0..10).map(|_| b.fail().as_millis()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.fail(), Duration::from_millis(5));
    }

    #[test]
    fn rate_limited_log_reports_the_suppressed_count() {
        let log = RateLimitedLog::new(Duration::from_millis(50));
        assert_eq!(log.hit(), Some(1));
        assert_eq!(log.hit(), None);
        assert_eq!(log.hit(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(log.hit(), Some(3));
    }

    #[test]
    fn the_cap_admits_up_to_its_size() {
        let cap = ConnectionCap::new(2);
        let a = cap.admit().unwrap();
        let _b = cap.admit().unwrap();
        assert!(cap.admit().is_none());
        assert_eq!(cap.open(), 2);
        drop(a);
        assert!(cap.admit().is_some());
    }

    #[test]
    fn the_default_cap_stays_below_the_descriptor_limit() {
        let limit = descriptor_limit().unwrap();
        let expected = (limit.saturating_sub(RESERVED_DESCRIPTORS) * 3 / 4).clamp(16, 10_000);
        assert_eq!(default_max_connections() as u64, expected);
        if limit > 1024 {
            assert!(expected < limit);
        }
    }

    #[test]
    fn only_exhaustion_backs_off() {
        let os = std::io::Error::from_raw_os_error;
        assert!(exhausted(&os(libc::EMFILE)));
        assert!(exhausted(&os(libc::ENFILE)));
        assert!(!exhausted(&os(libc::ECONNABORTED)));
        assert!(!exhausted(&std::io::Error::other("x")));
    }
}
