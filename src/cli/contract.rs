//! `contract`: what the binary promises its deployments, as JSON; or, a batch at a time, the
//! lookups the test tools make of its own rules (quarantine keys, identities, source tags).

use std::process::ExitCode;

use s3_yara_scan::contract::{self, Lookup};

use super::local::print_json;

/// Print what the binary promises its deployments: settings, tag keys, verdicts and the IAM
/// permissions each part of the work needs.
#[derive(clap::Args)]
#[group(skip)]
pub struct ContractArgs {
    /// As JSON (the only form for now).
    #[arg(long)]
    #[allow(dead_code)] // accepted, and implied: JSON is the only form
    json: bool,
    /// Instead, read `["bucket", "key"]` JSON lines on standard input and print the key of
    /// each one's quarantine copy, as a JSON string per line.
    #[arg(long, group = "lookup")]
    quarantine_keys: bool,
    /// Instead, read objects as `decode` prints them (`{"bucket", "key", "versionId",
    /// "eTag"}`), one JSON line each, and print what pins the bytes each names, as the scanner
    /// tells events apart: the same object with its `versionId` when that is not `null`, else
    /// with its `eTag`, the other one null.
    #[arg(long, group = "lookup")]
    identities: bool,
    /// Instead, read values of a copy's source tag (`TAG_KEY_SOURCE`), one JSON string per
    /// line, and print what each names: `{"versionId", "eTag"}` (null for `null` and `-`), or
    /// `{"error"}` for a value the scanner does not write.
    #[arg(long, group = "lookup")]
    source_tags: bool,
}

impl ContractArgs {
    /// The lookup asked for, if any.
    fn lookup(&self) -> Option<Lookup> {
        [
            (self.quarantine_keys, Lookup::QuarantineKeys),
            (self.identities, Lookup::Identities),
            (self.source_tags, Lookup::SourceTags),
        ]
        .into_iter()
        .find_map(|(asked, lookup)| asked.then_some(lookup))
    }
}

/// `contract`: the contract as JSON, or the answers to a lookup.
pub fn contract(args: ContractArgs) -> anyhow::Result<ExitCode> {
    match args.lookup() {
        Some(lookup) => lookup.answer_all(std::io::stdin().lock(), std::io::stdout().lock())?,
        None => print_json(&contract::to_json())?,
    }
    Ok(ExitCode::SUCCESS)
}
