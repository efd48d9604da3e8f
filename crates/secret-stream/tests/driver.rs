//! The tokio driver over in-memory duplex pipes.
#![cfg(feature = "tokio")]

use std::time::Duration;

use plures_secret_stream::{Config, KeyPair, SecretStream, StreamError};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn pair(
    config: Config,
) -> (
    SecretStream<tokio::io::DuplexStream>,
    SecretStream<tokio::io::DuplexStream>,
) {
    let (a, b) = duplex(64 * 1024);
    let ka = KeyPair::from_seed([1; 32]);
    let kb = KeyPair::from_seed([2; 32]);
    let (a, b) = tokio::join!(
        SecretStream::xx_initiator(a, ka, config),
        SecretStream::xx_responder(b, kb, config)
    );
    (a.unwrap(), b.unwrap())
}

#[tokio::test]
async fn xx_over_duplex_both_directions() {
    let (a, b) = timeout(LIMIT, pair(Config::default())).await.unwrap();
    assert_eq!(a.handshake_hash(), b.handshake_hash());
    assert_eq!(
        a.remote_public_key(),
        Some(KeyPair::from_seed([2; 32]).public_key())
    );
    assert_eq!(
        b.remote_public_key(),
        Some(KeyPair::from_seed([1; 32]).public_key())
    );
    assert_eq!(a.is_initiator(), Some(true));
    assert_eq!(b.is_initiator(), Some(false));

    let up = data(3 << 20, 7);
    let down = data(1 << 20, 9);
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let (up2, down2) = (up.clone(), down.clone());
    let send_a = tokio::spawn(async move {
        aw.write_all(&up2).await.unwrap();
        aw.shutdown().await.unwrap();
        aw
    });
    let send_b = tokio::spawn(async move {
        for piece in down2.chunks(100_000) {
            bw.write_all(piece).await.unwrap();
        }
        bw.shutdown().await.unwrap();
        bw
    });
    let recv_b = tokio::spawn(async move {
        let mut got = Vec::new();
        br.read_to_end(&mut got).await.unwrap();
        got
    });
    let mut got_a = Vec::new();
    timeout(LIMIT, ar.read_to_end(&mut got_a))
        .await
        .unwrap()
        .unwrap();
    let got_b = timeout(LIMIT, recv_b).await.unwrap().unwrap();
    timeout(LIMIT, send_a).await.unwrap().unwrap();
    timeout(LIMIT, send_b).await.unwrap().unwrap();
    assert_eq!(Sha256::digest(&got_b), Sha256::digest(&up));
    assert_eq!(Sha256::digest(&got_a), Sha256::digest(&down));
}

#[tokio::test]
async fn message_boundaries_are_kept() {
    let (mut a, mut b) = timeout(LIMIT, pair(Config::default())).await.unwrap();
    a.write_all(b"one").await.unwrap();
    a.write_all(b"two!").await.unwrap();
    a.flush().await.unwrap();
    let mut buf = [0u8; 16];
    let n = timeout(LIMIT, b.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"one");
    let n = timeout(LIMIT, b.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"two!");
}

#[tokio::test(start_paused = true)]
async fn keepalives_are_sent_and_filtered() {
    let config = Config {
        keep_alive: Some(Duration::from_secs(5)),
        ..Config::default()
    };
    let (mut a, mut b) = pair(config).await;
    // Idle for 30 s of virtual time: a's reader keeps its timer running.
    let (mut buf, mut buf2) = ([0u8; 8], [0u8; 8]);
    let idle = timeout(Duration::from_secs(30), a.read(&mut buf));
    let other = timeout(Duration::from_secs(30), b.read(&mut buf2));
    let (x, y) = tokio::join!(idle, other);
    assert!(x.is_err() && y.is_err(), "no data surfaces from keepalives");
    assert!(a.session().error().is_none() && b.session().error().is_none());
    b.write_all(b"after").await.unwrap();
    let n = a.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"after");
}

#[tokio::test]
async fn tampered_byte_stream_is_an_io_error() {
    let (a_raw, mitm) = duplex(1 << 16);
    let (b_raw, mitm_b) = duplex(1 << 16);
    let ka = KeyPair::from_seed([1; 32]);
    let kb = KeyPair::from_seed([2; 32]);
    // Relay that flips one bit of the 4th frame from a to b (the first data frame).
    let relay = tokio::spawn(async move {
        let (mut mr, mut mw) = tokio::io::split(mitm);
        let (mut br, mut bw) = tokio::io::split(mitm_b);
        let back = tokio::spawn(async move { tokio::io::copy(&mut br, &mut mw).await });
        let mut all = Vec::new();
        let mut buf = vec![0u8; 4096];
        let mut sent = 0;
        loop {
            let n = mr.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            // 35 (msg1) + 67 (msg3) + 59 (header) bytes, then the data frame.
            let boundary = 35 + 67 + 59;
            if all.len() > boundary + 10 && sent <= boundary + 10 {
                all[boundary + 10] ^= 0x40;
            }
            bw.write_all(&all[sent..]).await.unwrap();
            sent = all.len();
        }
        drop(bw);
        let _ = back.await;
    });
    let (a, b) = tokio::join!(
        SecretStream::xx_initiator(a_raw, ka, Config::default()),
        SecretStream::xx_responder(b_raw, kb, Config::default())
    );
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    a.write_all(b"this frame gets tampered with").await.unwrap();
    a.flush().await.unwrap();
    let mut buf = [0u8; 64];
    let err = timeout(LIMIT, b.read(&mut buf)).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<StreamError>());
    assert!(matches!(inner, Some(StreamError::Decrypt(_))), "{err}");
    drop(a);
    drop(b);
    relay.abort();
}
