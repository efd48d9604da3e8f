// Recorder for the "compact-encoding" suite: wire primitives of compact-encoding
// 3.5.2, compact-encoding-net 1.3.0 and compact-encoding-bitfield 1.1.0.
//
// Coverage follows /work/shared/spec/compact-encoding.md §8 (and goes further where
// cheap). Each helper call below records the JS reference's answer; nothing here
// states an expected value, so the file is exactly what the JS code does.
//
// The format of the produced file is described in docs/vectors-format.md.

import { c, codec, encodeFn, decodeFn, toJSONValue } from '../lib/ce-codecs.mjs'
import { seededBytes } from '../lib/seeded.mjs'
import { installedVersions } from '../lib/versions.mjs'

export const SUITE = 'compact-encoding'
export const SEED = 'hyperswarm-rs/testnet/compact-encoding/v1'
const PACKAGES = ['compact-encoding', 'compact-encoding-net', 'compact-encoding-bitfield']

const MAX_SAFE = Number.MAX_SAFE_INTEGER // 2^53 - 1
const P52 = 2 ** 52

const H = (hex) => Buffer.from(hex, 'hex')
const rnd = (label, n) => seededBytes(SEED, label, n)

// Accumulates vectors, enforcing unique names.
class VectorList {
  constructor () {
    this.vectors = []
    this.names = new Set()
  }

  push (v) {
    if (this.names.has(v.name)) throw new Error(`Duplicate vector name: ${v.name}`)
    this.names.add(v.name)
    this.vectors.push(v)
  }

  // Records c.encode(codec, value). On success also records the decode of the
  // produced bytes ("roundtrip") unless disabled. `quirk` marks JS behaviour that a
  // strict implementation is not expected to reproduce (name prefix "js-quirk/").
  encode (expr, label, value, description, { quirk = false, roundtrip = true } = {}) {
    const cd = codec(expr)
    const short = shortName(cd)
    const name = `${quirk ? 'js-quirk/' : ''}${short}/encode/${label}`
    const input = { value: toJSONValue(value) }
    let hex
    try {
      hex = encodeDeterministic(cd.enc, value)
    } catch (err) {
      if (err.recorderBug) throw err
      this.push({ name, fn: encodeFn(cd), description, input, output: { error: err.message } })
      return
    }
    this.push({ name, fn: encodeFn(cd), description, input, hex })
    if (roundtrip && !quirk) {
      this.decode(expr, label, hex, `decode of the bytes produced by ${name}`, { kind: 'roundtrip' })
    }
  }

  // Records c.decode(codec, bytes).
  decode (expr, label, hex, description, { kind = 'decode' } = {}) {
    const cd = codec(expr)
    const name = `${shortName(cd)}/${kind}/${label}`
    const input = { hex }
    let output
    try {
      output = { value: toJSONValue(c.decode(cd.enc, H(hex))) }
    } catch (err) {
      output = { error: err.message }
    }
    this.push({ name, fn: decodeFn(cd), description, input, output })
  }
}

function shortName (cd) {
  return cd.expr.replace(/\bc\./g, '')
}

// c.encode, cross-checked against encoding into buffers pre-filled with 0x00 and
// 0xff: if any byte depends on the fill, the encoder left bytes unwritten (JS reuses
// uninitialised memory, e.g. for an empty ipv6 host) and the result would not be
// reproducible, so the recorder refuses it.
function encodeDeterministic (enc, value) {
  const bytes = c.encode(enc, value)
  for (const fill of [0x00, 0xff]) {
    const state = c.state()
    enc.preencode(state, value)
    state.buffer = Buffer.alloc(state.end, fill)
    enc.encode(state, value)
    if (state.start !== bytes.byteLength || !Buffer.from(state.buffer).equals(Buffer.from(bytes))) {
      const err = new Error(`Encoder output depends on buffer contents for ${JSON.stringify(toJSONValue(value))}`)
      err.recorderBug = true
      throw err
    }
  }
  return Buffer.from(bytes).toString('hex')
}

export function record () {
  const v = new VectorList()

  uintVectors(v)
  fixedUintVectors(v)
  intVectors(v)
  floatVectors(v)
  bufferVectors(v)
  stringVectors(v)
  boolNoneVectors(v)
  fixedVectors(v)
  rawVectors(v)
  arrayVectors(v)
  frameVectors(v)
  trailingVectors(v)
  addressVectors(v)
  cenetVectors(v)
  bitfieldVectors(v)

  return {
    suite: SUITE,
    generator: 'testnet/record-vectors.mjs',
    seed: SEED,
    versions: installedVersions(PACKAGES),
    vectors: v.vectors
  }
}

