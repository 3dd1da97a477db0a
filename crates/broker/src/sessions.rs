//! The embedded registry of multipart sessions: a table in a SQLite file
//! under `DATA_DIR` (`multipart.sqlite3`), for a broker without `REDIS_URL`.
//! The API crate holds it as a [`SessionRegistry`] and never compiles SQLite;
//! `serve` and `cleanup` open the same file.

use std::path::Path;
use std::sync::Arc;

use broker_api::uploads::multipart::sessions::RedisSessions;
use broker_api::uploads::multipart::{MultipartSession, RegistryError, SessionRegistry};
use broker_core::Settings;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS multipart_sessions (
    upload_id TEXT PRIMARY KEY NOT NULL,
    object_key TEXT NOT NULL,
    tenant TEXT NOT NULL,
    subject TEXT NOT NULL,
    profile TEXT NOT NULL,
    size INTEGER,
    part_size INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    part_sha256 INTEGER NOT NULL DEFAULT 0
)";
/// A file made before `part_sha256` existed gains it (an error says it has it).
const ADD_PART_SHA256: &str = "ALTER TABLE multipart_sessions ADD COLUMN part_sha256 INTEGER NOT NULL DEFAULT 0";
const INDEX: &str = "CREATE INDEX IF NOT EXISTS multipart_sessions_expiry ON multipart_sessions (expires_at)";
const COLUMNS: &str = "upload_id, object_key, tenant, subject, profile, size, part_size, expires_at, part_sha256";

pub struct SqliteSessions {
    pool: SqlitePool,
}

fn db(error: sqlx::Error) -> RegistryError {
    RegistryError(format!("sqlite: {error}"))
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn session(row: &SqliteRow) -> MultipartSession {
    MultipartSession {
        upload_id: row.get("upload_id"),
        key: row.get("object_key"),
        tenant: row.get("tenant"),
        subject: row.get("subject"),
        profile: row.get("profile"),
        size: row.get::<Option<i64>, _>("size").map(to_u64),
        part_size: to_u64(row.get("part_size")),
        part_sha256: row.get("part_sha256"),
        expires_at: to_u64(row.get("expires_at")),
    }
}

impl SqliteSessions {
    /// Opens (or creates) the registry in `data_dir`.
    pub async fn open(data_dir: &Path) -> Result<Self, RegistryError> {
        let pool = broker_jobs::open_sqlite_pool(&data_dir.join("multipart.sqlite3"))
            .await
            .map_err(|e| RegistryError(e.to_string()))?;
        for statement in [SCHEMA, INDEX] {
            sqlx::query(statement).execute(&pool).await.map_err(db)?;
        }
        let _ = sqlx::query(ADD_PART_SHA256).execute(&pool).await;
        Ok(SqliteSessions { pool })
    }
}

#[async_trait::async_trait]
impl SessionRegistry for SqliteSessions {
    async fn insert(&self, session: &MultipartSession) -> Result<(), RegistryError> {
        sqlx::query(
            "INSERT INTO multipart_sessions (upload_id, object_key, tenant, subject, profile, size, part_size, expires_at, \
             part_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.upload_id)
        .bind(&session.key)
        .bind(&session.tenant)
        .bind(&session.subject)
        .bind(&session.profile)
        .bind(session.size.map(to_i64))
        .bind(to_i64(session.part_size))
        .bind(to_i64(session.expires_at))
        .bind(session.part_sha256)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get(&self, upload_id: &str) -> Result<Option<MultipartSession>, RegistryError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM multipart_sessions WHERE upload_id = ?"
        )))
        .bind(upload_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.as_ref().map(session))
    }

    async fn remove(&self, upload_id: &str) -> Result<(), RegistryError> {
        sqlx::query("DELETE FROM multipart_sessions WHERE upload_id = ?")
            .bind(upload_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn expired(&self, now: u64) -> Result<Vec<MultipartSession>, RegistryError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM multipart_sessions WHERE expires_at <= ?"
        )))
        .bind(to_i64(now))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.iter().map(session).collect())
    }
}

/// The registry this configuration uses: Redis with `REDIS_URL`, else the
/// embedded one under `DATA_DIR`.
pub async fn open(settings: &Settings) -> Result<Arc<dyn SessionRegistry>, RegistryError> {
    Ok(match &settings.redis_url {
        Some(url) => Arc::new(RedisSessions::open(url)?),
        None => Arc::new(SqliteSessions::open(&settings.data_dir).await?),
    })
}
