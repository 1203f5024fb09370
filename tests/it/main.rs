//! Integration tests: the real server on an ephemeral port, a real database
//! (SQLite always; PostgreSQL when `VEIL_TEST_POSTGRES_URL` is set), real
//! openmls clients. Every storage test exists as `<name>::sqlite` and
//! `<name>::postgres`.

#[macro_use]
mod support;

mod abuse_cases;
mod abuse_limits;
mod abuse_report_wire;
mod audit_log;
mod bad_input;
mod break_glass;
mod clients;
mod connection_only;
mod credentials;
mod disclosures;
mod flows_abuse;
mod flows_connection;
mod flows_join_link;
mod flows_knock;
mod key_packages;
mod key_rotation;
mod member_verification;
mod minting;
mod mls_rs_interop;
mod openapi;
mod operations;
mod operators;
mod paging;
mod privacy;
mod privacy_adversary;
mod privacy_reads;
mod proofs;
mod pseudonym_clients;
mod scope_matrix;
mod serving;
mod status_lists;
mod storage_upgrade;
