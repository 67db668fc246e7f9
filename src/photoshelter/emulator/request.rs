//! What a handler needs from a request (parameters from the query string, urlencoded,
//! multipart or JSON bodies, whichever the caller used), and the error envelopes of both
//! versions.

use crate::photoshelter::wire;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Largest request body the emulator reads.
const BODY_LIMIT: usize = 256 * 1024 * 1024;

/// Which tree a request is in; decides the error envelope and the API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    V3,
    V4,
}

/// One part of a multipart body.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// A request, read once with its parameters.
#[derive(Debug)]
pub(crate) struct Req {
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    /// Text fields of the body (form, multipart text parts, flat JSON scalars, JSON:API
    /// attributes).
    pub form: Vec<(String, String)>,
    pub files: Vec<Part>,
    pub json: Option<Value>,
    /// Set when the body could not be read as its content type says.
    pub body_error: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for Req {
    type Rejection = Response;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, BODY_LIMIT)
            .await
            .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response())?;
        let query = parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let mut r = Req {
            headers: parts.headers,
            query,
            form: Vec::new(),
            files: Vec::new(),
            json: None,
            body_error: None,
        };
        r.read_body(&body);
        Ok(r)
    }
}

impl Req {
    fn read_body(&mut self, body: &Bytes) {
        if body.is_empty() {
            return;
        }
        let ctype = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let lower = ctype.to_ascii_lowercase();
        if lower.starts_with("multipart/form-data") {
            match parse_multipart(&ctype, body) {
                Ok(parts) => {
                    for p in parts {
                        if p.filename.is_none()
                            && let Ok(text) = std::str::from_utf8(&p.data)
                        {
                            self.form.push((p.name.clone(), text.to_string()));
                        } else {
                            self.files.push(p);
                        }
                    }
                }
                Err(e) => self.body_error = Some(format!("bad multipart body: {e}")),
            }
        } else if lower.contains("json") {
            match serde_json::from_slice::<Value>(body) {
                Ok(v) => {
                    let attrs = v
                        .get("data")
                        .and_then(|d| d.get("attributes"))
                        .unwrap_or(&v)
                        .clone();
                    if let Value::Object(o) = &attrs {
                        for (k, v) in o {
                            match v {
                                Value::String(s) => self.form.push((k.clone(), s.clone())),
                                Value::Number(n) => self.form.push((k.clone(), n.to_string())),
                                Value::Bool(b) => self.form.push((k.clone(), b.to_string())),
                                _ => {}
                            }
                        }
                    }
                    self.json = Some(attrs);
                }
                Err(e) => self.body_error = Some(format!("bad JSON body: {e}")),
            }
        } else {
            // urlencoded, or no content type at all (some clients send a bare form string)
            self.form = url::form_urlencoded::parse(body).into_owned().collect();
        }
    }

