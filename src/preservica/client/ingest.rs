//! OPEX upload (single or multipart) and following a package through ingest to the
//! assets it made.

use super::writes::progress_token;
use super::*;

impl PreservicaClient {
    pub(super) async fn bucket(&self) -> Result<String> {
        if self.session.read().await.tenant.is_none() {
            self.login(None).await?;
        }
        let tenant =
            self.session
                .read()
                .await
                .tenant
                .clone()
                .ok_or_else(|| PreservicaError::Ingest {
                    what: "the upload".into(),
                    reason: "the tenant is unknown; set preservica.tenant in ferry.toml".into(),
                })?;
        Ok(format!("{}.package.upload", tenant.to_lowercase()))
    }

    /// Uploads an OPEX package into `folder` through the S3-compatible endpoint: one PUT for
    /// small packages, a multipart upload (one part in memory at a time) for large ones.
    pub async fn upload_package(&self, package: &Path, folder: &str) -> Result<Upload> {
        let key = format!("{}.zip", uuid::Uuid::new_v4());
        self.upload_package_as(package, folder, &key).await
    }

    /// [`Self::upload_package`] under a chosen object key (`name.zip`), so that a caller that
    /// crashed mid-upload can later ask the process monitor whether the package arrived.
    pub async fn upload_package_as(
        &self,
        package: &Path,
        folder: &str,
        key: &str,
    ) -> Result<Upload> {
        let key = key.to_string();
        let io_err = |e: std::io::Error| PreservicaError::Io {
            path: package.display().to_string(),
            source: e,
        };
        let size = tokio::fs::metadata(package).await.map_err(io_err)?.len();
        let object = self.url(&format!(
            "{}/{}/{}",
            wire::S3_PREFIX,
            self.bucket().await?,
            key
        ));
        let target = [(wire::TARGET_FOLDER_HEADER, folder.to_string())];
        if size <= self.conn.single_put_limit {
            let bytes = tokio::fs::read(package).await.map_err(io_err)?;
            let reply = self
                .call(
                    Method::PUT,
                    &object,
                    Some(("application/zip", bytes)),
                    &target,
                )
                .await?;
            return Ok(Upload {
                key,
                progress_token: progress_token(&reply)?,
                multipart: false,
            });
        }
        let reply = self
            .call(Method::POST, &format!("{object}?uploads"), None, &target)
            .await?;
        let doc = parse_reply(&reply)?;
        let upload_id =
            doc.root
                .child_text("UploadId")
                .ok_or_else(|| PreservicaError::Malformed {
                    url: reply.url.clone(),
                    reason: "no UploadId in the multipart answer".into(),
                })?;
        let mut file = tokio::fs::File::open(package).await.map_err(io_err)?;
        let mut parts = Vec::new();
        let mut n = 1u32;
        loop {
            let mut buf = vec![0u8; self.conn.part_size];
            let mut filled = 0;
            while filled < buf.len() {
                let read = tokio::io::AsyncReadExt::read(&mut file, &mut buf[filled..])
                    .await
                    .map_err(io_err)?;
                if read == 0 {
                    break;
                }
                filled += read;
            }
            if filled == 0 {
                break;
            }
            buf.truncate(filled);
            let part_url = format!("{object}?partNumber={n}&uploadId={}", urlencode(&upload_id));
            let reply = self
                .call(
                    Method::PUT,
                    &part_url,
                    Some(("application/octet-stream", buf)),
                    &[],
                )
                .await?;
            let etag = reply
                .headers
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| PreservicaError::Malformed {
                    url: reply.url.clone(),
                    reason: format!("part {n} was stored without an ETag"),
                })?
                .to_string();
            parts.push((n, etag));
            n += 1;
        }
        let mut body = String::from("<CompleteMultipartUpload>");
        for (n, etag) in &parts {
            body.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
                xml::esc(etag)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let reply = self
            .call(
                Method::POST,
                &format!("{object}?uploadId={}", urlencode(&upload_id)),
                Some(("application/xml", body.into_bytes())),
                &[],
            )
            .await?;
        Ok(Upload {
            key,
            progress_token: progress_token(&reply)?,
            multipart: true,
        })
    }

