//! `k_ops`, the online service's secret for what it must read back later
//! (the account behind a pseudonym, an account's pseudonym index, a remedy's
//! account, a report's content, a relayed break-glass partial).
//!
//! - **One key per purpose.** Each purpose seals under its own AES-256-GCM key,
//!   `HKDF-SHA256(ikm = k_ops, salt = "veil k_ops", info = "veil k_ops v1 " ||
//!   purpose)` (RFC 5869), so a value sealed for one purpose never opens as
//!   another whatever its aad, and each purpose has its own budget of random
//!   96-bit nonces.
//! - **A key id.** Every value names the `k_ops` it was sealed under:
//!   `0x01 || key id (4) || nonce (12) || ciphertext || tag (16)`, the
//!   five header bytes authenticated as a prefix of the aad. The key id is
//!   `HKDF-Expand(…, "veil k_ops v1 key id", 4)`: the same on every row, so it
//!   tells a reader of the database nothing but which `k_ops` to use. New
//!   values are sealed under the newest `k_ops`; retired ones still open what
//!   they sealed, so `k_ops` can be replaced (`veilctl keys rotate --kind ops`).
//! - **Values from before** (`nonce || ciphertext || tag` under `k_ops` itself,
//!   one key for every purpose) still open, under any loaded `k_ops`.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};
use ring::rand::{SecureRandom, SystemRandom};

use super::linkage::LinkError;

/// The format byte of values sealed under a per-purpose key.
const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const HEADER_LEN: usize = 1 + KEY_ID_LEN;
const TAG_LEN: usize = 16;
const SALT: &[u8] = b"veil k_ops";
const KEY_ID_INFO: &[u8] = b"veil k_ops v1 key id";

/// What a value sealed under `k_ops` is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsPurpose {
    /// A pseudonym row's account ref (aad = pseudonym id).
    OpsLink,
    /// An account's pseudonym index (aad = the account ref).
    PseudonymIndex,
    /// The account a remedy acts on (aad = remedy id).
    RemedyAccount,
    /// A stored abuse report (aad = the account ref).
    AbuseReport,
    /// A custodian's break-glass partial, wrapped at rest (aad = request, index).
    GlassPartial,
    /// The pseudonym behind a status list entry (aad = the slot).
    StatusEntry,
    /// The pseudonym a linked certificate certifies (aad = its serial).
    LinkedCertificate,
    /// A pseudonym's further client: its id, pseudonym and end (aad = the
    /// client's keyed tag).
    PseudonymClient,
}

impl OpsPurpose {
    pub const ALL: [OpsPurpose; 8] = [
        Self::OpsLink,
        Self::PseudonymIndex,
        Self::RemedyAccount,
        Self::AbuseReport,
        Self::GlassPartial,
        Self::StatusEntry,
        Self::LinkedCertificate,
        Self::PseudonymClient,
    ];

    /// The HKDF info of this purpose's key; never changes once shipped.
    fn info(self) -> &'static [u8] {
        match self {
            Self::OpsLink => b"veil k_ops v1 ops_link",
            Self::PseudonymIndex => b"veil k_ops v1 pseudonym index",
            Self::RemedyAccount => b"veil k_ops v1 remedy account",
            Self::AbuseReport => b"veil k_ops v1 abuse report",
            Self::GlassPartial => b"veil k_ops v1 break-glass partial",
            Self::StatusEntry => b"veil k_ops v1 status entry",
            Self::LinkedCertificate => b"veil k_ops v1 linked certificate",
            Self::PseudonymClient => b"veil k_ops v1 pseudonym client",
        }
    }

    fn slot(self) -> usize {
        match self {
            Self::OpsLink => 0,
            Self::PseudonymIndex => 1,
            Self::RemedyAccount => 2,
            Self::AbuseReport => 3,
            Self::GlassPartial => 4,
            Self::StatusEntry => 5,
            Self::LinkedCertificate => 6,
            Self::PseudonymClient => 7,
        }
    }
}

/// Which `k_ops` sealed a value (see the module doc): not secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpsKeyId(pub [u8; KEY_ID_LEN]);

