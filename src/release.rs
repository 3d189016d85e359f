//! Releasing a false positive (`s3-yara-scan release`): a quarantined version moved back to the
//! bucket and key it came from (the quarantine's verified move, run the other way, see
//! [`action::restore`]), with its metadata and the user's tags, tagged `Released` and signed,
//! naming who released it and why. A later delivery for those exact bytes keeps the verdict
//! while its signature holds (`journey::checks`); changed bytes are scanned as usual. Refused
//! without a signing key: an unsigned `Released` could be forged by any uploader.

use crate::action::{self, ActionError, Location, OriginError};
use crate::batch::announce::announce;
use crate::object::{ObjectInfo, ObjectRef, Tags};
use crate::pipeline::Pipeline;
use crate::record::verdict_tags;
use crate::report::{Disposition, Report, Settled, Timings};
use crate::signature::{self, Check, SigningKey};
use crate::store::{ObjectStore, StoreError, requests};
use crate::verdict::{TagLimitError, Verdict, merge_tags};

/// What to release, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The quarantine copy: a key of the quarantine bucket, and a version (its current one when
    /// none is given).
    pub copy: ObjectRef,
    /// Why, in the operator's words (`--reason`).
    pub reason: String,
    /// Who asks: the caller's ARN (STS GetCallerIdentity).
    pub by: String,
    /// Release even when the origin key holds other bytes now (`--force`): they become an older
    /// version in a versioned bucket, and are lost in an unversioned one.
    pub force: bool,
}

/// Why a release was refused or failed; nothing was moved unless the message says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// No signing key: a `Released` tag must be unforgeable.
    #[error(
        "no signing key: a Released verdict must be signed, or any uploader could forge one \
         (set SIGNING_KEY_SECRET, as the function has it; SIGNING_KEY for local runs)"
    )]
    NoSigningKey,
    /// `--reason` is empty.
    #[error("a release needs a reason (--reason TEXT); it is written on the object and logged")]
    NoReason,
    /// The object is not in the quarantine bucket.
    #[error(
        "`{bucket}` is not the quarantine bucket{}: only quarantined objects are released",
        quarantine.as_deref().map(|q| format!(" (QUARANTINE_BUCKET is `{q}`)")).unwrap_or_else(|| " (QUARANTINE_BUCKET is not set)".into())
    )]
    NotQuarantine {
        /// The bucket named.
        bucket: String,
        /// The quarantine bucket of the settings, if any.
        quarantine: Option<String>,
    },
    /// Nothing there.
    #[error("{0} does not exist (already released, or expired)")]
    NotFound(ObjectRef),
    /// The copy does not say where it came from.
    #[error("{copy}: {why}")]
    NoOrigin {
        /// The quarantine copy.
        copy: ObjectRef,
        /// Why its origin is unknown.
        why: OriginError,
    },
    /// The origin key holds other bytes now (a newer upload).
    #[error(
        "{origin} now holds other bytes (ETag {etag}) than those quarantined: not overwritten \
         (--force releases anyway; in an unversioned bucket they are lost)"
    )]
    OriginTaken {
        /// The origin key.
        origin: ObjectRef,
        /// The ETag it holds.
        etag: String,
    },
    /// The user's tags leave no room for the verdict.
    #[error(transparent)]
    TagLimit(#[from] TagLimitError),
    /// An S3 call failed.
    #[error("{step}: {source}{}", denied_hint(source))]
    Store {
        /// What was being done.
        step: &'static str,
        /// The failure.
        source: StoreError,
    },
    /// The move failed; the message says where the object is.
    #[error(transparent)]
    Move(#[from] ActionError),
    /// The copy changed or vanished while it was being released: nothing was released.
    #[error("{0} changed or vanished during the release; nothing was released")]
    Vanished(ObjectRef),
}

/// For a missing permission: where a release's permissions are (the message names the
/// function's role, which is not who releases).
fn denied_hint(source: &StoreError) -> &'static str {
    match source {
        StoreError::AccessDenied { .. } => {
            " (a release runs with the caller's own permissions: attach the stack's \
             ReleasePolicy, or assume its ReleaseRole)"
        }
        _ => "",
    }
}

/// The version the copy's source tag names (see [`action::SourceTag`]): the version
/// quarantined, `None` in an unversioned bucket (whose finding is filed under `null`).
fn quarantined_version(tags: &Tags, keys: &crate::verdict::TagKeys) -> Option<String> {
    let (_, source) = tags.iter().find(|(k, _)| *k == keys.source)?;
    action::SourceTag::parse(source).ok()?.version_id
}

fn store_step(step: &'static str) -> impl FnOnce(StoreError) -> ReleaseError {
    move |source| ReleaseError::Store { step, source }
}

/// Releases `request.copy`: checks, the verified move back, the signed `Released` tags, one
/// log line and the result event. The report names the object back in place.
pub async fn release<S: ObjectStore>(
    p: &Pipeline<S>,
    request: &Request,
) -> Result<Report, ReleaseError> {
    let (released, requests) = requests::counted(release_counted(p, request)).await;
    let mut report = released?;
    report.requests = requests;
    let verdict = report.verdict.clone();
    tracing::info!(
        copy = %request.copy,
        object = %report.object,
        by = %request.by,
        reason = %request.reason.escape_debug(),
        verdict = verdict.as_ref().map_or("-", Verdict::name),
        "released from quarantine"
    );
    Ok(announce(p, report).await)
}

