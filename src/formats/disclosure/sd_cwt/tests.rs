use base64ct::{Base64, Encoding};
use proptest::prelude::*;
use serde_json::{Map, Value as Json, json};

use super::*;
use crate::formats::disclosure::test_support::*;
use crate::formats::disclosure::{IssueParams, IssuerKey, MAX_DEPTH};

/// An edit of a COSE_Sign1's protected header and payload claims.
type Edit = dyn Fn(&mut coset::Header, &mut Vec<(Cbor, Cbor)>);

struct Setup {
    issuer: Es256Signer,
    holder: Es256Signer,
    sd_cwt: Vec<u8>,
}

fn setup() -> Setup {
    let issuer = signer("issuer-2025");
    let holder = signer("holder");
    let sd_cwt = issue(&params(&holder), &issuer).unwrap();
    Setup { issuer, holder, sd_cwt }
}

fn nonce() -> &'static [u8] {
    NONCE.as_bytes()
}

fn present_default(s: &Setup, sd_cwt: &[u8], reveal: &[&str]) -> Vec<u8> {
    present(sd_cwt, reveal, &s.holder, AUDIENCE, nonce(), NOW).unwrap()
}

fn verify_default(s: &Setup, kbt: &[u8]) -> Result<Verified, VerifyError> {
    verify(kbt, keys(&s.issuer).as_slice(), &expectations())
}

fn code(result: Result<Verified, VerifyError>) -> &'static str {
    result.map(|_| "ok").unwrap_or_else(|e| e.code())
}

fn parse(bytes: &[u8]) -> CoseSign1 {
    CoseSign1::from_tagged_slice(bytes).unwrap()
}

fn payload_of(sign1: &CoseSign1) -> Vec<(Cbor, Cbor)> {
    payload_map(sign1).unwrap()
}

/// Re-signs `sign1` with `signer` after `edit` changed its headers or payload.
fn resign(
    mut sign1: CoseSign1,
    signer: &Es256Signer,
    edit: impl FnOnce(&mut coset::Header, &mut Vec<(Cbor, Cbor)>),
) -> Vec<u8> {
    let mut payload = payload_of(&sign1);
    sign1.protected.original_data = None;
    edit(&mut sign1.protected.header, &mut payload);
    sign1.payload = Some(cbor::encode(&Cbor::Map(payload)).unwrap());
    sign1.signature = signer.sign(&sign1.tbs_data(&[])).unwrap().to_vec();
    sign1.to_tagged_vec().unwrap()
}

fn set_header(header: &mut coset::Header, label: i64, value: HeaderValue) {
    header.rest.retain(|(l, _)| *l != Label::Int(label));
    header.rest.push((Label::Int(label), value));
}

fn set_claim(payload: &mut Vec<(Cbor, Cbor)>, key: Cbor, value: Cbor) {
    payload.retain(|(k, _)| *k != key);
    payload.push((key, value));
}

fn sd_claims_of(sign1: &CoseSign1) -> Vec<Vec<u8>> {
    sd_claims(sign1).unwrap()
}

fn with_sd_claims(mut sign1: CoseSign1, disclosures: Vec<Vec<u8>>) -> Vec<u8> {
    sign1.unprotected.rest.retain(|(l, _)| *l != Label::Int(HEADER_SD_CLAIMS));
    sign1.unprotected.rest.push((Label::Int(HEADER_SD_CLAIMS), bstr_array(disclosures)));
    sign1.to_tagged_vec().unwrap()
}

#[test]
fn round_trip_discloses_exactly_the_chosen_claims() {
    let s = setup();
    let kbt = present_default(&s, &s.sd_cwt, &["email", "address"]);
    let verified = verify_default(&s, &kbt).unwrap();
    assert_eq!(verified.format, Format::SdCwt);
    let mut disclosed: Vec<&str> = verified.disclosed.keys().map(String::as_str).collect();
    disclosed.sort_unstable();
    assert_eq!(disclosed, ["address", "email"]);
    assert_eq!(verified.disclosed["address"], claims()["address"]);
    assert_eq!(verified.claims["handle"], "crazykoala75");
    assert_eq!(verified.claims["age_over_18"], true);
    assert_eq!(verified.claims["vct"], "https://veil.example/vct/pseudonym");
    assert!(!verified.claims.contains_key("display_name"));
    assert_eq!(verified.issuer.as_deref(), Some("https://veil.example"));
    assert_eq!(verified.subject.as_deref(), Some("mimi://veil.example/p/crazykoala75"));
    assert_eq!(verified.header_kid, "issuer-2025");
    assert_eq!(&verified.holder_key, s.holder.public_key());
    assert_eq!(
        (verified.issued_at, verified.expires_at, verified.kb_issued_at),
        (Some(ISSUED_AT), Some(ISSUED_AT + 3600), Some(NOW))
    );
}

