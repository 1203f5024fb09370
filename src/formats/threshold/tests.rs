use hpke_rs::prelude::{HpkeMode, HpkePrivateKey, HpkePublicKey};
use hpke_rs::{Hpke, hpke_types};
use hpke_rs_rust_crypto::HpkeRustCrypto;
use p256::elliptic_curve::point::AffineCoordinates;
use proptest::prelude::*;

use super::partial::decapsulate;
use super::schedule::{extract_and_expand, key_schedule_auth};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// RFC 9180 Appendix A.3.3: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
/// AES-128-GCM, mode Auth.
mod a33 {
    pub const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
    pub const ENC: &str = "042224f3ea800f7ec55c03f29fc9865f6ee27004f818fcbdc6dc68932c1e52e15b79e264a98f2c535ef06745f3d308624414153b22c7332bc1e691cb4af4d53454";
    pub const SK_R: &str = "d929ab4be2e59f6954d6bedd93e638f02d4046cef21115b00cdda2acb2a4440e";
    pub const PK_R: &str = "04423e363e1cd54ce7b7573110ac121399acbc9ed815fae03b72ffbd4c18b01836835c5a09513f28fc971b7266cfde2e96afe84bb0f266920e82c4f53b36e1a78d";
    pub const SK_S: &str = "1120ac99fb1fccc1e8230502d245719d1b217fe20505c7648795139d177f0de9";
    pub const PK_S: &str = "04a817a0902bf28e036d66add5d544cc3a0457eab150f104285df1e293b5c10eef8651213e43d9cd9086c80b309df22cf37609f58c1127f7607e85f210b2804f73";
    pub const SHARED_SECRET: &str =
        "d4aea336439aadf68f9348880aa358086f1480e7c167b6ef15453ba69b94b44f";
    pub const KEY: &str = "19aa8472b3fdc530392b0e54ca17c0f5";
    pub const BASE_NONCE: &str = "b390052d26b67a5b8a8fcaa4";
    pub const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
    pub const AAD: &str = "436f756e742d30";
    pub const CT: &str = "82ffc8c44760db691a07c5627e5fc2c08e7a86979ee79b494a17cc3405446ac2bdb8f265db4a099ed3289ffe19";
}

struct Vector {
    sk_r: KemSecretKey,
    pk_r: KemPublicKey,
    pk_s: KemPublicKey,
    enc: Encapsulated,
    info: Vec<u8>,
    aad: Vec<u8>,
    ct: Vec<u8>,
}

impl Vector {
    fn rfc() -> Self {
        Self {
            sk_r: KemSecretKey::from_bytes(&hex(a33::SK_R)).unwrap(),
            pk_r: KemPublicKey::from_bytes(&hex(a33::PK_R)).unwrap(),
            pk_s: KemPublicKey::from_bytes(&hex(a33::PK_S)).unwrap(),
            enc: Encapsulated::from_bytes(&hex(a33::ENC)).unwrap(),
            info: hex(a33::INFO),
            aad: hex(a33::AAD),
            ct: hex(a33::CT),
        }
    }

    fn envelope(&self) -> Envelope<'_> {
        Envelope {
            pk_r: &self.pk_r,
            pk_s: &self.pk_s,
            enc: &self.enc,
            info: &self.info,
            aad: &self.aad,
            ct: &self.ct,
        }
    }
}

/// A fresh recipient key split k of n, a fresh sender key, and one link
/// sealed by the `hpke` crate.
fn sealed_fresh(k: usize, n: usize, pt: &[u8]) -> (Vector, Split) {
    let sk_r = KemSecretKey::generate().unwrap();
    let sk_s = KemSecretKey::generate().unwrap();
    let (info, aad) = (b"veil glass_link v2".to_vec(), vec![7u8; 32]);
    let (enc, ct) = seal_auth(&sk_r.public_key(), &sk_s, &info, &aad, pt).unwrap();
    let split = split(&sk_r, k, n).unwrap();
    let v = Vector { pk_r: sk_r.public_key(), sk_r, pk_s: sk_s.public_key(), enc, info, aad, ct };
    (v, split)
}

fn partials(split: &Split, v: &Vector, which: &[usize]) -> Vec<Partial> {
    which.iter().map(|&i| partial(&split.shares[i], &v.enc, &v.pk_s).unwrap()).collect()
}

