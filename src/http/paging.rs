//! Bounds on one paged listing, so that a server whose listing never ends — a `Next` that
//! moves forward forever, a page served again, a total that keeps moving away — costs a
//! bounded number of requests and bounded memory, and ends with an error naming the page.
//!
//! A listing may read at most the pages its first page's total implies (at the first page's
//! size) plus a margin of a tenth (at least two pages), for a listing that grows while it is
//! read; never more than the system's `max_pages`; and no page or link twice. Only
//! fingerprints of pages and links are kept, so the bound itself stays a few bytes a page.

use crate::model::System;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// Why a listing was stopped. Each names the page's (redacted) URL.
#[derive(Debug, thiserror::Error)]
pub enum ListingError {
    #[error(
        "{url}: the listing is still going after {pages} pages, the most ferry reads of one listing; if the server really holds that many, raise {system}.max_pages in ferry.toml"
    )]
    Ceiling {
        url: String,
        pages: u32,
        system: System,
    },
    #[error(
        "{url}: page {page} of a listing whose first page stated {total} results ({implied} pages of {per_page}, and {margin} more for a listing that grows while it is read): the server pages past its own total, so ferry stopped"
    )]
    PastTotal {
        url: String,
        page: u32,
        total: u64,
        per_page: u64,
        implied: u64,
        margin: u64,
    },
    #[error(
        "{url}: page {page} repeats {}; the server pages in a circle, so ferry stopped",
        earlier_words(*page, *earlier)
    )]
    RepeatedPage {
        url: String,
        page: u32,
        earlier: u32,
    },
    #[error(
        "{url}: the listing's next link leads back to a page already read; the server pages in a circle, so ferry stopped"
    )]
    RepeatedLink { url: String },
}

fn earlier_words(page: u32, earlier: u32) -> String {
    if earlier + 1 == page {
        "the page before it".to_string()
    } else {
        format!("page {earlier}")
    }
}

/// The bound of one listing: [`admit`](Self::admit) each page before asking for it,
/// [`read`](Self::read) it once it is read.
#[derive(Debug)]
pub struct PageBound {
    system: System,
    ceiling: u32,
    pages: u32,
    /// The total the first page stated, and how many items it held.
    first: Option<(Option<u64>, u64)>,
    /// Fingerprint of each page's items → the page's number.
    prints: HashMap<u64, u32>,
    /// Fingerprints of the links followed.
    links: HashSet<u64>,
}

impl PageBound {
    pub fn new(system: System, ceiling: u32) -> PageBound {
        PageBound {
            system,
            ceiling: ceiling.max(1),
            pages: 0,
            first: None,
            prints: HashMap::new(),
            links: HashSet::new(),
        }
    }

    /// Pages admitted so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Before asking for the page at `url`: refuses a link already followed, a page past the
    /// ceiling, or past what the first page's total implies plus the margin. A refused page
    /// is never asked for.
    pub fn admit(&mut self, url: &str) -> Result<(), ListingError> {
        let shown = || super::redact(url);
        if !self.links.insert(fingerprint([url])) {
            return Err(ListingError::RepeatedLink { url: shown() });
        }
        let page = self.pages + 1;
        if page > self.ceiling {
            return Err(ListingError::Ceiling {
                url: shown(),
                pages: self.ceiling,
                system: self.system,
            });
        }
        if let Some((Some(total), len)) = self.first {
            let per_page = len.max(1);
            let implied = total.div_ceil(per_page).max(1);
            let margin = (implied / 10).max(2);
            if u64::from(page) > implied + margin {
                return Err(ListingError::PastTotal {
                    url: shown(),
                    page,
                    total,
                    per_page,
                    implied,
                    margin,
                });
            }
        }
        self.pages = page;
        Ok(())
    }

    /// After reading the page at `url`: the total it states and the ids of its items, in
    /// order. Refuses a page whose items repeat an earlier page's.
    pub fn read<I, S>(&mut self, url: &str, total: Option<u64>, ids: I) -> Result<(), ListingError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut h = DefaultHasher::new();
        let mut n: u64 = 0;
        for id in ids {
            id.as_ref().hash(&mut h);
            n += 1;
        }
        if self.first.is_none() {
            self.first = Some((total, n));
        }
        if n == 0 {
            return Ok(());
        }
        n.hash(&mut h);
        let print = h.finish();
        if let Some(&earlier) = self.prints.get(&print) {
            return Err(ListingError::RepeatedPage {
                url: super::redact(url),
                page: self.pages,
                earlier,
            });
        }
        self.prints.insert(print, self.pages);
        Ok(())
    }
}

fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h = DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|i| format!("id{i}")).collect()
    }

    #[test]
    fn a_listing_may_pass_its_stated_total_by_the_margin_only() {
        let mut b = PageBound::new(System::Preservica, 10_000);
        // 25 results in pages of 10: 3 pages, and 2 more.
        for p in 0..5u32 {
            b.admit(&format!("https://x/list?start={}", p * 10))
                .unwrap();
            b.read("u", Some(25), ids(p * 10..p * 10 + 10)).unwrap();
        }
        let e = b.admit("https://x/list?start=50").unwrap_err();
        assert!(
            matches!(
                e,
                ListingError::PastTotal {
                    page: 6,
                    implied: 3,
                    margin: 2,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_listing_without_a_total_stops_at_the_ceiling() {
        let mut b = PageBound::new(System::PhotoShelter, 3);
        for p in 0..3u32 {
            b.admit(&format!("https://x/list?page={p}")).unwrap();
            b.read("u", None, ids(p..p + 1)).unwrap();
        }
        let e = b.admit("https://x/list?page=3").unwrap_err();
        assert!(e.to_string().contains("photoshelter.max_pages"), "{e}");
    }

    #[test]
    fn repeated_pages_and_links_are_refused() {
        let mut b = PageBound::new(System::Preservica, 100);
        b.admit("https://x/a").unwrap();
        b.read("https://x/a", None, ids(0..2)).unwrap();
        b.admit("https://x/b").unwrap();
        b.read("https://x/b", None, ids(2..4)).unwrap();
        b.admit("https://x/c").unwrap();
        let e = b.read("https://x/c", None, ids(0..2)).unwrap_err();
        assert!(e.to_string().contains("page 3 repeats page 1"), "{e}");
        let e = b.admit("https://x/b").unwrap_err();
        assert!(matches!(e, ListingError::RepeatedLink { .. }), "{e}");
        // Empty pages carry nothing to repeat.
        let mut b = PageBound::new(System::Preservica, 100);
        b.admit("https://x/a").unwrap();
        b.read("https://x/a", None, ids(0..0)).unwrap();
        b.admit("https://x/b").unwrap();
        b.read("https://x/b", None, ids(0..0)).unwrap();
    }
}
