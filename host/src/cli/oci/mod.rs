//! Components by digest: a model argument `oci://REGISTRY/REPO[:TAG]@sha256:HEX`
//! is pulled from an OCI registry (the CNCF Wasm artifact layout), checked
//! against its digest, kept on disk under the cache directory by digest,
//! and then loaded exactly like a local file. `motionmcp-host push`
//! publishes a component in the same layout.
//!
//! Only pinned references are served: a tag alone can be moved to other
//! code by whoever controls the registry, and pinning is what makes a
//! restart (or a second machine) run the same component.

mod layout;
mod pull;
pub mod push;
mod reference;
mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::Client;

use super::run::positive_seconds;
use reference::OciRef;
use store::{Cached, Store};

/// Registry credentials, for every registry (anonymous when unset).
pub const USER_ENV: &str = "MOTIONMCP_REGISTRY_USER";
pub const PASSWORD_ENV: &str = "MOTIONMCP_REGISTRY_PASSWORD";

/// How the registry is reached: shared by every command that takes a model.
#[derive(clap::Args, Clone, Debug)]
pub struct OciArgs {
    /// Reach this registry (HOST:PORT) over plain HTTP for `oci://` models;
    /// loopback registries (localhost, 127.0.0.0/8, ::1) always are. Repeatable
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,

    /// Seconds one `oci://` pull or push may take, all its requests together
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = positive_seconds)]
    pub registry_timeout: f64,

    /// Largest component an `oci://` model may be, in MiB; a larger layer is
    /// refused before it is downloaded
    #[arg(long, value_name = "MIB", default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pull_mb: u64,
}

impl OciArgs {
    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.registry_timeout)
    }

    fn max_bytes(&self) -> u64 {
        self.max_pull_mb << 20
    }

    /// A client for `r`'s registry: HTTPS unless it is loopback or listed
    /// as insecure; connecting and each read have their own limits inside
    /// the overall one, so a silent registry fails fast.
    fn client(&self, r: &OciRef) -> Result<Client> {
        // reqwest is built without a default TLS provider (it would bring
        // aws-lc); the process uses ring, as the server's TLS does. An
        // error only means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let plain = r.is_loopback()
            || self
                .insecure_registry
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&r.registry));
        let config = ClientConfig {
            protocol: if plain {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            // A Wasm artifact is one manifest; an index is refused, not
            // resolved to some platform's entry.
            platform_resolver: None,
            ..Default::default()
        };
        Client::try_from(config)
            .map_err(|e| anyhow!("cannot set up the registry client: {}", pull::chain(&e)))
    }
}

/// Basic credentials from the environment, else anonymous.
fn credentials() -> Result<RegistryAuth> {
    let get = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (get(USER_ENV), get(PASSWORD_ENV)) {
        (Some(user), Some(password)) => Ok(RegistryAuth::Basic(user, password)),
        (None, None) => Ok(RegistryAuth::Anonymous),
        _ => bail!("set both {USER_ENV} and {PASSWORD_ENV}, or neither"),
    }
}

/// A model's component on disk: the file given, or a pulled one. Without a
/// cache directory (`--no-cache`) a pulled file lives in a scratch
/// directory removed when this is dropped (after the model has loaded).
pub struct ModelFile {
    path: PathBuf,
    scratch: Option<PathBuf>,
}

impl ModelFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ModelFile {
    fn drop(&mut self) {
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The one place a model argument becomes a file: a path is itself; an
/// `oci://` reference is found in the cache (re-verified) or pulled.
pub async fn resolve(model: &Path, args: &OciArgs, cache_dir: Option<&Path>) -> Result<ModelFile> {
    let local = || ModelFile {
        path: model.to_owned(),
        scratch: None,
    };
    let Some(parsed) = model.to_str().and_then(OciRef::from_arg) else {
        return Ok(local());
    };
    let r = parsed?;
    let Some(pinned) = r.digest.clone() else {
        bail!(
            "{r} is not pinned: add @sha256:<manifest digest> (`motionmcp-host push` prints the \
             pinned reference; `oras resolve` gives a tag's digest). Models are served by digest \
             only, so a moved tag cannot change what runs"
        );
    };
    let (store, scratch) = match cache_dir {
        Some(dir) => (Store::new(dir), None),
        None => {
            let dir = scratch_dir();
            (Store::new(&dir), Some(dir))
        }
    };
    let mut file = ModelFile {
        path: PathBuf::new(),
        scratch,
    };
    let note = match cached(&store, &pinned) {
        Ok(path) => {
            tracing::info!(model = %r, file = %path.display(), "component from the digest cache");
            file.path = path;
            return Ok(file);
        }
        Err(note) => note,
    };
    tracing::info!(model = %r, "pulling");
    let client = args.client(&r)?;
    let auth = credentials()?;
    let pulled = tokio::time::timeout(
        args.timeout(),
        pull::pull(&client, &auth, &r, &pinned, &store, args.max_bytes()),
    )
    .await
    .unwrap_or_else(|_| {
        Err(anyhow!(
            "registry {} did not deliver it within --registry-timeout {}s",
            r.registry,
            args.registry_timeout
        ))
    });
    match (pulled, note) {
        (Ok(path), _) => {
            tracing::info!(model = %r, file = %path.display(), "pulled and verified");
            file.path = path;
            Ok(file)
        }
        (Err(e), Some(note)) => Err(e.context(format!("{note}; pulling it again failed"))),
        (Err(e), None) => Err(e),
    }
}

/// The stored component of manifest `pinned`, every file re-hashed; else
/// why not, when that is worth saying (something stored was changed).
fn cached(store: &Store, pinned: &str) -> std::result::Result<PathBuf, Option<String>> {
    let manifest = match store.manifest(pinned, pull::MAX_MANIFEST_BYTES) {
        Cached::Intact(bytes) => bytes,
        Cached::Missing => return Err(None),
        Cached::Corrupt => {
            return Err(Some(format!(
                "the cached manifest {} did not match its digest and was removed",
                store.manifest_path(pinned).display()
            )))
        }
    };
    // Only checked manifests are stored; one that no longer reads as a
    // Wasm artifact is pulled again like a missing one.
    let layer = layout::wasm_layer(&manifest).map_err(|_| None)?;
    match store.layer(&layer.hex, layer.size) {
        Cached::Intact(path) => Ok(path),
        Cached::Missing => Err(None),
        Cached::Corrupt => Err(Some(format!(
            "the cached component {} did not match its digest sha256:{} and was removed",
            store.layer_path(&layer.hex).display(),
            layer.hex
        ))),
    }
}

fn scratch_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("motionmcp-oci-{}-{n}", std::process::id()))
}

/// The name a model argument is shown under (in `/readyz`, which is
/// public): a reference's repository and tag, a path's file name.
pub fn display_name(model: &Path) -> String {
    match model.to_str().and_then(OciRef::from_arg) {
        Some(Ok(r)) => match &r.tag {
            Some(tag) => format!("{}:{tag}", r.repository),
            None => r.repository.clone(),
        },
        _ => model
            .file_name()
            .unwrap_or(model.as_os_str())
            .to_string_lossy()
            .into_owned(),
    }
}