impl std::fmt::Display for OpsKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// An HKDF output length for ring.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// One `k_ops` with the keys derived from it.
struct OpsKey {
    id: OpsKeyId,
    purposes: [LessSafeKey; OpsPurpose::ALL.len()],
    /// `k_ops` itself, which sealed every purpose before per-purpose keys.
    legacy: LessSafeKey,
}

impl OpsKey {
    fn new(k_ops: &[u8]) -> Result<Self, LinkError> {
        if k_ops.len() != 32 {
            return Err(LinkError::BadKey);
        }
        let prk: Prk = Salt::new(HKDF_SHA256, SALT).extract(k_ops);
        let mut id = [0u8; KEY_ID_LEN];
        prk.expand(&[KEY_ID_INFO], Len(KEY_ID_LEN))
            .and_then(|okm| okm.fill(&mut id))
            .map_err(|_| LinkError::BadKey)?;
        let derive = |purpose: OpsPurpose| -> Result<LessSafeKey, LinkError> {
            let info = [purpose.info()];
            let okm = prk.expand(&info, &AES_256_GCM).map_err(|_| LinkError::BadKey)?;
            Ok(LessSafeKey::new(UnboundKey::from(okm)))
        };
        let purposes = [
            derive(OpsPurpose::OpsLink)?,
            derive(OpsPurpose::PseudonymIndex)?,
            derive(OpsPurpose::RemedyAccount)?,
            derive(OpsPurpose::AbuseReport)?,
            derive(OpsPurpose::GlassPartial)?,
            derive(OpsPurpose::StatusEntry)?,
            derive(OpsPurpose::LinkedCertificate)?,
            derive(OpsPurpose::PseudonymClient)?,
        ];
        let legacy = UnboundKey::new(&AES_256_GCM, k_ops).map_err(|_| LinkError::BadKey)?;
        Ok(Self { id: OpsKeyId(id), purposes, legacy: LessSafeKey::new(legacy) })
    }

    fn key(&self, purpose: OpsPurpose) -> Result<&LessSafeKey, LinkError> {
        self.purposes.get(purpose.slot()).ok_or(LinkError::BadKey)
    }
}

/// The loaded `k_ops`: the newest seals, every one opens.
pub struct OpsKeys {
    current: OpsKey,
    retired: Vec<OpsKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for OpsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsKeys")
            .field("current", &self.current.id)
            .field("retired", &self.retired.len())
            .finish_non_exhaustive()
    }
}

impl OpsKeys {
    /// `current` seals; `retired` (older `k_ops`, any order) only open.
    pub fn new(current: &[u8], retired: &[&[u8]]) -> Result<Self, LinkError> {
        Ok(Self {
            current: OpsKey::new(current)?,
            retired: retired.iter().map(|k| OpsKey::new(k)).collect::<Result<_, _>>()?,
            rng: SystemRandom::new(),
        })
    }

    /// The id of the `k_ops` new values are sealed under.
    pub fn current_id(&self) -> OpsKeyId {
        self.current.id
    }

