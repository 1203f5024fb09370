//! A minimal HTTP/1.1 client over a plain socket, one connection per
//! request (`Connection: close`), as `tests/veilctl.rs` talks to `veild`.
//! It tells apart what a crash test must: a request that never reached the
//! server, one that reached it and got no status line back, and an answer;
//! an answer's body counts only when all of it arrived.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// What became of one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The connection was refused: the server never saw the request.
    NotDelivered,
    /// Sent (maybe in part), and no status line came back: the server may
    /// or may not have acted on it.
    Lost(String),
    /// A status line. `body` is the JSON body when all of it arrived.
    Answered { status: u16, body: Option<Value> },
}

impl Reply {
    pub fn status(&self) -> Option<u16> {
        match self {
            Reply::Answered { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A line for a failure message: the status and the ids answered, not
    /// the certificates.
    pub fn brief(&self) -> String {
        match self {
            Reply::NotDelivered => "not delivered".into(),
            Reply::Lost(why) => format!("no answer ({why})"),
            Reply::Answered { status, body: None } => format!("{status}, body cut off"),
            Reply::Answered { status, body: Some(body) } => match body["pseudonyms"].as_array() {
                Some(minted) => {
                    let ids: Vec<&Value> = minted.iter().map(|p| &p["id"]).collect();
                    format!("{status}, ids {ids:?}")
                }
                None => format!("{status} {body}"),
            },
        }
    }

    /// The complete body of a `status` answer; panics on anything else.
    pub fn expect(self, status: u16, what: &str) -> Value {
        match self {
            Reply::Answered { status: got, body: Some(body) } if got == status => body,
            other => panic!("{what}: expected {status}, got {}", other.brief()),
        }
    }
}

/// `method path` on `addr` (host:port) with a bearer token and a JSON body.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let socket: SocketAddr = addr.parse().unwrap();
    let Ok(mut stream) = TcpStream::connect_timeout(&socket, Duration::from_secs(2)) else {
        return Reply::NotDelivered;
    };
    // Generous: a debug build under load with a writer batch in front.
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    let request = format!("{head}\r\n{body}");
    if let Err(e) = stream.write_all(request.as_bytes()) {
        return Reply::Lost(format!("write: {e}"));
    }
    let mut response = Vec::new();
    // A reset after some bytes still leaves what arrived in `response`.
    let read = stream.read_to_end(&mut response);
    parse(&response).unwrap_or_else(|| {
        Reply::Lost(match read {
            Err(e) => format!("read: {e}"),
            Ok(n) => format!("{n} bytes without a status line"),
        })
    })
}

/// The status line, and the body when `Content-Length` of it arrived and
/// it is JSON; `None` without a whole status line.
fn parse(response: &[u8]) -> Option<Reply> {
    let line_end = response.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&response[..line_end]).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let Some(head_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Some(Reply::Answered { status, body: None });
    };
    let head = String::from_utf8_lossy(&response[..head_end]).to_ascii_lowercase();
    let payload = &response[head_end + 4..];
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let complete = match length {
        Some(n) => payload.len() == n,
        // No length (chunked or close-delimited): whatever parses whole.
        None => !head.contains("transfer-encoding: chunked"),
    };
    let body = complete.then(|| serde_json::from_slice(payload).ok()).flatten();
    Some(Reply::Answered { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_body_is_no_body() {
        let whole = b"HTTP/1.1 201 Created\r\ncontent-length: 7\r\n\r\n{\"a\":1}";
        assert!(matches!(parse(whole), Some(Reply::Answered { status: 201, body: Some(_) })));
        let cut = b"HTTP/1.1 201 Created\r\ncontent-length: 9\r\n\r\n{\"a\":1}";
        assert!(matches!(parse(cut), Some(Reply::Answered { status: 201, body: None })));
        let head_only = b"HTTP/1.1 201 Created\r\ncontent-le";
        assert!(matches!(parse(head_only), Some(Reply::Answered { status: 201, body: None })));
        assert!(parse(b"HTTP/1.1 20").is_none());
        assert!(parse(b"").is_none());
    }
}
