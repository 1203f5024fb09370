//! The account sides of a whole mint batch in a fixed number of statements,
//! whatever its size: read every account row, window and tombstone the
//! batch touches at once (the account rows locked, in one order), decide
//! each request in memory in the batch's order, then write every outcome in
//! a handful of multi-row statements.
//!
//! This is the fast path of the mint writer; `accounts::account_job`, one
//! request at a time, is the exact path it falls back to. It decides
//! exactly what that path would (same checks, same order, same refusals),
//! and where it cannot be sure (an account another replica created meanwhile,
//! a window another writer charged without the account's lock) it reports
//! [`Fast::Fallback`], the caller rolls the batch back and runs the exact path.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{Any, Transaction};

use super::accounts::{
    IndexChange, LockedAccount, MintJob, NewAccount, StateAndIndex, StateRow, insert_new_accounts,
    reseal_glass,
};
use super::limits::{Limited, SharedLedger};
use super::pseudonyms::{placeholders, push_placeholders};
use super::shapes::{MAX_PIECE, padded, padded_len, pieces};
use super::{Backend, StoreError};
use crate::core::account::AccountState;

/// What the fast path made of a batch.
pub(super) enum Fast {
    /// Each job's outcome, in job order; the writes are in the transaction.
    Done(Vec<Result<(), StoreError>>),
    /// Something changed under the batch that only the exact path decides:
    /// roll the transaction back and run that.
    Fallback,
}

/// A sealed pseudonym index and its count of live pseudonyms, to write.
type IndexWrite = (Vec<u8>, i64);

/// An account as the batch sees it while deciding.
struct Account {
    /// `None`: no row (yet).
    row: Option<StateAndIndex>,
    glass_key_id: Option<Vec<u8>>,
    /// The job whose request creates the row in this batch.
    created_by: Option<usize>,
    /// The index and live count to write, once a request changed them.
    index: Option<IndexWrite>,
    /// The job whose freshly sealed link replaces the stored one.
    reseal_by: Option<usize>,
    /// Whether the account had a row before this batch (its windows are
    /// pruned on their first charge; a new account has none to prune).
    existed: bool,
}