function uintVectors (v) {
  const D = 'compact uint: 0..0xfc one byte; 0xfd + uint16 LE; 0xfe + uint32 LE; 0xff + uint64 LE; max 2^53-1'
  const values = [0, 1, 0x7f, 0xfc, 0xfd, 0xfe, 0xff, 0x100, 0x1234, 0xffff, 0x10000, 0x123456, 0xffffffff,
    0x100000000, 0x123456789abc, MAX_SAFE - 1, MAX_SAFE]
  for (const n of values) v.encode('c.uint', String(n), n, D)

  v.encode('c.uint', '-1', -1, 'negative values are rejected')
  v.encode('c.uint', '2^53', 2 ** 53, 'values above 2^53-1 are rejected')
  v.encode('c.uint', '1.5', 1.5, 'JS does not reject a non-integer; the byte write truncates it', { quirk: true })
  v.encode('c.uint', '252.9', 252.9, 'JS picks the width from the unrounded value, then truncates', { quirk: true })
  v.encode('c.uint', '65535.5', 65535.5, 'JS picks the 5-byte form for 65535.5 (> 0xffff), then truncates', { quirk: true })

  const NM = 'decoders accept non-minimal encodings'
  for (const hex of ['fd0000', 'fd0500', 'fdfc00', 'fe00000000', 'fe05000000', 'fefdff0000', 'feffff0000',
    'ff0000000000000000', 'ff0500000000000000', 'ffffffffff00000000']) {
    v.decode('c.uint', `non-minimal/${hex}`, hex, NM)
  }
  v.decode('c.uint', '2^53-1', 'ffffffffffffff1f00', 'largest decodable value')
  v.decode('c.uint', '2^53', 'ff0000000000002000', '2^53 exceeds 2^53-1: decode error')
  v.decode('c.uint', '2^56-1', 'ffffffffffffffff00', 'exceeds 2^53-1: decode error')
  v.decode('c.uint', '2^64-1', 'ffffffffffffffffff', 'exceeds 2^53-1: decode error')
  v.decode('c.uint', 'high-bit-only', 'ff0000000000000080', '2^63: decode error')

  // Every truncated prefix of each width.
  const T = 'truncated input: decode error'
  v.decode('c.uint', 'truncated/empty', '', T)
  for (const full of ['fd0501', 'fe05010203', 'ff0501020304050607']) {
    for (let len = 1; len < full.length / 2; len++) {
      const hex = full.slice(0, len * 2)
      v.decode('c.uint', `truncated/${hex}`, hex, T)
    }
  }
  v.decode('c.uint', 'flags/3-byte-form', 'fdff01', 'a uint used as a flags field with bits above 7 set: takes the 3-byte form')
  v.decode('c.uint', 'flags/5-byte-form', 'fe01000100', 'a uint flags field with bit 16 set')
}

function fixedUintVectors (v) {
  const widths = [
    ['uint8', 1, [0, 1, 0x7f, 0xff]],
    ['uint16', 2, [0, 1, 0x1234, 0xff00, 0xffff]],
    ['uint24', 3, [0, 1, 0x123456, 0xabcdef, 0xffffff]],
    ['uint32', 4, [0, 1, 0x12345678, 0xdeadbeef, 0xffffffff]],
    ['uint40', 5, [0, 1, 0x123456789a, 2 ** 40 - 1]],
    ['uint48', 6, [0, 1, 0x123456789abc, 2 ** 48 - 1]],
    ['uint56', 7, [0, 1, 0x123456789abcd, MAX_SAFE]],
    ['uint64', 8, [0, 1, 0x100000000, 0x123456789abc, MAX_SAFE]],
    ['uint32be', 4, [0, 1, 0x12345678, 0xffffffff]],
    ['uint64be', 8, [0, 1, 0x100000000, 0x123456789abc, MAX_SAFE]],
    ['port', 2, [0, 443, 49737, 0xffff]]
  ]
  for (const [name, size, values] of widths) {
    const order = name.endsWith('be') ? 'big endian' : 'little endian'
    const D = `fixed-width ${size}-byte unsigned, ${order}`
    for (const n of values) v.encode(`c.${name}`, String(n), n, D)
    v.encode(`c.${name}`, '-1', -1, 'negative values are rejected')
    // One byte too few.
    const short = H('0102030405060708').subarray(0, size - 1).toString('hex')
    v.decode(`c.${name}`, `truncated/${size - 1}-bytes`, short, `${size - 1} of ${size} bytes: decode error`)
    // All-ones decodes (max value, or out of range for the widest ones).
    v.decode(`c.${name}`, 'all-ones', 'ff'.repeat(size), 'all bytes 0xff')
  }
  v.decode('c.uint8', 'empty', '', 'empty input: decode error')
  v.decode('c.uint56', '2^53', '00000000000020', '2^53 exceeds 2^53-1: decode error')
  v.decode('c.uint64', '2^53', '0000000000002000', '2^53 exceeds 2^53-1: decode error')
  v.decode('c.uint64be', '2^53', '0020000000000000', '2^53 exceeds 2^53-1: decode error')
  v.decode('c.uint64', 'high-word', '0000000001000000', 'only bit 32 set')
  v.decode('c.uint16', 'trailing', '3412ff', 'trailing bytes after a top-level value are ignored')

  // The JS fixed-width encoders check only 0..2^53-1, not the width.
  v.encode('c.uint8', '256', 256, 'JS silently truncates to the width', { quirk: true })
  v.encode('c.uint16', '65536', 65536, 'JS silently truncates to the width', { quirk: true })
  v.encode('c.uint24', '16777216', 0x1000000, 'JS silently truncates to the width', { quirk: true })
  v.encode('c.uint32', '4294967296', 0x100000000, 'JS silently truncates to the width', { quirk: true })
  v.encode('c.uint32be', '4294967296', 0x100000000, 'JS silently truncates to the width', { quirk: true })
  v.encode('c.uint64', '2^53', 2 ** 53, 'values above 2^53-1 are rejected')
}

