//! veild's serving layer (`api::serve`): HTTPS with a CA made here, client
//! certificates, certificate reload, and the limits that cut off slow and
//! numerous clients. No storage is involved, so these run once, not per
//! backend; `tests/veilctl.rs` drives the same through the real binaries.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use veil::api::serve::{self, Limits, Tls, TlsFiles};
use veil::core::clock::SystemClock;
use veil::testkit::pki::{Issued, TestCa};

/// Far beyond any limit a test sets: a cut-off must come well before it.
const GENEROUS: Duration = Duration::from_secs(20);

/// A server on 127.0.0.1:0, stopped when dropped.
struct Server {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start(tls: Option<Arc<Tls>>, limits: Limits) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    tokio::spawn(serve::serve(listener, routes(), tls, limits, shutdown));
    Server { addr, _stop: stop }
}

fn routes() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "late"
            }),
        )
}

fn limits(header: u64, body: u64, request: u64, connections: usize) -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(header),
        body_timeout: Duration::from_secs(body),
        request_timeout: Duration::from_secs(request),
        max_connections: connections,
    }
}

fn relaxed() -> Limits {
    limits(30, 30, 60, 64)
}

fn tls_files(server: &Issued, client_ca: Option<&Path>) -> TlsFiles {
    TlsFiles {
        cert: server.cert.clone(),
        key: server.key.clone(),
        client_ca: client_ca.map(Path::to_path_buf),
    }
}

/// A client that trusts only `ca_pem`, presenting `identity` if given.
fn client(ca_pem: &str, identity: Option<&Issued>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let roots = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder().tls_certs_only(roots);
    if let Some(issued) = identity {
        let mut pem = std::fs::read(&issued.cert).unwrap();
        pem.extend(std::fs::read(&issued.key).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.timeout(GENEROUS).build().unwrap()
}

async fn hello(client: &reqwest::Client, url: &str) -> Result<String, reqwest::Error> {
    client.get(format!("{url}/hello")).send().await?.error_for_status()?.text().await
}

#[tokio::test]
async fn https_with_a_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("veil test CA").unwrap();
    let cert = ca.server(dir.path(), "veild").unwrap();
    let tls = Tls::load(tls_files(&cert, None)).unwrap();
    let server = start(Some(Arc::new(tls)), relaxed()).await;
    let url = format!("https://localhost:{}", server.addr.port());

    assert_eq!(hello(&client(&ca.ca_pem, None), &url).await.unwrap(), "hello");
    let by_ip = format!("https://127.0.0.1:{}", server.addr.port());
    assert_eq!(hello(&client(&ca.ca_pem, None), &by_ip).await.unwrap(), "hello");

    // A client that does not trust the CA refuses the server.
    let stranger = TestCa::new("another CA").unwrap();
    let err = hello(&client(&stranger.ca_pem, None), &url).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // No plain-HTTP fallback on the TLS port.
    let plain = reqwest::Client::builder().timeout(GENEROUS).build().unwrap();
    assert!(hello(&plain, &format!("http://127.0.0.1:{}", server.addr.port())).await.is_err());
}

#[tokio::test]
async fn client_certificates_are_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("veil test CA").unwrap();
    let hubs = TestCa::new("hub CA").unwrap();
    let hubs_file = hubs.write_ca(&dir.path().join("hubs.pem")).unwrap();
    let cert = ca.server(dir.path(), "veild").unwrap();
    let tls = Tls::load(tls_files(&cert, Some(&hubs_file))).unwrap();
    assert!(tls.requires_client_certificate());
    let server = start(Some(Arc::new(tls)), relaxed()).await;
    let url = format!("https://localhost:{}", server.addr.port());

    let hub = hubs.client(dir.path(), "hub").unwrap();
    assert_eq!(hello(&client(&ca.ca_pem, Some(&hub)), &url).await.unwrap(), "hello");
    // No certificate, or one from another CA (here the server's own CA):
    // the handshake fails, nothing is served.
    assert!(hello(&client(&ca.ca_pem, None), &url).await.is_err());
    let outsider = ca.client(dir.path(), "outsider").unwrap();
    assert!(hello(&client(&ca.ca_pem, Some(&outsider)), &url).await.is_err());
}

/// What SIGHUP calls: the files are read again and new connections get
/// the new certificate; a broken file keeps the one in force.
#[tokio::test]
async fn reload_swaps_the_certificate_and_keeps_it_on_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = TestCa::new("old CA").unwrap();
    let new_ca = TestCa::new("new CA").unwrap();
    let live = old_ca.server(dir.path(), "live").unwrap();
    let tls = Arc::new(Tls::load(tls_files(&live, None)).unwrap());
    let server = start(Some(tls.clone()), relaxed()).await;
    let url = format!("https://localhost:{}", server.addr.port());
    let trusts_old = client(&old_ca.ca_pem, None);
    let trusts_new = client(&new_ca.ca_pem, None);
    assert!(hello(&trusts_old, &url).await.is_ok());
    assert!(hello(&trusts_new, &url).await.is_err());

    // Renewal: the new files land where the old ones were.
    let renewed = new_ca.server(dir.path(), "renewed").unwrap();
    std::fs::copy(&renewed.cert, &live.cert).unwrap();
    std::fs::copy(&renewed.key, &live.key).unwrap();
    tls.reload().unwrap();
    // Fresh clients: a pooled connection would keep the old session.
    assert!(hello(&client(&new_ca.ca_pem, None), &url).await.is_ok());
    assert!(hello(&client(&old_ca.ca_pem, None), &url).await.is_err());

    // A half-written key, then a key that does not match the certificate:
    // reload fails and the renewed certificate stays in force.
    std::fs::write(&live.key, "-----BEGIN PRIVATE KEY-----\nAAAA").unwrap();
    assert!(tls.reload().is_err());
    let other = new_ca.server(dir.path(), "other").unwrap();
    std::fs::copy(&other.key, &live.key).unwrap();
    let err = tls.reload().unwrap_err().to_string();
    assert!(!err.is_empty());
    assert!(hello(&client(&new_ca.ca_pem, None), &url).await.is_ok());
}

