//! Republish: Preservica → PhotoShelter (`ferry republish`).
//!
//! Archive assets chosen by ref, by folder or by a search over the index are copied into a
//! PhotoShelter gallery (created, with the configured visibility, when missing): the chosen
//! rendition is streamed down with its fixity checked, uploaded, given the mapped metadata
//! (with any values the user overrides, such as a new campaign), and paired with its archive
//! asset so later syncs keep both consistent. Rights travel with it: an expired licence is
//! refused unless allowed, and the usage terms are part of the mapped metadata.
//!
//! Steps, each committed before the next: `downloaded` → `uploading` → `uploaded` →
//! `written` → `done`. A run that finds a transfer at `uploading` looks in the gallery for
//! the upload before sending it again; republishing a done transfer does nothing.

use super::{
    PlannedTransfer, RunEnd, TransferContext, TransferError, TransferOutcome, begin_run, finish_run,
};
use crate::config::Rendition;
use crate::mapping::preservica as pv_map;
use crate::mapping::{FieldChange, Mapping};
use crate::model::{CanonicalRecord, FieldValue, System};
use crate::photoshelter::client::Scope;
use crate::preservica::client::Bitstream;
use crate::store::transfers::{TransferKind, TransferRecord, TransferState};
use crate::store::{RunKind, Store};

pub mod check;
mod steps;

use steps::Republishing;

/// Most search hits a `--query` republishes unless told otherwise.
pub const DEFAULT_QUERY_LIMIT: usize = 100;

/// What to republish and where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepublishRequest {
    pub refs: Vec<String>,
    /// Every asset in this Preservica folder (and below).
    pub folder: Option<String>,
    /// A search over the index (the query language of `ferry search`).
    pub query: Option<String>,
    /// At most this many search hits.
    pub limit: usize,
    /// The gallery's name; created when no gallery has it.
    pub to_gallery: String,
    /// `field=value` overrides of the mapped metadata (canonical field names).
    pub set: Vec<(String, String)>,
    pub allow_expired: bool,
}

/// How to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepublishOptions {
    pub dry_run: bool,
    /// Stop after this step as if the process had died there (crash tests).
    pub stop_after: Option<RepublishStep>,
}

/// The steps of a republish transfer, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RepublishStep {
    Downloaded,
    Uploading,
    Uploaded,
    Written,
    Done,
}

impl RepublishStep {
    pub const ALL: [RepublishStep; 5] = [
        RepublishStep::Downloaded,
        RepublishStep::Uploading,
        RepublishStep::Uploaded,
        RepublishStep::Written,
        RepublishStep::Done,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RepublishStep::Downloaded => "downloaded",
            RepublishStep::Uploading => "uploading",
            RepublishStep::Uploaded => "uploaded",
            RepublishStep::Written => "written",
            RepublishStep::Done => "done",
        }
    }

    fn of(record: &TransferRecord) -> Option<RepublishStep> {
        let step = record.step.as_deref()?;
        RepublishStep::ALL.into_iter().find(|s| s.name() == step)
    }
}

/// An archive asset chosen for republishing, with what was found about it.
struct Candidate {
    reference: String,
    canonical: CanonicalRecord,
    /// Why it will not go, if it will not.
    refused: Option<String>,
}

/// Checks the overrides against the mapping: each must name a field PhotoShelter holds and
/// a value of its kind.
fn parse_overrides(
    mapping: &Mapping,
    set: &[(String, String)],
) -> Result<Vec<FieldChange>, TransferError> {
    set.iter()
        .map(|(field, raw)| {
            let spec = mapping.field(field).ok_or_else(|| {
                TransferError::Invalid(format!(
                    "--set {field}={raw}: the mapping has no field {field:?}"
                ))
            })?;
            if !spec.is_in(System::PhotoShelter) {
                return Err(TransferError::Invalid(format!(
                    "--set {field}={raw}: {field} is not kept in PhotoShelter"
                )));
            }
            let value = crate::mapping::parse_for(spec, raw)
                .map_err(|e| TransferError::Invalid(format!("--set {field}={raw}: {e}")))?;
            Ok(FieldChange {
                field: field.clone(),
                value,
            })
        })
        .collect()
}

