//! A text rendering of every table, for privacy audits: tests (and
//! operators) search it for values that must never be stored.

use super::{Backend, Store, StoreError, get};

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
        let tables: Vec<String> = sqlx::query(tables_sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| get(r, "t"))
            .collect::<Result<_, _>>()?;
        let mut out = String::new();
        for table in tables {
            let select = match self.backend {
                Backend::Sqlite => {
                    let columns: Vec<String> =
                        sqlx::query("SELECT name AS c FROM pragma_table_info($1)")
                            .bind(&table)
                            .fetch_all(&self.pool)
                            .await?
                            .iter()
                            .map(|r| get(r, "c"))
                            .collect::<Result<_, _>>()?;
                    let quoted: Vec<String> =
                        columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
                    format!("SELECT {} AS r FROM \"{table}\"", quoted.join(" || ',' || "))
                }
                Backend::Postgres => format!("SELECT t::text AS r FROM \"{table}\" t"),
            };
            // Table and column names come from the catalog and are quoted.
            for row in sqlx::query(sqlx::AssertSqlSafe(select)).fetch_all(&self.pool).await? {
                out.push_str(&table);
                out.push_str(": ");
                out.push_str(&get::<String>(&row, "r")?);
                out.push('\n');
            }
        }
        Ok(out)
    }
}
