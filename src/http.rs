//! The HTTP layer both system clients share: timeouts, bounded retries with exponential
//! backoff and jitter, `Retry-After`, a per-system limit on requests in flight, and request
//! counts for reports and benchmarks.
//!
//! What is retried: 429 and 503 (the server says it did not do the work), and, for idempotent
//! requests only, 502/504, connection failures, timeouts and bodies cut short. A POST that may
//! have reached the server is never sent twice by this layer, unless the caller vouches that
//! sending it twice does no harm ([`HttpClient::send_repeatable`]: a login, a PATCH that sets
//! absolute values). Authentication (401) is the client's business: it knows how to log in
//! again.

use crate::model::System;
use bytes::Bytes;
use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Query parameters whose values are credentials; they are replaced in every URL ferry shows.
const SECRET_PARAMS: &[&str] = &[
    "api_key",
    "auth_token",
    "password",
    "token",
    "refreshToken",
    "access_token",
    "client_secret",
];

/// How a client talks HTTP to one system.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Whole-request timeout (connect, send, and reading a buffered body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Requests in flight at once for this system.
    pub concurrency: usize,
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a server asking for more is treated as failing.
    pub max_retry_after: Duration,
    pub user_agent: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            concurrency: 8,
            max_retries: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
            user_agent: format!("ferry/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// A request failed for good (after any retries).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: {reason}")]
    Transport {
        method: Method,
        url: String,
        reason: String,
    },
    #[error("{method} {url}: the server was still answering {status} after {attempts} attempts")]
    Exhausted {
        method: Method,
        url: String,
        status: StatusCode,
        attempts: u32,
    },
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

/// Counts of what this client sent, for reports and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    /// Every attempt that went on the wire, retries included.
    pub requests: u64,
    pub retries: u64,
    /// Answers of 429.
    pub throttled: u64,
    /// Answers of 5xx.
    pub server_errors: u64,
}

impl RequestCounts {
    /// What was sent after `earlier` was taken: the counts of one run on a shared client.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            requests: self.requests.saturating_sub(earlier.requests),
            retries: self.retries.saturating_sub(earlier.retries),
            throttled: self.throttled.saturating_sub(earlier.throttled),
            server_errors: self.server_errors.saturating_sub(earlier.server_errors),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
}

/// A buffered response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The final URL, redacted, for messages.
    pub url: String,
}

impl Reply {
    /// The body as text, lossily: for messages and for parsers that check UTF-8 themselves.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The start of the body, for error messages.
    pub fn snippet(&self) -> String {
        let t = self.text();
        let t = t.trim();
        let mut s: String = t.chars().take(200).collect();
        if t.chars().count() > 200 {
            s.push('…');
        }
        s
    }
}

/// One system's HTTP client. Cheap to clone; clones share the limit and the counts.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    system: System,
    limit: Arc<Semaphore>,
    options: HttpOptions,
    counters: Arc<Counters>,
}

impl HttpClient {
    /// How many times a GET whose answer cannot be read (a body cut short on the way: not
    /// UTF-8, not XML, not JSON) is fetched in all: the same budget as a failing answer, so
    /// that faults a run rides out in one form it rides out in the other.
    pub fn fetches_for_unreadable(&self) -> u32 {
        self.options.max_retries.max(2) + 1
    }

