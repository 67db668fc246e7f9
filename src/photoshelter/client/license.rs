//! The licence record: where an account keeps a media item's licence expiry is documented
//! only for v3 (`License.license_etime`), so the client reads the places of
//! [`LicensePlace::ALL`] in turn until one answers, and remembers it for the rest of the run
//! (logged once). A write goes first where reads are answered, and counts as done only when
//! a read-back shows the new value there; otherwise the next place is tried.

use super::*;
use crate::photoshelter::wire::{LicenseField, LicensePlace};

/// What this client learnt about the account's licence record.
#[derive(Debug, Default, Clone)]
pub(crate) struct LicensePlaces {
    /// The place reads are answered from.
    pub read: Option<LicensePlace>,
    /// The place a write was last shown to work at.
    pub write: Option<LicensePlace>,
    /// Places this account refused outright (not a 404 for one media): not asked again.
    pub refused: Vec<LicensePlace>,
    /// Reads a guessed v4 place answered with no licence while v3 held no record.
    pub v4_only_answers: u32,
}

/// After this many reads where only a guessed v4 place answered (with no licence), that
/// place is taken as the account's: an account without any licence set would otherwise be
/// probed in every place for every media item.
const V4_ONLY_ANSWERS_TO_TRUST: u32 = 25;

fn is_v3(place: LicensePlace) -> bool {
    matches!(place, LicensePlace::V3Extend | LicensePlace::V3Record)
}

/// One place's answer: `None` when the place does not hold licences on this account.
type Answer = Option<Value>;

impl PhotoShelterClient {
    /// The place reads of the licence record are answered from, once one was found.
    pub fn license_place(&self) -> Option<LicensePlace> {
        plock(&self.license_places).read
    }

    /// The licence record of `media_id` as `LicenseField` name → value (absent: none).
    pub(super) async fn read_license(&self, media_id: &str) -> Result<Map<String, Value>> {
        Ok(license_record(self.license_expiry_raw(media_id).await?))
    }