function intVectors (v) {
  const D = 'zig-zag (0,-1,1,-2,2,... -> 0,1,2,3,4,...) then compact uint; range -2^52..2^52-1'
  const values = [0, 1, -1, 2, -2, 63, -63, 64, -64, 126, -126, 127, -127, 128, -128, 1000, -1000,
    2 ** 31, -(2 ** 31), 2 ** 31 - 1, -(2 ** 31) + 1, 2 ** 32, -(2 ** 32), P52 - 1, -P52]
  for (const n of values) v.encode('c.int', String(n), n, D)
  v.encode('c.int', '2^52', P52, 'just above the range: encode error')
  v.encode('c.int', '-2^52-1', -P52 - 1, 'just below the range: encode error')
  v.encode('c.int', '2^53', 2 ** 53, 'far above the range: encode error')
  v.encode('c.int', '1.5', 1.5, 'JS zig-zags a non-integer without rejecting it', { quirk: true })

  v.decode('c.int', 'non-minimal/fd0100', 'fd0100', 'non-minimal uint form accepted: zig-zag 1 = -1')
  v.decode('c.int', 'max-zigzag', 'ffffffffffffff1f00', 'zig-zag 2^53-1 (largest uint) = -2^52')
  v.decode('c.int', 'zigzag-2^53', 'ff0000000000002000', 'zig-zag value 2^53 exceeds the uint range: decode error')
  v.decode('c.int', 'truncated/fd01', 'fd01', 'truncated: decode error')
  v.decode('c.int', 'empty', '', 'empty input: decode error')

  const widths = [
    ['int8', 1, [0, 1, -1, 63, -64, 127, -128]],
    ['int16', 2, [0, 1, -1, 0x1234, -0x1234, 32767, -32768]],
    ['int24', 3, [0, -1, 0x123456, 8388607, -8388608]],
    ['int32', 4, [0, -1, 0x12345678, 2 ** 31 - 1, -(2 ** 31)]],
    ['int40', 5, [0, -1, 2 ** 39 - 1, -(2 ** 39)]],
    ['int48', 6, [0, -1, 2 ** 47 - 1, -(2 ** 47)]],
    ['int56', 7, [0, -1, P52 - 1, -P52]],
    ['int64', 8, [0, -1, 1, P52 - 1, -P52]]
  ]
  for (const [name, size, values] of widths) {
    const D2 = `zig-zag then fixed-width ${size}-byte little endian`
    for (const n of values) v.encode(`c.${name}`, String(n), n, D2)
    const short = H('0102030405060708').subarray(0, size - 1).toString('hex')
    v.decode(`c.${name}`, `truncated/${size - 1}-bytes`, short, `${size - 1} of ${size} bytes: decode error`)
    v.decode(`c.${name}`, 'all-ones', 'ff'.repeat(size), 'all bytes 0xff')
  }
  v.encode('c.int64', '2^52', P52, 'outside -2^52..2^52-1: encode error')
  v.encode('c.int8', '128', 128, 'JS zig-zags to 256 and truncates it to one byte', { quirk: true })
  v.encode('c.int16', '32768', 32768, 'JS zig-zags to 65536 and truncates it to two bytes', { quirk: true })
}

