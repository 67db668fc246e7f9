//! OPEX packages: what ferry's archive transfer builds reads back field for field through
//! the emulator's reader, hostile names are made safe, and tampered or dangerous packages
//! are refused with errors that name the file.

use ferry::preservica::opex::{
    AssetSpec, COVERS_IDENTIFIER_TYPE, FolderSpec, IngestPlan, OpexError, PackageBuilder,
    PackageSummary, ReadLimits, read_package, read_package_with_limits, sanitize_file_name,
};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

const DC_NS: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
const RIGHTS_NS: &str = "urn:ferry:schema:rights:1";

const OAI_DC_ELEMENT: &str = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title>Harbour &amp; regatta &lt;1962&gt;</dc:title>
  <dc:subject>sailing</dc:subject>
  <dc:subject>harbour</dc:subject>
</oai_dc:dc>"#;

const RIGHTS_ELEMENT: &str = r#"<rights xmlns="urn:ferry:schema:rights:1"><expiry>2031-12-31</expiry><modelRelease status="released"/><usage>Editorial &quot;only&quot;</usage></rights>"#;

/// Pseudo-random bytes (xorshift), so content is incompressible and reproducible.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Hands out its data in small, uneven chunks, like a network body.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 4093 + 577;
        let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn zip_names(zip: &[u8]) -> Vec<String> {
    let archive = ZipArchive::new(Cursor::new(zip)).expect("a readable zip");
    archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect()
}

/// Builds a zip by hand from (name, bytes) pairs, names taken literally.
fn raw_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let mut w = ZipWriter::new(&mut out);
    for (name, bytes) in entries {
        w.start_file(*name, SimpleFileOptions::default())
            .expect("entry starts");
        w.write_all(bytes).expect("entry written");
    }
    w.finish().expect("zip finished");
    out.into_inner()
}

fn opex_doc(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opex:OPEXMetadata xmlns:opex=\"http://www.openpreservationexchange.org/opex/v1.2\">{body}</opex:OPEXMetadata>"
    )
}

struct Built {
    zip: Vec<u8>,
    summary: PackageSummary,
    small: Vec<u8>,
    big: Vec<u8>,
    pdf: Vec<u8>,
}

const GALLERY_TITLE: &str = r#"<b>Harbour</b> "Regatta" & <script>alert('x')</script>"#;

fn build_gallery_package() -> Built {
    let small = noise(2_000, 7);
    let big = noise(3 * 1024 * 1024 + 123, 11);
    let pdf = b"%PDF-1.7\n% contract between us & them\n%%EOF\n".to_vec();
    let mut out = Cursor::new(Vec::new());
    let mut b = PackageBuilder::new(&mut out, "8d1f0c7e-2b4a-4c55-9e0e-1f2a3b4c5d6e")
        .expect("a uuid is a valid container name");
    let gallery = b
        .add_folder(FolderSpec {
            name: "Harbour 1962: Regatta".into(),
            source_id: Some("G0000abcDEF".into()),
            title: GALLERY_TITLE.into(),
            description: Some("Line one & two\nline <three>\r\n\tend".into()),
            security: "closed".into(),
            identifiers: vec![
                ("photoshelter-gallery".into(), "G0000abcDEF".into()),
                ("code".into(), "harbour&1962 \"final\"".into()),
            ],
            fragments: vec![
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{OAI_DC_ELEMENT}\n"),
                RIGHTS_ELEMENT.to_string(),
            ],
            ..Default::default()
        })
        .expect("folder added");
    let small_file = b
        .add_asset(
            gallery,
            AssetSpec {
                original_name: "DSC_0001.JPG".into(),
                source_id: Some("I0000small".into()),
                title: "Boats & <masts>".into(),
                description: Some("Start of the race".into()),
                identifiers: vec![("photoshelter".into(), "I0000small".into())],
                fragments: vec![OAI_DC_ELEMENT.to_string()],
                expected_size: Some(small.len() as u64),
                ..Default::default()
            },
            &mut small.as_slice(),
        )
        .expect("small image added");
    assert_eq!(small_file.packaged_name, "DSC_0001.JPG");
    b.add_asset(
        gallery,
        AssetSpec {
            original_name: "panorama.tif".into(),
            source_id: Some("I0000big".into()),
            title: "Panorama".into(),
            security: "open".into(),
            identifiers: vec![("photoshelter".into(), "I0000big".into())],
            fragments: vec![RIGHTS_ELEMENT.to_string()],
            ..Default::default()
        },
        &mut Trickle {
            data: big.clone(),
            pos: 0,
            step: 1,
        },
    )
    .expect("big image added");
    b.add_asset(
        gallery,
        AssetSpec {
            original_name: "contract.pdf".into(),
            source_id: Some("D0000contract".into()),
            title: "Model release & contract".into(),
            security: "restricted".into(),
            identifiers: vec![("photoshelter".into(), "D0000contract".into())],
            covers: vec!["I0000small".into(), "I0000big".into()],
            ..Default::default()
        },
        &mut pdf.as_slice(),
    )
    .expect("contract added");
    let summary = b.finish().expect("package finished");
    Built {
        zip: out.into_inner(),
        summary,
        small,
        big,
        pdf,
    }
}

