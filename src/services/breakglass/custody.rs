//! Custody of the break-glass private key, `file` mode: the key lives in a
//! file of its own (`break_glass_key_file`), read only when a reveal needs
//! it and zeroized right after, so the online service never holds it at
//! rest in its key set.
//!
//! The file is either the dev form (base64 of the raw key, as the first
//! start of veild writes it, with a loud warning) or sealed under its
//! holder's passphrase: a JSON document with the argon2id parameters and
//! salt beside an AES-256-GCM ciphertext, so the parameters can be raised
//! later without breaking old files. The passphrase comes with the reveal.

use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use base64ct::{Base64, Encoding};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const FORMAT: &str = "veil-break-glass-key-v1";

#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    #[error("cannot read the break-glass key file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the break-glass key file {0} is malformed")]
    Malformed(PathBuf),
    #[error("a sealed document is malformed")]
    MalformedSealed,
    #[error("the break-glass key file is sealed: give its passphrase (--passphrase-file)")]
    PassphraseRequired,
    #[error("wrong passphrase for the break-glass key")]
    WrongPassphrase,
    #[error("cannot encrypt the key: {0}")]
    Encrypt(&'static str),
}

/// The sealed form of a key file. Costs are argon2id's (KiB, passes, lanes).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedKey {
    format: String,
    kdf: String,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    nonce: String,
    ciphertext: String,
}

fn derive(
    passphrase: &str,
    salt: &[u8],
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
) -> Option<LessSafeKey> {
    let params = Params::new(m_cost, t_cost, p_cost, Some(32)).ok()?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .ok()?;
    UnboundKey::new(&AES_256_GCM, key.as_ref()).ok().map(LessSafeKey::new)
}

/// argon2id costs for new sealed files: 64 MiB, three passes, one lane. The
/// passphrase guards a key that reveals every account, so it gets more than
/// argon2's interactive-login defaults (19 MiB, two passes).
pub const SEAL_M_COST_KIB: u32 = 64 * 1024;
pub const SEAL_T_COST: u32 = 3;
pub const SEAL_P_COST: u32 = 1;
/// The most memory a sealed file may ask of whoever opens it: a forged file
/// must not exhaust the machine.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 64;

/// Seals `key` (or a custodian's share) under `passphrase` (argon2id with
/// [`SEAL_M_COST_KIB`], [`SEAL_T_COST`], [`SEAL_P_COST`], stored beside the
/// ciphertext).
pub fn seal_key(key: &[u8], passphrase: &str) -> Result<String, CustodyError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt).map_err(|_| CustodyError::Encrypt("no randomness"))?;
    rng.fill(&mut nonce).map_err(|_| CustodyError::Encrypt("no randomness"))?;
    let (m_cost, t_cost, p_cost) = (SEAL_M_COST_KIB, SEAL_T_COST, SEAL_P_COST);
    let aead = derive(passphrase, &salt, m_cost, t_cost, p_cost)
        .ok_or(CustodyError::Encrypt("key derivation failed"))?;
    let mut buf = key.to_vec();
    aead.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(FORMAT.as_bytes()),
        &mut buf,
    )
    .map_err(|_| CustodyError::Encrypt("sealing failed"))?;
    let sealed = SealedKey {
        format: FORMAT.into(),
        kdf: "argon2id".into(),
        m_cost,
        t_cost,
        p_cost,
        salt: Base64::encode_string(&salt),
        nonce: Base64::encode_string(&nonce),
        ciphertext: Base64::encode_string(&buf),
    };
    serde_json::to_string_pretty(&sealed).map_err(|_| CustodyError::Encrypt("encoding failed"))
}

/// Reads the private key from `path`, opening it with `passphrase` if the
/// file is sealed.
pub fn read_key_file(
    path: &Path,
    passphrase: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|source| CustodyError::Read { path: path.into(), source })?,
    );
    let malformed = || CustodyError::Malformed(path.into());
    if !text.trim_start().starts_with('{') {
        return Base64::decode_vec(text.trim()).map(Zeroizing::new).map_err(|_| malformed());
    }
    let passphrase = passphrase.ok_or(CustodyError::PassphraseRequired)?;
    open_sealed(&text, passphrase).map_err(|e| match e {
        CustodyError::MalformedSealed => malformed(),
        other => other,
    })
}

/// Opens a sealed document (a key file or a custodian's share).
pub fn open_sealed(text: &str, passphrase: &str) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    let malformed = || CustodyError::MalformedSealed;
    let sealed: SealedKey = serde_json::from_str(text).map_err(|_| malformed())?;
    if sealed.format != FORMAT || sealed.kdf != "argon2id" {
        return Err(malformed());
    }
    // Files sealed before the costs were raised still open; absurd costs do not.
    if sealed.m_cost > MAX_M_COST_KIB || sealed.t_cost > MAX_T_COST || sealed.p_cost > 16 {
        return Err(malformed());
    }
    let salt = Base64::decode_vec(&sealed.salt).map_err(|_| malformed())?;
    let nonce = Base64::decode_vec(&sealed.nonce).map_err(|_| malformed())?;
    let nonce = Nonce::try_assume_unique_for_key(&nonce).map_err(|_| malformed())?;
    let mut buf = Zeroizing::new(Base64::decode_vec(&sealed.ciphertext).map_err(|_| malformed())?);
    let aead = derive(passphrase, &salt, sealed.m_cost, sealed.t_cost, sealed.p_cost)
        .ok_or_else(malformed)?;
    let key = aead
        .open_in_place(nonce, Aad::from(FORMAT.as_bytes()), buf.as_mut_slice())
        .map_err(|_| CustodyError::WrongPassphrase)?;
    Ok(Zeroizing::new(key.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_key_opens_only_with_its_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("break-glass.key");
        std::fs::write(&path, seal_key(&[7u8; 32], "correct horse").unwrap()).unwrap();
        assert_eq!(read_key_file(&path, Some("correct horse")).unwrap().as_slice(), &[7u8; 32]);
        assert!(matches!(read_key_file(&path, Some("wrong")), Err(CustodyError::WrongPassphrase)));
        assert!(matches!(read_key_file(&path, None), Err(CustodyError::PassphraseRequired)));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"m_cost\"") && text.contains("argon2id"), "{text}");

        std::fs::write(&path, Base64::encode_string(&[9u8; 32])).unwrap();
        assert_eq!(read_key_file(&path, None).unwrap().as_slice(), &[9u8; 32], "dev form");
    }

    #[test]
    fn new_files_record_strong_costs_and_absurd_costs_are_refused() {
        let text = seal_key(&[7u8; 32], "words").unwrap();
        let mut sealed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(sealed["m_cost"], 65536);
        assert_eq!(sealed["t_cost"], 3);
        sealed["m_cost"] = (MAX_M_COST_KIB + 1).into();
        assert!(matches!(
            open_sealed(&sealed.to_string(), "words"),
            Err(CustodyError::MalformedSealed)
        ));
    }
}
