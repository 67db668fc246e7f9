//! A world to try ferry in: both emulators on loopback, with a PhotoShelter library whose
//! images are also in the archive (paired the way ferry's own transfers pair them). `ferry
//! demo` and the sync scenario tests both start from it.

use crate::config::{PhotoShelterConfig, Secret};
use crate::emulate::FaultOptions;
use crate::mapping::photoshelter as ps_map;
use crate::mapping::preservica::{self as pv_map, PreservicaRecord};
use crate::mapping::{FieldChange, Mapping};
use crate::photoshelter::emulator::{self as ps_emu, PhotoShelterEmulator};
use crate::preservica::client::Connection;
use crate::preservica::emulator::{self as pv_emu, PreservicaEmulator};
use crate::preservica::wire;
use crate::private_fs::write_private;
use std::net::SocketAddr;
use std::time::Duration;

/// Both emulators and the pairs between them.
pub struct World {
    pub photoshelter: PhotoShelterEmulator,
    pub preservica: PreservicaEmulator,
    /// The archive folder the mirrored assets live in.
    pub folder: String,
    /// (PhotoShelter media id, Preservica ref) of every pair.
    pub pairs: Vec<(String, String)>,
}

/// How to build a world.
#[derive(Debug, Clone)]
pub struct WorldOptions {
    pub media: usize,
    pub seed: u64,
    pub faults: FaultOptions,
    /// Whether media other than images (which carry a checksum) get an archive copy too.
    pub mirror_documents: bool,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            media: 200,
            seed: 1962,
            faults: FaultOptions::default(),
            mirror_documents: true,
        }
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Starts both emulators; every PhotoShelter image also gets an archive asset with the same
/// metadata, the media id as its `photoshelter` identifier, and its ref written back into
/// PhotoShelter as the preservation reference.
pub async fn start_world(options: &WorldOptions, mapping: &Mapping) -> std::io::Result<World> {
    let photoshelter = ps_emu::start(
        ps_emu::EmulatorOptions {
            seed_media: options.media,
            seed: options.seed,
            faults: options.faults.clone(),
            capture: false,
            ..ps_emu::EmulatorOptions::default()
        },
        loopback(),
    )
    .await?;
    let preservica = pv_emu::start(
        pv_emu::EmulatorOptions {
            seed: options.seed,
            faults: options.faults.clone(),
            ..pv_emu::EmulatorOptions::default()
        },
        loopback(),
    )
    .await?;
    let folder = preservica
        .folder_refs(None)
        .first()
        .cloned()
        .expect("the emulator seeds a root folder");
    let mut pairs = Vec::new();
    for id in photoshelter.media_ids() {
        if !options.mirror_documents
            && photoshelter
                .record(&id)
                .is_some_and(|r| r.checksum.is_some())
        {
            continue;
        }
        let Some(reference) = mirror(&photoshelter, &preservica, &folder, mapping, &id) else {
            continue;
        };
        pairs.push((id, reference));
    }
    Ok(World {
        photoshelter,
        preservica,
        folder,
        pairs,
    })
}

/// Copies one PhotoShelter media item's mapped fields into a new archive asset and writes
/// the asset's ref back as the preservation reference; returns the ref.
pub fn mirror(
    photoshelter: &PhotoShelterEmulator,
    preservica: &PreservicaEmulator,
    folder: &str,
    mapping: &Mapping,
    media_id: &str,
) -> Option<String> {
    let record = photoshelter.record(media_id)?;
    let canonical = ps_map::read_record(mapping, &record).record;
    let changes: Vec<FieldChange> = mapping
        .paired_fields()
        .filter(|f| f.name != "preservation_reference")
        .map(|f| FieldChange {
            field: f.name.clone(),
            value: canonical.get(&f.name).cloned(),
        })
        .collect();
    let reference = uuid::Uuid::new_v4().to_string();
    let mut asset = PreservicaRecord {
        reference: reference.clone(),
        ..PreservicaRecord::default()
    };
    let write = pv_map::plan_write(mapping, &asset, &changes);
    asset.apply(&write);
    let reference = preservica.add_asset(
        folder,
        &asset,
        &[(wire::PHOTOSHELTER_ID_TYPE.to_string(), media_id.to_string())],
    );
    if let Some(spec) = mapping.field("preservation_reference")
        && let Some(crate::mapping::Location {
            place: crate::mapping::PhotoShelterPlace::Iptc(name),
            ..
        }) = &spec.photoshelter
    {
        photoshelter.set_iptc(media_id, name, Some(&reference));
    }
    Some(reference)
}