/// Reads until the server closes the connection; returns what it sent.
/// Panics if it stays open past `GENEROUS`.
async fn read_until_closed(stream: &mut tokio::net::tcp::OwnedReadHalf) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + GENEROUS;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => panic!("the connection was not closed: got {received:?}"),
            Ok(Ok(0) | Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Writes `bytes` one at a time, `gap` apart, stopping when the server
/// has closed the connection; true if everything was written.
fn trickle(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    bytes: Vec<u8>,
    gap: Duration,
) -> tokio::task::JoinHandle<bool> {
    tokio::spawn(async move {
        for byte in bytes {
            if writer.write_all(&[byte]).await.is_err() {
                return false;
            }
            tokio::time::sleep(gap).await;
        }
        true
    })
}

#[tokio::test]
async fn slow_loris_headers_are_cut_off() {
    let server = start(None, limits(1, 30, 60, 64)).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(b"GET /hello HTTP/1.1\r\nHost: veil\r\n").await.unwrap();
    // An endless header, a byte every 100 ms: never complete.
    let endless: Vec<u8> =
        b"X-Slow: ".iter().copied().chain(std::iter::repeat_n(b'a', 400)).collect();
    let sender = trickle(writer, endless, Duration::from_millis(100));
    let answer = read_until_closed(&mut reader).await;
    assert!(!String::from_utf8_lossy(&answer).contains("hello"), "{answer:?}");
    sender.abort();

    // An idle connection that never sends a byte is closed as well.
    let mut idle = TcpStream::connect(server.addr).await.unwrap().into_split().0;
    read_until_closed(&mut idle).await;
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("veil test CA").unwrap();
    let cert = ca.server(dir.path(), "veild").unwrap();
    let tls = Tls::load(tls_files(&cert, None)).unwrap();
    let server = start(Some(Arc::new(tls)), limits(1, 30, 60, 64)).await;
    let (mut reader, mut writer) = TcpStream::connect(server.addr).await.unwrap().into_split();
    // The first bytes of a ClientHello record, then nothing.
    writer.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    read_until_closed(&mut reader).await;
}

#[tokio::test]
async fn a_slow_body_is_cut_off() {
    // The body deadline is total: a byte every 100 ms never leaves a gap
    // an idle timeout would notice, yet must not keep the request open.
    let server = start(None, limits(30, 1, 30, 64)).await;
    let (mut reader, mut writer) = TcpStream::connect(server.addr).await.unwrap().into_split();
    let head = "POST /echo HTTP/1.1\r\nHost: veil\r\nContent-Length: 400\r\n\r\n";
    writer.write_all(head.as_bytes()).await.unwrap();
    let sender = trickle(writer, vec![b'a'; 400], Duration::from_millis(100));
    let answer = String::from_utf8_lossy(&read_until_closed(&mut reader).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert!(!sender.await.unwrap(), "the whole body went through");
}

#[tokio::test]
async fn a_request_past_its_deadline_gets_a_503_problem() {
    let server = start(None, limits(30, 1, 1, 64)).await;
    let url = format!("http://{}/slow", server.addr);
    let response = reqwest::Client::new().get(url).timeout(GENEROUS).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:veil:problem:timeout");
    assert_eq!(problem["status"], 503);
}

#[tokio::test]
async fn the_connection_limit_holds() {
    let server = start(None, limits(60, 30, 60, 2)).await;
    // Two clients hold both connections with unfinished headers.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /hello HTTP/1.1\r\n").await.unwrap();
        holders.push(stream);
    }
    let request = b"GET /hello HTTP/1.1\r\nHost: veil\r\nConnection: close\r\n\r\n";
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut buffer = [0u8; 256];
    // Without a limit the answer takes milliseconds; a second of silence
    // means the third connection is not being served.
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buffer)).await;
    assert!(early.is_err(), "a third connection was served: {early:?}");

    // One holder leaves: the waiting connection is served.
    drop(holders.pop());
    let mut answer = Vec::new();
    tokio::time::timeout(GENEROUS, third.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"), "{answer}");
}

/// The real router behind the limits from the configuration: a JSON body
/// that trickles in past `request_body_timeout_secs` gets a 408 problem
/// (the body deadline is told from a malformed body, which is a 400).
#[tokio::test]
async fn veil_answers_a_slow_body_with_a_408_problem() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("veil.db").display());
    let policies = veil::testkit::instance::repo_policies();
    let extra = [("VEIL_REQUEST_BODY_TIMEOUT_SECS", "1")];
    let config = veil::testkit::instance::config(&database, dir.path(), &policies, &extra).unwrap();
    let served = veil::testkit::serve(config, Arc::new(SystemClock)).await.unwrap();
    let token = served.admin_token.clone().unwrap();
    let addr = served.url.trim_start_matches("http://").to_string();
    let (mut reader, mut writer) = TcpStream::connect(addr).await.unwrap().into_split();
    let head = format!(
        "POST /v1/admin/clients HTTP/1.1\r\nHost: veil\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let sender = trickle(writer, vec![b' '; 400], Duration::from_millis(100));
    let answer = String::from_utf8_lossy(&read_until_closed(&mut reader).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("urn:veil:problem:request-timeout"), "{answer}");
    assert!(!sender.await.unwrap(), "the whole body went through");
}