function floatVectors (v) {
  const D32 = 'IEEE-754 binary32, little endian'
  const D64 = 'IEEE-754 binary64, little endian'
  const f32 = [['0', 0], ['-0', -0], ['1', 1], ['-1', -1], ['0.1', 0.1], ['1.5', 1.5], ['-2.25', -2.25],
    ['3.4028234663852886e38', 3.4028234663852886e38], ['1e40', 1e40], ['1e-46', 1e-46], ['1.401298464324817e-45', 1.401298464324817e-45],
    ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]]
  for (const [label, x] of f32) v.encode('c.float32', label, x, D32)
  const f64 = [['0', 0], ['-0', -0], ['1', 1], ['-1', -1], ['0.1', 0.1], ['1.5', 1.5], ['pi', Math.PI],
    ['1e300', 1e300], ['max', Number.MAX_VALUE], ['min-subnormal', Number.MIN_VALUE], ['2^53+2', 2 ** 53 + 2],
    ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]]
  for (const [label, x] of f64) v.encode('c.float64', label, x, D64)

  v.decode('c.float32', 'nan-negative-quiet', '0000c0ff', 'a NaN with the sign bit set still decodes to NaN')
  v.decode('c.float32', 'nan-signalling', '0100807f', 'signalling NaN bit pattern decodes to NaN')
  v.decode('c.float64', 'nan-payload', '010000000000f07f', 'NaN with payload decodes to NaN')
  v.decode('c.float64', 'negative-zero', '0000000000000080', 'sign bit only: -0')
  v.decode('c.float32', 'truncated/3-bytes', '000080', 'short input: decode error')
  v.decode('c.float64', 'truncated/7-bytes', '00000000000000', 'short input: decode error')
}

function bufferVectors (v) {
  const D = 'compact uint length, then the bytes'
  for (const len of [0, 1, 2, 32, 252, 253, 300]) v.encode('c.buffer', `len${len}`, rnd(`buffer/${len}`, len), D)
  // Big buffers: encode only (no roundtrip decode) so the file stays under ~1 MB;
  // the 3- and 5-byte length prefixes are decoded by the small vectors below.
  v.encode('c.buffer', 'len65535', rnd('buffer/65535', 65535), `${D} (3-byte length prefix)`, { roundtrip: false })
  v.encode('c.buffer', 'len65536', rnd('buffer/65536', 65536), `${D} (5-byte length prefix)`, { roundtrip: false })
  v.encode('c.buffer', 'null', null, 'c.buffer does not accept null (use c.optionalBuffer)')

  v.decode('c.buffer', 'empty-buffer', '00', 'length 0 decodes to an empty byte string, not null')
  v.decode('c.buffer', 'non-minimal-length', 'fd0200abcd', 'non-minimal length prefix accepted')
  v.decode('c.buffer', 'non-minimal-length-5-byte', 'fe03000000aabbcc', 'non-minimal 5-byte length prefix accepted')
  v.decode('c.buffer', 'non-minimal-length-9-byte', 'ff0100000000000000aa', 'non-minimal 9-byte length prefix accepted')
  v.decode('c.buffer', 'length-beyond-input', '03aabb', 'length larger than the remaining bytes: decode error')
  v.decode('c.buffer', 'length-only', '01', 'length 1 with no byte: decode error')
  v.decode('c.buffer', 'length-prefix-truncated', 'fd01', 'truncated length prefix: decode error')
  v.decode('c.buffer', 'big-length-beyond-input', 'fe00000100' + 'ab'.repeat(10), 'length 65536 with 10 bytes present: decode error')
  v.decode('c.buffer', 'empty', '', 'empty input: decode error')

  const O = 'null encodes as 00; otherwise like c.buffer; a zero length decodes to null'
  v.encode('c.optionalBuffer', 'null', null, O)
  v.encode('c.optionalBuffer', 'empty', Buffer.alloc(0), O)
  v.encode('c.optionalBuffer', 'len1', H('00'), O)
  v.encode('c.optionalBuffer', 'len4', H('deadbeef'), O)
  v.decode('c.optionalBuffer', '00', '00', O)
  v.decode('c.optionalBuffer', '0100', '0100', O)
  v.decode('c.optionalBuffer', 'length-beyond-input', '02ff', 'length larger than the remaining bytes: decode error')
  v.decode('c.optionalBuffer', 'empty', '', 'empty input: decode error')
}