impl World {
    /// Copies a PhotoShelter document that has no archive copy into the archive folder as a
    /// person would by hand: same bytes, title from the file name, no link to PhotoShelter.
    /// Returns its media id and the new ref; `None` when every item is paired already.
    pub fn ingest_a_document_by_hand(&self) -> Option<(String, String)> {
        let doc = self
            .photoshelter
            .media_ids()
            .into_iter()
            .find(|id| self.pairs.iter().all(|(m, _)| m != id))?;
        let record = self.photoshelter.record(&doc)?;
        let bytes = self.photoshelter.media_bytes(&doc)?;
        let asset = PreservicaRecord {
            title: record.file_name.clone(),
            ..PreservicaRecord::default()
        };
        let reference = self.preservica.add_asset(&self.folder, &asset, &[]);
        self.preservica.add_content(
            &reference,
            record.file_name.as_deref().unwrap_or("document.pdf"),
            &bytes,
        );
        Some((doc, reference))
    }

    /// A `[photoshelter]` config pointing at the emulator's demo account.
    pub fn photoshelter_config(&self) -> PhotoShelterConfig {
        let o = self.photoshelter.options();
        PhotoShelterConfig {
            base_url: self.photoshelter.url(),
            email: o.email.clone(),
            org_id: (!o.org_id.is_empty()).then(|| o.org_id.clone()),
            concurrency: 8,
            timeout_secs: 30,
            api_key: Some(Secret::new(o.api_key_v4.clone())),
            api_key_v3: Some(Secret::new(o.api_key_v3.clone())),
            password: Some(Secret::new(o.password.clone())),
            oauth_token: None,
            probe_media_id: None,
            limits: Default::default(),
            allow_insecure_http: false,
            file: "ferry.toml".into(),
        }
    }

    /// A connection to the Preservica emulator.
    pub fn preservica_connection(&self) -> Connection {
        let o = self.preservica.options();
        Connection {
            base_url: self.preservica.url(),
            username: o.username.clone(),
            password: Secret::new(o.password.clone()),
            tenant: Some(o.tenant.clone()),
            http: crate::http::HttpOptions {
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(100),
                ..crate::http::HttpOptions::default()
            },
            single_put_limit: wire::SINGLE_PUT_LIMIT,
            part_size: wire::MULTIPART_PART_SIZE,
        }
    }

    /// The archive ref paired with a media id.
    pub fn preservica_ref(&self, media_id: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(m, _)| m == media_id)
            .map(|(_, r)| r.as_str())
    }

    pub async fn stop(self) {
        self.photoshelter.stop().await;
        self.preservica.stop().await;
    }
}

/// What the demo ran, for the caller to print and for tests to check.
#[derive(Debug)]
pub struct DemoResult {
    pub dir: std::path::PathBuf,
    pub config: std::path::PathBuf,
    pub first: crate::sync::SyncOutcome,
    pub second: crate::sync::SyncOutcome,
    pub pairs: usize,
    pub media: usize,
    /// Archiving the gallery a team marked ready.
    pub archived: crate::transfer::TransferOutcome,
    /// Republishing an archive-only asset for a campaign.
    pub republished: crate::transfer::TransferOutcome,
}