#[test]
fn issued_token_has_the_draft_headers_and_decoys() {
    let s = setup();
    assert_eq!(s.sd_cwt.first(), Some(&0xd2), "tag 18");
    let sign1 = parse(&s.sd_cwt);
    let header = &sign1.protected.header;
    assert_eq!(header.alg, Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ESP256)));
    assert_eq!(header.key_id, b"issuer-2025");
    assert_eq!(header_value(&header.rest, HEADER_TYP), Some(&HeaderValue::from(293)));
    assert_eq!(header_value(&header.rest, HEADER_SD_ALG), Some(&HeaderValue::from(-16)));
    let payload = payload_of(&sign1);
    let Some(Cbor::Array(digests)) =
        payload.iter().find(|(k, _)| *k == Cbor::Simple(59)).map(|(_, v)| v)
    else {
        panic!("no simple(59) array");
    };
    let disclosures = sd_claims_of(&sign1);
    assert!((4..=7).contains(&digests.len()), "3 claims plus 1–4 decoys");
    assert_eq!(disclosures.len(), digests.len(), "the holder receives the decoys too");
    for disclosure in &disclosures {
        let digest = Cbor::Bytes(redaction::digest(disclosure).unwrap());
        assert!(digests.contains(&digest));
    }
    let encoded = sign1.payload.clone().unwrap();
    let keys: Vec<Vec<u8>> = payload.iter().map(|(k, _)| cbor::encode(k).unwrap()).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "deterministic key order");
    assert_eq!(cbor::encode(&Cbor::Map(payload)).unwrap(), encoded);
}

#[test]
fn unicode_display_name_round_trips_exactly() {
    let s = setup();
    let kbt = present_default(&s, &s.sd_cwt, &["display_name"]);
    assert_eq!(verify_default(&s, &kbt).unwrap().disclosed["display_name"], DISPLAY_NAME);
}

#[test]
fn disclosure_edited_in_transit_breaks_the_key_binding() {
    let s = setup();
    let kbt = present_default(&s, &s.sd_cwt, &["email"]);
    let at = kbt.windows(4).position(|w| w == b"zoe@").unwrap();
    let mut tampered = kbt.clone();
    tampered[at] = b'e';
    assert_eq!(code(verify_default(&s, &tampered)), "kb_signature_invalid");
}

#[test]
fn disclosure_the_issuer_never_signed_is_unknown() {
    let s = setup();
    let sign1 = parse(&s.sd_cwt);
    let mut disclosures = sd_claims_of(&sign1);
    disclosures.push(redaction::claim("role", Cbor::Text("admin".into())).unwrap().1);
    let forged = with_sd_claims(sign1, disclosures);
    let kbt = present_default(&s, &forged, &["email", "role"]);
    assert_eq!(code(verify_default(&s, &kbt)), "unknown_disclosure");
}

#[test]
fn repeated_disclosure_is_a_duplicate() {
    let s = setup();
    let sign1 = parse(&s.sd_cwt);
    let mut disclosures = sd_claims_of(&sign1);
    let email = disclosures
        .iter()
        .find(|d| redaction::claim_name(d).as_deref() == Some("email"))
        .unwrap()
        .clone();
    disclosures.push(email);
    let kbt = present_default(&s, &with_sd_claims(sign1, disclosures), &["email"]);
    assert_eq!(code(verify_default(&s, &kbt)), "duplicate_disclosure");
}

#[test]
fn key_binding_checks_have_their_own_codes() {
    let s = setup();
    let ok = present_default(&s, &s.sd_cwt, &["email"]);
    assert_eq!(code(verify_default(&s, &ok)), "ok");
    let with = |aud: &str, cnonce: &[u8], iat: i64| {
        present(&s.sd_cwt, &["email"], &s.holder, aud, cnonce, iat).unwrap()
    };
    let rebind = |signer: &Es256Signer, edit: &Edit| resign(parse(&ok), signer, |h, p| edit(h, p));
    let cases = [
        (with("mimi://other.example", nonce(), NOW), "audience_mismatch"),
        (with(AUDIENCE, b"other", NOW), "nonce_mismatch"),
        (with(AUDIENCE, b"", NOW), "nonce_mismatch"),
        (with(AUDIENCE, nonce(), NOW - 301), "kb_stale"),
        (with(AUDIENCE, nonce(), NOW + 120), "kb_stale"),
        (with(AUDIENCE, nonce(), ISSUED_AT - 120), "kb_stale"),
        (rebind(&signer("mallory"), &|_, _| {}), "kb_signature_invalid"),
        (
            rebind(&s.holder, &|h, _| set_header(h, HEADER_TYP, HeaderValue::from(61))),
            "kb_wrong_typ",
        ),
        (
            rebind(&s.holder, &|h, _| {
                set_header(h, HEADER_TYP, HeaderValue::Text(KB_TYP_TEXT.into()))
            }),
            "ok",
        ),
        (rebind(&s.holder, &|h, _| h.alg = Some(iana::Algorithm::ES384.into())), "unsupported_alg"),
        (rebind(&s.holder, &|_, p| set_claim(p, int(IAT), Cbor::Text("now".into()))), "malformed"),
        (rebind(&s.holder, &|_, p| set_claim(p, int(ISS), Cbor::Text("me".into()))), "malformed"),
        (
            rebind(&s.holder, &|_, p| set_claim(p, int(CNONCE), Cbor::Text(NONCE.into()))),
            "malformed",
        ),
        (
            rebind(&s.holder, &|h, _| set_header(h, HEADER_CWT_CLAIMS, HeaderValue::Map(vec![]))),
            "malformed",
        ),
        (
            rebind(&s.holder, &|h, _| h.rest.retain(|(l, _)| *l != Label::Int(HEADER_KCWT))),
            "malformed",
        ),
        (bind(&s.holder, &s.sd_cwt, AUDIENCE, nonce(), NOW), "ok"),
        (s.sd_cwt.clone(), "kb_missing"),
    ];
    for (kbt, expected) in cases {
        assert_eq!(code(verify_default(&s, &kbt)), expected);
    }
}

