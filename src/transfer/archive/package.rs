//! The `uploading` and `uploaded` steps: one OPEX package per batch, built off the async
//! threads and sent to Preservica.

use super::describe::{asset_record, distribution_line, folder_record};
use super::{ArchiveStep, BatchRun, GALLERY_ID_TYPE, TransferError, gallery_source_id, source_id};
use crate::model::System;
use crate::photoshelter::wire::MediaKind;
use crate::preservica::opex::{AssetSpec, FolderSpec, PackageBuilder, PackagedFile};
use crate::preservica::wire::{self as pv_wire, EntityKind};
use crate::transfer::{detail_of, detail_str};
use serde_json::{Value, json};
use std::path::PathBuf;

/// One item's asset in the package: its index, what the package says, its staged original,
/// and the title Preservica will give it when PhotoShelter has none.
struct Staged {
    n: usize,
    spec: AssetSpec,
    path: PathBuf,
    untitled: Option<String>,
}

impl BatchRun<'_, '_> {
    /// A package that was being uploaded when a run stopped: if Preservica has it, it is not
    /// sent again.
    pub(super) async fn resume_uploading(&mut self) -> Result<(), TransferError> {
        let uploading: Vec<usize> = self.at_step(ArchiveStep::Uploading).collect();
        for n in uploading {
            let Some(key) = detail_str(&self.items[n].record, "package") else {
                continue;
            };
            let step = match self.ctx.preservica.package_status(&key).await? {
                Some(_) => ArchiveStep::Uploaded,
                None => ArchiveStep::Downloaded,
            };
            self.advance(n, step, None)?;
        }
        Ok(())
    }

    /// Packages everything downloaded (`uploading`), then sends the package (`uploaded`).
    pub(super) async fn uploading_and_uploaded(&mut self) -> Result<(), TransferError> {
        let ready: Vec<usize> = self
            .at_step(ArchiveStep::Downloaded)
            .filter(|&n| detail_str(&self.items[n].record, "staged").is_some())
            .collect();
        if ready.is_empty() {
            return Ok(());
        }
        let key = format!(
            "ferry-archive-{}-{}",
            self.run, self.items[ready[0]].record.id
        );
        let zip_path = self.ctx.archive.staging.join(format!("{key}.zip"));
        let (target, gallery_folder) = self.package_target().await?;
        let assets = self.asset_specs(&ready).await?;
        let titles: Vec<(usize, Option<String>)> =
            assets.iter().map(|a| (a.n, a.untitled.clone())).collect();
        let packaged = match build_package(&key, &zip_path, gallery_folder, assets).await {
            Ok(p) => p,
            Err(e) => {
                let _ = tokio::fs::remove_file(&zip_path).await;
                for &n in &ready {
                    self.fail(n, Some(ArchiveStep::Downloaded), &e.to_string())?;
                }
                return Ok(());
            }
        };
        self.record_packaged(&key, &zip_path, &packaged, &titles)
            .await?;
        self.stop_after(ArchiveStep::Uploading)?;
        let uploaded = self
            .ctx
            .preservica
            .upload_package_as(&zip_path, &target, &format!("{key}.zip"))
            .await;
        let _ = tokio::fs::remove_file(&zip_path).await;
        match uploaded {
            Ok(upload) => {
                tracing::info!(package = %key, multipart = upload.multipart, "package uploaded");
                for (n, _) in &packaged {
                    self.advance(*n, ArchiveStep::Uploaded, None)?;
                }
                self.stop_after(ArchiveStep::Uploaded)
            }
            Err(e) => {
                // Whether any of it arrived is asked again next run (the step stays
                // `uploading`).
                for (n, _) in &packaged {
                    self.fail(*n, Some(ArchiveStep::Uploading), &e.to_string())?;
                }
                Ok(())
            }
        }
    }

