//! The emulator's ingest path: the S3-compatible upload endpoint (single PUT and multipart)
//! that receives OPEX packages, the delayed ingest that turns a package into folders and
//! assets, and the Process Monitor API that reports it.

use super::{
    Call, Data, EmulatorOptions, Entity, Generation, Monitor, MonitorMessage, PendingIngest,
    Representation, Shared, StoredBitstream, StoredFragment, bad_request, bytes_response, json,
    not_found, text, xml,
};
use crate::preservica::opex;
use crate::preservica::wire::{self, EntityKind, Identifier};
use crate::xml::{self, esc};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// A multipart upload in progress.
#[derive(Debug, Clone, Default)]
pub(crate) struct Multipart {
    key: String,
    folder: Option<String>,
    parts: BTreeMap<u32, Bytes>,
}

fn bucket_name(o: &EmulatorOptions) -> String {
    format!("{}.package.upload", o.tenant.to_lowercase())
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    xml(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{}</Message></Error>",
            esc(message)
        ),
    )
}

pub(super) fn s3(shared: &Shared, data: &mut Data, call: &Call, rest: &str) -> Response {
    let o = &shared.options;
    let segs: Vec<&str> = rest.splitn(3, '/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [] if call.method == Method::GET => xml(
            StatusCode::OK,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListAllMyBucketsResult><Buckets><Bucket><Name>{}</Name></Bucket></Buckets></ListAllMyBucketsResult>",
                bucket_name(o)
            ),
        ),
        [bucket, key] => {
            if *bucket != bucket_name(o) {
                return s3_error(
                    StatusCode::NOT_FOUND,
                    "NoSuchBucket",
                    &format!("no bucket {bucket}"),
                );
            }
            object(shared, data, call, key)
        }
        _ => s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "unsupported S3 request",
        ),
    }
}

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(md5::Md5::digest(bytes)))
}

fn object(shared: &Shared, data: &mut Data, call: &Call, key: &str) -> Response {
    let folder = call
        .header(wire::TARGET_FOLDER_HEADER)
        .map(|f| f.trim().to_string());
    match (
        &call.method,
        call.param("uploadId"),
        call.param("partNumber"),
    ) {
        (&Method::POST, None, None) if call.query.iter().any(|(k, _)| k == "uploads") => {
            let id = data.next_id("upload-");
            data.multipart.insert(
                id.clone(),
                Multipart {
                    key: key.to_string(),
                    folder,
                    parts: BTreeMap::new(),
                },
            );
            xml(
                StatusCode::OK,
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
                    bucket_name(&shared.options),
                    esc(key)
                ),
            )
        }
        (&Method::PUT, Some(id), Some(n)) => {
            let Ok(n) = n.parse::<u32>() else {
                return s3_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "partNumber must be a number",
                );
            };
            let Some(upload) = data.multipart.get_mut(id) else {
                return s3_error(
                    StatusCode::NOT_FOUND,
                    "NoSuchUpload",
                    &format!("no upload {id}"),
                );
            };
            upload.parts.insert(n, call.body.clone());
            bytes_response(
                StatusCode::OK,
                vec![(header::ETAG, etag(&call.body))],
                Bytes::new(),
            )
        }
        (&Method::POST, Some(id), None) => complete(shared, data, call, key, id),
        (&Method::DELETE, Some(id), None) => {
            data.multipart.remove(id);
            text(StatusCode::NO_CONTENT, String::new())
        }
        (&Method::PUT, None, None) => {
            let tag = etag(&call.body);
            let token = begin_ingest(shared, data, key, call.body.clone(), folder);
            bytes_response(
                StatusCode::OK,
                vec![
                    (header::ETAG, tag),
                    (
                        header::HeaderName::from_static(wire::PROGRESS_TOKEN_HEADER),
                        token,
                    ),
                ],
                Bytes::new(),
            )
        }
        (&Method::HEAD, None, None) => {
            if data.objects.contains_key(key) {
                text(StatusCode::OK, String::new())
            } else {
                text(StatusCode::NOT_FOUND, String::new())
            }
        }
        (&Method::DELETE, None, None) => {
            data.objects.remove(key);
            text(StatusCode::NO_CONTENT, String::new())
        }
        _ => s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "unsupported S3 operation",
        ),
    }
}

