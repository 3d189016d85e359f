//! `release`: a quarantined false positive moved back to the bucket and key it came from,
//! tagged with a signed `Released` that names who released it (STS) and why. Settings from the
//! environment, as for `handle`.

use std::process::ExitCode;

use anyhow::Context as _;
use s3_yara_scan::release::{self, Request};
use s3_yara_scan::{Aws, Config, Engine, ObjectRef, Pipeline, RuleSet};

/// Move a quarantined false positive back to the bucket and key it came from (copied,
/// verified, then deleted from quarantine), tagged Released and signed, naming who released it
/// and why; settings from the environment, as for `handle`. Exit code 0: released; 2: refused
/// or failed (the message says why and where the object is).
#[derive(clap::Args)]
pub struct ReleaseArgs {
    /// s3://QUARANTINE_BUCKET/KEY: the quarantine copy, whose key is `<bucket>/<key>` of the
    /// object it was quarantined from.
    location: String,
    /// The version of the quarantine copy to release (default: its current one).
    #[arg(long)]
    version_id: Option<String>,
    /// Why it is a false positive: written on the object (`scan-detail`), logged and published.
    #[arg(long, required = true)]
    reason: String,
    /// Release even when the original key now holds other bytes (a newer upload): in a
    /// versioned bucket they become an older version; in an unversioned one they are lost.
    #[arg(long)]
    force: bool,
}

/// Releases the copy `args` names; prints the result as JSON (the result event's document).
pub fn release(args: ReleaseArgs) -> anyhow::Result<ExitCode> {
    let copy = parse_location(&args.location)?.at_version(args.version_id.clone());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(release_async(args, copy))
}

async fn release_async(args: ReleaseArgs, copy: ObjectRef) -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    let aws = Aws::load(&config).await;
    let signing_key = aws.signing_key(&config).await?;
    let publisher = aws.publisher(&config).await?;
    let by = aws.caller_arn().await?;
    // The embedded rules only name the ruleset on the tags: a Released is kept whatever rules
    // are in force, so the users' RULES need not be loaded (nor the function's preflight run).
    let engine = Engine::new(RuleSet::embedded()?, config.scan_timeout);
    let pipeline = Pipeline::new(aws.s3_store(), engine, config)
        .with_signing_key(signing_key)
        .with_publisher(publisher);
    let request = Request {
        copy,
        reason: args.reason,
        by,
        force: args.force,
    };
    let report = release::release(&pipeline, &request).await?;
    super::local::print_json(&s3_yara_scan::publish::document(&report))?;
    if !report.is_settled() {
        eprintln!(
            "error: released, but {} (the object is back in place)",
            report.disposition
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// `s3://bucket/key` as an object.
fn parse_location(location: &str) -> anyhow::Result<ObjectRef> {
    location
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .map(|(bucket, key)| ObjectRef::new(bucket, key))
        .with_context(|| {
            format!(
                "`{}` is not s3://QUARANTINE_BUCKET/KEY",
                location.escape_debug()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::parse_location;

    #[test]
    fn locations_are_a_bucket_and_a_key() {
        let object = parse_location("s3://q/uploads/a b.txt").unwrap();
        assert_eq!(
            (object.bucket.as_str(), object.key.as_str()),
            ("q", "uploads/a b.txt")
        );
        for bad in ["q/k", "s3://q", "s3://q/", "s3:///k"] {
            assert!(parse_location(bad).is_err(), "{bad}");
        }
    }
}