/// A KBT by `holder` embedding `credential` as is (bypassing the holder's checks).
fn bind(holder: &Es256Signer, credential: &[u8], aud: &str, cnonce: &[u8], iat: i64) -> Vec<u8> {
    let embedded = parse(credential).to_cbor_value().unwrap();
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .value(HEADER_KCWT, HeaderValue::Tag(18, Box::new(embedded)))
        .value(HEADER_TYP, HeaderValue::from(KB_TYP))
        .build();
    let claims = vec![
        (int(AUD), Cbor::Text(aud.into())),
        (int(IAT), int(iat)),
        (int(CNONCE), Cbor::Bytes(cnonce.to_vec())),
    ];
    CoseSign1Builder::new()
        .protected(protected)
        .payload(cbor::encode(&Cbor::Map(claims)).unwrap())
        .create_signature(&[], |tbs| holder.sign(tbs).unwrap().to_vec())
        .build()
        .to_tagged_vec()
        .unwrap()
}

/// Re-signs the SD-CWT after `edit` and binds it with all its disclosures.
fn reissued_kbt(
    s: &Setup,
    edit: impl FnOnce(&mut coset::Header, &mut Vec<(Cbor, Cbor)>),
) -> Vec<u8> {
    let sign1 = parse(&s.sd_cwt);
    let disclosures = sd_claims_of(&sign1);
    let reissued = with_sd_claims(parse(&resign(sign1, &s.issuer, edit)), disclosures);
    bind(&s.holder, &reissued, AUDIENCE, nonce(), NOW)
}

#[test]
fn credential_checks_have_their_own_codes() {
    let s = setup();
    let kbt = present_default(&s, &s.sd_cwt, &["email"]);
    let late = Expectations { now: ISSUED_AT + 3600 + 61, ..expectations() };
    assert_eq!(code(verify(&kbt, keys(&s.issuer).as_slice(), &late)), "expired");
    let early = Expectations { now: ISSUED_AT - 61, ..expectations() };
    assert_eq!(code(verify(&kbt, keys(&s.issuer).as_slice(), &early)), "not_yet_valid");

    let stranger = signer("issuer-2025");
    let impostor = [IssuerKey::es256("issuer-2025", stranger.public_key())];
    assert_eq!(
        code(verify(&kbt, impostor.as_slice(), &expectations())),
        "issuer_signature_invalid"
    );
    let other_kid = [IssuerKey::es256("issuer-2024", s.issuer.public_key())];
    assert_eq!(code(verify(&kbt, other_kid.as_slice(), &expectations())), "unknown_issuer_key");
    let rotated =
        [IssuerKey::es256("issuer-2024", stranger.public_key()), keys(&s.issuer)[0].clone()];
    assert_eq!(code(verify(&kbt, rotated.as_slice(), &expectations())), "ok");
    let p384 = [IssuerKey::es384("issuer-2025", &[4; 97]).unwrap()];
    assert_eq!(code(verify(&kbt, p384.as_slice(), &expectations())), "unsupported_alg");

    let cases: [(Box<Edit>, &str); 9] = [
        (Box::new(|h, _| set_header(h, HEADER_TYP, HeaderValue::from(61))), "wrong_typ"),
        (Box::new(|h, _| h.rest.retain(|(l, _)| *l != Label::Int(HEADER_TYP))), "wrong_typ"),
        (Box::new(|h, _| set_header(h, HEADER_TYP, HeaderValue::Text(TYP_TEXT.into()))), "ok"),
        (Box::new(|h, _| set_header(h, HEADER_SD_ALG, HeaderValue::from(-44))), "unsupported_alg"),
        (Box::new(|h, _| h.alg = Some(iana::Algorithm::EdDSA.into())), "unsupported_alg"),
        (Box::new(|_, p| set_claim(p, int(EXP), Cbor::Text("tomorrow".into()))), "malformed"),
        (Box::new(|_, p| set_claim(p, int(EXP), int(NOW - 61))), "expired"),
        (Box::new(|_, p| set_claim(p, int(CNF), Cbor::Map(vec![]))), "malformed"),
        (Box::new(|_, p| set_claim(p, Cbor::Simple(59), Cbor::Text("x".into()))), "malformed"),
    ];
    for (edit, expected) in cases {
        assert_eq!(code(verify_default(&s, &reissued_kbt(&s, edit))), expected);
    }
}

