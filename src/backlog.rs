//! The objects already in a bucket (`s3-yara-scan backlog s3://bucket[/prefix]`): lists them in
//! key order, a page at a time, and takes each through the same journey as a notification (a
//! validly signed `Clean` is skipped unread), a few at a time; or sends them to the scan queue.
//! A state file keeps the key below which everything is done, so an interrupted run resumes.

use std::cell::Cell;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

use crate::store::{Listed, ObjectStore, StoreError};

mod notify;
mod progress;
mod state;
mod summary;
mod work;

pub use notify::body;
pub use progress::Progress;
pub use state::{State, Watermark, default_state_file};
pub use summary::{Counts, Failed, Outcome, Summary};
use work::Item;
pub use work::Work;

/// The event name of the objects a backlog announces: a creation, to the decoder and journey.
pub const EVENT_NAME: &str = "ObjectCreated:Backlog";
/// Keys per listing request (S3's largest page).
const PAGE: usize = 1_000;
/// Pages the listing may run ahead of the work: its end, and so the ETA, is known early in a
/// small bucket, and memory stays bounded in a large one.
const READ_AHEAD_PAGES: usize = 100;
/// The state is saved at least this often, and after this many objects.
const SAVE_EVERY: Duration = Duration::from_secs(2);
const SAVE_OBJECTS: u64 = 500;

/// Why a backlog could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BacklogError {
    /// The location is not `s3://bucket` or `s3://bucket/prefix`.
    #[error("`{0}` is not an S3 location (allowed: s3://bucket or s3://bucket/prefix)")]
    NotALocation(String),
    /// The state file cannot be read, written, or is another backlog's.
    #[error("state file `{path}`: {detail}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// What to go through, and how.
#[derive(Debug, Clone)]
pub struct Job {
    /// The bucket.
    pub bucket: String,
    /// The prefix (empty for the whole bucket).
    pub prefix: String,
    /// Objects (or, to the queue, SendMessageBatch calls) in flight at once.
    pub concurrency: usize,
    /// Where the state is kept.
    pub state_file: PathBuf,
    /// Start from the first key, whatever the state file says.
    pub restart: bool,
}

impl Job {
    /// A job for `location` (`s3://bucket[/prefix]`), with the default state file and
    /// `concurrency` objects at a time.
    pub fn new(location: &str, concurrency: usize) -> Result<Job, BacklogError> {
        let bad = || BacklogError::NotALocation(crate::event::quote(location));
        let rest = location.strip_prefix("s3://").ok_or_else(bad)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        if bucket.is_empty() || !bucket.chars().all(allowed) {
            return Err(bad());
        }
        Ok(Job {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            concurrency: concurrency.max(1),
            state_file: default_state_file(bucket, prefix),
            restart: false,
        })
    }
}

/// How far the listing got; shared between the listing and the work.
#[derive(Debug, Default)]
struct Listing {
    listed: AtomicU64,
    complete: AtomicBool,
}

/// Lists the rest of the prefix after `after` into `pages`, a page at a time, until its end,
/// an error, or the work no longer wants pages.
async fn list<S: ObjectStore>(
    store: &S,
    job: &Job,
    mut after: Option<String>,
    mut pages: mpsc::Sender<Vec<Listed>>,
    listing: &Listing,
) -> Result<(), StoreError> {
    loop {
        let page = store
            .list_page(&job.bucket, &job.prefix, after.as_deref(), PAGE)
            .await?;
        listing
            .listed
            .fetch_add(page.objects.len() as u64, Ordering::Relaxed);
        // An empty page that claims more would list the same page forever.
        let more = page.more && !page.objects.is_empty();
        after = page.objects.last().map(|o| o.key.clone()).or(after);
        if pages.send(page.objects).await.is_err() {
            return Ok(());
        }
        if !more {
            listing.complete.store(true, Ordering::Relaxed);
            return Ok(());
        }
    }
}

/// Runs `job`: the failures of the previous run first, then the listing from where it stopped,
/// `work` done on each object, until the end or until `stop` completes (then the objects in
/// flight are finished, and the state saved, before it returns).
pub async fn run<S: ObjectStore>(
    store: &S,
    work: Work<'_, S>,
    job: &Job,
    progress: Progress,
    stop: impl Future<Output = ()>,
) -> Result<Summary, BacklogError> {
    let state = State::open(&job.state_file, &job.bucket, &job.prefix, job.restart)?;
    let (after, listed_all) = (state.after.clone(), state.listed_all);
    let retries: Vec<Item> = state.failed.keys().cloned().map(Item::Retry).collect();
    let mut run = Run::new(job, state, progress, retries.len() as u64);
    // Before any work: a state that cannot be saved would make an interruption cost it all.
    run.save().map_err(|e| BacklogError::State {
        path: job.state_file.clone(),
        detail: format!("cannot write it: {e}"),
    })?;
    let listing = Listing::default();
    let (pages, received) = mpsc::channel(READ_AHEAD_PAGES);
    let lister = async {
        if listed_all {
            listing.complete.store(true, Ordering::Relaxed);
            drop(pages);
            return Ok(());
        }
        list(store, job, after, pages, &listing).await
    };
    let stopped = Cell::new(false);
    let stop = async {
        stop.await;
        stopped.set(true);
    };
    let worker = async {
        let listed = received
            .flat_map(futures::stream::iter)
            .enumerate()
            .map(|(n, listed)| Item::Listed(n as u64, listed));
        let mut done = std::pin::pin!(
            futures::stream::iter(retries)
                .chain(listed)
                .take_until(stop)
                .chunks(work.batch())
                .map(|chunk| work.run(&job.bucket, chunk))
                .buffer_unordered(job.concurrency)
        );
        while let Some(results) = done.next().await {
            for (item, outcome) in results {
                run.record(item, outcome);
            }
            run.show(&listing);
            run.save_now_and_then();
        }
        // `done` (and the listing's receiver with it) is dropped here: a listing still
        // running ahead stops at its next page.
    };
    let (listed, ()) = futures::join!(lister, worker);
    Ok(run.finish(work.mode(), &listing, listed.err(), stopped.get()))
}

