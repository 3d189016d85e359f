//! Batch metrics from reports, and the EMF documents CloudWatch reads.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;
use crate::event::ObjectEvent;
use crate::object::ObjectRef;
use crate::report::Timings;
use crate::verdict::Verdict;

fn report(verdict: Option<Verdict>, disposition: Disposition, size: u64) -> Report {
    let event = ObjectEvent {
        object: ObjectRef::new("uploads", "a.txt"),
        size: Some(size),
        etag: None,
        region: None,
        event_name: "ObjectCreated:Put".into(),
        sequencer: None,
        principal: None,
        owner: None,
    };
    let mut r = Report::new(&event, "rules-id", disposition);
    r.verdict = verdict;
    r.timings = Timings {
        get_ms: 10.0,
        scan_ms: if r.verdict.is_some() { 1.5 } else { 0.0 },
        tag_ms: 5.0,
        action_ms: 0.0,
    };
    r.requests = 3;
    r
}

fn batch() -> BatchMetrics {
    let recorded = || Disposition::Acknowledge(Settled::Recorded);
    let reports = [
        report(Some(Verdict::Clean), recorded(), 100),
        report(Some(Verdict::Clean), recorded(), 200),
        report(
            Some(Verdict::Infected(vec!["EICAR_Test_File".into()])),
            recorded(),
            68,
        ),
        report(None, Disposition::Retry(Retry::NotStarted), 1000),
        report(
            None,
            Disposition::Acknowledge(Settled::SignedClean {
                date: "2026-12-02T00:00:00Z".into(),
                rules: "rules-id".into(),
            }),
            5000,
        ),
    ];
    BatchMetrics::of(6, 2, &reports)
}

#[test]
fn a_batch_sums_its_objects_by_verdict_and_error_kind() {
    let m = batch();
    assert_eq!(m.records, 6);
    assert_eq!(m.batch_item_failures, 2);
    assert_eq!(m.verdicts, BTreeMap::from([("Clean", 2), ("Infected", 1)]));
    assert_eq!(m.errors, BTreeMap::from([("NotStarted", 1)]));
    // Only bytes actually scanned: not the skipped or the unstarted object's.
    assert_eq!(m.bytes_scanned, 368);
    assert_eq!(m.skipped_signed, 1);
    assert_eq!(m.scan_ms, 4.5);
    assert_eq!(m.s3_ms, 75.0);
    assert_eq!(m.s3_requests, 15);
}

#[test]
fn each_document_is_emf_with_one_value_per_dimension() {
    let docs = batch().emf("scanner-fn", 1_764_633_600_000);
    assert_eq!(
        docs.len(),
        4,
        "totals, Clean, Infected, NotStarted: {docs:#?}"
    );
    assert_eq!(
        docs[0]["_aws"],
        json!({
            "Timestamp": 1_764_633_600_000u64,
            "CloudWatchMetrics": [{
                "Namespace": "S3YaraScan",
                "Dimensions": [["FunctionName"]],
                "Metrics": [
                    {"Name": "Records", "Unit": "Count"},
                    {"Name": "BatchItemFailures", "Unit": "Count"},
                    {"Name": "BytesScanned", "Unit": "Bytes"},
                    {"Name": "ScanTime", "Unit": "Milliseconds"},
                    {"Name": "S3Time", "Unit": "Milliseconds"},
                    {"Name": "SkippedSigned", "Unit": "Count"},
                    {"Name": "S3Requests", "Unit": "Count"},
                ],
            }],
        })
    );
    assert_eq!(docs[0]["FunctionName"], "scanner-fn");
    assert_eq!(docs[0]["BytesScanned"], 368);
    assert_eq!(docs[2]["Verdict"], "Infected");
    assert_eq!(docs[2]["Objects"], 1);
    assert_eq!(
        docs[2]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["FunctionName", "Verdict"]])
    );
    assert_eq!(docs[3]["ErrorKind"], "NotStarted");
    assert_eq!(docs[3]["Errors"], 1);
    // Every metric a directive names has its value in the document (CloudWatch drops it
    // otherwise).
    for doc in &docs {
        for metric in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            let name = metric["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "{name} missing in {doc}");
        }
    }
}

#[test]
fn an_empty_batch_has_only_its_totals() {
    let docs = BatchMetrics::of(0, 0, &[]).emf("f", 0);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["Records"], 0);
}
