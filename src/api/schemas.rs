//! Schemas of the OpenAPI document that are built from the domain's own
//! bounds rather than written as literals, for values several bodies
//! share. Documentation only: the bodies keep their plain types and the
//! domain validates them.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};

use crate::core::account::MAX_ACCOUNT_LEN;
use crate::formats::abuse_report::AbuseType;
use crate::services::mint::MAX_KEYS_PER_REQUEST;

/// `char::is_control` (Unicode category Cc) as an ECMA-262 class: what
/// `AccountId::parse` refuses besides the length.
const NO_CONTROL_CHARACTERS: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// A provider's account id (`core::account::AccountId`).
pub(super) struct AccountIdSchema;

impl utoipa::PartialSchema for AccountIdSchema {
    fn schema() -> RefOr<Schema> {
        let description = format!(
            "A provider's account id: 1 to {MAX_ACCOUNT_LEN} bytes of UTF-8 (so at most \
             {MAX_ACCOUNT_LEN} characters, fewer when they take several bytes), without \
             control characters. veil stores only a keyed hash of it."
        );
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_ACCOUNT_LEN))
            .pattern(Some(NO_CONTROL_CHARACTERS))
            .description(Some(description))
            .into()
    }
}

impl utoipa::ToSchema for AccountIdSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AccountId")
    }
}

/// A mint's `keys`: 1 to `MAX_KEYS_PER_REQUEST` JWKs, no key twice (two
/// equal items are the same key, refused as a duplicate).
pub(super) fn mint_keys() -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::Object))
        .min_items(Some(1))
        .max_items(Some(MAX_KEYS_PER_REQUEST))
        .unique_items(true)
        .description(Some(format!(
            "1 to {MAX_KEYS_PER_REQUEST} public keys as P-256 JWKs (`kty` `EC`, `crv` \
             `P-256`), one pseudonym each; any other key is 422 `invalid-key`, a key given \
             twice 409 `key-in-use`."
        )))
        .into()
}

/// A disclosure's `claims`: at least one.
pub(super) fn claims() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .min_properties(Some(1))
        .description(Some(
            "The identity claims to vouch for, at least one: the built-in names (`name`, \
             `given_name`, `family_name`, `email`, `phone_number`, `preferred_username`, \
             `user_uri`, `birthdate`, `locale`, `address`, `age_over_NN`) and the extra \
             text claims the issuance policy allows (docs/API.md).",
        ))
        .into()
}

/// A disclosure's `disclosable`: claim names, each at most once.
pub(super) fn disclosable() -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String))
        .unique_items(true)
        .description(Some(
            "Names among `claims` the holder may disclose one by one (SD-JWT, SD-CWT; empty \
             for x509), each once.",
        ))
        .into()
}

/// A report's `reason_code`: the draft's `AbuseType`, closed.
pub(super) fn reason_code() -> RefOr<Schema> {
    let codes: Vec<u8> = AbuseType::ALL.iter().map(|t| t.code()).collect();
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some(codes))
        .description(Some(
            "The draft's `AbuseType` (draft-ietf-mimi-protocol-02 §5.9). The draft lists only \
             `reserved(0)`, its reason codes being still to be chosen; any other code is 422 \
             until the draft lists it.",
        ))
        .into()
}

/// The body of `POST /v1/report-abuse/{room}`: bytes, not JSON.
pub(super) struct WireAbuseReport;

impl utoipa::PartialSchema for WireAbuseReport {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some(
                "A TLS-encoded `AbuseReport` (draft-ietf-mimi-protocol-02 §5.9): \
                 `reportingUser` and `allegedAbuserUri` (`opaque uri<V>`, at most 512 bytes, \
                 an empty `reportingUser` naming no one), `reasonCode` (one byte: 0), `note` \
                 (`opaque<V>` UTF-8, at most 4096 bytes), `messages` (`<V>`, at most 10, each \
                 `opaque mimi_content<V>` of at most 4096 bytes, a 96-byte `Frank` and a \
                 `uint64 acceptedTimestamp`). Lengths are RFC 9420 §2.1.2 varints.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for WireAbuseReport {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("WireAbuseReport")
    }
}
