//! `classhub-bench`: seeds classhub, drives it with `wrk` (closed loop) and `oha` (fixed
//! rate), and compares every figure with a bare axum server answering the same path with a
//! body of the same size. `scripts/bench.sh` builds everything in release mode and runs it.

mod ceiling;
mod client;
mod load;
mod run;
mod seed;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "classhub-bench", about = "Benchmarks classhub against a bare axum ceiling")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The bare ceiling: answers GET and PATCH /partner/{p}/classes/{c} with a fixed body.
    Ceiling {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Size of the fixed JSON body in bytes.
        #[arg(long, default_value_t = 600)]
        body_bytes: usize,
    },
    /// Seed, start classhub, run every scenario on each engine and print the tables.
    Run(run::RunArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Ceiling { listen, body_bytes } => ceiling::serve(&listen, body_bytes).await,
            Command::Run(args) => run::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("classhub-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Where the release binaries live: next to this one.
fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join(name))).unwrap_or_else(|| PathBuf::from(name))
}
