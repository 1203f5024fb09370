//! Attacks on a database copy, without any key. Each one groups pseudonym
//! ids; the attacker discovers everything generically from the snapshot
//! (which rows name a pseudonym, which name an account), so a new table or
//! column is attacked without editing this file.
//!
//! - pseudonym-side row: a value equals what hubs see of a pseudonym (its
//!   id or public key), or is a URI whose last segment is its id;
//! - account key: any value of a column named `account_ref` or of the
//!   `accounts` table's first column; an account-side row holds one.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::score::Grouping;
use super::snapshot::{Cell, Row, Table};

/// (attack name, its grouping).
pub type Attack = (String, Grouping);

pub struct View<'a> {
    tables: &'a [Table],
    /// Public value (id, key) → pseudonym index in the truth.
    ids: &'a HashMap<Vec<u8>, usize>,
    keys: HashSet<Vec<u8>>,
}

impl<'a> View<'a> {
    pub fn new(tables: &'a [Table], ids: &'a HashMap<Vec<u8>, usize>) -> Self {
        let mut keys = HashSet::new();
        for table in tables {
            for (i, column) in table.columns.iter().enumerate() {
                if column == "account_ref" || (table.name == "accounts" && i == 0) {
                    for row in &table.rows {
                        if let Some(Cell::Bytes(b)) = &row[i]
                            && !b.is_empty()
                        {
                            keys.insert(b.clone());
                        }
                    }
                }
            }
        }
        Self { tables, ids, keys }
    }

    /// (pseudonyms found in some row, account keys found).
    pub fn coverage(&self) -> (usize, usize) {
        let rows = self.tables.iter().flat_map(|t| &t.rows);
        let seen: HashSet<usize> = rows.filter_map(|r| self.pseudonym_of(r)).collect();
        (seen.len(), self.keys.len())
    }

    fn pseudonym_of(&self, row: &Row) -> Option<usize> {
        row.iter()
            .flatten()
            .find_map(|cell| match cell {
                Cell::Bytes(b) => self.ids.get(b).or_else(|| {
                    let slash = b.iter().rposition(|c| *c == b'/')?;
                    self.ids.get(&b[slash + 1..])
                }),
                Cell::Int(_) => None,
            })
            .copied()
    }

    fn key_of(&self, row: &Row) -> Option<String> {
        row.iter().flatten().find_map(|cell| match cell {
            Cell::Bytes(b) if self.keys.contains(b) => Some(group(b)),
            _ => None,
        })
    }

    /// Whether column `i` of `table` holds account keys.
    fn holds_keys(&self, table: &Table, i: usize) -> bool {
        table.rows.iter().any(|r| matches!(&r[i], Some(Cell::Bytes(b)) if self.keys.contains(b)))
    }

