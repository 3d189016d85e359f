//! The container walkers' fuzzer (`scripts/fuzz --containers`): mutations of a seed of each
//! format (src/inspect/formats/fuzz.rs), walked as every format on every core; prints cases/s
//! and each failure (a panic, or a walk over a second) with the bytes that caused it, and
//! exits 1 on any. Options: --cases N (default 200000), --seed S (default 1), --seeds DIR (its
//! files up to 300 KiB are seeds too: `scripts/fuzz` passes clamav-testfiles when installed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::Parser;
use s3_yara_scan::inspect::formats::fuzz;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 200_000)]
    cases: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long)]
    seeds: Option<std::path::PathBuf>,
}

fn main() {
    let args = Args::parse();
    // Panics are caught and counted per case; their default message would flood the output.
    std::panic::set_hook(Box::new(|_| {}));
    let mut seeds = fuzz::seeds();
    if let Some(dir) = &args.seeds {
        match fuzz::seeds_from(dir) {
            Ok(more) => seeds.extend(more),
            Err(e) => {
                eprintln!("--seeds {}: {e}", dir.display());
                std::process::exit(2);
            }
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let (done, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (seeds, done, failed) = (&seeds, &done, &failed);
            scope.spawn(move || {
                let mut r = args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (t + 1);
                for i in (t..args.cases).step_by(threads as usize) {
                    let seed = &seeds[i as usize % seeds.len()];
                    let bytes = fuzz::mutate(seed, &mut r);
                    if let Some(failure) = fuzz::case(&bytes) {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("case {i}: {failure:?}: {bytes:?}");
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let (done, failed) = (done.into_inner(), failed.into_inner());
    let secs = started.elapsed().as_secs_f64();
    println!(
        "containers: {done} cases in {secs:.1} s ({:.0} cases/s), {failed} failures",
        done as f64 / secs
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
