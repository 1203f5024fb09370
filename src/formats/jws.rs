//! Compact JWS with ES256 only (SD-JWT, its key binding, and proofs of
//! possession). Built directly on serde_json and base64ct: the
//! only crypto is ring's (through [`Es256Signer`] and the verifying keys), and
//! the algorithm is pinned rather than read from the header.

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};

use crate::formats::disclosure::VerifyError;
use crate::formats::keys::signer::{Es256Signer, SignError};

pub(crate) const ES256: &str = "ES256";

/// `b64(header).b64(payload).b64(signature)` signed by `signer`.
pub(crate) fn sign(
    header: &Value,
    payload: &Value,
    signer: &Es256Signer,
) -> Result<String, SignError> {
    let mut token = format!(
        "{}.{}",
        Base64UrlUnpadded::encode_string(header.to_string().as_bytes()),
        Base64UrlUnpadded::encode_string(payload.to_string().as_bytes()),
    );
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&Base64UrlUnpadded::encode_string(&signature));
    Ok(token)
}

/// A parsed but not yet verified compact JWS.
pub(crate) struct Jws<'a> {
    pub signing_input: &'a str,
    pub header: Map<String, Value>,
    pub payload: Map<String, Value>,
    pub signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    pub fn parse(token: &'a str) -> Result<Self, VerifyError> {
        let (signing_input, signature) =
            token.rsplit_once('.').ok_or(VerifyError::Malformed("JWS has no signature"))?;
        let (header, payload) =
            signing_input.split_once('.').ok_or(VerifyError::Malformed("JWS has no payload"))?;
        if payload.contains('.') {
            return Err(VerifyError::Malformed("JWS has too many parts"));
        }
        Ok(Self {
            signing_input,
            header: json_object(header)?,
            payload: json_object(payload)?,
            signature: Base64UrlUnpadded::decode_vec(signature)
                .map_err(|_| VerifyError::Malformed("JWS signature is not base64url"))?,
        })
    }

    /// The header `alg` must be ES256: a token may not choose how it is checked.
    pub fn require_es256(&self) -> Result<(), VerifyError> {
        match self.header.get("alg") {
            Some(Value::String(alg)) if alg == ES256 => Ok(()),
            _ => Err(VerifyError::UnsupportedAlg),
        }
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }
}

fn json_object(part: &str) -> Result<Map<String, Value>, VerifyError> {
    let bytes = Base64UrlUnpadded::decode_vec(part)
        .map_err(|_| VerifyError::Malformed("JWS part is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(VerifyError::Malformed("JWS part is not a JSON object")),
    }
}
