//! Reading and writing media metadata, and galleries and collections.

use super::*;

impl PhotoShelterClient {
    // -----------------------------------------------------------------------------------------
    // Reading media

    /// A media item's attributes, IPTC and custom metadata, for `mapping`.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn read_record(&self, media_id: &str) -> Result<PhotoShelterRecord> {
        self.read_parts(media_id, RecordParts::ALL).await
    }

    /// The `parts` of a media record (one request each); the others are left empty.
    pub async fn read_parts(
        &self,
        media_id: &str,
        parts: RecordParts,
    ) -> Result<PhotoShelterRecord> {
        Self::check_arg(IdKind::Media, media_id)?;
        let mut record = if parts.attributes {
            self.read_attributes(media_id).await?
        } else {
            PhotoShelterRecord {
                media_id: media_id.to_string(),
                ..PhotoShelterRecord::default()
            }
        };
        if parts.iptc {
            record.iptc = self.read_iptc(media_id).await?;
        }
        if parts.custom {
            record.custom = self.read_custom(media_id).await?;
        }
        if parts.license {
            record.license = self.read_license(media_id).await?;
        }
        Ok(record)
    }

    /// The media's own attributes (`/media/{id}`), with the file facts they carry.
    async fn read_attributes(&self, media_id: &str) -> Result<PhotoShelterRecord> {
        let call = Call::get(Api::V4, wire::v4::media(media_id));
        let (data, url) = self.v4_resource(&call).await?;
        let id = self.id_from(&url, IdKind::Media, data.get("id"))?;
        if id != media_id {
            return Err(self.malformed(&call, &url, format!("asked for {media_id}, got {id}")));
        }
        let attributes: Map<String, Value> = wire::attributes(&Value::Object(data))
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .collect();
        let bad = |what: &str, e: String| self.malformed(&call, &url, format!("{what}: {e}"));
        let modified_at = match attributes.get("modified_at") {
            Some(v) => wire::lenient_timestamp(v).map_err(|e| bad("modified_at", e))?,
            None => None,
        };
        let file_size = match attributes.get("file_size") {
            Some(v) => wire::lenient_u64(v).map_err(|e| bad("file_size", e))?,
            None => None,
        };
        let checksum = attributes
            .get("hash")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|h| format!("sha1:{}", h.to_ascii_lowercase()));
        let file_name = attributes.get("file_name").and_then(wire::lenient_text);
        Ok(PhotoShelterRecord {
            media_id: id,
            attributes,
            iptc: Map::new(),
            custom: BTreeMap::new(),
            license: Map::new(),
            modified_at,
            file_name,
            file_size,
            checksum,
        })
    }

    /// Reads many records with bounded concurrency; one failure does not stop the others.
    /// Results are in the order of `ids`.
    pub async fn read_records(&self, ids: &[String]) -> Vec<(String, Result<PhotoShelterRecord>)> {
        futures_util::stream::iter(ids.iter())
            .map(|id| async move { (id.clone(), self.read_record(id).await) })
            .buffered(self.concurrency)
            .collect()
            .await
    }

    async fn read_iptc(&self, media_id: &str) -> Result<Map<String, Value>> {
        let call = Call::get(Api::V4, wire::v4::media_iptc(media_id));
        let (data, _) = self.v4_resource(&call).await?;
        Ok(wire::attributes(&Value::Object(data))
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .collect())
    }

    /// The account's custom metadata fields, each with its preset tags; `None` when the
    /// account does not say (the endpoint is unverified, see [`wire::v4::METADATA_FIELDS`]).
    pub async fn custom_field_presets(&self) -> Result<Option<BTreeMap<String, Vec<String>>>> {
        let call = Call::get(Api::V4, wire::v4::METADATA_FIELDS.to_string());
        let (body, url) = match self.call_json(&call).await {
            Ok(answer) => answer,
            Err(PhotoShelterError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(Value::Array(items)) = get(&body, "data") else {
            return Err(self.malformed(&call, &url, "`data` is not a list of fields"));
        };
        let mut out = BTreeMap::new();
        for item in items {
            let attrs = wire::attributes(item);
            let Some(name) = attrs.get("name").and_then(wire::lenient_text) else {
                return Err(self.malformed(&call, &url, "a custom metadata field without a name"));
            };
            let values = match attrs.get("values") {
                Some(Value::Array(v)) => v
                    .iter()
                    .filter_map(|t| get(t, "value").and_then(wire::lenient_text))
                    .collect(),
                _ => Vec::new(),
            };
            out.insert(name, values);
        }
        Ok(Some(out))
    }

    async fn read_custom(&self, media_id: &str) -> Result<BTreeMap<String, String>> {
        let call = Call::get(Api::V4, wire::v4::media_custom_metadata(media_id));
        let (data, url) = self.v4_resource(&call).await?;
        let attrs = wire::attributes(&Value::Object(data));
        let items = match attrs.get(wire::CUSTOM_METADATA_KEY) {
            None | Some(Value::Null) => return Ok(BTreeMap::new()),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(self.malformed(&call, &url, "`custom_metadata` is not a list")),
        };
        let mut out = BTreeMap::new();
        for item in items {
            let pick = |keys: &[&str]| {
                keys.iter()
                    .find_map(|k| get(&item, k).and_then(wire::lenient_text))
            };
            let Some(name) = pick(wire::CUSTOM_FIELD_NAME_KEYS) else {
                return Err(self.malformed(
                    &call,
                    &url,
                    "a custom metadata item without a field name",
                ));
            };
            if let Some(value) = pick(wire::CUSTOM_VALUE_KEYS).filter(|v| !v.trim().is_empty()) {
                out.insert(name, value);
            }
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // Writing media

    /// Sends one of `apply_write`'s PATCHes (absolute values: repeatable). Only success
    /// matters: a 2xx answer whose body cannot be read (cut short) still says the write was
    /// taken, and the read-back that ends every write verifies it.
    pub(super) async fn call_write(&self, call: &Call) -> Result<()> {
        match self.call_json(call).await {
            Ok(_) => Ok(()),
            Err(PhotoShelterError::Malformed { .. }) if call.api == Api::V4 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Writes IPTC fields, custom metadata and media attributes, then reads the media back
    /// and checks every written value; returns what was read back.
    #[tracing::instrument(level = "info", skip(self, write), fields(iptc = write.iptc.len(), custom = write.custom.len(), attributes = write.attributes.len()))]
    pub async fn apply_write(
        &self,
        media_id: &str,
        write: &PhotoShelterWrite,
    ) -> Result<PhotoShelterRecord> {
        let license = self.send_write(media_id, write).await?;
        let parts = RecordParts {
            license: license.is_none(),
            ..RecordParts::ALL
        };
        let mut record = self.read_parts(media_id, parts).await?;
        if let Some(license) = license {
            record.license = license;
        }
        Self::verified(media_id, write, record)
    }

    /// [`Self::apply_write`] on a record just read: only the parts written are read back
    /// (and checked), the rest is taken from `before`. One request per written part rather
    /// than three.
    #[tracing::instrument(level = "info", skip(self, write, before), fields(iptc = write.iptc.len(), custom = write.custom.len(), attributes = write.attributes.len()))]
    pub async fn apply_write_over(
        &self,
        media_id: &str,
        write: &PhotoShelterWrite,
        before: PhotoShelterRecord,
    ) -> Result<PhotoShelterRecord> {
        let license = self.send_write(media_id, write).await?;
        // The licence write was already read back, where it was verified.
        let parts = RecordParts {
            license: false,
            ..RecordParts::written(write)
        };
        let mut record = before.with_parts(self.read_parts(media_id, parts).await?, parts);
        if let Some(license) = license {
            record.license = license;
        }
        Self::verified(media_id, write, record)
    }

    /// `record` if it holds every value of `write`.
    fn verified(
        media_id: &str,
        write: &PhotoShelterWrite,
        record: PhotoShelterRecord,
    ) -> Result<PhotoShelterRecord> {
        let mismatches = verify(write, &record);
        if !mismatches.is_empty() {
            return Err(PhotoShelterError::NotVerified {
                what: "media",
                id: media_id.to_string(),
                mismatches,
            });
        }
        Ok(record)
    }

    /// Sends the IPTC, custom metadata, attribute and licence parts of a write; returns the
    /// licence record as its verified read-back found it, when the write had one.
    async fn send_write(
        &self,
        media_id: &str,
        write: &PhotoShelterWrite,
    ) -> Result<Option<Map<String, Value>>> {
        Self::check_arg(IdKind::Media, media_id)?;
        if !write.iptc.is_empty() {
            let fields = write
                .iptc
                .iter()
                .map(|(k, v)| (k.clone(), text_of(v)))
                .collect();
            let method =
                Method::from_bytes(wire::IPTC_WRITE_METHOD.as_bytes()).unwrap_or(Method::PATCH);
            for part in split_for(wire::IPTC_WRITE_ENCODING, fields) {
                let call = Call::new(Api::V4, method.clone(), wire::v4::media_iptc(media_id))
                    .fields(wire::IPTC_WRITE_ENCODING, part)
                    .repeatable();
                self.call_write(&call).await?;
            }
        }
        if !write.custom.is_empty() {
            let items: Vec<Value> = write
                .custom
                .iter()
                .map(|(k, v)| json!({wire::CUSTOM_FIELD_NAME: k, "value": v}))
                .collect();
            let call = Call::new(
                Api::V4,
                Method::PATCH,
                wire::v4::media_custom_metadata(media_id),
            )
            .body(Body::Json(json!({wire::CUSTOM_METADATA_KEY: items})))
            .repeatable();
            self.call_write(&call).await?;
        }
        if !write.attributes.is_empty() {
            let fields = write
                .attributes
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::Bool(b) => wire::bool_param(*b).to_string(),
                        other => text_of(other),
                    };
                    (k.clone(), text)
                })
                .collect();
            for part in split_for(wire::ATTRIBUTE_WRITE_ENCODING, fields) {
                let call = Call::new(Api::V4, Method::PATCH, wire::v4::media(media_id))
                    .fields(wire::ATTRIBUTE_WRITE_ENCODING, part)
                    .repeatable();
                self.call_write(&call).await?;
            }
        }
        self.write_license(media_id, &write.license).await
    }

    /// Sets (or clears) the License Alerts expiration date, verified, wherever the account
    /// keeps its licence records.
    pub async fn set_license_expiry(&self, media_id: &str, date: Option<NaiveDate>) -> Result<()> {
        let mut w = PhotoShelterWrite::default();
        w.license.insert(
            wire::LicenseField::ExpirationDate.name().into(),
            date.map_or(Value::Null, |d| {
                Value::String(d.format("%Y-%m-%d").to_string())
            }),
        );
        self.apply_write(media_id, &w).await.map(|_| ())
    }

    /// Sets the model and/or property release flags, verified.
    pub async fn set_releases(
        &self,
        media_id: &str,
        model: Option<bool>,
        property: Option<bool>,
    ) -> Result<()> {
        let mut w = PhotoShelterWrite::default();
        if let Some(m) = model {
            w.attributes
                .insert(wire::MODEL_RELEASED.into(), Value::Bool(m));
        }
        if let Some(p) = property {
            w.attributes
                .insert(wire::PROPERTY_RELEASED.into(), Value::Bool(p));
        }
        if w.is_empty() {
            return Ok(());
        }
        self.apply_write(media_id, &w).await.map(|_| ())
    }

    /// For `ferry doctor`: writes a probe value into one IPTC field of a media item, reads it
    /// back, restores the original and reads that back.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn write_probe(&self, media_id: &str) -> Result<WriteProbe> {
        let field = wire::PROBE_IPTC_FIELD;
        let before = self.read_record(media_id).await?;
        let original = before
            .iptc
            .get(field)
            .and_then(wire::lenient_text)
            .filter(|s| !s.trim().is_empty());
        let marker = if original.as_deref() == Some("ferry write probe") {
            "ferry write probe 2"
        } else {
            "ferry write probe"
        };
        let mut w = PhotoShelterWrite::default();
        w.iptc.insert(field.into(), Value::String(marker.into()));
        self.apply_write(media_id, &w).await?;
        let mut back = PhotoShelterWrite::default();
        back.iptc.insert(
            field.into(),
            Value::String(original.clone().unwrap_or_default()),
        );
        if let Err(e) = self.apply_write(media_id, &back).await {
            return Err(PhotoShelterError::Invalid(format!(
                "write probe on {media_id}: the probe value was written but restoring IPTC '{field}' to {:?} failed; restore it by hand: {e}",
                original.as_deref().unwrap_or("")
            )));
        }
        Ok(WriteProbe {
            media_id: media_id.to_string(),
            field: field.to_string(),
            original,
            restored: true,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Containers

    /// A gallery or collection, with its visibility.
    pub async fn container(&self, kind: ContainerKind, id: &str) -> Result<Container> {
        Self::check_arg(kind.id_kind(), id)?;
        let path = match kind {
            ContainerKind::Gallery => wire::v4::gallery(id),
            ContainerKind::Collection => wire::v4::collection(id),
        };
        let call = Call::get(Api::V4, path);
        let (data, url) = self.v4_resource(&call).await?;
        let data = Value::Object(data);
        let got = self.id_from(&url, kind.id_kind(), get(&data, "id"))?;
        let attrs = wire::attributes(&data);
        Ok(Container {
            id: got,
            kind,
            name: attrs.get("name").and_then(wire::lenient_text),
            description: attrs
                .get("description")
                .and_then(wire::lenient_text)
                .filter(|d| !d.is_empty()),
            mode: attrs
                .get("mode")
                .and_then(Value::as_str)
                .and_then(Visibility::parse),
            listed: attrs
                .get("is_listed")
                .map(wire::lenient_bool)
                .transpose()
                .map_err(|e| self.malformed(&call, &url, format!("is_listed: {e}")))?
                .flatten(),
            modified_at: attrs
                .get("modified_at")
                .map(wire::lenient_timestamp)
                .transpose()
                .map_err(|e| self.malformed(&call, &url, format!("modified_at: {e}")))?
                .flatten(),
        })
    }

    /// The visibility of a gallery or collection (v4 permissions).
    pub async fn visibility(&self, kind: ContainerKind, id: &str) -> Result<Visibility> {
        Self::check_arg(kind.id_kind(), id)?;
        let path = match kind {
            ContainerKind::Gallery => wire::v4::gallery_permissions(id),
            ContainerKind::Collection => wire::v4::collection_permissions(id),
        };
        let call = Call::get(Api::V4, path);
        let (data, url) = self.v4_resource(&call).await?;
        let attrs = wire::attributes(&Value::Object(data));
        attrs
            .get("mode")
            .and_then(Value::as_str)
            .and_then(Visibility::parse)
            .ok_or_else(|| {
                self.malformed(&call, &url, "no visibility `mode` among the permissions")
            })
    }

    /// Sets the visibility of a gallery or collection (v3), verified through v4.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn set_visibility(
        &self,
        kind: ContainerKind,
        id: &str,
        mode: Visibility,
    ) -> Result<()> {
        Self::check_arg(kind.id_kind(), id)?;
        let call = Call::new(
            Api::V3,
            Method::POST,
            wire::v3::visibility_update(kind.v3_name(), id),
        )
        .fields(
            wire::VISIBILITY_WRITE_ENCODING,
            vec![(wire::VISIBILITY_MODE.to_string(), mode.name().to_string())],
        );
        self.call_json(&call).await?;
        let now = self.visibility(kind, id).await?;
        if now != mode {
            return Err(PhotoShelterError::NotVerified {
                what: kind.v3_name(),
                id: id.to_string(),
                mismatches: vec![format!("visibility is {now}, expected {mode}")],
            });
        }
        Ok(())
    }

    /// Creates a gallery (v3), in a collection or at the top level, and returns its id after
    /// reading it back.
    #[tracing::instrument(level = "info", skip(self))]
    pub async fn create_gallery(
        &self,
        name: &str,
        parent_collection: Option<&str>,
        mode: Visibility,
        listed: bool,
    ) -> Result<String> {
        if name.trim().is_empty() {
            return Err(PhotoShelterError::Invalid("a gallery needs a name".into()));
        }
        let mut fields = vec![(wire::GALLERY_NAME.to_string(), name.to_string())];
        if let Some(p) = parent_collection {
            Self::check_arg(IdKind::Collection, p)?;
            fields.push((wire::GALLERY_PARENT.to_string(), p.to_string()));
        }
        fields.push((
            wire::GALLERY_LISTED.to_string(),
            if listed { "t" } else { "f" }.to_string(),
        ));
        fields.push((wire::VISIBILITY_MODE.to_string(), mode.name().to_string()));
        let call = Call::new(Api::V3, Method::POST, wire::v3::GALLERY_INSERT)
            .fields(wire::GALLERY_INSERT_ENCODING, fields);
        let (data, url) = self.call_json(&call).await?;
        let raw = wire::GALLERY_INSERT_ID_POINTERS
            .iter()
            .find_map(|p| data.pointer(p))
            .ok_or_else(|| self.malformed(&call, &url, "no new gallery id in the answer"))?;
        let id = self.id_from(&url, IdKind::Gallery, Some(raw))?;
        let made = self.container(ContainerKind::Gallery, &id).await?;
        if made.name.as_deref() != Some(name) {
            return Err(PhotoShelterError::NotVerified {
                what: "gallery",
                id,
                mismatches: vec![format!("name is {:?}, expected {name:?}", made.name)],
            });
        }
        Ok(id)
    }
}

/// The text of a JSON value as a write sends it: null clears (""), lists join with ", ".
fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Array(items) => items
            .iter()
            .filter_map(wire::lenient_text)
            .collect::<Vec<_>>()
            .join(", "),
        other => wire::lenient_text(other).unwrap_or_default(),
    }
}

/// Fields sent in a query string are split over several requests so that no query passes
/// [`wire::MAX_WRITE_QUERY_BYTES`] (a field longer than that goes alone); other encodings
/// carry everything at once.
fn split_for(
    encoding: wire::Encoding,
    fields: Vec<(String, String)>,
) -> Vec<Vec<(String, String)>> {
    if encoding != wire::Encoding::Query {
        return vec![fields];
    }
    let encoded = |k: &str, v: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair(k, v)
            .finish()
            .len()
            + 1
    };
    let mut out: Vec<Vec<(String, String)>> = Vec::new();
    let mut size = 0;
    for (k, v) in fields {
        let n = encoded(&k, &v);
        match out.last_mut() {
            Some(last) if size + n <= wire::MAX_WRITE_QUERY_BYTES => {
                last.push((k, v));
                size += n;
            }
            _ => {
                out.push(vec![(k, v)]);
                size = n;
            }
        }
    }
    out
}

