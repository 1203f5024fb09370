//! MIMI `reportAbuse` in its wire form (`POST /v1/report-abuse/{room}`, a
//! TLS-encoded `AbuseReport` of draft-ietf-mimi-protocol-02 §5.9): one
//! report whatever its form, and malformed encodings refused with a problem
//! and nothing stored.

use std::sync::Arc;

use serde_json::{Value, json};
use veil::core::clock::SystemClock;
use veil::formats::abuse_report::{AbuseReport, AbuseType, AbusiveMessage};

use crate::support::mls::MlsClient;
use crate::support::{Db, TestApp, assert_problem, frank, frank_of};

const MEDIA_TYPE: &str = "application/mimi-abuse-report";
const ROOM: &str = "mimi://hub.example/r/lobby";
const REPORTER: &str = "mimi://hub.example/u/reporter";

async fn report_quota(db: Db) -> TestApp {
    let policy = "[reputation.reports]\nmax_per_reporter_per_hour = 3\n";
    TestApp::spawn_with(db, Arc::new(SystemClock), Some(policy)).await
}

on_both_backends!(
    a_wire_report_is_the_same_report_as_its_json_form,
    malformed_wire_reports_are_refused_and_store_nothing
);
on_both_backends_with!(report_quota; both_forms_share_the_reporters_quota);

/// The route for `room`: its URI percent-encoded as one path segment.
fn path(room: &str) -> String {
    let mut encoded = String::new();
    for byte in room.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("/v1/report-abuse/{encoded}")
}

async fn mint_one(app: &TestApp, backend: &str, account: &str) -> String {
    let (status, body) = app.mint(backend, account, vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 201, "{body}");
    body["pseudonyms"][0]["uri"].as_str().expect("uri").to_string()
}

/// A wire report of the messages called `messages` (see `frank_of`).
fn wire(abuser: &str, reporting_user: &str, note: &str, messages: &[&str]) -> AbuseReport {
    AbuseReport {
        reporting_user: reporting_user.into(),
        alleged_abuser_uri: abuser.into(),
        reason_code: AbuseType::Reserved,
        note: note.into(),
        messages: messages
            .iter()
            .map(|m| AbusiveMessage {
                mimi_content: b"hello".to_vec(),
                frank: frank_of(m),
                accepted_timestamp: 1,
            })
            .collect(),
    }
}

/// The same report as veil's JSON.
fn json_form(abuser: &str, reporting_user: Option<&str>, note: &str, messages: &[&str]) -> Value {
    let mut body = json!({
        "room": ROOM,
        "alleged_abuser": abuser,
        "reason_code": 0,
        "note": note,
        "messages": messages
            .iter()
            .map(|m| json!({"mimi_content": "aGVsbG8=", "frank": frank(m), "accepted_timestamp": 1}))
            .collect::<Vec<_>>(),
    });
    if let Some(user) = reporting_user {
        body["reporting_user"] = json!(user);
    }
    body
}

async fn send(app: &TestApp, token: &str, report: &AbuseReport) -> (u16, Value) {
    let bytes = report.encode().expect("encodes");
    app.post_bytes(&path(ROOM), token, Some(MEDIA_TYPE), bytes).await
}

async fn rows(app: &TestApp, table: &str) -> usize {
    let dump = app.state.store.dump_all_tables().await.unwrap();
    dump.lines().filter(|l| l.starts_with(&format!("{table}: "))).count()
}

/// Every row a report writes or updates, as the dump shows it: the report,
/// the reporter's weight, the reputation event, the quota window's count,
/// a remedy.
async fn report_state(app: &TestApp) -> Vec<String> {
    let tables =
        ["abuse_reports", "report_weights", "reputation_events", "rate_windows", "remedies"];
    let dump = app.state.store.dump_all_tables().await.unwrap();
    dump.lines()
        .filter(|l| tables.iter().any(|t| l.starts_with(&format!("{t}: "))))
        .map(str::to_string)
        .collect()
}

