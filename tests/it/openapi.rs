//! The OpenAPI document: served without authentication, consistent, and
//! equal to the committed snapshot `tests/openapi.json`.
//!
//! After an intended API change, rewrite the snapshot and review its diff:
//!
//! ```sh
//! UPDATE_OPENAPI_SNAPSHOT=1 cargo test --test it openapi
//! ```

use serde_json::Value;

use crate::support::{Db, TestApp};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openapi.json");

async fn served() -> Value {
    let app = TestApp::spawn(Db::Sqlite).await;
    let response = app.http.get(app.url("/openapi.json")).send().await.expect("GET /openapi.json");
    assert_eq!(response.status(), 200, "served without authentication");
    response.json().await.expect("a JSON document")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_matches_snapshot() {
    let document = served().await;
    assert_eq!(document["openapi"], "3.1.0");
    let rendered = serde_json::to_string_pretty(&document).expect("render") + "\n";
    if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
        std::fs::write(SNAPSHOT, &rendered).expect("write the snapshot");
        return;
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == rendered,
        "the OpenAPI document changed: rerun with UPDATE_OPENAPI_SNAPSHOT=1, review and \
         commit tests/openapi.json"
    );
}

/// Every operation: error responses are problem details, and the
/// description names the scopes (or says the route is public). Router and
/// document come from one registration (`src/api/mod.rs`), so no route can
/// be missing from the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_documents_errors_and_scopes() {
    let document = served().await;
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            operations += 1;
            for (status, response) in operation["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} {status}"
                    );
                }
            }
            let secured = operation.get("security").is_some();
            let description = operation["description"].as_str().unwrap_or_default();
            if secured {
                assert!(description.contains("Scopes:"), "{method} {path} names its scopes");
            } else {
                assert!(description.contains("Public"), "{method} {path} is public");
            }
        }
    }
    assert!(operations >= 30, "too few operations: {operations}");
}

/// The pre-`/v1/admin/` paths are documented, as deprecated copies of the
/// new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_admin_paths_are_deprecated_aliases() {
    let document = served().await;
    let paths = &document["paths"];
    for (old, new, method) in [
        ("/v1/remedies", "/v1/admin/remedies", "post"),
        ("/v1/remedies", "/v1/admin/remedies", "get"),
        ("/v1/remedies/{id}/lift", "/v1/admin/remedies/{id}/lift", "post"),
        ("/v1/reputation-adjustments", "/v1/admin/reputation-adjustments", "post"),
    ] {
        let (old_op, new_op) = (&paths[old][method], &paths[new][method]);
        assert_eq!(old_op["deprecated"], true, "{method} {old}");
        assert!(new_op.get("deprecated").is_none(), "{method} {new}");
        let (old_text, new_text) =
            (old_op["description"].as_str().unwrap(), new_op["description"].as_str().unwrap());
        assert!(old_text.contains(new) && old_text.ends_with(new_text), "{method} {old}");
        assert_eq!(old_op["responses"], new_op["responses"], "{method} {old}");
    }
}

/// Operation ids name operations: a duplicate makes the document invalid
/// OpenAPI (and generated clients collide). `.ci/run` also runs
/// openapi-spec-validator on the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_ids_are_unique() {
    let document = served().await;
    let mut seen = std::collections::BTreeMap::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let id = operation["operationId"].as_str().expect("an operationId").to_string();
            let place = format!("{} {path}", method.to_uppercase());
            if let Some(first) = seen.insert(id.clone(), place.clone()) {
                panic!("operationId {id} names both {first} and {place}");
            }
        }
    }
}

/// The request body schema an operation documents, its `$ref` resolved.
fn request_schema<'a>(document: &'a Value, path: &str, method: &str) -> &'a Value {
    let schema =
        &document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
    let name = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/"));
    name.map_or(schema, |name| &document["components"]["schemas"][name])
}

fn property_names(schema: &Value) -> Vec<&str> {
    schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect()
}

/// Found by schemathesis (`.ci/schemathesis.sh`): two request bodies named
/// `RequestBody` were merged into one schema, so the break-glass request
/// was documented as the operator request (`{"name"}`) and every request
/// made from the document was refused; and the custodian index, a `u8`,
/// had no upper bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_documented_as_the_server_reads_them() {
    let document = served().await;
    let break_glass = request_schema(&document, "/v1/admin/break-glass", "post");
    let mut fields = property_names(break_glass);
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["case_id", "justification", "pseudonym", "reason_code", "reveal_key"],
        "{break_glass}"
    );
    let operator = request_schema(&document, "/v1/admin/operators", "post");
    assert_eq!(property_names(operator), ["name"], "{operator}");
    let partial = request_schema(&document, "/v1/admin/break-glass/{id}/partials", "post");
    let custodian = &partial["properties"]["custodian"];
    assert_eq!(
        (custodian["minimum"].as_u64(), custodian["maximum"].as_u64()),
        (Some(1), Some(255))
    );
}

/// Found by schemathesis: an audit proof asked for sizes out of range is
/// a 422 problem (docs/API.md), which the document did not list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_audit_proofs_answer_a_documented_status() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let (_, document) = app.get("/openapi.json", None).await;
    let auditor = app.token(&["auditor"]).await;
    for (path, query) in [
        ("/v1/admin/audit/inclusion", "?seq=5&tree_size=1"),
        ("/v1/admin/audit/consistency", "?from=2&to=1"),
    ] {
        let (status, body) = app.get(&format!("{path}{query}"), Some(&auditor)).await;
        crate::support::assert_problem(status, &body, 422, "invalid-request");
        let documented = &document["paths"][path]["get"]["responses"][status.to_string()];
        assert_eq!(
            documented["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem",
            "GET {path} answers {status}, which its document must list"
        );
    }
}

