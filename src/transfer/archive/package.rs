//! The `uploading` and `uploaded` steps: one OPEX package per batch, built off the async
//! threads and sent to Preservica.

use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) async fn package_and_upload(
    store: &mut Store,
    ctx: &TransferContext<'_>,
    run: RunId,
    folder: &str,
    batch: &Batch,
    items: &mut [Item],
    ready: &[usize],
    opts: &ArchiveOptions,
) -> Result<(), TransferError> {
    let key = format!("ferry-archive-{run}-{}", items[ready[0]].record.id);
    let staging = ctx.archive.staging.clone();
    let zip_path = staging.join(format!("{key}.zip"));
    let today = ctx.clock.now().date_naive();

    // A gallery folder made by an earlier package (some of its media went before) is reused.
    let (target, gallery_folder) = match &batch.gallery {
        Some(g) => {
            let sid = gallery_source_id(&g.id, folder);
            let existing = ctx
                .preservica
                .find_by_identifier(pv_wire::SOURCE_ID_TYPE, &sid)
                .await?
                .into_iter()
                .find(|e| e.kind.is_none_or(|k| k == EntityKind::Folder) && !e.deleted);
            match existing {
                Some(e) => (e.reference, None),
                None => {
                    let record = folder_record(ctx.mapping, g);
                    let spec = FolderSpec {
                        parent: None,
                        name: g.name.clone(),
                        source_id: Some(sid),
                        title: record.title.clone().unwrap_or_else(|| g.name.clone()),
                        description: record.description.clone(),
                        security: String::new(),
                        identifiers: vec![(GALLERY_ID_TYPE.into(), g.id.clone())],
                        fragments: record.fragments.iter().map(|f| f.xml.clone()).collect(),
                    };
                    (folder.to_string(), Some(spec))
                }
            }
        }
        None => (folder.to_string(), None),
    };

    // Images a document in the gallery covers: all of them (a contract or a release form
    // is filed with the shoot it belongs to).
    let images: Vec<String> = batch
        .media
        .iter()
        .filter(|m| m.kind == MediaKind::Image)
        .map(|m| m.id.clone())
        .collect();
    let distribution = distribution_line(batch.gallery.as_ref(), today);
    let mut assets = Vec::new();
    for &n in ready {
        let item = &items[n];
        let ps_record = ctx.photoshelter.read_record(&item.media.id).await?;
        let record = asset_record(ctx.mapping, &ps_record, &distribution);
        let original_name =
            detail_str(&item.record, "original_name").unwrap_or_else(|| item.media.id.clone());
        // The title Preservica will show when PhotoShelter has none (the file name).
        let untitled = record.title.is_none()
            && ctx
                .mapping
                .field("title")
                .is_some_and(|f| f.is_in(System::PhotoShelter));
        let spec = AssetSpec {
            original_name: original_name.clone(),
            source_id: Some(source_id(&item.record)),
            title: record.title.clone().unwrap_or_default(),
            description: record.description.clone(),
            security: String::new(),
            identifiers: vec![(pv_wire::PHOTOSHELTER_ID_TYPE.into(), item.media.id.clone())],
            covers: if item.media.kind == MediaKind::Document {
                images.clone()
            } else {
                Vec::new()
            },
            fragments: record.fragments.iter().map(|f| f.xml.clone()).collect(),
            expected_size: item.record.detail.get("size").and_then(Value::as_u64),
        };
        let staged = PathBuf::from(detail_str(&item.record, "staged").unwrap_or_default());
        assets.push((n, spec, staged, untitled.then(|| original_name.clone())));
    }

    // Building the zip reads and writes files: off the async threads.
    let build = {
        let zip_path = zip_path.clone();
        let key = key.clone();
        let assets: Vec<(usize, AssetSpec, PathBuf)> = assets
            .iter()
            .map(|(n, spec, staged, _)| (*n, spec.clone(), staged.clone()))
            .collect();
        tokio::task::spawn_blocking(move || -> Result<Vec<(usize, crate::preservica::opex::PackagedFile)>, TransferError> {
            let file = std::fs::File::create(&zip_path).map_err(TransferError::io(&zip_path))?;
            let mut builder = PackageBuilder::new(std::io::BufWriter::new(file), &key)?;
            let parent = match gallery_folder {
                Some(spec) => builder.add_folder(spec)?,
                None => builder.container_folder(),
            };
            let mut packaged = Vec::new();
            for (n, spec, staged) in assets {
                let mut content =
                    std::fs::File::open(&staged).map_err(TransferError::io(&staged))?;
                packaged.push((n, builder.add_asset(parent, spec, &mut content)?));
            }
            builder.finish()?;
            Ok(packaged)
        })
    };
    let packaged = match build.await {
        Ok(result) => result,
        Err(e) => Err(TransferError::Invalid(format!(
            "building package {key} stopped: {e}"
        ))),
    };
    let packaged = match packaged {
        Ok(p) => p,
        Err(e) => {
            let _ = tokio::fs::remove_file(&zip_path).await;
            for &n in ready {
                fail(
                    store,
                    ctx,
                    &mut items[n],
                    Some(ArchiveStep::Downloaded),
                    &e.to_string(),
                )?;
            }
            return Ok(());
        }
    };
    for (n, file) in &packaged {
        let item = &mut items[*n];
        let mut detail = detail_of(&item.record);
        detail.insert("package".into(), json!(key));
        detail.insert("packaged_name".into(), json!(file.packaged_name));
        detail.insert("packaged_path".into(), json!(file.packaged_path));
        detail.insert("source_id".into(), json!(source_id(&item.record)));
        if let Some((.., Some(title))) = assets.iter().find(|(m, ..)| m == n) {
            detail.insert("archive_title".into(), json!(title));
        }
        if file.sha256 != detail_str(&item.record, "sha256").unwrap_or_default() {
            // The staged file changed under us: never archive something other than what
            // was downloaded and checked.
            let _ = tokio::fs::remove_file(&zip_path).await;
            return Err(TransferError::Invalid(format!(
                "{}: the staged copy no longer matches the download; run again to fetch it anew",
                item.media.id
            )));
        }
        record_step(
            store,
            &ctx.clock,
            &mut item.record,
            Step {
                state: TransferState::InProgress,
                name: ArchiveStep::Uploading.name(),
                target: None,
                detail,
                error: None,
            },
        )?;
    }
    check_stop(opts, ArchiveStep::Uploading)?;
    let uploaded = ctx
        .preservica
        .upload_package_as(&zip_path, &target, &format!("{key}.zip"))
        .await;
    let _ = tokio::fs::remove_file(&zip_path).await;
    match uploaded {
        Ok(upload) => {
            tracing::info!(package = %key, multipart = upload.multipart, "package uploaded");
            for (n, _) in &packaged {
                let item = &mut items[*n];
                advance(
                    store,
                    &ctx.clock,
                    &mut item.record,
                    ArchiveStep::Uploaded.name(),
                    None,
                )?;
            }
            check_stop(opts, ArchiveStep::Uploaded)?;
        }
        Err(e) => {
            // Whether any of it arrived is asked again next run (the step stays `uploading`).
            for (n, _) in &packaged {
                fail(
                    store,
                    ctx,
                    &mut items[*n],
                    Some(ArchiveStep::Uploading),
                    &e.to_string(),
                )?;
            }
        }
    }
    Ok(())
}
