//! The state database: SQLite under the data directory by default, PostgreSQL
//! when `database_url` points at one; the same queries and migrations run on both.

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// Connects to `url` (creating a SQLite file if needed) and applies the migrations.
pub async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let mut options = AnyPoolOptions::new()
        // One writer at a time on SQLite avoids "database is locked" under load.
        .max_connections(if sqlite { 1 } else { 8 });
    if sqlite {
        // Every new connection: WAL (readers never block the writer), full fsync
        // (an acknowledged approval survives a crash), foreign keys, and a wait
        // instead of an error when another process (the CLI) holds the lock,
        // and deleted rows overwritten with zeros (erased ticket text must not
        // linger in free pages).
        options = options.after_connect(|connection, _| {
            Box::pin(async move {
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = FULL",
                    "PRAGMA foreign_keys = ON",
                    "PRAGMA busy_timeout = 5000",
                    "PRAGMA secure_delete = ON",
                ] {
                    sqlx::query(pragma).execute(&mut *connection).await?;
                }
                Ok(())
            })
        });
    }
    let pool = options.connect(url).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// After an erasure: on SQLite, copies the write-ahead log into the database
/// and truncates it, so the erased rows' old page images (the WAL keeps them
/// until a checkpoint) are gone from disk too. On PostgreSQL, dead rows are
/// the server's to vacuum; nothing is done here.
pub async fn checkpoint(pool: &AnyPool) -> Result<(), sqlx::Error> {
    if pool.connect_options().database_url.scheme() == "sqlite" {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// The default database URL: `switchboard.db` in the data directory.
pub fn default_url(data_dir: &std::path::Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("switchboard.db").display()
    )
}