#[test]
fn a_built_package_reads_back_field_for_field() {
    let Built {
        zip,
        summary,
        small,
        big,
        pdf,
    } = build_gallery_package();
    let container = "8d1f0c7e-2b4a-4c55-9e0e-1f2a3b4c5d6e";
    assert_eq!(summary.container, container);
    assert_eq!(summary.package_bytes, zip.len() as u64);
    assert_eq!(
        summary.total_bytes,
        (small.len() + big.len() + pdf.len()) as u64
    );
    assert_eq!(summary.folders.len(), 1);
    let folder_path = format!("{container}/Harbour 1962_ Regatta");
    assert_eq!(summary.folders[0].packaged_path, folder_path);
    assert_eq!(summary.folders[0].requested_name, "Harbour 1962: Regatta");
    let names: Vec<_> = summary
        .files
        .iter()
        .map(|f| f.packaged_path.clone())
        .collect();
    assert_eq!(
        names,
        [
            format!("{folder_path}/DSC_0001.JPG"),
            format!("{folder_path}/panorama.tif"),
            format!("{folder_path}/contract.pdf"),
        ]
    );
    for (f, bytes) in summary.files.iter().zip([&small, &big, &pdf]) {
        assert_eq!(f.size, bytes.len() as u64);
        assert_eq!(f.sha256, sha256_hex(bytes));
        assert_eq!(f.md5, hex::encode(md5::Md5::digest(bytes)));
    }

    // The container manifest is written last: it is the completion trigger.
    let entries = zip_names(&zip);
    assert_eq!(
        entries.last().unwrap(),
        &format!("{container}/{container}.opex")
    );
    // Already-compressed content is stored, everything else deflated.
    let mut archive = ZipArchive::new(Cursor::new(zip.as_slice())).unwrap();
    let method = |a: &mut ZipArchive<Cursor<&[u8]>>, n: &str| a.by_name(n).unwrap().compression();
    assert_eq!(
        method(&mut archive, &format!("{folder_path}/DSC_0001.JPG")),
        CompressionMethod::Stored
    );
    assert_eq!(
        method(&mut archive, &format!("{folder_path}/panorama.tif")),
        CompressionMethod::Deflated
    );
    assert_eq!(
        method(&mut archive, &format!("{folder_path}/DSC_0001.JPG.opex")),
        CompressionMethod::Deflated
    );

    let IngestPlan {
        container: read_container,
        folders,
        assets,
    } = read_package(&zip).expect("the package reads back");
    assert_eq!(read_container.as_deref(), Some(container));

    assert_eq!(folders.len(), 1);
    let f = &folders[0];
    assert_eq!(f.path, "Harbour 1962_ Regatta");
    assert_eq!(f.parent, None);
    assert_eq!(f.source_id.as_deref(), Some("G0000abcDEF"));
    assert_eq!(f.title, GALLERY_TITLE);
    assert_eq!(
        f.description.as_deref(),
        Some("Line one & two\nline <three>\r\n\tend")
    );
    assert_eq!(f.security, "closed");
    assert_eq!(
        f.identifiers,
        [
            (
                "photoshelter-gallery".to_string(),
                "G0000abcDEF".to_string()
            ),
            ("code".to_string(), "harbour&1962 \"final\"".to_string()),
        ]
    );
    assert_eq!(
        f.fragments,
        [
            (DC_NS.to_string(), OAI_DC_ELEMENT.to_string()),
            (RIGHTS_NS.to_string(), RIGHTS_ELEMENT.to_string()),
        ]
    );

    assert_eq!(assets.len(), 3);
    let by_name = |n: &str| assets.iter().find(|a| a.file_name == n).expect(n);
    let a = by_name("DSC_0001.JPG");
    assert_eq!(a.folder.as_deref(), Some("Harbour 1962_ Regatta"));
    assert_eq!(a.original_name.as_deref(), Some("DSC_0001.JPG"));
    assert_eq!(a.bytes, small);
    assert_eq!(a.fixities, [("SHA-256".to_string(), sha256_hex(&small))]);
    assert_eq!(a.source_id.as_deref(), Some("I0000small"));
    assert_eq!(a.title, "Boats & <masts>");
    assert_eq!(a.description.as_deref(), Some("Start of the race"));
    assert_eq!(a.security, "open");
    assert_eq!(
        a.identifiers,
        [("photoshelter".to_string(), "I0000small".to_string())]
    );
    assert_eq!(
        a.fragments,
        [(DC_NS.to_string(), OAI_DC_ELEMENT.to_string())]
    );
    assert!(a.relationships.is_empty());

    let p = by_name("panorama.tif");
    assert!(p.bytes == big, "3 MiB image differs after the round trip");
    assert_eq!(p.fixities, [("SHA-256".to_string(), sha256_hex(&big))]);
    assert_eq!(p.title, "Panorama");
    assert_eq!(p.description, None);
    assert_eq!(
        p.fragments,
        [(RIGHTS_NS.to_string(), RIGHTS_ELEMENT.to_string())]
    );

    let c = by_name("contract.pdf");
    assert_eq!(c.bytes, pdf);
    assert_eq!(c.fixities, [("SHA-256".to_string(), sha256_hex(&pdf))]);
    assert_eq!(c.source_id.as_deref(), Some("D0000contract"));
    assert_eq!(c.title, "Model release & contract");
    assert_eq!(c.security, "restricted");
    assert_eq!(
        c.identifiers,
        [
            ("photoshelter".to_string(), "D0000contract".to_string()),
            (COVERS_IDENTIFIER_TYPE.to_string(), "I0000small".to_string()),
            (COVERS_IDENTIFIER_TYPE.to_string(), "I0000big".to_string()),
        ]
    );
    assert!(c.fragments.is_empty());
}