fn complete(shared: &Shared, data: &mut Data, call: &Call, key: &str, id: &str) -> Response {
    let Some(upload) = data.multipart.get(id).cloned() else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            &format!("no upload {id}"),
        );
    };
    if upload.key != key {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "the key does not match the upload",
        );
    }
    let body = match call.text() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let doc = match xml::parse(body) {
        Ok(d) => d,
        Err(e) => return s3_error(StatusCode::BAD_REQUEST, "MalformedXML", &e.to_string()),
    };
    let mut package = Vec::new();
    let mut last = 0u32;
    for part in doc.root.children_named("Part") {
        let n: u32 = part
            .child_text("PartNumber")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if n <= last {
            return s3_error(
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "parts must be listed in ascending order",
            );
        }
        last = n;
        let Some(bytes) = upload.parts.get(&n) else {
            return s3_error(
                StatusCode::BAD_REQUEST,
                "InvalidPart",
                &format!("part {n} was not uploaded"),
            );
        };
        if let Some(tag) = part.child_text("ETag")
            && tag.trim_matches('"') != etag(bytes).trim_matches('"')
        {
            return s3_error(
                StatusCode::BAD_REQUEST,
                "InvalidPart",
                &format!("part {n} has another ETag"),
            );
        }
        package.extend_from_slice(bytes);
    }
    if package.is_empty() {
        return s3_error(StatusCode::BAD_REQUEST, "MalformedXML", "no parts listed");
    }
    data.multipart.remove(id);
    let tag = etag(&package);
    let token = begin_ingest(shared, data, key, Bytes::from(package), upload.folder);
    bytes_response(
        StatusCode::OK,
        vec![
            (header::CONTENT_TYPE, "application/xml".into()),
            (
                header::HeaderName::from_static(wire::PROGRESS_TOKEN_HEADER),
                token,
            ),
        ],
        Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
            bucket_name(&shared.options),
            esc(key),
            esc(&tag)
        )),
    )
}

/// Records the package and schedules its ingest; returns the progress token.
fn begin_ingest(
    shared: &Shared,
    data: &mut Data,
    key: &str,
    package: Bytes,
    folder: Option<String>,
) -> String {
    let count = data.objects.len();
    data.objects.insert(key.to_string(), count);
    data.packages.push((key.to_string(), package.clone()));
    let monitor = uuid::Uuid::new_v4().simple().to_string();
    data.monitors.push(Monitor {
        id: monitor.clone(),
        name: wire::monitor_name(key),
        status: "Running".into(),
        started: data.clock.now(),
        completed: None,
        messages: Vec::new(),
    });
    data.pending.push(PendingIngest {
        monitor: monitor.clone(),
        due: Instant::now() + shared.options.ingest_delay,
        package,
        folder,
    });
    monitor
}

/// Ingests every package whose time has come. Called on each request, so ingest needs no
/// background task and stops with the server.
pub(super) fn run_due(data: &mut Data, options: &EmulatorOptions) {
    let now = Instant::now();
    let (due, waiting): (Vec<PendingIngest>, Vec<PendingIngest>) =
        std::mem::take(&mut data.pending)
            .into_iter()
            .partition(|p| p.due <= now);
    data.pending = waiting;
    for p in due {
        let result = ingest(data, &p, options);
        if let Some(m) = data.monitors.iter_mut().find(|m| m.id == p.monitor) {
            m.completed = Some(data.clock.now());
            match result {
                Ok(messages) => {
                    m.status = "Succeeded".into();
                    m.messages = messages;
                }
                Err(reason) => {
                    m.status = "Failed".into();
                    m.messages = vec![MonitorMessage {
                        status: "Error".into(),
                        text: reason,
                        entity_ref: None,
                        source_id: None,
                        title: None,
                    }];
                }
            }
        }
    }
}

fn normalise_algorithm(alg: &str) -> String {
    alg.replace('-', "").to_uppercase()
}

fn fragments_of(data: &mut Data, list: &[(String, String)]) -> Vec<StoredFragment> {
    list.iter()
        .map(|(schema, xml)| StoredFragment {
            id: data.next_id("frag-"),
            schema: schema.clone(),
            xml: xml.clone(),
        })
        .collect()
}

