//! The break-glass link, `glass_link`: the account id sealed once per
//! account to the break-glass recipient key, the only way back from a
//! pseudonym to the account (issue 12, "Accountable correlation").
//!
//! Two suites exist, recorded beside each link:
//! - [`GlassSuite::P256Auth`] (current): RFC 9180 mode Auth, DHKEM(P-256,
//!   HKDF-SHA256), HKDF-SHA256, AES-128-GCM, sealed with veil's *sender* key.
//!   Auth mode means a database writer who knows only public keys cannot
//!   write a link that opens; P-256 means custodians can open it by
//!   threshold partial decryption ([`crate::formats::threshold`]) without
//!   anyone rebuilding the key.
//! - [`GlassSuite::LegacyX25519`]: mode Base, DHKEM(X25519), ChaCha20-Poly1305,
//!   as veil sealed before. Such links are re-sealed with the current suite
//!   the next time their account mints; until then they open only with the
//!   old whole key, and carry no proof that veil wrote them.
//!
//! The online service holds the recipient *public* key and its sender
//! private key: it seals, it never opens. Opening happens on the
//! requester's machine (`veilctl break-glass reveal`).

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use ring::digest;
use zeroize::Zeroizing;

use super::threshold::{
    self, CustodianIndex, Encapsulated, Envelope, KemPublicKey, KemSecretKey, Partial,
    ThresholdError, VerificationPoint,
};

type LegacyKem = X25519HkdfSha256;
const LEGACY_INFO: &[u8] = b"veil glass_link v1";
const LEGACY_ENC_LEN: usize = 32;
/// HPKE `info` of current links: names the format and its version.
pub const GLASS_INFO: &[u8] = b"veil glass_link v2";
/// HPKE `info` of a released link sealed once more for the audit entry.
pub const AUDIT_INFO: &[u8] = b"veil glass_link audit v1";
const LEGACY_AUDIT_INFO: &[u8] = b"veil glass_link audit v1 x25519";
/// HPKE `info` of a custodian's partial sealed to the requester.
const PARTIAL_INFO: &[u8] = b"veil break-glass partial v1";

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GlassError {
    #[error("a break-glass key is malformed")]
    BadKey,
    #[error("sealing failed")]
    Seal,
    #[error(
        "the link does not open: it was not sealed by this veil (forged or edited in the \
         database) or not to this key"
    )]
    Open,
    #[error("the link opened but holds no account id")]
    NotAnAccount,
    #[error("this link uses the old X25519 suite: open it with the old whole key")]
    LegacySuite,
    #[error("custodian {index}'s partial is not readable with this reveal key")]
    PartialUnreadable { index: u8 },
    #[error("custodian {index}'s partial names custodian {inner} inside")]
    PartialMislabelled { index: u8, inner: u8 },
    #[error(transparent)]
    Threshold(#[from] ThresholdError),
}

/// How a link was sealed; stored beside it (`accounts.glass_suite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GlassSuite {
    LegacyX25519 = 1,
    P256Auth = 2,
}

impl GlassSuite {
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::LegacyX25519),
            2 => Some(Self::P256Auth),
            _ => None,
        }
    }

    pub fn code(self) -> i16 {
        self as i16
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LegacyX25519 => "x25519-base",
            Self::P256Auth => "p256-auth",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::LegacyX25519, Self::P256Auth].into_iter().find(|s| s.as_str() == name)
    }
}

/// The break-glass recipient public key, as the key directory holds it.
enum Recipient {
    /// 32 bytes: a key made before P-256 (still seals, in the old suite).
    Legacy(<LegacyKem as hpke::Kem>::PublicKey),
    /// 65 bytes, SEC1 uncompressed; sealed to in Auth mode with
    /// `DH(skS, pkR)` computed once.
    P256(KemPublicKey, Box<threshold::AuthSealer>),
}

/// What the online service holds: it can seal links, never open them.
pub struct GlassSealer {
    recipient: Recipient,
    /// veil's sender public key and the key id, derived once: every mint
    /// asks for both.
    sender_public: KemPublicKey,
    key_id: [u8; 16],
}

