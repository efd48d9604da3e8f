//! `plures-sync`: the command-line tool of the Plures Hyperswarm stack.
//!
//! - `plures-sync vectors check PATH...`: JS-recorded test vectors against the Rust
//!   implementation;
//! - `plures-sync testnet --nodes N --port P [--host IP] [--bootstrap H:P]... [--seconds S]`:
//!   a local hyperdht network (127.0.0.1 by default) that prints its bootstrap address as
//!   one JSON line and stops when stdin closes;
//! - `plures-sync node [--bootstrap HOST:PORT]... [--port P] [--seconds S]`: one
//!   long-running dht-rpc node (default bootstrap: the public hyperdht nodes);
//! - `plures-sync demo [--replicas R] [--nodes N] [--records K] [--seconds S]`: a local
//!   hyperdht testnet plus R replicas that share a sync key, find each other on its topic
//!   and replicate until every replica holds every record;
//! - `plures-sync keygen`: a fresh sync key (64 hex digits);
//! - `plures-sync sync --key K --store FILE.redb [--bootstrap H:P]...`: one replica process
//!   (redb store, sync key, DHT discovery, replication), driven by JSON lines on stdin.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod dht;
mod sync;

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
    /// A local network of hyperdht nodes (which are dht-rpc nodes too), on 127.0.0.1 by
    /// default.
    ///
    /// The first node is a bootstrapper on --host:--port (0 = a free port), the others
    /// bootstrap from it. When all are up it prints `{"bootstrap":[{"host":H,"port":P}],
    /// "nodes":N}` on stdout, then runs until stdin closes, --seconds pass or Ctrl-C.
    /// Progress goes to stderr (RUST_LOG=info).
    ///
    /// Several hosts form one network when the later ones get `--bootstrap` of the first:
    /// `plures-sync testnet --host 10.0.0.1 --port 49737` and
    /// `plures-sync testnet --host 10.0.0.2 --port 49737 --bootstrap 10.0.0.1:49737`.
    Testnet {
        /// Number of nodes, the bootstrapper included.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=1000))]
        nodes: u16,
        /// Port of the bootstrap node (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Address every node binds to and announces.
        #[arg(long, default_value_t = std::net::Ipv4Addr::LOCALHOST)]
        host: std::net::Ipv4Addr,
        /// Nodes of another testnet to join (`HOST:PORT`; repeat or separate with commas).
        #[arg(long, value_delimiter = ',')]
        bootstrap: Vec<String>,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// One long-running dht-rpc node (adaptive: it joins routing tables only once it finds
    /// itself reachable and stable, as the reference does).
    Node {
        /// Bootstrap node, `HOST:PORT` or `SUGGESTED_IP@HOST:PORT`; repeat for more.
        /// Default: the public bootstrap nodes of the JS stack.
        #[arg(long, default_values_t = dht::PUBLIC_BOOTSTRAP.map(String::from))]
        bootstrap: Vec<String>,
        /// Server socket port (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// The whole stack on 127.0.0.1: a local hyperdht testnet plus replicas that share a
    /// fresh sync key, find each other on its topic, connect (Noise + UDX) and replicate.
    ///
    /// Progress goes to stderr; on success one JSON summary line goes to stdout and the
    /// exit status is 0; if the replicas have not converged after --seconds, status 1.
    Demo {
        /// Number of replicas.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=16))]
        replicas: u16,
        /// Number of DHT nodes in the testnet, the bootstrapper included.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=200))]
        nodes: u16,
        /// Records each replica writes.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        records: u32,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Prints a fresh random sync key (64 hex digits) for `sync --key`.
    Keygen,
    /// One replica: a redb store that replicates with every process sharing its sync key.
    ///
    /// Opens (or creates) the store, keeps the sync key in its metadata (never logged),
    /// joins the key's Hyperswarm topic through the DHT (default: the public bootstrap
    /// nodes), connects to the peers it finds (holepunching through NATs; Noise-encrypted
    /// streams) and replicates as a CRDT: both sides may write, every replica converges.
    ///
    /// Commands are JSON lines on stdin, replies and events JSON lines on stdout:
    /// `{"op":"put","collection":C,"id":I,"data":{..}}`, `{"op":"get",..}`,
    /// `{"op":"delete",..}`, `{"op":"dump"}`, `{"op":"wait",..,"data":{..}}`,
    /// `{"op":"status"}`; events `ready`, `announced`, `connection`, `peer_connected`,
    /// `sync_complete`, `peer_disconnected`, `peer_rejected`, `stopped`. It stops on stdin
    /// EOF, Ctrl-C or --seconds, with every write flushed to the store.
    ///
    /// Example (two terminals, or two machines behind NATs):
    ///
    ///   K=$(plures-sync keygen)
    ///
    ///   plures-sync sync --key "$K" --store a.redb
    ///
    ///   plures-sync sync --key "$K" --store b.redb
    ///
    /// then type `{"op":"put","collection":"notes","id":"n1","data":{"text":"hi"}}` into
    /// one and `{"op":"dump"}` into the other.
    Sync(sync::SyncArgs),
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
    // Progress at `info` unless RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        Command::Testnet {
            nodes,
            port,
            host,
            bootstrap,
            seconds,
        } => run(dht::testnet(nodes.into(), host, port, &bootstrap, seconds)),
        Command::Keygen => {
            println!("{}", sync::keygen());
            ExitCode::SUCCESS
        }
        Command::Sync(args) => {
            run(async move { sync::run(args).await.map_err(std::io::Error::other) })
        }
        Command::Node {
            bootstrap,
            port,
            seconds,
        } => run(dht::node(&bootstrap, port, seconds)),
        Command::Demo {
            replicas,
            nodes,
            records,
            seconds,
        } => {
            let args = demo::DemoArgs {
                replicas: replicas.into(),
                nodes: nodes.into(),
                records: records as usize,
                seconds,
            };
            match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(demo::run(args)),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Runs `f` on a multi-threaded runtime; an error is printed and exits with status 1.
fn run(f: impl Future<Output = std::io::Result<()>>) -> ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .and_then(|rt| rt.block_on(f));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
