//! Writes the seed corpora of the fuzz targets from the JS-recorded reference vectors.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus -- [VECTORS_JSON] [CORPUS_DIR]
//! ```
//!
//! (`fuzz/seed-corpus.sh` runs this.) Defaults: `../shared/reference-vectors/compact-encoding.json`
//! next to the repository and `fuzz/corpus`. Every `hex` and `input.hex` of the vectors
//! becomes:
//!
//! - for `compact_roundtrip`: the bytes themselves, and a one-field message whose field has
//!   the vector's codec (so the untrusted-decode half starts from valid messages);
//! - for `compact_ops`: a script running the vector's codec over the bytes, then over a copy
//!   of them inside a `frame`, then `raw` over a last byte.
//!
//! A few hand-written scripts cover what the vectors do not (bitfields, `ip` families,
//! non-minimal forms, nesting). Files are named after the vector, so re-running the seeder
//! overwrites its own files and leaves the ones the fuzzer added alone.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use plures_compact::{Encoder, Sink};
use plures_fuzz::compact_ops::{Op, script};
use plures_fuzz::compact_roundtrip::{Addr, Field, SafeInt, SafeUint, U24};

/// The operation that decodes a codec expression of the vectors (`c.uint`, `array(c.uint)`,
/// `ipAddress`, ...).
fn codec_op(expr: &str) -> Option<Op> {
    let expr = expr.trim().trim_start_matches("c.");
    if let Some(inner) = expr
        .strip_prefix("array(")
        .and_then(|e| e.strip_suffix(')'))
    {
        return Some(Op::Array(Box::new(codec_op(inner)?)));
    }
    Some(match expr {
        "uint" => Op::Uint,
        "uint8" => Op::U8,
        "uint16" => Op::U16,
        "uint24" => Op::U24,
        "uint32" => Op::U32,
        "uint64" => Op::U64,
        "int" => Op::Int,
        "buffer" => Op::Buffer,
        "optionalBuffer" => Op::OptionalBuffer,
        "fixed32" => Op::Fixed32,
        "fixed64" => Op::Fixed64,
        "string" | "utf8" => Op::String,
        "bool" => Op::Bool,
        "ipv4" => Op::Ipv4,
        "ipv4Address" => Op::Ipv4Address,
        "ipv6" => Op::Ipv6,
        "ipv6Address" => Op::Ipv6Address,
        "ip" => Op::Ip,
        "ipAddress" => Op::IpAddress,
        _ => return None,
    })
}

/// The codec a vector's `fn` names: `c.uint.encode`, `c.decode(c.uint, hex)`,
/// `compact-encoding-net ipAddress.encode`, `c.array(c.ipv4Address).encode (note)`.
fn vector_op(function: &str) -> Option<Op> {
    if let Some(rest) = function.strip_prefix("c.decode(") {
        return codec_op(rest.split(", hex)").next()?);
    }
    let expr = function.split(".encode").next()?;
    codec_op(expr.rsplit(' ').next()?)
}