#[test]
fn malformed_cbor_never_panics() {
    let s = setup();
    let kbt = present_default(&s, &s.sd_cwt, &["email", "display_name"]);
    for cut in 0..kbt.len() {
        assert!(verify_default(&s, &kbt[..cut]).is_err());
    }
    for garbage in
        [&[][..], &[0xd2], &[0xd2, 0x84], &[0xd2, 0x9f, 0xff], &[0xa1, 0x01, 0x02], &[0xff]]
    {
        assert_eq!(code(verify_default(&s, garbage)), "malformed");
    }
    assert_eq!(
        cbor::decode(&[0x9f, 0x01, 0xff]),
        Err(VerifyError::Malformed("indefinite-length CBOR"))
    );
    assert!(cbor::decode(&[0x9a, 0xff, 0xff, 0xff, 0xff]).is_err(), "huge length, no allocation");
    let deep: Vec<u8> = std::iter::repeat_n(0x81, 10_000).chain([0x00]).collect();
    assert_eq!(cbor::decode(&deep), Err(VerifyError::TooLarge("CBOR nesting depth")));
}

#[test]
fn size_limits_give_too_large() {
    let s = setup();
    let sign1 = parse(&s.sd_cwt);
    let many = (0..65).map(|_| redaction::decoy().unwrap().1).collect();
    let kbt = bind(&s.holder, &with_sd_claims(sign1, many), AUDIENCE, nonce(), NOW);
    assert_eq!(code(verify_default(&s, &kbt)), "too_large");
    assert_eq!(code(verify_default(&s, &vec![0; MAX_PRESENTATION_BYTES + 1])), "too_large");
    let mut deep = Cbor::Text("leaf".into());
    for _ in 0..20 {
        deep = Cbor::Array(vec![deep]);
    }
    let kbt = reissued_kbt(&s, |_, p| p.push((Cbor::Text("deep".into()), deep)));
    assert_eq!(code(verify_default(&s, &kbt)), "too_large");
}

#[test]
fn wrong_shapes_in_disclosures_are_malformed() {
    let s = setup();
    let shapes = [
        Cbor::Array(vec![]),
        Cbor::Array(vec![Cbor::Bytes(vec![0; 8]), Cbor::Text("short salt".into())]),
        Cbor::Array(vec![Cbor::Bytes(vec![0; 16]), Cbor::Bool(true), Cbor::Float(1.5)]),
        Cbor::Map(vec![]),
    ];
    for shape in shapes {
        let sign1 = parse(&s.sd_cwt);
        let mut disclosures = sd_claims_of(&sign1);
        disclosures.push(cbor::encode(&shape).unwrap());
        let kbt = bind(&s.holder, &with_sd_claims(sign1, disclosures), AUDIENCE, nonce(), NOW);
        assert_eq!(code(verify_default(&s, &kbt)), "malformed");
    }
    let mut sign1 = parse(&s.sd_cwt);
    sign1.unprotected.rest = vec![(Label::Int(HEADER_SD_CLAIMS), HeaderValue::Array(vec![]))];
    let kbt = bind(&s.holder, &sign1.to_tagged_vec().unwrap(), AUDIENCE, nonce(), NOW);
    assert_eq!(code(verify_default(&s, &kbt)), "malformed", "an empty sd_claims array");
}

#[test]
fn issuance_refuses_what_the_draft_forbids() {
    let holder = signer("holder");
    let issuer = signer("issuer");
    let mut p = params(&holder);
    p.subject = None;
    assert!(matches!(issue(&p, &issuer), Err(IssueError::Missing("sub"))));
    let mut p = params(&holder);
    p.disclosable.push("cnf".into());
    assert!(matches!(issue(&p, &issuer), Err(IssueError::NotDisclosable(_))));
    let mut p = params(&holder);
    p.vct = None;
    assert!(issue(&p, &issuer).is_ok(), "vct is optional in SD-CWT");
}