    /// The ids of the older `k_ops` kept to open what they sealed.
    pub fn retired_ids(&self) -> impl Iterator<Item = OpsKeyId> + '_ {
        self.retired.iter().map(|key| key.id)
    }

    /// The key id of `k_ops` (for tools that manage the key files).
    pub fn id_of(k_ops: &[u8]) -> Result<OpsKeyId, LinkError> {
        Ok(OpsKey::new(k_ops)?.id)
    }

    /// Seals `plaintext` for `purpose` under the current `k_ops`.
    pub fn seal(
        &self,
        purpose: OpsPurpose,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, LinkError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| LinkError::Seal)?;
        let header = header(self.current.id);
        let mut body = plaintext.to_vec();
        self.current
            .key(purpose)?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(full_aad(&header, aad)),
                &mut body,
            )
            .map_err(|_| LinkError::Seal)?;
        Ok([header.as_slice(), &nonce, &body].concat())
    }

    /// Opens a value sealed for `purpose` under any loaded `k_ops`, or one
    /// sealed before per-purpose keys.
    pub fn open(
        &self,
        purpose: OpsPurpose,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, LinkError> {
        if let Some(plain) = self.open_current_format(purpose, sealed, aad) {
            return Ok(plain);
        }
        // A value from before: its first bytes are a random nonce, so a
        // header that matched by chance must not hide it.
        self.keys().find_map(|key| open_with(&key.legacy, sealed, aad)).ok_or(LinkError::Open)
    }

    /// Whether `sealed` is in the current format under the current `k_ops`
    /// (what a re-sealing pass leaves alone). Reads only the header.
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.get(..HEADER_LEN) == Some(header(self.current.id).as_slice())
    }

    /// Seals as every value was sealed before per-purpose keys, for tests
    /// that rebuild a database written by an older veil.
    #[cfg(feature = "testkit")]
    pub fn seal_legacy(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, LinkError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| LinkError::Seal)?;
        let mut body = plaintext.to_vec();
        self.current
            .legacy
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| LinkError::Seal)?;
        Ok([nonce.as_slice(), &body].concat())
    }

    fn open_current_format(
        &self,
        purpose: OpsPurpose,
        sealed: &[u8],
        aad: &[u8],
    ) -> Option<Vec<u8>> {
        if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return None;
        }
        let (head, rest) = sealed.split_at(HEADER_LEN);
        let (&version, id) = head.split_first()?;
        if version != VERSION {
            return None;
        }
        let aad = full_aad(head, aad);
        self.keys()
            .filter(|key| key.id.0.as_slice() == id)
            .find_map(|key| open_with(key.key(purpose).ok()?, rest, &aad))
    }

    fn keys(&self) -> impl Iterator<Item = &OpsKey> {
        std::iter::once(&self.current).chain(&self.retired)
    }
}

fn header(id: OpsKeyId) -> [u8; HEADER_LEN] {
    let [a, b, c, d] = id.0;
    [VERSION, a, b, c, d]
}

/// The header then the caller's aad: the header has a fixed length, so the
/// two parts cannot be shifted into each other.
fn full_aad(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + aad.len());
    out.extend_from_slice(header);
    out.extend_from_slice(aad);
    out
}

