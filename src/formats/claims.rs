//! The identity claims veil will vouch for in a disclosure, and their
//! validation. Values are bounded by size, never by character class: names
//! with emoji, CJK or right-to-left scripts are valid as they are.

use serde_json::{Map, Value};

use crate::core::pseudonym_id::PseudonymId;

/// Claims with a string value (OpenID Connect names; `user_uri` is the real
/// MIMI user URI).
pub const TEXT_CLAIMS: &[&str] = &[
    "name",
    "given_name",
    "family_name",
    "email",
    "phone_number",
    "preferred_username",
    "user_uri",
    "birthdate",
    "locale",
];
/// Members an `address` object may hold (OpenID Connect §5.1.1).
pub const ADDRESS_FIELDS: &[&str] =
    &["formatted", "street_address", "locality", "region", "postal_code", "country"];
const AGE_OVER: &str = "age_over_";
/// Policy pattern matching every `age_over_NN` claim.
pub const AGE_OVER_ANY: &str = "age_over_*";

/// Longest text claim, in UTF-8 bytes.
pub const MAX_TEXT_BYTES: usize = 256;
/// Longest email address (RFC 5321 path limit).
const MAX_EMAIL_BYTES: usize = 254;
const MAX_PHONE_BYTES: usize = 32;
const MAX_LOCALE_BYTES: usize = 35;
const MAX_URI_BYTES: usize = 512;

/// Why one claim was refused; the text names the claim, never its value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("claim `{name}`: {reason}")]
pub struct ClaimError {
    pub name: String,
    pub reason: &'static str,
}

/// True for a claim name veil issues (and room policies may name).
pub fn is_supported(name: &str) -> bool {
    TEXT_CLAIMS.contains(&name) || name == "address" || age_over(name).is_some()
}

/// True when `pattern` (a policy entry) covers claim `name`.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    pattern == name || (pattern == AGE_OVER_ANY && age_over(name).is_some())
}

/// `age_over_NN` with NN two decimal digits (ISO 18013-5 style).
fn age_over(name: &str) -> Option<u8> {
    let digits = name.strip_prefix(AGE_OVER)?;
    if digits.len() != 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Claim names that belong to the token formats themselves, never to a
/// provider's extra claims.
const RESERVED: &[&str] = &[
    "iss", "sub", "aud", "iat", "exp", "nbf", "cti", "cnf", "vct", "status", "cnonce", "_sd",
    "_sd_alg", "...",
];

/// Whether `name` may be allowed as an extra claim by the issuance policy.
pub fn check_extra_name(name: &str) -> Result<(), &'static str> {
    let well_formed = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        Err("must be 1 to 64 characters of a-z, 0-9 and _")
    } else if RESERVED.contains(&name) || is_supported(name) {
        Err("is reserved or already a built-in claim")
    } else {
        Ok(())
    }
}

/// The provider's URI prefixes a `user_uri` claim is judged by.
#[derive(Debug, Clone, Copy)]
pub struct UriPrefixes<'a> {
    /// `mimi://<our domain>/u/`: every user URI we vouch for starts with it.
    pub user: &'a str,
    /// The pseudonyms' prefix, `mimi://<our domain>/p/`, or the user prefix
    /// itself where local policy puts pseudonyms under `/u/`: a URI this
    /// prefix and a pseudonym id make is a pseudonym's, never a user's.
    pub pseudonym: &'a str,
}

/// Checks every claim; `extra` are the text claims the issuance policy
/// allows beyond the built-in ones.
pub fn validate(
    claims: &Map<String, Value>,
    prefixes: UriPrefixes<'_>,
    extra: &[String],
) -> Result<(), ClaimError> {
    for (name, value) in claims {
        let checked = if extra.iter().any(|e| e == name) {
            match value {
                Value::String(text) if !text.is_empty() => bounded(text, MAX_TEXT_BYTES),
                _ => Err("must be a non-empty string"),
            }
        } else {
            validate_one(name, value, prefixes)
        };
        checked.map_err(|reason| ClaimError { name: truncated(name), reason })?;
    }
    Ok(())
}

fn validate_one(name: &str, value: &Value, prefixes: UriPrefixes<'_>) -> Result<(), &'static str> {
    if age_over(name).is_some() {
        return match value {
            Value::Bool(_) => Ok(()),
            _ => Err("must be true or false"),
        };
    }
    if name == "address" {
        return address(value);
    }
    if !TEXT_CLAIMS.contains(&name) {
        return Err("is not a supported claim");
    }
    let Value::String(text) = value else {
        return Err("must be a string");
    };
    if text.is_empty() {
        return Err("must not be empty");
    }
    match name {
        "email" => email(text),
        "user_uri" => user_uri(text, prefixes),
        "birthdate" => birthdate(text),
        "phone_number" => bounded(text, MAX_PHONE_BYTES),
        "locale" => locale(text),
        _ => bounded(text, MAX_TEXT_BYTES),
    }
}

/// The size limit of a text claim in UTF-8 bytes (what [`validate`]
/// enforces), for documents that describe the claims.
pub fn max_bytes(name: &str) -> Option<usize> {
    match name {
        "email" => Some(MAX_EMAIL_BYTES),
        "user_uri" => Some(MAX_URI_BYTES),
        "phone_number" => Some(MAX_PHONE_BYTES),
        "locale" => Some(MAX_LOCALE_BYTES),
        "birthdate" => Some(10),
        name if TEXT_CLAIMS.contains(&name) => Some(MAX_TEXT_BYTES),
        _ => None,
    }
}

fn bounded(text: &str, max: usize) -> Result<(), &'static str> {
    if text.len() > max { Err("is longer than its size limit") } else { Ok(()) }
}

