//! Sessions: which login a call needs (v3 or v4, key or OAuth), opening one with the
//! password login and organisation selection, and dropping one the server has ended.

use super::*;

impl PhotoShelterClient {
    /// The session for `api`, logging in (and selecting the organisation) when there is none.
    pub(super) async fn session(&self, api: Api) -> Result<Session> {
        let mut sessions = self.sessions.lock().await;
        if let Some(s) = sessions.slot(api) {
            return Ok(s.clone());
        }
        // Opening again does no harm: it is retried (a few times) when an answer was cut
        // short, or when the new password session ended before the organisation was selected.
        let mut tries = 0;
        let s = loop {
            tries += 1;
            match self.open(api).await {
                Ok(s) => break s,
                Err(e) if tries < 3 && self.may_open_on_retry(&e) => {
                    tracing::info!(error = %e, "opening a PhotoShelter session failed; trying again");
                }
                Err(e) => return Err(e),
            }
        };
        *sessions.slot(api) = Some(s.clone());
        Ok(s)
    }

    /// Whether opening a session that failed so may succeed if tried again.
    pub(super) fn may_open_on_retry(&self, e: &PhotoShelterError) -> bool {
        match e {
            PhotoShelterError::Malformed { .. } => true,
            PhotoShelterError::Unauthorized { .. } => matches!(self.auth, Auth::Password(_)),
            _ => false,
        }
    }

    /// Forgets a session that the server no longer accepts, unless another task already
    /// replaced it.
    pub(super) async fn drop_session(&self, api: Api, generation: u64) {
        let mut sessions = self.sessions.lock().await;
        if sessions
            .slot(api)
            .as_ref()
            .is_some_and(|s| s.generation == generation)
        {
            *sessions.slot(api) = None;
        }
    }

    pub(super) fn auth_method(&self) -> AuthMethod {
        match self.auth {
            Auth::Password(_) => AuthMethod::Password,
            Auth::Bearer(_) => AuthMethod::OAuth,
        }
    }

