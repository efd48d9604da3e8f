//! Protocol constants of `lib/constants.js` (spec §2).

/// hyperdht's user commands (dht-rpc requests with the `internal` flag clear).
pub mod command {
    /// Handshake relayed towards a server (every node handles it).
    pub const PEER_HANDSHAKE: u64 = 0;
    /// Holepunch message relayed between client and server (every node handles it).
    pub const PEER_HOLEPUNCH: u64 = 1;
    /// Asks a storage node for the router record of a target.
    pub const FIND_PEER: u64 = 2;
    /// Asks a storage node for the records announced under a target.
    pub const LOOKUP: u64 = 3;
    /// Stores a signed record under a target.
    pub const ANNOUNCE: u64 = 4;
    /// Removes a signed record.
    pub const UNANNOUNCE: u64 = 5;
    /// Stores a signed mutable value.
    pub const MUTABLE_PUT: u64 = 6;
    /// Reads a mutable value.
    pub const MUTABLE_GET: u64 = 7;
    /// Stores an immutable value under its hash.
    pub const IMMUTABLE_PUT: u64 = 8;
    /// Reads an immutable value.
    pub const IMMUTABLE_GET: u64 = 9;
    /// Delegates to a registered plugin.
    pub const PLUGIN: u64 = 10;
}

/// NAT classes carried in the `firewall` fields.
pub mod firewall {
    /// Not classified yet.
    pub const UNKNOWN: u64 = 0;
    /// Reachable unsolicited.
    pub const OPEN: u64 = 1;
    /// The same public ip:port towards every destination.
    pub const CONSISTENT: u64 = 2;
    /// The same IP, a port that varies per destination.
    pub const RANDOM: u64 = 3;
}

/// Error codes of the payloads (`noisePayload`, `holepunchPayload`) and of MUTABLE_PUT
/// replies.
pub mod error_code {
    /// No error.
    pub const NONE: u64 = 0;
    /// The sender gave up.
    pub const ABORTED: u64 = 1;
    /// The payload version is not 1.
    pub const VERSION_MISMATCH: u64 = 2;
    /// Random punching is throttled; retry later through a relay.
    pub const TRY_LATER: u64 = 3;
    /// MUTABLE_PUT: same seq, different value.
    pub const SEQ_REUSED: u64 = 16;
    /// MUTABLE_PUT: seq below the stored one.
    pub const SEQ_TOO_LOW: u64 = 17;
}

/// Relay modes of the `handshake` and `holepunch` messages (`lib/router.js`).
pub mod mode {
    /// Sent by the client to its first hop.
    pub const FROM_CLIENT: u64 = 0;
    /// Sent by the server back towards the client.
    pub const FROM_SERVER: u64 = 1;
    /// Forwarded by a relay to the server.
    pub const FROM_RELAY: u64 = 2;
    /// Forwarded by a second relay.
    pub const FROM_SECOND_RELAY: u64 = 3;
    /// The final answer to the client.
    pub const REPLY: u64 = 4;
}
