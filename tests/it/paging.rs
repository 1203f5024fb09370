//! Keyset pagination of the admin listings (issue 16): break-glass requests
//! and remedies page newest first (`created_at DESC, id`), each page
//! resuming strictly after the last row of the one before. Rows sharing a
//! `created_at` straddle every page boundary here, so a keyset that
//! compared `created_at` alone would skip or repeat them. A bad `limit` or
//! `after` is a 400 problem naming the parameter.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{TestApp, assert_problem};

on_both_backends!(
    break_glass_pages_hold_every_request_once_in_order,
    remedy_pages_hold_every_remedy_once_in_order,
    bad_limits_and_cursors_are_problems
);

const T0: i64 = 1_900_000_000;
const ROWS: i64 = 20;
/// Groups of 5 rows share a `created_at`; pages of 7 end inside a group.
const PAGE: usize = 7;

/// `(id, created_at)` of the rows a test writes: ids in an order unrelated
/// to the order they are written in (fixed-width lowercase hex, so every
/// collation orders them as bytes do).
fn rows() -> Vec<(String, i64)> {
    (0..ROWS)
        .map(|i| {
            let scrambled = u64::try_from(i).unwrap().wrapping_mul(0x9e37_79b9_7f4a_7c15);
            (format!("{scrambled:016x}"), T0 - i / 5)
        })
        .collect()
}

/// The listing's order: newest first, then by id.
fn listing_order(mut rows: Vec<(String, i64)>) -> Vec<String> {
    rows.sort_by(|a, b| (Reverse(a.1), &a.0).cmp(&(Reverse(b.1), &b.0)));
    rows.into_iter().map(|(id, _)| id).collect()
}

/// Follows `next` from the newest page of `path` (which may carry a query
/// already) with `limit`; returns the ids of `field`'s items, page by page.
/// Every page but the last is full and has `next`; the last has none.
async fn pages(app: &TestApp, path: &str, field: &str, id: &str, limit: usize) -> Vec<Vec<String>> {
    let join = if path.contains('?') { '&' } else { '?' };
    let mut pages = Vec::new();
    let mut after = String::new();
    loop {
        let url = format!("{path}{join}limit={limit}{after}");
        let (status, body) = app.get(&url, Some(&app.admin_token)).await;
        assert_eq!(status, 200, "{url}: {body}");
        let ids: Vec<String> = body[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item[id].as_str().unwrap().to_string())
            .collect();
        let len = ids.len();
        pages.push(ids);
        assert!(pages.len() <= 100, "{path} pages forever");
        match body.get("next") {
            None => {
                assert!(len <= limit, "{url}: {body}");
                return pages;
            }
            Some(Value::String(next)) => {
                assert_eq!(len, limit, "only the last page is short: {url}");
                after = format!("&after={next}");
            }
            Some(other) => panic!("{url}: `next` is {other}"),
        }
    }
}

/// Every row exactly once, in `expected` order.
fn assert_each_once_in_order(pages: &[Vec<String>], expected: &[String]) {
    let seen: Vec<&String> = pages.iter().flatten().collect();
    let distinct: BTreeSet<&String> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), seen.len(), "a row was repeated: {pages:?}");
    let expected: Vec<&String> = expected.iter().collect();
    assert_eq!(seen, expected, "pages: {pages:?}");
}

