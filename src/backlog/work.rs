//! The work done on each object: its journey in this process, or a message on the scan queue.

use crate::aws::ScanQueue;
use crate::event::ObjectEvent;
use crate::object::ObjectRef;
use crate::pipeline::Pipeline;
use crate::store::{Listed, ObjectStore};

use super::{EVENT_NAME, Outcome, body};

/// What is done with each object.
#[derive(Debug)]
pub enum Work<'a, S> {
    /// Its journey, in this process.
    Scan(&'a Pipeline<S>),
    /// A message on the scan queue, for the function.
    Enqueue(&'a ScanQueue),
}

/// An object to do: one that failed in an earlier run, or the `n`th of this run's listing.
#[derive(Debug, Clone)]
pub(super) enum Item {
    /// The key of an object that failed in an earlier run.
    Retry(String),
    /// The `n`th object of this run's listing.
    Listed(u64, Listed),
}

impl Item {
    pub(super) fn key(&self) -> &str {
        match self {
            Item::Retry(key) => key,
            Item::Listed(_, listed) => &listed.key,
        }
    }

    fn size(&self) -> Option<u64> {
        match self {
            Item::Retry(_) => None,
            Item::Listed(_, listed) => Some(listed.size),
        }
    }
}

impl<S: ObjectStore> Work<'_, S> {
    /// Does `items` (one to scan; up to ten to send) and says how each ended.
    pub(super) async fn run(&self, bucket: &str, items: Vec<Item>) -> Vec<(Item, Outcome)> {
        match self {
            Work::Scan(pipeline) => {
                let mut done = Vec::with_capacity(items.len());
                for item in items {
                    let outcome = scan(pipeline, bucket, &item).await;
                    done.push((item, outcome));
                }
                done
            }
            Work::Enqueue(queue) => send(queue, bucket, items).await,
        }
    }

    pub(super) fn mode(&self) -> &'static str {
        match self {
            Work::Scan(_) => "scan",
            Work::Enqueue(_) => "queue",
        }
    }

    pub(super) fn batch(&self) -> usize {
        match self {
            Work::Scan(_) => 1,
            Work::Enqueue(_) => ScanQueue::MAX_BATCH,
        }
    }
}

/// One object's journey, as a notification would start it. No ETag: an object replaced since
/// the listing is read as it is now (no event of its own may ever come). The listed size only
/// reserves room for the read.
async fn scan<S: ObjectStore>(pipeline: &Pipeline<S>, bucket: &str, item: &Item) -> Outcome {
    let object = ObjectRef::new(bucket, item.key());
    let event = ObjectEvent::announced(object, item.size(), EVENT_NAME);
    let report = crate::batch::announce::settle_and_announce(pipeline, &event).await;
    Outcome::of(&report)
}

/// Sends `items` to the queue in one call.
async fn send(queue: &ScanQueue, bucket: &str, items: Vec<Item>) -> Vec<(Item, Outcome)> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let bodies: Vec<String> = items
        .iter()
        .map(|i| body(bucket, i.key(), i.size(), &now))
        .collect();
    let refused = match queue.send_batch(&bodies).await {
        Ok(refused) => refused,
        Err(e) => (0..items.len()).map(|i| (i, e.to_string())).collect(),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(n, item)| {
            let outcome = match refused.iter().find(|(i, _)| *i == n) {
                Some((_, why)) => Outcome::Failed(why.clone()),
                None => Outcome::Enqueued(item.size().unwrap_or(0)),
            };
            (item, outcome)
        })
        .collect()
}
