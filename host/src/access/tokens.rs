//! Bearer tokens: who may use the server, under which name.
//!
//! Tokens come from a file (`--auth-tokens FILE`, re-read on SIGHUP) and/or
//! an environment variable (`MOTIONMCP_AUTH_TOKENS`, for containers), one
//! per line as `name:token`, or a bare `token` whose name is derived from
//! its hash (so logs and limits can name a client without its secret).
//! Only SHA-256 digests are kept; a presented token is hashed and compared
//! with every known digest in constant time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// The environment variable that may hold tokens inline (lines or commas).
pub const TOKENS_ENV: &str = "MOTIONMCP_AUTH_TOKENS";

/// One known client.
#[derive(Clone)]
struct Entry {
    name: String,
    digest: [u8; 32],
}

/// The current set of tokens, replaceable while the server runs.
pub struct Tokens {
    file: Option<PathBuf>,
    /// The inline tokens, already hashed (the environment cannot change, and
    /// no secret is kept as text).
    inline: Vec<Entry>,
    entries: RwLock<Arc<Vec<Entry>>>,
}

impl Tokens {
    /// Reads the file and/or the inline text; at least one token is needed.
    pub fn load(file: Option<PathBuf>, inline: Option<String>) -> Result<Tokens> {
        let mut parsed = Vec::new();
        if let Some(text) = inline {
            parse(&text.replace(',', "\n"), TOKENS_ENV, &mut parsed)?;
        }
        let entries = read(file.as_deref(), &parsed)?;
        Ok(Tokens {
            file,
            inline: parsed,
            entries: RwLock::new(Arc::new(entries)),
        })
    }

    /// Re-reads the file (SIGHUP): a token removed stops working at once.
    /// On an error the previous set stays and the error is returned.
    pub fn reload(&self) -> Result<usize> {
        let entries = read(self.file.as_deref(), &self.inline)?;
        let count = entries.len();
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(entries);
        Ok(count)
    }

    /// How many tokens are known.
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn snapshot(&self) -> Arc<Vec<Entry>> {
        Arc::clone(&self.entries.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The client name of `token`, or `None`. Every entry is compared, each
    /// in constant time, so the time taken says nothing about which digest
    /// (or how much of one) matched.
    pub fn client(&self, token: &str) -> Option<String> {
        let digest = sha256(token);
        let mut found = None;
        for entry in self.snapshot().iter() {
            if constant_time_eq(&digest, &entry.digest) {
                found = Some(entry.name.clone());
            }
        }
        found
    }
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether two digests are equal, looking at every byte whatever differs.
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // Keeps the compiler from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// The file's tokens after the inline ones.
fn read(file: Option<&Path>, inline: &[Entry]) -> Result<Vec<Entry>> {
    let mut entries = inline.to_vec();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the tokens file {}", path.display()))?;
        parse(&text, &path.display().to_string(), &mut entries)?;
    }
    if entries.is_empty() {
        bail!("no tokens given: every request would be refused");
    }
    Ok(entries)
}

/// `name:token` or `token` per line (a bare token therefore holds no `:`);
/// blank lines and `#` comments skipped. A name or a token given twice is
/// refused: two names for one token would make the client ambiguous.
fn parse(text: &str, source: &str, entries: &mut Vec<Entry>) -> Result<()> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, token) = match line.split_once(':') {
            Some((name, token)) => (name.trim().to_owned(), token.trim()),
            None => (derived_name(line), line),
        };
        if name.is_empty() || token.is_empty() {
            bail!("{source} line {}: expected `name:token` or `token`", n + 1);
        }
        if entries.iter().any(|e| e.name == name) {
            bail!("{source} line {}: the name {name:?} is used twice", n + 1);
        }
        let digest = sha256(token);
        if entries.iter().any(|e| e.digest == digest) {
            bail!("{source} line {}: this token is listed twice", n + 1);
        }
        entries.push(Entry { name, digest });
    }
    Ok(())
}

/// A bare token's name: `token-` and its hash's first 8 hex digits.
fn derived_name(token: &str) -> String {
    let digest = sha256(token);
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("token-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_every_byte() {
        let a = sha256("secret");
        assert!(constant_time_eq(&a, &a.clone()));
        for i in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[i] ^= 1 << bit;
                assert!(!constant_time_eq(&a, &b), "byte {i} bit {bit}");
            }
        }
        assert!(!constant_time_eq(&a, &sha256("Secret")));
    }

    #[test]
    fn names_come_from_the_file_or_the_token_hash() {
        let tokens = Tokens::load(None, Some("alice:tok-a, tok-bare\n# note".into())).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens.client("tok-a").as_deref(), Some("alice"));
        let bare = tokens.client("tok-bare").unwrap();
        assert!(bare.starts_with("token-") && bare.len() == 14, "{bare}");
        assert!(!bare.contains("tok-bare"));
        assert_eq!(tokens.client("tok-b"), None);
        assert_eq!(tokens.client(""), None);
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let e = Tokens::load(None, Some("a:x\na:y".into())).err().unwrap();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = Tokens::load(None, Some("a:x\nb:x".into())).err().unwrap();
        assert!(e.to_string().contains("listed twice"), "{e}");
        assert!(Tokens::load(None, Some(":x".into())).is_err());
        assert!(Tokens::load(None, Some("# only a comment".into())).is_err());
    }

    #[test]
    fn reload_replaces_the_set_and_keeps_it_on_error() {
        let dir = std::env::temp_dir().join(format!("mmcp-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tokens");
        std::fs::write(&file, "a:one\nb:two\n").unwrap();
        let tokens = Tokens::load(Some(file.clone()), None).unwrap();
        assert_eq!(tokens.client("two").as_deref(), Some("b"));
        std::fs::write(&file, "a:one\n").unwrap();
        assert_eq!(tokens.reload().unwrap(), 1);
        assert_eq!(tokens.client("two"), None);
        std::fs::write(&file, "broken:\n").unwrap();
        assert!(tokens.reload().is_err());
        assert_eq!(tokens.client("one").as_deref(), Some("a"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
