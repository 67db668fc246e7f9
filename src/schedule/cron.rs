//! ferry's cron: the ordinary 5-field form users write (`minute hour day-of-month month
//! day-of-week`, UTC), checked field by field so that a mistake is named in words, then handed
//! seconds first to tokio-cron-scheduler's parser. That parser's schedule is the one the service
//! runs on, the configuration accepts and `ferry status` shows; ferry has no other cron code.
//!
//! The field check only says which of cron's forms ferry takes (numbers, names, `*`, `*/n`,
//! ranges, lists; no `L`, `W`, `#` or `?`) and why a field is wrong; what a valid expression
//! means is the scheduler's.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A parsed schedule.
#[derive(Clone)]
pub struct Schedule {
    text: String,
    /// The scheduler's patterns: the schedule fires at the earliest of their next times.
    patterns: Vec<Pattern>,
}

/// One pattern of the scheduler's parser, as "the first time it fires strictly after t".
type Pattern = Arc<dyn Fn(DateTime<Utc>) -> Option<DateTime<Utc>> + Send + Sync>;

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

impl Schedule {
    /// Reads ordinary 5-field cron (`minute hour day-of-month month day-of-week`). The error
    /// says which field is wrong and why.
    pub fn parse(five_field: &str) -> Result<Schedule, String> {
        let text = check_cron(five_field)?;
        let fields: Vec<&str> = text.split(' ').collect();
        // Unix cron runs on a day that matches either day field when both are restricted;
        // the scheduler's parser asks for both. One pattern per day field, each with the other
        // left open, fire together on exactly the Unix days.
        let five_fields = if fields[2] != "*" && fields[4] != "*" {
            vec![with_field(&fields, 4, "*"), with_field(&fields, 2, "*")]
        } else {
            vec![text.clone()]
        };
        let patterns = five_fields
            .iter()
            .map(|five| {
                scheduler_pattern(&six_field_cron(five))
                    .map_err(|e| format!("\"{text}\" is not valid cron: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Schedule { text, patterns })
    }

    /// The first time the schedule fires strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.patterns.iter().filter_map(|p| p(t)).min()
    }

    /// The expression, with single spaces between its fields.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A 5-field expression in the 6-field form (seconds first) tokio-cron-scheduler takes.
pub fn six_field_cron(five_field: &str) -> String {
    let fields: Vec<&str> = five_field.split_whitespace().collect();
    format!("0 {}", fields.join(" "))
}

fn with_field(fields: &[&str], index: usize, value: &str) -> String {
    let mut fields = fields.to_vec();
    fields[index] = value;
    fields.join(" ")
}

/// The scheduler's own parse of `six_field`: a job is built (never added to a scheduler) and
/// its stored schedule gives the times.
fn scheduler_pattern(six_field: &str) -> Result<Pattern, String> {
    let mut job =
        tokio_cron_scheduler::Job::new(six_field, |_, _| {}).map_err(|e| e.to_string())?;
    let cron = job
        .job_data()
        .ok()
        .and_then(|data| data.schedule())
        .ok_or("the scheduler kept no schedule")?;
    Ok(Arc::new(move |t: DateTime<Utc>| {
        cron.find_next_occurrence(&t, false).ok()
    }))
}

struct CronField {
    name: &'static str,
    min: u32,
    max: u32,
    /// Three-letter names, the first meaning `min`.
    names: &'static [&'static str],
}

const CRON_FIELDS: [CronField; 5] = [
    CronField {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    CronField {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    CronField {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    CronField {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    // 0 and 7 are both Sunday, as in Unix cron and in tokio-cron-scheduler's parser.
    CronField {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

const CRON_FORM: &str = "minute hour day-of-month month day-of-week";

/// Checks a 5-field cron expression and returns it with single spaces between fields.
fn check_cron(expr: &str) -> Result<String, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    match fields.len() {
        5 => {}
        n @ (6 | 7) => {
            return Err(format!(
                "\"{expr}\" has {n} fields; ferry takes the ordinary 5-field cron form \"{CRON_FORM}\", e.g. \"30 2 * * *\" (leave out seconds and year)"
            ));
        }
        n => {
            return Err(format!(
                "\"{expr}\" has {n} fields; expected the 5-field cron form \"{CRON_FORM}\", e.g. \"30 2 * * *\""
            ));
        }
    }
    for (text, field) in fields.iter().zip(&CRON_FIELDS) {
        check_cron_field(text, field).map_err(|why| {
            format!(
                "invalid {} field '{text}' in \"{expr}\": {why}; each field takes a number, *, */n, a range a-b (optionally /n) or a list a,b",
                field.name
            )
        })?;
    }
    Ok(fields.join(" "))
}

fn check_cron_field(text: &str, field: &CronField) -> Result<(), String> {
    for item in text.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            let ok = step.parse::<u32>().is_ok_and(|s| s >= 1 && s <= field.max);
            if !ok {
                return Err(format!(
                    "step '{step}' must be a number from 1 to {}",
                    field.max
                ));
            }
        }
        if base == "*" {
            continue;
        }
        match base.split_once('-') {
            Some((a, b)) => {
                let start = cron_value(a, field, false)?;
                let end = cron_value(b, field, true)?;
                if start > end {
                    return Err(format!("range '{base}' runs backwards"));
                }
            }
            None => {
                if step.is_some() {
                    return Err(format!(
                        "a step needs * or a range before it, e.g. */15 or 0-30/15, not '{item}'"
                    ));
                }
                cron_value(base, field, false)?;
            }
        }
    }
    Ok(())
}

fn cron_value(text: &str, field: &CronField, range_end: bool) -> Result<u32, String> {
    if text.is_empty() {
        return Err("a value is missing".to_owned());
    }
    if let Ok(n) = text.parse::<u32>() {
        if n < field.min || n > field.max {
            return Err(format!("{n} is outside {}-{}", field.min, field.max));
        }
        return Ok(n);
    }
    let lower = text.to_ascii_lowercase();
    match field.names.iter().position(|n| *n == lower) {
        // "mon-sun" must read as 1-7, not 1-0.
        Some(0) if range_end && field.name == "day-of-week" => Ok(7),
        Some(i) => Ok(field.min + i as u32),
        None if field.names.is_empty() => Err(format!(
            "'{text}' is not a number from {} to {}",
            field.min, field.max
        )),
        None => Err(format!(
            "'{text}' is not a number from {} to {} or a name like '{}'",
            field.min, field.max, field.names[0]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap()
    }

    #[test]
    fn both_day_fields_restricted_fire_on_either_as_in_unix_cron() {
        // 2026-12-01 is a Tuesday: Mondays the 7th and 14th, and the 15th (a Tuesday).
        let s = Schedule::parse("0 2 1,15 * mon").unwrap();
        let mut at = day(1, 3);
        let mut fired = Vec::new();
        for _ in 0..3 {
            at = s.next_after(at).unwrap();
            fired.push(at);
        }
        assert_eq!(fired, vec![day(7, 2), day(14, 2), day(15, 2)]);
        // One day field open: the other alone decides.
        let s = Schedule::parse("0 2 * * mon").unwrap();
        assert_eq!(s.next_after(day(1, 3)), Some(day(7, 2)));
        let s = Schedule::parse("0 2 15 * *").unwrap();
        assert_eq!(s.next_after(day(1, 3)), Some(day(15, 2)));
    }

    #[test]
    fn the_text_is_the_expression_with_single_spaces() {
        let s = Schedule::parse("  */15   0-6/2 1,15 jan-mar mon-fri ").unwrap();
        assert_eq!(s.text(), "*/15 0-6/2 1,15 jan-mar mon-fri");
        assert_eq!(
            six_field_cron(s.text()),
            "0 */15 0-6/2 1,15 jan-mar mon-fri"
        );
    }

    #[test]
    fn a_schedule_that_never_fires_says_so_quickly() {
        let started = std::time::Instant::now();
        let s = Schedule::parse("0 0 31 2 *").unwrap();
        assert_eq!(s.next_after(day(1, 0)), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
