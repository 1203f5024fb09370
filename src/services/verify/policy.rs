//! Room disclosure policies: which claims a room requires, allows or
//! forbids, whether pseudonymous members may join, which formats it
//! accepts and how old a key binding may be. Files in `policies/rooms/`
//! (name = file stem) are loaded at startup; a hub may also send one inline.
//!
//! A claim the policy does not list is forbidden: a room opts in to every
//! fact it wants to see, so a new claim type never leaks by default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::formats::claims::{self, AGE_OVER_ANY};
use crate::services::disclose::CredentialFormat;

/// Longest key-binding window any policy may ask for. Replay records live
/// this long, so no policy can accept a key binding whose record is gone.
pub const MAX_KB_AGE_SECS: i64 = 3600;
const DEFAULT_KB_AGE_SECS: i64 = 300;
const MAX_DESCRIPTION_BYTES: usize = 1024;
const MAX_CLAIM_ENTRIES: usize = 64;
const MAX_TYPES: usize = 16;
const MAX_TYPE_BYTES: usize = 512;

/// Whether members may be pseudonymous (draft-mahy-mimi-pseudonyms §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Pseudonyms {
    Required,
    #[default]
    Optional,
    Forbidden,
}

/// A policy as written (TOML file or inline JSON); see [`RoomPolicy`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySpec {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    pseudonyms: Pseudonyms,
    #[serde(default = "all_formats")]
    formats: Vec<CredentialFormat>,
    #[serde(default = "default_kb_age")]
    max_kb_age_secs: i64,
    /// Credential types (`vct`) accepted; none listed means the issuer's
    /// own linked identity type.
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    claims: ClaimRules,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimRules {
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    optional: Vec<String>,
    #[serde(default)]
    forbidden: Vec<String>,
}

fn all_formats() -> Vec<CredentialFormat> {
    vec![CredentialFormat::X509, CredentialFormat::SdJwt, CredentialFormat::SdCwt]
}

fn default_kb_age() -> i64 {
    DEFAULT_KB_AGE_SECS
}

/// A validated room policy. Claim entries are claim names or `age_over_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPolicy {
    pub name: String,
    pub pseudonyms: Pseudonyms,
    pub formats: Vec<CredentialFormat>,
    pub max_kb_age_secs: i64,
    /// Accepted `vct` values of SD credentials; empty: the issuer's own.
    pub types: Vec<String>,
    pub required: Vec<String>,
    pub optional: Vec<String>,
    pub forbidden: Vec<String>,
}

/// A policy refused, naming where and which field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("room policy {file}: cannot read it: {message}")]
    Read { file: String, message: String },
    #[error("room policy {file}: {message}")]
    Parse { file: String, message: String },
    #[error("room policy {file}: field `{field}`: {message}")]
    Invalid { file: String, field: String, message: String },
}

/// How a room's policy judged a presentation's disclosed claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PolicyOutcome {
    pub satisfied: bool,
    pub missing_required: Vec<String>,
    pub forbidden_disclosed: Vec<String>,
}

impl RoomPolicy {
    /// Parses and validates one TOML policy file.
    pub fn from_toml(name: &str, text: &str, source: &str) -> Result<Self, PolicyError> {
        let spec: PolicySpec = toml::from_str(text)
            .map_err(|e| PolicyError::Parse { file: source.into(), message: e.to_string() })?;
        Self::from_spec(name, spec, source)
    }

    /// Parses and validates an inline policy from a verification request.
    pub fn from_json(value: Value) -> Result<Self, PolicyError> {
        const SOURCE: &str = "(inline)";
        let spec: PolicySpec = serde_json::from_value(value)
            .map_err(|e| PolicyError::Parse { file: SOURCE.into(), message: e.to_string() })?;
        Self::from_spec("inline", spec, SOURCE)
    }

