//! Public issuer metadata: what a hub needs to trust our pseudonyms.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use coset::{CborSerializable, CoseKeyBuilder, CoseKeySet, iana};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::problem::Problem;
use crate::formats::keys::public_key::{Jwk, P256PublicKey};
use crate::formats::type_metadata;
use crate::services::keyring::{KeyKind, RetiredPublic};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issuer))
        .routes(routes!(jwks))
        .routes(routes!(jwt_vc_issuer))
        .routes(routes!(cose_keys))
        .routes(routes!(linked_identity_type))
}

/// Keys can rotate: caches keep them an hour (a retired key stays published
/// far longer than that).
const KEYS_CACHE: HeaderValue = HeaderValue::from_static("public, max-age=3600");
/// The type metadata of a `vct` never changes under the same URL.
const TYPE_CACHE: HeaderValue = HeaderValue::from_static("public, max-age=86400");

#[derive(Serialize, utoipa::ToSchema)]
struct IssuerMetadata {
    domain: String,
    pseudonym_uri_prefix: String,
    /// The `vct` of the linked identity credentials (SD-JWT and SD-CWT); its
    /// Type Metadata is served at that URL.
    vct: String,
    ca_certificates: Vec<String>,
    key_ids: KeyIds,
}

#[derive(Serialize, utoipa::ToSchema)]
struct KeyIds {
    ca: String,
    sd_jwt: String,
    sd_cwt: String,
}

#[utoipa::path(
    get,
    path = "/.well-known/veil-issuer",
    tag = "well-known",
    description = "What a hub needs to trust our pseudonyms. Public: no authentication.",
    responses((status = 200, description = "Issuer metadata", body = IssuerMetadata, headers(("Cache-Control" = String, description = "public, max-age=3600")))),
)]
async fn issuer(State(state): State<AppState>) -> impl IntoResponse {
    let keys = &state.keys;
    let mut ca_certificates = vec![keys.ca.cert_pem().to_string()];
    ca_certificates.extend(keys.retired(KeyKind::Ca, state.clock.now()).filter_map(|key| {
        match &key.public {
            RetiredPublic::Ca { cert_pem, .. } => Some(cert_pem.clone()),
            RetiredPublic::Es256(_) => None,
        }
    }));
    let metadata = Json(IssuerMetadata {
        domain: state.config.domain.clone(),
        pseudonym_uri_prefix: state.minter.uri_prefix().to_string(),
        vct: state.disclosures.names().vct.clone(),
        ca_certificates,
        key_ids: KeyIds {
            ca: keys.ca.key_id().to_string(),
            sd_jwt: keys.sd_jwt.kid().to_string(),
            sd_cwt: keys.sd_cwt.kid().to_string(),
        },
    });
    ([(CACHE_CONTROL, KEYS_CACHE)], metadata)
}

#[derive(Serialize, utoipa::ToSchema)]
struct JwkSet {
    #[schema(value_type = Vec<Object>)]
    keys: Vec<Jwk>,
}

/// The SD-JWT issuer keys, each with the `kid` our SD-JWT headers carry.
fn sd_jwt_keys(state: &AppState) -> JwkSet {
    let keys = published(state, KeyKind::SdJwt);
    JwkSet { keys: keys.into_iter().map(|(kid, public)| signing_jwk(kid, public)).collect() }
}

/// The signing key of `kind`, then its retired keys until they drop out
/// (when the last credential they signed has expired).
fn published(state: &AppState, kind: KeyKind) -> Vec<(&str, &P256PublicKey)> {
    let keys = &state.keys;
    let current = match kind {
        KeyKind::SdCwt => &keys.sd_cwt,
        _ => &keys.sd_jwt,
    };
    let mut published = vec![(current.kid(), current.public_key())];
    published.extend(keys.retired(kind, state.clock.now()).filter_map(|key| match &key.public {
        RetiredPublic::Es256(public) => Some((key.kid.as_str(), public)),
        RetiredPublic::Ca { .. } => None,
    }));
    published
}

