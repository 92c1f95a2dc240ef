//! A model's instances: the idle ones ready to serve, and admission to run
//! one (a permit per instance that may run at once, and a bounded queue of
//! requests waiting for a permit).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::CallError;

pub(super) struct Pool<T> {
    idle: Mutex<Vec<T>>,
    permits: Arc<Semaphore>,
    /// Requests waiting for a permit.
    waiting: AtomicUsize,
    instances: usize,
    queue: usize,
}

/// Counts a request as waiting until dropped (also when the client leaves).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T> Pool<T> {
    /// `instances` may run at once; `queue` may wait beyond them.
    pub(super) fn new(first: T, instances: usize, queue: usize) -> Pool<T> {
        Pool {
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(instances)),
            waiting: AtomicUsize::new(0),
            instances,
            queue,
        }
    }

    /// A permit when one is free now, else `None` (never waits).
    pub(super) fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Waits for a permit, or refuses at once when the queue is full.
    pub(super) async fn admit(&self, model: &str) -> Result<OwnedSemaphorePermit, CallError> {
        if let Some(permit) = self.try_admit() {
            return Ok(permit);
        }
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if queued >= self.queue {
            return Err(CallError::Busy {
                model: model.to_owned(),
                instances: self.instances,
                queue: self.queue,
            });
        }
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CallError::Unavailable {
                why: "the model is shutting down".into(),
            })
    }

    /// The idle instances. A poisoned lock is taken anyway: a push or pop
    /// never leaves the list half-changed.
    fn idle(&self) -> MutexGuard<'_, Vec<T>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle instance, if any.
    pub(super) fn take(&self) -> Option<T> {
        self.idle().pop()
    }

    /// Returns an instance that may serve again.
    pub(super) fn put(&self, instance: T) {
        self.idle().push(instance);
    }

    /// Every idle instance, leaving none.
    pub(super) fn drain(&self) -> Vec<T> {
        std::mem::take(&mut *self.idle())
    }

    /// Requests waiting for a permit now.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Permits held now: calls running (or starting an instance to run on).
    pub(super) fn running(&self) -> usize {
        self.instances
            .saturating_sub(self.permits.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn admits_up_to_the_instances_then_queues_then_refuses() {
        let pool = Arc::new(Pool::new((), 2, 1));
        let a = pool.admit("m").await.unwrap();
        let _b = pool.admit("m").await.unwrap();
        assert!(pool.try_admit().is_none());
        assert_eq!(pool.running(), 2);
        // The third waits (the queue holds one)...
        let waiter = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.admit("m").await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(pool.waiting(), 1);
        // ...and the fourth is refused, naming the model and the bounds.
        assert_eq!(
            pool.admit("m").await.unwrap_err(),
            CallError::Busy {
                model: "m".into(),
                instances: 2,
                queue: 1
            }
        );
        // A permit freed goes to the waiter.
        drop(a);
        waiter.await.unwrap().unwrap();
        assert_eq!(pool.waiting(), 0);
        // The waiter's permit was dropped with it: one call left running.
        assert_eq!(pool.running(), 1);
    }

    #[tokio::test]
    async fn a_waiter_that_leaves_frees_its_queue_place() {
        let pool = Arc::new(Pool::new((), 1, 1));
        let _held = pool.admit("m").await.unwrap();
        let leaving = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.admit("m").await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(pool.waiting(), 1);
        leaving.abort();
        let _ = leaving.await;
        assert_eq!(pool.waiting(), 0);
        // The place is free again: the next request waits rather than
        // being refused.
        let next = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.admit("m").await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!next.is_finished());
        next.abort();
    }

    #[test]
    fn idle_instances_come_back_last_in_first_out() {
        let pool = Pool::new(1, 4, 4);
        pool.put(2);
        assert_eq!(pool.take(), Some(2));
        pool.put(3);
        assert_eq!(pool.drain(), vec![1, 3]);
        assert_eq!(pool.take(), None);
    }
}