#[test]
fn hostile_file_names_are_sanitised_unique_and_recorded() {
    let long = format!("{}.jpg", "x".repeat(296));
    let originals = [
        "../../etc/passwd",
        "/abs/x.jpg",
        "a\u{0}b.jpg",
        "CON:.jpg",
        "con.jpg",
        "..",
        ".hidden",
        "<script>.jpg",
        long.as_str(),
        "a.jpg",
        "a.jpg",
        "A.JPG",
        "notes.opex",
        "a.jpg.opex",
        "bundle.pax.zip",
        "",
    ];
    let mut out = Cursor::new(Vec::new());
    let mut b = PackageBuilder::new(&mut out, "pkg").unwrap();
    let folder = b
        .add_folder(FolderSpec {
            name: "../g".into(),
            ..Default::default()
        })
        .unwrap();
    let mut packaged = Vec::new();
    for (i, name) in originals.iter().enumerate() {
        let content = format!("content {i}");
        let file = b
            .add_asset(
                folder,
                AssetSpec {
                    original_name: name.to_string(),
                    source_id: Some(format!("I{i}")),
                    title: format!("image {i}"),
                    ..Default::default()
                },
                &mut content.as_bytes(),
            )
            .unwrap_or_else(|e| panic!("{name:?} is accepted: {e}"));
        assert_eq!(file.original_name, *name, "the mapping keeps the original");
        packaged.push(file.packaged_name.clone());
    }
    let summary = b.finish().unwrap();
    let zip = out.into_inner();

    assert_eq!(summary.folders[0].packaged_path, "pkg/_g");
    assert_eq!(packaged[0], "___etc_passwd");
    assert_eq!(packaged[1], "_abs_x.jpg");
    assert_eq!(packaged[2], "a_b.jpg");
    assert_eq!(packaged[3], "CON_.jpg");
    assert_eq!(packaged[4], "_con.jpg");
    assert_eq!(packaged[5], "file");
    assert_eq!(packaged[6], "hidden");
    assert_eq!(packaged[7], "_script_.jpg");
    assert!(packaged[8].len() <= 200 && packaged[8].ends_with(".jpg"));
    assert_eq!(&packaged[9..12], ["a.jpg", "a-2.jpg", "A-3.JPG"]);
    assert_eq!(packaged[12], "notes_opex");
    assert_eq!(packaged[13], "a.jpg_opex");
    assert_eq!(packaged[14], "bundle_pax.zip");
    assert_eq!(packaged[15], "file-2");

    let mut lower: Vec<String> = packaged.iter().map(|n| n.to_lowercase()).collect();
    lower.sort();
    lower.dedup();
    assert_eq!(
        lower.len(),
        packaged.len(),
        "names are unique: {packaged:?}"
    );
    for name in &packaged {
        assert_eq!(&sanitize_file_name(name), name, "{name:?} is already sane");
    }
    let recorded: Vec<_> = summary
        .files
        .iter()
        .map(|f| f.original_name.as_str())
        .collect();
    assert_eq!(recorded, originals);

    for entry in zip_names(&zip) {
        assert!(!entry.starts_with('/'), "{entry}");
        assert!(!entry.contains('\\'), "{entry}");
        assert!(
            entry
                .trim_end_matches('/')
                .split('/')
                .all(|p| p != ".." && p != "." && !p.is_empty()),
            "{entry}"
        );
        assert!(entry.starts_with("pkg/"), "{entry}");
    }

    let plan = read_package(&zip).expect("the sanitised package reads back");
    assert_eq!(plan.assets.len(), originals.len());
    let nul = plan
        .assets
        .iter()
        .find(|a| a.file_name == "a_b.jpg")
        .unwrap();
    // XML cannot hold NUL; the exact original is in the builder's mapping instead.
    assert_eq!(nul.original_name.as_deref(), Some("a\u{FFFD}b.jpg"));
    let traversal = plan
        .assets
        .iter()
        .find(|a| a.file_name == "___etc_passwd")
        .unwrap();
    assert_eq!(traversal.original_name.as_deref(), Some("../../etc/passwd"));
    assert_eq!(traversal.folder.as_deref(), Some("_g"));
}

