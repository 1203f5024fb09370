//! veil: a privacy-focused pseudonym and identity issuer for MIMI providers.
//!
//! The library is what `veild`, `veilctl`, the tests and the examples use.
//! Its folders are its layers, and no import runs upward
//! (`tests/layers.rs` enforces it; `docs/ARCHITECTURE.md` draws it):
//!
//! `core` ← `formats` ← `store` ← `services` ← `api` ← `app` ← binaries.

pub mod api;
pub mod app;
pub mod core;
pub mod formats;
pub mod services;
pub mod store;
