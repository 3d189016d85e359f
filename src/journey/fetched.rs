//! Fetching: the object's bytes read into the memory budget (or spooled), with room reserved
//! before the request; and what a read that failed means for the journey.

use crate::action;
use crate::config::settings;
use crate::event::ObjectEvent;
use crate::object::{Location, ObjectInfo};
use crate::pipeline::Pipeline;
use crate::report::{Retry, Settled};
use crate::store::{Fetched, ObjectStore, StoreError};
use crate::verdict::{Failure, Verdict};

use super::Judged;
use super::ending::Ending;

/// Reads `event`'s object, pinned to the ETag the event announced when it named one.
pub(super) async fn fetch<S: ObjectStore>(
    p: &Pipeline<S>,
    event: &ObjectEvent,
) -> Result<Fetched, StoreError> {
    // Room for the bytes before the request, from the size the event announced: waiting for
    // room with a response open would stall it.
    let reserved = match event.size {
        Some(size) => p.budget.reserve(size).await.ok().flatten(),
        None => None,
    };
    p.store
        .get(&event.object, event.etag.as_deref(), &p.budget, reserved)
        .await
}

/// What a failed read means: gone, replaced, worth retrying, or (a permission, an archived
/// object) an `Error` verdict, since retrying cannot help.
pub(super) async fn unreadable<S: ObjectStore>(
    p: &Pipeline<S>,
    event: &ObjectEvent,
    e: StoreError,
) -> Result<Judged, Ending> {
    let gone = |settled| Err(Ending::settled(settled).at(Location::Gone));
    match e {
        StoreError::NotFound { code, .. } => {
            let quarantined = action::find_quarantined(&p.store, &p.config, &event.object).await;
            gone(Settled::Gone { code, quarantined })
        }
        StoreError::Changed { .. } => gone(Settled::Replaced),
        e if e.is_retryable() => Err(Ending::retried(Retry::Read(e))),
        e => {
            let info = ObjectInfo {
                version_id: event.object.version_id.clone(),
                size: event.size.unwrap_or(0),
                etag: event.etag.clone(),
                ..ObjectInfo::default()
            };
            let failure = Failure {
                access_denied: matches!(e, StoreError::AccessDenied { .. }),
                reason: e.to_string(),
            };
            Ok(Judged::unread(event, info, Verdict::Error(failure)))
        }
    }
}

/// Why an object of `size` bytes was not read, naming the setting to raise.
pub(super) fn too_large<S: ObjectStore>(p: &Pipeline<S>, size: u64) -> String {
    match p.budget.spool_limit() {
        Some(spool) => format!(
            "object is {size} bytes, over {} of {spool} bytes (raise the function's \
             ephemeral storage, up to 10 GiB)",
            settings::MAX_SPOOL_SIZE.name
        ),
        None => format!(
            "object is {size} bytes, over {} of {} bytes (raise it with the function's \
             memory, or turn on {})",
            settings::MAX_OBJECT_SIZE.name,
            p.budget.memory_limit(),
            settings::SPOOL_DIR.name
        ),
    }
}