    /// The remembered place first, then the others in order: a place that answers for
    /// images may not for other media (v3 keeps videos and documents elsewhere).
    async fn license_expiry_raw(&self, media_id: &str) -> Result<Value> {
        let (known, refused) = {
            let p = plock(&self.license_places);
            (p.read, p.refused.clone())
        };
        let order = known.into_iter().chain(
            LicensePlace::ALL
                .into_iter()
                .filter(|p| Some(*p) != known && !refused.contains(p)),
        );
        let mut last_error = None;
        let mut v3_answered = false;
        for place in order {
            match self.license_at(place, media_id).await {
                Ok(Some(v)) => {
                    if known.is_none() {
                        self.learn_read_place(place, &v, v3_answered);
                    }
                    return Ok(v);
                }
                Ok(None) => v3_answered |= is_v3(place),
                Err(e) if not_offered(&e) => {
                    tracing::debug!(place = place.describe(), error = %e, "no licence record here");
                    if e.status() != Some(404) {
                        plock(&self.license_places).refused.push(place);
                    }
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        // The media attribute place always answers for media that exist: its refusal is
        // the media's own (gone, not visible), and says so better than a list of places.
        if let Some(e) = last_error.filter(|e| e.status() == Some(404)) {
            return Err(e);
        }
        Err(PhotoShelterError::Invalid(format!(
            "media {media_id}: no place PhotoShelter keeps a licence answered ({}); run `ferry doctor` with photoshelter.probe_media_id set",
            LicensePlace::ALL.map(|p| p.describe()).join(", ")
        )))
    }

    /// v3's record is the documented one and is trusted at once. A guessed v4 place is
    /// trusted once it shows a licence, or after it alone answered for many media: "no
    /// value" there may only mean "not kept here" (a video, which v3 keeps elsewhere).
    fn learn_read_place(&self, place: LicensePlace, value: &Value, v3_answered: bool) {
        if is_v3(place) || !value.is_null() {
            self.remember_read_place(place);
            return;
        }
        let trusted = {
            let mut p = plock(&self.license_places);
            if !v3_answered {
                p.v4_only_answers += 1;
            }
            p.v4_only_answers >= V4_ONLY_ANSWERS_TO_TRUST
        };
        if trusted {
            self.remember_read_place(place);
        }
    }

    fn remember_read_place(&self, place: LicensePlace) {
        let mut places = plock(&self.license_places);
        if places.read.is_none() {
            places.read = Some(place);
            tracing::info!(
                place = place.describe(),
                "PhotoShelter licence records are read through {}",
                place.describe()
            );
        }
    }

    /// The expiry `place` holds for `media_id` (`Null`: none), or `None` when the answer
    /// shows the place does not hold licences.
    pub async fn license_at(&self, place: LicensePlace, media_id: &str) -> Result<Answer> {
        Self::check_arg(IdKind::Media, media_id)?;
        match place {
            LicensePlace::V3Extend => {
                let call = Call::get(Api::V3, wire::v3::image(media_id))
                    .query("extend", wire::V3_LICENSE_EXTEND);
                let (data, _) = self.call_json(&call).await?;
                let image = get(&data, "Image").unwrap_or(&data);
                Ok(get(image, wire::V3_LICENSE_RECORD).map(v3_expiry))
            }
            LicensePlace::V3Record => {
                let call = Call::get(Api::V3, wire::v3::image_license(media_id));
                let (data, _) = self.call_json(&call).await?;
                let record = get(&data, wire::V3_LICENSE_RECORD).unwrap_or(&data);
                Ok(Some(v3_expiry(record)))
            }
            LicensePlace::V4Record => {
                let call = Call::get(Api::V4, wire::v4::media_license(media_id));
                let (data, _) = self.v4_resource(&call).await?;
                let attrs = wire::attributes(&Value::Object(data));
                Ok(Some(
                    wire::V4_LICENSE_EXPIRY_KEYS
                        .iter()
                        .find_map(|k| attrs.get(*k).filter(|v| !v.is_null()).cloned())
                        .unwrap_or(Value::Null),
                ))
            }
            LicensePlace::V4Attribute => {
                let call = Call::get(Api::V4, wire::v4::media(media_id));
                let (data, _) = self.v4_resource(&call).await?;
                let attrs = wire::attributes(&Value::Object(data));
                Ok(Some(
                    attrs
                        .get(wire::LICENSE_EXPIRATION_DATE)
                        .cloned()
                        .unwrap_or(Value::Null),
                ))
            }
        }
    }

    /// Writes the licence record's fields (`Null` clears) where a read-back then shows them;
    /// returns the record as that read-back found it (`None`: nothing to write), so the
    /// caller need not read it once more.
    pub(super) async fn write_license(
        &self,
        media_id: &str,
        fields: &Map<String, Value>,
    ) -> Result<Option<Map<String, Value>>> {
        let Some(want) = fields.get(LicenseField::ExpirationDate.name()) else {
            return Ok(None);
        };
        let text = wire::lenient_text(want).unwrap_or_default();
        let known = plock(&self.license_places).clone();
        let order = known
            .write
            .into_iter()
            .chain(known.read)
            .chain(LicensePlace::ALL);
        let mut tried: Vec<LicensePlace> = Vec::new();
        let mut outcomes: Vec<String> = Vec::new();
        for place in order {
            if tried.iter().any(|t| same_write(*t, place)) {
                continue;
            }
            tried.push(place);
            match self.send_license(place, media_id, &text).await {
                Ok(()) => {}
                Err(e) if not_offered(&e) => {
                    outcomes.push(format!("{}: {e}", place.describe()));
                    continue;
                }
                Err(e) => return Err(e),
            }
            let read_back = self.license_expiry_raw(media_id).await?;
            let back = wire::lenient_text(&read_back).unwrap_or_default();
            if shows(&back, &text) {
                let mut places = plock(&self.license_places);
                if places.write != Some(place) {
                    places.write = Some(place);
                    tracing::info!(
                        place = place.describe(),
                        "PhotoShelter licence records are written through {}",
                        place.describe()
                    );
                }
                return Ok(Some(license_record(read_back)));
            }
            outcomes.push(format!(
                "{}: taken, but the licence then reads {back:?}",
                place.describe()
            ));
        }
        Err(PhotoShelterError::NotVerified {
            what: "licence of media",
            id: media_id.to_string(),
            mismatches: outcomes,
        })
    }

    async fn send_license(&self, place: LicensePlace, media_id: &str, text: &str) -> Result<()> {
        let call = match place {
            LicensePlace::V3Extend | LicensePlace::V3Record => {
                Call::new(Api::V3, Method::POST, wire::v3::image_license(media_id)).fields(
                    Encoding::Form,
                    vec![(wire::V3_LICENSE_EXPIRY.into(), text.into())],
                )
            }
            LicensePlace::V4Record => {
                Call::new(Api::V4, Method::PATCH, wire::v4::media_license(media_id)).fields(
                    wire::ATTRIBUTE_WRITE_ENCODING,
                    vec![(wire::V3_LICENSE_EXPIRY.into(), text.into())],
                )
            }
            LicensePlace::V4Attribute => {
                Call::new(Api::V4, Method::PATCH, wire::v4::media(media_id)).fields(
                    wire::ATTRIBUTE_WRITE_ENCODING,
                    vec![(wire::LICENSE_EXPIRATION_DATE.into(), text.into())],
                )
            }
        };
        self.call_write(&call.repeatable()).await
    }
}

/// An expiry as read into the licence record map (no value: an empty record).
fn license_record(value: Value) -> Map<String, Value> {
    let mut out = Map::new();
    if !value.is_null() && !wire::lenient_text(&value).is_some_and(|t| t.trim().is_empty()) {
        out.insert(LicenseField::ExpirationDate.name().to_string(), value);
    }
    out
}

/// v3 licence record → its expiry; the record may come as an object or a one-item list.
fn v3_expiry(record: &Value) -> Value {
    let record = match record {
        Value::Array(items) => items.first().unwrap_or(&Value::Null),
        other => other,
    };
    get(record, wire::V3_LICENSE_EXPIRY)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Both v3 places are written through the same request.
fn same_write(a: LicensePlace, b: LicensePlace) -> bool {
    let v3 = |p| matches!(p, LicensePlace::V3Extend | LicensePlace::V3Record);
    a == b || (v3(a) && v3(b))
}

/// Whether a read-back value shows `want` (`""`: cleared).
fn shows(back: &str, want: &str) -> bool {
    if want.trim().is_empty() {
        return back.trim().is_empty();
    }
    back.trim() == want.trim() || crate::model::same_day(back, want)
}

/// An answer that says "not here" rather than "something failed": the place does not exist
/// on this server or this account may not use it.
fn not_offered(e: &PhotoShelterError) -> bool {
    matches!(
        e.status(),
        Some(400 | 401 | 403 | 404 | 405 | 410 | 422 | 501)
    ) || matches!(e, PhotoShelterError::Malformed { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_back_shows_a_date_in_any_form_and_a_clear_as_empty() {
        assert!(shows("2030-01-02 00:00:00 GMT", "2030-01-02"));
        assert!(shows("", ""));
        assert!(!shows("2030-01-02", ""));
        assert!(!shows("2030-01-03 00:00:00 GMT", "2030-01-02"));
    }

    #[test]
    fn the_two_v3_places_share_one_write() {
        assert!(same_write(LicensePlace::V3Extend, LicensePlace::V3Record));
        assert!(!same_write(LicensePlace::V3Record, LicensePlace::V4Record));
    }

    #[test]
    fn a_v3_record_may_come_as_a_list() {
        let v = json!([{"license_etime": "2030-01-02 00:00:00 GMT"}]);
        assert_eq!(v3_expiry(&v), json!("2030-01-02 00:00:00 GMT"));
        assert_eq!(v3_expiry(&json!(null)), Value::Null);
    }
}
