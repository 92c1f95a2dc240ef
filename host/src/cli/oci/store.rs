//! Pulled components on disk, by digest: `<cache>/oci/sha256/<hex>.json`
//! holds a manifest and `<hex>.wasm` a component layer, each named by the
//! SHA-256 of its own bytes. A pinned reference then needs no registry:
//! its manifest names the layer, and both are re-hashed on every read, so a
//! file changed on disk (by accident or not) is noticed, removed and never
//! loaded.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// What a cached file turned out to be.
pub enum Cached<T> {
    Missing,
    Intact(T),
    /// It was there but did not hash to its name; it has been removed.
    Corrupt,
}

pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store inside a cache directory (the one compiled components use).
    pub fn new(cache_dir: &Path) -> Store {
        Store {
            dir: cache_dir.join("oci").join("sha256"),
        }
    }

    pub fn manifest_path(&self, hex: &str) -> PathBuf {
        self.dir.join(format!("{hex}.json"))
    }

    pub fn layer_path(&self, hex: &str) -> PathBuf {
        self.dir.join(format!("{hex}.wasm"))
    }

    /// The manifest `hex`, if stored intact.
    pub fn manifest(&self, hex: &str, max_bytes: u64) -> Cached<Vec<u8>> {
        let path = self.manifest_path(hex);
        let Ok(file) = File::open(&path) else {
            return Cached::Missing;
        };
        let mut bytes = Vec::new();
        // One byte over the cap is enough to know it is too big.
        let read = file.take(max_bytes + 1).read_to_end(&mut bytes);
        if read.is_err() || bytes.len() as u64 > max_bytes || sha256_hex(&bytes) != hex {
            discard(&path);
            return Cached::Corrupt;
        }
        Cached::Intact(bytes)
    }

    /// The path of layer `hex`, if stored intact and `size` bytes long.
    pub fn layer(&self, hex: &str, size: u64) -> Cached<PathBuf> {
        let path = self.layer_path(hex);
        let Ok(file) = File::open(&path) else {
            return Cached::Missing;
        };
        match hash_reader(file) {
            Ok((actual, len)) if actual == hex && len == size => Cached::Intact(path),
            _ => {
                discard(&path);
                Cached::Corrupt
            }
        }
    }

    /// Stores a manifest whose digest the caller has checked.
    pub fn put_manifest(&self, hex: &str, bytes: &[u8]) -> Result<()> {
        let mut new = self.create(&self.manifest_path(hex))?;
        new.file.write_all(bytes)?;
        new.commit()
    }

    /// A file being written for layer `hex`; it appears under its name only
    /// once [`NewFile::commit`] is called (after the caller checked the hash).
    pub fn new_layer(&self, hex: &str) -> Result<NewFile> {
        self.create(&self.layer_path(hex))
    }

    fn create(&self, path: &Path) -> Result<NewFile> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let file = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        Ok(NewFile {
            file,
            tmp,
            path: path.to_owned(),
            committed: false,
        })
    }
}

/// A file written beside its final name and renamed into place, so a
/// concurrent reader never sees half of it; dropped uncommitted, it is removed.
pub struct NewFile {
    pub file: File,
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl NewFile {
    pub fn commit(mut self) -> Result<()> {
        self.file.flush()?;
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn discard(path: &Path) {
    tracing::warn!(file = %path.display(), "cached file does not match its digest; removed");
    let _ = std::fs::remove_file(path);
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 and length of everything `reader` yields, read in chunks
/// (a layer may be large).
fn hash_reader(mut reader: impl Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok((hex(&hasher.finalize()), len));
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mmcp-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn files_are_checked_against_their_names() {
        let dir = scratch("names");
        let store = Store::new(&dir);
        let layer = b"\0asm component bytes".to_vec();
        let hex = sha256_hex(&layer);
        assert!(matches!(
            store.layer(&hex, layer.len() as u64),
            Cached::Missing
        ));
        let mut new = store.new_layer(&hex).unwrap();
        new.file.write_all(&layer).unwrap();
        new.commit().unwrap();
        assert!(matches!(
            store.layer(&hex, layer.len() as u64),
            Cached::Intact(_)
        ));
        // A changed byte: detected and removed.
        let mut changed = layer.clone();
        changed[0] = b'X';
        std::fs::write(store.layer_path(&hex), &changed).unwrap();
        assert!(matches!(
            store.layer(&hex, layer.len() as u64),
            Cached::Corrupt
        ));
        assert!(!store.layer_path(&hex).exists());

        let manifest = br#"{"schemaVersion":2}"#;
        let m = sha256_hex(manifest);
        store.put_manifest(&m, manifest).unwrap();
        assert!(matches!(store.manifest(&m, 1024), Cached::Intact(b) if b == manifest));
        assert!(matches!(store.manifest(&m, 4), Cached::Corrupt));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_uncommitted_file_leaves_nothing() {
        let dir = scratch("uncommitted");
        let store = Store::new(&dir);
        let mut new = store.new_layer(&"0".repeat(64)).unwrap();
        new.file.write_all(b"half").unwrap();
        drop(new);
        assert_eq!(
            std::fs::read_dir(dir.join("oci/sha256")).unwrap().count(),
            0
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
