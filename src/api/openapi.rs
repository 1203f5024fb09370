//! The OpenAPI 3.1 document, collected from the very registrations that
//! build the router (`super::routes`), so the two cannot drift, and served
//! at `GET /openapi.json` (no authentication). Every error response is
//! `application/problem+json` with the `Problem` schema.

use std::sync::LazyLock;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// Built once, on the first request for it.
static DOCUMENT: LazyLock<Document> = LazyLock::new(document);

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "openapi",
    description = "This OpenAPI document. Public: no authentication.",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)),
)]
async fn openapi_json() -> axum::Json<&'static Document> {
    axum::Json(&DOCUMENT)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "veil",
        version = env!("CARGO_PKG_VERSION"),
        description = "Pseudonym and identity issuer for MIMI messaging providers. \
            Authenticated routes take `Authorization: Bearer <token>`; each operation \
            names the client scopes it accepts. Errors are RFC 9457 problem details.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(super::problem::Body)),
    modifiers(&Finish),
)]
struct Root;

/// The complete document: the paths the router serves, with the service's
/// info, the bearer scheme and the problem responses.
pub fn document() -> Document {
    let (_, paths) = super::routes().split_for_parts();
    let mut doc = Root::openapi();
    doc.merge(paths);
    problem_responses(&mut doc);
    doc
}

/// Adds the bearer security scheme.
struct Finish;

impl Modify for Finish {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The operations of one path, for rewriting the generated document.
pub(super) fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The headers veil sends that a client may rely on: the request id on
/// every answer, the challenge on a 401, the wait on a 429.
fn declare_headers(status: &str, response: &mut utoipa::openapi::Response) {
    use utoipa::openapi::Object;
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::schema::Type;
    let mut add = |name: &str, kind: Type, description: &str| {
        let header = HeaderBuilder::new()
            .schema(Some(Object::with_type(kind)))
            .description(Some(description))
            .build();
        response.headers.entry(name.to_string()).or_insert(RefOr::T(header));
    };
    add("x-request-id", Type::String, "The request's id, as in veild's log (echoed if sent)");
    match status {
        "401" => add(
            "WWW-Authenticate",
            Type::String,
            "`Bearer`, or `veil-pop` when a proof of possession is what is missing",
        ),
        "429" => add("Retry-After", Type::Integer, "Seconds until the limit lets the request in"),
        _ => {}
    }
}

/// Every operation may answer a problem: authenticated ones 401 and 403,
/// those with a JSON body 400, 413, 415 and 422, those with query or path
/// parameters 400, all 500. Error responses
/// declared without content get the problem+json body.
fn problem_responses(doc: &mut Document) {
    for item in doc.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_body = operation.request_body.is_some();
            let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let mut extra: Vec<(&str, &str)> = Vec::new();
            if secured {
                extra.push(("401", "Missing, unknown or revoked bearer token"));
                extra.push(("403", "The client's scopes do not allow this route"));
            }
            match (has_body, has_params) {
                (true, true) => extra.push(("400", "Malformed JSON or an invalid parameter")),
                (true, false) => extra.push(("400", "Malformed JSON")),
                (false, true) => extra.push(("400", "An invalid query or path parameter")),
                (false, false) => {}
            }
            if has_body {
                extra.push(("413", "Request body too large"));
                extra.push(("415", "The body is not application/json"));
                extra.push(("422", "Invalid request"));
            }
            extra.push(("500", "Internal error (details are logged, never returned)"));
            let responses = &mut operation.responses.responses;
            for (status, description) in extra {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(utoipa::openapi::Response::new(description)));
            }
            for (status, response) in responses.iter_mut() {
                let RefOr::T(response) = response else { continue };
                let error = status.starts_with('4') || status.starts_with('5');
                if error && response.content.is_empty() {
                    response.content.insert(
                        "application/problem+json".to_string(),
                        RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
                    );
                }
                declare_headers(status, response);
            }
        }
    }
}