impl std::fmt::Debug for GlassSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlassSealer").field("suite", &self.suite()).finish_non_exhaustive()
    }
}

impl GlassSealer {
    /// `recipient`: the break-glass public key (32 bytes X25519 or 65 bytes
    /// SEC1 P-256); `sender`: veil's own 32-byte P-256 sender key.
    pub fn new(recipient: &[u8], sender: &[u8]) -> Result<Self, GlassError> {
        let sender = KemSecretKey::from_bytes(sender)?;
        let sender_public = sender.public_key();
        let (recipient, recipient_bytes) = if recipient.len() == LEGACY_ENC_LEN {
            let pk_r = <LegacyKem as hpke::Kem>::PublicKey::from_bytes(recipient)
                .map_err(|_| GlassError::BadKey)?;
            let bytes = pk_r.to_bytes().to_vec();
            (Recipient::Legacy(pk_r), bytes)
        } else {
            let pk_r = KemPublicKey::from_bytes(recipient)?;
            let auth = Box::new(threshold::AuthSealer::new(&pk_r, &sender));
            (Recipient::P256(pk_r, auth), pk_r.to_bytes().to_vec())
        };
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"veil glass keys v1\0");
        ctx.update(&recipient_bytes);
        ctx.update(&sender_public.to_bytes());
        let mut key_id = [0u8; 16];
        for (out, byte) in key_id.iter_mut().zip(ctx.finish().as_ref()) {
            *out = *byte;
        }
        Ok(Self { recipient, sender_public, key_id })
    }

    /// The suite new links are sealed in.
    pub fn suite(&self) -> GlassSuite {
        match self.recipient {
            Recipient::Legacy(_) => GlassSuite::LegacyX25519,
            Recipient::P256(..) => GlassSuite::P256Auth,
        }
    }

    /// The sender key new links carry: veil's, for the current suite; none
    /// for the legacy one (Base mode).
    pub fn link_sender(&self) -> Option<KemPublicKey> {
        (self.suite() == GlassSuite::P256Auth).then_some(self.sender_public)
    }

    /// veil's sender public key: what a requester checks a link against.
    pub fn sender_public(&self) -> KemPublicKey {
        self.sender_public
    }

    /// Names the keys links are sealed with now (recipient and sender): an
    /// account whose link was sealed with other keys is re-sealed when it
    /// next mints, so a rotated break-glass key reaches every active account.
    pub fn key_id(&self) -> [u8; 16] {
        self.key_id
    }

    /// A released link sealed once more to the break-glass key with fresh
    /// randomness (HPKE Base, aad = the request id), for the reveal's audit
    /// entry: whoever holds the key can check which account was revealed,
    /// and no two entries (nor an entry and the `accounts` row) are equal.
    pub fn seal_for_audit(&self, link: &[u8], request_id: &str) -> Result<Vec<u8>, GlassError> {
        self.seal_bytes(link, request_id.as_bytes(), (AUDIT_INFO, LEGACY_AUDIT_INFO), false)
    }

    /// `enc || ciphertext` of `account`, bound to its `account_ref` (aad).
    pub fn seal(&self, account: &str, account_ref: &[u8]) -> Result<Vec<u8>, GlassError> {
        self.seal_bytes(account.as_bytes(), account_ref, (GLASS_INFO, LEGACY_INFO), true)
    }

    /// Seals to the recipient: P-256 in mode Auth (`authenticated`) or Base,
    /// a legacy X25519 key in mode Base; `infos` = (P-256, legacy).
    fn seal_bytes(
        &self,
        plain: &[u8],
        aad: &[u8],
        infos: (&[u8], &[u8]),
        authenticated: bool,
    ) -> Result<Vec<u8>, GlassError> {
        let (enc, ct) = match &self.recipient {
            Recipient::P256(pk_r, auth) => {
                let sealed = match authenticated {
                    true => auth.seal(infos.0, aad, plain),
                    false => threshold::seal_base(pk_r, infos.0, aad, plain),
                };
                let (enc, ct) = sealed.map_err(|_| GlassError::Seal)?;
                (enc.to_bytes().to_vec(), ct)
            }
            Recipient::Legacy(pk_r) => {
                let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, LegacyKem>(
                    &OpModeS::Base,
                    pk_r,
                    infos.1,
                    plain,
                    aad,
                )
                .map_err(|_| GlassError::Seal)?;
                (enc.to_bytes().to_vec(), ct)
            }
        };
        let mut out = enc;
        out.extend_from_slice(&ct);
        Ok(out)
    }
}

