//! Fills a veil database with valid pseudonyms quickly, for the scale
//! benchmark: multi-row inserts of rows shaped exactly as mints leave them
//! (sealed index, break-glass link and its tag per account, `ops_link` per
//! pseudonym), no HTTP and no certificates (veil stores none).
//!
//! The public keys are random 65-byte uncompressed-point strings rather
//! than points on the curve: nothing reads a stored key back as a point,
//! and drawing ten million real key pairs would take longer than the run.

use std::sync::Arc;
use std::time::Instant;

use ring::rand::{SecureRandom, SystemRandom};
use veil::core::clock::coarsen_to_hour;
use veil::core::ops_keys::OpsPurpose;
use veil::core::pseudonym_id::PseudonymId;
use veil::core::pseudonym_index::{IndexEntry, PseudonymIndex};
use veil::services::glass_tag;
use veil::services::keyring::KeySet;
use veil::services::status_lists::{LIST_ENTRIES, LISTS, day_of};
use veil::store::{GlassRow, NewAccount, NewPseudonym, SeededAccount, Store};

use super::Res;

/// Accounts generated and written per step.
const ACCOUNTS_PER_STEP: usize = 2_000;

/// Writes `pseudonyms` pseudonyms, `per_account` to an account, and prints
/// progress and the rate. With `status`, each pseudonym also gets one status
/// list entry (as after one SD disclosure): a random slot, its holder
/// sealed as the issuer seals it (a slot drawn twice is kept once).
pub async fn seed(
    keys: Arc<KeySet>,
    store: &Store,
    pseudonyms: usize,
    per_account: usize,
    status: bool,
    now: i64,
) -> Res<()> {
    let per_account = per_account.max(1);
    let accounts = pseudonyms.div_ceil(per_account);
    let started = Instant::now();
    let mut written = 0usize;
    let mut next_account = 0usize;
    eprintln!("seeding {pseudonyms} pseudonyms ({per_account} per account)…");
    while next_account < accounts {
        let count = ACCOUNTS_PER_STEP.min(accounts - next_account);
        let first = next_account;
        // Two halves on two blocking threads: sealing dominates.
        let half = count / 2;
        let jobs = [(first, half), (first + half, count - half)].map(|(start, n)| {
            let keys = keys.clone();
            let left = pseudonyms.saturating_sub(start * per_account);
            tokio::task::spawn_blocking(move || {
                generate(&keys, start, n, per_account, left, status, now)
            })
        });
        let mut account_rows = Vec::with_capacity(count);
        let mut pseudonym_rows = Vec::with_capacity(count * per_account);
        let mut status_rows = Vec::new();
        for job in jobs {
            let (a, p, e) = job.await??;
            account_rows.extend(a);
            pseudonym_rows.extend(p);
            status_rows.extend(e);
        }
        store.seed_accounts(&account_rows).await?;
        store.insert_pseudonyms(&pseudonym_rows).await?;
        if !status_rows.is_empty() {
            store.seed_status_entries(&status_rows).await?;
        }
        written += pseudonym_rows.len();
        next_account += count;
        if written % 1_000_000 < pseudonym_rows.len() || next_account == accounts {
            let rate = written as f64 / started.elapsed().as_secs_f64();
            eprintln!("  {written} pseudonyms written ({rate:.0}/s)");
        }
    }
    Ok(())
}

type Generated = (Vec<SeededAccount>, Vec<NewPseudonym>, Vec<(i64, Vec<u8>, i64)>);

fn generate(
    keys: &KeySet,
    first: usize,
    accounts: usize,
    per_account: usize,
    mut left: usize,
    status: bool,
    now: i64,
) -> Res<Generated> {
    let rng = SystemRandom::new();
    let hour = coarsen_to_hour(now);
    let not_after = hour + 30 * 86_400;
    let suite = i64::from(keys.glass.suite().code());
    let sender = keys.glass.link_sender().map(|k| k.to_bytes().to_vec());
    let key_id = keys.glass.key_id().to_vec();
    let mut account_rows = Vec::with_capacity(accounts);
    let mut pseudonym_rows = Vec::with_capacity(accounts * per_account);
    let mut status_rows = Vec::new();
    for i in first..first + accounts {
        let name = format!("seed-{i}");
        let account_ref = keys.link.account_ref(&name);
        let sealed = keys.glass.seal(&name, &account_ref.0)?;
        let tag = glass_tag::tag(&keys.link, &account_ref, suite, sender.as_deref(), &sealed);
        let mut index = PseudonymIndex::default();
        for _ in 0..per_account.min(left) {
            let id = PseudonymId::random(&rng).ok_or("no randomness")?;
            let mut public_key = vec![4u8; 65];
            rng.fill(public_key.get_mut(1..).ok_or("key length")?).map_err(|_| "no randomness")?;
            if status {
                let mut draw = [0u8; 4];
                rng.fill(&mut draw).map_err(|_| "no randomness")?;
                let slot = i64::from(u32::from_be_bytes(draw)) % (LISTS * LIST_ENTRIES);
                let holder = keys.link.seal_ops(
                    OpsPurpose::StatusEntry,
                    id.as_str().as_bytes(),
                    &slot.to_be_bytes(),
                )?;
                status_rows.push((slot, holder, day_of(not_after)));
            }
            pseudonym_rows.push(NewPseudonym {
                ops_link: keys.link.seal_ops_link(id.as_str(), &account_ref)?,
                id: id.clone(),
                public_key,
                connection_only: false,
                created_hour: hour,
                not_before: hour,
                not_after,
            });
            index.push(IndexEntry { id, not_after, revoked: false });
            left -= 1;
        }
        let live = i64::try_from(index.live(now))?;
        account_rows.push(SeededAccount {
            account: NewAccount {
                account_ref,
                glass: Some(GlassRow { link: sealed, suite, sender: sender.clone(), tag }),
                glass_key_id: key_id.clone(),
                created_hour: hour,
                relations: vec![],
            },
            sealed_index: index.seal(&keys.link, &account_ref, now)?,
            live,
        });
    }
    Ok((account_rows, pseudonym_rows, status_rows))
}