    /// Waits until every `SourceID` has an asset (or folder) in Preservica, polling
    /// `by-identifier`, and returns SourceID → ref. Gives up after `timeout`, naming what is
    /// still missing and any failure the process monitor reports.
    pub async fn wait_for_ingest(
        &self,
        source_ids: &[String],
        timeout: Duration,
    ) -> Result<HashMap<String, String>> {
        self.wait_for_package(None, source_ids, timeout).await
    }

    /// [`Self::wait_for_ingest`] for the package uploaded under `key`: only that package's
    /// failure ends the wait early (another package's failure says nothing about this one).
    pub async fn wait_for_package(
        &self,
        key: Option<&str>,
        source_ids: &[String],
        timeout: Duration,
    ) -> Result<HashMap<String, String>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut found = HashMap::new();
        let mut pause = Duration::from_millis(100);
        loop {
            for id in source_ids {
                if found.contains_key(id) {
                    continue;
                }
                if let Some(e) = self
                    .find_by_identifier(wire::SOURCE_ID_TYPE, id)
                    .await?
                    .into_iter()
                    .next()
                {
                    found.insert(id.clone(), e.reference);
                }
            }
            if found.len() == source_ids.len() {
                return Ok(found);
            }
            if let Some(reason) = self.failed_ingest(key).await? {
                return Err(PreservicaError::Ingest {
                    what: format!(
                        "{} of {} items",
                        source_ids.len() - found.len(),
                        source_ids.len()
                    ),
                    reason,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                let missing: Vec<&String> = source_ids
                    .iter()
                    .filter(|s| !found.contains_key(*s))
                    .collect();
                return Err(PreservicaError::Ingest {
                    what: format!("{} of {} items", missing.len(), source_ids.len()),
                    reason: format!(
                        "not found after {:?}; still missing: {:?}",
                        timeout, missing
                    ),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// The status of the ingest of the package uploaded under `key` (`Running`,
    /// `Succeeded`, `Failed`, …), or `None` when Preservica has no monitor for it: the
    /// package never arrived.
    pub async fn package_status(&self, key: &str) -> Result<Option<String>> {
        let url = format!(
            "{}?category=Ingest&name={}",
            self.url(wire::MONITORS_PATH),
            urlencode(&wire::monitor_name(key))
        );
        let reply = self.call(Method::GET, &url, None, &[]).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&reply.body).map_err(|e| PreservicaError::Malformed {
                url: reply.url.clone(),
                reason: format!("the monitor list is not JSON: {e}"),
            })?;
        let wanted = wire::monitor_name(key);
        Ok(v["value"]["monitors"].as_array().and_then(|ms| {
            ms.iter()
                .filter(|m| m["name"].as_str() == Some(wanted.as_str()))
                .filter_map(|m| m["status"].as_str().map(str::to_string))
                .next_back()
        }))
    }

    /// The message of the latest failed ingest monitor (of the package `key`, when given).
    pub(super) async fn failed_ingest(&self, key: Option<&str>) -> Result<Option<String>> {
        let mut url = format!(
            "{}?status=Failed&category=Ingest",
            self.url(wire::MONITORS_PATH)
        );
        if let Some(key) = key {
            url.push_str(&format!("&name={}", urlencode(&wire::monitor_name(key))));
        }
        let reply = self.call(Method::GET, &url, None, &[]).await?;
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        let Some(m) = v["value"]["monitors"].as_array().and_then(|m| m.last()) else {
            return Ok(None);
        };
        let id = m["mappedId"].as_str().unwrap_or_default();
        let url = format!(
            "{}?monitor={}",
            self.url(wire::MESSAGES_PATH),
            urlencode(id)
        );
        let reply = self.call(Method::GET, &url, None, &[]).await?;
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        let text = v["value"]["messages"]
            .as_array()
            .and_then(|m| m.first())
            .and_then(|m| m["displayMessage"].as_str())
            .unwrap_or("no reason given");
        Ok(Some(format!(
            "{} failed: {text}",
            m["name"].as_str().unwrap_or(id)
        )))
    }
}
