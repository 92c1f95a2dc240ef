//! Where the server is in its life, and the probes that say so: `/livez`
//! (the process serves) and `/readyz` (it should be sent work).
//!
//! The listener opens before the models load, so an orchestrator can tell
//! "starting" from "dead": while starting, `/livez` is 200, `/readyz` 503
//! saying what is loading, and everything that needs a model is `503
//! model_unavailable`. Once every model is loaded and set up (its GPU
//! adapter opened when it needs one), `/readyz` is 200. On SIGINT/SIGTERM
//! it turns 503 at once, while the requests in flight finish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

use crate::registry::Registry;

/// Starting (models loading), ready (serving them), or draining.
pub struct Lifecycle {
    models: OnceLock<Arc<Registry>>,
    draining: AtomicBool,
    /// What start-up is doing, for `/readyz` until the models are ready.
    loading: Mutex<String>,
}

/// What `/readyz` says.
#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Readiness {
    Ready { models: Vec<String> },
    Starting { reason: String },
    Draining { reason: String },
}

impl Lifecycle {
    /// A server whose models are still to load.
    pub fn starting() -> Lifecycle {
        Lifecycle {
            models: OnceLock::new(),
            draining: AtomicBool::new(false),
            loading: Mutex::new("starting".into()),
        }
    }

    /// A server whose models are loaded already.
    pub fn ready_with(models: Arc<Registry>) -> Lifecycle {
        let life = Lifecycle::starting();
        life.ready(models);
        life
    }

    /// Says what start-up is doing now (shown by `/readyz`).
    pub fn loading(&self, what: impl Into<String>) {
        *self.loading.lock().unwrap_or_else(|e| e.into_inner()) = what.into();
    }

    /// The models are loaded: from now on requests are served. Only the
    /// first call counts.
    pub fn ready(&self, models: Arc<Registry>) {
        if self.models.set(models).is_err() {
            tracing::warn!("the models were made ready twice; keeping the first");
        }
    }

    /// Shutting down: `/readyz` answers 503 from now on, and no new
    /// generation is started.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The models, once every one is loaded.
    pub fn models(&self) -> Option<&Arc<Registry>> {
        self.models.get()
    }

    /// Why a request that needs the models cannot have them: `None` once
    /// they are loaded.
    pub fn starting_reason(&self) -> Option<String> {
        match self.models() {
            Some(_) => None,
            None => Some(
                self.loading
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
            ),
        }
    }

    pub fn readiness(&self) -> Readiness {
        if self.draining() {
            return Readiness::Draining {
                reason:
                    "shutting down: requests in flight are finishing, no new generation is accepted"
                        .into(),
            };
        }
        match self.models() {
            Some(models) => Readiness::Ready {
                models: models.iter().map(|m| m.id().to_owned()).collect(),
            },
            None => Readiness::Starting {
                reason: self.starting_reason().unwrap_or_default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_then_draining() {
        let life = Lifecycle::starting();
        life.loading("loading a.wasm (0 of 1 models ready)");
        assert_eq!(
            life.readiness(),
            Readiness::Starting {
                reason: "loading a.wasm (0 of 1 models ready)".into()
            }
        );
        assert!(life.starting_reason().is_some());
        life.drain();
        assert!(matches!(life.readiness(), Readiness::Draining { .. }));
        let json = serde_json::to_value(life.readiness()).unwrap();
        assert_eq!(json["status"], "draining");
        assert!(json["reason"].as_str().unwrap().contains("shutting down"));
    }
}