    /// A parameter from the body, else from the query string.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .chain(self.query.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that is present and not blank.
    pub fn param_nonblank(&self, name: &str) -> Option<&str> {
        self.param(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every parameter (body, then query string) except credentials.
    pub fn fields(&self) -> Vec<(String, String)> {
        self.form
            .iter()
            .chain(self.query.iter())
            .filter(|(k, _)| !is_credential(k))
            .cloned()
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The API key, from the header (any case) or the `api_key` parameter.
    pub fn api_key(&self) -> Option<&str> {
        self.header("x-ps-api-key")
            .or_else(|| self.param(wire::PARAM_API_KEY))
    }

    /// The session token: `X-PS-Auth-Token`, `auth_token`, `Authorization: Bearer`, or the
    /// session cookie.
    pub fn tokens(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(t) = self.header("x-ps-auth-token") {
            out.push(t.trim().to_string());
        }
        if let Some(t) = self.param(wire::PARAM_AUTH_TOKEN) {
            out.push(t.trim().to_string());
        }
        if let Some(a) = self.header("authorization")
            && let Some(t) = a
                .strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        {
            out.push(t.trim().to_string());
        }
        if let Some(c) = self.header("cookie") {
            for kv in c.split(';') {
                if let Some((k, v)) = kv.trim().split_once('=')
                    && k == wire::SESSION_COOKIE
                {
                    out.push(v.to_string());
                }
            }
        }
        out.retain(|t| !t.is_empty());
        out
    }
}

fn is_credential(k: &str) -> bool {
    matches!(k, "api_key" | "auth_token" | "password" | "token")
}

/// An error answer in the envelope of the request's version.
#[derive(Debug, Clone)]
pub(crate) struct ApiErr {
    pub api: Api,
    pub status: StatusCode,
    pub id: &'static str,
    pub title: String,
}

impl ApiErr {
    pub fn new(api: Api, status: StatusCode, id: &'static str, title: impl Into<String>) -> Self {
        ApiErr {
            api,
            status,
            id,
            title: title.into(),
        }
    }

    pub fn not_found(api: Api, what: &str) -> Self {
        ApiErr::new(
            api,
            StatusCode::NOT_FOUND,
            if api == Api::V4 {
                "ResourceNotFoundException"
            } else {
                "NotFoundErr"
            },
            format!("{what} not found"),
        )
    }

    pub fn bad_request(api: Api, title: impl Into<String>) -> Self {
        ApiErr::new(
            api,
            StatusCode::BAD_REQUEST,
            if api == Api::V4 {
                "BadRequestException"
            } else {
                "InvalidParamErr"
            },
            title,
        )
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        let body = match self.api {
            Api::V4 => json!({"errors": [{
                "id": self.id,
                "status": self.status.as_u16().to_string(),
                "title": self.title,
                "detail": self.title,
            }]}),
            Api::V3 => json!({
                "status": "error",
                "error": {"class": self.id, "message": self.title},
            }),
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED && self.api == Api::V4 {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Splits a `multipart/form-data` body into parts.
pub(crate) fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .ok_or("no boundary in the content type")?;
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut pos = find(body, delim, 0).ok_or("no opening boundary")? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        // skip the line break after the boundary
        pos = find(body, b"\r\n", pos).ok_or("boundary line not ended")? + 2;
        let head_end = find(body, b"\r\n\r\n", pos).ok_or("part headers not ended")?;
        let head =
            std::str::from_utf8(&body[pos..head_end]).map_err(|_| "part headers are not UTF-8")?;
        let data_start = head_end + 4;
        let mut closing = Vec::with_capacity(delim.len() + 2);
        closing.extend_from_slice(b"\r\n");
        closing.extend_from_slice(delim);
        let data_end = find(body, &closing, data_start).ok_or("part not closed")?;
        let mut name = None;
        let mut filename = None;
        let mut ctype = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                for item in v.split(';') {
                    if let Some((pk, pv)) = item.trim().split_once('=') {
                        let pv = pv.trim().trim_matches('"').to_string();
                        match pk.trim() {
                            "name" => name = Some(pv),
                            "filename" => filename = Some(pv),
                            _ => {}
                        }
                    }
                }
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                ctype = Some(v.trim().to_string());
            }
        }
        parts.push(Part {
            name: name.ok_or("a part without a name")?,
            filename,
            content_type: ctype,
            data: Bytes::copy_from_slice(&body[data_start..data_end]),
        });
        pos = data_end + closing.len();
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_are_split() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"gallery_id\"\r\n\r\nG0000abc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xFF\xD8\r\n\xFF\xD9\r\n--XyZ--\r\n";
        let parts = parse_multipart("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "gallery_id");
        assert_eq!(&parts[0].data[..], b"G0000abc");
        assert_eq!(parts[1].filename.as_deref(), Some("a.jpg"));
        assert_eq!(&parts[1].data[..], b"\xFF\xD8\r\n\xFF\xD9");
    }
}