/// Republishes what `request` names into its gallery.
pub async fn run_republish(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    request: &RepublishRequest,
    opts: &RepublishOptions,
) -> Result<TransferOutcome, TransferError> {
    if request.to_gallery.trim().is_empty() {
        return Err(TransferError::Invalid(
            "--to-gallery needs a gallery name".into(),
        ));
    }
    let overrides = parse_overrides(ctx.mapping, &request.set)?;
    let existing = ctx
        .photoshelter
        .galleries_named(&request.to_gallery)
        .await?;
    let refs = select(store, ctx, request, existing.first()).await?;
    if refs.is_empty() {
        return Err(TransferError::Invalid(
            "nothing to republish: the refs, folder or query given select no archive asset".into(),
        ));
    }
    let candidates = read_candidates(ctx, request, refs).await?;
    check_writes(ctx, &overrides, &candidates).await?;
    if opts.dry_run {
        let planned = plan_dry_run(store, ctx, request, &candidates, existing.first()).await?;
        return Ok(TransferOutcome::dry_run(planned));
    }

    let started = ctx.clock.now();
    let run = begin_run(store, &ctx.clock, RunKind::Republish)?;
    let span = tracing::info_span!("republish", run, gallery = %request.to_gallery);
    let mut planned = Vec::new();
    let mut republishing = Republishing {
        store: &mut *store,
        ctx,
        run,
        request,
        overrides: &overrides,
        opts,
        planned: &mut planned,
        staging: ctx.archive.staging.clone(),
    };
    let result = tracing::Instrument::instrument(
        republishing.all(&candidates, existing.first().cloned()),
        span,
    )
    .await;
    let (touched, failures, stopped) = match result {
        Ok((touched, failures)) => (touched, failures, None),
        Err(e @ TransferError::StoppedAfter(_)) => {
            store.release_lock(std::process::id() as i64)?;
            return Err(e);
        }
        Err(e) => (Vec::new(), Vec::new(), Some(e.to_string())),
    };
    finish_run(
        store,
        ctx,
        run,
        RunEnd {
            started,
            stopped,
            failures,
            notes: Vec::new(),
            refused: candidates.iter().filter(|c| c.refused.is_some()).count(),
            planned,
            touched,
        },
    )
}

/// Refuses the whole run, before anything is uploaded, when a value it would write for an
/// asset that goes cannot be written (see [`check`]).
async fn check_writes(
    ctx: &TransferContext<'_>,
    overrides: &[FieldChange],
    candidates: &[Candidate],
) -> Result<(), TransferError> {
    let writes: Vec<(String, Vec<FieldChange>)> = candidates
        .iter()
        .filter(|c| c.refused.is_none())
        .map(|c| {
            let changes = metadata_changes(ctx.mapping, &c.canonical, overrides, &c.reference);
            (c.reference.clone(), changes)
        })
        .collect();
    let custom = writes.iter().flat_map(|(_, w)| w).any(|c| {
        ctx.mapping.field(&c.field).is_some_and(|f| {
            matches!(
                f.photoshelter.as_ref().map(|l| &l.place),
                Some(crate::mapping::PhotoShelterPlace::Custom(_))
            )
        })
    });
    let presets = if custom {
        ctx.photoshelter.custom_field_presets().await?
    } else {
        None
    };
    let refusals = check::check_metadata(ctx.mapping, presets.as_ref(), &writes);
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(check::MetadataRefused(refusals).into())
    }
}

/// Reads each chosen archive asset; one whose licence has expired is refused unless
/// `allow_expired`.
async fn read_candidates(
    ctx: &TransferContext<'_>,
    request: &RepublishRequest,
    refs: Vec<String>,
) -> Result<Vec<Candidate>, TransferError> {
    let today = ctx.clock.now().date_naive();
    let mut candidates = Vec::new();
    for reference in refs {
        let record = ctx.preservica.read_asset(&reference).await?;
        let canonical = pv_map::read_record(ctx.mapping, &record).record;
        let refused = match canonical.get("license_expiry") {
            Some(FieldValue::Date(d)) if d.day() < today && !request.allow_expired => {
                Some(format!(
                    "licence expired on {}; republish it only with --allow-expired",
                    d.day()
                ))
            }
            _ => None,
        };
        candidates.push(Candidate {
            reference,
            canonical,
            refused,
        });
    }
    Ok(candidates)
}

/// What a run would move, with sizes, and what it would skip and why.
async fn plan_dry_run(
    store: &Store,
    ctx: &TransferContext<'_>,
    request: &RepublishRequest,
    candidates: &[Candidate],
    existing: Option<&String>,
) -> Result<Vec<PlannedTransfer>, TransferError> {
    let target_label = match existing {
        Some(id) => format!("gallery {:?} ({id})", request.to_gallery),
        None => format!(
            "gallery {:?} (new, {})",
            request.to_gallery, ctx.republish.visibility
        ),
    };
    let mut planned = Vec::new();
    for c in candidates {
        let (name, size) = match choose_rendition(ctx, &c.reference).await? {
            Some(bs) => (bs.doc.filename.clone(), Some(bs.doc.size)),
            None => (String::new(), None),
        };
        let done = match existing {
            Some(g) => store
                .transfer_for(TransferKind::Republish, &c.reference, g)?
                .filter(|t| t.state == TransferState::Done)
                .map(|t| {
                    format!(
                        "already republished as {} (already in gallery {:?})",
                        t.target_id.unwrap_or_default(),
                        request.to_gallery
                    )
                }),
            None => None,
        };
        planned.push(PlannedTransfer {
            source: c.reference.clone(),
            name,
            size,
            target: target_label.clone(),
            skip: c.refused.clone().or(done),
        });
    }
    Ok(planned)
}

