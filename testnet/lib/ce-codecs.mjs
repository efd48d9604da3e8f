// The compact-encoding codecs the vector files talk about, addressed by the exact
// expression strings that appear in a vector's `fn` field, plus the JSON value
// representation used for inputs and outputs.
//
// Expression grammar (also documented in docs/vectors-format.md):
//   expr := 'c.' NAME            a plain export of compact-encoding
//         | 'c.fixed(' N ')'     fixed-size byte string of N bytes
//         | 'c.array(' expr ')'  counted array
//         | 'c.frame(' expr ')'  length-prefixed frame
//         | 'cenet.' NAME        an export of compact-encoding-net
//         | 'bitfield(' N ')'    compact-encoding-bitfield
//   fn   := expr '.encode'
//         | 'c.decode(' expr ', hex)'
//         | 'cenet.decode(' expr ', hex)'   (only with a cenet.* expr)

import c from 'compact-encoding'
import cenet from 'compact-encoding-net'
import bitfield from 'compact-encoding-bitfield'

// Value kinds: how a JSON value in a vector maps to the JS value handed to the
// encoder. Decoder outputs are converted with the kind-independent toJSON below.
const INT = 'int'
const FLOAT = 'float'
const BYTES = 'bytes'
const STRING = 'string'
const BOOL = 'bool'
const NONE = 'none'
const HOST = 'host'
const ADDRESS = 'address'
const BITFIELD = 'bitfield'

const PLAIN_KINDS = {
  uint: INT,
  uint8: INT,
  uint16: INT,
  uint24: INT,
  uint32: INT,
  uint40: INT,
  uint48: INT,
  uint56: INT,
  uint64: INT,
  uint32be: INT,
  uint64be: INT,
  int: INT,
  int8: INT,
  int16: INT,
  int24: INT,
  int32: INT,
  int40: INT,
  int48: INT,
  int56: INT,
  int64: INT,
  port: INT,
  float32: FLOAT,
  float64: FLOAT,
  buffer: BYTES,
  optionalBuffer: BYTES,
  fixed8: BYTES,
  fixed16: BYTES,
  fixed24: BYTES,
  fixed32: BYTES,
  fixed64: BYTES,
  raw: BYTES,
  string: STRING,
  utf8: STRING,
  bool: BOOL,
  none: NONE,
  ipv4: HOST,
  ipv6: HOST,
  ip: HOST,
  ipv4Address: ADDRESS,
  ipv6Address: ADDRESS,
  ipAddress: ADDRESS
}

const CENET_KINDS = {
  port: INT,
  ipv4: HOST,
  ipv6: HOST,
  ip: HOST,
  ipv4Address: ADDRESS,
  ipv6Address: ADDRESS,
  ipAddress: ADDRESS
}

// Parses an expression string into { expr, enc, kind }. Throws on anything that
// is not in the grammar above, so a typo in the recorder cannot produce a vector
// the checkers would not understand.
export function codec (expr) {
  const [result, rest] = parseExpr(expr)
  if (rest !== '') throw new Error(`Trailing text in codec expression: ${expr}`)
  return result
}

function parseExpr (s) {
  let m
  if ((m = /^c\.(fixed|array|frame)\(/.exec(s))) {
    const name = m[1]
    const inner = s.slice(m[0].length)
    if (name === 'fixed') {
      const n = /^(\d+)\)/.exec(inner)
      if (!n) throw new Error(`Bad fixed(): ${s}`)
      const size = Number(n[1])
      return [{ expr: `c.fixed(${size})`, enc: c.fixed(size), kind: BYTES }, inner.slice(n[0].length)]
    }
    const [sub, rest] = parseExpr(inner)
    if (rest[0] !== ')') throw new Error(`Missing ) in ${s}`)
    const expr = `c.${name}(${sub.expr})`
    const enc = name === 'array' ? c.array(sub.enc) : c.frame(sub.enc)
    const kind = name === 'array' ? { array: sub.kind } : sub.kind
    return [{ expr, enc, kind }, rest.slice(1)]
  }
  if ((m = /^bitfield\((\d+)\)/.exec(s))) {
    const n = Number(m[1])
    return [{ expr: `bitfield(${n})`, enc: bitfield(n), kind: BITFIELD }, s.slice(m[0].length)]
  }
  if ((m = /^c\.([A-Za-z0-9]+)/.exec(s))) {
    const name = m[1]
    if (!Object.hasOwn(PLAIN_KINDS, name) || !c[name]) throw new Error(`Unknown compact-encoding codec: ${name}`)
    return [{ expr: `c.${name}`, enc: c[name], kind: PLAIN_KINDS[name] }, s.slice(m[0].length)]
  }
  if ((m = /^cenet\.([A-Za-z0-9]+)/.exec(s))) {
    const name = m[1]
    if (!Object.hasOwn(CENET_KINDS, name) || !cenet[name]) throw new Error(`Unknown compact-encoding-net codec: ${name}`)
    return [{ expr: `cenet.${name}`, enc: cenet[name], kind: CENET_KINDS[name] }, s.slice(m[0].length)]
  }
  throw new Error(`Cannot parse codec expression: ${s}`)
}

export function encodeFn (cd) {
  return `${cd.expr}.encode`
}

export function decodeFn (cd) {
  const ns = cd.expr.startsWith('cenet.') ? 'cenet' : 'c'
  return `${ns}.decode(${cd.expr}, hex)`
}

// Parses a vector's fn string into { op: 'encode' | 'decode', codec }.
export function parseFn (fn) {
  let m
  if ((m = /^(c|cenet)\.decode\((.*), hex\)$/.exec(fn))) {
    const cd = codec(m[2])
    if (decodeFn(cd) !== fn) throw new Error(`Non-canonical decode fn: ${fn}`)
    return { op: 'decode', codec: cd }
  }
  if ((m = /^(.*)\.encode$/.exec(fn))) {
    return { op: 'encode', codec: codec(m[1]) }
  }
  throw new Error(`Cannot parse fn: ${fn}`)
}

// JS value -> JSON representation (used for inputs as written by the recorder and
// for every decoder output).
export function toJSONValue (v) {
  if (v === null || v === undefined) return null
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN'
    if (v === Infinity) return 'Infinity'
    if (v === -Infinity) return '-Infinity'
    if (Object.is(v, -0)) return '-0'
    return v
  }
  if (typeof v === 'string' || typeof v === 'boolean') return v
  if (Array.isArray(v)) return v.map(toJSONValue)
  if (typeof v === 'object') {
    const out = {}
    for (const k of Object.keys(v)) out[k] = toJSONValue(v[k])
    return out
  }
  throw new Error(`No JSON representation for ${typeof v}`)
}

// JSON representation -> JS value to hand to an encoder of the given kind.
export function fromJSONValue (kind, v) {
  if (typeof kind === 'object') return v.map((x) => fromJSONValue(kind.array, x))
  switch (kind) {
    case FLOAT:
      if (v === 'NaN') return NaN
      if (v === 'Infinity') return Infinity
      if (v === '-Infinity') return -Infinity
      if (v === '-0') return -0
      return v
    case BYTES:
      return v === null ? null : hexToBytes(v)
    case BITFIELD:
      return typeof v === 'number' ? v : hexToBytes(v)
    case ADDRESS:
      return { ...v }
    default:
      return v
  }
}

export function hexToBytes (hex) {
  if (typeof hex !== 'string' || !/^([0-9a-f]{2})*$/.test(hex)) throw new Error(`Not lowercase hex: ${hex}`)
  return Buffer.from(hex, 'hex')
}

export { c, cenet, bitfield }