/// The `compact_roundtrip` field tag with the same payload codec as `op`, if any.
fn field_tag(op: &Op) -> Option<u8> {
    let field = match op {
        Op::Uint => Field::Uint(SafeUint(0)),
        Op::Int => Field::Int(SafeInt(0)),
        Op::U8 => Field::U8(0),
        Op::U16 => Field::U16(0),
        Op::U24 => Field::U24(U24(0)),
        Op::U32 => Field::U32(0),
        Op::U64 => Field::U64(SafeUint(0)),
        Op::Bool => Field::Bool(false),
        Op::Buffer => Field::Buffer(Vec::new()),
        Op::OptionalBuffer => Field::OptionalBuffer(None),
        Op::String => Field::String(String::new()),
        Op::Fixed32 => Field::Fixed32([0; 32]),
        Op::Fixed64 => Field::Fixed64([0; 64]),
        Op::Ipv4 => Field::Ipv4(Ipv4Addr::UNSPECIFIED),
        Op::Ipv4Address => Field::Ipv4Address(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        Op::Ipv6 => Field::Ipv6(Ipv6Addr::UNSPECIFIED),
        Op::Ip => Field::Ip(Ipv4Addr::UNSPECIFIED.into()),
        Op::IpAddress => Field::IpAddress(Addr((Ipv4Addr::UNSPECIFIED, 0).into())),
        Op::Array(elem) if **elem == Op::Uint => Field::Uints(Vec::new()),
        _ => return None,
    };
    Some(field.tag())
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Hand-written scripts for what the vectors leave out.
fn extra_scripts() -> Vec<(&'static str, Vec<u8>)> {
    use Op::*;
    vec![
        (
            "bitfield7",
            script(&[Bitfield(7), Bitfield(7)], &[0x05, 0xfc]),
        ),
        (
            "bitfield-classes",
            script(
                &[Bitfield(16), Bitfield(32), Bitfield(64), Bitfield(8)],
                &[
                    0xfd, 0x34, 0x12, 0xfe, 1, 2, 3, 4, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0xfd, 0xff,
                    0x01,
                ],
            ),
        ),
        (
            "ip-families",
            script(
                &[Ip, IpAddress, Ip],
                &[[4, 10, 0, 0, 1].as_slice(), &[5; 19], &[6; 17]].concat(),
            ),
        ),
        (
            "non-minimal",
            script(
                &[Uint, Int, Buffer, Bool, ArrayLen],
                &[
                    0xfd, 5, 0, 0xfe, 1, 0, 0, 0, 0xfd, 1, 0, 0xaa, 2, 0xff, 0, 0, 0x10, 0, 0, 0,
                    0, 0,
                ],
            ),
        ),
        (
            "widths",
            script(
                &[UintLe(5), UintBe(3), IntLe(8), UintLe(0), UintBe(9)],
                &[
                    1, 2, 3, 4, 5, 1, 2, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0,
                ],
            ),
        ),
        (
            "floats",
            script(
                &[F32, F64],
                &[0, 0, 0xc0, 0x7f, 1, 0, 0, 0, 0, 0, 0xf0, 0xff],
            ),
        ),
        (
            "nested",
            script(
                &[
                    Array(Box::new(Frame(vec![String, Array(Box::new(Uint))]))),
                    Raw,
                ],
                &[2, 4, 1, b'a', 1, 7, 3, 0, 1, 0xfc, 0xee],
            ),
        ),
        (
            "fixed-take",
            script(
                &[Fixed0, Fixed1, Fixed2, Fixed16, Take(3), Take(0)],
                &[9; 24],
            ),
        ),
        (
            "utf8-invalid",
            script(&[String, String], b"\x03\xff\xc3a\x02\xc3\xa9"),
        ),
        (
            "zero-width-array",
            script(&[Array(Box::new(Raw))], &[3, 1, 2, 3]),
        ),
        (
            "array-limit",
            script(
                &[ArrayLen, ArrayLen],
                &[0xfe, 0, 0, 0x10, 0, 0xfe, 1, 0, 0x10, 0],
            ),
        ),
        (
            "array-over-limit",
            script(&[Array(Box::new(Fixed0))], &[0xfe, 1, 0, 0x10, 0]),
        ),
    ]
}

/// Seeds of the stateful targets (scripts, see each target's module docs).
struct StatefulSeeds {
    udx: BTreeMap<Vec<u8>, String>,
    dht: BTreeMap<Vec<u8>, String>,
    secret: BTreeMap<Vec<u8>, String>,
}

fn stateful_seeds() -> StatefulSeeds {
    let mut udx = BTreeMap::new();
    // `udx_endpoint`: [flags] then (op, arg, ...) steps. Ops: 0/1 deliver to a/b (n, drop
    // mask), 2 raw datagram, 3 mutated packet, 4 time, 5/6 write a/b, 7/8 end a/b,
    // 9/10 message a/b, 11 destroy (arg > 240), 12 far probe.
    let pump = |n: u8| [0, 7, 0, 1, 7, 0].repeat(usize::from(n));
    let transfer = [
        &[0u8, 5, 200, 7, 6, 30, 1, 9, 10, 10, 4][..],
        &pump(3),
        &[7, 0, 8, 0],
        &pump(4),
    ]
    .concat();
    udx.insert(transfer.clone(), "transfer-ended".into());
    let lossy = [
        &[0u8, 5, 250, 9, 5, 250, 9, 6, 40, 0][..],
        &[0, 7, 0x55, 1, 7, 0xaa, 4, 250, 8, 0, 7, 0, 1, 7, 0, 12, 33],
        &pump(2),
        &[4, 200, 20, 7, 0],
        &pump(4),
    ]
    .concat();
    udx.insert(lossy, "lossy-rto".into());
    let v6 = [&[3u8][..], &transfer[1..]].concat();
    udx.insert(v6, "transfer-ipv6".into());
    let forged = [
        &[0u8, 5, 100, 0][..],
        &pump(1),
        &[3, 0x10, 0x05, 2, 0, 0, 4, 9, 8, 3, 1, 0x01, 0, 0, 10],
        &[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 2, 24, 0xff, 1, 1, 0, 0, 0, 0, 0,
        ],
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]
    .concat();
    udx.insert(forged, "forged-packets".into());
    udx.insert(
        [
            &[0u8, 5, 20, 0, 0, 7, 0, 11, 242, 0, 7, 0, 2, 20][..],
            &[0xff, 1, 0, 0, 1, 0, 0, 0],
        ]
        .concat(),
        "destroy-a".into(),
    );

    let mut dht = BTreeMap::new();
    // `dht_node`: [variant, seed u16] then steps. Ops: 0 raw datagram, 1/2 response to
    // a recent request, 3 request to the node, 4 time, 5 command.
    for (variant, name) in [(0u8, "bootstrapper"), (1, "adaptive"), (3, "ephemeral")] {
        let mut script = vec![variant, 7, 0];
        // Answer the bootstrap FIND_NODEs with valid ids and closer nodes.
        for round in 0..3u8 {
            script.extend_from_slice(&[1, 0, 0x12 | 0x08, 0x42, 6, 1, 2, 3, 4, 5, 6]);
            script.extend_from_slice(&[3, 1, 2, 5, 0, 0, 0x41 + round]);
            script.extend_from_slice(&[4, 200, 10]);
        }
        // Requests of every kind, a user command answered, a query.
        script.extend_from_slice(&[3, 4, 0xc2, 9, 9, 9, 0, 1]);
        script.extend_from_slice(&[3, 5, 1, 0x50, 0x10, 0, 2]);
        script.extend_from_slice(&[3, 6, 3, 7, 0, 3]);
        script.extend_from_slice(&[3, 2, 4, 0x88, 0x13, 0, 4]);
        script.extend_from_slice(&[3, 3, 5, 1, 2, 3, 0, 5]);
        script.extend_from_slice(&[5, 3, 2, 0, 5, 2, 9, 8, 7]);
        script.extend_from_slice(&[1, 0, 0x1a, 0x33, 2, 3, 4, 4, 255, 60, 4, 255, 60]);
        dht.insert(script, format!("bootstrap-{name}"));
    }
    dht.insert(
        vec![1, 1, 0, 0, 3, 8, 0x13, 0, 0, 0, 0, 10, 0, 0, 1, 0x49, 0xc2],
        "raw-response".into(),
    );

    let mut secret = BTreeMap::new();
    // `secret_stream_session`: [options, offset u16, mask] then steps. Ops: 0/1 deliver
    // from a, 2/3 deliver from b, 4 send (bit 7: from b), 5 time.
    let chat = [
        4u8, 50, 0, 4, 60, 4, 0x80, 9, 0, 255, 2, 255, 4, 200, 5, 100, 1, 3,
    ];
    for (options, offset, mask, name) in [
        (0u8, 0u16, 0u8, "intact"),
        (1, 0, 0, "keepalive"),
        (12, 0, 0, "queued-early"),
        (0, 5, 1, "alter-handshake"),
        (4, 200, 0x80, "alter-data"),
        (6, 100, 4, "alter-responder"),
    ] {
        let seed = [&[options][..], &offset.to_le_bytes(), &[mask], &chat].concat();
        secret.insert(seed, format!("chat-{name}"));
    }
    let dribble: Vec<u8> = [&[4u8, 0, 0, 0][..], &[0, 0, 2, 0].repeat(120)].concat();
    secret.insert(dribble, "byte-by-byte".into());

    StatefulSeeds { udx, dht, secret }
}

fn write(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), data)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let vectors = args
        .next()
        .unwrap_or_else(|| manifest.join("../../shared/reference-vectors/compact-encoding.json"));
    let corpus = args.next().unwrap_or_else(|| manifest.join("corpus"));

    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&vectors).map_err(|e| format!("{}: {e}", vectors.display()))?,
    )?;
    let list = json["vectors"].as_array().ok_or("no `vectors` list")?;

    // Deduplicated by content; the first vector with given bytes names the file.
    let mut ops_seeds = BTreeMap::new();
    let mut roundtrip_seeds = BTreeMap::new();
    for v in list {
        let name = v["name"].as_str().unwrap_or("vector");
        let function = v["fn"].as_str().unwrap_or("");
        for hex in [&v["hex"], &v["input"]["hex"]] {
            let Some(bytes) = hex.as_str().and_then(from_hex) else {
                continue;
            };
            let stem = file_name(name);
            roundtrip_seeds.entry(bytes.clone()).or_insert(stem.clone());
            let op = vector_op(function).unwrap_or(Op::Raw);
            if let Some(tag) = field_tag(&op) {
                let message = [&[1, tag][..], &bytes].concat();
                roundtrip_seeds
                    .entry(message)
                    .or_insert(format!("{stem}.message"));
            }
            // The codec over the bytes, then again inside a frame, then `raw` for the rest.
            let mut payload = Encoder::new();
            payload.raw(&bytes);
            payload.buffer(&bytes);
            payload.u8(0xee);
            let ops = [op.clone(), Op::Frame(vec![op]), Op::Raw];
            ops_seeds
                .entry(script(&ops, &payload.finish()?))
                .or_insert(stem);
        }
    }
    for (name, data) in extra_scripts() {
        ops_seeds.entry(data).or_insert(format!("extra-{name}"));
    }

    // UDX datagrams (and the non-UDX ones sharing the socket) from the captures beside the
    // compact-encoding vectors.
    let mut udx_seeds = BTreeMap::new();
    let dir = vectors.parent().unwrap_or(Path::new("."));
    for file in ["udx-wire.json", "capture-hyperdht-connect.json"] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let json: serde_json::Value = serde_json::from_str(&text)?;
        let captured = json["vectors"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|v| v["output"]["datagrams"].as_array().into_iter().flatten())
            .chain(json["datagrams"].as_array().into_iter().flatten());
        for (i, d) in captured.enumerate() {
            let hex = d["hex"].as_str().or_else(|| d["payload"].as_str());
            if let Some(bytes) = hex.and_then(from_hex) {
                let stem = file.trim_end_matches(".json");
                udx_seeds.entry(bytes).or_insert(format!("{stem}-{i}"));
            }
        }
    }
    // Noise transcripts: selector (bit 7 = XX, low bits = message), operation, data.
    let mut noise_seeds = BTreeMap::new();
    for select in [0u8, 1, 0x80, 0x81, 0x82] {
        for (op, data, label) in [
            (0u8, &[][..], "intact"),
            (0, &[1][..], "flip"),
            (1, &[31][..], "truncate"),
            (2, &[0][..], "extend"),
        ] {
            let seed = [&[select, op][..], data].concat();
            noise_seeds.insert(seed, format!("{select:02x}-{label}"));
        }
    }

    let stateful = stateful_seeds();
    for (target, seeds) in [
        ("udx_endpoint", &stateful.udx),
        ("dht_node", &stateful.dht),
        ("secret_stream_session", &stateful.secret),
        ("compact_ops", &ops_seeds),
        ("compact_roundtrip", &roundtrip_seeds),
        ("udx_packet", &udx_seeds),
        ("noise_handshake", &noise_seeds),
    ] {
        let dir = corpus.join(target);
        for (data, name) in seeds {
            write(&dir, &format!("seed-{name}"), data)?;
        }
        println!("{}: {} seeds", dir.display(), seeds.len());
    }
    Ok(())
}