fn keyword_set(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .split(',')
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// What a read-back record disagrees with in a write.
fn verify(write: &PhotoShelterWrite, record: &PhotoShelterRecord) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in &write.iptc {
        let want = text_of(v);
        let got = record.iptc.get(k).map(text_of).unwrap_or_default();
        let same = if k == "keywords" {
            keyword_set(&want) == keyword_set(&got)
        } else {
            want.trim() == got.trim() || crate::model::same_day(&want, &got)
        };
        if !same {
            out.push(format!("IPTC {k} is {got:?}, expected {want:?}"));
        }
    }
    for (k, v) in &write.custom {
        let got = record.custom.get(k);
        if got.map(|s| s.trim()) != v.as_deref().map(str::trim) {
            out.push(format!("custom metadata {k:?} is {got:?}, expected {v:?}"));
        }
    }
    for (k, v) in &write.attributes {
        let got = record.attributes.get(k).cloned().unwrap_or(Value::Null);
        let same = match v {
            Value::Null => got.is_null() || text_of(&got).trim().is_empty(),
            Value::Bool(b) => wire::lenient_bool(&got).ok().flatten() == Some(*b),
            other => {
                let want = text_of(other);
                let got_text = text_of(&got);
                want.trim() == got_text.trim() || crate::model::same_day(&want, &got_text)
            }
        };
        if !same {
            out.push(format!("attribute {k} is {got}, expected {v}"));
        }
    }
    for (k, v) in &write.license {
        let want = text_of(v);
        let got = record.license.get(k).map(text_of).unwrap_or_default();
        let same = if want.trim().is_empty() {
            got.trim().is_empty()
        } else {
            want.trim() == got.trim() || crate::model::same_day(&want, &got)
        };
        if !same {
            out.push(format!("licence {k} is {got:?}, expected {want:?}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_query_writes_are_split() {
        // 2000 bytes of "é" percent-encode to 12000 characters: alone in its request.
        let huge = "é".repeat(1000);
        assert_eq!(
            split_for(
                wire::Encoding::Query,
                vec![
                    ("caption".into(), huge.clone()),
                    ("title".into(), "T".into())
                ]
            )
            .len(),
            2
        );
        let long = "x".repeat(4000);
        let fields = vec![
            ("caption".to_string(), long.clone()),
            ("title".to_string(), "T".to_string()),
            ("headline".to_string(), long),
            ("city".to_string(), "C".to_string()),
        ];
        let parts = split_for(wire::Encoding::Query, fields.clone());
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.concat(), fields);
        assert_eq!(split_for(wire::Encoding::Json, fields).len(), 1);
        let short = vec![("a".to_string(), "b".to_string()); 3];
        assert_eq!(split_for(wire::Encoding::Query, short).len(), 1);
    }

    #[test]
    fn writes_are_verified_field_by_field() {
        let mut w = PhotoShelterWrite::default();
        w.iptc.insert("keywords".into(), json!("b, a"));
        w.iptc.insert("title".into(), json!("T"));
        w.attributes
            .insert(wire::LICENSE_EXPIRATION_DATE.into(), json!("2030-01-02"));
        w.attributes
            .insert(wire::MODEL_RELEASED.into(), json!(true));
        w.custom.insert("Campaign".into(), None);
        let mut r = PhotoShelterRecord::default();
        r.iptc.insert("keywords".into(), json!("a,b"));
        r.iptc.insert("title".into(), json!("T "));
        r.attributes.insert(
            wire::LICENSE_EXPIRATION_DATE.into(),
            json!("2030-01-02 00:00:00 GMT"),
        );
        r.attributes.insert(wire::MODEL_RELEASED.into(), json!("t"));
        assert!(verify(&w, &r).is_empty(), "{:?}", verify(&w, &r));
        r.custom.insert("Campaign".into(), "X".into());
        r.iptc.insert("title".into(), json!("U"));
        assert_eq!(verify(&w, &r).len(), 2);
    }
}
