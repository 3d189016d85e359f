use super::*;
use crate::event::ObjectEvent;
use crate::object::ObjectRef;
use crate::report::{Disposition, Settled};
use crate::scan::Match;

fn report(verdict: Verdict) -> Report {
    let event = ObjectEvent {
        object: ObjectRef::new("b", "dir/a.zip").at_version(Some("v1".into())),
        size: Some(10),
        etag: Some("e".into()),
        region: None,
        event_name: "ObjectCreated:Put".into(),
        sequencer: None,
        principal: None,
        owner: Some("o".into()),
    };
    let mut report = Report::new(&event, "r1", Disposition::Acknowledge(Settled::Recorded));
    report.verdict = Some(verdict);
    report
}

fn on(verdicts: &[&'static str]) -> ResultEvents {
    ResultEvents {
        bus: Some("default".into()),
        verdicts: verdicts.to_vec(),
        ..ResultEvents::default()
    }
}

#[test]
fn the_document_names_the_object_the_verdict_its_matches_and_where_it_is() {
    let mut m = Match::named("EICAR_Test_File");
    m.member = Some("a.zip>eicar.com".into());
    m.meta = vec![("severity".into(), "high".into())];
    m.filetype = Some("EXE".into());
    let mut report = report(Verdict::Infected(vec![m]));
    report.file_type = Some("ZIP".into());
    report.location =
        Location::Quarantined(ObjectRef::new("q", "b/dir/a.zip").at_version(Some("qv".into())));
    let doc = document(&report);
    assert_eq!(doc["type"], DETAIL_TYPE);
    assert_eq!(
        (doc["bucket"].as_str(), doc["key"].as_str()),
        (Some("b"), Some("dir/a.zip"))
    );
    assert_eq!(
        (doc["versionId"].as_str(), doc["eTag"].as_str()),
        (Some("v1"), Some("e"))
    );
    assert_eq!(
        (doc["size"].as_u64(), doc["bucketOwner"].as_str()),
        (Some(10), Some("o"))
    );
    assert_eq!(doc["verdict"], "Infected");
    assert_eq!(
        doc["matches"][0]["label"],
        "a.zip>eicar.com:EICAR_Test_File"
    );
    assert_eq!(doc["matches"][0]["meta"]["severity"], "high");
    assert_eq!(
        (
            doc["fileType"].as_str(),
            doc["matches"][0]["fileType"].as_str()
        ),
        (Some("ZIP"), Some("EXE"))
    );
    assert_eq!(doc["location"]["state"], "quarantined");
    assert_eq!(doc["location"]["versionId"], "qv");
    assert_eq!(doc["ruleset"], "r1");
    assert_eq!(attributes(&doc), ("Infected", "b"));
}

#[test]
fn only_the_chosen_verdicts_of_objects_with_one_are_published() {
    let events = on(&["Infected"]);
    assert!(published_document(&events, &report(Verdict::Infected(vec!["x".into()]))).is_some());
    assert!(published_document(&events, &report(Verdict::Clean)).is_none());
    let mut gone = report(Verdict::Clean);
    gone.verdict = None;
    gone.disposition = Disposition::Acknowledge(Settled::Replaced);
    assert!(published_document(&on(VERDICTS), &gone).is_none());
    let off = ResultEvents::default();
    assert!(published_document(&off, &report(Verdict::Clean)).is_none());
}
