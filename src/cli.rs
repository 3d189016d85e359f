//! The command line's subcommands, apart from the Lambda entry point and `handle`, which stay in
//! `main.rs` beside the pipeline they build.

mod agents;
mod local;
mod onboard;
mod release;

pub use agents::{backlog, run_poll};
pub use local::{build_rules, check_rules, print_json, print_quarantine_keys, rules, scan};
pub use onboard::{OnboardArgs, onboard};
pub use release::{ReleaseArgs, release};