type WindowKey = (Vec<u8>, &'static str, i64);

struct Window {
    stored: i64,
    taken: i64,
    expires_at: i64,
    limit: i64,
    prune: bool,
}

/// Decides and writes the account sides of `jobs`, visited in `order`
/// (by account, arrival order within one), admitting each as [`Admission`]
/// says.
pub(super) async fn account_sides(
    tx: &mut Transaction<'static, Any>,
    locked: LockedAccounts,
    jobs: &[MintJob],
    order: &[usize],
    ledger: &mut SharedLedger,
) -> Result<Fast, StoreError> {
    let LockedAccounts { refs, rows: mut accounts } = locked;
    let buried = tombstoned(tx, jobs, &accounts).await?;
    let mut actions: Vec<&'static str> =
        jobs.iter().flat_map(|j| j.charges.windows.iter().map(|w| w.action)).collect();
    actions.sort_unstable();
    actions.dedup();
    let mut windows = read_windows(tx, &refs, &actions).await?;

    let mut outcomes: Vec<Result<(), StoreError>> = jobs.iter().map(|_| Ok(())).collect();
    let mut admission = Admission::default();
    for &i in order {
        let (Some(job), Some(slot)) = (jobs.get(i), outcomes.get_mut(i)) else { continue };
        if let Err(refusal) = admission.admit(job, ledger) {
            *slot = Err(refusal);
            continue;
        }
        let account = accounts.entry(job.account.account_ref.0).or_insert_with(Account::missing);
        let outcome = decide(i, job, account, &buried, &mut windows);
        admission.settle(job, ledger, &outcome);
        *slot = outcome;
    }

    if !insert_accounts(tx, jobs, &accounts).await? {
        return Ok(Fast::Fallback);
    }
    update_indexes(tx, &accounts).await?;
    reseal(tx, jobs, &accounts).await?;
    if !charge_windows(tx, &windows, &actions).await? {
        return Ok(Fast::Fallback);
    }
    prune_windows(tx, &windows).await?;
    // In account-ref order, as the exact path writes them: arrival order
    // would tell when each account's request came.
    let accepted: Vec<&MintJob> = order
        .iter()
        .filter(|&&i| outcomes.get(i).is_some_and(Result::is_ok))
        .filter_map(|&i| jobs.get(i))
        .collect();
    put_events(tx, &accepted).await?;
    put_relations(tx, &accepted).await?;
    Ok(Fast::Done(outcomes))
}

impl Account {
    fn missing() -> Self {
        Account {
            row: None,
            glass_key_id: None,
            created_by: None,
            index: None,
            reseal_by: None,
            existed: false,
        }
    }
}

/// One request against the batch's view of its account, in the order and
/// with the refusals of `accounts::account_job`; on success its effects
/// are applied to the view, on refusal nothing is.
fn decide(
    i: usize,
    job: &MintJob,
    account: &mut Account,
    buried: &HashSet<[u8; 32]>,
    windows: &mut HashMap<WindowKey, Window>,
) -> Result<(), StoreError> {
    let creates = account.row.is_none();
    if creates {
        if job.account.glass.is_none() {
            return Err(StoreError::AccountMissing);
        }
        if job.tombstone.is_some_and(|tag| buried.contains(&tag)) {
            return Err(StoreError::Restricted);
        }
    }
    let (state, until, stored_index, glass_key_id) = match &account.row {
        Some(row) => (
            row.state.status,
            row.state.status_until,
            account
                .index
                .as_ref()
                .map(|(sealed, _)| sealed.as_slice())
                .or(row.pseudonym_index.as_deref()),
            account.glass_key_id.as_deref(),
        ),
        None => (AccountState::Active, None, None, Some(job.account.glass_key_id.as_slice())),
    };
    if !state.effective(until, job.charges.now).may_act() {
        return Err(StoreError::Restricted);
    }
    let (sealed, live) = match (job.index)(stored_index) {
        IndexChange::Write { sealed, live } => (sealed, live),
        IndexChange::OverActive => return Err(StoreError::OverLimit(Limited::Active)),
        IndexChange::Unreadable => return Err(StoreError::Corrupt("pseudonym index")),
    };
    let reseal = glass_key_id != Some(job.account.glass_key_id.as_slice());
    if reseal && job.account.glass.is_none() {
        return Err(StoreError::GlassOutdated);
    }
    // A request larger than a window's limit first, as the exact path
    // names it (`limits::charge_windows`), then each window's room.
    if let Some(n) = job.charges.windows.iter().position(|w| w.amount > w.limit) {
        return Err(StoreError::OverLimit(Limited::Window(n)));
    }
    for (n, w) in job.charges.windows.iter().enumerate() {
        let level = windows.get(&(w.subject.clone(), w.action, w.window_start));
        let used = level.map_or(0, |l| l.stored.saturating_add(l.taken));
        if used.saturating_add(w.amount) > w.limit {
            return Err(StoreError::OverLimit(Limited::Window(n)));
        }
    }
    // Accepted: apply to the view.
    for w in &job.charges.windows {
        let level =
            windows.entry((w.subject.clone(), w.action, w.window_start)).or_insert(Window {
                stored: 0,
                taken: 0,
                expires_at: w.expires_at,
                limit: w.limit,
                prune: account.existed,
            });
        level.taken = level.taken.saturating_add(w.amount);
        level.limit = level.limit.min(w.limit);
        level.prune = account.existed;
    }
    if creates {
        account.row = Some(StateAndIndex {
            state: StateRow { status: AccountState::Active, status_until: None },
            pseudonym_index: None,
        });
        account.glass_key_id = Some(job.account.glass_key_id.clone());
        account.created_by = Some(i);
    } else if reseal {
        account.glass_key_id = Some(job.account.glass_key_id.clone());
        account.reseal_by = Some(i);
    }
    account.index = Some((sealed, live));
    Ok(())
}

/// The batch's accounts, sorted, once each.
fn batch_refs(jobs: &[MintJob]) -> Vec<[u8; 32]> {
    let mut refs: Vec<[u8; 32]> = jobs.iter().map(|j| j.account.account_ref.0).collect();
    refs.sort_unstable();
    refs.dedup();
    refs
}

/// The batch's accounts (sorted, once each) and its existing account rows,
/// locked, as [`lock_batch`] read them.
pub(super) struct LockedAccounts {
    refs: Vec<[u8; 32]>,
    rows: BTreeMap<[u8; 32], Account>,
}

/// What both paths check of each request before its account side, in the
/// batch's order: a key certified by an earlier request of the batch
/// refuses it before it is charged anything, then the shared limits are
/// charged in memory (a refusal there costs no statement). Once the account
/// side has decided, [`Admission::settle`] keeps its keys, or gives its
/// shared charges back.
#[derive(Default)]
pub(super) struct Admission<'a> {
    keys: HashSet<&'a [u8]>,
}

