//! The hosted models, keyed by id in registration order (D7).

use std::sync::Arc;

use anyhow::{bail, Result};

use crate::bindings::ModelSpec;
use crate::runtime::Backbone;
use crate::validate::Models;

pub struct Registry {
    models: Vec<Arc<Backbone>>,
    /// The `/capabilities` body: specs are read once after `setup` and never
    /// change, so it is serialised once.
    capabilities: bytes::Bytes,
}

impl Registry {
    /// Refuses zero models and duplicate ids (C292).
    pub fn new(models: Vec<Arc<Backbone>>) -> Result<Self> {
        if models.is_empty() {
            bail!("no models to serve");
        }
        for (i, m) in models.iter().enumerate() {
            if models[..i]
                .iter()
                .any(|other| other.spec().id == m.spec().id)
            {
                bail!(
                    "duplicate model id {:?}: every component must have its own id",
                    m.spec().id
                );
            }
        }
        let document = crate::capabilities::document(models.iter().map(|m| m.spec()));
        let capabilities = serde_json::to_vec(&document)?.into();
        Ok(Registry {
            models,
            capabilities,
        })
    }

    /// The serialised `/capabilities` document.
    pub fn capabilities_json(&self) -> bytes::Bytes {
        self.capabilities.clone()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Backbone>> {
        self.models.iter().find(|m| m.spec().id == id)
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
    fn spec(&self, id: &str) -> Option<&ModelSpec> {
        self.get(id).map(|m| m.spec())
    }

    fn ids(&self) -> Vec<String> {
        self.models.iter().map(|m| m.spec().id.clone()).collect()
    }
}
