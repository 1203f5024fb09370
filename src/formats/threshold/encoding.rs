//! Serde helpers for files: points as base64 SEC1 compressed, scalars as
//! base64 32-byte big-endian.

use base64ct::{Base64, Encoding};
use p256::elliptic_curve::ff::PrimeField;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{FieldBytes, ProjectivePoint, PublicKey, Scalar};
use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
use zeroize::Zeroizing;

/// A non-identity point from SEC1 bytes (either form).
pub(super) fn point_from_sec1(bytes: &[u8]) -> Option<ProjectivePoint> {
    PublicKey::from_sec1_bytes(bytes).ok().map(|pk| pk.to_projective())
}

pub(super) fn compressed(point: &ProjectivePoint) -> Vec<u8> {
    point.to_affine().to_sec1_point(true).as_bytes().to_vec()
}

pub(super) fn scalar_from_bytes(bytes: &[u8]) -> Option<Scalar> {
    let bytes: [u8; 32] = bytes.try_into().ok()?;
    Scalar::from_repr(FieldBytes::from(bytes)).into_option()
}

pub(super) mod point {
    use super::*;

    pub fn serialize<S: Serializer>(p: &ProjectivePoint, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Base64::encode_string(&compressed(p)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ProjectivePoint, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = Base64::decode_vec(&text).map_err(D::Error::custom)?;
        point_from_sec1(&bytes).ok_or_else(|| D::Error::custom("not a P-256 point"))
    }
}

pub(super) mod points {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(ps: &[ProjectivePoint], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ps.len()))?;
        for p in ps {
            seq.serialize_element(&Base64::encode_string(&compressed(p)))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ProjectivePoint>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| {
                let bytes = Base64::decode_vec(text).map_err(D::Error::custom)?;
                point_from_sec1(&bytes).ok_or_else(|| D::Error::custom("not a P-256 point"))
            })
            .collect()
    }
}

/// Scalars may be secret (a custodian's share): every intermediate copy is
/// zeroized.
pub(super) mod scalar {
    use super::*;

    pub fn serialize<S: Serializer>(x: &Scalar, s: S) -> Result<S::Ok, S::Error> {
        let bytes = Zeroizing::new(x.to_repr());
        let text = Zeroizing::new(Base64::encode_string(bytes.as_slice()));
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = Zeroizing::new(Base64::decode_vec(&text).map_err(D::Error::custom)?);
        scalar_from_bytes(&bytes).ok_or_else(|| D::Error::custom("not a P-256 scalar"))
    }
}
