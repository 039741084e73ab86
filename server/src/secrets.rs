//! Secrets at rest: what the service must be able to read back (webhook signing secrets) is
//! sealed with XChaCha20-Poly1305 under a key from configuration, so a copy of the database
//! alone (a backup, a dump) holds no usable secret. Files the service writes are private to
//! its user.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// What a sealed value starts with; a value without it was stored before sealing existed.
const SEALED: &str = "sealed:v1:";

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    pub fn seal(&self, plain: &str) -> String {
        let nonce: [u8; 24] = rand::random();
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
                .expect("XChaCha20-Poly1305 seals any message under 256 GiB"),
        );
        format!("{SEALED}{}", STANDARD.encode(out))
    }

    /// The plain text of a sealed value; a value stored before sealing comes back as it is
    /// (`Legacy`), for the caller to seal.
    pub fn open(&self, stored: &str) -> Result<Opened, &'static str> {
        let Some(sealed) = stored.strip_prefix(SEALED) else {
            return Ok(Opened::Legacy(stored.to_string()));
        };
        let bytes = STANDARD.decode(sealed).map_err(|_| "not base64")?;
        if bytes.len() < 24 {
            return Err("too short");
        }
        let (nonce, body) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| "sealed under another key, or altered")?;
        String::from_utf8(plain)
            .map(Opened::Sealed)
            .map_err(|_| "not UTF-8")
    }
}

pub enum Opened {
    Sealed(String),
    Legacy(String),
}

impl Opened {
    pub fn into_plain(self) -> String {
        match self {
            Opened::Sealed(s) | Opened::Legacy(s) => s,
        }
    }
}

/// A key given in configuration: 32 bytes in base64.
pub fn parse_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = STANDARD
        .decode(text)
        .context("not base64 (make one with `openssl rand -base64 32`)")?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{} bytes; it must be 32", b.len()))
}

/// The key kept in `path`, made (readable by this user only) when there is none.
pub fn key_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_key(text.trim()).with_context(|| format!("{}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            if let Some(dir) = path.parent() {
                private_dir(dir)?;
            }
            let mut file = private_file(path)?;
            writeln!(file, "{}", STANDARD.encode(key))
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Creates `dir` (and its parents) as 0700; an existing one readable by others is narrowed.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), "narrowing the data directory to 0700");
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make {} private", dir.display()))?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    Ok(())
}

/// Opens `path` for appending, creating it as 0600; an existing one readable by others is
/// narrowed.
pub fn private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} private", path.display()))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    options
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_under_their_key() {
        let a = SecretBox::new(&[7; 32]);
        let sealed = a.seal("whsec_abc");
        assert!(sealed.starts_with(SEALED) && !sealed.contains("whsec_abc"));
        assert_ne!(sealed, a.seal("whsec_abc"), "a fresh nonce each time");
        assert!(matches!(a.open(&sealed), Ok(Opened::Sealed(s)) if s == "whsec_abc"));
        assert!(SecretBox::new(&[8; 32]).open(&sealed).is_err());
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(a.open(std::str::from_utf8(&altered).unwrap()).is_err());
        assert!(matches!(a.open("whsec_old"), Ok(Opened::Legacy(s)) if s == "whsec_old"));
    }

    #[test]
    fn keys_parse_and_files_are_private() {
        assert!(parse_key("c2hvcnQ=").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/secrets.key");
        let key = key_file(&path).unwrap();
        assert_eq!(key_file(&path).unwrap(), key, "kept, not made again");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
    }
}
