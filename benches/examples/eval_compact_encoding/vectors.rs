//! Section 1: the reference vectors through both crates.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------
// 1. Reference vectors
// ---------------------------------------------------------------------------------------

pub(super) fn v4(x: &Value) -> SocketAddrV4 {
    SocketAddrV4::new(
        x["host"].as_str().expect("host").parse().expect("ipv4"),
        x["port"].as_u64().expect("port") as u16,
    )
}

pub(super) fn v6(x: &Value) -> SocketAddrV6 {
    SocketAddrV6::new(
        x["host"].as_str().expect("host").parse().expect("ipv6"),
        x["port"].as_u64().expect("port") as u16,
        0,
        0,
    )
}

pub(super) fn check_vector(v: &Value) -> (V, V) {
    let f = v["fn"].as_str().unwrap_or_default();
    let input = &v["input"];
    let hex = v["hex"].as_str().unwrap_or_default();
    let value = &input["value"];
    let out = &v["output"];
    let func = f.split(' ').next().unwrap_or_default();
    match func {
        "c.uint.encode" => {
            let n = value.as_u64().expect("u64");
            (
                datrs_rt(&n, hex, &n),
                ours_rt(|e| e.uint(n), hex, |d| d.uint(), &n),
            )
        }
        "c.uint8.encode" => {
            let n = value.as_u64().expect("u8") as u8;
            (
                datrs_rt(&n, hex, &n),
                ours_rt(|e| e.u8(n), hex, |d| d.u8(), &n),
            )
        }
        "c.uint16.encode" => {
            let n = value.as_u64().expect("u16") as u16;
            (
                datrs_rt(&n, hex, &n),
                ours_rt(|e| e.u16(n), hex, |d| d.u16(), &n),
            )
        }
        "c.uint24.encode" => {
            let n = value.as_u64().expect("u24") as u32;
            (
                na("no uint24 codec"),
                ours_rt(|e| e.u24(n), hex, |d| d.u24(), &n),
            )
        }
        "c.uint32.encode" => {
            let n = value.as_u64().expect("u32") as u32;
            (
                datrs_rt(&n.as_fixed_width(), hex, &n),
                ours_rt(|e| e.u32(n), hex, |d| d.u32(), &n),
            )
        }
        "c.uint64.encode" => {
            let n = value.as_u64().expect("u64");
            (
                datrs_rt(&n.as_fixed_width(), hex, &n),
                ours_rt(|e| e.u64(n), hex, |d| d.u64(), &n),
            )
        }
        "c.int.encode" => {
            let n = value.as_i64().expect("i64");
            (
                na("no signed / zig-zag codec"),
                ours_rt(|e| e.int(n), hex, |d| d.int(), &n),
            )
        }
        "c.buffer.encode" if value.is_null() => (
            na("null is not a Rust &[u8] (JS throws)"),
            na("null is not a Rust &[u8] (JS throws)"),
        ),
        "c.buffer.encode" => {
            let b = unhex(value.as_str().expect("buffer hex"));
            let slice: &[u8] = &b;
            (
                datrs_rt(&slice, hex, &b),
                ours_rt(
                    |e| e.buffer(&b),
                    hex,
                    |d| d.buffer().map(<[u8]>::to_vec),
                    &b,
                ),
            )
        }
        "c.optionalBuffer.encode" => (
            na("no Option codec (an empty &[u8] writes the same 00, but decode never yields None)"),
            ours_rt(
                |e| e.optional_buffer(None),
                hex,
                |d| d.optional_buffer().map(|o| o.map(<[u8]>::to_vec)),
                &None,
            ),
        ),
        "c.fixed32.encode" => {
            let b: [u8; 32] = unhex(value.as_str().expect("hex")).try_into().expect("32");
            (
                datrs_rt(&b, hex, &b),
                ours_rt(|e| e.fixed(&b, 32), hex, |d| d.fixed::<32>(), &b),
            )
        }
        "c.fixed64.encode" => {
            let b: [u8; 64] = unhex(value.as_str().expect("hex")).try_into().expect("64");
            (
                datrs_rt(&b, hex, &b),
                ours_rt(|e| e.fixed(&b, 64), hex, |d| d.fixed::<64>(), &b),
            )
        }
        "c.string.encode" => {
            let s = value.as_str().expect("string").to_owned();
            (
                datrs_rt(s.as_str(), hex, &s),
                ours_rt(
                    |e| e.string(&s),
                    hex,
                    |d| d.string().map(|c| c.into_owned()),
                    &s,
                ),
            )
        }
        "c.bool.encode" => {
            let b = value.as_bool().expect("bool");
            (
                na("no bool codec"),
                ours_rt(|e| e.bool(b), hex, |d| d.bool(), &b),
            )
        }
        "c.array(c.uint).encode" => {
            let ns: Vec<u64> = value
                .as_array()
                .expect("array")
                .iter()
                .map(|x| x.as_u64().expect("u64"))
                .collect();
            // datrs' only counted integer array is Vec<u32> (u64 has no VecEncodable).
            let n32: Vec<u32> = ns.iter().map(|&n| n as u32).collect();
            let datrs = match datrs_rt(&n32, hex, &n32) {
                V::Fail(why) => V::Fail(format!(
                    "Vec<u32> {why} (its elements are fixed-width u32, while a lone u32 is a \
                     varint); hand-composing usize count + u64 elements gives the right bytes"
                )),
                other => other,
            };
            (
                datrs,
                ours_rt(
                    |e| e.array(&ns, |e, &n| e.uint(n)),
                    hex,
                    |d| d.array(Decoder::uint),
                    &ns,
                ),
            )
        }
        "c.array(c.ipv4Address).encode" => {
            let addrs: Vec<SocketAddrV4> =
                value.as_array().expect("array").iter().map(v4).collect();
            (
                datrs_rt(&addrs, hex, &addrs),
                ours_rt(
                    |e| e.array(&addrs, |e, &a| e.ipv4_address(a)),
                    hex,
                    |d| d.array(Decoder::ipv4_address),
                    &addrs,
                ),
            )
        }
        "c.ipv4Address.encode" => {
            let a = v4(input);
            (
                datrs_rt(&a, hex, &a),
                ours_rt(|e| e.ipv4_address(a), hex, |d| d.ipv4_address(), &a),
            )
        }
        "c.ipv6Address.encode" => {
            let a = v6(input);
            (
                datrs_rt(&a, hex, &a),
                ours_rt(|e| e.ipv6_address(a), hex, |d| d.ipv6_address(), &a),
            )
        }
        "compact-encoding-net" => {
            let a = SocketAddr::new(
                input["host"].as_str().expect("host").parse().expect("ip"),
                input["port"].as_u64().expect("port") as u16,
            );
            (
                na("no ip / ipAddress (family byte) codec"),
                ours_rt(|e| e.ip_address(a), hex, |d| d.ip_address(), &a),
            )
        }
        _ if f.starts_with("c.decode(") => {
            let b = unhex(input["hex"].as_str().expect("hex"));
            let want = &out["value"];
            let fails = out.get("error").is_some();
            if f.starts_with("c.decode(c.uint,") {
                let w = (!fails).then(|| want.as_u64().expect("u64"));
                (
                    expect_dec(datrs_dec::<u64, u64>(&b), w.as_ref(), None),
                    expect_dec(ours_dec(&b, Decoder::uint), w.as_ref(), None),
                )
            } else if f.starts_with("c.decode(c.buffer,") {
                let w = (!fails).then(|| unhex(want.as_str().expect("hex")));
                (
                    expect_dec(datrs_dec::<Vec<u8>, Vec<u8>>(&b), w.as_ref(), None),
                    expect_dec(
                        ours_dec(&b, |d| d.buffer().map(<[u8]>::to_vec)),
                        w.as_ref(),
                        None,
                    ),
                )
            } else if f.starts_with("c.decode(c.ipv4Address,") {
                let w = (!fails).then(|| v4(want));
                (
                    expect_dec(
                        datrs_dec::<SocketAddrV4, SocketAddrV4>(&b),
                        w.as_ref(),
                        None,
                    ),
                    expect_dec(ours_dec(&b, Decoder::ipv4_address), w.as_ref(), None),
                )
            } else if f.starts_with("c.decode(c.bool,") {
                let w = (!fails).then(|| want.as_bool().expect("bool"));
                (
                    na("no bool codec"),
                    expect_dec(ours_dec(&b, Decoder::bool), w.as_ref(), None),
                )
            } else {
                (na("unmapped"), na("unmapped"))
            }
        }
        _ => (na("unmapped"), na("unmapped")),
    }
}