fn address(value: &Value) -> Result<(), &'static str> {
    let Value::Object(fields) = value else {
        return Err("must be an object");
    };
    if fields.is_empty() {
        return Err("must hold at least one field");
    }
    for (field, value) in fields {
        if !ADDRESS_FIELDS.contains(&field.as_str()) {
            return Err("holds an unsupported field");
        }
        match value {
            Value::String(text) if !text.is_empty() => bounded(text, MAX_TEXT_BYTES)?,
            _ => return Err("fields must be non-empty strings"),
        }
    }
    Ok(())
}

/// `local@domain`: one `@`, both sides non-empty, no whitespace. Unicode is
/// allowed (RFC 6531); the X.509 format additionally needs ASCII.
fn email(text: &str) -> Result<(), &'static str> {
    bounded(text, MAX_EMAIL_BYTES)?;
    let Some((local, domain)) = text.split_once('@') else {
        return Err("must look like local@domain");
    };
    let well_shaped = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if well_shaped { Ok(()) } else { Err("must look like local@domain") }
}

/// Our own user URIs only: a disclosure vouches for an account of this
/// provider. ASCII because it becomes an X.509 SAN URI (IA5String);
/// other characters are percent-encoded. Never a pseudonym's URI: where
/// pseudonyms live under `/u/` too (`pseudonym_path = u`), a user part of
/// a pseudonym id's shape (22 base64url characters) is refused, so what
/// veil vouches for as a real identity can never be taken for a pseudonym,
/// nor a pseudonym for a real identity.
fn user_uri(text: &str, prefixes: UriPrefixes<'_>) -> Result<(), &'static str> {
    bounded(text, MAX_URI_BYTES)?;
    match text.strip_prefix(prefixes.user) {
        Some(user) if !user.is_empty() && user.bytes().all(|b| b.is_ascii_graphic()) => {}
        _ => return Err("must be a user URI of this provider (mimi://<domain>/u/<user>, ASCII)"),
    }
    match PseudonymId::from_uri(text, prefixes.pseudonym) {
        Some(_) => Err("has the form of a pseudonym URI (22 base64url characters after the \
                        pseudonyms' prefix), which no user URI may take"),
        None => Ok(()),
    }
}

/// `YYYY-MM-DD` (a real date; year 0000 means "not disclosed", as in
/// OpenID Connect) or `YYYY`.
fn birthdate(text: &str) -> Result<(), &'static str> {
    const MESSAGE: &str = "must be YYYY-MM-DD or YYYY";
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.split('-').collect::<Vec<_>>().as_slice() {
        [year] if year.len() == 4 && all_digits(year) => Ok(()),
        [year, month, day]
            if year.len() == 4
                && month.len() == 2
                && day.len() == 2
                && [year, month, day].iter().all(|p| all_digits(p)) =>
        {
            let number = |s: &str| s.parse::<u16>().map_err(|_| MESSAGE);
            let month = time::Month::try_from(u8::try_from(number(month)?).map_err(|_| MESSAGE)?)
                .map_err(|_| MESSAGE)?;
            // Year 0000 is a leap year, so 02-29 stays valid when the year is withheld.
            let year = i32::from(number(year)?);
            time::Date::from_calendar_date(year, month, u8::try_from(number(day)?).unwrap_or(0))
                .map(|_| ())
                .map_err(|_| MESSAGE)
        }
        _ => Err(MESSAGE),
    }
}

/// BCP 47 shape: ASCII letters, digits and `-` (or `_`, as OIDC examples use).
fn locale(text: &str) -> Result<(), &'static str> {
    bounded(text, MAX_LOCALE_BYTES)?;
    if text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err("must be a BCP 47 language tag")
    }
}