impl<'a> Admission<'a> {
    pub(super) fn admit(&self, job: &MintJob, ledger: &mut SharedLedger) -> Result<(), StoreError> {
        if job.pseudonyms.iter().any(|row| self.keys.contains(row.public_key.as_slice())) {
            return Err(StoreError::Conflict("pseudonyms.public_key".into()));
        }
        ledger.charge(&job.charges).map_err(StoreError::OverLimit)
    }

    pub(super) fn settle(
        &mut self,
        job: &'a MintJob,
        ledger: &mut SharedLedger,
        outcome: &Result<(), StoreError>,
    ) {
        match outcome {
            Ok(()) => self.keys.extend(job.pseudonyms.iter().map(|row| row.public_key.as_slice())),
            Err(_) => ledger.refund(&job.charges),
        }
    }
}

/// Takes the batch's accounts before anything else of the batch. On
/// PostgreSQL first a transaction-scoped advisory lock per account (also
/// for accounts with no row yet, which no row lock can cover), in one
/// order; then every existing account row, in account-ref order. Two
/// batches that share an account then meet at its advisory lock before
/// either holds a shared row or has inserted a new account. Without it,
/// PostgreSQL deadlocked under load (ten mints per account: a second's wait
/// for its detector, then a retry): a batch holding an existing row while
/// inserting a new account against another that had inserted that account
/// first; a batch run again with its shared rows locked first against one
/// waiting for them with a new account inserted (found by review). Advisory
/// locks live in memory only: nothing of them reaches a row.
pub(super) async fn lock_batch(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    jobs: &[MintJob],
) -> Result<LockedAccounts, StoreError> {
    let refs = batch_refs(jobs);
    if backend == Backend::Postgres {
        let mut keys: Vec<i64> = refs.iter().map(advisory_key).collect();
        keys.sort_unstable();
        keys.dedup();
        for chunk in keys.chunks(MAX_PIECE) {
            // The ordered subquery feeds the aggregate in order, so the
            // locks are taken in key order (a key padded in twice is
            // taken twice by the same transaction, which is no wait).
            let mut sql =
                String::from("SELECT COUNT(pg_advisory_xact_lock(k)) FROM (SELECT k FROM (VALUES ");
            push_placeholders(&mut sql, padded_len(chunk.len()), 1, "");
            sql.push_str(") AS v (k) ORDER BY k) AS ordered");
            let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for key in padded(chunk) {
                query = query.bind(*key);
            }
            query.fetch_one(&mut **tx).await?;
        }
    }
    let rows = lock_accounts(tx, backend, &refs).await?;
    Ok(LockedAccounts { refs, rows })
}

/// An account's advisory lock key: the first 8 bytes of its (uniformly
/// random) ref; two accounts sharing one only wait for each other.
fn advisory_key(account_ref: &[u8; 32]) -> i64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&account_ref[..8]);
    i64::from_be_bytes(head)
}