/// The paged listings document the bounds `core::page` enforces: the
/// attributes are literals, so a changed constant must fail here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_listings_document_the_enforced_bounds() {
    use veil::core::page::{DEFAULT_PAGE, MAX_CURSOR_CHARS, MAX_PAGE, MIN_CURSOR_CHARS};
    let document = served().await;
    for path in ["/v1/admin/break-glass", "/v1/admin/remedies", "/v1/remedies"] {
        let parameters = document["paths"][path]["get"]["parameters"].as_array().expect(path);
        let schema = |name: &str| {
            let parameter = parameters.iter().find(|p| p["name"] == name);
            parameter.map(|p| p["schema"].clone()).unwrap_or_else(|| panic!("{path} {name}"))
        };
        let limit = schema("limit");
        assert_eq!(limit["minimum"].as_i64(), Some(1), "{path}");
        assert_eq!(limit["maximum"].as_i64(), Some(MAX_PAGE), "{path}");
        assert_eq!(limit["default"].as_i64(), Some(DEFAULT_PAGE), "{path}");
        let after = schema("after");
        assert_eq!(after["minLength"].as_u64(), u64::try_from(MIN_CURSOR_CHARS).ok(), "{path}");
        assert_eq!(after["maxLength"].as_u64(), u64::try_from(MAX_CURSOR_CHARS).ok(), "{path}");
        let response = &document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"];
        let name = response.as_str().and_then(|r| r.strip_prefix("#/components/schemas/"));
        let body = &document["components"]["schemas"][name.expect(path)];
        assert!(body["properties"]["next"].is_object(), "{path} documents `next`: {body}");
    }
}

/// The bounds the document states are the ones the domain enforces (issue
/// 16): each literal in a `#[schema(...)]` attribute is checked against
/// the constant it copies, and every `account` is the one `AccountId`
/// schema, built from `MAX_ACCOUNT_LEN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_bounds_are_the_enforced_ones() {
    use veil::core::account::MAX_ACCOUNT_LEN;
    use veil::formats::abuse_report::{AbuseType, FRANK_BASE64_LEN};
    use veil::formats::pop::MAX_PROOF_BYTES;
    use veil::services::abuse::{MAX_ADJUSTMENT, relations, reports};
    use veil::services::config::MAX_VALIDITY_DAYS_CEILING;
    use veil::services::mint::MAX_KEYS_PER_REQUEST;

    let document = served().await;
    let schemas = &document["components"]["schemas"];
    let account = &schemas["AccountId"];
    assert_eq!(account["type"], "string", "{account}");
    assert_eq!(account["minLength"], 1);
    assert_eq!(account["maxLength"].as_u64(), u64::try_from(MAX_ACCOUNT_LEN).ok());
    for (name, schema) in schemas.as_object().expect("schemas") {
        if let Some(property) = schema["properties"].get("account") {
            assert_eq!(property["$ref"], "#/components/schemas/AccountId", "{name}.account");
        }
    }

    let int = |n: usize| i64::try_from(n).expect("small");
    let days = i64::from(MAX_VALIDITY_DAYS_CEILING);
    let bounds: &[(&str, &str, &str, i64)] = &[
        ("MintBody", "keys", "minItems", 1),
        ("MintBody", "keys", "maxItems", int(MAX_KEYS_PER_REQUEST)),
        ("MintBody", "validity_days", "minimum", 1),
        ("MintBody", "validity_days", "maximum", days),
        ("MintBody", "relations", "maxItems", int(relations::MAX_RELATIONS)),
        ("Relation", "kind", "maxLength", int(relations::MAX_KIND)),
        ("IssueBody", "validity_days", "maximum", days),
        ("IssueBody", "proof", "maxLength", int(MAX_PROOF_BYTES)),
        ("AbuseReport", "room", "maxLength", int(reports::MAX_ROOM)),
        ("AbuseReport", "reporting_user", "maxLength", int(reports::MAX_USER)),
        ("AbuseReport", "note", "maxLength", int(reports::MAX_NOTE)),
        ("AbuseReport", "messages", "maxItems", int(reports::MAX_MESSAGES)),
        // Base64: 4 characters for every 3 bytes (or part of 3).
        ("ReportedMessage", "mimi_content", "maxLength", int(4 * reports::MAX_CONTENT.div_ceil(3))),
        ("ReportedMessage", "frank", "minLength", int(FRANK_BASE64_LEN)),
        ("ReportedMessage", "frank", "maxLength", int(FRANK_BASE64_LEN)),
        ("AdjustBody", "points", "minimum", -MAX_ADJUSTMENT),
        ("AdjustBody", "points", "maximum", MAX_ADJUSTMENT),
    ];
    for &(schema, property, keyword, enforced) in bounds {
        let documented = &schemas[schema]["properties"][property][keyword];
        assert_eq!(documented.as_i64(), Some(enforced), "{schema}.{property} {keyword}");
    }

    // Reason codes: the closed enum, as the decoder and the JSON route take it.
    let codes: Vec<Value> = AbuseType::ALL.iter().map(|t| Value::from(t.code())).collect();
    let reason = &schemas["AbuseReport"]["properties"]["reason_code"];
    assert_eq!(reason["enum"], Value::Array(codes), "{reason}");
    assert_eq!(reason["type"], "integer", "{reason}");
    // The wire route's body is bytes of its own media type.
    let body = &document["paths"]["/v1/report-abuse/{room}"]["post"]["requestBody"];
    assert_eq!(body["required"], true, "{body}");
    let media = body["content"].as_object().expect("content");
    assert_eq!(media.keys().collect::<Vec<_>>(), ["application/mimi-abuse-report"], "{body}");
}
