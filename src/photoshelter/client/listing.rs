//! Login probes, full listings and incremental listings.

use super::*;

impl PhotoShelterClient {
    // -----------------------------------------------------------------------------------------
    // Login and probes

    /// Logs in afresh with v4 (selecting the organisation) and says who the client is.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn login(&self) -> Result<LoginInfo> {
        {
            let mut s = self.sessions.lock().await;
            s.v4 = None;
        }
        let call = Call::get(Api::V4, wire::v4::USER_SESSION).query("include", "organizations");
        let (data, url) = self.v4_resource(&call).await?;
        let data = Value::Object(data);
        let user_id = self.id_from(&url, IdKind::User, get(&data, "id"))?;
        let attrs = wire::attributes(&data);
        let mut orgs = plock(&self.login_orgs).clone();
        if let Some(list) = data.pointer("/includes/organizations/data") {
            let from_session =
                wire::parse_orgs(Some(list)).map_err(|e| self.malformed(&call, &url, e))?;
            if !from_session.is_empty() {
                orgs = from_session;
            }
        }
        *self.user.lock().await = Some((
            user_id.clone(),
            attrs.get("email").and_then(wire::lenient_text),
        ));
        Ok(LoginInfo {
            auth: self.auth_method(),
            api: Api::V4.name(),
            user_id: Some(user_id),
            email: attrs.get("email").and_then(wire::lenient_text),
            orgs,
            org_id: self.org_id.clone(),
        })
    }

    /// Logs in afresh with v3 (selecting the organisation) and says who the client is.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn login_v3(&self) -> Result<LoginInfo> {
        {
            let mut s = self.sessions.lock().await;
            s.v3 = None;
        }
        let call = Call::get(Api::V3, wire::v3::USER_SESSION);
        let (data, url) = self.call_json(&call).await?;
        let session = get(&data, "Session")
            .ok_or_else(|| self.malformed(&call, &url, "no `data.Session`"))?;
        let user_id = self.id_from(&url, IdKind::User, get(session, "user_id"))?;
        Ok(LoginInfo {
            auth: self.auth_method(),
            api: Api::V3.name(),
            user_id: Some(user_id),
            email: get(session, "email").and_then(wire::lenient_text),
            orgs: plock(&self.login_orgs).clone(),
            org_id: self.org_id.clone(),
        })
    }

    /// The user id, from `/user/session` (once).
    async fn user_id(&self) -> Result<String> {
        if let Some((id, _)) = self.user.lock().await.clone() {
            return Ok(id);
        }
        let call = Call::get(Api::V4, wire::v4::USER_SESSION);
        let (data, url) = self.v4_resource(&call).await?;
        let id = self.id_from(&url, IdKind::User, data.get("id"))?;
        *self.user.lock().await = Some((id.clone(), None));
        Ok(id)
    }

    /// The account scope of a media search: the organisation, else the user (search needs
    /// one of them).
    async fn search_owner(&self) -> Result<(String, String)> {
        match &self.org_id {
            Some(o) => Ok((wire::ORG_ID.to_string(), o.clone())),
            None => Ok(("user_id".to_string(), self.user_id().await?)),
        }
    }

    /// One page (1-based) of the account's media, by media search.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn list_page(&self, page: u32) -> Result<MediaPage> {
        let (k, v) = self.search_owner().await?;
        let call = Call::get(Api::V4, wire::v4::MEDIA_SEARCH)
            .answer(AnswerKind::Page)
            .query(&k, v)
            .query(wire::SORT_BY, wire::SORT_UPLOAD_TIME)
            .query(wire::SORT_DIR, "asc")
            .query(wire::PAGE, page.max(1).to_string())
            .query(wire::PER_PAGE, self.options.page_size.to_string());
        let (body, url) = self.call_json(&call).await?;
        let items = match get(&body, "data") {
            Some(Value::Array(a)) => a.clone(),
            _ => return Err(self.malformed(&call, &url, "`data` is not a list")),
        };
        let total = wire::page_total(&body).map_err(|e| self.malformed(&call, &url, e))?;
        let media = items
            .iter()
            .map(|i| self.media_summary(&call, &url, i))
            .collect::<Result<Vec<_>>>()?;
        Ok(MediaPage {
            page: page.max(1),
            media,
            total,
        })
    }

    fn media_summary(&self, call: &Call, url: &str, item: &Value) -> Result<MediaSummary> {
        let id = self.id_from(url, IdKind::Media, get(item, "id"))?;
        let attrs = wire::attributes(item);
        let kind = get(item, "type")
            .and_then(Value::as_str)
            .and_then(MediaKind::from_type)
            .or_else(|| {
                attrs
                    .get("media_type")
                    .and_then(Value::as_str)
                    .and_then(MediaKind::from_type)
            })
            .or_else(|| MediaKind::from_id(&id))
            .unwrap_or_else(|| {
                // Ids are opaque and the listing did not say: one odd item must not stop it.
                tracing::warn!(%id, "PhotoShelter did not say what kind of media this is; taken as an image");
                MediaKind::Image
            });
        let modified_at = match attrs.get("modified_at") {
            Some(v) => wire::lenient_timestamp(v)
                .map_err(|e| self.malformed(call, url, format!("{id}: modified_at: {e}")))?,
            None => None,
        };
        Ok(MediaSummary {
            id,
            kind,
            file_name: attrs.get("file_name").and_then(wire::lenient_text),
            modified_at,
            galleries: Vec::new(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Listings

    /// The galleries (and collections walked) of a scope.
    async fn galleries_of(&self, scope: &Scope) -> Result<(Vec<String>, Vec<String>)> {
        let mut galleries: Vec<String> = Vec::new();
        let mut collections: Vec<String> = Vec::new();
        let mut queue: VecDeque<String> = VecDeque::new();
        let walk = |pager_items: Vec<Value>,
                    url: &str,
                    call: &Call,
                    galleries: &mut Vec<String>,
                    queue: &mut VecDeque<String>|
         -> Result<()> {
            for item in pager_items {
                match get(&item, "type").and_then(Value::as_str) {
                    Some("collection") => {
                        queue.push_back(self.id_from(url, IdKind::Collection, get(&item, "id"))?)
                    }
                    Some("gallery") => {
                        let g = self.id_from(url, IdKind::Gallery, get(&item, "id"))?;
                        if !galleries.contains(&g) {
                            galleries.push(g);
                        }
                    }
                    other => {
                        return Err(self.malformed(
                            call,
                            url,
                            format!(
                                "a container of type {other:?}, expected collection or gallery"
                            ),
                        ));
                    }
                }
            }
            Ok(())
        };
        match scope {
            Scope::Account => {
                let mut pager = Pager::new(Call::get(Api::V4, wire::v4::LIBRARY));
                while let Some((items, url)) = self.next_page(&mut pager).await? {
                    walk(items, &url, &pager.call, &mut galleries, &mut queue)?;
                }
            }
            Scope::Collections(ids) => {
                for c in ids {
                    Self::check_arg(IdKind::Collection, c)?;
                    queue.push_back(c.clone());
                }
            }
            Scope::Galleries(ids) => {
                for g in ids {
                    Self::check_arg(IdKind::Gallery, g)?;
                    if !galleries.contains(g) {
                        galleries.push(g.clone());
                    }
                }
            }
        }
        while let Some(c) = queue.pop_front() {
            if collections.contains(&c) {
                continue;
            }
            collections.push(c.clone());
            let mut pager = Pager::new(Call::get(Api::V4, wire::v4::collection_children(&c)));
            while let Some((items, url)) = self.next_page(&mut pager).await? {
                walk(items, &url, &pager.call, &mut galleries, &mut queue)?;
            }
        }
        Ok((galleries, collections))
    }

    /// The ids of the galleries whose name is exactly `name` (v4 `/galleries`, all pages;
    /// matched here rather than by the server's `name` filter, whose matching rules are not
    /// documented).
    pub async fn galleries_named(&self, name: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut pager = Pager::new(Call::get(Api::V4, wire::v4::GALLERIES));
        while let Some((items, url)) = self.next_page(&mut pager).await? {
            for item in items {
                let attrs = wire::attributes(&item);
                if attrs.get("name").and_then(wire::lenient_text).as_deref() == Some(name) {
                    out.push(self.id_from(&url, IdKind::Gallery, get(&item, "id"))?);
                }
            }
        }
        Ok(out)
    }

    /// The media of one gallery, in display order.
    async fn gallery_media(&self, gallery: &str) -> Result<Vec<MediaSummary>> {
        let mut out = Vec::new();
        let mut pager = Pager::new(Call::get(Api::V4, wire::v4::gallery_children(gallery)));
        while let Some((items, url)) = self.next_page(&mut pager).await? {
            for item in items {
                out.push(self.media_summary(&pager.call, &url, &item)?);
            }
        }
        Ok(out)
    }

    /// Every media item of the scope, walking collections and galleries with paging. Either
    /// the whole scope is listed or the call fails: a partial listing is never returned.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn list_all(&self, scope: &Scope) -> Result<Listing> {
        let (galleries, collections) = self.galleries_of(scope).await?;
        let per_gallery: Vec<Vec<MediaSummary>> = futures_util::stream::iter(galleries.iter())
            .map(|g| self.gallery_media(g))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut media: Vec<MediaSummary> = Vec::new();
        for (g, items) in galleries.iter().zip(per_gallery) {
            for mut m in items {
                match index.get(&m.id) {
                    Some(&i) => {
                        if !media[i].galleries.contains(g) {
                            media[i].galleries.push(g.clone());
                        }
                    }
                    None => {
                        index.insert(m.id.clone(), media.len());
                        m.galleries.push(g.clone());
                        media.push(m);
                    }
                }
            }
        }
        tracing::info!(
            media = media.len(),
            galleries = galleries.len(),
            "listed PhotoShelter"
        );
        Ok(Listing {
            media,
            galleries,
            collections,
        })
    }

    /// Media modified at or after `since` (to the second: PhotoShelter's timestamps have no
    /// fractions, so the cursor's own second is listed again). Uses media search with `modify_start` (from the
    /// day of `since - overlap`), filtering the hits exactly; if the tenant rejects or ignores
    /// the filter, walks the scope's galleries sorted by modification time, newest first,
    /// until the cursor. `next_cursor` is the newest modification seen, but never later than
    /// the start of this listing minus the clock skew.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn list_changed(
        &self,
        since: DateTime<Utc>,
        scope: &Scope,
    ) -> Result<ChangedListing> {
        let started = self.options.clock.now();
        // PhotoShelter's timestamps have whole seconds: a media modified in the cursor's
        // second may carry a time just before it. List that second again.
        let since = DateTime::from_timestamp(since.timestamp(), 0).unwrap_or(since);
        let (media, method) = match self.changed_by_filter(since, scope).await? {
            Some(media) => (media, ChangeMethod::ModifyFilter),
            None => (
                self.changed_by_sorting(since, scope).await?,
                ChangeMethod::SortedFallback,
            ),
        };
        let newest = media.iter().filter_map(|m| m.modified_at).max();
        let next_cursor = match newest {
            Some(n) => since.max(n.min(started - self.options.clock_skew)),
            None => since,
        };
        tracing::info!(changed = media.len(), ?method, %next_cursor, "listed PhotoShelter changes");
        Ok(ChangedListing {
            media,
            next_cursor,
            method,
        })
    }

    /// `None` when the tenant does not filter by modification time.
    async fn changed_by_filter(
        &self,
        since: DateTime<Utc>,
        scope: &Scope,
    ) -> Result<Option<Vec<MediaSummary>>> {
        let from = since - self.options.overlap;
        let day = from.format(wire::MODIFY_PARAM_FORMAT).to_string();
        // Anything older than this means the filter was not applied (allowing for a server
        // reading the day in any time zone).
        let floor = from
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            - chrono::Duration::days(1);
        let (k, v) = self.search_owner().await?;
        let mut call = Call::get(Api::V4, wire::v4::MEDIA_SEARCH)
            .query(&k, v)
            .query(wire::MODIFY_START, day)
            .query(wire::SORT_BY, wire::SORT_UPLOAD_TIME)
            .query(wire::SORT_DIR, "asc");
        match scope {
            Scope::Account => {}
            Scope::Collections(ids) => {
                ids.iter()
                    .try_for_each(|c| Self::check_arg(IdKind::Collection, c))?;
                call = call.query(wire::COLLECTIONS, ids.join(","));
            }
            Scope::Galleries(ids) => {
                ids.iter()
                    .try_for_each(|g| Self::check_arg(IdKind::Gallery, g))?;
                call = call.query(wire::GALLERIES, ids.join(","));
            }
        }
        let mut pager = Pager::new(call);
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        loop {
            let page = match self.next_page(&mut pager).await {
                Ok(p) => p,
                Err(
                    e @ (PhotoShelterError::Status { .. } | PhotoShelterError::NotFound { .. }),
                ) if matches!(e.status(), Some(400 | 404 | 422)) => {
                    tracing::warn!(error = %e, "media search by modification time refused; falling back to sorting galleries");
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let Some((items, url)) = page else {
                break;
            };
            for item in items {
                let m = self.media_summary(&pager.call, &url, &item)?;
                let Some(at) = m.modified_at else {
                    tracing::warn!(media = %m.id, "media search hits carry no modified_at; falling back to sorting galleries");
                    return Ok(None);
                };
                if at < floor {
                    tracing::warn!(media = %m.id, %at, "media search ignored modify_start; falling back to sorting galleries");
                    return Ok(None);
                }
                if at >= since && seen.insert(m.id.clone()) {
                    out.push(m);
                }
            }
        }
        Ok(Some(out))
    }

    async fn changed_by_sorting(
        &self,
        since: DateTime<Utc>,
        scope: &Scope,
    ) -> Result<Vec<MediaSummary>> {
        let stop_before = since - self.options.clock_skew;
        let (galleries, _) = self.galleries_of(scope).await?;
        let mut known: HashMap<String, Option<DateTime<Utc>>> = HashMap::new();
        let mut out: Vec<MediaSummary> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for g in &galleries {
            let call = Call::get(Api::V4, wire::v4::gallery_children(g))
                .query(wire::SORT_BY, wire::SORT_MODIFICATION_TIME)
                .query(wire::SORT_DIRECTION, "descending");
            let mut pager = Pager::new(call);
            'gallery: while let Some((items, url)) = self.next_page(&mut pager).await? {
                for item in items {
                    let mut m = self.media_summary(&pager.call, &url, &item)?;
                    if m.modified_at.is_none() {
                        m.modified_at = match known.get(&m.id) {
                            Some(t) => *t,
                            None => {
                                let t = self.media_modified_at(&m.id).await?;
                                known.insert(m.id.clone(), t);
                                t
                            }
                        };
                    }
                    let Some(at) = m.modified_at else {
                        return Err(PhotoShelterError::Listing {
                            url,
                            reason: format!("media {} has no modified_at", m.id),
                        });
                    };
                    if at < stop_before {
                        break 'gallery;
                    }
                    if at >= since {
                        match index.get(&m.id) {
                            Some(&i) => {
                                if !out[i].galleries.contains(g) {
                                    out[i].galleries.push(g.clone())
                                }
                            }
                            None => {
                                index.insert(m.id.clone(), out.len());
                                m.galleries.push(g.clone());
                                out.push(m);
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    async fn media_modified_at(&self, id: &str) -> Result<Option<DateTime<Utc>>> {
        let call = Call::get(Api::V4, wire::v4::media(id));
        let (data, url) = self.v4_resource(&call).await?;
        let attrs = wire::attributes(&Value::Object(data));
        match attrs.get("modified_at") {
            Some(v) => wire::lenient_timestamp(v)
                .map_err(|e| self.malformed(&call, &url, format!("modified_at: {e}"))),
            None => Ok(None),
        }
    }
}
