//! Reading an asset's event actions (contract §7.2): Preservica has no conditional write, so
//! this is how ferry sees, after a write, whether someone else changed the asset between
//! ferry's re-read and its write.

use super::*;

/// Event actions asked for per page.
const EVENT_PAGE: u64 = 100;
/// Pages read at most: the events of the seconds around one write fit in one page; more
/// than this is not a write window any more (or the server ignores `start`).
const MAX_EVENT_PAGES: usize = 5;

impl PreservicaClient {
    /// The user ferry logs in as: Preservica names it as the user of ferry's own changes.
    pub fn username(&self) -> &str {
        &self.conn.username
    }

    fn events_url(&self, reference: &str, start: u64, max: u64) -> String {
        format!(
            "{}/{}?start={start}&max={max}",
            self.entity_url(EntityKind::Asset, reference),
            wire::EVENT_ACTIONS
        )
    }

    /// How many event actions an asset has (the listing's `TotalResults`), or `None` when
    /// the server does not say.
    pub async fn event_count(&self, reference: &str) -> Result<Option<u64>> {
        let doc = self
            .get_xml(&self.events_url(reference, 0, 1), AnswerKind::Page)
            .await?;
        Ok(wire::read_event_actions(&doc.root).total)
    }

    /// The asset's event actions from the `start`-th on (0-based), oldest first.
    pub async fn events_since(
        &self,
        reference: &str,
        start: u64,
    ) -> Result<Vec<wire::EventAction>> {
        let mut out = Vec::new();
        let mut next = Some(self.events_url(reference, start, EVENT_PAGE));
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_EVENT_PAGES {
                return Err(PreservicaError::Malformed {
                    url: redact(&url),
                    reason: format!(
                        "more than {} events since ferry's re-read of {reference}",
                        EVENT_PAGE as usize * MAX_EVENT_PAGES
                    ),
                });
            }
            let doc = self.get_xml(&url, AnswerKind::Page).await?;
            let page = wire::read_event_actions(&doc.root);
            out.extend(page.actions);
            next = page.next;
        }
        Ok(out)
    }
}