#[test]
fn holder_refuses_foreign_credentials_and_unknown_claims() {
    let s = setup();
    let other = signer("other");
    assert!(matches!(
        present(&s.sd_cwt, &[], &other, AUDIENCE, nonce(), NOW),
        Err(PresentError::HolderKeyMismatch)
    ));
    assert!(matches!(
        present(&s.sd_cwt, &["handle"], &s.holder, AUDIENCE, nonce(), NOW),
        Err(PresentError::NotDisclosable(_))
    ));
}

mod vectors {
    //! draft-ietf-spice-sd-cwt-07 examples (tests/vectors/sd-cwt-07).
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/sd-cwt-07/");
    const AUDIENCE: &str = "https://verifier.example/app";
    const CNONCE: [u8; 16] = [
        0x8c, 0x0f, 0x5f, 0x52, 0x3b, 0x95, 0xbe, 0xa4, 0x4a, 0x9a, 0x48, 0xc6, 0x49, 0x24, 0x08,
        0x03,
    ];
    const KBT_IAT: i64 = 1_725_244_237;

    fn file(name: &str) -> Vec<u8> {
        std::fs::read(format!("{DIR}{name}")).unwrap()
    }

    fn pkcs8(name: &str) -> Vec<u8> {
        let pem = String::from_utf8(file(name)).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        Base64::decode_vec(&body).unwrap()
    }

    /// The PEM is PKCS#8 (not SEC1), so ring parses it and yields the public point.
    fn issuer_keys() -> Vec<IssuerKey> {
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING;
        let pair =
            ring::signature::EcdsaKeyPair::from_pkcs8(alg, &pkcs8("issuer_privkey.pem"), &rng)
                .unwrap();
        let public = ring::signature::KeyPair::public_key(&pair).as_ref().to_vec();
        vec![IssuerKey::es384("https://issuer.example/cose-key3", &public).unwrap()]
    }

    fn holder() -> Es256Signer {
        Es256Signer::from_pkcs8("holder", &pkcs8("holder_privkey.pem")).unwrap()
    }

