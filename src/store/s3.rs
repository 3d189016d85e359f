//! [`ObjectStore`] on the AWS SDK for S3: reads (`read`), tags (`tags`), copies, deletes and
//! listings (`write`), bucket tags and notifications (`buckets`), and the sorting of SDK failures (`errors`). Only these files and
//! `aws.rs` (which builds the client) name `aws_sdk_s3`.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;

use super::{Budget, Fetched, Listed, ObjectStore, Page, Sink, StoreError, requests};
use crate::object::{ObjectInfo, ObjectRef, SseKms, Tags};

mod buckets;
mod errors;
mod read;
mod tags;
mod write;

/// The SDK's log lines the default filter leaves out: its warning, once per multipart object,
/// that a composite checksum cannot be validated (S3 checked each part at upload; the read is
/// pinned to the version or ETag, and the checksum is still read as part of the identity a
/// signed verdict covers). `RUST_LOG` brings it back.
pub const QUIET_SDK_LOGS: &str = "aws_sdk_s3::http_response_checksum=error";

/// CopyObject copies at most 5 GiB; larger objects need a multipart copy.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;
const COPY_PART_SIZE: u64 = 512 * 1024 * 1024;
/// Objects larger than this are read in ranged GETs of this size, several at a time: one
/// connection tops out well below what a function's network allows.
const GET_PART_SIZE: usize = 16 * 1024 * 1024;

/// S3 through the AWS SDK.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    multipart_threshold: u64,
    part_size: u64,
    get_part_size: usize,
}

impl S3Store {
    /// A store on `client`; every request it sends is counted (see [`requests`]).
    pub fn new(client: Client) -> S3Store {
        let counted = client.config().to_builder().interceptor(CountRequests);
        S3Store {
            client: Client::from_conf(counted.build()),
            multipart_threshold: MAX_SINGLE_COPY,
            part_size: COPY_PART_SIZE,
            get_part_size: GET_PART_SIZE,
        }
    }

    /// Reads objects larger than `part_size` bytes in ranged GETs of that size, several at a
    /// time. Lets tests exercise the ranged path without large objects.
    pub fn with_get_parts(mut self, part_size: usize) -> S3Store {
        self.get_part_size = part_size.max(1);
        self
    }

    /// Copies objects larger than `threshold` bytes in parts of `part_size` bytes (S3 requires
    /// parts of at least 5 MiB). Lets tests exercise the multipart path without 5 GiB objects.
    pub fn with_multipart_copy(mut self, threshold: u64, part_size: u64) -> S3Store {
        self.multipart_threshold = threshold;
        self.part_size = part_size.max(5 * 1024 * 1024);
        self
    }
}

impl ObjectStore for S3Store {
    async fn get(
        &self,
        object: &ObjectRef,
        etag: Option<&str>,
        budget: &Budget,
        reserved: Option<Sink>,
    ) -> Result<Fetched, StoreError> {
        read::get(self, object, etag, budget, reserved).await
    }

    async fn head(&self, object: &ObjectRef) -> Result<Option<ObjectInfo>, StoreError> {
        read::head(self, object).await
    }

    async fn tags(&self, object: &ObjectRef) -> Result<Tags, StoreError> {
        tags::get(self, object).await
    }

    async fn put_tags(&self, object: &ObjectRef, tags: &Tags) -> Result<(), StoreError> {
        tags::put(self, object, tags).await
    }

    async fn copy(
        &self,
        source: &ObjectRef,
        info: &ObjectInfo,
        dest: &ObjectRef,
        tags: &Tags,
        kms: Option<&SseKms>,
    ) -> Result<ObjectInfo, StoreError> {
        if info.size > self.multipart_threshold {
            write::copy_in_parts(self, source, info, dest, tags, kms).await
        } else {
            write::copy(self, source, info, dest, tags, kms).await
        }
    }

    async fn delete(&self, object: &ObjectRef, etag: Option<&str>) -> Result<(), StoreError> {
        write::delete(self, object, etag).await
    }

    async fn versions(&self, object: &ObjectRef) -> Result<Vec<ObjectInfo>, StoreError> {
        write::versions(self, object).await
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        write::list(self, bucket, prefix).await
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<Page, StoreError> {
        write::list_page(self, bucket, prefix, start_after, max).await
    }

    async fn put(&self, object: &ObjectRef, body: Vec<u8>) -> Result<(), StoreError> {
        write::put(self, object, body).await
    }

    async fn is_versioned(&self, bucket: &str) -> Result<Option<bool>, StoreError> {
        write::is_versioned(self, bucket).await
    }

    async fn bucket_tags(&self, bucket: &str) -> Result<Tags, StoreError> {
        buckets::tags(self, bucket).await
    }
}

/// Counts every attempt the SDK sends, retries included, as AWS bills them.
#[derive(Debug)]
struct CountRequests;

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        requests::count();
        Ok(())
    }
}

/// An ETag as S3 sends it, without its quotes.
fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

/// An ETag as S3 wants it in a condition: quoted.
fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}
