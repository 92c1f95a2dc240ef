//! Compiled-component cache: a restart loads native code from disk instead of
//! recompiling the component (seconds for a Python or JS component).
//!
//! Entries are keyed by the component's SHA-256 and the engine's
//! compatibility hash, so a new wasmtime or different settings never load
//! stale code.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where a loaded component's native code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Compiled,
    Cache,
}

/// Where compiled components live, or nowhere.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

impl ComponentCache {
    pub fn new(dir: Option<PathBuf>) -> Self {
        ComponentCache { dir }
    }

    /// `$XDG_CACHE_HOME/motionmcp-host`, else `~/.cache/motionmcp-host`.
    pub fn default_dir() -> Option<PathBuf> {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|base| base.join("motionmcp-host"))
    }

    fn entry(&self, engine: &Engine, hex: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        Some(dir.join(format!("{hex}-{:016x}.cwasm", engine_hash.finish())))
    }

    /// Loads `path`, from the cache when a compiled copy exists; says which,
    /// and gives the component's digest (`sha256:<hex>`, shown in `/metrics`).
    pub fn load(&self, engine: &Engine, path: &Path) -> Result<(Component, Origin, String)> {
        let wasm = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let hex: String = Sha256::digest(&wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let digest = format!("sha256:{hex}");
        let entry = self.entry(engine, &hex);
        if let Some(entry) = entry.as_ref().filter(|e| e.exists()) {
            // SAFETY: the file was written by `precompile_component` of an
            // engine with the same compatibility hash, in a directory this
            // host owns; wasmtime also checks the header before using it.
            match unsafe { Component::deserialize_file(engine, entry) } {
                Ok(component) => {
                    tracing::info!(component = %path.display(), cache = %entry.display(), "loaded compiled component from cache");
                    return Ok((component, Origin::Cache, digest));
                }
                Err(e) => {
                    tracing::warn!(cache = %entry.display(), error = %e, "ignoring unusable cache entry")
                }
            }
        }
        let started = Instant::now();
        let compiled = engine
            .precompile_component(&wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling {}", path.display()))?;
        tracing::info!(component = %path.display(), seconds = started.elapsed().as_secs_f64(), "compiled component");
        if let Some(entry) = &entry {
            if let Err(e) = store(entry, &compiled) {
                tracing::warn!(cache = %entry.display(), error = %e, "could not write the component cache");
            }
        }
        // SAFETY: these bytes were produced by `precompile_component` just now.
        let component =
            unsafe { Component::deserialize(engine, &compiled) }.map_err(anyhow::Error::from)?;
        Ok((component, Origin::Compiled, digest))
    }
}

/// Writes atomically so a concurrent reader never sees half a file.
fn store(entry: &Path, bytes: &[u8]) -> Result<()> {
    let dir = entry.parent().context("cache entry has no directory")?;
    std::fs::create_dir_all(dir)?;
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, entry)?;
    Ok(())
}