    fn expected() -> Expectations<'static> {
        Expectations {
            audience: AUDIENCE,
            nonce: &CNONCE,
            now: KBT_IAT + 10,
            max_kb_age_secs: 300,
            presenter_key: None,
        }
    }

    #[test]
    fn draft_kbt_verifies() {
        let verified = verify(&file("kbt.cbor"), issuer_keys().as_slice(), &expected()).unwrap();
        assert_eq!(verified.issuer.as_deref(), Some("https://issuer.example"));
        assert_eq!(verified.subject.as_deref(), Some("https://device.example"));
        assert_eq!(verified.header_kid, "https://issuer.example/cose-key3");
        assert_eq!(&verified.holder_key, holder().public_key());
        assert_eq!(Json::Object(verified.disclosed), json!({ "501": "ABCD-123456" }));
        assert_eq!(verified.claims["500"], true);
        assert_eq!(verified.claims["502"], json!([1_549_560_720, 1_674_004_740]));
        assert_eq!(verified.claims["503"], json!({ "country": "us", "region": "ca" }));
        assert_eq!(
            (verified.issued_at, verified.expires_at),
            (Some(1_725_244_200), Some(1_725_330_600))
        );
        assert_eq!(verified.kb_issued_at, Some(KBT_IAT));
    }

    #[test]
    fn draft_kbt_with_one_changed_disclosure_byte_is_refused() {
        let mut kbt = file("kbt.cbor");
        let at = kbt.windows(11).position(|w| w == b"ABCD-123456").unwrap();
        kbt[at] = b'X';
        let result = verify(&kbt, issuer_keys().as_slice(), &expected());
        assert_eq!(result.map(|_| ()), Err(VerifyError::KbSignatureInvalid));
    }

    #[test]
    fn draft_kbt_is_refused_outside_its_window_or_audience() {
        let keys = issuer_keys();
        let late = Expectations { now: KBT_IAT + 301, ..expected() };
        assert_eq!(code(verify(&file("kbt.cbor"), keys.as_slice(), &late)), "kb_stale");
        let elsewhere = Expectations { audience: "https://other.example", ..expected() };
        assert_eq!(
            code(verify(&file("kbt.cbor"), keys.as_slice(), &elsewhere)),
            "audience_mismatch"
        );
    }

    #[test]
    fn our_disclosure_hash_reproduces_the_vector_digests() {
        let first = file("first-disclosure.cborseq");
        let digest = redaction::digest(&first).unwrap();
        let expected = "af375dc3fba1d082448642c00be7b2f7bb05c9d8fb61cfc230ddfdfb4616a693";
        assert_eq!(hex(&digest), expected, "the redacted inspector_license_number in issuer_cwt");
        // The prose example (first-blinded-hash.txt) hashes the bare array instead.
        let prose = String::from_utf8(file("first-blinded-hash.txt")).unwrap();
        assert_eq!(hex(ring::digest::digest(&ring::digest::SHA256, &first).as_ref()), prose.trim());
        assert_ne!(hex(&digest), prose.trim());
    }

    /// The holder side against the draft's issued tokens: present with the
    /// draft's holder key, then verify (nested redaction, array elements, decoys).
    #[test]
    fn we_present_the_draft_credentials() {
        let holder = holder();
        let expected = Expectations { now: KBT_IAT, ..expected() };
        let issued = file("issuer_cwt.cbor");
        let kbt =
            present(&issued, &["501", "region"], &holder, AUDIENCE, &CNONCE, KBT_IAT).unwrap();
        let verified = verify(&kbt, issuer_keys().as_slice(), &expected).unwrap();
        assert_eq!(Json::Object(verified.disclosed), json!({ "501": "ABCD-123456" }));
        assert_eq!(verified.claims["503"], json!({ "country": "us", "region": "ca" }));
        assert_eq!(
            verified.claims["502"],
            json!([1_674_004_740]),
            "unpresented elements are dropped"
        );

        let decoy = file("decoy.cbor");
        let kbt = present(&decoy, &["500"], &holder, AUDIENCE, &CNONCE, KBT_IAT).unwrap();
        let verified = verify(&kbt, issuer_keys().as_slice(), &expected).unwrap();
        assert_eq!(Json::Object(verified.disclosed), json!({ "500": true }));
        assert_eq!(verified.claims["98"], json!([]));
    }

    #[test]
    fn draft_decoy_disclosures_are_accepted_when_presented() {
        let kbt = bind(&holder(), &file("decoy.cbor"), AUDIENCE, &CNONCE, KBT_IAT);
        let expected = Expectations { now: KBT_IAT, ..expected() };
        let verified = verify(&kbt, issuer_keys().as_slice(), &expected).unwrap();
        assert_eq!(verified.claims["98"], json!(["fr"]));
        assert_eq!(Json::Object(verified.disclosed), json!({ "500": true }));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_claims_round_trip((claims, disclosable) in claims_and_selection()) {
        let issuer = signer("issuer");
        let holder = signer("holder");
        let params = IssueParams { claims: claims.clone(), disclosable: disclosable.clone(), ..params(&holder) };
        let sd_cwt = issue(&params, &issuer).unwrap();
        let reveal: Vec<&str> = disclosable.iter().map(String::as_str).step_by(2).collect();
        let kbt = present(&sd_cwt, &reveal, &holder, AUDIENCE, nonce(), NOW).unwrap();
        let verified = verify(&kbt, keys(&issuer).as_slice(), &expectations()).unwrap();
        for (name, value) in &claims {
            let shown = !disclosable.contains(name) || reveal.contains(&name.as_str());
            prop_assert_eq!(verified.claims.get(name), shown.then_some(value));
            prop_assert_eq!(verified.disclosed.contains_key(name), reveal.contains(&name.as_str()));
        }
    }

    #[test]
    fn cbor_json_round_trip(value in json_value()) {
        let encoded = cbor::encode(&cbor::deterministic(cbor::from_json(&value)).unwrap()).unwrap();
        prop_assert_eq!(cbor::to_json(cbor::decode(&encoded).unwrap()).unwrap(), value);
    }

    #[test]
    fn random_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let keys = [IssuerKey::es256("k", signer("k").public_key())];
        prop_assert!(verify(&bytes, keys.as_slice(), &expectations()).is_err());
        let _ = cbor::decode(&bytes);
    }

    #[test]
    fn mutated_kbt_never_panics(position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let s = setup();
        let mut kbt = present_default(&s, &s.sd_cwt, &["email"]);
        let at = position.index(kbt.len());
        kbt[at] = byte;
        let _ = verify_default(&s, &kbt);
    }
}

#[test]
fn verified_claims_are_plain_json() {
    let s = setup();
    let kbt = present_default(&s, &s.sd_cwt, &["address"]);
    let claims: Map<String, Json> = verify_default(&s, &kbt).unwrap().claims;
    assert_eq!(claims["cnf"]["1"]["1"], 2, "COSE_Key labels become decimal text");
    assert!(claims.keys().all(|k| !k.is_empty()));
}

#[test]
fn nesting_is_limited_the_same_way_at_issuance_and_verification() {
    let holder = signer("holder");
    let issuer = signer("issuer");
    let nested = |levels: usize| (0..levels).fold(json!("leaf"), |inner, _| json!([inner]));
    let mut p = params(&holder);
    p.claims.insert("deep".into(), nested(MAX_DEPTH));
    p.disclosable.push("deep".into());
    let credential = issue(&p, &issuer).unwrap();
    let presentation = present(&credential, &["deep"], &holder, AUDIENCE, nonce(), NOW).unwrap();
    let verified = verify(&presentation, keys(&issuer).as_slice(), &expectations()).unwrap();
    assert_eq!(verified.disclosed["deep"], nested(MAX_DEPTH));
    p.claims.insert("deep".into(), nested(MAX_DEPTH + 1));
    assert!(matches!(issue(&p, &issuer), Err(IssueError::Encoding(_))));
}

