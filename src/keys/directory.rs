//! The key directory: one file per key, mode 0600, created once by
//! `veilctl init` (or the first dev start) and loaded into memory at startup
//! so no request ever parses key material.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::signer::Es256Signer;
use crate::issuance::x509::PseudonymCa;
use crate::linkage::{LinkKeys, generate_glass_keypair};

const CA_KEY: &str = "ca.key.pem";
const CA_CERT: &str = "ca.cert.pem";
const K_REF: &str = "k_ref.key";
const K_OPS: &str = "k_ops.key";
const GLASS_PUBLIC: &str = "break-glass.pub";
/// The break-glass private key. Written beside the others only for simple
/// deployments; production moves it away (see the break-glass issue).
pub const GLASS_PRIVATE: &str = "break-glass.key";
const SD_JWT_KEY: &str = "sd-jwt.key.der";
const SD_CWT_KEY: &str = "sd-cwt.key.der";
const AUDIT_KEY: &str = "audit.key.der";
/// The first admin token, shown once and kept here for the operator.
pub const ADMIN_TOKEN: &str = "admin-token";

#[derive(Debug, thiserror::Error)]
pub enum KeyDirError {
    #[error("key directory {0} is incomplete: {1} is missing (run `veilctl init`)")]
    Missing(PathBuf, &'static str),
    #[error("key directory {0} already holds keys; refusing to overwrite them")]
    AlreadyInitialized(PathBuf),
    #[error("cannot access {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// All keys the online service needs, parsed.
#[derive(Debug)]
pub struct KeySet {
    pub ca: PseudonymCa,
    pub link: LinkKeys,
    pub sd_jwt: Es256Signer,
    pub sd_cwt: Es256Signer,
    pub audit: Es256Signer,
}

/// Paths of a key directory.
#[derive(Debug, Clone)]
pub struct KeyDirectory {
    root: PathBuf,
}

impl KeyDirectory {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    /// True once `generate` has run here.
    pub fn is_initialized(&self) -> bool {
        self.path(CA_KEY).exists()
    }

    /// Creates every key. Refuses to touch a directory that already has keys.
    pub fn generate(&self, domain: &str) -> Result<(), KeyDirError> {
        if self.is_initialized() {
            return Err(KeyDirError::AlreadyInitialized(self.root.clone()));
        }
        fs::create_dir_all(&self.root).map_err(|source| self.io(&self.root, source))?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .map_err(|source| self.io(&self.root, source))?;

        let (ca_key_pem, ca_cert_pem) =
            PseudonymCa::generate(domain).map_err(|e| self.invalid(CA_KEY, e.to_string()))?;
        let rng = SystemRandom::new();
        let mut k_ref = Zeroizing::new([0u8; 32]);
        let mut k_ops = Zeroizing::new([0u8; 32]);
        rng.fill(k_ref.as_mut()).map_err(|_| self.invalid(K_REF, "no randomness".into()))?;
        rng.fill(k_ops.as_mut()).map_err(|_| self.invalid(K_OPS, "no randomness".into()))?;
        let (glass_private, glass_public) = generate_glass_keypair();

        self.write(K_REF, Base64::encode_string(k_ref.as_ref()).as_bytes())?;
        self.write(K_OPS, Base64::encode_string(k_ops.as_ref()).as_bytes())?;
        self.write(GLASS_PUBLIC, Base64::encode_string(&glass_public).as_bytes())?;
        self.write(GLASS_PRIVATE, Base64::encode_string(&glass_private).as_bytes())?;
        for file in [SD_JWT_KEY, SD_CWT_KEY, AUDIT_KEY] {
            let (_, der) =
                Es256Signer::generate("new").map_err(|e| self.invalid(file, e.to_string()))?;
            self.write(file, &der)?;
        }
        self.write(CA_CERT, ca_cert_pem.as_bytes())?;
        // Written last: its presence marks the directory as complete.
        self.write(CA_KEY, ca_key_pem.as_bytes())?;
        Ok(())
    }

    /// Loads and parses every key the online service needs.
    pub fn load(&self) -> Result<KeySet, KeyDirError> {
        let ca_key = self.read_text(CA_KEY)?;
        let ca_cert = self.read_text(CA_CERT)?;
        let ca = PseudonymCa::load(&ca_key, &ca_cert)
            .map_err(|e| self.invalid(CA_KEY, e.to_string()))?;
        let k_ref = self.read_b64(K_REF)?;
        let k_ops = self.read_b64(K_OPS)?;
        let glass_public = self.read_b64(GLASS_PUBLIC)?;
        let link = LinkKeys::new(&k_ref, &k_ops, &glass_public)
            .map_err(|e| self.invalid(K_OPS, e.to_string()))?;
        Ok(KeySet {
            ca,
            link,
            sd_jwt: self.signer(SD_JWT_KEY)?,
            sd_cwt: self.signer(SD_CWT_KEY)?,
            audit: self.signer(AUDIT_KEY)?,
        })
    }

    /// Writes a secret file with mode 0600, never replacing an existing one.
    pub fn write(&self, file: &str, contents: &[u8]) -> Result<(), KeyDirError> {
        let path = self.path(file);
        let mut handle = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| self.io(&path, source))?;
        handle.write_all(contents).map_err(|source| self.io(&path, source))
    }

    fn signer(&self, file: &'static str) -> Result<Es256Signer, KeyDirError> {
        let der = self.read(file)?;
        Es256Signer::load(&der).map_err(|e| self.invalid(file, e.to_string()))
    }

    fn read(&self, file: &'static str) -> Result<Zeroizing<Vec<u8>>, KeyDirError> {
        let path = self.path(file);
        if !path.exists() {
            return Err(KeyDirError::Missing(self.root.clone(), file));
        }
        warn_if_exposed(&path);
        fs::read(&path).map(Zeroizing::new).map_err(|source| self.io(&path, source))
    }

    fn read_text(&self, file: &'static str) -> Result<Zeroizing<String>, KeyDirError> {
        let bytes = self.read(file)?;
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| self.invalid(file, "not UTF-8".into()))
    }

    fn read_b64(&self, file: &'static str) -> Result<Zeroizing<Vec<u8>>, KeyDirError> {
        let text = self.read_text(file)?;
        Base64::decode_vec(text.trim())
            .map(Zeroizing::new)
            .map_err(|_| self.invalid(file, "not base64".into()))
    }

    fn io(&self, path: &Path, source: std::io::Error) -> KeyDirError {
        KeyDirError::Io { path: path.into(), source }
    }

    fn invalid(&self, file: &str, message: String) -> KeyDirError {
        KeyDirError::Invalid { path: self.path(file), message }
    }
}

fn warn_if_exposed(path: &Path) {
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "key file is readable by group or others; chmod 600 it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_then_load_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDirectory::new(dir.path().join("keys"));
        keys.generate("example.com").unwrap();
        let set = keys.load().unwrap();
        assert_ne!(set.sd_jwt.kid(), set.sd_cwt.kid());
        for file in [CA_KEY, K_REF, K_OPS, GLASS_PRIVATE, SD_JWT_KEY] {
            let mode = fs::metadata(keys.path(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        assert!(matches!(keys.generate("example.com"), Err(KeyDirError::AlreadyInitialized(_))));
        fs::remove_file(keys.path(K_OPS)).unwrap();
        let err = keys.load().unwrap_err().to_string();
        assert!(err.contains("k_ops.key"), "{err}");
    }
}