    /// Logs in to `api` and selects the configured organisation.
    pub(super) async fn open(&self, api: Api) -> Result<Session> {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let (session, orgs) = match &self.auth {
            Auth::Bearer(t) => (
                Session {
                    token: t.clone(),
                    bearer: true,
                    generation,
                },
                Vec::new(),
            ),
            Auth::Password(p) => {
                let (token, orgs) = self.password_login(api, p).await?;
                (
                    Session {
                        token,
                        bearer: false,
                        generation,
                    },
                    orgs,
                )
            }
        };
        if !orgs.is_empty() {
            *plock(&self.login_orgs) = orgs.clone();
        }
        if let Some(org) = &self.org_id {
            if !orgs.is_empty() && !orgs.iter().any(|o| &o.id == org) {
                return Err(PhotoShelterError::Invalid(format!(
                    "{} is not a member of organisation {org} (photoshelter.org_id); the login lists: {}",
                    self.email,
                    orgs.iter()
                        .map(|o| o.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            self.select_org(api, &session, org).await?;
        }
        Ok(session)
    }

    pub(super) async fn password_login(
        &self,
        api: Api,
        password: &Secret,
    ) -> Result<(Secret, Vec<OrgInfo>)> {
        let fields = vec![
            (wire::LOGIN_EMAIL.to_string(), self.email.clone()),
            (
                wire::LOGIN_PASSWORD.to_string(),
                password.expose().to_string(),
            ),
            (
                wire::LOGIN_MODE.to_string(),
                wire::LOGIN_MODE_TOKEN.to_string(),
            ),
        ];
        let (path, encoding) = match api {
            Api::V4 => (wire::v4::AUTHENTICATE, wire::V4_LOGIN_ENCODING),
            Api::V3 => (wire::v3::AUTHENTICATE, wire::V3_LOGIN_ENCODING),
        };
        // Logging in twice only opens two sessions: a 502 or a lost answer is retried.
        let mut call = Call::new(api, Method::POST, path)
            .fields(encoding, fields)
            .repeatable()
            .answer(AnswerKind::Login);
        call.authed = false;
        let span = tracing::info_span!("photoshelter.login", api = api.name());
        let reply = self
            .http
            .send_repeatable(call.answer, |c| self.build(c, &call, None))
            .instrument(span)
            .await?;
        let method = call.method.to_string();
        if !reply.status.is_success() {
            return Err(match self.status_error(&call, &reply) {
                e @ PhotoShelterError::ApiKey { .. } => e,
                _ => PhotoShelterError::Login {
                    method,
                    url: reply.url.clone(),
                    status: reply.status.as_u16(),
                    detail: self.detail(&reply),
                },
            });
        }
        let body = self.json(&call, &reply)?;
        let malformed = |reason: String| PhotoShelterError::Malformed {
            method: method.clone(),
            url: reply.url.clone(),
            reason,
        };
        // v4: top-level `token` (SPEC, KUK, WS); v3: `data.token`. Each also tried the other
        // way, in case a server wraps differently.
        let data = if api == Api::V3 {
            if !wire::v3_ok(&body) {
                return Err(PhotoShelterError::Login {
                    method,
                    url: reply.url.clone(),
                    status: reply.status.as_u16(),
                    detail: self.detail(&reply),
                });
            }
            get(&body, "data").cloned().unwrap_or(Value::Null)
        } else {
            body.clone()
        };
        let token = get(&data, "token")
            .or_else(|| body.pointer("/data/token"))
            .or_else(|| body.pointer("/data/attributes/token"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                malformed(
                    "no session token in the login reply (expected `token` for v4, `data.token` for v3)"
                        .into(),
                )
            })?
            .to_string();
        let token = Secret::new(token);
        let first_login = {
            let mut seen = plock(&self.tokens_seen);
            seen.push(token.clone());
            seen.len() == 1
        };
        let orgs = wire::parse_orgs(get(&data, "org")).map_err(|e| malformed(self.scrub(&e)))?;
        // One start-up line per client: the v3 session next to v4, and logins after a
        // session expired, are detail.
        if first_login {
            tracing::info!(
                api = api.name(),
                orgs = orgs.len(),
                "logged in to PhotoShelter"
            );
        } else {
            tracing::debug!(
                api = api.name(),
                orgs = orgs.len(),
                "logged in to PhotoShelter again"
            );
        }
        Ok((token, orgs))
    }

    pub(super) async fn select_org(&self, api: Api, session: &Session, org: &str) -> Result<()> {
        let call = match api {
            Api::V4 => Call::new(Api::V4, Method::POST, wire::v4::ORG_AUTHENTICATE).fields(
                wire::V4_ORG_SELECT_ENCODING,
                vec![(wire::ORG_ID.to_string(), org.to_string())],
            ),
            Api::V3 => Call::new(
                Api::V3,
                if wire::V3_ORG_SELECT_WITH_GET {
                    Method::GET
                } else {
                    Method::POST
                },
                wire::v3::org_authenticate(org),
            ),
        };
        let span = tracing::info_span!("photoshelter.select_org", api = api.name(), org);
        // Selecting the organisation again selects the same one.
        let reply = self
            .http
            .send_repeatable(AnswerKind::Login, |c| self.build(c, &call, Some(session)))
            .instrument(span)
            .await?;
        if Self::session_gone(api, &reply) {
            return Err(PhotoShelterError::Unauthorized {
                method: call.method.to_string(),
                url: reply.url.clone(),
                status: reply.status.as_u16(),
                why: if session.bearer {
                    OAUTH_REFUSED
                } else {
                    "right after logging in"
                },
                detail: self.detail(&reply),
            });
        }
        if !reply.status.is_success() {
            return Err(self.status_error(&call, &reply));
        }
        let body = self.json(&call, &reply)?;
        if api == Api::V3 && !wire::v3_ok(&body) {
            return Err(self.status_error(&call, &reply));
        }
        Ok(())
    }

    /// Whether an answer means the session is gone.
    pub(super) fn session_gone(api: Api, reply: &Reply) -> bool {
        if reply.status == StatusCode::UNAUTHORIZED {
            return true;
        }
        api == Api::V3
            && serde_json::from_slice::<Value>(&reply.body)
                .is_ok_and(|b| !wire::v3_ok(&b) && wire::v3_session_error(&b))
    }
}
