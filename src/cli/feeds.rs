//! `feeds update`: the rule and hash feeds (`FEEDS`) downloaded, validated and written under
//! the rules prefix, from any machine with access to the bucket (a function without internet
//! access then only reads what this wrote).

use std::process::ExitCode;

use anyhow::Context as _;
use s3_yara_scan::config::RuleSource;
use s3_yara_scan::{Aws, Config, feeds};

/// Rule packages and hash lists (FEEDS): download them, check them and put those sound in
/// force under the rules prefix.
#[derive(clap::Args)]
pub struct FeedsArgs {
    #[command(subcommand)]
    action: FeedsCommand,
}

#[derive(clap::Subcommand)]
enum FeedsCommand {
    /// Download every feed of FEEDS (settings from the environment, as for `handle`), validate
    /// it and write it under `<prefix>feeds/` of the first S3 source of RULES (or --to), where
    /// the scanners' rules refresh picks it up. A feed refused keeps the last good one. Prints
    /// one line per feed (or JSON with --json). Exit code 0: every feed in force; 1: some
    /// refused.
    Update {
        /// Write under this prefix instead of RULES' first S3 source: s3://bucket/prefix/.
        #[arg(long, value_name = "S3_URI")]
        to: Option<RuleSource>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `feeds`, on the function's runtime.
pub fn feeds(args: FeedsArgs) -> anyhow::Result<ExitCode> {
    let FeedsCommand::Update { to, json } = args.action;
    if let Some(RuleSource::Local(path)) = &to {
        anyhow::bail!("--to {} is no s3://bucket/prefix/", path.display());
    }
    let reports = super::runtime()?.block_on(async {
        // An update touches no scanned object: ACTION (whose default, quarantine, wants a
        // bucket) does not matter here, so a machine that only runs updates need not set it.
        let config = Config::from_lookup(|name| {
            (std::env::var(name).ok()).or_else(|| (name == "ACTION").then(|| "tag".into()))
        })?;
        let aws = Aws::load(&config).await;
        let reports = feeds::run(&aws.s3_store(), &config, to.as_ref()).await?;
        anyhow::Ok(reports)
    })?;
    if json {
        let text = serde_json::to_string_pretty(&reports).context("writing the report")?;
        println!("{text}");
    } else {
        for report in &reports {
            println!("{}", report.line());
        }
    }
    Ok(match reports.iter().all(|r| r.in_force()) {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}