async fn release_counted<S: ObjectStore>(
    p: &Pipeline<S>,
    request: &Request,
) -> Result<Report, ReleaseError> {
    let key = p.signing_key.as_ref().ok_or(ReleaseError::NoSigningKey)?;
    if request.reason.trim().is_empty() {
        return Err(ReleaseError::NoReason);
    }
    let quarantine = p.config.quarantine_bucket();
    if quarantine != Some(request.copy.bucket.as_str()) {
        return Err(ReleaseError::NotQuarantine {
            bucket: request.copy.bucket.clone(),
            quarantine: quarantine.map(str::to_owned),
        });
    }
    let (copy, info, tags) = read_copy(p, &request.copy).await?;
    let keys = &p.config.tag_keys;
    let origin =
        action::origin_of(&copy.key, &tags, keys).map_err(|why| ReleaseError::NoOrigin {
            copy: copy.clone(),
            why,
        })?;
    check_origin(p, &origin, &info, request.force).await?;
    // Its finding, if any, was filed under the version quarantined.
    let quarantined = origin.object.at_version(quarantined_version(&tags, keys));
    let verdict = Verdict::Released {
        by: request.by.clone(),
        reason: request.reason.trim().to_owned(),
    };
    let source = action::source_tag(keys, &copy, &info);
    let ours = verdict_tags(keys, Some(key), &info, &verdict, p.engine.rules().id());
    let mut ours = ours;
    ours.push(source.clone());
    let merged = merge_tags(&tags, ours, keys, &verdict)?;
    let moved = action::restore(
        &p.store,
        (&copy, &info),
        &origin.object,
        &merged.tags,
        &source,
    )
    .await?;
    let Location::Restored(restored) = moved else {
        return Err(ReleaseError::Vanished(copy));
    };
    let info = sign_restored(p, key, &restored, merged.tags).await?;
    Ok(Report {
        object: restored,
        owner: None,
        etag: info.etag.clone(),
        size: Some(info.size),
        verdict: Some(verdict),
        ruleset: p.engine.rules().id().to_owned(),
        location: Location::InPlace,
        disposition: Disposition::Acknowledge(Settled::Recorded),
        timings: Timings::default(),
        requests: 0,
        file_type: None,
        // The finding of the version quarantined, which the source tag names.
        earlier_threat: Some(quarantined),
    })
}

/// The copy's version (the one named, else its current one), what it is, and its tags.
async fn read_copy<S: ObjectStore>(
    p: &Pipeline<S>,
    named: &ObjectRef,
) -> Result<(ObjectRef, ObjectInfo, Tags), ReleaseError> {
    let info = p
        .store
        .head(named)
        .await
        .map_err(store_step("reading the quarantine copy"))?
        .ok_or_else(|| ReleaseError::NotFound(named.clone()))?;
    let copy = named.at_version(info.version_id.clone().or(named.version_id.clone()));
    let tags = p
        .store
        .tags(&copy)
        .await
        .map_err(store_step("reading the quarantine copy's tags"))?;
    Ok((copy, info, tags))
}

/// Refuses to overwrite other bytes at the origin key unless forced: its current version
/// may be a newer upload. The bytes quarantined (an interrupted release's copy, or a
/// version quarantine could not delete) are no reason to refuse.
async fn check_origin<S: ObjectStore>(
    p: &Pipeline<S>,
    origin: &action::Origin,
    info: &ObjectInfo,
    force: bool,
) -> Result<(), ReleaseError> {
    let current = p
        .store
        .head(&origin.object)
        .await
        .map_err(store_step("checking the object's own bucket"))?;
    match current {
        Some(now) if !force && now.size != info.size => Err(taken(origin, &now)),
        Some(now) if !force && now.etag != origin.etag && now.etag != info.etag => {
            Err(taken(origin, &now))
        }
        _ => Ok(()),
    }
}

/// Checks the signature on the restored version as S3 now describes it; when the copy's
/// ETag differs from the quarantine copy's (a multipart copy, another encryption), signs
/// the tags again for the bytes as they are now. Returns what the restored version is.
async fn sign_restored<S: ObjectStore>(
    p: &Pipeline<S>,
    key: &SigningKey,
    restored: &ObjectRef,
    mut tags: Tags,
) -> Result<ObjectInfo, ReleaseError> {
    let keys = &p.config.tag_keys;
    let info = p
        .store
        .head(restored)
        .await
        .map_err(store_step("checking the released object"))?
        .ok_or_else(|| ReleaseError::Vanished(restored.clone()))?;
    if let Check::Valid { .. } = signature::verify(key, &info, &tags, keys) {
        return Ok(info);
    }
    tags.retain(|(k, _)| *k != keys.signature);
    let signature = signature::sign(key, &info, &tags, keys);
    tags.push((keys.signature.clone(), signature));
    p.store
        .put_tags(restored, &tags)
        .await
        .map_err(store_step("signing the released object's verdict again"))?;
    Ok(info)
}

fn taken(origin: &action::Origin, now: &ObjectInfo) -> ReleaseError {
    ReleaseError::OriginTaken {
        origin: origin.object.clone(),
        etag: now.etag.clone().unwrap_or_else(|| "-".into()),
    }
}

#[cfg(test)]
mod tests;