fn signing_jwk(kid: &str, public: &P256PublicKey) -> Jwk {
    Jwk {
        kid: Some(kid.to_string()),
        alg: Some("ES256".into()),
        use_: Some("sig".into()),
        ..public.to_jwk()
    }
}

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "well-known",
    description = "The SD-JWT issuer keys as a JWK set. Public: no authentication.",
    responses((status = 200, description = "The SD-JWT issuer keys", body = JwkSet, headers(("Cache-Control" = String, description = "public, max-age=3600")))),
)]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    ([(CACHE_CONTROL, KEYS_CACHE)], Json(sd_jwt_keys(&state)))
}

#[derive(Serialize, utoipa::ToSchema)]
struct JwtVcIssuer {
    issuer: String,
    jwks: JwkSet,
}

#[utoipa::path(
    get,
    path = "/.well-known/jwt-vc-issuer",
    tag = "well-known",
    description = "SD-JWT VC issuer metadata. Public: no authentication.",
    responses((status = 200, description = "SD-JWT VC issuer metadata", body = JwtVcIssuer, headers(("Cache-Control" = String, description = "public, max-age=3600")))),
)]
/// SD-JWT VC issuer metadata. Our `iss` is `https://<domain>` (no path), so
/// a verifier fetches `https://<domain>/.well-known/jwt-vc-issuer`; the
/// provider routes that path to veil.
async fn jwt_vc_issuer(State(state): State<AppState>) -> impl IntoResponse {
    let metadata =
        JwtVcIssuer { issuer: state.disclosures.names().issuer.clone(), jwks: sd_jwt_keys(&state) };
    ([(CACHE_CONTROL, KEYS_CACHE)], Json(metadata))
}

#[utoipa::path(
    get,
    path = "/.well-known/cose-keys",
    tag = "well-known",
    description = "The SD-CWT issuer keys as a CBOR COSE_KeySet. Public: no authentication.",
    responses((status = 200, description = "A CBOR COSE_KeySet", body = String, content_type = "application/cose-key-set", headers(("Cache-Control" = String, description = "public, max-age=3600")))),
)]
/// The SD-CWT issuer keys as a CBOR COSE_KeySet; each `kid` is the bytes
/// of the key id our SD-CWT headers carry.
async fn cose_keys(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    let keys = published(&state, KeyKind::SdCwt)
        .into_iter()
        .map(|(kid, public)| {
            CoseKeyBuilder::new_ec2_pub_key(
                iana::EllipticCurve::P_256,
                public.x().to_vec(),
                public.y().to_vec(),
            )
            .key_id(kid.as_bytes().to_vec())
            .algorithm(iana::Algorithm::ES256)
            .build()
        })
        .collect();
    let bytes = CoseKeySet(keys).to_vec().map_err(Problem::internal)?;
    let content_type = HeaderValue::from_static("application/cose-key-set");
    Ok(([(CONTENT_TYPE, content_type), (CACHE_CONTROL, KEYS_CACHE)], bytes))
}

#[utoipa::path(
    get,
    path = "/vct/linked-identity/v1",
    tag = "well-known",
    description = "SD-JWT VC Type Metadata of the linked identity credential: the `vct` of every SD-JWT and SD-CWT is this URL under the issuer's origin (the provider routes it to veil, as it does `/.well-known/jwt-vc-issuer`). Claim display names and a JSON Schema of the claims. Public: no authentication.",
    responses((status = 200, description = "Type Metadata (JSON)", body = Object, headers(("Cache-Control" = String, description = "public, max-age=86400")))),
)]
async fn linked_identity_type(State(state): State<AppState>) -> impl IntoResponse {
    let document = type_metadata::linked_identity(&state.disclosures.names().vct);
    ([(CACHE_CONTROL, TYPE_CACHE)], Json(document))
}
