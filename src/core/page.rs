//! Keyset pagination of newest-first listings (break-glass requests,
//! remedies): how many rows a page holds, and the opaque cursor that
//! resumes a listing after the last row of the page before.
//!
//! The order is `created_at DESC, id ASC`. A cursor names the
//! `(created_at, id)` of the last row a page returned; the next page holds
//! the rows strictly after it in that order (the store's SQL), so rows
//! sharing a `created_at` are neither skipped nor repeated at a page
//! boundary, and rows written meanwhile never shift a page the way an
//! offset would.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Deserialize;

/// Rows a page holds when the caller names no `limit`.
pub const DEFAULT_PAGE: i64 = 100;
/// The most rows one page may hold.
pub const MAX_PAGE: i64 = 500;

/// The number of rows a page may hold: 1 to [`MAX_PAGE`]. Out of range is
/// an error, never silently clamped, so a client never mistakes a short
/// page for the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct PageLimit(i64);

/// A `limit` outside 1..=[`MAX_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a page holds 1 to {MAX_PAGE} rows")]
pub struct LimitError;

impl PageLimit {
    pub fn new(rows: i64) -> Result<Self, LimitError> {
        if (1..=MAX_PAGE).contains(&rows) { Ok(Self(rows)) } else { Err(LimitError) }
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// Rows to ask the store for: one more than the page, which tells
    /// whether another page follows.
    pub fn probe(self) -> i64 {
        self.0 + 1
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(DEFAULT_PAGE)
    }
}

impl TryFrom<i64> for PageLimit {
    type Error = LimitError;

    fn try_from(rows: i64) -> Result<Self, LimitError> {
        Self::new(rows)
    }
}

/// The format of [`Cursor::encode`]: a version byte, `created_at` (8 bytes,
/// big-endian), then the id (UTF-8).
const CURSOR_VERSION: u8 = 1;
/// Longest id a decoded cursor may carry (ids are UUIDs, 36 bytes; the
/// bound keeps a forged cursor from carrying a long string to the
/// database).
const MAX_CURSOR_ID: usize = 64;

/// The length of `bytes` bytes in base64 without padding.
const fn unpadded_base64_len(bytes: usize) -> usize {
    (4 * bytes).div_ceil(3)
}

/// Shortest encoded cursor (an id of one byte).
pub const MIN_CURSOR_CHARS: usize = unpadded_base64_len(1 + 8 + 1);
/// Longest encoded cursor (an id of [`MAX_CURSOR_ID`] bytes).
pub const MAX_CURSOR_CHARS: usize = unpadded_base64_len(1 + 8 + MAX_CURSOR_ID);

/// Where a newest-first listing resumes: strictly after the row
/// `(created_at, id)`. Opaque to clients (base64url, no padding).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Cursor {
    created_at: i64,
    id: String,
}

/// A cursor this service did not make (or made in another format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor of this listing: pass `next` of the previous page as it came")]
pub struct CursorError;

impl Cursor {
    /// The cursor after the row `(created_at, id)`.
    pub fn after(created_at: i64, id: &str) -> Self {
        Self { created_at, id: id.to_owned() }
    }

    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(1 + 8 + self.id.len());
        bytes.push(CURSOR_VERSION);
        bytes.extend_from_slice(&self.created_at.to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        Base64UrlUnpadded::encode_string(&bytes)
    }

    /// Reads what [`Cursor::encode`] wrote; anything else is an error.
    pub fn decode(text: &str) -> Result<Self, CursorError> {
        if !(MIN_CURSOR_CHARS..=MAX_CURSOR_CHARS).contains(&text.len()) {
            return Err(CursorError);
        }
        let bytes = Base64UrlUnpadded::decode_vec(text).map_err(|_| CursorError)?;
        let (&version, rest) = bytes.split_first().ok_or(CursorError)?;
        if version != CURSOR_VERSION {
            return Err(CursorError);
        }
        let (at, id) = rest.split_first_chunk::<8>().ok_or(CursorError)?;
        let id = std::str::from_utf8(id).map_err(|_| CursorError)?;
        if id.is_empty() || id.len() > MAX_CURSOR_ID {
            return Err(CursorError);
        }
        Ok(Self::after(i64::from_be_bytes(*at), id))
    }
}