    pub fn new(system: System, options: HttpOptions) -> Result<HttpClient, HttpError> {
        // Credentials travel in custom headers (X-PS-Api-Key, Preservica-Access-Token) that
        // reqwest would carry along to any host a redirect names; only same-host redirects
        // are followed, so a key never leaves for another server.
        let same_host = reqwest::redirect::Policy::custom(|attempt| {
            let origin = attempt
                .previous()
                .first()
                .map(|u| (u.host_str().map(str::to_string), u.port_or_known_default()));
            let target = (
                attempt.url().host_str().map(str::to_string),
                attempt.url().port_or_known_default(),
            );
            if attempt.previous().len() > 5 {
                attempt.error("too many redirects")
            } else if origin.as_ref() == Some(&target) {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let inner = reqwest::Client::builder()
            .redirect(same_host)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.clone())
            .build()
            .map_err(|e| HttpError::Setup(e.without_url().to_string()))?;
        Ok(HttpClient {
            inner,
            system,
            limit: Arc::new(Semaphore::new(options.concurrency.max(1))),
            options,
            counters: Arc::new(Counters::default()),
        })
    }

    pub fn system(&self) -> System {
        self.system
    }

    /// The underlying client, for building requests.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner
    }

    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            requests: self.counters.requests.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            throttled: self.counters.throttled.load(Ordering::Relaxed),
            server_errors: self.counters.server_errors.load(Ordering::Relaxed),
        }
    }

    /// Sends the request `build` makes and reads the whole body, retrying as the module docs
    /// say. `build` is called once per attempt. Any status that is not retried is returned
    /// as a `Reply` for the caller to judge.
    pub async fn send<F>(&self, build: F) -> Result<Reply, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_buffered(build, false).await
    }

    /// Like [`send`](Self::send), for a request whose method is not idempotent but which the
    /// caller knows does no harm when sent twice (a login only opens another session; a PATCH
    /// that sets fields to absolute values leaves them so): it is retried like a GET, on
    /// 502/504, failed connections and answers cut short.
    pub async fn send_repeatable<F>(&self, build: F) -> Result<Reply, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_buffered(build, true).await
    }

    async fn send_buffered<F>(&self, build: F, repeatable: bool) -> Result<Reply, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_with(
            build,
            |resp| async move {
                let status = resp.status();
                let headers = resp.headers().clone();
                let url = redact_url(resp.url());
                let body = resp.bytes().await?;
                Ok(Reply {
                    status,
                    headers,
                    body,
                    url,
                })
            },
            repeatable,
        )
        .await
    }

    /// Sends a request and returns the response without reading the body, for streaming.
    /// Retries apply up to the response head only.
    pub async fn send_streaming<F>(&self, build: F) -> Result<reqwest::Response, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_with(build, |resp| async move { Ok(resp) }, false)
            .await
    }

    async fn send_with<F, R, Fut, T>(
        &self,
        build: F,
        read: R,
        repeatable: bool,
    ) -> Result<T, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        R: Fn(reqwest::Response) -> Fut,
        Fut: Future<Output = Result<T, reqwest::Error>>,
    {
        let mut attempt: u32 = 0;
        loop {
            let request = build(&self.inner)
                .build()
                .map_err(|e| HttpError::Setup(e.without_url().to_string()))?;
            let method = request.method().clone();
            let url = redact_url(request.url());
            let idempotent = repeatable
                || matches!(
                    method,
                    Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
                );
            let outcome = {
                let _permit = self
                    .limit
                    .acquire()
                    .await
                    .map_err(|_| HttpError::Setup("request limiter closed".into()))?;
                self.counters.requests.fetch_add(1, Ordering::Relaxed);
                match self.inner.execute(request).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let retry_after = retry_after(resp.headers());
                        if status == StatusCode::TOO_MANY_REQUESTS {
                            self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                        }
                        if status.is_server_error() {
                            self.counters.server_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        let retryable = status == StatusCode::TOO_MANY_REQUESTS
                            || status == StatusCode::SERVICE_UNAVAILABLE
                            || (idempotent
                                && matches!(
                                    status,
                                    StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
                                ));
                        if retryable {
                            Attempt::Retry {
                                reason: format!("answered {status}"),
                                status: Some(status),
                                retry_after,
                            }
                        } else {
                            match read(resp).await {
                                Ok(t) => Attempt::Done(t),
                                Err(e) if idempotent => Attempt::Retry {
                                    reason: format!("reading the answer: {}", e.without_url()),
                                    status: None,
                                    retry_after: None,
                                },
                                Err(e) => Attempt::Fail(e.without_url().to_string()),
                            }
                        }
                    }
                    Err(e)
                        if idempotent && (e.is_connect() || e.is_timeout() || e.is_request()) =>
                    {
                        Attempt::Retry {
                            reason: e.without_url().to_string(),
                            status: None,
                            retry_after: None,
                        }
                    }
                    Err(e) => Attempt::Fail(describe(e)),
                }
            };
            match outcome {
                Attempt::Done(t) => return Ok(t),
                Attempt::Fail(reason) => {
                    return Err(HttpError::Transport {
                        method,
                        url,
                        reason,
                    });
                }
                Attempt::Retry {
                    reason,
                    status,
                    retry_after,
                } => {
                    let too_long = retry_after.is_some_and(|d| d > self.options.max_retry_after);
                    if attempt >= self.options.max_retries || too_long {
                        return Err(match status {
                            Some(status) => HttpError::Exhausted {
                                method,
                                url,
                                status,
                                attempts: attempt + 1,
                            },
                            None => HttpError::Transport {
                                method,
                                url,
                                reason: format!("{reason} (after {} attempts)", attempt + 1),
                            },
                        });
                    }
                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    tracing::debug!(system = %self.system, %method, %url, %reason, wait_ms = wait.as_millis() as u64, "retrying");
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Exponential backoff with full jitter, so many clients that failed together do not
    /// come back together.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.options.initial_backoff.as_millis() as u64;
        let cap = self.options.max_backoff.as_millis() as u64;
        let ceiling = base.saturating_mul(1u64 << attempt.min(20)).min(cap).max(1);
        Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling))
    }
}

enum Attempt<T> {
    Done(T),
    Retry {
        reason: String,
        status: Option<StatusCode>,
        retry_after: Option<Duration>,
    },
    Fail(String),
}

fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The URL with credential query parameters replaced, safe for logs, errors and reports.
pub fn redact_url(url: &url::Url) -> String {
    if url.query().is_none() {
        return url.to_string();
    }
    let mut out = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let secret = SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(&k));
            let v = if secret {
                "[redacted]".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_query_strings_are_redacted() {
        let u = url::Url::parse(
            "https://x.example/psapi/v3/mem/authenticate?api_key=K123&email=a%40b&password=pw&auth_token=t",
        )
        .unwrap();
        let r = redact_url(&u);
        assert!(
            !r.contains("K123") && !r.contains("=pw") && !r.contains("=t&") && !r.ends_with("=t")
        );
        assert!(r.contains("email=a%40b"));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = HttpClient::new(System::Preservica, HttpOptions::default()).unwrap();
        for attempt in 0..30 {
            let d = c.backoff(attempt);
            assert!(d <= Duration::from_secs(10));
        }
        assert!(c.backoff(0) <= Duration::from_millis(200));
    }
}