fn identifiers_of(
    data: &mut Data,
    reference: &str,
    source_id: Option<&String>,
    list: &[(String, String)],
) -> Vec<Identifier> {
    let mut pairs: Vec<(String, String)> = list.to_vec();
    if let Some(s) = source_id {
        pairs.insert(0, (wire::SOURCE_ID_TYPE.to_string(), s.clone()));
    }
    pairs
        .into_iter()
        .map(|(kind, value)| Identifier {
            api_id: data.next_id(""),
            kind,
            value,
            entity: Some(reference.to_string()),
        })
        .collect()
}

fn ingest(
    data: &mut Data,
    p: &PendingIngest,
    _options: &EmulatorOptions,
) -> Result<Vec<MonitorMessage>, String> {
    let target = p
        .folder
        .clone()
        .ok_or("the upload named no target folder (x-amz-meta-structuralobjectreference)")?;
    if data.entities.get(&target).map(|e| e.kind) != Some(EntityKind::Folder) {
        return Err(format!("the target folder {target} does not exist"));
    }
    let plan = opex::read_package(&p.package)
        .map_err(|e| format!("the package is not valid OPEX: {e}"))?;
    let mut messages = Vec::new();
    // Folders come first so that every asset (and nested folder) finds its parent's reference.
    let mut folder_refs: HashMap<String, String> = HashMap::new();
    for f in &plan.folders {
        let parent = match &f.parent {
            Some(pp) => folder_refs
                .get(pp)
                .cloned()
                .ok_or(format!("folder {} comes before its parent {pp}", f.path))?,
            None => target.clone(),
        };
        let reference = create_folder(data, f, parent);
        folder_refs.insert(f.path.clone(), reference.clone());
        messages.push(MonitorMessage {
            status: "Info".into(),
            text: format!("created folder {}", f.title),
            entity_ref: Some(reference),
            source_id: f.source_id.clone(),
            title: Some(f.title.clone()),
        });
    }
    for a in &plan.assets {
        let parent = match &a.folder {
            Some(path) => folder_refs.get(path).cloned().ok_or(format!(
                "asset {} is in an undeclared folder {path}",
                a.file_name
            ))?,
            None => target.clone(),
        };
        let io = create_asset(data, a, parent);
        messages.push(MonitorMessage {
            status: "Info".into(),
            text: format!("ingested {}", a.file_name),
            entity_ref: Some(io),
            source_id: a.source_id.clone(),
            title: Some(a.title.clone()),
        });
    }
    Ok(messages)
}

/// Stores one planned folder under `parent` and returns its new reference.
fn create_folder(data: &mut Data, f: &opex::PlannedFolder, parent: String) -> String {
    let reference = uuid::Uuid::new_v4().to_string();
    let mut e = Entity::new(
        EntityKind::Folder,
        reference.clone(),
        f.title.clone(),
        Some(parent),
        data.clock.now(),
    );
    e.description = f.description.clone();
    e.security_tag = f.security.clone();
    e.fragments = fragments_of(data, &f.fragments);
    e.identifiers = identifiers_of(data, &reference, f.source_id.as_ref(), &f.identifiers);
    data.insert(e);
    reference
}

/// Stores one planned asset (information object plus its content object and bitstream)
/// under `parent` and returns the information object's reference.
fn create_asset(data: &mut Data, a: &opex::PlannedAsset, parent: String) -> String {
    let io = uuid::Uuid::new_v4().to_string();
    let co = uuid::Uuid::new_v4().to_string();
    let mut bytes = a.bytes.clone();
    let fixities = stored_fixities(data, a, &mut bytes);
    let mut e = Entity::new(
        EntityKind::Asset,
        io.clone(),
        a.title.clone(),
        Some(parent),
        data.clock.now(),
    );
    e.description = a.description.clone();
    e.security_tag = a.security.clone();
    e.fragments = fragments_of(data, &a.fragments);
    e.identifiers = identifiers_of(data, &io, a.source_id.as_ref(), &a.identifiers);
    e.representations = vec![Representation {
        rtype: "Preservation".into(),
        name: "Preservation".into(),
        content_objects: vec![co.clone()],
    }];
    data.insert(e);
    let mut c = Entity::new(
        EntityKind::ContentObject,
        co,
        a.file_name.clone(),
        Some(io.clone()),
        data.clock.now(),
    );
    c.security_tag = a.security.clone();
    c.generations = vec![Generation {
        original: true,
        active: true,
        bitstreams: vec![StoredBitstream {
            filename: a.file_name.clone(),
            bytes: Bytes::from(bytes),
            fixities,
        }],
    }];
    data.insert(c);
    io
}

