//! Scanning: the bytes read, as stored and decoded with their `Content-Encoding`, looked
//! into (archives, documents) and matched against the rules in force; the verdict they give.

use std::sync::Arc;

use crate::event::ObjectEvent;
use crate::inspect::{Inspection, Scope, Stored, inspect_async};
use crate::object::ObjectInfo;
use crate::pipeline::Pipeline;
use crate::report::Retry;
use crate::scan::RuleSets;
use crate::store::{Buffer, ObjectStore};
use crate::verdict::Verdict;

use super::ending::Ending;

/// The verdict on `body`, the bytes `info` describes, and their type as the bytes tell it; or
/// the end of the journey when the memory budget had no room to look into them.
pub(super) async fn scan<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    event: &ObjectEvent,
    info: &ObjectInfo,
    body: Buffer,
) -> Result<(Verdict, Option<String>), Ending> {
    let stored = Stored {
        encoding: info.content_encoding.clone(),
        content_type: info.content_type.clone(),
    };
    let scope = Scope {
        limits: &p.config.archive,
        policy: &p.config.policy,
    };
    let inspected = inspect_async(
        &p.engine,
        rules.clone(),
        body,
        stored,
        &event.object,
        scope,
        &p.budget,
    )
    .await;
    let inspection = match inspected {
        Ok(inspection) => inspection,
        Err(e) => return Ok((Verdict::Unscannable(e.to_string()), None)),
    };
    let file_type = Some(inspection.filetype.clone()).filter(|t| !t.is_empty());
    match verdict_of(event, inspection) {
        Ok(verdict) => Ok((verdict, file_type)),
        Err(why) => Err(Ending::retried(Retry::NoRoom(why)).file_type(file_type)),
    }
}

/// The verdict an inspection gives, what it could not read logged.
fn verdict_of(event: &ObjectEvent, inspection: Inspection) -> Result<Verdict, String> {
    for note in &inspection.notes {
        tracing::warn!(object = %event.object, note = %note.escape_debug(), "not looked into in full; its bytes were scanned");
    }
    inspection.verdict()
}