function stringVectors (v) {
  const D = 'UTF-8: compact uint byte length, then the bytes'
  const strings = [
    ['empty', ''],
    ['ascii', 'hello'],
    ['protocol-name', 'hyperswarm/dht'],
    ['latin1', 'héllo'],
    ['mixed', 'héllo ✓'],
    ['emoji', '😀'],
    ['emoji-mixed', 'a😀b🎉c'],
    ['cjk', '日本語'],
    ['nul', 'a\u0000b'],
    ['u+fffd', '\ufffd'],
    ['max-codepoint', '\u{10ffff}'],
    ['len252', 'x'.repeat(252)],
    ['len253', 'y'.repeat(253)],
    ['len300-multibyte', 'é'.repeat(150)]
  ]
  for (const [label, s] of strings) v.encode('c.string', label, s, D)
  v.encode('c.utf8', 'mixed', 'héllo ✓', 'c.utf8 is the same codec as c.string')
  v.decode('c.utf8', 'latin1', '0668c3a96c6c6f', 'c.utf8 is the same codec as c.string')

  // Invalid UTF-8 is not an error: the decoder substitutes U+FFFD.
  const R = 'invalid UTF-8 decodes with U+FFFD replacement (no error)'
  for (const bad of ['ff41', 'c0af', 'e080af', 'eda080', 'f4908080', 'f09f98', 'f09f9841', 'e282', 'c3',
    '41c3a9ff', 'fc8080808080', '80', 'efbfbd', 'edbfbf', 'f8888080', 'fe', 'c3a9c3']) {
    const hex = Buffer.from([bad.length / 2]).toString('hex') + bad
    v.decode('c.string', `utf8/${bad}`, hex, R)
  }
  v.decode('c.string', 'bom', '03efbbbf', 'a UTF-8 BOM is kept as U+FEFF')
  v.decode('c.string', 'length-beyond-input', '0561', 'length larger than the remaining bytes: decode error')
  v.decode('c.string', 'empty', '', 'empty input: decode error')
  v.decode('c.string', 'trailing', '016162', 'trailing bytes after a top-level value are ignored')
}

function boolNoneVectors (v) {
  v.encode('c.bool', 'true', true, 'true -> 01')
  v.encode('c.bool', 'false', false, 'false -> 00')
  for (const hex of ['00', '01', '02', '7f', 'fe', 'ff']) v.decode('c.bool', hex, hex, 'only 01 decodes to true; any other byte is false')
  v.decode('c.bool', 'empty', '', 'empty input: decode error')
  v.decode('c.bool', 'trailing', '0100', 'trailing bytes after a top-level value are ignored')

  v.encode('c.none', 'null', null, 'zero bytes')
  v.decode('c.none', 'empty', '', 'zero bytes decode to null')
  v.decode('c.none', 'trailing', 'ff', 'reads nothing; trailing bytes ignored')
}

function fixedVectors (v) {
  const k32 = rnd('fixed32', 32)
  const k64 = rnd('fixed64', 64)
  v.encode('c.fixed32', 'random', k32, '32 raw bytes, no prefix')
  v.encode('c.fixed32', 'zeros', Buffer.alloc(32), '32 raw bytes, no prefix')
  v.encode('c.fixed64', 'random', k64, '64 raw bytes, no prefix')
  v.encode('c.fixed32', 'len31', k32.subarray(0, 31), 'wrong size: encode error')
  v.encode('c.fixed32', 'len33', Buffer.concat([k32, H('00')]), 'wrong size: encode error')
  v.encode('c.fixed32', 'empty', Buffer.alloc(0), 'wrong size: encode error')
  v.encode('c.fixed64', 'len32', k32, 'wrong size: encode error')
  v.decode('c.fixed32', 'short-31', k32.subarray(0, 31).toString('hex'), '31 of 32 bytes: decode error')
  v.decode('c.fixed32', 'empty', '', 'empty input: decode error')
  v.decode('c.fixed64', 'short-63', k64.subarray(0, 63).toString('hex'), '63 of 64 bytes: decode error')
  v.decode('c.fixed32', 'trailing', k32.toString('hex') + 'ffff', 'trailing bytes after a top-level value are ignored')

  const k16 = rnd('fixed16', 16)
  v.encode('c.fixed(16)', 'random', k16, 'c.fixed(16): exactly 16 raw bytes, no prefix')
  v.encode('c.fixed(16)', 'len15', k16.subarray(0, 15), 'wrong size: encode error')
  v.decode('c.fixed(16)', 'short-15', k16.subarray(0, 15).toString('hex'), '15 of 16 bytes: decode error')
}

