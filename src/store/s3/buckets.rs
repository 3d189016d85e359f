//! Bucket-level calls: GetBucketTagging (for the object seam), and the notification
//! configuration, ListBuckets and GetBucketLocation of [`BucketStore`], with the SDK's types
//! turned into [`Notifications`] and back without losing a field S3 keeps.

use aws_sdk_s3::types::{
    Event, EventBridgeConfiguration, FilterRule, FilterRuleName, LambdaFunctionConfiguration,
    NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
    TopicConfiguration,
};

use aws_sdk_s3::error::SdkError;

use super::S3Store;
use super::errors::classify;
use crate::object::{ObjectRef, Tags};
use crate::store::{
    BucketStore, Destination, DestinationKind, ListedBucket, Notifications, Op, StoreError,
};

/// The bucket as an [`ObjectRef`] with no key, for error messages.
fn at(bucket: &str) -> ObjectRef {
    ObjectRef::new(bucket, "")
}

pub(super) async fn tags(store: &S3Store, bucket: &str) -> Result<Tags, StoreError> {
    let out = store
        .client
        .get_bucket_tagging()
        .bucket(bucket)
        .send()
        .await;
    match out.map_err(|e| classify(Op::GetBucketTagging, &at(bucket), e)) {
        Ok(out) => Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()),
        // A bucket without tags answers 404 NoSuchTagSet.
        Err(StoreError::NotFound { code, .. }) if code == "NoSuchTagSet" => Ok(Tags::new()),
        Err(e) => Err(e),
    }
}

impl BucketStore for S3Store {
    fn region(&self) -> Option<String> {
        self.client.config().region().map(|r| r.to_string())
    }

    async fn notifications(&self, bucket: &str) -> Result<Notifications, StoreError> {
        let op = Op::GetBucketNotificationConfiguration;
        let out = match self
            .client
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => out,
            // A 200 the SDK refuses, holding no element: moto's answer for a bucket with no
            // configuration (S3's is an empty NotificationConfiguration element).
            Err(SdkError::ServiceError(e)) if empty_ok(e.raw()) => {
                return Ok(Notifications::default());
            }
            Err(e) => return Err(classify(op, &at(bucket), e)),
        };
        let mut destinations = Vec::new();
        for t in out.topic_configurations() {
            let filter = filter_rules(t.filter());
            destinations.push(destination(
                DestinationKind::Topic,
                t.id(),
                t.topic_arn(),
                t.events(),
                filter,
            ));
        }
        for q in out.queue_configurations() {
            let filter = filter_rules(q.filter());
            destinations.push(destination(
                DestinationKind::Queue,
                q.id(),
                q.queue_arn(),
                q.events(),
                filter,
            ));
        }
        for l in out.lambda_function_configurations() {
            let filter = filter_rules(l.filter());
            let arn = l.lambda_function_arn();
            destinations.push(destination(
                DestinationKind::Lambda,
                l.id(),
                arn,
                l.events(),
                filter,
            ));
        }
        Ok(Notifications {
            destinations,
            event_bridge: out.event_bridge_configuration().is_some(),
        })
    }

    async fn put_notifications(
        &self,
        bucket: &str,
        config: &Notifications,
    ) -> Result<(), StoreError> {
        let op = Op::PutBucketNotificationConfiguration;
        let sdk = to_sdk(config).map_err(|detail| StoreError::Permanent {
            op,
            code: "InvalidArgument".into(),
            detail,
        })?;
        self.client
            .put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(sdk)
            .send()
            .await
            .map_err(|e| classify(op, &at(bucket), e))?;
        Ok(())
    }

    async fn buckets(&self, region: &str) -> Result<Vec<ListedBucket>, StoreError> {
        let mut pages = self
            .client
            .list_buckets()
            .bucket_region(region)
            .into_paginator()
            .send();
        let mut listed = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(Op::ListBuckets, &at(""), e))?;
            listed.extend(page.buckets().iter().filter_map(|b| {
                Some(ListedBucket {
                    name: b.name()?.to_owned(),
                    region: b.bucket_region().map(str::to_owned),
                })
            }));
        }
        Ok(listed)
    }

    async fn bucket_region(&self, bucket: &str) -> Result<String, StoreError> {
        let out = self
            .client
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| classify(Op::GetBucketLocation, &at(bucket), e))?;
        // No constraint is us-east-1; `EU` is the old name of eu-west-1.
        Ok(match out.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(region) => region.to_owned(),
        })
    }
}