/// The fixities the emulator records for an asset's bitstream: the package's own, or, when the
/// emulator is told to corrupt ingests, one byte flipped and the fixity of the damaged bytes.
/// SHA1 is always present, as in Preservica.
fn stored_fixities(data: &Data, a: &opex::PlannedAsset, bytes: &mut [u8]) -> Vec<(String, String)> {
    let mut fixities: Vec<(String, String)> = if data.corrupt_ingest {
        if let Some(b) = bytes.first_mut() {
            *b ^= 0xff;
        }
        vec![("SHA256".into(), hex::encode(sha2::Sha256::digest(&*bytes)))]
    } else {
        a.fixities
            .iter()
            .map(|(alg, v)| (normalise_algorithm(alg), v.to_lowercase()))
            .collect()
    };
    if !fixities.iter().any(|(alg, _)| alg == "SHA1") {
        fixities.insert(0, ("SHA1".into(), hex::encode(sha1::Sha1::digest(&*bytes))));
    }
    fixities
}

pub(super) fn process_monitor(data: &Data, call: &Call) -> Response {
    let ok = |value: serde_json::Value| {
        json(
            StatusCode::OK,
            serde_json::json!({"success": true, "version": 1, "value": value}),
        )
    };
    match call.path.as_str() {
        wire::MONITORS_PATH => {
            let wanted = |field: &str, actual: &str| {
                call.param(field)
                    .is_none_or(|v| v.split(',').any(|w| w.trim().eq_ignore_ascii_case(actual)))
            };
            let monitors: Vec<serde_json::Value> = data
                .monitors
                .iter()
                .filter(|m| wanted("status", &m.status) && wanted("category", "Ingest"))
                .filter(|m| call.param("name").is_none_or(|n| m.name.contains(n)))
                .map(|m| {
                    serde_json::json!({
                        "mappedId": m.id, "name": m.name, "status": m.status,
                        "started": m.started.to_rfc3339(),
                        "completed": m.completed.map(|c| c.to_rfc3339()),
                        "category": "Ingest", "subcategory": "OPEX",
                        "progressText": m.status, "percentComplete": if m.completed.is_some() {100} else {50},
                        "filesPending": 0, "size": m.messages.len(), "filesProcessed": m.messages.len(),
                        "warnings": 0, "errors": m.messages.iter().filter(|x| x.status == "Error").count(),
                        "canRetry": false,
                    })
                })
                .collect();
            ok(
                serde_json::json!({"paging": {"totalResults": monitors.len()}, "monitors": monitors}),
            )
        }
        wire::MESSAGES_PATH => {
            let Some(id) = call.param("monitor") else {
                return bad_request("messages needs monitor");
            };
            let Some(m) = data.monitors.iter().find(|m| m.id == id) else {
                return not_found(&format!("no monitor {id}"));
            };
            let messages: Vec<serde_json::Value> = m
                .messages
                .iter()
                .filter(|x| {
                    call.param("status")
                        .is_none_or(|s| s.eq_ignore_ascii_case(&x.status))
                })
                .map(|x| {
                    serde_json::json!({
                        "monitorName": m.name, "mappedMonitorId": m.id, "status": x.status,
                        "displayMessage": x.text, "message": x.text,
                        "workflowName": "Ingest OPEX (Incremental)",
                        "date": m.completed.unwrap_or(m.started).to_rfc3339(),
                        "entityRef": x.entity_ref, "sourceId": x.source_id, "entityTitle": x.title,
                    })
                })
                .collect();
            ok(
                serde_json::json!({"paging": {"totalResults": messages.len()}, "messages": messages}),
            )
        }
        other => not_found(&format!("no such process monitor API: {other}")),
    }
}
