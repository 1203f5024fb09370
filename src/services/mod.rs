//! The domain services: minting, disclosures, verification, abuse handling,
//! break-glass, the audit log, API clients, keys and configuration. They call
//! the formats and the store and know nothing of HTTP.

pub mod abuse;
pub mod access;
pub mod audit;
pub mod breakglass;
pub mod config;
pub mod crl;
pub mod disclose;
pub mod glass_tag;
pub mod keyring;
pub mod linkage_lookup;
pub mod mint;
mod set;
pub mod status_lists;
pub mod storage_upgrade;
pub mod verify;

pub use set::Services;
