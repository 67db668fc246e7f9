//! A world to try ferry in: both emulators on loopback, with a PhotoShelter library whose
//! images are also in the archive (paired the way ferry's own transfers pair them), and a
//! `ferry.toml` pointing at it. `ferry demo` runs on it; the integration tests and the
//! benchmarks start from it too, which is why it is part of the library rather than of the
//! tests (the demo ships in the binary).

use crate::config::{PhotoShelterConfig, Secret};
use crate::emulate::FaultOptions;
use crate::emulate::pictures::PictureSize;
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
    /// How large the seeded pictures are (see [`crate::emulate::pictures`]).
    pub picture_size: PictureSize,
    /// How the Preservica emulator delivers webhooks (delay, duplicates, variants).
    pub preservica_webhooks: pv_emu::WebhookOptions,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            media: 200,
            seed: 1962,
            faults: FaultOptions::default(),
            mirror_documents: true,
            picture_size: PictureSize::default(),
            preservica_webhooks: pv_emu::WebhookOptions::default(),
        }
    }
}

/// Any free port on the loopback interface.
pub fn loopback() -> SocketAddr {
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
            picture_size: options.picture_size,
            ..ps_emu::EmulatorOptions::default()
        },
        loopback(),
    )
    .await?;
    let preservica = pv_emu::start(
        pv_emu::EmulatorOptions {
            seed: options.seed,
            faults: options.faults.clone(),
            picture_size: options.picture_size,
            webhooks: options.preservica_webhooks.clone(),
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
            concurrency: crate::config::DEFAULT_CONCURRENCY,
            adaptive: true,
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
