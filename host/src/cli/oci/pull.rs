//! Fetching a pinned component from its registry, checked at each step:
//! the manifest must hash to the pinned digest and describe a Wasm
//! artifact, and the layer must hash to the digest the manifest gives it
//! and be no larger than it says; only then is it stored (and loaded).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::Client;
use sha2::{Digest, Sha256};

use super::layout::{self, WasmLayer};
use super::reference::OciRef;
use super::store::{hex, sha256_hex, Cached, Store};

/// The largest manifest read. A Wasm artifact's is well under a kilobyte;
/// the distribution registry itself refuses manifests over 4 MiB.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// Every manifest type is accepted on the wire so that the wrong kind of
/// artifact (an image index, a Docker image) is named as such instead of
/// surfacing as the registry's "not found".
const ACCEPT: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// Pulls `r` (pinned to manifest `pinned`) into `store`; returns the
/// stored component's path.
pub async fn pull(
    client: &Client,
    auth: &RegistryAuth,
    r: &OciRef,
    pinned: &str,
    store: &Store,
    max_layer_bytes: u64,
) -> Result<PathBuf> {
    let reference = r.client_reference();
    let (manifest, _) = client
        .pull_manifest_raw(&reference, auth, ACCEPT)
        .await
        .map_err(|e| explain(e, r, "manifest"))?;
    // oci-client reads the whole body first; the timeout around the pull
    // bounds how long that can go on, this bounds what is kept.
    if manifest.len() as u64 > MAX_MANIFEST_BYTES {
        bail!(
            "the manifest is {} bytes, over the {MAX_MANIFEST_BYTES}-byte cap: not a Wasm artifact",
            manifest.len()
        );
    }
    let actual = sha256_hex(&manifest);
    if actual != pinned {
        bail!("digest mismatch: the registry's manifest is sha256:{actual}, the reference pins sha256:{pinned}");
    }
    let layer = layout::wasm_layer(&manifest)?;
    if layer.size > max_layer_bytes {
        bail!(
            "the component is {} MiB, over --max-pull-mb {}",
            layer.size >> 20,
            max_layer_bytes >> 20
        );
    }
    let path = match store.layer(&layer.hex, layer.size) {
        Cached::Intact(path) => path,
        Cached::Missing | Cached::Corrupt => fetch_layer(client, r, &layer, store).await?,
    };
    // The manifest last: its presence says the layer it names is stored.
    store.put_manifest(pinned, &manifest)?;
    Ok(path)
}

/// Streams the layer to disk, counting and hashing as it comes, so a
/// registry that sends more than declared is cut off at the declared size.
async fn fetch_layer(
    client: &Client,
    r: &OciRef,
    layer: &WasmLayer,
    store: &Store,
) -> Result<PathBuf> {
    // By digest only: a descriptor's `urls` (foreign layers) could point
    // anywhere, and are not followed.
    let digest = format!("sha256:{}", layer.hex);
    let mut blob = client
        .pull_blob_stream(&r.client_reference(), digest.as_str())
        .await
        .map_err(|e| explain(e, r, "component layer"))?;
    if blob.content_length.is_some_and(|n| n > layer.size) {
        bail!(
            "the registry offers {} bytes for a layer the manifest says is {} bytes",
            blob.content_length.unwrap_or_default(),
            layer.size
        );
    }
    let mut new = store.new_layer(&layer.hex)?;
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = blob.stream.next().await {
        let chunk = chunk.map_err(|e| {
            anyhow!(
                "reading the component layer from registry {}: {}",
                r.registry,
                chain(&e)
            )
        })?;
        len += chunk.len() as u64;
        if len > layer.size {
            bail!(
                "the registry sent more than the {} bytes the manifest declares for the layer",
                layer.size
            );
        }
        hasher.update(&chunk);
        new.file
            .write_all(&chunk)
            .context("writing the component to the cache")?;
    }
    if len != layer.size {
        bail!(
            "the registry sent {len} bytes of a layer the manifest says is {} bytes",
            layer.size
        );
    }
    let actual = hex(&hasher.finalize());
    if actual != layer.hex {
        bail!(
            "digest mismatch: the component layer is sha256:{actual}, its manifest says sha256:{}",
            layer.hex
        );
    }
    new.commit()?;
    Ok(store.layer_path(&layer.hex))
}

/// One line saying what went wrong with the registry, in its terms.
pub fn explain(e: OciDistributionError, r: &OciRef, what: &str) -> anyhow::Error {
    use OciDistributionError as E;
    let registry = &r.registry;
    let detail = chain(&e);
    match &e {
        E::RequestError(re) if re.is_connect() => {
            anyhow!("registry {registry} is unreachable: {detail}")
        }
        E::RequestError(re) if re.is_timeout() => {
            anyhow!("registry {registry} did not answer in time: {detail}")
        }
        E::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|x| {
                matches!(
                    x.code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) =>
        {
            let messages: Vec<&str> = envelope.errors.iter().map(|x| x.message.as_str()).collect();
            anyhow!(
                "registry {registry} has no {what} {} in {} (a wrong digest, or not pushed there): {}",
                reference_name(r),
                r.repository,
                messages.join("; ")
            )
        }
        E::ServerError { code: 404, .. } => anyhow!(
            "registry {registry} has no {what} {} in {} (a wrong digest, or not pushed there)",
            reference_name(r),
            r.repository
        ),
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => anyhow!(
            "registry {registry} refused access ({detail}); credentials come from \
             MOTIONMCP_REGISTRY_USER and MOTIONMCP_REGISTRY_PASSWORD"
        ),
        E::DigestError(_) => anyhow!("digest mismatch: {detail}"),
        _ => anyhow!("registry {registry}: {detail}"),
    }
}

fn reference_name(r: &OciRef) -> String {
    match (&r.digest, &r.tag) {
        (Some(hex), _) => format!("sha256:{hex}"),
        (None, Some(tag)) => format!("tagged {tag}"),
        (None, None) => "latest".into(),
    }
}

/// An error and its sources on one line (reqwest's own message is only
/// "error sending request"; the cause is further down).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // Transparent wrappers repeat their source's message.
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