async fn break_glass_pages_hold_every_request_once_in_order(app: TestApp) {
    let pool = app.raw_pool().await;
    let rows = rows();
    // Alternately denied and pending: the filtered listing pages too.
    for (i, (id, created_at)) in rows.iter().enumerate() {
        let status = if i % 2 == 0 { "denied" } else { "pending" };
        sqlx::query(
            "INSERT INTO break_glass_requests (id, pseudonym, reason_code, case_id, \
             justification, requester, status, approvals_required, created_at, expires_at) \
             VALUES ($1, 'mimi://example.com/p/x', 'imminent-harm', 'case-page', 'paging', \
             'someone', $2, 1, $3, $4)",
        )
        .bind(id)
        .bind(status)
        .bind(created_at)
        .bind(T0 + 1_000_000)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let all = listing_order(rows.clone());
    let paged = pages(&app, "/v1/admin/break-glass", "requests", "request_id", PAGE).await;
    assert_eq!(paged.iter().map(Vec::len).collect::<Vec<_>>(), [7, 7, 6]);
    assert_each_once_in_order(&paged, &all);
    let one_page = pages(&app, "/v1/admin/break-glass", "requests", "request_id", 500).await;
    assert_each_once_in_order(&one_page, &all);
    let by_one = pages(&app, "/v1/admin/break-glass", "requests", "request_id", 1).await;
    assert_each_once_in_order(&by_one, &all);

    let pending: Vec<(String, i64)> = rows.iter().skip(1).step_by(2).cloned().collect();
    let paged =
        pages(&app, "/v1/admin/break-glass?status=pending", "requests", "request_id", 3).await;
    assert_each_once_in_order(&paged, &listing_order(pending));

    // The default page is 100 rows: all 20 here, without `next`.
    let (status, body) = app.get("/v1/admin/break-glass", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requests"].as_array().unwrap().len(), 20);
    assert!(body.get("next").is_none(), "{body}");
}

async fn remedy_pages_hold_every_remedy_once_in_order(app: TestApp) {
    let pool = app.raw_pool().await;
    let rows = rows();
    for (id, created_at) in &rows {
        // Lifted: listed, never in force.
        sqlx::query(
            "INSERT INTO remedies (id, action, case_id, reason, actor, created_at, expires_at, \
             affected, lifted_at) VALUES ($1, 'mute', 'case-page', 'paging', 'someone', $2, \
             NULL, 1, $3)",
        )
        .bind(id)
        .bind(created_at)
        .bind(created_at + 1)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let all = listing_order(rows);
    for path in ["/v1/admin/remedies", "/v1/remedies"] {
        let paged = pages(&app, path, "remedies", "id", PAGE).await;
        assert_eq!(paged.iter().map(Vec::len).collect::<Vec<_>>(), [7, 7, 6], "{path}");
        assert_each_once_in_order(&paged, &all);
    }
    let by_one = pages(&app, "/v1/admin/remedies", "remedies", "id", 1).await;
    assert_each_once_in_order(&by_one, &all);
    let (status, body) = app.get("/v1/admin/remedies", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["remedies"].as_array().unwrap().len(), 20);
    assert!(body.get("next").is_none(), "{body}");
}

async fn bad_limits_and_cursors_are_problems(app: TestApp) {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let cursor = |version: u8, id: &[u8]| {
        let mut bytes = vec![version];
        bytes.extend_from_slice(&T0.to_be_bytes());
        bytes.extend_from_slice(id);
        Base64UrlUnpadded::encode_string(&bytes)
    };
    let other_version = cursor(2, b"abc");
    let not_utf8 = cursor(1, &[0xff, 0xfe]);
    let empty_id = cursor(1, b"");
    let long_id = cursor(1, &[b'a'; 65]);
    let oldest = {
        let mut bytes = vec![1];
        bytes.extend_from_slice(&i64::MIN.to_be_bytes());
        bytes.extend_from_slice(b"a");
        Base64UrlUnpadded::encode_string(&bytes)
    };
    for path in ["/v1/admin/break-glass", "/v1/admin/remedies"] {
        for (query, parameter) in [
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=-1", "limit"),
            ("limit=ten", "limit"),
            ("limit=99999999999999999999", "limit"),
            ("after=", "after"),
            ("after=%21%21%21%21%21%21%21%21%21%21%21%21%21%21", "after"),
            ("after=AQAAAAAAAAAAAAAAAAAAAAA=", "after"),
            (format!("after={other_version}").as_str(), "after"),
            (format!("after={not_utf8}").as_str(), "after"),
            (format!("after={empty_id}").as_str(), "after"),
            (format!("after={long_id}").as_str(), "after"),
            (format!("after={}", "A".repeat(4000)).as_str(), "after"),
        ] {
            let url = format!("{path}?{query}");
            let (status, body) = app.get(&url, Some(&app.admin_token)).await;
            assert_problem(status, &body, 400, "invalid-parameter");
            let detail = body["detail"].as_str().unwrap();
            assert!(detail.contains(&format!("`{parameter}`")), "{url}: {body}");
        }
        for limit in [1, 500] {
            let (status, body) =
                app.get(&format!("{path}?limit={limit}"), Some(&app.admin_token)).await;
            assert_eq!(status, 200, "{path} limit {limit}: {body}");
        }
        // A well-formed cursor past every row: an empty last page.
        let url = format!("{path}?after={oldest}");
        let (status, body) = app.get(&url, Some(&app.admin_token)).await;
        assert_eq!(status, 200, "{url}: {body}");
        assert!(body.get("next").is_none(), "{body}");
    }
}
