//! What an adversary with a copy of the database sees: every row of every
//! table, with the physical facts a dump carries beside the values (SQLite
//! `rowid`; PostgreSQL `ctid` order and `xmin`). Read through its own
//! read-only connection, never through the service.

use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, Row as _, SqliteConnection};

use crate::support::{Db, TestApp};

/// One stored value; text is kept as its bytes, so a text id and the same
/// id stored as bytes compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cell {
    Int(i64),
    Bytes(Vec<u8>),
}

/// One row's values, `None` for NULL.
pub type Row = Vec<Option<Cell>>;

#[derive(Debug)]
pub struct Table {
    pub name: String,
    /// On PostgreSQL the last column is the pseudo-column `xmin`.
    pub columns: Vec<String>,
    /// In physical order: `rowid`, or the key of a `WITHOUT ROWID` table
    /// (SQLite); `ctid` (PostgreSQL).
    pub rows: Vec<Row>,
}

/// Reads every table of the app's database.
pub async fn read(app: &TestApp) -> Vec<Table> {
    let url = &app.state.config.database_url;
    match app.db {
        Db::Sqlite => {
            let options = SqliteConnectOptions::from_str(url).expect("sqlite url").read_only(true);
            let mut conn = SqliteConnection::connect_with(&options).await.expect("sqlite");
            read_sqlite(&mut conn).await
        }
        Db::Postgres => {
            let mut conn = PgConnection::connect(url).await.expect("postgres");
            sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                .execute(&mut conn)
                .await
                .expect("read only");
            read_postgres(&mut conn).await
        }
    }
}

/// A select item that renders a column as tagged text: `x` + hex for
/// bytes, `i` + digits for integers, `t` + the text otherwise.
fn tagged(column: &str, is_bytes: bool, is_int: bool) -> String {
    match (is_bytes, is_int) {
        (true, _) => format!("'x' || encode(\"{column}\", 'hex')"),
        (_, true) => format!("'i' || \"{column}\"::text"),
        _ => format!("'t' || \"{column}\"::text"),
    }
}

fn parse(tagged: Option<String>) -> Option<Cell> {
    let text = tagged?;
    let (tag, rest) = text.split_at(1);
    Some(match tag {
        "x" => Cell::Bytes(hex(rest)),
        "i" => Cell::Int(rest.parse().expect("integer")),
        _ => Cell::Bytes(rest.as_bytes().to_vec()),
    })
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

async fn read_sqlite(conn: &mut SqliteConnection) -> Vec<Table> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("tables");
    let mut tables = Vec::new();
    for name in names {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(&name)
                .fetch_all(&mut *conn)
                .await
                .expect("columns");
        // SQLite types values, not columns: tag each by its own type.
        let items: Vec<String> = columns
            .iter()
            .map(|c| {
                format!(
                    "CASE typeof(\"{c}\") WHEN 'null' THEN NULL WHEN 'blob' THEN 'x' || hex(\"{c}\") \
                     WHEN 'integer' THEN 'i' || \"{c}\" ELSE 't' || \"{c}\" END"
                )
            })
            .collect();
        // A `WITHOUT ROWID` table's file order is its primary key order,
        // which a plain scan returns; every other table's is its rowid.
        let create: String =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(&name)
                .fetch_one(&mut *conn)
                .await
                .expect("schema");
        let order =
            if create.to_uppercase().contains("WITHOUT ROWID") { "" } else { " ORDER BY rowid" };
        let sql = format!("SELECT {} FROM \"{name}\"{order}", items.join(", "));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
            .expect("rows")
            .iter()
            .map(|row| {
                (0..columns.len())
                    .map(|i| parse(row.try_get::<Option<String>, _>(i).expect("cell")))
                    .collect()
            })
            .collect();
        tables.push(Table { name, columns, rows });
    }
    tables
}

async fn read_postgres(conn: &mut PgConnection) -> Vec<Table> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("tables");
    let mut tables = Vec::new();
    for name in names {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await
        .expect("columns");
        let mut items: Vec<String> =
            columns.iter().map(|(c, t)| tagged(c, t == "bytea", t.contains("int"))).collect();
        items.push("'i' || xmin::text".into());
        let sql = format!("SELECT ctid::text, {} FROM \"{name}\"", items.join(", "));
        let mut rows: Vec<((u64, u64), Row)> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
            .expect("rows")
            .iter()
            .map(|row| {
                let ctid: String = row.try_get(0).expect("ctid");
                let cells =
                    (1..=items.len()).map(|i| parse(row.try_get(i).expect("cell"))).collect();
                (ctid_order(&ctid), cells)
            })
            .collect();
        rows.sort_by_key(|(ctid, _)| *ctid);
        let mut columns: Vec<String> = columns.into_iter().map(|(c, _)| c).collect();
        columns.push("xmin".into());
        tables.push(Table { name, columns, rows: rows.into_iter().map(|(_, r)| r).collect() });
    }
    tables
}

/// `(page,item)` as a sortable pair.
fn ctid_order(ctid: &str) -> (u64, u64) {
    let inner = ctid.trim_matches(|c| c == '(' || c == ')');
    let (page, item) = inner.split_once(',').expect("ctid");
    (page.parse().expect("page"), item.parse().expect("item"))
}
