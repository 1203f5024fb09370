//! Sealing, and opening with the whole key (file custody, tests), through
//! the `hpke` crate: the threshold path is checked against it.

use hpke::aead::AesGcm128;
use hpke::kdf::HkdfSha256;
use hpke::kem::DhP256HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use super::ThresholdError;
use super::keys::{Encapsulated, KemPublicKey, KemSecretKey};
use super::rng::OsRng;

type Kem = DhP256HkdfSha256;

fn hpke_public(pk: &KemPublicKey) -> Result<<Kem as hpke::Kem>::PublicKey, ThresholdError> {
    <Kem as hpke::Kem>::PublicKey::from_bytes(&pk.to_bytes()).map_err(|_| ThresholdError::BadKey)
}

fn hpke_private(sk: &KemSecretKey) -> Result<<Kem as hpke::Kem>::PrivateKey, ThresholdError> {
    <Kem as hpke::Kem>::PrivateKey::from_bytes(sk.to_bytes().as_slice())
        .map_err(|_| ThresholdError::BadKey)
}

/// Seals `pt` to `pk_r` in mode Auth: only a holder of `sender_sk` can
/// produce a ciphertext that opens against its public key.
pub fn seal_auth(
    pk_r: &KemPublicKey,
    sender_sk: &KemSecretKey,
    info: &[u8],
    aad: &[u8],
    pt: &[u8],
) -> Result<(Encapsulated, Vec<u8>), ThresholdError> {
    let sk_s = hpke_private(sender_sk)?;
    let pk_s = Kem::sk_to_pk(&sk_s);
    seal(&OpModeS::Auth((sk_s, pk_s)), pk_r, info, aad, pt)
}

/// One-shot HPKE seal in `mode` with randomness from the operating system.
fn seal(
    mode: &OpModeS<Kem>,
    pk_r: &KemPublicKey,
    info: &[u8],
    aad: &[u8],
    pt: &[u8],
) -> Result<(Encapsulated, Vec<u8>), ThresholdError> {
    let pk_r = hpke_public(pk_r)?;
    let mut rng = OsRng::new();
    let sealed = hpke::single_shot_seal_with_rng::<AesGcm128, HkdfSha256, Kem>(
        mode, &pk_r, info, pt, aad, &mut rng,
    );
    rng.finish()?;
    let (enc, ct) = sealed.map_err(|_| ThresholdError::Seal)?;
    Ok((Encapsulated::from_bytes(&enc.to_bytes())?, ct))
}

/// Opens with the whole recipient key, refusing anything not sealed by the
/// holder of `pk_s`.
pub fn open_auth(
    sk_r: &KemSecretKey,
    pk_s: &KemPublicKey,
    enc: &Encapsulated,
    info: &[u8],
    aad: &[u8],
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ThresholdError> {
    let pk_s = hpke_public(pk_s)?;
    open(&OpModeR::Auth(pk_s), sk_r, enc, info, aad, ct)
}

/// One-shot HPKE open in `mode`.
fn open(
    mode: &OpModeR<Kem>,
    sk_r: &KemSecretKey,
    enc: &Encapsulated,
    info: &[u8],
    aad: &[u8],
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ThresholdError> {
    let sk_r = hpke_private(sk_r)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&enc.to_bytes())
        .map_err(|_| ThresholdError::BadKey)?;
    hpke::single_shot_open::<AesGcm128, HkdfSha256, Kem>(mode, &sk_r, &enc, info, ct, aad)
        .map(Zeroizing::new)
        .map_err(|_| ThresholdError::Open)
}

/// Seals `pt` to `pk_r` in mode Base: how a custodian hands its partial to
/// the requester alone, through a server that cannot read it.
pub fn seal_base(
    pk_r: &KemPublicKey,
    info: &[u8],
    aad: &[u8],
    pt: &[u8],
) -> Result<(Encapsulated, Vec<u8>), ThresholdError> {
    seal(&OpModeS::Base, pk_r, info, aad, pt)
}

/// Opens what [`seal_base`] sealed.
pub fn open_base(
    sk_r: &KemSecretKey,
    enc: &Encapsulated,
    info: &[u8],
    aad: &[u8],
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ThresholdError> {
    open(&OpModeR::Base, sk_r, enc, info, aad, ct)
}