/// A released link as the requester receives it.
#[derive(Debug, Clone)]
pub struct SealedLink {
    pub suite: GlassSuite,
    /// `enc || ciphertext`.
    pub sealed: Vec<u8>,
    /// The account's `account_ref`, the link's aad.
    pub aad: Vec<u8>,
    /// veil's sender public key (current suite).
    pub sender: Option<KemPublicKey>,
}

impl SealedLink {
    /// The encapsulated key `E` of a current-suite link: what custodians
    /// compute their partials on.
    pub fn encapsulated(sealed: &[u8]) -> Result<Encapsulated, GlassError> {
        let enc = sealed.get(..Encapsulated::LEN).ok_or(GlassError::Open)?;
        Encapsulated::from_bytes(enc).map_err(|_| GlassError::Open)
    }

    fn split_p256(&self) -> Result<(Encapsulated, &[u8], &KemPublicKey), GlassError> {
        if self.suite != GlassSuite::P256Auth {
            return Err(GlassError::LegacySuite);
        }
        let sender = self.sender.as_ref().ok_or(GlassError::Open)?;
        let enc = Self::encapsulated(&self.sealed)?;
        let ct = self.sealed.get(Encapsulated::LEN..).ok_or(GlassError::Open)?;
        Ok((enc, ct, sender))
    }
}

fn account(plain: Zeroizing<Vec<u8>>) -> Result<Zeroizing<String>, GlassError> {
    String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| GlassError::NotAnAccount)
}

/// Opens with the whole recipient key (file custody): the 32-byte P-256
/// scalar for current links, the 32-byte X25519 key for legacy ones.
pub fn open_with_key(key: &[u8], link: &SealedLink) -> Result<Zeroizing<String>, GlassError> {
    match link.suite {
        GlassSuite::P256Auth => {
            let (enc, ct, sender) = link.split_p256()?;
            let sk = KemSecretKey::from_bytes(key).map_err(|_| GlassError::BadKey)?;
            let plain = threshold::open_auth(&sk, sender, &enc, GLASS_INFO, &link.aad, ct)
                .map_err(|_| GlassError::Open)?;
            account(plain)
        }
        GlassSuite::LegacyX25519 => {
            account(open_legacy(key, &link.sealed, LEGACY_INFO, &link.aad)?)
        }
    }
}

/// Opens `enc || ct` sealed in the legacy suite (HPKE Base, X25519).
fn open_legacy(
    key: &[u8],
    sealed: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, GlassError> {
    let sk =
        <LegacyKem as hpke::Kem>::PrivateKey::from_bytes(key).map_err(|_| GlassError::BadKey)?;
    if sealed.len() < LEGACY_ENC_LEN {
        return Err(GlassError::Open);
    }
    let (enc, ct) = sealed.split_at(LEGACY_ENC_LEN);
    let enc =
        <LegacyKem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| GlassError::Open)?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, LegacyKem>(
        &OpModeR::Base,
        &sk,
        &enc,
        info,
        ct,
        aad,
    )
    .map(Zeroizing::new)
    .map_err(|_| GlassError::Open)
}

