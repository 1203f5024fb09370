//! Anti-abuse (DESIGN.md, "Anti-abuse"; draft-mahy-mimi-pseudonyms §5): the
//! issuance policy, rate limits minting pays inside its transaction,
//! reputation, hub abuse reports and remedies by pseudonym. Everything here
//! acts on an account only through its `account_ref`.

pub mod gate;
pub mod limits;
pub mod policy;
pub mod precheck;
pub mod relations;
pub mod reports;
pub mod reputation;
mod service;

pub use service::{
    Abuse, AbuseError, AccountStatus, Actor, MAX_ADJUSTMENT, MAX_RELATED, RemedyOutcome,
    RemedyRequest, Signals,
};
