//! SD-JWT VC Type Metadata (draft-ietf-oauth-sd-jwt-vc, "Type Metadata") of
//! veil's linked identity credential: what a wallet or a member's client
//! shows for each claim, and a JSON Schema of the credential's claims. Served
//! at the credential's `vct`, an HTTPS URL under the issuer.

use serde_json::{Map, Value, json};

use super::claims::{self, ADDRESS_FIELDS, TEXT_CLAIMS};

/// Display labels (en-US) of the built-in claims.
fn label(claim: &str) -> &'static str {
    match claim {
        "name" => "Full name",
        "given_name" => "Given name",
        "family_name" => "Family name",
        "email" => "Email address",
        "phone_number" => "Phone number",
        "preferred_username" => "Preferred username",
        "user_uri" => "MIMI user URI",
        "birthdate" => "Date of birth",
        "locale" => "Locale",
        _ => "Claim",
    }
}

/// Common `age_over_NN` claims described one by one (Type Metadata paths
/// cannot name a pattern); the schema admits every `age_over_NN`.
const AGE_OVER_SHOWN: [u8; 3] = [16, 18, 21];

/// The Type Metadata document for `vct`.
pub fn linked_identity(vct: &str) -> Value {
    let en = |label: &str| json!([{"locale": "en-US", "label": label}]);
    let mut claims_meta: Vec<Value> = vec![
        json!({"path": ["sub"], "display": en("Pseudonym"), "sd": "never"}),
        json!({"path": ["iss"], "display": en("Issuer"), "sd": "never"}),
    ];
    for claim in TEXT_CLAIMS {
        claims_meta.push(json!({"path": [claim], "display": en(label(claim)), "sd": "allowed"}));
    }
    claims_meta.push(json!({"path": ["address"], "display": en("Address"), "sd": "allowed"}));
    for age in AGE_OVER_SHOWN {
        let label = format!("Over {age}");
        claims_meta.push(
            json!({"path": [format!("age_over_{age}")], "display": en(&label), "sd": "allowed"}),
        );
    }
    json!({
        "vct": vct,
        "name": "Linked identity",
        "description": "A real identity disclosed by a MIMI pseudonym's holder, bound to the pseudonym's key (draft-mahy-mimi-pseudonyms §4).",
        "display": [{
            "locale": "en-US",
            "name": "Linked identity",
            "description": "Who is behind a pseudonym, as its provider vouches",
        }],
        "claims": claims_meta,
        "schema": schema(vct),
    })
}

/// A JSON Schema (2020-12) of the credential's claims once disclosed.
fn schema(vct: &str) -> Value {
    let mut properties = Map::new();
    for claim in TEXT_CLAIMS {
        let mut property = json!({"type": "string", "minLength": 1});
        if let (Some(max), Some(object)) = (claims::max_bytes(claim), property.as_object_mut()) {
            // JSON Schema counts characters; bytes bound them from above.
            object.insert("maxLength".into(), json!(max));
        }
        properties.insert((*claim).into(), property);
    }
    let address: Map<String, Value> = ADDRESS_FIELDS
        .iter()
        .map(|field| ((*field).to_string(), json!({"type": "string"})))
        .collect();
    properties.insert(
        "address".into(),
        json!({"type": "object", "properties": address, "additionalProperties": false}),
    );
    properties.insert("vct".into(), json!({"const": vct}));
    properties.insert("iss".into(), json!({"type": "string", "format": "uri"}));
    properties.insert("sub".into(), json!({"type": "string", "pattern": "^mimi://"}));
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["iss", "sub", "vct", "cnf"],
        "properties": properties,
        "patternProperties": {"^age_over_[0-9]{2}$": {"type": "boolean"}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIXES: claims::UriPrefixes<'static> =
        claims::UriPrefixes { user: "mimi://example.com/u/", pseudonym: "mimi://example.com/p/" };

    #[test]
    fn every_built_in_claim_is_described_and_bounded_as_validated() {
        let doc = linked_identity("https://example.com/vct/linked-identity/v1");
        assert_eq!(doc["vct"], "https://example.com/vct/linked-identity/v1");
        let paths: Vec<&str> = doc["claims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["path"][0].as_str().unwrap())
            .collect();
        for claim in TEXT_CLAIMS {
            assert!(paths.contains(claim), "{claim}");
            let max = doc["schema"]["properties"][claim]["maxLength"].as_u64().unwrap();
            assert_eq!(Some(max as usize), claims::max_bytes(claim), "{claim}");
            // The bound in the document is the one validation applies.
            let mut over = Map::new();
            over.insert((*claim).into(), json!("a".repeat(max as usize + 1)));
            assert!(claims::validate(&over, PREFIXES, &[]).is_err(), "{claim}");
        }
        for never in ["sub", "iss"] {
            let entry = doc["claims"].as_array().unwrap().iter().find(|c| c["path"][0] == never);
            assert_eq!(entry.unwrap()["sd"], "never");
        }
    }
}
