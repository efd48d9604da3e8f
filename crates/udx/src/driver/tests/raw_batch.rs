//! [`UdxSocket::send_raw_batch`] and [`UdxSocket::recv_other_batch`] against plain UDP
//! sockets.

use super::{UdpSocket, UdxSocket, loopback, within};

/// Non-UDX datagram `i` (UDX headers start with 0xff; these never do).
fn datagram(i: u8, len: usize) -> Vec<u8> {
    let mut d = vec![i; len];
    d[0] = 0x13;
    d
}

#[tokio::test]
async fn a_raw_batch_reaches_each_destination_unchanged_and_in_order() {
    let udx = UdxSocket::bind(loopback()).unwrap();
    let p1 = UdpSocket::bind(loopback()).await.unwrap();
    let p2 = UdpSocket::bind(loopback()).await.unwrap();
    let (a1, a2) = (p1.local_addr().unwrap(), p2.local_addr().unwrap());
    // Runs of equal-sized datagrams to one destination (GSO candidates), a shorter and a
    // longer one inside a run, and destinations interleaved.
    let mut batch = Vec::new();
    for i in 0..60u8 {
        let to = if i % 7 == 3 { a2 } else { a1 };
        let len = match i {
            20 => 9,
            21 => 900,
            _ => 120,
        };
        batch.push((to, datagram(i, len)));
    }
    udx.send_raw_batch(batch.clone()).unwrap();
    for (plain, addr) in [(&p1, a1), (&p2, a2)] {
        let mut buf = vec![0u8; 2048];
        for (to, want) in batch.iter().filter(|(to, _)| *to == addr) {
            assert_eq!(*to, addr);
            let (n, from) = within("raw datagram", plain.recv_from(&mut buf))
                .await
                .unwrap();
            assert_eq!(from, udx.local_addr());
            assert_eq!(&buf[..n], &want[..]);
        }
    }
}

#[tokio::test]
async fn recv_other_batch_takes_what_waits_in_order_and_at_most_limit() {
    let udx = UdxSocket::bind(loopback()).unwrap();
    let plain = UdpSocket::bind(loopback()).await.unwrap();
    let sent: Vec<Vec<u8>> = (0..50u8)
        .map(|i| datagram(i, 40 + usize::from(i)))
        .collect();
    for d in &sent {
        plain.send_to(d, udx.local_addr()).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let before = got.len();
        let n = within("other batch", udx.recv_other_batch(&mut got, 7))
            .await
            .unwrap();
        assert!((1..=7).contains(&n), "{n} datagrams for a limit of 7");
        assert_eq!(got.len(), before + n);
    }
    for ((d, from), want) in got.iter().zip(&sent) {
        assert_eq!(*from, plain.local_addr().unwrap());
        assert_eq!(d, want);
    }
    // A limit of 0 is taken as 1.
    plain.send_to(&sent[0], udx.local_addr()).await.unwrap();
    let mut one = Vec::new();
    let n = within("limit 0", udx.recv_other_batch(&mut one, 0))
        .await
        .unwrap();
    assert_eq!((n, one.len()), (1, 1));
    assert_eq!(one[0].0, sent[0]);
}

#[tokio::test]
async fn recv_others_hands_up_every_waiting_datagram_in_order_with_its_source() {
    let udx = UdxSocket::bind(loopback()).unwrap();
    let p1 = UdpSocket::bind(loopback()).await.unwrap();
    let p2 = UdpSocket::bind(loopback()).await.unwrap();
    // Two senders, lengths that differ, more than one receive call's worth (16 slots).
    let mut sent = Vec::new();
    for i in 0..70u8 {
        let from = if i % 3 == 0 { &p2 } else { &p1 };
        let d = datagram(i, 30 + usize::from(i) * 7);
        from.send_to(&d, udx.local_addr()).await.unwrap();
        sent.push((d, from.local_addr().unwrap()));
    }
    let (mut bytes, mut datagrams) = (Vec::new(), Vec::new());
    let mut got = Vec::new();
    let mut calls = 0;
    while got.len() < sent.len() {
        // Every other call appends to vectors that already hold datagrams (the copy path);
        // the others start empty (the buffer is taken over).
        if calls % 2 == 0 {
            bytes.clear();
            datagrams.clear();
        }
        let before = datagrams.len();
        let n = within("others", udx.recv_others(&mut bytes, &mut datagrams))
            .await
            .unwrap();
        assert!(n >= 1);
        assert_eq!(datagrams.len(), before + n);
        for (range, from) in &datagrams[before..] {
            got.push((bytes[range.clone()].to_vec(), *from));
        }
        calls += 1;
    }
    assert_eq!(got, sent);
    // The socket still reads after all that: a late datagram arrives.
    p1.send_to(&sent[5].0, udx.local_addr()).await.unwrap();
    bytes.clear();
    datagrams.clear();
    let n = within("late", udx.recv_others(&mut bytes, &mut datagrams))
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(&bytes[datagrams[0].0.clone()], &sent[5].0[..]);
    // And the one-at-a-time path shares the queue.
    p2.send_to(&sent[6].0, udx.local_addr()).await.unwrap();
    let (d, from) = within("other", udx.recv_other()).await.unwrap();
    assert_eq!((d, from), (sent[6].0.clone(), p2.local_addr().unwrap()));
}