    fn from_spec(name: &str, spec: PolicySpec, source: &str) -> Result<Self, PolicyError> {
        let invalid = |field: &str, message: &str| PolicyError::Invalid {
            file: source.into(),
            field: field.into(),
            message: message.into(),
        };
        if spec.description.as_ref().is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES) {
            return Err(invalid("description", "is longer than 1024 bytes"));
        }
        if spec.formats.is_empty() {
            return Err(invalid("formats", "must list at least one of x509, sd-jwt, sd-cwt"));
        }
        for (index, format) in spec.formats.iter().enumerate() {
            if spec.formats.iter().take(index).any(|earlier| earlier == format) {
                return Err(invalid(&format!("formats[{index}]"), "is listed twice"));
            }
        }
        if !(1..=MAX_KB_AGE_SECS).contains(&spec.max_kb_age_secs) {
            return Err(invalid("max_kb_age_secs", "must be between 1 and 3600 seconds"));
        }
        if spec.types.len() > MAX_TYPES {
            return Err(invalid("types", "lists more than 16 types"));
        }
        for (index, vct) in spec.types.iter().enumerate() {
            let field = format!("types[{index}]");
            if vct.is_empty() || vct.len() > MAX_TYPE_BYTES || !vct.contains(':') {
                return Err(invalid(&field, "must be a URI of at most 512 bytes"));
            }
            if spec.types.iter().take(index).any(|earlier| earlier == vct) {
                return Err(invalid(&field, "is listed twice"));
            }
        }
        let lists = [
            ("claims.required", &spec.claims.required),
            ("claims.optional", &spec.claims.optional),
            ("claims.forbidden", &spec.claims.forbidden),
        ];
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (list_name, entries) in lists {
            if entries.len() > MAX_CLAIM_ENTRIES {
                return Err(invalid(list_name, "lists too many claims"));
            }
            for (index, entry) in entries.iter().enumerate() {
                let field = format!("{list_name}[{index}]");
                if entry != AGE_OVER_ANY && !claims::is_supported(entry) {
                    return Err(invalid(
                        &field,
                        "is not a supported claim (name, given_name, family_name, email, \
                         phone_number, preferred_username, user_uri, birthdate, locale, \
                         address, age_over_NN, age_over_*)",
                    ));
                }
                if let Some(earlier) = seen.insert(entry, list_name) {
                    let message = if earlier == list_name {
                        "is listed twice".to_string()
                    } else {
                        format!("is also listed in {earlier}")
                    };
                    return Err(invalid(&field, &message));
                }
            }
        }
        Ok(Self {
            name: name.into(),
            pseudonyms: spec.pseudonyms,
            formats: spec.formats,
            max_kb_age_secs: spec.max_kb_age_secs,
            types: spec.types,
            required: spec.claims.required,
            optional: spec.claims.optional,
            forbidden: spec.claims.forbidden,
        })
    }

    /// draft-ietf-mimi-room-policy `BaseRoomPolicy.pseudonyms_allowed`:
    /// `required` and `optional` allow pseudonyms, `forbidden` requires
    /// real long-term identifiers.
    pub fn pseudonyms_allowed(&self) -> bool {
        self.pseudonyms != Pseudonyms::Forbidden
    }

    pub fn allows_format(&self, format: CredentialFormat) -> bool {
        self.formats.contains(&format)
    }

    /// Whether an SD credential of type `vct` is accepted; `own` are the
    /// issuer's types, accepted when the policy lists none.
    pub fn accepts_type(&self, vct: &str, own: &[String]) -> bool {
        match self.types.is_empty() {
            true => own.iter().any(|t| t == vct),
            false => self.types.iter().any(|t| t == vct),
        }
    }

    /// Judges the disclosed claims. A required `age_over_NN` is met only
    /// when disclosed as `true`: disclosing that one is *not* over 18 does
    /// not satisfy "adults only".
    pub fn evaluate(&self, disclosed: &Map<String, Value>) -> PolicyOutcome {
        let listed =
            |list: &[String], name: &str| list.iter().any(|p| claims::pattern_matches(p, name));
        let forbidden_disclosed: Vec<String> = disclosed
            .keys()
            .filter(|name| {
                listed(&self.forbidden, name)
                    || !(listed(&self.required, name) || listed(&self.optional, name))
            })
            .cloned()
            .collect();
        let met = |entry: &str| {
            disclosed.iter().any(|(name, value)| {
                claims::pattern_matches(entry, name)
                    && (!name.starts_with("age_over_") || value == &Value::Bool(true))
            })
        };
        let missing_required: Vec<String> =
            self.required.iter().filter(|entry| !met(entry)).cloned().collect();
        PolicyOutcome {
            satisfied: forbidden_disclosed.is_empty() && missing_required.is_empty(),
            missing_required,
            forbidden_disclosed,
        }
    }
}

/// The named policies, loaded once at startup.
#[derive(Debug, Clone, Default)]
pub struct RoomPolicies(BTreeMap<String, RoomPolicy>);