#[test]
fn issuer_algorithm_is_pinned_to_the_key() {
    let s = setup();
    let with_alg = |alg: iana::Algorithm| reissued_kbt(&s, move |h, _| h.alg = Some(alg.into()));
    // Credentials issued before veil switched to ESP256 carry ES256.
    assert_eq!(code(verify_default(&s, &with_alg(iana::Algorithm::ES256))), "ok");
    assert_eq!(code(verify_default(&s, &with_alg(iana::Algorithm::ESP256))), "ok");
    for other in [iana::Algorithm::ES384, iana::Algorithm::ESP384, iana::Algorithm::EdDSA] {
        assert_eq!(code(verify_default(&s, &with_alg(other))), "unsupported_alg");
    }
}

#[test]
fn key_binding_may_be_signed_with_esp256_or_es256() {
    let s = setup();
    let ok = present_default(&s, &s.sd_cwt, &["email"]);
    let with_alg =
        |alg: iana::Algorithm| resign(parse(&ok), &s.holder, |h, _| h.alg = Some(alg.into()));
    assert_eq!(code(verify_default(&s, &with_alg(iana::Algorithm::ESP256))), "ok");
    assert_eq!(code(verify_default(&s, &with_alg(iana::Algorithm::ES256))), "ok");
    assert_eq!(code(verify_default(&s, &with_alg(iana::Algorithm::ESP384))), "unsupported_alg");
}

#[test]
fn issuer_kid_may_sit_in_the_unprotected_header() {
    let s = setup();
    let moved = |kid: &[u8]| {
        let sign1 = parse(&s.sd_cwt);
        let disclosures = sd_claims_of(&sign1);
        let mut reissued = parse(&resign(sign1, &s.issuer, |h, _| h.key_id.clear()));
        reissued.unprotected.key_id = kid.to_vec();
        bind(&s.holder, &with_sd_claims(reissued, disclosures), AUDIENCE, nonce(), NOW)
    };
    assert_eq!(code(verify_default(&s, &moved(b"issuer-2025"))), "ok");
    assert_eq!(code(verify_default(&s, &moved(b"issuer-1999"))), "unknown_issuer_key");
    assert_eq!(code(verify_default(&s, &moved(b""))), "unknown_issuer_key");
    let mut both = parse(&s.sd_cwt);
    both.unprotected.key_id = b"issuer-2025".to_vec();
    let kbt = bind(&s.holder, &both.to_tagged_vec().unwrap(), AUDIENCE, nonce(), NOW);
    assert_eq!(code(verify_default(&s, &kbt)), "malformed");
}

fn header_map(entries: Vec<(Cbor, Cbor)>) -> HeaderValue {
    ciborium::from_reader(cbor::encode(&Cbor::Map(entries)).unwrap().as_slice()).unwrap()
}

#[test]
fn claims_in_the_cwt_claims_header_count_as_payload_claims() {
    let s = setup();
    let moved = reissued_kbt(&s, |h, p| {
        let at = p.iter().position(|(k, _)| *k == int(CNF)).unwrap();
        let (_, cnf) = p.remove(at);
        set_header(h, HEADER_CWT_CLAIMS, header_map(vec![(int(CNF), cnf)]));
    });
    let verified = verify_default(&s, &moved).unwrap();
    assert_eq!(&verified.holder_key, s.holder.public_key());
    let issuer = |iss: &str| {
        let entries = vec![(int(ISS), Cbor::Text(iss.into()))];
        reissued_kbt(&s, |h, _| set_header(h, HEADER_CWT_CLAIMS, header_map(entries)))
    };
    assert_eq!(code(verify_default(&s, &issuer("https://veil.example"))), "ok");
    assert_eq!(code(verify_default(&s, &issuer("https://other.example"))), "malformed");
    let not_a_map = reissued_kbt(&s, |h, _| set_header(h, HEADER_CWT_CLAIMS, HeaderValue::from(1)));
    assert_eq!(code(verify_default(&s, &not_a_map)), "malformed");
}

