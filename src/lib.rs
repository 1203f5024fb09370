//! veil: a privacy-focused pseudonym and identity issuer for MIMI providers.
//!
//! The library is what `veild`, `veilctl`, the tests and the examples use.
//! Its folders are its layers, and no import runs upward
//! (`tests/layers.rs` enforces it; `docs/ARCHITECTURE.md` draws it):
//!
//! `core` ← `formats` ← `store` ← `services` ← `api` ← `app` ← binaries;
//! `testkit` (feature `testkit`) is test support above them all.

// Outside tests nothing may panic on input: errors are values.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

pub mod api;
pub mod app;
pub mod core;
pub mod formats;
pub mod services;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