impl RoomPolicies {
    /// Loads every `*.toml` in `dir`; any invalid file is an error naming
    /// it. A missing directory means no named policies (inline ones still work).
    pub fn load_dir(dir: &Path) -> Result<Self, PolicyError> {
        let read_error =
            |message: String| PolicyError::Read { file: dir.display().to_string(), message };
        if !dir.exists() {
            return Ok(Self::default());
        }
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| read_error(e.to_string()))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(|e| read_error(e.to_string()))?;
        paths.retain(|path| path.extension().is_some_and(|ext| ext == "toml"));
        paths.sort();
        let mut policies = BTreeMap::new();
        for path in paths {
            let policy = validate_policy_file(&path)?;
            policies.insert(policy.name.clone(), policy);
        }
        Ok(Self(policies))
    }

    pub fn get(&self, name: &str) -> Option<&RoomPolicy> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// Validates one policy file; its name is the file stem. What
/// `veilctl policy check <file>` runs, and what startup runs on each file.
pub fn validate_policy_file(path: &Path) -> Result<RoomPolicy, PolicyError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| PolicyError::Read { file: source.clone(), message: e.to_string() })?;
    let name = path.file_stem().and_then(|stem| stem.to_str()).ok_or_else(|| {
        PolicyError::Read { file: source.clone(), message: "the file name is not UTF-8".into() }
    })?;
    RoomPolicy::from_toml(name, &text, &source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROOMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/rooms");

    fn disclosed(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn shipped_policies_load() {
        let policies = RoomPolicies::load_dir(Path::new(ROOMS)).unwrap();
        let names: Vec<&str> = policies.names().collect();
        assert_eq!(names, ["adults-only", "open", "verified-staff"]);
        let adults = policies.get("adults-only").unwrap();
        assert_eq!(adults.required, ["age_over_18"]);
        assert!(adults.forbidden.contains(&"family_name".into()));
        assert!(adults.forbidden.contains(&"address".into()));
        let staff = policies.get("verified-staff").unwrap();
        assert!(staff.required.contains(&"user_uri".into()));
        assert!(staff.required.contains(&"email".into()));
    }

    #[test]
    fn evaluation_defaults_to_forbidden() {
        let adults = validate_policy_file(&Path::new(ROOMS).join("adults-only.toml")).unwrap();
        let outcome = adults.evaluate(&disclosed(json!({"age_over_18": true, "name": "Zoë"})));
        assert!(outcome.satisfied, "{outcome:?}");
        let outcome =
            adults.evaluate(&disclosed(json!({"age_over_18": false, "family_name": "X"})));
        assert_eq!(outcome.missing_required, ["age_over_18"]);
        assert_eq!(outcome.forbidden_disclosed, ["family_name"]);
        let outcome =
            adults.evaluate(&disclosed(json!({"age_over_18": true, "phone_number": "1"})));
        assert_eq!(outcome.forbidden_disclosed, ["phone_number"], "unlisted means forbidden");
    }

    #[test]
    fn errors_name_the_source_and_field() {
        let cases = [
            ("pseudonyms = \"sometimes\"\n", "sometimes"),
            ("colour = \"red\"\n", "colour"),
            ("max_kb_age_secs = 0\n", "max_kb_age_secs"),
            ("max_kb_age_secs = 7200\n", "max_kb_age_secs"),
            ("formats = []\n", "formats"),
            ("formats = [\"sd-jwt\", \"sd-jwt\"]\n", "formats[1]"),
            ("formats = [\"jwt\"]\n", "jwt"),
            (
                "[claims]\nrequired = [\"age_over_18\"]\nforbidden = [\"age_over_18\"]\n",
                "claims.forbidden[0]",
            ),
            ("[claims]\noptional = [\"shoe_size\"]\n", "claims.optional[0]"),
            ("[claims]\nrequired = [\"email\", \"email\"]\n", "claims.required[1]"),
        ];
        for (text, field) in cases {
            let error = RoomPolicy::from_toml("t", text, "rooms/t.toml").unwrap_err().to_string();
            assert!(error.contains("rooms/t.toml") && error.contains(field), "{text}: {error}");
        }
        let error = RoomPolicy::from_json(json!({"claims": {"required": ["nope"]}})).unwrap_err();
        assert!(error.to_string().contains("claims.required[0]"), "{error}");
    }

    #[test]
    fn invalid_file_in_directory_stops_loading() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.toml"), "").unwrap();
        std::fs::write(dir.path().join("bad.toml"), "[claims]\nrequired = [\"shoe_size\"]\n")
            .unwrap();
        let error = RoomPolicies::load_dir(dir.path()).unwrap_err().to_string();
        assert!(error.contains("bad.toml") && error.contains("claims.required[0]"), "{error}");
        let missing = RoomPolicies::load_dir(&dir.path().join("absent")).unwrap();
        assert_eq!(missing.names().count(), 0);
    }
}