/// Copies `zip`, replacing the bytes of entry `name`.
fn with_entry_replaced(zip: &[u8], name: &str, replace: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut archive = ZipArchive::new(Cursor::new(zip)).unwrap();
    let mut out = Cursor::new(Vec::new());
    let mut w = ZipWriter::new(&mut out);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let entry_name = entry.name().unwrap().into_owned();
        if entry.is_dir() {
            w.add_directory(entry_name, SimpleFileOptions::default())
                .unwrap();
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if entry_name == name {
            replace(&mut bytes);
        }
        w.start_file(entry_name, SimpleFileOptions::default())
            .unwrap();
        w.write_all(&bytes).unwrap();
    }
    w.finish().unwrap();
    out.into_inner()
}

#[test]
fn a_content_change_fails_its_fixity_naming_the_file() {
    let built = build_gallery_package();
    let target = built.summary.files[0].packaged_path.clone();
    let tampered = with_entry_replaced(&built.zip, &target, |b| b[100] ^= 0x01);
    let err = read_package(&tampered).expect_err("tampered content is refused");
    let message = err.to_string();
    match &err {
        OpexError::FixityMismatch {
            file,
            algorithm,
            expected,
            actual,
        } => {
            assert_eq!(file, &target);
            assert_eq!(algorithm, "SHA-256");
            assert_eq!(expected, &built.summary.files[0].sha256);
            assert_ne!(actual, expected);
        }
        other => panic!("expected a fixity mismatch, got {other:?}"),
    }
    assert!(message.contains(&target), "{message}");
    assert!(message.contains("SHA-256"), "{message}");

    // A length change is caught by the manifest before the fixity is even checked.
    let truncated = with_entry_replaced(&built.zip, &target, |b| b.truncate(10));
    let message = read_package(&truncated).unwrap_err().to_string();
    assert!(message.contains(&target), "{message}");
}

