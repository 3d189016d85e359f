//! The metrics of an update, as CloudWatch Embedded Metric Format lines (namespace
//! `S3YaraScan`, as the batches' own): per feed, under the `FunctionName` and `Feed`
//! dimensions (feeds are few, and named by `FEEDS`) and under `FunctionName` alone, `FeedAge`: seconds since its object in
//! force was last written (every validated update writes it, unchanged or not), what the
//! staleness alarm watches; `FeedRefused`: 1 when this update refused it; `FeedEntries`: its
//! rules or digests when in force.

use serde_json::{Value, json};

use super::{FeedReport, Outcome};
use crate::config::Metrics;
use crate::metrics::{Rollup, document, now_ms, write_documents};

/// The metrics of one feed, with their units.
pub const FEED_METRICS: [(&str, &str); 3] = [
    ("FeedAge", "Seconds"),
    ("FeedRefused", "Count"),
    ("FeedEntries", "Count"),
];

/// One EMF document per feed.
pub fn emf(reports: &[FeedReport], function: &str, timestamp_ms: u64) -> Vec<Value> {
    reports
        .iter()
        .map(|report| {
            let (refused, entries) = match &report.outcome {
                Outcome::Updated(f) | Outcome::Unchanged(f) => (0, Some(f.count)),
                Outcome::Refused { .. } => (1, None),
            };
            let values = [json!(report.age_secs), json!(refused), json!(entries)];
            // A feed never put in force has no age, a refused one no count: null, left out.
            let metrics: Vec<_> = (FEED_METRICS.iter().zip(values))
                .map(|((name, unit), value)| (*name, *unit, value))
                .collect();
            // Per feed, and over all feeds (what the template's alarms watch: a feed's name
            // is a hash of its URL, unknown to the template).
            let feed = Some(("Feed", report.name.as_str()));
            document(function, timestamp_ms, feed, Rollup::AlsoFunction, &metrics)
        })
        .collect()
}

/// Writes the update's documents, one line each: on stdout in Lambda, else on stderr (stdout
/// is the command's report).
pub fn emit(reports: &[FeedReport], metrics: &Metrics) {
    let Metrics::Emf { function, stdout } = metrics else {
        return;
    };
    write_documents(&emf(reports, function, now_ms()), *stdout);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::InForce;

    fn report(name: &str, outcome: Outcome, age_secs: Option<u64>) -> FeedReport {
        FeedReport {
            name: name.into(),
            kind: crate::config::FeedKind::Yara,
            url: "https://example.com/core.zip".into(),
            object: "s3://b/feeds/core.yar".into(),
            outcome,
            age_secs,
        }
    }

    #[test]
    fn each_feed_has_its_age_and_whether_it_was_refused() {
        let in_force = InForce {
            count: 5300,
            dropped: vec![],
            malformed: 0,
        };
        let reports = [
            report("core", Outcome::Updated(in_force), Some(0)),
            report(
                "recent",
                Outcome::Refused {
                    reason: "HTTP 503".into(),
                },
                Some(86_400),
            ),
            report(
                "new",
                Outcome::Refused {
                    reason: "HTTP 404".into(),
                },
                None,
            ),
        ];
        let docs = emf(&reports, "scanner", 1);
        assert_eq!(docs[0]["FeedAge"], 0);
        assert_eq!(docs[0]["FeedEntries"], 5300);
        assert_eq!(docs[0]["FeedRefused"], 0);
        assert_eq!(docs[1]["FeedAge"], 86_400);
        assert_eq!(docs[1]["FeedRefused"], 1);
        assert!(docs[1].get("FeedEntries").is_none());
        assert!(docs[2].get("FeedAge").is_none());
        let defs = &docs[2]["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            defs["Dimensions"],
            json!([["FunctionName", "Feed"], ["FunctionName"]])
        );
        assert_eq!(
            defs["Metrics"],
            json!([{"Name": "FeedRefused", "Unit": "Count"}])
        );
    }
}