function rawVectors (v) {
  const D = 'the bytes as-is; decode consumes everything that is left'
  v.encode('c.raw', 'bytes', H('00fdff0102'), D)
  v.encode('c.raw', 'empty', Buffer.alloc(0), D)
  v.decode('c.raw', 'empty', '', 'decode of empty input is an empty byte string')
  v.decode('c.raw', 'rest', 'abcdef', D)
}

function arrayVectors (v) {
  const D = 'compact uint count, then the elements'
  v.encode('c.array(c.uint)', 'count0', [], D)
  v.encode('c.array(c.uint)', 'count1', [7], D)
  v.encode('c.array(c.uint)', 'count3', [1, 300, 70000], D)
  const many = Array.from({ length: 253 }, (_, i) => (i * i * 7919) % 100003)
  v.encode('c.array(c.uint)', 'count253', many, `${D} (3-byte count prefix)`)
  v.encode('c.array(c.uint)', 'element-error', [1, -1], 'an element encode error propagates')
  v.decode('c.array(c.uint)', 'count-0x100000-no-elements', 'fe00001000', 'count 0x100000 is allowed; the missing elements fail')
  v.decode('c.array(c.uint)', 'count-0x100001', 'fe01001000', 'count above 0x100000: rejected before reading elements')
  v.decode('c.array(c.uint)', 'count-2^32-1', 'feffffffff', 'count above 0x100000: rejected before reading elements')
  v.decode('c.array(c.uint)', 'element-truncated', '0301fd', 'second element truncated: decode error')
  v.decode('c.array(c.uint)', 'one-of-two', '0201', 'count 2 with one element present: decode error')
  v.decode('c.array(c.uint)', 'elements-missing', '03', 'count 3 and no elements: decode error')
  v.decode('c.array(c.uint)', 'empty', '', 'empty input: decode error')
  v.decode('c.array(c.uint)', 'trailing', '0105ff', 'trailing bytes after the array are ignored')

  const addrs = [{ host: '127.0.0.1', port: 49737 }, { host: '0.0.0.0', port: 0 }, { host: '10.1.2.3', port: 1 }]
  v.encode('c.array(c.ipv4Address)', 'count0', [], D)
  v.encode('c.array(c.ipv4Address)', 'count3', addrs, D)
  v.decode('c.array(c.ipv4Address)', 'element-truncated', '027f00000149c27f000001', 'second address truncated: decode error')

  v.encode('c.array(c.buffer)', 'mixed', [Buffer.alloc(0), H('01'), rnd('array-buffer', 5)], D)
  v.decode('c.array(c.buffer)', 'element-length-beyond-input', '0102ff', 'element length beyond input: decode error')
  v.encode('c.array(c.string)', 'mixed', ['', 'a', 'héllo ✓'], D)
  v.decode('c.array(c.string)', 'element-truncated', '020161', 'second string missing: decode error')
}

function frameVectors (v) {
  const D = 'compact uint length, then the inner value inside exactly that many bytes'
  v.encode('c.frame(c.string)', 'ab', 'ab', D)
  v.encode('c.frame(c.string)', 'empty', '', D)
  v.encode('c.frame(c.uint)', '5', 5, D)
  v.encode('c.frame(c.uint)', '300', 300, D)
  v.decode('c.frame(c.string)', 'trailing-inside-frame', '0402616263', 'bytes after the inner value but inside the frame are skipped')
  v.decode('c.frame(c.uint)', 'trailing-inside-frame', '03050000', 'bytes after the inner value but inside the frame are skipped')
  v.decode('c.frame(c.uint)', 'trailing-after-frame', '0105ff', 'bytes after the frame are ignored at top level')
  v.decode('c.frame(c.string)', 'frame-beyond-input', '05026162', 'frame length larger than the remaining bytes: decode error')
  v.decode('c.frame(c.uint)', 'frame-beyond-input', '05', 'frame length with nothing after it: decode error')
  v.decode('c.frame(c.uint)', 'inner-beyond-frame', '01fdffff', 'the inner decoder may not read past the frame end even when more input follows')
  v.decode('c.frame(c.string)', 'inner-beyond-frame', '020561626364', 'inner string length exceeds the frame: decode error')
  v.decode('c.frame(c.uint)', 'empty-frame', '00', 'zero-length frame: the inner uint is out of bounds')
}