/// One run in progress: the counts, the watermark and the state they are saved to.
#[derive(Debug)]
struct Run<'a> {
    job: &'a Job,
    state: State,
    watermark: Watermark,
    counts: Counts,
    progress: Progress,
    started: Instant,
    saved: Instant,
    unsaved: u64,
    done_before: u64,
    resumed_after: Option<String>,
    retried: u64,
}

impl<'a> Run<'a> {
    fn new(job: &'a Job, state: State, progress: Progress, retried: u64) -> Run<'a> {
        Run {
            job,
            watermark: Watermark::new(state.after.clone()),
            done_before: state.done,
            resumed_after: state.after.clone(),
            state,
            counts: Counts::default(),
            progress,
            started: Instant::now(),
            saved: Instant::now(),
            unsaved: 0,
            retried,
        }
    }

    /// Counts `outcome`; a failure goes to the state once the watermark passes it (a retried
    /// one stays there), a settled retry leaves it.
    fn record(&mut self, item: Item, outcome: Outcome) {
        self.counts.add(&outcome);
        self.unsaved += 1;
        let failure = match outcome {
            Outcome::Failed(why) => Some(why),
            _ => None,
        };
        match (item, failure) {
            (Item::Retry(key), Some(why)) => {
                self.state.failed.insert(key, why);
            }
            (Item::Retry(key), None) => {
                self.state.failed.remove(&key);
            }
            (Item::Listed(n, listed), failure) => {
                self.watermark.finish(n, listed.key, failure);
                self.state.failed.extend(self.watermark.take_failures());
            }
        }
    }

    fn show(&mut self, listing: &Listing) {
        let total = self.retried + listing.listed.load(Ordering::Relaxed);
        let complete = listing.complete.load(Ordering::Relaxed);
        self.progress.update(&self.counts, total, complete);
    }

    /// Saves the state when enough time or objects have passed since it was last saved. A
    /// failure is logged and the work goes on: it only costs work redone after a restart.
    fn save_now_and_then(&mut self) {
        if self.unsaved < SAVE_OBJECTS && self.saved.elapsed() < SAVE_EVERY {
            return;
        }
        if let Err(e) = self.save() {
            tracing::warn!(path = %self.job.state_file.display(), error = %e, "cannot save the backlog state");
        }
    }

    fn save(&mut self) -> std::io::Result<()> {
        self.state.after = self.watermark.after().map(String::from);
        self.state.done = self.done_before + self.watermark.done();
        self.state.save(&self.job.state_file)?;
        self.saved = Instant::now();
        self.unsaved = 0;
        Ok(())
    }

    /// Saves the final state (or removes it when nothing is left to do) and sums up.
    fn finish(
        mut self,
        mode: &'static str,
        listing: &Listing,
        error: Option<StoreError>,
        interrupted: bool,
    ) -> Summary {
        self.progress.finish();
        let complete = listing.complete.load(Ordering::Relaxed) && !interrupted && error.is_none();
        self.state.listed_all = complete;
        let mut failed: Vec<Failed> = self
            .watermark
            .pending_failures()
            .chain(&self.state.failed)
            .map(|(key, reason)| Failed {
                key: key.clone(),
                reason: reason.clone(),
            })
            .collect();
        failed.sort_by(|a, b| a.key.cmp(&b.key));
        let state_file = if complete && self.state.failed.is_empty() {
            match std::fs::remove_file(&self.job.state_file) {
                Ok(()) => None,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(_) => Some(self.job.state_file.display().to_string()),
            }
        } else {
            if let Err(e) = self.save() {
                tracing::error!(path = %self.job.state_file.display(), error = %e, "cannot save the backlog state; the next run starts earlier");
            }
            Some(self.job.state_file.display().to_string())
        };
        let elapsed = self.started.elapsed().as_secs_f64();
        Summary {
            location: format!("s3://{}/{}", self.job.bucket, self.job.prefix),
            mode,
            listed: listing.listed.load(Ordering::Relaxed),
            retried: self.retried,
            resumed_after: self.resumed_after,
            done_before: self.done_before,
            elapsed_secs: elapsed,
            objects_per_sec: self.counts.objects as f64 / elapsed.max(0.001),
            counts: self.counts,
            interrupted,
            listing_error: error.map(|e| e.to_string()),
            complete,
            failed,
            state_file,
        }
    }
}

#[cfg(test)]
mod tests;
