//! The Rust ends (`serve`, `client`): one plures-hyperdht node per process on 127.0.0.1,
//! speaking the same little protocol as `benches/js/stack.mjs` (see there).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, NodeConfig, Stream};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Result, process_cpu};

/// Connects before the measured ones.
const WARMUP_CONNECTS: usize = 2;
/// Round trips before the measured ones.
const WARMUP_PINGS: usize = 50;
/// Ping-pong message size.
pub(crate) const PING: usize = 64;
/// Write chunk of the bulk sender.
const CHUNK: usize = 65_536;
/// How long closing a measured connection may take (outside the measurement).
const CLOSE_LIMIT: Duration = Duration::from_secs(2);

/// The node both ends use: reachable on loopback (`firewalled: false`), otherwise the
/// defaults, as the JS ends.
fn node(bootstrap: Vec<SocketAddrV4>) -> Result<HyperDhtNode> {
    let mut c = NodeConfig::new(bootstrap);
    c.host = Ipv4Addr::LOCALHOST;
    c.dht.firewalled = false;
    Ok(HyperDhtNode::bind(c)?)
}

/// The bulk payload: a 1 MiB xorshift64 block repeated (the same bytes as the JS client).
pub(crate) fn payload_block() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = Vec::with_capacity(1 << 20);
    while block.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        block.extend_from_slice(&x.to_le_bytes());
    }
    block
}

/// Serves until stdin closes.
pub(crate) async fn serve(bootstrap: Vec<SocketAddrV4>, seed: [u8; 32]) -> Result<()> {
    let node = node(bootstrap)?;
    node.ready().await?;
    let key_pair = KeyPair::from_seed(seed);
    let mut server = node.listen(key_pair.clone()).await?;
    println!(
        "{}",
        json!({ "publicKey": hex::encode(key_pair.public_key()) })
    );
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = stop_tx.send(());
    });
    loop {
        tokio::select! {
            _ = &mut stop_rx => break,
            s = server.accept() => match s {
                Some(s) => {
                    tokio::spawn(async move {
                        if let Err(e) = handle(s).await {
                            eprintln!("stack_bench serve: connection: {e}");
                        }
                    });
                }
                None => break,
            },
        }
    }
    drop(server);
    node.destroy().await;
    Ok(())
}

/// One server connection: mode `E` (echo) or `B` (bulk, hashed).
async fn handle(mut s: Stream) -> Result<()> {
    let mut buf = vec![0u8; 65_536];
    let mut mode = [0u8; 1];
    s.read_exact(&mut mode).await?;
    match mode[0] {
        b'E' => {
            s.write_all(&mode).await?;
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await?;
            }
            s.shutdown().await?;
        }
        b'B' => {
            s.write_all(&mode).await?;
            let mut len = [0u8; 8];
            s.read_exact(&mut len).await?;
            let total = u64::from_le_bytes(len);
            let mut left = total;
            let mut hash = Sha256::new();
            let mut start: Option<(Instant, f64)> = None;
            while left > 0 {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = s.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err("bulk: the client ended early".into());
                }
                start.get_or_insert_with(|| (Instant::now(), process_cpu()));
                hash.update(&buf[..n]);
                left -= n as u64;
            }
            let (secs, cpu) = start.map_or((0.0, 0.0), |(t, c)| {
                (t.elapsed().as_secs_f64(), process_cpu() - c)
            });
            s.write_all(&hash.finalize()).await?;
            s.flush().await?;
            println!(
                "{}",
                json!({ "ev": "bulk", "bytes": total, "secs": secs, "cpu": cpu })
            );
            // Wait for the client's end so the digest is not cut off.
            let _ = s.read(&mut buf).await;
        }
        other => return Err(format!("unknown mode byte {other}").into()),
    }
    Ok(())
}

/// A connection in mode `E` or `B`, open once the server echoed the mode byte.
async fn open(node: &HyperDhtNode, key: [u8; 32], mode: u8) -> Result<Stream> {
    let seed: [u8; 32] = std::array::from_fn(|_| rand_byte());
    let mut s = node.connect(key, KeyPair::from_seed(seed)).await?;
    s.write_all(&[mode]).await?;
    let mut back = [0u8; 1];
    s.read_exact(&mut back).await?;
    if back[0] != mode {
        return Err("bad mode echo".into());
    }
    Ok(s)
}

/// A byte from a process-wide xorshift seeded by the clock (fresh client key pairs).
fn rand_byte() -> u8 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    (x >> 32) as u8
}

async fn close(mut s: Stream) {
    let _ = tokio::time::timeout(CLOSE_LIMIT, s.shutdown()).await;
}

/// Runs the three measurements and returns the result line.
pub(crate) async fn client(
    bootstrap: Vec<SocketAddrV4>,
    key: [u8; 32],
    connects: usize,
    bytes: u64,
    pings: usize,
) -> Result<Value> {
    let node = node(bootstrap)?;
    node.ready().await?;

    let mut connect_ms = Vec::with_capacity(connects);
    for i in 0..WARMUP_CONNECTS + connects {
        let t0 = Instant::now();
        let s = open(&node, key, b'E').await?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        if i >= WARMUP_CONNECTS {
            connect_ms.push(ms);
        }
        close(s).await;
    }

    let mut ping_us = Vec::with_capacity(pings);
    {
        let mut s = open(&node, key, b'E').await?;
        let msg = [7u8; PING];
        let mut back = [0u8; PING];
        for i in 0..WARMUP_PINGS + pings {
            let t0 = Instant::now();
            s.write_all(&msg).await?;
            s.read_exact(&mut back).await?;
            if i >= WARMUP_PINGS {
                ping_us.push(t0.elapsed().as_secs_f64() * 1e6);
            }
        }
        close(s).await;
    }

    let mut bulk = Value::Null;
    if bytes > 0 {
        let block = payload_block();
        let mut want = Sha256::new();
        let mut off = 0u64;
        while off < bytes {
            let n = block
                .len()
                .min(usize::try_from(bytes - off).unwrap_or(usize::MAX));
            want.update(&block[..n]);
            off += n as u64;
        }
        let digest = want.finalize();
        let mut s = open(&node, key, b'B').await?;
        let t0 = Instant::now();
        let c0 = process_cpu();
        s.write_all(&bytes.to_le_bytes()).await?;
        let mut off = 0u64;
        while off < bytes {
            let o = (off % block.len() as u64) as usize;
            let n = CHUNK
                .min(block.len() - o)
                .min(usize::try_from(bytes - off).unwrap_or(usize::MAX));
            s.write_all(&block[o..o + n]).await?;
            off += n as u64;
        }
        s.flush().await?;
        let mut got = [0u8; 32];
        s.read_exact(&mut got).await?;
        let secs = t0.elapsed().as_secs_f64();
        let cpu = process_cpu() - c0;
        bulk = json!({ "bytes": bytes, "secs": secs, "cpu": cpu, "ok": got[..] == digest[..] });
        close(s).await;
    }

    node.destroy().await;
    Ok(json!({ "connect_ms": connect_ms, "ping_us": ping_us, "bulk": bulk }))
}
