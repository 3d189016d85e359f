//! Downloading a feed: over https (plain http only to loopback, redirects included), at most
//! `FEEDS_MAX_SIZE` bytes, each attempt within `FEEDS_TIMEOUT_SECS`, three attempts with
//! exponential backoff for what retrying can mend (timeouts, dropped connections, 5xx, 429).

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::FeedError;
use crate::config::{Feed, Feeds};

/// Attempts per download, the first included.
const ATTEMPTS: usize = 3;

/// Where feeds' bytes come from: the web ([`Http`]), or memory in unit tests.
pub trait Source: Send + Sync {
    /// The bytes of `feed`, at most `limit` of them.
    fn fetch(
        &self,
        feed: &Feed,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<u8>, FeedError>> + Send;
}

/// Downloads over HTTPS with reqwest (rustls, the system's roots).
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
}

/// Why one attempt failed, and whether another may succeed.
struct Attempt {
    reason: String,
    retry: bool,
}

impl Http {
    /// A client whose attempts give up after `feeds.timeout`, following redirects only to
    /// where `FEEDS` itself could point.
    pub fn new(feeds: &Feeds) -> Result<Http, FeedError> {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 10 {
                attempt.error("more than 10 redirects")
            } else if attempt.url().scheme() == "https" || crate::config::is_loopback(attempt.url())
            {
                attempt.follow()
            } else {
                attempt.error("a redirect to plain http")
            }
        });
        let client = reqwest::Client::builder()
            .timeout(feeds.timeout)
            .connect_timeout(feeds.timeout.min(Duration::from_secs(30)))
            .redirect(redirects)
            .user_agent(concat!("s3-yara-scan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FeedError::Client(e.to_string()))?;
        Ok(Http { client })
    }

    async fn attempt(&self, feed: &Feed, limit: u64) -> Result<Vec<u8>, Attempt> {
        let transient = |e: reqwest::Error| Attempt {
            retry: e.is_timeout() || e.is_connect() || e.is_request() || e.is_body(),
            reason: error_chain(&e),
        };
        let mut response = (self.client.get(feed.url.clone()).send().await).map_err(transient)?;
        let status = response.status();
        if !status.is_success() {
            return Err(Attempt {
                reason: format!("HTTP {status}"),
                retry: status.is_server_error() || status.as_u16() == 429,
            });
        }
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transient)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn too_large(limit: u64) -> Attempt {
    Attempt {
        reason: format!("more than {limit} bytes (FEEDS_MAX_SIZE)"),
        retry: false,
    }
}

/// reqwest's error and its causes, which name what failed (DNS, TLS, refused connection).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Source for Http {
    async fn fetch(&self, feed: &Feed, limit: u64) -> Result<Vec<u8>, FeedError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_times(ATTEMPTS - 1);
        (|| self.attempt(feed, limit))
            .retry(backoff)
            .when(|a: &Attempt| a.retry)
            .notify(|a: &Attempt, wait: Duration| {
                tracing::warn!(feed = %feed.url, reason = %a.reason, retry_in_ms = wait.as_millis() as u64, "feed download failed; retrying");
            })
            .await
            .map_err(|a| FeedError::Download {
                reason: a.reason,
            })
    }
}