/// Every account row of the batch, locked in account order (PostgreSQL:
/// `FOR UPDATE`, so writers meet in one order and never deadlock; SQLite:
/// the batch's `BEGIN IMMEDIATE` holds the whole database already).
async fn lock_accounts(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    refs: &[[u8; 32]],
) -> Result<BTreeMap<[u8; 32], Account>, StoreError> {
    let mut accounts = BTreeMap::new();
    for chunk in refs.chunks(MAX_PIECE) {
        let lock = match backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT account_ref, status, status_until, pseudonym_index, glass_key_id \
             FROM accounts WHERE account_ref IN ({}) ORDER BY account_ref{lock}",
            placeholders(1, padded_len(chunk.len()))
        );
        // Only placeholders are formatted in; every value is bound.
        let mut query = sqlx::query_as::<_, RefAndAccount>(sqlx::AssertSqlSafe(sql));
        for account_ref in padded(chunk) {
            query = query.bind(account_ref.as_slice());
        }
        for row in query.fetch_all(&mut **tx).await? {
            let account_ref = <[u8; 32]>::try_from(row.account_ref.as_slice())
                .map_err(|_| StoreError::Corrupt("32-byte account ref"))?;
            accounts.insert(
                account_ref,
                Account {
                    row: Some(row.locked.row),
                    glass_key_id: row.locked.glass_key_id,
                    existed: true,
                    ..Account::missing()
                },
            );
        }
    }
    Ok(accounts)
}

#[derive(sqlx::FromRow)]
struct RefAndAccount {
    account_ref: Vec<u8>,
    #[sqlx(flatten)]
    locked: LockedAccount,
}

/// The tombstone tags, among those of the batch's missing accounts, that
/// are buried (their accounts may not return).
async fn tombstoned(
    tx: &mut Transaction<'static, Any>,
    jobs: &[MintJob],
    accounts: &BTreeMap<[u8; 32], Account>,
) -> Result<HashSet<[u8; 32]>, StoreError> {
    let mut tags: Vec<[u8; 32]> = jobs
        .iter()
        .filter(|job| !accounts.contains_key(&job.account.account_ref.0))
        .filter_map(|job| job.tombstone)
        .collect();
    tags.sort_unstable();
    tags.dedup();
    let mut buried = HashSet::new();
    for chunk in tags.chunks(MAX_PIECE) {
        let sql = format!(
            "SELECT tag FROM account_tombstones WHERE tag IN ({})",
            placeholders(1, padded_len(chunk.len()))
        );
        let mut query = sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql));
        for tag in padded(chunk) {
            query = query.bind(tag.as_slice());
        }
        for tag in query.fetch_all(&mut **tx).await? {
            if let Ok(tag) = <[u8; 32]>::try_from(tag.as_slice()) {
                buried.insert(tag);
            }
        }
    }
    Ok(buried)
}

