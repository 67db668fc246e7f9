//! Pairing: which PhotoShelter media and which Preservica asset are the same picture. By
//! identifier first (the media id ferry writes on the archive asset, or the preservation
//! reference in PhotoShelter), then by identical checksum; a matching file name and date only
//! proposes a pair for a person to confirm, never pairs silently. Pure.

use crate::store::AssetId;
use chrono::NaiveDate;
use std::collections::HashMap;

/// An unpaired asset as one system shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Candidate {
    pub asset: AssetId,
    /// Its id in its own system.
    pub id: String,
    /// The other system's id it names, if any (identifier or preservation reference).
    pub link: Option<String>,
    /// (algorithm, lowercase hex).
    pub checksum: Option<(String, String)>,
    pub file_name: Option<String>,
    pub date: Option<NaiveDate>,
}

/// What pairing decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairAction {
    Pair {
        photoshelter: AssetId,
        preservica: AssetId,
        by: &'static str,
    },
    Suggest {
        photoshelter_id: String,
        preservica_ref: String,
        reason: String,
    },
}

/// Finds pairs among unpaired assets of both systems.
pub fn find_pairs(photoshelter: &[Candidate], preservica: &[Candidate]) -> Vec<PairAction> {
    let mut out = Vec::new();
    let mut taken_ps = std::collections::HashSet::new();
    let mut taken_pv = std::collections::HashSet::new();
    let ps_by_id: HashMap<&str, &Candidate> =
        photoshelter.iter().map(|c| (c.id.as_str(), c)).collect();
    let pv_by_id: HashMap<&str, &Candidate> =
        preservica.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut pair = |ps: &Candidate, pv: &Candidate, by, out: &mut Vec<PairAction>| {
        if taken_ps.insert(ps.asset) && taken_pv.insert(pv.asset) {
            out.push(PairAction::Pair {
                photoshelter: ps.asset,
                preservica: pv.asset,
                by,
            });
            true
        } else {
            false
        }
    };
    for pv in preservica {
        if let Some(ps) = pv.link.as_deref().and_then(|l| ps_by_id.get(l)) {
            pair(ps, pv, "identifier", &mut out);
        }
    }
    for ps in photoshelter {
        if let Some(pv) = ps.link.as_deref().and_then(|l| pv_by_id.get(l)) {
            pair(ps, pv, "identifier", &mut out);
        }
    }
    // A checksum pairs only when it is unique on both sides: two copies of one file in the
    // archive are a question for a person, not a guess.
    let ps_sums = by_sum(photoshelter);
    let pv_sums = by_sum(preservica);
    let mut sums: Vec<&(String, String)> = ps_sums.keys().collect();
    sums.sort();
    for sum in sums {
        if let (Some([ps]), Some([pv])) = (
            ps_sums.get(sum).map(Vec::as_slice),
            pv_sums.get(sum).map(Vec::as_slice),
        ) {
            pair(ps, pv, "checksum", &mut out);
        }
    }
    let paired_ps: std::collections::HashSet<AssetId> = pairs_of(&out, true);
    let paired_pv: std::collections::HashSet<AssetId> = pairs_of(&out, false);
    for ps in photoshelter
        .iter()
        .filter(|c| !paired_ps.contains(&c.asset))
    {
        let (Some(name), Some(date)) = (&ps.file_name, ps.date) else {
            continue;
        };
        for pv in preservica.iter().filter(|c| !paired_pv.contains(&c.asset)) {
            if pv
                .file_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
                && pv.date == Some(date)
            {
                out.push(PairAction::Suggest {
                    photoshelter_id: ps.id.clone(),
                    preservica_ref: pv.id.clone(),
                    reason: format!("same file name ({name}) and date ({date})"),
                });
            }
        }
    }
    out
}