impl TryFrom<String> for Cursor {
    type Error = CursorError;

    fn try_from(text: String) -> Result<Self, CursorError> {
        Self::decode(&text)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// One page of a listing, and where the next one starts (`None`: this is
/// the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// The page out of up to [`PageLimit::probe`] rows in listing order: a
    /// row beyond `limit` means another page follows, after the last row
    /// kept (`key` gives its `(created_at, id)`).
    pub fn from_probe(mut rows: Vec<T>, limit: PageLimit, key: impl Fn(&T) -> (i64, &str)) -> Self {
        let keep = usize::try_from(limit.get()).unwrap_or(usize::MAX);
        if rows.len() <= keep {
            return Self { items: rows, next: None };
        }
        rows.truncate(keep);
        let next = rows.last().map(|row| {
            let (created_at, id) = key(row);
            Cursor::after(created_at, id)
        });
        Self { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next: self.next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_out_of_range_are_refused() {
        assert_eq!(PageLimit::default().get(), DEFAULT_PAGE);
        assert_eq!(PageLimit::new(1).map(PageLimit::get), Ok(1));
        assert_eq!(PageLimit::new(MAX_PAGE).map(PageLimit::get), Ok(MAX_PAGE));
        for rows in [0, -1, MAX_PAGE + 1, i64::MAX, i64::MIN] {
            assert_eq!(PageLimit::new(rows), Err(LimitError), "{rows}");
        }
    }

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        for (at, id) in [(0, "a"), (-5, "x"), (i64::MAX, "4f1c-é"), (1_900_000_000, "denied-17")] {
            let cursor = Cursor::after(at, id);
            let text = cursor.encode();
            assert!((MIN_CURSOR_CHARS..=MAX_CURSOR_CHARS).contains(&text.len()), "{text}");
            assert_eq!(Cursor::decode(&text), Ok(cursor));
        }
        let longest = Cursor::after(1, &"i".repeat(MAX_CURSOR_ID)).encode();
        assert_eq!(longest.len(), MAX_CURSOR_CHARS);
        assert_eq!(Cursor::decode(&longest).map(|c| c.id().len()), Ok(MAX_CURSOR_ID));
        assert_eq!(Cursor::after(1, "i").encode().len(), MIN_CURSOR_CHARS);
        let over = Cursor::after(1, &"i".repeat(MAX_CURSOR_ID + 1)).encode();
        let other_version = {
            let mut bytes = vec![2];
            bytes.extend_from_slice(&1_i64.to_be_bytes());
            bytes.extend_from_slice(b"id");
            Base64UrlUnpadded::encode_string(&bytes)
        };
        let not_utf8 = {
            let mut bytes = vec![CURSOR_VERSION];
            bytes.extend_from_slice(&1_i64.to_be_bytes());
            bytes.push(0xff);
            Base64UrlUnpadded::encode_string(&bytes)
        };
        let too_long = "A".repeat(MAX_CURSOR_CHARS + 1);
        for bad in [
            "",
            "!",
            "AQ",
            "AQAAAAAAAAAB",
            "AQAAAAAAAAABaWQ=",
            &other_version,
            &not_utf8,
            &over,
            &too_long,
        ] {
            assert_eq!(Cursor::decode(bad), Err(CursorError), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(text in ".{0,120}") {
            let _ = Cursor::decode(&text);
        }
    }

    #[test]
    fn a_page_has_a_next_cursor_only_when_a_row_follows() {
        let rows = |n: i64| (0..n).map(|i| (100 - i, format!("r{i}"))).collect::<Vec<_>>();
        let limit = PageLimit::new(3).unwrap();
        fn key(row: &(i64, String)) -> (i64, &str) {
            (row.0, row.1.as_str())
        }
        let page = Page::from_probe(rows(4), limit, key);
        assert_eq!(page.items.len(), 3);
        assert_eq!(page.next, Some(Cursor::after(98, "r2")));
        for n in [0, 2, 3] {
            let page = Page::from_probe(rows(n), limit, key);
            assert_eq!((page.items.len(), page.next), (usize::try_from(n).unwrap(), None));
        }
    }
}
