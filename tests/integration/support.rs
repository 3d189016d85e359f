//! The emulator side of the tests: AWS clients pointed at the moto server that `scripts/test`
//! starts, and the production wiring (bucket → SNS → SQS) made fresh for each test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_s3::primitives::ByteStream;
use s3_yara_scan::{Action, Config, Engine, ObjectStore, Pipeline, RuleSet, S3Store};

pub use s3_yara_scan::scan::EICAR;

pub struct Emulator {
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// A protected bucket wired as in production, and a quarantine bucket.
pub struct Wiring {
    pub bucket: String,
    pub quarantine: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub topic_arn: String,
    /// The `s3:TestEvent` that configuring the notification sent.
    pub test_event: SqsMessage,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

pub async fn emulator() -> Emulator {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: run the integration tests through scripts/test, \
             which starts the moto server on a loopback port"
        )
    });
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "the tests only talk to a local emulator, not {endpoint}"
    );
    let shared = aws_config::load_from_env().await;
    let s3 = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    Emulator {
        s3: aws_sdk_s3::Client::from_conf(s3),
        sns: aws_sdk_sns::Client::new(&shared),
        sqs: aws_sdk_sqs::Client::new(&shared),
    }
}

pub struct Options {
    pub versioned: bool,
    pub quarantine_versioned: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            versioned: false,
            quarantine_versioned: true,
        }
    }
}

impl Emulator {
    /// Creates the buckets, topic and queue, configures S3 → SNS → SQS, and takes the
    /// `s3:TestEvent` that configuring the notification sends off the queue.
    pub async fn wire(&self, name: &str, options: Options) -> Wiring {
        let bucket = unique(name);
        let quarantine = unique(&format!("{name}-q"));
        for (b, versioned) in [
            (&bucket, options.versioned),
            (&quarantine, options.quarantine_versioned),
        ] {
            self.s3.create_bucket().bucket(b).send().await.unwrap();
            if versioned {
                self.s3
                    .put_bucket_versioning()
                    .bucket(b)
                    .versioning_configuration(
                        aws_sdk_s3::types::VersioningConfiguration::builder()
                            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                            .build(),
                    )
                    .send()
                    .await
                    .unwrap();
            }
        }
        let topic_arn = self
            .sns
            .create_topic()
            .name(unique(name))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let (queue_url, queue_arn) = self.queue(name).await;
        self.sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .send()
            .await
            .unwrap();
        let topic = aws_sdk_s3::types::TopicConfiguration::builder()
            .topic_arn(&topic_arn)
            .events(aws_sdk_s3::types::Event::from("s3:ObjectCreated:*"))
            .build()
            .unwrap();
        self.s3
            .put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(
                aws_sdk_s3::types::NotificationConfiguration::builder()
                    .topic_configurations(topic)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let mut test_event = self.receive(&queue_url, &queue_arn, 1).await;
        assert!(
            test_event[0]
                .body
                .as_deref()
                .unwrap()
                .contains("s3:TestEvent"),
            "first message is the TestEvent"
        );
        Wiring {
            bucket,
            quarantine,
            queue_url,
            queue_arn,
            topic_arn,
            test_event: test_event.remove(0),
        }
    }

    pub async fn queue(&self, name: &str) -> (String, String) {
        let url = self
            .sqs
            .create_queue()
            .queue_name(unique(name))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        (url, arn)
    }

    pub async fn put(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) -> Option<String> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.into()))
            .send()
            .await
            .unwrap()
            .version_id
    }

    /// Receives `n` messages, shaped as the Lambda SQS event source delivers them.
    pub async fn receive(&self, queue_url: &str, queue_arn: &str, n: usize) -> Vec<SqsMessage> {
        let mut records = Vec::new();
        for _ in 0..20 {
            if records.len() >= n {
                break;
            }
            let got = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in got.messages.unwrap_or_default() {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id;
                record.receipt_handle = m.receipt_handle;
                record.body = m.body;
                record.md5_of_body = m.md5_of_body;
                record.event_source = Some("aws:sqs".into());
                record.event_source_arn = Some(queue_arn.to_owned());
                record.aws_region = Some("us-east-1".into());
                records.push(record);
            }
        }
        assert_eq!(records.len(), n, "messages received from {queue_url}");
        records
    }

    /// A fresh wiring with one object uploaded, and the notification that upload sent.
    pub async fn uploaded(
        &self,
        name: &str,
        key: &str,
        body: impl Into<Vec<u8>>,
    ) -> (Wiring, Vec<SqsMessage>) {
        let w = self.wire(name, Options::default()).await;
        self.put(&w.bucket, key, body).await;
        let records = self.notifications(&w, 1).await;
        (w, records)
    }

    /// The S3 notifications for `n` uploads, through the real S3 → SNS → SQS path.
    pub async fn notifications(&self, w: &Wiring, n: usize) -> Vec<SqsMessage> {
        self.receive(&w.queue_url, &w.queue_arn, n).await
    }

    pub async fn tags(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut tags: Vec<(String, String)> = self
            .s3
            .get_object_tagging()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(String::from))
            .send()
            .await
            .unwrap()
            .tag_set
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect();
        tags.sort();
        tags
    }

    pub async fn tag(&self, bucket: &str, key: &str, name: &str) -> Option<String> {
        self.tags(bucket, key, None)
            .await
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub async fn exists(&self, bucket: &str, key: &str) -> bool {
        self.s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .is_ok()
    }

    /// Every version (and delete marker) of every key in `bucket`, as (key, is delete marker).
    pub async fn versions(&self, bucket: &str) -> Vec<(String, bool)> {
        let out = self
            .s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let mut all: Vec<(String, bool)> = out
            .versions
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.key.unwrap_or_default(), false))
            .chain(
                out.delete_markers
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| (m.key.unwrap_or_default(), true)),
            )
            .collect();
        all.sort();
        all
    }

    pub fn store(&self) -> S3Store {
        S3Store::new(self.s3.clone())
    }

    /// The pipeline with the embedded rules and `config` (quarantine to `w.quarantine` unless
    /// the caller changes it).
    pub fn pipeline(&self, config: Config) -> Pipeline<S3Store> {
        let engine = Engine::new(RuleSet::embedded().unwrap(), Duration::from_secs(10));
        Pipeline::new(self.store(), engine, config)
    }
}

/// The default settings, quarantining to `w.quarantine`.
pub fn config(w: &Wiring) -> Config {
    with_action(Action::Quarantine {
        bucket: w.quarantine.clone(),
    })
}

/// The default settings, with `action` for infected objects.
pub fn with_action(action: Action) -> Config {
    Config {
        force_path_style: true,
        ..Config::new(action)
    }
}

pub fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// Runs `pipeline` on `records` and asserts that every message was acknowledged.
pub async fn acknowledged<S: ObjectStore>(pipeline: &Pipeline<S>, records: Vec<SqsMessage>) {
    let response = s3_yara_scan::batch::process(pipeline, batch(records))
        .await
        .unwrap();
    assert_eq!(
        failed_ids(&response),
        Vec::<String>::new(),
        "messages to retry"
    );
}

/// The message ids a batch response asks to retry.
pub fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

pub fn tag_map(tags: &[(String, String)]) -> std::collections::BTreeMap<&str, &str> {
    tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}