async fn a_wire_report_is_the_same_report_as_its_json_form(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let uri = mint_one(&app, &backend, "mallory").await;

    let (status, body) = send(&app, &hub, &wire(&uri, REPORTER, "spam", &["m1", "m2"])).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!(""), "the draft's answer has no body");
    assert_eq!(rows(&app, "abuse_reports").await, 1);
    assert_eq!(rows(&app, "report_weights").await, 1, "the reporter's weight is charged");

    // The JSON form of the same report, worded otherwise and its messages
    // in another order: deduplicated against the wire form.
    let same = json_form(&uri, Some(REPORTER), "SPAM, please act", &["m2", "m1"]);
    let (status, body) = app.post("/v1/abuse-reports", &hub, &same).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(rows(&app, "abuse_reports").await, 1, "one report in two forms counts once");
    // And the other way round: the wire form sent again is the same report.
    let (status, _) = send(&app, &hub, &wire(&uri, REPORTER, "again", &["m1", "m2"])).await;
    assert_eq!(status, 202);
    assert_eq!(rows(&app, "abuse_reports").await, 1);

    // Another message is another report, in either form.
    let (status, _) = send(&app, &hub, &wire(&uri, REPORTER, "spam", &["m3"])).await;
    assert_eq!(status, 202);
    assert_eq!(rows(&app, "abuse_reports").await, 2);
    let json_id =
        app.post("/v1/abuse-reports", &hub, &json_form(&uri, Some(REPORTER), "", &["m3"])).await;
    assert_eq!(json_id.0, 202, "{}", json_id.1);
    assert_eq!(rows(&app, "abuse_reports").await, 2);

    // No reporting user: the wire form's empty URI is the JSON form's
    // missing (or empty) field.
    let (status, _) = send(&app, &hub, &wire(&uri, "", "spam", &["m1", "m2"])).await;
    assert_eq!(status, 202);
    assert_eq!(rows(&app, "abuse_reports").await, 3);
    for anonymous in [
        json_form(&uri, None, "spam", &["m1", "m2"]),
        json_form(&uri, Some(""), "spam", &["m1", "m2"]),
    ] {
        let (status, body) = app.post("/v1/abuse-reports", &hub, &anonymous).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(rows(&app, "abuse_reports").await, 3);
    }

    // An unknown pseudonym is accepted alike and stores nothing.
    let unknown = "mimi://example.com/p/AAAAAAAAAAAAAAAAAAAAAA";
    let (status, _) = send(&app, &hub, &wire(unknown, REPORTER, "spam", &["m9"])).await;
    assert_eq!(status, 202);
    assert_eq!(rows(&app, "abuse_reports").await, 3);
}

async fn both_forms_share_the_reporters_quota(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let uri = mint_one(&app, &backend, "quinn").await;
    for (i, message) in ["q1", "q2", "q3"].into_iter().enumerate() {
        let status = if i % 2 == 0 {
            send(&app, &hub, &wire(&uri, REPORTER, "", &[message])).await.0
        } else {
            app.post("/v1/abuse-reports", &hub, &json_form(&uri, None, "", &[message])).await.0
        };
        assert_eq!(status, 202, "report {i}");
    }
    let stored = rows(&app, "abuse_reports").await;
    let (status, body) = send(&app, &hub, &wire(&uri, REPORTER, "", &["q4"])).await;
    assert_problem(status, &body, 429, "rate-limited");
    let (status, body) =
        app.post("/v1/abuse-reports", &hub, &json_form(&uri, None, "", &["q5"])).await;
    assert_problem(status, &body, 429, "rate-limited");
    assert_eq!(rows(&app, "abuse_reports").await, stored);
}