function trailingVectors (v) {
  const D = 'top-level c.decode ignores trailing bytes'
  v.decode('c.uint', 'trailing/05ff', '05ff', D)
  v.decode('c.uint', 'trailing/fd0001ff', 'fd0001ff', D)
  v.decode('c.string', 'trailing/extra', '0568656c6c6f0102', D)
  v.decode('c.buffer', 'trailing/extra', '01aabbcc', D)
  v.decode('c.ipv4Address', 'trailing/extra', '7f00000149c2ff', D)
}

function addressVectors (v) {
  const D4 = 'ipv4: 4 bytes network order; ipv4Address: then port uint16 LITTLE endian'
  const v4 = [['127.0.0.1', 49737], ['0.0.0.0', 0], ['255.255.255.255', 65535], ['10.1.2.3', 1], ['1.2.3.4', 0x1234], ['192.168.1.100', 443]]
  for (const [host, port] of v4) v.encode('c.ipv4Address', `${host}:${port}`, { host, port }, D4)
  v.encode('c.ipv4Address', 'missing-port', { host: '1.2.3.4' }, 'core c.ipv4Address does not default a missing port (compare cenet)')
  v.decode('c.ipv4Address', 'truncated/4-bytes', '7f000001', 'no port: decode error')
  v.decode('c.ipv4Address', 'truncated/5-bytes', '7f00000149', 'half a port: decode error')
  v.decode('c.ipv4Address', 'empty', '', 'empty input: decode error')
  for (const host of ['127.0.0.1', '0.0.0.0', '8.8.4.4']) v.encode('c.ipv4', host, host, 'ipv4: 4 bytes network order')
  v.encode('c.ipv4', '256.1.2.3', '256.1.2.3', 'JS parses each part as decimal and writes it modulo 256', { quirk: true })
  v.decode('c.ipv4', 'truncated/3-bytes', '7f0000', 'short input: decode error')

  const D6 = 'ipv6: 8 groups, each uint16 big endian; ipv6Address: then port uint16 LITTLE endian. Decoded hosts are uncompressed lowercase groups'
  const v6 = [
    ['::1', 49737], ['::', 0], ['1::', 1], ['::ffff', 2], ['2001:db8::1', 443], ['fe80::1:2', 80],
    ['2001:db8::', 65535], ['2001:db8:85a3::8a2e:370:7334', 8080],
    ['2001:db8:85a3:0:0:8a2e:370:7334', 65535], ['2001:0db8:0000:0000:0000:ff00:0042:8329', 1],
    ['1:2:3:4:5:6:7:8', 2], ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 65535], ['1:0:0:2::3', 3],
    ['ABCD:EF01::', 4]
  ]
  for (const [host, port] of v6) v.encode('c.ipv6Address', `[${host}]:${port}`, { host, port }, D6)
  for (const host of ['::1', '::', 'fe80::', '::ffff:0:0', '2001:db8::8:800:200c:417a']) v.encode('c.ipv6', host, host, 'ipv6: 16 bytes, groups big endian')
  v.decode('c.ipv6', 'leading-zeros', '000a00b000000000000000000000000c', 'decoded groups have no leading zeros and no :: compression')
  v.decode('c.ipv6', 'truncated/15-bytes', '00'.repeat(15), 'short input: decode error')
  v.decode('c.ipv6Address', 'truncated/17-bytes', '00'.repeat(17), 'half a port: decode error')

  const DA = 'ip: family byte (4 or 6) then ipv4 or ipv6; ipAddress: then port uint16 LE. Decode: family 4 -> IPv4, anything else -> IPv6'
  v.encode('c.ipAddress', '1.2.3.4:80', { host: '1.2.3.4', port: 80 }, DA)
  v.encode('c.ipAddress', '127.0.0.1:49737', { host: '127.0.0.1', port: 49737 }, DA)
  v.encode('c.ipAddress', '[::1]:80', { host: '::1', port: 80 }, DA)
  v.encode('c.ipAddress', '[2001:db8::1]:443', { host: '2001:db8::1', port: 443 }, DA)
  v.encode('c.ip', '1.2.3.4', '1.2.3.4', DA)
  v.encode('c.ip', '::1', '::1', DA)
  const six = '20010db8000000000000000000000001'
  for (const fam of ['05', '00', 'ff', '06']) {
    v.decode('c.ipAddress', `family-${fam}`, `${fam}${six}5000`, DA)
    v.decode('c.ip', `family-${fam}`, `${fam}${six}`, DA)
  }
  v.decode('c.ip', 'family-05-with-4-bytes', '057f000001', 'family 5 is read as IPv6, which needs 16 bytes: decode error')
  v.decode('c.ip', 'truncated/v4', '047f00', 'short input: decode error')
  v.decode('c.ip', 'family-only', '04', 'short input: decode error')
  v.decode('c.ip', 'empty', '', 'empty input: decode error')
  v.decode('c.ipAddress', 'v4-no-port', '047f000001', 'no port: decode error')
}

