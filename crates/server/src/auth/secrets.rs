//! Secrets: random credentials, their hashes, and sealing secrets at rest with the deployment's secret key.

use std::path::Path;

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, AeadCore, KeyInit, OsRng},
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use switchboard_domain::Error;

/// A new credential: `prefix` and 256 random bits, URL-safe.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a credential. Credentials are 256 random bits, so a fast hash is as safe as a slow one
/// (there is nothing to guess) and keeps every request's key check cheap.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Encrypts and decrypts secrets stored in the database (XChaCha20-Poly1305, random nonces).
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    /// Root of the MAC keys derived for other uses, so the encryption key itself signs nothing.
    mac_root: [u8; 32],
}

impl SecretBox {
    /// The configured key, or the one in `data_dir/secret.key`, created on first start.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let key = match configured.filter(|k| !k.is_empty()) {
            Some(b64) => STANDARD.decode(b64.trim()).context("secret_key must be base64")?,
            None => {
                let path = data_dir.join("secret.key");
                if path.exists() {
                    STANDARD
                        .decode(std::fs::read_to_string(&path).context("reading secret.key")?.trim())
                        .context("secret.key must be base64")?
                } else {
                    std::fs::create_dir_all(data_dir).context("creating the data directory")?;
                    let mut key = [0u8; 32];
                    OsRng.fill_bytes(&mut key);
                    write_private(&path, STANDARD.encode(key).as_bytes())?;
                    key.to_vec()
                }
            }
        };
        if key.len() != 32 {
            bail!("the secret key must be 32 bytes, got {}", key.len());
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|_| anyhow::anyhow!("bad secret key length"))?;
        let mac_root = Sha256::new().chain_update(b"switchboard mac keys\0").chain_update(&key).finalize().into();
        Ok(Self { cipher, mac_root })
    }

    /// A key for `purpose` (e.g. signing attachment links), the same on every node that shares the secret key.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        Sha256::new().chain_update(self.mac_root).chain_update(purpose.as_bytes()).finalize().into()
    }

    pub fn seal(&self, plain: &[u8]) -> Result<String, Error> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self.cipher.encrypt(&nonce, plain).map_err(|_| Error::internal("sealing a secret failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, Error> {
        let bytes = STANDARD.decode(sealed).map_err(Error::internal)?;
        if bytes.len() < 24 {
            return Err(Error::internal("sealed secret too short"));
        }
        let (nonce, data) = bytes.split_at(24);
        self.cipher.decrypt(XNonce::from_slice(nonce), data).map_err(|_| {
            Error::internal("a stored secret does not open with this secret key (was secret_key changed?)")
        })
    }
}

fn write_private(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(content)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretBox::load(None, dir.path()).unwrap();
        let again = SecretBox::load(None, dir.path()).unwrap();
        let sealed = a.seal(b"client secret").unwrap();
        assert!(!sealed.contains("client secret"));
        assert_eq!(again.open(&sealed).unwrap(), b"client secret");
        let other = SecretBox::load(Some(&STANDARD.encode([7u8; 32])), dir.path()).unwrap();
        assert!(other.open(&sealed).is_err());
    }
}
