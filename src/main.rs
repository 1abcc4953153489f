//! The `switchboard` binary: parse the command line and run it.

use clap::Parser;

/// mimalloc keeps freed tensor buffers for reuse instead of returning them to the
/// kernel after every op, which the model's forward pass otherwise pays for in page faults.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    switchboard::telemetry::init();
    match switchboard::cli::Cli::parse().run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
