//! SD-CWT (draft-ietf-spice-sd-cwt-07): a COSE_Sign1 whose redacted claims
//! are replaced by digests, with the salted disclosures carried in the
//! unprotected header (label 17), and a key binding token (KBT) signed by the
//! holder that embeds the SD-CWT with the disclosures it chose.
//!
//! Where the draft is ambiguous or a peer reads it differently, the choice
//! made here is explained in `docs/SD-CWT-NOTES.md`.

mod cbor;
mod cose;
#[cfg(test)]
mod interop_tests;
mod redaction;
#[cfg(test)]
mod tests;

use ciborium::Value as HeaderValue;
use coset::iana::{self, EnumI64};
use coset::{
    AsCborValue, CoseSign1, CoseSign1Builder, HeaderBuilder, Label, RegisteredLabelWithPrivate,
    TaggedCborSerializable,
};

use super::{
    Expectations, Format, IssueError, IssueParams, IssuerKeys, MAX_PRESENTATION_BYTES,
    PresentError, Validity, Verified, VerifyError, decoy_count,
};
use crate::formats::keys::public_key::P256PublicKey;
use crate::formats::keys::signer::Es256Signer;
use cbor::{Cbor, as_i64, get, int};
use cose::{
    bstr_array, claims as claims_of, cose_key, has_typ, header_i64, header_value, holder_key,
    payload_map, sd_claims, validity,
};
use redaction::Resolved;

/// `typ` of an SD-CWT: CoAP content format of `application/sd-cwt`.
pub const TYP: i64 = 293;
/// `typ` of a key binding token: CoAP content format of `application/kb+cwt`.
pub const KB_TYP: i64 = 294;
const TYP_TEXT: &str = "application/sd-cwt";
const KB_TYP_TEXT: &str = "application/kb+cwt";

/// Header labels.
const HEADER_KCWT: i64 = 13;
const HEADER_CWT_CLAIMS: i64 = 15;
const HEADER_TYP: i64 = 16;
const HEADER_SD_CLAIMS: i64 = 17;
const HEADER_SD_ALG: i64 = 170;
/// COSE algorithm id of SHA-256, the only `sd_alg` supported (and the default).
const SHA_256: i64 = -16;

/// Claim keys.
const ISS: i64 = 1;
const SUB: i64 = 2;
const AUD: i64 = 3;
const EXP: i64 = 4;
const NBF: i64 = 5;
const IAT: i64 = 6;
const CTI: i64 = 7;
const CNF: i64 = 8;
const VCT: i64 = 11;
/// draft-ietf-oauth-status-list §6.2 `status` (requested; 65535 until assigned).
const STATUS: i64 = 65535;
const CNONCE: i64 = 39;
/// `cnf` member holding a COSE_Key.
const CNF_COSE_KEY: i64 = 1;
/// `cnf` member holding a COSE Key Thumbprint (`ckt`, RFC 9679 §5).
const CNF_CKT: i64 = 5;

/// Algorithms a KBT may be signed with: the holder key is P-256, named fully
/// specified (ESP256, RFC 9864) or, as older holders do, polymorphic (ES256).
const KB_ALGS: [iana::Algorithm; 2] = [iana::Algorithm::ESP256, iana::Algorithm::ES256];

/// Issues a tagged SD-CWT with every disclosure (and decoy) in label 17,
/// signed with ESP256: the draft (§7.1) requires a fully specified algorithm.
pub fn issue(params: &IssueParams, signer: &Es256Signer) -> Result<Vec<u8>, IssueError> {
    params.validate()?;
    let subject = params.subject.as_deref().ok_or(IssueError::Missing("sub"))?;
    let mut claims = vec![
        (int(ISS), Cbor::Text(params.issuer.clone())),
        (int(SUB), Cbor::Text(subject.to_owned())),
        (int(EXP), int(params.expires_at)),
        (int(IAT), int(params.issued_at)),
        (int(CNF), Cbor::Map(vec![(int(CNF_COSE_KEY), cose_key(&params.holder_key))])),
    ];
    if let Some(vct) = &params.vct {
        claims.push((int(VCT), Cbor::Text(vct.clone())));
    }
    if let Some(status) = &params.status {
        claims.push((int(STATUS), cbor::from_json(&status.to_json())));
    }
    let mut digests = Vec::new();
    let mut disclosures = Vec::new();
    for (name, value) in &params.claims {
        let value = cbor::from_json(value);
        if params.is_disclosable(name) {
            let (digest, disclosure) = redaction::claim(name, value)?;
            digests.push(digest);
            disclosures.push(disclosure);
        } else {
            claims.push((Cbor::Text(name.clone()), value));
        }
    }
    if !digests.is_empty() {
        for _ in 0..decoy_count()? {
            let (digest, disclosure) = redaction::decoy()?;
            digests.push(digest);
            disclosures.push(disclosure);
        }
        // Sorting hides the claim order and which digests are decoys.
        digests.sort();
        disclosures.sort();
        let digests = digests.into_iter().map(Cbor::Bytes).collect();
        claims.push((Cbor::Simple(redaction::REDACTED_KEYS), Cbor::Array(digests)));
    }
    let payload = cbor::encode(&cbor::deterministic(Cbor::Map(claims))?)?;
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ESP256)
        .key_id(signer.kid().as_bytes().to_vec())
        .value(HEADER_TYP, HeaderValue::from(TYP))
        .value(HEADER_SD_ALG, HeaderValue::from(SHA_256))
        .build();
    let mut unprotected = HeaderBuilder::new();
    if !disclosures.is_empty() {
        unprotected = unprotected.value(HEADER_SD_CLAIMS, bstr_array(disclosures));
    }
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected.build())
        .payload(payload)
        .try_create_signature(&[], |tbs| signer.sign(tbs).map(|s| s.to_vec()))?
        .build();
    sign1.to_tagged_vec().map_err(|_| IssueError::Encoding("COSE_Sign1"))
}