#[test]
fn entries_escaping_the_package_are_refused() {
    let container_opex = opex_doc("");
    for (bad, reason) in [
        ("c/../../evil.jpg", "`..`"),
        ("/etc/evil.jpg", "absolute"),
        ("c\\..\\evil.jpg", "backslash"),
        ("C:/evil.jpg", "drive"),
        ("c//evil.jpg", "empty path"),
    ] {
        let zip = raw_zip(&[("c/c.opex", container_opex.as_bytes()), (bad, b"payload")]);
        let err = read_package(&zip).expect_err(bad);
        assert!(
            matches!(&err, OpexError::UnsafePath { entry, .. } if entry == bad),
            "{bad}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(reason), "{bad}: {message}");
    }
}

#[test]
fn dangerous_or_lying_opex_documents_are_refused() {
    let bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\n<opex:OPEXMetadata xmlns:opex=\"http://www.openpreservationexchange.org/opex/v1.2\"><opex:Properties><opex:Title>&lol2;</opex:Title></opex:Properties></opex:OPEXMetadata>";
    let zip = raw_zip(&[
        ("c/c.opex", opex_doc("").as_bytes()),
        ("c/g/g.opex", bomb.as_bytes()),
    ]);
    let err = read_package(&zip).expect_err("a DOCTYPE is refused");
    let message = err.to_string();
    assert!(matches!(err, OpexError::Xml { .. }), "{err:?}");
    assert!(message.contains("c/g/g.opex"), "{message}");
    assert!(message.contains("DOCTYPE"), "{message}");

    // An entity nobody declared.
    let undeclared = opex_doc("<opex:Properties><opex:Title>&nbsp;</opex:Title></opex:Properties>");
    let zip = raw_zip(&[
        ("c/c.opex", opex_doc("").as_bytes()),
        ("c/a.jpg", b"jpeg"),
        ("c/a.jpg.opex", undeclared.as_bytes()),
    ]);
    let message = read_package(&zip).unwrap_err().to_string();
    assert!(message.contains("c/a.jpg.opex"), "{message}");
    assert!(message.contains("nbsp"), "{message}");

    // A manifest naming a file that is not there.
    let lying = opex_doc(
        "<opex:Transfer><opex:Manifest><opex:Files><opex:File type=\"content\" size=\"4\">ghost.jpg</opex:File></opex:Files></opex:Manifest></opex:Transfer>",
    );
    let zip = raw_zip(&[("c/c.opex", lying.as_bytes()), ("c/a.jpg", b"jpeg")]);
    let message = read_package(&zip).unwrap_err().to_string();
    assert!(message.contains("c/c.opex"), "{message}");
    assert!(message.contains("c/ghost.jpg"), "{message}");

    // A sidecar for a file that is not there.
    let zip = raw_zip(&[
        ("c/c.opex", opex_doc("").as_bytes()),
        ("c/ghost.jpg.opex", opex_doc("").as_bytes()),
    ]);
    let message = read_package(&zip).unwrap_err().to_string();
    assert!(message.contains("c/ghost.jpg.opex"), "{message}");
    assert!(message.contains("not in the package"), "{message}");

    // A fixity in an algorithm ferry cannot check is not silently accepted.
    let odd = opex_doc(
        "<opex:Transfer><opex:Fixities><opex:Fixity type=\"CRC32\" value=\"00000000\"/></opex:Fixities></opex:Transfer>",
    );
    let zip = raw_zip(&[
        ("c/c.opex", opex_doc("").as_bytes()),
        ("c/a.jpg", b"jpeg"),
        ("c/a.jpg.opex", odd.as_bytes()),
    ]);
    let message = read_package(&zip).unwrap_err().to_string();
    assert!(message.contains("CRC32"), "{message}");
}

#[test]
fn oversized_packages_are_refused_before_unpacking() {
    let zeros = vec![0u8; 1 << 20];
    let zip = raw_zip(&[("c/c.opex", opex_doc("").as_bytes()), ("c/z.bin", &zeros)]);
    let limits = ReadLimits {
        max_total_bytes: 64 * 1024,
        ..ReadLimits::default()
    };
    let err = read_package_with_limits(&zip, &limits).expect_err("too large");
    assert!(matches!(err, OpexError::LimitExceeded(_)), "{err:?}");
    let limits = ReadLimits {
        max_entries: 1,
        ..ReadLimits::default()
    };
    let err = read_package_with_limits(&zip, &limits).expect_err("too many entries");
    assert!(err.to_string().contains("entries"), "{err}");
}

#[test]
fn packages_from_other_tools_are_read_leniently() {
    // v1.0 namespace, unprefixed children, a fragment relying on a namespace declared on
    // the root, MD5 fixity in upper case, a file without sidecar and a nested folder.
    let folder_opex = r#"<opex:OPEXMetadata xmlns:opex="http://www.openpreservationexchange.org/opex/v1.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <opex:Transfer><opex:SourceID>F-1</opex:SourceID></opex:Transfer>
  <Properties><Title>Letters</Title><Identifiers><Identifier type="code">L</Identifier></Identifiers></Properties>
  <opex:DescriptiveMetadata>
    <dc:record xmlns:x="urn:x"><dc:title x:lang="en">Box 1</dc:title></dc:record>
  </opex:DescriptiveMetadata>
</opex:OPEXMetadata>"#;
    let letter = b"dear sir";
    let md5 = hex::encode(md5::Md5::digest(letter)).to_uppercase();
    let letter_opex = opex_doc(&format!(
        "<opex:Transfer><opex:Fixities><opex:Fixity type=\"MD5\" value=\"{md5}\"/></opex:Fixities></opex:Transfer><opex:Relationships><opex:Relationship><opex:Type>covers</opex:Type><opex:Object>I1</opex:Object></opex:Relationship></opex:Relationships>"
    ));
    let zip = raw_zip(&[
        ("c/c.opex", opex_doc("").as_bytes()),
        ("c/top.txt", b"top"),
        ("c/letters/letters.opex", folder_opex.as_bytes()),
        ("c/letters/1900/letter.txt", letter),
        ("c/letters/1900/letter.txt.opex", letter_opex.as_bytes()),
    ]);
    let plan = read_package(&zip).expect("lenient read");
    assert_eq!(plan.container.as_deref(), Some("c"));
    let paths: Vec<_> = plan.folders.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["letters", "letters/1900"]);
    let letters = &plan.folders[0];
    assert_eq!(letters.title, "Letters");
    assert_eq!(letters.source_id.as_deref(), Some("F-1"));
    assert_eq!(letters.security, "open");
    assert_eq!(letters.identifiers, [("code".to_string(), "L".to_string())]);
    assert_eq!(
        letters.fragments,
        [(
            "http://purl.org/dc/elements/1.1/".to_string(),
            r#"<dc:record xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:x="urn:x"><dc:title x:lang="en">Box 1</dc:title></dc:record>"#
                .to_string()
        )]
    );
    let year = &plan.folders[1];
    assert_eq!(year.parent.as_deref(), Some("letters"));
    assert_eq!(year.title, "1900");

    let top = plan
        .assets
        .iter()
        .find(|a| a.file_name == "top.txt")
        .unwrap();
    assert_eq!(top.folder, None);
    assert_eq!(top.title, "top.txt");
    assert_eq!(top.security, "open");
    assert!(top.fixities.is_empty());
    let letter_asset = plan
        .assets
        .iter()
        .find(|a| a.file_name == "letter.txt")
        .unwrap();
    assert_eq!(letter_asset.folder.as_deref(), Some("letters/1900"));
    assert_eq!(
        letter_asset.fixities,
        [("MD5".to_string(), md5.to_lowercase())]
    );
    assert_eq!(
        letter_asset.relationships,
        [("covers".to_string(), "I1".to_string())]
    );

    // A plain zip without a container: its top level is the target folder.
    let plain = raw_zip(&[("photos/a.jpg", b"a"), ("b.jpg", b"b")]);
    let plan = read_package(&plain).unwrap();
    assert_eq!(plan.container, None);
    assert_eq!(plan.folders.len(), 1);
    assert_eq!(plan.folders[0].path, "photos");
    assert_eq!(plan.assets.len(), 2);
}