/// Errors of the demo itself (not of the runs it shows).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the emulators: {0}")]
    Emulators(std::io::Error),
    #[error("cannot write the demo files in {path}: {source}")]
    Files {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    #[error(transparent)]
    Transfer(#[from] crate::transfer::TransferError),
    #[error("setting up the demo: {0}")]
    Setup(String),
    #[error(
        "cannot read the demo's own config {path}: {reason}; run `ferry demo` into a new directory"
    )]
    Config {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Server(#[from] crate::server::ServerError),
}

/// Writes `ferry.toml` (with `extra` appended), `mapping.toml` and the emulators' demo
/// secrets into `dir`: a config for `world`, as the demo and the command-line tests use.
pub fn write_config(
    dir: &std::path::Path,
    world: &World,
    extra: &str,
) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    crate::private_fs::create_dir_all(&dir.join("secrets"))?;
    let ps = world.photoshelter.options();
    let pv = world.preservica.options();
    write_private(&dir.join("secrets/photoshelter-api-key"), &ps.api_key_v4)?;
    write_private(&dir.join("secrets/photoshelter-api-key-v3"), &ps.api_key_v3)?;
    write_private(&dir.join("secrets/photoshelter-password"), &ps.password)?;
    write_private(&dir.join("secrets/preservica-password"), &pv.password)?;
    std::fs::write(dir.join("mapping.toml"), Mapping::default_text())?;
    let config = format!(
        "# Written by `ferry demo`: both systems are local emulators, which stop when the demo\n\
         # ends. The store and reports stay for `ferry --config {dir}/ferry.toml status|report|conflicts`.\n\
         mapping = \"mapping.toml\"\n\n\
         [photoshelter]\nbase_url = \"{ps_url}\"\nemail = \"{email}\"\norg_id = \"{org}\"\n\
         api_key_file = \"secrets/photoshelter-api-key\"\napi_key_v3_file = \"secrets/photoshelter-api-key-v3\"\n\
         password_file = \"secrets/photoshelter-password\"\n\n\
         [preservica]\nserver = \"{server}\"\nprotocol = \"http\"\ntenant = \"{tenant}\"\nusername = \"{user}\"\n\
         password_file = \"secrets/preservica-password\"\n\n\
         [paths]\nstore = \"ferry.db\"\nindex = \"index\"\nreports = \"reports\"\n\n{extra}",
        dir = dir.display(),
        ps_url = world.photoshelter.url(),
        email = ps.email,
        org = ps.org_id,
        server = world.preservica.server(),
        tenant = pv.tenant,
        user = pv.username,
    );
    let path = dir.join("ferry.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// Applies `change` to one field of an archive asset, as a cataloguer would.
async fn edit_preservica(
    client: &crate::preservica::client::PreservicaClient,
    mapping: &Mapping,
    reference: &str,
    field: &str,
    value: Option<crate::model::FieldValue>,
) -> Result<(), DemoError> {
    let record = client
        .read_asset(reference)
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let write = pv_map::plan_write(
        mapping,
        &record,
        &[FieldChange {
            field: field.into(),
            value,
        }],
    );
    client
        .apply_write(reference, &write)
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    Ok(())
}

/// Applies `change` to one field of a PhotoShelter media item, as an editor would.
async fn edit_photoshelter(
    client: &crate::photoshelter::client::PhotoShelterClient,
    mapping: &Mapping,
    media: &str,
    field: &str,
    value: Option<crate::model::FieldValue>,
) -> Result<(), DemoError> {
    let write = ps_map::plan_write(
        mapping,
        &Default::default(),
        &[FieldChange {
            field: field.into(),
            value,
        }],
    );
    client
        .apply_write(media, &write)
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    Ok(())
}

/// Runs the demo in `dir`: a library in both emulators, yesterday's sync (the baselines), a
/// day of edits covering every case of the three-way table, tonight's sync, and a second sync
/// that finds everything in sync but what waits for a person. `say` receives progress lines.
/// The emulators are stopped before it returns.
pub async fn run_demo(
    dir: &std::path::Path,
    media: usize,
    say: &mut dyn FnMut(String),
) -> Result<DemoResult, DemoError> {
    let (result, world) = run_demo_kept(dir, media, say).await?;
    world.stop().await;
    Ok(result)
}

/// [`run_demo`], but the emulators keep running, on the ports the demo's `ferry.toml` names,
/// until the caller stops the returned world (see [`serve_demo`]).
pub async fn run_demo_kept(
    dir: &std::path::Path,
    media: usize,
    say: &mut dyn FnMut(String),
) -> Result<(DemoResult, World), DemoError> {
    use crate::model::{FieldKind, FieldValue};
    let mapping = Mapping::parse(
        Mapping::default_text(),
        std::path::Path::new("mapping.toml"),
    )
    .map_err(|e| DemoError::Setup(e.to_string()))?;
    let world = start_world(
        &WorldOptions {
            media,
            mirror_documents: false,
            ..WorldOptions::default()
        },
        &mapping,
    )
    .await
    .map_err(DemoError::Emulators)?;
    let files = |source| DemoError::Files {
        path: dir.to_path_buf(),
        source,
    };
    let ps = crate::photoshelter::client::PhotoShelterClient::new(&world.photoshelter_config())
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let pv = crate::preservica::client::PreservicaClient::new(world.preservica_connection())
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let (ready_gallery, ready_collection) = ready_shoot(&world, &ps).await?;
    let old = archive_only_asset(&world);
    let config_path = write_config(
        dir,
        &world,
        &format!(
            "[archive]\nfolder = \"{}\"\nready_collection = \"{ready_collection}\"\n",
            world.folder
        ),
    )
    .map_err(files)?;
    say(format!(
        "Both systems run locally: PhotoShelter at {}, Preservica at {}.",
        world.photoshelter.url(),
        world.preservica.url()
    ));
    say(format!(
        "The library: {} media in PhotoShelter; {} of them archived in Preservica and paired.",
        world.photoshelter.media_ids().len(),
        world.pairs.len()
    ));
    say(format!(
        "A shoot just finished: gallery {ready_gallery} (4 images, a contract and a model \
         release) sits in the \"Ready to archive\" collection; the archive also holds a 1962 \
         regatta photograph ({old}) that PhotoShelter has never had."
    ));
    say(format!("Config, store and reports: {}", dir.display()));
    let mut store = crate::store::Store::open(&dir.join("ferry.db"))?;
    let ctx = crate::sync::SyncContext {
        mapping: &mapping,
        photoshelter: &ps,
        preservica: &pv,
        max_change_share: 0.10,
        min_assets: 50,
        concurrency_photoshelter: 8,
        concurrency_preservica: 8,
        reports_dir: dir.join("reports"),
        clock: crate::clock::Clock::system(),
        progress: None,
        expiring_days: 30,
        rights: Default::default(),
    };
    let opts = crate::sync::SyncOptions {
        full: true,
        ..Default::default()
    };
    let yesterday = crate::sync::run_sync(&mut store, &ctx, &opts).await?;
    say(format!(
        "\nYesterday's sync set the baselines: {} pairs, {} fields in sync.",
        yesterday.report.summary.pairs, yesterday.report.summary.in_sync
    ));

    // A day of work in both systems, through separate editor sessions.
    let ps_editor =
        crate::photoshelter::client::PhotoShelterClient::new(&world.photoshelter_config())
            .map_err(|e| DemoError::Setup(e.to_string()))?;
    let pv_editor = crate::preservica::client::PreservicaClient::new(world.preservica_connection())
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let text = |s: &str| FieldValue::text(s);
    let date = |s: &str| FieldValue::parse(FieldKind::Date, s).ok().flatten();
    let pair = |i: usize| world.pairs[i % world.pairs.len()].clone();
    let mut edits: Vec<String> = Vec::new();
    for i in 0..3 {
        let (m, _) = pair(i);
        edit_photoshelter(
            &ps_editor,
            &mapping,
            &m,
            "caption",
            text(&format!(
                "Crews rigging the boats before the race, photographed from the quay ({i})"
            )),
        )
        .await?;
    }
    edits.push("captions rewritten in PhotoShelter on 3 images (PhotoShelter changed)".into());
    for i in 3..6 {
        let (_, r) = pair(i);
        edit_preservica(
            &pv_editor,
            &mapping,
            &r,
            "title",
            text(&format!("Harbour regatta, 14 July 1962 ({i})")),
        )
        .await?;
    }
    edits.push("titles catalogued in Preservica on 3 assets (Preservica changed)".into());
    let (m, r) = pair(6);
    edit_photoshelter(
        &ps_editor,
        &mapping,
        &m,
        "caption",
        text("The winning crew, as the photographer captioned it"),
    )
    .await?;
    edit_preservica(
        &pv_editor,
        &mapping,
        &r,
        "caption",
        text("Winning crew (catalogue description)"),
    )
    .await?;
    edits.push("a caption changed in both systems (PhotoShelter owns captions)".into());
    let (m, r) = pair(7);
    edit_photoshelter(&ps_editor, &mapping, &m, "date_created", date("1962-07-15")).await?;
    edit_preservica(&pv_editor, &mapping, &r, "date_created", date("1962-07-14")).await?;
    edits.push("a date taken changed in both systems (Preservica owns dates)".into());
    let (m, r) = pair(8);
    edit_photoshelter(
        &ps_editor,
        &mapping,
        &m,
        "keywords",
        FieldValue::set(["regatta", "sailing", "crowds"]),
    )
    .await?;
    edit_preservica(
        &pv_editor,
        &mapping,
        &r,
        "keywords",
        FieldValue::set(["regatta", "harbour board", "1962"]),
    )
    .await?;
    edits.push("keywords added in both systems (merged)".into());
    let (m, r) = pair(9);
    edit_photoshelter(
        &ps_editor,
        &mapping,
        &m,
        "license_expiry",
        date("2025-06-30"),
    )
    .await?;
    edit_preservica(
        &pv_editor,
        &mapping,
        &r,
        "license_expiry",
        date("2031-12-31"),
    )
    .await?;
    edits.push(
        "licence expiry set differently in both systems, one already past (the earlier wins)"
            .into(),
    );
    let (m, r) = pair(10);
    edit_photoshelter(&ps_editor, &mapping, &m, "headline", text("Regatta day")).await?;
    edit_preservica(&pv_editor, &mapping, &r, "headline", text("Regatta day")).await?;
    edits.push("the same headline typed in both systems (no conflict)".into());
    let (m, r) = pair(11);
    edit_photoshelter(
        &ps_editor,
        &mapping,
        &m,
        "copyright_notice",
        text("© 1962 Harbour Board"),
    )
    .await?;
    edit_preservica(
        &pv_editor,
        &mapping,
        &r,
        "copyright_notice",
        text("© 1962 Mary Ellis"),
    )
    .await?;
    edits
        .push("the copyright notice changed differently in both systems (a person decides)".into());
    let (_, r) = pair(12);
    edit_preservica(
        &pv_editor,
        &mapping,
        &r,
        "creator",
        text("Harbour Board Photographic Unit, Marine Division"),
    )
    .await?;
    edits.push("a creator catalogued in Preservica longer than IPTC's 32 bytes (never cut)".into());
    // A document someone ingested into the archive by hand: same bytes, no link.
    if let Some((doc, _)) = world.ingest_a_document_by_hand() {
        let name = world
            .photoshelter
            .record(&doc)
            .and_then(|r| r.file_name)
            .unwrap_or_default();
        edits.push(format!(
            "{name} ingested into the archive by hand, without a link (paired by checksum)"
        ));
    }
    say("\nToday, people edited both systems:".into());
    for e in &edits {
        say(format!("  - {e}"));
    }

    let first = crate::sync::run_sync(&mut store, &ctx, &opts).await?;
    say("\nTonight's sync:".into());
    describe(&first, say);
    let second = crate::sync::run_sync(&mut store, &ctx, &opts).await?;
    say("\nA second sync, straight after:".into());
    describe(&second, say);
    // The search index, so `ferry search` and `ferry serve` have the library to show.
    let reindex = |store: &crate::store::Store| {
        crate::index::SearchIndex::open(&dir.join("index")).and_then(|mut index| {
            index.set_mapping(mapping.clone());
            index.update_from_store(store, None, chrono::Utc::now().date_naive())
        })
    };
    match reindex(&store) {
        Ok(n) => say(format!("\nThe search index holds {n} assets.")),
        Err(e) => say(format!("\nThe search index could not be built: {e}")),
    }

    // Transfers: the ready gallery goes into the archive, the 1962 photograph comes out.
    let archive_config = crate::config::ArchiveConfig {
        folder: Some(world.folder.clone()),
        ready_collection: Some(ready_collection.clone()),
        staging: dir.join("transfers"),
        ingest_timeout_secs: 60,
        ..crate::config::ArchiveConfig::default()
    };
    let republish_config = crate::config::RepublishConfig::default();
    let tctx = crate::transfer::TransferContext {
        mapping: &mapping,
        photoshelter: &ps,
        preservica: &pv,
        archive: &archive_config,
        republish: &republish_config,
        reports_dir: dir.join("reports"),
        index_dir: dir.join("index"),
        clock: crate::clock::Clock::system(),
        progress: None,
    };
    say(
        "\nferry archive (what the [archive] rules select: the \"Ready to archive\" collection):"
            .into(),
    );
    let archived = crate::transfer::archive::run_archive(
        &mut store,
        &tctx,
        &crate::transfer::archive::ArchiveRequest {
            by_rules: true,
            ..Default::default()
        },
        &Default::default(),
    )
    .await?;
    crate::transfer::describe(&archived, say);
    let query = "regatta 1962 in:preservica";
    say(format!(
        "\nferry republish --query \"{query}\" --to-gallery \"Anniversary 2027\" --set campaign=\"Anniversary 2027\":"
    ));
    let republished = crate::transfer::republish::run_republish(
        &mut store,
        &tctx,
        &crate::transfer::republish::RepublishRequest {
            query: Some(query.into()),
            limit: 1,
            to_gallery: "Anniversary 2027".into(),
            set: vec![("campaign".into(), "Anniversary 2027".into())],
            ..Default::default()
        },
        &Default::default(),
    )
    .await?;
    crate::transfer::describe(&republished, say);
    if let Err(e) = reindex(&store) {
        say(format!("The search index could not be updated: {e}"));
    }
    let pairs = world.pairs.len();
    let media = world.photoshelter.media_ids().len();
    let result = DemoResult {
        dir: dir.to_path_buf(),
        config: config_path,
        first,
        second,
        pairs,
        media,
        archived,
        republished,
    };
    Ok((result, world))
}

/// A shoot a team just finished: a gallery of four captioned images with model releases, a
/// contract and a release form, placed in a "Ready to archive" collection. Returns the
/// gallery and collection ids.
async fn ready_shoot(
    world: &World,
    ps: &crate::photoshelter::client::PhotoShelterClient,
) -> Result<(String, String), DemoError> {
    let setup = |e: crate::photoshelter::client::PhotoShelterError| DemoError::Setup(e.to_string());
    let gallery = ps
        .create_gallery(
            "Harbour Regatta 2026 – finals",
            None,
            crate::photoshelter::wire::Visibility::Permission,
            true,
        )
        .await
        .map_err(setup)?;
    world.photoshelter.set_gallery_description(
        &gallery,
        "Finals day of the 2026 harbour regatta, shot for the museum's annual report.",
    );
    for i in 0..4u8 {
        let mut bytes = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00".to_vec();
        bytes.extend((0..60_000u32).map(|n| (n as u8).wrapping_mul(17).wrapping_add(i)));
        bytes.extend_from_slice(b"\xFF\xD9");
        let up = ps
            .upload(
                &gallery,
                &format!("regatta-finals-{i}.jpg"),
                "image/jpeg",
                bytes::Bytes::from(bytes),
            )
            .await
            .map_err(setup)?;
        let p = &world.photoshelter;
        p.set_iptc(
            &up.media_id,
            "title",
            Some(&format!("Regatta finals, heat {}", i + 1)),
        );
        p.set_iptc(
            &up.media_id,
            "caption",
            Some("Crews round the harbour mark in the 2026 regatta finals"),
        );
        p.set_iptc(&up.media_id, "author", Some("Ada Lindqvist"));
        p.set_iptc(&up.media_id, "rights", Some("Editorial use only"));
        p.set_custom(&up.media_id, "Model Release Status", Some("MR-LMR"));
    }
    for name in ["contract-harbour-museum-2026.pdf", "model-release-crew.pdf"] {
        ps.upload(
            &gallery,
            name,
            "application/pdf",
            bytes::Bytes::from(format!("%PDF-1.4\n% {name}\n%%EOF\n")),
        )
        .await
        .map_err(setup)?;
    }
    let collection = world
        .photoshelter
        .create_collection("Ready to archive", std::slice::from_ref(&gallery));
    Ok((gallery, collection))
}

/// A photograph only the archive holds: the 1962 regatta, licensed until 2030.
fn archive_only_asset(world: &World) -> String {
    const DC: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
    let record = PreservicaRecord {
        title: Some("Regatta 1962: the winning crew".into()),
        description: Some("The winning crew of the 1962 harbour regatta, from the pier.".into()),
        fragments: vec![
            crate::mapping::preservica::Fragment {
                schema: DC.into(),
                xml: format!(
                    "<oai_dc:dc xmlns:oai_dc=\"{DC}\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\
                     <dc:creator>Harbour Board Photographic Unit</dc:creator>\
                     <dc:date>1962-07-14</dc:date></oai_dc:dc>"
                ),
            },
            crate::mapping::preservica::Fragment {
                schema: "urn:ferry:schema:rights:1".into(),
                xml: "<FerryRights xmlns=\"urn:ferry:schema:rights:1\">\
                      <UsageTerms>Credit: Harbour Museum</UsageTerms>\
                      <LicenseExpiry>2030-12-31</LicenseExpiry></FerryRights>"
                    .into(),
            },
        ],
        ..PreservicaRecord::default()
    };
    let reference = world.preservica.add_asset(&world.folder, &record, &[]);
    let mut bytes = b"II*\x00".to_vec();
    bytes.extend((0..90_000u32).map(|n| (n as u8).wrapping_mul(29)));
    world
        .preservica
        .add_content(&reference, "regatta-1962-negative-scan.tif", &bytes);
    reference
}

/// A run's summary in a few lines.
pub fn describe(out: &crate::sync::SyncOutcome, say: &mut dyn FnMut(String)) {
    let s = &out.report.summary;
    say(format!(
        "  assets: {} in PhotoShelter, {} in Preservica, {} pairs",
        s.assets_photoshelter, s.assets_preservica, s.pairs
    ));
    if s.pairs_unchanged > 0 {
        say(format!(
            "  {} pairs unchanged since an earlier run found them agreed: not compared again",
            s.pairs_unchanged
        ));
    }
    say(format!(
        "  fields: {} compared, {} in sync, {} drifted; pushed {} to PhotoShelter, {} to Preservica",
        s.fields_compared, s.in_sync, s.drifted, s.pushed_to_photoshelter, s.pushed_to_preservica
    ));
    say(format!(
        "  conflicts: {} waiting for a person, {} resolved by rule; {} skipped, {} failures",
        s.conflicts_queued, s.conflicts_resolved, s.skipped, s.failures
    ));
    if !out.report.rights.is_empty() {
        say(format!(
            "  rights: {} licence problems listed",
            out.report.rights.len()
        ));
    }
    say(format!(
        "  API calls: PhotoShelter {}, Preservica {}; {:.1} s",
        s.api_calls_photoshelter.requests, s.api_calls_preservica.requests, s.seconds_total
    ));
    if let Some(why) = &out.report.stopped {
        say(format!("  stopped: {why}"));
    }
    say(format!("  report: {}", out.paths.html.display()));
}

/// `ferry demo --serve` after the demo: the web app (no nightly schedule) joins the still
/// running emulators, on `server.listen` from the demo's config when that is free, else on a
/// free loopback port. Prints every URL and commands to try, then waits for `stop` (listen
/// for signals before calling, so none is lost); then stops the web app and both emulators,
/// in that order, and returns what `stop` named.
pub async fn serve_demo(
    world: World,
    result: &DemoResult,
    stop: impl std::future::Future<Output = &'static str> + Send + 'static,
    say: &mut dyn FnMut(String),
) -> Result<&'static str, DemoError> {
    let config_error = |reason: String| DemoError::Config {
        path: result.config.clone(),
        reason,
    };
    let config = crate::config::Config::load(&result.config, &crate::config::Env::from_process())
        .map_err(|e| config_error(e.to_string()))?;
    let mapping = Mapping::load(&config.mapping).map_err(|e| config_error(e.to_string()))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        let _ = stop_tx.send(Some(stop.await));
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<Option<&'static str>>| async move {
        let _ = rx.wait_for(Option::is_some).await;
    };
    let options = |listen| crate::server::ServerOptions {
        listen,
        access_token: config.server.access_token.clone(),
        store_path: config.paths.store.clone(),
        index_dir: config.paths.index.clone(),
        reports_dir: config.paths.reports.clone(),
        mapping: mapping.clone(),
        index: None,
        republisher: crate::server::Republisher::from_config(&config),
    };
    let running =
        match crate::server::start(options(config.server.listen), stopped(stop_rx.clone())).await {
            Err(crate::server::ServerError::Bind { .. }) => {
                crate::server::start(options(loopback()), stopped(stop_rx.clone())).await?
            }
            other => other?,
        };
    // Absolute, so the commands work from another terminal in any directory.
    let cfg = std::fs::canonicalize(&result.config).unwrap_or_else(|_| result.config.clone());
    let cfg = cfg.display();
    say(format!(
        "\nEverything stays up until Ctrl-C:\n  web app:      {}\n  PhotoShelter: {} (emulator)\n  Preservica:   {} (emulator)",
        running.url(),
        world.photoshelter.url(),
        world.preservica.url()
    ));
    say("\nIn another terminal, try:".into());
    for command in [
        "status",
        "conflicts list",
        "search harbour regatta --facets",
        "sync",
        "archive",
        "republish --query \"harbour regatta\" --to-gallery \"Regatta picks\" --dry-run",
        "report",
    ] {
        say(format!("  ferry --config {cfg} {command}"));
    }
    running.wait().await?;
    world.stop().await;
    let signal = stop_rx.borrow().unwrap_or("a stop request");
    say(format!(
        "\nStopped ({signal}): the web app and both emulators. The store, index and reports stay in {}.",
        result.dir.display()
    ));
    Ok(signal)
}