/// Builds a KBT carrying the SD-CWT with only the disclosures for the claims
/// named in `reveal` (decoys are left out: they reveal nothing).
pub fn present(
    sd_cwt: &[u8],
    reveal: &[&str],
    holder: &Es256Signer,
    audience: &str,
    cnonce: &[u8],
    iat: i64,
) -> Result<Vec<u8>, PresentError> {
    let mut credential = CoseSign1::from_tagged_slice(sd_cwt)
        .map_err(|_| PresentError::Malformed("not a tagged COSE_Sign1"))?;
    let payload = claims_of(&credential).map_err(|_| PresentError::Malformed("payload"))?;
    if holder_key(&payload, Some(holder.public_key())).ok().as_ref() != Some(holder.public_key()) {
        return Err(PresentError::HolderKeyMismatch);
    }
    let available = sd_claims(&credential).map_err(|_| PresentError::Malformed("sd_claims"))?;
    let named: Vec<(Option<String>, Vec<u8>)> =
        available.into_iter().map(|d| (redaction::claim_name(&d), d)).collect();
    if let Some(missing) =
        reveal.iter().find(|name| !named.iter().any(|(n, _)| n.as_deref() == Some(**name)))
    {
        return Err(PresentError::NotDisclosable((*missing).to_string()));
    }
    let chosen: Vec<Vec<u8>> = named
        .into_iter()
        .filter(|(name, _)| name.as_deref().is_some_and(|n| reveal.contains(&n)))
        .map(|(_, disclosure)| disclosure)
        .collect();
    credential.unprotected.rest.retain(|(label, _)| *label != Label::Int(HEADER_SD_CLAIMS));
    if !chosen.is_empty() {
        credential.unprotected.rest.push((Label::Int(HEADER_SD_CLAIMS), bstr_array(chosen)));
    }
    let embedded = credential.to_cbor_value().map_err(|_| PresentError::Encoding)?;
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .value(HEADER_KCWT, HeaderValue::Tag(CoseSign1::TAG, Box::new(embedded)))
        .value(HEADER_TYP, HeaderValue::from(KB_TYP))
        .build();
    let mut claims = vec![(int(AUD), Cbor::Text(audience.to_owned())), (int(IAT), int(iat))];
    if !cnonce.is_empty() {
        claims.push((int(CNONCE), Cbor::Bytes(cnonce.to_vec())));
    }
    let payload = cbor::encode(&Cbor::Map(claims)).map_err(|_| PresentError::Encoding)?;
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .try_create_signature(&[], |tbs| holder.sign(tbs).map(|s| s.to_vec()))?
        .build()
        .to_tagged_vec()
        .map_err(|_| PresentError::Encoding)
}

