//! The `verified` and `written_back` steps: Preservica's fixity checked against the
//! original's, then the archive status written back to PhotoShelter.

use super::*;

/// Checks Preservica's fixity of the ingested asset against the original's.
/// `Ok(Err(reason))`: the copy does not match.
pub(super) async fn verify(
    ctx: &TransferContext<'_>,
    reference: &str,
    record: &TransferRecord,
) -> Result<Result<String, String>, TransferError> {
    let bitstreams = ctx.preservica.bitstreams(reference).await?;
    let Some(bs) = bitstreams
        .iter()
        .find(|b| b.representation.eq_ignore_ascii_case("Preservation"))
        .or(bitstreams.first())
    else {
        return Ok(Err(format!("asset {reference} has no bitstream")));
    };
    let size = record.detail.get("size").and_then(Value::as_u64);
    if Some(bs.doc.size) != size {
        return Ok(Err(format!(
            "size mismatch: Preservica holds {} bytes, the original has {}",
            bs.doc.size,
            size.map(|s| s.to_string()).unwrap_or_else(|| "?".into())
        )));
    }
    Ok(check_fixity(&bs.doc.fixities, &computed_fixities(record)))
}

/// Writes the archive status and the preservation reference into PhotoShelter (read back
/// by the client to verify).
pub(super) async fn write_back(
    mapping: &Mapping,
    ctx: &TransferContext<'_>,
    media: &str,
    reference: &str,
    title: Option<&str>,
) -> Result<(), TransferError> {
    let mut changes = Vec::new();
    // Preservica gives an untitled asset its file name as title; PhotoShelter gets the same,
    // so the pair starts in sync rather than with a difference ferry made itself.
    if let Some(t) = title {
        changes.push(FieldChange {
            field: "title".into(),
            value: FieldValue::text(t),
        });
    }
    if let Some(spec) = mapping.field("archive_status")
        && spec.is_in(System::PhotoShelter)
    {
        let value = crate::mapping::parse_for(spec, "archived").map_err(|e| {
            TransferError::Invalid(format!(
                "the mapping's archive_status field cannot hold \"archived\": {e}"
            ))
        })?;
        changes.push(FieldChange {
            field: spec.name.clone(),
            value,
        });
    }
    if let Some(spec) = mapping.field("preservation_reference")
        && spec.is_in(System::PhotoShelter)
    {
        changes.push(FieldChange {
            field: spec.name.clone(),
            value: FieldValue::text(reference),
        });
    }
    if changes.is_empty() {
        return Ok(());
    }
    let write = ps_map::plan_write(mapping, &Default::default(), &changes);
    ctx.photoshelter.apply_write(media, &write).await?;
    Ok(())
}