/// `nonce || ciphertext || tag` under `key`.
fn open_with(key: &LessSafeKey, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = ct.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(aad), &mut buf).ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: [u8; 32] = [1; 32];
    const K2: [u8; 32] = [2; 32];

    /// A value as every `k_ops` value was sealed before this module.
    fn legacy_seal(k_ops: &[u8], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k_ops).unwrap());
        let nonce = [7u8; NONCE_LEN];
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
            .unwrap();
        [nonce.as_slice(), &buf].concat()
    }

    #[test]
    fn a_value_opens_only_for_its_own_purpose() {
        let keys = OpsKeys::new(&K1, &[]).unwrap();
        for sealed_for in OpsPurpose::ALL {
            let sealed = keys.seal(sealed_for, b"account ref", b"aad").unwrap();
            for opened_as in OpsPurpose::ALL {
                let opened = keys.open(opened_as, &sealed, b"aad");
                assert_eq!(
                    opened.is_ok(),
                    sealed_for == opened_as,
                    "{sealed_for:?} as {opened_as:?}"
                );
            }
            assert_eq!(keys.open(sealed_for, &sealed, b"other aad"), Err(LinkError::Open));
        }
    }

    #[test]
    fn the_header_names_the_key_and_is_authenticated() {
        let keys = OpsKeys::new(&K1, &[]).unwrap();
        let sealed = keys.seal(OpsPurpose::OpsLink, b"x", b"p1").unwrap();
        assert_eq!(sealed.first(), Some(&VERSION));
        assert_eq!(sealed.get(1..5), Some(keys.current_id().0.as_slice()));
        assert_eq!(sealed.len(), HEADER_LEN + NONCE_LEN + 1 + TAG_LEN);
        assert!(keys.is_current(&sealed));
        // Every bit matters, the header's too.
        for i in 0..sealed.len() {
            let mut forged = sealed.clone();
            forged[i] ^= 1;
            assert_eq!(keys.open(OpsPurpose::OpsLink, &forged, b"p1"), Err(LinkError::Open), "{i}");
        }
        assert_ne!(keys.seal(OpsPurpose::OpsLink, b"x", b"p1").unwrap(), sealed, "nonces differ");
    }

    #[test]
    fn a_rotated_k_ops_still_opens_what_the_old_one_sealed() {
        let old = OpsKeys::new(&K1, &[]).unwrap();
        let sealed = old.seal(OpsPurpose::PseudonymIndex, b"index", b"acct").unwrap();
        let rotated = OpsKeys::new(&K2, &[&K1]).unwrap();
        assert_ne!(rotated.current_id(), old.current_id());
        assert_eq!(rotated.open(OpsPurpose::PseudonymIndex, &sealed, b"acct").unwrap(), b"index");
        assert!(!rotated.is_current(&sealed));
        let resealed = rotated.seal(OpsPurpose::PseudonymIndex, b"index", b"acct").unwrap();
        assert!(rotated.is_current(&resealed));
        // Without the old k_ops the old value is lost, and the new one is
        // nothing to the old key.
        let forgot = OpsKeys::new(&K2, &[]).unwrap();
        assert_eq!(forgot.open(OpsPurpose::PseudonymIndex, &sealed, b"acct"), Err(LinkError::Open));
        assert_eq!(old.open(OpsPurpose::PseudonymIndex, &resealed, b"acct"), Err(LinkError::Open));
    }

    #[test]
    fn values_sealed_before_per_purpose_keys_still_open() {
        let legacy = legacy_seal(&K1, b"account ref", b"p1");
        let keys = OpsKeys::new(&K2, &[&K1]).unwrap();
        assert_eq!(keys.open(OpsPurpose::OpsLink, &legacy, b"p1").unwrap(), b"account ref");
        assert_eq!(keys.open(OpsPurpose::OpsLink, &legacy, b"p2"), Err(LinkError::Open));
        assert!(!keys.is_current(&legacy));
        // A legacy nonce that happens to look like a current header.
        let mut lookalike_nonce = header(keys.current_id()).to_vec();
        lookalike_nonce.resize(NONCE_LEN, 0);
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &K2).unwrap());
        let mut buf = b"ref".to_vec();
        let nonce = Nonce::try_assume_unique_for_key(&lookalike_nonce).unwrap();
        key.seal_in_place_append_tag(nonce, Aad::from(b"p1"), &mut buf).unwrap();
        let lookalike = [lookalike_nonce.as_slice(), &buf].concat();
        assert_eq!(keys.open(OpsPurpose::OpsLink, &lookalike, b"p1").unwrap(), b"ref");
    }

    #[test]
    fn short_or_empty_values_are_refused_without_panicking() {
        let keys = OpsKeys::new(&K1, &[]).unwrap();
        for len in 0..40 {
            let junk = vec![VERSION; len];
            assert_eq!(keys.open(OpsPurpose::AbuseReport, &junk, b""), Err(LinkError::Open));
        }
    }

    /// The derivation checked against an independent HKDF (RustCrypto's),
    /// and RFC 5869 test case 1 through ring's, so neither side is only
    /// tested against itself.
    #[test]
    fn derivation_matches_an_independent_hkdf() {
        use hkdf::Hkdf;
        use sha2::Sha256;
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
        };
        // RFC 5869, A.1.
        let ikm = [0x0b; 22];
        let salt = hex("000102030405060708090a0b0c");
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        let okm = hex(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        );
        let mut ours = vec![0u8; okm.len()];
        Salt::new(HKDF_SHA256, &salt)
            .extract(&ikm)
            .expand(&[&info], Len(okm.len()))
            .unwrap()
            .fill(&mut ours)
            .unwrap();
        assert_eq!(ours, okm);

        // The key id and each purpose key, recomputed with the other HKDF:
        // a value sealed here opens under the independently derived key.
        let peer = Hkdf::<Sha256>::new(Some(SALT), &K1);
        let mut id = [0u8; KEY_ID_LEN];
        peer.expand(KEY_ID_INFO, &mut id).unwrap();
        let keys = OpsKeys::new(&K1, &[]).unwrap();
        assert_eq!(keys.current_id().0, id);
        for purpose in OpsPurpose::ALL {
            let mut key = [0u8; 32];
            peer.expand(purpose.info(), &mut key).unwrap();
            let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
            let sealed = keys.seal(purpose, b"plain", b"aad").unwrap();
            let (head, rest) = sealed.split_at(HEADER_LEN);
            let opened = open_with(&key, rest, &full_aad(head, b"aad"));
            assert_eq!(opened.as_deref(), Some(b"plain".as_slice()), "{purpose:?}");
        }
    }
}
