//! The hosted models, keyed by id in registration order (D7), and the
//! protocol's rules for their specs: checked at load (C292, `check_spec`),
//! and re-read on every `/capabilities` (C31), a new spec adopted only when
//! it keeps those rules.

use std::sync::Arc;

use anyhow::{bail, Result};

use crate::bindings::ModelSpec;
use crate::capabilities::check_spec;
use crate::runtime::Backbone;
use crate::validate::Models;

pub struct Registry {
    models: Vec<Arc<Backbone>>,
}

impl Registry {
    /// Refuses zero models, invalid specs and duplicate ids (C292).
    pub fn new(models: Vec<Arc<Backbone>>) -> Result<Self> {
        if models.is_empty() {
            bail!("no models to serve");
        }
        for m in &models {
            if let Err(e) = check_spec(&m.spec()) {
                bail!("model {} describes an invalid model: {e}", m.id());
            }
        }
        for (i, m) in models.iter().enumerate() {
            if models[..i].iter().any(|other| other.id() == m.id()) {
                bail!(
                    "duplicate model id {:?}: every component must have its own id",
                    m.id()
                );
            }
        }
        Ok(Registry { models })
    }

    /// The serialised `/capabilities` document, from every model's spec as
    /// it stands now (C31), the models asked at once.
    pub async fn capabilities_json(&self) -> bytes::Bytes {
        let asking: Vec<_> = self
            .models
            .iter()
            .map(|m| {
                let m = Arc::clone(m);
                tokio::spawn(async move { current_spec(&m).await })
            })
            .collect();
        let mut specs = Vec::with_capacity(asking.len());
        for (model, answer) in self.models.iter().zip(asking) {
            specs.push(answer.await.unwrap_or_else(|_| model.spec()));
        }
        let document = crate::capabilities::document(specs.iter().map(AsRef::as_ref));
        serde_json::to_vec(&document)
            .expect("JSON values serialise")
            .into()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Backbone>> {
        self.models.iter().find(|m| m.id() == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Backbone>> {
        self.models.iter()
    }

    /// B4: a batch holds at most the smallest model's `max_batch_size` items.
    pub fn min_batch_size(&self) -> u64 {
        self.models
            .iter()
            .map(|m| m.spec().limits.max_batch_size as u64)
            .min()
            .unwrap_or(0)
    }

    /// P1: the body cap before parsing is the largest model cap.
    pub fn global_body_cap(&self) -> u64 {
        self.models
            .iter()
            .map(|m| m.spec().limits.max_request_bytes)
            .max()
            .unwrap_or(0)
    }
}

/// The model's spec as it stands now (C31): what an idle instance says,
/// when one was free and its answer keeps the rules a spec must keep at load
/// and the model's id (ids route requests and are fixed at load); else the
/// spec last read, and the log says why.
async fn current_spec(model: &Arc<Backbone>) -> Arc<ModelSpec> {
    if let Some(spec) = model.read_spec().await {
        match adoptable(model.id(), &spec) {
            Ok(()) => model.set_spec(spec),
            Err(why) => {
                tracing::warn!(model = %model.id(), error = %why, "keeping the last spec")
            }
        }
    }
    model.spec()
}

/// Whether a spec read later may replace the model's: same id, valid.
fn adoptable(id: &str, spec: &ModelSpec) -> Result<(), String> {
    if spec.id != id {
        return Err(format!(
            "the backbone renamed itself to {:?}; ids are fixed at load",
            spec.id
        ));
    }
    check_spec(spec).map_err(|e| format!("the backbone described an invalid model: {e}"))
}

impl Models for Registry {
    type Model = Arc<Backbone>;

    fn spec(&self, id: &str) -> Option<Arc<ModelSpec>> {
        self.get(id).map(|m| m.spec())
    }

    fn model(&self, id: &str) -> Option<(Arc<Backbone>, Arc<ModelSpec>)> {
        self.get(id).map(|m| (Arc::clone(m), m.spec()))
    }

    fn ids(&self) -> Vec<String> {
        self.models.iter().map(|m| m.id().to_owned()).collect()
    }
}
