//! From a pseudonym to the account behind it: the pseudonym row's
//! `ops_link`, opened with `k_ops`. Anti-abuse and break-glass both act on
//! accounts this way, and must agree on what an unknown pseudonym or a
//! deleted account looks like.

use crate::core::linkage::{AccountRef, LinkError, LinkKeys};
use crate::core::pseudonym_id::PseudonymId;
use crate::store::{Store, StoreError};

/// What is behind a pseudonym id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behind {
    /// No pseudonym has this id.
    Unknown,
    /// The pseudonym is a tombstone: a deletion remedy dropped its link.
    Deleted,
    Account(AccountRef),
}

impl Behind {
    /// The account, when there still is one.
    pub fn account(self) -> Option<AccountRef> {
        match self {
            Behind::Account(account) => Some(account),
            Behind::Unknown | Behind::Deleted => None,
        }
    }
}

/// Looks up the pseudonym and opens its link. A link that does not open
/// is an error, not an unknown pseudonym: the row was tampered with or
/// `k_ops` is wrong.
pub async fn account_behind<E>(
    store: &Store,
    link: &LinkKeys,
    id: &PseudonymId,
) -> Result<Behind, E>
where
    E: From<StoreError> + From<LinkError>,
{
    let Some(row) = store.pseudonym(id).await? else { return Ok(Behind::Unknown) };
    if row.ops_link.is_empty() {
        return Ok(Behind::Deleted);
    }
    Ok(Behind::Account(link.open_ops_link(row.id.as_str(), &row.ops_link)?))
}