#[test]
fn rfc9180_a33_key_schedule_matches() {
    let v = Vector::rfc();
    // Whole-key DH, only to pin ExtractAndExpand and the key schedule.
    let skr = v.sk_r.scalar();
    let mut dh = (v.enc.point() * *skr).to_affine().x().to_vec();
    dh.extend_from_slice(&(v.pk_s.point() * *skr).to_affine().x());
    let mut kem_context = hex(a33::ENC);
    kem_context.extend(hex(a33::PK_R));
    kem_context.extend(hex(a33::PK_S));
    let ss = extract_and_expand(&dh, &kem_context).unwrap();
    assert_eq!(ss.to_vec(), hex(a33::SHARED_SECRET));
    let ks = key_schedule_auth(ss.as_slice(), &v.info).unwrap();
    assert_eq!(ks.key.to_vec(), hex(a33::KEY));
    assert_eq!(ks.base_nonce.to_vec(), hex(a33::BASE_NONCE));
    assert_eq!(v.sk_r.public_key(), v.pk_r);
    let sk_s = KemSecretKey::from_bytes(&hex(a33::SK_S)).unwrap();
    assert_eq!(sk_s.public_key(), v.pk_s);
}

#[test]
fn rfc9180_a33_opens_through_three_of_five_custodians() {
    let v = Vector::rfc();
    let split = split(&v.sk_r, 3, 5).unwrap();
    let ps = partials(&split, &v, &[4, 0, 2]);
    let ss = decapsulate(&ps, &split.points, 3, &v.envelope()).unwrap();
    assert_eq!(ss.to_vec(), hex(a33::SHARED_SECRET));
    let ks = key_schedule_auth(ss.as_slice(), &v.info).unwrap();
    assert_eq!(ks.key.to_vec(), hex(a33::KEY));
    assert_eq!(ks.base_nonce.to_vec(), hex(a33::BASE_NONCE));
    let pt = open_threshold(&ps, &split.points, 3, &v.envelope()).unwrap();
    assert_eq!(pt.to_vec(), hex(a33::PT));
    // And the hpke crate agrees with the vector.
    let full = open_auth(&v.sk_r, &v.pk_s, &v.enc, &v.info, &v.aad, &v.ct).unwrap();
    assert_eq!(full.to_vec(), hex(a33::PT));
}

#[test]
fn hpke_crate_seal_opens_by_threshold_and_whole_key() {
    let (v, split) = sealed_fresh(2, 3, b"alice@example.com");
    let ps = partials(&split, &v, &[2, 1]);
    let pt = open_threshold(&ps, &split.points, 2, &v.envelope()).unwrap();
    assert_eq!(pt.as_slice(), b"alice@example.com");
    let pt = open_auth(&v.sk_r, &v.pk_s, &v.enc, &v.info, &v.aad, &v.ct).unwrap();
    assert_eq!(pt.as_slice(), b"alice@example.com");
}

#[test]
fn hpke_rs_seal_opens_by_threshold() {
    let sk_r = KemSecretKey::generate().unwrap();
    let sk_s = KemSecretKey::generate().unwrap();
    let (info, aad) = (b"info".to_vec(), b"account_ref".to_vec());
    let mut hpke = Hpke::<HpkeRustCrypto>::new(
        HpkeMode::Auth,
        hpke_types::KemAlgorithm::DhKemP256,
        hpke_types::KdfAlgorithm::HkdfSha256,
        hpke_types::AeadAlgorithm::Aes128Gcm,
    );
    let pk_r = HpkePublicKey::from(sk_r.public_key().to_bytes().to_vec());
    let sk_s_rs = HpkePrivateKey::from(sk_s.to_bytes().to_vec());
    let (enc, ct) =
        hpke.seal(&pk_r, &info, &aad, b"bob@example.org", None, None, Some(&sk_s_rs)).unwrap();
    let split = split(&sk_r, 3, 4).unwrap();
    let v = Vector {
        pk_r: sk_r.public_key(),
        sk_r,
        pk_s: sk_s.public_key(),
        enc: Encapsulated::from_bytes(&enc).unwrap(),
        info,
        aad,
        ct,
    };
    let ps = partials(&split, &v, &[0, 1, 3]);
    let pt = open_threshold(&ps, &split.points, 3, &v.envelope()).unwrap();
    assert_eq!(pt.as_slice(), b"bob@example.org");
}