/// Candidates from what the store keeps of unpaired assets of one system: `(asset, id)` with
/// their snapshots. An incremental pull lists only what changed, so an archive copy ingested
/// by hand has to meet an unchanged PhotoShelter item (or the other way round) here. The
/// link is the snapshot's `link_field` (PhotoShelter's preservation reference); Preservica's
/// identifiers are not kept, but its fixity is.
pub fn stored_candidates<'a>(
    unpaired: impl Iterator<Item = (AssetId, &'a str)>,
    snapshots: &HashMap<AssetId, crate::store::Snapshot>,
    link_field: Option<&str>,
) -> Vec<Candidate> {
    use crate::model::{FieldKind, FieldValue};
    unpaired
        .filter_map(|(asset, id)| {
            let snap = snapshots.get(&asset)?;
            Some(Candidate {
                asset,
                id: id.to_string(),
                link: link_field.and_then(|f| snap.fields.get(f).cloned()),
                checksum: snap.checksum.clone(),
                file_name: snap.file_name.clone(),
                date: snap
                    .fields
                    .get("date_created")
                    .and_then(|v| FieldValue::parse(FieldKind::Date, v).ok().flatten())
                    .and_then(|v| match v {
                        FieldValue::Date(d) => Some(d.day()),
                        _ => None,
                    }),
            })
        })
        .collect()
}

fn by_sum(cands: &[Candidate]) -> HashMap<(String, String), Vec<&Candidate>> {
    let mut m: HashMap<(String, String), Vec<&Candidate>> = HashMap::new();
    for c in cands {
        if let Some(sum) = &c.checksum {
            m.entry(sum.clone()).or_default().push(c);
        }
    }
    m
}

fn pairs_of(actions: &[PairAction], photoshelter_side: bool) -> std::collections::HashSet<AssetId> {
    actions
        .iter()
        .filter_map(|a| match a {
            PairAction::Pair {
                photoshelter,
                preservica,
                ..
            } => Some(if photoshelter_side {
                *photoshelter
            } else {
                *preservica
            }),
            PairAction::Suggest { .. } => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(asset: AssetId, id: &str) -> Candidate {
        Candidate {
            asset,
            id: id.into(),
            ..Candidate::default()
        }
    }

    #[test]
    fn identifiers_pair_first_then_unique_checksums() {
        let mut ps1 = c(1, "I1");
        ps1.checksum = Some(("sha1".into(), "aa".into()));
        let ps2 = Candidate {
            checksum: Some(("sha1".into(), "bb".into())),
            ..c(2, "I2")
        };
        let mut pv1 = c(11, "R1");
        pv1.link = Some("I1".into());
        pv1.checksum = Some(("sha1".into(), "zz".into()));
        let pv2 = Candidate {
            checksum: Some(("sha1".into(), "bb".into())),
            ..c(12, "R2")
        };
        let got = find_pairs(&[ps1, ps2], &[pv1, pv2]);
        assert_eq!(
            got,
            vec![
                PairAction::Pair {
                    photoshelter: 1,
                    preservica: 11,
                    by: "identifier"
                },
                PairAction::Pair {
                    photoshelter: 2,
                    preservica: 12,
                    by: "checksum"
                },
            ]
        );
    }

    #[test]
    fn duplicate_checksums_do_not_pair_and_names_only_suggest() {
        let day = NaiveDate::from_ymd_opt(1962, 7, 14);
        let sum = Some(("sha1".into(), "aa".into()));
        let ps = Candidate {
            checksum: sum.clone(),
            file_name: Some("IMG_1.JPG".into()),
            date: day,
            ..c(1, "I1")
        };
        let pv_a = Candidate {
            checksum: sum.clone(),
            ..c(11, "R1")
        };
        let pv_b = Candidate {
            checksum: sum,
            file_name: Some("img_1.jpg".into()),
            date: day,
            ..c(12, "R2")
        };
        let got = find_pairs(&[ps], &[pv_a, pv_b]);
        assert_eq!(
            got,
            vec![PairAction::Suggest {
                photoshelter_id: "I1".into(),
                preservica_ref: "R2".into(),
                reason: "same file name (IMG_1.JPG) and date (1962-07-14)".into(),
            }]
        );
    }
}
