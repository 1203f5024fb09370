//! The privacy core: how accounts and pseudonyms are linked without any
//! plaintext link at rest (DESIGN.md, "Privacy model").
//!
//! - `account_ref = HMAC-SHA256(k_ref, account)`: accounts are stored only by it.
//! - `ops_link = AEAD(k_ops/ops_link, account_ref; aad = pseudonym id)`: lets
//!   the online service act on the account behind a pseudonym without anyone
//!   seeing it (each use of `k_ops` has its own key: `core::ops_keys`).
//! - `glass_link` (see `formats::glass_link`): the only way back to the raw
//!   account id, sealed once per account to the break-glass key.

use ring::hmac;

use super::ops_keys::{OpsKeys, OpsPurpose};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("a link key has the wrong length")]
    BadKey,
    #[error("a sealed link could not be opened")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// `HMAC(k_ref, account)`: the only form in which an account is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountRef(pub [u8; 32]);

impl std::fmt::Debug for AccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountRef(..)")
    }
}

/// The online link keys (`k_ref`, `k_ops`). The break-glass key is not
/// here, nor anywhere on the online host.
pub struct LinkKeys {
    k_ref: hmac::Key,
    ops: OpsKeys,
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKeys(..)")
    }
}

impl LinkKeys {
    /// One `k_ops`, never rotated.
    pub fn new(k_ref: &[u8], k_ops: &[u8]) -> Result<Self, LinkError> {
        Self::with_ops(k_ref, OpsKeys::new(k_ops, &[])?)
    }

    pub fn with_ops(k_ref: &[u8], ops: OpsKeys) -> Result<Self, LinkError> {
        if k_ref.len() != 32 {
            return Err(LinkError::BadKey);
        }
        Ok(Self { k_ref: hmac::Key::new(hmac::HMAC_SHA256, k_ref), ops })
    }

    /// The `k_ops` keys, for what checks which one sealed a value.
    pub fn ops(&self) -> &OpsKeys {
        &self.ops
    }

    pub fn account_ref(&self, account: &str) -> AccountRef {
        let tag = hmac::sign(&self.k_ref, account.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        AccountRef(out)
    }

    /// Keyed tag for other account-scoped identifiers (relation keys), under
    /// the same key but domain-separated from account refs.
    pub fn keyed_tag(&self, domain: &str, value: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.k_ref);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// What a revealed break-glass request keeps of its account: a keyed tag
    /// that no other table holds, so the request's pseudonym joins nothing.
    pub fn reveal_tag(&self, account: &AccountRef) -> [u8; 32] {
        self.account_tag("break-glass reveal", account)
    }

    /// What a deleted account leaves behind: a keyed tag, in its own
    /// domain, that only a mint of the same account id recomputes.
    pub fn tombstone_tag(&self, account: &AccountRef) -> [u8; 32] {
        self.account_tag("deleted account", account)
    }

    /// The integrity tag of an account's `glass_link`: only the online
    /// service (holder of `k_ref`) writes links, so a link planted in the
    /// database, even by someone who holds the break-glass key or learned
    /// `skR·S` from a past reveal, or one downgraded to an older suite, has
    /// no valid tag and is never released. `binding` is everything the
    /// link is opened with (suite, sender key, the link itself).
    pub fn glass_tag(&self, account: &AccountRef, binding: &[&[u8]]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.k_ref);
        ctx.update(b"glass_link integrity\0");
        ctx.update(&account.0);
        for part in binding {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Whether `tag` is [`LinkKeys::glass_tag`] of these, in constant time.
    pub fn glass_tag_matches(&self, account: &AccountRef, binding: &[&[u8]], tag: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.glass_tag(account, binding);
        bool::from(expected.as_slice().ct_eq(tag))
    }

    fn account_tag(&self, domain: &str, account: &AccountRef) -> [u8; 32] {
        let hex: String = account.0.iter().map(|b| format!("{b:02x}")).collect();
        self.keyed_tag(domain, &hex)
    }

    /// Seals `plaintext` for `purpose` under the current `k_ops`.
    pub fn seal_ops(
        &self,
        purpose: OpsPurpose,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, LinkError> {
        self.ops.seal(purpose, plaintext, aad)
    }

    /// Opens what [`LinkKeys::seal_ops`] sealed for `purpose`.
    pub fn open_ops(
        &self,
        purpose: OpsPurpose,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, LinkError> {
        self.ops.open(purpose, sealed, aad)
    }

    /// `ops_link` for a pseudonym: binds the account ref to that pseudonym id,
    /// so a link cannot be moved to another pseudonym row.
    pub fn seal_ops_link(
        &self,
        pseudonym_id: &str,
        account: &AccountRef,
    ) -> Result<Vec<u8>, LinkError> {
        self.seal_ops(OpsPurpose::OpsLink, &account.0, pseudonym_id.as_bytes())
    }

    pub fn open_ops_link(
        &self,
        pseudonym_id: &str,
        sealed: &[u8],
    ) -> Result<AccountRef, LinkError> {
        let plain = self.open_ops(OpsPurpose::OpsLink, sealed, pseudonym_id.as_bytes())?;
        let bytes: [u8; 32] = plain.try_into().map_err(|_| LinkError::Open)?;
        Ok(AccountRef(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> LinkKeys {
        LinkKeys::new(&[7u8; 32], &[9u8; 32]).unwrap()
    }

    #[test]
    fn ops_link_is_bound_to_its_pseudonym() {
        let keys = keys();
        let account = keys.account_ref("alice");
        let sealed = keys.seal_ops_link("p1", &account).unwrap();
        assert_eq!(keys.open_ops_link("p1", &sealed).unwrap(), account);
        assert_eq!(keys.open_ops_link("p2", &sealed), Err(LinkError::Open));
        assert_ne!(keys.seal_ops_link("p1", &account).unwrap(), sealed, "nonces must differ");
    }

    #[test]
    fn account_refs_are_keyed() {
        let keys = keys();
        let other = LinkKeys::new(&[8u8; 32], &[9u8; 32]).unwrap();
        assert_ne!(keys.account_ref("alice"), other.account_ref("alice"));
        assert_eq!(keys.account_ref("alice"), keys.account_ref("alice"));
        assert_ne!(keys.keyed_tag("email", "alice"), keys.account_ref("alice").0);
    }
}
