//! Our one topic configuration merged into a bucket's notification configuration, or taken
//! out of it, everything else kept: pure functions over [`Notifications`], so that the rules
//! (what is ours, what would overlap) are tested without a store.

use crate::store::{Destination, DestinationKind, Notifications};

/// The id of our configuration: the same as `scripts/wire-bucket` writes, so that a bucket
/// wired by hand and then tagged is recognised.
pub const CONFIG_ID: &str = "s3-yara-scan";
/// The events we ask for.
pub const EVENT: &str = "s3:ObjectCreated:*";

/// Another configuration already sends object-created events for the keys ours would cover,
/// which S3 refuses ("Configurations overlap"): a bucket sends each event type for a key to
/// one destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "its notification configuration `{}` already sends {} to {}; S3 allows one destination per \
     event type and key, so ours would overlap: subscribe the scanner's queue to that \
     destination, or narrow that configuration, then tag the bucket again",
    .id.as_deref().unwrap_or("(no id)"), .events.join(","), .arn
)]
pub struct Overlap {
    /// The other configuration's id.
    pub id: Option<String>,
    /// Where it sends.
    pub arn: String,
    /// Its object-created events.
    pub events: Vec<String>,
}

/// Whether `d` is the configuration we write (by its id).
fn is_ours(d: &Destination) -> bool {
    d.kind == DestinationKind::Topic && d.id.as_deref() == Some(CONFIG_ID)
}

/// Whether `d` sends every created object of the bucket to `topic`, whoever wrote it.
fn delivers_to(d: &Destination, topic: &str) -> bool {
    d.kind == DestinationKind::Topic
        && d.arn == topic
        && d.events.iter().any(|e| e == EVENT)
        && d.filter.is_empty()
}

/// Whether the bucket's created objects reach `topic`.
pub fn is_wired(config: &Notifications, topic: &str) -> bool {
    config.destinations.iter().any(|d| delivers_to(d, topic))
}

/// Whether our configuration (by its id) is there, wherever it sends.
pub fn has_ours(config: &Notifications) -> bool {
    config.destinations.iter().any(is_ours)
}

/// `config` with our configuration to `topic` added; `None` when the created objects already
/// reach `topic` (nothing to write). An older configuration of ours (another topic: a stack
/// replaced) is replaced; any other configuration is kept, and one that sends object-created
/// events is an [`Overlap`], as S3 would refuse the write.
pub fn with_ours(config: &Notifications, topic: &str) -> Result<Option<Notifications>, Overlap> {
    if is_wired(config, topic) {
        return Ok(None);
    }
    let created = |e: &String| e.starts_with("s3:ObjectCreated:") || e == "s3:*";
    if let Some(d) = config
        .destinations
        .iter()
        .find(|d| !is_ours(d) && d.events.iter().any(created))
    {
        return Err(Overlap {
            id: d.id.clone(),
            arn: d.arn.clone(),
            events: d.events.iter().filter(|e| created(e)).cloned().collect(),
        });
    }
    let mut wanted = config.clone();
    wanted.destinations.retain(|d| !is_ours(d));
    wanted.destinations.push(ours(topic));
    Ok(Some(wanted))
}

/// `config` without our configuration; `None` when it has none. Only ours (by its id) goes:
/// a configuration someone else wrote to the same topic is theirs to remove.
pub fn without_ours(config: &Notifications) -> Option<Notifications> {
    if !has_ours(config) {
        return None;
    }
    let mut wanted = config.clone();
    wanted.destinations.retain(|d| !is_ours(d));
    Some(wanted)
}

/// Our configuration: every created object of the bucket to `topic`.
pub fn ours(topic: &str) -> Destination {
    Destination {
        kind: DestinationKind::Topic,
        id: Some(CONFIG_ID.to_owned()),
        arn: topic.to_owned(),
        events: vec![EVENT.to_owned()],
        filter: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:scan";

    fn theirs(kind: DestinationKind, id: &str, event: &str) -> Destination {
        Destination {
            kind,
            id: Some(id.into()),
            arn: format!("arn:aws:sqs:us-east-1:111122223333:{id}"),
            events: vec![event.into()],
            filter: vec![("prefix".into(), "logs/".into())],
        }
    }

    fn others() -> Notifications {
        Notifications {
            destinations: vec![
                theirs(DestinationKind::Queue, "audit", "s3:ObjectRemoved:*"),
                theirs(
                    DestinationKind::Lambda,
                    "thumbs",
                    "s3:ObjectRestore:Completed",
                ),
                theirs(DestinationKind::Topic, "tags", "s3:ObjectTagging:*"),
            ],
            event_bridge: true,
        }
    }

    #[test]
    fn ours_is_added_and_everything_else_kept() {
        let wanted = with_ours(&others(), TOPIC).unwrap().unwrap();
        let mut expected = others();
        expected.destinations.push(ours(TOPIC));
        assert_eq!(wanted, expected);
        assert!(is_wired(&wanted, TOPIC) && has_ours(&wanted));
    }

    #[test]
    fn adding_twice_changes_nothing() {
        let once = with_ours(&others(), TOPIC).unwrap().unwrap();
        assert_eq!(with_ours(&once, TOPIC), Ok(None));
    }

    #[test]
    fn a_bucket_wired_by_someone_else_to_our_topic_is_left_as_it_is() {
        let mut config = others();
        let mut manual = ours(TOPIC);
        manual.id = Some("by-hand".into());
        config.destinations.push(manual);
        assert_eq!(with_ours(&config, TOPIC), Ok(None));
        assert_eq!(without_ours(&config), None, "not ours to remove");
    }

    #[test]
    fn an_older_configuration_of_ours_is_replaced() {
        let mut config = others();
        config
            .destinations
            .push(ours("arn:aws:sns:us-east-1:111122223333:old"));
        let wanted = with_ours(&config, TOPIC).unwrap().unwrap();
        let mut expected = others();
        expected.destinations.push(ours(TOPIC));
        assert_eq!(wanted, expected);
    }

    #[test]
    fn another_object_created_destination_overlaps() {
        for event in ["s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:*"] {
            let mut config = others();
            config
                .destinations
                .push(theirs(DestinationKind::Queue, "ingest", event));
            let err = with_ours(&config, TOPIC).unwrap_err();
            assert_eq!(
                (err.id.as_deref(), &err.events),
                (Some("ingest"), &vec![event.to_owned()])
            );
            assert!(
                err.to_string().contains("subscribe the scanner's queue"),
                "{err}"
            );
        }
    }

    #[test]
    fn removal_takes_only_ours() {
        let wired = with_ours(&others(), TOPIC).unwrap().unwrap();
        assert_eq!(without_ours(&wired), Some(others()));
        assert_eq!(
            without_ours(&others()),
            None,
            "nothing of ours: nothing to write"
        );
    }
}
