//! Converting between the vectors' JSON values and `plures-compact` calls.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use plures_compact::{DecodeError, Decoder, Encoder, Sink, encode_bitfield};
use serde_json::{Map, Value, json};

use super::enc::{Enc, Module};
use crate::hexutil::{from_hex, to_hex};

/// A JSON value that the typed Rust API cannot take (the JS reference may still accept it,
/// e.g. by truncating; such vectors expect an error or fail).
#[derive(Debug, thiserror::Error)]
#[error("value not representable: {0}")]
pub(crate) struct InputError(String);

fn bad(what: &str, v: &Value) -> InputError {
    InputError(format!("{what}: {v}"))
}

fn bytes_of(v: &Value) -> Result<Vec<u8>, InputError> {
    v.as_str()
        .and_then(from_hex)
        .ok_or_else(|| bad("not hex bytes", v))
}

fn float_of(v: &Value) -> Result<f64, InputError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| bad("not a number", v)),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            "-0" => Ok(-0.0),
            _ => Err(bad("not a float", v)),
        },
        _ => Err(bad("not a float", v)),
    }
}

/// The host of an address value: the object's `host`, or the value itself if it is a
/// string. The net module writes a missing or empty host as loopback.
fn host_of(v: &Value, module: Module) -> Result<Option<&str>, InputError> {
    let host = match v {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o.get("host").and_then(Value::as_str),
        _ => return Err(bad("not an address", v)),
    };
    Ok(match host {
        Some("") | None if module == Module::Net => None,
        Some(h) => Some(h),
        None => return Err(bad("address without host", v)),
    })
}

fn ipv4_of(v: &Value, module: Module) -> Result<Ipv4Addr, InputError> {
    match host_of(v, module)? {
        None => Ok(Ipv4Addr::LOCALHOST),
        Some(h) => h.parse().map_err(|_| bad("not an IPv4 host", v)),
    }
}

fn ipv6_of(v: &Value, module: Module) -> Result<Ipv6Addr, InputError> {
    match host_of(v, module)? {
        None => Ok(Ipv6Addr::LOCALHOST),
        Some(h) => h.parse().map_err(|_| bad("not an IPv6 host", v)),
    }
}

fn ip_of(v: &Value, module: Module) -> Result<IpAddr, InputError> {
    match host_of(v, module)? {
        Some(h) if h.contains(':') => Ok(IpAddr::V6(ipv6_of(v, module)?)),
        _ => Ok(IpAddr::V4(ipv4_of(v, module)?)),
    }
}

fn port_of(v: &Value, module: Module) -> Result<u16, InputError> {
    match v.get("port") {
        None | Some(Value::Null) if module == Module::Net => Ok(0),
        Some(p) => p
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| bad("not a port", v)),
        None => Err(bad("address without port", v)),
    }
}

/// Encodes a JSON value with `enc` into `e`.
pub(crate) fn encode(
    e: &mut Encoder,
    enc: &Enc,
    module: Module,
    v: &Value,
) -> Result<(), InputError> {
    let uint = |v: &Value| v.as_u64().ok_or_else(|| bad("not an unsigned integer", v));
    let int = |v: &Value| v.as_i64().ok_or_else(|| bad("not an integer", v));
    match enc {
        Enc::Uint => e.uint(uint(v)?),
        Enc::Int => e.int(int(v)?),
        Enc::UintLe(w) => e.uint_le(uint(v)?, *w),
        Enc::UintBe(w) => e.uint_be(uint(v)?, *w),
        Enc::IntLe(w) => e.int_le(int(v)?, *w),
        Enc::Float32 => e.f32(float_of(v)? as f32),
        Enc::Float64 => e.f64(float_of(v)?),
        Enc::Bool => e.bool(v.as_bool().ok_or_else(|| bad("not a bool", v))?),
        Enc::None => {}
        Enc::Buffer => e.buffer(&bytes_of(v)?),
        Enc::OptionalBuffer if v.is_null() => e.optional_buffer(None),
        Enc::OptionalBuffer => e.optional_buffer(Some(&bytes_of(v)?)),
        Enc::String => e.string(v.as_str().ok_or_else(|| bad("not a string", v))?),
        Enc::Fixed(n) => e.fixed(&bytes_of(v)?, *n),
        Enc::Raw => e.raw(&bytes_of(v)?),
        Enc::Array(inner) => {
            let items = v.as_array().ok_or_else(|| bad("not an array", v))?;
            e.array_len(items.len());
            for item in items {
                encode(e, inner, module, item)?;
            }
        }
        Enc::Frame(inner) => {
            let mut region = Encoder::new();
            encode(&mut region, inner, module, v)?;
            e.buffer(&region.finish().map_err(|err| InputError(err.to_string()))?);
        }
        Enc::Ipv4 => e.ipv4(ipv4_of(v, module)?),
        Enc::Ipv4Address => {
            e.ipv4_address(SocketAddrV4::new(ipv4_of(v, module)?, port_of(v, module)?))
        }
        Enc::Ipv6 => e.ipv6(ipv6_of(v, module)?),
        Enc::Ipv6Address => e.ipv6_address(SocketAddrV6::new(
            ipv6_of(v, module)?,
            port_of(v, module)?,
            0,
            0,
        )),
        Enc::Ip => e.ip(ip_of(v, module)?),
        Enc::IpAddress => e.ip_address(SocketAddr::new(ip_of(v, module)?, port_of(v, module)?)),
        Enc::Bitfield(length) => {
            let bits = match v {
                Value::Number(_) => uint(v)?,
                _ => {
                    let bytes = bytes_of(v)?;
                    if bytes.len() > 8 {
                        return Err(bad("bitfield wider than 64 bits", v));
                    }
                    bytes
                        .iter()
                        .rev()
                        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
                }
            };
            encode_bitfield(e, bits, *length);
        }
    }
    Ok(())
}