/// Whether `raw` is a 200 whose body holds no configuration.
fn empty_ok(raw: &aws_sdk_s3::config::http::HttpResponse) -> bool {
    raw.status().as_u16() == 200 && raw.body().bytes().is_some_and(holds_nothing)
}

/// Whether `body` is empty, or an XML document whose root element holds nothing.
fn holds_nothing(body: &[u8]) -> bool {
    if body.trim_ascii().is_empty() {
        return true;
    }
    let Ok(mut doc) = aws_smithy_xml::decode::Document::try_from(body) else {
        return false;
    };
    doc.root_element()
        .is_ok_and(|mut root| root.next_tag().is_none())
}

fn destination(
    kind: DestinationKind,
    id: Option<&str>,
    arn: &str,
    events: &[Event],
    filter: Vec<(String, String)>,
) -> Destination {
    Destination {
        kind,
        id: id.map(str::to_owned),
        arn: arn.to_owned(),
        events: events.iter().map(|e| e.as_str().to_owned()).collect(),
        filter,
    }
}

fn filter_rules(filter: Option<&NotificationConfigurationFilter>) -> Vec<(String, String)> {
    let rules = filter.and_then(|f| f.key()).map(|k| k.filter_rules());
    rules
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let name = r.name().map(|n| n.as_str()).unwrap_or_default();
            (name.to_owned(), r.value().unwrap_or_default().to_owned())
        })
        .collect()
}

fn sdk_filter(rules: &[(String, String)]) -> Option<NotificationConfigurationFilter> {
    if rules.is_empty() {
        return None;
    }
    let rules = rules
        .iter()
        .map(|(name, value)| {
            FilterRule::builder()
                .name(FilterRuleName::from(name.as_str()))
                .value(value)
                .build()
        })
        .collect();
    let key = S3KeyFilter::builder().set_filter_rules(Some(rules)).build();
    Some(NotificationConfigurationFilter::builder().key(key).build())
}

/// Our configuration as the SDK's; an error (a missing required field) as text.
fn to_sdk(config: &Notifications) -> Result<NotificationConfiguration, String> {
    let mut out = NotificationConfiguration::builder();
    for d in &config.destinations {
        let events = Some(d.events.iter().map(|e| Event::from(e.as_str())).collect());
        let (id, filter) = (d.id.clone(), sdk_filter(&d.filter));
        out = match d.kind {
            DestinationKind::Topic => out.topic_configurations(
                TopicConfiguration::builder()
                    .set_id(id)
                    .topic_arn(&d.arn)
                    .set_events(events)
                    .set_filter(filter)
                    .build()
                    .map_err(|e| e.to_string())?,
            ),
            DestinationKind::Queue => out.queue_configurations(
                QueueConfiguration::builder()
                    .set_id(id)
                    .queue_arn(&d.arn)
                    .set_events(events)
                    .set_filter(filter)
                    .build()
                    .map_err(|e| e.to_string())?,
            ),
            DestinationKind::Lambda => out.lambda_function_configurations(
                LambdaFunctionConfiguration::builder()
                    .set_id(id)
                    .lambda_function_arn(&d.arn)
                    .set_events(events)
                    .set_filter(filter)
                    .build()
                    .map_err(|e| e.to_string())?,
            ),
        };
    }
    if config.event_bridge {
        out = out.event_bridge_configuration(EventBridgeConfiguration::builder().build());
    }
    Ok(out.build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_answer_holding_nothing_is_an_empty_configuration() {
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<GetBucketNotificationResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#;
        assert!(super::holds_nothing(moto));
        assert!(super::holds_nothing(b""));
        let one = b"<R><TopicConfiguration><Id>x</Id></TopicConfiguration></R>";
        assert!(!super::holds_nothing(one));
        assert!(!super::holds_nothing(b"not xml <"));
    }
}