function cenetVectors (v) {
  const D = 'compact-encoding-net: like the core codecs, but an empty host encodes as 127.0.0.1 / ::1 and a missing port as 0'
  v.encode('cenet.ipv4Address', '127.0.0.1:49737', { host: '127.0.0.1', port: 49737 }, D)
  v.encode('cenet.ipv4Address', 'empty-host', { host: '', port: 0 }, D)
  v.encode('cenet.ipv4Address', 'empty-host-port', { host: '', port: 8080 }, D)
  v.encode('cenet.ipv4Address', 'missing-port', { host: '1.2.3.4' }, D)
  v.encode('cenet.ipv6Address', '[::1]:443', { host: '::1', port: 443 }, D)
  v.encode('cenet.ipv6Address', 'empty-host', { host: '', port: 0 }, D)
  v.encode('cenet.ipv6Address', 'missing-port', { host: 'fe80::1' }, D)
  v.encode('cenet.ipAddress', '1.2.3.4:80', { host: '1.2.3.4', port: 80 }, D)
  v.encode('cenet.ipAddress', '[::1]:80', { host: '::1', port: 80 }, D)
  v.encode('cenet.ipAddress', 'empty-host', { host: '', port: 0 }, D)
  v.encode('cenet.ipAddress', 'missing-port', { host: '2001:db8::1' }, D)
  v.encode('cenet.ipv4', 'empty', '', D)
  v.encode('cenet.ipv6', 'empty', '', D)
  v.encode('cenet.ip', 'empty', '', D)
  v.decode('cenet.ipv4Address', 'truncated', '7f000001', 'short input: decode error')
  v.decode('cenet.ipAddress', 'family-00', '00' + '00'.repeat(15) + '01' + '5000', 'family other than 4 is read as IPv6')
}

function bitfieldVectors (v) {
  // compact-encoding-bitfield accepts a Uint8Array (recorded as hex) or a number.
  const D = 'bitfield(N): a compact-uint-shaped bit set whose size class is fixed by N (<8: 1 byte; <=16: fd+2; <=32: fe+4; <=64: ff+8)'
  const byteInputs = ['', '05', '00', 'fc', 'ff', '0102', 'ffff', '010203', '01020304', '0102030405', '0102030405060708', '010203040506070809']
  for (const n of [7, 8, 16, 32, 64]) {
    for (const hex of byteInputs) {
      const bytes = H(hex)
      // Bits at index >= N set, yet JS writes them: a strict encoder would reject
      // such input. (Too many bytes for the size class is a JS error instead.)
      const quirk = bytes.length <= widthBytes(n) && highestBit(bytes) >= n
      const desc = quirk ? 'JS writes bits at index >= N when they fit the size class' : D
      v.encode(`bitfield(${n})`, `bytes-${hex || 'empty'}`, bytes, desc, { quirk })
    }
    for (const num of [0, 5, 0x7f]) v.encode(`bitfield(${n})`, `number-${num}`, num, `${D}; a number input is written as the value`)
    for (const hex of ['', '00', '05', 'fc', 'fd', 'fe', 'ff', 'fd01', 'fdffff', 'fd0102', 'fe01020304', 'fe0102', 'ff0102030405060708', 'ff01020304', 'fd010203']) {
      v.decode(`bitfield(${n})`, `hex-${hex || 'empty'}`, hex, 'decode returns the raw bit bytes selected by the marker byte')
    }
  }
  v.encode('bitfield(16)', 'number-4660', 0x1234, D)
  v.encode('bitfield(32)', 'number-305419896', 0x12345678, D)
  v.encode('bitfield(64)', 'number-2^40', 2 ** 40, D)
  v.encode('bitfield(7)', 'number-4660', 0x1234, 'JS truncates a number that does not fit the size class', { quirk: true })
  v.encode('bitfield(64)', 'number--1', -1, 'negative number: encode error')
}

function widthBytes (n) {
  return n < 8 ? 1 : n <= 16 ? 2 : n <= 32 ? 4 : 8
}

// Index of the highest set bit (bit i = bit i % 8 of byte i / 8), or -1.
function highestBit (bytes) {
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]) return i * 8 + 31 - Math.clz32(bytes[i])
  }
  return -1
}
