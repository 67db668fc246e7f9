//! Field writes: security tags (with their progress token), a write planned against a
//! fresh read, sent, then read back and verified.

use super::*;

impl PreservicaClient {
    /// Sets an entity's security tag (an asynchronous action in Preservica), waits for it to
    /// finish, and reads the entity back to verify.
    pub async fn set_security_tag(
        &self,
        kind: EntityKind,
        reference: &str,
        tag: &str,
    ) -> Result<()> {
        let url = format!(
            "{}/security-descriptor?includeDescendants=false",
            self.entity_url(kind, reference)
        );
        let reply = self
            .call(
                Method::PUT,
                &url,
                Some(("text/plain", tag.as_bytes().to_vec())),
                &[],
            )
            .await?;
        let token = reply.text().trim().to_string();
        if !token.is_empty() {
            self.wait_for_progress(&token).await?;
        }
        let after = self.entity(kind, reference).await?;
        if after.security_tag != tag {
            return Err(PreservicaError::Verify {
                reference: reference.to_string(),
                detail: format!(
                    "the security tag reads {:?} after setting {tag:?}",
                    after.security_tag
                ),
            });
        }
        Ok(())
    }

    /// Polls an asynchronous action until it is no longer running.
    pub(super) async fn wait_for_progress(&self, token: &str) -> Result<()> {
        let url = self.url(&format!(
            "{}/progress/{}",
            wire::ENTITY_PREFIX,
            urlencode(token)
        ));
        let mut pause = Duration::from_millis(50);
        for _ in 0..60 {
            let doc = self.get_xml(&url, AnswerKind::Record).await?;
            let status = doc.root.child_text("Status").unwrap_or_default();
            match status.as_str() {
                "ACTIVE" | "PENDING" => {}
                "COMPLETED" | "FINISHED_MIXED_OUTCOME" => return Ok(()),
                other => {
                    return Err(PreservicaError::Verify {
                        reference: token.to_string(),
                        detail: format!("the action ended {other}"),
                    });
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        Err(PreservicaError::Verify {
            reference: token.to_string(),
            detail: "the action did not finish".into(),
        })
    }

    /// Applies a planned write to an asset, then reads the asset back and checks that every
    /// written value is there. Only the fragments and entity fields the write names change.
    pub async fn apply_write(
        &self,
        reference: &str,
        write: &PreservicaWrite,
    ) -> Result<PreservicaRecord> {
        let entity = self.entity(EntityKind::Asset, reference).await?;
        self.send_write(reference, write, &entity).await?;
        let after = self.read_asset(reference).await?;
        verify(reference, write, &after)?;
        Ok(after)
    }

    /// The asset's entity and the fragments of `schemas` only (one request each; `None`:
    /// every fragment), with the entity as read: a write that follows at once goes on it.
    pub async fn read_asset_for_write(
        &self,
        reference: &str,
        schemas: Option<&BTreeSet<String>>,
    ) -> Result<(PreservicaRecord, EntityDoc)> {
        let e = self.entity(EntityKind::Asset, reference).await?;
        let mut fragments = Vec::new();
        for (schema, url) in &e.fragments {
            if schemas.is_some_and(|wanted| !wanted.contains(schema)) {
                continue;
            }
            let mut f = self.fragment(url).await?;
            if f.schema.is_empty() {
                f.schema = schema.clone();
            }
            fragments.push(f);
        }
        let record = PreservicaRecord {
            reference: e.reference.clone(),
            title: e.title.clone(),
            description: e.description.clone(),
            fragments,
            security_tag: (!e.security_tag.is_empty()).then(|| e.security_tag.clone()),
            ..PreservicaRecord::default()
        };
        Ok((record, e))
    }

    /// [`Self::apply_write`] on an asset just read with [`Self::read_asset_for_write`]: the
    /// entity is not read again before writing, and only what was written is read back (the
    /// entity if its Title or Description was, or a fragment was added; each fragment
    /// written) and checked; the rest is taken from `before`.
    pub async fn apply_write_over(
        &self,
        reference: &str,
        write: &PreservicaWrite,
        entity: &EntityDoc,
        before: PreservicaRecord,
    ) -> Result<PreservicaRecord> {
        self.send_write(reference, write, entity).await?;
        let adds_fragment = write
            .fragments
            .iter()
            .any(|f| !entity.fragments.iter().any(|(s, _)| *s == f.schema));
        let mut after = before;
        let urls = if write.title.is_some() || write.description.is_some() || adds_fragment {
            let now = self.entity(EntityKind::Asset, reference).await?;
            after.title = now.title.clone();
            after.description = now.description.clone();
            now.fragments
        } else {
            entity.fragments.clone()
        };
        for f in &write.fragments {
            let Some((_, url)) = urls.iter().find(|(s, _)| *s == f.schema) else {
                continue;
            };
            let mut stored = self.fragment(url).await?;
            if stored.schema.is_empty() {
                stored.schema = f.schema.clone();
            }
            after.fragments.retain(|x| x.schema != f.schema);
            after.fragments.push(stored);
        }
        verify(reference, write, &after)?;
        Ok(after)
    }

    /// Sends a write's Title/Description and fragments for an asset whose entity is `entity`.
    pub(super) async fn send_write(
        &self,
        reference: &str,
        write: &PreservicaWrite,
        entity: &EntityDoc,
    ) -> Result<()> {
        let version = self.version().await?;
        if write.title.is_some() || write.description.is_some() {
            let mut doc = entity.clone();
            if let Some(t) = &write.title {
                doc.title = Some(t.clone().unwrap_or_default());
            }
            if let Some(d) = &write.description {
                doc.description = d.clone();
            }
            let body = wire::entity_body(&version, EntityKind::Asset, &doc);
            self.call(
                Method::PUT,
                &self.entity_url(EntityKind::Asset, reference),
                Some(("application/xml;charset=UTF-8", body.into_bytes())),
                &[],
            )
            .await?;
        }
        for f in &write.fragments {
            let existing = entity.fragments.iter().find(|(s, _)| *s == f.schema);
            match existing {
                Some((_, url)) => {
                    let id = url.rsplit('/').next().unwrap_or_default().to_string();
                    let body =
                        wire::metadata_container(&version, &f.schema, reference, Some(&id), &f.xml);
                    self.call(
                        Method::PUT,
                        url,
                        Some(("application/xml;charset=UTF-8", body.into_bytes())),
                        &[],
                    )
                    .await?;
                }
                None => {
                    let body =
                        wire::metadata_container(&version, &f.schema, reference, None, &f.xml);
                    let url = format!("{}/metadata", self.entity_url(EntityKind::Asset, reference));
                    // A new fragment is a POST, never sent twice blindly (two fragments of one
                    // schema): after an answer that leaves it open whether Preservica made the
                    // fragment, look, and send it again only if it is not there. The
                    // read-back below verifies either way.
                    for attempt in 1..=3 {
                        let sent = self
                            .call(
                                Method::POST,
                                &url,
                                Some(("application/xml;charset=UTF-8", body.clone().into_bytes())),
                                &[],
                            )
                            .await;
                        match sent {
                            Ok(_) => break,
                            Err(e) if attempt < 3 && may_have_happened(&e) => {
                                tracing::debug!(error = %e, "adding a fragment may have failed; looking before sending again");
                                let now = self.entity(EntityKind::Asset, reference).await?;
                                if now.fragments.iter().any(|(s, _)| *s == f.schema) {
                                    break;
                                }
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

pub(super) fn progress_token(reply: &Reply) -> Result<String> {
    reply
        .headers
        .get(wire::PROGRESS_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| PreservicaError::Malformed {
            url: reply.url.clone(),
            reason: format!(
                "the upload answer has no {} header",
                wire::PROGRESS_TOKEN_HEADER
            ),
        })
}

/// Checks that what was written reads back as written.
pub(super) fn verify(
    reference: &str,
    write: &PreservicaWrite,
    after: &PreservicaRecord,
) -> Result<()> {
    let fail = |detail: String| PreservicaError::Verify {
        reference: reference.to_string(),
        detail,
    };
    if let Some(t) = &write.title
        && after.title.as_deref().unwrap_or("") != t.as_deref().unwrap_or("")
    {
        return Err(fail(format!(
            "Title reads {:?}, {t:?} was written",
            after.title
        )));
    }
    if let Some(d) = &write.description
        && after.description.as_deref().unwrap_or("") != d.as_deref().unwrap_or("")
    {
        return Err(fail(format!(
            "Description reads {:?}, {d:?} was written",
            after.description
        )));
    }
    for f in &write.fragments {
        let stored = after
            .fragment(&f.schema)
            .ok_or_else(|| fail(format!("fragment {} is missing after the write", f.schema)))?;
        let same = match (xml::parse(&stored.xml), xml::parse(&f.xml)) {
            (Ok(a), Ok(b)) => strip_spans(&a.root) == strip_spans(&b.root),
            _ => stored.xml == f.xml,
        };
        if !same {
            return Err(fail(format!(
                "fragment {} reads back different from what was written",
                f.schema
            )));
        }
    }
    Ok(())
}

/// An element without source positions, for comparing documents by content.
pub(super) fn strip_spans(e: &Element) -> Element {
    Element {
        span: (0, 0),
        children: e.children.iter().map(strip_spans).collect(),
        attrs: {
            let mut a = e.attrs.clone();
            a.sort();
            a
        },
        ..e.clone()
    }
}
