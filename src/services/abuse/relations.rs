//! Relation keys: identifiers the backend knows two accounts may share
//! (draft-mahy-mimi-pseudonyms §5.2, "related" accounts). Only keyed tags
//! of their normalized values are stored.

use serde::Deserialize;

use crate::core::linkage::LinkKeys;

pub const MAX_RELATIONS: usize = 8;
pub const MAX_KIND: usize = 32;
pub const MAX_VALUE: usize = 256;

/// One relation key as the backend sends it, e.g. `{"kind": "email", "value": "a@b.example"}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Relation {
    pub kind: String,
    pub value: String,
}

/// Validates and tags a mint request's relation keys. Values are compared
/// after trimming and lower-casing, and with spaces, dots and dashes
/// removed for phone numbers, so formatting does not hide a relation.
pub fn tags(link: &LinkKeys, relations: &[Relation]) -> Result<Vec<[u8; 32]>, String> {
    if relations.len() > MAX_RELATIONS {
        return Err(format!("`relations` is limited to {MAX_RELATIONS} entries"));
    }
    relations
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let kind_ok = (1..=MAX_KIND).contains(&r.kind.len())
                && r.kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !kind_ok {
                return Err(format!("`relations[{i}].kind` must be 1 to {MAX_KIND} of a-z and _"));
            }
            let mut value = r.value.trim().to_lowercase();
            if r.kind == "phone" {
                value.retain(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'));
            }
            if value.is_empty() || value.len() > MAX_VALUE {
                return Err(format!("`relations[{i}].value` must be 1 to {MAX_VALUE} bytes"));
            }
            Ok(link.keyed_tag(&format!("relation:{}", r.kind), &value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation(kind: &str, value: &str) -> Relation {
        Relation { kind: kind.into(), value: value.into() }
    }

    #[test]
    fn formatting_does_not_hide_a_relation_and_kinds_are_separate() {
        let link = LinkKeys::new(&[1; 32], &[2; 32]).unwrap();
        let a = tags(&link, &[relation("email", " Ann@Example.COM ")]).unwrap();
        let b = tags(&link, &[relation("email", "ann@example.com")]).unwrap();
        assert_eq!(a, b);
        let p1 = tags(&link, &[relation("phone", "+1 (555) 010-9999")]).unwrap();
        let p2 = tags(&link, &[relation("phone", "+15550109999")]).unwrap();
        assert_eq!(p1, p2);
        assert_ne!(tags(&link, &[relation("phone", "ann@example.com")]).unwrap(), a);
        assert!(tags(&link, &[relation("Email", "x")]).is_err());
        assert!(tags(&link, &[relation("email", "  ")]).is_err());
        assert!(tags(&link, &vec![relation("email", "x"); 9]).is_err());
    }
}
