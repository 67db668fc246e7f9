//! Who may use the web app, and protection against other sites using it through a browser.
//!
//! - **Access token.** With a token configured, every request must carry it: as
//!   `Authorization: Bearer <token>` (scripts, monitoring) or as the session cookie that
//!   `/login?token=…` sets (browsers; `HttpOnly`, `SameSite=Strict`). The cookie holds a digest
//!   of the token, not the token. Comparisons take the same time whatever the input.
//! - **Loopback without a token.** The server then only answers requests whose `Host` names the
//!   loopback interface, so a web page that rebinds its own DNS name to 127.0.0.1 cannot read
//!   the app through the visitor's browser.
//! - **Cross-site requests.** Every form carries a random per-process token checked on submit
//!   ([`Auth::csrf_ok`]), and a state-changing request whose `Origin` (or, without one,
//!   `Referer`) names another host than `Host` is refused before it reaches a handler.
//! - **Headers.** Every response gets a strict Content-Security-Policy, `X-Frame-Options: DENY`,
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin` and, unless a handler set
//!   one, `Cache-Control: no-store`.
//!
//! The token never appears in a log line, an error message or a page.

use super::Shared;
use crate::config::Secret;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ferry_session";

/// The policy every response carries.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";

/// The shortest access token accepted: the token is all that stands between the network and
/// the app, and the server does not slow down guessing.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The server's credentials: the access token (if any), the cookie value derived from it and
/// the form token of this process.
pub struct Auth {
    token: Option<Secret>,
    session: Option<String>,
    csrf: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(token: Option<Secret>) -> Auth {
        let session = token.as_ref().map(|t| session_value(t.expose()));
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Auth {
            token,
            session,
            csrf: hex::encode(bytes),
        }
    }

    /// Whether requests must prove they know the access token.
    pub fn token_required(&self) -> bool {
        self.token.is_some()
    }

    /// The form token every POST form of this process carries.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// Whether a submitted form token is this process's.
    pub fn csrf_ok(&self, submitted: &str) -> bool {
        ct_eq(submitted.as_bytes(), self.csrf.as_bytes())
    }

    /// Whether `candidate` is the access token (false when none is configured).
    pub fn token_ok(&self, candidate: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| ct_eq(candidate.as_bytes(), t.expose().as_bytes()))
    }

    /// The `Set-Cookie` value that logs a browser in (`None` without a token).
    pub fn session_cookie(&self) -> Option<String> {
        self.session.as_ref().map(|v| {
            format!("{SESSION_COOKIE}={v}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000")
        })
    }

    /// Whether the request carries the token (header) or the session cookie.
    fn authorised(&self, headers: &HeaderMap) -> bool {
        let (Some(token), Some(session)) = (&self.token, &self.session) else {
            return true;
        };
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .any(|given| ct_eq(given.as_bytes(), token.expose().as_bytes()));
        bearer
            || cookies(headers)
                .filter(|(name, _)| *name == SESSION_COOKIE)
                .any(|(_, value)| ct_eq(value.as_bytes(), session.as_bytes()))
    }
}

/// The cookie value for a token: a digest, so the cookie jar never holds the token itself.
fn session_value(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"ferry web session\0");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// Equality that takes the same time wherever the inputs differ, and whatever their lengths
/// (both sides are hashed first, so not even the length leaks).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let da = Sha256::digest(a);
    let db = Sha256::digest(b);
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// `name=value` pairs of every `Cookie` header.
fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.trim(), value.trim()))
        })
}

/// The `Host` header's authority, lowercased (`127.0.0.1:8080`).
fn host_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
}

/// Whether an authority (`host[:port]`) names the loopback interface.
fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The authority (`host[:port]`, lowercased) of an `Origin` or `Referer` value; `None` for
/// `null` or anything that is not an http(s) URL.
fn authority_of(value: &str) -> Option<String> {
    let url = url::Url::parse(value.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// Whether a state-changing request comes from a page of this app, as far as the browser
/// says: `Origin` (or `Referer` when there is no `Origin`) must name the same authority as
/// `Host`. A request with neither (a script, an old browser) passes here and still needs the
/// form token.
pub fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let host = host_of(headers).ok_or("the request has no Host header")?;
    let named = |name: header::HeaderName| -> Option<Option<String>> {
        let value = headers.get(name)?;
        Some(value.to_str().ok().and_then(authority_of))
    };
    let (claimed, what) = match named(header::ORIGIN) {
        Some(origin) => (origin, "Origin"),
        None => match named(header::REFERER) {
            Some(referer) => (referer, "Referer"),
            None => return Ok(()),
        },
    };
    match claimed {
        Some(authority) if authority == host => Ok(()),
        _ if what == "Origin" => Err("the form was sent from another site (Origin)"),
        _ => Err("the form was sent from another site (Referer)"),
    }
}

/// Middleware: `Host` check without a token, access token with one, same-origin check on
/// state-changing methods. `/login` is open so that a browser can present the token.
pub async fn guard(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let auth = &state.auth;
    let headers = req.headers();
    if !auth.token_required() {
        // Only reachable on loopback (start refuses anything else without a token).
        if !host_of(headers).is_some_and(|h| is_loopback_authority(&h)) {
            return plain(
                StatusCode::MISDIRECTED_REQUEST,
                "This ferry web app answers only to localhost / 127.0.0.1 (the Host header named another name).",
            );
        }
    } else if req.uri().path() != "/login" && !auth.authorised(headers) {
        let mut resp = super::html::unauthorised_page().into_response();
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"ferry\""),
        );
        return resp;
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && let Err(why) = same_origin(headers)
    {
        return plain(StatusCode::FORBIDDEN, why);
    }
    next.run(req).await
}

/// Middleware: the security headers every response carries.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

fn plain(status: StatusCode, msg: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(!ct_eq(b"", b"a"));
    }

    #[test]
    fn loopback_authorities() {
        for ok in [
            "127.0.0.1:8080",
            "localhost",
            "localhost:1",
            "[::1]:80",
            "127.1.2.3",
            "app.localhost:9",
        ] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for bad in [
            "example.org",
            "10.0.0.1:80",
            "localhost.example.org",
            "[::2]:80",
            "",
        ] {
            assert!(!is_loopback_authority(bad), "{bad}");
        }
    }

    #[test]
    fn origin_must_match_host_when_present() {
        let h = |o: &str| headers(&[("host", "127.0.0.1:5000"), ("origin", o)]);
        assert!(same_origin(&h("http://127.0.0.1:5000")).is_ok());
        assert!(same_origin(&h("http://evil.example")).is_err());
        assert!(same_origin(&h("http://127.0.0.1:5001")).is_err());
        assert!(same_origin(&h("null")).is_err());
        let r = headers(&[
            ("host", "127.0.0.1:5000"),
            ("referer", "http://127.0.0.1:5000/conflicts"),
        ]);
        assert!(same_origin(&r).is_ok());
        let r = headers(&[
            ("host", "127.0.0.1:5000"),
            ("referer", "https://evil.example/x"),
        ]);
        assert!(same_origin(&r).is_err());
        assert!(same_origin(&headers(&[("host", "127.0.0.1:5000")])).is_ok());
    }

    #[test]
    fn bearer_or_cookie() {
        let auth = Auth::new(Some(Secret::new("a-long-enough-access-token")));
        assert!(!auth.authorised(&headers(&[])));
        assert!(auth.authorised(&headers(&[(
            "authorization",
            "Bearer a-long-enough-access-token"
        )])));
        assert!(!auth.authorised(&headers(&[("authorization", "Bearer wrong")])));
        let cookie = auth.session_cookie().unwrap();
        let pair = cookie.split(';').next().unwrap().to_string();
        assert!(!pair.contains("a-long-enough-access-token"));
        assert!(auth.authorised(&headers(&[("cookie", &format!("x=1; {pair}"))])));
        assert!(!auth.authorised(&headers(&[("cookie", "ferry_session=deadbeef")])));
        assert!(Auth::new(None).authorised(&headers(&[])));
        assert!(format!("{auth:?}").contains("redacted"));
    }
}
