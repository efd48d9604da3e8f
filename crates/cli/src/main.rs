//! `plures-sync`: the command-line tool of the Plures Hyperswarm stack.
//!
//! Today it checks JS-recorded test vectors against the Rust implementation
//! (`plures-sync vectors check PATH...`). The local testnet, the long-running DHT node and
//! the `demo` of replicas syncing arrive with the DHT and swarm layers.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "plures-sync", version, about = "Plures Hyperswarm stack tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Test vectors recorded from the JS reference.
    Vectors {
        #[command(subcommand)]
        command: VectorsCommand,
    },
}

#[derive(Subcommand)]
enum VectorsCommand {
    /// Run vector files (or every *.json in a directory) through the Rust implementation.
    ///
    /// Prints failures, per-suite counts and a final line `N passed, N failed, N
    /// unsupported`; exits with status 1 if any vector failed.
    Check {
        /// Vector files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also list the vectors the implementation does not cover yet.
        #[arg(short, long)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Vectors {
            command: VectorsCommand::Check { paths, verbose },
        } => match plures_vectors::check_paths(&paths) {
            Ok(report) => {
                print!("{}", report.render(verbose));
                if report.total().failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}
