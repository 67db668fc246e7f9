//! One attempt at a request and what it can come to: an answer read whole under its size
//! limit, a failure worth retrying (with the server's `Retry-After`), a redirect to another
//! origin, or a failure that is final.

use super::{AnswerKind, ByteSize, Reply, TimeoutPhase, redact_url};
use bytes::BytesMut;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use std::fmt;
use std::time::Duration;
use url::Url;

pub(super) enum Attempt<T> {
    Done(T),
    Retry {
        cause: ReadFailure,
        retry_after: Option<Duration>,
    },
    /// A redirect to another origin, not followed.
    Foreign(Url),
    Fail(ReadFailure),
}

/// Why one attempt gave no usable answer.
#[derive(Debug)]
pub(super) enum ReadFailure {
    /// A status that is retried (429, 503, …).
    Status(StatusCode),
    Timeout(TimeoutPhase),
    /// The body passed the limit of its kind: never retried.
    TooLarge {
        kind: AnswerKind,
        limit: u64,
    },
    /// The connection failed or the body broke off.
    Broken(String),
}

impl ReadFailure {
    /// The server could not be reached at all (no connection), rather than answering badly.
    pub(super) fn is_unreachable(&self) -> bool {
        match self {
            ReadFailure::Timeout(phase) => *phase == TimeoutPhase::Connect,
            ReadFailure::Broken(reason) => reason.starts_with(CANNOT_CONNECT),
            _ => false,
        }
    }

    pub(super) fn from_send(e: reqwest::Error) -> ReadFailure {
        if e.is_timeout() {
            ReadFailure::Timeout(if e.is_connect() {
                TimeoutPhase::Connect
            } else {
                TimeoutPhase::Answer
            })
        } else {
            ReadFailure::Broken(describe(e))
        }
    }

    pub(super) fn from_body(e: reqwest::Error) -> ReadFailure {
        if e.is_timeout() {
            ReadFailure::Timeout(TimeoutPhase::Body)
        } else {
            ReadFailure::Broken(format!("reading the answer: {}", e.without_url()))
        }
    }
}

impl fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadFailure::Status(s) => write!(f, "answered {s}"),
            ReadFailure::Timeout(phase) => write!(f, "{phase} in time"),
            ReadFailure::TooLarge { kind, limit } => {
                write!(f, "{kind} larger than {}", ByteSize(*limit))
            }
            ReadFailure::Broken(reason) => f.write_str(reason),
        }
    }
}

/// Reads a whole answer of `kind` in chunks, refusing it as soon as it passes `limit` bytes
/// (at once when its `Content-Length` says it will).
pub(super) async fn reply(
    mut resp: reqwest::Response,
    kind: AnswerKind,
    limit: u64,
) -> Result<Reply, ReadFailure> {
    let too_large = ReadFailure::TooLarge { kind, limit };
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large);
    }
    let status = resp.status();
    let headers = resp.headers().clone();
    let url = redact_url(resp.url());
    let mut body = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadFailure::from_body)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body: body.freeze(),
        url,
    })
}

/// Where a redirect points, resolved against the URL that answered.
pub(super) fn location(resp: &reqwest::Response) -> Option<Url> {
    let to = resp.headers().get(LOCATION)?.to_str().ok()?;
    resp.url().join(to).ok()
}

/// How [`describe`] starts a failure to connect.
pub(super) const CANNOT_CONNECT: &str = "cannot connect";

pub(super) fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_connect() {
        CANNOT_CONNECT
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

/// `Retry-After` as seconds or an HTTP date.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}
