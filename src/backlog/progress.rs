//! Showing a backlog's progress on stderr: a progress bar on a terminal (objects/s, bytes, and
//! an ETA once the listing has reached its end), a plain line every few seconds otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Counts;

/// How often a plain progress line is printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// Where the progress goes.
#[derive(Debug)]
pub struct Progress {
    kind: Kind,
    started: Instant,
    /// The total is final: the listing has reached its end.
    total_known: bool,
}

#[derive(Debug)]
enum Kind {
    Bar(ProgressBar),
    Lines { every: Duration, last: Instant },
    Quiet,
}

impl Progress {
    /// A progress bar when stderr is a terminal, else a plain line every few seconds.
    pub fn stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(style(
                "{spinner} {pos}/{len}+ objects ({per_sec}) {msg} [listing…]",
            ));
            bar.enable_steady_tick(Duration::from_millis(200));
            Progress::of(Kind::Bar(bar))
        } else {
            Progress::lines(LINE_EVERY)
        }
    }

    /// A plain line on stderr every `every`.
    pub fn lines(every: Duration) -> Progress {
        Progress::of(Kind::Lines {
            every,
            last: Instant::now(),
        })
    }

    /// Nothing shown.
    pub fn quiet() -> Progress {
        Progress::of(Kind::Quiet)
    }

    fn of(kind: Kind) -> Progress {
        Progress {
            kind,
            started: Instant::now(),
            total_known: false,
        }
    }

    /// Shows `counts` of `total` objects so far (`listed_all`: the total is final).
    pub fn update(&mut self, counts: &Counts, total: u64, listed_all: bool) {
        let news = listed_all && !self.total_known;
        self.total_known |= listed_all;
        let summary = format!(
            "{}, {} infected, {} failed",
            bytesize::ByteSize(counts.bytes),
            counts.infected,
            counts.failed
        );
        match &mut self.kind {
            Kind::Bar(bar) => {
                if news {
                    bar.set_style(style(
                        "{wide_bar} {pos}/{len} objects ({per_sec}, ETA {eta}) {msg}",
                    ));
                }
                bar.set_length(total);
                bar.set_position(counts.objects);
                bar.set_message(summary);
            }
            Kind::Lines { every, last } if last.elapsed() >= *every => {
                *last = Instant::now();
                let secs = self.started.elapsed().as_secs_f64().max(0.001);
                let of = if self.total_known { "" } else { "+" };
                eprintln!(
                    "backlog: {}/{total}{of} objects ({:.1}/s), {summary}",
                    counts.objects,
                    counts.objects as f64 / secs
                );
            }
            _ => {}
        }
    }

    /// Clears the bar before the summary is printed.
    pub fn finish(&self) {
        if let Kind::Bar(bar) = &self.kind {
            bar.finish_and_clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants of this file: a bad one is a bug, shown as a plain bar.
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}
