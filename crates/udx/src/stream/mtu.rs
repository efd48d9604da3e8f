//! MTU probing (`shared/spec/udx.md` §9, RFC 8899-style DPLPMTUD): ordinary DATA
//! packets are padded (`doff`) up to a probe size; an acknowledged probe raises the
//! MTU, a lost one is retransmitted without padding and counts as a failure.
//!
//! Sizes are IP packet sizes (IP + UDP + UDX header + padding + payload).

/// The MTU every stream starts with (`UDX_MTU_BASE`).
pub(crate) const MTU_BASE: usize = 1200;
/// The largest MTU searched for (`UDX_MTU_MAX`); the OS path MTU is not queried, which
/// the spec allows ("unavailable → 1500").
pub(crate) const MTU_MAX: usize = 1500;
/// How much each acknowledged probe raises the target (`UDX_MTU_STEP`).
const MTU_STEP: usize = 32;
/// Consecutive lost probes that end the search (`UDX_MTU_MAX_PROBES`).
const MAX_FAILURES: u32 = 3;

/// Where the search stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing acknowledged yet: no probes.
    Base,
    Search,
    /// Done (or disabled): the MTU stays where it is.
    Complete,
}

/// One stream's MTU search.
#[derive(Debug, Clone)]
pub(crate) struct MtuSearch {
    state: State,
    mtu: usize,
    target: usize,
    /// The seq of the probe in flight.
    probe: Option<u32>,
    failures: u32,
}

impl MtuSearch {
    pub(crate) const fn new(enabled: bool) -> Self {
        Self {
            state: if enabled {
                State::Base
            } else {
                State::Complete
            },
            mtu: MTU_BASE,
            target: MTU_BASE,
            probe: None,
            failures: 0,
        }
    }

    /// The confirmed MTU.
    pub(crate) const fn mtu(&self) -> usize {
        self.mtu
    }

    /// The search starts with the first acknowledgement of data.
    pub(crate) fn on_first_ack(&mut self) {
        if self.state == State::Base {
            self.state = State::Search;
        }
    }

    /// The padding that turns a fresh DATA packet of `ip_len` bytes into the next probe,
    /// if one is due and the padding fits the `doff` byte.
    pub(crate) fn padding_for(&self, ip_len: usize) -> Option<u8> {
        if self.state != State::Search || self.probe.is_some() {
            return None;
        }
        let padding = self.target.checked_sub(ip_len)?;
        u8::try_from(padding).ok()
    }

    /// A packet with seq `seq` left as the probe.
    pub(crate) fn on_probe_sent(&mut self, seq: u32) {
        self.probe = Some(seq);
    }

    /// Packet `seq` was acknowledged; `retransmitted` makes the ack ambiguous, which
    /// counts as a failure for a probe.
    pub(crate) fn on_acked(&mut self, seq: u32, retransmitted: bool) {
        if self.probe != Some(seq) {
            return;
        }
        if retransmitted {
            self.on_lost(seq);
            return;
        }
        self.probe = None;
        self.failures = 0;
        self.mtu = self.target;
        if self.mtu >= MTU_MAX {
            self.state = State::Complete;
        } else {
            self.target = (self.target + MTU_STEP).min(MTU_MAX);
        }
    }

    /// Packet `seq` was declared lost; returns whether it was the probe (whose loss says
    /// nothing about congestion).
    pub(crate) fn on_lost(&mut self, seq: u32) -> bool {
        if self.probe != Some(seq) {
            return false;
        }
        self.probe = None;
        self.failures += 1;
        if self.failures >= MAX_FAILURES {
            self.state = State::Complete;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the search against a path that carries IP packets up to `path` bytes, with
    /// full packets at the current MTU; returns the final MTU and the probe sizes sent.
    fn search(path: usize) -> (usize, Vec<usize>) {
        let mut m = MtuSearch::new(true);
        assert_eq!(m.padding_for(1200), None, "no probe before the first ack");
        m.on_first_ack();
        let mut sizes = Vec::new();
        for seq in 0..100u32 {
            let ip_len = m.mtu();
            let Some(padding) = m.padding_for(ip_len) else {
                break;
            };
            let size = ip_len + usize::from(padding);
            sizes.push(size);
            m.on_probe_sent(seq);
            if size <= path {
                m.on_acked(seq, false);
            } else {
                assert!(m.on_lost(seq));
            }
        }
        (m.mtu(), sizes)
    }

    #[test]
    fn climbs_to_1500_in_steps_of_32() {
        let (mtu, sizes) = search(1500);
        assert_eq!(mtu, 1500);
        let mut want: Vec<usize> = (1200..1500).step_by(32).collect();
        want.push(1500);
        assert_eq!(sizes, want);
    }

    #[test]
    fn three_failures_stop_below_the_path_mtu() {
        let (mtu, sizes) = search(1300);
        assert_eq!(mtu, 1296);
        assert_eq!(&sizes[sizes.len() - 3..], &[1328, 1328, 1328]);
    }

    #[test]
    fn disabled_never_probes() {
        let mut m = MtuSearch::new(false);
        m.on_first_ack();
        assert_eq!(m.padding_for(1100), None);
        assert_eq!(m.mtu(), MTU_BASE);
    }

    #[test]
    fn one_probe_at_a_time_and_padding_fits_a_byte() {
        let mut m = MtuSearch::new(true);
        m.on_first_ack();
        // Confirm the base, then the target is 1232.
        m.on_probe_sent(1);
        m.on_acked(1, false);
        assert_eq!(m.padding_for(1200), Some(32));
        assert_eq!(m.padding_for(900), None, "would need more than 255 bytes");
        assert_eq!(m.padding_for(1300), None, "already larger than the target");
        m.on_probe_sent(2);
        assert_eq!(m.padding_for(1200), None);
        // Another packet's fate changes nothing.
        m.on_acked(3, false);
        assert!(!m.on_lost(4));
        // An ambiguous (retransmitted) ack is a failure.
        m.on_acked(2, true);
        assert_eq!(m.mtu(), 1200);
        assert_eq!(m.padding_for(1200), Some(32));
    }
}