/// The JS form of an IPv6 host: eight lowercase hex groups, no zero compression.
pub(crate) fn js_ipv6(ip: &Ipv6Addr) -> String {
    ip.segments()
        .iter()
        .map(|g| format!("{g:x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn js_ip(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => js_ipv6(v6),
    }
}

fn address(host: String, family: u8, port: u16) -> Value {
    json!({ "host": host, "family": family, "port": port })
}

fn float_json(x: f64) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x.is_infinite() {
        json!(if x > 0.0 { "Infinity" } else { "-Infinity" })
    } else if x == 0.0 && x.is_sign_negative() {
        json!("-0")
    } else {
        json!(x)
    }
}

/// Decodes one value with `enc` and returns it in the JSON form the recorder writes. The
/// net module decodes exactly like the core one, so the module does not matter here.
pub(crate) fn decode(d: &mut Decoder<'_>, enc: &Enc) -> Result<Value, DecodeError> {
    Ok(match enc {
        Enc::Uint => json!(d.uint()?),
        Enc::Int => json!(d.int()?),
        Enc::UintLe(w) => json!(d.uint_le(*w)?),
        Enc::UintBe(w) => json!(d.uint_be(*w)?),
        Enc::IntLe(w) => json!(d.int_le(*w)?),
        Enc::Float32 => float_json(f64::from(d.f32()?)),
        Enc::Float64 => float_json(d.f64()?),
        Enc::Bool => json!(d.bool()?),
        Enc::None => Value::Null,
        Enc::Buffer => json!(to_hex(d.buffer()?)),
        Enc::OptionalBuffer => d
            .optional_buffer()?
            .map_or(Value::Null, |b| json!(to_hex(b))),
        Enc::String => json!(d.string()?),
        Enc::Fixed(n) => json!(to_hex(d.take(*n, "fixed")?)),
        Enc::Raw => json!(to_hex(d.raw())),
        Enc::Array(inner) => Value::Array(d.array(|d| decode(d, inner))?),
        Enc::Frame(inner) => d.frame(|d| decode(d, inner))?,
        Enc::Ipv4 => json!(d.ipv4()?.to_string()),
        Enc::Ipv4Address => {
            let a = d.ipv4_address()?;
            address(a.ip().to_string(), 4, a.port())
        }
        Enc::Ipv6 => json!(js_ipv6(&d.ipv6()?)),
        Enc::Ipv6Address => {
            let a = d.ipv6_address()?;
            address(js_ipv6(a.ip()), 6, a.port())
        }
        Enc::Ip => json!(js_ip(&d.ip()?)),
        Enc::IpAddress => {
            // The reference reports the family byte as it was read (any byte other than 4
            // means IPv6); the typed address cannot carry it, so peek at it.
            let family = d.rest().first().copied();
            let a = d.ip_address()?;
            address(js_ip(&a.ip()), family.unwrap_or_default(), a.port())
        }
        Enc::Bitfield(length) => {
            // The reference returns the bytes of the size class the marker chose (one byte
            // when the declared length is 8 bits or fewer).
            let width = match d.rest().first() {
                Some(0xfd) if *length > 8 => 2,
                Some(0xfe) if *length > 8 => 4,
                Some(0xff) if *length > 8 => 8,
                _ => 1,
            };
            json!(to_hex(&d.bitfield(*length)?.to_le_bytes()[..width]))
        }
    })
}

/// Whether a decoded value matches the recorded one. Numbers compare by value (integers
/// exactly, floats as doubles); objects compare on the keys the recording has.
pub(crate) fn same(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            match (a.as_u64(), b.as_u64(), a.as_i64(), b.as_i64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Value::Object(b)) => subset(b, a),
        _ => ours == theirs,
    }
}

fn subset(want: &Map<String, Value>, have: &Map<String, Value>) -> bool {
    want.iter()
        .all(|(k, v)| have.get(k).is_some_and(|h| same(h, v)))
}