/// Claim names come from the request: keep error messages short.
fn truncated(name: &str) -> String {
    name.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PREFIX: &str = "mimi://example.com/u/";
    /// A deployment with the default pseudonym path.
    const P: UriPrefixes<'static> =
        UriPrefixes { user: PREFIX, pseudonym: "mimi://example.com/p/" };

    fn check(claims: Value) -> Result<(), ClaimError> {
        match claims {
            Value::Object(map) => validate(&map, P, &[]),
            _ => unreachable!(),
        }
    }

    #[test]
    fn extra_claims_pass_only_when_the_policy_lists_them() {
        let claims = json!({"department": "Forschung 🔬", "name": "Zoë"});
        let Value::Object(map) = claims else { unreachable!() };
        assert_eq!(validate(&map, P, &[]).unwrap_err().name, "department");
        validate(&map, P, &["department".to_string()]).unwrap();
        let Value::Object(wrong) = json!({"department": 7}) else { unreachable!() };
        assert!(validate(&wrong, P, &["department".to_string()]).is_err());
        assert!(check_extra_name("department").is_ok());
        for bad in ["", "Dept", "cnf", "email", "age_over_18", "a-b"] {
            assert!(check_extra_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn supported_claims_pass_with_arbitrary_unicode() {
        check(json!({
            "name": "Zoë 🦊 李小龍 مرحبا",
            "given_name": "Zoë",
            "family_name": "שלום",
            "email": "zoë@example.com",
            "phone_number": "+41 44 000 00 00",
            "preferred_username": "crazykoala75",
            "user_uri": "mimi://example.com/u/zoe",
            "birthdate": "0000-02-29",
            "age_over_18": true,
            "age_over_65": false,
            "locale": "de-CH",
            "address": {"locality": "Zürich", "country": "CH"},
        }))
        .unwrap();
        check(json!({"birthdate": "1990"})).unwrap();
    }

    #[test]
    fn each_rule_names_the_claim() {
        let cases = [
            (json!({"nickname": "x"}), "nickname"),
            (json!({"name": ""}), "name"),
            (json!({"name": "x".repeat(MAX_TEXT_BYTES + 1)}), "name"),
            (json!({"name": 7}), "name"),
            (json!({"age_over_18": "yes"}), "age_over_18"),
            (json!({"age_over_1": true}), "age_over_1"),
            (json!({"email": "no-at-sign"}), "email"),
            (json!({"email": "a b@example.com"}), "email"),
            (json!({"user_uri": "mimi://other.example/u/zoe"}), "user_uri"),
            (json!({"user_uri": "mimi://example.com/p/zoe"}), "user_uri"),
            (json!({"birthdate": "1990-02-30"}), "birthdate"),
            (json!({"birthdate": "90-01-01"}), "birthdate"),
            (json!({"locale": "de CH"}), "locale"),
            (json!({"address": "Main Street"}), "address"),
            (json!({"address": {"planet": "Mars"}}), "address"),
            (json!({"address": {}}), "address"),
        ];
        for (claims, name) in cases {
            let error = check(claims.clone()).expect_err(&claims.to_string());
            assert_eq!(error.name, name, "{claims}");
        }
    }

    /// Whichever path the pseudonyms take, no URI is both a user URI veil
    /// vouches for and a pseudonym URI: every pseudonym URI is refused as a
    /// `user_uri`, and every accepted one names no pseudonym id. Under
    /// `/u/` the two share a prefix, and only the shape of the last segment
    /// tells them apart.
    mod pseudonyms_and_users {
        use super::*;
        use base64ct::{Base64UrlUnpadded, Encoding};
        use proptest::prelude::*;

        const PATHS: [UriPrefixes<'static>; 2] =
            [P, UriPrefixes { user: PREFIX, pseudonym: PREFIX }];

        proptest! {
            #[test]
            fn a_pseudonym_uri_is_never_a_user_uri(bytes in any::<[u8; 16]>()) {
                let id = Base64UrlUnpadded::encode_string(&bytes);
                for prefixes in PATHS {
                    let uri = format!("{}{id}", prefixes.pseudonym);
                    prop_assert!(PseudonymId::from_uri(&uri, prefixes.pseudonym).is_some());
                    prop_assert!(user_uri(&uri, prefixes).is_err(), "{uri}");
                }
            }

            #[test]
            fn a_user_uri_is_never_a_pseudonym_uri(
                user in prop_oneof!["[!-~]{1,40}", "[A-Za-z0-9_-]{21,23}"],
            ) {
                let uri = format!("{PREFIX}{user}");
                for prefixes in PATHS {
                    if user_uri(&uri, prefixes).is_ok() {
                        prop_assert!(PseudonymId::from_uri(&uri, prefixes.pseudonym).is_none());
                    }
                }
            }
        }

        #[test]
        fn under_u_only_a_pseudonym_ids_shape_is_reserved() {
            let u = PATHS[1];
            for user in [
                "zoe",
                "AAAAAAAAAAAAAAAAAAAAA",
                "AAAAAAAAAAAAAAAAAAAAAAA",
                "AAAAAAAAAAAAAAAAAAAA.A",
            ] {
                user_uri(&format!("{PREFIX}{user}"), u).unwrap();
            }
            let error = user_uri(&format!("{PREFIX}{}", "A".repeat(22)), u).unwrap_err();
            assert!(error.contains("pseudonym"), "{error}");
            user_uri(&format!("{PREFIX}{}", "A".repeat(22)), P).unwrap();
        }
    }

    #[test]
    fn policy_patterns() {
        assert!(pattern_matches(AGE_OVER_ANY, "age_over_21"));
        assert!(!pattern_matches(AGE_OVER_ANY, "age_over_"));
        assert!(pattern_matches("email", "email"));
        assert!(is_supported("age_over_18") && !is_supported("age_over_x8"));
    }
}
