//! The `s3-yara-scan` binary: the Lambda function when `AWS_LAMBDA_RUNTIME_API` is set, a
//! local command line otherwise (`scan` files, `handle` an SQS event file, `decode` one, list
//! `rules`, print the `contract`, go through a bucket's existing objects: `backlog`), or the
//! long-running agent (`poll` a queue, on ECS or EC2). Parses, sets up logging and
//! dispatches: the commands are in `cli/`, the function in the library (`lambda`).

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;

mod cli;

#[derive(Parser)]
#[command(version, about = "Scan S3 objects (or local files) with YARA-X rules")]
struct Cli {
    #[command(subcommand)]
    command: cli::Command,
}

fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda();
    }
    let cli = Cli::parse();
    init_logging(cli.command.default_log_level());
    cli::run(cli.command).unwrap_or_else(|e| {
        // A reader that stopped reading (`| head`) is no error of ours.
        let broken_pipe = e
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
        if broken_pipe {
            return ExitCode::SUCCESS;
        }
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

/// The Lambda function, with the runtime's logging, until the runtime stops.
fn lambda() -> ExitCode {
    let served = cli::runtime().and_then(|runtime| {
        runtime.block_on(async {
            lambda_runtime::tracing::init_default_subscriber();
            Ok(s3_yara_scan::lambda::serve().await?)
        })
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "start-up failed");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Text logs on stderr, at `RUST_LOG`'s level (by default `level`, without the SDK's noise
/// that `store::QUIET_SDK_LOGS` names).
fn init_logging(level: &str) {
    let level = format!("{level},{}", s3_yara_scan::store::QUIET_SDK_LOGS);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in files or the agent's log stream.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .init();
}
