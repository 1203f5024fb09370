//! Anti-abuse (DESIGN.md, "Anti-abuse"; draft-mahy-mimi-pseudonyms §5): the
//! issuance policy, and the rate limits minting pays inside its transaction.
//! Everything here acts on an account only through its `account_ref`.

pub mod limits;
pub mod policy;
