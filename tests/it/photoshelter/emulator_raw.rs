//! The emulator by raw HTTP: the envelopes of both versions, and every plausible variant of
//! the requests the contract is unsure about (the client sends only one of each).

use super::*;
use ferry::photoshelter::emulator::RateLimit;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

struct Raw {
    http: reqwest::Client,
    base: String,
    k4: String,
    k3: String,
}

impl Raw {
    fn new(emu: &PhotoShelterEmulator) -> Raw {
        Raw {
            http: reqwest::Client::new(),
            base: emu.url(),
            k4: emu.options().api_key_v4.clone(),
            k3: emu.options().api_key_v3.clone(),
        }
    }
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }
    async fn json(&self, rb: reqwest::RequestBuilder) -> (u16, Value, reqwest::header::HeaderMap) {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
            headers,
        )
    }
    async fn v4_token(&self) -> String {
        let (s, b, _) = self
            .json(
                self.http
                    .post(self.url("/psapi/v4.0/authenticate"))
                    .header("X-PS-Api-Key", &self.k4)
                    .form(&[
                        ("email", "demo@ferry.example"),
                        ("password", "demo-password"),
                        ("mode", "token"),
                        ("org_id", "O0000FerryDemo01"),
                    ]),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["token"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn error_envelopes_of_both_versions() {
    bounded(async {
        let emu = start(options(3)).await;
        let r = Raw::new(&emu);
        // v4: missing key → 403 ApiKeyInvalidException, status as a string.
        let (s, b, _) = r.json(r.http.get(r.url("/psapi/v4.0/library"))).await;
        assert_eq!(s, 403);
        assert_eq!(b["errors"][0]["id"], "ApiKeyInvalidException");
        assert_eq!(b["errors"][0]["status"], "403");
        // v4: key but no token → 401 with WWW-Authenticate.
        let (s, b, h) = r
            .json(
                r.http
                    .get(r.url("/psapi/v4.0/library"))
                    .header("x-ps-api-key", &r.k4),
            )
            .await;
        assert_eq!(s, 401);
        assert_eq!(b["errors"][0]["status"], "401");
        assert_eq!(h["www-authenticate"], "Bearer");
        // v4: unknown media → 404 ResourceNotFoundException.
        let t = r.v4_token().await;
        let (s, b, _) = r
            .json(
                r.http
                    .get(r.url("/psapi/v4.0/media/I0000NoSuchOne01"))
                    .header("X-PS-API-KEY", &r.k4)
                    .header("x-ps-auth-token", &t),
            )
            .await;
        assert_eq!(s, 404);
        assert_eq!(b["errors"][0]["id"], "ResourceNotFoundException");
        // v3: the v4 key is not the v3 key.
        let (s, b, _) = r
            .json(
                r.http
                    .get(r.url("/psapi/v3/mem/user/session"))
                    .header("x-ps-api-key", &r.k4),
            )
            .await;
        assert_eq!((s, &b["status"]), (403, &json!("error")));
        // v3: no session → 401 with a session error class.
        let (s, b, _) = r
            .json(
                r.http
                    .get(r.url("/psapi/v3/mem/user/session"))
                    .query(&[("api_key", &r.k3)]),
            )
            .await;
        assert_eq!(s, 401);
        assert_eq!(b["error"]["class"], "SessionRequiredErr");
        // Expired tokens are 401s.
        emu.expire_tokens();
        let (s, _, _) = r
            .json(
                r.http
                    .get(r.url("/psapi/v4.0/library"))
                    .header("x-ps-api-key", &r.k4)
                    .query(&[("auth_token", &t)]),
            )
            .await;
        assert_eq!(s, 401);
        // Unknown paths outside psapi are plain-text 404s.
        let resp = r.http.get(r.url("/nothing")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
    })
    .await
}

#[tokio::test]
async fn throttling_uses_the_envelope_and_retry_after() {
    bounded(async {
        let mut o = options(1);
        o.rate_limit = Some(RateLimit {
            requests: 1,
            window: std::time::Duration::from_secs(3600),
        });
        let emu = start(o).await;
        let r = Raw::new(&emu);
        r.json(r.http.get(r.url("/psapi/v4.0/library"))).await;
        let (s, b, h) = r.json(r.http.get(r.url("/psapi/v4.0/library"))).await;
        assert_eq!(s, 429);
        assert_eq!(b["errors"][0]["id"], "TooManyRequestsException");
        let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(wait > 0 && wait <= 3600);
        let (s, b, _) = r
            .json(r.http.get(r.url("/psapi/v3/mem/user/session")))
            .await;
        assert_eq!((s, &b["status"]), (429, &json!("error")));
    })
    .await
}

#[tokio::test]
async fn v3_login_is_accepted_in_every_encoding_and_on_both_paths() {
    bounded(async {
        let emu = start(options(1)).await;
        let r = Raw::new(&emu);
        let creds = [
            ("email", "demo@ferry.example"),
            ("password", "demo-password"),
            ("mode", "token"),
        ];
        let mut with_key_param = creds.to_vec();
        with_key_param.push(("api_key", r.k3.as_str()));
        let variants = vec![
            r.http.post(r.url("/psapi/v3/mem/authenticate")).header("X-PS-Api-Key", &r.k3).form(&creds),
            r.http.post(r.url("/psapi/v3.0/mem/authenticate")).header("x-ps-api-key", &r.k3).form(&creds),
            r.http.get(r.url("/psapi/v3/mem/authenticate")).query(&with_key_param),
            r.http.post(r.url("/psapi/v3/mem/authenticate")).query(&with_key_param),
            r.http
                .post(r.url("/psapi/v3/mem/authenticate"))
                .header("X-PS-Api-Key", &r.k3)
                .multipart(
                    Form::new()
                        .text("email", "demo@ferry.example")
                        .text("password", "demo-password")
                        .text("mode", "token"),
                ),
            r.http
                .post(r.url("/psapi/v3/mem/authenticate"))
                .header("X-PS-Api-Key", &r.k3)
                .json(&json!({"email": "demo@ferry.example", "password": "demo-password", "mode": "token"})),
        ];
        for (i, rb) in variants.into_iter().enumerate() {
            let (s, b, _) = r.json(rb).await;
            assert_eq!(s, 200, "variant {i}: {b}");
            assert_eq!(b["status"], "ok");
            let token = b["data"]["token"].as_str().unwrap();
            assert_eq!(b["data"]["org"][0]["member"], "t");
            // The token works by header, parameter and Bearer.
            for how in 0..3 {
                let mut rb = r
                    .http
                    .get(r.url("/psapi/v3/mem/user/session"))
                    .header("x-ps-api-key", &r.k3);
                rb = match how {
                    0 => rb.header("X-PS-Auth-Token", token),
                    1 => rb.query(&[("auth_token", token)]),
                    _ => rb.bearer_auth(token),
                };
                let (s, b, _) = r.json(rb).await;
                assert_eq!(s, 200, "variant {i}, token passing {how}: {b}");
                assert_eq!(b["data"]["Session"]["user_id"], json!(emu.user_id()));
            }
        }
        // Cookie mode: no token in the body, a session cookie instead.
        let resp = r
            .http
            .post(r.url("/psapi/v3/mem/authenticate"))
            .header("X-PS-Api-Key", &r.k3)
            .form(&creds[..2])
            .send()
            .await
            .unwrap();
        let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
        let b: Value = resp.json().await.unwrap();
        assert!(b["data"].get("token").is_none());
        let cookie = cookie.split(';').next().unwrap().to_string();
        let (s, _, _) = r
            .json(
                r.http
                    .get(r.url("/psapi/v3/mem/user/session"))
                    .header("x-ps-api-key", &r.k3)
                    .header("cookie", cookie),
            )
            .await;
        assert_eq!(s, 200);
    })
    .await
}

#[tokio::test]
async fn v4_login_and_org_selection_are_accepted_in_every_documented_form() {
    bounded(async {
        let emu = start(options(2)).await;
        let r = Raw::new(&emu);
        let q = [
            ("email", "demo@ferry.example"),
            ("password", "demo-password"),
            ("mode", "token"),
            ("api_key", r.k4.as_str()),
        ];
        for rb in [
            r.http.post(r.url("/psapi/v4.0/authenticate")).query(&q),
            r.http.get(r.url("/psapi/v4.0/authenticate")).query(&q),
            r.http.get(r.url("/psapi/v4/authenticate")).query(&q),
        ] {
            let (s, b, _) = r.json(rb).await;
            assert_eq!(s, 200, "{b}");
            let t = b["token"].as_str().unwrap().to_string();
            for sel in [
                r.http
                    .post(r.url("/psapi/v4.0/organization/authenticate"))
                    .json(&json!({"org_id": "O0000FerryDemo01"})),
                r.http
                    .post(r.url("/psapi/v4.0/organization/authenticate"))
                    .form(&[("org_id", "O0000FerryDemo01")]),
            ] {
                let (s, b, _) = r
                    .json(sel.header("x-ps-api-key", &r.k4).bearer_auth(&t))
                    .await;
                assert_eq!(s, 200, "{b}");
                assert_eq!(b["meta"]["status"], "OK");
            }
            let (_, b, _) = r
                .json(
                    r.http
                        .get(r.url("/psapi/v4.0/library"))
                        .header("x-ps-api-key", &r.k4)
                        .header("x-ps-auth-token", &t),
                )
                .await;
            assert!(!b["data"].as_array().unwrap().is_empty());
        }
    })
    .await
}

#[tokio::test]
async fn iptc_writes_are_accepted_in_every_plausible_shape() {
    bounded(async {
        let emu = start(options(2)).await;
        let r = Raw::new(&emu);
        let t = r.v4_token().await;
        let id = emu.media_ids()[0].clone();
        let path = r.url(&format!("/psapi/v4.0/media/{id}/iptc"));
        let auth = |rb: reqwest::RequestBuilder| {
            rb.header("x-ps-api-key", &r.k4)
                .header("x-ps-auth-token", &t)
        };
        let variants: Vec<(&str, reqwest::RequestBuilder)> = vec![
            (
                "query",
                auth(r.http.patch(&path)).query(&[("caption", "via query")]),
            ),
            (
                "form",
                auth(r.http.patch(&path)).form(&[("caption", "via form")]),
            ),
            (
                "json",
                auth(r.http.patch(&path)).json(&json!({"caption": "via json"})),
            ),
            (
                "json:api",
                auth(r.http.patch(&path))
                    .json(&json!({"data": {"attributes": {"caption": "via json:api"}}})),
            ),
            (
                "multipart",
                auth(r.http.patch(&path)).multipart(Form::new().text("caption", "via multipart")),
            ),
            (
                "put",
                auth(r.http.put(&path)).json(&json!({"caption": "via put"})),
            ),
            (
                "keyword list",
                auth(r.http.patch(&path))
                    .json(&json!({"keywords": ["a", "b"], "caption": "via list"})),
            ),
        ];
        for (name, rb) in variants {
            let (s, b, _) = r.json(rb).await;
            assert_eq!(s, 200, "{name}: {b}");
            let want = format!("via {}", name.trim_start_matches("keyword "));
            assert_eq!(b["data"]["attributes"]["caption"], json!(want), "{name}");
            assert_eq!(emu.record(&id).unwrap().iptc["caption"], json!(want));
        }
        assert_eq!(emu.record(&id).unwrap().iptc["keywords"], json!("a, b"));
        // null clears; unknown fields are refused.
        let (s, _, _) = r
            .json(auth(r.http.patch(&path)).json(&json!({"caption": null})))
            .await;
        assert_eq!(s, 200);
        assert!(!emu.record(&id).unwrap().iptc.contains_key("caption"));
        let (s, b, _) = r
            .json(auth(r.http.patch(&path)).query(&[("captoin", "typo")]))
            .await;
        assert_eq!(s, 400, "{b}");
        // Both spellings of custom metadata, flat or as the read shape.
        for (p, body) in [
            ("custom-metadata", json!({"Campaign": "Centennial"})),
            (
                "custom_metadata",
                json!({"custom_metadata": [{"name": "Campaign", "value": "Open Doors"}]}),
            ),
        ] {
            let (s, b, _) = r
                .json(auth(r.http.patch(r.url(&format!("/psapi/v4.0/media/{id}/{p}")))).json(&body))
                .await;
            assert_eq!(s, 200, "{p}: {b}");
            let (s, b, _) = r
                .json(auth(
                    r.http.get(r.url(&format!("/psapi/v4.0/media/{id}/{p}"))),
                ))
                .await;
            assert_eq!(s, 200);
            let items = b["data"]["attributes"]["custom_metadata"]
                .as_array()
                .unwrap();
            assert!(items.iter().any(|i| i["field_name"] == "Campaign"), "{b}");
        }
        assert_eq!(emu.record(&id).unwrap().custom["Campaign"], "Open Doors");
    })
    .await
}

#[tokio::test]
async fn v3_gallery_insert_upload_and_paging_as_other_clients_use_them() {
    bounded(async {
        let emu = start(options(300)).await;
        let r = Raw::new(&emu);
        let (_, b, _) = r
            .json(
                r.http
                    .post(r.url("/psapi/v3/mem/authenticate"))
                    .header("x-ps-api-key", &r.k3)
                    .form(&[
                        ("email", "demo@ferry.example"),
                        ("password", "demo-password"),
                        ("mode", "token"),
                    ]),
            )
            .await;
        let t = b["data"]["token"].as_str().unwrap().to_string();
        let auth = |rb: reqwest::RequestBuilder| {
            rb.header("x-ps-api-key", &r.k3)
                .header("x-ps-auth-token", &t)
        };
        // Organisation selection by GET, then the root children.
        let (s, _, _) = r
            .json(auth(r.http.get(r.url(
                "/psapi/v3/mem/organization/O0000FerryDemo01/authenticate",
            ))))
            .await;
        assert_eq!(s, 200);
        let (_, b, _) = r
            .json(auth(
                r.http.get(r.url("/psapi/v3/mem/collection/root/children")),
            ))
            .await;
        let cols = b["data"]["Children"]["Collection"].as_array().unwrap();
        assert!(!cols.is_empty());
        let col = cols[0]["collection_id"].as_str().unwrap().to_string();
        // RMIG: GET with query parameters.
        let (s, b, _) = r
            .json(
                auth(r.http.get(r.url("/psapi/v3/mem/gallery/insert"))).query(&[
                    ("name", "From R"),
                    ("parent", col.as_str()),
                    ("f_list", "f"),
                    ("mode", "private"),
                ]),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let g = b["data"]["Gallery"]["gallery_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            emu.visibility(&g),
            Some(ferry::photoshelter::wire::Visibility::Private)
        );
        // Upload with f_searchable, then page the gallery's images.
        for n in 0..5 {
            let (s, b, _) = r
                .json(
                    auth(r.http.post(r.url("/psapi/v3/mem/image/upload"))).multipart(
                        Form::new()
                            .text("gallery_id", g.clone())
                            .text("f_searchable", "t")
                            .part(
                                "file",
                                Part::bytes(vec![0xFF, 0xD8, n, 0xFF, 0xD9])
                                    .file_name(format!("{n}.jpg")),
                            ),
                    ),
                )
                .await;
            assert_eq!(s, 200, "{b}");
            assert!(
                b["data"]["Image"]["image_id"]
                    .as_str()
                    .unwrap()
                    .starts_with("I0000")
            );
            assert_eq!(b["data"]["Image"]["file_size"], "5");
        }
        let mut seen = 0;
        let mut page = 1;
        loop {
            let (_, b, _) = r
                .json(
                    auth(
                        r.http
                            .get(r.url(&format!("/psapi/v3/mem/gallery/{g}/images"))),
                    )
                    .query(&[
                        ("page", page.to_string()),
                        ("per_page", "2".to_string()),
                        (
                            "extend",
                            r#"{"Image":{"fields":"image_id,file_name"}}"#.to_string(),
                        ),
                    ]),
                )
                .await;
            let images = b["data"]["GalleryImage"].as_array().unwrap();
            seen += images.len();
            assert!(images.iter().all(|i| i["Image"]["file_name"].is_string()));
            if b["data"]["Paging"].get("next").is_none() {
                break;
            }
            page += 1;
        }
        assert_eq!((seen, page), (5, 3));
        // v3 download of an upload, with its file name.
        let first = &emu.gallery_media(&g).unwrap()[0];
        let resp = auth(
            r.http
                .get(r.url(&format!("/psapi/v3/mem/image/{first}/download"))),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(
            resp.headers()["content-disposition"],
            "attachment; filename=\"0.jpg\""
        );
        assert_eq!(
            resp.bytes().await.unwrap().as_ref(),
            &[0xFF, 0xD8, 0, 0xFF, 0xD9]
        );
    })
    .await
}

#[tokio::test]
async fn v4_reads_cover_containers_counts_and_search() {
    bounded(async {
        let emu = start(options(600)).await;
        let r = Raw::new(&emu);
        let t = r.v4_token().await;
        let get = |p: String| {
            r.http
                .get(r.url(&p))
                .header("x-ps-api-key", &r.k4)
                .header("x-ps-auth-token", &t)
        };
        let g = emu.gallery_ids()[0].clone();
        let n = emu.gallery_media(&g).unwrap().len() as u64;
        let (_, b, _) = r.json(get(format!("/psapi/v4.0/galleries/{g}/child-count"))).await;
        assert_eq!(b["meta"]["children_count"]["total"], json!(n));
        let (_, b, _) = r.json(get(format!("/psapi/v4.0/galleries/{g}/children?page=2&per_page=10"))).await;
        assert_eq!(b["meta"]["paging"]["total"], json!(n));
        assert_eq!(b["data"].as_array().unwrap().len(), 10);
        assert!(b["meta"]["paging"]["next"].is_string() && b["meta"]["paging"]["prev"].is_string());
        let col = emu.collection_ids()[0].clone();
        let (_, b, _) = r.json(get(format!("/psapi/v4.0/collections/{col}/child-count"))).await;
        assert!(b["meta"]["children_count"]["total"].as_u64().unwrap() > 0);
        let (_, b, _) = r.json(get(format!("/psapi/v4.0/collections/{col}"))).await;
        assert_eq!(b["data"]["type"], "collection");
        let (_, b, _) = r.json(get("/psapi/v4.0/collections?parent=".into())).await;
        assert!(!b["data"].as_array().unwrap().is_empty());
        let (_, b, _) = r.json(get(format!("/psapi/v4.0/galleries?parent={col}"))).await;
        assert!(b["data"].as_array().unwrap().iter().all(|x| x["type"] == "gallery"));
        let id = emu.media_ids()[0].clone();
        let (_, b, _) = r.json(get(format!("/psapi/v4.0/media/{id}/galleries?include=gallery"))).await;
        assert!(b["data"][0]["includes"]["gallery"]["data"]["attributes"]["name"].is_string());
        // Search needs one of its scoping parameters, then filters by terms and galleries.
        let (s, _, _) = r.json(get("/psapi/v4.0/media?page=1".into())).await;
        assert_eq!(s, 400);
        let (s, b, _) = r
            .json(get(format!(
                "/psapi/v4.0/media?terms=harbour&galleries={g}&org_id=O0000FerryDemo01&per_page=1000"
            )))
            .await;
        assert_eq!(s, 200);
        let hits = b["data"].as_array().unwrap();
        assert!(!hits.is_empty() && (hits.len() as u64) <= n);
        for h in hits {
            let rec = emu.record(h["id"].as_str().unwrap()).unwrap();
            let text = serde_json::to_string(&rec.iptc).unwrap().to_lowercase() + &rec.file_name.unwrap().to_lowercase();
            assert!(text.contains("harbour"));
        }
        // NA's library search.
        let (s, b, _) = r
            .json(get("/psapi/v4.0/search?media_type=image,video,audio,doc&mode=library&sort_by=creation_time&sort_direction=descending&per_page=1000".into()))
            .await;
        assert_eq!(s, 200);
        assert_eq!(b["meta"]["paging"]["total"], json!(600));
        // Every kind answers /media/{id}.
        let kinds: std::collections::BTreeSet<String> = b["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["attributes"]["media_type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds.len(), 4, "{kinds:?}");
    })
    .await
}
