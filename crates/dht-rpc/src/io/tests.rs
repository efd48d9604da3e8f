use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::*;

fn addr(i: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, i), 1000)
}

fn send(io: &mut Io<u32>, now: Instant, to: SocketAddrV4, ctx: u32, opts: SendOptions) -> u16 {
    io.send(
        now,
        to,
        Socket::Server,
        |tid| Ok(tid.to_le_bytes().to_vec()),
        ctx,
        opts,
    )
    .unwrap()
}

#[test]
fn window_spec_vector() {
    // §19.6: after 80 sends in one slot the window is full; after 4 drains it is empty.
    let mut w = Window::new(MAX_WINDOW);
    for _ in 0..80 {
        assert!(!w.is_full());
        w.add();
    }
    assert!(w.is_full());
    for _ in 0..4 {
        w.drain();
    }
    assert_eq!(w.total(), 0);
    assert!(!w.is_full());
}

#[test]
fn tids_wrap_and_skip_in_use() {
    let t0 = Instant::now();
    let mut io = Io::new(u16::MAX, MAX_WINDOW);
    let a = send(&mut io, t0, addr(1), 1, SendOptions::default());
    let b = send(&mut io, t0, addr(1), 2, SendOptions::default());
    assert_eq!((a, b), (u16::MAX, 0));
    let mut io2: Io<u32> = Io::new(7, MAX_WINDOW);
    let first = send(&mut io2, t0, addr(1), 1, SendOptions::default());
    // Force the counter back onto an occupied tid.
    io2.next_tid = first;
    assert_eq!(send(&mut io2, t0, addr(1), 2, SendOptions::default()), 8);
}

#[test]
fn retries_then_failure_at_expected_times() {
    let t0 = Instant::now();
    let mut io = Io::new(0, MAX_WINDOW);
    let tid = send(&mut io, t0, addr(1), 9, SendOptions::default());
    let mut sends = vec![];
    let mut events = vec![];
    let mut now = t0;
    let mut failed_at = None;
    loop {
        while let Some(o) = io.poll_transmit() {
            assert_eq!(o.contents, tid.to_le_bytes());
            sends.push(now - t0);
        }
        let Some(next) = io.poll_timeout() else { break };
        now = next;
        io.handle_timeout(now, &mut events);
        if failed_at.is_none() && events.len() == 2 {
            failed_at = Some(now - t0);
        }
    }
    let secs: Vec<u64> = sends.iter().map(|d| d.as_millis() as u64).collect();
    assert_eq!(secs, [0, 1000, 2000, 3000]);
    assert_eq!(
        events,
        [
            IoEvent::Slow {
                ctx: 9,
                destination: addr(1)
            },
            IoEvent::Failed {
                ctx: 9,
                destination: addr(1)
            }
        ]
    );
    assert_eq!(failed_at, Some(Duration::from_millis(4000)));
    assert!(io.is_empty());
}

#[test]
fn response_matching_by_tid_and_source() {
    let t0 = Instant::now();
    let mut io = Io::new(100, MAX_WINDOW);
    let tid = send(&mut io, t0, addr(1), 1, SendOptions::default());
    assert_eq!(io.handle_response(tid, addr(2)), None, "wrong source");
    assert_eq!(
        io.handle_response(tid.wrapping_add(1), addr(1)),
        None,
        "wrong tid"
    );
    assert_eq!(io.handle_response(tid, addr(1)), Some((1, addr(1))));
    assert_eq!(io.handle_response(tid, addr(1)), None, "only once");
    let any = SendOptions {
        any_source: true,
        ..SendOptions::default()
    };
    let tid = send(&mut io, t0, addr(1), 2, any);
    assert_eq!(io.handle_response(tid, addr(3)), Some((2, addr(1))));
}

#[test]
fn window_queues_and_drains() {
    let t0 = Instant::now();
    let mut io = Io::new(0, 2);
    for i in 0..5 {
        send(&mut io, t0, addr(i), i.into(), SendOptions::default());
    }
    let mut sent = 0;
    while io.poll_transmit().is_some() {
        sent += 1;
    }
    assert_eq!(sent, 2);
    assert_eq!(io.queued(), 3);
    let forced = SendOptions {
        force: true,
        ..SendOptions::default()
    };
    send(&mut io, t0, addr(9), 9, forced);
    assert!(io.poll_transmit().is_some(), "force bypasses the window");
    let mut events = vec![];
    io.handle_timeout(t0 + DRAIN_INTERVAL, &mut events);
    // Slot 1 is fresh, but the total (3) is one short of 2 * max = 4: one more fits.
    let mut sent = 0;
    while io.poll_transmit().is_some() {
        sent += 1;
    }
    assert_eq!(sent, 1);
    assert_eq!(io.queued(), 2);
}

#[test]
fn bounded_in_flight() {
    let t0 = Instant::now();
    let mut io: Io<u32> = Io::new(0, MAX_WINDOW);
    for i in 0..MAX_IN_FLIGHT {
        io.send(
            t0,
            addr(1),
            Socket::Server,
            |_| Ok(vec![]),
            i as u32,
            SendOptions::default(),
        )
        .unwrap();
    }
    assert_eq!(
        io.send(
            t0,
            addr(1),
            Socket::Server,
            |_| Ok(vec![]),
            0,
            SendOptions::default()
        ),
        Err(Error::Busy)
    );
}
