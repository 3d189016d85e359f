//! The command line: one file per group of commands, each owning its arguments (their help is
//! the doc comment of its arguments' struct) and running them; [`run`] dispatches.

mod agents;
mod contract;
mod events;
mod feeds;
mod local;
mod onboard;
mod release;

use std::process::ExitCode;

use anyhow::Context as _;

/// The subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    Backlog(agents::BacklogArgs),
    Scan(local::ScanArgs),
    Handle(events::HandleArgs),
    Poll(agents::PollArgs),
    Onboard(onboard::OnboardArgs),
    Decode(events::DecodeArgs),
    Feeds(feeds::FeedsArgs),
    Release(release::ReleaseArgs),
    Rules(local::RulesArgs),
    Contract(contract::ContractArgs),
}

impl Command {
    /// The level of logs when `RUST_LOG` says none.
    pub fn default_log_level(&self) -> &'static str {
        // A backlog's one line per object would bury its progress: only the loud ones by
        // default (infected, unscannable, failed); RUST_LOG=info brings them all back.
        match self {
            Command::Backlog(_) => "warn",
            _ => "info",
        }
    }
}

/// Runs one subcommand; the exit code when it has one of its own.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Backlog(args) => agents::backlog(args),
        Command::Scan(args) => local::scan(args),
        Command::Handle(args) => events::handle(args),
        Command::Poll(args) => agents::run_poll(args),
        Command::Onboard(args) => onboard::onboard(args),
        Command::Release(args) => release::release(args),
        Command::Decode(args) => events::decode(args),
        Command::Feeds(args) => feeds::feeds(args),
        Command::Rules(args) => local::rules(args),
        Command::Contract(args) => contract::contract(args),
    }
}

/// The runtime of the function and of `handle`: one thread for all the I/O, scans and archive
/// inspection on the blocking pool. Measured with scripts/cost.py (BENCHMARKS.md): 15-20% less
/// CPU per object than the multi-threaded runtime, whose workers wake, search and steal for
/// every ready request; below 1,769 MB a function has less than one vCPU for them anyway.
/// (`poll` and `backlog`, long runs on machines of several vCPUs, keep the multi-threaded one.)
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