#[derive(Default)]
pub(super) struct Tally {
    pass: usize,
    fail: usize,
    na: usize,
}

impl Tally {
    pub(super) fn add(&mut self, v: &V) {
        match v {
            V::Pass => self.pass += 1,
            V::Fail(_) => self.fail += 1,
            V::Na(_) => self.na += 1,
        }
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pass, {} FAIL, {} can't express",
            self.pass, self.fail, self.na
        )
    }
}

pub(super) fn print_row(name: &str, datrs: &V, ours: &V) {
    println!("| {name} | {datrs} | {ours} |");
}

pub(super) fn section_vectors() -> (Tally, Tally) {
    let path = std::env::var("CE_VECTORS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference-vectors/compact-encoding.json"
        )
        .to_owned()
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: Value = serde_json::from_str(&text).expect("vector json");
    let vectors = json["vectors"].as_array().expect("vectors[]");
    println!(
        "## 1. Reference vectors ({} from {path}, JS compact-encoding {})\n",
        vectors.len(),
        json["versions"]["compact-encoding"]
    );
    println!(
        "Encode vectors: encode the value, compare bytes, decode the bytes back (all consumed)."
    );
    println!("Decode vectors: decode the hex, compare the value or expect an error.\n");
    println!("| vector | datrs compact-encoding 2.x | plures-compact |");
    println!("| --- | --- | --- |");
    let (mut td, mut to) = (Tally::default(), Tally::default());
    for v in vectors {
        let (d, o) = check_vector(v);
        print_row(v["name"].as_str().unwrap_or("?"), &d, &o);
        td.add(&d);
        to.add(&o);
    }
    println!("\nvectors: datrs {td}; plures-compact {to}\n");
    (td, to)
}
