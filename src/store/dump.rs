//! A text rendering of every table, for privacy audits: tests (and
//! operators) search it for values that must never be stored.

use super::{Backend, Store, StoreError};

impl Store {
    /// Every row of every table as one line of text; bytes appear in hex.
    pub async fn dump_all_tables(&self) -> Result<String, StoreError> {
        let tables_sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name AS t FROM sqlite_master WHERE type = 'table' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT table_name::text AS t FROM information_schema.tables \
                 WHERE table_schema = current_schema() ORDER BY table_name"
            }
        };
        let tables: Vec<String> = sqlx::query_scalar(tables_sql).fetch_all(&self.pool).await?;
        let mut out = String::new();
        for table in tables {
            let select = match self.backend {
                Backend::Sqlite => {
                    let columns: Vec<String> =
                        sqlx::query_scalar("SELECT name AS c FROM pragma_table_info($1)")
                            .bind(&table)
                            .fetch_all(&self.pool)
                            .await?;
                    let quoted: Vec<String> =
                        columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
                    format!("SELECT {} AS r FROM \"{table}\"", quoted.join(" || ',' || "))
                }
                Backend::Postgres => format!("SELECT t::text AS r FROM \"{table}\" t"),
            };
            // Table and column names come from the catalog and are quoted.
            let rows: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(select)).fetch_all(&self.pool).await?;
            for row in rows {
                out.push_str(&table);
                out.push_str(": ");
                out.push_str(&row);
                out.push('\n');
            }
        }
        Ok(out)
    }
}
