//! Uploading and downloading originals.

use super::*;

impl PhotoShelterClient {
    // -----------------------------------------------------------------------------------------
    // Files

    /// Uploads a file into a gallery (v3) and checks the new media's size.
    #[tracing::instrument(level = "info", skip(self, data), fields(bytes = data.len()))]
    pub async fn upload(
        &self,
        gallery_id: &str,
        file_name: &str,
        content_type: &str,
        data: Bytes,
    ) -> Result<UploadedMedia> {
        let size = data.len() as u64;
        let file = PartValue::File {
            file_name: file_name.to_string(),
            content_type: content_type.to_string(),
            data,
        };
        self.upload_part(gallery_id, file_name, size, file).await
    }

    /// Uploads a file from disk into a gallery, streaming it (memory does not grow with the
    /// file), and checks the new media's size.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn upload_file(
        &self,
        gallery_id: &str,
        file_name: &str,
        content_type: &str,
        path: &std::path::Path,
    ) -> Result<UploadedMedia> {
        let len = tokio::fs::metadata(path)
            .await
            .map_err(|e| {
                PhotoShelterError::Invalid(format!("cannot read {}: {e}", path.display()))
            })?
            .len();
        let file = PartValue::Path {
            file_name: file_name.to_string(),
            content_type: content_type.to_string(),
            path: path.to_path_buf(),
            len,
        };
        self.upload_part(gallery_id, file_name, len, file).await
    }

    async fn upload_part(
        &self,
        gallery_id: &str,
        file_name: &str,
        size: u64,
        file: PartValue,
    ) -> Result<UploadedMedia> {
        Self::check_arg(IdKind::Gallery, gallery_id)?;
        if file_name.trim().is_empty() {
            return Err(PhotoShelterError::Invalid(
                "an upload needs a file name".into(),
            ));
        }
        let call =
            Call::new(Api::V3, Method::POST, wire::v3::IMAGE_UPLOAD).body(Body::Multipart(vec![
                (
                    wire::UPLOAD_GALLERY_ID.to_string(),
                    PartValue::Text(gallery_id.to_string()),
                ),
                (wire::UPLOAD_FILE.to_string(), file),
            ]));
        let (reply, url) = self.call_json(&call).await?;
        let raw = wire::UPLOAD_ID_POINTERS
            .iter()
            .find_map(|p| reply.pointer(p))
            .ok_or_else(|| self.malformed(&call, &url, "no new media id in the answer"))?;
        let media_id = self.id_from(&url, IdKind::Media, Some(raw))?;
        let check = Call::get(Api::V4, wire::v4::media(&media_id));
        let (data, url) = self.v4_resource(&check).await?;
        let attrs = wire::attributes(&Value::Object(data));
        let stored = attrs
            .get("file_size")
            .map(wire::lenient_u64)
            .transpose()
            .map_err(|e| self.malformed(&check, &url, format!("file_size: {e}")))?
            .flatten();
        if stored != Some(size) {
            return Err(PhotoShelterError::NotVerified {
                what: "media",
                id: media_id,
                mismatches: vec![format!("file_size is {stored:?}, uploaded {size} bytes")],
            });
        }
        Ok(UploadedMedia {
            media_id,
            file_name: attrs
                .get("file_name")
                .and_then(wire::lenient_text)
                .unwrap_or_else(|| file_name.to_string()),
            file_size: size,
        })
    }

    /// Starts downloading the original of a media item. The size is checked against
    /// `expected_size` when given, else against `Content-Length`, else against the media's
    /// `file_size`; a short body is an error at its end, a long one as soon as it passes the
    /// size. An original whose size nothing states is refused: its body could be endless.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn download(
        &self,
        media_id: &str,
        expected_size: Option<u64>,
    ) -> Result<MediaDownload> {
        Self::check_arg(IdKind::Media, media_id)?;
        let mut call = Call::get(Api::V4, wire::v4::media_download(media_id))
            .query(wire::DOWNLOAD_FILETYPE, wire::DOWNLOAD_ORIGINAL);
        call.accept_json = false;
        let mut renewed = false;
        let resp = loop {
            let session = self.session(Api::V4).await?;
            let resp = self
                .http
                .send_streaming(|c| self.build(c, &call, Some(&session)))
                .await?;
            if resp.status() == StatusCode::UNAUTHORIZED && !renewed && !session.bearer {
                tracing::info!("PhotoShelter session expired; logging in again");
                self.drop_session(Api::V4, session.generation).await;
                renewed = true;
                continue;
            }
            break resp;
        };
        let url = redact_url(resp.url());
        if !resp.status().is_success() {
            let status = resp.status();
            let reply = self.http.into_reply(resp, AnswerKind::Record).await?;
            return Err(if status == StatusCode::UNAUTHORIZED {
                PhotoShelterError::Unauthorized {
                    method: "GET".into(),
                    url: reply.url.clone(),
                    status: 401,
                    why: "even after logging in again",
                    detail: self.detail(&reply),
                }
            } else {
                self.status_error(&call, &reply)
            });
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let content_length = header(CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
        let content_type = header(CONTENT_TYPE);
        let file_name = header(CONTENT_DISPOSITION).and_then(|d| disposition_file_name(&d));
        if let (Some(e), Some(l)) = (expected_size, content_length)
            && e != l
        {
            return Err(PhotoShelterError::SizeMismatch {
                url,
                media_id: media_id.to_string(),
                got: l,
                expected: e,
            });
        }
        let expected = match expected_size.or(content_length) {
            Some(e) => Some(e),
            None => {
                let c = Call::get(Api::V4, wire::v4::media(media_id));
                let (data, u) = self.v4_resource(&c).await?;
                wire::attributes(&Value::Object(data))
                    .get("file_size")
                    .map(wire::lenient_u64)
                    .transpose()
                    .map_err(|e| self.malformed(&c, &u, format!("file_size: {e}")))?
                    .flatten()
            }
        };
        let Some(expected) = expected else {
            return Err(PhotoShelterError::Download {
                url,
                media_id: media_id.to_string(),
                got: 0,
                reason: "neither the request, the answer nor the media's file_size states the original's size, so ferry cannot bound the download".into(),
            });
        };
        Ok(MediaDownload {
            media_id: media_id.to_string(),
            file_name,
            content_type,
            content_length,
            expected: Some(expected),
            url,
            received: 0,
            body: self.http.file_body(resp, expected),
            finished: false,
        })
    }
}

/// `attachment; filename="a.jpg"` (or `filename*=UTF-8''a.jpg`).
fn disposition_file_name(d: &str) -> Option<String> {
    let mut plain = None;
    for part in d.split(';') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let v = v.trim();
                let enc = v.rsplit_once("''").map_or(v, |(_, e)| e);
                let bytes: Vec<u8> = percent_decode(enc);
                if let Ok(s) = String::from_utf8(bytes) {
                    return Some(s);
                }
            }
            "filename" => plain = Some(v.trim().trim_matches('"').to_string()),
            _ => {}
        }
    }
    plain.filter(|s| !s.is_empty())
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && s.is_char_boundary(i + 3)
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// An original being downloaded: read it chunk by chunk, or all at once.
pub struct MediaDownload {
    pub media_id: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    /// The size the body must have.
    pub expected: Option<u64>,
    url: String,
    received: u64,
    /// Read under the HTTP layer's limit for a file (the expected size plus a margin).
    body: crate::http::FileBody,
    finished: bool,
}