    /// Where the package goes, and the gallery folder it makes there if it makes one: a
    /// gallery folder made by an earlier package (some of its media went before) is reused.
    async fn package_target(&self) -> Result<(String, Option<FolderSpec>), TransferError> {
        let folder = self.folder;
        let Some(g) = &self.batch.gallery else {
            return Ok((folder.to_string(), None));
        };
        let sid = gallery_source_id(&g.id, folder);
        let existing = self
            .ctx
            .preservica
            .find_by_identifier(pv_wire::SOURCE_ID_TYPE, &sid)
            .await?
            .into_iter()
            .find(|e| e.kind.is_none_or(|k| k == EntityKind::Folder) && !e.deleted);
        if let Some(e) = existing {
            return Ok((e.reference, None));
        }
        let record = folder_record(self.ctx.mapping, g);
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
        Ok((folder.to_string(), Some(spec)))
    }

    /// What the package says about each ready item, from its PhotoShelter record.
    async fn asset_specs(&self, ready: &[usize]) -> Result<Vec<Staged>, TransferError> {
        let ctx = self.ctx;
        // Images a document in the gallery covers: all of them (a contract or a release form
        // is filed with the shoot it belongs to).
        let images: Vec<String> = self
            .batch
            .media
            .iter()
            .filter(|m| m.kind == MediaKind::Image)
            .map(|m| m.id.clone())
            .collect();
        let today = ctx.clock.now().date_naive();
        let distribution = distribution_line(self.batch.gallery.as_ref(), today);
        let mut assets = Vec::new();
        for &n in ready {
            let item = &self.items[n];
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
            let path = PathBuf::from(detail_str(&item.record, "staged").unwrap_or_default());
            assets.push(Staged {
                n,
                spec,
                path,
                untitled: untitled.then_some(original_name),
            });
        }
        Ok(assets)
    }

    /// Records each packaged item at `uploading` with where it sits in the package.
    async fn record_packaged(
        &mut self,
        key: &str,
        zip_path: &std::path::Path,
        packaged: &[(usize, PackagedFile)],
        titles: &[(usize, Option<String>)],
    ) -> Result<(), TransferError> {
        for (n, file) in packaged {
            let item = &self.items[*n];
            let mut detail = detail_of(&item.record);
            detail.insert("package".into(), json!(key));
            detail.insert("packaged_name".into(), json!(file.packaged_name));
            detail.insert("packaged_path".into(), json!(file.packaged_path));
            detail.insert("source_id".into(), json!(source_id(&item.record)));
            if let Some((_, Some(title))) = titles.iter().find(|(m, _)| m == n) {
                detail.insert("archive_title".into(), json!(title));
            }
            if file.sha256 != detail_str(&item.record, "sha256").unwrap_or_default() {
                // The staged file changed under us: never archive something other than what
                // was downloaded and checked.
                let _ = tokio::fs::remove_file(zip_path).await;
                return Err(TransferError::Invalid(format!(
                    "{}: the staged copy no longer matches the download; run again to fetch it anew",
                    item.media.id
                )));
            }
            self.record(*n, ArchiveStep::Uploading, detail)?;
        }
        Ok(())
    }
}

/// Builds the package's zip. Reading and writing files happens off the async threads.
async fn build_package(
    key: &str,
    zip_path: &std::path::Path,
    gallery_folder: Option<FolderSpec>,
    assets: Vec<Staged>,
) -> Result<Vec<(usize, PackagedFile)>, TransferError> {
    let zip_path = zip_path.to_path_buf();
    let key_owned = key.to_string();
    let build = tokio::task::spawn_blocking(move || -> Result<_, TransferError> {
        let file = std::fs::File::create(&zip_path).map_err(TransferError::io(&zip_path))?;
        let mut builder = PackageBuilder::new(std::io::BufWriter::new(file), &key_owned)?;
        let parent = match gallery_folder {
            Some(spec) => builder.add_folder(spec)?,
            None => builder.container_folder(),
        };
        let mut packaged = Vec::new();
        for Staged { n, spec, path, .. } in assets {
            let mut content = std::fs::File::open(&path).map_err(TransferError::io(&path))?;
            packaged.push((n, builder.add_asset(parent, spec, &mut content)?));
        }
        builder.finish()?;
        Ok(packaged)
    });
    match build.await {
        Ok(result) => result,
        Err(e) => Err(TransferError::Invalid(format!(
            "building package {key} stopped: {e}"
        ))),
    }
}