/// The refs `request` names, each once, in the order given. A query republished into this
/// gallery before selects what it selected then (recorded on its transfers), not what the
/// index finds now: a second run adds nothing instead of taking the next matches.
async fn select(
    store: &Store,
    ctx: &TransferContext<'_>,
    request: &RepublishRequest,
    gallery: Option<&String>,
) -> Result<Vec<String>, TransferError> {
    let mut refs: Vec<String> = Vec::new();
    let add = |r: String, refs: &mut Vec<String>| {
        if !refs.contains(&r) {
            refs.push(r);
        }
    };
    for r in &request.refs {
        add(r.clone(), &mut refs);
    }
    if let Some(folder) = &request.folder {
        for link in ctx.preservica.walk_assets(Some(folder)).await? {
            add(link.reference, &mut refs);
        }
    }
    if let Some(query) = &request.query {
        let recorded = match gallery {
            Some(g) => store.republish_selection(g, query)?,
            None => Vec::new(),
        };
        if !recorded.is_empty() {
            for r in recorded {
                add(r, &mut refs);
            }
            return Ok(refs);
        }
        let index = crate::index::SearchIndex::open_read_only(&ctx.index_dir).map_err(|e| {
            TransferError::Invalid(format!(
                "cannot search for {query:?}: {e}; run `ferry index rebuild` first"
            ))
        })?;
        let mut search = crate::index::SearchRequest::new(query, ctx.clock.now().date_naive());
        search.limit = if request.limit == 0 {
            DEFAULT_QUERY_LIMIT
        } else {
            request.limit
        };
        let results = index
            .search(&search)
            .map_err(|e| TransferError::Invalid(format!("search {query:?}: {e}")))?;
        for hit in results.hits {
            if let Some(r) = hit.preservica_ref {
                add(r, &mut refs);
            }
        }
    }
    Ok(refs)
}

/// The bitstream to republish: the access copy when configured and present, else the
/// preservation master.
async fn choose_rendition(
    ctx: &TransferContext<'_>,
    reference: &str,
) -> Result<Option<Bitstream>, TransferError> {
    let bitstreams = ctx.preservica.bitstreams(reference).await?;
    let of = |kind: &str| {
        bitstreams
            .iter()
            .find(|b| b.representation.eq_ignore_ascii_case(kind))
            .cloned()
    };
    Ok(match ctx.republish.rendition {
        Rendition::Access => of("Access").or_else(|| of("Preservation")),
        Rendition::Preservation => of("Preservation"),
    }
    .or_else(|| bitstreams.first().cloned()))
}

fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "tif" | "tiff" => "image/tiff",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// The media a stopped upload left in the gallery: same name and size, and not the result
/// of another transfer.
async fn find_upload(
    store: &Store,
    ctx: &TransferContext<'_>,
    gallery: &str,
    name: &str,
    size: Option<u64>,
) -> Result<Option<String>, TransferError> {
    let listing = ctx
        .photoshelter
        .list_all(&Scope::Galleries(vec![gallery.to_string()]))
        .await?;
    for m in listing.media {
        if m.file_name.as_deref() != Some(name) {
            continue;
        }
        if store.photoshelter_id_of_any_transfer(&m.id)? {
            continue;
        }
        let record = ctx.photoshelter.read_record(&m.id).await?;
        if record.file_size == size {
            return Ok(Some(m.id));
        }
    }
    Ok(None)
}

/// The metadata the new PhotoShelter media gets: every mapped field from the archive record,
/// the overrides on top, the preservation reference, and the archive status.
fn metadata_changes(
    mapping: &Mapping,
    canonical: &CanonicalRecord,
    overrides: &[FieldChange],
    reference: &str,
) -> Vec<FieldChange> {
    let mut changes: Vec<FieldChange> = mapping
        .paired_fields()
        .filter(|f| f.name != "preservation_reference")
        .filter(|f| canonical.get(&f.name).is_some())
        .map(|f| FieldChange {
            field: f.name.clone(),
            value: canonical.get(&f.name).cloned(),
        })
        .collect();
    for o in overrides {
        changes.retain(|c| c.field != o.field);
        changes.push(o.clone());
    }
    if mapping
        .field("preservation_reference")
        .is_some_and(|f| f.is_in(System::PhotoShelter))
    {
        changes.push(FieldChange {
            field: "preservation_reference".into(),
            value: FieldValue::text(reference),
        });
    }
    if let Some(spec) = mapping.field("archive_status")
        && spec.is_in(System::PhotoShelter)
        && !overrides.iter().any(|o| o.field == spec.name)
        && let Ok(value) = crate::mapping::parse_for(spec, "archived")
    {
        changes.push(FieldChange {
            field: spec.name.clone(),
            value,
        });
    }
    changes
}
