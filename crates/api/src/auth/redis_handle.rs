//! One Redis connection shared by the rate limiter, the quota counters and
//! the multipart sessions,
//! opened on first use (so the API starts while Redis is still coming up) and
//! reconnected by the connection manager afterwards.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// A call that takes longer than this fails instead of holding the request.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

pub struct SharedRedis {
    client: redis::Client,
    connection: tokio::sync::OnceCell<ConnectionManager>,
}

impl SharedRedis {
    pub fn new(client: redis::Client) -> Self {
        SharedRedis {
            client,
            connection: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let manager = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(REDIS_TIMEOUT))
                    .set_response_timeout(Some(REDIS_TIMEOUT));
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(manager.clone())
    }

    /// One call on the shared connection, bounded by [`REDIS_TIMEOUT`]; a
    /// failure is logged (never the URL) and returned as its description.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, String>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let connection = self.connection().await?;
            call(connection).await
        };
        match tokio::time::timeout(REDIS_TIMEOUT, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                let detail = format!("{:?}: {}", e.kind(), e.detail().unwrap_or("no detail"));
                tracing::warn!(%detail, "a Redis call failed");
                Err(detail)
            }
            Err(_) => {
                tracing::warn!("a Redis call timed out");
                Err("timed out".into())
            }
        }
    }
}