/// Verifies a KBT and the SD-CWT inside it (§9).
///
/// Disclosures live in the SD-CWT's unprotected header, which the KBT's
/// signature covers: a disclosure changed in transit gives
/// `kb_signature_invalid`, while a holder who adds one the issuer never
/// signed (and re-signs) gets `unknown_disclosure`.
pub fn verify(
    kbt: &[u8],
    keys: &(impl IssuerKeys + ?Sized),
    expected: &Expectations<'_>,
) -> Result<Verified, VerifyError> {
    if kbt.len() > MAX_PRESENTATION_BYTES {
        return Err(VerifyError::TooLarge("presentation"));
    }
    let kbt = CoseSign1::from_tagged_slice(kbt)
        .map_err(|_| VerifyError::Malformed("KBT is not a tagged COSE_Sign1"))?;
    let credential = embedded_credential(&kbt)?;
    let kid = verify_issuer_signature(&credential, keys)?;
    let payload = claims_of(&credential)?;
    let validity = validity(&payload)?;
    validity.check(expected.now)?;
    let holder = holder_key(&payload, expected.presenter_key)?;
    let kb_iat = verify_kbt(&kbt, &holder, expected, &validity)?;
    let presented = sd_claims(&credential)?;
    let Resolved { claims, disclosed } = redaction::resolve(payload, &presented)?;
    let claims = cbor::claims_to_json(claims)?;
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    Ok(Verified {
        format: Format::SdCwt,
        issuer: text("iss"),
        subject: text("sub"),
        header_kid: kid,
        holder_key: holder,
        disclosed: cbor::claims_to_json(disclosed)?,
        issued_at: validity.issued_at,
        expires_at: validity.expires_at,
        kb_issued_at: kb_iat,
        claims,
    })
}

/// KBT header policy, then the SD-CWT from `kcwt` (§8.1).
fn embedded_credential(kbt: &CoseSign1) -> Result<CoseSign1, VerifyError> {
    let header = &kbt.protected.header;
    if has_typ(&header.rest, TYP, TYP_TEXT) {
        return Err(VerifyError::KbMissing);
    }
    if !has_typ(&header.rest, KB_TYP, KB_TYP_TEXT) {
        return Err(VerifyError::KbWrongTyp);
    }
    if !KB_ALGS.iter().any(|alg| header.alg == Some(RegisteredLabelWithPrivate::Assigned(*alg))) {
        return Err(VerifyError::UnsupportedAlg);
    }
    if header_value(&header.rest, HEADER_CWT_CLAIMS).is_some() {
        return Err(VerifyError::Malformed("KBT carries a CWT claims header"));
    }
    let embedded =
        header_value(&header.rest, HEADER_KCWT).ok_or(VerifyError::Malformed("KBT has no kcwt"))?;
    let embedded = match embedded {
        HeaderValue::Bytes(bytes) => CoseSign1::from_tagged_slice(bytes),
        HeaderValue::Tag(CoseSign1::TAG, inner) => CoseSign1::from_cbor_value(*inner.clone()),
        _ => return Err(VerifyError::Malformed("kcwt is not a tagged COSE_Sign1")),
    };
    embedded.map_err(|_| VerifyError::Malformed("kcwt is not a COSE_Sign1"))
}

/// SD-CWT header policy and issuer signature; returns the key id used. The
/// algorithm must be one the trusted key accepts (its fully specified id, or
/// the polymorphic one that credentials issued before ESP256 carry),
/// whatever else the header claims.
fn verify_issuer_signature(
    credential: &CoseSign1,
    keys: &(impl IssuerKeys + ?Sized),
) -> Result<String, VerifyError> {
    let header = &credential.protected.header;
    if !has_typ(&header.rest, TYP, TYP_TEXT) {
        return Err(VerifyError::WrongTyp);
    }
    let key = keys.find(issuer_kid(credential)?).ok_or(VerifyError::UnknownIssuerKey)?;
    let accepted = match &header.alg {
        Some(RegisteredLabelWithPrivate::Assigned(alg)) => key.alg().accepts_cose_alg(alg.to_i64()),
        _ => false,
    };
    if !accepted {
        return Err(VerifyError::UnsupportedAlg);
    }
    match header_value(&header.rest, HEADER_SD_ALG) {
        None => {}
        Some(value) if header_i64(value) == Some(SHA_256) => {}
        Some(_) => return Err(VerifyError::UnsupportedAlg),
    }
    credential
        .verify_signature(&[], |signature, tbs| key.verify(tbs, signature).then_some(()).ok_or(()))
        .map_err(|()| VerifyError::IssuerSignatureInvalid)?;
    Ok(key.kid().to_owned())
}

/// The issuer's `kid`, from the protected header or, as COSE allows and
/// signers such as cose2 put it, the unprotected one; not from both (RFC 9052
/// §3). It only selects a trusted key: the signature decides.
fn issuer_kid(credential: &CoseSign1) -> Result<&[u8], VerifyError> {
    let protected = credential.protected.header.key_id.as_slice();
    let unprotected = credential.unprotected.key_id.as_slice();
    match (protected.is_empty(), unprotected.is_empty()) {
        (false, false) => Err(VerifyError::Malformed("kid in both headers")),
        (false, true) => Ok(protected),
        (true, _) => Ok(unprotected),
    }
}

