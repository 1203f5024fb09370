//! The key directory: one file per key, mode 0600, created once by
//! `veilctl init` (or the first dev start) and loaded into memory at startup
//! so no request ever parses key material.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use serde::{Deserialize, Serialize};

use crate::core::linkage::LinkKeys;
use crate::core::ops_keys::{OpsKeyId, OpsKeys};
use crate::formats::glass_link::GlassSealer;
use crate::formats::keys::public_key::P256PublicKey;
use crate::formats::keys::signer::Es256Signer;
use crate::formats::threshold::KemSecretKey;
use crate::formats::x509::PseudonymCa;

const CA_KEY: &str = "ca.key.pem";
const CA_CERT: &str = "ca.cert.pem";
const K_REF: &str = "k_ref.key";
const K_OPS: &str = "k_ops.key";
/// A `k_ops` that opens but does not seal yet: every replica learns it
/// before any seals under it (`veilctl keys rotate --kind ops --stage`).
const K_OPS_STAGED: &str = "k_ops.staged.key";
/// The break-glass recipient public key: 65 bytes SEC1 P-256 (32 bytes
/// X25519 in key directories made before P-256; new links are then sealed
/// in the old suite until the key ceremony installs a P-256 key).
pub const GLASS_PUBLIC: &str = "break-glass.pub";
/// The break-glass private key. Written beside the others only by the dev
/// setup; veil never reads it, and production refuses to start beside it.
pub const GLASS_PRIVATE: &str = "break-glass.key";
/// veil's own DHKEM(P-256) sender key: links sealed in HPKE Auth mode with
/// it are the only ones a reveal accepts.
const GLASS_SENDER: &str = "glass-sender.key";
const SD_JWT_KEY: &str = "sd-jwt.key.der";
const SD_CWT_KEY: &str = "sd-cwt.key.der";
const AUDIT_KEY: &str = "audit.key.der";
/// The first admin token, shown once and kept here for the operator.
pub const ADMIN_TOKEN: &str = "admin-token";
/// Which generation of each issuer key signs, and the retired ones still
/// trusted (with the time they drop out). Absent until the first rotation.
pub const MANIFEST: &str = "keys.json";

/// The issuer keys `veilctl keys rotate` can replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyKind {
    Ca,
    SdJwt,
    SdCwt,
    Audit,
}

impl KeyKind {
    pub const ALL: [KeyKind; 4] = [Self::Ca, Self::SdJwt, Self::SdCwt, Self::Audit];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ca => "ca",
            Self::SdJwt => "sd-jwt",
            Self::SdCwt => "sd-cwt",
            Self::Audit => "audit",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The private key file of a generation; generation 0 keeps the names
    /// `veilctl init` has always written.
    fn key_file(self, generation: u32) -> String {
        match (self, generation) {
            (Self::Ca, 0) => CA_KEY.into(),
            (Self::Ca, n) => format!("ca.{n}.key.pem"),
            (kind, 0) => format!("{}.key.der", kind.as_str()),
            (kind, n) => format!("{}.{n}.key.der", kind.as_str()),
        }
    }