    fn pseudonym_tables(&self) -> Vec<&'a Table> {
        self.tables
            .iter()
            .filter(|t| t.rows.iter().any(|r| self.pseudonym_of(r).is_some()))
            .collect()
    }

    fn account_tables(&self) -> Vec<&'a Table> {
        self.tables.iter().filter(|t| t.rows.iter().any(|r| self.key_of(r).is_some())).collect()
    }

    /// Every attack on the snapshot.
    pub fn all(&self) -> Vec<Attack> {
        let mut attacks = Vec::new();
        for p in self.pseudonym_tables() {
            for a in self.account_tables() {
                if p.name != a.name {
                    attacks.extend(self.order_zip(p, a));
                }
            }
            attacks.extend(self.same_value(p));
            attacks.push(self.same_row(p));
            attacks.push(self.neighbours(p));
            if let Some(attack) = self.xid_predecessor(p) {
                attacks.push(attack);
            }
            for a in self.account_tables() {
                attacks.extend(self.value_join(p, a));
            }
        }
        attacks.push(self.all_columns_join());
        for t in self.tables {
            if t.name != "pseudonyms" {
                attacks.push(self.chain_join(t));
            }
        }
        attacks
    }

    /// Rows of one transaction sit side by side: zip the pseudonym rows with
    /// the account-keyed rows in physical order, from the first row and
    /// from the last. Rows with an emptied value (a deleted account's
    /// tombstones) have no account-side partner and are skipped.
    fn order_zip(&self, p: &Table, a: &Table) -> Vec<Attack> {
        let pseudonyms: Vec<usize> = p
            .rows
            .iter()
            .filter(|r| !r.iter().flatten().any(|c| *c == Cell::Bytes(Vec::new())))
            .filter_map(|r| self.pseudonym_of(r))
            .collect();
        let keys: Vec<String> = a.rows.iter().filter_map(|r| self.key_of(r)).collect();
        let head = pseudonyms.iter().zip(&keys);
        let tail = pseudonyms.iter().rev().zip(keys.iter().rev());
        let collect = |pairs: &mut dyn Iterator<Item = (&usize, &String)>| {
            let mut grouping = Grouping::new();
            for (p, k) in pairs {
                grouping.entry(*p).or_insert_with(|| k.clone());
            }
            grouping
        };
        vec![
            (format!("order-zip-head {} ~ {}", p.name, a.name), collect(&mut { head })),
            (format!("order-zip-tail {} ~ {}", p.name, a.name), collect(&mut { tail })),
        ]
    }

    /// Rows written together sit together: pair each pseudonym row with the
    /// next one in physical order (first with second, third with fourth…).
    fn neighbours(&self, p: &Table) -> Attack {
        let mut grouping = Grouping::new();
        let rows = p.rows.iter().filter_map(|r| self.pseudonym_of(r));
        for (i, pseudonym) in rows.enumerate() {
            grouping.entry(pseudonym).or_insert_with(|| format!("pair {}", i / 2));
        }
        (format!("order-neighbours {}", p.name), grouping)
    }

    /// A live reader or a file copy sees transaction ids (PostgreSQL
    /// `xmin`): at low load, the transaction just before the one that
    /// wrote a pseudonym row is the same request's account-side write. Each
    /// pseudonym takes the account of the account-side rows with the
    /// closest smaller `xmin`, when they name only one.
    fn xid_predecessor(&self, p: &Table) -> Option<Attack> {
        let xmin_of = |t: &Table, r: &Row| {
            let i = t.columns.iter().position(|c| c == "xmin")?;
            match &r[i] {
                Some(Cell::Int(x)) => Some(*x),
                _ => None,
            }
        };
        p.columns.iter().position(|c| c == "xmin")?;
        let mut by_xid: BTreeMap<i64, HashSet<String>> = BTreeMap::new();
        for (table, row, key) in self.keyed_rows() {
            if let Some(x) = xmin_of(table, row) {
                by_xid.entry(x).or_default().insert(key);
            }
        }
        let mut grouping = Grouping::new();
        for row in &p.rows {
            if let (Some(pseudonym), Some(x)) = (self.pseudonym_of(row), xmin_of(p, row))
                && let Some((_, keys)) = by_xid.range(..x).next_back()
                && keys.len() == 1
            {
                let key = keys.iter().next().cloned().unwrap_or_default();
                grouping.entry(pseudonym).or_insert(key);
            }
        }
        Some((format!("xid-predecessor {}", p.name), grouping))
    }

    /// Pseudonyms sharing a value (a stamp, a transaction id) in one column.
    fn same_value(&self, p: &Table) -> Vec<Attack> {
        (0..p.columns.len())
            .filter(|i| !self.holds_keys(p, *i))
            .map(|i| {
                let mut grouping = Grouping::new();
                for row in &p.rows {
                    if let (Some(pseudonym), Some(cell)) = (self.pseudonym_of(row), &row[i]) {
                        grouping.entry(pseudonym).or_insert_with(|| format!("{cell:?}"));
                    }
                }
                (format!("same-value {}.{}", p.name, p.columns[i]), grouping)
            })
            .collect()
    }

    /// A row that names a pseudonym and an account at once.
    fn same_row(&self, p: &Table) -> Attack {
        let mut grouping = Grouping::new();
        for row in &p.rows {
            if let (Some(pseudonym), Some(key)) = (self.pseudonym_of(row), self.key_of(row)) {
                grouping.entry(pseudonym).or_insert(key);
            }
        }
        (format!("same-row {}", p.name), grouping)
    }

    /// `p.c = a.d` for every pair of columns: a pseudonym takes the account
    /// of the account-side rows holding its value, when they name only one.
    fn value_join(&self, p: &Table, a: &Table) -> Vec<Attack> {
        let mut attacks = Vec::new();
        for d in 0..a.columns.len() {
            let mut index: HashMap<&Cell, HashSet<String>> = HashMap::new();
            for row in &a.rows {
                if let (Some(key), Some(cell)) = (self.key_of(row), &row[d]) {
                    index.entry(cell).or_default().insert(key);
                }
            }
            for c in 0..p.columns.len() {
                if self.holds_keys(p, c) || (p.name == a.name && c == d) {
                    continue; // a pseudonym and an account key in one row: `same-row`
                }
                let mut grouping = Grouping::new();
                for row in &p.rows {
                    if let (Some(pseudonym), Some(cell)) = (self.pseudonym_of(row), &row[c])
                        && let Some(keys) = index.get(cell).filter(|k| k.len() == 1)
                    {
                        let key = keys.iter().next().cloned().unwrap_or_default();
                        grouping.entry(pseudonym).or_insert(key);
                    }
                }
                let name =
                    format!("value-join {}.{} = {}.{}", p.name, p.columns[c], a.name, a.columns[d]);
                attacks.push((name, grouping));
            }
        }
        attacks
    }

    /// Every fine-grained value of every pseudonym-side row against every
    /// account-side row at once: a pseudonym takes an account when all of
    /// its unambiguous matches agree.
    fn all_columns_join(&self) -> Attack {
        let index = self.index(self.keyed_rows());
        ("value-join (all columns at once)".into(), self.vote(&index))
    }

    /// Two hops: rows of `t` that hold no account key take one through
    /// their values (all matches agreeing), then pseudonyms take one
    /// through values shared with those rows.
    fn chain_join(&self, t: &Table) -> Attack {
        let accounts = self.index(self.keyed_rows());
        let derived = t.rows.iter().filter(|r| self.key_of(r).is_none()).filter_map(|r| {
            let key = agreed(fine_cells(t, r).filter_map(|c| Some((c, unique(&accounts, c)?))))?;
            Some((t, r, key))
        });
        let index = self.index(derived);
        (format!("chain-join via {}", t.name), self.vote(&index))
    }

    /// Every account-side row with its key.
    fn keyed_rows(&self) -> Vec<(&'a Table, &'a Row, String)> {
        let mut rows = Vec::new();
        for table in self.tables {
            for row in &table.rows {
                if let Some(key) = self.key_of(row) {
                    rows.push((table, row, key));
                }
            }
        }
        rows
    }

    /// Fine-grained value → the account keys of the rows holding it.
    fn index<'r>(
        &self,
        rows: impl IntoIterator<Item = (&'r Table, &'r Row, String)>,
    ) -> HashMap<&'r Cell, HashSet<String>> {
        let mut index: HashMap<&Cell, HashSet<String>> = HashMap::new();
        for (table, row, key) in rows {
            for cell in fine_cells(table, row) {
                index.entry(cell).or_default().insert(key.clone());
            }
        }
        index
    }

    fn vote(&self, index: &HashMap<&Cell, HashSet<String>>) -> Grouping {
        let mut votes: BTreeMap<usize, Vec<(&Cell, String)>> = BTreeMap::new();
        for table in self.tables {
            for row in &table.rows {
                if let Some(pseudonym) = self.pseudonym_of(row) {
                    let keys = votes.entry(pseudonym).or_default();
                    keys.extend(
                        fine_cells(table, row).filter_map(|c| Some((c, unique(index, c)?))),
                    );
                }
            }
        }
        votes.into_iter().filter_map(|(p, keys)| Some((p, agreed(keys)?))).collect()
    }
}