#[test]
fn key_binding_freshness_is_iat_or_cti() {
    let s = setup();
    fn drop_iat(p: &mut Vec<(Cbor, Cbor)>) {
        p.retain(|(k, _)| *k != int(IAT));
    }
    fn add_cti(p: &mut Vec<(Cbor, Cbor)>) {
        set_claim(p, int(CTI), Cbor::Bytes(b"kbt-1".to_vec()));
    }
    let rebind = |kbt: &[u8], edit: &Edit| resign(parse(kbt), &s.holder, |h, p| edit(h, p));
    let ok = present_default(&s, &s.sd_cwt, &["email"]);

    let only_cti = rebind(&ok, &|_, p| {
        drop_iat(p);
        add_cti(p);
    });
    assert_eq!(verify_default(&s, &only_cti).unwrap().kb_issued_at, None);
    let cases = [
        (rebind(&ok, &|_, p| add_cti(p)), "ok"),
        (rebind(&ok, &|_, p| drop_iat(p)), "malformed"),
        (
            rebind(&ok, &|_, p| {
                drop_iat(p);
                set_claim(p, int(CTI), Cbor::Text("kbt-1".into()));
            }),
            "malformed",
        ),
        (
            rebind(&ok, &|_, p| {
                drop_iat(p);
                add_cti(p);
                set_claim(p, int(EXP), int(NOW + 60));
            }),
            "malformed",
        ),
    ];
    for (kbt, expected) in cases {
        assert_eq!(code(verify_default(&s, &kbt)), expected);
    }

    // With an iat, its window applies even when a cti is there too.
    let old = present(&s.sd_cwt, &["email"], &s.holder, AUDIENCE, nonce(), NOW - 301).unwrap();
    assert_eq!(code(verify_default(&s, &rebind(&old, &|_, p| add_cti(p)))), "kb_stale");
    // A cti-only KBT with no nonce to answer, or on a credential without exp,
    // has nothing that makes it fresh.
    let unbound = present(&s.sd_cwt, &["email"], &s.holder, AUDIENCE, b"", NOW).unwrap();
    let unbound = rebind(&unbound, &|_, p| {
        drop_iat(p);
        add_cti(p);
    });
    let no_nonce = Expectations { nonce: b"", ..expectations() };
    assert_eq!(code(verify(&unbound, keys(&s.issuer).as_slice(), &no_nonce)), "kb_stale");
    let endless = reissued_kbt(&s, |_, p| p.retain(|(k, _)| *k != int(EXP)));
    assert_eq!(code(verify_default(&s, &endless)), "ok");
    let endless = rebind(&endless, &|_, p| {
        drop_iat(p);
        add_cti(p);
    });
    assert_eq!(code(verify_default(&s, &endless)), "kb_stale");
}

#[test]
fn cnf_may_name_the_holder_key_by_thumbprint() {
    let s = setup();
    let other = signer("other");
    let ckt = Cbor::Map(vec![(
        int(CNF_CKT),
        Cbor::Bytes(cose::thumbprint(s.holder.public_key()).unwrap()),
    )]);
    let kbt = reissued_kbt(&s, |_, p| set_claim(p, int(CNF), ckt.clone()));
    let keys = keys(&s.issuer);
    let presenter = |key| Expectations { presenter_key: key, ..expectations() };
    let verified = verify(&kbt, keys.as_slice(), &presenter(Some(s.holder.public_key()))).unwrap();
    assert_eq!(&verified.holder_key, s.holder.public_key());
    for key in [None, Some(other.public_key())] {
        assert_eq!(code(verify(&kbt, keys.as_slice(), &presenter(key))), "cnf_thumbprint_mismatch");
    }
    let both = reissued_kbt(&s, |_, p| {
        let Some(Cbor::Map(mut cnf)) = get(p, CNF).cloned() else { panic!("no cnf") };
        cnf.push((int(CNF_CKT), Cbor::Bytes(vec![0; 32])));
        set_claim(p, int(CNF), Cbor::Map(cnf));
    });
    let holder = presenter(Some(s.holder.public_key()));
    assert_eq!(code(verify(&both, keys.as_slice(), &holder)), "malformed");

    // The holder presents a thumbprint-bound credential like any other.
    let sign1 = parse(&s.sd_cwt);
    let disclosures = sd_claims_of(&sign1);
    let reissued = resign(sign1, &s.issuer, |_, p| set_claim(p, int(CNF), ckt.clone()));
    let credential = with_sd_claims(parse(&reissued), disclosures);
    let kbt = present(&credential, &["email"], &s.holder, AUDIENCE, nonce(), NOW).unwrap();
    assert_eq!(code(verify(&kbt, keys.as_slice(), &holder)), "ok");
    assert!(matches!(
        present(&credential, &[], &other, AUDIENCE, nonce(), NOW),
        Err(PresentError::HolderKeyMismatch)
    ));
}

/// RFC 9679 §6: the example P-256 key and its published thumbprint.
#[test]
fn thumbprint_matches_the_rfc_9679_example() {
    let unhex = |text: &str| -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut sec1 = vec![4];
    sec1.extend(unhex("65eda5a12577c2bae829437fe338701a10aaa375e1bb5b5de108de439c08551d"));
    sec1.extend(unhex("1e52ed75701163f7f9e40ddf9f341b3dc9ba860af7e0ca7ca7e9eecd0084d19c"));
    let key = P256PublicKey::from_sec1(&sec1).unwrap();
    assert_eq!(
        cose::thumbprint(&key).unwrap(),
        unhex("496bd8afadf307e5b08c64b0421bf9dc01528a344a43bda88fadd1669da253ec")
    );
}