impl std::fmt::Debug for MediaDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaDownload")
            .field("media_id", &self.media_id)
            .field("file_name", &self.file_name)
            .field("expected", &self.expected)
            .field("received", &self.received)
            .finish()
    }
}

impl MediaDownload {
    /// The next chunk; `None` at the end, once the size has been checked.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        if self.finished {
            return Ok(None);
        }
        match self.body.chunk().await {
            Ok(Some(b)) => {
                self.received += b.len() as u64;
                if let Some(e) = self.expected
                    && self.received > e
                {
                    self.finished = true;
                    return Err(self.mismatch(e));
                }
                Ok(Some(b))
            }
            Err(HttpError::Transport { reason, .. }) => {
                self.finished = true;
                Err(PhotoShelterError::Download {
                    url: self.url.clone(),
                    media_id: self.media_id.clone(),
                    got: self.received,
                    reason,
                })
            }
            Err(e) => {
                self.finished = true;
                Err(e.into())
            }
            Ok(None) => {
                self.finished = true;
                match self.expected {
                    Some(e) if e != self.received => Err(self.mismatch(e)),
                    _ => Ok(None),
                }
            }
        }
    }

    fn mismatch(&self, expected: u64) -> PhotoShelterError {
        PhotoShelterError::SizeMismatch {
            url: self.url.clone(),
            media_id: self.media_id.clone(),
            got: self.received,
            expected,
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The whole body in memory.
    pub async fn bytes(mut self) -> Result<Bytes> {
        let mut buf = bytes::BytesMut::new();
        while let Some(b) = self.chunk().await? {
            buf.extend_from_slice(&b);
        }
        Ok(buf.freeze())
    }

    /// Writes the body to `w` and returns the number of bytes; the size is checked before
    /// this returns, so a caller that renames a temporary file afterwards never keeps a
    /// short one.
    pub async fn write_to<W: AsyncWrite + Unpin>(mut self, w: &mut W) -> Result<u64> {
        while let Some(b) = self.chunk().await? {
            w.write_all(&b)
                .await
                .map_err(|e| PhotoShelterError::Download {
                    url: self.url.clone(),
                    media_id: self.media_id.clone(),
                    got: self.received,
                    reason: format!("writing: {e}"),
                })?;
        }
        w.flush().await.map_err(|e| PhotoShelterError::Download {
            url: self.url.clone(),
            media_id: self.media_id.clone(),
            got: self.received,
            reason: format!("writing: {e}"),
        })?;
        Ok(self.received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_content_disposition() {
        assert_eq!(
            disposition_file_name("attachment; filename=\"a b.jpg\"").as_deref(),
            Some("a b.jpg")
        );
        assert_eq!(
            disposition_file_name("attachment; filename=\"x.jpg\"; filename*=UTF-8''%C3%A9.jpg")
                .as_deref(),
            Some("é.jpg")
        );
        assert_eq!(disposition_file_name("inline"), None);
    }
}
