//! The CNCF "Wasm OCI Artifact" layout: an OCI image manifest whose config
//! has media type `application/vnd.wasm.config.v0+json` and whose one layer
//! is the component itself, `application/wasm`. Other tools (`oras`, `wkg`)
//! read and write the same layout, so a component pushed by either is
//! served, and one pushed by `motionmcp-host push` is readable by both.

use anyhow::{bail, Context, Result};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OCI_IMAGE_MEDIA_TYPE};
use serde_json::json;

use super::reference::is_sha256_hex;
use super::store::sha256_hex;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";

/// The component layer a manifest names.
#[derive(Debug, PartialEq, Eq)]
pub struct WasmLayer {
    /// SHA-256 of the layer's bytes, lowercase hex.
    pub hex: String,
    pub size: u64,
}

/// Reads a manifest as a Wasm artifact: one `application/wasm` layer under
/// a Wasm config. Anything else (a container image, an index, a Helm
/// chart) is refused here, before any layer is fetched.
pub fn wasm_layer(manifest: &[u8]) -> Result<WasmLayer> {
    let value: serde_json::Value =
        serde_json::from_slice(manifest).context("the manifest is not JSON")?;
    if value.get("manifests").is_some() {
        bail!(
            "not a Wasm artifact: it is an image index (a multi-platform image), not one component"
        );
    }
    let manifest: OciImageManifest =
        serde_json::from_value(value).context("not an OCI image manifest")?;
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        bail!(
            "not a Wasm artifact: its config media type is {:?}, not {CONFIG_MEDIA_TYPE:?}",
            manifest.config.media_type
        );
    }
    let [layer] = manifest.layers.as_slice() else {
        bail!(
            "not a Wasm artifact: it has {} layers, not one {LAYER_MEDIA_TYPE:?} layer",
            manifest.layers.len()
        );
    };
    if layer.media_type != LAYER_MEDIA_TYPE {
        bail!(
            "not a Wasm artifact: its layer's media type is {:?}, not {LAYER_MEDIA_TYPE:?}",
            layer.media_type
        );
    }
    let hex = match layer.digest.strip_prefix("sha256:") {
        Some(hex) if is_sha256_hex(hex) => hex.to_owned(),
        _ => bail!(
            "the layer's digest {:?} is not sha256:<64 hex digits>",
            layer.digest
        ),
    };
    let size = u64::try_from(layer.size)
        .ok()
        .context("the layer's size is negative")?;
    Ok(WasmLayer { hex, size })
}

/// The config blob of a component: what the layout requires and nothing
/// that changes from one push to the next (no timestamp), so pushing the
/// same file twice gives the same manifest digest.
pub fn config(layer: &[u8]) -> Vec<u8> {
    let doc = json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [format!("sha256:{}", sha256_hex(layer))],
    });
    serde_json::to_vec(&doc).expect("a JSON value serializes")
}

/// The manifest's bytes for a component and its config: these exact bytes
/// are pushed, so their SHA-256 is the digest the registry stores.
pub fn manifest(layer: &[u8], config: &[u8]) -> Vec<u8> {
    let descriptor = |media_type: &str, bytes: &[u8]| OciDescriptor {
        media_type: media_type.to_owned(),
        digest: format!("sha256:{}", sha256_hex(bytes)),
        size: bytes.len() as i64,
        ..Default::default()
    };
    let manifest = OciImageManifest {
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
        config: descriptor(CONFIG_MEDIA_TYPE, config),
        layers: vec![descriptor(LAYER_MEDIA_TYPE, layer)],
        ..Default::default()
    };
    serde_json::to_vec(&manifest).expect("a manifest serializes")
}

/// Refuses anything but a WebAssembly component: a core module would be
/// a valid artifact, but no host of this project could run it.
pub fn check_component(bytes: &[u8]) -> Result<()> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
            bail!("a core WebAssembly module, not a component (this host runs components)")
        }
        _ => bail!("not a WebAssembly file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00rest";

    #[test]
    fn what_push_writes_pull_accepts() {
        let config = config(COMPONENT);
        let manifest = manifest(COMPONENT, &config);
        assert_eq!(
            wasm_layer(&manifest).unwrap(),
            WasmLayer {
                hex: sha256_hex(COMPONENT),
                size: COMPONENT.len() as u64
            }
        );
        // Reproducible: the same file, the same digest.
        assert_eq!(
            manifest,
            super::manifest(COMPONENT, &super::config(COMPONENT))
        );
        let doc: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(doc["mediaType"], OCI_IMAGE_MEDIA_TYPE);
        assert_eq!(doc["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(doc["layers"][0]["mediaType"], LAYER_MEDIA_TYPE);
    }

    #[test]
    fn other_artifacts_are_refused() {
        let config = config(COMPONENT);
        let good: serde_json::Value =
            serde_json::from_slice(&manifest(COMPONENT, &config)).unwrap();
        let mut image = good.clone();
        image["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
        let mut two = good.clone();
        two["layers"] = json!([good["layers"][0], good["layers"][0]]);
        let mut tar = good.clone();
        tar["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar".into();
        let index = json!({"schemaVersion": 2, "manifests": []});
        for (doc, needle) in [
            (image, "config media type"),
            (two, "2 layers"),
            (tar, "layer's media type"),
            (index, "image index"),
        ] {
            let e = wasm_layer(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
        }
        assert!(wasm_layer(b"<html>").is_err());
    }

    #[test]
    fn only_components_are_pushed() {
        assert!(check_component(COMPONENT).is_ok());
        assert!(check_component(b"\0asm\x01\x00\x00\x00")
            .unwrap_err()
            .to_string()
            .contains("core"));
        assert!(check_component(b"#!/bin/sh").is_err());
    }
}
