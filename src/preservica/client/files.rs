//! Bitstreams and their download: streamed to disk with every checksum Preservica gave
//! checked on the way, resumed by range where the server allows.

use super::*;

impl PreservicaClient {
    /// The bitstreams of an asset's representations (`Preservation` first, then `Access`),
    /// latest active generation of each content object.
    pub async fn bitstreams(&self, asset: &str) -> Result<Vec<Bitstream>> {
        let reps_url = format!(
            "{}/representations",
            self.entity_url(EntityKind::Asset, asset)
        );
        let reps =
            wire::read_representations(&self.get_xml(&reps_url, AnswerKind::Record).await?.root);
        let mut out = Vec::new();
        for (rtype, rep_url) in reps {
            let cos =
                wire::read_representation(&self.get_xml(&rep_url, AnswerKind::Record).await?.root);
            for co in cos {
                let gens_url = format!(
                    "{}/generations",
                    self.entity_url(EntityKind::ContentObject, &co)
                );
                let gens = wire::read_generations(
                    &self.get_xml(&gens_url, AnswerKind::Record).await?.root,
                );
                let Some((_, gen_url)) = gens.iter().rev().find(|(active, _)| *active) else {
                    continue;
                };
                for bs_url in
                    wire::read_generation(&self.get_xml(gen_url, AnswerKind::Record).await?.root)
                {
                    let doc = self.get_xml(&bs_url, AnswerKind::Record).await?;
                    let bs = wire::read_bitstream(&doc.root).map_err(|e| {
                        PreservicaError::Malformed {
                            url: redact(&bs_url),
                            reason: e.0,
                        }
                    })?;
                    out.push(Bitstream {
                        content_object: co.clone(),
                        representation: rtype.clone(),
                        url: bs_url,
                        doc: bs,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Streams a bitstream to `dest`, resuming with `Range` after a broken connection, and
    /// checks size and the server's fixity. On any failure the partial file is removed.
    pub async fn download(&self, bitstream: &Bitstream, dest: &Path) -> Result<Downloaded> {
        let result = self.download_inner(bitstream, dest).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(dest).await;
        }
        result
    }

    pub(super) async fn download_inner(
        &self,
        bitstream: &Bitstream,
        dest: &Path,
    ) -> Result<Downloaded> {
        let io_err = |e: std::io::Error| PreservicaError::Io {
            path: dest.display().to_string(),
            source: e,
        };
        let url = bitstream
            .doc
            .content_url
            .clone()
            .unwrap_or_else(|| format!("{}/content", bitstream.url));
        let mut file = tokio::fs::File::create(dest).await.map_err(io_err)?;
        let mut hashers = Hashers::default();
        let mut written: u64 = 0;
        let mut resumes = 0;
        while written < bitstream.doc.size || (written == 0 && bitstream.doc.size == 0) {
            let range = (written > 0).then(|| format!("bytes={written}-"));
            let resp = self.stream(&url, range.as_deref()).await?;
            if written > 0 && resp.status() != StatusCode::PARTIAL_CONTENT {
                // The server ignored the range: start over rather than append a second copy.
                file.set_len(0).await.map_err(io_err)?;
                file = tokio::fs::File::create(dest).await.map_err(io_err)?;
                hashers = Hashers::default();
                written = 0;
            }
            // Never more than the bitstream's size (plus the HTTP layer's margin): an endless
            // body is cut off, not written until the disk is full.
            let mut body = self
                .http
                .file_body(resp, bitstream.doc.size.saturating_sub(written));
            let mut broken = false;
            loop {
                match body.chunk().await {
                    Ok(Some(chunk)) => {
                        hashers.update(&chunk);
                        file.write_all(&chunk).await.map_err(io_err)?;
                        written += chunk.len() as u64;
                    }
                    Ok(None) => break,
                    Err(e @ HttpError::FileTooLarge { .. }) => return Err(e.into()),
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
            if bitstream.doc.size == 0 && !broken {
                break;
            }
            if broken || written < bitstream.doc.size {
                resumes += 1;
                if resumes > 5 {
                    return Err(PreservicaError::Malformed {
                        url: redact(&url),
                        reason: format!(
                            "the download broke off {resumes} times at {written} of {} bytes",
                            bitstream.doc.size
                        ),
                    });
                }
                continue;
            }
        }
        file.flush().await.map_err(io_err)?;
        if written != bitstream.doc.size {
            return Err(PreservicaError::Malformed {
                url: redact(&url),
                reason: format!(
                    "received {written} bytes where the bitstream has {}",
                    bitstream.doc.size
                ),
            });
        }
        let digests = hashers.finish();
        let verified = bitstream
            .doc
            .fixities
            .iter()
            .find_map(|(alg, expected)| {
                digests
                    .get(&normalise_alg(alg))
                    .map(|actual| (alg.clone(), expected.clone(), actual.clone()))
            })
            .ok_or_else(|| PreservicaError::Verify {
                reference: bitstream.content_object.clone(),
                detail: "the bitstream has no fixity ferry can check (MD5, SHA1, SHA256, SHA512)"
                    .into(),
            })?;
        let (alg, expected, actual) = verified;
        if !expected.eq_ignore_ascii_case(&actual) {
            return Err(PreservicaError::Fixity {
                file: bitstream.doc.filename.clone(),
                algorithm: alg,
                expected,
                actual,
            });
        }
        Ok(Downloaded {
            size: written,
            sha256: digests.get("SHA256").cloned().unwrap_or_default(),
            verified: (alg, expected),
        })
    }

    pub(super) async fn stream(&self, url: &str, range: Option<&str>) -> Result<reqwest::Response> {
        for attempt in 0..2 {
            let (token, generation) = {
                let s = self.session.read().await;
                (s.token.clone(), s.generation)
            };
            let Some(token) = token else {
                self.login(None).await?;
                continue;
            };
            let resp = self
                .http
                .send_streaming(|c| {
                    let r = c.get(url).header(wire::TOKEN_HEADER, &token);
                    match range {
                        Some(range) => r.header(reqwest::header::RANGE, range),
                        None => r,
                    }
                })
                .await?;
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.login(Some(generation)).await?;
                continue;
            }
            if !resp.status().is_success() {
                let status = resp.status();
                return Err(PreservicaError::Status {
                    method: Method::GET,
                    url: redact(url),
                    status,
                    body: String::new(),
                });
            }
            return Ok(resp);
        }
        Err(PreservicaError::TokenRejected { url: redact(url) })
    }
}

#[derive(Default)]
pub(super) struct Hashers {
    md5: md5::Md5,
    sha1: sha1::Sha1,
    sha256: sha2::Sha256,
    sha512: sha2::Sha512,
}

impl Hashers {
    fn update(&mut self, b: &[u8]) {
        self.md5.update(b);
        self.sha1.update(b);
        self.sha256.update(b);
        self.sha512.update(b);
    }

    fn finish(self) -> HashMap<String, String> {
        HashMap::from([
            ("MD5".to_string(), hex::encode(self.md5.finalize())),
            ("SHA1".to_string(), hex::encode(self.sha1.finalize())),
            ("SHA256".to_string(), hex::encode(self.sha256.finalize())),
            ("SHA512".to_string(), hex::encode(self.sha512.finalize())),
        ])
    }
}

/// `SHA-256`, `sha256`, `SHA256` → `SHA256`.
pub(super) fn normalise_alg(alg: &str) -> String {
    alg.replace('-', "").to_uppercase()
}
