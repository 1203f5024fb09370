//! Checkpoints of the audit tree as C2SP signed notes
//! (c2sp.org/tlog-checkpoint over c2sp.org/signed-note), so that the
//! tooling of the transparency ecosystem (witnesses, monitors) can read
//! and cosign them:
//!
//! ```text
//! chat.example/veil/audit
//! 42
//! <base64 RFC 9162 tree head>
//!
//! — chat.example/veil/audit <base64(key ID || signature)>
//! ```
//!
//! The signature is by the service's ES256 audit key, so signed-note
//! signature type `0x02` (ECDSA, as github.com/transparency-dev/witness
//! implements it): an ASN.1 DER ECDSA P-256 signature over SHA-256 of the
//! note text, and the key ID is the first four bytes of SHA-256 of the
//! key's DER SubjectPublicKeyInfo. The key name is the log's origin.

use base64ct::{Base64, Encoding};
use p256::pkcs8::EncodePublicKey;
use serde::{Deserialize, Serialize};

use super::merkle::Hash;
use crate::formats::keys::public_key::P256PublicKey;
use crate::formats::keys::signer::{Es256Signer, SignError};

/// What a checkpoint commits to: the log named `origin` had `size` entries
/// and its RFC 9162 tree head was `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// A signed checkpoint as served: its fields and the signed note itself
/// (the only part a verifier trusts, after checking its signature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedCheckpoint {
    pub origin: String,
    pub size: u64,
    /// Base64 tree head.
    pub root: String,
    /// The C2SP signed note.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the checkpoint is not a well-formed signed note")]
    Malformed,
    #[error("the checkpoint carries no signature by the audit key")]
    Unsigned,
    #[error("the checkpoint signature does not verify with the audit key")]
    Signature,
}

/// `0x02`: ECDSA signatures as transparency-dev/witness implements them.
pub const SIGNATURE_TYPE_ECDSA: u8 = 0x02;

/// The signed-note key ID of an ECDSA key: SHA-256 of its DER SPKI,
/// first four bytes.
pub fn key_id(key: &P256PublicKey) -> Option<[u8; 4]> {
    let public = p256::PublicKey::from_sec1_bytes(key.sec1()).ok()?;
    let der = public.to_public_key_der().ok()?;
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_bytes());
    digest.as_ref().get(..4)?.try_into().ok()
}

