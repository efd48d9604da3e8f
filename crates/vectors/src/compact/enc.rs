//! Parsing the codec named in a vector's `fn` (`c.uint`, `c.array(c.ipv4Address)`,
//! `c.fixed(16)`, `bitfield(7)`, `cenet.ipAddress`, ...).

/// A compact-encoding codec, as the JS module names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Enc {
    Uint,
    Int,
    /// `uint8` .. `uint64`: little endian of this many bytes.
    UintLe(usize),
    /// `uint16be` .. `uint64be`.
    UintBe(usize),
    /// `int8` .. `int64`: zig-zag into a little-endian unsigned of this many bytes.
    IntLe(usize),
    Float32,
    Float64,
    Bool,
    None,
    Buffer,
    OptionalBuffer,
    String,
    Fixed(usize),
    Raw,
    Array(Box<Self>),
    Frame(Box<Self>),
    Ipv4,
    Ipv4Address,
    Ipv6,
    Ipv6Address,
    Ip,
    IpAddress,
    Bitfield(u32),
}

/// Which JS module the codec came from (the net module fills in empty hosts and ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Module {
    Core,
    Net,
    Bitfield,
}

/// What a vector asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    Encode(Module, Enc),
    Decode(Module, Enc),
}

/// Drops a trailing comment such as ` (== dht-rpc lib/peer.js ipv4)` from a `fn`.
fn strip_comment(func: &str) -> &str {
    match func.find(" (") {
        Some(i) => &func[..i],
        None => func,
    }
    .trim()
}

pub(crate) fn parse_call(func: &str) -> Option<Call> {
    let f = strip_comment(func);
    if let Some(inner) = f
        .strip_prefix("c.decode(")
        .or_else(|| f.strip_prefix("cenet.decode("))
    {
        let enc = inner.strip_suffix(", hex)")?;
        let (module, enc) = parse_enc(enc)?;
        return Some(Call::Decode(module, enc));
    }
    if let Some(name) = f.strip_prefix("compact-encoding-net ") {
        let (_, enc) = parse_enc(&format!("c.{}", name.strip_suffix(".encode")?))?;
        return Some(Call::Encode(Module::Net, enc));
    }
    let (module, enc) = parse_enc(f.strip_suffix(".encode")?)?;
    Some(Call::Encode(module, enc))
}

fn parse_enc(s: &str) -> Option<(Module, Enc)> {
    if let Some(n) = s
        .strip_prefix("bitfield(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Some((Module::Bitfield, Enc::Bitfield(n.parse().ok()?)));
    }
    if let Some(name) = s.strip_prefix("cenet.") {
        return Some((Module::Net, named(name)?));
    }
    let name = s.strip_prefix("c.")?;
    if let Some(inner) = name
        .strip_prefix("array(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Some((Module::Core, Enc::Array(Box::new(parse_enc(inner)?.1))));
    }
    if let Some(inner) = name
        .strip_prefix("frame(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Some((Module::Core, Enc::Frame(Box::new(parse_enc(inner)?.1))));
    }
    if let Some(n) = name
        .strip_prefix("fixed(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Some((Module::Core, Enc::Fixed(n.parse().ok()?)));
    }
    Some((Module::Core, named(name)?))
}

fn named(name: &str) -> Option<Enc> {
    let width = |bits: &str| -> Option<usize> {
        match bits.parse::<usize>().ok()? {
            b @ (8 | 16 | 24 | 32 | 40 | 48 | 56 | 64) => Some(b / 8),
            _ => None,
        }
    };
    Some(match name {
        "uint" => Enc::Uint,
        "port" => Enc::UintLe(2),
        "int" => Enc::Int,
        "float32" => Enc::Float32,
        "float64" => Enc::Float64,
        "bool" => Enc::Bool,
        "none" => Enc::None,
        "buffer" | "uint8array" => Enc::Buffer,
        "optionalBuffer" => Enc::OptionalBuffer,
        "string" | "utf8" => Enc::String,
        "fixed32" => Enc::Fixed(32),
        "fixed64" => Enc::Fixed(64),
        "raw" => Enc::Raw,
        "ipv4" => Enc::Ipv4,
        "ipv4Address" => Enc::Ipv4Address,
        "ipv6" => Enc::Ipv6,
        "ipv6Address" => Enc::Ipv6Address,
        "ip" => Enc::Ip,
        "ipAddress" => Enc::IpAddress,
        _ => {
            if let Some(rest) = name.strip_prefix("uint") {
                match rest.strip_suffix("be") {
                    Some(bits) => Enc::UintBe(width(bits)?),
                    None => Enc::UintLe(width(rest)?),
                }
            } else if let Some(rest) = name.strip_prefix("int") {
                Enc::IntLe(width(rest)?)
            } else if let Some(n) = name.strip_prefix("fixed") {
                Enc::Fixed(n.parse().ok()?)
            } else {
                return None;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_spellings() {
        assert_eq!(
            parse_call(
                "c.ipv4Address.encode (== dht-rpc lib/peer.js ipv4, hyperdht messages ipv4)"
            ),
            Some(Call::Encode(Module::Core, Enc::Ipv4Address))
        );
        assert_eq!(
            parse_call("c.decode(c.array(c.uint), hex)"),
            Some(Call::Decode(Module::Core, Enc::Array(Box::new(Enc::Uint))))
        );
        assert_eq!(
            parse_call("compact-encoding-net ipAddress.encode"),
            Some(Call::Encode(Module::Net, Enc::IpAddress))
        );
        assert_eq!(
            parse_call("c.decode(bitfield(16), hex)"),
            Some(Call::Decode(Module::Bitfield, Enc::Bitfield(16)))
        );
        assert_eq!(
            parse_call("c.uint64be.encode"),
            Some(Call::Encode(Module::Core, Enc::UintBe(8)))
        );
        assert_eq!(
            parse_call("c.int24.encode"),
            Some(Call::Encode(Module::Core, Enc::IntLe(3)))
        );
        assert_eq!(
            parse_call("c.fixed(16).encode"),
            Some(Call::Encode(Module::Core, Enc::Fixed(16)))
        );
        assert_eq!(parse_call("dht-rpc IO.token(addr, i)"), None);
    }
}
