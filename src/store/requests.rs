//! Counting the requests made for one object: every request a store sends (retries and ranged
//! parts included, as AWS bills them) adds one to the counter of the object being processed,
//! which [`counted`] sets up around its work. Outside [`counted`], nothing is counted.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    static REQUESTS: Cell<u32>;
}

/// Runs `work` and returns its output with the number of requests it sent.
pub async fn counted<T>(work: impl Future<Output = T>) -> (T, u32) {
    REQUESTS
        .scope(Cell::new(0), async {
            let out = work.await;
            (out, REQUESTS.with(Cell::get))
        })
        .await
}

/// Adds one request to the counter of the work in progress, if any.
pub fn count() {
    let _ = REQUESTS.try_with(|n| n.set(n.get() + 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_piece_of_work_counts_its_own() {
        let one = counted(async {
            count();
            count();
        });
        let other = counted(async { count() });
        let ((_, a), (_, b)) = tokio::join!(one, other);
        assert_eq!((a, b), (2, 1));
        count(); // outside any counted work: ignored
    }
}
