//! The hosted models, keyed by id in registration order (D7). Specs are
//! read from the models as they stand (C31), so nothing here caches them.

use std::sync::Arc;

use anyhow::{bail, Result};

use crate::bindings::ModelSpec;
use crate::runtime::Backbone;
use crate::validate::Models;

pub struct Registry {
    models: Vec<Arc<Backbone>>,
}

impl Registry {
    /// Refuses zero models and duplicate ids (C292).
    pub fn new(models: Vec<Arc<Backbone>>) -> Result<Self> {
        if models.is_empty() {
            bail!("no models to serve");
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
                tokio::spawn(async move { m.current_spec().await })
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

impl Models for Registry {
    fn spec(&self, id: &str) -> Option<Arc<ModelSpec>> {
        self.get(id).map(|m| m.spec())
    }

    fn ids(&self) -> Vec<String> {
        self.models.iter().map(|m| m.id().to_owned()).collect()
    }
}
