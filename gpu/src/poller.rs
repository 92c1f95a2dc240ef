//! One thread per device drives wgpu's callbacks (work done, buffer
//! mapped); sessions wait for them on plain channels, each with its own
//! deadline.
//!
//! Why not `device.poll(Wait { timeout })` from each session: the wait is
//! made inside wgpu while it holds the device's locks, so one session
//! waiting on a long submission stalls every other session's submits and
//! waits behind it, and none of them can leave at its deadline. Here the
//! poller only ever polls without blocking, so a wait gives up exactly at
//! its deadline whatever the GPU is doing, and the other models' sessions
//! are never held by it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// Pause between polls while callbacks are pending: short enough to add
/// little latency to a wait, long enough to cost little CPU.
const PAUSE: Duration = Duration::from_micros(200);

/// Counts the callbacks not yet called; the poller sleeps while it is zero.
pub(crate) struct Pending {
    count: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Pending {
    fn add(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.wake.notify_one();
    }

    fn done(&self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts the poller for `device`. It ends once the device is dropped.
pub(crate) fn start(device: &wgpu::Device) -> std::io::Result<Arc<Pending>> {
    let pending = Arc::new(Pending {
        count: AtomicUsize::new(0),
        lock: Mutex::new(()),
        wake: Condvar::new(),
    });
    let weak: Weak<Pending> = Arc::downgrade(&pending);
    let device = device.clone();
    // Without the poller no wait could ever end: no GPU then.
    std::thread::Builder::new()
        .name("gpu-poller".into())
        .spawn(move || run(device, weak))?;
    Ok(pending)
}

fn run(device: wgpu::Device, pending: Weak<Pending>) {
    loop {
        let Some(p) = pending.upgrade() else { return };
        if p.count.load(Ordering::SeqCst) == 0 {
            let guard = p.lock.lock().unwrap_or_else(|e| e.into_inner());
            // Re-checked under the lock `add` notifies under: no lost wake-up.
            if p.count.load(Ordering::SeqCst) == 0 {
                let _ = p.wake.wait_timeout(guard, Duration::from_millis(100));
            }
            continue;
        }
        drop(p);
        // Errors surface to the waiters as their callbacks (or a deadline).
        let _ = device.poll(wgpu::PollType::Poll);
        std::thread::sleep(PAUSE);
    }
}

/// Why a wait ended without its callback.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Missed {
    /// The deadline passed first.
    Deadline,
    /// The callback was dropped uncalled (the device was lost).
    Lost,
}

/// A callback registered with the poller and the channel it answers on.
pub(crate) struct Awaited<T> {
    rx: Receiver<T>,
}

impl<T: Send + 'static> Awaited<T> {
    /// A sender for wgpu's callback, counted as pending until called or
    /// dropped.
    pub(crate) fn new(pending: &Arc<Pending>) -> (Awaited<T>, impl FnOnce(T) + Send + 'static) {
        let (tx, rx) = mpsc::channel();
        pending.add();
        let guard = Done(Arc::clone(pending));
        let callback = move |value: T| {
            let _ = tx.send(value);
            drop(guard);
        };
        (Awaited { rx }, callback)
    }

    /// The callback's value, or why it did not come by `deadline`
    /// (`None`: no deadline).
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Result<T, Missed> {
        match deadline {
            None => self.rx.recv().map_err(|_| Missed::Lost),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                self.rx.recv_timeout(left).map_err(|e| match e {
                    RecvTimeoutError::Timeout => Missed::Deadline,
                    RecvTimeoutError::Disconnected => Missed::Lost,
                })
            }
        }
    }
}

/// Takes the callback off the pending count when it runs or is dropped.
struct Done(Arc<Pending>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.done();
    }
}
