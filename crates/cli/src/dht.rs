//! `plures-sync testnet` (hyperdht nodes) and `plures-sync node` (a dht-rpc node) on tokio.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::time::Duration;

use plures_dht_rpc::driver::{DhtNode, NodeConfig};
use plures_hyperdht::driver::{HyperDhtNode, NodeConfig as HyperNodeConfig};
use tokio::sync::oneshot;
use tracing::{info, warn};

/// The public bootstrap nodes of the JS stack (hyperdht's default list):
/// `suggestedIP@hostname:port`.
pub(crate) const PUBLIC_BOOTSTRAP: [&str; 3] = [
    "88.99.3.86@node1.hyperdht.org:49737",
    "142.93.90.113@node2.hyperdht.org:49737",
    "138.68.147.8@node3.hyperdht.org:49737",
];

/// How long a testnet may take to come up.
const STARTUP: Duration = Duration::from_secs(60);

/// Resolves `host:port` or `suggestedIP@host:port`. The suggested IP is used as is (the
/// reference first PINGs it and falls back to DNS; this tool does not probe).
pub(crate) fn resolve(entry: &str) -> io::Result<SocketAddrV4> {
    let (suggested, rest) = match entry.split_once('@') {
        Some((ip, rest)) => (Some(ip), rest),
        None => (None, entry),
    };
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("no port in {entry}"))
    })?;
    let port: u16 = port
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad port in {entry}")))?;
    if let Some(ip) = suggested.and_then(|ip| ip.parse::<Ipv4Addr>().ok()) {
        return Ok(SocketAddrV4::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()?
        .find_map(|a| match a {
            SocketAddr::V4(a) => Some(a),
            SocketAddr::V6(_) => None,
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no IPv4 address for {entry}"),
            )
        })
}

/// Resolves when stdin reaches end of file (or fails). The reader is a plain thread, so a
/// pending read never holds up the runtime's shutdown.
fn stdin_closed() -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        let _ = tx.send(());
    });
    rx
}

async fn deadline(seconds: Option<u64>) {
    match seconds {
        Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
        None => std::future::pending().await,
    }
}

/// A local DHT of `nodes` hyperdht nodes on `host`: a bootstrapper on `port` (0 = free
/// port; it joins `bootstrap` when given) and `nodes - 1` persistent nodes. Prints one
/// JSON line with the bootstrap address once all are bootstrapped, then runs until stdin
/// closes, `seconds` pass or Ctrl-C.
pub(crate) async fn testnet(
    nodes: usize,
    host: Ipv4Addr,
    port: u16,
    bootstrap: &[String],
    seconds: Option<u64>,
) -> io::Result<()> {
    let closed = stdin_closed();
    let join = bootstrap
        .iter()
        .filter(|e| !e.is_empty())
        .map(|e| resolve(e))
        .collect::<io::Result<Vec<_>>>()?;
    let mut config = HyperNodeConfig::bootstrapper(host, port);
    config.dht.bootstrap = join;
    let boot = HyperDhtNode::bind(config)?;
    let boot_addr = boot.server_addr();
    info!(%boot_addr, "bootstrap node listening");
    let mut all = vec![boot];
    for _ in 1..nodes {
        all.push(HyperDhtNode::bind(HyperNodeConfig::persistent(
            host,
            0,
            vec![boot_addr],
        ))?);
    }
    let up = async {
        for (i, node) in all.iter().enumerate() {
            let s = node.wait_status(|s| s.bootstrapped && s.persistent).await?;
            info!(node = i, addr = %node.server_addr(), table = s.table_size, "bootstrapped");
        }
        io::Result::Ok(())
    };
    tokio::time::timeout(STARTUP, up)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "testnet did not bootstrap"))??;
    info!(nodes, "testnet up");
    let line = serde_json::json!({
        "bootstrap": [{"host": host.to_string(), "port": boot_addr.port()}],
        "nodes": nodes,
    });
    println!("{line}");

    tokio::select! {
        _ = closed => info!("stdin closed"),
        () = deadline(seconds) => info!("deadline reached"),
        r = tokio::signal::ctrl_c() => { r?; info!("interrupted") }
    }
    for node in all {
        node.destroy().await;
    }
    info!("testnet stopped");
    Ok(())
}

/// One node bootstrapped from `bootstrap`, on `port` of all interfaces, until `seconds`
/// pass or Ctrl-C. Logs its status every 30 s.
pub(crate) async fn node(bootstrap: &[String], port: u16, seconds: Option<u64>) -> io::Result<()> {
    let mut peers = Vec::new();
    for entry in bootstrap {
        match resolve(entry) {
            Ok(a) => peers.push(a),
            Err(e) => warn!(%entry, error = %e, "skipping bootstrap entry"),
        }
    }
    if peers.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no usable bootstrap node",
        ));
    }
    let mut config = NodeConfig::new(peers);
    config.port = port;
    let node = DhtNode::bind(config)?;
    info!(server = %node.server_addr(), client = %node.client_addr(), "node listening");
    let run = async {
        node.bootstrapped().await?;
        let s = node.status();
        info!(
            table = s.table_size,
            persistent = s.persistent,
            firewalled = s.firewalled,
            "bootstrapped"
        );
        let mut every = tokio::time::interval(Duration::from_secs(30));
        every.tick().await;
        loop {
            every.tick().await;
            let s = node.status();
            info!(table = s.table_size, persistent = s.persistent, firewalled = s.firewalled, id = %s.id, "status");
        }
        #[allow(unreachable_code)]
        io::Result::Ok(())
    };
    tokio::select! {
        r = run => r?,
        () = deadline(seconds) => info!("deadline reached"),
        r = tokio::signal::ctrl_c() => { r?; info!("interrupted") }
    }
    node.destroy().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_literal_and_suggested_entries() {
        assert_eq!(
            resolve("127.0.0.1:49737").unwrap(),
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 49737)
        );
        assert_eq!(
            resolve(PUBLIC_BOOTSTRAP[0]).unwrap(),
            SocketAddrV4::new(Ipv4Addr::new(88, 99, 3, 86), 49737)
        );
        assert!(resolve("127.0.0.1").is_err());
        assert!(resolve("127.0.0.1:x").is_err());
    }
}
