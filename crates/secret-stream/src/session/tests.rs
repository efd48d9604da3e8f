use super::*;
use crate::secretstream::SecretStreamError;

fn random(b: u8) -> Random {
    Random {
        header: [b; HEADER_LEN],
        send_counter: [b; 8],
    }
}

fn xx(init: bool, b: u8) -> Start {
    let static_key = KeyPair::from_seed([b; 32]);
    let ephemeral = KeyPair::from_seed([b + 100; 32]);
    if init {
        Start::XxInitiator {
            static_key,
            ephemeral,
        }
    } else {
        Start::XxResponder {
            static_key,
            ephemeral,
        }
    }
}

/// Moves bytes both ways until neither side has anything to send.
fn pump(a: &mut Session, b: &mut Session, now: Instant) {
    loop {
        let mut moved = false;
        if let Some(bytes) = a.poll_transmit() {
            b.handle_input(now, &bytes).unwrap();
            moved = true;
        }
        if let Some(bytes) = b.poll_transmit() {
            a.handle_input(now, &bytes).unwrap();
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn open_pair(config: Config) -> (Session, Session, Instant) {
    let now = Instant::now();
    let mut a = Session::new(xx(true, 1), random(1), config, now).unwrap();
    let mut b = Session::new(xx(false, 2), random(2), config, now).unwrap();
    pump(&mut a, &mut b, now);
    assert_eq!(events(&mut a), [Event::Handshake, Event::Open]);
    assert_eq!(events(&mut b), [Event::Handshake, Event::Open]);
    (a, b, now)
}

#[test]
fn xx_pair_agrees_and_carries_data() {
    let (mut a, mut b, now) = open_pair(Config::default());
    assert_eq!(a.handshake_hash(), b.handshake_hash());
    assert_eq!(a.remote_public_key(), b.public_key());
    assert_eq!(b.remote_public_key(), a.public_key());
    assert_eq!(a.is_initiator(), Some(true));
    assert_eq!(b.is_initiator(), Some(false));
    a.send(now, b"hello").unwrap();
    a.send(now, b"").unwrap();
    b.send(now, b"world").unwrap();
    pump(&mut a, &mut b, now);
    assert_eq!(
        events(&mut b),
        [Event::Data(b"hello".to_vec()), Event::Data(Vec::new())]
    );
    assert_eq!(events(&mut a), [Event::Data(b"world".to_vec())]);
}

#[test]
fn xx_frame_sizes_match_the_reference() {
    let now = Instant::now();
    let mut a = Session::new(xx(true, 1), random(1), Config::default(), now).unwrap();
    let mut b = Session::new(xx(false, 2), random(2), Config::default(), now).unwrap();
    let m1 = a.poll_transmit().unwrap();
    assert_eq!(m1.len(), 35);
    assert_eq!(m1[..3], [0x20, 0, 0]);
    b.handle_input(now, &m1).unwrap();
    let m2 = b.poll_transmit().unwrap();
    assert_eq!(m2.len(), 99);
    assert_eq!(m2[..3], [0x60, 0, 0]);
    a.handle_input(now, &m2).unwrap();
    let m3 = a.poll_transmit().unwrap();
    assert_eq!(m3.len(), 67 + 59);
    assert_eq!(m3[..3], [0x40, 0, 0]);
    assert_eq!(m3[67..70], [0x38, 0, 0]);
}

#[test]
fn writes_before_the_handshake_are_queued() {
    let now = Instant::now();
    let mut a = Session::new(xx(true, 1), random(1), Config::default(), now).unwrap();
    let mut b = Session::new(xx(false, 2), random(2), Config::default(), now).unwrap();
    a.send(now, b"early").unwrap();
    b.send(now, b"early too").unwrap();
    pump(&mut a, &mut b, now);
    assert!(events(&mut b).contains(&Event::Data(b"early".to_vec())));
    assert!(events(&mut a).contains(&Event::Data(b"early too".to_vec())));
}

#[test]
fn keepalive_fires_after_idle_and_is_filtered() {
    let config = Config {
        keep_alive: Some(Duration::from_secs(5)),
        ..Config::default()
    };
    let (mut a, mut b, now) = open_pair(config);
    let deadline = a.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_secs(5));
    a.handle_timeout(now + Duration::from_secs(4));
    assert!(a.poll_transmit().is_none());
    a.send(now + Duration::from_secs(4), b"x").unwrap();
    assert_eq!(a.poll_timeout(), Some(now + Duration::from_secs(9)));
    pump(&mut a, &mut b, now);
    a.handle_timeout(now + Duration::from_secs(9));
    let ka = a.poll_transmit().unwrap();
    assert_eq!(ka.len(), 20);
    assert_eq!(ka[..3], [0x11, 0, 0]);
    b.handle_input(now, &ka).unwrap();
    assert_eq!(events(&mut b), [Event::Data(b"x".to_vec())]);
    a.close();
    assert_eq!(a.poll_timeout(), None);
}

/// A pair started from made-up handshake keys (cheap: no DH).
fn keyed_pair() -> (Session, Session, Instant) {
    let now = Instant::now();
    let keys = |init: bool| Keys {
        tx: [u8::from(init); 32],
        rx: [u8::from(!init); 32],
        handshake_hash: [7; 64],
        is_initiator: init,
        public_key: [0; 32],
        remote_public_key: [0; 32],
    };
    let new = |init, r| {
        Session::new(
            Start::Handshake(keys(init)),
            random(r),
            Config::default(),
            now,
        )
        .unwrap()
    };
    let (mut a, mut b) = (new(true, 5), new(false, 6));
    pump(&mut a, &mut b, now);
    events(&mut a);
    events(&mut b);
    (a, b, now)
}

#[test]
fn every_flipped_bit_destroys_without_plaintext() {
    let (mut a, _b, now) = keyed_pair();
    a.send(now, b"secret").unwrap();
    let frame = a.poll_transmit().unwrap();
    for i in 0..frame.len() * 8 {
        let (_a2, mut b2, _) = keyed_pair();
        let mut bad = frame.clone();
        bad[i / 8] ^= 1 << (i % 8);
        let r = b2.handle_input(now, &bad).and_then(|()| b2.handle_eof());
        assert!(r.is_err(), "bit {i}");
        assert!(b2.error().is_some());
        assert_eq!(events(&mut b2), []);
        assert_eq!(b2.send(now, b"x"), Err(b2.error().unwrap()));
    }
}

#[test]
fn replayed_and_truncated_frames_fail() {
    let (mut a, mut b, now) = open_pair(Config::default());
    a.send(now, b"once").unwrap();
    let frame = a.poll_transmit().unwrap();
    b.handle_input(now, &frame).unwrap();
    assert_eq!(
        b.handle_input(now, &frame),
        Err(StreamError::Decrypt(SecretStreamError::Mac))
    );
    assert_eq!(events(&mut b), [Event::Data(b"once".to_vec())]);

    let (mut a, mut b, now) = open_pair(Config::default());
    a.send(now, b"cut short").unwrap();
    let frame = a.poll_transmit().unwrap();
    b.handle_input(now, &frame[..frame.len() - 1]).unwrap();
    assert_eq!(b.handle_eof(), Err(StreamError::Truncated));
    assert_eq!(events(&mut b), []);
}

#[test]
fn short_and_oversized_frames_fail() {
    let (_a, mut b, now) = open_pair(Config::default());
    assert_eq!(
        b.handle_input(now, &[0, 0, 0]),
        Err(StreamError::MessageTooShort(0))
    );
    let config = Config {
        max_frame_len: 1000,
        ..Config::default()
    };
    let (_a, mut b, now) = open_pair(config);
    assert_eq!(
        b.handle_input(now, &len_prefix(1001)),
        Err(StreamError::FrameTooLarge {
            len: 1001,
            limit: 1000
        })
    );
    let (mut a, _b, now) = open_pair(Config::default());
    assert_eq!(
        a.send(now, &vec![0; MAX_WRITE + 1]),
        Err(StreamError::WriteTooLarge(MAX_WRITE + 1))
    );
    assert!(a.error().is_none());
}

#[test]
fn header_checks() {
    let keys = |init: bool| Keys {
        tx: [if init { 1 } else { 2 }; 32],
        rx: [if init { 2 } else { 1 }; 32],
        handshake_hash: [7; 64],
        is_initiator: init,
        public_key: [0; 32],
        remote_public_key: [0; 32],
    };
    let now = Instant::now();
    let new = |init| {
        Session::new(
            Start::Handshake(keys(init)),
            random(3),
            Config::default(),
            now,
        )
        .unwrap()
    };
    let mut a = new(true);
    let header = a.poll_transmit().unwrap();
    assert_eq!(header.len(), 59);
    for (bytes, want) in [
        (&header[..58], StreamError::InvalidHeaderLength(55)),
        (&[0u8, 0, 0][..], StreamError::InvalidHeaderLength(0)),
    ] {
        let mut b = new(false);
        let mut f = bytes.to_vec();
        let n = f.len() - 3;
        f[..3].copy_from_slice(&len_prefix(n));
        assert_eq!(b.handle_input(now, &f), Err(want));
    }
    let mut long = header.clone();
    long.push(0);
    long[..3].copy_from_slice(&len_prefix(57));
    assert_eq!(
        new(false).handle_input(now, &long),
        Err(StreamError::InvalidHeaderLength(57))
    );
    // The initiator's own id is not what the initiator expects from its peer.
    assert_eq!(
        new(true).handle_input(now, &header),
        Err(StreamError::InvalidStreamId)
    );
    // Other handshake keys: other hash, other id.
    let mut other = keys(false);
    other.handshake_hash[0] ^= 1;
    let mut b = Session::new(Start::Handshake(other), random(4), Config::default(), now).unwrap();
    assert_eq!(
        b.handle_input(now, &header),
        Err(StreamError::InvalidStreamId)
    );
    // Same hash, wrong receive key: the first data frame fails.
    let mut wrong = keys(false);
    wrong.rx = [9; 32];
    let mut b = Session::new(Start::Handshake(wrong), random(4), Config::default(), now).unwrap();
    b.handle_input(now, &header).unwrap();
    a.send(now, b"hi").unwrap();
    let data = a.poll_transmit().unwrap();
    assert_eq!(
        b.handle_input(now, &data),
        Err(StreamError::Decrypt(SecretStreamError::Mac))
    );
}

#[test]
fn garbage_handshake_fails() {
    let now = Instant::now();
    let mut b = Session::new(xx(false, 2), random(2), Config::default(), now).unwrap();
    assert!(matches!(
        b.handle_input(now, &[5, 0, 0, 1, 2, 3, 4, 5]),
        Err(StreamError::Handshake(_))
    ));
    let mut a = Session::new(xx(true, 1), random(1), Config::default(), now).unwrap();
    let mut msg2 = vec![0x60, 0, 0];
    msg2.extend_from_slice(&[0x55; 96]);
    assert!(matches!(
        a.handle_input(now, &msg2),
        Err(StreamError::Handshake(_))
    ));
    assert_eq!(a.poll_transmit(), None);
}

#[test]
fn eof_rules() {
    let now = Instant::now();
    let mut b = Session::new(xx(false, 2), random(2), Config::default(), now).unwrap();
    assert_eq!(b.handle_eof(), Err(StreamError::UnexpectedEof));
    let (_a, mut b, _) = open_pair(Config::default());
    b.handle_eof().unwrap();
    assert_eq!(events(&mut b), [Event::End]);
}

#[test]
fn datagrams_both_ways() {
    let (mut a, mut b, _) = open_pair(Config::default());
    let e1 = a.send_datagram(b"ping").unwrap();
    let e2 = a.send_datagram(b"ping").unwrap();
    assert_eq!(e1.len(), 28);
    assert_ne!(e1, e2);
    assert!(b.handle_datagram(&e1));
    let mut bad = e2.clone();
    bad[10] ^= 1;
    assert!(!b.handle_datagram(&bad));
    assert!(!b.handle_datagram(&e2[..23]));
    assert!(!a.handle_datagram(&e2));
    assert!(b.handle_datagram(&e2));
    let back = b.send_datagram(b"pong").unwrap();
    assert!(a.handle_datagram(&back));
    assert_eq!(
        events(&mut b),
        [
            Event::Message(b"ping".to_vec()),
            Event::Message(b"ping".to_vec())
        ]
    );
    assert_eq!(events(&mut a), [Event::Message(b"pong".to_vec())]);
}

#[test]
fn datagram_counter_exhaustion() {
    let now = Instant::now();
    let mut r = random(1);
    r.send_counter = u64::MAX.to_le_bytes();
    let mut a = Session::new(xx(true, 1), r, Config::default(), now).unwrap();
    assert_eq!(a.send_datagram(b"x"), Err(StreamError::NotOpen));
    let mut b = Session::new(xx(false, 2), random(2), Config::default(), now).unwrap();
    pump(&mut a, &mut b, now);
    let env = a.send_datagram(b"x").unwrap();
    assert_eq!(env[..8], [0; 8]);
}