    /// The CA certificate of a generation.
    fn cert_file(generation: u32) -> String {
        match generation {
            0 => CA_CERT.into(),
            n => format!("ca.{n}.cert.pem"),
        }
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Manifest {
    /// Kind (`ca`, `sd-jwt`…) to the generation that signs now (0 if absent).
    #[serde(default)]
    current: BTreeMap<String, u32>,
    #[serde(default)]
    retired: Vec<RetiredEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RetiredEntry {
    kind: String,
    generation: u32,
    /// Unix seconds after which nothing this key signed is still valid.
    not_after: i64,
}

impl Manifest {
    fn current(&self, kind: KeyKind) -> u32 {
        self.current.get(kind.as_str()).copied().unwrap_or(0)
    }
}

/// A retired issuer key: it signs nothing any more but stays trusted and
/// published until `not_after`.
#[derive(Debug, Clone)]
pub struct RetiredKey {
    pub kind: KeyKind,
    pub kid: String,
    pub not_after: i64,
    pub public: RetiredPublic,
}

/// The public half of a retired key.
#[derive(Debug, Clone)]
pub enum RetiredPublic {
    Ca { cert_der: Vec<u8>, cert_pem: String },
    Es256(P256PublicKey),
}

/// What `rotate_ops` did, by key id.
#[derive(Debug, Clone)]
pub struct OpsRotation {
    pub old_kid: OpsKeyId,
    pub new_kid: OpsKeyId,
    /// The new key's generation, or `None` while it is only staged.
    pub generation: Option<u32>,
}

/// What `rotate` did, by key id.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub kind: KeyKind,
    pub old_kid: String,
    pub new_kid: String,
    pub generation: u32,
    pub old_not_after: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyDirError {
    #[error("key directory {0} is incomplete: {1} is missing (run `veilctl init`)")]
    Missing(PathBuf, String),
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
    /// Seals `glass_link`s; cannot open them.
    pub glass: GlassSealer,
    pub sd_jwt: Es256Signer,
    pub sd_cwt: Es256Signer,
    pub audit: Es256Signer,
    /// Retired keys still trusted, oldest first.
    pub retired: Vec<RetiredKey>,
}

impl KeySet {
    /// Retired keys of `kind` whose credentials may still be valid at `now`.
    pub fn retired(&self, kind: KeyKind, now: i64) -> impl Iterator<Item = &RetiredKey> {
        self.retired.iter().filter(move |key| key.kind == kind && key.not_after > now)
    }

    /// The key id that signs `kind` now.
    pub fn current_kid(&self, kind: KeyKind) -> &str {
        match kind {
            KeyKind::Ca => self.ca.key_id(),
            KeyKind::SdJwt => self.sd_jwt.kid(),
            KeyKind::SdCwt => self.sd_cwt.kid(),
            KeyKind::Audit => self.audit.kid(),
        }
    }
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
        let no_key = |file: &str| self.invalid(file, "no randomness".into());
        let glass_private = KemSecretKey::generate().map_err(|_| no_key(GLASS_PRIVATE))?;
        let glass_public = glass_private.public_key().to_bytes();

        self.write(K_REF, Base64::encode_string(k_ref.as_ref()).as_bytes())?;
        self.write(K_OPS, Base64::encode_string(k_ops.as_ref()).as_bytes())?;
        self.write(GLASS_PUBLIC, Base64::encode_string(&glass_public).as_bytes())?;
        self.write(
            GLASS_PRIVATE,
            Base64::encode_string(glass_private.to_bytes().as_slice()).as_bytes(),
        )?;
        self.generate_glass_sender()?;
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

    fn generate_glass_sender(&self) -> Result<(), KeyDirError> {
        let sender = KemSecretKey::generate()
            .map_err(|_| self.invalid(GLASS_SENDER, "no randomness".into()))?;
        self.write(GLASS_SENDER, Base64::encode_string(sender.to_bytes().as_slice()).as_bytes())
    }

    /// Loads and parses every key the online service needs.
    pub fn load(&self) -> Result<KeySet, KeyDirError> {
        let manifest = self.manifest()?;
        let ca = self.ca(manifest.current(KeyKind::Ca))?;
        let k_ref = self.read_b64(K_REF)?;
        let link = LinkKeys::with_ops(&k_ref, self.ops_keys()?)
            .map_err(|e| self.invalid(K_REF, e.to_string()))?;
        if !self.path(GLASS_SENDER).exists() {
            // Key directories made before authenticated links get theirs now:
            // it only signs new links, and changes nothing already stored.
            self.generate_glass_sender()?;
        }
        let glass = GlassSealer::new(&self.read_b64(GLASS_PUBLIC)?, &self.read_b64(GLASS_SENDER)?)
            .map_err(|e| self.invalid(GLASS_PUBLIC, e.to_string()))?;
        Ok(KeySet {
            ca,
            link,
            glass,
            sd_jwt: self.signer(&KeyKind::SdJwt.key_file(manifest.current(KeyKind::SdJwt)))?,
            sd_cwt: self.signer(&KeyKind::SdCwt.key_file(manifest.current(KeyKind::SdCwt)))?,
            audit: self.signer(&KeyKind::Audit.key_file(manifest.current(KeyKind::Audit)))?,
            retired: manifest
                .retired
                .iter()
                .map(|entry| self.retired_key(entry))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Replaces the `kind` key with a new generation that signs from then
    /// on; the old one stays trusted and published until `keep_until`.
    /// Retired keys whose time has passed (`now`) leave the manifest.
    /// Running services pick the change up when restarted.
    pub fn rotate(
        &self,
        kind: KeyKind,
        domain: &str,
        now: i64,
        keep_until: i64,
    ) -> Result<Rotation, KeyDirError> {
        if !self.is_initialized() {
            return Err(KeyDirError::Missing(self.root.clone(), CA_KEY.into()));
        }
        let mut manifest = self.manifest()?;
        let old = manifest.current(kind);
        let old_kid = self.kid(kind, old)?;
        let mut generation = old + 1;
        while self.path(&kind.key_file(generation)).exists() {
            generation += 1;
        }
        let new_file = kind.key_file(generation);
        match kind {
            KeyKind::Ca => {
                let (key_pem, cert_pem) = PseudonymCa::generate(domain)
                    .map_err(|e| self.invalid(&new_file, e.to_string()))?;
                self.write(&KeyKind::cert_file(generation), cert_pem.as_bytes())?;
                self.write(&new_file, key_pem.as_bytes())?;
            }
            _ => {
                let (_, der) = Es256Signer::generate("new")
                    .map_err(|e| self.invalid(&new_file, e.to_string()))?;
                self.write(&new_file, &der)?;
            }
        }
        let new_kid = self.kid(kind, generation)?;
        manifest.retired.retain(|entry| entry.not_after > now);
        manifest.retired.push(RetiredEntry {
            kind: kind.as_str().into(),
            generation: old,
            not_after: keep_until,
        });
        manifest.current.insert(kind.as_str().into(), generation);
        self.write_manifest(&manifest)?;
        Ok(Rotation { kind, old_kid, new_kid, generation, old_not_after: keep_until })
    }

    /// The `k_ops` file of a generation; generation 0 keeps the name
    /// `veilctl init` has always written.
    fn ops_file(generation: u32) -> String {
        match generation {
            0 => K_OPS.into(),
            n => format!("k_ops.{n}.key"),
        }
    }

    /// The generations of `k_ops` present, oldest first (0 always: a
    /// directory without `k_ops.key` fails to load).
    fn ops_generations(&self) -> Result<Vec<u32>, KeyDirError> {
        let entries = fs::read_dir(&self.root).map_err(|source| self.io(&self.root, source))?;
        let mut generations = vec![0];
        for entry in entries {
            let entry = entry.map_err(|source| self.io(&self.root, source))?;
            let name = entry.file_name();
            let generation = name
                .to_str()
                .and_then(|n| n.strip_prefix("k_ops.")?.strip_suffix(".key")?.parse::<u32>().ok());
            if let Some(n) =
                generation.filter(|n| *n > 0 && Self::ops_file(*n) == name.to_string_lossy())
            {
                generations.push(n);
            }
        }
        generations.sort_unstable();
        Ok(generations)
    }

    /// Every `k_ops`: the newest generation seals; the older ones, and a
    /// staged one, only open.
    fn ops_keys(&self) -> Result<OpsKeys, KeyDirError> {
        let generations = self.ops_generations()?;
        let mut keys = generations
            .iter()
            .map(|n| self.read_b64(&Self::ops_file(*n)))
            .collect::<Result<Vec<_>, _>>()?;
        let newest = Self::ops_file(generations.last().copied().unwrap_or(0));
        let current = keys.pop().ok_or_else(|| self.invalid(&newest, "missing".into()))?;
        if self.path(K_OPS_STAGED).exists() {
            keys.push(self.read_b64(K_OPS_STAGED)?);
        }
        let others: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
        OpsKeys::new(&current, &others).map_err(|e| self.invalid(&newest, e.to_string()))
    }

    /// Replaces `k_ops` for sealing; the older generations stay to open what
    /// they sealed (deleting one loses those values).
    ///
    /// With `stage`, the new key is only written as openable, so a rolling
    /// restart teaches it to every replica before any seals under it; the
    /// next call without `stage` makes the staged key the sealing one. With
    /// one replica, a single call without `stage` does both. Files appear
    /// whole or not at all.
    pub fn rotate_ops(&self, stage: bool) -> Result<OpsRotation, KeyDirError> {
        if !self.is_initialized() {
            return Err(KeyDirError::Missing(self.root.clone(), CA_KEY.into()));
        }
        let old_kid = self.ops_keys()?.current_id();
        let staged = self.path(K_OPS_STAGED);
        if stage {
            if staged.exists() {
                return Err(self.invalid(
                    K_OPS_STAGED,
                    "a staged k_ops already waits; rotate without --stage to make it seal".into(),
                ));
            }
            let new_kid = self.write_new_ops_key(K_OPS_STAGED)?;
            return Ok(OpsRotation { old_kid, new_kid, generation: None });
        }
        let newest = self.ops_generations()?.last().copied().unwrap_or(0);
        let generation = newest
            .checked_add(1)
            .ok_or_else(|| self.invalid(K_OPS, "no generation left".into()))?;
        let file = Self::ops_file(generation);
        let path = self.path(&file);
        let new_kid = if staged.exists() {
            let key = self.read_b64(K_OPS_STAGED)?;
            let kid =
                OpsKeys::id_of(&key).map_err(|e| self.invalid(K_OPS_STAGED, e.to_string()))?;
            fs::rename(&staged, &path).map_err(|source| self.io(&path, source))?;
            kid
        } else {
            self.write_new_ops_key(&file)?
        };
        Ok(OpsRotation { old_kid, new_kid, generation: Some(generation) })
    }

    /// Writes a fresh random `k_ops` to `file` through a staging name and a
    /// rename.
    fn write_new_ops_key(&self, file: &str) -> Result<OpsKeyId, KeyDirError> {
        let mut k_ops = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(k_ops.as_mut())
            .map_err(|_| self.invalid(file, "no randomness".into()))?;
        let kid = OpsKeys::id_of(k_ops.as_ref()).map_err(|e| self.invalid(file, e.to_string()))?;
        let staging = format!("{file}.new");
        let staging_path = self.path(&staging);
        if staging_path.exists() {
            fs::remove_file(&staging_path).map_err(|source| self.io(&staging_path, source))?;
        }
        self.write(&staging, Base64::encode_string(k_ops.as_ref()).as_bytes())?;
        let path = self.path(file);
        fs::rename(&staging_path, &path).map_err(|source| self.io(&path, source))?;
        Ok(kid)
    }

    fn manifest(&self) -> Result<Manifest, KeyDirError> {
        let path = self.path(MANIFEST);
        if !path.exists() {
            return Ok(Manifest::default());
        }
        let text = fs::read_to_string(&path).map_err(|source| self.io(&path, source))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| self.invalid(MANIFEST, e.to_string()))?;
        for kind in manifest.current.keys().chain(manifest.retired.iter().map(|e| &e.kind)) {
            if KeyKind::parse(kind).is_none() {
                return Err(self.invalid(MANIFEST, format!("unknown key kind `{kind}`")));
            }
        }
        Ok(manifest)
    }

    /// Replaces the manifest atomically (write beside, then rename).
    fn write_manifest(&self, manifest: &Manifest) -> Result<(), KeyDirError> {
        let text = serde_json::to_string_pretty(manifest)
            .map_err(|e| self.invalid(MANIFEST, e.to_string()))?;
        let staging = format!("{MANIFEST}.new");
        let staging_path = self.path(&staging);
        if staging_path.exists() {
            fs::remove_file(&staging_path).map_err(|source| self.io(&staging_path, source))?;
        }
        self.write(&staging, text.as_bytes())?;
        let path = self.path(MANIFEST);
        fs::rename(&staging_path, &path).map_err(|source| self.io(&path, source))
    }

    fn ca(&self, generation: u32) -> Result<PseudonymCa, KeyDirError> {
        let key_file = KeyKind::Ca.key_file(generation);
        let key = self.read_text(&key_file)?;
        let cert = self.read_text(&KeyKind::cert_file(generation))?;
        PseudonymCa::load(&key, &cert).map_err(|e| self.invalid(&key_file, e.to_string()))
    }

    fn kid(&self, kind: KeyKind, generation: u32) -> Result<String, KeyDirError> {
        Ok(match kind {
            KeyKind::Ca => self.ca(generation)?.key_id().to_string(),
            _ => self.signer(&kind.key_file(generation))?.kid().to_string(),
        })
    }

    fn retired_key(&self, entry: &RetiredEntry) -> Result<RetiredKey, KeyDirError> {
        let kind = KeyKind::parse(&entry.kind)
            .ok_or_else(|| self.invalid(MANIFEST, format!("unknown key kind `{}`", entry.kind)))?;
        let (kid, public) = match kind {
            KeyKind::Ca => {
                let ca = self.ca(entry.generation)?;
                let public = RetiredPublic::Ca {
                    cert_der: ca.cert_der().to_vec(),
                    cert_pem: ca.cert_pem().to_string(),
                };
                (ca.key_id().to_string(), public)
            }
            _ => {
                let signer = self.signer(&kind.key_file(entry.generation))?;
                (signer.kid().to_string(), RetiredPublic::Es256(signer.public_key().clone()))
            }
        };
        Ok(RetiredKey { kind, kid, not_after: entry.not_after, public })
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

    fn signer(&self, file: &str) -> Result<Es256Signer, KeyDirError> {
        let der = self.read(file)?;
        Es256Signer::load(&der).map_err(|e| self.invalid(file, e.to_string()))
    }

    fn read(&self, file: &str) -> Result<Zeroizing<Vec<u8>>, KeyDirError> {
        let path = self.path(file);
        if !path.exists() {
            return Err(KeyDirError::Missing(self.root.clone(), file.to_string()));
        }
        warn_if_exposed(&path);
        fs::read(&path).map(Zeroizing::new).map_err(|source| self.io(&path, source))
    }

    fn read_text(&self, file: &str) -> Result<Zeroizing<String>, KeyDirError> {
        let bytes = self.read(file)?;
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| self.invalid(file, "not UTF-8".into()))
    }

    fn read_b64(&self, file: &str) -> Result<Zeroizing<Vec<u8>>, KeyDirError> {
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
        for file in [CA_KEY, K_REF, K_OPS, GLASS_PRIVATE, GLASS_SENDER, SD_JWT_KEY] {
            let mode = fs::metadata(keys.path(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        assert!(matches!(keys.generate("example.com"), Err(KeyDirError::AlreadyInitialized(_))));
        fs::remove_file(keys.path(K_OPS)).unwrap();
        let err = keys.load().unwrap_err().to_string();
        assert!(err.contains("k_ops.key"), "{err}");
    }

    #[test]
    fn rotation_keeps_retired_keys_until_not_after_then_prunes_them() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDirectory::new(dir.path().join("keys"));
        assert!(keys.rotate(KeyKind::SdJwt, "example.com", 0, 10).is_err(), "not initialized");
        keys.generate("example.com").unwrap();
        let first = keys.load().unwrap();
        let r1 = keys.rotate(KeyKind::SdJwt, "example.com", 100, 200).unwrap();
        assert_eq!(r1.old_kid, first.sd_jwt.kid());
        assert_eq!(r1.generation, 1);
        let mode = fs::metadata(keys.path("sd-jwt.1.key.der")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = keys.load().unwrap();
        assert_eq!(second.sd_jwt.kid(), r1.new_kid);
        assert_eq!(second.sd_cwt.kid(), first.sd_cwt.kid(), "other kinds untouched");
        let retired: Vec<_> = second.retired(KeyKind::SdJwt, 150).map(|k| &k.kid).collect();
        assert_eq!(retired, [&r1.old_kid]);
        assert_eq!(second.retired(KeyKind::SdJwt, 200).count(), 0, "dropped at not_after");
        assert_eq!(second.retired(KeyKind::SdCwt, 150).count(), 0);

        let r2 = keys.rotate(KeyKind::Ca, "example.com", 300, 400).unwrap();
        assert_eq!(r2.old_kid, first.ca.key_id());
        let third = keys.load().unwrap();
        assert_eq!(third.ca.key_id(), r2.new_kid);
        assert_ne!(third.ca.cert_der(), first.ca.cert_der());
        // The sd-jwt key retired until 200 left the manifest at this rotation.
        assert_eq!(third.retired.len(), 1);
        assert_eq!(third.retired[0].kind, KeyKind::Ca);
        assert!(matches!(&third.retired[0].public,
            RetiredPublic::Ca { cert_der, .. } if cert_der.as_slice() == first.ca.cert_der()));
        assert!(!format!("{third:?}").contains("PRIVATE"));
    }

    /// The rollout with several replicas: at every step, whatever any
    /// running replica seals, every other running replica opens.
    #[test]
    fn a_staged_k_ops_rotation_never_leaves_a_replica_unable_to_open() {
        use crate::core::ops_keys::OpsPurpose;
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDirectory::new(dir.path().join("keys"));
        assert!(keys.rotate_ops(false).is_err(), "not initialized");
        keys.generate("example.com").unwrap();
        let before = keys.load().unwrap().link;

        let staged = keys.rotate_ops(true).unwrap();
        assert_eq!(staged.old_kid, before.ops().current_id());
        assert_eq!(staged.generation, None);
        assert!(keys.rotate_ops(true).is_err(), "one staged key at a time");
        let mode = fs::metadata(keys.path(K_OPS_STAGED)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let learned = keys.load().unwrap().link;
        assert_eq!(learned.ops().current_id(), staged.old_kid, "a staged key does not seal");

        let active = keys.rotate_ops(false).unwrap();
        assert_eq!(active.new_kid, staged.new_kid);
        assert_eq!(active.generation, Some(1));
        assert!(!keys.path(K_OPS_STAGED).exists());
        let after = keys.load().unwrap().link;
        assert_eq!(after.ops().current_id(), staged.new_kid);

        // Replicas that run side by side during each rolling restart.
        for (a, b) in [(&before, &learned), (&learned, &after)] {
            for (sealer, opener) in [(a, b), (b, a)] {
                let sealed = sealer.seal_ops(OpsPurpose::OpsLink, b"ref", b"p").unwrap();
                assert_eq!(opener.open_ops(OpsPurpose::OpsLink, &sealed, b"p").unwrap(), b"ref");
            }
        }
        // Skipping the staging step is what breaks a replica still running.
        let sealed = after.seal_ops(OpsPurpose::OpsLink, b"ref", b"p").unwrap();
        assert!(before.open_ops(OpsPurpose::OpsLink, &sealed, b"p").is_err());

        // One replica: a single call makes a new key seal, and the old
        // generations stay loaded.
        let direct = keys.rotate_ops(false).unwrap();
        assert_eq!(direct.generation, Some(2));
        let last = keys.load().unwrap().link;
        assert_eq!(last.ops().current_id(), direct.new_kid);
        let retired: Vec<_> = last.ops().retired_ids().collect();
        assert_eq!(retired, [before.ops().current_id(), staged.new_kid]);
        let old = before.seal_ops(OpsPurpose::RemedyAccount, b"x", b"r").unwrap();
        assert_eq!(last.open_ops(OpsPurpose::RemedyAccount, &old, b"r").unwrap(), b"x");
    }
}
