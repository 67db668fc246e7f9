//! The tantivy schema of the curator index, its text analyser, and the version marker that
//! tells an index written by another ferry apart.

use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, STORED, STRING,
    Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};

/// Bumped whenever the schema, the analyser or what goes into a field changes: an index with
/// another version is refused with a message to rebuild it.
pub const SCHEMA_VERSION: &str = "ferry-index-3";

/// The analyser every text field uses: words split on anything that is not a letter or digit,
/// lower-cased and folded to ASCII ("Café" finds "cafe"), very long tokens dropped. No stemming:
/// typo tolerance comes from fuzzy terms at query time, and stems would make those fuzzier.
pub const ANALYZER: &str = "ferry_text";

/// Tokens longer than this (base64 blobs, pasted URLs) are not indexed.
const MAX_TOKEN_BYTES: usize = 64;

pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Every field of the index, resolved once.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub asset_id: Field,
    pub photoshelter_id: Field,
    pub preservica_ref: Field,
    // Text fields, searched with boosts (title > headline/caption > keywords > the rest).
    pub title: Field,
    pub headline: Field,
    pub caption: Field,
    pub keywords: Field,
    pub creator: Field,
    pub credit: Field,
    pub campaign: Field,
    pub location: Field,
    /// Where the asset is filed: PhotoShelter gallery names, the Preservica folder title.
    pub filed_in: Field,
    /// Everything else worth finding by a word, for free text: creator, credit, campaign,
    /// location, rights text, references, ids, the year.
    pub rest: Field,
    /// Every word of the asset in one field, for fuzzy (typo-tolerant) matching.
    pub all: Field,
    // Dates (day precision: stored as midnight UTC of the day).
    pub date_created: Field,
    pub license_expiry: Field,
    // Keywords for filters.
    pub lives_in: Field,
    pub authoritative: Field,
    pub model_release: Field,
    pub archive_status: Field,
    /// 0 no release information, 1 released (MR-UMR / MR-NAP), 2 restricted.
    pub rights_base: Field,
    // Sort keys: the day and the asset id in one number, both directions sorted descending.
    pub sort_date_desc: Field,
    pub sort_date_asc: Field,
    // Facet values (exact strings, counted from their columns).
    pub creator_facet: Field,
    pub keyword_facet: Field,
    pub decade_facet: Field,
    pub year_facet: Field,
    pub location_facet: Field,
    pub lives_in_facet: Field,
    // Stored only, for showing hits.
    pub date_created_shown: Field,
    pub license_expiry_shown: Field,
    pub location_shown: Field,
    /// The asset's file name (PhotoShelter's, else Preservica's): what a hit without a title
    /// is called.
    pub file_name: Field,
    pub indexed_on: Field,
}

pub const RIGHTS_NONE: u64 = 0;
pub const RIGHTS_RELEASED: u64 = 1;
pub const RIGHTS_RESTRICTED: u64 = 2;

pub fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let all_options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    let date = DateOptions::default()
        .set_indexed()
        .set_fast()
        .set_precision(DateTimePrecision::Seconds);
    let shown = TextOptions::default().set_stored();
    // Facet values: exact strings, indexed for filters, fast (columnar) for counting.
    let facet = || STRING | FAST;

    let fields = Fields {
        asset_id: b.add_i64_field("asset_id", INDEXED | STORED | FAST),
        photoshelter_id: b.add_text_field("photoshelter_id", STRING | STORED),
        preservica_ref: b.add_text_field("preservica_ref", STRING | STORED),
        title: b.add_text_field("title", text(true)),
        headline: b.add_text_field("headline", text(true)),
        caption: b.add_text_field("caption", text(true)),
        keywords: b.add_text_field("keywords", text(true)),
        creator: b.add_text_field("creator", text(true)),
        credit: b.add_text_field("credit", text(false)),
        campaign: b.add_text_field("campaign", text(true)),
        location: b.add_text_field("location", text(false)),
        filed_in: b.add_text_field("filed_in", text(true)),
        rest: b.add_text_field("rest", text(false)),
        all: b.add_text_field("all", all_options),
        date_created: b.add_date_field("date_created", date.clone()),
        license_expiry: b.add_date_field("license_expiry", date),
        lives_in: b.add_text_field("lives_in", STRING | STORED),
        authoritative: b.add_text_field("authoritative", STRING | STORED),
        model_release: b.add_text_field("model_release", STRING | STORED),
        archive_status: b.add_text_field("archive_status", STRING | STORED),
        rights_base: b.add_u64_field("rights_base", INDEXED | STORED | FAST),
        sort_date_desc: b.add_i64_field("sort_date_desc", FAST),
        sort_date_asc: b.add_i64_field("sort_date_asc", FAST),
        creator_facet: b.add_text_field("creator_facet", facet()),
        keyword_facet: b.add_text_field("keyword_facet", facet()),
        decade_facet: b.add_text_field("decade_facet", facet()),
        year_facet: b.add_text_field("year_facet", facet()),
        location_facet: b.add_text_field("location_facet", facet()),
        lives_in_facet: b.add_text_field("lives_in_facet", facet()),
        date_created_shown: b.add_text_field("date_created_shown", shown.clone()),
        license_expiry_shown: b.add_text_field("license_expiry_shown", shown.clone()),
        location_shown: b.add_text_field("location_shown", shown.clone()),
        file_name: b.add_text_field("file_name", shown.clone()),
        indexed_on: b.add_text_field("indexed_on", shown),
    };
    (b.build(), fields)
}