/// Holder signature, then audience, nonce and freshness; returns `iat` if
/// the KBT has one (see [`check_kb_time`]).
fn verify_kbt(
    kbt: &CoseSign1,
    holder: &P256PublicKey,
    expected: &Expectations<'_>,
    validity: &Validity,
) -> Result<Option<i64>, VerifyError> {
    kbt.verify_signature(&[], |signature, tbs| {
        holder.verify_es256(tbs, signature).then_some(()).ok_or(())
    })
    .map_err(|()| VerifyError::KbSignatureInvalid)?;
    let claims = payload_map(kbt)?;
    if get(&claims, ISS).is_some() || get(&claims, SUB).is_some() {
        return Err(VerifyError::Malformed("KBT carries iss or sub"));
    }
    if get(&claims, AUD) != Some(&Cbor::Text(expected.audience.to_owned())) {
        return Err(VerifyError::AudienceMismatch);
    }
    let cnonce = match get(&claims, CNONCE) {
        None => &[][..],
        Some(Cbor::Bytes(bytes)) => bytes.as_slice(),
        Some(_) => return Err(VerifyError::Malformed("cnonce is not a byte string")),
    };
    if cnonce != expected.nonce {
        return Err(VerifyError::NonceMismatch);
    }
    check_kb_time(&claims, expected, validity)
}

/// The draft (§8.1, §9 step 6) wants `iat` or `cti` in a KBT. With `iat` the
/// usual window applies (`max_kb_age_secs`, and within the credential's
/// validity). A KBT with only `cti` has no time of its own, so it is
/// accepted only where something else makes it fresh: a verifier nonce to
/// answer, and a credential `exp` that bounds how long the verifier's replay
/// record of that nonce must last. Without `iat` it may not carry `exp` or
/// `nbf` either.
fn check_kb_time(
    claims: &[(Cbor, Cbor)],
    expected: &Expectations<'_>,
    validity: &Validity,
) -> Result<Option<i64>, VerifyError> {
    let iat = match get(claims, IAT) {
        None => None,
        Some(value) => Some(as_i64(value).ok_or(VerifyError::Malformed("KBT iat"))?),
    };
    let cti = match get(claims, CTI) {
        None => None,
        Some(Cbor::Bytes(cti)) if !cti.is_empty() => Some(cti),
        Some(_) => return Err(VerifyError::Malformed("KBT cti")),
    };
    match (iat, cti) {
        (Some(iat), _) => {
            validity.check_kb_iat(iat, expected)?;
            Ok(Some(iat))
        }
        (None, Some(_)) => {
            if get(claims, EXP).is_some() || get(claims, NBF).is_some() {
                return Err(VerifyError::Malformed("KBT exp or nbf without iat"));
            }
            if expected.nonce.is_empty() || validity.expires_at.is_none() {
                return Err(VerifyError::KbStale);
            }
            Ok(None)
        }
        (None, None) => Err(VerifyError::Malformed("KBT has neither iat nor cti")),
    }
}

/// Entry points for the fuzz targets in `fuzz/`, outside the API: the
/// bounded CBOR reader and the disclosure decoder are private to this module.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::Value as Json;

    use super::cbor::{self, Cbor};
    use super::redaction;
    use crate::formats::disclosure::{IssueError, VerifyError};

    /// One item read by the bounded CBOR reader.
    #[derive(Debug, Clone)]
    pub struct Item(Cbor);

    /// Decodes exactly one definite-length item, as every SD-CWT field is read.
    pub fn decode_cbor(bytes: &[u8]) -> Result<Item, VerifyError> {
        cbor::decode(bytes).map(Item)
    }

    impl Item {
        /// The item re-encoded in preferred form.
        pub fn encode(&self) -> Result<Vec<u8>, IssueError> {
            cbor::encode(&self.0)
        }

        /// The item with every map sorted deterministically, then encoded.
        pub fn encode_deterministic(&self) -> Result<Vec<u8>, IssueError> {
            cbor::encode(&cbor::deterministic(self.0.clone())?)
        }

        /// The item as a claim value is reported in JSON.
        pub fn to_json(&self) -> Result<Json, VerifyError> {
            cbor::to_json(self.0.clone())
        }

        /// The item as a claims map is reported, when it is a map.
        pub fn claims_to_json(&self) -> Option<Result<serde_json::Map<String, Json>, VerifyError>> {
            match &self.0 {
                Cbor::Map(entries) => Some(cbor::claims_to_json(entries.clone())),
                _ => None,
            }
        }
    }

    /// Decodes a salted disclosure and returns the claim name it reveals, if any.
    pub fn decode_disclosure(bytes: &[u8]) -> Result<Option<String>, VerifyError> {
        redaction::decode(bytes)?;
        Ok(redaction::claim_name(bytes))
    }
}
