//! The live queue: the ids a webhook or a poll named since the last live run, each once, with
//! when it was edited (for the lag metric); and the deliveries seen lately, so that one
//! delivered again is dropped as a replay.
//!
//! Invariant: an id is queued at most once however many events name it (a burst of events
//! for one asset costs one read), and keeps the earliest edit time any of them gave.

use crate::model::System;
use crate::sync::Scope;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// How long a delivery's id is remembered: Preservica retries a delivery it thinks failed
/// within minutes; an hour covers that with room.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(60 * 60);

/// At most this many delivery ids are remembered (oldest forgotten first), so a flood of
/// signed deliveries cannot grow memory without bound.
const MAX_REMEMBERED: usize = 100_000;

/// The queue proper.
#[derive(Debug, Default)]
pub struct Queue {
    preservica: BTreeMap<String, DateTime<Utc>>,
    photoshelter: BTreeMap<String, DateTime<Utc>>,
    seen: VecDeque<(Instant, String)>,
    seen_ids: HashSet<String>,
}

/// What a live run takes from the queue: its scope and when each id was edited.
#[derive(Debug, Clone, Default)]
pub struct Taken {
    pub scope: Scope,
    pub edited: BTreeMap<(System, String), DateTime<Utc>>,
}

impl Queue {
    /// Whether delivery `id` was seen within the replay window; remembers it if not.
    pub fn seen_before(&mut self, id: &str, now: Instant) -> bool {
        while let Some((at, old)) = self.seen.front() {
            if now.duration_since(*at) < REPLAY_WINDOW && self.seen.len() < MAX_REMEMBERED {
                break;
            }
            self.seen_ids.remove(old);
            self.seen.pop_front();
        }
        if self.seen_ids.contains(id) {
            return true;
        }
        self.seen_ids.insert(id.to_owned());
        self.seen.push_back((now, id.to_owned()));
        false
    }

    /// Queues `id` of `system`, edited at `edited` (the earliest time given is kept).
    pub fn push(&mut self, system: System, id: &str, edited: DateTime<Utc>) {
        let map = match system {
            System::Preservica => &mut self.preservica,
            System::PhotoShelter => &mut self.photoshelter,
        };
        map.entry(id.to_owned())
            .and_modify(|t| *t = (*t).min(edited))
            .or_insert(edited);
    }

    /// Ids waiting.
    pub fn len(&self) -> usize {
        self.preservica.len() + self.photoshelter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the queue into what one live run reads.
    pub fn take(&mut self) -> Taken {
        let mut taken = Taken::default();
        for (system, map) in [
            (System::Preservica, std::mem::take(&mut self.preservica)),
            (System::PhotoShelter, std::mem::take(&mut self.photoshelter)),
        ] {
            for (id, at) in map {
                match system {
                    System::Preservica => taken.scope.preservica.insert(id.clone()),
                    System::PhotoShelter => taken.scope.photoshelter.insert(id.clone()),
                };
                taken.edited.insert((system, id), at);
            }
        }
        taken
    }

    /// Puts back what a run could not start with (another run held the lock).
    pub fn put_back(&mut self, taken: Taken) {
        for ((system, id), at) in taken.edited {
            self.push(system, &id, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_queued_once_with_its_earliest_edit_and_a_delivery_seen_once() {
        let mut q = Queue::default();
        let t = |s| DateTime::from_timestamp(s, 0).unwrap();
        for i in 0..500 {
            q.push(System::Preservica, &format!("ref-{}", i % 200), t(1000 - i));
        }
        q.push(System::PhotoShelter, "I1", t(5));
        assert_eq!(q.len(), 201);
        let taken = q.take();
        assert!(q.is_empty());
        assert_eq!(taken.scope.preservica.len(), 200);
        assert_eq!(
            taken.edited[&(System::Preservica, "ref-0".to_string())],
            t(1000 - 400)
        );
        q.put_back(taken);
        assert_eq!(q.len(), 201);

        let now = Instant::now();
        assert!(!q.seen_before("d1", now));
        assert!(q.seen_before("d1", now + Duration::from_secs(60)));
        assert!(!q.seen_before("d1", now + REPLAY_WINDOW + Duration::from_secs(1)));
    }
}