/// Opens an audit entry's copy of a released link (what
/// [`GlassSealer::seal_for_audit`] made) with the whole recipient key: the
/// link as released, to open in turn with [`open_with_key`].
pub fn open_audit_copy(
    key: &[u8],
    request_id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, GlassError> {
    if let Ok(sk) = KemSecretKey::from_bytes(key)
        && let Ok(enc) = SealedLink::encapsulated(sealed)
        && let Some(ct) = sealed.get(Encapsulated::LEN..)
        && let Ok(plain) = threshold::open_base(&sk, &enc, AUDIT_INFO, request_id.as_bytes(), ct)
    {
        return Ok(plain);
    }
    open_legacy(key, sealed, LEGACY_AUDIT_INFO, request_id.as_bytes())
}

/// The public record of a key ceremony: what a requester checks partials
/// against (published; holds no secret).
#[derive(Debug, Clone)]
pub struct Custodians {
    pub threshold: usize,
    pub recipient: KemPublicKey,
    pub points: Vec<VerificationPoint>,
}

/// Opens a current-suite link from `k` custodians' partials: checks each
/// proof (a bad one names its custodian), combines in the exponent, and
/// opens. No key is rebuilt anywhere.
pub fn open_with_partials(
    partials: &[Partial],
    custodians: &Custodians,
    link: &SealedLink,
) -> Result<Zeroizing<String>, GlassError> {
    let (enc, ct, sender) = link.split_p256()?;
    let env = Envelope {
        pk_r: &custodians.recipient,
        pk_s: sender,
        enc: &enc,
        info: GLASS_INFO,
        aad: &link.aad,
        ct,
    };
    match threshold::open_threshold(partials, &custodians.points, custodians.threshold, &env) {
        Ok(plain) => account(plain),
        Err(ThresholdError::Open) => Err(GlassError::Open),
        Err(other) => Err(other.into()),
    }
}

/// Like [`open_with_partials`], but a partial whose proof fails (or whose
/// custodian is unknown) is set aside and the rest are tried, so one bad
/// custodian cannot spoil a reveal that `k` honest ones can open. Returns
/// the account and the custodians set aside; when fewer than `k` good
/// partials remain, the first refusal (naming its custodian).
pub fn open_with_good_partials(
    partials: &[Partial],
    custodians: &Custodians,
    link: &SealedLink,
) -> Result<(Zeroizing<String>, Vec<u8>), GlassError> {
    let mut pool = partials.to_vec();
    let mut set_aside = Vec::new();
    let mut first_refusal = None;
    loop {
        match open_with_partials(&pool, custodians, link) {
            Ok(account) => return Ok((account, set_aside)),
            Err(
                error @ GlassError::Threshold(
                    ThresholdError::BadPartial { index }
                    | ThresholdError::UnknownCustodian { index },
                ),
            ) if pool.len() > custodians.threshold => {
                first_refusal.get_or_insert(error);
                set_aside.push(index);
                pool.retain(|p| p.index.get() != index);
            }
            Err(error) => return Err(first_refusal.unwrap_or(error)),
        }
    }
}

/// The aad of a partial sealed to the requester: request and custodian.
fn partial_aad(request_id: &str, index: CustodianIndex) -> Vec<u8> {
    let mut aad = request_id.as_bytes().to_vec();
    aad.push(0);
    aad.push(index.get());
    aad
}

/// A custodian's partial, sealed to the requester's reveal key: `enc || ct`.
pub fn seal_partial(
    reveal_key: &KemPublicKey,
    request_id: &str,
    partial: &Partial,
) -> Result<Vec<u8>, GlassError> {
    let json = Zeroizing::new(serde_json::to_vec(partial).map_err(|_| GlassError::Seal)?);
    let (enc, ct) = threshold::seal_base(
        reveal_key,
        PARTIAL_INFO,
        &partial_aad(request_id, partial.index),
        &json,
    )?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a sealed partial that the server says came from custodian `index`.
pub fn open_partial(
    reveal_key: &KemSecretKey,
    request_id: &str,
    index: CustodianIndex,
    sealed: &[u8],
) -> Result<Partial, GlassError> {
    let unreadable = GlassError::PartialUnreadable { index: index.get() };
    let enc = sealed.get(..Encapsulated::LEN).ok_or_else(|| unreadable.clone())?;
    let enc = Encapsulated::from_bytes(enc).map_err(|_| unreadable.clone())?;
    let ct = sealed.get(Encapsulated::LEN..).ok_or_else(|| unreadable.clone())?;
    let json =
        threshold::open_base(reveal_key, &enc, PARTIAL_INFO, &partial_aad(request_id, index), ct)
            .map_err(|_| unreadable.clone())?;
    let partial: Partial = serde_json::from_slice(&json).map_err(|_| unreadable)?;
    if partial.index != index {
        return Err(GlassError::PartialMislabelled {
            index: index.get(),
            inner: partial.index.get(),
        });
    }
    Ok(partial)
}

/// A short fingerprint of a public key (hex of SHA-256, 32 characters), to
/// compare out of band: custodians check they seal to the requester's key.
pub fn fingerprint(key: &KemPublicKey) -> String {
    fingerprint_bytes(&key.to_bytes())
}

/// Hex of the first 16 bytes of SHA-256: the fingerprint of any public
/// document operators compare out of band (keys, `custodians.json`).
pub fn fingerprint_bytes(bytes: &[u8]) -> String {
    let digest = digest::digest(&digest::SHA256, bytes);
    digest.as_ref().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A fresh legacy X25519 key pair (private, public): for tests of links
/// sealed before P-256.
pub fn generate_legacy_keypair() -> (Zeroizing<Vec<u8>>, Vec<u8>) {
    use hpke::Kem as _;
    let (sk, pk) = LegacyKem::gen_keypair();
    (Zeroizing::new(sk.to_bytes().to_vec()), pk.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> (GlassSealer, KemSecretKey) {
        let sk = KemSecretKey::generate().unwrap();
        let sender = KemSecretKey::generate().unwrap();
        (GlassSealer::new(&sk.public_key().to_bytes(), sender.to_bytes().as_slice()).unwrap(), sk)
    }

    fn released(sealer: &GlassSealer, sealed: Vec<u8>, aad: &[u8]) -> SealedLink {
        SealedLink {
            suite: sealer.suite(),
            sealed,
            aad: aad.to_vec(),
            sender: Some(sealer.sender_public()),
        }
    }

    #[test]
    fn current_links_open_with_the_key_and_only_for_their_ref() {
        let (sealer, sk) = sealer();
        assert_eq!(sealer.suite(), GlassSuite::P256Auth);
        let sealed = sealer.seal("alice@example.com", b"ref-a").unwrap();
        let link = released(&sealer, sealed.clone(), b"ref-a");
        assert_eq!(
            open_with_key(sk.to_bytes().as_slice(), &link).unwrap().as_str(),
            "alice@example.com"
        );
        let moved = released(&sealer, sealed, b"ref-b");
        assert_eq!(open_with_key(sk.to_bytes().as_slice(), &moved), Err(GlassError::Open));
    }

    #[test]
    fn a_link_sealed_by_anyone_but_veil_is_refused() {
        // The attacker knows every public key and seals with its own sender key.
        let (sealer, sk) = sealer();
        let forger = GlassSealer::new(
            &sk.public_key().to_bytes(),
            KemSecretKey::generate().unwrap().to_bytes().as_slice(),
        )
        .unwrap();
        let forged = forger.seal("innocent@example.com", b"ref").unwrap();
        let link = released(&sealer, forged, b"ref");
        assert_eq!(open_with_key(sk.to_bytes().as_slice(), &link), Err(GlassError::Open));
    }

    #[test]
    fn legacy_links_open_with_the_old_key_only() {
        let (old_sk, old_pk) = generate_legacy_keypair();
        let sender = KemSecretKey::generate().unwrap();
        let sealer = GlassSealer::new(&old_pk, sender.to_bytes().as_slice()).unwrap();
        assert_eq!(sealer.suite(), GlassSuite::LegacyX25519);
        let sealed = sealer.seal("bob", b"r").unwrap();
        let link = SealedLink {
            suite: GlassSuite::LegacyX25519,
            sealed,
            aad: b"r".to_vec(),
            sender: None,
        };
        assert_eq!(open_with_key(&old_sk, &link).unwrap().as_str(), "bob");
        let custodians = Custodians {
            threshold: 2,
            recipient: KemSecretKey::generate().unwrap().public_key(),
            points: vec![],
        };
        assert_eq!(open_with_partials(&[], &custodians, &link), Err(GlassError::LegacySuite));
    }

    /// A link to `account` and a 2-of-3 ceremony of its recipient key.
    fn two_of_three(
        account: &str,
    ) -> (GlassSealer, threshold::Split, Custodians, SealedLink, Encapsulated) {
        let (sealer, sk) = sealer();
        let split = threshold::split(&sk, 2, 3).unwrap();
        let custodians = Custodians {
            threshold: 2,
            recipient: split.commitments.recipient_key().unwrap(),
            points: split.points.clone(),
        };
        let link = released(&sealer, sealer.seal(account, b"ref").unwrap(), b"ref");
        let enc = SealedLink::encapsulated(&link.sealed).unwrap();
        (sealer, split, custodians, link, enc)
    }

    #[test]
    fn k_partials_sealed_to_the_requester_open_and_k_minus_one_do_not() {
        let (sealer, split, custodians, link, enc) = two_of_three("carol");
        let reveal = KemSecretKey::generate().unwrap();
        let through_server: Vec<Partial> = split.shares[..2]
            .iter()
            .map(|share| {
                let p = threshold::partial(share, &enc, &sealer.sender_public()).unwrap();
                let sealed = seal_partial(&reveal.public_key(), "req-1", &p).unwrap();
                open_partial(&reveal, "req-1", share.index(), &sealed).unwrap()
            })
            .collect();
        assert_eq!(
            open_with_partials(&through_server, &custodians, &link).unwrap().as_str(),
            "carol"
        );
        assert!(matches!(
            open_with_partials(&through_server[..1], &custodians, &link),
            Err(GlassError::Threshold(ThresholdError::NotEnough { have: 1, need: 2 }))
        ));
        // Sealed for another request, or relabelled: unreadable.
        let p = threshold::partial(&split.shares[2], &enc, &sealer.sender_public()).unwrap();
        let sealed = seal_partial(&reveal.public_key(), "req-1", &p).unwrap();
        assert!(open_partial(&reveal, "req-2", split.shares[2].index(), &sealed).is_err());
        assert!(open_partial(&reveal, "req-1", split.shares[0].index(), &sealed).is_err());
    }

    /// One lying custodian cannot spoil a reveal that `k` honest ones can
    /// open: its partial is set aside and named; without enough honest
    /// ones, the refusal names it.
    #[test]
    fn a_bad_partial_is_set_aside_when_k_good_ones_remain() {
        let (sealer, split, custodians, link, enc) = two_of_three("dave");
        let partial =
            |i: usize| threshold::partial(&split.shares[i], &enc, &sealer.sender_public());
        let mut lie = partial(0).unwrap();
        lie.index = split.shares[1].index();
        let (account, set_aside) = open_with_good_partials(
            &[lie, partial(0).unwrap(), partial(2).unwrap()],
            &custodians,
            &link,
        )
        .unwrap();
        assert_eq!((account.as_str(), set_aside), ("dave", vec![2]));
        assert_eq!(
            open_with_good_partials(&[lie, partial(2).unwrap()], &custodians, &link)
                .map(|(a, _)| a.to_string()),
            Err(GlassError::Threshold(ThresholdError::BadPartial { index: 2 }))
        );
    }

    /// The audit copy of a released link opens, with the break-glass key,
    /// to the link as released, and no two copies are equal.
    #[test]
    fn audit_copies_open_to_the_link_and_differ() {
        let (sealer, sk) = sealer();
        let link = sealer.seal("erin", b"ref").unwrap();
        let one = sealer.seal_for_audit(&link, "req-1").unwrap();
        let two = sealer.seal_for_audit(&link, "req-1").unwrap();
        assert_ne!(one, two);
        assert_ne!(one, link);
        let opened = open_audit_copy(sk.to_bytes().as_slice(), "req-1", &one).unwrap();
        assert_eq!(opened.as_slice(), link.as_slice());
        assert!(open_audit_copy(sk.to_bytes().as_slice(), "req-2", &one).is_err());
    }
}
