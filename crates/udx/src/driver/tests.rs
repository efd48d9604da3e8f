//! The driver over real loopback sockets.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::{UdxSocket, UdxStream};

const LIMIT: Duration = Duration::from_secs(60);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Byte `i` of the test pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// Two sockets with one connected stream each: (socket a, stream a, socket b, stream b).
async fn pair() -> (UdxSocket, UdxStream, UdxSocket, UdxStream) {
    let sa = UdxSocket::bind(loopback()).unwrap();
    let sb = UdxSocket::bind(loopback()).unwrap();
    let a = sa.create_stream(1).await.unwrap();
    let b = sb.create_stream(2).await.unwrap();
    a.connect(2, sb.local_addr()).await.unwrap();
    b.connect(1, sa.local_addr()).await.unwrap();
    (sa, a, sb, b)
}

#[tokio::test]
async fn bulk_transfer_with_end_and_close() {
    let (_sa, mut a, _sb, mut b) = pair().await;
    // `UDX_LOOPBACK_BYTES` for a longer run.
    let len: usize = std::env::var("UDX_LOOPBACK_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4 << 20);
    let data = pattern(len);
    let want = Sha256::digest(&data);
    let started = std::time::Instant::now();
    let writer = tokio::spawn(async move {
        a.write_all(&data).await.unwrap();
        a.shutdown().await.unwrap();
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        a.closed().await.unwrap();
    });
    let mut got = Vec::new();
    within("read to end", b.read_to_end(&mut got))
        .await
        .unwrap();
    eprintln!("loopback {len} in {:?}", started.elapsed());
    assert_eq!(got.len(), len);
    assert_eq!(Sha256::digest(&got), want);
    b.shutdown().await.unwrap();
    within("b closed", b.closed()).await.unwrap();
    within("writer", writer).await.unwrap();
    // Writing after shutdown fails.
    assert_eq!(
        b.write_all(b"x").await.unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
}

#[tokio::test]
async fn both_directions_at_once_after_split() {
    let (_sa, a, _sb, b) = pair().await;
    let len = 1 << 20;
    let run = |s: UdxStream| async move {
        let (mut r, mut w) = tokio::io::split(s);
        let send = async {
            w.write_all(&pattern(len)).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let recv = async {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            got
        };
        let ((), got) = tokio::join!(send, recv);
        assert_eq!(Sha256::digest(&got), Sha256::digest(pattern(len)));
        r.unsplit(w).closed().await.unwrap();
    };
    within("both", async { tokio::join!(run(a), run(b)) }).await;
}

#[tokio::test]
async fn messages_both_ways_and_after_split() {
    let (_sa, a, _sb, b) = pair().await;
    a.send_message(b"ping").await.unwrap();
    assert_eq!(within("ping", b.recv_message()).await.unwrap(), b"ping");
    let messages = b.messages();
    let (_r, _w) = tokio::io::split(b);
    messages.send_message(b"").await.unwrap();
    assert_eq!(within("empty", a.recv_message()).await.unwrap(), b"");
    let too_long = vec![0; 2000];
    let err = a.send_message(&too_long).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn destroy_resets_the_peer() {
    let (_sa, mut a, _sb, mut b) = pair().await;
    a.write_all(b"hello").await.unwrap();
    let mut buf = [0; 5];
    within("hello", b.read_exact(&mut buf)).await.unwrap();
    a.destroy();
    let err = within("reset", b.read(&mut buf)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    let err = b.closed().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    // The local side reports its own destroy.
    a.closed().await.unwrap();
    let err = a.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    // The id is free again.
    let _again = _sa.create_stream(1).await.unwrap();
}

#[tokio::test]
async fn dropping_an_open_stream_destroys_it() {
    let (_sa, a, _sb, mut b) = pair().await;
    a.send_message(b"x").await.unwrap();
    assert_eq!(within("x", b.recv_message()).await.unwrap(), b"x");
    drop(a);
    let mut buf = [0; 1];
    let err = within("reset", b.read(&mut buf)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn other_datagrams_pass_through_unchanged() {
    let (sa, mut a, _sb, mut b) = pair().await;
    let plain = UdpSocket::bind(loopback()).await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    // A dht-rpc request, a holepunch probe, and UDX-looking packets for no live stream.
    let mut unknown_id = vec![0xff, 0x01, 0x00, 0x00, 0xe7, 0x03, 0, 0];
    unknown_id.resize(20, 0);
    let mut long = vec![0x13; 3000];
    long[1] = 0x77;
    let sent: Vec<Vec<u8>> = vec![
        vec![0x03, 0x00, 0x01, 0x02],
        vec![0x00],
        unknown_id,
        vec![0xff, 0x01, 0x00],
        long,
    ];
    for d in &sent {
        plain.send_to(d, sa.local_addr()).await.unwrap();
    }
    // The stream keeps working meanwhile.
    b.write_all(b"still here").await.unwrap();
    let mut buf = [0; 10];
    within("stream data", a.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"still here");
    for d in &sent {
        let (got, from) = within("other", sa.recv_other()).await.unwrap();
        assert_eq!(&got, d);
        assert_eq!(from, plain_addr);
    }
    // Raw datagrams out, with and without a TTL of their own.
    sa.send_raw(plain_addr, &[0x00], Some(5)).unwrap();
    sa.send_raw(plain_addr, b"\x13rest", None).unwrap();
    let mut buf = [0; 64];
    let (n, from) = within("raw 1", plain.recv_from(&mut buf)).await.unwrap();
    assert_eq!((&buf[..n], from), (&[0x00][..], sa.local_addr()));
    let (n, _) = within("raw 2", plain.recv_from(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"\x13rest");
    // Stream packets still flow after the probe's TTL was restored.
    a.write_all(b"!").await.unwrap();
    let mut one = [0; 1];
    within("after raw", b.read_exact(&mut one)).await.unwrap();
}

#[tokio::test]
async fn create_and_connect_errors() {
    let sa = UdxSocket::bind(loopback()).unwrap();
    let a = sa.create_stream(7).await.unwrap();
    let err = sa.create_stream(7).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    let err = a.send_message(b"x").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected);
    let err = a
        .connect(1, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

/// Lets the other tasks of this (current-thread) runtime run for a while.
async fn let_others_run() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn writes_wait_for_drained() {
    let sa = UdxSocket::bind(loopback()).unwrap();
    let sb = UdxSocket::bind(loopback()).unwrap();
    let mut a = sa.create_stream(1).await.unwrap();
    a.connect(2, sb.local_addr()).await.unwrap();
    // Nobody acknowledges yet: two 256 KiB writes fill the queue past the high watermark.
    let data = pattern(1 << 20);
    within("fill", a.write_all(&data[..512 << 10]))
        .await
        .unwrap();
    let mut rest = pin!(a.write_all(&data[512 << 10..]));
    let_others_run().await;
    let first = std::future::poll_fn(|cx| Poll::Ready(rest.as_mut().poll(cx))).await;
    assert!(
        first.is_pending(),
        "a write went through above the high watermark"
    );
    // The peer appears; retransmissions are acknowledged and the writer resumes.
    let mut b = sb.create_stream(2).await.unwrap();
    b.connect(1, sa.local_addr()).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        got
    });
    within("drained", rest).await.unwrap();
    a.shutdown().await.unwrap();
    let got = within("reader", reader).await.unwrap();
    assert_eq!(Sha256::digest(&got), Sha256::digest(&data));
}

#[tokio::test]
async fn task_stops_when_every_handle_is_dropped() {
    let sa = UdxSocket::bind(loopback()).unwrap();
    let addr = sa.local_addr();
    let a = sa.create_stream(1).await.unwrap();
    let messages = a.messages();
    drop(sa);
    drop(a);
    // A handle is left: the task, and so the socket, live on.
    let_others_run().await;
    assert!(std::net::UdpSocket::bind(addr).is_err());
    drop(messages);
    within("socket freed", async {
        while std::net::UdpSocket::bind(addr).is_err() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// An echo written as soon as the data is read carries the ACK: the peer (a plain socket
/// speaking the wire format of spec §3 by hand) gets one DATA packet acking its own, and
/// no pure ACK before it.
#[tokio::test]
async fn an_echo_carries_the_ack() {
    let sa = UdxSocket::bind(loopback()).unwrap();
    let plain = UdpSocket::bind(loopback()).await.unwrap();
    let config = crate::StreamConfig::default().with_initial_seq(100);
    let mut a = sa.create_stream_with(1, config).await.unwrap();
    a.connect(2, plain.local_addr().unwrap()).await.unwrap();
    // DATA, id 1, rwnd 4 MiB, seq 0, ack 100 (nothing of ours to ack), "ping".
    let mut ping = vec![0xff, 0x01, 0x01, 0x00];
    for field in [1u32, 4 << 20, 0, 100] {
        ping.extend_from_slice(&field.to_le_bytes());
    }
    ping.extend_from_slice(b"ping");
    plain.send_to(&ping, sa.local_addr()).await.unwrap();
    let mut buf = [0; 16];
    let n = within("ping", a.read(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"ping");
    a.write_all(b"pong").await.unwrap();
    let mut datagram = [0; 64];
    let (n, _) = within("reply", plain.recv_from(&mut datagram))
        .await
        .unwrap();
    let got = &datagram[..n];
    let first = got[2];
    assert_eq!(first, 0x01, "DATA comes back first, no pure ACK");
    assert_eq!(&got[4..8], &2u32.to_le_bytes(), "id");
    assert_eq!(&got[12..16], &100u32.to_le_bytes(), "seq");
    assert_eq!(&got[16..20], &1u32.to_le_bytes(), "it acks the ping");
    assert_eq!(&got[20..], b"pong");
}

mod raw_batch;

/// hyperdht's firewall hook: a stream created with `Firewall::AcceptAll` learns the
/// source of the first datagram sent to it before `connect`, connects there, and the
/// data sent before the connect is not lost (it is acknowledged once connected).
#[tokio::test]
async fn an_accept_all_stream_binds_to_its_first_datagram() {
    use crate::{Firewall, StreamConfig};
    let sa = UdxSocket::bind(loopback()).unwrap();
    let sb = UdxSocket::bind(loopback()).unwrap();
    let config = StreamConfig::default().with_firewall(Firewall::AcceptAll);
    let mut a = sa.create_stream_with(7, config).await.unwrap();
    let mut b = sb.create_stream(9).await.unwrap();
    b.connect(7, sa.local_addr()).await.unwrap();
    within("b writes", b.write_all(b"first")).await.unwrap();

    let from = within("first datagram", a.first_datagram_source())
        .await
        .unwrap();
    assert_eq!(from, sb.local_addr());
    a.connect(9, from).await.unwrap();
    let mut got = [0u8; 5];
    within("a reads", a.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got, b"first");
    within("a writes", a.write_all(b"reply")).await.unwrap();
    within("b reads", b.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got, b"reply");
}