/// One malformed request: its name, content type, body and the expected
/// status and problem slug.
type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, (u16, &'a str));

/// `bytes` with the varint length `len` (RFC 9420 §2.1.2) in front.
fn vector(len: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = match len {
        0..=0x3f => vec![len as u8],
        0x40..=0x3fff => vec![0x40 | (len >> 8) as u8, len as u8],
        _ => vec![0x80 | (len >> 24) as u8, (len >> 16) as u8, (len >> 8) as u8, len as u8],
    };
    out.extend_from_slice(bytes);
    out
}

async fn malformed_wire_reports_are_refused_and_store_nothing(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let uri = mint_one(&app, &backend, "ursula").await;
    let good = wire(&uri, REPORTER, "spam", &["m1"]);
    let bytes = good.encode().unwrap();
    // Where the fields start: reportingUser, allegedAbuserUri, reasonCode.
    let reason_at = 1 + REPORTER.len() + 1 + uri.len();
    assert_eq!(bytes[reason_at], 0);
    let header = |code: u8| {
        let mut out = vector(REPORTER.len(), REPORTER.as_bytes());
        out.extend(vector(uri.len(), uri.as_bytes()));
        out.push(code);
        out
    };
    let one_message = {
        let mut m = vector(5, b"hello");
        m.extend(frank_of("m1").to_bytes());
        m.extend(1u64.to_be_bytes());
        m
    };
    let with_messages = |note: &[u8], list: &[u8]| {
        let mut out = header(0);
        out.extend(vector(note.len(), note));
        out.extend(vector(list.len(), list));
        out
    };
    assert_eq!(with_messages(b"spam", &one_message), bytes, "the hand encoding is the codec's");

    let mut trailing = bytes.clone();
    trailing.push(0);
    let mut unknown_reason = bytes.clone();
    unknown_reason[reason_at] = 1;
    let mut last_reason = bytes.clone();
    last_reason[reason_at] = 255;
    // A franking tag of 33 bytes (the list's length counting it): the draft's
    // uint8[32] has no length, so the message after it no longer fits.
    let mut long_tag = vector(5, b"hello");
    long_tag.extend([7u8; 33]);
    long_tag.extend(&frank_of("m1").to_bytes()[32..]);
    long_tag.extend(1u64.to_be_bytes());
    // A tag of 31 bytes, and nothing else in the body changed.
    let mut short_tag = vector(5, b"hello");
    short_tag.extend(&frank_of("m1").to_bytes()[1..]);
    short_tag.extend(1u64.to_be_bytes());
    let mut non_minimal = vec![0x40, REPORTER.len() as u8];
    non_minimal.extend(&bytes[1..]);
    let mut eight_byte = vec![0xC0, 0, 0, 0, 0, 0, 0, REPORTER.len() as u8];
    eight_byte.extend(&bytes[1..]);
    let past_the_end = vec![0x3f, b'a', b'b']; // 63 bytes of reportingUser claimed, 2 sent
    let mut huge = vec![0xBF, 0xFF, 0xFF, 0xFF]; // 2^30 - 1 bytes claimed
    huge.extend(&bytes[1..]);
    let eleven: Vec<u8> = one_message.repeat(11);
    let mut big_content = vector(4097, &[0; 4097]);
    big_content.extend(frank_of("m1").to_bytes());
    big_content.extend(1u64.to_be_bytes());
    let mut long_user = vector(513, &[b'u'; 513]);
    long_user.extend(&bytes[1 + REPORTER.len()..]);
    let other_provider = wire("mimi://other.example/p/AAAAAAAAAAAAAAAAAAAAAA", REPORTER, "", &[]);
    let json_body = serde_json::to_vec(&json_form(&uri, None, "", &["m1"])).unwrap();

    let bad =
        |status: u16| (status, if status == 400 { "malformed-report" } else { "invalid-request" });
    let cases: Vec<Case> = vec![
        ("empty", Some(MEDIA_TYPE), vec![], bad(400)),
        ("truncated by one byte", Some(MEDIA_TYPE), bytes[..bytes.len() - 1].to_vec(), bad(400)),
        ("truncated inside a URI", Some(MEDIA_TYPE), bytes[..10].to_vec(), bad(400)),
        ("only a length", Some(MEDIA_TYPE), vec![0x05], bad(400)),
        ("trailing bytes", Some(MEDIA_TYPE), trailing, bad(400)),
        ("a non-minimal length prefix", Some(MEDIA_TYPE), non_minimal, bad(400)),
        ("an eight-byte length prefix", Some(MEDIA_TYPE), eight_byte, bad(400)),
        ("a length past the end", Some(MEDIA_TYPE), past_the_end, bad(400)),
        ("a 33-byte franking tag", Some(MEDIA_TYPE), with_messages(b"spam", &long_tag), bad(400)),
        ("a 31-byte franking tag", Some(MEDIA_TYPE), with_messages(b"spam", &short_tag), bad(400)),
        ("JSON sent as a wire report", Some(MEDIA_TYPE), json_body.clone(), bad(400)),
        ("unknown reason code 1", Some(MEDIA_TYPE), unknown_reason, bad(422)),
        ("unknown reason code 255", Some(MEDIA_TYPE), last_reason, bad(422)),
        ("a length of 2^30 - 1", Some(MEDIA_TYPE), huge, bad(400)),
        ("reportingUser over 512 bytes", Some(MEDIA_TYPE), long_user, bad(422)),
        ("a note that is not UTF-8", Some(MEDIA_TYPE), with_messages(&[0xff, 0xfe], &[]), bad(422)),
        ("eleven messages", Some(MEDIA_TYPE), with_messages(b"", &eleven), bad(422)),
        ("content over 4096 bytes", Some(MEDIA_TYPE), with_messages(b"", &big_content), bad(422)),
        (
            "another provider's pseudonym",
            Some(MEDIA_TYPE),
            other_provider.encode().unwrap(),
            bad(422),
        ),
        ("no content type", None, bytes.clone(), (415, "unsupported-media-type")),
        ("application/json", Some("application/json"), json_body, (415, "unsupported-media-type")),
        (
            "application/octet-stream",
            Some("application/octet-stream"),
            bytes.clone(),
            (415, "unsupported-media-type"),
        ),
        ("over 64 KiB", Some(MEDIA_TYPE), vec![0; 64 * 1024 + 1], (413, "payload-too-large")),
    ];
    let before = report_state(&app).await;
    for (name, content_type, body, (status, slug)) in cases {
        let (got, problem) = app.post_bytes(&path(ROOM), &hub, content_type, body).await;
        let kind = problem["type"].as_str().unwrap_or_default().to_string();
        assert_eq!((got, kind), (status, format!("urn:veil:problem:{slug}")), "{name}: {problem}");
        assert_problem(got, &problem, status, slug);
        assert_eq!(report_state(&app).await, before, "{name}: nothing stored");
    }
    // The room in the path: not UTF-8 once decoded, or over its bound.
    let (status, problem) =
        app.post_bytes("/v1/report-abuse/%FF", &hub, Some(MEDIA_TYPE), bytes.clone()).await;
    assert_problem(status, &problem, 400, "invalid-parameter");
    let long_room = format!("mimi://hub.example/r/{}", "r".repeat(512));
    let (status, problem) =
        app.post_bytes(&path(&long_room), &hub, Some(MEDIA_TYPE), bytes.clone()).await;
    assert_problem(status, &problem, 422, "invalid-request");
    assert_eq!(report_state(&app).await, before, "nothing stored");

    // The same bytes, well formed, are accepted (the content type's case and
    // parameters aside): the table failed for what it changed.
    let (status, body) =
        app.post_bytes(&path(ROOM), &hub, Some("Application/MIMI-Abuse-Report; v=1"), bytes).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(rows(&app, "abuse_reports").await, 1);
}