/// Values rare enough to identify something: bytes of 8 or more, integers
/// of 1000 or more (timestamps), and every transaction id.
fn fine_cells<'r>(table: &'r Table, row: &'r Row) -> impl Iterator<Item = &'r Cell> {
    row.iter().zip(&table.columns).filter_map(|(cell, column)| match cell {
        Some(c @ Cell::Bytes(b)) if b.len() >= 8 => Some(c),
        Some(c @ Cell::Int(v)) if v.abs() >= 1000 || column == "xmin" => Some(c),
        _ => None,
    })
}

fn unique(index: &HashMap<&Cell, HashSet<String>>, cell: &Cell) -> Option<String> {
    index.get(cell).filter(|k| k.len() == 1).and_then(|k| k.iter().next().cloned())
}

/// The one key all votes name; none when they disagree or are absent.
/// Matches on bytes (ids, tags) outvote matches on integers (stamps,
/// which coincide by accident far more often).
fn agreed<'c>(votes: impl IntoIterator<Item = (&'c Cell, String)>) -> Option<String> {
    let votes: Vec<(&Cell, String)> = votes.into_iter().collect();
    let strong = votes.iter().any(|(c, _)| matches!(c, Cell::Bytes(_)));
    let mut keys =
        votes.into_iter().filter(|(c, _)| !strong || matches!(c, Cell::Bytes(_))).map(|(_, k)| k);
    let first = keys.next()?;
    keys.all(|k| k == first).then_some(first)
}

fn group(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}
