//! Section 3: bytes allocated by decoders.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------
// 3. Allocation behaviour of single decodes
// ---------------------------------------------------------------------------------------

/// Runs `f` and returns its result and the peak number of bytes allocated meanwhile above
/// what was allocated before.
pub(super) fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = ALLOC.current_usage();
    ALLOC.reset_peak_usage();
    let out = f();
    (out, ALLOC.peak_usage().saturating_sub(base))
}

pub(super) fn section_alloc() {
    println!("## 3. Allocation of single decodes (bytes allocated during the call)\n");
    println!("| decode | input | datrs | plures-compact |");
    println!("| --- | --- | --- | --- |");
    let row = |what: &str, b: &[u8], d: fn(&[u8]) -> bool, o: fn(&[u8]) -> bool| {
        let (_, da) = measure(|| d(b));
        let (_, oa) = measure(|| o(b));
        println!("| {what} | {} bytes | {da} B | {oa} B |", b.len());
    };
    row(
        "uint, truncated fd05 (error path)",
        &unhex("fd05"),
        |b| u64::decode(b).is_ok(),
        |b| Decoder::new(b).uint().is_ok(),
    );
    row(
        "ipv4Address, too short (error path)",
        &unhex("7f000001"),
        |b| SocketAddrV4::decode(b).is_ok(),
        |b| Decoder::new(b).ipv4_address().is_ok(),
    );
    row(
        "string \"hello\"",
        &unhex("0568656c6c6f"),
        |b| String::decode(b).is_ok(),
        |b| Decoder::new(b).string().is_ok(),
    );
    let mut kib = unhex("fd0004");
    kib.resize(3 + 1024, 7);
    row(
        "buffer of 1 KiB",
        &kib,
        |b| Vec::<u8>::decode(b).is_ok(),
        |b| Decoder::new(b).buffer().is_ok(),
    );
    let mut arr = vec![20u8];
    arr.resize(1 + 20 * 6, 1);
    row(
        "array of 20 ipv4Address",
        &arr,
        |b| Vec::<SocketAddrV4>::decode(b).is_ok(),
        |b| Decoder::new(b).array(Decoder::ipv4_address).is_ok(),
    );
    println!();
}
