//! RFC 9180 after the Diffie–Hellman step: DHKEM's `ExtractAndExpand`
//! (§4.1), the key schedule for mode Auth with the default PSK (§5.1) and
//! the single AEAD open at sequence number 0 (§5.2). Composed from ring's
//! HMAC-SHA256 (HKDF-Extract is one HMAC), HKDF-Expand and AES-128-GCM; the
//! RFC's test vector pins every step (see the tests).

use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::{hkdf, hmac};
use zeroize::Zeroizing;

use super::{KEM_ID, MODE_AUTH, ThresholdError, hpke_suite_id};

const VERSION: &[u8] = b"HPKE-v1";
/// `Nsecret`, `Nk` and `Nn` of the suite.
const NSECRET: usize = 32;
const NK: usize = 16;
const NN: usize = 12;

type Prk = Zeroizing<[u8; 32]>;

fn kem_suite_id() -> [u8; 5] {
    let k = KEM_ID.to_be_bytes();
    [b'K', b'E', b'M', k[0], k[1]]
}

/// `LabeledExtract(salt, label, ikm)`: HKDF-Extract is HMAC keyed by the
/// salt (an empty salt and HashLen zeros give the same HMAC key).
fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Prk {
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, salt));
    for part in [VERSION, suite_id, label, ikm] {
        ctx.update(part);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// `LabeledExpand(prk, label, info, L)` into `out` (L = `out.len()`).
fn labeled_expand(
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), ThresholdError> {
    let length = u16::try_from(out.len()).map_err(|_| ThresholdError::Open)?.to_be_bytes();
    let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, prk);
    let parts = [&length[..], VERSION, suite_id, label, info];
    prk.expand(&parts, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| ThresholdError::Open)
}

/// DHKEM's `ExtractAndExpand(dh, kem_context)`: the KEM shared secret.
pub(super) fn extract_and_expand(
    dh: &[u8],
    kem_context: &[u8],
) -> Result<Zeroizing<[u8; NSECRET]>, ThresholdError> {
    let suite = kem_suite_id();
    let eae_prk = labeled_extract(&suite, b"", b"eae_prk", dh);
    let mut secret = Zeroizing::new([0u8; NSECRET]);
    labeled_expand(&suite, eae_prk.as_slice(), b"shared_secret", kem_context, secret.as_mut())?;
    Ok(secret)
}

/// The AEAD key and base nonce of an Auth-mode context.
pub(super) struct KeySchedule {
    pub(super) key: Zeroizing<[u8; NK]>,
    pub(super) base_nonce: Zeroizing<[u8; NN]>,
}

/// `KeySchedule(mode_auth, shared_secret, info, default_psk, default_psk_id)`.
pub(super) fn key_schedule_auth(
    shared_secret: &[u8],
    info: &[u8],
) -> Result<KeySchedule, ThresholdError> {
    let suite = hpke_suite_id();
    let psk_id_hash = labeled_extract(&suite, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(&suite, b"", b"info_hash", info);
    let mut context = Vec::with_capacity(1 + 2 * 32);
    context.push(MODE_AUTH);
    context.extend_from_slice(psk_id_hash.as_slice());
    context.extend_from_slice(info_hash.as_slice());
    let secret = labeled_extract(&suite, shared_secret, b"secret", b"");
    let mut key = Zeroizing::new([0u8; NK]);
    labeled_expand(&suite, secret.as_slice(), b"key", &context, key.as_mut())?;
    let mut base_nonce = Zeroizing::new([0u8; NN]);
    labeled_expand(&suite, secret.as_slice(), b"base_nonce", &context, base_nonce.as_mut())?;
    Ok(KeySchedule { key, base_nonce })
}

/// Seals the first (sequence 0) message: `ct || tag`.
pub(super) fn seal_first(
    schedule: &KeySchedule,
    aad: &[u8],
    pt: &[u8],
) -> Result<Vec<u8>, ThresholdError> {
    let key =
        UnboundKey::new(&AES_128_GCM, schedule.key.as_slice()).map_err(|_| ThresholdError::Seal)?;
    let nonce = Nonce::assume_unique_for_key(*schedule.base_nonce);
    let mut buf = pt.to_vec();
    LessSafeKey::new(key)
        .seal_in_place_append_tag(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| ThresholdError::Seal)?;
    Ok(buf)
}

/// Opens the first (sequence 0) message: its nonce is `base_nonce` itself.
pub(super) fn open_first(
    schedule: &KeySchedule,
    aad: &[u8],
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ThresholdError> {
    let key =
        UnboundKey::new(&AES_128_GCM, schedule.key.as_slice()).map_err(|_| ThresholdError::Open)?;
    let nonce = Nonce::assume_unique_for_key(*schedule.base_nonce);
    let mut buf = Zeroizing::new(ct.to_vec());
    let len = LessSafeKey::new(key)
        .open_in_place(nonce, Aad::from(aad), buf.as_mut())
        .map_err(|_| ThresholdError::Open)?
        .len();
    buf.truncate(len);
    Ok(buf)
}