/// Every counter of the batch's accounts for the actions it charges.
async fn read_windows(
    tx: &mut Transaction<'static, Any>,
    refs: &[[u8; 32]],
    actions: &[&'static str],
) -> Result<HashMap<WindowKey, Window>, StoreError> {
    let mut windows = HashMap::new();
    if actions.is_empty() {
        return Ok(windows);
    }
    for chunk in refs.chunks(MAX_PIECE) {
        let sql = format!(
            "SELECT subject, action, window_start, expires_at, n FROM rate_windows \
             WHERE action IN ({}) AND subject IN ({})",
            placeholders(1, actions.len()),
            placeholders(actions.len() + 1, padded_len(chunk.len()))
        );
        let mut query =
            sqlx::query_as::<_, (Vec<u8>, String, i64, i64, i64)>(sqlx::AssertSqlSafe(sql));
        for action in actions {
            query = query.bind(*action);
        }
        for account_ref in padded(chunk) {
            query = query.bind(account_ref.as_slice());
        }
        for (subject, action, window_start, expires_at, n) in query.fetch_all(&mut **tx).await? {
            let Some(action) = static_action(actions, &action) else { continue };
            windows.insert(
                (subject, action, window_start),
                Window { stored: n, taken: 0, expires_at, limit: i64::MAX, prune: false },
            );
        }
    }
    Ok(windows)
}

/// The rows of accounts first seen in this batch, with the index their
/// requests left. `false`: another writer created one of them meanwhile.
async fn insert_accounts(
    tx: &mut Transaction<'static, Any>,
    jobs: &[MintJob],
    accounts: &BTreeMap<[u8; 32], Account>,
) -> Result<bool, StoreError> {
    let new: Vec<(&NewAccount, &[u8], i64)> = accounts
        .values()
        .filter_map(|a| {
            let job = jobs.get(a.created_by?)?;
            let (sealed, live) = a.index.as_ref()?;
            Some((&job.account, sealed.as_slice(), *live))
        })
        .collect();
    Ok(insert_new_accounts(tx, &new).await? == new.len())
}

/// The new index and live count of every account that had a row, in one
/// statement per chunk (`CASE` on the account ref: the same SQL on both
/// databases).
async fn update_indexes(
    tx: &mut Transaction<'static, Any>,
    accounts: &BTreeMap<[u8; 32], Account>,
) -> Result<(), StoreError> {
    use std::fmt::Write;
    let changed: Vec<(&[u8; 32], &IndexWrite)> = accounts
        .iter()
        .filter(|(_, a)| a.existed)
        .filter_map(|(account_ref, a)| Some((account_ref, a.index.as_ref()?)))
        .collect();
    for chunk in pieces(&changed) {
        let n = chunk.len();
        // $1..$n: the refs; $n+1..$2n: the indexes; $2n+1..$3n: the counts.
        let mut index = String::from("CASE account_ref");
        let mut live = String::from("CASE account_ref");
        for r in 1..=n {
            let _ = write!(index, " WHEN ${r} THEN ${}", n + r);
            let _ = write!(live, " WHEN ${r} THEN ${}", 2 * n + r);
        }
        let sql = format!(
            "UPDATE accounts SET pseudonym_index = {index} END, active_pseudonyms = {live} END \
             WHERE account_ref IN ({})",
            placeholders(1, n)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (account_ref, _) in chunk {
            query = query.bind(account_ref.as_slice());
        }
        for (_, (sealed, _)) in chunk {
            query = query.bind(sealed.as_slice());
        }
        for (_, (_, count)) in chunk {
            query = query.bind(*count);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Links sealed anew with the current keys (rare: after a key rotation).
async fn reseal(
    tx: &mut Transaction<'static, Any>,
    jobs: &[MintJob],
    accounts: &BTreeMap<[u8; 32], Account>,
) -> Result<(), StoreError> {
    for job in accounts.values().filter_map(|a| jobs.get(a.reseal_by?)) {
        if let Some(glass) = &job.account.glass {
            reseal_glass(tx, &job.account, glass).await?;
        }
    }
    Ok(())
}

/// Adds what the batch took to each window, and checks the result against
/// its limit: a counter charged by someone who did not hold the account's
/// row (and so is not in the batch's view) sends the batch to the exact
/// path. `false`: that happened.
async fn charge_windows(
    tx: &mut Transaction<'static, Any>,
    windows: &HashMap<WindowKey, Window>,
    actions: &[&'static str],
) -> Result<bool, StoreError> {
    const COLUMNS: usize = 5;
    let taken: Vec<(&WindowKey, &Window)> = windows.iter().filter(|(_, w)| w.taken > 0).collect();
    for chunk in pieces(&taken) {
        let mut sql = String::from(
            "INSERT INTO rate_windows (subject, action, window_start, expires_at, n) VALUES ",
        );
        push_placeholders(&mut sql, chunk.len(), COLUMNS, "");
        sql.push_str(
            " ON CONFLICT (subject, action, window_start) \
             DO UPDATE SET n = rate_windows.n + excluded.n \
             RETURNING subject, action, window_start, n",
        );
        let mut query = sqlx::query_as::<_, (Vec<u8>, String, i64, i64)>(sqlx::AssertSqlSafe(sql));
        for ((subject, action, window_start), w) in chunk {
            query = query
                .bind(subject.as_slice())
                .bind(*action)
                .bind(*window_start)
                .bind(w.expires_at)
                .bind(w.taken);
        }
        let counted = query.fetch_all(&mut **tx).await?;
        if counted.len() != chunk.len() {
            return Ok(false);
        }
        for (subject, action, window_start, n) in counted {
            let Some(action) = static_action(actions, &action) else { return Ok(false) };
            let Some(w) = windows.get(&(subject, action, window_start)) else { return Ok(false) };
            if n != w.stored.saturating_add(w.taken) || n > w.limit {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The batch's own name for an action read back from the database.
fn static_action(actions: &[&'static str], read: &str) -> Option<&'static str> {
    actions.iter().find(|a| **a == read).copied()
}

/// The first charge of a window deletes the counter's earlier windows (as
/// `limits::charge_windows` does), one statement per action and window.
async fn prune_windows(
    tx: &mut Transaction<'static, Any>,
    windows: &HashMap<WindowKey, Window>,
) -> Result<(), StoreError> {
    let mut groups: BTreeMap<(&'static str, i64), Vec<&[u8]>> = BTreeMap::new();
    for ((subject, action, window_start), w) in windows {
        if w.prune && w.stored == 0 && w.taken > 0 {
            groups.entry((*action, *window_start)).or_default().push(subject.as_slice());
        }
    }
    for ((action, window_start), subjects) in groups {
        for chunk in subjects.chunks(MAX_PIECE) {
            let sql = format!(
                "DELETE FROM rate_windows WHERE action = $1 AND window_start < $2 \
                 AND subject IN ({})",
                placeholders(3, padded_len(chunk.len()))
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(action).bind(window_start);
            for subject in padded(chunk) {
                query = query.bind(*subject);
            }
            query.execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// The `pseudonym_minted` reputation events of the accepted requests.
async fn put_events(
    tx: &mut Transaction<'static, Any>,
    accepted: &[&MintJob],
) -> Result<(), StoreError> {
    const COLUMNS: usize = 5;
    let events: Vec<&&MintJob> =
        accepted.iter().filter(|job| job.charges.reputation_per_pseudonym != 0).collect();
    for chunk in pieces(&events) {
        let mut sql = String::from(
            "INSERT INTO reputation_events (id, account_ref, points, at, decays, kind) VALUES ",
        );
        push_placeholders(&mut sql, chunk.len(), COLUMNS, ", 'pseudonym_minted'");
        sql.push_str(" ON CONFLICT (id) DO UPDATE SET points = excluded.points, at = excluded.at");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for job in chunk {
            query = query
                .bind(job.event_id.as_slice())
                .bind(job.account.account_ref.0.as_slice())
                .bind(job.charges.reputation_per_pseudonym.saturating_mul(job.amount))
                .bind(job.charges.now)
                .bind(1i64);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The relation tags the accepted requests attach to their accounts.
async fn put_relations(
    tx: &mut Transaction<'static, Any>,
    accepted: &[&MintJob],
) -> Result<(), StoreError> {
    let mut pairs: Vec<(&[u8; 32], &[u8; 32])> = accepted
        .iter()
        .flat_map(|job| job.account.relations.iter().map(|tag| (tag, &job.account.account_ref.0)))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    for chunk in pieces(&pairs) {
        let mut sql = String::from("INSERT INTO account_relations (tag, account_ref) VALUES ");
        push_placeholders(&mut sql, chunk.len(), 2, "");
        sql.push_str(" ON CONFLICT (tag, account_ref) DO NOTHING");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for (tag, account_ref) in chunk {
            query = query.bind(tag.as_slice()).bind(account_ref.as_slice());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
