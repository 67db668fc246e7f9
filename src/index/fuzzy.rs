//! Typo-tolerant matching of one word, ranked. tantivy's `FuzzyTermQuery` scores every match
//! the same, so a search whose words only matched fuzzily came back in index order (by asset
//! id). Here the word is expanded against the index's term dictionary into the words it is
//! within reach of, and each of those is scored like a typed word (BM25, the field boosts),
//! scaled down: a misspelt search ranks its hits by relevance too.
//!
//! Invariant: a document that has the word exactly scores above every document that only has
//! a near miss of it ([`EXACT_BONUS`]), as before; the set of matches is the fuzzy query's
//! (words beyond [`MAX_EXPANSIONS`] still match, unranked).

use super::query::{boosted, term};
use std::collections::BTreeSet;
use tantivy::query::{BooleanQuery, ConstScoreQuery, FuzzyTermQuery, Query};
use tantivy::schema::Field;
use tantivy::{Searcher, Term};

/// A near miss scores this fraction of what the word itself would.
pub const FUZZY_WEIGHT: f32 = 0.5;
/// Added to a document for each word it holds exactly: larger than any sum of near-miss scores
/// a realistic index produces, so exact matches stay first.
pub const EXACT_BONUS: f32 = 1000.0;
/// Most words one typed word expands to; beyond, the others still match (unranked).
pub const MAX_EXPANSIONS: usize = 64;

/// The words of `field` within `distance` edits of `token` (the token itself excluded), at
/// most `max` (the first in dictionary order).
pub fn expand(
    searcher: &Searcher,
    field: Field,
    token: &str,
    distance: u8,
    max: usize,
) -> tantivy::Result<Vec<String>> {
    let automaton =
        FuzzyTermQuery::new(Term::from_field_text(field, token), distance, true).automaton()?;
    let mut found = BTreeSet::new();
    for reader in searcher.segment_readers() {
        let inverted = reader.inverted_index(field)?;
        let mut stream = inverted.terms().search(&automaton).into_stream()?;
        while stream.advance() {
            let Ok(word) = std::str::from_utf8(stream.key()) else {
                continue;
            };
            if word != token {
                found.insert(word.to_string());
                if found.len() > max {
                    found.pop_last();
                    return Ok(found.into_iter().collect());
                }
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// The query of one typed word over `targets` (field, boost) with typos allowed within
/// `distance` (expanded in `fuzzy_field`): the exact word in each target, a bonus for having
/// it, and each near miss scored in each target at [`FUZZY_WEIGHT`]. Without a searcher (or if
/// the term dictionary cannot be read) near misses match unranked, as tantivy scores them.
pub fn word_query(
    searcher: Option<&Searcher>,
    targets: &[(Field, f32)],
    fuzzy_field: Field,
    token: &str,
    distance: u8,
) -> Box<dyn Query> {
    let exact: Vec<Box<dyn Query>> = targets
        .iter()
        .map(|&(field, boost)| boosted(term(field, token), boost))
        .collect();
    let mut should: Vec<Box<dyn Query>> = exact.iter().map(|q| q.box_clone()).collect();
    should.push(Box::new(ConstScoreQuery::new(
        Box::new(BooleanQuery::union(exact)),
        EXACT_BONUS,
    )));
    let fuzzy = FuzzyTermQuery::new(Term::from_field_text(fuzzy_field, token), distance, true);
    let expanded = searcher.and_then(|s| {
        expand(s, fuzzy_field, token, distance, MAX_EXPANSIONS)
            .inspect_err(|e| tracing::debug!(error = %e, token, "cannot expand a fuzzy word"))
            .ok()
    });
    match expanded {
        Some(words) => {
            for word in &words {
                for &(field, boost) in targets {
                    should.push(boosted(term(field, word), boost * FUZZY_WEIGHT));
                }
            }
            // The matches stay the fuzzy query's: a word cut from the expansion, or found only
            // in `fuzzy_field`, still matches (unranked).
            should.push(Box::new(ConstScoreQuery::new(Box::new(fuzzy), 0.0)));
        }
        None => should.push(boosted(Box::new(fuzzy), FUZZY_WEIGHT)),
    }
    Box::new(BooleanQuery::union(should))
}
