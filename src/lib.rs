//! veil: a privacy-focused pseudonym and identity issuer for MIMI providers.
//!
//! The library is what `veild`, `veilctl`, the tests and the examples use;
//! `docs/ARCHITECTURE.md` maps the modules.

pub mod abuse;
pub mod access;
pub mod api;
pub mod app;
pub mod audit;
pub mod breakglass;
pub mod clock;
pub mod config;
pub mod disclosure;
pub mod issuance;
pub mod keys;
pub mod linkage;
pub mod metrics;
pub mod store;
pub mod verify;
