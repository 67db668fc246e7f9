//! `ferry search` and `ferry index`: the archive index from the terminal.

use crate::config::Config;
use crate::exit::Outcome;
use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};

/// `ferry search --format`.
#[derive(Clone, Copy, ValueEnum)]
pub(super) enum SearchFormat {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args)]
#[command(
    after_help = "Query language: free words (misspellings tolerated), \"a phrase\", \
creator:mary, keyword:regatta, campaign:..., city:..., gallery:..., folder:..., year:1962, \
date:1960..1965 or \
date:1962-07-01..1962-07-31, expires:30 (licence expires within 30 days), \
rights:ok|expiring|expired|restricted|unknown, in:photoshelter|preservica|both."
)]
pub(super) struct SearchArgs {
    /// The query
    query: Vec<String>,
    /// An extra filter in the same syntax (repeatable), e.g. --filter rights:expired
    #[arg(long = "filter", value_name = "FIELD:VALUE")]
    filters: Vec<String>,
    /// Count facets (creator, keyword, decade, year, rights, location, system)
    #[arg(long)]
    facets: bool,
    /// How many hits
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Order of the hits
    #[arg(long, value_enum, default_value_t = crate::index::Sort::Relevance)]
    sort: crate::index::Sort,
    /// Output
    #[arg(long, value_enum, default_value_t = SearchFormat::Table)]
    format: SearchFormat,
    /// With --format csv: start with a UTF-8 byte-order mark, for spreadsheet programs
    /// (also `[output] excel = true` in ferry.toml)
    #[arg(long)]
    excel: bool,
}

#[derive(Subcommand)]
pub(super) enum IndexCommand {
    /// Rebuild the index from the store
    Rebuild,
}

pub(super) fn search(config: &Config, args: &SearchArgs) -> Result<Outcome> {
    use crate::index::{Filter, SearchIndex, SearchRequest};
    // Read-only: a `ferry serve` holding the writer does not block a search.
    let mut index = SearchIndex::open_read_only(&config.paths.index)?;
    // The mapping's labels say what enum codes mean in the hits; without it, the built-in ones.
    if let Ok(mapping) = crate::mapping::Mapping::load(&config.mapping) {
        index.set_mapping(mapping);
    }
    let mut request = SearchRequest::new(&args.query.join(" "), chrono::Utc::now().date_naive());
    request.facets = args.facets;
    request.limit = args.limit;
    request.sort = args.sort;
    for f in &args.filters {
        request
            .filters
            .push(Filter::parse(f).with_context(|| format!("--filter {f}"))?);
    }
    let results = index.search(&request)?;
    if index.doc_count() == 0 {
        eprintln!(
            "error: the search index in {} is empty; build it with `ferry --config {} index rebuild` (a sync also fills it)",
            config.paths.index.display(),
            config.file.display()
        );
        return Ok(Outcome::Failures);
    }
    match args.format {
        SearchFormat::Table => print!("{}", crate::index::format_table(&results)),
        SearchFormat::Csv => {
            let style = crate::csv_out::CsvStyle {
                excel: args.excel || config.output.excel,
            };
            print!("{}", crate::index::format_csv(&results, style))
        }
        SearchFormat::Json => println!("{}", serde_json::to_string_pretty(&results)?),
    }
    Ok(Outcome::Done)
}

pub(super) fn index_rebuild(config: &Config) -> Result<Outcome> {
    let n = crate::app::rebuild_index(config)?;
    println!("indexed {n} assets into {}", config.paths.index.display());
    Ok(Outcome::Done)
}