#[test]
fn values_xml_cannot_hold_fail_the_build_naming_asset_and_field() {
    let mut out = Cursor::new(Vec::new());
    let mut b = PackageBuilder::new(&mut out, "pkg").unwrap();
    let root = b.container_folder();
    let err = b
        .add_asset(
            root,
            AssetSpec {
                original_name: "bell.jpg".into(),
                source_id: Some("I0000bell".into()),
                title: "ding\u{7}dong".into(),
                ..Default::default()
            },
            &mut b"jpeg".as_slice(),
        )
        .expect_err("a BEL in a title is refused");
    let message = err.to_string();
    assert!(
        matches!(&err, OpexError::InvalidValue { field, .. } if field == "Title"),
        "{err:?}"
    );
    assert!(message.contains("bell.jpg"), "{message}");
    assert!(message.contains("I0000bell"), "{message}");
    assert!(message.contains("U+0007"), "{message}");

    let err = b
        .add_folder(FolderSpec {
            name: "g".into(),
            description: Some("a\u{1b}[31m".into()),
            ..Default::default()
        })
        .expect_err("an escape sequence in a description is refused");
    assert!(err.to_string().contains("Description"), "{err}");

    let err = b
        .add_folder(FolderSpec {
            name: "g".into(),
            fragments: vec!["<!DOCTYPE x><x xmlns=\"urn:x\"/>".into()],
            ..Default::default()
        })
        .expect_err("a fragment with a DOCTYPE is refused");
    assert!(
        matches!(err, OpexError::InvalidFragment { index: 1, .. }),
        "{err:?}"
    );

    // Refused additions leave nothing behind: the package is still whole.
    b.add_asset(
        root,
        AssetSpec {
            original_name: "bell.jpg".into(),
            title: "ding dong".into(),
            ..Default::default()
        },
        &mut b"jpeg".as_slice(),
    )
    .unwrap();
    let wrong_size = b.add_asset(
        root,
        AssetSpec {
            original_name: "short.jpg".into(),
            expected_size: Some(10),
            ..Default::default()
        },
        &mut b"jpeg".as_slice(),
    );
    assert!(matches!(
        wrong_size,
        Err(OpexError::SizeMismatch {
            expected: 10,
            actual: 4,
            ..
        })
    ));
    b.finish().unwrap();
    let plan = read_package(out.get_ref()).unwrap();
    assert_eq!(plan.folders.len(), 0);
    let names: Vec<_> = plan.assets.iter().map(|a| a.file_name.as_str()).collect();
    assert_eq!(names, ["bell.jpg"]);
}