#[test]
fn fewer_than_k_partials_are_not_enough() {
    let (v, split) = sealed_fresh(3, 5, b"x");
    let ps = partials(&split, &v, &[0, 3]);
    assert_eq!(
        open_threshold(&ps, &split.points, 3, &v.envelope()),
        Err(ThresholdError::NotEnough { have: 2, need: 3 })
    );
}

#[test]
fn a_forged_partial_names_its_custodian() {
    let (v, split) = sealed_fresh(3, 5, b"x");
    let honest = partials(&split, &v, &[0, 1, 2]);
    let bad = |ps: &[Partial]| open_threshold(ps, &split.points, 3, &v.envelope());

    // A random point in place of s_i·E, the proof kept.
    let mut ps = honest.clone();
    ps[1].e_i = KemSecretKey::generate().unwrap().public_key().point();
    assert_eq!(bad(&ps), Err(ThresholdError::BadPartial { index: 2 }));

    // A valid partial, but for another link.
    let (other, _) = sealed_fresh(3, 5, b"y");
    let mut ps = honest.clone();
    ps[2] = partial(&split.shares[2], &other.enc, &v.pk_s).unwrap();
    assert_eq!(bad(&ps), Err(ThresholdError::BadPartial { index: 3 }));

    // Custodian 3's partial presented as custodian 4's.
    let mut ps = honest.clone();
    ps[2].index = CustodianIndex::new(4).unwrap();
    assert_eq!(bad(&ps), Err(ThresholdError::BadPartial { index: 4 }));

    // A partial against another sender key.
    let mut ps = honest.clone();
    ps[0] = partial(&split.shares[0], &v.enc, &other.pk_s).unwrap();
    assert_eq!(bad(&ps), Err(ThresholdError::BadPartial { index: 1 }));

    assert!(bad(&honest).is_ok());
}

#[test]
fn duplicate_and_unknown_custodians_are_refused() {
    let (v, split) = sealed_fresh(2, 3, b"x");
    let ps = partials(&split, &v, &[1, 1, 2]);
    assert_eq!(
        open_threshold(&ps, &split.points, 2, &v.envelope()),
        Err(ThresholdError::DuplicatePartial { index: 2 })
    );
    let ps = partials(&split, &v, &[0, 2]);
    assert_eq!(
        open_threshold(&ps, &split.points[..2], 2, &v.envelope()),
        Err(ThresholdError::UnknownCustodian { index: 3 })
    );
}

#[test]
fn points_of_another_key_are_refused() {
    let (v, split) = sealed_fresh(2, 3, b"x");
    let (_, other) = sealed_fresh(2, 3, b"x");
    // Honest partials of the other split verify against its points, but
    // those points do not rebuild this recipient key.
    let ps: Vec<_> =
        [0, 1].iter().map(|&i| partial(&other.shares[i], &v.enc, &v.pk_s).unwrap()).collect();
    assert_eq!(
        open_threshold(&ps, &other.points, 2, &v.envelope()),
        Err(ThresholdError::WrongCustodians)
    );
    // k understated: 2 of a 3-of-5 split rebuild nothing.
    let (v, split5) = sealed_fresh(3, 5, b"x");
    let ps = partials(&split5, &v, &[0, 1]);
    assert_eq!(
        open_threshold(&ps, &split5.points, 2, &v.envelope()),
        Err(ThresholdError::WrongCustodians)
    );
    drop(split);
}

#[test]
fn a_link_forged_with_another_sender_key_does_not_open() {
    let (v, split) = sealed_fresh(2, 3, b"x");
    // A database writer knows pkR and veil's pkS, but not skS.
    let forger = KemSecretKey::generate().unwrap();
    let (enc, ct) = seal_auth(&v.pk_r, &forger, &v.info, &v.aad, b"mallory").unwrap();
    let forged = Vector { enc, ct, ..v };
    let ps = partials(&split, &forged, &[0, 1]);
    assert_eq!(
        open_threshold(&ps, &split.points, 2, &forged.envelope()),
        Err(ThresholdError::Open)
    );
    assert_eq!(
        open_auth(&forged.sk_r, &forged.pk_s, &forged.enc, &forged.info, &forged.aad, &forged.ct),
        Err(ThresholdError::Open)
    );
}

