//! Command numbers and error codes (`dht-rpc lib/commands.js`, `lib/errors.js`, spec §3.6, §6).
//!
//! A request's command is a number plus the *internal* flag: internal commands belong to
//! dht-rpc itself, the others to the application (hyperdht reuses 0..=10 for its own
//! commands, so FIND_PEER and FIND_NODE are both 2 and only the flag tells them apart).

/// A request's command, classified by the internal flag and the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Internal 0: liveness probe, answered at once.
    Ping,
    /// Internal 1: reply to the sender's host at the port carried in the value.
    PingNat,
    /// Internal 2: reply with the closest nodes to the target.
    FindNode,
    /// Internal 3: the value names a node the sender found unresponsive.
    DownHint,
    /// Internal 4: reply after the delay (ms, `uint32` LE) carried in the value.
    DelayedPing,
    /// An internal command this version does not know (answered with UNKNOWN_COMMAND).
    UnknownInternal(u64),
    /// An application command, handed to the layer above.
    User(u64),
}

impl Command {
    /// Internal command number of PING.
    pub const PING: u64 = 0;
    /// Internal command number of PING_NAT.
    pub const PING_NAT: u64 = 1;
    /// Internal command number of FIND_NODE.
    pub const FIND_NODE: u64 = 2;
    /// Internal command number of DOWN_HINT.
    pub const DOWN_HINT: u64 = 3;
    /// Internal command number of DELAYED_PING.
    pub const DELAYED_PING: u64 = 4;

    /// Classifies the `command` field of a request with the given internal flag.
    pub fn from_wire(internal: bool, number: u64) -> Self {
        if !internal {
            return Self::User(number);
        }
        match number {
            Self::PING => Self::Ping,
            Self::PING_NAT => Self::PingNat,
            Self::FIND_NODE => Self::FindNode,
            Self::DOWN_HINT => Self::DownHint,
            Self::DELAYED_PING => Self::DelayedPing,
            n => Self::UnknownInternal(n),
        }
    }

    /// Whether the internal flag (request flags bit `0x04`) is set for this command.
    pub fn is_internal(self) -> bool {
        !matches!(self, Self::User(_))
    }

    /// The number written in the `command` field.
    pub fn number(self) -> u64 {
        match self {
            Self::Ping => Self::PING,
            Self::PingNat => Self::PING_NAT,
            Self::FindNode => Self::FIND_NODE,
            Self::DownHint => Self::DOWN_HINT,
            Self::DelayedPing => Self::DELAYED_PING,
            Self::UnknownInternal(n) | Self::User(n) => n,
        }
    }
}

/// Error codes carried in responses (`lib/errors.js`).
pub mod error_code {
    /// No error (never written: the error field is omitted instead).
    pub const OK: u64 = 0;
    /// The command is not handled by the responder.
    pub const UNKNOWN_COMMAND: u64 = 1;
    /// The request's token did not validate; the response carries a fresh one.
    pub const INVALID_TOKEN: u64 = 2;
    /// Applications start their own codes here (hyperdht uses 16 and 17).
    pub const FIRST_APPLICATION: u64 = 16;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for internal in [false, true] {
            for n in [0, 1, 2, 3, 4, 5, 9, 300, u64::MAX] {
                let c = Command::from_wire(internal, n);
                assert_eq!(c.number(), n);
                assert_eq!(c.is_internal(), internal);
            }
        }
        assert_eq!(Command::from_wire(false, 2), Command::User(2));
        assert_eq!(Command::from_wire(true, 2), Command::FindNode);
        assert_eq!(Command::from_wire(true, 9), Command::UnknownInternal(9));
    }
}
