//! `oci://registry/repository[:tag][@sha256:<hex>]`: a component named by
//! where it is published and, when pinned, by what it must be.

use std::fmt;

use anyhow::{bail, Result};

/// What marks a model argument as a registry reference rather than a file.
pub const SCHEME: &str = "oci://";

/// A parsed `oci://` reference. The registry is always explicit: there is
/// no default registry (and no Docker Hub rewriting of `repo` into
/// `docker.io/library/repo`), so what is printed is what is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    /// The manifest's SHA-256 in lowercase hex, when pinned.
    pub digest: Option<String>,
}

impl OciRef {
    /// `Some` for an `oci://` argument (parsed, or why not), `None` for a
    /// plain path.
    pub fn from_arg(arg: &str) -> Option<Result<OciRef>> {
        arg.strip_prefix(SCHEME)
            .map(|rest| OciRef::parse(arg, rest))
    }

    fn parse(whole: &str, rest: &str) -> Result<OciRef> {
        let (name, digest) = match rest.split_once('@') {
            Some((name, digest)) => (name, Some(parse_digest(whole, digest)?)),
            None => (rest, None),
        };
        let Some((registry, path)) = name.split_once('/') else {
            bail!("{whole}: expected oci://REGISTRY/REPOSITORY[:TAG][@sha256:HEX]");
        };
        if registry.is_empty() || !registry.chars().all(registry_char) {
            bail!("{whole}: {registry:?} is not a registry host[:port]");
        }
        // A tag is what follows the last `:` of the last path segment (a
        // registry port has its own `:` before the first `/`).
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
            _ => (path, None),
        };
        if !valid_repository(repository) {
            bail!("{whole}: {repository:?} is not a repository name (lowercase letters, digits, and . _ - / between them)");
        }
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                bail!("{whole}: {tag:?} is not a tag (up to 128 of letters, digits, . _ -, not starting with . or -)");
            }
        }
        Ok(OciRef {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The host part of the registry, without the port.
    pub fn host(&self) -> &str {
        let r = self.registry.as_str();
        if let Some(bracketed) = r.strip_prefix('[') {
            return bracketed.split(']').next().unwrap_or(bracketed);
        }
        r.split(':').next().unwrap_or(r)
    }

    /// Whether the registry is this machine: the only place plain HTTP is
    /// used without being asked for (a registry there is one the operator
    /// started, and there is no network between to protect).
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The `oci-client` form: manifests are fetched by digest when pinned,
    /// so a tag that moved since cannot change what is loaded.
    pub fn client_reference(&self) -> oci_client::Reference {
        let (registry, repository) = (self.registry.clone(), self.repository.clone());
        match (&self.tag, &self.digest) {
            (Some(tag), Some(hex)) => oci_client::Reference::with_tag_and_digest(
                registry,
                repository,
                tag.clone(),
                format!("sha256:{hex}"),
            ),
            (None, Some(hex)) => {
                oci_client::Reference::with_digest(registry, repository, format!("sha256:{hex}"))
            }
            (tag, None) => oci_client::Reference::with_tag(
                registry,
                repository,
                tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }

    /// The same reference pinned to `hex`.
    pub fn pinned(&self, hex: &str) -> OciRef {
        OciRef {
            digest: Some(hex.to_owned()),
            ..self.clone()
        }
    }
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(hex) = &self.digest {
            write!(f, "@sha256:{hex}")?;
        }
        Ok(())
    }
}

/// `sha256:<64 lowercase hex>`, returned as the hex. Other algorithms are
/// refused rather than skipped: an unchecked pin would be no pin.
fn parse_digest(whole: &str, digest: &str) -> Result<String> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        bail!("{whole}: the digest must be sha256:<64 hex digits>, not {digest:?}");
    };
    if !is_sha256_hex(hex) {
        bail!("{whole}: the digest must be sha256:<64 hex digits>, not {digest:?}");
    }
    Ok(hex.to_owned())
}

/// 64 lowercase hex digits: the only spelling of a SHA-256 digest OCI uses.
pub fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn registry_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
}

/// The distribution spec's repository grammar, simplified: path segments
/// of lowercase letters and digits joined by `.`, `_`, `__` or `-` runs.
fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.len() <= 255
        && repository.split('/').all(|segment| {
            let bytes = segment.as_bytes();
            !bytes.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes.iter().all(|&b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        })
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(s: &str) -> Result<OciRef> {
        OciRef::from_arg(s).expect("an oci:// argument")
    }

    #[test]
    fn tag_and_digest() {
        let r = parse(&format!("oci://127.0.0.1:5000/models/null:v1@sha256:{HEX}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "models/null");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.as_deref(), Some(HEX));
        assert!(r.is_loopback());
        assert_eq!(
            r.to_string(),
            format!("oci://127.0.0.1:5000/models/null:v1@sha256:{HEX}")
        );
        let c = r.client_reference();
        assert_eq!(c.registry(), "127.0.0.1:5000");
        assert_eq!(c.digest(), Some(format!("sha256:{HEX}").as_str()));
    }

    #[test]
    fn digest_only_and_tag_only() {
        let r = parse(&format!("oci://ghcr.io/acme/walk@sha256:{HEX}")).unwrap();
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some(HEX)));
        let r = parse("oci://ghcr.io/acme/walk:2").unwrap();
        assert_eq!((r.tag.as_deref(), r.digest.as_deref()), (Some("2"), None));
        assert!(!r.is_loopback());
        assert!(parse("oci://localhost:5000/a:b").unwrap().is_loopback());
        assert!(parse("oci://[::1]:5000/a:b").unwrap().is_loopback());
    }

    #[test]
    fn plain_paths_are_not_references() {
        assert!(OciRef::from_arg("target/components/null.wasm").is_none());
        assert!(OciRef::from_arg("/oci://x").is_none());
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "oci://",
            "oci://registry-only",
            "oci:///repo:tag",
            "oci://r.io/Upper:tag",
            "oci://r.io/repo:",
            "oci://r.io/repo:tag@sha256:abc",
            &format!("oci://r.io/repo@sha512:{HEX}"),
            &format!("oci://r.io/repo@sha256:{}", HEX.to_uppercase()),
            "oci://r.io/a//b:t",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