#[test]
fn the_aad_binds_the_link() {
    let (v, split) = sealed_fresh(2, 2, b"x");
    let ps = partials(&split, &v, &[0, 1]);
    let other = Vector { aad: vec![8u8; 32], ..v };
    assert_eq!(open_threshold(&ps, &split.points, 2, &other.envelope()), Err(ThresholdError::Open));
}

#[test]
fn shares_check_against_the_commitments() {
    let sk = KemSecretKey::generate().unwrap();
    let split = split(&sk, 3, 5).unwrap();
    assert_eq!(split.commitments.threshold(), 3);
    assert_eq!(split.commitments.recipient_key().unwrap(), sk.public_key());
    for (share, point) in split.shares.iter().zip(&split.points) {
        verify_share(share, &split.commitments).unwrap();
        assert_eq!(split.commitments.verification_point(share.index()).unwrap(), *point);
    }
    let forged = CustodianShare { index: split.shares[0].index, scalar: split.shares[1].scalar };
    assert_eq!(
        verify_share(&forged, &split.commitments),
        Err(ThresholdError::BadShare { index: 1 })
    );
    assert_eq!(split_err(1, 3), ThresholdError::BadCounts { k: 1, n: 3 });
    assert_eq!(split_err(4, 3), ThresholdError::BadCounts { k: 4, n: 3 });
    assert_eq!(split_err(2, 256), ThresholdError::BadCounts { k: 2, n: 256 });
}

fn split_err(k: usize, n: usize) -> ThresholdError {
    split(&KemSecretKey::generate().unwrap(), k, n).unwrap_err()
}

#[test]
fn files_round_trip_and_secrets_stay_out_of_debug() {
    let (v, split) = sealed_fresh(2, 3, b"carol");
    let share = &split.shares[0];
    let json = serde_json::to_string(share).unwrap();
    let back: CustodianShare = serde_json::from_str(&json).unwrap();
    assert_eq!((back.index, back.scalar), (share.index, share.scalar));
    assert!(!format!("{share:?}").contains(&json[20..40]));
    assert_eq!(format!("{:?}", v.sk_r), "KemSecretKey(..)");

    let points: Vec<VerificationPoint> =
        serde_json::from_str(&serde_json::to_string(&split.points).unwrap()).unwrap();
    assert_eq!(points, split.points);
    let commitments: FeldmanCommitments =
        serde_json::from_str(&serde_json::to_string(&split.commitments).unwrap()).unwrap();
    assert_eq!(commitments, split.commitments);
    let ps: Vec<Partial> =
        serde_json::from_str(&serde_json::to_string(&partials(&split, &v, &[0, 2])).unwrap())
            .unwrap();
    assert_eq!(open_threshold(&ps, &points, 2, &v.envelope()).unwrap().as_slice(), b"carol");

    assert!(serde_json::from_str::<CustodianShare>(r#"{"index":0,"scalar":"AA=="}"#).is_err());
    assert!(serde_json::from_str::<VerificationPoint>(r#"{"index":1,"point":"AA=="}"#).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Any k of the n custodians, in any order, open the link.
    #[test]
    fn any_k_of_n_custodians_open(
        (k, n, which) in (2usize..=5, 0usize..=2).prop_flat_map(|(k, extra)| {
            let n = k + extra;
            (Just(k), Just(n), proptest::sample::subsequence((0..n).collect::<Vec<_>>(), k).prop_shuffle())
        })
    ) {
        let (v, split) = sealed_fresh(k, n, b"dave");
        let ps = partials(&split, &v, &which);
        let pt = open_threshold(&ps, &split.points, k, &v.envelope()).unwrap();
        prop_assert_eq!(pt.as_slice(), b"dave");
        prop_assert_eq!(
            open_threshold(&ps[..k - 1], &split.points, k, &v.envelope()),
            Err(ThresholdError::NotEnough { have: k - 1, need: k })
        );
    }
}
