//! `motionmcp-host push FILE.wasm oci://REGISTRY/REPO:TAG`: publishes a
//! component in the Wasm artifact layout and prints the pinned reference
//! to serve it by.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use hyper::header::HeaderValue;
use oci_client::manifest::OCI_IMAGE_MEDIA_TYPE;
use oci_client::RegistryOperation;

use super::layout;
use super::pull::explain;
use super::reference::OciRef;
use super::store::sha256_hex;
use super::{credentials, OciArgs};

#[derive(clap::Args)]
pub struct PushArgs {
    /// The component to publish (.wasm)
    #[arg(value_name = "FILE.wasm")]
    file: PathBuf,

    /// Where to publish it: oci://REGISTRY/REPOSITORY:TAG
    #[arg(value_name = "oci://REGISTRY/REPO:TAG")]
    target: String,

    #[command(flatten)]
    oci: OciArgs,
}

pub async fn push(args: PushArgs) -> Result<()> {
    let r = OciRef::from_arg(&args.target)
        .ok_or_else(|| anyhow!("{}: expected oci://REGISTRY/REPOSITORY:TAG", args.target))??;
    if r.digest.is_some() {
        bail!("{r}: push to a tag; the digest is what the push prints");
    }
    if r.tag.is_none() {
        bail!("{r}: name a tag (oci://REGISTRY/REPOSITORY:TAG)");
    }
    let component = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    layout::check_component(&component)
        .with_context(|| format!("{} cannot be pushed", args.file.display()))?;
    if component.len() as u64 > args.oci.max_bytes() {
        bail!(
            "{} is over --max-pull-mb {}: no host with that limit could pull it",
            args.file.display(),
            args.oci.max_pull_mb
        );
    }
    let config = layout::config(&component);
    let manifest = layout::manifest(&component, &config);
    let digest = sha256_hex(&manifest);
    let client = args.oci.client(&r)?;
    let auth = credentials()?;
    let reference = r.client_reference();
    let upload = async {
        client
            .auth(&reference, &auth, RegistryOperation::Push)
            .await
            .map_err(|e| explain(e, &r, "repository"))?;
        for (bytes, what) in [(component, "component layer"), (config, "config")] {
            let blob_digest = format!("sha256:{}", sha256_hex(&bytes));
            client
                .push_blob(&reference, bytes, &blob_digest)
                .await
                .map_err(|e| explain(e, &r, what))?;
        }
        client
            .push_manifest_raw(
                &reference,
                manifest,
                HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
            )
            .await
            .map_err(|e| explain(e, &r, "manifest"))?;
        anyhow::Ok(())
    };
    tokio::time::timeout(args.oci.timeout(), upload)
        .await
        .unwrap_or_else(|_| {
            Err(anyhow!(
                "registry {} did not take it within --registry-timeout {}s",
                r.registry,
                args.oci.registry_timeout
            ))
        })
        .with_context(|| format!("cannot push to {r}"))?;
    // What to serve: the tag for people, the digest for the host.
    println!("{}", r.pinned(&digest));
    Ok(())
}