impl TreeHead {
    /// The checkpoint body: origin, size, base64 root, one per line.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, Base64::encode_string(&self.root))
    }

    /// Signs the body with the audit key: the whole signed note.
    pub fn sign(&self, signer: &Es256Signer) -> Result<SignedCheckpoint, SignError> {
        let body = self.body();
        let fixed = signer.sign(body.as_bytes())?;
        let der =
            p256::ecdsa::Signature::from_slice(&fixed).map_err(|_| SignError::Failed)?.to_der();
        let id = key_id(signer.public_key()).ok_or(SignError::Failed)?;
        let mut bytes = id.to_vec();
        bytes.extend_from_slice(der.as_bytes());
        let note = format!("{body}\n\u{2014} {} {}\n", self.origin, Base64::encode_string(&bytes));
        Ok(self.with_note(note))
    }

    /// The served form of a note already verified or just signed.
    pub fn with_note(&self, note: String) -> SignedCheckpoint {
        SignedCheckpoint {
            origin: self.origin.clone(),
            size: self.size,
            root: Base64::encode_string(&self.root),
            note,
        }
    }

    /// Reads a checkpoint body (no signature check: for a note the caller
    /// verified before, e.g. its own pinned state).
    pub fn parse_body(body: &str) -> Result<Self, NoteError> {
        let mut lines = body.strip_suffix('\n').ok_or(NoteError::Malformed)?.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or(NoteError::Malformed)?;
        let size = lines.next().ok_or(NoteError::Malformed)?;
        // Decimal, no sign, no leading zeros (tlog-checkpoint).
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(NoteError::Malformed);
        }
        let size = size.parse().map_err(|_| NoteError::Malformed)?;
        let root = lines.next().ok_or(NoteError::Malformed)?;
        let root = Base64::decode_vec(root)
            .ok()
            .and_then(|r| Hash::try_from(r).ok())
            .ok_or(NoteError::Malformed)?;
        // Further lines are extensions: signed, but not ours to read.
        Ok(Self { origin: origin.to_string(), size, root })
    }

    /// Splits a signed note into its text and signature lines, checks the
    /// signature by one of `keys` (the key name must be the origin), and
    /// reads the checkpoint. Signatures by other keys are ignored.
    pub fn open(note: &str, keys: &[P256PublicKey]) -> Result<Self, NoteError> {
        if note.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(NoteError::Malformed);
        }
        let split = note.rfind("\n\n").ok_or(NoteError::Malformed)?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        let head = Self::parse_body(text)?;
        let known: Vec<([u8; 4], &P256PublicKey)> =
            keys.iter().filter_map(|k| Some((key_id(k)?, k))).collect();
        let mut verified = false;
        for line in signatures.strip_suffix('\n').ok_or(NoteError::Malformed)?.split('\n') {
            let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed)?;
            let (name, signature) = rest.split_once(' ').ok_or(NoteError::Malformed)?;
            let bytes = Base64::decode_vec(signature).map_err(|_| NoteError::Malformed)?;
            if name != head.origin || bytes.len() < 5 {
                continue;
            }
            let (id, der) = bytes.split_at(4);
            for (_, key) in known.iter().filter(|(known, _)| known.as_slice() == id) {
                let fixed = p256::ecdsa::Signature::from_der(der)
                    .map_err(|_| NoteError::Signature)?
                    .to_bytes();
                if !key.verify_es256(text.as_bytes(), &fixed) {
                    return Err(NoteError::Signature);
                }
                verified = true;
            }
        }
        if verified { Ok(head) } else { Err(NoteError::Unsigned) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> TreeHead {
        TreeHead { origin: "chat.example/veil/audit".into(), size: 42, root: [7u8; 32] }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_only() {
        let (signer, _) = Es256Signer::generate("audit").unwrap();
        let signed = head().sign(&signer).unwrap();
        assert!(signed.note.starts_with(
            "chat.example/veil/audit\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n\u{2014} chat.example/veil/audit "
        ));
        assert_eq!(TreeHead::open(&signed.note, &[signer.public_key().clone()]), Ok(head()));

        let (other, _) = Es256Signer::generate("other").unwrap();
        assert_eq!(
            TreeHead::open(&signed.note, &[other.public_key().clone()]),
            Err(NoteError::Unsigned)
        );
        // Another size or root under the same signature fails.
        let forged = signed.note.replacen("\n42\n", "\n41\n", 1);
        assert_eq!(
            TreeHead::open(&forged, &[signer.public_key().clone()]),
            Err(NoteError::Signature)
        );
        // A signature under another name is not the log's.
        let renamed = signed.note.replacen("\u{2014} chat.example/veil/audit", "\u{2014} x", 1);
        assert_eq!(
            TreeHead::open(&renamed, &[signer.public_key().clone()]),
            Err(NoteError::Unsigned)
        );
    }

    #[test]
    fn the_key_id_is_the_truncated_spki_hash() {
        let (signer, _) = Es256Signer::generate("audit").unwrap();
        // DER SPKI of an uncompressed P-256 key: fixed prefix, then the point.
        let mut spki = hex_prefix();
        spki.extend_from_slice(signer.public_key().sec1());
        let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
        assert_eq!(key_id(signer.public_key()).unwrap(), digest.as_ref()[..4]);
    }

    fn hex_prefix() -> Vec<u8> {
        let text = "3059301306072a8648ce3d020106082a8648ce3d030107034200";
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn bodies_are_strict() {
        for bad in ["o\n042\nAAAA\n", "o\n-1\n", "\n1\n", "o\n1\nAAAA\n", "o\n1\n"] {
            assert_eq!(TreeHead::parse_body(bad), Err(NoteError::Malformed), "{bad:?}");
        }
    }
}
